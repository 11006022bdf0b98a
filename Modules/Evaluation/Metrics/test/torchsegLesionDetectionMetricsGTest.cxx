#include "torchsegLesionDetectionMetricsImageFilter.h"
#include "torchsegMetricsTestHelpers.h"

#include "itkCommand.h"
#include "itkConnectedComponentImageFilter.h"

#include "gtest/gtest.h"

#include <map>
#include <random>
#include <tuple>

namespace
{

using Label3D = itk::Image<std::uint8_t, 3>;
using Label2D = itk::Image<std::uint8_t, 2>;
using torchseg::LabelStatus;
using torchseg::LesionComponent;
using torchseg::LesionDetectionSummary;
using torchseg::testing::FillByIndex;
using torchseg::testing::FillByPoint;
using torchseg::testing::MakeImage;
using torchseg::testing::Orientation;

template <typename TImage>
typename torchseg::LesionDetectionMetricsImageFilter<TImage>::Pointer
RunLesions(const TImage * reference, const TImage * prediction, typename TImage::PixelType label = 2,
           bool fullyConnected = true, double minimumDiameter = 10.0)
{
  auto filter = torchseg::LesionDetectionMetricsImageFilter<TImage>::New();
  filter->SetReferenceImage(reference);
  filter->SetPredictionImage(prediction);
  filter->SetLabel(label);
  filter->SetFullyConnected(fullyConnected);
  filter->SetMinimumDiameter(minimumDiameter);
  filter->Update();
  return filter;
}

/** True when index lies in the box [lo, hi] (inclusive, per axis). */
template <typename TIndex>
bool
InBox(const TIndex & index, std::initializer_list<long> lo, std::initializer_list<long> hi)
{
  for (unsigned int d = 0; d < TIndex::Dimension; ++d)
  {
    if (index[d] < lo.begin()[d] || index[d] > hi.begin()[d])
    {
      return false;
    }
  }
  return true;
}

/** Cube phantoms in a 60 x 50 x 40 grid of 0.8 x 0.8 x 1.5 mm voxels, tumours (label 2) inside a liver (label 1).
 * Reference: R1 = [5,14]^3 (1000 voxels), R2 = [30,35] x [5,10] x [5,10] (216), R3 = [50,53] x [30,33]^2 (64).
 * Prediction: P1 = R1 moved by 2 along x (800 shared), P2 = [27,31] x [5,10]^2 and P3 = [34,38] x [5,10]^2 (180
 * voxels each, 72 shared with R2 each), R3 missed, P4 = [40,42]^2 x [30,32] (27) a false positive. */
void
MakeCubes(Label3D::Pointer & reference, Label3D::Pointer & prediction, Orientation orientation = Orientation::Identity,
          const std::array<double, 3> & origin = { { -20.0, 35.5, 7.0 } })
{
  reference = MakeImage<Label3D>({ 60, 50, 40 }, { 0.8, 0.8, 1.5 }, origin, orientation);
  prediction = MakeImage<Label3D>({ 60, 50, 40 }, { 0.8, 0.8, 1.5 }, origin, orientation);
  FillByIndex(reference.GetPointer(), [](const Label3D::IndexType & i) {
    if (InBox(i, { 5, 5, 5 }, { 14, 14, 14 }) || InBox(i, { 30, 5, 5 }, { 35, 10, 10 }) ||
        InBox(i, { 50, 30, 30 }, { 53, 33, 33 }))
    {
      return 2;
    }
    return InBox(i, { 2, 2, 2 }, { 57, 45, 36 }) ? 1 : 0;
  });
  FillByIndex(prediction.GetPointer(), [](const Label3D::IndexType & i) {
    if (InBox(i, { 7, 5, 5 }, { 16, 14, 14 }) || InBox(i, { 27, 5, 5 }, { 31, 10, 10 }) ||
        InBox(i, { 34, 5, 5 }, { 38, 10, 10 }) || InBox(i, { 40, 40, 30 }, { 42, 42, 32 }))
    {
      return 2;
    }
    return InBox(i, { 3, 2, 2 }, { 57, 46, 36 }) ? 1 : 0;
  });
}

double
CubeDiameter(double voxels)
{
  return std::cbrt(6.0 * voxels * 0.96 / M_PI);
}

void
ExpectSummary(const LesionDetectionSummary & s, LabelStatus status, std::uint64_t lesions, std::uint64_t detected,
              std::uint64_t components, std::uint64_t truePositives)
{
  EXPECT_EQ(s.status, status);
  EXPECT_EQ(s.referenceLesions, lesions);
  EXPECT_EQ(s.detectedLesions, detected);
  EXPECT_EQ(s.predictedComponents, components);
  EXPECT_EQ(s.truePositiveComponents, truePositives);
  EXPECT_EQ(s.falsePositiveComponents, components - truePositives);
}

} // namespace

