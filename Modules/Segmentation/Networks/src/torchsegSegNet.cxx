#include "torchsegSegNet.h"

#include "torchsegNetworkOptionReader.h"

#include <torch/torch.h>

namespace torchseg
{
namespace
{
/** The mirrored decoder of a VGG encoder: stage S (deepest first) has as many blocks as the encoder stage; all keep
 * the stage's channels except the last, which reduces them to the next (shallower) stage's. */
std::vector<torch::nn::Sequential>
MakeMirroredDecoder(torch::nn::Module & owner, const VGG & encoder, int dimensions, bool transposed)
{
  const auto &                       channels = encoder->GetStageChannels();
  const auto &                       depths = encoder->GetStageDepths();
  auto                               list = owner.register_module("decoder", torch::nn::ModuleList());
  std::vector<torch::nn::Sequential> stages;
  for (int s = static_cast<int>(channels.size()) - 1; s >= 0; --s)
  {
    torch::nn::Sequential stage;
    for (int i = 0; i < depths[s]; ++i)
    {
      const int64_t out = (i == depths[s] - 1 && s > 0) ? channels[s - 1] : channels[s];
      stage->push_back(layers::Conv(
        layers::ConvOptions(dimensions, channels[s], out, 3).padding(1).bias(!transposed).transposed(transposed)));
      stage->push_back(layers::BatchNorm(out));
      stage->push_back(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
    }
    list->push_back(stage);
    stages.push_back(stage);
  }
  return stages;
}

torch::Tensor
Decode(std::vector<torch::nn::Sequential> & decoder, const VGGFeatures & features, torch::Tensor x)
{
  const size_t stages = decoder.size();
  for (size_t i = 0; i < stages; ++i)
  {
    const size_t s = stages - 1 - i;
    x = layers::MaxUnpool(x, features.indices[s], features.sizes[s], 2);
    x = decoder[i]->forward(x);
  }
  return x;
}
} // namespace

EncoderDecoderOptions
EncoderDecoderOptions::Read(NetworkOptions & options)
{
  NetworkOptionReader   reader(options);
  EncoderDecoderOptions o;
  o.backbone = ReadBackboneOptions(reader, options, "vgg16", { "vgg11", "vgg13", "vgg16" }, 32, { 32 });
  reader.Finish();
  return o;
}

SegNetImpl::SegNetImpl(NetworkOptions options)
  : SegmentationNetworkImpl(std::move(options))
{
  m_EncoderDecoderOptions = EncoderDecoderOptions::Read(m_Options);
  const int d = m_Options.spatialDimensions;
  m_Backbone = register_module("backbone", VGG(m_EncoderDecoderOptions.backbone));
  m_Decoder = MakeMirroredDecoder(*this, m_Backbone, d, false);
  layers::InitializeKaimingFanOut(*this);
  m_Classifier = register_module(
    "classifier",
    layers::Conv(layers::ConvOptions(d, m_Backbone->GetStageChannels()[0], m_Options.numberOfClasses, 3).padding(1)));
}

torch::Tensor
SegNetImpl::forward(torch::Tensor input)
{
  this->CheckInput(input);
  const std::vector<int64_t> size = layers::SpatialSize(input);
  const VGGFeatures          features = m_Backbone->forward(layers::PadToMultiple(input, 32), true);
  const torch::Tensor        x = Decode(m_Decoder, features, features.pooled.back());
  return layers::CropTo(m_Classifier(x), size);
}

DeconvNetImpl::DeconvNetImpl(NetworkOptions options)
  : SegmentationNetworkImpl(std::move(options))
{
  m_EncoderDecoderOptions = EncoderDecoderOptions::Read(m_Options);
  const int     d = m_Options.spatialDimensions;
  const int64_t fc = 64 * m_EncoderDecoderOptions.backbone.width;
  m_Backbone = register_module("backbone", VGG(m_EncoderDecoderOptions.backbone));
  const int64_t top = m_Backbone->GetStageChannels().back();
  auto          relu = [] { return torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)); };
  m_Fc6 = register_module(
    "fc6",
    torch::nn::Sequential(layers::Conv(layers::ConvOptions(d, top, fc, 7).padding(3)), layers::BatchNorm(fc), relu()));
  m_Fc7 = register_module(
    "fc7", torch::nn::Sequential(layers::Conv(layers::ConvOptions(d, fc, fc, 1)), layers::BatchNorm(fc), relu()));
  m_DeconvFc6 = register_module(
    "deconv_fc6",
    torch::nn::Sequential(layers::Conv(layers::ConvOptions(d, fc, top, 7).padding(3).bias(false).transposed(true)),
                          layers::BatchNorm(top),
                          relu()));
  m_Decoder = MakeMirroredDecoder(*this, m_Backbone, d, true);
  layers::InitializeKaimingFanOut(*this);
  m_Classifier = register_module(
    "classifier",
    layers::Conv(layers::ConvOptions(d, m_Backbone->GetStageChannels()[0], m_Options.numberOfClasses, 1)));
}

torch::Tensor
DeconvNetImpl::forward(torch::Tensor input)
{
  this->CheckInput(input);
  const std::vector<int64_t> size = layers::SpatialSize(input);
  const VGGFeatures          features = m_Backbone->forward(layers::PadToMultiple(input, 32), true);
  torch::Tensor              x = m_DeconvFc6->forward(m_Fc7->forward(m_Fc6->forward(features.pooled.back())));
  x = Decode(m_Decoder, features, x);
  return layers::CropTo(m_Classifier(x), size);
}

} // namespace torchseg
