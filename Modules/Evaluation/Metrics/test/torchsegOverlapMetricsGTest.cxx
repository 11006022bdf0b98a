#include "torchsegMetricsTestHelpers.h"
#include "torchsegOverlapMetricsImageFilter.h"

#include "itkLabelOverlapMeasuresImageFilter.h"

#include "gtest/gtest.h"

#include <random>

namespace
{

using Label3D = itk::Image<std::uint8_t, 3>;
using Label2D = itk::Image<std::uint8_t, 2>;
using torchseg::LabelStatus;
using torchseg::testing::FillByIndex;
using torchseg::testing::InBox;
using torchseg::testing::MakeImage;
using torchseg::testing::Orientation;

/** The cubes of metrics.md: A = [10,29]^3 (reference), B = [20,34]^3 (prediction) in 50^3. */
void
MakeCubes(Label3D::Pointer & a, Label3D::Pointer & b, double spacing, Orientation orientation = Orientation::Identity)
{
  a = MakeImage<Label3D>({ 50, 50, 50 }, { spacing, spacing, spacing }, { 0, 0, 0 }, orientation);
  b = MakeImage<Label3D>({ 50, 50, 50 }, { spacing, spacing, spacing }, { 0, 0, 0 }, orientation);
  FillByIndex(a.GetPointer(), [](const Label3D::IndexType & i) { return InBox(i, 10, 29) ? 1 : 0; });
  FillByIndex(b.GetPointer(), [](const Label3D::IndexType & i) { return InBox(i, 20, 34) ? 1 : 0; });
}

template <typename TImage>
typename torchseg::OverlapMetricsImageFilter<TImage>::Pointer
RunOverlap(const TImage * reference, const TImage * prediction)
{
  auto filter = torchseg::OverlapMetricsImageFilter<TImage>::New();
  filter->SetReferenceImage(reference);
  filter->SetPredictionImage(prediction);
  filter->Update();
  return filter;
}

} // namespace

TEST(OverlapMetrics, CubesGiveTheClosedFormValues)
{
  Label3D::Pointer a, b;
  MakeCubes(a, b, 0.5);
  auto filter = RunOverlap<Label3D>(a, b);

  // |T| = 8000, |S| = 3375, TP = 1000, N = 125000.
  const torchseg::OverlapMeasures m = filter->GetMeasures(1);
  EXPECT_EQ(m.status, LabelStatus::Ok);
  EXPECT_EQ(m.referenceCount, 8000u);
  EXPECT_EQ(m.predictionCount, 3375u);
  EXPECT_EQ(m.truePositives, 1000u);
  EXPECT_EQ(m.falsePositives, 2375u);
  EXPECT_EQ(m.falseNegatives, 7000u);
  EXPECT_EQ(m.trueNegatives, 125000u - 10375u);
  EXPECT_NEAR(m.dice, 0.175824, 5e-7);
  EXPECT_DOUBLE_EQ(m.dice, 2000.0 / 11375.0);
  EXPECT_DOUBLE_EQ(m.iou, 1000.0 / 10375.0);
  EXPECT_DOUBLE_EQ(m.precision, 1000.0 / 3375.0);
  EXPECT_DOUBLE_EQ(m.recall, 1000.0 / 8000.0);
  EXPECT_DOUBLE_EQ(m.specificity, 114625.0 / 117000.0);
  EXPECT_DOUBLE_EQ(m.falsePositiveRate, 2375.0 / 117000.0);
  EXPECT_DOUBLE_EQ(m.falseDiscoveryRate, 2375.0 / 3375.0);
  EXPECT_DOUBLE_EQ(m.volumeSimilarity, 1.0 - 4625.0 / 11375.0);
  EXPECT_DOUBLE_EQ(m.relativeVolumeDifference, -4625.0 / 8000.0);
  // Voxels of 0.125 mm^3.
  EXPECT_DOUBLE_EQ(m.referenceVolumeMl, 8000 * 0.125 / 1000.0);
  EXPECT_DOUBLE_EQ(m.predictionVolumeMl, 3375 * 0.125 / 1000.0);
  EXPECT_DOUBLE_EQ(filter->GetVoxelVolume(), 0.125);

  EXPECT_EQ(filter->GetNumberOfPixels(), 125000u);
  EXPECT_DOUBLE_EQ(filter->GetPixelAccuracy(), (125000.0 - 2375.0 - 7000.0) / 125000.0);
  ASSERT_EQ(filter->GetEvaluatedLabels(), std::vector<std::uint8_t>({ 1 }));
  EXPECT_DOUBLE_EQ(filter->GetMeanDice(), m.dice);
  EXPECT_DOUBLE_EQ(filter->GetMeanIoU(), m.iou);

  // The confusion matrix: rows reference, columns prediction.
  ASSERT_EQ(filter->GetPresentLabels(), std::vector<std::uint8_t>({ 0, 1 }));
  const auto & c = filter->GetConfusionMatrix();
  EXPECT_EQ(c[0][0], 114625u);
  EXPECT_EQ(c[0][1], 2375u);
  EXPECT_EQ(c[1][0], 7000u);
  EXPECT_EQ(c[1][1], 1000u);
  EXPECT_EQ(filter->GetConfusionCount(1, 0), 7000u);
  EXPECT_EQ(filter->GetConfusionCount(7, 7), 0u);
}