TEST(LesionDetectionMetrics, CubesGiveExactCountsVolumesAndDice)
{
  Label3D::Pointer reference, prediction;
  MakeCubes(reference, prediction);
  auto         filter = RunLesions<Label3D>(reference, prediction);
  const auto & m = filter->GetMeasures();

  ExpectSummary(m.all, LabelStatus::Ok, 3, 2, 4, 3);
  EXPECT_DOUBLE_EQ(m.all.detectionRate, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.all.precision, 3.0 / 4.0);
  EXPECT_DOUBLE_EQ(m.all.f1, 12.0 / 17.0);
  EXPECT_DOUBLE_EQ(m.meanLesionDice, (0.8 + 0.5 + 0.0) / 3.0);
  EXPECT_DOUBLE_EQ(m.voxelVolumeMm3, 0.8 * 0.8 * 1.5);
  EXPECT_TRUE(m.fullyConnected);
  EXPECT_EQ(m.minimumOverlapVoxels, 1u);

  ASSERT_EQ(m.referenceLesions.size(), 3u);
  const LesionComponent & r1 = m.referenceLesions[0];
  EXPECT_EQ(r1.id, 1u);
  EXPECT_EQ(r1.voxelCount, 1000u);
  EXPECT_DOUBLE_EQ(r1.volumeMl, 0.96);
  EXPECT_DOUBLE_EQ(r1.equivalentDiameterMm, CubeDiameter(1000));
  EXPECT_NEAR(r1.equivalentDiameterMm, 12.2393, 5e-5); // (6 x 960 mm^3 / pi)^(1/3)
  EXPECT_DOUBLE_EQ(r1.maximumExtentMm, 15.0);
  EXPECT_EQ(r1.extentMm, std::vector<double>({ 8.0, 8.0, 15.0 }));
  EXPECT_EQ(r1.boundingBoxLower, std::vector<std::int64_t>({ 5, 5, 5 }));
  EXPECT_EQ(r1.boundingBoxUpper, std::vector<std::int64_t>({ 14, 14, 14 }));
  ASSERT_EQ(r1.centroid.size(), 3u);
  EXPECT_NEAR(r1.centroid[0], -20.0 + 9.5 * 0.8, 1e-12);
  EXPECT_NEAR(r1.centroid[1], 35.5 + 9.5 * 0.8, 1e-12);
  EXPECT_NEAR(r1.centroid[2], 7.0 + 9.5 * 1.5, 1e-12);
  EXPECT_TRUE(r1.matched);
  EXPECT_EQ(r1.overlapVoxels, 800u);
  EXPECT_EQ(r1.matches, std::vector<std::uint64_t>({ 1 }));
  EXPECT_DOUBLE_EQ(r1.dice, 0.8); // 2 x 800 / (1000 + 1000)

  const LesionComponent & r2 = m.referenceLesions[1];
  EXPECT_EQ(r2.voxelCount, 216u);
  EXPECT_TRUE(r2.matched);
  EXPECT_EQ(r2.overlapVoxels, 144u);
  EXPECT_EQ(r2.matches, std::vector<std::uint64_t>({ 2, 3 }));
  EXPECT_DOUBLE_EQ(r2.dice, 0.5); // against the union of P2 and P3: 2 x 144 / (216 + 360)
  EXPECT_NEAR(r2.centroid[0], -20.0 + 32.5 * 0.8, 1e-12);

  const LesionComponent & r3 = m.referenceLesions[2];
  EXPECT_EQ(r3.voxelCount, 64u);
  EXPECT_FALSE(r3.matched);
  EXPECT_EQ(r3.overlapVoxels, 0u);
  EXPECT_TRUE(r3.matches.empty());
  EXPECT_EQ(r3.dice, 0.0);
  EXPECT_DOUBLE_EQ(r3.maximumExtentMm, 6.0);

  ASSERT_EQ(m.predictedComponents.size(), 4u);
  const std::uint64_t expectedVoxels[] = { 1000, 180, 180, 27 };
  const std::uint64_t expectedOverlap[] = { 800, 72, 72, 0 };
  for (std::size_t c = 0; c < 4; ++c)
  {
    const LesionComponent & p = m.predictedComponents[c];
    EXPECT_EQ(p.id, c + 1);
    EXPECT_EQ(p.voxelCount, expectedVoxels[c]);
    EXPECT_EQ(p.overlapVoxels, expectedOverlap[c]);
    EXPECT_EQ(p.matched, c < 3) << "component " << p.id;
    EXPECT_TRUE(std::isnan(p.dice));
    EXPECT_DOUBLE_EQ(p.equivalentDiameterMm, CubeDiameter(static_cast<double>(expectedVoxels[c])));
  }
  EXPECT_EQ(m.predictedComponents[2].matches, std::vector<std::uint64_t>({ 2 }));
  EXPECT_TRUE(m.predictedComponents[3].matches.empty());

  // 10 mm: only R1 (12.24 mm) and P1 (12.24 mm) count.
  ExpectSummary(m.aboveMinimumDiameter, LabelStatus::Ok, 1, 1, 1, 1);
  EXPECT_DOUBLE_EQ(m.aboveMinimumDiameter.detectionRate, 1.0);
  EXPECT_DOUBLE_EQ(m.aboveMinimumDiameter.precision, 1.0);
  EXPECT_DOUBLE_EQ(m.minimumDiameterMm, 10.0);

  // 7 mm: R2 (7.34 mm) counts and is detected by P2 and P3, which are smaller (6.91 mm) and do not count.
  auto seven = RunLesions<Label3D>(reference, prediction, 2, true, 7.0);
  ExpectSummary(seven->GetSummaryAboveMinimumDiameter(), LabelStatus::Ok, 2, 2, 1, 1);
  EXPECT_NEAR(seven->GetReferenceLesions()[1].equivalentDiameterMm, 7.3436, 5e-5);
  // Everything counts at 0 mm.
  auto zero = RunLesions<Label3D>(reference, prediction, 2, true, 0.0);
  ExpectSummary(zero->GetSummaryAboveMinimumDiameter(), LabelStatus::Ok, 3, 2, 4, 3);

  // The liver (label 1) is one component in each image, with holes where the tumours are.
  auto liver = RunLesions<Label3D>(reference, prediction, 1);
  ExpectSummary(liver->GetSummary(), LabelStatus::Ok, 1, 1, 1, 1);
  EXPECT_EQ(liver->GetReferenceLesions()[0].voxelCount, 56u * 44u * 35u - 1000u - 216u - 64u);
}

