#include "torchsegPredictionList.h"

#include "itkMacro.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>

namespace fs = std::filesystem;

namespace torchseg
{
namespace
{

std::string
Trim(const std::string & s)
{
  std::size_t begin = 0;
  std::size_t end = s.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(s[begin])))
  {
    ++begin;
  }
  while (end > begin && std::isspace(static_cast<unsigned char>(s[end - 1])))
  {
    --end;
  }
  return s.substr(begin, end - begin);
}

/** The fields of one CSV line: commas separate, double quotes protect commas ("" is a quote inside quotes). */
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

bool
ParseUnsigned(const std::string & text, unsigned int & value)
{
  if (text.empty() || text.size() > 9)
  {
    return false;
  }
  value = 0;
  for (const char c : text)
  {
    if (!std::isdigit(static_cast<unsigned char>(c)))
    {
      return false;
    }
    value = value * 10 + static_cast<unsigned int>(c - '0');
  }
  return true;
}

} // namespace

std::vector<PredictionCase>
ReadPredictionList(const std::string & listFile)
{
  std::error_code ec;
  if (!fs::is_regular_file(listFile, ec))
  {
    itkGenericExceptionMacro(<< "Prediction list " << listFile << " does not exist or is not a file");
  }
  std::ifstream in(listFile);
  if (!in)
  {
    itkGenericExceptionMacro(<< "Cannot read the prediction list " << listFile);
  }
  const fs::path base = fs::path(listFile).parent_path();
  auto           resolve = [&base](const std::string & path) {
    return fs::path(path).is_absolute() ? fs::path(path).lexically_normal().string()
                                                  : (base / path).lexically_normal().string();
  };
  std::vector<PredictionCase> cases;
  std::map<std::string, int>  outputLines;
  std::string                 line;
  int                         lineNumber = 0;
  bool                        sawHeader = false;
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
      if (fields.size() != 2 || fields[0] != "input" || fields[1] != "output")
      {
        itkGenericExceptionMacro(<< "Prediction list " << listFile << " line " << lineNumber
                                 << ": the header must be \"input,output\", not \"" << trimmed << "\"");
      }
      sawHeader = true;
      continue;
    }
    if (fields.size() != 2 || fields[0].empty() || fields[1].empty())
    {
      itkGenericExceptionMacro(<< "Prediction list " << listFile << " line " << lineNumber
                               << ": expected two fields \"input,output\", got \"" << trimmed << "\"");
    }
    PredictionCase c;
    c.input = resolve(fields[0]);
    c.output = resolve(fields[1]);
    c.line = lineNumber;
    const auto previous = outputLines.emplace(c.output, lineNumber);
    if (!previous.second)
    {
      itkGenericExceptionMacro(<< "Prediction list " << listFile << " line " << lineNumber << ": the output "
                               << c.output << " is already the output of line " << previous.first->second);
    }
    cases.push_back(std::move(c));
  }
  if (cases.empty())
  {
    itkGenericExceptionMacro(<< "Prediction list " << listFile
                             << " holds no case (expected a header \"input,output\" and one line per case)");
  }
  return cases;
}

Shard
ParseShard(const std::string & text)
{
  const auto slash = text.find('/');
  Shard      shard;
  if (slash == std::string::npos || !ParseUnsigned(text.substr(0, slash), shard.index) ||
      !ParseUnsigned(text.substr(slash + 1), shard.count))
  {
    throw std::invalid_argument("expected i/n with whole numbers 0 <= i < n (e.g. 0/4)");
  }
  if (shard.count == 0)
  {
    throw std::invalid_argument("the number of shards must be at least 1");
  }
  if (shard.index >= shard.count)
  {
    throw std::invalid_argument("the shard index must be below the number of shards (0 to " +
                                std::to_string(shard.count - 1) + ")");
  }
  return shard;
}

std::vector<std::size_t>
SelectShard(std::size_t numberOfCases, const Shard & shard)
{
  std::vector<std::size_t> selected;
  for (std::size_t k = shard.index; k < numberOfCases; k += shard.count)
  {
    selected.push_back(k);
  }
  return selected;
}

} // namespace torchseg
