// Offscreen OpenGL rendering: these tests need an X display (ctest runs under xvfb-run -a in CI; label "display").
#include "torchsegLabelSurfaceExtractor.h"
#include "torchsegSurfaceSceneRenderer.h"
#include "torchsegTestingSupport.h"

#include "itkImageRegionIteratorWithIndex.h"

#include "gtest/gtest.h"

#include <cstdlib>

namespace
{

using torchseg::LabelImageType;
using torchseg::SurfaceSceneRenderer;

const torchseg::RGBCanvas::Color kRed{ { 220, 30, 30 } };
const torchseg::RGBCanvas::Color kBlue{ { 30, 70, 230 } };

torchseg::LabelTable
RedBlueTable()
{
  torchseg::LabelInfo red;
  red.value = 1;
  red.name = "red ball";
  red.color = kRed;
  torchseg::LabelInfo blue;
  blue.value = 2;
  blue.name = "blue block";
  blue.color = kBlue;
  return torchseg::LabelTable({ red, blue });
}

/** A red ball on the patient's right (-x in LPS) and anterior (-y), a blue block on the left and posterior. */
std::vector<torchseg::LabelSurface>
MakeSurfaces(torchseg::testing::Orientation orientation)
{
  auto labels = torchseg::testing::MakeImage<LabelImageType>({ 40, 40, 24 }, { 1.0, 1.0, 2.0 }, {}, orientation);
  itk::Point<double, 3> centre;
  labels->TransformContinuousIndexToPhysicalPoint(
    itk::ContinuousIndex<double, 3>(std::array<double, 3>{ { 19.5, 19.5, 11.5 } }.data()), centre);
  for (itk::ImageRegionIteratorWithIndex<LabelImageType> it(labels, labels->GetLargestPossibleRegion()); !it.IsAtEnd();
       ++it)
  {
    itk::Point<double, 3> p;
    labels->TransformIndexToPhysicalPoint(it.GetIndex(), p);
    const itk::Vector<double, 3> v = p - centre;
    itk::Vector<double, 3>       ball;
    ball[0] = v[0] + 9.0;
    ball[1] = v[1] + 6.0;
    ball[2] = v[2];
    if (ball.GetNorm() < 7.0)
    {
      it.Set(1);
    }
    else if (std::abs(v[0] - 10.0) < 5.0 && std::abs(v[1] - 8.0) < 5.0 && std::abs(v[2]) < 12.0)
    {
      it.Set(2);
    }
  }
  auto extractor = torchseg::LabelSurfaceExtractor::New();
  extractor->SetInput(labels);
  extractor->SetLabelTable(RedBlueTable());
  extractor->Update();
  return extractor->GetSurfaces();
}

/** Mean column and count of pixels whose hue is that of \a color (the dominant channel clearly above the others). */
std::pair<double, std::size_t>
FindHue(const torchseg::RGBCanvas & picture, unsigned int channel)
{
  double      sum = 0.0;
  std::size_t count = 0;
  for (unsigned int y = 0; y < picture.GetHeight(); ++y)
  {
    for (unsigned int x = 0; x < picture.GetWidth(); ++x)
    {
      const auto p = picture.GetPixel(x, y);
      const int  c = p[channel];
      const int  o1 = p[(channel + 1) % 3];
      const int  o2 = p[(channel + 2) % 3];
      if (c > 60 && c > 2 * o1 && c > 2 * o2)
      {
        sum += x;
        ++count;
      }
    }
  }
  return { count ? sum / count : -1.0, count };
}

void
RequireDisplay()
{
  std::string why;
  ASSERT_TRUE(torchseg::CanRenderOffscreen(&why)) << why << " (exclude these tests with ctest -LE display)";
}

/** Restores DISPLAY when a test changed it. */
class DisplayGuard
{
public:
  DisplayGuard()
  {
    const char * d = std::getenv("DISPLAY");
    m_Had = d != nullptr;
    m_Value = d ? d : "";
  }
  ~DisplayGuard()
  {
    if (m_Had)
    {
      setenv("DISPLAY", m_Value.c_str(), 1);
    }
    else
    {
      unsetenv("DISPLAY");
    }
  }

private:
  bool        m_Had = false;
  std::string m_Value;
};

class SurfaceScene : public ::testing::TestWithParam<torchseg::testing::Orientation>
{};

} // namespace