namespace
{

/** Random multi-label pairs: blobs of labels 0..5 (so that runs exist) plus salt noise, prediction partly agreeing. */
template <typename TImage>
void
MakeRandomPair(typename TImage::Pointer & reference, typename TImage::Pointer & prediction, unsigned int seed)
{
  constexpr unsigned int    D = TImage::ImageDimension;
  typename TImage::SizeType size;
  size.Fill(D == 3 ? 37 : 151);
  std::array<double, D> spacing;
  spacing.fill(0.7);
  reference = MakeImage<TImage>(size, spacing);
  prediction = MakeImage<TImage>(size, spacing);
  std::mt19937                              random(seed);
  std::uniform_int_distribution<int>        label(0, 5);
  std::uniform_real_distribution<double>    unit(0.0, 1.0);
  itk::ImageRegionIteratorWithIndex<TImage> r(reference, reference->GetLargestPossibleRegion());
  itk::ImageRegionIterator<TImage>          p(prediction, prediction->GetLargestPossibleRegion());
  int                                       current = 0;
  for (; !r.IsAtEnd(); ++r, ++p)
  {
    if (unit(random) < 0.1)
    {
      current = label(random);
    }
    r.Set(static_cast<typename TImage::PixelType>(current));
    const double u = unit(random);
    p.Set(static_cast<typename TImage::PixelType>(u < 0.7 ? current : (u < 0.8 ? 0 : label(random))));
  }
}

template <typename TImage>
void
ExpectSameAsITK(unsigned int seed)
{
  typename TImage::Pointer reference, prediction;
  MakeRandomPair<TImage>(reference, prediction, seed);
  auto ours = RunOverlap<TImage>(reference, prediction);

  using ITKFilter = itk::LabelOverlapMeasuresImageFilter<TImage>;
  auto itkFilter = ITKFilter::New();
  itkFilter->SetSourceImage(prediction);
  itkFilter->SetTargetImage(reference);
  itkFilter->Update();

  std::uint64_t total = 0;
  for (const auto & row : ours->GetConfusionMatrix())
  {
    for (const auto count : row)
    {
      total += count;
    }
  }
  EXPECT_EQ(total, reference->GetLargestPossibleRegion().GetNumberOfPixels());
  ASSERT_EQ(ours->GetPresentLabels().size(), 6u);
  for (const auto label : ours->GetPresentLabels())
  {
    const torchseg::OverlapMeasures m = ours->GetMeasures(label);
    EXPECT_NEAR(m.dice, itkFilter->GetDiceCoefficient(label), 1e-12) << "label " << int(label);
    EXPECT_NEAR(m.iou, itkFilter->GetJaccardCoefficient(label), 1e-12) << "label " << int(label);
    // ITK 5.2's "false positive error" is FP / |S|: the false discovery rate.
    EXPECT_NEAR(m.falseDiscoveryRate, itkFilter->GetFalsePositiveError(label), 1e-12) << "label " << int(label);
    EXPECT_NEAR(m.volumeSimilarity, 1.0 - std::abs(itkFilter->GetVolumeSimilarity(label)) / 2.0, 1e-12);
  }
}

} // namespace

TEST(OverlapMetrics, DiceAndIoUEqualITKOnRandomMultiLabelPairs3D)
{
  for (unsigned int seed : { 1u, 2u, 3u })
  {
    ExpectSameAsITK<Label3D>(seed);
  }
}

