#include "torchsegNetworkLayers.h"

#include "itkMacro.h"

#include <torch/nn/init.h>
#include <torch/torch.h>

#include <cmath>

namespace torchseg
{
namespace layers
{
namespace
{
std::vector<int64_t>
Repeat(int64_t value, int dimensions)
{
  return std::vector<int64_t>(static_cast<size_t>(dimensions), value);
}

/** A convolution through oneDNN when no gradient is needed and the layer is not tiny: LibTorch 1.13's heuristic
 * sends single-sample 3D inputs with fewer than 20480 N*C*D*H elements to its im2col path (aten::slow_conv3d), which
 * is slower for the deep levels of 3D networks, though faster for convolutions between a few channels (GCN's class
 * score maps), which keep LibTorch's choice. */
torch::Tensor
Convolve(const torch::Tensor & input, const torch::Tensor & weight, const torch::Tensor & bias,
         torch::IntArrayRef stride, torch::IntArrayRef padding, torch::IntArrayRef dilation, int64_t groups)
{
  const bool noGradient = c10::InferenceMode::is_enabled() || !torch::GradMode::is_enabled() ||
                          (!input.requires_grad() && !weight.requires_grad());
  const bool tiny = weight.size(0) * weight.size(1) < 256;
  if (noGradient && !tiny && input.device().is_cpu() && input.scalar_type() == torch::kFloat32 &&
      weight.scalar_type() == torch::kFloat32 && at::globalContext().userEnabledMkldnn())
  {
    return at::mkldnn_convolution(input.contiguous(),
                                  weight.contiguous(),
                                  bias.defined() ? c10::optional<torch::Tensor>(bias) : c10::nullopt,
                                  padding,
                                  stride,
                                  dilation,
                                  groups);
  }
  return torch::convolution(input, weight, bias, stride, padding, dilation, false, Repeat(0, stride.size()), groups);
}

void
CheckDimensions(const torch::Tensor & input, int dimensions, const char * layer)
{
  TORCH_CHECK(input.dim() == dimensions + 2,
              layer,
              dimensions,
              "d expects an input of ",
              dimensions + 2,
              " dimensions (N, C, spatial...), got ",
              input.sizes());
}
} // namespace

ConvImpl::ConvImpl(ConvOptions options_)
  : options(std::move(options_))
{
  this->reset();
}

void
ConvImpl::reset()
{
  if (options.dimensions() != 2 && options.dimensions() != 3)
  {
    itkGenericExceptionMacro(<< "Convolution: spatial dimension " << options.dimensions() << " is not 2 or 3");
  }
  if (options.in_channels() % options.groups() != 0 || options.out_channels() % options.groups() != 0)
  {
    itkGenericExceptionMacro(<< "Convolution: channels " << options.in_channels() << " -> " << options.out_channels()
                             << " are not divisible by groups " << options.groups());
  }
  std::vector<int64_t> shape;
  if (options.transposed())
  {
    shape = { options.in_channels(), options.out_channels() / options.groups() };
  }
  else
  {
    shape = { options.out_channels(), options.in_channels() / options.groups() };
  }
  if (!options.kernel_shape().empty() && options.kernel_shape().size() != static_cast<size_t>(options.dimensions()))
  {
    itkGenericExceptionMacro(<< "Convolution: kernel shape of " << options.kernel_shape().size() << " axes for "
                             << options.dimensions() << "D");
  }
  if (!options.padding_shape().empty() && options.padding_shape().size() != static_cast<size_t>(options.dimensions()))
  {
    itkGenericExceptionMacro(<< "Convolution: padding of " << options.padding_shape().size() << " axes for "
                             << options.dimensions() << "D");
  }
  for (int d = 0; d < options.dimensions(); ++d)
  {
    shape.push_back(options.kernel_shape().empty() ? options.kernel_size() : options.kernel_shape()[d]);
  }
  weight = register_parameter("weight", torch::empty(shape));
  if (options.bias())
  {
    bias = register_parameter("bias", torch::empty({ options.out_channels() }));
  }
  else
  {
    bias = torch::Tensor();
  }
  // PyTorch's default: kaiming_uniform(a = sqrt(5)), bias uniform in +-1/sqrt(fan_in).
  torch::NoGradGuard noGrad;
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined())
  {
    const auto   fans = torch::nn::init::_calculate_fan_in_and_fan_out(weight);
    const double bound = 1.0 / std::sqrt(static_cast<double>(std::get<0>(fans)));
    torch::nn::init::uniform_(bias, -bound, bound);
  }
}

torch::Tensor
ConvImpl::forward(const torch::Tensor & input)
{
  const int d = options.dimensions();
  CheckDimensions(input, d, options.transposed() ? "ConvTranspose" : "Conv");
  const std::vector<int64_t> padding =
    options.padding_shape().empty() ? Repeat(options.padding(), d) : options.padding_shape();
  torch::Tensor output;
  if (options.transposed())
  {
    output = torch::convolution(input,
                                weight,
                                bias,
                                Repeat(options.stride(), d),
                                padding,
                                Repeat(options.dilation(), d),
                                true,
                                Repeat(0, d),
                                options.groups());
  }
  else
  {
    output = Convolve(
      input, weight, bias, Repeat(options.stride(), d), padding, Repeat(options.dilation(), d), options.groups());
  }
  if (ConvolutionFlopCounter::IsActive())
  {
    const double kernel = static_cast<double>(weight.numel() / (weight.size(0) * weight.size(1)));
    // Each output (or, transposed, each input) element takes in/groups (out/groups) kernel-sized dot products.
    const double macs = options.transposed()
                          ? static_cast<double>(input.numel()) * (options.out_channels() / options.groups()) * kernel
                          : static_cast<double>(output.numel()) * (options.in_channels() / options.groups()) * kernel;
    ConvolutionFlopCounter::Add(2.0 * macs);
  }
  return output;
}

void
ConvImpl::pretty_print(std::ostream & stream) const
{
  stream << "torchseg::" << (options.transposed() ? "ConvTranspose" : "Conv") << options.dimensions() << "d("
         << options.in_channels() << ", " << options.out_channels() << ", kernel_size=" << weight.sizes().slice(2)
         << ", stride=" << options.stride();
  if (!options.padding_shape().empty())
  {
    stream << ", padding=" << c10::IntArrayRef(options.padding_shape());
  }
  else if (options.padding() != 0)
  {
    stream << ", padding=" << options.padding();
  }
  if (options.dilation() != 1)
  {
    stream << ", dilation=" << options.dilation();
  }
  if (options.groups() != 1)
  {
    stream << ", groups=" << options.groups();
  }
  if (!options.bias())
  {
    stream << ", bias=false";
  }
  stream << ")";
}

NormalizationType
NormalizationFromString(const std::string & name)
{
  if (name == "batch")
  {
    return NormalizationType::Batch;
  }
  if (name == "instance")
  {
    return NormalizationType::Instance;
  }
  if (name == "none")
  {
    return NormalizationType::None;
  }
  itkGenericExceptionMacro(<< "Normalization \"" << name << "\" is not one of batch, instance, none");
}

NormImpl::NormImpl(NormalizationType type_, int64_t channels_)
  : type(type_)
  , channels(channels_)
{
  this->reset();
}

void
NormImpl::reset()
{
  if (type == NormalizationType::None)
  {
    return;
  }
  weight = register_parameter("weight", torch::ones({ channels }));
  bias = register_parameter("bias", torch::zeros({ channels }));
  if (type == NormalizationType::Batch)
  {
    running_mean = register_buffer("running_mean", torch::zeros({ channels }));
    running_var = register_buffer("running_var", torch::ones({ channels }));
    num_batches_tracked = register_buffer("num_batches_tracked", torch::tensor(0, torch::kLong));
  }
}

torch::Tensor
NormImpl::forward(const torch::Tensor & input)
{
  switch (type)
  {
    case NormalizationType::Batch:
      if (is_training())
      {
        torch::NoGradGuard noGrad;
        num_batches_tracked += 1;
      }
      return torch::batch_norm(input, weight, bias, running_mean, running_var, is_training(), momentum, eps, false);
    case NormalizationType::Instance:
      return torch::instance_norm(input, weight, bias, {}, {}, true, momentum, eps, false);
    case NormalizationType::None:
      break;
  }
  return input;
}

void
NormImpl::pretty_print(std::ostream & stream) const
{
  switch (type)
  {
    case NormalizationType::Batch:
      stream << "torchseg::BatchNorm(" << channels << ")";
      break;
    case NormalizationType::Instance:
      stream << "torchseg::InstanceNorm(" << channels << ", affine=true)";
      break;
    case NormalizationType::None:
      stream << "torchseg::Identity()";
      break;
  }
}

UpsamplingMode
UpsamplingFromString(const std::string & name)
{
  if (name == "nearest")
  {
    return UpsamplingMode::Nearest;
  }
  if (name == "bilinear" || name == "trilinear" || name == "linear")
  {
    return UpsamplingMode::Linear;
  }
  if (name == "transposed")
  {
    return UpsamplingMode::Transposed;
  }
  if (name == "transposedFrozen")
  {
    return UpsamplingMode::TransposedFrozen;
  }
  itkGenericExceptionMacro(<< "Upsampling \"" << name
                           << "\" is not one of nearest, bilinear, transposed, transposedFrozen");
}

torch::Tensor
LinearInterpolationKernel(int64_t factor, int dimensions)
{
  if (factor < 1)
  {
    itkGenericExceptionMacro(<< "Upsampling factor " << factor << " is not positive");
  }
  const int64_t size = 2 * factor - factor % 2;
  const double  center = (factor % 2 == 1) ? factor - 1.0 : factor - 0.5;
  auto          line = torch::empty({ size }, torch::kFloat64);
  for (int64_t i = 0; i < size; ++i)
  {
    line[i] = 1.0 - std::abs(static_cast<double>(i) - center) / static_cast<double>(factor);
  }
  torch::Tensor kernel = line;
  for (int d = 1; d < dimensions; ++d)
  {
    kernel = kernel.unsqueeze(-1) * line;
  }
  return kernel.to(torch::kFloat32);
}

UpsampleImpl::UpsampleImpl(int dimensions_, int64_t channels_, int64_t factor_, UpsamplingMode mode_)
  : dimensions(dimensions_)
  , channels(channels_)
  , factor(factor_)
  , mode(mode_)
{
  this->reset();
}

void
UpsampleImpl::reset()
{
  if (mode != UpsamplingMode::Transposed && mode != UpsamplingMode::TransposedFrozen)
  {
    return;
  }
  const torch::Tensor kernel = LinearInterpolationKernel(factor, dimensions);
  if (mode == UpsamplingMode::TransposedFrozen)
  {
    std::vector<int64_t> shape{ channels, 1 };
    for (int d = 0; d < dimensions; ++d)
    {
      shape.push_back(kernel.size(d));
    }
    weight = register_buffer("weight", kernel.expand(shape).contiguous());
  }
  else
  {
    std::vector<int64_t> shape{ channels, channels };
    for (int d = 0; d < dimensions; ++d)
    {
      shape.push_back(kernel.size(d));
    }
    auto w = torch::zeros(shape);
    for (int64_t c = 0; c < channels; ++c)
    {
      w[c][c].copy_(kernel);
    }
    weight = register_parameter("weight", w);
  }
}

torch::Tensor
UpsampleImpl::forward(const torch::Tensor & input, torch::IntArrayRef size)
{
  CheckDimensions(input, dimensions, "Upsample");
  if (mode == UpsamplingMode::Nearest || mode == UpsamplingMode::Linear)
  {
    return Resize(input, size, mode == UpsamplingMode::Linear);
  }
  const int64_t groups = mode == UpsamplingMode::TransposedFrozen ? channels : 1;
  if (factor == 1)
  {
    return CropTo(torch::convolution(input,
                                     weight,
                                     {},
                                     Repeat(1, dimensions),
                                     Repeat(0, dimensions),
                                     Repeat(1, dimensions),
                                     true,
                                     Repeat(0, dimensions),
                                     groups),
                  size);
  }
  // Edge replication by one voxel makes the transposed convolution reproduce the clamped borders of
  // align_corners = false interpolation; the extra factor voxels on each side are cropped.
  std::vector<int64_t> pad = Repeat(1, 2 * dimensions);
  const torch::Tensor  padded =
    torch::nn::functional::pad(input, torch::nn::functional::PadFuncOptions(pad).mode(torch::kReplicate));
  torch::Tensor out = torch::convolution(padded,
                                         weight,
                                         {},
                                         Repeat(factor, dimensions),
                                         Repeat(factor / 2, dimensions),
                                         Repeat(1, dimensions),
                                         true,
                                         Repeat(0, dimensions),
                                         groups);
  if (ConvolutionFlopCounter::IsActive())
  {
    // Transposed weight (in, out / groups, k...): every input element feeds out/groups kernels.
    const double kernel = static_cast<double>(weight.numel() / (weight.size(0) * weight.size(1)));
    ConvolutionFlopCounter::Add(2.0 * static_cast<double>(padded.numel()) * weight.size(1) * kernel);
  }
  for (int d = 0; d < dimensions; ++d)
  {
    TORCH_CHECK(size[d] <= input.size(d + 2) * factor,
                "Upsample: target size ",
                size,
                " exceeds the input ",
                input.sizes(),
                " times ",
                factor);
    out = out.narrow(d + 2, factor, size[d]);
  }
  return out;
}

void
UpsampleImpl::pretty_print(std::ostream & stream) const
{
  static const char * names[] = { "nearest", "linear", "transposed", "transposedFrozen" };
  stream << "torchseg::Upsample(" << dimensions << "d, channels=" << channels << ", factor=" << factor
         << ", mode=" << names[static_cast<int>(mode)] << ")";
}

torch::Tensor
Resize(const torch::Tensor & input, torch::IntArrayRef size, bool linear)
{
  const int dimensions = static_cast<int>(input.dim()) - 2;
  TORCH_CHECK(dimensions == static_cast<int>(size.size()),
              "Resize: input ",
              input.sizes(),
              " does not have ",
              size.size(),
              " spatial axes");
  if (input.sizes().slice(2) == size)
  {
    return input;
  }
  if (dimensions == 2)
  {
    return linear ? torch::upsample_bilinear2d(input, size, false) : torch::upsample_nearest2d(input, size);
  }
  TORCH_CHECK(dimensions == 3, "Resize: input ", input.sizes(), " is neither 2D nor 3D");
  return linear ? torch::upsample_trilinear3d(input, size, false) : torch::upsample_nearest3d(input, size);
}

std::vector<int64_t>
SpatialSize(const torch::Tensor & input)
{
  return input.sizes().slice(2).vec();
}

torch::Tensor
PadToMultiple(const torch::Tensor & input, int64_t multiple)
{
  const int64_t        dimensions = input.dim() - 2;
  std::vector<int64_t> pad(static_cast<size_t>(2 * dimensions), 0);
  bool                 needed = false;
  for (int64_t d = 0; d < dimensions; ++d)
  {
    const int64_t size = input.size(2 + d);
    const int64_t extra = (multiple - size % multiple) % multiple;
    // constant_pad_nd lists the last axis first, as (low, high) pairs.
    pad[static_cast<size_t>(2 * (dimensions - 1 - d) + 1)] = extra;
    needed = needed || extra > 0;
  }
  return needed ? torch::constant_pad_nd(input, pad, 0.0) : input;
}

torch::Tensor
CropTo(const torch::Tensor & input, torch::IntArrayRef size)
{
  torch::Tensor out = input;
  for (size_t d = 0; d < size.size(); ++d)
  {
    const int64_t axis = static_cast<int64_t>(d) + 2;
    if (out.size(axis) != size[d])
    {
      out = out.narrow(axis, 0, size[d]);
    }
  }
  return out;
}

std::vector<int64_t>
DivideRoundUp(torch::IntArrayRef size, int64_t stride)
{
  std::vector<int64_t> out;
  for (const int64_t s : size)
  {
    out.push_back((s + stride - 1) / stride);
  }
  return out;
}

torch::Tensor
MaxPool(const torch::Tensor & input, int64_t kernel, int64_t stride, int64_t padding)
{
  if (input.dim() == 4)
  {
    return torch::max_pool2d(input, kernel, stride, padding);
  }
  return torch::max_pool3d(input, kernel, stride, padding);
}

std::tuple<torch::Tensor, torch::Tensor>
MaxPoolWithIndices(const torch::Tensor & input, int64_t kernel, int64_t stride)
{
  if (input.dim() == 4)
  {
    return torch::max_pool2d_with_indices(input, kernel, stride);
  }
  return torch::max_pool3d_with_indices(input, kernel, stride);
}

torch::Tensor
MaxUnpool(const torch::Tensor & input, const torch::Tensor & indices, torch::IntArrayRef size, int64_t kernel)
{
  if (input.dim() == 4)
  {
    return torch::max_unpool2d(input, indices, size);
  }
  return torch::max_unpool3d(input, indices, size, Repeat(kernel, 3), Repeat(0, 3));
}

torch::Tensor
PixelShuffle(const torch::Tensor & input, int64_t factor)
{
  const int64_t d = input.dim() - 2;
  int64_t       blocks = 1;
  for (int64_t i = 0; i < d; ++i)
  {
    blocks *= factor;
  }
  TORCH_CHECK(input.size(1) % blocks == 0,
              "PixelShuffle: channels of ",
              input.sizes(),
              " are not a multiple of ",
              factor,
              "^",
              d);
  // (N, C, f, ..., f, S0, ..., Sd-1) -> (N, C, S0, f, S1, f, ...) -> (N, C, S0 f, S1 f, ...)
  std::vector<int64_t> split{ input.size(0), input.size(1) / blocks };
  std::vector<int64_t> order{ 0, 1 };
  std::vector<int64_t> merged{ input.size(0), input.size(1) / blocks };
  for (int64_t i = 0; i < d; ++i)
  {
    split.push_back(factor);
  }
  for (int64_t i = 0; i < d; ++i)
  {
    split.push_back(input.size(2 + i));
    order.push_back(2 + d + i);
    order.push_back(2 + i);
    merged.push_back(input.size(2 + i) * factor);
  }
  return input.reshape(split).permute(order).reshape(merged);
}

torch::Tensor
AdaptiveAvgPool(const torch::Tensor & input, int64_t bins)
{
  if (input.dim() == 4)
  {
    return torch::adaptive_avg_pool2d(input, Repeat(bins, 2));
  }
  return torch::adaptive_avg_pool3d(input, Repeat(bins, 3));
}

void
InitializeKaimingFanOut(torch::nn::Module & module)
{
  torch::NoGradGuard noGrad;
  for (const auto & child : module.modules(/*include_self=*/false))
  {
    if (auto * conv = child->as<ConvImpl>())
    {
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      if (conv->bias.defined())
      {
        conv->bias.zero_();
      }
    }
    else if (auto * norm = child->as<NormImpl>())
    {
      if (norm->weight.defined())
      {
        norm->weight.fill_(1.0);
        norm->bias.zero_();
      }
    }
  }
}

namespace
{
thread_local ConvolutionFlopCounter * activeCounter = nullptr;
}

ConvolutionFlopCounter::ConvolutionFlopCounter()
  : m_Previous(activeCounter)
{
  activeCounter = this;
}

ConvolutionFlopCounter::~ConvolutionFlopCounter()
{
  activeCounter = m_Previous;
}

void
ConvolutionFlopCounter::Add(double flops)
{
  if (activeCounter)
  {
    activeCounter->m_Flops += flops;
  }
}

bool
ConvolutionFlopCounter::IsActive()
{
  return activeCounter != nullptr;
}

int64_t
CountParameters(const torch::nn::Module & module)
{
  int64_t count = 0;
  for (const auto & p : module.parameters())
  {
    if (p.requires_grad())
    {
      count += p.numel();
    }
  }
  return count;
}

} // namespace layers
} // namespace torchseg
