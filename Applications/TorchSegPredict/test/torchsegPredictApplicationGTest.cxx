// TorchSegPredict run as a program: outputs on the input grid with the labels a known TorchScript model gives,
// DICOM input, Slicer return parameters, post-processing flags, and every bad input (one stderr line, non-zero exit,
// no output left behind).
#include "torchsegDICOMSegmentation.h"
#include "torchsegImageIO.h"
#include "torchsegTestingSupport.h"

#include "itkImageAlgorithm.h"
#include "itkImageRegionConstIterator.h"
#include "itkImageRegionIteratorWithIndex.h"

#include <nlohmann/json.hpp>
#include <torch/cuda.h>
#include <torch/script.h>

#include "gtest/gtest.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

namespace fs = std::filesystem;
using nlohmann::json;
using torchseg::testing::OutputPath;
using torchseg::testing::RunCommand;

namespace
{

std::string
Predict()
{
  return torchseg::testing::ApplicationPath("TorchSegPredict").string();
}

std::string
Quote(const fs::path & path)
{
  return "'" + path.string() + "'";
}

/** A TorchScript model (2D, 3 classes): the class whose centre (0, 0.5, 1) is nearest to the CT windowed from
 * [-1000, 1000] to [0, 1], i.e. below -500 HU background, up to 500 HU "liver", above "tumour". */
fs::path
NearestCentreModel()
{
  torch::jit::Module module("NearestCentre");
  module.define(R"(
    def forward(self, x):
        return torch.cat([-100.0 * x * x, -100.0 * (x - 0.5) * (x - 0.5), -100.0 * (x - 1.0) * (x - 1.0)], 1)
  )");
  const json metadata{
    { "network_data_format",
      { { "inputs", { { "image", { { "num_channels", 1 }, { "spatial_shape", { "*", "*" } } } } } },
        { "outputs",
          { { "pred",
              { { "num_channels", 3 },
                { "channel_def", { { "0", "background" }, { "1", "liver" }, { "2", "tumour" } } } } } } } } },
    { "torchseg",
      { { "normalization", { { "method", "window" }, { "clipLow", -1000.0 }, { "clipHigh", 1000.0 } } },
        { "targetSpacing", { 1.2, 1.2, 0.0 } },
        { "orientation", "LPS" },
        { "axisOrder", "zyx" } } }
  };
  const auto                path = OutputPath("model.ts");
  torch::jit::ExtraFilesMap extra{ { "metadata.json", metadata.dump() } };
  module.save(path.string(), extra);
  return path;
}

/** A flipped 24 x 20 x 6 CT at 0.8 x 0.8 x 3 mm: a 10 x 10 x 4 block of 100 HU ("liver") holding a 4 x 4 x 2 core of
 * 900 HU ("tumour"), a second 2 x 2 x 2 block of 100 HU away from it, air elsewhere. */
torchseg::CTImageType::Pointer
TwoBlockCT()
{
  auto image = torchseg::testing::MakeImage<torchseg::CTImageType>(
    { { 24, 20, 6 } }, { 0.8, 0.8, 3.0 }, { 40.0, -20.0, 100.0 }, torchseg::testing::Orientation::Flipped);
  image->FillBuffer(-1000.0f);
  for (itk::ImageRegionIteratorWithIndex<torchseg::CTImageType> it(image, image->GetLargestPossibleRegion());
       !it.IsAtEnd();
       ++it)
  {
    const auto i = it.GetIndex();
    if (i[0] >= 2 && i[0] < 12 && i[1] >= 2 && i[1] < 12 && i[2] >= 1 && i[2] < 5)
    {
      it.Set(i[0] >= 5 && i[0] < 9 && i[1] >= 5 && i[1] < 9 && i[2] >= 2 && i[2] < 4 ? 900.0f : 100.0f);
    }
    if (i[0] >= 18 && i[0] < 20 && i[1] >= 15 && i[1] < 17 && i[2] >= 2 && i[2] < 4)
    {
      it.Set(100.0f);
    }
  }
  return image;
}

std::size_t
CountLabel(const torchseg::LabelImageType * labels, uint8_t value)
{
  std::size_t n = 0;
  for (itk::ImageRegionConstIterator<torchseg::LabelImageType> it(labels, labels->GetLargestPossibleRegion());
       !it.IsAtEnd();
       ++it)
  {
    n += it.Get() == value ? 1 : 0;
  }
  return n;
}

void
ExpectSameGeometry(const itk::ImageBase<3> * a, const itk::ImageBase<3> * b)
{
  EXPECT_EQ(a->GetLargestPossibleRegion(), b->GetLargestPossibleRegion());
  EXPECT_EQ(a->GetOrigin(), b->GetOrigin());
  EXPECT_EQ(a->GetSpacing(), b->GetSpacing());
  EXPECT_EQ(a->GetDirection(), b->GetDirection());
}

/** Nothing in \a directory but the files named in \a expected (no temporaries, no partial outputs). */
void
ExpectOnly(const fs::path & directory, const std::set<std::string> & expected)
{
  for (const auto & entry : fs::directory_iterator(directory))
  {
    EXPECT_TRUE(expected.count(entry.path().filename().string())) << "left behind: " << entry.path();
  }
}

/** Runs \a arguments and expects a failure with \a code and one stderr line containing \a text. */
void
ExpectFailure(const std::string & arguments, int code, const std::string & text)
{
  std::string output; // stderr only: stdout carries Slicer's progress tags when it is not a terminal
  EXPECT_EQ(RunCommand("{ " + Predict() + " " + arguments + " 2>&1 >/dev/null; }", &output), code) << output;
  EXPECT_NE(output.find(text), std::string::npos) << output;
  EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << output;
}

} // namespace

