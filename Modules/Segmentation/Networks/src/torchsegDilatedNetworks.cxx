#include "torchsegDilatedNetworks.h"

#include "torchsegNetworkOptionReader.h"

#include <torch/torch.h>

namespace torchseg
{
namespace
{
torch::nn::ReLU
ReLU()
{
  return torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true));
}

/** Bilinear (trilinear) upscaling of logits computed on the padded input, cropped to the input size. */
torch::Tensor
Upscale(const torch::Tensor & logits, const torch::Tensor & padded, const std::vector<int64_t> & size)
{
  return layers::CropTo(layers::Resize(logits, layers::SpatialSize(padded)), size);
}
} // namespace

DilatedNetworkOptions
DilatedNetworkOptions::Read(NetworkOptions & options)
{
  NetworkOptionReader   reader(options);
  DilatedNetworkOptions o;
  const std::string &   a = options.architecture;
  if (a == "deeplabv1")
  {
    // LargeFOV: output stride 8 is the design, not an option.
    o.backbone.name = reader.Choice("backbone", "vgg16", { "vgg11", "vgg13", "vgg16" });
    o.backbone.dimensions = options.spatialDimensions;
    o.backbone.inputChannels = options.inputChannels;
    o.backbone.width = reader.Integer("width", 64, 1, 4096);
    o.backbone.outputStride = 8;
  }
  else
  {
    o.backbone = ReadBackboneOptions(reader,
                                     options,
                                     a == "denseaspp" ? "resnet50" : "resnet101",
                                     { "resnet18", "resnet34", "resnet50", "resnet101" },
                                     8,
                                     { 8, 16 });
  }
  if (a == "ducHdc")
  {
    o.backbone.hybridDilation = reader.Boolean("hybridDilation", true);
  }
  reader.Finish();
  return o;
}

DeepLabV1Impl::DeepLabV1Impl(NetworkOptions options)
  : SegmentationNetworkImpl(std::move(options))
{
  m_DilatedOptions = DilatedNetworkOptions::Read(m_Options);
  const int d = m_Options.spatialDimensions;
  m_Backbone = register_module("backbone", VGG(m_DilatedOptions.backbone));
  const int64_t fc = 16 * m_DilatedOptions.backbone.width;
  m_Classifier = register_module(
    "classifier",
    torch::nn::Sequential(
      layers::Conv(layers::ConvOptions(d, m_Backbone->GetStageChannels().back(), fc, 3).padding(12).dilation(12)),
      ReLU(),
      torch::nn::Dropout(torch::nn::DropoutOptions(0.5)),
      layers::Conv(layers::ConvOptions(d, fc, fc, 1)),
      ReLU(),
      torch::nn::Dropout(torch::nn::DropoutOptions(0.5)),
      layers::Conv(layers::ConvOptions(d, fc, m_Options.numberOfClasses, 1))));
}

torch::Tensor
DeepLabV1Impl::forward(torch::Tensor input)
{
  this->CheckInput(input);
  const std::vector<int64_t> size = layers::SpatialSize(input);
  const torch::Tensor        x = layers::PadToMultiple(input, 8);
  return Upscale(m_Classifier->forward(m_Backbone->forward(x).pooled.back()), x, size);
}

DeepLabV2Impl::DeepLabV2Impl(NetworkOptions options)
  : SegmentationNetworkImpl(std::move(options))
{
  m_DilatedOptions = DilatedNetworkOptions::Read(m_Options);
  const int d = m_Options.spatialDimensions;
  m_Backbone = register_module("backbone", ResNet(m_DilatedOptions.backbone));
  auto          classifier = register_module("classifier", torch::nn::ModuleList());
  const int64_t scale = m_DilatedOptions.backbone.outputStride == 8 ? 2 : 1;
  for (const int64_t rate : { 3, 6, 9, 12 })
  {
    layers::Conv branch(layers::ConvOptions(d, m_Backbone->GetStageChannels()[3], m_Options.numberOfClasses, 3)
                          .padding(rate * scale)
                          .dilation(rate * scale));
    // DeepLab v2 initialises the class-score layers with N(0, 0.01).
    torch::NoGradGuard noGrad;
    branch->weight.normal_(0.0, 0.01);
    branch->bias.zero_();
    classifier->push_back(branch);
    m_Branches.push_back(branch);
  }
}

