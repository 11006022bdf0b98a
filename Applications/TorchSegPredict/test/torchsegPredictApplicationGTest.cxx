// TorchSegPredict run as a program: outputs on the input grid with the labels a known TorchScript model gives,
// DICOM input, Slicer return parameters, post-processing flags, the dense CRF, lists of cases in shards, the newer
// architectures by name, and every bad input (one stderr line, non-zero exit, no output left behind).
#include "torchsegDICOMSegmentation.h"
#include "torchsegDenseCRFMeanField.h"
#include "torchsegImageIO.h"
#include "torchsegModel.h"
#include "torchsegModuleDescription.h"
#include "torchsegTestingSupport.h"

#include "itkImageAlgorithm.h"
#include "itkImageRegionConstIterator.h"
#include "itkImageRegionIteratorWithIndex.h"

#include <nlohmann/json.hpp>
#include <torch/cuda.h>
#include <torch/script.h>

#include "gtest/gtest.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using torchseg::testing::Quote;
using torchseg::testing::ReadText;
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

/** A TorchScript model (2D, 3 classes): the class whose centre (0, 0.5, 1) is nearest to the CT windowed from
 * [-1000, 1000] to [0, 1], i.e. below -500 HU background, up to 500 HU "liver", above "tumour". */
fs::path
NearestCentreModel(const json & postProcessing = json(), const std::string & name = "model.ts")
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
  json withPost = metadata;
  if (!postProcessing.is_null())
  {
    withPost["torchseg"]["postProcessing"] = postProcessing;
  }
  const auto                path = OutputPath(name);
  torch::jit::ExtraFilesMap extra{ { "metadata.json", withPost.dump() } };
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
  const std::string text = ReadText(dir / "return.txt");
  EXPECT_NE(text.find("classVolumes = liver=" + std::string(liver) + ",tumour=" + tumour), std::string::npos) << text;
  EXPECT_TRUE(std::regex_search(text, std::regex("elapsedSeconds = [0-9]+\\.[0-9]{3}"))) << text;

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

