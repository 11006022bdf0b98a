#include "torchsegAbdominalCTPhantomSource.h"
#include "torchsegImageIO.h"
#include "torchsegTestingSupport.h"

#include "itkImageRegionConstIteratorWithIndex.h"

#include "gtest/gtest.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <algorithm>
#include <set>
#include <sstream>

namespace
{

namespace fs = std::filesystem;
using torchseg::testing::ReadText;
using torchseg::testing::ApplicationPath;
using torchseg::testing::OutputPath;
using torchseg::testing::RunCommand;

std::string
Phantom(const std::string & arguments)
{
  return ApplicationPath("TorchSegPhantom").string() + " " + arguments;
}

int
RunPhantom(const std::string & arguments, std::string * output = nullptr)
{
  // stdin from /dev/null, stdout is a pipe: the application reports progress with Slicer's tags.
  return RunCommand(Phantom(arguments) + " < /dev/null", output);
}

std::set<std::string>
Listing(const fs::path & directory)
{
  std::set<std::string> names;
  if (fs::is_directory(directory))
  {
    for (const auto & entry : fs::directory_iterator(directory))
    {
      names.insert(entry.path().filename().string());
    }
  }
  return names;
}

/** The library's own rendering of a case, to compare the files with. */
torchseg::AbdominalCTPhantomSource::Pointer
Library(uint64_t seed, uint64_t caseIndex, unsigned int size, unsigned int slices)
{
  auto source = torchseg::AbdominalCTPhantomSource::New();
  source->SetSeed(seed);
  source->SetCaseIndex(caseIndex);
  torchseg::PhantomSamplingOptions options;
  options.size = size;
  options.numberOfSlices = slices;
  source->SetSamplingOptions(options);
  source->Update();
  return source;
}

template <typename TA, typename TB>
void
ExpectSameImage(const TA * a, const TB * b)
{
  ASSERT_EQ(a->GetLargestPossibleRegion().GetSize(), b->GetLargestPossibleRegion().GetSize());
  for (int k = 0; k < 3; ++k)
  {
    EXPECT_NEAR(a->GetSpacing()[k], b->GetSpacing()[k], 1e-6);
    EXPECT_NEAR(a->GetOrigin()[k], b->GetOrigin()[k], 1e-4);
    for (int c = 0; c < 3; ++c)
    {
      EXPECT_NEAR(a->GetDirection()(k, c), b->GetDirection()(k, c), 1e-6);
    }
  }
  const std::size_t n = a->GetBufferedRegion().GetNumberOfPixels();
  std::size_t       differences = 0;
  for (std::size_t i = 0; i < n; ++i)
  {
    differences += static_cast<double>(a->GetBufferPointer()[i]) != static_cast<double>(b->GetBufferPointer()[i]);
  }
  EXPECT_EQ(differences, 0u);
}

} // namespace

TEST(TorchSegPhantomApplication, DescribesItselfAsASlicerModule)
{
  std::string output;
  ASSERT_EQ(RunCommand(Phantom("--xml"), &output), 0);
  EXPECT_EQ(output.rfind("<?xml version=\"1.0\" encoding=\"utf-8\"?>", 0), 0u);
  EXPECT_NE(output.find("<longflag>outputDirectory</longflag>"), std::string::npos);
  EXPECT_NE(output.find("<category>Segmentation.TorchSeg</category>"), std::string::npos);
  ASSERT_EQ(RunCommand(Phantom("--help"), &output), 0);
  EXPECT_NE(output.find("--slices"), std::string::npos);
  EXPECT_EQ(RunCommand(Phantom("--version")), 0);
}

