#include "torchsegPredictionList.h"

#include "torchsegListFile.h"

#include "itkMacro.h"

#include <cctype>
#include <map>
#include <stdexcept>

namespace torchseg
{
namespace
{

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
  std::vector<PredictionCase> cases;
  std::map<std::string, int>  outputLines;
  for (auto & entry : ReadListFile(listFile, "prediction list", "input", "output"))
  {
    const auto previous = outputLines.emplace(entry.second, entry.line);
    if (!previous.second)
    {
      itkGenericExceptionMacro(<< "Prediction list " << listFile << " line " << entry.line << ": the output "
                               << entry.second << " is already the output of line " << previous.first->second);
    }
    cases.push_back({ std::move(entry.first), std::move(entry.second), entry.line });
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