TEST_P(SurfaceScene, CameraPresetsFollowTheRadiologicalConvention)
{
  RequireDisplay();
  auto renderer = SurfaceSceneRenderer::New();
  renderer->SetSurfaces(MakeSurfaces(GetParam()));
  ASSERT_EQ(renderer->GetSurfaces().size(), 2u);
  EXPECT_EQ(renderer->GetSurfaceOpacity(0), 1.0); // neither contains the other
  EXPECT_EQ(renderer->GetSurfaceOpacity(1), 1.0);
  renderer->SetWidth(240);
  renderer->SetHeight(200);
  renderer->SetShowLegend(false);

  struct Expectation
  {
    SurfaceSceneRenderer::Camera camera;
    bool                         redOnTheLeft;
  };
  // Anterior: the patient faces the viewer, so the patient's right (red) is on the picture's left. Posterior: the
  // reverse. From the patient's left side anterior (red) is on the left; from the right side, on the right.
  for (const Expectation e : { Expectation{ SurfaceSceneRenderer::Camera::Anterior, true },
                               Expectation{ SurfaceSceneRenderer::Camera::Posterior, false },
                               Expectation{ SurfaceSceneRenderer::Camera::Left, true },
                               Expectation{ SurfaceSceneRenderer::Camera::Right, false } })
  {
    SCOPED_TRACE(SurfaceSceneRenderer::CameraName(e.camera));
    renderer->SetCamera(e.camera);
    renderer->Update();
    const auto & picture = renderer->GetPicture();
    ASSERT_EQ(picture.GetWidth(), 240u);
    ASSERT_EQ(picture.GetHeight(), 200u);
    const auto [redColumn, red] = FindHue(picture, 0);
    const auto [blueColumn, blue] = FindHue(picture, 2);
    EXPECT_GT(red, 200u);
    EXPECT_GT(blue, 200u);
    EXPECT_EQ(redColumn < blueColumn, e.redOnTheLeft) << "red at column " << redColumn << ", blue at " << blueColumn;
  }
}

INSTANTIATE_TEST_SUITE_P(Orientations, SurfaceScene,
                         ::testing::Values(torchseg::testing::Orientation::Identity,
                                           torchseg::testing::Orientation::Flipped),
                         [](const ::testing::TestParamInfo<torchseg::testing::Orientation> & info) {
                           return std::string(info.param == torchseg::testing::Orientation::Identity ? "Identity"
                                                                                                     : "Flipped");
                         });

TEST(SurfaceScene, PictureIsNotBlankAndShowsTheLabelColoursAndLegend)
{
  RequireDisplay();
  // A CT for context: soft tissue in a cylinder, a bony rod behind the labels.
  auto ct = torchseg::testing::MakeImage<torchseg::CTImageType>({ 40, 40, 24 }, { 1.0, 1.0, 2.0 });
  for (itk::ImageRegionIteratorWithIndex<torchseg::CTImageType> it(ct, ct->GetLargestPossibleRegion()); !it.IsAtEnd();
       ++it)
  {
    const double x = it.GetIndex()[0] - 19.5;
    const double y = it.GetIndex()[1] - 19.5;
    it.Set(std::hypot(x, y - 14.0) < 3.0 ? 700.0f : std::hypot(x, y) < 18.0 ? 40.0f : -1000.0f);
  }
  auto renderer = SurfaceSceneRenderer::New();
  renderer->SetSurfaces(MakeSurfaces(torchseg::testing::Orientation::Identity));
  renderer->SetCTImage(ct);
  renderer->SetWidth(320);
  renderer->SetHeight(320);
  renderer->SetTitle("test scene");
  renderer->Update();
  const auto path = torchseg::testing::OutputPath("scene.png");
  renderer->WritePNG(path.string());
  const auto picture = torchseg::RGBCanvas::ReadPNG(path.string());
  ASSERT_EQ(picture.GetWidth(), 320u);

  // Not blank: many distinct grey levels, and the labels' hues.
  std::array<std::size_t, 256> histogram{};
  for (unsigned int y = 0; y < picture.GetHeight(); ++y)
  {
    for (unsigned int x = 0; x < picture.GetWidth(); ++x)
    {
      ++histogram[picture.GetPixel(x, y)[1]];
    }
  }
  EXPECT_GT(std::count_if(histogram.begin(), histogram.end(), [](std::size_t n) { return n > 0; }), 60);
  EXPECT_GT(FindHue(picture, 0).second, 300u);
  EXPECT_GT(FindHue(picture, 2).second, 300u);
  // The legend swatches carry the exact label colours.
  std::size_t exactRed = 0, exactBlue = 0;
  for (unsigned int y = 0; y < 120; ++y)
  {
    for (unsigned int x = 0; x < 60; ++x)
    {
      exactRed += picture.GetPixel(x, y) == kRed;
      exactBlue += picture.GetPixel(x, y) == kBlue;
    }
  }
  EXPECT_GE(exactRed, 100u);
  EXPECT_GE(exactBlue, 100u);
}

