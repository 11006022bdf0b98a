// Layers with known answers (interpolation kernels, padding, unpooling, dilation) and the torchvision-equivalent
// configurations, checked against the key lists scripts/torchvision-reference.py wrote to Data/Networks.
#include "torchsegBackbones.h"
#include "torchsegNetworkLayers.h"
#include "torchsegSegmentationNetwork.h"

#include "itkMacro.h"

#include <torch/torch.h>

#include "gtest/gtest.h"

#include <fstream>
#include <map>
#include <sstream>

namespace
{
using torchseg::NetworkOptions;
using torchseg::layers::Upsample;
using torchseg::layers::UpsamplingMode;

int64_t
DilationOf(const torch::nn::Module & module, const std::string & name)
{
  for (const auto & item : module.named_modules())
  {
    if (item.key() == name)
    {
      return item.value()->as<torchseg::layers::ConvImpl>()->options.dilation();
    }
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------------------------
// Upsampling

TEST(Upsample, LinearKernelIsFCNsBilinearFiller)
{
  // factor 2: [0.25 0.75 0.75 0.25]; factor 3: [1/3 2/3 1 2/3 1/3]; separable in 2D.
  const auto k2 = torchseg::layers::LinearInterpolationKernel(2, 1);
  EXPECT_TRUE(torch::allclose(k2, torch::tensor({ 0.25f, 0.75f, 0.75f, 0.25f })));
  const auto k3 = torchseg::layers::LinearInterpolationKernel(3, 1);
  EXPECT_TRUE(torch::allclose(k3, torch::tensor({ 1.0f / 3, 2.0f / 3, 1.0f, 2.0f / 3, 1.0f / 3 })));
  const auto k2d = torchseg::layers::LinearInterpolationKernel(2, 2);
  EXPECT_EQ(k2d.sizes(), (std::vector<int64_t>{ 4, 4 }));
  EXPECT_FLOAT_EQ(k2d[1][2].item<float>(), 0.75f * 0.75f);
  EXPECT_FLOAT_EQ(k2d[0][3].item<float>(), 0.25f * 0.25f);
}

// align_corners = false: output voxel o samples the input at (o + 0.5) / f - 0.5, clamped to [0, n - 1].
double
AlignCornersFalseRamp(int64_t o, int64_t factor, int64_t n)
{
  const double x = (o + 0.5) / static_cast<double>(factor) - 0.5;
  return std::min(std::max(x, 0.0), static_cast<double>(n - 1));
}

TEST(Upsample, FrozenTransposedConvolutionIsBilinearInterpolationOfARamp)
{
  // A ramp along x (value = index) upsampled by f must give the analytic sample positions, borders included.
  for (const int64_t f : { 2, 3, 4, 8 })
  {
    const int64_t n = 5;
    auto          ramp = torch::arange(n, torch::kFloat32).view({ 1, 1, 1, n }).expand({ 1, 2, 3, n }).contiguous();
    Upsample      up(2, 2, f, UpsamplingMode::TransposedFrozen);
    torch::NoGradGuard noGrad;
    const auto         out = up->forward(ramp, std::vector<int64_t>{ 3 * f, n * f });
    ASSERT_EQ(out.sizes(), (std::vector<int64_t>{ 1, 2, 3 * f, n * f }));
    for (int64_t o = 0; o < n * f; ++o)
    {
      EXPECT_NEAR(out[0][1][f][o].item<double>(), AlignCornersFalseRamp(o, f, n), 1e-5)
        << "factor " << f << " at " << o;
    }
  }
}

TEST(Upsample, TransposedConvolutionsEqualInterpolationIn2DAnd3D)
{
  torch::manual_seed(7);
  torch::NoGradGuard noGrad;
  for (const int d : { 2, 3 })
  {
    for (const int64_t f : { 2, 3, 4 })
    {
      std::vector<int64_t> shape{ 2, 3, 5, 4 };
      std::vector<int64_t> size{ 5 * f, 4 * f };
      if (d == 3)
      {
        shape.push_back(3);
        size.push_back(3 * f);
      }
      const auto input = torch::randn(shape);
      const auto reference = torchseg::layers::Resize(input, size, true);
      // LibTorch's own operator, to pin the semantics: bilinear/trilinear with align_corners = false.
      auto interpolation = torch::nn::functional::InterpolateFuncOptions().size(size).align_corners(false);
      if (d == 2)
      {
        interpolation.mode(torch::kBilinear);
      }
      else
      {
        interpolation.mode(torch::kTrilinear);
      }
      const auto libtorch = torch::nn::functional::interpolate(input, interpolation);
      EXPECT_TRUE(torch::allclose(reference, libtorch));
      for (const auto mode : { UpsamplingMode::TransposedFrozen, UpsamplingMode::Transposed })
      {
        Upsample up(d, 3, f, mode);
        EXPECT_TRUE(torch::allclose(up->forward(input, size), reference, 1e-5, 1e-5)) << d << "D factor " << f;
      }
      // Cropping to a smaller target keeps the low corner.
      Upsample up(d, 3, f, UpsamplingMode::TransposedFrozen);
      auto     smaller = size;
      smaller[0] -= 1;
      const auto cropped = up->forward(input, smaller);
      EXPECT_TRUE(torch::allclose(cropped, reference.narrow(2, 0, smaller[0]), 1e-5, 1e-5));
    }
  }
}

TEST(Upsample, FrozenKernelIsABufferAndLearnableKernelAParameter)
{
  Upsample frozen(2, 4, 2, UpsamplingMode::TransposedFrozen);
  EXPECT_TRUE(frozen->parameters().empty());
  ASSERT_EQ(frozen->named_buffers().size(), 1u);
  EXPECT_EQ(frozen->named_buffers()["weight"].sizes(), (std::vector<int64_t>{ 4, 1, 4, 4 }));
  Upsample learnable(2, 4, 2, UpsamplingMode::Transposed);
  ASSERT_EQ(learnable->parameters().size(), 1u);
  EXPECT_EQ(learnable->named_parameters()["weight"].sizes(), (std::vector<int64_t>{ 4, 4, 4, 4 }));
  EXPECT_THROW(torchseg::layers::UpsamplingFromString("cubic"), itk::ExceptionObject);
}

TEST(Upsample, FrozenUpsamplingStaysFixedInTrainingWhileTheLearnableOneChanges)
{
  torch::manual_seed(8);
  for (const std::string mode : { "transposedFrozen", "transposed" })
  {
    NetworkOptions o;
    o.architecture = "fcn8s";
    o.inputChannels = 1;
    o.numberOfClasses = 2;
    o.options = { { "backbone", "vgg11" }, { "width", 2 }, { "upsampling", mode } };
    auto network = torchseg::CreateNetwork(o);
    // Every upsampling layer (upscore2, upscore_pool4, upscore) has a "weight": a buffer or a parameter.
    std::map<std::string, torch::Tensor> before;
    for (const auto & b : network->named_buffers())
    {
      if (b.key().rfind("upscore", 0) == 0)
      {
        before[b.key()] = b.value().clone();
      }
    }
    for (const auto & p : network->named_parameters())
    {
      if (p.key().rfind("upscore", 0) == 0)
      {
        before[p.key()] = p.value().detach().clone();
      }
    }
    ASSERT_EQ(before.size(), 3u) << mode;
    torch::optim::SGD optimizer(network->parameters(), torch::optim::SGDOptions(0.1));
    network->train();
    const auto input = torch::randn({ 2, 1, 64, 64 });
    const auto target = (input > 0).squeeze(1).to(torch::kLong);
    for (int step = 0; step < 3; ++step)
    {
      optimizer.zero_grad();
      torch::nn::functional::cross_entropy(network->forward(input), target).backward();
      optimizer.step();
    }
    for (const auto & item : before)
    {
      const torch::Tensor now = mode == "transposedFrozen" ? network->named_buffers()[item.first]
                                                           : network->named_parameters()[item.first].detach();
      if (mode == "transposedFrozen")
      {
        EXPECT_TRUE(torch::equal(now, item.second)) << item.first << " changed";
      }
      else
      {
        EXPECT_FALSE(torch::equal(now, item.second)) << item.first << " did not learn";
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Padding, pooling, dilation

TEST(Layers, FlopCounterCountsTwoFlopsPerMultiplyAdd)
{
  torchseg::layers::Conv conv(torchseg::layers::ConvOptions(2, 2, 4, 3).padding(1));
  torchseg::layers::Conv transposed(torchseg::layers::ConvOptions(3, 4, 6, 2).stride(2).transposed(true));
  torchseg::layers::Conv depthwise(torchseg::layers::ConvOptions(2, 4, 4, 3).padding(1).groups(4));
  torch::NoGradGuard     noGrad;
  const auto             input = torch::randn({ 1, 2, 5, 5 });
  conv(input); // not counted
  torchseg::layers::ConvolutionFlopCounter outer;
  {
    torchseg::layers::ConvolutionFlopCounter inner;
    conv(input); // 100 outputs x 2 inputs x 9 taps
    EXPECT_DOUBLE_EQ(inner.GetFlops(), 2.0 * 100 * 2 * 9);
  }
  EXPECT_DOUBLE_EQ(outer.GetFlops(), 0.0);     // the inner counter took it
  transposed(torch::randn({ 1, 4, 3, 3, 3 })); // 108 inputs x 6 outputs x 8 taps
  depthwise(torch::randn({ 1, 4, 5, 5 }));     // 100 outputs x 1 input x 9 taps
  EXPECT_DOUBLE_EQ(outer.GetFlops(), 2.0 * 108 * 6 * 8 + 2.0 * 100 * 9);
  torchseg::layers::Upsample               up(2, 3, 2, UpsamplingMode::TransposedFrozen);
  torchseg::layers::ConvolutionFlopCounter upsampling;
  up->forward(torch::randn({ 1, 3, 4, 4 }), std::vector<int64_t>{ 8, 8 }); // (4+2)^2 x 3 inputs x 1 x 16 taps
  EXPECT_DOUBLE_EQ(upsampling.GetFlops(), 2.0 * 36 * 3 * 16);
}

TEST(Layers, ConvolutionsEqualLibTorchsOwnInEveryPath)
{
  torch::manual_seed(9);
  for (const int d : { 2, 3 })
  {
    std::vector<int64_t> shape{ 2, 6, 5, 7 };
    if (d == 3)
    {
      shape.push_back(4);
    }
    const auto             input = torch::randn(shape);
    torchseg::layers::Conv up(torchseg::layers::ConvOptions(d, 6, 4, 2).stride(2).transposed(true));
    // A strided, dilated and a single-sample convolution (oneDNN when no gradient is needed).
    torchseg::layers::Conv conv(torchseg::layers::ConvOptions(d, 6, 4, 3).stride(2).padding(2).dilation(2));
    const auto             reference = [&](bool transposed, const torch::Tensor & x) {
      torchseg::layers::ConvImpl & c = transposed ? *up : *conv;
      return transposed
                           ? (d == 2 ? torch::conv_transpose2d(x, c.weight, c.bias, 2)
                                     : torch::conv_transpose3d(x, c.weight, c.bias, 2))
                           : (d == 2 ? torch::conv2d(x, c.weight, c.bias, 2, 2, 2) : torch::conv3d(x, c.weight, c.bias, 2, 2, 2));
    };
    for (const bool transposed : { true, false })
    {
      auto & layer = transposed ? up : conv;
      {
        torch::InferenceMode guard;
        EXPECT_TRUE(torch::allclose(layer->forward(input), reference(transposed, input), 1e-5, 1e-5)) << d;
        const auto single = input.narrow(0, 0, 1);
        EXPECT_TRUE(torch::allclose(layer->forward(single), reference(transposed, single), 1e-5, 1e-5)) << d;
      }
      // With gradients: the same values and the same weight gradient as LibTorch's operator.
      const auto ours = layer->forward(input);
      const auto theirs = reference(transposed, input);
      EXPECT_TRUE(torch::allclose(ours, theirs, 1e-5, 1e-5));
      const auto gOurs = torch::autograd::grad({ ours.square().sum() }, { layer->weight })[0];
      const auto gTheirs = torch::autograd::grad({ theirs.square().sum() }, { layer->weight })[0];
      EXPECT_TRUE(torch::allclose(gOurs, gTheirs, 1e-4, 1e-4)) << d << (transposed ? " transposed" : "");
    }
  }
}

TEST(Layers, PadToMultipleAndCropRestoreTheInput)
{
  const auto input = torch::arange(2 * 5 * 7, torch::kFloat32).view({ 1, 2, 5, 7 });
  const auto padded = torchseg::layers::PadToMultiple(input, 4);
  EXPECT_EQ(padded.sizes(), (std::vector<int64_t>{ 1, 2, 8, 8 }));
  EXPECT_EQ(padded.slice(2, 5).abs().sum().item<float>(), 0.0f);
  EXPECT_EQ(padded.slice(3, 7).abs().sum().item<float>(), 0.0f);
  EXPECT_TRUE(torch::equal(torchseg::layers::CropTo(padded, { 5, 7 }), input));
  EXPECT_TRUE(torchseg::layers::PadToMultiple(input, 1).is_same(input));
  const auto volume = torch::ones({ 1, 1, 3, 9, 16 });
  EXPECT_EQ(torchseg::layers::PadToMultiple(volume, 8).sizes(), (std::vector<int64_t>{ 1, 1, 8, 16, 16 }));
  EXPECT_EQ(torchseg::layers::DivideRoundUp({ 37, 61, 45 }, 4), (std::vector<int64_t>{ 10, 16, 12 }));
}

TEST(Layers, MaxUnpoolingPutsEachMaximumBackWhereItCameFrom)
{
  for (const int d : { 2, 3 })
  {
    std::vector<int64_t> shape{ 1, 1, 4, 4 };
    if (d == 3)
    {
      shape.push_back(4);
    }
    const auto input = torch::randperm(d == 2 ? 16 : 64, torch::kFloat32).view(shape);
    auto       pooled = torchseg::layers::MaxPoolWithIndices(input, 2, 2);
    const auto restored =
      torchseg::layers::MaxUnpool(std::get<0>(pooled), std::get<1>(pooled), torchseg::layers::SpatialSize(input), 2);
    // The maxima stay in place, everything else becomes zero.
    const auto isMax = restored != 0;
    EXPECT_EQ(isMax.sum().item<int64_t>(), d == 2 ? 4 : 8);
    EXPECT_TRUE(torch::equal(restored.masked_select(isMax), input.masked_select(isMax)));
    EXPECT_FLOAT_EQ(restored.max().item<float>(), d == 2 ? 15.0f : 63.0f);
  }
}

TEST(Layers, PixelShuffleMatchesLibTorchIn2DAndInterleavesIn3D)
{
  const auto input = torch::randn({ 2, 3 * 4, 5, 7 });
  EXPECT_TRUE(torch::equal(torchseg::layers::PixelShuffle(input, 2), torch::pixel_shuffle(input, 2)));
  // 3D, one class, factor 2: channel c = 4 dz + 2 dy + dx lands at (2z + dz, 2y + dy, 2x + dx).
  const auto volume = torch::arange(8, torch::kFloat32).view({ 1, 8, 1, 1, 1 });
  const auto shuffled = torchseg::layers::PixelShuffle(volume, 2);
  ASSERT_EQ(shuffled.sizes(), (std::vector<int64_t>{ 1, 1, 2, 2, 2 }));
  for (int z = 0; z < 2; ++z)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 2; ++x)
        EXPECT_EQ(shuffled[0][0][z][y][x].item<float>(), 4 * z + 2 * y + x);
}

TEST(Backbones, HybridDilationCyclesTheRates)
{
  NetworkOptions o;
  o.architecture = "ducHdc";
  o.options = { { "backbone", "resnet101" }, { "width", 2 } };
  auto network = torchseg::CreateNetwork(o);
  // layer3 (23 blocks) cycles 1, 2, 5, 9; layer4 5, 9, 17 (output stride 8).
  const int64_t layer3[] = { 1, 2, 5, 9, 1, 2 };
  for (int b = 0; b < 6; ++b)
  {
    EXPECT_EQ(DilationOf(*network, "backbone.layer3." + std::to_string(b) + ".conv2"), layer3[b]) << b;
  }
  EXPECT_EQ(DilationOf(*network, "backbone.layer4.0.conv2"), 5);
  EXPECT_EQ(DilationOf(*network, "backbone.layer4.2.conv2"), 17);
  // 3 classes x 8^2 sub-pixel positions
  EXPECT_EQ(network->named_parameters()["duc.weight"].size(0), 3 * 64);
}

TEST(Backbones, DeepLabV1KeepsStride8WithDilatedConv5AndLargeFieldOfView)
{
  NetworkOptions o;
  o.architecture = "deeplabv1";
  o.inputChannels = 3;
  o.options = { { "width", 2 } };
  auto network = torchseg::CreateNetwork(o);
  // VGG-16 features: conv5_1 is features.34 (13 convs x 3 modules + 4 pools before it... index 34 in vgg16_bn)
  EXPECT_EQ(DilationOf(*network, "backbone.features.34"), 2);
  EXPECT_EQ(DilationOf(*network, "backbone.features.24"), 1); // conv4_1
  EXPECT_EQ(DilationOf(*network, "classifier.0"), 12);
  EXPECT_EQ(network->named_parameters()["classifier.0.weight"].size(0), 32); // 16 x width
  EXPECT_EQ(network->GetOptions().options, (nlohmann::json{ { "backbone", "vgg16" }, { "width", 2 } }));
}

TEST(Backbones, GlobalConvolutionHasSeparableLargeKernels)
{
  NetworkOptions o;
  o.architecture = "gcn";
  o.spatialDimensions = 3;
  o.options = { { "backbone", "resnet18" }, { "width", 2 } };
  auto       network = torchseg::CreateNetwork(o);
  const auto params = network->named_parameters();
  EXPECT_EQ(network->GetOptions().options.at("kernelSize"), 7);
  EXPECT_EQ(params["gcn.0.left.0.weight"].sizes(), (std::vector<int64_t>{ 3, 2, 7, 1, 1 }));
  EXPECT_EQ(params["gcn.0.left.2.weight"].sizes(), (std::vector<int64_t>{ 3, 3, 1, 1, 7 }));
  EXPECT_EQ(params["gcn.3.right.0.weight"].sizes(), (std::vector<int64_t>{ 3, 16, 1, 1, 7 }));
  EXPECT_EQ(params["upsample.4.weight"].sizes(), (std::vector<int64_t>{ 3, 3, 4, 4, 4 }));
  o.options["kernelSize"] = 8;
  EXPECT_THROW(torchseg::CreateNetwork(o), itk::ExceptionObject);
}

TEST(Backbones, ResNetStridesFollowTheOutputStride)
{
  for (const int os : { 8, 16, 32 })
  {
    torchseg::BackboneOptions b;
    b.name = "resnet18";
    b.width = 2;
    b.inputChannels = 1;
    b.outputStride = os;
    torchseg::ResNet resnet(b);
    const auto       features = resnet->forward(torch::zeros({ 1, 1, 64, 64 }));
    ASSERT_EQ(features.size(), 4u);
    const int64_t expected[4] = { 4, 8, std::min(16, os), os };
    for (int i = 0; i < 4; ++i)
    {
      EXPECT_EQ(features[i].size(2), 64 / expected[i]) << "OS " << os << " layer" << i + 1;
      EXPECT_EQ(resnet->GetStageStrides()[i], expected[i]);
    }
    EXPECT_EQ(features[3].size(1), 16);
  }
}

TEST(Backbones, DeepLabAtrousRatesDoubleAtOutputStride8)
{
  NetworkOptions o;
  o.architecture = "deeplabv3";
  o.options = { { "backbone", "resnet50" }, { "width", 2 } };
  for (const int os : { 16, 8 })
  {
    o.options["outputStride"] = os;
    auto          network = torchseg::CreateNetwork(o);
    const int64_t scale = 16 / os;
    EXPECT_EQ(DilationOf(*network, "classifier.0.convs.1.0"), 6 * scale);
    EXPECT_EQ(DilationOf(*network, "classifier.0.convs.2.0"), 12 * scale);
    EXPECT_EQ(DilationOf(*network, "classifier.0.convs.3.0"), 18 * scale);
    // torchvision: the first block of a dilated layer keeps the previous dilation, the others get the new one.
    EXPECT_EQ(DilationOf(*network, "backbone.layer4.0.conv2"), os == 16 ? 1 : 2);
    EXPECT_EQ(DilationOf(*network, "backbone.layer4.1.conv2"), os == 16 ? 2 : 4);
    EXPECT_EQ(DilationOf(*network, "backbone.layer3.1.conv2"), os == 16 ? 1 : 2);
  }
  o.architecture = "deeplabv3plus";
  o.options = { { "width", 2 } };
  auto plus = torchseg::CreateNetwork(o);
  EXPECT_EQ(plus->GetOptions().options.at("outputStride"), 16);
  EXPECT_EQ(DilationOf(*plus, "aspp.convs.3.0"), 18);
  // depthwise
  for (const auto & item : plus->named_modules())
  {
    if (item.key() == "aspp.convs.3.0")
    {
      EXPECT_EQ(item.value()->as<torchseg::layers::ConvImpl>()->options.groups(),
                64); // layer4 of ResNet-50 at width 2: 2 * 8 * 4
    }
  }
}

TEST(Backbones, WrongOptionsAreNamed)
{
  auto message = [](const std::string & architecture, const nlohmann::json & options) {
    NetworkOptions o;
    o.architecture = architecture;
    o.options = options;
    try
    {
      torchseg::CreateNetwork(o);
    }
    catch (const itk::ExceptionObject & e)
    {
      return std::string(e.GetDescription());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("deeplabv3", { { "outputStride", 12 } }).find("outputStride = 12 is not one of 8, 16"),
            std::string::npos)
    << message("deeplabv3", { { "outputStride", 12 } });
  EXPECT_NE(message("fcn8s", { { "outputStride", 16 } }).find("VGG backbone vgg16"), std::string::npos)
    << message("fcn8s", { { "outputStride", 16 } });
  EXPECT_NE(message("pspnet", { { "backbone", "vgg16" } }).find("backbone = \"vgg16\""), std::string::npos)
    << message("pspnet", { { "backbone", "vgg16" } });
  EXPECT_NE(message("fcn16s", { { "auxiliaryHead", true } }).find("auxiliaryHead"), std::string::npos);
  EXPECT_NE(message("segnet", { { "upsampling", "bilinear" } }).find("unknown option \"upsampling\""),
            std::string::npos);
  EXPECT_NE(message("deeplabv3plus", { { "auxiliaryHead", true } }).find("unknown option \"auxiliaryHead\""),
            std::string::npos);
  EXPECT_NE(message("fcn32s", { { "upsampling", "cubic" } }).find("upsampling = \"cubic\""), std::string::npos);
}

// ---------------------------------------------------------------------------------------------------------------
// torchvision equivalence

struct Reference
{
  std::map<std::string, std::vector<int64_t>> shapes;
  int64_t                                     parameters = -1;
};

Reference
ReadReference(const std::string & name)
{
  const std::string path = std::string(TORCHSEG_DATA_DIR) + "/Networks/" + name + ".txt";
  std::ifstream     file(path);
  EXPECT_TRUE(file.good()) << path;
  Reference   reference;
  std::string line;
  while (std::getline(file, line))
  {
    if (line.rfind("# parameters ", 0) == 0)
    {
      reference.parameters = std::stoll(line.substr(13));
    }
    if (line.empty() || line[0] == '#')
    {
      continue;
    }
    std::istringstream   words(line);
    std::string          key;
    std::vector<int64_t> shape;
    words >> key;
    int64_t size;
    while (words >> size)
    {
      shape.push_back(size);
    }
    reference.shapes[key] = shape;
  }
  return reference;
}

/** State-dict keys and shapes (parameters and buffers), optionally only those starting with \a prefix. */
std::map<std::string, std::vector<int64_t>>
StateShapes(const torch::nn::Module & module, const std::string & prefix = "")
{
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto & p : module.named_parameters())
  {
    if (p.key().rfind(prefix, 0) == 0)
    {
      shapes[p.key()] = p.value().sizes().vec();
    }
  }
  for (const auto & b : module.named_buffers())
  {
    if (b.key().rfind(prefix, 0) == 0)
    {
      shapes[b.key()] = b.value().sizes().vec();
    }
  }
  return shapes;
}

void
ExpectSameState(const std::map<std::string, std::vector<int64_t>> & ours,
                const std::map<std::string, std::vector<int64_t>> & theirs)
{
  EXPECT_EQ(ours.size(), theirs.size());
  for (const auto & item : theirs)
  {
    const auto it = ours.find(item.first);
    if (it == ours.end())
    {
      ADD_FAILURE() << "missing " << item.first;
      continue;
    }
    EXPECT_EQ(it->second, item.second) << item.first;
  }
  for (const auto & item : ours)
  {
    EXPECT_TRUE(theirs.count(item.first)) << "extra " << item.first;
  }
}

struct Equivalent
{
  std::string    reference;
  std::string    architecture;
  nlohmann::json options;
};

class TorchvisionEquivalence : public ::testing::TestWithParam<Equivalent>
{};

TEST_P(TorchvisionEquivalence, SameStateDictKeysShapesAndParameterCount)
{
  const Equivalent & e = GetParam();
  const Reference    reference = ReadReference(e.reference);
  ASSERT_GT(reference.parameters, 0);
  NetworkOptions o;
  o.architecture = e.architecture;
  o.inputChannels = 3;
  o.numberOfClasses = 21;
  o.options = e.options;
  auto network = torchseg::CreateNetwork(o);
  ExpectSameState(StateShapes(*network), reference.shapes);
  EXPECT_EQ(torchseg::layers::CountParameters(*network), reference.parameters);
}

INSTANTIATE_TEST_SUITE_P(
  Networks, TorchvisionEquivalence,
  ::testing::Values(Equivalent{ "fcn_resnet50", "fcn32s", { { "backbone", "resnet50" }, { "outputStride", 8 } } },
                    Equivalent{ "fcn_resnet50_aux",
                                "fcn32s",
                                { { "backbone", "resnet50" }, { "outputStride", 8 }, { "auxiliaryHead", true } } },
                    Equivalent{ "fcn_resnet101", "fcn32s", { { "backbone", "resnet101" }, { "outputStride", 8 } } },
                    Equivalent{ "deeplabv3_resnet50", "deeplabv3", nlohmann::json::object() },
                    Equivalent{ "deeplabv3_resnet50_aux", "deeplabv3", { { "auxiliaryHead", true } } }),
  [](const ::testing::TestParamInfo<Equivalent> & info) { return info.param.reference; });

TEST(TorchvisionEquivalence, BackbonesHaveTorchvisionKeys)
{
  for (const std::string depth : { "18", "34" })
  {
    NetworkOptions o;
    o.architecture = "fcn32s";
    o.inputChannels = 3;
    o.options = { { "backbone", "resnet" + depth } };
    auto            network = torchseg::CreateNetwork(o);
    const Reference reference = ReadReference("resnet" + depth + "_backbone");
    ExpectSameState(StateShapes(*network, "backbone."), reference.shapes);
    int64_t count = 0;
    for (const auto & p : network->named_parameters())
    {
      count += p.key().rfind("backbone.", 0) == 0 ? p.value().numel() : 0;
    }
    EXPECT_EQ(count, reference.parameters) << "resnet" << depth;
  }
  NetworkOptions o;
  o.architecture = "segnet";
  o.inputChannels = 3;
  auto network = torchseg::CreateNetwork(o);
  ExpectSameState(StateShapes(*network, "backbone."), ReadReference("vgg16_bn_backbone").shapes);
}

TEST(TorchvisionEquivalence, DefaultParameterCountsAreStable)
{
  // Analytic: the ResNet-50 trunk of torchvision (23,508,032 parameters without fc) plus each head.
  NetworkOptions o;
  o.inputChannels = 3;
  o.numberOfClasses = 21;
  o.architecture = "pspnet";
  auto          psp = torchseg::CreateNetwork(o);
  const int64_t trunk = 23508032;
  // PPM: 4 x (2048*512 conv + 2*512 BN); classifier: 4096*512*9 conv + 2*512 BN + 512*21 + 21.
  const int64_t ppm = 4 * (2048 * 512 + 2 * 512);
  const int64_t head = 4096 * 512 * 9 + 2 * 512 + 512 * 21 + 21;
  EXPECT_EQ(torchseg::layers::CountParameters(*psp), trunk + ppm + head);
}

} // namespace