TEST(LesionDetectionMetrics, MinimumOverlapDecidesMatches)
{
  Label3D::Pointer reference, prediction;
  MakeCubes(reference, prediction);
  auto filter = torchseg::LesionDetectionMetricsImageFilter<Label3D>::New();
  filter->SetReferenceImage(reference);
  filter->SetPredictionImage(prediction);
  filter->SetLabel(2);
  filter->SetMinimumOverlap(100); // P2 and P3 share 72 voxels each with R2: no longer matches
  filter->Update();
  const auto & m = filter->GetMeasures();
  ExpectSummary(m.all, LabelStatus::Ok, 3, 1, 4, 1);
  EXPECT_FALSE(m.referenceLesions[1].matched);
  EXPECT_EQ(m.referenceLesions[1].overlapVoxels, 144u); // shared voxels are still reported
  EXPECT_EQ(m.referenceLesions[1].dice, 0.0);
  EXPECT_FALSE(m.predictedComponents[1].matched);
  EXPECT_EQ(m.minimumOverlapVoxels, 100u);
}

TEST(LesionDetectionMetrics, OneComponentAcrossTwoLesionsMatchesBoth)
{
  Label3D::Pointer reference = MakeImage<Label3D>({ 30, 20, 20 }, { 1, 1, 1 });
  Label3D::Pointer prediction = MakeImage<Label3D>({ 30, 20, 20 }, { 1, 1, 1 });
  FillByIndex(reference.GetPointer(), [](const Label3D::IndexType & i) {
    return InBox(i, { 2, 2, 2 }, { 5, 5, 5 }) || InBox(i, { 20, 2, 2 }, { 23, 5, 5 }) ? 2 : 0;
  });
  // A bar from x = 4 to 21 at y, z in [3, 4]: 18 x 2 x 2 = 72 voxels, 8 shared with each cube.
  FillByIndex(prediction.GetPointer(), [](const Label3D::IndexType & i) {
    return InBox(i, { 4, 3, 3 }, { 21, 4, 4 }) ? 2 : 0;
  });
  auto         filter = RunLesions<Label3D>(reference, prediction);
  const auto & m = filter->GetMeasures();
  ExpectSummary(m.all, LabelStatus::Ok, 2, 2, 1, 1);
  EXPECT_EQ(m.predictedComponents[0].matches, std::vector<std::uint64_t>({ 1, 2 }));
  for (const auto & lesion : m.referenceLesions)
  {
    EXPECT_EQ(lesion.overlapVoxels, 8u);
    EXPECT_DOUBLE_EQ(lesion.dice, 16.0 / (64.0 + 72.0));
  }
}

TEST(LesionDetectionMetrics, ConnectivityDecidesWhatTouches)
{
  // 2D: two squares meeting at a corner.
  Label2D::Pointer square = MakeImage<Label2D>({ 12, 12 }, { 0.5, 0.5 });
  FillByIndex(square.GetPointer(), [](const Label2D::IndexType & i) {
    return InBox(i, { 2, 2 }, { 4, 4 }) || InBox(i, { 5, 5 }, { 7, 7 }) ? 2 : 0;
  });
  Label2D::Pointer empty = MakeImage<Label2D>({ 12, 12 }, { 0.5, 0.5 });
  EXPECT_EQ(RunLesions<Label2D>(square, empty, 2, true)->GetSummary().referenceLesions, 1u);
  EXPECT_EQ(RunLesions<Label2D>(square, empty, 2, false)->GetSummary().referenceLesions, 2u);

  // 3D: two cubes sharing an edge, two sharing a vertex, and a face-connected pair.
  Label3D::Pointer cubes = MakeImage<Label3D>({ 40, 12, 12 }, { 1, 1, 1 });
  FillByIndex(cubes.GetPointer(), [](const Label3D::IndexType & i) {
    return InBox(i, { 0, 2, 2 }, { 2, 4, 4 }) || InBox(i, { 3, 5, 2 }, { 5, 7, 4 }) ||         // edge
               InBox(i, { 10, 2, 2 }, { 12, 4, 4 }) || InBox(i, { 13, 5, 5 }, { 15, 7, 7 }) || // vertex
               InBox(i, { 20, 2, 2 }, { 22, 4, 4 }) || InBox(i, { 23, 2, 2 }, { 25, 4, 4 })    // face
             ? 2
             : 0;
  });
  Label3D::Pointer none = MakeImage<Label3D>({ 40, 12, 12 }, { 1, 1, 1 });
  auto             full = RunLesions<Label3D>(cubes, none, 2, true);
  auto             faces = RunLesions<Label3D>(cubes, none, 2, false);
  EXPECT_EQ(full->GetSummary().referenceLesions, 3u);
  EXPECT_EQ(faces->GetSummary().referenceLesions, 5u);
  EXPECT_FALSE(faces->GetMeasures().fullyConnected);
  for (const auto & lesion : full->GetReferenceLesions())
  {
    EXPECT_EQ(lesion.voxelCount, 54u);
  }
}

