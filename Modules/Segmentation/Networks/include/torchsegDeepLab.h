#ifndef torchsegDeepLab_h
#define torchsegDeepLab_h

#include "torchsegBackbones.h"
#include "torchsegSegmentationNetwork.h"

#include <torch/nn/modules/container/modulelist.h>

namespace torchseg
{

/** \brief The options of DeepLab v3, DeepLab v3+ and PSPNet (architectures deeplabv3, deeplabv3plus, pspnet).
 *
 * | key           | default                                | meaning                                              |
 * |---------------|----------------------------------------|------------------------------------------------------|
 * | backbone      | "resnet50"                             | resnet18, resnet34, resnet50, resnet101              |
 * | width         | 64                                     | channels of the backbone's first stage; the heads    |
 * |               |                                        | scale with it (ASPP 4*width = 256 at 64)             |
 * | outputStride  | 8 (deeplabv3, pspnet), 16 (deeplabv3plus) | 8 or 16                                           |
 * | auxiliaryHead | false                                  | deeplabv3, pspnet: FCNHead on layer3 (aux_classifier) |
 * | separable     | true                                   | deeplabv3plus: atrous depthwise-separable ASPP and   |
 * |               |                                        | decoder convolutions                                 |
 * \ingroup TorchSegNetworks
 */
struct DeepLabOptions
{
  BackboneOptions backbone;
  bool            auxiliaryHead = false;
  bool            separable = true;

  static DeepLabOptions
  Read(NetworkOptions & options);

  /** ASPP rates: 6, 12, 18 at output stride 16, doubled at 8. */
  std::vector<int64_t>
  AtrousRates() const;
};

/** \class ASPPImpl
 * \brief Atrous spatial pyramid pooling (torchvision's ASPP): convs.0 1^d conv, convs.1-3 3^d atrous convs at the
 * given rates (optionally depthwise-separable: depthwise atrous conv, BN, ReLU, pointwise conv, BN, ReLU), convs.4
 * image pooling (global average, 1^d conv, BN, ReLU, broadcast back), each with BN and ReLU; their concatenation is
 * projected by a 1^d conv, BN, ReLU and Dropout(0.5).
 * \ingroup TorchSegNetworks
 */
class ASPPImpl : public torch::nn::Module
{
public:
  ASPPImpl(int dimensions, int64_t in, int64_t out, const std::vector<int64_t> & rates, bool separable);
  torch::Tensor
  forward(const torch::Tensor & x);

private:
  std::vector<torch::nn::Sequential> m_Branches;
  torch::nn::Sequential              m_Pooling{ nullptr };
  torch::nn::Sequential              m_Project{ nullptr };
};
TORCH_MODULE(ASPP);

/** \class DeepLabV3Impl
 * \brief DeepLab v3 (Chen et al. 2017): dilated ResNet (output stride 16 or 8), ASPP, 3^d conv, BN, ReLU, 1^d
 * classifier, bilinear (trilinear) upscaling to the input size. Keys as torchvision's deeplabv3_resnet50
 * (classifier.0.convs.0.0.weight, classifier.0.project.0.weight, classifier.4.bias, aux_classifier.*), which
 * the default options with 3 input channels and 21 classes reproduce module by module.
 * \ingroup TorchSegNetworks
 */
class DeepLabV3Impl : public SegmentationNetworkImpl
{
public:
  explicit DeepLabV3Impl(NetworkOptions options);
  torch::Tensor
  forward(torch::Tensor input) override;
  /** Main logits, then (auxiliaryHead) the auxiliary logits upsampled to the input size. */
  std::vector<torch::Tensor>
  forwardWithAuxiliary(torch::Tensor input) override;

private:
  std::vector<torch::Tensor>
  Run(const torch::Tensor & input, bool auxiliary);

  DeepLabOptions        m_DeepLabOptions;
  ResNet                m_Backbone{ nullptr };
  torch::nn::Sequential m_Classifier{ nullptr };
  torch::nn::Sequential m_AuxiliaryClassifier{ nullptr };
};
TORCH_MODULE(DeepLabV3);

/** \class DeepLabV3PlusImpl
 * \brief DeepLab v3+ (Chen et al. 2018) on a ResNet: the v3 encoder (ASPP with atrous depthwise-separable convs)
 * and the decoder: layer1 features reduced by a 1^d conv to 48 channels (at width 64; "low_level"), concatenated
 * with the upsampled ASPP output, refined by two 3^d (separable) convs ("refine"), classified by a 1^d conv
 * ("classifier") and upsampled 4x to the input size.
 * \ingroup TorchSegNetworks
 */
class DeepLabV3PlusImpl : public SegmentationNetworkImpl
{
public:
  explicit DeepLabV3PlusImpl(NetworkOptions options);
  torch::Tensor
  forward(torch::Tensor input) override;

private:
  DeepLabOptions                     m_DeepLabOptions;
  ResNet                             m_Backbone{ nullptr };
  ASPP                               m_ASPP{ nullptr };
  torch::nn::Sequential              m_LowLevel{ nullptr };
  std::vector<torch::nn::Sequential> m_Refine;
  layers::Conv                       m_Classifier{ nullptr };
};
TORCH_MODULE(DeepLabV3Plus);

/** \class PSPNetImpl
 * \brief PSPNet (Zhao et al. 2017): dilated ResNet (output stride 8 or 16), pyramid pooling module with bins 1, 2,
 * 3, 6 (each: adaptive average pooling, 1^d conv to in/4, BN, ReLU, bilinear upsampling; "ppm.N"), concatenated
 * with the features, then 3^d conv to 8*width (512 at 64), BN, ReLU, Dropout(0.1), 1^d classifier ("classifier"),
 * upsampled to the input size; optional auxiliary FCNHead on layer3.
 * \ingroup TorchSegNetworks
 */
class PSPNetImpl : public SegmentationNetworkImpl
{
public:
  explicit PSPNetImpl(NetworkOptions options);
  torch::Tensor
  forward(torch::Tensor input) override;
  std::vector<torch::Tensor>
  forwardWithAuxiliary(torch::Tensor input) override;

private:
  std::vector<torch::Tensor>
  Run(const torch::Tensor & input, bool auxiliary);

  DeepLabOptions                     m_DeepLabOptions;
  ResNet                             m_Backbone{ nullptr };
  std::vector<torch::nn::Sequential> m_Pyramid;
  torch::nn::Sequential              m_Classifier{ nullptr };
  torch::nn::Sequential              m_AuxiliaryClassifier{ nullptr };
};
TORCH_MODULE(PSPNet);

} // namespace torchseg

#endif
