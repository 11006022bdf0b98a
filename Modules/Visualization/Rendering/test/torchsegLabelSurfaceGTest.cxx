#include "torchsegLabelSurfaceExtractor.h"
#include "torchsegTestingSupport.h"
#include "torchsegVTKImageBridge.h"

#include "itkImageRegionIteratorWithIndex.h"

#include <vtkFeatureEdges.h>
#include <vtkPointData.h>
#include <vtkSTLReader.h>
#include <vtkXMLPolyDataReader.h>

#include "gtest/gtest.h"

#include <cmath>
#include <limits>

namespace
{

using torchseg::LabelImageType;
using torchseg::testing::Orientation;

/** Labels every voxel whose centre lies within \a radius mm of the physical point \a centre. */
void
PaintSphere(LabelImageType * image, const itk::Point<double, 3> & centre, double radius, uint8_t value)
{
  itk::ImageRegionIteratorWithIndex<LabelImageType> it(image, image->GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it)
  {
    itk::Point<double, 3> p;
    image->TransformIndexToPhysicalPoint(it.GetIndex(), p);
    if (p.EuclideanDistanceTo(centre) <= radius)
    {
      it.Set(value);
    }
  }
}

/** The world box of the label's voxels, each voxel taken as its full parallelepiped (centre +- half a voxel). */
std::array<double, 6>
ExpectedWorldBox(const LabelImageType * image, uint8_t value, std::size_t * count)
{
  std::array<double, 6> box{ { 1e300, -1e300, 1e300, -1e300, 1e300, -1e300 } };
  std::array<double, 3> half{};
  for (unsigned int d = 0; d < 3; ++d)
  {
    for (unsigned int c = 0; c < 3; ++c)
    {
      half[d] += 0.5 * std::abs(image->GetDirection()(d, c)) * image->GetSpacing()[c];
    }
  }
  *count = 0;
  itk::ImageRegionConstIteratorWithIndex<LabelImageType> it(image, image->GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it)
  {
    if (it.Get() != value)
    {
      continue;
    }
    ++*count;
    itk::Point<double, 3> p;
    image->TransformIndexToPhysicalPoint(it.GetIndex(), p);
    for (unsigned int d = 0; d < 3; ++d)
    {
      box[2 * d] = std::min(box[2 * d], p[d] - half[d]);
      box[2 * d + 1] = std::max(box[2 * d + 1], p[d] + half[d]);
    }
  }
  return box;
}

std::size_t
CountBoundaryEdges(vtkPolyData * mesh)
{
  auto edges = vtkSmartPointer<vtkFeatureEdges>::New();
  edges->SetInputData(mesh);
  edges->BoundaryEdgesOn();
  edges->NonManifoldEdgesOff();
  edges->FeatureEdgesOff();
  edges->ManifoldEdgesOff();
  edges->Update();
  return static_cast<std::size_t>(edges->GetOutput()->GetNumberOfLines());
}

/** Fraction of mesh points whose normal points away from \a centre. */
double
OutwardNormalFraction(vtkPolyData * mesh, const itk::Point<double, 3> & centre)
{
  vtkDataArray * normals = mesh->GetPointData()->GetNormals();
  if (normals == nullptr || mesh->GetNumberOfPoints() == 0)
  {
    return 0.0;
  }
  vtkIdType outward = 0;
  for (vtkIdType i = 0; i < mesh->GetNumberOfPoints(); ++i)
  {
    double p[3], n[3];
    mesh->GetPoint(i, p);
    normals->GetTuple(i, n);
    const double dot = n[0] * (p[0] - centre[0]) + n[1] * (p[1] - centre[1]) + n[2] * (p[2] - centre[2]);
    outward += dot > 0.0 ? 1 : 0;
  }
  return static_cast<double>(outward) / static_cast<double>(mesh->GetNumberOfPoints());
}

/** The shared test geometries, plus a mirrored one: z reversed alone (slices stored head first), the direction
 * has determinant -1 and the index-to-world map turns triangles inside out. */
enum class Geometry
{
  Identity,
  Flipped,
  Oblique,
  Mirrored
};

LabelImageType::Pointer
MakeGeometryImage(Geometry geometry, const LabelImageType::SizeType & size, const std::array<double, 3> & spacing,
                  const std::array<double, 3> & origin)
{
  const Orientation orientation = geometry == Geometry::Flipped   ? Orientation::Flipped
                                  : geometry == Geometry::Oblique ? Orientation::Oblique
                                                                  : Orientation::Identity;
  auto              image = torchseg::testing::MakeImage<LabelImageType>(size, spacing, origin, orientation);
  if (geometry == Geometry::Mirrored)
  {
    auto direction = image->GetDirection();
    direction(2, 2) = -1.0;
    image->SetDirection(direction);
  }
  return image;
}

class SurfaceGeometry : public ::testing::TestWithParam<Geometry>
{};

} // namespace

