#include "torchsegTrainingSet.h"
#include "torchsegSyntheticCases.h"
#include "torchsegTestingSupport.h"

#include "itkImageRegionIteratorWithIndex.h"

#include <torch/torch.h>

#include "gtest/gtest.h"

#include <cmath>
#include <fstream>

using namespace torchseg;
using torchseg::testing::MakeImage;
using torchseg::testing::Orientation;
using torchseg::testing::OutputPath;

namespace
{

void
Touch(const std::filesystem::path & p)
{
  std::ofstream(p.string()) << "x";
}

void
WriteText(const std::filesystem::path & p, const std::string & text)
{
  std::ofstream(p.string()) << text;
}

std::string
MessageOf(const std::function<void()> & f)
{
  try
  {
    f();
  }
  catch (const itk::ExceptionObject & e)
  {
    return e.GetDescription();
  }
  return "(no exception)";
}

// A labelled box and a value gradient: CT = 10 * x + 100 * y + 1000 * z at index (x, y, z); labels 1 in a box,
// 2 in a smaller box inside it.
void
MakeCase(Orientation orientation, CTImageType::Pointer & ct, LabelImageType::Pointer & labels)
{
  ct = MakeImage<CTImageType>({ { 12, 10, 6 } }, { { 1.5, 1.0, 2.0 } }, { { -5.0, 3.0, 20.0 } }, orientation);
  labels = MakeImage<LabelImageType>({ { 12, 10, 6 } }, { { 1.5, 1.0, 2.0 } }, { { -5.0, 3.0, 20.0 } }, orientation);
  itk::ImageRegionIteratorWithIndex<CTImageType> it(ct, ct->GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it)
  {
    const auto i = it.GetIndex();
    it.Set(static_cast<float>(10 * i[0] + 100 * i[1] + 1000 * i[2]));
    uint8_t l = 0;
    if (i[0] >= 2 && i[0] < 9 && i[1] >= 1 && i[1] < 5 && i[2] >= 1 && i[2] < 4)
    {
      l = (i[0] >= 6 && i[1] >= 3 && i[2] == 2) ? 2 : 1;
    }
    labels->SetPixel(i, l);
  }
}

} // namespace

TEST(CaseList, ReadsRelativeAndAbsolutePathsAndSkipsCommentsAndBlankLines)
{
  const auto dir = OutputPath("cases");
  std::filesystem::create_directories(dir / "sub");
  WriteText(
    dir / "sub" / "train.csv",
    "\xEF\xBB\xBFimage,label\r\n# a comment\n\ncase0_ct.nii.gz, case0_label.nii.gz\n../c1.nrrd,\"/abs/l,1.nrrd\"\n");
  const auto cases = ReadCaseList((dir / "sub" / "train.csv").string());
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_EQ(cases[0].image, (dir / "sub" / "case0_ct.nii.gz").string());
  EXPECT_EQ(cases[0].label, (dir / "sub" / "case0_label.nii.gz").string());
  EXPECT_EQ(cases[1].image, (dir / "c1.nrrd").string());
  EXPECT_EQ(cases[1].label, "/abs/l,1.nrrd");
}

TEST(CaseList, BadListsAreRefusedWithTheFileAndLine)
{
  const auto dir = OutputPath("bad");
  std::filesystem::create_directories(dir);
  const std::string missing = (dir / "missing.csv").string();
  EXPECT_NE(MessageOf([&] { ReadCaseList(missing); }).find(missing), std::string::npos);

  WriteText(dir / "header.csv", "ct,seg\na,b\n");
  EXPECT_NE(MessageOf([&] { ReadCaseList((dir / "header.csv").string()); }).find("line 1"), std::string::npos);

  WriteText(dir / "fields.csv", "image,label\na,b\nc\n");
  const std::string fields = MessageOf([&] { ReadCaseList((dir / "fields.csv").string()); });
  EXPECT_NE(fields.find("line 3"), std::string::npos) << fields;
  EXPECT_NE(fields.find("fields.csv"), std::string::npos) << fields;

  WriteText(dir / "empty.csv", "image,label\n\n");
  EXPECT_NE(MessageOf([&] { ReadCaseList((dir / "empty.csv").string()); }).find("no case"), std::string::npos);
  WriteText(dir / "nothing.csv", "");
  EXPECT_NE(MessageOf([&] { ReadCaseList((dir / "nothing.csv").string()); }).find("no case"), std::string::npos);
}

