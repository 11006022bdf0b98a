// TorchSegRender through its executable, in the modes that need no display: slices, compare and curves; and the
// failures (bad arguments, unreadable inputs, no display for surface mode), each with one stderr line and no output.
#include "torchsegRGBCanvas.h"
#include "torchsegRenderApplicationTestSupport.h"
#include "torchsegSlicePictureRenderer.h"
#include "torchsegTrainingCurvePlotter.h"

#include "gtest/gtest.h"

#include <cmath>

using namespace rendertest;
using Color = torchseg::RGBCanvas::Color;

namespace
{

Color
Blend(double hu, const Color & color, double alpha)
{
  const double grey = std::clamp(std::round(255.0 * (hu + 160.0) / 400.0), 0.0, 255.0);
  Color        c;
  for (unsigned int k = 0; k < 3; ++k)
  {
    c[k] = static_cast<uint8_t>(std::lround((1.0 - alpha) * grey + alpha * color[k]));
  }
  return c;
}

std::size_t
CountColor(const torchseg::RGBCanvas & picture, const Color & color)
{
  std::size_t count = 0;
  for (unsigned int y = 0; y < picture.GetHeight(); ++y)
  {
    for (unsigned int x = 0; x < picture.GetWidth(); ++x)
    {
      count += picture.GetPixel(x, y) == color;
    }
  }
  return count;
}

} // namespace

TEST(TorchSegRender, SlicesShowTheLabelsAndReportTheirVolumes)
{
  const Case  data = WriteCase("case");
  const auto  output = torchseg::testing::OutputPath("slices.png");
  const auto  returns = torchseg::testing::OutputPath("returns.txt");
  std::string errors;
  ASSERT_EQ(RunForErrors(Render() + " --image " + Quote(data.ct) + " --labels " + Quote(data.labels) + " --output " +
                           Quote(output) + " --title 'test case' --returnparameterfile " + Quote(returns),
                         errors),
            0)
    << errors;
  const auto picture = torchseg::RGBCanvas::ReadPNG(output.string());
  const auto table = torchseg::LabelTable::LiverTumour();
  // Liver and tumour fills: the windowed CT (90 HU) blended with each label's colour at the default opacity 0.4.
  EXPECT_GT(CountColor(picture, Blend(kLiverHU, table.GetColor(1), 0.4)), 500u);
  EXPECT_GT(CountColor(picture, Blend(kLiverHU, table.GetColor(2), 0.4)), 20u);
  EXPECT_GT(CountColor(picture, Blend(kBodyHU, Color{ { 0, 0, 0 } }, 0.0)), 1000u); // plain body grey

  const std::string volumes = ReturnValue(returns, "volumes");
  const double      voxelMl = 0.8 * 0.8 * 2.5 / 1000.0;
  EXPECT_NEAR(VolumeOf(volumes, "liver"), data.liverVoxels * voxelMl, 0.051) << volumes;
  EXPECT_NEAR(VolumeOf(volumes, "tumour"), data.tumourVoxels * voxelMl, 0.051) << volumes;

  // Label names, window and an explicit focus point are honoured; opacity 1 paints the labels' own colours.
  ASSERT_EQ(RunForErrors(Render() + " --image " + Quote(data.ct) + " --labels " + Quote(data.labels) + " --output " +
                           Quote(output) + " --labelNames organ,lesion --opacity 1 --window 800 --level 0" +
                           " --focusLabel 2 --returnparameterfile " + Quote(returns),
                         errors),
            0)
    << errors;
  EXPECT_GT(VolumeOf(ReturnValue(returns, "volumes"), "organ"), 0.0);
  EXPECT_GT(VolumeOf(ReturnValue(returns, "volumes"), "lesion"), 0.0);
  const auto opaque = torchseg::RGBCanvas::ReadPNG(output.string());
  EXPECT_GT(CountColor(opaque, table.GetColor(1)), 500u);
  EXPECT_GT(CountColor(opaque, table.GetColor(2)), 50u); // through the tumour's centre
}

TEST(TorchSegRender, CompareColoursFalsePositivesAndNegatives)
{
  const Case  reference = WriteCase("reference");
  const Case  prediction = WriteCase("prediction", 5, false); // shifted by 5 voxels
  const auto  output = torchseg::testing::OutputPath("compare.png");
  std::string errors;
  ASSERT_EQ(RunForErrors(Render() + " --mode compare --image " + Quote(reference.ct) + " --labels " +
                           Quote(prediction.labels) + " --reference " + Quote(reference.labels) + " --output " +
                           Quote(output) + " --opacity 0.5",
                         errors),
            0)
    << errors;
  const auto picture = torchseg::RGBCanvas::ReadPNG(output.string());
  using A = torchseg::SlicePictureRenderer::Agreement;
  // False negatives lie in the reference liver (90 HU), false positives beside it in the body (40 HU); agreement
  // in the liver.
  EXPECT_GT(CountColor(picture, Blend(kLiverHU, torchseg::SlicePictureRenderer::GetAgreementColor(A::Agreement), 0.5)),
            500u);
  EXPECT_GT(
    CountColor(picture, Blend(kLiverHU, torchseg::SlicePictureRenderer::GetAgreementColor(A::FalseNegative), 0.5)),
    40u);
  EXPECT_GT(
    CountColor(picture, Blend(kBodyHU, torchseg::SlicePictureRenderer::GetAgreementColor(A::FalsePositive), 0.5)), 40u);
  // Nowhere a false positive over the reference liver, nor a false negative outside it.
  EXPECT_EQ(
    CountColor(picture, Blend(kLiverHU, torchseg::SlicePictureRenderer::GetAgreementColor(A::FalsePositive), 0.5)), 0u);
  EXPECT_EQ(
    CountColor(picture, Blend(kBodyHU, torchseg::SlicePictureRenderer::GetAgreementColor(A::FalseNegative), 0.5)), 0u);
}

