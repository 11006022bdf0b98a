#ifndef torchsegRefinementNetworks_h
#define torchsegRefinementNetworks_h

#include "torchsegBackbones.h"
#include "torchsegSegmentationNetwork.h"

#include <torch/nn/modules/container/modulelist.h>

namespace torchseg
{

/** \brief The options of the multi-path refinement networks GCN and RefineNet (architectures gcn, refinenet), both
 * on a ResNet at output stride 32.
 *
 * | key        | default                  | meaning                                                        |
 * |------------|--------------------------|----------------------------------------------------------------|
 * | backbone   | resnet50                 | resnet18, resnet34, resnet50, resnet101                        |
 * | width      | 64                       | channels of the backbone's first stage; RefineNet's paths have |
 * |            |                          | 8*width (512) at stride 32 and 4*width (256) elsewhere         |
 * | kernelSize | 15 (2D), 7 (3D)          | gcn: the large kernel k of the global convolutions (odd)       |
 * | upsampling | transposed               | gcn: nearest, bilinear, transposed, transposedFrozen           |
 * \ingroup TorchSegNetworks
 */
struct RefinementNetworkOptions
{
  BackboneOptions        backbone;
  int                    kernelSize = 15;
  layers::UpsamplingMode upsampling = layers::UpsamplingMode::Transposed;

  static RefinementNetworkOptions
  Read(NetworkOptions & options);
};

/** \class GlobalConvolutionImpl
 * \brief GCN's global convolution: two sums of separable large kernels, k x 1 then 1 x k ("left") and 1 x k then
 * k x 1 ("right"); in 3D k x 1 x 1, 1 x k x 1, 1 x 1 x k in both orders.
 * \ingroup TorchSegNetworks
 */
class GlobalConvolutionImpl : public torch::nn::Module
{
public:
  GlobalConvolutionImpl(int dimensions, int64_t in, int64_t out, int64_t kernel);
  torch::Tensor
  forward(const torch::Tensor & x);

private:
  torch::nn::Sequential m_Left{ nullptr };
  torch::nn::Sequential m_Right{ nullptr };
};
TORCH_MODULE(GlobalConvolution);

/** \class ResidualConvolutionImpl
 * \brief x + conv(ReLU(conv(x))) (GCN's boundary refinement), or with \a preActivation x + conv(ReLU(conv(ReLU(x))))
 * (RefineNet's residual conv unit); 3^d convolutions "conv1", "conv2".
 * \ingroup TorchSegNetworks
 */
class ResidualConvolutionImpl : public torch::nn::Module
{
public:
  ResidualConvolutionImpl(int dimensions, int64_t channels, bool preActivation);
  torch::Tensor
  forward(const torch::Tensor & x);

private:
  layers::Conv m_Conv1{ nullptr };
  layers::Conv m_Conv2{ nullptr };
  bool         m_PreActivation;
};
TORCH_MODULE(ResidualConvolution);

/** \class GCNImpl
 * \brief Global Convolutional Network (Peng et al. 2017, "Large kernel matters"): a GCN module and a boundary
 * refinement on each ResNet stage ("gcn.N", "br_score.N"), fused from the deepest stage by upsampling ("upsample.N",
 * transposed convolutions as in the paper by default), addition and boundary refinement ("br_fuse.N"), then two more
 * upsampling and refinement steps to the input resolution ("br_out.N").
 * \ingroup TorchSegNetworks
 */
class GCNImpl : public SegmentationNetworkImpl
{
public:
  explicit GCNImpl(NetworkOptions options);
  torch::Tensor
  forward(torch::Tensor input) override;

private:
  RefinementNetworkOptions         m_RefinementOptions;
  ResNet                           m_Backbone{ nullptr };
  std::vector<GlobalConvolution>   m_GCN;
  std::vector<ResidualConvolution> m_ScoreRefinement;
  std::vector<ResidualConvolution> m_FusionRefinement;
  std::vector<ResidualConvolution> m_OutputRefinement;
  std::vector<layers::Upsample>    m_Upsample;
};
TORCH_MODULE(GCN);

/** \class RefineBlockImpl
 * \brief One RefineNet block: two residual conv units per input path ("rcu.K"), multi-resolution fusion (a 3^d conv
 * per path to the block's width, "mrf.K", upsampled to the finest path and summed; absent with one path), chained
 * residual pooling (two 5^d stride-1 max-pool + 3^d conv stages whose outputs are summed, "crp.N") and an output
 * residual conv unit ("output").
 * \ingroup TorchSegNetworks
 */
class RefineBlockImpl : public torch::nn::Module
{
public:
  /** \a inputs: channels of each path, finest first. */
  RefineBlockImpl(int dimensions, const std::vector<int64_t> & inputs, int64_t channels);
  torch::Tensor
  forward(const std::vector<torch::Tensor> & paths);

private:
  std::vector<torch::nn::Sequential> m_Units;
  std::vector<layers::Conv>          m_Fusion;
  std::vector<layers::Conv>          m_Pooling;
  ResidualConvolution                m_Output{ nullptr };
};
TORCH_MODULE(RefineBlock);

/** \class RefineNetImpl
 * \brief RefineNet-4 cascaded (Lin et al. 2017): each ResNet stage reduced by a 3^d conv ("adapt.N"; 8*width
 * channels at stride 32, 4*width elsewhere), refined from the deepest by RefineNet blocks that each take the stage
 * and the previous block's output ("refine.N"), then two residual conv units ("final") and a 1^d classifier at
 * stride 4, upsampled bilinearly.
 * \ingroup TorchSegNetworks
 */
class RefineNetImpl : public SegmentationNetworkImpl
{
public:
  explicit RefineNetImpl(NetworkOptions options);
  torch::Tensor
  forward(torch::Tensor input) override;

private:
  RefinementNetworkOptions  m_RefinementOptions;
  ResNet                    m_Backbone{ nullptr };
  std::vector<layers::Conv> m_Adapt;
  std::vector<RefineBlock>  m_Blocks;
  torch::nn::Sequential     m_Final{ nullptr };
  layers::Conv              m_Classifier{ nullptr };
};
TORCH_MODULE(RefineNet);

} // namespace torchseg

#endif
