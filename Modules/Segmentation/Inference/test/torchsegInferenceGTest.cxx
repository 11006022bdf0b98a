// The segmentation filter with small TorchScript networks defined in the tests, whose outputs are known: exact labels,
// geometry on flipped, permuted, oblique and anisotropic grids, sliding-window stitching against one full pass,
// Gaussian weights, mirroring, slice context, streaming, progress, abort, devices and bad input.
#include "torchsegModel.h"
#include "torchsegSegmentationFilter.h"
#include "torchsegSlidingWindow.h"
#include "torchsegTensorBridge.h"
#include "torchsegTestingSupport.h"

#include "torchsegImageIO.h"

#include "itkBinaryThresholdImageFilter.h"
#include "itkCommand.h"
#include "itkConnectedComponentImageFilter.h"
#include "itkExtractImageFilter.h"
#include "itkImageFileReader.h"
#include "itkImageFileWriter.h"

#include <torch/cuda.h>
#include "itkImageRegionConstIterator.h"
#include "itkImageRegionIteratorWithIndex.h"

#include "gtest/gtest.h"

#include <cmath>
#include <filesystem>
#include <random>

namespace fs = std::filesystem;
using nlohmann::json;
using torchseg::testing::MakeImage;
using torchseg::testing::Orientation;
using torchseg::testing::OutputPath;

namespace
{

using CTImage = itk::Image<float, 3>;
using LabelImage = itk::Image<uint8_t, 3>;
using Filter = torchseg::SegmentationFilter<CTImage, LabelImage>;
using ModelPointer = std::shared_ptr<torchseg::Model>;

template <typename F>
std::string
ErrorOf(F && f)
{
  try
  {
    f();
  }
  catch (const itk::ExceptionObject & e)
  {
    return e.GetDescription();
  }
  return std::string();
}

/** Logits -100 (v - centre)^2 for centres 0, 0.5, 1 of the middle input channel: class = nearest centre. */
std::string
NearestCentreSource(int centreChannel)
{
  const std::string c = std::to_string(centreChannel);
  return "def forward(self, x):\n"
         "    c = x[:, " +
         c + ":" + std::to_string(centreChannel + 1) +
         "]\n"
         "    return torch.cat([-100.0 * c * c, -100.0 * (c - 0.5) * (c - 0.5), -100.0 * (c - 1.0) * (c - 1.0)], 1)\n";
}

/** Metadata (MONAI layout plus TorchSeg keys) of a test network: window [-1000, 1000] -> [0, 1], LPS, no resampling. */
json
Metadata(int dimensions, int classes, int sliceContext = 0)
{
  json channels = json::object();
  for (int c = 0; c < classes; ++c)
  {
    channels[std::to_string(c)] = c == 0 ? "background" : "class " + std::to_string(c);
  }
  json shape = dimensions == 2 ? json{ "*", "*" } : json{ "*", "*", "*" };
  json j{ { "network_data_format",
            { { "inputs", { { "image", { { "num_channels", 2 * sliceContext + 1 }, { "spatial_shape", shape } } } } },
              { "outputs", { { "pred", { { "num_channels", classes }, { "channel_def", channels } } } } } } },
          { "torchseg",
            { { "normalization", { { "method", "window" }, { "clipLow", -1000.0 }, { "clipHigh", 1000.0 } } },
              { "orientation", "LPS" },
              { "axisOrder", "zyx" },
              { "sliceContext", sliceContext } } } };
  if (dimensions == 3)
  {
    j["torchseg"]["patchSize"] = { 16, 16, 16 };
  }
  return j;
}

/** Saves a TorchScript module with \a source and \a parameters and loads it as a model. */
ModelPointer
ScriptModel(const std::string & name, const std::string & source, const json & metadata,
            const std::vector<std::pair<std::string, torch::Tensor>> & parameters = {})
{
  torch::jit::Module module(name);
  for (const auto & p : parameters)
  {
    module.register_parameter(p.first, p.second, false);
  }
  module.define(source);
  const auto                path = OutputPath(name + ".ts");
  torch::jit::ExtraFilesMap extra{ { "metadata.json", metadata.dump() } };
  module.save(path.string(), extra);
  return torchseg::LoadModel(path.string());
}

CTImage::Pointer
MakeCT(const CTImage::SizeType & size, const std::array<double, 3> & spacing, Orientation orientation)
{
  return MakeImage<CTImage>(size, spacing, { -12.0, 5.0, 30.0 }, orientation);
}

/** A direction whose index x runs along physical y and index y along physical -x (an axis permutation). */
CTImage::DirectionType
PermutedDirection()
{
  CTImage::DirectionType d;
  d.Fill(0.0);
  d(1, 0) = 1.0;
  d(0, 1) = -1.0;
  d(2, 2) = 1.0;
  return d;
}

Filter::Pointer
MakeFilter(const CTImage * image, ModelPointer model)
{
  auto filter = Filter::New();
  filter->SetInput(image);
  filter->SetModel(std::move(model));
  filter->SetNumberOfTorchThreads(2);
  return filter;
}

void
ExpectSameGeometry(const itk::ImageBase<3> * a, const itk::ImageBase<3> * b)
{
  EXPECT_EQ(a->GetLargestPossibleRegion(), b->GetLargestPossibleRegion());
  EXPECT_EQ(a->GetOrigin(), b->GetOrigin());
  EXPECT_EQ(a->GetSpacing(), b->GetSpacing());
  EXPECT_EQ(a->GetDirection(), b->GetDirection());
}

/** The probabilities output as a (z, y, x, classes) tensor. */
torch::Tensor
ProbabilitiesOf(Filter * filter)
{
  const auto *       p = filter->GetProbabilityOutput();
  const auto         size = p->GetLargestPossibleRegion().GetSize();
  const unsigned int k = p->GetNumberOfComponentsPerPixel();
  std::vector<float> values;
  values.reserve(p->GetLargestPossibleRegion().GetNumberOfPixels() * k);
  for (itk::ImageRegionConstIterator<Filter::ProbabilityImageType> it(p, p->GetLargestPossibleRegion()); !it.IsAtEnd();
       ++it)
  {
    const auto v = it.Get();
    for (unsigned int c = 0; c < k; ++c)
    {
      values.push_back(v[c]);
    }
  }
  return torch::tensor(values).reshape(
    { static_cast<int64_t>(size[2]), static_cast<int64_t>(size[1]), static_cast<int64_t>(size[0]), k });
}

/** The window normalisation of the test metadata. */
torch::Tensor
Normalised(const CTImage * image)
{
  return (torchseg::ImageToTensor(image).clamp(-1000.0, 1000.0) + 1000.0) / 2000.0;
}

int
NearestCentreClass(float hu)
{
  const double v = (std::clamp(static_cast<double>(hu), -1000.0, 1000.0) + 1000.0) / 2000.0;
  return v < 0.25 ? 0 : (v < 0.75 ? 1 : 2);
}

std::vector<std::pair<std::string, torch::Tensor>>
PointwiseParameters(int dimensions, int64_t hidden, int64_t classes, int64_t kernel = 1)
{
  torch::manual_seed(11);
  std::vector<int64_t> w1{ hidden, 1 }, w2{ classes, hidden };
  for (int d = 0; d < dimensions; ++d)
  {
    w1.push_back(kernel);
    w2.push_back(1);
  }
  return { { "w1", torch::randn(w1) }, { "b1", torch::randn({ hidden }) }, { "w2", torch::randn(w2) * 3 } };
}

} // namespace

