#include "torchsegDisplayProbe.h"

#include <X11/Xlib.h>

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace torchseg
{
namespace detail
{

void *
GetXDisplayConnection(const char * name)
{
  static std::mutex                       mutex;
  static std::map<std::string, Display *> connections; // never closed: see the header
  std::lock_guard<std::mutex>             lock(mutex);
  const std::string                       key = name ? name : "";
  const auto                              found = connections.find(key);
  if (found != connections.end())
  {
    return found->second;
  }
  for (int attempt = 0; attempt < 5; ++attempt)
  {
    if (Display * display = XOpenDisplay(name))
    {
      connections[key] = display;
      return display;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25 << attempt));
  }
  return nullptr;
}

} // namespace detail
} // namespace torchseg
