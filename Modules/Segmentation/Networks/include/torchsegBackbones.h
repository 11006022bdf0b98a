#ifndef torchsegBackbones_h
#define torchsegBackbones_h

#include "torchsegNetworkLayers.h"

#include <torch/nn/modules/container/sequential.h>

#include <string>
#include <vector>

namespace torchseg
{

/** \brief The encoders the segmentation networks are built on: ResNet-18/34/50/101 (with dilation for output
 * stride 16 or 8) and VGG-11/13/16 with batch normalisation, for 2D or 3D, with a scalable width.
 * \ingroup TorchSegNetworks
 */
struct BackboneOptions
{
  /** "resnet18", "resnet34", "resnet50", "resnet101", "vgg11", "vgg13", "vgg16". */
  std::string name = "resnet50";
  int         dimensions = 2;
  int64_t     inputChannels = 3;
  /** Channels of the stem and first stage (64 in the papers); every stage scales with it. */
  int64_t width = 64;
  /** 32, 16 (layer4 dilated) or 8 (layer3 and layer4 dilated); VGG: 32, or 8 (DeepLab v1: pool4 and pool5 with
   * stride 1, conv5 with dilation 2). */
  int outputStride = 32;
  /** ResNet: hybrid dilated convolution (Wang et al. 2018, DUC-HDC): the blocks of a dilated layer cycle through
   * dilations 1, 2, 5, 9 (layer3, and layer4 at output stride 16) or 5, 9, 17 (layer4 at output stride 8) instead of
   * one rate, against gridding. */
  bool hybridDilation = false;

  bool
  IsResNet() const
  {
    return name.rfind("resnet", 0) == 0;
  }
};

/** Every backbone name. */
const std::vector<std::string> &
BackboneNames();

/** \class ResNetBlockImpl
 * \brief torchvision's BasicBlock (conv1, bn1, conv2, bn2) or Bottleneck (with conv3, bn3; stride on the 3x3
 * convolution, "ResNet v1.5"), with an optional downsample (conv 1x1, BN) on the identity path.
 * \ingroup TorchSegNetworks
 */
class ResNetBlockImpl : public torch::nn::Module
{
public:
  ResNetBlockImpl(int dimensions, bool bottleneck, int64_t inChannels, int64_t planes, int64_t stride, int64_t dilation,
                  int64_t firstDilation, bool downsample);
  torch::Tensor
  forward(const torch::Tensor & x);

private:
  layers::Conv          m_Conv1{ nullptr }, m_Conv2{ nullptr }, m_Conv3{ nullptr };
  layers::Norm          m_Bn1{ nullptr }, m_Bn2{ nullptr }, m_Bn3{ nullptr };
  torch::nn::Sequential m_Downsample{ nullptr };
};
TORCH_MODULE(ResNetBlock);

/** \class ResNetImpl
 * \brief ResNet without its classification layers, as torchvision's IntermediateLayerGetter keeps it: conv1, bn1,
 * relu, maxpool, layer1..layer4 (state-dict keys conv1.weight, layer1.0.conv1.weight, layer2.0.downsample.0.weight,
 * ...), replace_stride_with_dilation chosen by the output stride.
 * \ingroup TorchSegNetworks
 */
class ResNetImpl : public torch::nn::Module
{
public:
  explicit ResNetImpl(const BackboneOptions & options);

  /** The outputs of layer1..layer4 (strides 4, 8, min(16, OS), OS). */
  std::vector<torch::Tensor>
  forward(torch::Tensor x);

  /** Output channels of layer1..layer4. */
  const std::vector<int64_t> &
  GetStageChannels() const
  {
    return m_Channels;
  }
  /** Output strides of layer1..layer4. */
  const std::vector<int64_t> &
  GetStageStrides() const
  {
    return m_Strides;
  }

private:
  layers::Conv                       m_Conv1{ nullptr };
  layers::Norm                       m_Bn1{ nullptr };
  std::vector<torch::nn::Sequential> m_Layers;
  std::vector<int64_t>               m_Channels;
  std::vector<int64_t>               m_Strides;
};
TORCH_MODULE(ResNet);

/** \class VGGPoolImpl
 * \brief A max pooling in VGG's "features" sequence (no parameters; keeps torchvision's indices): 2x2 stride 2, or
 * 3x3 stride 1 (DeepLab v1's pool4 and pool5 at output stride 8).
 * \ingroup TorchSegNetworks
 */
class VGGPoolImpl : public torch::nn::Cloneable<VGGPoolImpl>
{
public:
  explicit VGGPoolImpl(int64_t stride = 2)
    : stride(stride)
  {}
  void
  reset() override
  {}
  torch::Tensor
  forward(const torch::Tensor & x)
  {
    return stride == 2 ? layers::MaxPool(x, 2, 2) : layers::MaxPool(x, 3, 1, 1);
  }
  int64_t stride;
};
TORCH_MODULE(VGGPool);

/** What a VGG encoder returns. */
struct VGGFeatures
{
  /** The output of each of the five pooling layers (strides 2, 4, 8, 16, 32; 2, 4, 8, 8, 8 at output stride 8). */
  std::vector<torch::Tensor> pooled;
  /** The argmax indices of each pooling (when requested), for max-unpooling. */
  std::vector<torch::Tensor> indices;
  /** The spatial size before each pooling. */
  std::vector<std::vector<int64_t>> sizes;
};

/** \class VGGImpl
 * \brief VGG-11/13/16 with batch normalisation (torchvision's vgg*_bn "features": keys features.0.weight,
 * features.1.running_mean, ...), five stages of conv 3^d - BN - ReLU blocks, each ending in 2x2 max pooling.
 * \ingroup TorchSegNetworks
 */
class VGGImpl : public torch::nn::Module
{
public:
  explicit VGGImpl(const BackboneOptions & options);

  /** \a keepIndices (output stride 32 only) keeps the argmax indices of every pooling for max-unpooling. */
  VGGFeatures
  forward(torch::Tensor x, bool keepIndices = false);

  /** Channels of each stage (64, 128, 256, 512, 512 at width 64). */
  const std::vector<int64_t> &
  GetStageChannels() const
  {
    return m_Channels;
  }
  /** Convolutions in each stage (VGG-16: 2, 2, 3, 3, 3). */
  const std::vector<int> &
  GetStageDepths() const
  {
    return m_Depths;
  }

private:
  torch::nn::Sequential m_Features{ nullptr };
  int                   m_OutputStride = 32;
  std::vector<int64_t>  m_Channels;
  std::vector<int>      m_Depths;
};
TORCH_MODULE(VGG);

/** conv 3^d (no bias) - BN - ReLU as Sequential indices 0, 1, 2. */
torch::nn::Sequential
ConvBNReLU(int dimensions, int64_t in, int64_t out, int64_t kernel, int64_t dilation = 1, int64_t groups = 1);

/** torchvision's FCNHead: conv 3^d (in -> in/4, no bias), BN, ReLU, Dropout(0.1), conv 1^d (-> classes). */
torch::nn::Sequential
FCNHead(int dimensions, int64_t in, int64_t classes);

} // namespace torchseg

#endif