TEST(TorchSegPredict, SegmentsOnTheInputGridWithTheModelsClassesAndReportsVolumes)
{
  const auto dir = OutputPath("run");
  fs::create_directories(dir);
  const auto model = NearestCentreModel();
  const auto ct = TwoBlockCT();
  torchseg::WriteImageFile(ct.GetPointer(), (dir / "ct.nii.gz").string());

  std::string output;
  const auto  command = Predict() + " --model " + Quote(model) + " --numberOfThreads 2 --returnparameterfile " +
                       Quote(dir / "return.txt") + " --probabilities " + Quote(dir / "probabilities.nrrd") + " " +
                       Quote(dir / "ct.nii.gz") + " " + Quote(dir / "labels.nii.gz");
  ASSERT_EQ(RunCommand(command, &output), 0) << output;
  ExpectOnly(dir, { "ct.nii.gz", "labels.nii.gz", "probabilities.nrrd", "return.txt" });

  const auto input = torchseg::ReadCTImage((dir / "ct.nii.gz").string());
  const auto labels = torchseg::ReadLabelImage((dir / "labels.nii.gz").string());
  ExpectSameGeometry(labels, input);
  // Away from the block borders (one voxel of resampling blur), the labels are known.
  EXPECT_EQ(labels->GetPixel({ { 3, 3, 1 } }), 1);
  EXPECT_EQ(labels->GetPixel({ { 6, 6, 2 } }), 2);
  EXPECT_EQ(labels->GetPixel({ { 7, 7, 3 } }), 2);
  EXPECT_EQ(labels->GetPixel({ { 22, 2, 0 } }), 0);
  EXPECT_EQ(labels->GetPixel({ { 15, 15, 5 } }), 0);

  // The summary and the return parameters give each class's volume from the voxel counts.
  const double voxelMl = 0.8 * 0.8 * 3.0 / 1000.0;
  char         liver[32], tumour[32];
  std::snprintf(liver, sizeof(liver), "%.2f", CountLabel(labels, 1) * voxelMl);
  std::snprintf(tumour, sizeof(tumour), "%.2f", CountLabel(labels, 2) * voxelMl);
  EXPECT_GT(CountLabel(labels, 1), 200u);
  EXPECT_GT(CountLabel(labels, 2), 16u);
  EXPECT_NE(output.find("liver " + std::string(liver) + " mL, tumour " + std::string(tumour) + " mL"),
            std::string::npos)
    << output;
  std::ifstream     file(dir / "return.txt");
  std::stringstream text;
  text << file.rdbuf();
  EXPECT_NE(text.str().find("classVolumes = liver=" + std::string(liver) + ",tumour=" + tumour), std::string::npos)
    << text.str();
  EXPECT_TRUE(std::regex_search(text.str(), std::regex("elapsedSeconds = [0-9]+\\.[0-9]{3}"))) << text.str();

  // The probabilities: one component per class, on the input grid, summing to 1.
  using VectorImage = itk::VectorImage<float, 3>;
  auto reader = itk::ImageFileReader<VectorImage>::New();
  reader->SetFileName((dir / "probabilities.nrrd").string());
  reader->Update();
  const VectorImage * p = reader->GetOutput();
  ExpectSameGeometry(p, input);
  ASSERT_EQ(p->GetNumberOfComponentsPerPixel(), 3u);
  const auto v = p->GetPixel({ { 7, 7, 3 } });
  EXPECT_NEAR(v[0] + v[1] + v[2], 1.0, 1e-5);
  EXPECT_GT(v[2], 0.5);
}

