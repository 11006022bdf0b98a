#ifndef torchsegNetworkLayers_h
#define torchsegNetworkLayers_h

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <string>
#include <vector>

namespace torchseg
{
/** \brief Dimension-generic building blocks: every network is written once and built for 2D or 3D.
 *
 * The modules hold their parameters under PyTorch's names (weight, bias, running_mean, running_var,
 * num_batches_tracked) so that a network's state-dict keys match the torchvision module it mirrors, and they call
 * LibTorch's N-d operators directly, chosen by the input's dimension.
 * \ingroup TorchSegNetworks
 */
namespace layers
{

/** Options of Conv: an isotropic kernel, stride, padding and dilation. */
struct ConvOptions
{
  ConvOptions(int dimensions, int64_t inChannels, int64_t outChannels, int64_t kernelSize)
    : dimensions_(dimensions)
    , in_channels_(inChannels)
    , out_channels_(outChannels)
    , kernel_size_(kernelSize)
  {}
  TORCH_ARG(int, dimensions);
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(int64_t, kernel_size);
  TORCH_ARG(int64_t, stride) = 1;
  TORCH_ARG(int64_t, padding) = 0;
  TORCH_ARG(int64_t, dilation) = 1;
  TORCH_ARG(int64_t, groups) = 1;
  TORCH_ARG(bool, bias) = true;
  /** A transposed convolution ("deconvolution"); its weight has shape (in, out / groups, k...). */
  TORCH_ARG(bool, transposed) = false;
  /** Per-axis kernel sizes (D, H, W order) that replace kernel_size, e.g. {15, 1} for GCN's k x 1 convolutions. */
  TORCH_ARG(std::vector<int64_t>, kernel_shape) = {};
  /** Per-axis padding that replaces padding. */
  TORCH_ARG(std::vector<int64_t>, padding_shape) = {};
};

/** \class ConvImpl
 * \brief Conv2d/Conv3d (or ConvTranspose2d/3d) by ConvOptions::dimensions, with PyTorch's default initialisation.
 * \ingroup TorchSegNetworks
 */
class ConvImpl : public torch::nn::Cloneable<ConvImpl>
{
public:
  explicit ConvImpl(ConvOptions options);
  void
  reset() override;
  torch::Tensor
  forward(const torch::Tensor & input);
  void
  pretty_print(std::ostream & stream) const override;

  ConvOptions   options;
  torch::Tensor weight;
  torch::Tensor bias;
};
TORCH_MODULE(Conv);

/** The normalisation layers the networks use. */
enum class NormalizationType
{
  Batch,
  Instance,
  None
};

/** "batch", "instance", "none". */
NormalizationType
NormalizationFromString(const std::string & name);

/** \class NormImpl
 * \brief BatchNorm (running statistics, momentum 0.1) or affine InstanceNorm (no running statistics, as nnU-Net),
 * for any spatial dimension; eps 1e-5.
 * \ingroup TorchSegNetworks
 */
class NormImpl : public torch::nn::Cloneable<NormImpl>
{
public:
  NormImpl(NormalizationType type, int64_t channels);
  void
  reset() override;
  torch::Tensor
  forward(const torch::Tensor & input);
  void
  pretty_print(std::ostream & stream) const override;

  NormalizationType type;
  int64_t           channels;
  double            eps = 1e-5;
  double            momentum = 0.1;
  torch::Tensor     weight;
  torch::Tensor     bias;
  torch::Tensor     running_mean;
  torch::Tensor     running_var;
  torch::Tensor     num_batches_tracked;
};
TORCH_MODULE(Norm);

/** BatchNorm with PyTorch's default state (weight 1, bias 0). */
inline Norm
BatchNorm(int64_t channels)
{
  return Norm(NormalizationType::Batch, channels);
}

/** How a network upsamples. */
enum class UpsamplingMode
{
  Nearest,
  Linear,          //!< bilinear in 2D, trilinear in 3D; align_corners = false
  Transposed,      //!< learnable transposed convolution initialised to the linear-interpolation kernel
  TransposedFrozen //!< the same, with the kernel fixed (a buffer, out of the optimiser's reach)
};

/** "nearest", "bilinear" (also trilinear in 3D), "transposed", "transposedFrozen". */
UpsamplingMode
UpsamplingFromString(const std::string & name);

/** The kernel of linear interpolation by an integer \a factor as a transposed convolution (FCN's bilinear
 * filler): size 2f - f%2 per axis, separable, for \a dimensions axes. */
torch::Tensor
LinearInterpolationKernel(int64_t factor, int dimensions);

/** \class UpsampleImpl
 * \brief Upsamples (N, C, spatial...) by an integer factor, by interpolation or by a transposed convolution whose
 * initial (or frozen) kernel reproduces linear interpolation with align_corners = false exactly, borders included
 * (the input is edge-replicated by one voxel before the transposed convolution and the result cropped).
 *
 * The transposed convolution maps every channel to itself: the frozen kernel is depthwise (groups = C, a buffer
 * named "weight"); the learnable one is a full C x C parameter "weight" initialised to the diagonal kernel, as FCN.
 * \ingroup TorchSegNetworks
 */
class UpsampleImpl : public torch::nn::Cloneable<UpsampleImpl>
{
public:
  UpsampleImpl(int dimensions, int64_t channels, int64_t factor, UpsamplingMode mode);
  void
  reset() override;
  /** Upsamples by the factor, then crops to \a size (which must not exceed input size x factor) for the transposed
   * modes; interpolates straight to \a size for the others. */
  torch::Tensor
  forward(const torch::Tensor & input, torch::IntArrayRef size);
  void
  pretty_print(std::ostream & stream) const override;

