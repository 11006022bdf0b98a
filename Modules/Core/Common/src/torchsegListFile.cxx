#include "torchsegListFile.h"

#include "torchsegText.h"

#include "itkMacro.h"

#include <cctype>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace torchseg
{
std::vector<ListFileEntry>
ReadListFile(const std::string & listFile, const std::string & what, const std::string & firstColumn,
             const std::string & secondColumn)
{
  std::string title = what;
  if (!title.empty())
  {
    title[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(title[0])));
  }
  std::error_code ec;
  if (!fs::is_regular_file(listFile, ec))
  {
    itkGenericExceptionMacro(<< title << " " << listFile << " does not exist or is not a file");
  }
  std::ifstream in(listFile);
  if (!in)
  {
    itkGenericExceptionMacro(<< "Cannot read the " << what << " " << listFile);
  }
  const std::string header = firstColumn + "," + secondColumn;
  const fs::path    base = fs::path(listFile).parent_path();
  auto              resolve = [&base](const std::string & path) {
    return fs::path(path).is_absolute() ? fs::path(path).lexically_normal().string()
                                                     : (base / path).lexically_normal().string();
  };
  std::vector<ListFileEntry> entries;
  std::string                line;
  int                        lineNumber = 0;
  bool                       sawHeader = false;
  while (std::getline(in, line))
  {
    ++lineNumber;
    if (lineNumber == 1 && line.size() >= 3 && line.compare(0, 3, "\xEF\xBB\xBF") == 0)
    {
      line.erase(0, 3); // UTF-8 byte order mark written by spreadsheets
    }
    const std::string trimmed = Trim(line);
    if (trimmed.empty() || trimmed[0] == '#')
    {
      continue;
    }
    const std::vector<std::string> fields = SplitCSVLine(trimmed);
    if (!sawHeader)
    {
      if (fields.size() != 2 || fields[0] != firstColumn || fields[1] != secondColumn)
      {
        itkGenericExceptionMacro(<< title << " " << listFile << " line " << lineNumber << ": the header must be \""
                                 << header << "\", not \"" << trimmed << "\"");
      }
      sawHeader = true;
      continue;
    }
    if (fields.size() != 2 || fields[0].empty() || fields[1].empty())
    {
      itkGenericExceptionMacro(<< title << " " << listFile << " line " << lineNumber << ": expected two fields \""
                               << header << "\", got \"" << trimmed << "\"");
    }
    entries.push_back({ resolve(fields[0]), resolve(fields[1]), lineNumber });
  }
  if (entries.empty())
  {
    itkGenericExceptionMacro(<< title << " " << listFile << " holds no case (expected a header \"" << header
                             << "\" and one line per case)");
  }
  return entries;
}

} // namespace torchseg