TEST(TorchSegPredict, DicomSeriesInSlicerSegmentationOutAndPostProcessing)
{
  const auto dir = OutputPath("dicom");
  fs::create_directories(dir);
  const auto model = NearestCentreModel();
  auto       ct = TwoBlockCT();
  auto       stored = torchseg::CTStorageImageType::New();
  stored->CopyInformation(ct);
  stored->SetRegions(ct->GetLargestPossibleRegion());
  stored->Allocate();
  itk::ImageAlgorithm::Copy(
    ct.GetPointer(), stored.GetPointer(), ct->GetLargestPossibleRegion(), ct->GetLargestPossibleRegion());
  torchseg::WriteDICOMCTSeries(stored, (dir / "series").string(), torchseg::DICOMWriteOptions());

  std::string output;
  ASSERT_EQ(RunCommand(Predict() + " --model " + Quote(model) + " --largestComponent --dicomSegmentation " +
                         Quote(dir / "seg.dcm") + " " + Quote(dir / "series") + " " + Quote(dir / "labels.seg.nrrd"),
                       &output),
            0)
    << output;
  const auto input = torchseg::ReadCTImage((dir / "series").string());
  const auto labels = torchseg::ReadLabelImage((dir / "labels.seg.nrrd").string());
  ExpectSameGeometry(labels, input);
  // The series may order its slices differently from the image it was written from: compare at physical points.
  auto at = [&](long x, long y, long z) {
    torchseg::CTImageType::PointType p;
    ct->TransformIndexToPhysicalPoint({ { x, y, z } }, p);
    torchseg::LabelImageType::IndexType index;
    EXPECT_TRUE(labels->TransformPhysicalPointToIndex(p, index));
    return static_cast<int>(labels->GetPixel(index));
  };
  // The small block is gone; the large one (with its tumour) stays.
  EXPECT_EQ(at(18, 15, 2), 0);
  EXPECT_EQ(at(3, 3, 1), 1);
  EXPECT_EQ(at(6, 6, 2), 2);
  std::ifstream file(dir / "labels.seg.nrrd", std::ios::binary);
  std::string   header(4096, '\0');
  file.read(header.data(), static_cast<std::streamsize>(header.size()));
  EXPECT_NE(header.find(":=liver"), std::string::npos);
  EXPECT_NE(header.find(":=tumour"), std::string::npos);

  // The DICOM Segmentation holds the same labels on the series' grid, with the model's class names.
  const auto seg = torchseg::ReadDICOMSegmentation((dir / "seg.dcm").string(), input.GetPointer());
  ExpectSameGeometry(seg.labels, input);
  std::size_t differences = 0;
  for (itk::ImageRegionConstIterator<torchseg::LabelImageType> it(labels, labels->GetLargestPossibleRegion());
       !it.IsAtEnd();
       ++it)
  {
    differences += it.Get() != seg.labels->GetPixel(it.GetIndex()) ? 1 : 0;
  }
  EXPECT_EQ(differences, 0u);
  EXPECT_EQ(seg.table.GetName(2), "tumour");

  // It needs a DICOM input.
  ExpectFailure("--model " + Quote(model) + " --dicomSegmentation " + Quote(dir / "x.dcm") + " " +
                  Quote(dir / "labels.seg.nrrd") + " " + Quote(dir / "other.nii.gz"),
                2,
                "--dicomSegmentation needs INPUT to be a DICOM series directory");
}