  int            dimensions;
  int64_t        channels;
  int64_t        factor;
  UpsamplingMode mode;
  torch::Tensor  weight;
};
TORCH_MODULE(Upsample);

/** Interpolates (N, C, spatial...) to \a size: nearest, or linear (bilinear/trilinear) with align_corners = false. */
torch::Tensor
Resize(const torch::Tensor & input, torch::IntArrayRef size, bool linear = true);

/** The spatial sizes of (N, C, spatial...). */
std::vector<int64_t>
SpatialSize(const torch::Tensor & input);

/** Pads (N, C, spatial...) with zeros at the high end of each spatial axis up to a multiple of \a multiple.
 * Networks pad so that their strides divide the input exactly, and crop back with CropTo(). */
torch::Tensor
PadToMultiple(const torch::Tensor & input, int64_t multiple);

/** The low corner of (N, C, spatial...) of spatial size \a size (a view, no copy). */
torch::Tensor
CropTo(const torch::Tensor & input, torch::IntArrayRef size);

/** The spatial size \a size divided by \a stride, rounded up: what an auxiliary output at that stride covers. */
std::vector<int64_t>
DivideRoundUp(torch::IntArrayRef size, int64_t stride);

/** Max pooling of (N, C, spatial...) by dimension. */
torch::Tensor
MaxPool(const torch::Tensor & input, int64_t kernel, int64_t stride, int64_t padding = 0);

/** Max pooling that also returns the argmax indices (for MaxUnpool). */
std::tuple<torch::Tensor, torch::Tensor>
MaxPoolWithIndices(const torch::Tensor & input, int64_t kernel, int64_t stride);

/** Places the values at the indices of MaxPoolWithIndices in a zero tensor of spatial size \a size. */
torch::Tensor
MaxUnpool(const torch::Tensor & input, const torch::Tensor & indices, torch::IntArrayRef size, int64_t kernel);

/** Rearranges (N, C * f^d, spatial...) into (N, C, spatial * f): PyTorch's pixel_shuffle (same channel order) for
 * 2D and 3D; DUC's dense upsampling convolution. */
torch::Tensor
PixelShuffle(const torch::Tensor & input, int64_t factor);

/** Adaptive average pooling to \a bins per axis. */
torch::Tensor
AdaptiveAvgPool(const torch::Tensor & input, int64_t bins);

/** \class AdaptivePoolImpl
 * \brief Adaptive average pooling as a parameter-free module (so that Sequential indices match torchvision's, e.g.
 * ASPP's image pooling). */
class AdaptivePoolImpl : public torch::nn::Cloneable<AdaptivePoolImpl>
{
public:
  explicit AdaptivePoolImpl(int64_t bins)
    : bins(bins)
  {}
  void
  reset() override
  {}
  torch::Tensor
  forward(const torch::Tensor & input)
  {
    return AdaptiveAvgPool(input, bins);
  }
  int64_t bins;
};
TORCH_MODULE(AdaptivePool);

/** Kaiming-normal initialisation (fan_out, ReLU) of every Conv and weight 1, bias 0 of every BatchNorm, as
 * torchvision's ResNet. */
void
InitializeKaimingFanOut(torch::nn::Module & module);

/** \class ConvolutionFlopCounter
 * \brief Counts the floating-point operations (2 per multiply-add, biases and everything else ignored) of the
 * convolutions (Conv, and the transposed convolutions of Upsample) that the constructing thread runs while the
 * counter lives: the FLOP figures of the benchmark. Counters nest; the cost when none is active is one
 * thread-local check per convolution.
 * \ingroup TorchSegNetworks
 */
class ConvolutionFlopCounter
{
public:
  ConvolutionFlopCounter();
  ~ConvolutionFlopCounter();
  ConvolutionFlopCounter(const ConvolutionFlopCounter &) = delete;
  ConvolutionFlopCounter &
  operator=(const ConvolutionFlopCounter &) = delete;

  double
  GetFlops() const
  {
    return m_Flops;
  }

  /** Adds to the innermost active counter of this thread, if any. */
  static void
  Add(double flops);
  static bool
  IsActive();

private:
  double                   m_Flops = 0.0;
  ConvolutionFlopCounter * m_Previous = nullptr;
};

/** Number of elements of the trainable parameters (requires_grad). */
int64_t
CountParameters(const torch::nn::Module & module);

} // namespace layers
} // namespace torchseg

#endif