TEST(CaseList, FindsCTAndLabelPairsInADirectory)
{
  const auto dir = OutputPath("pairs");
  std::filesystem::create_directories(dir / "case002_ct"); // a DICOM series directory
  Touch(dir / "case000_ct.nii.gz");
  Touch(dir / "case000_label.nii.gz");
  Touch(dir / "case001_ct.nrrd");
  Touch(dir / "case001_label.seg.nrrd");
  Touch(dir / "case002_label.mha");
  Touch(dir / "notes.txt");
  const auto cases = ReadCases(dir.string());
  ASSERT_EQ(cases.size(), 3u);
  EXPECT_EQ(cases[0].image, (dir / "case000_ct.nii.gz").string());
  EXPECT_EQ(cases[0].label, (dir / "case000_label.nii.gz").string());
  EXPECT_EQ(cases[1].label, (dir / "case001_label.seg.nrrd").string());
  EXPECT_EQ(cases[2].image, (dir / "case002_ct").string());

  Touch(dir / "case003_ct.mha");
  const std::string message = MessageOf([&] { FindCasePairs(dir.string()); });
  EXPECT_NE(message.find("case003_ct.mha"), std::string::npos) << message;

  const auto empty = OutputPath("empty");
  std::filesystem::create_directories(empty);
  EXPECT_NE(MessageOf([&] { FindCasePairs(empty.string()); }).find("no <name>_ct"), std::string::npos);
}

TEST(Preprocessing, GeometryMismatchAndForeignLabelValuesAreRefused)
{
  CTImageType::Pointer    ct;
  LabelImageType::Pointer labels;
  MakeCase(Orientation::Identity, ct, labels);
  auto shifted = MakeImage<LabelImageType>({ { 12, 10, 6 } }, { { 1.5, 1.0, 2.0 } }, { { -4.0, 3.0, 20.0 } });
  const std::string message = MessageOf([&] { CheckSameGeometry(ct, shifted, "ct.nii", "seg.nii"); });
  EXPECT_NE(message.find("seg.nii"), std::string::npos) << message;
  EXPECT_NE(message.find("origin"), std::string::npos) << message;
  auto smaller = MakeImage<LabelImageType>({ { 12, 10, 5 } }, { { 1.5, 1.0, 2.0 } }, { { -5.0, 3.0, 20.0 } });
  EXPECT_NE(MessageOf([&] { CheckSameGeometry(ct, smaller, "ct.nii", "seg.nii"); }).find("size"), std::string::npos);
  auto rotated =
    MakeImage<LabelImageType>({ { 12, 10, 6 } }, { { 1.5, 1.0, 2.0 } }, { { -5.0, 3.0, 20.0 } }, Orientation::Oblique);
  EXPECT_NE(MessageOf([&] { CheckSameGeometry(ct, rotated, "ct.nii", "seg.nii"); }).find("direction"),
            std::string::npos);
  EXPECT_NO_THROW(CheckSameGeometry(ct, labels, "ct.nii", "seg.nii"));

  const auto counts = CountLabelVoxels(labels, 3, "seg.nii");
  EXPECT_DOUBLE_EQ(counts[2], 3 * 2 * 1);
  EXPECT_DOUBLE_EQ(counts[1], 7 * 4 * 3 - 6);
  EXPECT_DOUBLE_EQ(counts[0], 12 * 10 * 6 - 7 * 4 * 3);
  labels->SetPixel({ { 0, 0, 0 } }, 5);
  const std::string foreign = MessageOf([&] { CountLabelVoxels(labels, 3, "seg.nii"); });
  EXPECT_NE(foreign.find("value 5"), std::string::npos) << foreign;
  EXPECT_NE(foreign.find("seg.nii"), std::string::npos) << foreign;
}