TEST(TorchSegPredict, BadInputsFailWithOneLineAndLeaveNothing)
{
  const auto dir = OutputPath("bad");
  fs::create_directories(dir);
  const auto model = NearestCentreModel();
  torchseg::WriteImageFile(TwoBlockCT().GetPointer(), (dir / "ct.nii.gz").string());
  const std::string ct = Quote(dir / "ct.nii.gz");
  const std::string out = Quote(dir / "labels.nii.gz");
  const std::string withModel = "--model " + Quote(model) + " ";

  ExpectFailure(withModel + Quote(dir / "missing.nii.gz") + " " + out, 1, (dir / "missing.nii.gz").string());
  ExpectFailure("--model " + Quote(dir / "missing.pt") + " " + ct + " " + out, 1, (dir / "missing.pt").string());
  {
    std::ofstream corrupt(dir / "corrupt.pt", std::ios::binary);
    corrupt << "PK\x03\x04 this is not a zip archive";
  }
  ExpectFailure(
    "--model " + Quote(dir / "corrupt.pt") + " " + ct + " " + out, 1, (dir / "corrupt.pt").string() + " is corrupt");
  ExpectFailure("--model " + Quote(dir / "ct.nii.gz") + " " + ct + " " + out, 1, "is not a model file");

  auto slice = torchseg::testing::MakeImage<itk::Image<float, 2>>({ { 8, 8 } }, { 1.0, 1.0 });
  torchseg::WriteImageFile(slice.GetPointer(), (dir / "slice.nii.gz").string());
  ExpectFailure(withModel + Quote(dir / "slice.nii.gz") + " " + out, 1, (dir / "slice.nii.gz").string());

  ExpectFailure(withModel + ct + " " + Quote(dir / "labels.png"), 2, "unsupported file type \".png\"");
  ExpectFailure(withModel + "--probabilities " + Quote(dir / "p.seg.nrrd") + " " + ct + " " + out,
                2,
                "unsupported file type \".seg.nrrd\"");
  ExpectFailure(withModel + ct + " " + Quote(dir / "no" / "labels.nii.gz"), 1, (dir / "no").string());
  ExpectFailure(withModel + "--overlap 1.5 " + ct + " " + out, 2, "--overlap 1.5");
  ExpectFailure(withModel + "--device gpu " + ct + " " + out, 1, "Device \"gpu\"");
  if (!torch::cuda::is_available())
  {
    ExpectFailure(withModel + "--device cuda " + ct + " " + out, 1, "no usable CUDA GPU");
  }
  ExpectOnly(dir, { "ct.nii.gz", "corrupt.pt", "slice.nii.gz" });
}

TEST(TorchSegPredict, WithoutModelUsesTheShippedOneOrSaysItIsMissing)
{
  const auto dir = OutputPath("default");
  fs::create_directories(dir);
  torchseg::WriteImageFile(TwoBlockCT().GetPointer(), (dir / "ct.nii.gz").string());
  std::string output;
  const int code = RunCommand(Predict() + " " + Quote(dir / "ct.nii.gz") + " " + Quote(dir / "labels.nii.gz"), &output);
  if (fs::exists(fs::path(TORCHSEG_DATA_DIR) / "Models" / "torchseg-liver-default.pt"))
  {
    EXPECT_EQ(code, 0) << output;
    EXPECT_TRUE(fs::exists(dir / "labels.nii.gz"));
  }
  else
  {
    EXPECT_EQ(code, 1) << output;
    EXPECT_NE(output.find("The default model is missing"), std::string::npos) << output;
    EXPECT_NE(output.find("--model"), std::string::npos) << output;
    ExpectOnly(dir, { "ct.nii.gz" });
  }
}
