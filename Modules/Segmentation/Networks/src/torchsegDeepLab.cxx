#include "torchsegDeepLab.h"

#include "torchsegNetworkOptionReader.h"

#include <torch/torch.h>

namespace torchseg
{
namespace
{
const std::vector<std::string> &
ResNetNames()
{
  static const std::vector<std::string> names{ "resnet18", "resnet34", "resnet50", "resnet101" };
  return names;
}

torch::nn::ReLU
ReLU()
{
  return torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true));
}

/** Depthwise atrous conv, BN, ReLU, pointwise conv, BN, ReLU. */
torch::nn::Sequential
SeparableConvBNReLU(int dimensions, int64_t in, int64_t out, int64_t dilation)
{
  return torch::nn::Sequential(
    layers::Conv(
      layers::ConvOptions(dimensions, in, in, 3).padding(dilation).dilation(dilation).groups(in).bias(false)),
    layers::BatchNorm(in),
    ReLU(),
    layers::Conv(layers::ConvOptions(dimensions, in, out, 1).bias(false)),
    layers::BatchNorm(out),
    ReLU());
}

std::vector<torch::Tensor>
Upscale(std::vector<torch::Tensor> outputs, const std::vector<int64_t> & paddedSize, const std::vector<int64_t> & size)
{
  for (auto & o : outputs)
  {
    o = layers::CropTo(layers::Resize(o, paddedSize), size);
  }
  return outputs;
}
} // namespace

DeepLabOptions
DeepLabOptions::Read(NetworkOptions & options)
{
  NetworkOptionReader reader(options);
  DeepLabOptions      o;
  const bool          plus = options.architecture == "deeplabv3plus";
  o.backbone = ReadBackboneOptions(reader, options, "resnet50", ResNetNames(), plus ? 16 : 8, { 8, 16 });
  if (plus)
  {
    o.separable = reader.Boolean("separable", true);
  }
  else
  {
    o.auxiliaryHead = reader.Boolean("auxiliaryHead", false);
  }
  reader.Finish();
  return o;
}

std::vector<int64_t>
DeepLabOptions::AtrousRates() const
{
  const int64_t scale = 16 / backbone.outputStride;
  return { 6 * scale, 12 * scale, 18 * scale };
}

ASPPImpl::ASPPImpl(int dimensions, int64_t in, int64_t out, const std::vector<int64_t> & rates, bool separable)
{
  auto convs = register_module("convs", torch::nn::ModuleList());
  m_Branches.push_back(ConvBNReLU(dimensions, in, out, 1));
  for (const int64_t rate : rates)
  {
    m_Branches.push_back(separable ? SeparableConvBNReLU(dimensions, in, out, rate)
                                   : ConvBNReLU(dimensions, in, out, 3, rate));
  }
  for (auto & branch : m_Branches)
  {
    convs->push_back(branch);
  }
  m_Pooling = torch::nn::Sequential(layers::AdaptivePool(1),
                                    layers::Conv(layers::ConvOptions(dimensions, in, out, 1).bias(false)),
                                    layers::BatchNorm(out),
                                    ReLU());
  convs->push_back(m_Pooling);
  const int64_t branches = static_cast<int64_t>(m_Branches.size()) + 1;
  m_Project = register_module(
    "project",
    torch::nn::Sequential(layers::Conv(layers::ConvOptions(dimensions, branches * out, out, 1).bias(false)),
                          layers::BatchNorm(out),
                          ReLU(),
                          torch::nn::Dropout(torch::nn::DropoutOptions(0.5))));
}

torch::Tensor
ASPPImpl::forward(const torch::Tensor & x)
{
  std::vector<torch::Tensor> results;
  for (auto & branch : m_Branches)
  {
    results.push_back(branch->forward(x));
  }
  // Upsampling a 1-voxel map (torchvision interpolates) is a broadcast.
  results.push_back(m_Pooling->forward(x).expand_as(results.front()));
  return m_Project->forward(torch::cat(results, 1));
}

DeepLabV3Impl::DeepLabV3Impl(NetworkOptions options)
  : SegmentationNetworkImpl(std::move(options))
{
  m_DeepLabOptions = DeepLabOptions::Read(m_Options);
  const int     d = m_Options.spatialDimensions;
  const int64_t classes = m_Options.numberOfClasses;
  m_Backbone = register_module("backbone", ResNet(m_DeepLabOptions.backbone));
  const int64_t in = m_Backbone->GetStageChannels()[3];
  const int64_t aspp = 4 * m_DeepLabOptions.backbone.width;
  m_Classifier =
    register_module("classifier",
                    torch::nn::Sequential(ASPP(d, in, aspp, m_DeepLabOptions.AtrousRates(), false),
                                          layers::Conv(layers::ConvOptions(d, aspp, aspp, 3).padding(1).bias(false)),
                                          layers::BatchNorm(aspp),
                                          ReLU(),
                                          layers::Conv(layers::ConvOptions(d, aspp, classes, 1))));
  if (m_DeepLabOptions.auxiliaryHead)
  {
    m_AuxiliaryClassifier = register_module("aux_classifier", FCNHead(d, m_Backbone->GetStageChannels()[2], classes));
  }
}

std::vector<torch::Tensor>
DeepLabV3Impl::Run(const torch::Tensor & input, bool auxiliary)
{
  this->CheckInput(input);
  const std::vector<int64_t> size = layers::SpatialSize(input);
  const torch::Tensor        x = layers::PadToMultiple(input, m_DeepLabOptions.backbone.outputStride);
  auto                       features = m_Backbone->forward(x);
  std::vector<torch::Tensor> outputs{ m_Classifier->forward(features[3]) };
  if (auxiliary && m_AuxiliaryClassifier)
  {
    outputs.push_back(m_AuxiliaryClassifier->forward(features[2]));
  }
  return Upscale(std::move(outputs), layers::SpatialSize(x), size);
}