TEST(Preprocessing, ReorientationPermutesAndFlipsAxesKeepingEveryVoxelInPlace)
{
  for (Orientation o : { Orientation::Identity, Orientation::Flipped, Orientation::Oblique })
  {
    CTImageType::Pointer    ct;
    LabelImageType::Pointer labels;
    MakeCase(o, ct, labels);
    const auto out = ReorientToCanonical<CTImageType>(ct);
    // The direction is the identity up to the residual rotation of an oblique image.
    for (unsigned int d = 0; d < 3; ++d)
    {
      EXPECT_GT(out->GetDirection()(d, d), 0.99) << static_cast<int>(o);
    }
    if (o != Orientation::Oblique)
    {
      EXPECT_EQ(out->GetDirection(), MakeImage<CTImageType>({ { 1, 1, 1 } }, { { 1, 1, 1 } })->GetDirection());
    }
    EXPECT_EQ(out->GetLargestPossibleRegion().GetSize(), ct->GetLargestPossibleRegion().GetSize());
    // Every voxel keeps its value at its physical position.
    itk::ImageRegionIteratorWithIndex<CTImageType> it(ct, ct->GetLargestPossibleRegion());
    for (; !it.IsAtEnd(); ++it)
    {
      CTImageType::PointType p;
      ct->TransformIndexToPhysicalPoint(it.GetIndex(), p);
      CTImageType::IndexType j;
      ASSERT_TRUE(out->TransformPhysicalPointToIndex(p, j));
      ASSERT_EQ(out->GetPixel(j), it.Get());
    }
  }
  // A flipped image reads backwards along x and z after reorientation: the value grows with every index again.
  CTImageType::Pointer    ct;
  LabelImageType::Pointer labels;
  MakeCase(Orientation::Flipped, ct, labels);
  const auto out = ReorientToCanonical<CTImageType>(ct);
  EXPECT_FLOAT_EQ(out->GetPixel({ { 0, 0, 0 } }), 10 * 11 + 1000 * 5);
  EXPECT_FLOAT_EQ(out->GetPixel({ { 11, 0, 5 } }), 0);
}

TEST(Preprocessing, ResamplingKeepsTheFieldOfViewAndMovesLabelsWithTheImage)
{
  for (Orientation o : { Orientation::Identity, Orientation::Oblique })
  {
    auto labels = MakeImage<LabelImageType>({ { 40, 30, 8 } }, { { 0.75, 0.75, 3.0 } }, { { 10, -20, 5 } }, o);
    // A box from index 8 to 23 in x (physical 6 .. 18 mm from the edge at x = -0.375 mm)
    itk::ImageRegionIteratorWithIndex<LabelImageType> it(labels, labels->GetLargestPossibleRegion());
    for (; !it.IsAtEnd(); ++it)
    {
      const auto i = it.GetIndex();
      it.Set(i[0] >= 8 && i[0] < 24 && i[1] >= 4 && i[1] < 12 ? 1 : 0);
    }
    const auto out = ResampleToSpacing<LabelImageType>(labels, { { 1.5, 1.5, 0.0 } }, true);
    EXPECT_EQ(out->GetLargestPossibleRegion().GetSize()[0], 20u);
    EXPECT_EQ(out->GetLargestPossibleRegion().GetSize()[1], 15u);
    EXPECT_EQ(out->GetLargestPossibleRegion().GetSize()[2], 8u);
    EXPECT_DOUBLE_EQ(out->GetSpacing()[2], 3.0);
    EXPECT_EQ(out->GetDirection(), labels->GetDirection());
    // The outer edge of voxel 0 stays where it was: (origin - 0.75/2) == (origin' - 1.5/2) along the axes.
    CTImageType::PointType a, b;
    labels->TransformContinuousIndexToPhysicalPoint(
      itk::ContinuousIndex<double, 3>(std::array<double, 3>{ { -0.5, -0.5, 0 } }.data()), a);
    out->TransformContinuousIndexToPhysicalPoint(
      itk::ContinuousIndex<double, 3>(std::array<double, 3>{ { -0.5, -0.5, 0 } }.data()), b);
    EXPECT_LT(a.EuclideanDistanceTo(b), 1e-9);
    // The box covers indices 4..11 x 2..5 exactly at half resolution.
    unsigned int                                      count = 0;
    itk::ImageRegionIteratorWithIndex<LabelImageType> ot(out, out->GetLargestPossibleRegion());
    for (; !ot.IsAtEnd(); ++ot)
    {
      const auto i = ot.GetIndex();
      const bool inside = i[0] >= 4 && i[0] < 12 && i[1] >= 2 && i[1] < 6;
      EXPECT_EQ(ot.Get(), inside ? 1 : 0) << i;
      count += ot.Get();
    }
    EXPECT_EQ(count, 8u * 4u * 8u);
  }
  // Nothing to do: the same image comes back.
  auto same = MakeImage<LabelImageType>({ { 4, 4, 4 } }, { { 1.5, 1.5, 2.0 } });
  EXPECT_EQ(ResampleToSpacing<LabelImageType>(same, { { 1.5, 0.0, 0.0 } }, true).GetPointer(), same.GetPointer());
}

