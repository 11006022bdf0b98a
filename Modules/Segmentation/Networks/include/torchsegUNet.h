#ifndef torchsegUNet_h
#define torchsegUNet_h

#include "torchsegNetworkLayers.h"
#include "torchsegSegmentationNetwork.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/modulelist.h>

namespace torchseg
{

/** \brief The options of UNet (architecture unet2d / unet3d), as read from NetworkOptions::options.
 *
 * | key                  | default              | meaning                                                      |
 * |----------------------|----------------------|--------------------------------------------------------------|
 * | width                | 32                   | features of the first level; doubled per level               |
 * | maxWidth             | 512 (2D), 320 (3D)   | cap of the features per level (nnU-Net)                      |
 * | depth                | 5                    | resolution levels (stride 2^(depth-1)), 2..8                 |
 * | convolutionsPerStage | 2                    | conv-norm-LeakyReLU blocks per level                         |
 * | downsampling         | "strided"            | "strided" (first conv of a level has stride 2) or "maxpool"  |
 * | normalization        | "instance"           | "instance", "batch" or "none"                                |
 * | negativeSlope        | 0.01                 | LeakyReLU slope                                              |
 * | deepSupervision      | false                | 1x1 heads on every decoder level but the lowest              |
 * \ingroup TorchSegNetworks
 */
struct UNetOptions
{
  int                       width = 32;
  int                       maxWidth = 512;
  int                       depth = 5;
  int                       convolutionsPerStage = 2;
  bool                      stridedDownsampling = true;
  layers::NormalizationType normalization = layers::NormalizationType::Instance;
  double                    negativeSlope = 0.01;
  bool                      deepSupervision = false;

  /** Reads and validates \a options.options, and writes them back with the defaults filled in. */
  static UNetOptions
  Read(NetworkOptions & options);
};

/** \class UNetConvBlockImpl
 * \brief conv 3^d - norm - LeakyReLU (nnU-Net's ConvDropoutNormReLU without dropout).
 * \ingroup TorchSegNetworks
 */
class UNetConvBlockImpl : public torch::nn::Module
{
public:
  UNetConvBlockImpl(int dimensions, int64_t in, int64_t out, int64_t stride, const UNetOptions & options);
  torch::Tensor
  forward(torch::Tensor x);

private:
  layers::Conv         m_Conv{ nullptr };
  layers::Norm         m_Norm{ nullptr };
  torch::nn::LeakyReLU m_Nonlinearity{ nullptr };
};
TORCH_MODULE(UNetConvBlock);

/** \class UNetStageImpl
 * \brief The convolution blocks of one level ("convs.0", "convs.1", ...).
 * \ingroup TorchSegNetworks
 */
class UNetStageImpl : public torch::nn::Module
{
public:
  UNetStageImpl(int dimensions, int64_t in, int64_t out, int64_t firstStride, const UNetOptions & options);
  torch::Tensor
  forward(torch::Tensor x);

private:
  std::vector<UNetConvBlock> m_Blocks;
};
TORCH_MODULE(UNetStage);

/** \class UNetImpl
 * \brief U-Net in the nnU-Net style (Isensee et al. 2021, PlainConvUNet): per level conv-norm-LeakyReLU blocks,
 * strided-convolution (or max-pool) downsampling, transposed-convolution upsampling, skip concatenation, a 1x1
 * segmentation head; optional deep supervision. The input is padded to a multiple of 2^(depth-1) and the logits
 * cropped back, so any size works.
 *
 * State-dict keys: encoder.stages.L.convs.I.{conv,norm}.*, decoder.transpconvs.S.*,
 * decoder.stages.S.convs.I.{conv,norm}.*, decoder.seg_layers.S.* (S counts from the lowest decoder level; without deep
 * supervision the one head, at full resolution, is seg_layers.0).
 * \ingroup TorchSegNetworks
 */
class UNetImpl : public SegmentationNetworkImpl
{
public:
  explicit UNetImpl(NetworkOptions options);

  torch::Tensor
  forward(torch::Tensor input) override;

  /** Main logits first (input size), then the deep-supervision logits at strides 2, 4, ... (each covering the input
   * from its low corner: spatial size ceil(size / stride)). */
  std::vector<torch::Tensor>
  forwardWithAuxiliary(torch::Tensor input) override;

  const UNetOptions &
  GetUNetOptions() const
  {
    return m_UNetOptions;
  }

private:
  std::vector<torch::Tensor>
  Run(const torch::Tensor & input, bool auxiliary);

  UNetOptions               m_UNetOptions;
  int                       m_Dimensions;
  std::vector<UNetStage>    m_EncoderStages;
  std::vector<layers::Conv> m_TransposedConvolutions;
  std::vector<UNetStage>    m_DecoderStages;
  std::vector<layers::Conv> m_SegmentationHeads;
};
TORCH_MODULE(UNet);

} // namespace torchseg

#endif
