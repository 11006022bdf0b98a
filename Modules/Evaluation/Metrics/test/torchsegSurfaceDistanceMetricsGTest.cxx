#include "torchsegMaskSurfaceDistance.h"
#include "torchsegMetricsTestHelpers.h"
#include "torchsegOverlapMetricsImageFilter.h"
#include "torchsegSurfaceDistanceMetricsImageFilter.h"

#include "itkCommand.h"

#include "gtest/gtest.h"

#include <random>

namespace
{

using Label3D = itk::Image<std::uint8_t, 3>;
using Label2D = itk::Image<std::uint8_t, 2>;
using torchseg::LabelStatus;
using torchseg::SurfaceDistanceMeasures;
using torchseg::testing::FillByIndex;
using torchseg::testing::FillByPoint;
using torchseg::testing::InBox;
using torchseg::testing::MakeImage;
using torchseg::testing::Orientation;

template <typename TImage>
SurfaceDistanceMeasures
Surface(const TImage * reference, const TImage * prediction, double tolerance = 2.0, std::uint8_t label = 1)
{
  auto filter = torchseg::SurfaceDistanceMetricsImageFilter<TImage>::New();
  filter->SetReferenceImage(reference);
  filter->SetPredictionImage(prediction);
  filter->SetNSDTolerance(tolerance);
  filter->Update();
  return filter->GetMeasures(label);
}

template <typename TImage>
double
Dice(const TImage * reference, const TImage * prediction, std::uint8_t label = 1)
{
  auto filter = torchseg::OverlapMetricsImageFilter<TImage>::New();
  filter->SetReferenceImage(reference);
  filter->SetPredictionImage(prediction);
  filter->Update();
  return filter->GetMeasures(label).dice;
}

void
MakeCubes(Label3D::Pointer & a, Label3D::Pointer & b, double spacing, Orientation orientation = Orientation::Identity)
{
  a = MakeImage<Label3D>({ 50, 50, 50 }, { spacing, spacing, spacing }, { 10, -20, 30 }, orientation);
  b = MakeImage<Label3D>({ 50, 50, 50 }, { spacing, spacing, spacing }, { 10, -20, 30 }, orientation);
  FillByIndex(a.GetPointer(), [](const Label3D::IndexType & i) { return InBox(i, 10, 29) ? 1 : 0; });
  FillByIndex(b.GetPointer(), [](const Label3D::IndexType & i) { return InBox(i, 20, 34) ? 1 : 0; });
}

/** A ball of \a radius voxels around an index centre (MONAI's create_spherical_seg_3d). */
Label3D::Pointer
MakeVoxelBall(const Label3D::SizeType & size, double radius, const std::array<double, 3> & centre)
{
  Label3D::Pointer image = MakeImage<Label3D>(size, { 1, 1, 1 });
  FillByIndex(image.GetPointer(), [&](const Label3D::IndexType & i) {
    double r2 = 0;
    for (unsigned int d = 0; d < 3; ++d)
    {
      r2 += (i[d] - centre[d]) * (i[d] - centre[d]);
    }
    return r2 <= radius * radius ? 1 : 0;
  });
  return image;
}

/** The analytic spheres of metrics.md in world coordinates: A radius 30 mm at c, B radius 20 mm at c + 9 mm along
 * the world z axis, where c is the world centre of the grid. */
void
MakeAnalyticSpheres(Label3D::Pointer & a, Label3D::Pointer & b, double spacing, Orientation orientation)
{
  // An odd size puts the centre on a voxel centre, as in the reference computation.
  const auto n = static_cast<itk::SizeValueType>(std::lround(70.0 / spacing)) + 1;
  a = MakeImage<Label3D>({ n, n, n }, { spacing, spacing, spacing }, { 5, 7, -11 }, orientation);
  b = MakeImage<Label3D>({ n, n, n }, { spacing, spacing, spacing }, { 5, 7, -11 }, orientation);
  itk::ContinuousIndex<double, 3> middle;
  middle.Fill((n - 1) / 2.0);
  itk::Point<double, 3> c;
  a->TransformContinuousIndexToPhysicalPoint(middle, c);
  auto inside = [c](const itk::Point<double, 3> & p, double radius, double dz) {
    const double x = p[0] - c[0], y = p[1] - c[1], z = p[2] - c[2] - dz;
    return x * x + y * y + z * z <= radius * radius ? 1 : 0;
  };
  FillByPoint(a.GetPointer(), [&](const itk::Point<double, 3> & p) { return inside(p, 30.0, 0.0); });
  FillByPoint(b.GetPointer(), [&](const itk::Point<double, 3> & p) { return inside(p, 20.0, 9.0); });
}

} // namespace