TEST(OverlapMetrics, DiceAndIoUEqualITKOnRandomMultiLabelPairs2D)
{
  ExpectSameAsITK<Label2D>(4);
}

TEST(OverlapMetrics, WideAndSignedLabelTypesCountLikeITK)
{
  ExpectSameAsITK<itk::Image<std::int16_t, 3>>(5);
  ExpectSameAsITK<itk::Image<std::int8_t, 2>>(6);
  ExpectSameAsITK<itk::Image<unsigned int, 2>>(7);
}

TEST(OverlapMetrics, EmptyMasksHaveExplicitStatuses)
{
  Label2D::Pointer reference = MakeImage<Label2D>({ 20, 10 }, { 1.0, 2.0 });
  Label2D::Pointer prediction = MakeImage<Label2D>({ 20, 10 }, { 1.0, 2.0 });
  // Label 1 in both, label 2 only in the reference, label 3 only in the prediction, label 4 nowhere.
  FillByIndex(reference.GetPointer(), [](const Label2D::IndexType & i) { return i[0] < 5 ? 1 : (i[0] < 8 ? 2 : 0); });
  FillByIndex(prediction.GetPointer(), [](const Label2D::IndexType & i) { return i[0] < 6 ? 1 : (i[0] > 15 ? 3 : 0); });

  auto filter = torchseg::OverlapMetricsImageFilter<Label2D>::New();
  filter->SetReferenceImage(reference);
  filter->SetPredictionImage(prediction);
  filter->SetLabels({ 4, 3, 2, 1 });
  filter->Update();
  EXPECT_EQ(filter->GetEvaluatedLabels(), std::vector<std::uint8_t>({ 1, 2, 3, 4 }));

  const auto ok = filter->GetMeasures(1);
  EXPECT_EQ(ok.status, LabelStatus::Ok);
  EXPECT_DOUBLE_EQ(ok.dice, 2.0 * 50 / (50 + 60));

  const auto predictionEmpty = filter->GetMeasures(2);
  EXPECT_EQ(predictionEmpty.status, LabelStatus::PredictionEmpty);
  EXPECT_EQ(predictionEmpty.dice, 0.0);
  EXPECT_EQ(predictionEmpty.iou, 0.0);
  EXPECT_EQ(predictionEmpty.recall, 0.0);
  EXPECT_TRUE(std::isnan(predictionEmpty.precision));
  EXPECT_TRUE(std::isnan(predictionEmpty.falseDiscoveryRate));
  EXPECT_EQ(predictionEmpty.relativeVolumeDifference, -1.0);
  EXPECT_EQ(predictionEmpty.volumeSimilarity, 0.0);

  const auto referenceEmpty = filter->GetMeasures(3);
  EXPECT_EQ(referenceEmpty.status, LabelStatus::ReferenceEmpty);
  EXPECT_EQ(referenceEmpty.dice, 0.0);
  EXPECT_EQ(referenceEmpty.iou, 0.0);
  EXPECT_EQ(referenceEmpty.precision, 0.0);
  EXPECT_TRUE(std::isnan(referenceEmpty.recall));
  EXPECT_TRUE(std::isinf(referenceEmpty.relativeVolumeDifference));
  EXPECT_DOUBLE_EQ(referenceEmpty.predictionVolumeMl, 40 * 2.0 / 1000.0);

  const auto absent = filter->GetMeasures(4);
  EXPECT_EQ(absent.status, LabelStatus::Absent);
  EXPECT_TRUE(std::isnan(absent.dice));
  EXPECT_TRUE(std::isnan(absent.iou));
  EXPECT_TRUE(std::isnan(absent.volumeSimilarity));
  EXPECT_EQ(absent.referenceVolumeMl, 0.0);
  EXPECT_EQ(filter->GetMeasures(200).status, LabelStatus::Absent);

  // Means over the labels present in either image (1, 2, 3): the absent label 4 is left out.
  EXPECT_DOUBLE_EQ(filter->GetMeanDice(), (ok.dice + 0.0 + 0.0) / 3.0);
  EXPECT_DOUBLE_EQ(filter->GetMeanIoU(), (ok.iou + 0.0 + 0.0) / 3.0);
  // Agreement: label 1 on 5 columns, background on columns 8..15 (8 columns), of 20.
  EXPECT_DOUBLE_EQ(filter->GetPixelAccuracy(), 13.0 / 20.0);

  // Only absent labels: no mean.
  filter->SetLabels({ 4 });
  filter->Update();
  EXPECT_TRUE(std::isnan(filter->GetMeanDice()));
}