namespace
{

/** Our components against ITK's ConnectedComponentImageFilter on the mask of \a label: the same number, the same
 * voxel counts and bounding boxes, numbered in the same (raster) order. */
template <typename TImage>
void
ExpectSameComponentsAsITK(const TImage * image, typename TImage::PixelType label, bool fullyConnected)
{
  constexpr unsigned int D = TImage::ImageDimension;
  using MaskType = itk::Image<std::uint8_t, D>;
  using ComponentImageType = itk::Image<std::uint32_t, D>;
  auto mask = MaskType::New();
  mask->CopyInformation(image);
  mask->SetRegions(image->GetLargestPossibleRegion());
  mask->Allocate();
  itk::ImageRegionConstIterator<TImage> in(image, image->GetLargestPossibleRegion());
  itk::ImageRegionIterator<MaskType>    out(mask, mask->GetLargestPossibleRegion());
  for (; !in.IsAtEnd(); ++in, ++out)
  {
    out.Set(in.Get() == label);
  }
  auto itkComponents = itk::ConnectedComponentImageFilter<MaskType, ComponentImageType>::New();
  itkComponents->SetInput(mask);
  itkComponents->SetFullyConnected(fullyConnected);
  itkComponents->Update();

  // Per ITK component: voxel count, bounding box, and the order of first appearance in raster order.
  using Box = std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>>;
  std::map<std::uint32_t, std::uint64_t>                     counts;
  std::map<std::uint32_t, Box>                               boxes;
  std::vector<std::uint32_t>                                 order;
  itk::ImageRegionConstIteratorWithIndex<ComponentImageType> it(itkComponents->GetOutput(),
                                                                itkComponents->GetOutput()->GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it)
  {
    const std::uint32_t c = it.Get();
    if (c == 0)
    {
      continue;
    }
    if (!counts.count(c))
    {
      order.push_back(c);
      boxes[c] = Box(std::vector<std::int64_t>(D, std::numeric_limits<std::int64_t>::max()),
                     std::vector<std::int64_t>(D, std::numeric_limits<std::int64_t>::min()));
    }
    ++counts[c];
    for (unsigned int d = 0; d < D; ++d)
    {
      boxes[c].first[d] = std::min<std::int64_t>(boxes[c].first[d], it.GetIndex()[d]);
      boxes[c].second[d] = std::max<std::int64_t>(boxes[c].second[d], it.GetIndex()[d]);
    }
  }

  auto empty = TImage::New();
  empty->CopyInformation(image);
  empty->SetRegions(image->GetLargestPossibleRegion());
  empty->Allocate(true);
  auto         filter = RunLesions<TImage>(image, empty, label, fullyConnected);
  const auto & lesions = filter->GetReferenceLesions();
  ASSERT_EQ(lesions.size(), order.size());
  ASSERT_EQ(lesions.size(), itkComponents->GetObjectCount());
  for (std::size_t i = 0; i < order.size(); ++i)
  {
    EXPECT_EQ(lesions[i].voxelCount, counts[order[i]]) << "component " << i + 1;
    EXPECT_EQ(lesions[i].boundingBoxLower, boxes[order[i]].first) << "component " << i + 1;
    EXPECT_EQ(lesions[i].boundingBoxUpper, boxes[order[i]].second) << "component " << i + 1;
  }
  // The whole prediction is empty: every lesion missed.
  EXPECT_EQ(filter->GetSummary().status, lesions.empty() ? LabelStatus::Absent : LabelStatus::PredictionEmpty);
}

template <typename TImage>
typename TImage::Pointer
RandomLabels(const typename TImage::SizeType & size, double density, unsigned int seed)
{
  std::array<double, TImage::ImageDimension> spacing;
  spacing.fill(0.9);
  auto                                   image = MakeImage<TImage>(size, spacing);
  std::mt19937                           random(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  FillByIndex(image.GetPointer(), [&](const typename TImage::IndexType &) {
    const double u = unit(random);
    return u < density ? 2 : (u < density + 0.2 ? 1 : 0);
  });
  return image;
}

} // namespace

TEST(LesionDetectionMetrics, ComponentsEqualITKConnectedComponents)
{
  for (const bool fully : { true, false })
  {
    SCOPED_TRACE(fully ? "fully connected" : "faces only");
    // Densities below and around the percolation thresholds: many components of every shape, and a giant one.
    ExpectSameComponentsAsITK<Label3D>(RandomLabels<Label3D>({ 31, 27, 23 }, 0.08, 1), 2, fully);
    ExpectSameComponentsAsITK<Label3D>(RandomLabels<Label3D>({ 31, 27, 23 }, 0.25, 2), 2, fully);
    ExpectSameComponentsAsITK<Label2D>(RandomLabels<Label2D>({ 97, 83 }, 0.3, 3), 2, fully);
    ExpectSameComponentsAsITK<Label2D>(RandomLabels<Label2D>({ 97, 83 }, 0.55, 4), 2, fully);
    using Short3D = itk::Image<std::int16_t, 3>;
    ExpectSameComponentsAsITK<Short3D>(RandomLabels<Short3D>({ 19, 17, 15 }, 0.2, 5), 2, fully);
  }
}

namespace
{

struct Ball
{
  std::array<double, 3> centre; // mm
  double                radius; // mm
};

bool
Inside(const Label3D::PointType & p, const Ball & b)
{
  double r2 = 0.0;
  for (unsigned int d = 0; d < 3; ++d)
  {
    r2 += (p[d] - b.centre[d]) * (p[d] - b.centre[d]);
  }
  return r2 <= b.radius * b.radius;
}

} // namespace

TEST(LesionDetectionMetrics, SpheresOfKnownRadius)
{
  // 0.6 x 0.6 x 0.9 mm voxels; centres on voxel centres, so each voxelised ball is symmetric about its centre.
  const Ball       hit{ { { 15.0, 15.0, 14.4 } }, 9.05 };      // diameter 18.1 mm, found by a smaller ball inside it
  const Ball       partial{ { { 45.0, 15.0, 19.8 } }, 6.1 };   // 12.2 mm, found by a ball 6 mm to the side
  const Ball       missed{ { { 30.0, 45.0, 29.7 } }, 3.1 };    // 6.2 mm
  const Ball       inside{ { { 15.0, 15.0, 14.4 } }, 8.05 };   // 16.1 mm
  const Ball       beside{ { { 51.0, 15.0, 19.8 } }, 6.65 };   // 13.3 mm
  const Ball       falseBall{ { { 60.0, 45.0, 39.6 } }, 4.1 }; // 8.2 mm, a false positive
  Label3D::Pointer reference = MakeImage<Label3D>({ 120, 100, 60 }, { 0.6, 0.6, 0.9 });
  Label3D::Pointer prediction = MakeImage<Label3D>({ 120, 100, 60 }, { 0.6, 0.6, 0.9 });
  FillByPoint(reference.GetPointer(), [&](const Label3D::PointType & p) {
    return Inside(p, hit) || Inside(p, partial) || Inside(p, missed) ? 2 : 0;
  });
  FillByPoint(prediction.GetPointer(), [&](const Label3D::PointType & p) {
    return Inside(p, inside) || Inside(p, beside) || Inside(p, falseBall) ? 2 : 0;
  });
  // Independent counts: voxel centres inside each ball, and inside both balls of the partial hit.
  std::map<std::string, std::uint64_t>            n;
  itk::ImageRegionConstIteratorWithIndex<Label3D> it(reference, reference->GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it)
  {
    Label3D::PointType p;
    reference->TransformIndexToPhysicalPoint(it.GetIndex(), p);
    n["hit"] += Inside(p, hit);
    n["partial"] += Inside(p, partial);
    n["missed"] += Inside(p, missed);
    n["inside"] += Inside(p, inside);
    n["beside"] += Inside(p, beside);
    n["false"] += Inside(p, falseBall);
    n["partial&beside"] += Inside(p, partial) && Inside(p, beside);
  }
  ASSERT_GT(n["partial&beside"], 0u);
  ASSERT_LT(n["partial&beside"], n["partial"]);

  auto         filter = RunLesions<Label3D>(reference, prediction);
  const auto & m = filter->GetMeasures();
  ExpectSummary(m.all, LabelStatus::Ok, 3, 2, 3, 2);
  EXPECT_DOUBLE_EQ(m.all.detectionRate, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.all.precision, 2.0 / 3.0);
  // At 10 mm the missed 6.2 mm ball and the 8.2 mm false positive drop out.
  ExpectSummary(m.aboveMinimumDiameter, LabelStatus::Ok, 2, 2, 2, 2);
  EXPECT_DOUBLE_EQ(m.aboveMinimumDiameter.detectionRate, 1.0);
  EXPECT_DOUBLE_EQ(m.aboveMinimumDiameter.precision, 1.0);

  // The voxel centres of a ball of radius r lie in it, so its voxels lie within r + s of the centre, s = half the
  // voxel diagonal; those outside lie beyond r - s. The voxelised volume is between the volumes of those balls, so
  // the equivalent diameter is within 2 s = |spacing| = 1.237 mm of 2 r, whatever the lattice does.
  const double                                            tolerance = std::sqrt(0.6 * 0.6 + 0.6 * 0.6 + 0.9 * 0.9);
  const double                                            voxel = 0.6 * 0.6 * 0.9;
  const std::vector<std::pair<const Ball *, std::string>> lesions = { { &hit, "hit" },
                                                                      { &partial, "partial" },
                                                                      { &missed, "missed" } };
  ASSERT_EQ(m.referenceLesions.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i)
  {
    const LesionComponent & lesion = m.referenceLesions[i];
    const Ball &            ball = *lesions[i].first;
    SCOPED_TRACE(lesions[i].second);
    EXPECT_EQ(lesion.voxelCount, n[lesions[i].second]);
    EXPECT_DOUBLE_EQ(lesion.volumeMl, static_cast<double>(lesion.voxelCount) * voxel / 1000.0);
    EXPECT_NEAR(
      lesion.equivalentDiameterMm, std::cbrt(6.0 * static_cast<double>(lesion.voxelCount) * voxel / M_PI), 1e-12);
    EXPECT_NEAR(lesion.equivalentDiameterMm, 2.0 * ball.radius, tolerance);
    // In fact within 0.05 mm for these balls (measured +0.006, +0.003, -0.012 mm: the lattice errors cancel).
    EXPECT_NEAR(lesion.equivalentDiameterMm, 2.0 * ball.radius, 0.05);
    for (unsigned int d = 0; d < 3; ++d)
    {
      EXPECT_NEAR(lesion.centroid[d], ball.centre[d], 1e-9);
    }
    // The extent covers the voxels whose centres lie within r along each axis.
    EXPECT_NEAR(lesion.maximumExtentMm, 2.0 * ball.radius, 0.9);
  }
  EXPECT_TRUE(m.referenceLesions[0].matched);
  EXPECT_TRUE(m.referenceLesions[1].matched);
  EXPECT_FALSE(m.referenceLesions[2].matched);
  // The inner ball lies inside the hit one.
  EXPECT_DOUBLE_EQ(m.referenceLesions[0].dice,
                   2.0 * static_cast<double>(n["inside"]) / static_cast<double>(n["hit"] + n["inside"]));
  EXPECT_DOUBLE_EQ(m.referenceLesions[1].dice,
                   2.0 * static_cast<double>(n["partial&beside"]) / static_cast<double>(n["partial"] + n["beside"]));
  EXPECT_EQ(m.referenceLesions[1].overlapVoxels, n["partial&beside"]);
  EXPECT_EQ(m.referenceLesions[2].dice, 0.0);
  ASSERT_EQ(m.predictedComponents.size(), 3u);
  EXPECT_EQ(m.predictedComponents[2].voxelCount, n["false"]);
  EXPECT_FALSE(m.predictedComponents[2].matched);
  EXPECT_NEAR(m.predictedComponents[2].equivalentDiameterMm, 8.2, tolerance);
}

TEST(LesionDetectionMetrics, TwoDimensionalSquares)
{
  // 0.5 x 2 mm pixels. Reference: A = [2,11] x [2,6] (50 pixels), B = [20,23] x [10,13] (16), C = [30,31] x [2,3].
  // Prediction: A' = [7,16] x [2,6] (25 shared), B' = B, and a false positive D = [30,34] x [15,16].
  Label2D::Pointer reference = MakeImage<Label2D>({ 40, 20 }, { 0.5, 2.0 }, { 3.0, -4.0 });
  Label2D::Pointer prediction = MakeImage<Label2D>({ 40, 20 }, { 0.5, 2.0 }, { 3.0, -4.0 });
  FillByIndex(reference.GetPointer(), [](const Label2D::IndexType & i) {
    return InBox(i, { 2, 2 }, { 11, 6 }) || InBox(i, { 20, 10 }, { 23, 13 }) || InBox(i, { 30, 2 }, { 31, 3 }) ? 2 : 0;
  });
  FillByIndex(prediction.GetPointer(), [](const Label2D::IndexType & i) {
    return InBox(i, { 7, 2 }, { 16, 6 }) || InBox(i, { 20, 10 }, { 23, 13 }) || InBox(i, { 30, 15 }, { 34, 16 }) ? 2
                                                                                                                 : 0;
  });
  auto         filter = RunLesions<Label2D>(reference, prediction, 2, true, 5.0);
  const auto & m = filter->GetMeasures();
  ExpectSummary(m.all, LabelStatus::Ok, 3, 2, 3, 2);
  EXPECT_DOUBLE_EQ(m.voxelVolumeMm3, 1.0);
  const auto & a = m.referenceLesions[0];
  EXPECT_EQ(a.voxelCount, 50u);
  EXPECT_DOUBLE_EQ(a.volumeMl, 0.05); // 50 mm^2 / 1000
  EXPECT_DOUBLE_EQ(a.equivalentDiameterMm, 2.0 * std::sqrt(50.0 / M_PI));
  EXPECT_EQ(a.extentMm, std::vector<double>({ 5.0, 10.0 }));
  EXPECT_NEAR(a.centroid[0], 3.0 + 6.5 * 0.5, 1e-12);
  EXPECT_NEAR(a.centroid[1], -4.0 + 4.0 * 2.0, 1e-12);
  EXPECT_DOUBLE_EQ(a.dice, 0.5);
  // Numbered in raster order of the first pixel (rows first): C (row 2) before B (row 10).
  EXPECT_EQ(m.referenceLesions[1].voxelCount, 4u);
  EXPECT_FALSE(m.referenceLesions[1].matched);
  EXPECT_EQ(m.referenceLesions[2].voxelCount, 16u);
  EXPECT_DOUBLE_EQ(m.referenceLesions[2].dice, 1.0);
  EXPECT_EQ(m.referenceLesions[2].matches, std::vector<std::uint64_t>({ 2 }));
  EXPECT_FALSE(m.predictedComponents[2].matched);
  // 5 mm: A (7.98 mm) counts, B (4.51 mm) and C (2.26 mm) do not; A' counts, D (3.57 mm) does not.
  ExpectSummary(m.aboveMinimumDiameter, LabelStatus::Ok, 1, 1, 1, 1);
}

TEST(LesionDetectionMetrics, DirectionAndStartIndexChangeOnlyTheCentroid)
{
  Label3D::Pointer reference, prediction;
  MakeCubes(reference, prediction);
  const auto identity = RunLesions<Label3D>(reference, prediction)->GetMeasures();
  for (const Orientation orientation : { Orientation::Flipped, Orientation::Mirrored, Orientation::Oblique })
  {
    Label3D::Pointer r, p;
    MakeCubes(r, p, orientation, { { 12.0, -7.0, 30.0 } });
    const auto m = RunLesions<Label3D>(r, p)->GetMeasures();
    ASSERT_EQ(m.referenceLesions.size(), identity.referenceLesions.size());
    EXPECT_EQ(m.all.detectedLesions, identity.all.detectedLesions);
    EXPECT_EQ(m.all.falsePositiveComponents, identity.all.falsePositiveComponents);
    EXPECT_EQ(m.aboveMinimumDiameter.referenceLesions, identity.aboveMinimumDiameter.referenceLesions);
    for (std::size_t i = 0; i < m.referenceLesions.size(); ++i)
    {
      const LesionComponent & a = m.referenceLesions[i];
      const LesionComponent & b = identity.referenceLesions[i];
      EXPECT_EQ(a.voxelCount, b.voxelCount);
      EXPECT_EQ(a.volumeMl, b.volumeMl);
      EXPECT_EQ(a.equivalentDiameterMm, b.equivalentDiameterMm);
      EXPECT_EQ(a.extentMm, b.extentMm);
      EXPECT_EQ(a.dice, b.dice);
      EXPECT_EQ(a.matches, b.matches);
      // The centroid is the world point of the mean index.
      itk::ContinuousIndex<double, 3> mean;
      for (unsigned int d = 0; d < 3; ++d)
      {
        mean[d] = 0.5 * static_cast<double>(b.boundingBoxLower[d] + b.boundingBoxUpper[d]); // cubes: box centre
      }
      Label3D::PointType expected;
      r->TransformContinuousIndexToPhysicalPoint(mean, expected);
      for (unsigned int d = 0; d < 3; ++d)
      {
        EXPECT_NEAR(a.centroid[d], expected[d], 1e-9);
      }
    }
  }

  // Images whose region starts at a non-zero index: the same components, bounding boxes moved by the start.
  Label3D::Pointer r, p;
  MakeCubes(r, p);
  Label3D::IndexType start{ { 4, -3, 11 } };
  for (Label3D * image : { r.GetPointer(), p.GetPointer() })
  {
    Label3D::RegionType region = image->GetLargestPossibleRegion();
    region.SetIndex(start);
    image->SetRegions(region);
  }
  const auto moved = RunLesions<Label3D>(r, p)->GetMeasures();
  ASSERT_EQ(moved.referenceLesions.size(), 3u);
  EXPECT_EQ(moved.all.detectedLesions, 2u);
  EXPECT_EQ(moved.referenceLesions[1].matches, std::vector<std::uint64_t>({ 2, 3 }));
  EXPECT_EQ(moved.referenceLesions[0].boundingBoxLower, std::vector<std::int64_t>({ 9, 2, 16 }));
  EXPECT_DOUBLE_EQ(moved.referenceLesions[1].dice, 0.5);
  EXPECT_NEAR(moved.referenceLesions[0].centroid[0], -20.0 + (9.5 + 4) * 0.8, 1e-12);
}

TEST(LesionDetectionMetrics, StreamingAndThreadsDoNotChangeResults)
{
  Label3D::Pointer reference, prediction;
  MakeCubes(reference, prediction);
  const auto expected = RunLesions<Label3D>(reference, prediction)->GetMeasures();
  for (const unsigned int divisions : { 1u, 3u, 7u })
  {
    for (const unsigned int workUnits : { 1u, 4u, 9u })
    {
      auto filter = torchseg::LesionDetectionMetricsImageFilter<Label3D>::New();
      filter->SetReferenceImage(reference);
      filter->SetPredictionImage(prediction);
      filter->SetLabel(2);
      filter->SetNumberOfStreamDivisions(divisions);
      filter->SetNumberOfWorkUnits(workUnits);
      filter->Update();
      const auto & m = filter->GetMeasures();
      ASSERT_EQ(m.referenceLesions.size(), expected.referenceLesions.size());
      ASSERT_EQ(m.predictedComponents.size(), expected.predictedComponents.size());
      for (std::size_t i = 0; i < m.referenceLesions.size(); ++i)
      {
        EXPECT_EQ(m.referenceLesions[i].voxelCount, expected.referenceLesions[i].voxelCount);
        EXPECT_EQ(m.referenceLesions[i].dice, expected.referenceLesions[i].dice);
        EXPECT_EQ(m.referenceLesions[i].centroid, expected.referenceLesions[i].centroid);
      }
    }
  }

  // A single row is split along x between work units: the runs cut at the boundaries are joined again.
  Label2D::Pointer row = MakeImage<Label2D>({ 1000, 1 }, { 1.0, 1.0 });
  FillByIndex(row.GetPointer(), [](const Label2D::IndexType & i) { return i[0] >= 100 && i[0] < 900 ? 2 : 0; });
  auto filter = torchseg::LesionDetectionMetricsImageFilter<Label2D>::New();
  filter->SetReferenceImage(row);
  filter->SetPredictionImage(row);
  filter->SetLabel(2);
  filter->SetNumberOfWorkUnits(7);
  filter->SetNumberOfStreamDivisions(3);
  filter->Update();
  ASSERT_EQ(filter->GetReferenceLesions().size(), 1u);
  EXPECT_EQ(filter->GetReferenceLesions()[0].voxelCount, 800u);
  EXPECT_EQ(filter->GetReferenceLesions()[0].boundingBoxLower, std::vector<std::int64_t>({ 100, 0 }));
  EXPECT_DOUBLE_EQ(filter->GetReferenceLesions()[0].dice, 1.0);
}

TEST(LesionDetectionMetrics, EmptyMasksHaveExplicitStatuses)
{
  Label3D::Pointer reference, prediction;
  MakeCubes(reference, prediction);
  Label3D::Pointer empty = MakeImage<Label3D>({ 60, 50, 40 }, { 0.8, 0.8, 1.5 }, { -20.0, 35.5, 7.0 });

  const auto neither = RunLesions<Label3D>(empty, empty)->GetMeasures();
  ExpectSummary(neither.all, LabelStatus::Absent, 0, 0, 0, 0);
  EXPECT_TRUE(std::isnan(neither.all.detectionRate));
  EXPECT_TRUE(std::isnan(neither.all.precision));
  EXPECT_TRUE(std::isnan(neither.all.f1));
  EXPECT_TRUE(std::isnan(neither.meanLesionDice));
  EXPECT_EQ(neither.aboveMinimumDiameter.status, LabelStatus::Absent);

  // No reference lesion (a tumour-free case): every predicted component is a false positive.
  const auto falseOnly = RunLesions<Label3D>(empty, prediction)->GetMeasures();
  ExpectSummary(falseOnly.all, LabelStatus::ReferenceEmpty, 0, 0, 4, 0);
  EXPECT_TRUE(std::isnan(falseOnly.all.detectionRate));
  EXPECT_EQ(falseOnly.all.precision, 0.0);
  EXPECT_TRUE(std::isnan(falseOnly.all.f1));
  ExpectSummary(falseOnly.aboveMinimumDiameter, LabelStatus::ReferenceEmpty, 0, 0, 1, 0);

  // Nothing predicted: every lesion missed.
  const auto missed = RunLesions<Label3D>(reference, empty)->GetMeasures();
  ExpectSummary(missed.all, LabelStatus::PredictionEmpty, 3, 0, 0, 0);
  EXPECT_EQ(missed.all.detectionRate, 0.0);
  EXPECT_TRUE(std::isnan(missed.all.precision));
  EXPECT_EQ(missed.meanLesionDice, 0.0);

  // A label in neither image.
  const auto absent = RunLesions<Label3D>(reference, prediction, 7)->GetMeasures();
  EXPECT_EQ(absent.all.status, LabelStatus::Absent);
  EXPECT_TRUE(absent.referenceLesions.empty());

  // Lesions present, but none of the minimum diameter in either image.
  const auto small = RunLesions<Label3D>(reference, prediction, 2, true, 50.0)->GetMeasures();
  EXPECT_EQ(small.all.status, LabelStatus::Ok);
  ExpectSummary(small.aboveMinimumDiameter, LabelStatus::Absent, 0, 0, 0, 0);
  EXPECT_TRUE(std::isnan(small.aboveMinimumDiameter.detectionRate));
}

TEST(LesionDetectionMetrics, GeometryMismatchesAndBadParametersAreNamed)
{
  Label3D::Pointer reference, prediction;
  MakeCubes(reference, prediction);
  auto expectError =
    [&](const Label3D * other, const std::string & what, std::uint64_t overlap = 1, double diameter = 10.0) {
      auto filter = torchseg::LesionDetectionMetricsImageFilter<Label3D>::New();
      filter->SetReferenceImage(reference);
      filter->SetPredictionImage(other);
      filter->SetMinimumOverlap(overlap);
      filter->SetMinimumDiameter(diameter);
      try
      {
        filter->Update();
        ADD_FAILURE() << "no error for " << what;
      }
      catch (const itk::ExceptionObject & e)
      {
        const std::string message = e.GetDescription();
        EXPECT_NE(message.find(what), std::string::npos) << message;
        EXPECT_EQ(message.find('\n'), std::string::npos) << message;
      }
    };
  expectError(MakeImage<Label3D>({ 60, 50, 41 }, { 0.8, 0.8, 1.5 }, { -20.0, 35.5, 7.0 }).GetPointer(),
              "the prediction does not have the geometry of the reference: size (60, 50, 41) instead of (60, 50, 40)");
  expectError(
    MakeImage<Label3D>({ 60, 50, 40 }, { 0.8, 0.8, 1.5 }, { -20.0, 35.5, 7.0 }, Orientation::Oblique).GetPointer(),
    "direction");
  expectError(prediction, "MinimumOverlap is 0", 0);
  expectError(prediction, "MinimumDiameter -1 is not a diameter in mm", 1, -1.0);
  expectError(prediction, "MinimumDiameter inf is not a diameter in mm", 1, std::numeric_limits<double>::infinity());
}

TEST(LesionDetectionMetrics, ReportsProgressAndHonoursAbort)
{
  Label3D::Pointer reference, prediction;
  MakeCubes(reference, prediction);
  auto filter = torchseg::LesionDetectionMetricsImageFilter<Label3D>::New();
  filter->SetReferenceImage(reference);
  filter->SetPredictionImage(prediction);
  filter->SetLabel(2);
  filter->SetNumberOfStreamDivisions(4);
  std::vector<float> seen;
  struct Context
  {
    torchseg::LesionDetectionMetricsImageFilter<Label3D> * filter;
    std::vector<float> *                                   seen;
    bool                                                   abort;
  } context{ filter, &seen, false };
  auto command = itk::CStyleCommand::New();
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
  ASSERT_GE(seen.size(), 4u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_FLOAT_EQ(seen.back(), 1.0f);

  context.abort = true;
  filter->Modified();
  EXPECT_THROW(filter->Update(), itk::ProcessAborted);
  context.abort = false;
  filter->AbortGenerateDataOff();
  filter->Modified();
  filter->Update();
  EXPECT_EQ(filter->GetSummary().detectedLesions, 2u);
}

TEST(LesionDetectionMetrics, PrintSelfNamesEveryMember)
{
  Label3D::Pointer reference, prediction;
  MakeCubes(reference, prediction);
  auto               filter = RunLesions<Label3D>(reference, prediction);
  std::ostringstream out;
  filter->Print(out);
  for (const char * member : { "Label: 2",
                               "FullyConnected: On",
                               "MinimumOverlap: 1",
                               "MinimumDiameter: 10",
                               "LargestRegion",
                               "LineStride",
                               "VoxelVolumeMm3",
                               "AboveMinimumDiameter: ok, 1 of 1 lesions detected",
                               "MeanLesionDice",
                               "lesion 3",
                               "missed",
                               "predicted component 4",
                               "false positive" })
  {
    EXPECT_NE(out.str().find(member), std::string::npos) << member << "\n" << out.str();
  }
}
