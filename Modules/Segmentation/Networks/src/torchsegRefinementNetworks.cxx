#include "torchsegRefinementNetworks.h"

#include "torchsegNetworkOptionReader.h"

#include <torch/torch.h>

namespace torchseg
{

RefinementNetworkOptions
RefinementNetworkOptions::Read(NetworkOptions & options)
{
  NetworkOptionReader      reader(options);
  RefinementNetworkOptions o;
  o.backbone.name = reader.Choice("backbone", "resnet50", { "resnet18", "resnet34", "resnet50", "resnet101" });
  o.backbone.dimensions = options.spatialDimensions;
  o.backbone.inputChannels = options.inputChannels;
  o.backbone.width = reader.Integer("width", 64, 1, 4096);
  o.backbone.outputStride = 32;
  if (options.architecture == "gcn")
  {
    o.kernelSize = reader.Integer("kernelSize", options.spatialDimensions == 3 ? 7 : 15, 3, 63);
    if (o.kernelSize % 2 == 0)
    {
      reader.Fail("kernelSize", "is not odd");
    }
    o.upsampling = layers::UpsamplingFromString(
      reader.Choice("upsampling", "transposed", { "nearest", "bilinear", "transposed", "transposedFrozen" }));
  }
  reader.Finish();
  return o;
}

GlobalConvolutionImpl::GlobalConvolutionImpl(int dimensions, int64_t in, int64_t out, int64_t kernel)
{
  // One k-long kernel per axis; "left" runs the axes in order, "right" in reverse.
  auto axisConv = [&](int axis, int64_t from) {
    std::vector<int64_t> shape(static_cast<size_t>(dimensions), 1);
    std::vector<int64_t> padding(static_cast<size_t>(dimensions), 0);
    shape[static_cast<size_t>(axis)] = kernel;
    padding[static_cast<size_t>(axis)] = kernel / 2;
    return layers::Conv(layers::ConvOptions(dimensions, from, out, kernel).kernel_shape(shape).padding_shape(padding));
  };
  m_Left = register_module("left", torch::nn::Sequential());
  m_Right = register_module("right", torch::nn::Sequential());
  for (int i = 0; i < dimensions; ++i)
  {
    m_Left->push_back(axisConv(i, i == 0 ? in : out));
    m_Right->push_back(axisConv(dimensions - 1 - i, i == 0 ? in : out));
  }
}

torch::Tensor
GlobalConvolutionImpl::forward(const torch::Tensor & x)
{
  return m_Left->forward(x) + m_Right->forward(x);
}

ResidualConvolutionImpl::ResidualConvolutionImpl(int dimensions, int64_t channels, bool preActivation)
  : m_PreActivation(preActivation)
{
  m_Conv1 = register_module("conv1", layers::Conv(layers::ConvOptions(dimensions, channels, channels, 3).padding(1)));
  m_Conv2 = register_module("conv2", layers::Conv(layers::ConvOptions(dimensions, channels, channels, 3).padding(1)));
}

torch::Tensor
ResidualConvolutionImpl::forward(const torch::Tensor & x)
{
  torch::Tensor y = m_Conv1(m_PreActivation ? torch::relu(x) : x);
  return x + m_Conv2(y.relu_());
}

GCNImpl::GCNImpl(NetworkOptions options)
  : SegmentationNetworkImpl(std::move(options))
{
  m_RefinementOptions = RefinementNetworkOptions::Read(m_Options);
  const int     d = m_Options.spatialDimensions;
  const int64_t classes = m_Options.numberOfClasses;
  m_Backbone = register_module("backbone", ResNet(m_RefinementOptions.backbone));
  auto gcn = register_module("gcn", torch::nn::ModuleList());
  auto score = register_module("br_score", torch::nn::ModuleList());
  for (int i = 0; i < 4; ++i)
  {
    m_GCN.emplace_back(d, m_Backbone->GetStageChannels()[i], classes, m_RefinementOptions.kernelSize);
    gcn->push_back(m_GCN.back());
    m_ScoreRefinement.emplace_back(d, classes, false);
    score->push_back(m_ScoreRefinement.back());
  }
  auto fuse = register_module("br_fuse", torch::nn::ModuleList());
  for (int i = 0; i < 3; ++i)
  {
    m_FusionRefinement.emplace_back(d, classes, false);
    fuse->push_back(m_FusionRefinement.back());
  }
  auto out = register_module("br_out", torch::nn::ModuleList());
  for (int i = 0; i < 2; ++i)
  {
    m_OutputRefinement.emplace_back(d, classes, false);
    out->push_back(m_OutputRefinement.back());
  }
  auto upsample = register_module("upsample", torch::nn::ModuleList());
  for (int i = 0; i < 5; ++i)
  {
    m_Upsample.emplace_back(d, classes, 2, m_RefinementOptions.upsampling);
    upsample->push_back(m_Upsample.back());
  }
}

torch::Tensor
GCNImpl::forward(torch::Tensor input)
{
  this->CheckInput(input);
  const std::vector<int64_t> size = layers::SpatialSize(input);
  const torch::Tensor        x = layers::PadToMultiple(input, 32);
  const auto                 features = m_Backbone->forward(x);
  std::vector<torch::Tensor> scores;
  for (int i = 0; i < 4; ++i)
  {
    scores.push_back(m_ScoreRefinement[i](m_GCN[i](features[i])));
  }
  torch::Tensor y = scores[3];
  for (int i = 2; i >= 0; --i)
  {
    y = m_FusionRefinement[2 - i](m_Upsample[2 - i](y, layers::SpatialSize(scores[i])) + scores[i]);
  }
  const std::vector<int64_t> full = layers::SpatialSize(x);
  y = m_OutputRefinement[0](m_Upsample[3](y, layers::DivideRoundUp(full, 2)));
  y = m_OutputRefinement[1](m_Upsample[4](y, full));
  return layers::CropTo(y, size);
}

RefineBlockImpl::RefineBlockImpl(int dimensions, const std::vector<int64_t> & inputs, int64_t channels)
{
  auto units = register_module("rcu", torch::nn::ModuleList());
  for (const int64_t in : inputs)
  {
    m_Units.emplace_back(ResidualConvolution(dimensions, in, true), ResidualConvolution(dimensions, in, true));
    units->push_back(m_Units.back());
  }
  if (inputs.size() > 1)
  {
    auto fusion = register_module("mrf", torch::nn::ModuleList());
    for (const int64_t in : inputs)
    {
      m_Fusion.emplace_back(layers::ConvOptions(dimensions, in, channels, 3).padding(1).bias(false));
      fusion->push_back(m_Fusion.back());
    }
  }
  auto pooling = register_module("crp", torch::nn::ModuleList());
  for (int i = 0; i < 2; ++i)
  {
    m_Pooling.emplace_back(layers::ConvOptions(dimensions, channels, channels, 3).padding(1).bias(false));
    pooling->push_back(m_Pooling.back());
  }
  m_Output = register_module("output", ResidualConvolution(dimensions, channels, true));
}

torch::Tensor
RefineBlockImpl::forward(const std::vector<torch::Tensor> & paths)
{
  torch::Tensor y;
  if (m_Fusion.empty())
  {
    y = m_Units[0]->forward(paths[0]);
  }
  else
  {
    const std::vector<int64_t> finest = layers::SpatialSize(paths[0]);
    for (size_t k = 0; k < paths.size(); ++k)
    {
      const torch::Tensor fused = layers::Resize(m_Fusion[k](m_Units[k]->forward(paths[k])), finest);
      y = y.defined() ? y + fused : fused;
    }
  }
  // Chained residual pooling: each stage pools the previous stage's output; all are summed.
  y = torch::relu(y);
  torch::Tensor path = y;
  for (auto & conv : m_Pooling)
  {
    path = conv(layers::MaxPool(path, 5, 1, 2));
    y = y + path;
  }
  return m_Output(y);
}

RefineNetImpl::RefineNetImpl(NetworkOptions options)
  : SegmentationNetworkImpl(std::move(options))
{
  m_RefinementOptions = RefinementNetworkOptions::Read(m_Options);
  const int     d = m_Options.spatialDimensions;
  const int64_t w = m_RefinementOptions.backbone.width;
  m_Backbone = register_module("backbone", ResNet(m_RefinementOptions.backbone));
  const int64_t widths[4] = { 4 * w, 4 * w, 4 * w, 8 * w };
  auto          adapt = register_module("adapt", torch::nn::ModuleList());
  for (int i = 0; i < 4; ++i)
  {
    m_Adapt.emplace_back(
      layers::ConvOptions(d, m_Backbone->GetStageChannels()[i], widths[i], 3).padding(1).bias(false));
    adapt->push_back(m_Adapt.back());
  }
  auto refine = register_module("refine", torch::nn::ModuleList());
  m_Blocks.emplace_back(d, std::vector<int64_t>{ widths[3] }, widths[3]);
  refine->push_back(m_Blocks.back());
  for (int i = 2; i >= 0; --i)
  {
    m_Blocks.emplace_back(d, std::vector<int64_t>{ widths[i], widths[i + 1] }, widths[i]);
    refine->push_back(m_Blocks.back());
  }
  m_Final = register_module(
    "final", torch::nn::Sequential(ResidualConvolution(d, widths[0], true), ResidualConvolution(d, widths[0], true)));
  m_Classifier =
    register_module("classifier", layers::Conv(layers::ConvOptions(d, widths[0], m_Options.numberOfClasses, 1)));
}

torch::Tensor
RefineNetImpl::forward(torch::Tensor input)
{
  this->CheckInput(input);
  const std::vector<int64_t> size = layers::SpatialSize(input);
  const torch::Tensor        x = layers::PadToMultiple(input, 32);
  const auto                 features = m_Backbone->forward(x);
  torch::Tensor              y = m_Blocks[0]->forward({ m_Adapt[3](features[3]) });
  for (int i = 2; i >= 0; --i)
  {
    y = m_Blocks[3 - i]->forward({ m_Adapt[i](features[i]), y });
  }
  const torch::Tensor logits = m_Classifier(m_Final->forward(y));
  return layers::CropTo(layers::Resize(logits, layers::SpatialSize(x)), size);
}

} // namespace torchseg
