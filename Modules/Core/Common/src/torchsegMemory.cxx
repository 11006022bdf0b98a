#include "torchsegMemory.h"

#include <cstdlib>
#include <mutex>

#if defined(__GLIBC__)
#  include <malloc.h>
#endif

namespace torchseg
{

void
RetainFreedMemory()
{
#if defined(__GLIBC__)
  static std::once_flag once;
  std::call_once(once, [] {
    const bool userChoice = std::getenv("GLIBC_TUNABLES") != nullptr ||
                            std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr ||
                            std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr;
    if (userChoice)
    {
      return;
    }
    // 32 MB is glibc's largest mmap threshold on 64-bit systems; setting it also stops the threshold from adapting.
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 2047 * 1024 * 1024);
  });
#endif
}

} // namespace torchseg
