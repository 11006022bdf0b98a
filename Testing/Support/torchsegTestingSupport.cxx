#include "torchsegTestingSupport.h"

#include "gtest/gtest.h"

#include <array>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

namespace torchseg
{
namespace testing
{

std::filesystem::path
OutputPath(const std::string & name)
{
  std::string prefix = "test";
  if (const auto * info = ::testing::UnitTest::GetInstance()->current_test_info())
  {
    prefix = std::string(info->test_suite_name()) + "_" + info->name();
  }
  for (char & c : prefix)
  {
    if (c == '/')
    {
      c = '_';
    }
  }
  const std::filesystem::path path = std::filesystem::path(TORCHSEG_TEST_OUTPUT_DIR) / (prefix + "_" + name);
  std::error_code             ec;
  std::filesystem::remove_all(path, ec);
  return path;
}

std::filesystem::path
ApplicationPath(const std::string & name)
{
  return std::filesystem::path(TORCHSEG_BIN_DIR) / name;
}

std::string
Quote(const std::filesystem::path & path)
{
  return "'" + path.string() + "'";
}

std::string
ReadText(const std::filesystem::path & path)
{
  std::ifstream      file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

int
RunCommand(const std::string & command, std::string * output)
{
  const std::string full = command + " 2>&1";
  FILE *            pipe = ::popen(full.c_str(), "r");
  if (!pipe)
  {
    return -1;
  }
  std::array<char, 4096> buffer;
  std::string            text;
  while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe))
  {
    text += buffer.data();
  }
  const int status = ::pclose(pipe);
  if (output)
  {
    *output = text;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

} // namespace testing
} // namespace torchseg