torch::Tensor
DeepLabV3Impl::forward(torch::Tensor input)
{
  return this->Run(input, false).front();
}

std::vector<torch::Tensor>
DeepLabV3Impl::forwardWithAuxiliary(torch::Tensor input)
{
  return this->Run(input, true);
}

DeepLabV3PlusImpl::DeepLabV3PlusImpl(NetworkOptions options)
  : SegmentationNetworkImpl(std::move(options))
{
  m_DeepLabOptions = DeepLabOptions::Read(m_Options);
  const int     d = m_Options.spatialDimensions;
  const auto &  o = m_DeepLabOptions;
  const int64_t w = o.backbone.width;
  const int64_t aspp = 4 * w;
  const int64_t lowLevel = std::max<int64_t>(3 * w / 4, 1); // 48 at width 64
  m_Backbone = register_module("backbone", ResNet(o.backbone));
  m_ASPP = register_module("aspp", ASPP(d, m_Backbone->GetStageChannels()[3], aspp, o.AtrousRates(), o.separable));
  m_LowLevel = register_module("low_level", ConvBNReLU(d, m_Backbone->GetStageChannels()[0], lowLevel, 1));
  auto refine = register_module("refine", torch::nn::ModuleList());
  for (const int64_t in : { aspp + lowLevel, aspp })
  {
    m_Refine.push_back(o.separable ? SeparableConvBNReLU(d, in, aspp, 1) : ConvBNReLU(d, in, aspp, 3));
    refine->push_back(m_Refine.back());
  }
  m_Classifier =
    register_module("classifier", layers::Conv(layers::ConvOptions(d, aspp, m_Options.numberOfClasses, 1)));
}

torch::Tensor
DeepLabV3PlusImpl::forward(torch::Tensor input)
{
  this->CheckInput(input);
  const std::vector<int64_t> size = layers::SpatialSize(input);
  const torch::Tensor        padded = layers::PadToMultiple(input, m_DeepLabOptions.backbone.outputStride);
  auto                       features = m_Backbone->forward(padded);
  const torch::Tensor        low = m_LowLevel->forward(features[0]);
  features[0] = torch::Tensor();
  const torch::Tensor high = layers::Resize(m_ASPP(features[3]), layers::SpatialSize(low));
  torch::Tensor       x = torch::cat({ high, low }, 1);
  for (auto & block : m_Refine)
  {
    x = block->forward(x);
  }
  const torch::Tensor logits = m_Classifier(x);
  return layers::CropTo(layers::Resize(logits, layers::SpatialSize(padded)), size);
}

PSPNetImpl::PSPNetImpl(NetworkOptions options)
  : SegmentationNetworkImpl(std::move(options))
{
  m_DeepLabOptions = DeepLabOptions::Read(m_Options);
  const int     d = m_Options.spatialDimensions;
  const int64_t classes = m_Options.numberOfClasses;
  m_Backbone = register_module("backbone", ResNet(m_DeepLabOptions.backbone));
  const int64_t in = m_Backbone->GetStageChannels()[3];
  const int64_t reduced = std::max<int64_t>(in / 4, 1);
  auto          ppm = register_module("ppm", torch::nn::ModuleList());
  for (const int64_t bins : { 1, 2, 3, 6 })
  {
    torch::nn::Sequential stage(layers::AdaptivePool(bins),
                                layers::Conv(layers::ConvOptions(d, in, reduced, 1).bias(false)),
                                layers::BatchNorm(reduced),
                                ReLU());
    ppm->push_back(stage);
    m_Pyramid.push_back(stage);
  }
  const int64_t bottleneck = 8 * m_DeepLabOptions.backbone.width;
  m_Classifier = register_module(
    "classifier",
    torch::nn::Sequential(layers::Conv(layers::ConvOptions(d, in + 4 * reduced, bottleneck, 3).padding(1).bias(false)),
                          layers::BatchNorm(bottleneck),
                          ReLU(),
                          torch::nn::Dropout(torch::nn::DropoutOptions(0.1)),
                          layers::Conv(layers::ConvOptions(d, bottleneck, classes, 1))));
  if (m_DeepLabOptions.auxiliaryHead)
  {
    m_AuxiliaryClassifier = register_module("aux_classifier", FCNHead(d, m_Backbone->GetStageChannels()[2], classes));
  }
}

std::vector<torch::Tensor>
PSPNetImpl::Run(const torch::Tensor & input, bool auxiliary)
{
  this->CheckInput(input);
  const std::vector<int64_t> size = layers::SpatialSize(input);
  const torch::Tensor        x = layers::PadToMultiple(input, m_DeepLabOptions.backbone.outputStride);
  auto                       features = m_Backbone->forward(x);
  const torch::Tensor &      f = features[3];
  const std::vector<int64_t> featureSize = layers::SpatialSize(f);
  std::vector<torch::Tensor> pyramid{ f };
  for (auto & stage : m_Pyramid)
  {
    pyramid.push_back(layers::Resize(stage->forward(f), featureSize));
  }
  std::vector<torch::Tensor> outputs{ m_Classifier->forward(torch::cat(pyramid, 1)) };
  if (auxiliary && m_AuxiliaryClassifier)
  {
    outputs.push_back(m_AuxiliaryClassifier->forward(features[2]));
  }
  return Upscale(std::move(outputs), layers::SpatialSize(x), size);
}

torch::Tensor
PSPNetImpl::forward(torch::Tensor input)
{
  return this->Run(input, false).front();
}

std::vector<torch::Tensor>
PSPNetImpl::forwardWithAuxiliary(torch::Tensor input)
{
  return this->Run(input, true);
}

} // namespace torchseg
