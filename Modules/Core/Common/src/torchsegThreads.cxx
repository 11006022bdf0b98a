#include "torchsegThreads.h"

#include "itkMultiThreaderBase.h"

#include <thread>

namespace torchseg
{

int
ResolveNumberOfThreads(int requested)
{
  if (requested > 0)
  {
    return requested;
  }
  const unsigned int hardware = std::thread::hardware_concurrency();
  return hardware > 0 ? static_cast<int>(hardware) : 1;
}

int
SetITKNumberOfThreads(int requested)
{
  const int n = ResolveNumberOfThreads(requested);
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(static_cast<itk::ThreadIdType>(n));
  return n;
}

} // namespace torchseg
