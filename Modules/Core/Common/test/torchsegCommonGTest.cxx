#include "torchsegAtomicOutput.h"
#include "torchsegLabelTable.h"
#include "torchsegMemory.h"
#include "torchsegThreads.h"
#include "torchsegTestingSupport.h"

#include "itkMultiThreaderBase.h"

#include "gtest/gtest.h"

#include <cstdlib>
#include <cstring>
#include <fstream>

#include <sys/resource.h>

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

namespace
{
/** Minor page faults taken while eight 20 MB blocks (a network layer's activations) are allocated, written and freed
 * \a repeats times. */
long
PageFaultsOfRepeatedLargeAllocations(int repeats)
{
  constexpr std::size_t bytes = 20u << 20;
  constexpr int         blocks = 8;
  volatile char         sink = 0;
  auto                  cycle = [&](int value) {
    char * block[blocks];
    for (auto & b : block)
    {
      b = static_cast<char *>(std::malloc(bytes));
      std::memset(b, value, bytes);
      sink = sink + b[bytes / 2];
    }
    for (int i = blocks - 1; i >= 0; --i)
    {
      std::free(block[i]);
    }
  };
  cycle(1); // the first cycle faults in any case
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  for (int i = 0; i < repeats; ++i)
  {
    cycle(i + 2);
  }
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  return after.ru_minflt - before.ru_minflt;
}
} // namespace

TEST(Memory, FreedActivationSizedBlocksAreReusedWithoutPageFaults)
{
#if !defined(__GLIBC__)
  GTEST_SKIP() << "RetainFreedMemory only tunes glibc";
#endif
  if (std::getenv("GLIBC_TUNABLES") || std::getenv("MALLOC_TRIM_THRESHOLD_") || std::getenv("MALLOC_MMAP_THRESHOLD_"))
  {
    GTEST_SKIP() << "the environment sets the allocator's thresholds";
  }
  // With glibc's defaults the 160 MB freed at the top of the heap are returned to the system after each cycle and
  // faulted in again by the next: 40 960 faults of 4 KB per cycle.
  torchseg::RetainFreedMemory();
  torchseg::RetainFreedMemory(); // idempotent
  const long faults = PageFaultsOfRepeatedLargeAllocations(10);
  EXPECT_LT(faults, 1000) << "freed 20 MB blocks were returned to the system and faulted in again";
}