TEST(SurfaceDistanceMetrics, CubesReproduceTheReferenceValues)
{
  Label3D::Pointer a, b;
  MakeCubes(a, b, 1.0);
  const SurfaceDistanceMeasures m = Surface<Label3D>(a, b);
  EXPECT_EQ(m.status, LabelStatus::Ok);
  EXPECT_NEAR(Dice<Label3D>(a, b), 0.175824, 5e-7);
  EXPECT_NEAR(m.hausdorff, 17.3205, 5e-5);
  EXPECT_DOUBLE_EQ(m.hausdorff, 10.0 * std::sqrt(3.0));
  EXPECT_NEAR(m.hausdorffPercentile, 13.9476, 5e-5);
  EXPECT_NEAR(m.averageSymmetric, 6.9092, 5e-5);
  EXPECT_NEAR(m.meanAverage, 6.2918, 5e-5);
  EXPECT_NEAR(m.normalizedSurfaceDice, 0.1560, 5e-5);
  // Independent brute-force values (numpy: exhaustive nearest surface voxel, np.percentile).
  EXPECT_NEAR(m.hausdorffPercentile, 13.94760181418343, 1e-9);
  EXPECT_NEAR(m.averageSymmetric, 6.909154614706155, 1e-9);
  EXPECT_NEAR(m.meanAverage, 6.291807997810171, 1e-9);
  EXPECT_NEAR(m.normalizedSurfaceDice, 0.15600717274357442, 1e-12);
  // Surfaces: 20^3 - 18^3 and 15^3 - 13^3 voxels.
  EXPECT_EQ(m.referenceToPrediction.numberOfSurfaceVoxels, 2168u);
  EXPECT_EQ(m.predictionToReference.numberOfSurfaceVoxels, 1178u);
  EXPECT_DOUBLE_EQ(m.referenceToPrediction.maximum, 10.0 * std::sqrt(3.0));
  // B's corner voxel (20, 20, 20) lies inside A, 9 voxels from A's face x = 29.
  EXPECT_DOUBLE_EQ(m.predictionToReference.maximum, 9.0);
  EXPECT_DOUBLE_EQ(m.meanAverage, 0.5 * (m.referenceToPrediction.mean + m.predictionToReference.mean));
  EXPECT_DOUBLE_EQ(m.hausdorffPercentile,
                   std::max(m.referenceToPrediction.percentile, m.predictionToReference.percentile));
}

TEST(SurfaceDistanceMetrics, HalfSpacingHalvesEveryDistance)
{
  Label3D::Pointer a1, b1, a, b;
  MakeCubes(a1, b1, 1.0);
  MakeCubes(a, b, 0.5);
  const SurfaceDistanceMeasures full = Surface<Label3D>(a1, b1, 2.0);
  const SurfaceDistanceMeasures half = Surface<Label3D>(a, b, 1.0);
  EXPECT_NEAR(half.hausdorff, 17.3205 / 2, 5e-5);
  EXPECT_NEAR(half.hausdorffPercentile, 13.9476 / 2, 5e-5);
  EXPECT_NEAR(half.averageSymmetric, 6.9092 / 2, 5e-5);
  EXPECT_NEAR(half.meanAverage, 6.2918 / 2, 5e-5);
  EXPECT_DOUBLE_EQ(half.hausdorff, full.hausdorff / 2);
  EXPECT_DOUBLE_EQ(half.averageSymmetric, full.averageSymmetric / 2);
  // NSD at half the tolerance on the half-size grid is the same number.
  EXPECT_DOUBLE_EQ(half.normalizedSurfaceDice, full.normalizedSurfaceDice);
}