TEST(TorchSegPredict, AppliesThePostProcessingTheModelRecommendsUnlessTold)
{
  const auto dir = OutputPath("model-postprocessing");
  fs::create_directories(dir);
  const auto model = NearestCentreModel(json{ { "keepLargestOrganComponent", true } }, "recommending.ts");
  const auto ct = TwoBlockCT();
  torchseg::WriteImageFile(ct.GetPointer(), (dir / "ct.nii.gz").string());
  auto run = [&](const std::string & flags, const std::string & name, std::string & output) {
    EXPECT_EQ(RunCommand(Predict() + " --model " + Quote(model) + " " + flags + " " + Quote(dir / "ct.nii.gz") + " " +
                           Quote(dir / name),
                         &output),
              0)
      << output;
    return torchseg::ReadLabelImage((dir / name).string());
  };
  std::string output;
  // By default the small block (8 voxels of "liver" apart from the large one) is removed, as the model recommends.
  auto labels = run("", "default.nii.gz", output);
  EXPECT_EQ(labels->GetPixel({ { 18, 15, 2 } }), 0);
  EXPECT_EQ(labels->GetPixel({ { 3, 3, 1 } }), 1);
  EXPECT_EQ(labels->GetPixel({ { 6, 6, 2 } }), 2);
  // (2 of its voxels: the block shrinks in the model's 1.2 mm grid, and the labels come from its probabilities.)
  EXPECT_NE(output.find("post-processing (with the model's recommendation): largest organ component kept (2 voxels of "
                        "1 other component(s) removed)\n"),
            std::string::npos)
    << output;
  // --noModelPostProcessing keeps it; the flags alone still apply.
  labels = run("--noModelPostProcessing", "raw.nii.gz", output);
  EXPECT_EQ(labels->GetPixel({ { 18, 15, 2 } }), 1);
  EXPECT_EQ(output.find("post-processing"), std::string::npos) << output;
  labels = run("--noModelPostProcessing --largestComponent", "flag.nii.gz", output);
  EXPECT_EQ(labels->GetPixel({ { 18, 15, 2 } }), 0);
  EXPECT_NE(output.find("post-processing: largest organ component kept"), std::string::npos) << output;
  // A recommendation that names a class the model lacks is refused when the model is loaded.
  const auto bad = NearestCentreModel(json{ { "organLabel", 3 } }, "bad-recommendation.ts");
  ExpectFailure("--model " + Quote(bad) + " " + Quote(dir / "ct.nii.gz") + " " + Quote(dir / "bad.nii.gz"),
                1,
                "postProcessing organLabel 3");
  EXPECT_FALSE(fs::exists(dir / "bad.nii.gz"));
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

namespace
{

/** A 2D TorchScript model with soft probabilities (2 classes): foreground logit 8 (x - 0.5) for the CT windowed from
 * [-1000, 1000] to [0, 1], so 150 HU is foreground with probability 0.65, -150 HU with 0.35. */
fs::path
SoftThresholdModel()
{
  torch::jit::Module module("SoftThreshold");
  module.define(R"(
    def forward(self, x):
        return torch.cat([torch.zeros_like(x), 8.0 * (x - 0.5)], 1)
  )");
  const json metadata{
    { "network_data_format",
      { { "inputs", { { "image", { { "num_channels", 1 }, { "spatial_shape", { "*", "*" } } } } } },
        { "outputs",
          { { "pred",
              { { "num_channels", 2 }, { "channel_def", { { "0", "background" }, { "1", "organ" } } } } } } } } },
    { "torchseg",
      { { "normalization", { { "method", "window" }, { "clipLow", -1000.0 }, { "clipHigh", 1000.0 } } },
        { "targetSpacing", { 0.0, 0.0, 0.0 } },
        { "orientation", "LPS" },
        { "axisOrder", "zyx" } } }
  };
  const auto                path = OutputPath("soft.ts");
  torch::jit::ExtraFilesMap extra{ { "metadata.json", metadata.dump() } };
  module.save(path.string(), extra);
  return path;
}

/** A 40 x 40 x 10 CT at 1 x 1 x 2 mm: a ball of radius 9 mm at +150 HU in -150 HU, Gaussian noise of 100 HU (the soft
 * model then gets about 7 % of the voxels wrong); \a truth receives the ball. */
torchseg::CTImageType::Pointer
NoisyBallCT(std::vector<uint8_t> & truth)
{
  auto         image = torchseg::testing::MakeImage<torchseg::CTImageType>({ { 40, 40, 10 } }, { 1.0, 1.0, 2.0 });
  std::mt19937 random(29);
  std::normal_distribution<double> noise(0.0, 100.0);
  truth.clear();
  for (itk::ImageRegionIteratorWithIndex<torchseg::CTImageType> it(image, image->GetLargestPossibleRegion());
       !it.IsAtEnd();
       ++it)
  {
    const auto   i = it.GetIndex();
    const double r = std::sqrt(std::pow(i[0] - 19.5, 2) + std::pow(i[1] - 19.5, 2) + std::pow(2.0 * (i[2] - 4.5), 2));
    truth.push_back(r <= 9.0 ? 1 : 0);
    it.Set(static_cast<float>((r <= 9.0 ? 150.0 : -150.0) + noise(random)));
  }
  return image;
}

std::size_t
CountErrors(const torchseg::LabelImageType * labels, const std::vector<uint8_t> & truth)
{
  std::size_t  errors = 0;
  const auto * l = labels->GetBufferPointer();
  for (std::size_t i = 0; i < truth.size(); ++i)
  {
    errors += l[i] != truth[i];
  }
  return errors;
}

itk::VectorImage<float, 3>::Pointer
ReadProbabilities(const fs::path & path)
{
  auto reader = itk::ImageFileReader<itk::VectorImage<float, 3>>::New();
  reader->SetFileName(path.string());
  reader->Update();
  return reader->GetOutput();
}

} // namespace

TEST(TorchSegPredict, CrfCleansANoisyPredictionAndRefinesTheProbabilities)
{
  const auto           dir = OutputPath("crf");
  std::vector<uint8_t> truth;
  fs::create_directories(dir);
  torchseg::WriteImageFile(NoisyBallCT(truth).GetPointer(), (dir / "ct.nii.gz").string());
  const std::string common = Predict() + " --model " + Quote(SoftThresholdModel()) + " --numberOfThreads 2 ";

  std::string output;
  ASSERT_EQ(RunCommand(common + "--probabilities " + Quote(dir / "p.nrrd") + " " + Quote(dir / "ct.nii.gz") + " " +
                         Quote(dir / "plain.nii.gz"),
                       &output),
            0)
    << output;
  // The CRF with an intensity sigma at the noise level and a spatial reach of 3 mm; iterations and weights given
  // explicitly too (their defaults), so that every flag reaches the filter.
  ASSERT_EQ(RunCommand(common +
                         "--crf --crfIterations 5 --crfAppearanceWeight 4 --crfAppearanceSpatialSigma 3 "
                         "--crfAppearanceIntensitySigma 150 --crfSmoothnessWeight 3 --crfSmoothnessSigma 1 "
                         "--crfNormalization symmetric --returnparameterfile " +
                         Quote(dir / "return.txt") + " --probabilities " + Quote(dir / "pcrf.nrrd") + " " +
                         Quote(dir / "ct.nii.gz") + " " + Quote(dir / "crf.nii.gz"),
                       &output),
            0)
    << output;
  ExpectOnly(dir, { "ct.nii.gz", "plain.nii.gz", "p.nrrd", "crf.nii.gz", "pcrf.nrrd", "return.txt" });

  const auto plain = torchseg::ReadLabelImage((dir / "plain.nii.gz").string());
  const auto refined = torchseg::ReadLabelImage((dir / "crf.nii.gz").string());
  ExpectSameGeometry(refined, plain);
  const std::size_t errorsPlain = CountErrors(plain, truth);
  const std::size_t errorsCRF = CountErrors(refined, truth);
  std::cout << "wrong voxels of " << truth.size() << ": network " << errorsPlain << ", with --crf " << errorsCRF
            << std::endl;
  EXPECT_GT(errorsPlain, truth.size() / 20);
  EXPECT_LT(errorsCRF * 5, errorsPlain);

  // --probabilities holds the refined probabilities: they sum to 1, their argmax is the written labels, and they are
  // more decided than the network's.
  const auto   p = ReadProbabilities(dir / "p.nrrd");
  const auto   q = ReadProbabilities(dir / "pcrf.nrrd");
  const float *pp = p->GetBufferPointer(), *qq = q->GetBufferPointer();
  ASSERT_EQ(q->GetNumberOfComponentsPerPixel(), 2u);
  double decidedPlain = 0.0, decidedCRF = 0.0;
  for (std::size_t i = 0; i < truth.size(); ++i)
  {
    EXPECT_NEAR(qq[2 * i] + qq[2 * i + 1], 1.0, 1.0e-5);
    EXPECT_EQ(qq[2 * i + 1] > qq[2 * i] ? 1 : 0, refined->GetBufferPointer()[i]) << i;
    decidedPlain += std::abs(pp[2 * i + 1] - 0.5);
    decidedCRF += std::abs(qq[2 * i + 1] - 0.5);
  }
  EXPECT_GT(decidedCRF, 1.5 * decidedPlain);
}

TEST(TorchSegPredict, CrfFlagsDefaultToTheLibrarysParametersAndBadValuesAreRefused)
{
  // The XML is the command line's source of truth; its defaults must be DenseCRFParameters()'.
  std::string xml;
  ASSERT_EQ(RunCommand(Predict() + " --xml", &xml), 0);
  const auto                         description = torchseg::cli::ModuleDescription::Parse(xml);
  const torchseg::DenseCRFParameters defaults;
  auto                               number = [&](const std::string & name) {
    const auto * p = description.FindByName(name);
    EXPECT_NE(p, nullptr) << name;
    return p ? std::stod(p->defaultValue) : -1.0;
  };
  EXPECT_EQ(number("crfIterations"), defaults.NumberOfIterations);
  EXPECT_EQ(number("crfAppearanceWeight"), defaults.AppearanceWeight);
  EXPECT_EQ(number("crfAppearanceSpatialSigma"), defaults.AppearanceSpatialSigma);
  EXPECT_EQ(number("crfAppearanceIntensitySigma"), defaults.AppearanceIntensitySigma);
  EXPECT_EQ(number("crfSmoothnessWeight"), defaults.SmoothnessWeight);
  EXPECT_EQ(number("crfSmoothnessSigma"), defaults.SmoothnessSigma);
  EXPECT_EQ(description.FindByName("crfNormalization")->defaultValue, "symmetric");
  EXPECT_EQ(defaults.Normalization, torchseg::DenseCRFNormalization::Symmetric);

  const auto dir = OutputPath("crfbad");
  fs::create_directories(dir);
  torchseg::WriteImageFile(TwoBlockCT().GetPointer(), (dir / "ct.nii.gz").string());
  const std::string files = " " + Quote(dir / "ct.nii.gz") + " " + Quote(dir / "labels.nii.gz");
  const std::string crf = "--model " + Quote(NearestCentreModel()) + " --crf ";
  ExpectFailure(crf + "--crfAppearanceSpatialSigma 0" + files, 2, "--crfAppearanceSpatialSigma 0 is not");
  ExpectFailure(crf + "--crfSmoothnessSigma -1" + files, 2, "--crfSmoothnessSigma -1 is not");
  ExpectFailure(crf + "--crfAppearanceIntensitySigma nan" + files, 2, "--crfAppearanceIntensitySigma nan is not");
  ExpectFailure(crf + "--crfAppearanceWeight -0.5" + files, 2, "--crfAppearanceWeight -0.5 is not");
  ExpectFailure(crf + "--crfIterations -1" + files, 2, "--crfIterations -1 is not in [0, 1000]");
  ExpectFailure(crf + "--crfIterations 2.5" + files, 2, "--crfIterations: '2.5' is not an integer");
  ExpectFailure(crf + "--crfNormalization sometimes" + files, 2, "--crfNormalization: 'sometimes' is not one of");
  ExpectOnly(dir, { "ct.nii.gz" });
}

namespace
{

/** Case k of the batch tests: the two-block CT with its first k slices at 900 HU (tumour for the nearest-centre
 * model), so that each output tells which input it came from. */
void
WriteBatchCase(const fs::path & path, int k)
{
  auto ct = TwoBlockCT();
  for (itk::ImageRegionIteratorWithIndex<torchseg::CTImageType> it(ct, ct->GetLargestPossibleRegion()); !it.IsAtEnd();
       ++it)
  {
    if (it.GetIndex()[2] < k)
    {
      it.Set(900.0f);
    }
  }
  torchseg::WriteImageFile(ct.GetPointer(), path.string());
}

void
WriteText(const fs::path & path, const std::string & text)
{
  std::ofstream file(path);
  file << text;
}

} // namespace

TEST(TorchSegPredict, InputListShardsCoverEveryCaseOnceAndRerunsSkipFinishedOnes)
{
  const auto dir = OutputPath("batch");
  fs::create_directories(dir / "cases");
  fs::create_directories(dir / "out");
  for (int k = 0; k < 4; ++k)
  {
    WriteBatchCase(dir / "cases" / ("case" + std::to_string(k) + ".nii.gz"), k);
  }
  // Relative paths (to the list's directory), a comment, a blank line, a quoted field.
  WriteText(dir / "list.csv",
            "input,output\n# four cases\ncases/case0.nii.gz,out/case0.nii.gz\n\ncases/case1.nii.gz, out/case1.nii.gz\n"
            "\"cases/case2.nii.gz\",out/case2.nii.gz\ncases/case3.nii.gz,out/case3.nii.gz\n");
  const std::string run = Predict() + " --model " + Quote(NearestCentreModel()) + " --inputList " +
                          Quote(dir / "list.csv") + " --returnparameterfile " + Quote(dir / "return.txt") + " ";
  auto outputOf = [&](int k) { return dir / "out" / ("case" + std::to_string(k) + ".nii.gz"); };

  // Shard 0 of 2 takes the cases 0 and 2 (round-robin over the list), shard 1 the others.
  std::string output;
  ASSERT_EQ(RunCommand(run + "--shard 0/2", &output), 0) << output;
  EXPECT_TRUE(fs::exists(outputOf(0)));
  EXPECT_FALSE(fs::exists(outputOf(1)));
  EXPECT_TRUE(fs::exists(outputOf(2)));
  EXPECT_FALSE(fs::exists(outputOf(3)));
  EXPECT_NE(ReadText(dir / "return.txt").find("casesWritten = 2"), std::string::npos) << ReadText(dir / "return.txt");
  EXPECT_NE(output.find("2 cases, 2 written, 0 skipped (existing), 0 failed"), std::string::npos) << output;
  ASSERT_EQ(RunCommand(run + "--shard 1/2", &output), 0) << output;
  ExpectOnly(dir / "out", { "case0.nii.gz", "case1.nii.gz", "case2.nii.gz", "case3.nii.gz" });
  for (int k = 0; k < 4; ++k)
  {
    // Every output comes from its own input: k slices of tumour (24 x 20 voxels each) above the blocks' tumour.
    const auto labels = torchseg::ReadLabelImage(outputOf(k).string());
    EXPECT_GE(CountLabel(labels, 2), 480u * k) << k;
    EXPECT_LT(CountLabel(labels, 2), 480u * k + 64) << k;
  }

  // A rerun skips what exists (the files are not touched); --overwrite writes again.
  const auto before = fs::last_write_time(outputOf(0));
  ASSERT_EQ(RunCommand(run + "--shard 0/2", &output), 0) << output;
  EXPECT_EQ(fs::last_write_time(outputOf(0)), before);
  EXPECT_NE(output.find(outputOf(2).string() + " exists, skipped"), std::string::npos) << output;
  const std::string skipped = ReadText(dir / "return.txt");
  EXPECT_NE(skipped.find("casesWritten = 0"), std::string::npos) << skipped;
  EXPECT_NE(skipped.find("casesSkipped = 2"), std::string::npos) << skipped;
  EXPECT_NE(skipped.find("casesFailed = 0"), std::string::npos) << skipped;
  fs::last_write_time(outputOf(0), before - std::chrono::hours(1));
  ASSERT_EQ(RunCommand(run + "--shard 0/2 --overwrite", &output), 0) << output;
  EXPECT_GT(fs::last_write_time(outputOf(0)), before - std::chrono::hours(1));
  EXPECT_NE(ReadText(dir / "return.txt").find("casesWritten = 2"), std::string::npos);

  // Without --shard: the whole list (here all skipped).
  ASSERT_EQ(RunCommand(run, &output), 0) << output;
  EXPECT_NE(output.find("4 cases, 0 written, 4 skipped (existing), 0 failed"), std::string::npos) << output;
  ExpectOnly(dir / "out", { "case0.nii.gz", "case1.nii.gz", "case2.nii.gz", "case3.nii.gz" });
}

TEST(TorchSegPredict, InputListCaseThatFailsIsReportedWhileTheOthersAreWritten)
{
  const auto dir = OutputPath("batchfail");
  fs::create_directories(dir / "out");
  WriteBatchCase(dir / "a.nii.gz", 1);
  WriteBatchCase(dir / "c.nii.gz", 2);
  WriteText(dir / "list.csv",
            "input,output\na.nii.gz,out/a.nii.gz\nmissing.nii.gz,out/b.nii.gz\nc.nii.gz,out/c.nii.gz\n");
  std::string errors;
  const int   code = RunCommand("{ " + Predict() + " --model " + Quote(NearestCentreModel()) + " --inputList " +
                                Quote(dir / "list.csv") + " 2>&1 >/dev/null; }",
                              &errors);
  EXPECT_EQ(code, 1) << errors;
  // One line for the case, naming the file and the list line, and the run's last line.
  EXPECT_NE(
    errors.find("[2/3] " + (dir / "missing.nii.gz").string() + " (" + (dir / "list.csv").string() + " line 3): "),
    std::string::npos)
    << errors;
  EXPECT_NE(errors.find("1 of 3 cases failed"), std::string::npos) << errors;
  EXPECT_EQ(std::count(errors.begin(), errors.end(), '\n'), 2) << errors;
  ExpectOnly(dir / "out", { "a.nii.gz", "c.nii.gz" });
}

TEST(TorchSegPredict, InputListMistakesAreRefusedBeforeAnyWork)
{
  const auto dir = OutputPath("batchbad");
  fs::create_directories(dir / "out");
  WriteBatchCase(dir / "a.nii.gz", 0);
  WriteText(dir / "list.csv", "input,output\na.nii.gz,out/a.nii.gz\na.nii.gz,out/b.nii.gz\n");
  // The model does not exist: a refusal before any work never gets to it.
  const std::string list = "--model " + Quote(dir / "missing.pt") + " --inputList " + Quote(dir / "list.csv");
  for (const std::string shard : { "3/2", "2/2", "-1/2", "1/0", "abc", "1/", "/2", "1/2/3" })
  {
    ExpectFailure(list + " --shard " + shard, 2, "--shard " + shard + ": ");
  }
  ExpectFailure(list + " " + Quote(dir / "a.nii.gz") + " " + Quote(dir / "x.nii.gz"), 2, "not both");
  ExpectFailure(list + " --probabilities " + Quote(dir / "p.nrrd"), 2, "--probabilities names one file");
  ExpectFailure(list + " --dicomSegmentation " + Quote(dir / "s.dcm"), 2, "--dicomSegmentation names one file");
  ExpectFailure(
    "--shard 0/2 " + Quote(dir / "a.nii.gz") + " " + Quote(dir / "x.nii.gz"), 2, "--shard needs --inputList");
  ExpectFailure(
    "--overwrite " + Quote(dir / "a.nii.gz") + " " + Quote(dir / "x.nii.gz"), 2, "--overwrite needs --inputList");

  WriteText(dir / "header.csv", "image,label\na.nii.gz,out/a.nii.gz\n");
  ExpectFailure("--inputList " + Quote(dir / "header.csv"), 1, "the header must be \"input,output\"");
  WriteText(dir / "twice.csv", "input,output\na.nii.gz,out/a.nii.gz\na.nii.gz, out/a.nii.gz\n");
  ExpectFailure("--inputList " + Quote(dir / "twice.csv"), 1, "line 3: the output");
  WriteText(dir / "fields.csv", "input,output\na.nii.gz\n");
  ExpectFailure("--inputList " + Quote(dir / "fields.csv"), 1, "line 2: expected two fields");
  WriteText(dir / "empty.csv", "input,output\n# nothing yet\n");
  ExpectFailure("--inputList " + Quote(dir / "empty.csv"), 1, "holds no case");
  WriteText(dir / "type.csv", "input,output\na.nii.gz,out/a.png\n");
  ExpectFailure("--inputList " + Quote(dir / "type.csv"), 2, "line 2: output");
  ExpectFailure("--inputList " + Quote(dir / "none.csv"), 1, (dir / "none.csv").string());
  ExpectOnly(dir / "out", {});
}

TEST(TorchSegPredict, PredictsWithTheNewerArchitecturesByName)
{
  // Each network of the second round, tiny (resnet18 or vgg11 at a few channels), untrained and saved through the
  // model module as TorchSegTrain saves one: TorchSegPredict runs it by the name its file records.
  using nlohmann::json;
  const json                                      resnet{ { "backbone", "resnet18" }, { "width", 4 } };
  const std::vector<std::pair<std::string, json>> architectures{
    { "deeplabv1", json{ { "backbone", "vgg11" }, { "width", 2 } } },
    { "deeplabv2", resnet },
    { "ducHdc", resnet },
    { "denseaspp", resnet },
    { "gcn", json{ { "backbone", "resnet18" }, { "width", 4 }, { "kernelSize", 7 } } },
    { "refinenet", resnet },
  };
  const auto dir = OutputPath("architectures");
  fs::create_directories(dir);
  torchseg::WriteImageFile(TwoBlockCT().GetPointer(), (dir / "ct.nii.gz").string());
  const auto input = torchseg::ReadCTImage((dir / "ct.nii.gz").string());
  for (const auto & [name, options] : architectures)
  {
    SCOPED_TRACE(name);
    torch::manual_seed(1);
    torchseg::NetworkOptions network;
    network.architecture = name;
    network.spatialDimensions = 2;
    network.inputChannels = 1;
    network.numberOfClasses = 3;
    network.options = options;
    torchseg::ModelMetadata metadata;
    metadata.network = network;
    metadata.classes = torchseg::LabelTable::LiverTumour();
    metadata.normalization = { "window", -1000.0, 1000.0, 0.0, 1.0 };
    const torchseg::Model model(torchseg::CreateNetwork(network), metadata);
    const auto            path = dir / (name + ".pt");
    model.Save(path.string());

    std::string output;
    const auto  labelsPath = dir / (name + "_labels.nii.gz");
    ASSERT_EQ(RunCommand(Predict() + " --model " + Quote(path) + " --numberOfThreads 2 " + Quote(dir / "ct.nii.gz") +
                           " " + Quote(labelsPath),
                         &output),
              0)
      << output;
    const auto labels = torchseg::ReadLabelImage(labelsPath.string());
    ExpectSameGeometry(labels, input);
    EXPECT_EQ(CountLabel(labels, 0) + CountLabel(labels, 1) + CountLabel(labels, 2),
              labels->GetLargestPossibleRegion().GetNumberOfPixels());
  }
}