TEST(VTKImageBridge, IndexToWorldMatrixMatchesITKForObliqueImages)
{
  auto image = torchseg::testing::MakeImage<LabelImageType>(
    { 7, 5, 4 }, { 0.8, 0.9, 2.5 }, { -10.0, 20.0, 5.0 }, Orientation::Oblique);
  const auto                            matrix = torchseg::MakeIndexToWorldMatrix(image);
  const itk::ContinuousIndex<double, 3> index = [] {
    itk::ContinuousIndex<double, 3> i;
    i[0] = 2.5;
    i[1] = -1.0;
    i[2] = 3.25;
    return i;
  }();
  itk::Point<double, 3> expected;
  image->TransformContinuousIndexToPhysicalPoint(index, expected);
  const double in[4] = { index[0], index[1], index[2], 1.0 };
  double       out[4];
  matrix->MultiplyPoint(in, out);
  for (unsigned int d = 0; d < 3; ++d)
  {
    EXPECT_NEAR(out[d], expected[d], 1e-9);
  }
  EXPECT_DOUBLE_EQ(out[3], 1.0);
}

TEST(VTKImageBridge, SharesTheBufferAndCarriesGeometry)
{
  auto image = torchseg::testing::MakeImage<torchseg::CTImageType>(
    { 6, 5, 4 }, { 0.7, 0.7, 3.0 }, { 1.0, 2.0, 3.0 }, Orientation::Flipped);
  image->SetPixel({ { 4, 3, 2 } }, 123.5f);
  vtkSmartPointer<vtkImageData> data = torchseg::ImageToVTKImageData(image.GetPointer());
  const float *                 before = image->GetBufferPointer();
  image = nullptr; // the VTK array keeps the ITK image alive
  ASSERT_EQ(data->GetScalarPointer(), static_cast<const void *>(before));
  EXPECT_FLOAT_EQ(data->GetScalarComponentAsFloat(4, 3, 2, 0), 123.5f);
  EXPECT_FLOAT_EQ(data->GetScalarComponentAsFloat(3, 3, 2, 0), 0.0f);
  double world[3];
  data->TransformContinuousIndexToPhysicalPoint(4.0, 3.0, 2.0, world);
  // Flipped: x and z axes reversed.
  EXPECT_NEAR(world[0], 1.0 - 4 * 0.7, 1e-9);
  EXPECT_NEAR(world[1], 2.0 + 3 * 0.7, 1e-9);
  EXPECT_NEAR(world[2], 3.0 - 2 * 3.0, 1e-9);
  data = nullptr; // releases the image without a leak or a double free (checked by sanitizers)
}

