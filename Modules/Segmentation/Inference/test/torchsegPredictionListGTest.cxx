// Prediction lists and shards: the CSV conventions of the training lists, every error naming the file and line, and
// shards that together hold every case exactly once.
#include "torchsegPredictionList.h"
#include "torchsegTestingSupport.h"

#include "itkMacro.h"

#include "gtest/gtest.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace fs = std::filesystem;
using torchseg::testing::OutputPath;

namespace
{

fs::path
WriteList(const std::string & name, const std::string & text)
{
  const fs::path path = OutputPath(name);
  std::ofstream(path) << text;
  return path;
}

std::string
ErrorOfList(const fs::path & path)
{
  try
  {
    torchseg::ReadPredictionList(path.string());
  }
  catch (const itk::ExceptionObject & e)
  {
    return e.GetDescription();
  }
  return std::string();
}

std::string
ErrorOfShard(const std::string & text)
{
  try
  {
    torchseg::ParseShard(text);
  }
  catch (const std::invalid_argument & e)
  {
    return e.what();
  }
  return std::string();
}

} // namespace

TEST(PredictionList, ReadsCasesRelativeToTheListWithCommentsQuotesAndByteOrderMark)
{
  const fs::path list = WriteList("list.csv",
                                  "\xEF\xBB\xBFinput,output\r\n# a comment\n\n ct0.nii.gz , out/l0.nii.gz\n"
                                  "../dicom/series1,\"/abs/with,comma.seg.nrrd\"\n");
  const auto     cases = torchseg::ReadPredictionList(list.string());
  ASSERT_EQ(cases.size(), 2u);
  const fs::path base = list.parent_path();
  EXPECT_EQ(cases[0].input, (base / "ct0.nii.gz").lexically_normal().string());
  EXPECT_EQ(cases[0].output, (base / "out/l0.nii.gz").lexically_normal().string());
  EXPECT_EQ(cases[0].line, 4);
  EXPECT_EQ(cases[1].input, (base / "../dicom/series1").lexically_normal().string());
  EXPECT_EQ(cases[1].output, "/abs/with,comma.seg.nrrd");
  EXPECT_EQ(cases[1].line, 5);
}

TEST(PredictionList, ErrorsNameTheFileAndTheLine)
{
  const fs::path missing = OutputPath("missing.csv");
  EXPECT_NE(ErrorOfList(missing).find(missing.string() + " does not exist"), std::string::npos);
  const fs::path header = WriteList("header.csv", "image,label\na,b\n");
  EXPECT_NE(ErrorOfList(header).find("line 1: the header must be \"input,output\""), std::string::npos);
  const fs::path fields = WriteList("fields.csv", "input,output\na,b\nc\n");
  EXPECT_NE(ErrorOfList(fields).find(fields.string() + " line 3: expected two fields"), std::string::npos);
  const fs::path empty = WriteList("empty.csv", "input,output\na,\n");
  EXPECT_NE(ErrorOfList(empty).find("line 2: expected two fields"), std::string::npos);
  const fs::path twice = WriteList("twice.csv", "input,output\na,out.nii.gz\nb,./out.nii.gz\n");
  EXPECT_NE(ErrorOfList(twice).find("line 3: the output"), std::string::npos);
  EXPECT_NE(ErrorOfList(twice).find("already the output of line 2"), std::string::npos);
  const fs::path none = WriteList("none.csv", "# only a comment\ninput,output\n\n");
  EXPECT_NE(ErrorOfList(none).find("holds no case"), std::string::npos);
}

TEST(PredictionList, ShardsAreParsedStrictly)
{
  EXPECT_EQ(torchseg::ParseShard("0/1").index, 0u);
  EXPECT_EQ(torchseg::ParseShard("3/8").index, 3u);
  EXPECT_EQ(torchseg::ParseShard("3/8").count, 8u);
  EXPECT_EQ(torchseg::ParseShard("007/10").index, 7u);
  EXPECT_NE(ErrorOfShard("3/2").find("below the number of shards (0 to 1)"), std::string::npos);
  EXPECT_NE(ErrorOfShard("2/2").find("below the number of shards"), std::string::npos);
  EXPECT_NE(ErrorOfShard("1/0").find("at least 1"), std::string::npos);
  for (const std::string bad :
       { "-1/2", "abc", "", "1", "1/", "/2", "1/2/3", " 1/2", "1.0/2", "+1/2", "1/2x", "99999999999/2" })
  {
    EXPECT_NE(ErrorOfShard(bad).find("expected i/n"), std::string::npos) << "\"" << bad << "\"";
  }
}

TEST(PredictionList, ShardsHoldEveryCaseExactlyOnceInListOrder)
{
  for (std::size_t cases : { 0, 1, 2, 7, 10 })
  {
    for (unsigned int count = 1; count <= 4; ++count)
    {
      std::vector<int> seen(cases, 0);
      std::size_t      smallest = cases;
      std::size_t      largest = 0;
      for (unsigned int index = 0; index < count; ++index)
      {
        const auto selected = torchseg::SelectShard(cases, torchseg::Shard{ index, count });
        EXPECT_TRUE(std::is_sorted(selected.begin(), selected.end()));
        for (const std::size_t k : selected)
        {
          ASSERT_LT(k, cases);
          EXPECT_EQ(k % count, index);
          ++seen[k];
        }
        smallest = std::min(smallest, selected.size());
        largest = std::max(largest, selected.size());
      }
      EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), static_cast<long>(cases));
      EXPECT_LE(largest - std::min(smallest, largest), 1u);
    }
  }
}