TEST(SurfaceScene, AnOrganAroundItsTumourIsTranslucent)
{
  torchseg::LabelSurface organ, tumour;
  auto                   labels = torchseg::testing::MakeImage<LabelImageType>({ 30, 30, 30 }, { 1.0, 1.0, 1.0 });
  for (itk::ImageRegionIteratorWithIndex<LabelImageType> it(labels, labels->GetLargestPossibleRegion()); !it.IsAtEnd();
       ++it)
  {
    const auto & i = it.GetIndex();
    const bool   inOrgan = i[0] > 3 && i[0] < 26 && i[1] > 3 && i[1] < 26 && i[2] > 3 && i[2] < 26;
    const bool   inTumour = i[0] > 10 && i[0] < 16 && i[1] > 10 && i[1] < 16 && i[2] > 10 && i[2] < 16;
    it.Set(inTumour ? 2 : inOrgan ? 1 : 0);
  }
  auto extractor = torchseg::LabelSurfaceExtractor::New();
  extractor->SetInput(labels);
  extractor->Update();
  auto renderer = SurfaceSceneRenderer::New();
  renderer->SetSurfaces(extractor->GetSurfaces());
  EXPECT_DOUBLE_EQ(renderer->GetSurfaceOpacity(0), renderer->GetContainerOpacity());
  EXPECT_DOUBLE_EQ(renderer->GetSurfaceOpacity(1), 1.0);
}

TEST(SurfaceScene, FailsWithOneClearMessageWithoutADisplay)
{
  DisplayGuard guard;
  unsetenv("DISPLAY");
  std::string why;
  EXPECT_FALSE(torchseg::CanRenderOffscreen(&why));
  EXPECT_NE(why.find("DISPLAY"), std::string::npos) << why;

  setenv("DISPLAY", ":4321", 1); // no server there
  EXPECT_FALSE(torchseg::CanRenderOffscreen(&why));
  EXPECT_NE(why.find(":4321"), std::string::npos) << why;

  auto renderer = SurfaceSceneRenderer::New();
  renderer->SetSurfaces(MakeSurfaces(torchseg::testing::Orientation::Identity));
  try
  {
    renderer->Update();
    FAIL() << "rendered without a display";
  }
  catch (const itk::ExceptionObject & e)
  {
    const std::string message = e.GetDescription();
    EXPECT_NE(message.find("Cannot render the 3D picture"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  EXPECT_TRUE(renderer->GetPicture().IsEmpty());
}

TEST(SurfaceScene, PresetNamesRoundTrip)
{
  for (const auto c : { SurfaceSceneRenderer::Camera::Anterior,
                        SurfaceSceneRenderer::Camera::Posterior,
                        SurfaceSceneRenderer::Camera::Left,
                        SurfaceSceneRenderer::Camera::Right })
  {
    EXPECT_EQ(SurfaceSceneRenderer::CameraFromName(SurfaceSceneRenderer::CameraName(c)), c);
  }
  EXPECT_THROW(SurfaceSceneRenderer::CameraFromName("oblique"), itk::ExceptionObject);
  EXPECT_EQ(SurfaceSceneRenderer::ContextFromName("both"), SurfaceSceneRenderer::Context::BodyAndBone);
  EXPECT_THROW(SurfaceSceneRenderer::ContextFromName("skin"), itk::ExceptionObject);
  auto renderer = SurfaceSceneRenderer::New();
  EXPECT_THROW(renderer->Update(), itk::ExceptionObject); // nothing to render
}