TEST(TorchSegPhantomApplication, WritesTheLibrarysCasesAndTheSameFilesForTheSameSeed)
{
  const fs::path a = OutputPath("a");
  const fs::path b = OutputPath("b");
  const fs::path ret = OutputPath("return.txt");
  std::string    output;
  ASSERT_EQ(RunPhantom("--outputDirectory " + a.string() +
                         " --cases 2 --seed 5 --size 48 --slices 12 --returnparameterfile " + ret.string(),
                       &output),
            0)
    << output;
  EXPECT_NE(output.find("<filter-progress>"), std::string::npos);
  EXPECT_NE(output.find("<filter-end>"), std::string::npos);
  EXPECT_EQ(Listing(a),
            (std::set<std::string>{
              "case000_ct.nii.gz", "case000_label.nii.gz", "case001_ct.nii.gz", "case001_label.nii.gz" }));
  const std::string returned = ReadText(ret);
  EXPECT_NE(returned.find("casesWritten = 2"), std::string::npos) << returned;
  ASSERT_EQ(
    RunPhantom("--outputDirectory " + b.string() + " --cases 2 --seed 5 --size 48 --slices 12 --numberOfThreads 1"), 0);
  for (const std::string name : { "case000_ct.nii.gz", "case000_label.nii.gz", "case001_ct.nii.gz" })
  {
    EXPECT_EQ(ReadText(a / name), ReadText(b / name)) << name;
  }
  // The files hold exactly what the library generates.
  for (int c = 0; c < 2; ++c)
  {
    const auto        source = Library(5, c, 48, 12);
    const std::string stem = (a / ("case00" + std::to_string(c))).string();
    const auto        ct = torchseg::ReadImageFile<int16_t, 3>(stem + "_ct.nii.gz");
    const auto        label = torchseg::ReadLabelImage(stem + "_label.nii.gz");
    ExpectSameImage(ct.GetPointer(), source->GetCTOutput());
    ExpectSameImage(label.GetPointer(), source->GetLabelOutput());
  }
}

TEST(TorchSegPhantomApplication, EveryFormatHoldsTheSameCase)
{
  const auto source = Library(9, 0, 40, 10);
  for (const std::string format : { "nii.gz", "nii", "nrrd", "mha" })
  {
    const fs::path dir = OutputPath(format);
    ASSERT_EQ(RunPhantom("--outputDirectory " + dir.string() + " --seed 9 --size 40 --slices 10 --format " + format),
              0);
    const auto ct = torchseg::ReadImageFile<int16_t, 3>((dir / ("case000_ct." + format)).string());
    const auto label = torchseg::ReadLabelImage((dir / ("case000_label." + format)).string());
    ExpectSameImage(ct.GetPointer(), source->GetCTOutput());
    ExpectSameImage(label.GetPointer(), source->GetLabelOutput());
  }
  // Slicer segmentation labels and the tissue map.
  const fs::path dir = OutputPath("seg");
  ASSERT_EQ(RunPhantom("--outputDirectory " + dir.string() +
                       " --seed 9 --size 40 --slices 10 --slicerSegmentation --tissueMap"),
            0);
  EXPECT_EQ(Listing(dir),
            (std::set<std::string>{ "case000_ct.nii.gz", "case000_label.seg.nrrd", "case000_tissue.nii.gz" }));
  ExpectSameImage(torchseg::ReadLabelImage((dir / "case000_label.seg.nrrd").string()).GetPointer(),
                  source->GetLabelOutput());
  ExpectSameImage(torchseg::ReadLabelImage((dir / "case000_tissue.nii.gz").string()).GetPointer(),
                  source->GetTissueOutput());
  EXPECT_NE(ReadText(dir / "case000_label.seg.nrrd").find("Segment0_Name:=liver"), std::string::npos);
}

TEST(TorchSegPhantomApplication, WritesADicomSeriesWithTheSameGeometry)
{
  const fs::path dir = OutputPath("dicom");
  ASSERT_EQ(
    RunPhantom("--outputDirectory " + dir.string() + " --seed 3 --size 32 --slices 8 --format dicom --phase arterial"),
    0);
  EXPECT_EQ(Listing(dir), (std::set<std::string>{ "case000_ct", "case000_label.nii.gz" }));
  EXPECT_EQ(Listing(dir / "case000_ct").size(), 8u);
  auto source = torchseg::AbdominalCTPhantomSource::New();
  source->SetSeed(3);
  torchseg::PhantomSamplingOptions options;
  options.size = 32;
  options.numberOfSlices = 8;
  options.phase = torchseg::ContrastPhase::Arterial;
  source->SetSamplingOptions(options);
  source->Update();
  const auto ct = torchseg::ReadCTImage((dir / "case000_ct").string());
  // Compare in the world: a DICOM reader may order the slices (and so the axes) differently.
  const auto * reference = source->GetCTOutput();
  std::size_t  compared = 0, different = 0;
  for (itk::ImageRegionConstIteratorWithIndex<torchseg::CTImageType> it(ct, ct->GetLargestPossibleRegion());
       !it.IsAtEnd();
       ++it)
  {
    torchseg::CTImageType::PointType p;
    ct->TransformIndexToPhysicalPoint(it.GetIndex(), p);
    itk::ContinuousIndex<double, 3> ci;
    ASSERT_TRUE(reference->TransformPhysicalPointToContinuousIndex(p, ci));
    itk::Index<3> index;
    for (int k = 0; k < 3; ++k)
    {
      ASSERT_NEAR(ci[k], std::round(ci[k]), 1e-3);
      index[k] = static_cast<itk::IndexValueType>(std::round(ci[k]));
    }
    different += it.Get() != reference->GetPixel(index);
    ++compared;
  }
  EXPECT_EQ(compared, 32u * 32u * 8u);
  EXPECT_EQ(different, 0u);
  ExpectSameImage(torchseg::ReadLabelImage((dir / "case000_label.nii.gz").string()).GetPointer(),
                  source->GetLabelOutput());
  // Deterministic UIDs and dates: the same seed gives the same files.
  const fs::path again = OutputPath("again");
  ASSERT_EQ(RunPhantom("--outputDirectory " + again.string() +
                       " --seed 3 --size 32 --slices 8 --format dicom --phase arterial"),
            0);
  for (const auto & entry : fs::directory_iterator(dir / "case000_ct"))
  {
    EXPECT_EQ(ReadText(entry.path()), ReadText(again / "case000_ct" / entry.path().filename()));
  }
}

