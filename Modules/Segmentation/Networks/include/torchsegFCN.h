#ifndef torchsegFCN_h
#define torchsegFCN_h

#include "torchsegBackbones.h"
#include "torchsegSegmentationNetwork.h"

namespace torchseg
{

/** \brief The options of FCN (architectures fcn32s, fcn16s, fcn8s), as read from NetworkOptions::options.
 *
 * | key           | default    | meaning                                                                        |
 * |---------------|------------|--------------------------------------------------------------------------------|
 * | backbone      | "vgg16"    | vgg11, vgg13, vgg16 (with batch norm), resnet18, resnet34, resnet50, resnet101 |
 * | width         | 64         | channels of the backbone's first stage; everything scales with it             |
 * | outputStride  | 32         | 32; ResNet also 16 or 8 (dilated layer4 / layer3+layer4)                       |
 * | upsampling    | "bilinear" | nearest, bilinear (trilinear in 3D), transposed (learnable, initialised to    |
 * |               |            | the bilinear kernel), transposedFrozen (the fixed bilinear kernel)             |
 * | auxiliaryHead | false      | ResNet only: torchvision's aux_classifier (FCNHead on layer3)                  |
 * \ingroup TorchSegNetworks
 */
struct FCNOptions
{
  BackboneOptions        backbone;
  layers::UpsamplingMode upsampling = layers::UpsamplingMode::Linear;
  bool                   auxiliaryHead = false;
  /** 0 for FCN-32s, 1 for FCN-16s (pool4), 2 for FCN-8s (pool4 and pool3); from the architecture name. */
  int skips = 0;

  static FCNOptions
  Read(NetworkOptions & options);
};

/** \class FCNImpl
 * \brief Fully convolutional network (Long, Shelhamer, Darrell 2015): a backbone, a classifier giving class scores
 * at the output stride, 1x1 score layers on pool4 (FCN-16s) and pool3 (FCN-8s) fused by addition after upsampling
 * the coarser scores, and a final upsampling to the input size.
 *
 * With a VGG backbone the classifier is the paper's fc6 (7^d convolution, 64*width channels, padded "same"), fc7,
 * score_fr (keys classifier.0, classifier.3, classifier.6). With a ResNet backbone it is torchvision's FCNHead
 * (classifier.0 3^d conv to in/4, classifier.1 BN, classifier.4 1x1 conv); pool3/pool4 are layer2/layer3. So
 * fcn32s with {backbone: resnet50, outputStride: 8, upsampling: bilinear} and 3 input channels is torchvision's
 * fcn_resnet50 module by module (same state-dict keys and parameter count; auxiliaryHead adds aux_classifier).
 * Skip score layers are score_pool4, score_pool3 (zero-initialised as in the paper); upsampling layers upscore2,
 * upscore_pool4, upscore (keys only for the transposed modes).
 * \ingroup TorchSegNetworks
 */
class FCNImpl : public SegmentationNetworkImpl
{
public:
  explicit FCNImpl(NetworkOptions options);

  torch::Tensor
  forward(torch::Tensor input) override;

  /** Main logits, then (auxiliaryHead) the auxiliary head's logits upsampled to the input size. */
  std::vector<torch::Tensor>
  forwardWithAuxiliary(torch::Tensor input) override;

  const FCNOptions &
  GetFCNOptions() const
  {
    return m_FCNOptions;
  }

private:
  std::vector<torch::Tensor>
  Run(const torch::Tensor & input, bool auxiliary);

  FCNOptions            m_FCNOptions;
  ResNet                m_ResNet{ nullptr };
  VGG                   m_VGG{ nullptr };
  torch::nn::Sequential m_Classifier{ nullptr };
  torch::nn::Sequential m_AuxiliaryClassifier{ nullptr };
  layers::Conv          m_ScorePool4{ nullptr };
  layers::Conv          m_ScorePool3{ nullptr };
  layers::Upsample      m_Upscore2{ nullptr };
  layers::Upsample      m_UpscorePool4{ nullptr };
  layers::Upsample      m_Upscore{ nullptr };
  int64_t               m_PadMultiple = 32;
};
TORCH_MODULE(FCN);

} // namespace torchseg

#endif
