#ifndef torchsegDilatedNetworks_h
#define torchsegDilatedNetworks_h

#include "torchsegBackbones.h"
#include "torchsegSegmentationNetwork.h"

#include <torch/nn/modules/container/modulelist.h>

namespace torchseg
{

/** \brief The options of the dilated-convolution networks DeepLab v1, DeepLab v2, DUC-HDC and DenseASPP
 * (architectures deeplabv1, deeplabv2, ducHdc, denseaspp).
 *
 * | key            | default                                   | meaning                                         |
 * |----------------|-------------------------------------------|-------------------------------------------------|
 * | backbone       | vgg16 (deeplabv1), resnet101 (deeplabv2,  | deeplabv1: vgg11, vgg13, vgg16; the others:     |
 * |                | ducHdc), resnet50 (denseaspp)             | resnet18, resnet34, resnet50, resnet101         |
 * | width          | 64                                        | channels of the backbone's first stage          |
 * | outputStride   | 8                                         | ResNet networks: 8 or 16 (deeplabv1: always 8)  |
 * | hybridDilation | true                                      | ducHdc: HDC rates in the dilated layers         |
 * \ingroup TorchSegNetworks
 */
struct DilatedNetworkOptions
{
  BackboneOptions backbone;

  static DilatedNetworkOptions
  Read(NetworkOptions & options);
};

/** \class DeepLabV1Impl
 * \brief DeepLab v1 "LargeFOV" (Chen et al. 2015) without its CRF: VGG with pool4/pool5 at stride 1 and conv5
 * dilated by 2 (output stride 8), fc6 as a 3^d convolution dilated by 12 with 16*width (1024) channels, fc7 (1^d),
 * class scores (1^d; keys classifier.0, .3, .6), bilinear upsampling by 8. (The toolkit's DenseCRF filter can play
 * the CRF's part after inference.)
 * \ingroup TorchSegNetworks
 */
class DeepLabV1Impl : public SegmentationNetworkImpl
{
public:
  explicit DeepLabV1Impl(NetworkOptions options);
  torch::Tensor
  forward(torch::Tensor input) override;

private:
  DilatedNetworkOptions m_DilatedOptions;
  VGG                   m_Backbone{ nullptr };
  torch::nn::Sequential m_Classifier{ nullptr };
};
TORCH_MODULE(DeepLabV1);

/** \class DeepLabV2Impl
 * \brief DeepLab v2 (Chen et al. 2017, TPAMI) without its CRF: dilated ResNet-101 (output stride 8) and ASPP-L,
 * four parallel 3^d class-score convolutions dilated by 6, 12, 18, 24 (halved at output stride 16; keys
 * classifier.0-3) whose scores are summed, bilinear upsampling to the input size.
 * \ingroup TorchSegNetworks
 */
class DeepLabV2Impl : public SegmentationNetworkImpl
{
public:
  explicit DeepLabV2Impl(NetworkOptions options);
  torch::Tensor
  forward(torch::Tensor input) override;

private:
  DilatedNetworkOptions     m_DilatedOptions;
  ResNet                    m_Backbone{ nullptr };
  std::vector<layers::Conv> m_Branches;
};
TORCH_MODULE(DeepLabV2);

/** \class DUCHDCImpl
 * \brief DUC-HDC (Wang et al. 2018): a dilated ResNet whose dilated layers use hybrid dilation rates (against the
 * gridding of one large rate), and dense upsampling convolution: a 3^d convolution predicts classes x OS^d
 * channels ("duc") that a pixel shuffle rearranges into full-resolution logits, no interpolation.
 * \ingroup TorchSegNetworks
 */
class DUCHDCImpl : public SegmentationNetworkImpl
{
public:
  explicit DUCHDCImpl(NetworkOptions options);
  torch::Tensor
  forward(torch::Tensor input) override;

private:
  DilatedNetworkOptions m_DilatedOptions;
  ResNet                m_Backbone{ nullptr };
  layers::Conv          m_DUC{ nullptr };
};
TORCH_MODULE(DUCHDC);

/** \class DenseASPPImpl
 * \brief DenseASPP (Yang et al. 2018) on a dilated ResNet (output stride 8; the paper uses DenseNets): five atrous
 * layers at rates 3, 6, 12, 18, 24 (halved at output stride 16), each BN-ReLU-1^d conv (2*width) -BN-ReLU- dilated
 * 3^d conv (width) -Dropout(0.1), densely connected (each sees the features and every earlier layer's output;
 * "aspp.N"), then Dropout(0.1) and a 1^d classifier ("classifier.1"), bilinear upsampling.
 * \ingroup TorchSegNetworks
 */
class DenseASPPImpl : public SegmentationNetworkImpl
{
public:
  explicit DenseASPPImpl(NetworkOptions options);
  torch::Tensor
  forward(torch::Tensor input) override;

private:
  DilatedNetworkOptions              m_DilatedOptions;
  ResNet                             m_Backbone{ nullptr };
  std::vector<torch::nn::Sequential> m_Layers;
  torch::nn::Sequential              m_Classifier{ nullptr };
};
TORCH_MODULE(DenseASPP);

} // namespace torchseg

#endif