TEST(LabelSurface, VoxelisedSphereHasTheSpheresAreaAndVolume)
{
  // Radius 16 mm = 20 voxels in-plane (0.8 mm), 10.7 slices of 1.5 mm.
  const double          radius = 16.0;
  auto                  image = torchseg::testing::MakeImage<LabelImageType>({ 48, 48, 28 }, { 0.8, 0.8, 1.5 });
  itk::Point<double, 3> centre;
  centre[0] = 23.5 * 0.8 + 0.13;
  centre[1] = 23.5 * 0.8 - 0.21;
  centre[2] = 13.5 * 1.5 + 0.3;
  PaintSphere(image, centre, radius, 1);

  auto extractor = torchseg::LabelSurfaceExtractor::New();
  extractor->SetInput(image);
  extractor->Update();
  const auto & surfaces = extractor->GetSurfaces();
  ASSERT_EQ(surfaces.size(), 1u);
  const double area = 4.0 * M_PI * radius * radius;
  const double volume = 4.0 / 3.0 * M_PI * radius * radius * radius;
  EXPECT_NEAR(surfaces[0].areaMm2, area, 0.03 * area);
  EXPECT_NEAR(surfaces[0].volumeMm3, volume, 0.03 * volume);
  EXPECT_EQ(surfaces[0].name, "liver");
  EXPECT_EQ(CountBoundaryEdges(surfaces[0].mesh), 0u);
  EXPECT_GT(OutwardNormalFraction(surfaces[0].mesh, centre), 0.99);
  std::cout << "sphere area " << surfaces[0].areaMm2 << " (analytic " << area << "), volume " << surfaces[0].volumeMm3
            << " (analytic " << volume << ")" << std::endl;

  // Without smoothing the staircase surface overestimates the area: smoothing is what brings it within 3 %.
  extractor->SetSmoothingFactor(0.0);
  extractor->Update();
  EXPECT_GT(extractor->GetSurfaces()[0].areaMm2, 1.03 * area);

  // Decimation keeps the volume and removes triangles.
  extractor->SetSmoothingFactor(0.5);
  extractor->Update();
  const vtkIdType triangles = extractor->GetSurfaces()[0].mesh->GetNumberOfPolys();
  extractor->SetDecimationTargetReduction(0.7);
  extractor->Update();
  const auto & decimated = extractor->GetSurfaces()[0];
  EXPECT_LT(decimated.mesh->GetNumberOfPolys(), triangles / 2);
  EXPECT_NEAR(decimated.volumeMm3, volume, 0.03 * volume);
}

TEST_P(SurfaceGeometry, BoundsEqualTheLabelsWorldBoxAndNormalsPointOutwards)
{
  auto image = MakeGeometryImage(GetParam(), { { 40, 36, 20 } }, { 0.9, 0.8, 2.0 }, { -30.0, 12.0, 40.0 });
  // An off-centre block (label 2) and a sphere (label 1) that touches the image border at x = 0.
  itk::ImageRegion<3> block({ { 24, 5, 3 } }, { { 10, 12, 6 } });
  for (itk::ImageRegionIteratorWithIndex<LabelImageType> it(image, block); !it.IsAtEnd(); ++it)
  {
    it.Set(2);
  }
  itk::Point<double, 3> centre;
  image->TransformContinuousIndexToPhysicalPoint(
    itk::ContinuousIndex<double, 3>(std::array<double, 3>{ { 3.0, 20.0, 11.0 } }.data()), centre);
  PaintSphere(image, centre, 7.0, 1);

  auto extractor = torchseg::LabelSurfaceExtractor::New();
  extractor->SetInput(image);
  extractor->Update();
  const auto & surfaces = extractor->GetSurfaces();
  ASSERT_EQ(surfaces.size(), 2u);
  const double tolerance = 0.5 * 2.0; // half the largest voxel side: the corners and edges the smoothing rounds
  for (const auto & surface : surfaces)
  {
    std::size_t count = 0;
    const auto  expected = ExpectedWorldBox(image, static_cast<uint8_t>(surface.label), &count);
    EXPECT_EQ(surface.numberOfVoxels, count);
    EXPECT_NEAR(surface.voxelVolumeMm3, count * 0.9 * 0.8 * 2.0, 1e-6);
    double bounds[6];
    surface.mesh->GetBounds(bounds);
    for (unsigned int i = 0; i < 6; ++i)
    {
      EXPECT_NEAR(bounds[i], expected[i], tolerance) << "label " << surface.label << " bound " << i;
    }
    // The mesh is closed even where the label touches the image border, and encloses the voxels' volume.
    EXPECT_EQ(CountBoundaryEdges(surface.mesh), 0u) << "label " << surface.label;
    EXPECT_NEAR(surface.volumeMm3, surface.voxelVolumeMm3, 0.08 * surface.voxelVolumeMm3) << "label " << surface.label;
    itk::Point<double, 3> middle;
    for (unsigned int d = 0; d < 3; ++d)
    {
      middle[d] = 0.5 * (bounds[2 * d] + bounds[2 * d + 1]);
    }
    EXPECT_GT(OutwardNormalFraction(surface.mesh, middle), 0.99) << "label " << surface.label;
  }
  EXPECT_EQ(surfaces[1].name, "tumour");
  EXPECT_EQ(surfaces[1].color, (torchseg::LabelTable::LiverTumour().GetColor(2)));
}

