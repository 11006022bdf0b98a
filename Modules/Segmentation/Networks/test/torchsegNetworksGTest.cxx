// Tests shared by every architecture: output shapes for odd sizes in 2D and 3D, gradients, save/load, eval-mode
// determinism, option handling and factory errors. The networks are built tiny (widths 2-8) so that the whole
// suite runs in seconds.
#include "torchsegNetworkLayers.h"
#include "torchsegSegmentationNetwork.h"
#include "torchsegTestingSupport.h"

#include "itkMacro.h"

#include <torch/torch.h>

#include "gtest/gtest.h"

#include <algorithm>

namespace
{
using torchseg::NetworkOptions;

struct Case
{
  std::string          name; //!< test name suffix
  std::string          architecture;
  int                  dimensions;
  nlohmann::json       options;
  std::vector<int64_t> size; //!< spatial size (D, H, W) / (H, W)
  int                  channels = 2;
  int                  classes = 3;
};

std::ostream &
operator<<(std::ostream & os, const Case & c)
{
  return os << c.name;
}

NetworkOptions
MakeOptions(const Case & c)
{
  NetworkOptions o;
  o.architecture = c.architecture;
  o.spatialDimensions = c.dimensions;
  o.inputChannels = c.channels;
  o.numberOfClasses = c.classes;
  o.options = c.options;
  return o;
}

torch::Tensor
MakeInput(const Case & c, int64_t batch)
{
  std::vector<int64_t> shape{ batch, c.channels };
  shape.insert(shape.end(), c.size.begin(), c.size.end());
  return torch::randn(shape);
}

std::vector<int64_t>
ExpectedShape(const Case & c, int64_t batch)
{
  std::vector<int64_t> shape{ batch, c.classes };
  shape.insert(shape.end(), c.size.begin(), c.size.end());
  return shape;
}

std::vector<Case>
AllCases()
{
  using nlohmann::json;
  const std::vector<int64_t> size2{ 97, 123 };
  const std::vector<int64_t> size3{ 37, 61, 45 };
  const json                 vgg{ { "backbone", "vgg11" }, { "width", 2 } };
  const json                 resnet{ { "backbone", "resnet18" }, { "width", 4 } };
  auto                       with = [](json base, const json & extra) {
    base.update(extra);
    return base;
  };
  return {
    { "fcn32s_vgg16", "fcn32s", 2, json{ { "backbone", "vgg16" }, { "width", 2 } }, size2 },
    { "fcn32s_resnet18_os8_3d", "fcn32s", 3, with(resnet, { { "outputStride", 8 } }), size3 },
    { "fcn16s_resnet18_transposed", "fcn16s", 2, with(resnet, { { "upsampling", "transposed" } }), size2 },
    { "fcn16s_vgg11_frozen_3d", "fcn16s", 3, with(vgg, { { "upsampling", "transposedFrozen" } }), size3 },
    { "fcn8s_vgg11_transposed", "fcn8s", 2, with(vgg, { { "upsampling", "transposed" } }), size2 },
    { "fcn8s_resnet18_os16_aux_nearest_3d",
      "fcn8s",
      3,
      with(resnet, { { "outputStride", 16 }, { "auxiliaryHead", true }, { "upsampling", "nearest" } }),
      size3 },
    { "deeplabv3_resnet50_os16_aux",
      "deeplabv3",
      2,
      json{ { "backbone", "resnet50" }, { "width", 4 }, { "outputStride", 16 }, { "auxiliaryHead", true } },
      size2 },
    { "deeplabv3_resnet18_3d", "deeplabv3", 3, resnet, size3 },
    { "deeplabv3plus_resnet18", "deeplabv3plus", 2, resnet, size2 },
    { "deeplabv3plus_resnet34_os8_3d",
      "deeplabv3plus",
      3,
      json{ { "backbone", "resnet34" }, { "width", 4 }, { "outputStride", 8 }, { "separable", false } },
      size3 },
    { "pspnet_resnet18_aux", "pspnet", 2, with(resnet, { { "auxiliaryHead", true } }), size2 },
    { "pspnet_resnet18_os16_3d", "pspnet", 3, with(resnet, { { "outputStride", 16 } }), size3 },
    { "segnet_vgg16", "segnet", 2, json{ { "width", 2 } }, size2 },
    { "segnet_vgg11_3d", "segnet", 3, vgg, size3 },
    { "deconvnet_vgg13", "deconvnet", 2, json{ { "backbone", "vgg13" }, { "width", 2 } }, size2 },
    { "deconvnet_vgg11_3d", "deconvnet", 3, vgg, size3 },
    { "deeplabv1_vgg11", "deeplabv1", 2, vgg, size2 },
    { "deeplabv1_vgg11_3d", "deeplabv1", 3, vgg, size3 },
    { "deeplabv2_resnet18", "deeplabv2", 2, resnet, size2 },
    { "deeplabv2_resnet18_os16_3d", "deeplabv2", 3, with(resnet, { { "outputStride", 16 } }), size3 },
    { "ducHdc_resnet50", "ducHdc", 2, json{ { "backbone", "resnet50" }, { "width", 2 } }, size2 },
    { "ducHdc_resnet18_os16_plain_3d",
      "ducHdc",
      3,
      with(resnet, { { "outputStride", 16 }, { "hybridDilation", false } }),
      size3 },
    { "denseaspp_resnet18", "denseaspp", 2, resnet, size2 },
    { "denseaspp_resnet18_3d", "denseaspp", 3, with(resnet, { { "outputStride", 16 } }), size3 },
    { "gcn_resnet18", "gcn", 2, with(resnet, { { "kernelSize", 7 } }), size2 },
    { "gcn_resnet18_bilinear_3d",
      "gcn",
      3,
      with(resnet, { { "kernelSize", 5 }, { "upsampling", "bilinear" } }),
      size3 },
    { "refinenet_resnet18", "refinenet", 2, resnet, size2 },
    { "refinenet_resnet34_3d", "refinenet", 3, json{ { "backbone", "resnet34" }, { "width", 2 } }, size3 },
    { "unet2d", "unet2d", 2, json{ { "width", 4 }, { "depth", 4 } }, size2 },
    { "unet2d_maxpool_batch_deep",
      "unet2d",
      2,
      json{ { "width", 4 },
            { "depth", 3 },
            { "downsampling", "maxpool" },
            { "normalization", "batch" },
            { "deepSupervision", true } },
      { 33, 21 } },
    { "unet3d", "unet3d", 3, json{ { "width", 2 }, { "depth", 3 } }, size3 },
    { "unet3d_deep",
      "unet3d",
      3,
      json{ { "width", 2 }, { "depth", 4 }, { "deepSupervision", true }, { "normalization", "none" } },
      { 19, 23, 17 } },
  };
}

void
CheckOutputHasTheInputSpatialSize(const Case & c)
{
  torch::manual_seed(1);
  auto network = torchseg::CreateNetwork(MakeOptions(c));
  network->eval();
  torch::InferenceMode guard;
  const torch::Tensor  out = network->forward(MakeInput(c, 1));
  EXPECT_EQ(out.sizes().vec(), ExpectedShape(c, 1));
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
}

void
CheckGradientsReachEveryParameter(const Case & c)
{
  torch::manual_seed(2);
  auto network = torchseg::CreateNetwork(MakeOptions(c));
  network->train();
  const auto    outputs = network->forwardWithAuxiliary(MakeInput(c, 2));
  torch::Tensor loss = torch::zeros({});
  for (const auto & o : outputs)
  {
    loss = loss + (o * torch::randn_like(o)).mean();
  }
  loss.backward();
  for (const auto & p : network->named_parameters())
  {
    ASSERT_TRUE(p.value().requires_grad()) << p.key();
    ASSERT_TRUE(p.value().grad().defined()) << p.key() << " gets no gradient";
    EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
    // Weights of convolutions always move; a bias right before a normalisation legitimately gets (almost) none.
    if (p.value().dim() > 1)
    {
      EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
    }
  }
}

void
CheckEvalModeIsDeterministic(const Case & c)
{
  torch::manual_seed(3);
  auto network = torchseg::CreateNetwork(MakeOptions(c));
  network->eval();
  torch::InferenceMode guard;
  const torch::Tensor  input = MakeInput(c, 1);
  const torch::Tensor  a = network->forward(input);
  const torch::Tensor  b = network->forward(input);
  EXPECT_TRUE(torch::equal(a, b));
}

void
CheckSaveLoadRoundTripGivesIdenticalOutputs(const Case & c)
{
  torch::manual_seed(4);
  auto network = torchseg::CreateNetwork(MakeOptions(c));
  // A training step changes the running statistics: they must travel too.
  network->train();
  network->forward(MakeInput(c, 2));
  network->eval();
  const auto path = torchseg::testing::OutputPath("weights.pt");
  torch::save(network, path.string());

  torch::manual_seed(5);
  auto restored = torchseg::CreateNetwork(network->GetOptions());
  torch::load(restored, path.string());
  restored->eval();
  torch::InferenceMode guard;
  const torch::Tensor  input = MakeInput(c, 1);
  EXPECT_TRUE(torch::equal(network->forward(input), restored->forward(input)));
  EXPECT_EQ(network->GetOptions().options, restored->GetOptions().options);
}

void
CheckOptionsAreFilledAndRecreateTheSameNetwork(const Case & c)
{
  auto         network = torchseg::CreateNetwork(MakeOptions(c));
  const auto & filled = network->GetOptions();
  EXPECT_EQ(filled.architecture, c.architecture);
  EXPECT_EQ(filled.spatialDimensions, c.dimensions);
  for (const auto & item : c.options.items())
  {
    EXPECT_EQ(filled.options.at(item.key()), item.value()) << item.key();
  }
  EXPECT_GE(filled.options.size(), c.options.size());
  // The JSON round trip (what the model file stores) rebuilds the same structure.
  const NetworkOptions reread = nlohmann::json(filled).get<NetworkOptions>();
  auto                 again = torchseg::CreateNetwork(reread);
  EXPECT_EQ(again->GetOptions().options, filled.options);
  const auto a = network->named_parameters();
  const auto b = again->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
  {
    EXPECT_EQ(a[i].key(), b[i].key());
    EXPECT_EQ(a[i].value().sizes(), b[i].value().sizes());
  }
}

class NetworkCase : public ::testing::TestWithParam<Case>
{};

// One test per configuration (each test is a process under ctest, and starting LibTorch costs more than the checks).
TEST_P(NetworkCase, ShapeGradientsDeterminismSaveLoadOptions)
{
  {
    SCOPED_TRACE("OutputHasTheInputSpatialSize");
    CheckOutputHasTheInputSpatialSize(GetParam());
  }
  {
    SCOPED_TRACE("GradientsReachEveryParameter");
    CheckGradientsReachEveryParameter(GetParam());
  }
  {
    SCOPED_TRACE("EvalModeIsDeterministic");
    CheckEvalModeIsDeterministic(GetParam());
  }
  {
    SCOPED_TRACE("SaveLoadRoundTripGivesIdenticalOutputs");
    CheckSaveLoadRoundTripGivesIdenticalOutputs(GetParam());
  }
  {
    SCOPED_TRACE("OptionsAreFilledAndRecreateTheSameNetwork");
    CheckOptionsAreFilledAndRecreateTheSameNetwork(GetParam());
  }
}

INSTANTIATE_TEST_SUITE_P(Networks, NetworkCase, ::testing::ValuesIn(AllCases()),
                         [](const ::testing::TestParamInfo<Case> & info) { return info.param.name; });

TEST(NetworkFactory, EveryArchitectureHasATestCase)
{
  const auto cases = AllCases();
  for (const auto & name : torchseg::GetArchitectureNames())
  {
    EXPECT_TRUE(std::any_of(cases.begin(), cases.end(), [&](const Case & c) { return c.architecture == name; }))
      << name;
  }
}

std::string
CreationError(const NetworkOptions & options)
{
  try
  {
    torchseg::CreateNetwork(options);
  }
  catch (const itk::ExceptionObject & e)
  {
    return e.GetDescription();
  }
  return "no error";
}

TEST(NetworkFactory, UnknownArchitectureIsNamed)
{
  NetworkOptions o;
  o.architecture = "unet4d";
  const std::string message = CreationError(o);
  EXPECT_NE(message.find("\"unet4d\""), std::string::npos) << message;
  EXPECT_NE(message.find("unet3d"), std::string::npos) << message; // lists the known ones
}

TEST(NetworkFactory, UnknownOptionKeyIsNamed)
{
  NetworkOptions o;
  o.architecture = "unet2d";
  o.options = { { "width", 4 }, { "dept", 3 } };
  const std::string message = CreationError(o);
  EXPECT_NE(message.find("\"dept\""), std::string::npos) << message;
}

TEST(NetworkFactory, InvalidValuesAreNamed)
{
  NetworkOptions o;
  o.architecture = "unet3d";
  o.options = { { "depth", 12 } };
  EXPECT_NE(CreationError(o).find("depth = 12"), std::string::npos) << CreationError(o);
  o.options = { { "normalization", "layer" } };
  EXPECT_NE(CreationError(o).find("normalization = \"layer\""), std::string::npos) << CreationError(o);
  o.options = { { "width", "wide" } };
  EXPECT_NE(CreationError(o).find("width = \"wide\""), std::string::npos) << CreationError(o);
  o.options = { { "width", 64 }, { "maxWidth", 32 } };
  EXPECT_NE(CreationError(o).find("maxWidth"), std::string::npos) << CreationError(o);
  o.options = nlohmann::json::array();
  EXPECT_NE(CreationError(o).find("JSON object"), std::string::npos) << CreationError(o);
  o.options = nlohmann::json::object();
  o.numberOfClasses = 0;
  EXPECT_NE(CreationError(o).find("numberOfClasses 0"), std::string::npos) << CreationError(o);
  o.numberOfClasses = 2;
  o.inputChannels = -1;
  EXPECT_NE(CreationError(o).find("inputChannels -1"), std::string::npos) << CreationError(o);
}

TEST(NetworkFactory, NamesEndingIn2dOr3dFixTheDimension)
{
  NetworkOptions o;
  o.architecture = "unet3d";
  o.spatialDimensions = 2;
  o.options = { { "width", 2 }, { "depth", 2 } };
  auto network = torchseg::CreateNetwork(o);
  EXPECT_EQ(network->GetOptions().spatialDimensions, 3);
  EXPECT_EQ(network->GetOptions().options.at("maxWidth"), 320);
}

TEST(NetworkFactory, ValidateFillsEveryDefaultWithoutBuilding)
{
  NetworkOptions o;
  o.architecture = "deeplabv3";
  const auto filled = torchseg::ValidateNetworkOptions(o);
  EXPECT_EQ(
    filled.options,
    (nlohmann::json{ { "backbone", "resnet50" }, { "width", 64 }, { "outputStride", 8 }, { "auxiliaryHead", false } }));
  o.architecture = "fcn8s";
  o.spatialDimensions = 3;
  EXPECT_EQ(torchseg::ValidateNetworkOptions(o).options,
            (nlohmann::json{ { "backbone", "vgg16" },
                             { "width", 64 },
                             { "outputStride", 32 },
                             { "upsampling", "bilinear" },
                             { "auxiliaryHead", false } }));
  o.architecture = "unet2d";
  const auto unet = torchseg::ValidateNetworkOptions(o);
  EXPECT_EQ(unet.spatialDimensions, 2);
  EXPECT_EQ(unet.options.at("maxWidth"), 512);
  EXPECT_EQ(unet.options.at("depth"), 5);
  o.options = { { "outputStride", 16 } };
  EXPECT_THROW(torchseg::ValidateNetworkOptions(o), itk::ExceptionObject);
  // Every architecture validates its defaults.
  for (const auto & name : torchseg::GetArchitectureNames())
  {
    NetworkOptions d;
    d.architecture = name;
    EXPECT_NO_THROW(torchseg::ValidateNetworkOptions(d)) << name;
  }
}

TEST(NetworkFactory, WrongInputShapeIsAClearError)
{
  NetworkOptions o;
  o.architecture = "unet3d";
  o.inputChannels = 2;
  o.options = { { "width", 2 }, { "depth", 2 } };
  auto network = torchseg::CreateNetwork(o);
  for (const auto & shape : { std::vector<int64_t>{ 1, 1, 8, 8, 8 }, std::vector<int64_t>{ 1, 2, 8, 8 } })
  {
    try
    {
      network->forward(torch::zeros(shape));
      ADD_FAILURE() << "no error";
    }
    catch (const c10::Error & e)
    {
      const std::string message = e.what_without_backtrace();
      EXPECT_NE(message.find("unet3d expects an input of shape (N, 2, D, H, W)"), std::string::npos) << message;
    }
  }
}

TEST(NetworkOptions, JsonRoundTripAndErrors)
{
  NetworkOptions o;
  o.architecture = "unet3d";
  o.spatialDimensions = 3;
  o.inputChannels = 2;
  o.numberOfClasses = 4;
  o.options = { { "width", 8 } };
  const nlohmann::json j = o;
  EXPECT_EQ(j.at("numberOfClasses"), 4);
  const auto back = j.get<NetworkOptions>();
  EXPECT_EQ(back.architecture, "unet3d");
  EXPECT_EQ(back.spatialDimensions, 3);
  EXPECT_EQ(back.inputChannels, 2);
  EXPECT_EQ(back.numberOfClasses, 4);
  EXPECT_EQ(back.options, o.options);
  EXPECT_THROW(nlohmann::json({ { "architecture", "unet2d" }, { "classes", 3 } }).get<NetworkOptions>(),
               itk::ExceptionObject);
  EXPECT_THROW(nlohmann::json({ { "spatialDimensions", 3 } }).get<NetworkOptions>(), itk::ExceptionObject);
  EXPECT_THROW(nlohmann::json({ { "architecture", 3 } }).get<NetworkOptions>(), itk::ExceptionObject);
}

TEST(UNet, DeepSupervisionHeadsCoverTheInputAtStrides2And4)
{
  NetworkOptions o;
  o.architecture = "unet2d";
  o.inputChannels = 1;
  o.numberOfClasses = 2;
  o.options = { { "width", 2 }, { "depth", 4 }, { "deepSupervision", true } };
  auto network = torchseg::CreateNetwork(o);
  network->eval();
  torch::InferenceMode guard;
  const auto           outputs = network->forwardWithAuxiliary(torch::randn({ 1, 1, 37, 50 }));
  ASSERT_EQ(outputs.size(), 3u);
  EXPECT_EQ(outputs[0].sizes(), (std::vector<int64_t>{ 1, 2, 37, 50 }));
  EXPECT_EQ(outputs[1].sizes(), (std::vector<int64_t>{ 1, 2, 19, 25 }));
  EXPECT_EQ(outputs[2].sizes(), (std::vector<int64_t>{ 1, 2, 10, 13 }));
  // forward() is the first output of forwardWithAuxiliary().
  EXPECT_TRUE(torch::allclose(network->forward(torch::ones({ 1, 1, 37, 50 })),
                              network->forwardWithAuxiliary(torch::ones({ 1, 1, 37, 50 }))[0]));
}

TEST(UNet, StateDictKeysFollowNnUNet)
{
  NetworkOptions o;
  o.architecture = "unet3d";
  o.inputChannels = 1;
  o.numberOfClasses = 3;
  o.options = { { "width", 4 }, { "depth", 3 }, { "maxWidth", 8 } };
  auto       network = torchseg::CreateNetwork(o);
  const auto params = network->named_parameters();
  EXPECT_EQ(params["encoder.stages.0.convs.0.conv.weight"].sizes(), (std::vector<int64_t>{ 4, 1, 3, 3, 3 }));
  EXPECT_EQ(params["encoder.stages.1.convs.0.conv.weight"].sizes(), (std::vector<int64_t>{ 8, 4, 3, 3, 3 }));
  // capped by maxWidth
  EXPECT_EQ(params["encoder.stages.2.convs.1.conv.weight"].sizes(), (std::vector<int64_t>{ 8, 8, 3, 3, 3 }));
  EXPECT_EQ(params["encoder.stages.2.convs.1.norm.weight"].sizes(), (std::vector<int64_t>{ 8 }));
  EXPECT_EQ(params["decoder.transpconvs.0.weight"].sizes(), (std::vector<int64_t>{ 8, 8, 2, 2, 2 }));
  EXPECT_EQ(params["decoder.stages.1.convs.0.conv.weight"].sizes(), (std::vector<int64_t>{ 4, 8, 3, 3, 3 }));
  EXPECT_EQ(params["decoder.seg_layers.0.weight"].sizes(), (std::vector<int64_t>{ 3, 4, 1, 1, 1 }));
  // Analytic count: encoder 4*1*27+4 + 4*4*27+4 + 8*4*27+8 + 8*8*27+8 + 8*8*27+8 + 8*8*27+8, norms 2*(4+4+8+8+8+8),
  // decoder transposed 8*8*8+8 + 8*4*8+4, stages 8*16*27+8 + 8*8*27+8 + 4*8*27+4 + 4*4*27+4 (+ norms 2*(8+8+4+4)),
  // head 3*4+3.
  const int64_t encoder =
    (4 * 1 * 27 + 4) + (4 * 4 * 27 + 4) + (8 * 4 * 27 + 8) + 3 * (8 * 8 * 27 + 8) + 2 * (4 + 4 + 8 + 8 + 8 + 8);
  const int64_t decoder = (8 * 8 * 8 + 8) + (8 * 4 * 8 + 4) + (8 * 16 * 27 + 8) + (8 * 8 * 27 + 8) + (4 * 8 * 27 + 4) +
                          (4 * 4 * 27 + 4) + 2 * (8 + 8 + 4 + 4) + (3 * 4 + 3);
  EXPECT_EQ(torchseg::layers::CountParameters(*network), encoder + decoder);
}

} // namespace