TEST(Normalisation, ForegroundStatisticsMatchNumpyPercentilesMeanAndStd)
{
  // Foreground values 1 .. 1000 spread over two images; background voxels hold 5000 and must not count.
  auto statistics = ForegroundIntensityStatistics::New();
  for (int part = 0; part < 2; ++part)
  {
    auto ct = MakeImage<CTImageType>({ { 25, 25, 2 } }, { { 1, 1, 1 } });
    auto labels = MakeImage<LabelImageType>({ { 25, 25, 2 } }, { { 1, 1, 1 } });
    ct->FillBuffer(5000.0f);
    float *   v = ct->GetBufferPointer();
    uint8_t * l = labels->GetBufferPointer();
    for (int k = 0; k < 500; ++k)
    {
      v[2 * k + 1] = static_cast<float>(1 + k + 500 * part);
      l[2 * k + 1] = static_cast<uint8_t>(1 + (k % 2));
    }
    statistics->Add(ct, labels);
  }
  EXPECT_EQ(statistics->GetNumberOfVoxels(), 1000u);
  EXPECT_NEAR(statistics->GetMean(), 500.5, 1e-9);
  EXPECT_NEAR(statistics->GetStandardDeviation(), std::sqrt((1000.0 * 1000.0 - 1.0) / 12.0), 1e-9);
  // numpy.percentile(np.arange(1, 1001), [0.5, 99.5]) = [5.995, 995.005]
  EXPECT_NEAR(statistics->GetQuantile(0.005), 5.995, 1e-9);
  EXPECT_NEAR(statistics->GetQuantile(0.995), 995.005, 1e-9);
  EXPECT_NEAR(statistics->GetQuantile(0.5), 500.5, 1e-9);
  const IntensityNormalization n = statistics->ComputeNormalization("zscore");
  EXPECT_EQ(n.method, "zscore");
  EXPECT_NEAR(n.clipLow, 5.995, 1e-9);
  EXPECT_NEAR(n.clipHigh, 995.005, 1e-9);
  EXPECT_NEAR(n.mean, 500.5, 1e-9);

  torch::Tensor hu = torch::tensor({ -100.0f, 5.995f, 500.5f, 2000.0f });
  NormalizeIntensities(hu, n);
  const double s = n.std;
  EXPECT_NEAR(hu[0].item<double>(), (5.995 - 500.5) / s, 1e-5);
  EXPECT_NEAR(hu[2].item<double>(), 0.0, 1e-6);
  EXPECT_NEAR(hu[3].item<double>(), (995.005 - 500.5) / s, 1e-5);

  const IntensityNormalization w = statistics->ComputeNormalization("window", -100, 300);
  torch::Tensor                window = torch::tensor({ -500.0f, 100.0f, 1000.0f });
  NormalizeIntensities(window, w);
  EXPECT_NEAR(window[0].item<double>(), 0.0, 1e-7);
  EXPECT_NEAR(window[1].item<double>(), 0.5, 1e-7);
  EXPECT_NEAR(window[2].item<double>(), 1.0, 1e-7);

  EXPECT_THROW(ForegroundIntensityStatistics::New()->ComputeNormalization("zscore"), itk::ExceptionObject);
  EXPECT_THROW(statistics->ComputeNormalization("minmax"), itk::ExceptionObject);
}