torch::Tensor
DeepLabV2Impl::forward(torch::Tensor input)
{
  this->CheckInput(input);
  const std::vector<int64_t> size = layers::SpatialSize(input);
  const torch::Tensor        x = layers::PadToMultiple(input, m_DilatedOptions.backbone.outputStride);
  const torch::Tensor        features = m_Backbone->forward(x)[3];
  torch::Tensor              scores = m_Branches[0](features);
  for (size_t i = 1; i < m_Branches.size(); ++i)
  {
    scores += m_Branches[i](features);
  }
  return Upscale(scores, x, size);
}

DUCHDCImpl::DUCHDCImpl(NetworkOptions options)
  : SegmentationNetworkImpl(std::move(options))
{
  m_DilatedOptions = DilatedNetworkOptions::Read(m_Options);
  const int d = m_Options.spatialDimensions;
  m_Backbone = register_module("backbone", ResNet(m_DilatedOptions.backbone));
  int64_t blocks = 1;
  for (int i = 0; i < d; ++i)
  {
    blocks *= m_DilatedOptions.backbone.outputStride;
  }
  m_DUC = register_module(
    "duc",
    layers::Conv(
      layers::ConvOptions(d, m_Backbone->GetStageChannels()[3], m_Options.numberOfClasses * blocks, 3).padding(1)));
}

torch::Tensor
DUCHDCImpl::forward(torch::Tensor input)
{
  this->CheckInput(input);
  const std::vector<int64_t> size = layers::SpatialSize(input);
  const torch::Tensor        x = layers::PadToMultiple(input, m_DilatedOptions.backbone.outputStride);
  const torch::Tensor        duc = m_DUC(m_Backbone->forward(x)[3]);
  return layers::CropTo(layers::PixelShuffle(duc, m_DilatedOptions.backbone.outputStride), size);
}

DenseASPPImpl::DenseASPPImpl(NetworkOptions options)
  : SegmentationNetworkImpl(std::move(options))
{
  m_DilatedOptions = DilatedNetworkOptions::Read(m_Options);
  const int     d = m_Options.spatialDimensions;
  const int64_t w = m_DilatedOptions.backbone.width;
  m_Backbone = register_module("backbone", ResNet(m_DilatedOptions.backbone));
  auto          aspp = register_module("aspp", torch::nn::ModuleList());
  int64_t       in = m_Backbone->GetStageChannels()[3];
  const int64_t scale = m_DilatedOptions.backbone.outputStride == 8 ? 2 : 1;
  for (const int64_t half : { 3, 6, 12, 18, 24 })
  {
    const int64_t         rate = std::max<int64_t>(half * scale / 2, 1);
    torch::nn::Sequential layer(layers::BatchNorm(in),
                                ReLU(),
                                layers::Conv(layers::ConvOptions(d, in, 2 * w, 1).bias(false)),
                                layers::BatchNorm(2 * w),
                                ReLU(),
                                layers::Conv(layers::ConvOptions(d, 2 * w, w, 3).padding(rate).dilation(rate)),
                                torch::nn::Dropout(torch::nn::DropoutOptions(0.1)));
    aspp->push_back(layer);
    m_Layers.push_back(layer);
    in += w;
  }
  m_Classifier =
    register_module("classifier",
                    torch::nn::Sequential(torch::nn::Dropout(torch::nn::DropoutOptions(0.1)),
                                          layers::Conv(layers::ConvOptions(d, in, m_Options.numberOfClasses, 1))));
}

torch::Tensor
DenseASPPImpl::forward(torch::Tensor input)
{
  this->CheckInput(input);
  const std::vector<int64_t> size = layers::SpatialSize(input);
  const torch::Tensor        x = layers::PadToMultiple(input, m_DilatedOptions.backbone.outputStride);
  std::vector<torch::Tensor> dense{ m_Backbone->forward(x)[3] };
  for (auto & layer : m_Layers)
  {
    // Each layer sees the features and every earlier layer's output.
    dense.push_back(layer->forward(dense.size() == 1 ? dense.front() : torch::cat(dense, 1)));
  }
  return Upscale(m_Classifier->forward(torch::cat(dense, 1)), x, size);
}

} // namespace torchseg
