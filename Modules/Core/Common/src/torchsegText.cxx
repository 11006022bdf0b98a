#include "torchsegText.h"

namespace torchseg
{

std::string
Trim(const std::string & s)
{
  const auto begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos)
  {
    return std::string();
  }
  const auto end = s.find_last_not_of(" \t\r\n");
  return s.substr(begin, end - begin + 1);
}

std::vector<std::string>
SplitCSVLine(const std::string & line)
{
  std::vector<std::string> fields;
  std::string              field;
  bool                     quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i)
  {
    const char c = line[i];
    if (quoted)
    {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"')
      {
        field += '"';
        ++i;
      }
      else if (c == '"')
      {
        quoted = false;
      }
      else
      {
        field += c;
      }
    }
    else if (c == '"')
    {
      quoted = true;
    }
    else if (c == ',')
    {
      fields.push_back(Trim(field));
      field.clear();
    }
    else
    {
      field += c;
    }
  }
  fields.push_back(Trim(field));
  return fields;
}

} // namespace torchseg