TEST(Normalisation, ForegroundStatisticsDoNotDependOnTheOrderOfTheCalls)
{
  // Cases loaded by several threads finish in any order: keyed images merge in key order, bitwise.
  std::vector<CTImageType::Pointer>    images;
  std::vector<LabelImageType::Pointer> labels;
  for (int c = 0; c < 3; ++c)
  {
    images.push_back(MakeImage<CTImageType>({ { 17, 13, 3 } }, { { 1, 1, 1 } }));
    labels.push_back(MakeImage<LabelImageType>({ { 17, 13, 3 } }, { { 1, 1, 1 } }));
    float *   v = images.back()->GetBufferPointer();
    uint8_t * l = labels.back()->GetBufferPointer();
    for (int i = 0; i < 17 * 13 * 3; ++i)
    {
      v[i] = static_cast<float>(std::sin(0.37 * i + c) * (100.0 + 700.0 * c) + 0.1 * c);
      l[i] = static_cast<uint8_t>((i * (c + 2)) % 5 != 0);
    }
  }
  auto forward = ForegroundIntensityStatistics::New();
  auto backward = ForegroundIntensityStatistics::New();
  auto plain = ForegroundIntensityStatistics::New();
  for (uint64_t c = 0; c < 3; ++c)
  {
    forward->Add(images[c], labels[c], c);
    backward->Add(images[2 - c], labels[2 - c], 2 - c);
    plain->Add(images[c], labels[c]);
  }
  EXPECT_EQ(forward->GetNumberOfVoxels(), backward->GetNumberOfVoxels());
  EXPECT_EQ(forward->GetMean(), backward->GetMean());
  EXPECT_EQ(forward->GetStandardDeviation(), backward->GetStandardDeviation());
  EXPECT_EQ(forward->GetMean(), plain->GetMean());
  EXPECT_EQ(forward->GetStandardDeviation(), plain->GetStandardDeviation());
  EXPECT_EQ(forward->GetQuantile(0.005), backward->GetQuantile(0.005));
  EXPECT_THROW(forward->Add(images[0], labels[0], 1), itk::ExceptionObject);
}

TEST(Preprocessing, ComponentLocationsGroupEachConnectedLesionLargestFirst)
{
  // (z, y, x) = (4, 10, 10): a 2x3x3 tumour block, a two-voxel tumour whose voxels touch only at a corner (one
  // component with 26-connectivity), and one organ voxel.
  TrainingVolume v;
  v.name = "lesions";
  v.labels = torch::zeros({ 4, 10, 10 }, torch::kUInt8);
  using torch::indexing::Slice;
  v.labels.index_put_({ Slice(0, 2), Slice(0, 3), Slice(0, 3) }, 2);
  v.labels.index_put_({ 2, 7, 7 }, 2);
  v.labels.index_put_({ 3, 8, 8 }, 2);
  v.labels.index_put_({ 0, 9, 0 }, 1);
  IndexClassLocations(v, 3, 1000, 7);
  EXPECT_EQ(v.classVoxels, (std::vector<double>{ 400 - 21, 1, 20 }));
  ASSERT_EQ(v.componentLocations.size(), 3u);
  EXPECT_TRUE(v.componentLocations[0].empty());
  ASSERT_EQ(v.componentLocations[1].size(), 1u);
  EXPECT_EQ(v.componentLocations[1][0].item<int64_t>(), 90);
  ASSERT_EQ(v.componentLocations[2].size(), 2u);
  EXPECT_EQ(v.componentLocations[2][0].numel(), 18);
  const torch::Tensor flat = v.labels.flatten();
  EXPECT_TRUE(flat.index_select(0, v.componentLocations[2][0]).eq(2).all().item<bool>());
  EXPECT_LT(v.componentLocations[2][0].max().item<int64_t>(), 200); // the block: z < 2
  const torch::Tensor corner = v.componentLocations[2][1];
  ASSERT_EQ(corner.numel(), 2);
  EXPECT_EQ(corner[0].item<int64_t>(), 2 * 100 + 7 * 10 + 7);
  EXPECT_EQ(corner[1].item<int64_t>(), 3 * 100 + 8 * 10 + 8);
  EXPECT_EQ(v.classLocations[2].numel(), 20);

  // Capped: a seeded subset of each component, in increasing order, the same for the same seed.
  TrainingVolume capped = v;
  IndexClassLocations(capped, 3, 5, 7);
  ASSERT_EQ(capped.componentLocations[2].size(), 2u);
  const torch::Tensor block = capped.componentLocations[2][0];
  ASSERT_EQ(block.numel(), 5);
  EXPECT_TRUE(flat.index_select(0, block).eq(2).all().item<bool>());
  EXPECT_TRUE((block.slice(0, 1) > block.slice(0, 0, -1)).all().item<bool>());
  EXPECT_EQ(capped.componentLocations[2][1].numel(), 2);
  EXPECT_EQ(capped.classLocations[2].numel(), 5);
  TrainingVolume again = v;
  IndexClassLocations(again, 3, 5, 7);
  EXPECT_TRUE(again.componentLocations[2][0].equal(block));

  TrainingVolume bad = v;
  bad.labels = v.labels.clone();
  bad.labels.index_put_({ 0, 0, 0 }, 3);
  EXPECT_NE(MessageOf([&] { IndexClassLocations(bad, 3, 5, 7); }).find("lesions"), std::string::npos);
}

