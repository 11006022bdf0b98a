// TorchSegRender's surface mode through its executable: needs an X display (ctest runs under xvfb-run -a in CI).
#include "torchsegLabelSurfaceExtractor.h"
#include "torchsegRGBCanvas.h"
#include "torchsegRenderApplicationTestSupport.h"

#include <vtkMassProperties.h>
#include <vtkXMLPolyDataReader.h>

#include "gtest/gtest.h"

using namespace rendertest;

TEST(TorchSegRenderSurface, DrawsTheSurfacesAndWritesTheMeshes)
{
  const Case  data = WriteCase("case");
  const auto  output = torchseg::testing::OutputPath("surface.png");
  const auto  surfaces = torchseg::testing::OutputPath("surfaces");
  const auto  returns = torchseg::testing::OutputPath("returns.txt");
  std::string errors;
  ASSERT_EQ(RunForErrors(Render() + " --mode surface --image " + Quote(data.ct) + " --labels " + Quote(data.labels) +
                           " --output " + Quote(output) + " --surfaces " + Quote(surfaces) +
                           " --width 400 --height 300 --camera left --returnparameterfile " + Quote(returns),
                         errors),
            0)
    << errors;
  const auto picture = torchseg::RGBCanvas::ReadPNG(output.string());
  ASSERT_EQ(picture.GetWidth(), 400u);
  ASSERT_EQ(picture.GetHeight(), 300u);
  // The liver (translucent, it contains the tumour) and the opaque yellow tumour show; the legend's swatches carry
  // the exact label colours.
  const auto  table = torchseg::LabelTable::LiverTumour();
  std::size_t liverSwatch = 0, tumourSwatch = 0, yellowish = 0;
  for (unsigned int y = 0; y < picture.GetHeight(); ++y)
  {
    for (unsigned int x = 0; x < picture.GetWidth(); ++x)
    {
      const auto p = picture.GetPixel(x, y);
      liverSwatch += p == table.GetColor(1);
      tumourSwatch += p == table.GetColor(2);
      yellowish += (p[0] > 90 && p[1] > 90 && p[2] < 0.6 * p[1]) ? 1 : 0;
    }
  }
  EXPECT_GE(liverSwatch, 100u);
  EXPECT_GE(tumourSwatch, 100u);
  EXPECT_GT(yellowish, 300u);

  for (const char * name : { "1_liver.vtp", "1_liver.stl", "2_tumour.vtp", "2_tumour.stl" })
  {
    EXPECT_TRUE(fs::exists(surfaces / name)) << name;
  }
  // The reported volumes are the labels' voxel volumes.
  const std::string volumes = ReturnValue(returns, "volumes");
  const double      voxelMl = 0.8 * 0.8 * 2.5 / 1000.0;
  EXPECT_NEAR(VolumeOf(volumes, "liver"), data.liverVoxels * voxelMl, 0.051) << volumes;
  EXPECT_NEAR(VolumeOf(volumes, "tumour"), data.tumourVoxels * voxelMl, 0.051) << volumes;
  // The liver's mesh is its outer boundary (the tumour's cavity filled): it encloses liver and tumour.
  auto liver = vtkSmartPointer<vtkXMLPolyDataReader>::New();
  liver->SetFileName((surfaces / "1_liver.vtp").string().c_str());
  liver->Update();
  auto mass = vtkSmartPointer<vtkMassProperties>::New();
  mass->SetInputData(liver->GetOutput());
  mass->Update();
  const double solid = (data.liverVoxels + data.tumourVoxels) * voxelMl * 1000.0;
  EXPECT_NEAR(mass->GetVolume(), solid, 0.05 * solid);
  auto reader = vtkSmartPointer<vtkXMLPolyDataReader>::New();
  reader->SetFileName((surfaces / "2_tumour.vtp").string().c_str());
  reader->Update();
  EXPECT_GT(reader->GetOutput()->GetNumberOfPolys(), 50);
}
