#ifndef torchsegVersion_h
#define torchsegVersion_h

namespace torchseg
{

/** The toolkit's version, "major.minor.patch". */
const char *
GetVersion();

} // namespace torchseg

#endif