TEST(Preprocessing, PreparedVolumeHoldsReorientedTensorsAndForegroundLocations)
{
  CTImageType::Pointer    ct;
  LabelImageType::Pointer labels;
  MakeCase(Orientation::Flipped, ct, labels);
  PreprocessingOptions options;
  options.locationsPerClass = 50;
  auto                 statistics = ForegroundIntensityStatistics::New();
  const TrainingVolume v = PrepareTrainingVolume(ct, labels, options, "ct.nii", "seg.nii", statistics);
  ASSERT_EQ(v.image.sizes(), (std::vector<int64_t>{ 6, 10, 12 }));
  EXPECT_EQ(v.labels.scalar_type(), torch::kUInt8);
  EXPECT_EQ(statistics->GetNumberOfVoxels(), 7u * 4u * 3u);
  // Reoriented: x and z reversed with respect to the file.
  EXPECT_FLOAT_EQ(v.image[0][0][0].item<float>(), 10 * 11 + 1000 * 5);
  EXPECT_DOUBLE_EQ(v.classVoxels[1], 7 * 4 * 3 - 6);
  EXPECT_DOUBLE_EQ(v.classVoxels[2], 6);
  ASSERT_EQ(v.classLocations.size(), 3u);
  EXPECT_EQ(v.classLocations[0].numel(), 0);
  EXPECT_EQ(v.classLocations[1].numel(), 50); // capped
  EXPECT_EQ(v.classLocations[2].numel(), 6);
  const torch::Tensor flat = v.labels.flatten();
  EXPECT_TRUE(flat.index_select(0, v.classLocations[1]).eq(1).all().item<bool>());
  EXPECT_TRUE(flat.index_select(0, v.classLocations[2]).eq(2).all().item<bool>());

  // One component per class here (the tumour is a block inside the organ), holding the class's locations.
  ASSERT_EQ(v.componentLocations.size(), 3u);
  EXPECT_TRUE(v.componentLocations[0].empty());
  ASSERT_EQ(v.componentLocations[1].size(), 1u);
  EXPECT_EQ(v.componentLocations[1][0].numel(), 50); // capped too
  ASSERT_EQ(v.componentLocations[2].size(), 1u);
  EXPECT_TRUE(v.componentLocations[2][0].equal(v.classLocations[2]));

  options.numberOfClasses = 2;
  const std::string message = MessageOf([&] { PrepareTrainingVolume(ct, labels, options, "ct.nii", "seg.nii"); });
  EXPECT_NE(message.find("seg.nii holds the value 2"), std::string::npos) << message;
}

TEST(Preprocessing, LoadingCasesInParallelLeavesTheCallersThreadCountAndGivesTheSameStatistics)
{
  const auto          dir = OutputPath("parallel-load");
  const auto          list = torchseg::testing::WriteSyntheticCases(dir, { 1, 2, 3 }, "train.csv");
  const auto          cases = ReadCases(list.string());
  std::vector<double> means;
  for (int threads : { 1, 2, 3 })
  {
    SCOPED_TRACE(threads);
    at::set_num_threads(2);
    PreprocessingOptions options;
    options.numberOfThreads = threads;
    auto       statistics = ForegroundIntensityStatistics::New();
    const auto volumes = LoadTrainingVolumes(cases, options, statistics);
    ASSERT_EQ(volumes.size(), 3u);
    // The calling thread (which helps loading) trains next: it must keep its two threads.
    EXPECT_EQ(at::get_num_threads(), 2);
    means.push_back(statistics->GetMean());
  }
  EXPECT_EQ(means[0], means[1]);
  EXPECT_EQ(means[0], means[2]);
}
