#include "torchsegAtomicOutput.h"
#include "torchsegLabelTable.h"
#include "torchsegThreads.h"
#include "torchsegTestingSupport.h"

#include "itkMultiThreaderBase.h"

#include "gtest/gtest.h"

#include <fstream>

namespace fs = std::filesystem;

TEST(LabelTable, LiverTumourHasLiTSValuesNamesAndCodes)
{
  const auto table = torchseg::LabelTable::LiverTumour();
  ASSERT_EQ(table.size(), 2u);
  EXPECT_EQ(table.GetName(1), "liver");
  EXPECT_EQ(table.GetName(2), "tumour");
  EXPECT_EQ(table.GetName(7), "label 7");
  EXPECT_EQ(table.Find(1)->type.value, "10200004");
  EXPECT_EQ(table.Find(3), nullptr);
  EXPECT_NE(table.GetColor(1), table.GetColor(2));
}

TEST(LabelTable, RefusesBackgroundAndKeepsValueOrder)
{
  torchseg::LabelTable table;
  torchseg::LabelInfo  info;
  info.name = "background";
  EXPECT_THROW(table.Set(info), itk::ExceptionObject);
  info.value = 5;
  info.name = "five";
  table.Set(info);
  info.value = 2;
  info.name = "two";
  table.Set(info);
  ASSERT_EQ(table.size(), 2u);
  EXPECT_EQ(table.GetLabels()[0].value, 2u);
  info.name = "deux";
  table.Set(info);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.GetName(2), "deux");
}

TEST(AtomicOutput, FullExtensionKeepsCompoundSuffixes)
{
  EXPECT_EQ(torchseg::GetFullExtension("a/b/case_ct.nii.gz"), ".nii.gz");
  EXPECT_EQ(torchseg::GetFullExtension("seg.seg.nrrd"), ".seg.nrrd");
  EXPECT_EQ(torchseg::GetFullExtension("x.mha"), ".mha");
  EXPECT_EQ(torchseg::GetFullExtension("noext"), "");
}

TEST(AtomicOutput, TargetAppearsOnlyOnCommit)
{
  const fs::path target = torchseg::testing::OutputPath("out.nii.gz");
  {
    torchseg::AtomicOutput out(target);
    EXPECT_EQ(torchseg::GetFullExtension(out.GetTemporaryPath()), ".nii.gz");
    EXPECT_EQ(out.GetTemporaryPath().parent_path(), target.parent_path());
    std::ofstream(out.GetTemporaryPath()) << "data";
    EXPECT_FALSE(fs::exists(target));
    out.Commit();
  }
  EXPECT_TRUE(fs::exists(target));
  EXPECT_EQ(fs::file_size(target), 4u);
}

TEST(AtomicOutput, UncommittedTemporaryIsRemovedAndTargetKept)
{
  const fs::path target = torchseg::testing::OutputPath("keep.txt");
  std::ofstream(target) << "old";
  fs::path temporary;
  {
    torchseg::AtomicOutput out(target);
    temporary = out.GetTemporaryPath();
    std::ofstream(temporary) << "partial";
  }
  EXPECT_FALSE(fs::exists(temporary));
  std::ifstream in(target);
  std::string   content;
  in >> content;
  EXPECT_EQ(content, "old");
}

TEST(AtomicOutput, DirectoryReplacesExistingDirectory)
{
  const fs::path target = torchseg::testing::OutputPath("series");
  fs::create_directory(target);
  std::ofstream(target / "old.dcm") << "x";
  {
    torchseg::AtomicOutput out(target, true);
    std::ofstream(out.GetTemporaryPath() / "new.dcm") << "y";
    out.Commit();
  }
  EXPECT_TRUE(fs::exists(target / "new.dcm"));
  EXPECT_FALSE(fs::exists(target / "old.dcm"));
}

TEST(AtomicOutput, MissingDirectoryIsAClearError)
{
  try
  {
    torchseg::AtomicOutput out("/nonexistent-dir-xyz/out.nrrd");
    FAIL() << "no exception";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find("/nonexistent-dir-xyz"), std::string::npos);
  }
}

TEST(Threads, ExplicitCountIsAppliedToITK)
{
  EXPECT_EQ(torchseg::SetITKNumberOfThreads(3), 3);
  EXPECT_EQ(itk::MultiThreaderBase::GetGlobalDefaultNumberOfThreads(), 3u);
  EXPECT_GE(torchseg::ResolveNumberOfThreads(0), 1);
  EXPECT_EQ(torchseg::ResolveNumberOfThreads(-1), torchseg::ResolveNumberOfThreads(0));
}