TEST(TorchSegPhantomApplication, CasesCanBeGeneratedInParts)
{
  const fs::path whole = OutputPath("whole");
  const fs::path part = OutputPath("part");
  const fs::path list = OutputPath("part") / "train.csv";
  const fs::path summary = OutputPath("summary.csv");
  ASSERT_EQ(RunPhantom("--outputDirectory " + whole.string() + " --cases 3 --seed 12 --size 32 --slices 6"), 0);
  ASSERT_EQ(RunPhantom("--outputDirectory " + part.string() +
                       " --firstCase 2 --seed 12 --size 32 --slices 6 --listFile " + list.string() + " --summaryFile " +
                       summary.string()),
            0);
  EXPECT_EQ(ReadText(whole / "case002_ct.nii.gz"), ReadText(part / "case002_ct.nii.gz"));
  EXPECT_EQ(ReadText(list), "image,label\ncase002_ct.nii.gz,case002_label.nii.gz\n");
  const std::string table = ReadText(summary);
  EXPECT_EQ(table.rfind("case,ct,label,phase,", 0), 0u);
  EXPECT_NE(table.find("\ncase002,case002_ct.nii.gz,case002_label.nii.gz,"), std::string::npos) << table;
}

TEST(TorchSegPhantomApplication, TumourFileLocatesEveryTumourOfTheLibrarysCases)
{
  const fs::path dir = OutputPath("tumours");
  const fs::path table = OutputPath("tumours.csv");
  constexpr int  cases = 4, seed = 21;
  ASSERT_EQ(
    RunPhantom("--outputDirectory " + dir.string() + " --cases 4 --seed 21 --size 128 --tumourFile " + table.string()),
    0);
  std::istringstream lines(ReadText(table));
  std::string        line;
  ASSERT_TRUE(std::getline(lines, line));
  EXPECT_EQ(line,
            "case,tumour,kind,diameterMm,centerX,centerY,centerZ,centerInImage,coreHU,rimHU,liverHU,contrastHU,"
            "rimContrastHU,noiseHU");
  std::size_t rows = 0, checkedInside = 0;
  for (int c = 0; c < cases; ++c)
  {
    auto         source = Library(seed, c, 128, 0);
    const auto & p = source->GetParameters();
    const auto   label = source->GetLabelOutput();
    const double liverHU = p.tissueHU[static_cast<unsigned int>(torchseg::PhantomTissue::Liver)];
    for (std::size_t t = 0; t < p.tumours.size(); ++t, ++rows)
    {
      ASSERT_TRUE(std::getline(lines, line)) << "row of tumour " << t + 1 << " of case " << c;
      std::vector<std::string> f;
      std::istringstream       fields(line);
      for (std::string field; std::getline(fields, field, ',');)
      {
        f.push_back(field);
      }
      ASSERT_EQ(f.size(), 14u) << line;
      EXPECT_EQ(f[0], "case00" + std::to_string(c));
      EXPECT_EQ(f[1], std::to_string(t + 1));
      EXPECT_EQ(f[2], torchseg::ToString(p.tumours[t].kind));
      EXPECT_NEAR(std::stod(f[3]), 2.0 * p.tumours[t].radius, 1e-3);
      const auto            centre = torchseg::GetTumourWorldCentre(p, p.tumours[t]);
      itk::Point<double, 3> point;
      for (int k = 0; k < 3; ++k)
      {
        EXPECT_NEAR(std::stod(f[4 + k]), centre[k], 1e-5) << line;
        point[k] = centre[k];
      }
      EXPECT_NEAR(std::stod(f[8]), p.tumours[t].coreHU, 1e-3) << line;
      EXPECT_NEAR(std::stod(f[9]), p.tumours[t].rimHU, 1e-3) << line;
      EXPECT_NEAR(std::stod(f[11]), std::stod(f[8]) - std::stod(f[10]), 1e-3) << line;
      EXPECT_NEAR(std::stod(f[12]), std::stod(f[9]) - std::stod(f[10]), 1e-3) << line;
      EXPECT_NEAR(std::stod(f[10]), liverHU, 1e-3) << line;
      EXPECT_NEAR(std::stod(f[13]), p.scanner.noiseSigma, 1e-3) << line;
      // The centre is in world coordinates: the label there is tumour (for tumours several voxels wide).
      itk::Index<3> index;
      const bool    inside = label->TransformPhysicalPointToIndex(point, index);
      EXPECT_EQ(f[7], inside ? "1" : "0") << line;
      const double voxel = std::max({ label->GetSpacing()[0], label->GetSpacing()[1], label->GetSpacing()[2] });
      if (inside && p.tumours[t].radius > 2.0 * voxel)
      {
        EXPECT_EQ(label->GetPixel(index), 2) << line;
        ++checkedInside;
      }
    }
  }
  EXPECT_FALSE(std::getline(lines, line)) << "extra row " << line;
  EXPECT_GE(rows, 3u) << "the seed should give several tumours";
  EXPECT_GE(checkedInside, 2u);
}

