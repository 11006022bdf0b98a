#include "torchsegUNet.h"

#include "torchsegNetworkOptionReader.h"

#include <torch/nn/init.h>
#include <torch/torch.h>

namespace torchseg
{

UNetOptions
UNetOptions::Read(NetworkOptions & options)
{
  NetworkOptionReader reader(options);
  UNetOptions         o;
  o.width = reader.Integer("width", 32, 1, 4096);
  o.maxWidth = reader.Integer("maxWidth", options.spatialDimensions == 3 ? 320 : 512, 1, 65536);
  o.depth = reader.Integer("depth", 5, 2, 8);
  o.convolutionsPerStage = reader.Integer("convolutionsPerStage", 2, 1, 8);
  o.stridedDownsampling = reader.Choice("downsampling", "strided", { "strided", "maxpool" }) == "strided";
  o.normalization =
    layers::NormalizationFromString(reader.Choice("normalization", "instance", { "instance", "batch", "none" }));
  o.negativeSlope = reader.Real("negativeSlope", 0.01, 0.0, 1.0);
  o.deepSupervision = reader.Boolean("deepSupervision", false);
  reader.Finish();
  if (o.maxWidth < o.width)
  {
    reader.Fail("maxWidth", "is smaller than width " + std::to_string(o.width));
  }
  return o;
}

UNetConvBlockImpl::UNetConvBlockImpl(int dimensions, int64_t in, int64_t out, int64_t stride,
                                     const UNetOptions & options)
{
  m_Conv = register_module(
    "conv", layers::Conv(layers::ConvOptions(dimensions, in, out, 3).stride(stride).padding(1).bias(true)));
  if (options.normalization != layers::NormalizationType::None)
  {
    m_Norm = register_module("norm", layers::Norm(options.normalization, out));
  }
  m_Nonlinearity = register_module(
    "nonlin", torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(options.negativeSlope)));
}

torch::Tensor
UNetConvBlockImpl::forward(torch::Tensor x)
{
  x = m_Conv(x);
  if (m_Norm)
  {
    x = m_Norm(x);
  }
  return m_Nonlinearity(x);
}

UNetStageImpl::UNetStageImpl(int dimensions, int64_t in, int64_t out, int64_t firstStride, const UNetOptions & options)
{
  auto convs = register_module("convs", torch::nn::ModuleList());
  for (int i = 0; i < options.convolutionsPerStage; ++i)
  {
    UNetConvBlock block(dimensions, i == 0 ? in : out, out, i == 0 ? firstStride : 1, options);
    convs->push_back(block);
    m_Blocks.push_back(block);
  }
}

torch::Tensor
UNetStageImpl::forward(torch::Tensor x)
{
  for (auto & block : m_Blocks)
  {
    x = block(x);
  }
  return x;
}

UNetImpl::UNetImpl(NetworkOptions options)
  : SegmentationNetworkImpl(std::move(options))
{
  m_UNetOptions = UNetOptions::Read(m_Options);
  m_Dimensions = m_Options.spatialDimensions;
  const UNetOptions & o = m_UNetOptions;

  std::vector<int64_t> features;
  for (int level = 0; level < o.depth; ++level)
  {
    features.push_back(std::min<int64_t>(static_cast<int64_t>(o.width) << level, o.maxWidth));
  }

  auto encoder = register_module("encoder", std::make_shared<torch::nn::Module>("UNetEncoder"));
  auto encoderStages = encoder->register_module("stages", torch::nn::ModuleList());
  for (int level = 0; level < o.depth; ++level)
  {
    const int64_t in = level == 0 ? m_Options.inputChannels : features[level - 1];
    const int64_t stride = (level > 0 && o.stridedDownsampling) ? 2 : 1;
    UNetStage     stage(m_Dimensions, in, features[level], stride, o);
    encoderStages->push_back(stage);
    m_EncoderStages.push_back(stage);
  }

  auto decoder = register_module("decoder", std::make_shared<torch::nn::Module>("UNetDecoder"));
  auto transposed = decoder->register_module("transpconvs", torch::nn::ModuleList());
  auto decoderStages = decoder->register_module("stages", torch::nn::ModuleList());
  auto heads = decoder->register_module("seg_layers", torch::nn::ModuleList());
  for (int s = 0; s < o.depth - 1; ++s)
  {
    const int64_t below = features[o.depth - 1 - s];
    const int64_t skip = features[o.depth - 2 - s];
    layers::Conv  up(layers::ConvOptions(m_Dimensions, below, skip, 2).stride(2).bias(true).transposed(true));
    transposed->push_back(up);
    m_TransposedConvolutions.push_back(up);
    UNetStage stage(m_Dimensions, 2 * skip, skip, 1, o);
    decoderStages->push_back(stage);
    m_DecoderStages.push_back(stage);
    if (o.deepSupervision || s == o.depth - 2)
    {
      layers::Conv head(layers::ConvOptions(m_Dimensions, skip, m_Options.numberOfClasses, 1).bias(true));
      heads->push_back(head);
      m_SegmentationHeads.push_back(head);
    }
  }

  // nnU-Net's InitWeights_He(1e-2).
  torch::NoGradGuard noGrad;
  for (const auto & module : this->modules(/*include_self=*/false))
  {
    if (auto * conv = module->as<layers::ConvImpl>())
    {
      torch::nn::init::kaiming_normal_(conv->weight, 1e-2);
      if (conv->bias.defined())
      {
        conv->bias.zero_();
      }
    }
  }
}

std::vector<torch::Tensor>
UNetImpl::Run(const torch::Tensor & input, bool auxiliary)
{
  this->CheckInput(input);
  const std::vector<int64_t> size = layers::SpatialSize(input);
  const int                  depth = m_UNetOptions.depth;
  torch::Tensor              x = layers::PadToMultiple(input, int64_t{ 1 } << (depth - 1));

  std::vector<torch::Tensor> skips;
  for (int level = 0; level < depth; ++level)
  {
    if (level > 0 && !m_UNetOptions.stridedDownsampling)
    {
      x = layers::MaxPool(x, 2, 2);
    }
    x = m_EncoderStages[level](x);
    skips.push_back(x);
  }

  std::vector<torch::Tensor> outputs;
  for (int s = 0; s < depth - 1; ++s)
  {
    x = m_TransposedConvolutions[s](x);
    x = torch::cat({ x, skips[depth - 2 - s] }, 1);
    skips[depth - 2 - s] = torch::Tensor();
    x = m_DecoderStages[s](x);
    const bool last = s == depth - 2;
    if (last || (auxiliary && m_UNetOptions.deepSupervision))
    {
      const int64_t stride = int64_t{ 1 } << (depth - 2 - s);
      auto &        head = m_SegmentationHeads[m_UNetOptions.deepSupervision ? s : 0];
      outputs.push_back(layers::CropTo(head(x), layers::DivideRoundUp(size, stride)));
    }
  }
  // Highest resolution first.
  std::reverse(outputs.begin(), outputs.end());
  return outputs;
}

torch::Tensor
UNetImpl::forward(torch::Tensor input)
{
  return this->Run(input, false).front();
}

std::vector<torch::Tensor>
UNetImpl::forwardWithAuxiliary(torch::Tensor input)
{
  return this->Run(input, true);
}

} // namespace torchseg
