#include "torchsegBackbones.h"

#include "torchsegNetworkOptionReader.h"

#include "itkMacro.h"

#include <torch/torch.h>

namespace torchseg
{

const std::vector<std::string> &
BackboneNames()
{
  static const std::vector<std::string> names{ "resnet18", "resnet34", "resnet50", "resnet101",
                                               "vgg11",    "vgg13",    "vgg16" };
  return names;
}

BackboneOptions
ReadBackboneOptions(NetworkOptionReader & reader, const NetworkOptions & options, const std::string & defaultName,
                    const std::vector<std::string> & allowedNames, int defaultStride,
                    const std::vector<int> & allowedStrides)
{
  BackboneOptions b;
  b.name = reader.Choice("backbone", defaultName, allowedNames);
  b.dimensions = options.spatialDimensions;
  b.inputChannels = options.inputChannels;
  b.width = reader.Integer("width", 64, 1, 4096);
  b.outputStride = reader.IntegerChoice("outputStride", defaultStride, allowedStrides);
  if (!b.IsResNet() && b.outputStride != 32)
  {
    reader.Fail("outputStride", "is not 32, the only output stride of the VGG backbone " + b.name);
  }
  return b;
}

namespace
{
layers::Conv
MakeConv(int dimensions, int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation)
{
  return layers::Conv(
    layers::ConvOptions(dimensions, in, out, kernel).stride(stride).padding(padding).dilation(dilation).bias(false));
}
} // namespace

ResNetBlockImpl::ResNetBlockImpl(int dimensions, bool bottleneck, int64_t inChannels, int64_t planes, int64_t stride,
                                 int64_t dilation, int64_t firstDilation, bool downsample)
{
  const int64_t expansion = bottleneck ? 4 : 1;
  if (bottleneck)
  {
    m_Conv1 = register_module("conv1", MakeConv(dimensions, inChannels, planes, 1, 1, 0, 1));
    m_Bn1 = register_module("bn1", layers::BatchNorm(planes));
    // torchvision gives the first block of a dilated layer the previous dilation.
    m_Conv2 = register_module("conv2", MakeConv(dimensions, planes, planes, 3, stride, firstDilation, firstDilation));
    m_Bn2 = register_module("bn2", layers::BatchNorm(planes));
    m_Conv3 = register_module("conv3", MakeConv(dimensions, planes, planes * expansion, 1, 1, 0, 1));
    m_Bn3 = register_module("bn3", layers::BatchNorm(planes * expansion));
  }
  else
  {
    // torchvision's BasicBlock has no dilation; dilating its first convolution (as mmsegmentation) keeps the
    // receptive field of the strided network.
    m_Conv1 =
      register_module("conv1", MakeConv(dimensions, inChannels, planes, 3, stride, firstDilation, firstDilation));
    m_Bn1 = register_module("bn1", layers::BatchNorm(planes));
    m_Conv2 = register_module("conv2", MakeConv(dimensions, planes, planes, 3, 1, dilation, dilation));
    m_Bn2 = register_module("bn2", layers::BatchNorm(planes));
  }
  if (downsample)
  {
    m_Downsample =
      register_module("downsample",
                      torch::nn::Sequential(MakeConv(dimensions, inChannels, planes * expansion, 1, stride, 0, 1),
                                            layers::BatchNorm(planes * expansion)));
  }
}

torch::Tensor
ResNetBlockImpl::forward(const torch::Tensor & x)
{
  torch::Tensor out = m_Bn1(m_Conv1(x)).relu_();
  out = m_Bn2(m_Conv2(out));
  if (m_Conv3)
  {
    out = m_Bn3(m_Conv3(torch::relu_(out)));
  }
  out += m_Downsample ? m_Downsample->forward(x) : x;
  return torch::relu_(out);
}

ResNetImpl::ResNetImpl(const BackboneOptions & options)
{
  std::vector<int> blocks;
  bool             bottleneck = true;
  if (options.name == "resnet18")
  {
    blocks = { 2, 2, 2, 2 };
    bottleneck = false;
  }
  else if (options.name == "resnet34")
  {
    blocks = { 3, 4, 6, 3 };
    bottleneck = false;
  }
  else if (options.name == "resnet50")
  {
    blocks = { 3, 4, 6, 3 };
  }
  else if (options.name == "resnet101")
  {
    blocks = { 3, 4, 23, 3 };
  }
  else
  {
    itkGenericExceptionMacro(<< "Backbone \"" << options.name << "\" is not a ResNet");
  }
  if (options.outputStride != 8 && options.outputStride != 16 && options.outputStride != 32)
  {
    itkGenericExceptionMacro(<< "ResNet output stride " << options.outputStride << " is not 8, 16 or 32");
  }
  const int     d = options.dimensions;
  const int64_t w = options.width;
  const int64_t expansion = bottleneck ? 4 : 1;
  m_Conv1 = register_module("conv1", MakeConv(d, options.inputChannels, w, 7, 2, 3, 1));
  m_Bn1 = register_module("bn1", layers::BatchNorm(w));

  // replace_stride_with_dilation of torchvision: layer4 for output stride 16, layer3 and layer4 for 8.
  const bool dilate[4] = { false, false, options.outputStride <= 8, options.outputStride <= 16 };
  int64_t    inChannels = w;
  int64_t    dilation = 1;
  int64_t    stride = 4;
  for (int layer = 0; layer < 4; ++layer)
  {
    const int64_t planes = w << layer;
    int64_t       layerStride = layer == 0 ? 1 : 2;
    const int64_t previousDilation = dilation;
    if (dilate[layer])
    {
      dilation *= layerStride;
      layerStride = 1;
    }
    stride *= layerStride;
    // Hybrid dilated convolution: the blocks of a dilated layer cycle through co-prime-ish rates.
    std::vector<int64_t> hybrid;
    if (options.hybridDilation && dilate[layer])
    {
      hybrid = (layer == 3 && options.outputStride == 8) ? std::vector<int64_t>{ 5, 9, 17 }
                                                         : std::vector<int64_t>{ 1, 2, 5, 9 };
    }
    torch::nn::Sequential sequence;
    const bool            downsample = layerStride != 1 || inChannels != planes * expansion;
    sequence->push_back(ResNetBlock(d,
                                    bottleneck,
                                    inChannels,
                                    planes,
                                    layerStride,
                                    hybrid.empty() ? dilation : hybrid[0],
                                    hybrid.empty() ? previousDilation : hybrid[0],
                                    downsample));
    inChannels = planes * expansion;
    for (int b = 1; b < blocks[layer]; ++b)
    {
      const int64_t rate = hybrid.empty() ? dilation : hybrid[b % hybrid.size()];
      sequence->push_back(ResNetBlock(d, bottleneck, inChannels, planes, 1, rate, rate, false));
    }
    m_Layers.push_back(register_module("layer" + std::to_string(layer + 1), sequence));
    m_Channels.push_back(inChannels);
    m_Strides.push_back(stride);
  }
  layers::InitializeKaimingFanOut(*this);
}

std::vector<torch::Tensor>
ResNetImpl::forward(torch::Tensor x)
{
  x = m_Bn1(m_Conv1(x)).relu_();
  x = layers::MaxPool(x, 3, 2, 1);
  std::vector<torch::Tensor> features;
  for (auto & layer : m_Layers)
  {
    x = layer->forward(x);
    features.push_back(x);
  }
  return features;
}

VGGImpl::VGGImpl(const BackboneOptions & options)
{
  if (options.name == "vgg11")
  {
    m_Depths = { 1, 1, 2, 2, 2 };
  }
  else if (options.name == "vgg13")
  {
    m_Depths = { 2, 2, 2, 2, 2 };
  }
  else if (options.name == "vgg16")
  {
    m_Depths = { 2, 2, 3, 3, 3 };
  }
  else
  {
    itkGenericExceptionMacro(<< "Backbone \"" << options.name << "\" is not a VGG");
  }
  if (options.outputStride != 32 && options.outputStride != 8)
  {
    itkGenericExceptionMacro(<< "VGG output stride " << options.outputStride << " is not 32 or 8");
  }
  m_OutputStride = options.outputStride;
  const int64_t w = options.width;
  m_Channels = { w, 2 * w, 4 * w, 8 * w, 8 * w };
  m_Features = register_module("features", torch::nn::Sequential());
  int64_t in = options.inputChannels;
  for (size_t stage = 0; stage < m_Depths.size(); ++stage)
  {
    // At output stride 8 (DeepLab v1) pool4 and pool5 keep the resolution and conv5 dilates by 2.
    const bool    dilated = options.outputStride == 8 && stage == 4;
    const int64_t dilation = dilated ? 2 : 1;
    for (int i = 0; i < m_Depths[stage]; ++i)
    {
      // torchvision's VGG convolutions keep their bias even before batch normalisation.
      m_Features->push_back(layers::Conv(layers::ConvOptions(options.dimensions, in, m_Channels[stage], 3)
                                           .padding(dilation)
                                           .dilation(dilation)
                                           .bias(true)));
      m_Features->push_back(layers::BatchNorm(m_Channels[stage]));
      m_Features->push_back(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
      in = m_Channels[stage];
    }
    m_Features->push_back(VGGPool(options.outputStride == 8 && stage >= 3 ? 1 : 2));
  }
  layers::InitializeKaimingFanOut(*this);
}

VGGFeatures
VGGImpl::forward(torch::Tensor x, bool keepIndices)
{
  TORCH_CHECK(!keepIndices || m_OutputStride == 32, "VGG: pooling indices need output stride 32");
  VGGFeatures out;
  for (auto & module : *m_Features)
  {
    if (module.ptr()->as<VGGPoolImpl>() != nullptr)
    {
      out.sizes.push_back(layers::SpatialSize(x));
      if (keepIndices)
      {
        auto pooled = layers::MaxPoolWithIndices(x, 2, 2);
        x = std::get<0>(pooled);
        out.indices.push_back(std::get<1>(pooled));
      }
      else
      {
        x = module.forward<torch::Tensor>(x);
      }
      out.pooled.push_back(x);
    }
    else
    {
      x = module.forward<torch::Tensor>(x);
    }
  }
  return out;
}

torch::nn::Sequential
ConvBNReLU(int dimensions, int64_t in, int64_t out, int64_t kernel, int64_t dilation, int64_t groups)
{
  return torch::nn::Sequential(layers::Conv(layers::ConvOptions(dimensions, in, out, kernel)
                                              .padding(dilation * (kernel / 2))
                                              .dilation(dilation)
                                              .groups(groups)
                                              .bias(false)),
                               layers::BatchNorm(out),
                               torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
}

torch::nn::Sequential
FCNHead(int dimensions, int64_t in, int64_t classes)
{
  const int64_t inter = std::max<int64_t>(in / 4, 1);
  return torch::nn::Sequential(layers::Conv(layers::ConvOptions(dimensions, in, inter, 3).padding(1).bias(false)),
                               layers::BatchNorm(inter),
                               torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)),
                               torch::nn::Dropout(torch::nn::DropoutOptions(0.1)),
                               layers::Conv(layers::ConvOptions(dimensions, inter, classes, 1).bias(true)));
}

} // namespace torchseg
