#ifndef torchsegText_h
#define torchsegText_h

#include <string>
#include <vector>

namespace torchseg
{

/** \a s without leading and trailing white space (space, tab, CR, LF).
 * \ingroup TorchSegCommon */
std::string
Trim(const std::string & s);

/** The fields of one CSV line, each trimmed: double quotes protect commas, "" inside quotes is a quote; a trailing
 * comma gives an empty last field.
 * \ingroup TorchSegCommon */
std::vector<std::string>
SplitCSVLine(const std::string & line);

} // namespace torchseg

#endif