TEST(SurfaceDistanceMetrics, SingleVoxelsWithAnisotropicSpacing)
{
  Label3D::Pointer a = MakeImage<Label3D>({ 128, 128, 128 }, { 3, 2, 1 });
  Label3D::Pointer b = MakeImage<Label3D>({ 128, 128, 128 }, { 3, 2, 1 });
  a->SetPixel({ { 50, 60, 70 } }, 1);
  b->SetPixel({ { 50, 60, 72 } }, 1);
  const SurfaceDistanceMeasures m = Surface<Label3D>(a, b);
  EXPECT_EQ(Dice<Label3D>(a, b), 0.0);
  EXPECT_EQ(m.status, LabelStatus::Ok);
  EXPECT_DOUBLE_EQ(m.hausdorff, 2.0);
  EXPECT_DOUBLE_EQ(m.hausdorffPercentile, 2.0);
  EXPECT_DOUBLE_EQ(m.averageSymmetric, 2.0);
  EXPECT_DOUBLE_EQ(m.meanAverage, 2.0);
  EXPECT_DOUBLE_EQ(m.normalizedSurfaceDice, 1.0); // 2 mm <= tau = 2 mm

  // Along x the same index offset is 6 mm, along y 4 mm.
  Label3D::Pointer c = MakeImage<Label3D>({ 128, 128, 128 }, { 3, 2, 1 });
  c->SetPixel({ { 52, 60, 70 } }, 1);
  EXPECT_DOUBLE_EQ(Surface<Label3D>(a, c).hausdorff, 6.0);
  c->FillBuffer(0);
  c->SetPixel({ { 50, 62, 70 } }, 1);
  c->Modified();
  EXPECT_DOUBLE_EQ(Surface<Label3D>(a, c).hausdorff, 4.0);
}

TEST(SurfaceDistanceMetrics, SlabAtTheBorderIsClosedByZeroPadding)
{
  Label3D::Pointer a = MakeImage<Label3D>({ 100, 100, 100 }, { 2, 1, 1 });
  Label3D::Pointer b = MakeImage<Label3D>({ 100, 100, 100 }, { 2, 1, 1 });
  FillByIndex(a.GetPointer(), [](const Label3D::IndexType & i) { return i[0] < 50 ? 1 : 0; });
  FillByIndex(b.GetPointer(), [](const Label3D::IndexType & i) { return i[0] < 51 ? 1 : 0; });
  EXPECT_NEAR(Dice<Label3D>(a, b), 0.990, 5e-4);
  const SurfaceDistanceMeasures m = Surface<Label3D>(a, b);
  EXPECT_DOUBLE_EQ(m.hausdorff, 2.0);
  // The faces on the image border belong to both surfaces (distance 0), so most surface voxels agree.
  EXPECT_GT(m.normalizedSurfaceDice, 0.99);
  // A = 50 x 100 x 100 slab: its border faces plus the inner x = 49 face.
  EXPECT_EQ(m.referenceToPrediction.numberOfSurfaceVoxels, 50u * 100 * 100 - 48u * 98 * 98);
}

TEST(SurfaceDistanceMetrics, MONAISpheres)
{
  // MONAI's test_hausdorff_distance: radius 20 and 40 around (20, 33, 22) in 99^3; the larger ball is cut by the
  // image border (and closed there).
  Label3D::Pointer              a = MakeVoxelBall({ 99, 99, 99 }, 20, { 20, 33, 22 });
  Label3D::Pointer              b = MakeVoxelBall({ 99, 99, 99 }, 40, { 20, 33, 22 });
  const SurfaceDistanceMeasures m = Surface<Label3D>(a, b);
  EXPECT_NEAR(m.hausdorffPercentile, 20.0998, 5e-5);
  EXPECT_NEAR(m.averageSymmetric, 15.1177, 5e-5);
  EXPECT_NEAR(m.hausdorffPercentile, 20.09975124224178, 1e-9);
  EXPECT_NEAR(m.averageSymmetric, 15.117740826766529, 1e-9);
  // MONAI's full Hausdorff distance, and its older symmetric "surface distance" (the mean of the directed means).
  EXPECT_NEAR(m.hausdorff, 20.223748416156685, 1e-9);
  EXPECT_NEAR(m.meanAverage, 13.975673696300824, 1e-9);
}