// ---------------------------------------------------------------------------------------------------------------------

TEST(SlidingWindow, GaussianWeightsPeakAtTheCentreAreSymmetricAndHaveSigmaPatchOverEight)
{
  const torch::Tensor w = torchseg::GaussianWeights1D(17);
  const double        sigma = 17.0 / 8.0;
  EXPECT_FLOAT_EQ(w[8].item<float>(), 1.0f);
  for (int k = 1; k <= 8; ++k)
  {
    EXPECT_FLOAT_EQ(w[8 + k].item<float>(), w[8 - k].item<float>()) << k;
    EXPECT_NEAR(w[8 + k].item<float>(), std::exp(-k * k / (2.0 * sigma * sigma)), 1e-6) << k;
  }
  EXPECT_GT(w.min().item<float>(), 0.0f);

  const torch::Tensor even = torchseg::GaussianWeights1D(8); // centre 3.5, sigma 1
  EXPECT_FLOAT_EQ(even[3].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(even[4].item<float>(), 1.0f);
  EXPECT_NEAR(even[5].item<float>() / even[4].item<float>(), std::exp(-(1.5 * 1.5 - 0.5 * 0.5) / 2.0), 1e-6);

  const torch::Tensor map = torchseg::GaussianImportanceMap({ 9, 5, 7 });
  ASSERT_EQ(map.sizes(), (std::vector<int64_t>{ 9, 5, 7 }));
  EXPECT_FLOAT_EQ(map[4][2][3].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(map.max().item<float>(), 1.0f);
  EXPECT_TRUE(torch::allclose(map, torch::flip(map, { 0, 1, 2 })));
  const double s0 = 9.0 / 8.0, s2 = 7.0 / 8.0;
  EXPECT_NEAR(map[5][2][5].item<float>(), std::exp(-1.0 / (2 * s0 * s0) - 4.0 / (2 * s2 * s2)), 1e-6);
}

TEST(SlidingWindow, PositionsSpanTheImageEvenly)
{
  EXPECT_EQ(torchseg::SlidingWindowPositions(20, 20, 0.5), (std::vector<int64_t>{ 0 }));
  EXPECT_EQ(torchseg::SlidingWindowPositions(20, 8, 0.5), (std::vector<int64_t>{ 0, 4, 8, 12 }));
  EXPECT_EQ(torchseg::SlidingWindowPositions(20, 8, 0.0), (std::vector<int64_t>{ 0, 6, 12 }));
  const auto p = torchseg::SlidingWindowPositions(101, 16, 0.25);
  EXPECT_EQ(p.front(), 0);
  EXPECT_EQ(p.back(), 85);
  for (std::size_t i = 1; i < p.size(); ++i)
  {
    EXPECT_GT(p[i], p[i - 1]);
    EXPECT_LE(p[i] - p[i - 1], 12);
  }
  EXPECT_THROW(torchseg::SlidingWindowPositions(7, 8, 0.5), itk::ExceptionObject);
}

// ---------------------------------------------------------------------------------------------------------------------

class KnownOutput : public ::testing::TestWithParam<int>
{};

TEST_P(KnownOutput, ModelGivesExactLabelsOnEveryOrientation)
{
  const int  dimensions = GetParam();
  const auto model =
    ScriptModel("nearest" + std::to_string(dimensions), NearestCentreSource(0), Metadata(dimensions, 3));
  const Orientation orientations[] = {
    Orientation::Identity, Orientation::Flipped, Orientation::Mirrored, Orientation::Oblique
  };
  for (int o = 0; o < 5; ++o)
  {
    SCOPED_TRACE("orientation " + std::to_string(o));
    auto image = MakeCT({ { 23, 19, 7 } }, { 0.8, 0.7, 2.5 }, o < 4 ? orientations[o] : Orientation::Identity);
    if (o == 4)
    {
      image->SetDirection(PermutedDirection());
    }
    const float levels[3] = { -1000.0f, 0.0f, 1000.0f };
    for (itk::ImageRegionIteratorWithIndex<CTImage> it(image, image->GetLargestPossibleRegion()); !it.IsAtEnd(); ++it)
    {
      const auto i = it.GetIndex();
      it.Set(levels[(7 * i[0] + 3 * i[1] + 5 * i[2]) % 3] + static_cast<float>((i[0] * 31 + i[1] * 17) % 300 - 150));
    }
    auto filter = MakeFilter(image, model);
    filter->ComputeProbabilitiesOn();
    filter->Update();
    const LabelImage * labels = filter->GetOutput();
    ExpectSameGeometry(labels, image);
    std::size_t wrong = 0;
    for (itk::ImageRegionIteratorWithIndex<CTImage> it(image, image->GetLargestPossibleRegion()); !it.IsAtEnd(); ++it)
    {
      const auto i = it.GetIndex();
      wrong += labels->GetPixel(i) != (7 * i[0] + 3 * i[1] + 5 * i[2]) % 3 ? 1 : 0;
    }
    EXPECT_EQ(wrong, 0u);

    // Probabilities: the softmax of the known logits, voxel by voxel.
    const torch::Tensor v = Normalised(image);
    const torch::Tensor expected =
      torch::softmax(torch::stack({ -100 * v * v, -100 * (v - 0.5) * (v - 0.5), -100 * (v - 1) * (v - 1) }, -1), -1);
    EXPECT_TRUE(torch::allclose(ProbabilitiesOf(filter), expected, 1e-5, 1e-6));
  }
}

INSTANTIATE_TEST_SUITE_P(Inference, KnownOutput, ::testing::Values(2, 3));

// ---------------------------------------------------------------------------------------------------------------------

struct GeometryCase
{
  int         dimensions;
  Orientation orientation;
  bool        permuted;
};

std::string
GeometryName(const ::testing::TestParamInfo<GeometryCase> & info)
{
  std::string name = std::to_string(info.param.dimensions) + "D";
  if (info.param.permuted)
  {
    return name + "Permuted";
  }
  switch (info.param.orientation)
  {
    case Orientation::Identity:
      return name + "Identity";
    case Orientation::Flipped:
      return name + "Flipped";
    case Orientation::Mirrored:
      return name + "Mirrored";
    case Orientation::Oblique:
      return name + "Oblique";
  }
  return name;
}

class Geometry : public ::testing::TestWithParam<GeometryCase>
{};

TEST_P(Geometry, ResampledSegmentationOfASphereLandsOnTheInputGrid)
{
  const GeometryCase c = GetParam();
  json               metadata = Metadata(c.dimensions, 3);
  metadata["torchseg"]["targetSpacing"] = c.dimensions == 2 ? json{ 1.5, 1.2, 0.0 } : json{ 1.5, 1.2, 1.7 };
  metadata["torchseg"]["patchSize"] = c.dimensions == 2 ? json{ 0, 0 } : json{ 12, 12, 8 };
  const auto model = ScriptModel("sphere" + std::to_string(c.dimensions), NearestCentreSource(0), metadata);

  auto image = MakeCT({ { 40, 36, 17 } }, { 0.7, 0.9, 2.5 }, c.orientation);
  if (c.permuted)
  {
    image->SetDirection(PermutedDirection());
  }
  itk::ContinuousIndex<double, 3> centreIndex;
  centreIndex.Fill(0.0);
  centreIndex[0] = 15.5; // off-centre, so that a mirrored result would miss
  centreIndex[1] = 20.5;
  centreIndex[2] = 6.0;
  CTImage::PointType centre;
  image->TransformContinuousIndexToPhysicalPoint(centreIndex, centre);
  const double radius = 10.0;
  for (itk::ImageRegionIteratorWithIndex<CTImage> it(image, image->GetLargestPossibleRegion()); !it.IsAtEnd(); ++it)
  {
    CTImage::PointType p;
    image->TransformIndexToPhysicalPoint(it.GetIndex(), p);
    it.Set(p.EuclideanDistanceTo(centre) < radius ? 1000.0f : -1000.0f);
  }
  auto filter = MakeFilter(image, model);
  filter->Update();
  const LabelImage * labels = filter->GetOutput();
  ExpectSameGeometry(labels, image);

  // Far enough from the surface (two coarse voxels), the label is known from the physical position alone.
  const double margin = 2.0 * 2.5;
  std::size_t  inside = 0, outside = 0, wrong = 0;
  for (itk::ImageRegionIteratorWithIndex<CTImage> it(image, image->GetLargestPossibleRegion()); !it.IsAtEnd(); ++it)
  {
    CTImage::PointType p;
    image->TransformIndexToPhysicalPoint(it.GetIndex(), p);
    const double d = p.EuclideanDistanceTo(centre);
    if (d < radius - margin)
    {
      ++inside;
      wrong += labels->GetPixel(it.GetIndex()) != 2 ? 1 : 0;
    }
    else if (d > radius + margin)
    {
      ++outside;
      wrong += labels->GetPixel(it.GetIndex()) != 0 ? 1 : 0;
    }
  }
  EXPECT_GT(inside, 100u);
  EXPECT_GT(outside, 10000u);
  EXPECT_EQ(wrong, 0u);
}

INSTANTIATE_TEST_SUITE_P(
  Inference, Geometry,
  ::testing::Values(GeometryCase{ 2, Orientation::Identity, false }, GeometryCase{ 2, Orientation::Flipped, false },
                    GeometryCase{ 2, Orientation::Oblique, false }, GeometryCase{ 2, Orientation::Identity, true },
                    GeometryCase{ 3, Orientation::Flipped, false }, GeometryCase{ 3, Orientation::Oblique, false },
                    GeometryCase{ 3, Orientation::Identity, true }, GeometryCase{ 2, Orientation::Mirrored, false },
                    GeometryCase{ 3, Orientation::Mirrored, false }),
  GeometryName);

// ---------------------------------------------------------------------------------------------------------------------

TEST(Inference, NetworkSeesTheNearestCanonicalView)
{
  // Class 1 on the half of each slice where the network's x index is large: in LPS that is the patient's left.
  const std::string ramp =
    "def forward(self, x):\n"
    "    w = x.size(3)\n"
    "    r = torch.arange(w).float() - (w - 1) / 2.0\n"
    "    return torch.cat([torch.zeros_like(x), r.reshape(1, 1, 1, -1) * torch.ones_like(x)], 1)\n";
  auto lps = ScriptModel("rampLPS", ramp, Metadata(2, 2));
  json ras = Metadata(2, 2);
  ras["torchseg"]["orientation"] = "RAS";
  auto rasModel = ScriptModel("rampRAS", ramp, ras);

  const Orientation orientations[] = {
    Orientation::Identity, Orientation::Flipped, Orientation::Mirrored, Orientation::Oblique, Orientation::Identity
  };
  for (int o = 0; o < 5; ++o)
  {
    SCOPED_TRACE("orientation " + std::to_string(o));
    const Orientation orientation = orientations[o];
    auto              image = MakeCT({ { 12, 10, 3 } }, { 1.0, 1.0, 3.0 }, orientation);
    if (o == 4)
    {
      image->SetDirection(PermutedDirection());
    }
    for (const bool towardsLeft : { true, false })
    {
      auto filter = MakeFilter(image, towardsLeft ? lps : rasModel);
      filter->Update();
      std::size_t checked = 0, wrong = 0;
      for (itk::ImageRegionConstIterator<LabelImage> it(filter->GetOutput(), image->GetLargestPossibleRegion());
           !it.IsAtEnd();
           ++it)
      {
        const auto i = it.GetIndex();
        // The index axis nearest to the patient's left-right axis, and which way along it is left.
        int expected;
        if (o == 4)
        {
          // Index y runs to physical -x (right): left is small y. 10 rows: the halves split at 4.5.
          expected = (i[1] < 4.5) == towardsLeft;
        }
        else
        {
          const bool leftIsLargeX = orientation != Orientation::Flipped && orientation != Orientation::Mirrored;
          expected = ((i[0] > 5.5) == leftIsLargeX) == towardsLeft;
        }
        ++checked;
        wrong += it.Get() != expected ? 1 : 0;
      }
      EXPECT_EQ(checked, 360u);
      EXPECT_EQ(wrong, 0u) << (towardsLeft ? "LPS" : "RAS");
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------------

TEST(Inference, Stitched2DSlidingWindowEqualsOneFullPass)
{
  const std::string source = "def forward(self, x):\n"
                             "    return torch.conv2d(torch.tanh(torch.conv2d(x, self.w1, self.b1)), self.w2)\n";
  json              metadata = Metadata(2, 3);
  metadata["torchseg"]["patchSize"] = { 8, 6 };
  const auto model = ScriptModel("conv2d", source, metadata, PointwiseParameters(2, 6, 3));

  auto image = MakeCT({ { 23, 19, 5 } }, { 0.8, 0.8, 2.0 }, Orientation::Identity);
  torch::manual_seed(5);
  const torch::Tensor values = torch::rand({ 5, 19, 23 }) * 2000 - 1000;
  image = torchseg::TensorToImage<CTImage>(values, image.GetPointer());

  const torch::Tensor v = Normalised(image).unsqueeze(1);
  const torch::Tensor full = torch::softmax(model->Forward(v), 1).permute({ 0, 2, 3, 1 });
  for (const bool gaussian : { true, false })
  {
    for (const int batch : { 1, 3 })
    {
      auto filter = MakeFilter(image, model);
      filter->ComputeProbabilitiesOn();
      filter->SetUseGaussianWeighting(gaussian);
      filter->SetBatchSize(batch);
      filter->SetOverlap(0.5);
      filter->Update();
      EXPECT_TRUE(torch::allclose(ProbabilitiesOf(filter), full, 1e-5, 1e-6)) << gaussian << " " << batch;
    }
  }
}

TEST(Inference, Stitched3DSlidingWindowEqualsOneFullPass)
{
  const std::string source = "def forward(self, x):\n"
                             "    return torch.conv3d(torch.tanh(torch.conv3d(x, self.w1, self.b1)), self.w2)\n";
  json              metadata = Metadata(3, 3);
  metadata["torchseg"]["patchSize"] = { 8, 8, 6 };
  const auto model = ScriptModel("conv3d", source, metadata, PointwiseParameters(3, 5, 3));

  auto image = MakeCT({ { 21, 17, 13 } }, { 1.0, 1.0, 1.0 }, Orientation::Identity);
  torch::manual_seed(6);
  image = torchseg::TensorToImage<CTImage>(torch::rand({ 13, 17, 21 }) * 2000 - 1000, image.GetPointer());
  const torch::Tensor full =
    torch::softmax(model->Forward(Normalised(image).unsqueeze(0).unsqueeze(0)), 1)[0].permute({ 1, 2, 3, 0 });
  for (const int batch : { 1, 4 })
  {
    for (const int slab : { 0, 1, 5 })
    {
      auto filter = MakeFilter(image, model);
      filter->ComputeProbabilitiesOn();
      filter->SetBatchSize(batch);
      filter->SetSlabSize(slab);
      filter->SetOverlap(0.5);
      filter->Update();
      EXPECT_TRUE(torch::allclose(ProbabilitiesOf(filter), full, 1e-5, 1e-6)) << batch << " " << slab;
    }
  }
}

TEST(Inference, VolumeSmallerThanThePatchIsPaddedWithAir)
{
  // A 3x3x3 convolution with zero padding: padding the volume with air (0 after the window) gives the same border.
  const std::string source =
    "def forward(self, x):\n"
    "    return torch.conv3d(torch.tanh(torch.conv3d(x, self.w1, self.b1, padding=1)), self.w2)\n";
  json metadata = Metadata(3, 3);
  metadata["torchseg"]["patchSize"] = { 8, 8, 8 };
  metadata["torchseg"]["normalization"]["clipLow"] = -1024.0;
  const auto model = ScriptModel("conv3x3", source, metadata, PointwiseParameters(3, 4, 3, 3));

  auto image = MakeCT({ { 5, 6, 7 } }, { 1.0, 1.0, 1.0 }, Orientation::Identity);
  torch::manual_seed(7);
  image = torchseg::TensorToImage<CTImage>(torch::rand({ 7, 6, 5 }) * 2000 - 1000, image.GetPointer());
  const torch::Tensor v = (torchseg::ImageToTensor(image.GetPointer()).clamp(-1024.0, 1000.0) + 1024.0) / 2024.0;
  const torch::Tensor full = torch::softmax(model->Forward(v.unsqueeze(0).unsqueeze(0)), 1)[0].permute({ 1, 2, 3, 0 });
  auto                filter = MakeFilter(image, model);
  filter->ComputeProbabilitiesOn();
  filter->Update();
  EXPECT_TRUE(torch::allclose(ProbabilitiesOf(filter), full, 1e-5, 1e-6));
}

TEST(Inference, StreamingSlabsDoNotChangeTheResult)
{
  for (const int dimensions : { 2, 3 })
  {
    json metadata = Metadata(dimensions, 3);
    metadata["torchseg"]["targetSpacing"] = { 1.3, 1.1, 1.7 };
    metadata["torchseg"]["patchSize"] = dimensions == 2 ? json{ 0, 0 } : json{ 8, 8, 8 };
    const auto model = ScriptModel("slabs" + std::to_string(dimensions), NearestCentreSource(0), metadata);
    auto       image = MakeCT({ { 15, 13, 11 } }, { 0.9, 0.9, 2.5 }, Orientation::Flipped);
    torch::manual_seed(8);
    image = torchseg::TensorToImage<CTImage>(torch::rand({ 11, 13, 15 }) * 2000 - 1000, image.GetPointer());
    torch::Tensor reference;
    for (const int slab : { 100, 1, 2, 4 })
    {
      auto filter = MakeFilter(image, model);
      filter->ComputeProbabilitiesOn();
      filter->SetSlabSize(slab);
      filter->Update();
      const torch::Tensor p = ProbabilitiesOf(filter);
      if (!reference.defined())
      {
        reference = p;
        EXPECT_TRUE(torch::allclose(p.sum(-1), torch::ones_like(p.sum(-1)), 1e-5, 1e-5));
      }
      else
      {
        EXPECT_TRUE(torch::allclose(p, reference, 1e-6, 1e-7)) << dimensions << "D, slab " << slab;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------------

TEST(Inference, MirroringLeavesAnEquivariantModelUnchangedAndAveragesAnotherAsExpected)
{
  auto image = MakeCT({ { 12, 10, 4 } }, { 1.0, 1.0, 2.0 }, Orientation::Identity);
  torch::manual_seed(9);
  image = torchseg::TensorToImage<CTImage>(torch::rand({ 4, 10, 12 }) * 2000 - 1000, image.GetPointer());

  for (const int dimensions : { 2, 3 })
  {
    json metadata = Metadata(dimensions, 3);
    if (dimensions == 3)
    {
      metadata["torchseg"]["patchSize"] = { 12, 10, 4 };
    }
    const auto    pointwise = ScriptModel("mirror" + std::to_string(dimensions), NearestCentreSource(0), metadata);
    torch::Tensor without, with;
    for (const bool tta : { false, true })
    {
      auto filter = MakeFilter(image, pointwise);
      filter->ComputeProbabilitiesOn();
      filter->SetUseMirroring(tta);
      filter->Update();
      (tta ? with : without) = ProbabilitiesOf(filter);
    }
    EXPECT_TRUE(torch::allclose(with, without, 1e-6, 1e-7)) << dimensions << "D";
  }

  // Logit 1 = 0.5 r + 0.3 with r the centred x position: mirroring x turns r into -r in half of the 4 passes.
  const std::string   ramp = "def forward(self, x):\n"
                             "    w = x.size(3)\n"
                             "    r = torch.arange(w).float() - (w - 1) / 2.0\n"
                             "    one = (0.5 * r + 0.3).reshape(1, 1, 1, -1) * torch.ones_like(x)\n"
                             "    return torch.cat([torch.zeros_like(x), one], 1)\n";
  const auto          model = ScriptModel("rampTTA", ramp, Metadata(2, 2));
  const torch::Tensor r = torch::arange(12, torch::kFloat32) - 5.5;
  const torch::Tensor plain = torch::sigmoid(0.5 * r + 0.3);
  const torch::Tensor mirrored = 0.5 * (torch::sigmoid(0.5 * r + 0.3) + torch::sigmoid(-0.5 * r + 0.3));
  for (const bool tta : { false, true })
  {
    auto filter = MakeFilter(image, model);
    filter->ComputeProbabilitiesOn();
    filter->SetUseMirroring(tta);
    filter->Update();
    const torch::Tensor p1 = ProbabilitiesOf(filter).select(-1, 1);
    EXPECT_TRUE(torch::allclose(p1, (tta ? mirrored : plain).expand_as(p1), 1e-5, 1e-6)) << tta;
    // With mirroring, every voxel leans to class 1 (bias 0.3 > 0); without, only the right half of x does.
    const auto labels = torchseg::ImageToTensor(filter->GetOutput());
    EXPECT_EQ(labels.sum().item<float>(), tta ? 480.0f : 280.0f); // x >= 5: 0.5 r + 0.3 > 0
  }
}

// ---------------------------------------------------------------------------------------------------------------------

TEST(Inference, SliceContextGivesNeighboursInOrderAndClampsAtTheEnds)
{
  // Class 1 where the next slice is brighter than the previous one (reoriented z order).
  const std::string source = "def forward(self, x):\n"
                             "    d = x[:, 2:3] - x[:, 0:1]\n"
                             "    return torch.cat([torch.zeros_like(d), 100.0 * d], 1)\n";
  const auto        model = ScriptModel("context", source, Metadata(2, 2, 1));
  const int         profile[9] = { 0, 3, 1, 4, 1, 5, 9, 2, 6 };
  for (const Orientation orientation : { Orientation::Identity, Orientation::Flipped })
  {
    auto image = MakeCT({ { 4, 3, 9 } }, { 1.0, 1.0, 2.0 }, orientation);
    for (itk::ImageRegionIteratorWithIndex<CTImage> it(image, image->GetLargestPossibleRegion()); !it.IsAtEnd(); ++it)
    {
      it.Set(100.0f * static_cast<float>(profile[it.GetIndex()[2]]));
    }
    auto filter = MakeFilter(image, model);
    filter->Update();
    for (int k = 0; k < 9; ++k)
    {
      const int previous = profile[std::max(0, k - 1)];
      const int next = profile[std::min(8, k + 1)];
      // A flipped z axis reverses which neighbour the network sees first.
      const int expected = orientation == Orientation::Identity ? next > previous : previous > next;
      EXPECT_EQ(filter->GetOutput()->GetPixel({ { 1, 1, k } }), expected) << "slice " << k;
    }
  }
}

TEST(Inference, OtherPixelTypesGiveTheSameLabels)
{
  const auto model = ScriptModel("types", NearestCentreSource(0), Metadata(2, 3));
  auto       image = MakeCT({ { 9, 8, 3 } }, { 1.0, 1.0, 1.0 }, Orientation::Oblique);
  using ShortImage = itk::Image<int16_t, 3>;
  auto shortImage =
    MakeImage<ShortImage>({ { 9, 8, 3 } }, { 1.0, 1.0, 1.0 }, { -12.0, 5.0, 30.0 }, Orientation::Oblique);
  int n = 0;
  for (itk::ImageRegionIteratorWithIndex<CTImage> it(image, image->GetLargestPossibleRegion()); !it.IsAtEnd(); ++it)
  {
    const auto value = static_cast<int16_t>((n++ * 37) % 2000 - 1000);
    it.Set(value);
    shortImage->SetPixel(it.GetIndex(), value);
  }
  auto filter = MakeFilter(image, model);
  filter->Update();
  auto other = torchseg::SegmentationFilter<ShortImage, itk::Image<uint16_t, 3>>::New();
  other->SetInput(shortImage);
  other->SetModel(model);
  other->Update();
  ExpectSameGeometry(other->GetOutput(), image);
  std::size_t wrong = 0;
  for (itk::ImageRegionConstIterator<LabelImage> it(filter->GetOutput(), image->GetLargestPossibleRegion());
       !it.IsAtEnd();
       ++it)
  {
    wrong += it.Get() != other->GetOutput()->GetPixel(it.GetIndex()) ? 1 : 0;
    wrong += it.Get() != NearestCentreClass(image->GetPixel(it.GetIndex())) ? 1 : 0;
  }
  EXPECT_EQ(wrong, 0u);
}

// ---------------------------------------------------------------------------------------------------------------------

TEST(Inference, ProgressReachesOneAndAbortRaisesProcessAborted)
{
  const auto model = ScriptModel("progress", NearestCentreSource(0), Metadata(2, 3));
  auto       image = MakeCT({ { 8, 8, 12 } }, { 1.0, 1.0, 1.0 }, Orientation::Identity);
  auto       filter = MakeFilter(image, model);
  filter->SetSlabSize(2);
  std::vector<float> progress;
  auto               recorder = itk::CStyleCommand::New();
  struct State
  {
    Filter *             filter;
    std::vector<float> * values;
    bool                 abort;
  } state{ filter.GetPointer(), &progress, false };
  recorder->SetClientData(&state);
  recorder->SetCallback([](itk::Object *, const itk::EventObject &, void * data) {
    auto * s = static_cast<State *>(data);
    s->values->push_back(s->filter->GetProgress());
    if (s->abort && s->filter->GetProgress() > 0.2f)
    {
      s->filter->AbortGenerateDataOn();
    }
  });
  filter->AddObserver(itk::ProgressEvent(), recorder);
  filter->Update();
  ASSERT_GE(progress.size(), 6u);
  EXPECT_FLOAT_EQ(progress.back(), 1.0f);
  EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));

  auto aborted = MakeFilter(image, model);
  aborted->SetSlabSize(2);
  state.filter = aborted.GetPointer();
  state.abort = true;
  progress.clear();
  aborted->AddObserver(itk::ProgressEvent(), recorder);
  EXPECT_THROW(aborted->Update(), itk::ProcessAborted);
  EXPECT_LT(progress.back(), 1.0f);
}

TEST(Inference, UnusableDevicesAreClearErrors)
{
  const auto model = ScriptModel("device", NearestCentreSource(0), Metadata(2, 3));
  auto       image = MakeCT({ { 8, 8, 2 } }, { 1.0, 1.0, 1.0 }, Orientation::Identity);
  auto       filter = MakeFilter(image, model);
  filter->SetDevice("gpu");
  EXPECT_NE(ErrorOf([&] { filter->Update(); }).find("Device \"gpu\" is not one of cpu, cuda, cuda:N"),
            std::string::npos);
  filter->SetDevice("cuda:x");
  EXPECT_NE(ErrorOf([&] { filter->Update(); }).find("\"cuda:x\" is malformed"), std::string::npos);
  if (!torch::cuda::is_available())
  {
    filter->SetDevice("cuda");
    const std::string message = ErrorOf([&] { filter->Update(); });
    EXPECT_NE(message.find("Device \"cuda\" was requested, but no usable CUDA GPU is available"), std::string::npos)
      << message;
  }
  filter->SetDevice("cpu");
  EXPECT_NO_THROW(filter->Update());
}

TEST(Inference, BadInputsAreClearErrors)
{
  auto image = MakeCT({ { 8, 8, 2 } }, { 1.0, 1.0, 1.0 }, Orientation::Identity);

  auto noModel = Filter::New();
  noModel->SetInput(image);
  EXPECT_NE(ErrorOf([&] { noModel->Update(); }).find("No model"), std::string::npos);

  auto missing = Filter::New();
  missing->SetInput(image);
  const auto path = OutputPath("missing.pt");
  missing->SetModelFileName(path.string());
  EXPECT_NE(ErrorOf([&] { missing->Update(); }).find(path.string() + ": no such file"), std::string::npos);

  // The metadata promises slice context (3 channels); the network takes one.
  json               metadata = Metadata(2, 2, 1);
  torch::jit::Module module("oneChannel");
  module.register_parameter("w", torch::ones({ 2, 1, 1, 1 }), false);
  module.define("def forward(self, x):\n    return torch.conv2d(x, self.w)\n");
  const auto                scriptPath = OutputPath("mismatch.ts");
  torch::jit::ExtraFilesMap extra{ { "metadata.json", metadata.dump() } };
  module.save(scriptPath.string(), extra);
  auto mismatch = Filter::New();
  mismatch->SetInput(image);
  mismatch->SetModelFileName(scriptPath.string());
  const std::string message = ErrorOf([&] { mismatch->Update(); });
  EXPECT_NE(message.find(scriptPath.string()), std::string::npos) << message;
  EXPECT_NE(message.find("[1, 3, 64, 64]"), std::string::npos) << message;

  // A model loaded by file name is reused until the name changes.
  auto good = Filter::New();
  good->SetInput(image);
  const auto model = ScriptModel("reuse", NearestCentreSource(0), Metadata(2, 3));
  good->SetModelFileName(model->GetPath());
  good->Update();
  const auto loaded = good->GetModel();
  good->Modified();
  good->Update();
  EXPECT_EQ(good->GetModel(), loaded);
}

TEST(Inference, RunsOnceInsideAStreamingPipeline)
{
  // reader -> segmentation -> connected components -> writer, and reader -> segmentation -> threshold -> a writer
  // that streams in 3 pieces: the network runs once, on the whole volume, and both results are right.
  const auto model = ScriptModel("pipeline", NearestCentreSource(0), Metadata(2, 3));
  auto       image = MakeCT({ { 16, 12, 9 } }, { 1.0, 1.0, 2.0 }, Orientation::Flipped);
  image->FillBuffer(-1000.0f);
  for (itk::ImageRegionIteratorWithIndex<CTImage> it(image, image->GetLargestPossibleRegion()); !it.IsAtEnd(); ++it)
  {
    const auto i = it.GetIndex();
    if ((i[0] < 5 || i[0] > 10) && i[1] > 2 && i[1] < 9 && i[2] > 1 && i[2] < 7)
    {
      it.Set(1000.0f); // two separate boxes of class 2
    }
  }
  const auto ctPath = OutputPath("ct.mha");
  torchseg::WriteImageFile(image.GetPointer(), ctPath.string());

  auto reader = itk::ImageFileReader<CTImage>::New();
  reader->SetFileName(ctPath.string());
  auto segment = Filter::New();
  segment->SetInput(reader->GetOutput());
  segment->SetModel(model);
  int  runs = 0;
  auto counter = itk::CStyleCommand::New();
  counter->SetClientData(&runs);
  counter->SetCallback([](itk::Object *, const itk::EventObject &, void * data) { ++*static_cast<int *>(data); });
  segment->AddObserver(itk::StartEvent(), counter);

  using ComponentImage = itk::Image<uint32_t, 3>;
  auto components = itk::ConnectedComponentImageFilter<LabelImage, ComponentImage>::New();
  components->SetInput(segment->GetOutput());
  auto componentWriter = itk::ImageFileWriter<ComponentImage>::New();
  componentWriter->SetInput(components->GetOutput());
  const auto componentPath = OutputPath("components.mha");
  componentWriter->SetFileName(componentPath.string());
  componentWriter->Update();
  EXPECT_EQ(components->GetObjectCount(), 2u);

  auto threshold = itk::BinaryThresholdImageFilter<LabelImage, LabelImage>::New();
  threshold->SetInput(segment->GetOutput());
  threshold->SetLowerThreshold(2);
  threshold->SetUpperThreshold(2);
  threshold->SetInsideValue(1);
  threshold->SetOutsideValue(0);
  auto writer = itk::ImageFileWriter<LabelImage>::New();
  writer->SetInput(threshold->GetOutput());
  writer->SetNumberOfStreamDivisions(3);
  const auto maskPath = OutputPath("mask.mha");
  writer->SetFileName(maskPath.string());
  writer->Update();
  EXPECT_EQ(runs, 1);

  const auto mask = torchseg::ReadImageFile<uint8_t, 3>(maskPath.string());
  ExpectSameGeometry(mask, image);
  std::size_t wrong = 0;
  for (itk::ImageRegionConstIterator<LabelImage> it(mask, mask->GetLargestPossibleRegion()); !it.IsAtEnd(); ++it)
  {
    wrong += (it.Get() == 1) != (image->GetPixel(it.GetIndex()) > 0.0f) ? 1 : 0;
  }
  EXPECT_EQ(wrong, 0u);
}

TEST(Inference, ImagesWhoseRegionDoesNotStartAtZero)
{
  // An extracted sub-volume keeps its index: labels and probabilities land on the same indices.
  const auto  model = ScriptModel("offset", NearestCentreSource(0), Metadata(2, 3));
  auto        image = MakeCT({ { 20, 18, 9 } }, { 0.9, 0.8, 2.0 }, Orientation::Flipped);
  const float levels[3] = { -1000.0f, 0.0f, 1000.0f };
  for (itk::ImageRegionIteratorWithIndex<CTImage> it(image, image->GetLargestPossibleRegion()); !it.IsAtEnd(); ++it)
  {
    const auto i = it.GetIndex();
    it.Set(levels[(i[0] + 2 * i[1] + i[2]) % 3]);
  }
  CTImage::RegionType part({ { 3, 5, 2 } }, { { 11, 9, 5 } });
  auto                extract = itk::ExtractImageFilter<CTImage, CTImage>::New();
  extract->SetInput(image);
  extract->SetExtractionRegion(part);
  extract->SetDirectionCollapseToIdentity();
  extract->Update();
  CTImage::Pointer sub = extract->GetOutput();
  sub->DisconnectPipeline();
  sub->SetDirection(image->GetDirection());
  ASSERT_EQ(sub->GetLargestPossibleRegion().GetIndex()[1], 5);

  auto filter = MakeFilter(sub, model);
  filter->ComputeProbabilitiesOn();
  filter->Update();
  ExpectSameGeometry(filter->GetOutput(), sub);
  std::size_t wrong = 0;
  for (itk::ImageRegionConstIterator<LabelImage> it(filter->GetOutput(), part); !it.IsAtEnd(); ++it)
  {
    const auto i = it.GetIndex();
    wrong += it.Get() != (i[0] + 2 * i[1] + i[2]) % 3 ? 1 : 0;
    const auto p = filter->GetProbabilityOutput()->GetPixel(i);
    wrong += p[it.Get()] > 0.99f ? 0 : 1;
  }
  EXPECT_EQ(wrong, 0u);
}

TEST(SegmentationFilter, DenseCRFRefinesTheProbabilitiesBeforeTheLabels)
{
  // A soft 2D model (foreground logit 8 (x - 0.5) of the windowed CT) on a noisy ball (+-150 HU, noise 100 HU): about
  // 7 % of the network's labels are wrong; the CRF (on the CT in HU, intensity sigma at the noise level) fixes most.
  const auto                       model = ScriptModel("soft",
                                 "def forward(self, x):\n"
                                                       "    return torch.cat([torch.zeros_like(x), 8.0 * (x - 0.5)], 1)\n",
                                 Metadata(2, 2));
  auto                             ct = MakeCT({ { 40, 40, 10 } }, { { 1.0, 1.0, 2.0 } }, Orientation::Flipped);
  std::vector<uint8_t>             truth;
  std::mt19937                     random(31);
  std::normal_distribution<double> noise(0.0, 100.0);
  for (itk::ImageRegionIteratorWithIndex<CTImage> it(ct, ct->GetLargestPossibleRegion()); !it.IsAtEnd(); ++it)
  {
    const auto   i = it.GetIndex();
    const double r = std::sqrt(std::pow(i[0] - 19.5, 2) + std::pow(i[1] - 19.5, 2) + std::pow(2.0 * (i[2] - 4.5), 2));
    truth.push_back(r <= 9.0 ? 1 : 0);
    it.Set(static_cast<float>((r <= 9.0 ? 150.0 : -150.0) + noise(random)));
  }
  auto errors = [&](const LabelImage * labels) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < truth.size(); ++i)
    {
      n += labels->GetBufferPointer()[i] != truth[i];
    }
    return n;
  };

  auto plain = MakeFilter(ct, model);
  plain->ComputeProbabilitiesOn();
  plain->Update();
  torchseg::DenseCRFParameters parameters;
  parameters.AppearanceIntensitySigma = 150.0;
  parameters.AppearanceSpatialSigma = 3.0;
  auto refined = MakeFilter(ct, model);
  refined->UseDenseCRFOn();
  refined->SetDenseCRFParameters(parameters);
  refined->Update();
  const std::size_t before = errors(plain->GetOutput());
  const std::size_t after = errors(refined->GetOutput());
  std::cout << "wrong voxels: network " << before << ", with the CRF " << after << "; " << refined->GetDenseCRFReport()
            << std::endl;
  EXPECT_GT(before, truth.size() / 20);
  EXPECT_LT(after * 5, before);
  EXPECT_EQ(refined->GetDenseCRFReport().iteratedRegion, ct->GetLargestPossibleRegion());
  EXPECT_GT(refined->GetDenseCRFReport().changedLabels, before / 2);
  // Without ComputeProbabilities the probabilities were temporary; with it, output 1 holds the refined ones and the
  // labels are their argmax.
  EXPECT_EQ(refined->GetProbabilityOutput()->GetBufferedRegion().GetNumberOfPixels(), 0u);
  refined->ComputeProbabilitiesOn();
  refined->Update();
  const float * q = refined->GetProbabilityOutput()->GetBufferPointer();
  for (std::size_t i = 0; i < truth.size(); ++i)
  {
    ASSERT_NEAR(q[2 * i] + q[2 * i + 1], 1.0f, 1.0e-5f);
    ASSERT_EQ(q[2 * i + 1] > q[2 * i] ? 1 : 0, refined->GetOutput()->GetBufferPointer()[i]) << i;
  }
  EXPECT_EQ(errors(refined->GetOutput()), after);

  parameters.AppearanceSpatialSigma = 0.0;
  refined->SetDenseCRFParameters(parameters);
  EXPECT_NE(ErrorOf([&] { refined->Update(); }).find("thetaAlpha must be positive"), std::string::npos);
}