TEST(TorchSegRender, CurvesPlotTheTrainingLog)
{
  const auto log = torchseg::testing::OutputPath("log.csv");
  {
    std::ofstream out(log);
    out << "epoch,trainLoss,learningRate,validationMeanDice,validationDice_liver,validationDice_tumour,epochSeconds,"
           "samplesPerSecond,dataWaitFraction\n";
    for (int e = 1; e <= 8; ++e)
    {
      out << e << "," << 1.0 / e << ",0.001," << 0.1 * e << "," << 0.1 * e + 0.05 << "," << 0.1 * e - 0.05
          << ",10,5,0.1\n";
    }
  }
  const auto  output = torchseg::testing::OutputPath("curves.png");
  std::string errors;
  ASSERT_EQ(RunForErrors(Render() + " --mode curves --log " + Quote(log) + " --output " + Quote(output) +
                           " --width 900 --height 400",
                         errors),
            0)
    << errors;
  const auto picture = torchseg::RGBCanvas::ReadPNG(output.string());
  EXPECT_EQ(picture.GetWidth(), 900u);
  EXPECT_EQ(picture.GetHeight(), 400u);
  // The same plot drawn by the library locates the data points.
  auto plotter = torchseg::TrainingCurvePlotter::New();
  plotter->SetLog(torchseg::ReadTrainingLog(log.string()));
  plotter->SetWidth(900);
  plotter->SetHeight(400);
  plotter->Update();
  for (int e = 1; e <= 8; ++e)
  {
    const auto p = plotter->GetLossAxes().DataToPixel(e, 1.0 / e);
    EXPECT_EQ(picture.GetPixel(std::lround(p[0]), std::lround(p[1])), torchseg::TrainingCurvePlotter::GetLossColor())
      << "epoch " << e;
  }
}

TEST(TorchSegRender, BadInputsFailWithOneLineAndNoOutput)
{
  const Case  data = WriteCase("case");
  const auto  output = torchseg::testing::OutputPath("out.png");
  const auto  missing = torchseg::testing::OutputPath("missing.nii.gz");
  std::string errors;
  struct Failure
  {
    std::string arguments;
    std::string mentions; // the file or value the message must name
    int         code;
  };
  const auto badLog = torchseg::testing::OutputPath("bad.csv");
  std::ofstream(badLog) << "epoch,trainLoss\n1,0.5\n2,oops\n";
  const std::vector<Failure> failures = {
    { "--image " + Quote(missing) + " --labels " + Quote(data.labels) + " --output " + Quote(output),
      missing.string(),
      1 },
    { "--image " + Quote(data.ct) + " --labels " + Quote(missing) + " --output " + Quote(output), missing.string(), 1 },
    { "--image " + Quote(data.ct) + " --labels " + Quote(data.labels) + " --output " +
        Quote(output.parent_path() / "picture.jpg"),
      "picture.jpg",
      2 },
    { "--image " + Quote(data.ct) + " --labels " + Quote(data.labels) + " --output /nonexistent-dir/x.png",
      "/nonexistent-dir/x.png",
      1 },
    { "--mode compare --image " + Quote(data.ct) + " --labels " + Quote(data.labels) + " --output " + Quote(output),
      "--reference",
      2 },
    { "--labels " + Quote(data.labels) + " --output " + Quote(output), "--image", 2 },
    { "--image " + Quote(data.ct) + " --output " + Quote(output) + " --opacity 2", "--opacity", 2 },
    { "--image " + Quote(data.ct) + " --output " + Quote(output) + " --window -5", "--window", 2 },
    { "--image " + Quote(data.ct) + " --output " + Quote(output) + " --focusPoint 1,2", "--focusPoint", 2 },
    { "--mode curves --log " + Quote(badLog) + " --output " + Quote(output), "line 3", 1 },
    { "--mode curves --output " + Quote(output), "log", 2 },
    { "--image " + Quote(data.labels.parent_path()) + " --output " + Quote(output), "", 1 }, // not a DICOM series
  };
  for (const auto & f : failures)
  {
    SCOPED_TRACE(f.arguments);
    const int code = RunForErrors(Render() + " " + f.arguments, errors);
    EXPECT_EQ(code, f.code) << errors;
    const auto lines = Lines(errors);
    ASSERT_EQ(lines.size(), 1u) << errors;
    EXPECT_EQ(lines[0].rfind("TorchSegRender: error: ", 0), 0u) << lines[0];
    EXPECT_NE(lines[0].find(f.mentions), std::string::npos) << lines[0];
    EXPECT_FALSE(fs::exists(output));
    EXPECT_FALSE(fs::exists(output.parent_path() / "picture.jpg"));
  }
}

TEST(TorchSegRender, SurfaceModeWithoutADisplayFailsCleanlyAndWritesNothing)
{
  const Case  data = WriteCase("case");
  const auto  output = torchseg::testing::OutputPath("surface.png");
  const auto  surfaces = torchseg::testing::OutputPath("surfaces");
  std::string errors;
  const int   code =
    RunForErrors("env -u DISPLAY " + Render() + " --mode surface --image " + Quote(data.ct) + " --labels " +
                   Quote(data.labels) + " --output " + Quote(output) + " --surfaces " + Quote(surfaces),
                 errors);
  EXPECT_NE(code, 0);
  const auto lines = Lines(errors);
  ASSERT_EQ(lines.size(), 1u) << errors;
  EXPECT_NE(lines[0].find("DISPLAY"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("xvfb-run"), std::string::npos) << lines[0];
  EXPECT_FALSE(fs::exists(output));
  EXPECT_FALSE(fs::exists(surfaces));
}
