#ifndef torchsegSegNet_h
#define torchsegSegNet_h

#include "torchsegBackbones.h"
#include "torchsegSegmentationNetwork.h"

#include <torch/nn/modules/container/modulelist.h>

namespace torchseg
{

/** \brief The options of SegNet and DeconvNet (architectures segnet, deconvnet).
 *
 * | key      | default | meaning                                                                   |
 * |----------|---------|---------------------------------------------------------------------------|
 * | backbone | "vgg16" | the encoder: vgg11, vgg13, vgg16 (with batch normalisation)               |
 * | width    | 64      | channels of the first stage (64, 128, 256, 512, 512 at 64); DeconvNet's   |
 * |          |         | fully connected layers have 64*width channels (4096 at 64)                |
 * \ingroup TorchSegNetworks
 */
struct EncoderDecoderOptions
{
  BackboneOptions backbone;

  static EncoderDecoderOptions
  Read(NetworkOptions & options);
};

/** \class SegNetImpl
 * \brief SegNet (Badrinarayanan et al. 2017): a VGG encoder whose max-pooling layers keep their argmax indices,
 * and a mirrored decoder that max-unpools with those indices (sparse upsampling, no learned upsampling) followed by
 * conv 3^d - BN - ReLU blocks ("decoder.S", from the deepest stage), and a 3^d classifier ("classifier").
 * \ingroup TorchSegNetworks
 */
class SegNetImpl : public SegmentationNetworkImpl
{
public:
  explicit SegNetImpl(NetworkOptions options);
  torch::Tensor
  forward(torch::Tensor input) override;

private:
  EncoderDecoderOptions              m_EncoderDecoderOptions;
  VGG                                m_Backbone{ nullptr };
  std::vector<torch::nn::Sequential> m_Decoder;
  layers::Conv                       m_Classifier{ nullptr };
};
TORCH_MODULE(SegNet);

/** \class DeconvNetImpl
 * \brief DeconvNet (Noh, Hong, Han 2015): a VGG encoder with pooling indices, fully convolutional fc6 (7^d, padded
 * "same" so that any size works) and fc7 (1^d) with BN and ReLU, a 7^d deconvolution back to the encoder's width
 * ("deconv_fc6"), and a decoder that mirrors the encoder with max-unpooling and 3^d transposed convolutions
 * ("deconvolutions") with BN and ReLU ("decoder.S"), then a 1^d classifier.
 * \ingroup TorchSegNetworks
 */
class DeconvNetImpl : public SegmentationNetworkImpl
{
public:
  explicit DeconvNetImpl(NetworkOptions options);
  torch::Tensor
  forward(torch::Tensor input) override;

private:
  EncoderDecoderOptions              m_EncoderDecoderOptions;
  VGG                                m_Backbone{ nullptr };
  torch::nn::Sequential              m_Fc6{ nullptr };
  torch::nn::Sequential              m_Fc7{ nullptr };
  torch::nn::Sequential              m_DeconvFc6{ nullptr };
  std::vector<torch::nn::Sequential> m_Decoder;
  layers::Conv                       m_Classifier{ nullptr };
};
TORCH_MODULE(DeconvNet);

} // namespace torchseg

#endif