TEST(SurfaceDistanceMetrics, AnalyticSpheresWithinTheStatedBounds)
{
  Label3D::Pointer a, b;
  MakeAnalyticSpheres(a, b, 1.0, Orientation::Identity);
  const SurfaceDistanceMeasures m = Surface<Label3D>(a, b);
  // The voxel values of metrics.md...
  EXPECT_NEAR(m.hausdorff, 19.105, 5e-4);
  EXPECT_NEAR(m.hausdorffPercentile, 18.111, 5e-4);
  EXPECT_NEAR(m.averageSymmetric, 10.009, 5e-4);
  EXPECT_NEAR(m.meanAverage, 9.555, 5e-4);
  EXPECT_NEAR(m.normalizedSurfaceDice, 0.0655, 5e-5);
  // ...within 1 mm / 0.03 of the exact values.
  EXPECT_NEAR(m.hausdorff, 19.0, 1.0);
  EXPECT_NEAR(m.hausdorffPercentile, 18.30, 1.0);
  EXPECT_NEAR(m.averageSymmetric, 10.21, 1.0);
  EXPECT_NEAR(m.meanAverage, 9.78, 1.0);
}

TEST(SurfaceDistanceMetrics, AnalyticSpheresOnAFinerObliqueGrid)
{
  // At 0.5 mm, sampled in world coordinates through flipped and oblique directions, the voxel values approach the
  // exact ones.
  for (const Orientation orientation : { Orientation::Flipped, Orientation::Oblique })
  {
    Label3D::Pointer a, b;
    MakeAnalyticSpheres(a, b, 0.5, orientation);
    const SurfaceDistanceMeasures m = Surface<Label3D>(a, b);
    EXPECT_NEAR(m.hausdorff, 19.0, 0.5);
    EXPECT_NEAR(m.hausdorffPercentile, 18.30, 0.5);
    EXPECT_NEAR(m.averageSymmetric, 10.21, 0.5);
    EXPECT_NEAR(m.meanAverage, 9.78, 0.5);
  }
}

TEST(SurfaceDistanceMetrics, FlippedAndObliqueDirectionsGiveTheSameDistances)
{
  Label3D::Pointer a, b;
  MakeCubes(a, b, 0.7);
  const SurfaceDistanceMeasures identity = Surface<Label3D>(a, b);
  for (const Orientation orientation : { Orientation::Flipped, Orientation::Oblique })
  {
    MakeCubes(a, b, 0.7, orientation);
    const SurfaceDistanceMeasures m = Surface<Label3D>(a, b);
    EXPECT_EQ(m.hausdorff, identity.hausdorff);
    EXPECT_EQ(m.hausdorffPercentile, identity.hausdorffPercentile);
    EXPECT_EQ(m.averageSymmetric, identity.averageSymmetric);
    EXPECT_EQ(m.normalizedSurfaceDice, identity.normalizedSurfaceDice);
  }
}