TEST(OverlapMetrics, DefaultLabelsAreTheForegroundLabelsPresent)
{
  Label2D::Pointer reference = MakeImage<Label2D>({ 8, 8 }, { 1.0, 1.0 });
  Label2D::Pointer prediction = MakeImage<Label2D>({ 8, 8 }, { 1.0, 1.0 });
  FillByIndex(reference.GetPointer(), [](const Label2D::IndexType & i) { return i[0] < 2 ? 5 : 9; });
  FillByIndex(prediction.GetPointer(), [](const Label2D::IndexType & i) { return i[1] < 2 ? 7 : 9; });
  auto filter = torchseg::OverlapMetricsImageFilter<Label2D>::New();
  filter->SetReferenceImage(reference);
  filter->SetPredictionImage(prediction);
  filter->SetBackgroundValue(9);
  filter->Update();
  EXPECT_EQ(filter->GetPresentLabels(), std::vector<std::uint8_t>({ 5, 7, 9 }));
  EXPECT_EQ(filter->GetEvaluatedLabels(), std::vector<std::uint8_t>({ 5, 7 }));
  EXPECT_EQ(filter->GetMeanDice(), 0.0);
}

TEST(OverlapMetrics, GeometryMismatchesAreNamed)
{
  Label3D::Pointer a, b;
  MakeCubes(a, b, 1.0);
  auto expectError = [&](const Label3D * prediction, const std::string & what) {
    auto filter = torchseg::OverlapMetricsImageFilter<Label3D>::New();
    filter->SetReferenceImage(a);
    filter->SetPredictionImage(prediction);
    try
    {
      filter->Update();
      ADD_FAILURE() << "no error for a different " << what;
    }
    catch (const itk::ExceptionObject & e)
    {
      const std::string message = e.GetDescription();
      EXPECT_NE(message.find(what), std::string::npos) << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
  };
  expectError(MakeImage<Label3D>({ 50, 50, 51 }, { 1, 1, 1 }).GetPointer(),
              "size (50, 50, 51) instead of (50, 50, 50)");
  expectError(MakeImage<Label3D>({ 50, 50, 50 }, { 1, 1, 1.5 }).GetPointer(),
              "spacing (1, 1, 1.5) instead of (1, 1, 1)");
  expectError(MakeImage<Label3D>({ 50, 50, 50 }, { 1, 1, 1 }, { 0, 0.01, 0 }).GetPointer(), "origin");
  expectError(MakeImage<Label3D>({ 50, 50, 50 }, { 1, 1, 1 }, { 0, 0, 0 }, Orientation::Flipped).GetPointer(),
              "direction");

  // Within the relative tolerance (float rounding of a NIfTI header) the images match.
  Label3D::Pointer close = MakeImage<Label3D>({ 50, 50, 50 }, { 1 + 1e-8, 1, 1 }, { 1e-9, 0, 0 });
  EXPECT_NO_THROW(RunOverlap<Label3D>(a, close));
}

TEST(OverlapMetrics, DirectionDoesNotChangeOverlap)
{
  Label3D::Pointer a, b;
  MakeCubes(a, b, 1.0, Orientation::Oblique);
  EXPECT_DOUBLE_EQ(RunOverlap<Label3D>(a, b)->GetMeasures(1).dice, 2000.0 / 11375.0);
}

TEST(OverlapMetrics, PrintSelfNamesEveryMember)
{
  Label2D::Pointer   a = MakeImage<Label2D>({ 4, 4 }, { 1.0, 1.0 });
  auto               filter = RunOverlap<Label2D>(a, a);
  std::ostringstream out;
  filter->Print(out);
  for (const char * member : { "BackgroundValue",
                               "Labels",
                               "EvaluatedLabels",
                               "PresentLabels",
                               "ConfusionMatrix",
                               "NumberOfPixels",
                               "VoxelVolume",
                               "PixelAccuracy",
                               "MeanIoU",
                               "MeanDice" })
  {
    EXPECT_NE(out.str().find(member), std::string::npos) << member;
  }
  EXPECT_DOUBLE_EQ(filter->GetPixelAccuracy(), 1.0);
  EXPECT_TRUE(std::isnan(filter->GetMeanDice())); // only background
}
