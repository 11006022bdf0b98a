#include "torchsegVersion.h"

namespace torchseg
{

const char *
GetVersion()
{
  return TORCHSEG_VERSION_STRING;
}

} // namespace torchseg