TEST(SurfaceDistanceMetrics, EmptyMasksHaveExplicitStatuses)
{
  Label3D::Pointer reference = MakeImage<Label3D>({ 30, 20, 10 }, { 1, 1, 1 });
  Label3D::Pointer prediction = MakeImage<Label3D>({ 30, 20, 10 }, { 1, 1, 1 });
  // Label 1 only in the reference, label 2 only in the prediction, label 3 in neither.
  FillByIndex(reference.GetPointer(), [](const Label3D::IndexType & i) { return InBox(i, 2, 6) ? 1 : 0; });
  FillByIndex(prediction.GetPointer(), [](const Label3D::IndexType & i) { return InBox(i, 3, 8) ? 2 : 0; });
  auto filter = torchseg::SurfaceDistanceMetricsImageFilter<Label3D>::New();
  filter->SetReferenceImage(reference);
  filter->SetPredictionImage(prediction);
  filter->Update();
  EXPECT_EQ(filter->GetEvaluatedLabels(), std::vector<std::uint8_t>({ 1, 2 }));

  const SurfaceDistanceMeasures predictionEmpty = filter->GetMeasures(1);
  EXPECT_EQ(predictionEmpty.status, LabelStatus::PredictionEmpty);
  const SurfaceDistanceMeasures referenceEmpty = filter->GetMeasures(2);
  EXPECT_EQ(referenceEmpty.status, LabelStatus::ReferenceEmpty);
  for (const SurfaceDistanceMeasures & m : { predictionEmpty, referenceEmpty })
  {
    EXPECT_EQ(m.normalizedSurfaceDice, 0.0);
    EXPECT_TRUE(std::isinf(m.hausdorff) && m.hausdorff > 0);
    EXPECT_TRUE(std::isinf(m.hausdorffPercentile));
    EXPECT_TRUE(std::isinf(m.averageSymmetric));
    EXPECT_TRUE(std::isinf(m.meanAverage));
    EXPECT_TRUE(std::isinf(m.referenceToPrediction.maximum));
    EXPECT_TRUE(std::isinf(m.predictionToReference.mean));
  }
  EXPECT_EQ(predictionEmpty.referenceToPrediction.numberOfSurfaceVoxels, 125u - 27u);
  EXPECT_EQ(predictionEmpty.predictionToReference.numberOfSurfaceVoxels, 0u);

  const SurfaceDistanceMeasures absent = filter->GetMeasures(3);
  EXPECT_EQ(absent.status, LabelStatus::Absent);
  EXPECT_TRUE(std::isnan(absent.hausdorff));
  EXPECT_TRUE(std::isnan(absent.normalizedSurfaceDice));
  EXPECT_TRUE(std::isnan(absent.averageSymmetric));

  filter->SetLabels({ 3 });
  filter->Update();
  EXPECT_EQ(filter->GetEvaluatedLabels(), std::vector<std::uint8_t>({ 3 }));
  EXPECT_EQ(filter->GetMeasures(3).status, LabelStatus::Absent);
  EXPECT_EQ(filter->GetLabelRegion(3).GetNumberOfPixels(), 0u);
}

TEST(SurfaceDistanceMetrics, SeveralLabelsAtOnceEqualOneAtATime)
{
  Label3D::Pointer reference = MakeImage<Label3D>({ 40, 30, 20 }, { 0.8, 0.8, 2.5 });
  Label3D::Pointer prediction = MakeImage<Label3D>({ 40, 30, 20 }, { 0.8, 0.8, 2.5 });
  FillByIndex(reference.GetPointer(), [](const Label3D::IndexType & i) {
    return InBox(i, 2, 12) ? 1 : (i[0] > 20 && i[1] > 10 && i[2] > 5 && i[2] < 15 ? 2 : 0);
  });
  FillByIndex(prediction.GetPointer(), [](const Label3D::IndexType & i) {
    return InBox(i, 3, 14) ? 1 : (i[0] > 22 && i[1] > 8 && i[2] > 4 && i[2] < 17 ? 2 : 0);
  });
  auto both = torchseg::SurfaceDistanceMetricsImageFilter<Label3D>::New();
  both->SetReferenceImage(reference);
  both->SetPredictionImage(prediction);
  both->Update();
  ASSERT_EQ(both->GetEvaluatedLabels(), std::vector<std::uint8_t>({ 1, 2 }));
  for (const std::uint8_t label : { 1, 2 })
  {
    Label3D::Pointer a = MakeImage<Label3D>({ 40, 30, 20 }, { 0.8, 0.8, 2.5 });
    Label3D::Pointer b = MakeImage<Label3D>({ 40, 30, 20 }, { 0.8, 0.8, 2.5 });
    FillByIndex(a.GetPointer(), [&](const Label3D::IndexType & i) { return reference->GetPixel(i) == label; });
    FillByIndex(b.GetPointer(), [&](const Label3D::IndexType & i) { return prediction->GetPixel(i) == label; });
    const SurfaceDistanceMeasures single = Surface<Label3D>(a, b);
    const SurfaceDistanceMeasures joint = both->GetMeasures(label);
    EXPECT_EQ(joint.status, LabelStatus::Ok);
    EXPECT_EQ(joint.hausdorff, single.hausdorff);
    EXPECT_EQ(joint.hausdorffPercentile, single.hausdorffPercentile);
    EXPECT_EQ(joint.averageSymmetric, single.averageSymmetric);
    EXPECT_EQ(joint.normalizedSurfaceDice, single.normalizedSurfaceDice);
  }
}