INSTANTIATE_TEST_SUITE_P(Orientations, SurfaceGeometry,
                         ::testing::Values(Geometry::Identity, Geometry::Flipped, Geometry::Oblique,
                                           Geometry::Mirrored),
                         [](const ::testing::TestParamInfo<Geometry> & info) {
                           switch (info.param)
                           {
                             case Geometry::Identity:
                               return std::string("Identity");
                             case Geometry::Flipped:
                               return std::string("Flipped");
                             case Geometry::Oblique:
                               return std::string("Oblique");
                             default:
                               return std::string("Mirrored");
                           }
                         });

TEST(LabelSurface, FillingCavitiesKeepsTheOuterBoundaryOnly)
{
  // A ball of label 1 (radius 9 mm) with a ball of label 2 (radius 4 mm) inside: label 1 is a shell.
  auto                  image = torchseg::testing::MakeImage<LabelImageType>({ 30, 30, 30 }, { 1.0, 1.0, 1.0 });
  itk::Point<double, 3> centre;
  centre.Fill(14.5);
  PaintSphere(image, centre, 9.0, 1);
  PaintSphere(image, centre, 4.0, 2);
  auto extractor = torchseg::LabelSurfaceExtractor::New();
  extractor->SetInput(image);
  extractor->SetLabels({ 1 });
  extractor->Update();
  const double outer = 4.0 / 3.0 * M_PI * 9.0 * 9.0 * 9.0;
  const double inner = 4.0 / 3.0 * M_PI * 4.0 * 4.0 * 4.0;
  const auto   shell = extractor->GetSurfaces()[0];
  // The shell's mesh has an outer and an inner (cavity) sheet: enclosed volume outer - inner, area outer + inner.
  EXPECT_NEAR(shell.volumeMm3, outer - inner, 0.05 * (outer - inner));
  EXPECT_NEAR(shell.areaMm2, 4.0 * M_PI * (81.0 + 16.0), 0.05 * 4.0 * M_PI * (81.0 + 16.0));

  extractor->FillCavitiesOn();
  extractor->Update();
  const auto solid = extractor->GetSurfaces()[0];
  EXPECT_NEAR(solid.volumeMm3, outer, 0.04 * outer);
  EXPECT_NEAR(solid.areaMm2, 4.0 * M_PI * 81.0, 0.04 * 4.0 * M_PI * 81.0);
  EXPECT_EQ(solid.numberOfVoxels, shell.numberOfVoxels); // the voxel counts stay those of the label
  EXPECT_EQ(CountBoundaryEdges(solid.mesh), 0u);
  EXPECT_GT(OutwardNormalFraction(solid.mesh, centre), 0.99);
}

