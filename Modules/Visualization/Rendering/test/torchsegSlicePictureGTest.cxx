#include "torchsegSlicePictureRenderer.h"
#include "torchsegTestingSupport.h"

#include "itkImageRegionIteratorWithIndex.h"
#include "itkLinearInterpolateImageFunction.h"

#include "gtest/gtest.h"

#include <cmath>

namespace
{

using torchseg::CTImageType;
using torchseg::LabelImageType;
using torchseg::SlicePictureRenderer;
using torchseg::testing::Orientation;
using Color = torchseg::RGBCanvas::Color;

constexpr double kBodyHU = 40.0;
constexpr double kLiverHU = 90.0;
constexpr double kAirHU = -1000.0;

struct Phantom
{
  CTImageType::Pointer    ct;
  LabelImageType::Pointer labels;
};

void
FillBox(LabelImageType * image, const itk::ImageRegion<3> & box, uint8_t value)
{
  for (itk::ImageRegionIteratorWithIndex<LabelImageType> it(image, box); !it.IsAtEnd(); ++it)
  {
    it.Set(value);
  }
}

/** Air around a body block at 40 HU; a liver block (label 1, 90 HU) on the patient's right (low x index, which is
 * the patient's right for identity directions) and anterior; anisotropic voxels. */
Phantom
MakePhantom(Orientation orientation)
{
  Phantom phantom;
  phantom.ct =
    torchseg::testing::MakeImage<CTImageType>({ 48, 44, 16 }, { 0.8, 0.8, 2.5 }, { -20.0, -15.0, 30.0 }, orientation);
  phantom.labels = torchseg::testing::MakeImage<LabelImageType>(
    { 48, 44, 16 }, { 0.8, 0.8, 2.5 }, { -20.0, -15.0, 30.0 }, orientation);
  const itk::ImageRegion<3> body({ { 4, 4, 0 } }, { { 40, 36, 16 } });
  const itk::ImageRegion<3> liver({ { 8, 9, 3 } }, { { 14, 16, 8 } });
  for (itk::ImageRegionIteratorWithIndex<CTImageType> it(phantom.ct, phantom.ct->GetLargestPossibleRegion());
       !it.IsAtEnd();
       ++it)
  {
    const auto & index = it.GetIndex();
    it.Set(static_cast<float>(liver.IsInside(index) ? kLiverHU : body.IsInside(index) ? kBodyHU : kAirHU));
  }
  FillBox(phantom.labels, liver, 1);
  return phantom;
}

uint8_t
Grey(double hu, double window = 400.0, double level = 40.0)
{
  const double g = 255.0 * (hu - (level - window / 2.0)) / window;
  return static_cast<uint8_t>(std::clamp(std::lround(g), 0L, 255L));
}

Color
Blend(uint8_t grey, const Color & color, double alpha)
{
  Color c;
  for (unsigned int k = 0; k < 3; ++k)
  {
    c[k] = static_cast<uint8_t>(std::lround((1.0 - alpha) * grey + alpha * color[k]));
  }
  return c;
}

::testing::AssertionResult
ColorNear(const Color & actual, const Color & expected, int tolerance = 1)
{
  for (unsigned int k = 0; k < 3; ++k)
  {
    if (std::abs(int(actual[k]) - int(expected[k])) > tolerance)
    {
      return ::testing::AssertionFailure()
             << "(" << int(actual[0]) << ", " << int(actual[1]) << ", " << int(actual[2]) << ") instead of ("
             << int(expected[0]) << ", " << int(expected[1]) << ", " << int(expected[2]) << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

/** The label ITK finds at a world point (nearest voxel), 0 outside. */
uint8_t
LabelAt(const LabelImageType * image, const itk::Point<double, 3> & p)
{
  itk::Index<3> index;
  return image->TransformPhysicalPointToIndex(p, index) ? image->GetPixel(index) : 0;
}

class SlicePicture : public ::testing::TestWithParam<Orientation>
{};

std::string
OrientationName(const ::testing::TestParamInfo<Orientation> & info)
{
  return info.param == Orientation::Identity ? "Identity" : info.param == Orientation::Flipped ? "Flipped" : "Oblique";
}

} // namespace

TEST(SlicePicture, WindowingIsTheAbdomenWindowByDefault)
{
  auto renderer = SlicePictureRenderer::New();
  EXPECT_EQ(renderer->GetWindow(), 400.0);
  EXPECT_EQ(renderer->GetLevel(), 40.0);
  EXPECT_EQ(renderer->WindowIntensity(-160.0), 0);
  EXPECT_EQ(renderer->WindowIntensity(240.0), 255);
  EXPECT_EQ(renderer->WindowIntensity(40.0), 128); // 127.5 rounds up
  EXPECT_EQ(renderer->WindowIntensity(-1000.0), 0);
  EXPECT_EQ(renderer->WindowIntensity(3000.0), 255);
}

TEST_P(SlicePicture, EveryPixelIsTheWindowedCTBlendedWithItsLabel)
{
  const Phantom phantom = MakePhantom(GetParam());
  auto          renderer = SlicePictureRenderer::New();
  renderer->SetCTImage(phantom.ct);
  renderer->SetLabelImage(phantom.labels);
  renderer->SetTitle("phantom");
  renderer->SetPixelSpacing(0.4); // views large enough that the orientation letters cover little of them
  renderer->Update();
  const auto & picture = renderer->GetPicture();
  const auto & views = renderer->GetViews();
  ASSERT_EQ(views.size(), 3u);
  const Color  liver = torchseg::LabelTable::LiverTumour().GetColor(1);
  const double alpha = renderer->GetOpacity();

  // Square pixels; the views keep the physical aspect ratio.
  if (GetParam() != Orientation::Oblique)
  {
    EXPECT_EQ(views[0].width, 96u);
    EXPECT_EQ(views[0].height, 88u);
    EXPECT_EQ(views[1].width, 96u);
    EXPECT_EQ(views[1].height, 100u); // 16 slices * 2.5 mm / 0.4 mm
    EXPECT_EQ(views[2].width, 88u);
    EXPECT_EQ(views[2].height, 100u);
  }

  // Expected colours from ITK's own geometry and interpolation: windowed CT, blended with the label's colour inside
  // the label, the label's colour on its contour (a pixel whose 4-neighbour shows another label).
  using Interpolator = itk::LinearInterpolateImageFunction<CTImageType, double>;
  auto interpolator = Interpolator::New();
  interpolator->SetInputImage(phantom.ct);
  std::size_t checked = 0, inside = 0, contour = 0;
  for (const auto & view : views)
  {
    for (unsigned int j = 0; j < view.height; ++j)
    {
      for (unsigned int i = 0; i < view.width; ++i)
      {
        const auto p = view.PixelToWorld(i, j);
        if (!interpolator->IsInsideBuffer(p))
        {
          continue;
        }
        const uint8_t label = LabelAt(phantom.labels, p);
        bool          boundary = false;
        for (const auto & n : { std::array<int, 2>{ { -1, 0 } },
                                std::array<int, 2>{ { 1, 0 } },
                                std::array<int, 2>{ { 0, -1 } },
                                std::array<int, 2>{ { 0, 1 } } })
        {
          const int ni = int(i) + n[0], nj = int(j) + n[1];
          if (ni >= 0 && nj >= 0 && ni < int(view.width) && nj < int(view.height) &&
              LabelAt(phantom.labels, view.PixelToWorld(ni, nj)) != label)
          {
            boundary = true;
          }
        }
        const uint8_t grey = Grey(interpolator->Evaluate(p));
        const Color expected = label == 0 ? Color{ { grey, grey, grey } } : Blend(grey, liver, boundary ? 1.0 : alpha);
        const Color actual = picture.GetPixel(view.x + i, view.y + j);
        // The orientation letters are drawn over the image near the middle of each edge.
        const bool letters = (std::abs(int(i) - int(view.width) / 2) < 12 && (j < 22 || j + 22 > view.height)) ||
                             (std::abs(int(j) - int(view.height) / 2) < 12 && (i < 20 || i + 20 > view.width));
        if (letters)
        {
          continue;
        }
        ++checked;
        inside += label != 0 && !boundary;
        contour += boundary;
        ASSERT_TRUE(ColorNear(actual, expected)) << view.name << " pixel (" << i << ", " << j << ")";
      }
    }
  }
  std::cout << checked << " pixels checked, " << inside << " inside the label, " << contour << " on its contour"
            << std::endl;
  EXPECT_GT(checked, 18000u);
  EXPECT_GT(inside, 2000u);
  EXPECT_GT(contour, 300u);
}

TEST_P(SlicePicture, RadiologicalOrientationAndPhysicalAspectRatio)
{
  const Phantom phantom = MakePhantom(GetParam());
  auto          renderer = SlicePictureRenderer::New();
  renderer->SetCTImage(phantom.ct);
  renderer->SetLabelImage(phantom.labels);
  renderer->Update();
  const auto & views = renderer->GetViews();
  const auto & picture = renderer->GetPicture();
  const Color  liverBlend = Blend(Grey(kLiverHU), torchseg::LabelTable::LiverTumour().GetColor(1), 0.4);

  // The focus is the label's centroid: the mean of its voxels' world positions.
  itk::Vector<double, 3> sum;
  sum.Fill(0.0);
  std::size_t count = 0;
  for (itk::ImageRegionConstIteratorWithIndex<LabelImageType> it(phantom.labels,
                                                                 phantom.labels->GetLargestPossibleRegion());
       !it.IsAtEnd();
       ++it)
  {
    if (it.Get() != 0)
    {
      itk::Point<double, 3> p;
      phantom.labels->TransformIndexToPhysicalPoint(it.GetIndex(), p);
      sum += p.GetVectorFromOrigin();
      ++count;
    }
  }
  for (unsigned int d = 0; d < 3; ++d)
  {
    EXPECT_NEAR(renderer->GetUsedFocusPoint()[d], sum[d] / count, 1e-6);
  }

  // Radiological convention in LPS: screen right = patient left (+x) in axial and coronal views, anterior (-y) up in
  // axial views, superior (+z) up in coronal and sagittal views, anterior on the left in sagittal views.
  EXPECT_EQ(views[0].right[0], 1.0);
  EXPECT_EQ(views[0].down[1], 1.0);
  EXPECT_EQ(views[1].right[0], 1.0);
  EXPECT_EQ(views[1].down[2], -1.0);
  EXPECT_EQ(views[2].right[1], 1.0);
  EXPECT_EQ(views[2].down[2], -1.0);

  // Automatic pixel spacing: the smallest voxel side.
  for (const auto & view : views)
  {
    EXPECT_DOUBLE_EQ(view.pixelSpacing, 0.8);
  }
  if (GetParam() != Orientation::Oblique)
  {
    EXPECT_EQ(views[1].width, 48u);
    EXPECT_EQ(views[1].height, 50u); // 16 slices * 2.5 mm / 0.8 mm
  }

  // A world point 3 mm to the patient's left of the label centroid is drawn 3.75 pixels (0.8 mm) to the right.
  itk::Point<double, 3> centre = renderer->GetUsedFocusPoint();
  itk::Point<double, 3> left = centre;
  left[0] += 3.0;
  int c0, r0, c1, r1;
  ASSERT_TRUE(views[0].WorldToPicture(centre, c0, r0));
  ASSERT_TRUE(views[0].WorldToPicture(left, c1, r1));
  EXPECT_NEAR(c1 - c0, 3.75, 1.0); // each position rounds to its nearest pixel
  EXPECT_EQ(r1, r0);
  // Superior is up in the coronal view.
  itk::Point<double, 3> up = centre;
  up[2] += 4.0;
  ASSERT_TRUE(views[1].WorldToPicture(centre, c0, r0));
  ASSERT_TRUE(views[1].WorldToPicture(up, c1, r1));
  EXPECT_NEAR(r0 - r1, 5.0, 1.0);

  // Independently of the views' bookkeeping: in the coronal view the liver spans its physical height. The label
  // column through the centre has (8 slices * 2.5 mm) / 0.8 mm = 25 liver pixels (+-1 for rounding, up to 2 more
  // for the rotation of the oblique case).
  if (GetParam() != Orientation::Oblique)
  {
    ASSERT_TRUE(views[1].WorldToPicture(centre, c0, r0));
    int liverRows = 0;
    for (unsigned int j = 0; j < views[1].height; ++j)
    {
      const Color pixel = picture.GetPixel(c0, views[1].y + j);
      liverRows += (pixel == liverBlend || pixel == torchseg::LabelTable::LiverTumour().GetColor(1)) ? 1 : 0;
    }
    EXPECT_NEAR(liverRows, 25, 1);
  }
}

TEST_P(SlicePicture, CompareModeColoursFalsePositivesAndFalseNegativesWhereTheyAre)
{
  const Phantom phantom = MakePhantom(GetParam());
  // Reference: the liver block. Prediction: the block shifted by 6 voxels along the first index axis, and a
  // tumour-labelled block inside the reference (a class confusion).
  auto prediction =
    torchseg::testing::MakeImage<LabelImageType>({ 48, 44, 16 }, { 0.8, 0.8, 2.5 }, { -20.0, -15.0, 30.0 }, GetParam());
  FillBox(prediction, itk::ImageRegion<3>({ { 14, 9, 3 } }, { { 14, 16, 8 } }), 1);
  FillBox(prediction, itk::ImageRegion<3>({ { 16, 18, 5 } }, { { 4, 4, 4 } }), 2);

  auto renderer = SlicePictureRenderer::New();
  renderer->SetMode(SlicePictureRenderer::Mode::Compare);
  renderer->SetCTImage(phantom.ct);
  renderer->SetLabelImage(prediction);
  renderer->SetReferenceImage(phantom.labels);
  // Through a point inside every region along x.
  itk::Point<double, 3> focus;
  phantom.ct->TransformContinuousIndexToPhysicalPoint(
    itk::ContinuousIndex<double, 3>(std::array<double, 3>{ { 17.5, 19.5, 6.5 } }.data()), focus);
  renderer->SetFocusPoint(focus);
  renderer->SetPixelSpacing(0.4);
  renderer->Update();
  const auto & view = renderer->GetViews()[0];
  const auto & picture = renderer->GetPicture();
  const double alpha = renderer->GetOpacity();
  using A = SlicePictureRenderer::Agreement;

  struct Probe
  {
    std::array<double, 3> index; // continuous index in the focus slice, well inside one region
    A                     category;
    double                hu;
  };
  const Probe probes[] = {
    { { { 10.0, 12.0, 6.5 } }, A::FalseNegative, kLiverHU }, // reference only
    { { { 25.0, 12.0, 6.5 } }, A::FalsePositive, kBodyHU },  // prediction only
    { { { 18.0, 12.0, 6.5 } }, A::Agreement, kLiverHU },     // both liver
    { { { 17.5, 19.5, 6.5 } }, A::Confusion, kLiverHU },     // liver predicted as tumour
    { { { 34.0, 30.0, 6.5 } }, A::None, kBodyHU },           // neither
  };
  std::array<Color, 5> colors{};
  for (const auto & probe : probes)
  {
    itk::Point<double, 3> p;
    phantom.ct->TransformContinuousIndexToPhysicalPoint(itk::ContinuousIndex<double, 3>(probe.index.data()), p);
    int column, row;
    ASSERT_TRUE(view.WorldToPicture(p, column, row));
    const uint8_t grey = Grey(probe.hu);
    const Color   expected = probe.category == A::None
                               ? Color{ { grey, grey, grey } }
                               : Blend(grey, SlicePictureRenderer::GetAgreementColor(probe.category), alpha);
    EXPECT_TRUE(ColorNear(picture.GetPixel(column, row), expected))
      << SlicePictureRenderer::GetAgreementName(probe.category);
    colors[static_cast<int>(probe.category)] = SlicePictureRenderer::GetAgreementColor(probe.category);
  }
  // Four distinct colours.
  for (int a = 1; a < 5; ++a)
  {
    for (int b = a + 1; b < 5; ++b)
    {
      EXPECT_NE(colors[a], colors[b]);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Orientations, SlicePicture,
                         ::testing::Values(Orientation::Identity, Orientation::Flipped, Orientation::Oblique),
                         OrientationName);

TEST(SlicePicture, FieldOfViewZoomsOnTheFocusPoint)
{
  const Phantom phantom = MakePhantom(Orientation::Oblique);
  auto          renderer = SlicePictureRenderer::New();
  renderer->SetCTImage(phantom.ct);
  renderer->SetLabelImage(phantom.labels);
  renderer->SetFieldOfView(20.0);
  renderer->SetMaximumViewSize(200);
  renderer->Update();
  const Color liverBlend = Blend(Grey(kLiverHU), torchseg::LabelTable::LiverTumour().GetColor(1), 0.4);
  for (const auto & view : renderer->GetViews())
  {
    EXPECT_EQ(view.width, 200u);
    EXPECT_EQ(view.height, 200u);
    EXPECT_DOUBLE_EQ(view.pixelSpacing, 0.1);
    // The focus (the liver's centroid) is at the view's centre, inside the liver.
    int column, row;
    ASSERT_TRUE(view.WorldToPicture(renderer->GetUsedFocusPoint(), column, row));
    EXPECT_NEAR(column - view.x, 99.5, 0.6);
    EXPECT_NEAR(row - view.y, 99.5, 0.6);
    EXPECT_EQ(renderer->GetPicture().GetPixel(column, row), liverBlend) << view.name;
  }
}

TEST(SlicePicture, LabelsOnAnotherGridAreSampledInWorldSpace)
{
  // The CT is oblique; the labels lie on an axis-aligned 1 mm grid: label 1 where the world point falls inside the
  // CT's liver block.
  const Phantom phantom = MakePhantom(Orientation::Oblique);
  auto labels = torchseg::testing::MakeImage<LabelImageType>({ 60, 60, 60 }, { 1.0, 1.0, 1.0 }, { -30.0, -25.0, 15.0 });
  const itk::ImageRegion<3> liver({ { 8, 9, 3 } }, { { 14, 16, 8 } });
  for (itk::ImageRegionIteratorWithIndex<LabelImageType> it(labels, labels->GetLargestPossibleRegion()); !it.IsAtEnd();
       ++it)
  {
    itk::Point<double, 3> p;
    labels->TransformIndexToPhysicalPoint(it.GetIndex(), p);
    itk::Index<3> index;
    it.Set(phantom.ct->TransformPhysicalPointToIndex(p, index) && liver.IsInside(index) ? 1 : 0);
  }
  auto renderer = SlicePictureRenderer::New();
  renderer->SetCTImage(phantom.ct);
  renderer->SetLabelImage(labels);
  renderer->SetPixelSpacing(0.4);
  renderer->Update();
  const Color liverBlend = Blend(Grey(kLiverHU), torchseg::LabelTable::LiverTumour().GetColor(1), 0.4);
  std::size_t inside = 0, agree = 0;
  for (const auto & view : renderer->GetViews())
  {
    for (unsigned int j = 0; j < view.height; j += 2)
    {
      for (unsigned int i = 0; i < view.width; i += 2)
      {
        // Pixels deep inside the CT's liver block (at least 1.5 voxels from its faces) must show the liver fill.
        itk::ContinuousIndex<double, 3> c;
        if (!phantom.ct->TransformPhysicalPointToContinuousIndex(view.PixelToWorld(i, j), c))
        {
          continue;
        }
        bool deep = true;
        for (unsigned int d = 0; d < 3; ++d)
        {
          deep = deep && c[d] >= liver.GetIndex(d) + 1.5 && c[d] <= liver.GetIndex(d) + liver.GetSize(d) - 2.5;
        }
        if (deep)
        {
          ++inside;
          agree += renderer->GetPicture().GetPixel(view.x + i, view.y + j) == liverBlend;
        }
      }
    }
  }
  EXPECT_GT(inside, 200u);
  EXPECT_EQ(agree, inside);
}

TEST(SlicePicture, PNGRoundTripAndErrors)
{
  const Phantom phantom = MakePhantom(Orientation::Identity);
  auto          renderer = SlicePictureRenderer::New();
  renderer->SetCTImage(phantom.ct);
  renderer->SetLabelImage(phantom.labels);
  const auto path = torchseg::testing::OutputPath("slices.png");
  EXPECT_THROW(renderer->WritePNG(path.string()), itk::ExceptionObject); // nothing drawn yet
  renderer->Update();
  renderer->WritePNG(path.string());
  const auto read = torchseg::RGBCanvas::ReadPNG(path.string());
  ASSERT_EQ(read.GetWidth(), renderer->GetPicture().GetWidth());
  ASSERT_EQ(read.GetHeight(), renderer->GetPicture().GetHeight());
  EXPECT_EQ(read.GetPixel(read.GetWidth() / 3, read.GetHeight() / 2),
            renderer->GetPicture().GetPixel(read.GetWidth() / 3, read.GetHeight() / 2));
  EXPECT_EQ(std::memcmp(read.GetBufferPointer(),
                        renderer->GetPicture().GetBufferPointer(),
                        std::size_t(read.GetWidth()) * read.GetHeight() * 3),
            0);

  const auto jpeg = torchseg::testing::OutputPath("slices.jpg");
  EXPECT_THROW(renderer->WritePNG(jpeg.string()), itk::ExceptionObject);
  EXPECT_FALSE(std::filesystem::exists(jpeg));
  EXPECT_THROW(renderer->WritePNG("/nonexistent-directory/x.png"), itk::ExceptionObject);

  renderer->SetMode(SlicePictureRenderer::Mode::Compare); // no reference image
  EXPECT_THROW(renderer->Update(), itk::ExceptionObject);
  renderer->SetMode(SlicePictureRenderer::Mode::Overlay);
  renderer->SetWindow(0.0);
  EXPECT_THROW(renderer->Update(), itk::ExceptionObject);
}