TEST(SurfaceDistanceMetrics, Squares2D)
{
  for (const Orientation orientation : { Orientation::Identity, Orientation::Oblique })
  {
    Label2D::Pointer a = MakeImage<Label2D>({ 50, 50 }, { 0.5, 2.0 }, { 3, 4 }, orientation);
    Label2D::Pointer b = MakeImage<Label2D>({ 50, 50 }, { 0.5, 2.0 }, { 3, 4 }, orientation);
    FillByIndex(a.GetPointer(), [](const Label2D::IndexType & i) { return InBox(i, 10, 29) ? 1 : 0; });
    FillByIndex(b.GetPointer(), [](const Label2D::IndexType & i) { return InBox(i, 20, 34) ? 1 : 0; });
    const SurfaceDistanceMeasures m = Surface<Label2D>(a, b);
    EXPECT_DOUBLE_EQ(Dice<Label2D>(a, b), 0.32);
    // 4-connected surfaces: 20^2 - 18^2 and 15^2 - 13^2 pixels.
    EXPECT_EQ(m.referenceToPrediction.numberOfSurfaceVoxels, 76u);
    EXPECT_EQ(m.predictionToReference.numberOfSurfaceVoxels, 56u);
    // Brute force (numpy) values.
    EXPECT_NEAR(m.hausdorff, 20.615528128088304, 1e-9);
    EXPECT_NEAR(m.hausdorffPercentile, 20.243796438179253, 1e-9);
    EXPECT_NEAR(m.averageSymmetric, 7.472619281497182, 1e-9);
    EXPECT_NEAR(m.meanAverage, 7.144878316613964, 1e-9);
    EXPECT_NEAR(m.normalizedSurfaceDice, 0.18181818181818182, 1e-12);
  }
  // Single pixels two rows apart at spacing (3, 2): 4 mm.
  Label2D::Pointer p = MakeImage<Label2D>({ 11, 11 }, { 3, 2 });
  Label2D::Pointer q = MakeImage<Label2D>({ 11, 11 }, { 3, 2 });
  p->SetPixel({ { 5, 5 } }, 1);
  q->SetPixel({ { 5, 7 } }, 1);
  EXPECT_DOUBLE_EQ(Surface<Label2D>(p, q).hausdorff, 4.0);
  EXPECT_EQ(Surface<Label2D>(p, q).normalizedSurfaceDice, 0.0);
}

TEST(SurfaceDistanceMetrics, GeometryMismatchIsAnError)
{
  Label3D::Pointer a = MakeImage<Label3D>({ 10, 10, 10 }, { 1, 1, 1 });
  Label3D::Pointer b = MakeImage<Label3D>({ 10, 10, 10 }, { 1, 1, 1 }, { 0, 0, 0 }, Orientation::Oblique);
  auto             filter = torchseg::SurfaceDistanceMetricsImageFilter<Label3D>::New();
  filter->SetReferenceImage(a);
  filter->SetPredictionImage(b);
  try
  {
    filter->Update();
    FAIL() << "no error for different directions";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription())
                .find("the prediction does not have the geometry of the reference: "
                      "direction"),
              std::string::npos)
      << e.GetDescription();
  }
}