TEST(LabelSurface, SelectedLabelsOnlyAndEmptyImages)
{
  auto image = torchseg::testing::MakeImage<LabelImageType>({ 12, 12, 12 }, { 1.0, 1.0, 1.0 });
  auto extractor = torchseg::LabelSurfaceExtractor::New();
  extractor->SetInput(image);
  extractor->Update();
  EXPECT_TRUE(extractor->GetSurfaces().empty());

  image->SetPixel({ { 3, 3, 3 } }, 1);
  image->SetPixel({ { 8, 8, 8 } }, 7);
  image->Modified();
  extractor->SetLabels({ 7, 2 });
  extractor->Update();
  ASSERT_EQ(extractor->GetSurfaces().size(), 1u);
  EXPECT_EQ(extractor->GetSurfaces()[0].label, 7u);
  EXPECT_EQ(extractor->GetSurfaces()[0].name, "label 7");
  EXPECT_THROW(extractor->SetLabels({ 0 }), itk::ExceptionObject);
  // A single voxel makes a closed little surface.
  EXPECT_EQ(CountBoundaryEdges(extractor->GetSurfaces()[0].mesh), 0u);
}

TEST(LabelSurface, WritesVTPAndSTLThatReadBack)
{
  auto image =
    torchseg::testing::MakeImage<LabelImageType>({ 20, 20, 10 }, { 1.0, 1.0, 2.0 }, {}, Orientation::Oblique);
  itk::Point<double, 3> centre;
  image->TransformContinuousIndexToPhysicalPoint(
    itk::ContinuousIndex<double, 3>(std::array<double, 3>{ { 10.0, 10.0, 5.0 } }.data()), centre);
  PaintSphere(image, centre, 6.0, 1);
  auto extractor = torchseg::LabelSurfaceExtractor::New();
  extractor->SetInput(image);
  extractor->Update();
  ASSERT_EQ(extractor->GetSurfaces().size(), 1u);
  const auto & surface = extractor->GetSurfaces()[0];

  const auto directory = torchseg::testing::OutputPath("surfaces");
  const auto written = torchseg::WriteLabelSurfaces(extractor->GetSurfaces(), directory.string());
  ASSERT_EQ(written.size(), 2u);
  EXPECT_EQ(std::filesystem::path(written[0]).filename(), "1_liver.vtp");
  EXPECT_EQ(std::filesystem::path(written[1]).filename(), "1_liver.stl");

  auto vtp = vtkSmartPointer<vtkXMLPolyDataReader>::New();
  vtp->SetFileName(written[0].c_str());
  vtp->Update();
  EXPECT_EQ(vtp->GetOutput()->GetNumberOfPolys(), surface.mesh->GetNumberOfPolys());
  EXPECT_NE(vtp->GetOutput()->GetFieldData()->GetAbstractArray("Name"), nullptr);
  auto stl = vtkSmartPointer<vtkSTLReader>::New();
  stl->SetFileName(written[1].c_str());
  stl->Update();
  EXPECT_EQ(stl->GetOutput()->GetNumberOfPolys(), surface.mesh->GetNumberOfPolys());
  double a[6], b[6];
  surface.mesh->GetBounds(a);
  stl->GetOutput()->GetBounds(b);
  for (unsigned int i = 0; i < 6; ++i)
  {
    EXPECT_NEAR(a[i], b[i], 1e-4); // STL stores float
  }

  const auto bad = torchseg::testing::OutputPath("surface.obj");
  try
  {
    torchseg::WriteSurface(surface.mesh, bad.string());
    FAIL() << "an .obj path was accepted";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find(bad.string()), std::string::npos) << e.GetDescription();
  }
  EXPECT_FALSE(std::filesystem::exists(bad));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(directory), std::filesystem::directory_iterator()), 2);
}