TEST(TorchSegPhantomApplication, BadArgumentsFailWithOneLineAndNoOutput)
{
  const fs::path dir = OutputPath("bad");
  struct Case
  {
    std::string arguments;
    std::string mentions;
    bool        usage;
  };
  const fs::path file = OutputPath("a-file");
  std::ofstream(file) << "not a directory";
  const std::string       d = "--outputDirectory " + dir.string();
  const std::string       small = " --size 32 --slices 4";
  const std::vector<Case> cases = {
    { "--cases 2" + small, "outputDirectory", true },
    { d + " --cases 0" + small, "--cases 0", true },
    { d + " --size 4 --slices 4", "--size 4", true },
    { d + " --size 32 --slices -3", "--slices -3", true },
    { d + " --seed -1" + small, "--seed -1", true },
    { d + " --format bmp" + small, "bmp", true },
    { d + " --phase delayed" + small, "delayed", true },
    { "--outputDirectory " + (dir / "missing" / "deeper").string() + small, (dir / "missing").string(), false },
    { "--outputDirectory " + file.string() + small, file.string(), false },
    { d + " --listFile " + (dir / "nowhere" / "list.csv").string() + small, (dir / "nowhere").string(), false },
    { d + " --tumourFile " + (dir / "nowhere" / "tumours.csv").string() + small, (dir / "nowhere").string(), false },
  };
  for (const Case & c : cases)
  {
    std::string output;
    const int   code = RunPhantom(c.arguments, &output);
    EXPECT_NE(code, 0) << c.arguments;
    if (c.usage)
    {
      EXPECT_EQ(code, 2) << c.arguments << "\n" << output;
    }
    EXPECT_NE(output.find(c.mentions), std::string::npos) << c.arguments << "\n" << output;
    // One error line, nothing else but progress tags.
    std::size_t        errorLines = 0;
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);)
    {
      errorLines += line.find("error") != std::string::npos;
    }
    EXPECT_EQ(errorLines, 1u) << output;
    EXPECT_FALSE(fs::exists(dir)) << c.arguments << " left " << dir;
  }
  EXPECT_EQ(ReadText(file), "not a directory");
}

TEST(TorchSegPhantomApplication, RefusesAnUnwritableDirectory)
{
  if (::geteuid() == 0)
  {
    GTEST_SKIP() << "root can write anywhere";
  }
  const fs::path dir = OutputPath("readonly");
  fs::create_directory(dir);
  fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
  std::string output;
  EXPECT_NE(RunPhantom("--outputDirectory " + dir.string() + " --size 32 --slices 4", &output), 0);
  EXPECT_NE(output.find("not writable"), std::string::npos) << output;
  fs::permissions(dir, fs::perms::owner_all);
  EXPECT_TRUE(Listing(dir).empty());
}