TEST(SurfaceDistanceMetrics, ReportsProgressAndHonoursAbort)
{
  Label3D::Pointer a, b;
  MakeCubes(a, b, 1.0);
  auto filter = torchseg::SurfaceDistanceMetricsImageFilter<Label3D>::New();
  filter->SetReferenceImage(a);
  filter->SetPredictionImage(b);
  std::vector<float> seen;
  auto               command = itk::CStyleCommand::New();
  struct Context
  {
    torchseg::SurfaceDistanceMetricsImageFilter<Label3D> * filter;
    std::vector<float> *                                   seen;
    bool                                                   abort;
  } context{ filter, &seen, false };
  command->SetClientData(&context);
  command->SetCallback([](itk::Object *, const itk::EventObject &, void * data) {
    auto * c = static_cast<Context *>(data);
    c->seen->push_back(c->filter->GetProgress());
    if (c->abort && c->filter->GetProgress() > 0.2f)
    {
      c->filter->AbortGenerateDataOn();
    }
  });
  filter->AddObserver(itk::ProgressEvent(), command);
  filter->Update();
  ASSERT_GE(seen.size(), 5u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_FLOAT_EQ(seen.back(), 1.0f);
  EXPECT_TRUE(std::any_of(seen.begin(), seen.end(), [](float p) { return p > 0.3f && p < 0.9f; }));

  context.abort = true;
  filter->Modified();
  EXPECT_THROW(filter->Update(), itk::ProcessAborted);

  // After an abort the filter runs again.
  context.abort = false;
  filter->AbortGenerateDataOff();
  filter->Modified();
  filter->Update();
  EXPECT_DOUBLE_EQ(filter->GetMeasures(1).hausdorff, 10.0 * std::sqrt(3.0));
}

// The core routines against brute force ----------------------------------------------------------------------------

TEST(MaskSurfaceDistance, DistanceTransformIsExactWithAnisotropicSpacing)
{
  std::mt19937 random(11);
  for (const std::array<std::size_t, 3> size : { std::array<std::size_t, 3>{ { 17, 13, 11 } },
                                                 std::array<std::size_t, 3>{ { 70, 3, 1 } },
                                                 std::array<std::size_t, 3>{ { 1, 1, 9 } } })
  {
    const std::array<double, 3> spacing{ { 0.7, 1.3, 2.1 } };
    const std::size_t           n = size[0] * size[1] * size[2];
    std::vector<std::uint8_t>   features(n, 0);
    std::bernoulli_distribution pick(0.02);
    for (auto & f : features)
    {
      f = pick(random);
    }
    features[n / 2] = 1;
    std::vector<double> squared(n);
    torchseg::ComputeSquaredDistanceTransform(features.data(), size, spacing, squared.data());
    for (std::size_t i = 0; i < n; ++i)
    {
      const double x = i % size[0], y = (i / size[0]) % size[1], z = i / (size[0] * size[1]);
      double       best = std::numeric_limits<double>::infinity();
      for (std::size_t j = 0; j < n; ++j)
      {
        if (features[j])
        {
          const double dx = (x - double(j % size[0])) * spacing[0];
          const double dy = (y - double((j / size[0]) % size[1])) * spacing[1];
          const double dz = (z - double(j / (size[0] * size[1]))) * spacing[2];
          best = std::min(best, dx * dx + dy * dy + dz * dz);
        }
      }
      ASSERT_NEAR(squared[i], best, 1e-9 * (1 + best)) << "voxel " << i;
    }
  }
  // No features: infinity everywhere.
  std::vector<std::uint8_t> none(8, 0);
  std::vector<double>       squared(8);
  torchseg::ComputeSquaredDistanceTransform(none.data(), { { 2, 2, 2 } }, { { 1, 1, 1 } }, squared.data());
  EXPECT_TRUE(std::all_of(squared.begin(), squared.end(), [](double d) { return std::isinf(d); }));
}

TEST(MaskSurfaceDistance, PercentileIsNumpyLinear)
{
  std::vector<double> v{ 4, 1, 3, 2 };
  EXPECT_EQ(torchseg::LinearPercentile(v, 95), 3.8499999999999996); // np.percentile([1, 2, 3, 4], 95)
  EXPECT_DOUBLE_EQ(torchseg::LinearPercentile(v, 50), 2.5);
  EXPECT_DOUBLE_EQ(torchseg::LinearPercentile(v, 100), 4.0);
  EXPECT_DOUBLE_EQ(torchseg::LinearPercentile(v, 0), 1.0);
  std::vector<double> one{ 7 };
  EXPECT_DOUBLE_EQ(torchseg::LinearPercentile(one, 95), 7.0);
  std::vector<double> empty;
  EXPECT_TRUE(std::isnan(torchseg::LinearPercentile(empty, 95)));
  std::vector<double> ten{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
  EXPECT_EQ(torchseg::LinearPercentile(ten, 95), 8.549999999999999); // np.percentile(np.arange(10.), 95)
}

TEST(MaskSurfaceDistance, SurfacesAreFaceConnected)
{
  // A 3 x 3 x 3 cube inside a 5^3 box: all but its centre voxel are surface; in 2D a 3 x 3 square likewise.
  std::vector<std::uint8_t> mask(125, 0), surface(125);
  for (std::size_t z = 1; z < 4; ++z)
    for (std::size_t y = 1; y < 4; ++y)
      for (std::size_t x = 1; x < 4; ++x)
        mask[x + 5 * (y + 5 * z)] = 1;
  EXPECT_EQ(torchseg::ComputeMaskSurface(mask.data(), { { 5, 5, 5 } }, 3, surface.data()), 26u);
  EXPECT_EQ(surface[62], 0u);
  std::vector<std::uint8_t> square(25, 0), edge(25);
  for (std::size_t y = 1; y < 4; ++y)
    for (std::size_t x = 1; x < 4; ++x)
      square[x + 5 * y] = 1;
  EXPECT_EQ(torchseg::ComputeMaskSurface(square.data(), { { 5, 5, 1 } }, 2, edge.data()), 8u);
  // A full box: its outer layer only (the image border closes the object).
  std::vector<std::uint8_t> full(64, 1), shell(64);
  EXPECT_EQ(torchseg::ComputeMaskSurface(full.data(), { { 4, 4, 4 } }, 3, shell.data()), 64u - 8u);
}

TEST(SurfaceDistanceMetrics, RegionsWithANonZeroStartIndex)
{
  // The cubes in an image whose largest region starts at (-7, 3, 12): the same numbers.
  Label3D::RegionType region;
  region.SetIndex({ { -7, 3, 12 } });
  region.SetSize({ { 50, 50, 50 } });
  Label3D::Pointer a = Label3D::New();
  Label3D::Pointer b = Label3D::New();
  for (Label3D * image : { a.GetPointer(), b.GetPointer() })
  {
    image->SetRegions(region);
    image->Allocate(true);
  }
  FillByIndex(a.GetPointer(), [](const Label3D::IndexType & i) {
    return i[0] + 7 >= 10 && i[0] + 7 <= 29 && i[1] - 3 >= 10 && i[1] - 3 <= 29 && i[2] - 12 >= 10 && i[2] - 12 <= 29;
  });
  FillByIndex(b.GetPointer(), [](const Label3D::IndexType & i) {
    return i[0] + 7 >= 20 && i[0] + 7 <= 34 && i[1] - 3 >= 20 && i[1] - 3 <= 34 && i[2] - 12 >= 20 && i[2] - 12 <= 34;
  });
  const SurfaceDistanceMeasures m = Surface<Label3D>(a, b);
  EXPECT_DOUBLE_EQ(m.hausdorff, 10.0 * std::sqrt(3.0));
  EXPECT_NEAR(m.hausdorffPercentile, 13.94760181418343, 1e-9);
  EXPECT_NEAR(m.averageSymmetric, 6.909154614706155, 1e-9);
  EXPECT_DOUBLE_EQ(Dice<Label3D>(a, b), 2000.0 / 11375.0);

  auto filter = torchseg::SurfaceDistanceMetricsImageFilter<Label3D>::New();
  filter->SetReferenceImage(a);
  filter->SetPredictionImage(b);
  filter->Update();
  // The union box [10, 34]^3 grown by one voxel, in the image's own index space.
  const Label3D::RegionType box = filter->GetLabelRegion(1);
  EXPECT_EQ(box.GetIndex(), (Label3D::IndexType{ { 9 - 7, 9 + 3, 9 + 12 } }));
  EXPECT_EQ(box.GetSize(), (Label3D::SizeType{ { 27, 27, 27 } }));
}
