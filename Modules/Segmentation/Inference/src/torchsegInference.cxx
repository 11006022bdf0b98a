// The inference engine: everything between a float CT volume and its label image that touches LibTorch. One
// translation unit, so that the filter's template code and the applications compile without LibTorch's headers.
#include "torchsegInference.h"

#include "torchsegModel.h"
#include "torchsegSlidingWindow.h"
#include "torchsegTensorBridge.h"

#include "itkImageAlgorithm.h"
#include "itkMacro.h"

#include <torch/nn/functional.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <memory>
#include <sstream>

namespace torchseg
{

namespace F = torch::nn::functional;

using FloatImage = itk::Image<float, 3>;
using LabelImage = itk::Image<uint8_t, 3>;
using ProbabilityImage = itk::VectorImage<float, 3>;

// Sliding-window geometry ------------------------------------------------------------------------------------------

torch::Tensor
GaussianWeights1D(int64_t size)
{
  if (size < 1)
  {
    itkGenericExceptionMacro(<< "GaussianWeights1D: the window size " << size << " is not positive");
  }
  const double  centre = 0.5 * static_cast<double>(size - 1);
  const double  sigma = static_cast<double>(size) / 8.0;
  torch::Tensor i = torch::arange(size, torch::kFloat64);
  torch::Tensor w = torch::exp(-(i - centre).square() / (2.0 * sigma * sigma));
  return (w / w.max()).to(torch::kFloat32);
}

torch::Tensor
GaussianImportanceMap(const std::vector<int64_t> & patch)
{
  torch::Tensor map = torch::ones({}, torch::kFloat32);
  for (int64_t size : patch)
  {
    map = map.unsqueeze(-1) * GaussianWeights1D(size);
  }
  return map;
}

std::vector<int64_t>
SlidingWindowPositions(int64_t imageSize, int64_t patchSize, double overlap)
{
  if (patchSize < 1 || imageSize < patchSize)
  {
    itkGenericExceptionMacro(<< "SlidingWindowPositions: a window of " << patchSize << " voxels does not fit "
                             << imageSize << " voxels");
  }
  if (imageSize == patchSize)
  {
    return { 0 };
  }
  const double         step = std::max(1.0, static_cast<double>(patchSize) * (1.0 - overlap));
  const int64_t        count = static_cast<int64_t>(std::ceil(static_cast<double>(imageSize - patchSize) / step)) + 1;
  const double         actual = static_cast<double>(imageSize - patchSize) / static_cast<double>(count - 1);
  std::vector<int64_t> positions;
  for (int64_t i = 0; i < count; ++i)
  {
    positions.push_back(static_cast<int64_t>(std::llround(actual * static_cast<double>(i))));
  }
  return positions;
}

std::ostream &
operator<<(std::ostream & os, const InferenceOptions & o)
{
  return os << "overlap " << o.overlap << ", batchSize " << o.batchSize << ", mirroring " << o.mirroring
            << ", gaussianWeighting " << o.gaussianWeighting << ", numberOfThreads " << o.numberOfThreads
            << ", slabSize " << o.slabSize;
}

// Models ------------------------------------------------------------------------------------------------------------

std::shared_ptr<Model>
LoadModel(const std::string & path, const std::string & device)
{
  const torch::Device d = ParseDevice(device.empty() ? std::string("cpu") : device);
  return std::make_shared<Model>(Model::Load(path, d));
}

void
MoveModelTo(Model & model, const std::string & device)
{
  const torch::Device d = ParseDevice(device.empty() ? std::string("cpu") : device);
  if (model.GetDevice() != d)
  {
    model.To(d);
  }
}

unsigned int
GetNumberOfClasses(const Model & model)
{
  return static_cast<unsigned int>(model.GetMetadata().network.numberOfClasses);
}

const LabelTable &
GetClassTable(const Model & model)
{
  return model.GetMetadata().classes;
}

std::optional<LabelPostProcessingOptions>
GetRecommendedPostProcessing(const Model & model)
{
  return model.GetMetadata().postProcessing;
}

namespace
{

// Reorientation -----------------------------------------------------------------------------------------------------

/** The axis-aligned view of the input closest to the model's orientation: axis i of the reoriented grid is input axis
 * perm[i], reversed when flip[i]. */
struct Reorientation
{
  std::array<int, 3>  perm{ { 0, 1, 2 } };
  std::array<bool, 3> flip{ { false, false, false } };
};

Reorientation
ComputeReorientation(const FloatImage::DirectionType & direction, const std::string & orientation)
{
  const auto canonical = OrientationCodeToDirection(orientation);
  auto       dot = [&](int i, int j) { // canonical axis i with input axis j
    double s = 0.0;
    for (int r = 0; r < 3; ++r)
    {
            s += canonical[r][i] * direction(r, j);
    }
    return s;
  };
  std::array<int, 3> perm{ { 0, 1, 2 } };
  Reorientation      best;
  double             bestScore = -1.0;
  do
  {
    const double score = std::abs(dot(0, perm[0])) + std::abs(dot(1, perm[1])) + std::abs(dot(2, perm[2]));
    if (score > bestScore + 1e-12)
    {
      bestScore = score;
      best.perm = perm;
      for (int i = 0; i < 3; ++i)
      {
        best.flip[i] = dot(i, perm[i]) < 0.0;
      }
    }
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

/** Linear interpolation weights from a grid of \a from samples to one of \a to samples whose voxels are \a scale
 * source voxels wide, low outer edges aligned (TorchSegTrain's ResampleToSpacing; PyTorch's align_corners=false with
 * an explicit scale): sample k lies at max(0, (k + 0.5) scale - 0.5), clamped to the last source sample. */
struct LinearMap
{
  std::vector<int64_t> lo;
  std::vector<int64_t> hi;
  std::vector<float>   weight;
  bool                 identity = true;
};

LinearMap
MakeLinearMap(int64_t from, int64_t to, double scale)
{
  LinearMap map;
  map.identity = from == to && scale == 1.0;
  map.lo.resize(to);
  map.hi.resize(to);
  map.weight.resize(to);
  for (int64_t k = 0; k < to; ++k)
  {
    if (map.identity)
    {
      map.lo[k] = map.hi[k] = k;
      map.weight[k] = 0.0f;
      continue;
    }
    const double  source = std::max(0.0, (static_cast<double>(k) + 0.5) * scale - 0.5);
    const int64_t lo = std::min(static_cast<int64_t>(source), from - 1);
    map.lo[k] = lo;
    map.hi[k] = std::min(lo + 1, from - 1);
    map.weight[k] = lo + 1 < from ? static_cast<float>(source - static_cast<double>(lo)) : 0.0f;
  }
  return map;
}

/** Slices [a, b) of \a slabs (slices along dim 0, the first of which is slice \a base) interpolated along dim 0. */
torch::Tensor
InterpolateSlices(const torch::Tensor & slabs, int64_t base, const LinearMap & map, int64_t a, int64_t b)
{
  if (map.identity)
  {
    return slabs.narrow(0, a - base, b - a);
  }
  std::vector<int64_t> lo(map.lo.begin() + a, map.lo.begin() + b);
  std::vector<int64_t> hi(map.hi.begin() + a, map.hi.begin() + b);
  std::vector<float>   w(map.weight.begin() + a, map.weight.begin() + b);
  torch::Tensor        loIndex = torch::tensor(lo, torch::kInt64) - base;
  torch::Tensor        hiIndex = torch::tensor(hi, torch::kInt64) - base;
  std::vector<int64_t> shape(slabs.dim(), 1);
  shape[0] = b - a;
  torch::Tensor weight = torch::tensor(w, torch::kFloat32).reshape(shape);
  torch::Tensor low = slabs.index_select(0, loIndex);
  return low.add_((slabs.index_select(0, hiIndex) - low).mul_(weight));
}

/** Bilinear resampling of the last two axes of (N, C, H, W) to \a height x \a width, output voxels being
 * 1 / scale input voxels wide (low outer edges aligned, as LinearMap); no-op when nothing changes. */
torch::Tensor
ResampleInPlane(const torch::Tensor & x, int64_t height, int64_t width, double scaleHeight, double scaleWidth)
{
  if (x.size(-2) == height && x.size(-1) == width && scaleHeight == 1.0 && scaleWidth == 1.0)
  {
    return x;
  }
  return at::upsample_bilinear2d(x, { height, width }, /*align_corners=*/false, scaleHeight, scaleWidth);
}

/** The index of the largest class probability of (n, classes, ...) as uint8 (n, ...); ties go to the lower class, as
 * argmax. A running maximum over the classes, each step one contiguous elementwise pass: about 50 times faster
 * than torch::argmax over the strided class axis. */
torch::Tensor
ArgMaxLabels(const torch::Tensor & p)
{
  torch::Tensor best = p.select(1, 0).clone();
  torch::Tensor labels = torch::zeros_like(best, torch::kUInt8);
  for (int64_t c = 1; c < p.size(1); ++c)
  {
    const torch::Tensor value = p.select(1, c);
    const torch::Tensor larger = value > best;
    labels.masked_fill_(larger, static_cast<int64_t>(c));
    best = torch::maximum(best, value);
  }
  return labels;
}

/** A cache of the most recent range of slices (along dim 0) of something computed on demand; ranges are asked for
 * in increasing order, and slices below a request are dropped. The computation of [a, b) may return more slices
 * than asked (whole batches): the extra ones are kept for the next request. */
class SliceCache
{
public:
  using Compute = std::function<torch::Tensor(int64_t, int64_t)>;
  explicit SliceCache(Compute compute)
    : m_Compute(std::move(compute))
  {}

  torch::Tensor
  Get(int64_t a, int64_t b)
  {
    if (!m_Data.defined() || a < m_Begin || a >= m_End)
    {
      m_Data = m_Compute(a, b);
      m_Begin = a;
    }
    else if (b > m_End)
    {
      m_Data = torch::cat({ m_Data.narrow(0, a - m_Begin, m_End - a), m_Compute(m_End, b) }, 0);
      m_Begin = a;
    }
    m_End = m_Begin + m_Data.size(0);
    return m_Data.narrow(0, a - m_Begin, b - a);
  }

private:
  Compute       m_Compute;
  torch::Tensor m_Data;
  int64_t       m_Begin = 0;
  int64_t       m_End = 0;
};

/** Source of class probabilities (n, classes, height, width) for slices [a, b) of the model's grid. */
class ProbabilitySource
{
public:
  virtual ~ProbabilitySource() = default;
  virtual torch::Tensor
  Get(int64_t a, int64_t b) = 0;
};

// The run ------------------------------------------------------------------------------------------------------------

class InferenceRun
{
public:
  InferenceRun(Model & model, const FloatImage * input, LabelImage * labels, ProbabilityImage * probabilities,
               const InferenceOptions & options, itk::ProcessObject * reporter, float progressBegin, float progressEnd)
    : m_Model(model)
    , m_Metadata(model.GetMetadata())
    , m_Input(input)
    , m_Labels(labels)
    , m_Probabilities(probabilities)
    , m_Options(options)
    , m_Reporter(reporter)
    , m_ProgressBegin(progressBegin)
    , m_ProgressEnd(progressEnd)
  {
    m_Classes = m_Metadata.network.numberOfClasses;
    m_Dimension = m_Metadata.network.spatialDimensions;
    m_Orientation = ComputeReorientation(input->GetDirection(), m_Metadata.orientation);
    const auto size = input->GetBufferedRegion().GetSize();
    const auto spacing = input->GetSpacing();
    // The model's grid: TorchSegTrain's ResampleToSpacing (spacing exactly the target, size round(extent / target),
    // low outer edge in place), so that the network sees test images as it saw training images.
    for (int i = 0; i < 3; ++i)
    {
      m_Size[i] = static_cast<int64_t>(size[m_Orientation.perm[i]]);
      const double s = spacing[m_Orientation.perm[i]];
      const double t = m_Metadata.targetSpacing[i];
      if (t > 0.0 && std::abs(t - s) > 1e-6 * s)
      {
        m_ModelSize[i] = std::max<int64_t>(1, std::llround(s * static_cast<double>(m_Size[i]) / t));
        m_ModelPerInput[i] = s / t;
      }
      else
      {
        m_ModelSize[i] = m_Size[i];
        m_ModelPerInput[i] = 1.0;
      }
    }
    m_ForwardMap = MakeLinearMap(m_Size[2], m_ModelSize[2], 1.0 / m_ModelPerInput[2]);
    // A view of the input's buffer (no copy) with the axes in the reoriented order; flips are applied per slab.
    m_ReorientedView = ImageToTensorView(input).permute(
      { 2 - m_Orientation.perm[2], 2 - m_Orientation.perm[1], 2 - m_Orientation.perm[0] });
    m_PadValue = static_cast<float>(this->Normalize(torch::full({ 1 }, -1024.0f)).item<float>());
    m_BatchSize = options.batchSize > 0 ? options.batchSize : (m_Dimension == 2 ? 4 : 1);
    m_Gaussian = options.gaussianWeighting;
  }

  void
  Execute()
  {
    auto input = std::make_shared<SliceCache>([this](int64_t a, int64_t b) { return this->ModelGridInput(a, b); });
    std::unique_ptr<ProbabilitySource> source;
    if (m_Dimension == 2)
    {
      source = std::make_unique<SliceSource>(*this, input);
    }
    else
    {
      source = std::make_unique<VolumeSource>(*this, input);
    }

    const LinearMap back = MakeLinearMap(m_ModelSize[2], m_Size[2], m_ModelPerInput[2]);
    const int64_t   slab =
      m_Options.slabSize > 0
          ? m_Options.slabSize
          : std::max<int64_t>(1, (int64_t{ 64 } << 20) / (4 * m_Classes * std::max<int64_t>(1, m_Size[0] * m_Size[1])));
    for (int64_t k0 = 0; k0 < m_Size[2]; k0 += slab)
    {
      const int64_t k1 = std::min(m_Size[2], k0 + slab);
      const int64_t a = back.lo[k0];
      const int64_t b = back.hi[k1 - 1] + 1;
      torch::Tensor p = source->Get(a, b);
      p = InterpolateSlices(p, a, back, k0, k1);
      p = ResampleInPlane(p, m_Size[1], m_Size[0], 1.0 / m_ModelPerInput[1], 1.0 / m_ModelPerInput[0]);
      this->WriteLabels(ArgMaxLabels(p), k0, k1);
      if (m_Probabilities)
      {
        this->WriteProbabilities(p, k0, k1);
      }
      this->Progress(static_cast<double>(k1) / static_cast<double>(m_Size[2]));
    }
  }

private:
  /** Slices [a, b) along the reoriented z axis, as a contiguous (b - a, y, x) tensor in the reoriented order. */
  torch::Tensor
  ReorientedSlab(int64_t a, int64_t b) const
  {
    const int64_t start = m_Orientation.flip[2] ? m_Size[2] - b : a;
    torch::Tensor slab = m_ReorientedView.narrow(0, start, b - a);
    const auto    flips = this->FlippedDims();
    return (flips.empty() ? slab : torch::flip(slab, flips)).contiguous();
  }

  std::vector<int64_t>
  FlippedDims() const
  {
    std::vector<int64_t> dims;
    for (int i = 2; i >= 0; --i)
    {
      if (m_Orientation.flip[i])
      {
        dims.push_back(2 - i);
      }
    }
    return dims;
  }

  /** Reoriented (n, [c,] y, x) slab back to the input's (z, y, x) tensor order, with the input region it covers. */
  std::pair<torch::Tensor, LabelImage::RegionType>
  ToInputOrder(torch::Tensor slab, int64_t a, int64_t b, bool channels) const
  {
    // Treat the channel axis (if any) as the last one while undoing flips and the permutation.
    if (channels)
    {
      slab = slab.permute({ 0, 2, 3, 1 });
    }
    const auto flips = this->FlippedDims();
    if (!flips.empty())
    {
      slab = torch::flip(slab, flips);
    }
    // Reoriented tensor dim r (0 = z', 1 = y', 2 = x') holds input tensor dim 2 - perm[2 - r].
    std::vector<int64_t> order(3);
    for (int64_t t = 0; t < 3; ++t)
    {
      for (int64_t r = 0; r < 3; ++r)
      {
        if (2 - m_Orientation.perm[2 - r] == t)
        {
          order[t] = r;
        }
      }
    }
    if (channels)
    {
      order.push_back(3);
    }
    LabelImage::RegionType region = m_Input->GetBufferedRegion();
    const int              axis = m_Orientation.perm[2];
    region.SetIndex(axis, region.GetIndex(axis) + (m_Orientation.flip[2] ? m_Size[2] - b : a));
    region.SetSize(axis, static_cast<itk::SizeValueType>(b - a));
    return { slab.permute(order).contiguous(), region };
  }

  void
  WriteLabels(const torch::Tensor & labels, int64_t a, int64_t b)
  {
    const auto [tensor, region] = this->ToInputOrder(labels, a, b, false);
    const auto slab = TensorToImage<LabelImage>(tensor, nullptr);
    itk::ImageAlgorithm::Copy(slab.GetPointer(), m_Labels, slab->GetLargestPossibleRegion(), region);
  }

  void
  WriteProbabilities(const torch::Tensor & probabilities, int64_t a, int64_t b)
  {
    // (z, y, x, classes) is the memory layout of a VectorImage region: a 4D image whose fastest axis is the class.
    const auto [tensor, region] = this->ToInputOrder(probabilities, a, b, true);
    const auto        slab = TensorToImage<itk::Image<float, 4>>(tensor, nullptr);
    const float *     source = slab->GetBufferPointer();
    const auto        full = m_Probabilities->GetBufferedRegion();
    const std::size_t k = static_cast<std::size_t>(m_Classes);
    const std::size_t row = region.GetSize(0) * k;
    float *           target = m_Probabilities->GetBufferPointer();
    for (itk::SizeValueType z = 0; z < region.GetSize(2); ++z)
    {
      for (itk::SizeValueType y = 0; y < region.GetSize(1); ++y, source += row)
      {
        const std::size_t offset =
          ((static_cast<std::size_t>(region.GetIndex(2) - full.GetIndex(2) + z) * full.GetSize(1) +
            static_cast<std::size_t>(region.GetIndex(1) - full.GetIndex(1) + y)) *
             full.GetSize(0) +
           static_cast<std::size_t>(region.GetIndex(0) - full.GetIndex(0))) *
          k;
        std::copy_n(source, row, target + offset);
      }
    }
  }

  torch::Tensor
  Normalize(torch::Tensor x) const
  {
    const IntensityNormalization & n = m_Metadata.normalization;
    if (n.method == "zscore")
    {
      return x.clamp(n.clipLow, n.clipHigh).sub_(n.mean).div_(n.std);
    }
    if (n.method == "window")
    {
      return x.clamp(n.clipLow, n.clipHigh).sub_(n.clipLow).div_(n.clipHigh - n.clipLow);
    }
    return x;
  }

  /** Normalised input on the model's grid, slices [a, b): (b - a, y, x). */
  torch::Tensor
  ModelGridInput(int64_t a, int64_t b)
  {
    const int64_t lo = m_ForwardMap.lo[a];
    const int64_t hi = m_ForwardMap.hi[b - 1] + 1;
    torch::Tensor slices = InterpolateSlices(this->ReorientedSlab(lo, hi), lo, m_ForwardMap, a, b);
    slices =
      ResampleInPlane(slices.unsqueeze(1), m_ModelSize[1], m_ModelSize[0], m_ModelPerInput[1], m_ModelPerInput[0])
        .squeeze(1);
    return this->Normalize(slices);
  }

  /** Softmax probabilities of \a x (N, C, spatial...) on the CPU, averaged over the mirrorings when asked. */
  torch::Tensor
  Infer(const torch::Tensor & x)
  {
    this->CheckAbort();
    const int64_t                     spatial = x.dim() - 2;
    std::vector<std::vector<int64_t>> mirrorings{ {} };
    if (m_Options.mirroring)
    {
      for (int64_t mask = 1; mask < (int64_t{ 1 } << spatial); ++mask)
      {
        std::vector<int64_t> dims;
        for (int64_t d = 0; d < spatial; ++d)
        {
          if (mask & (int64_t{ 1 } << d))
          {
            dims.push_back(2 + d);
          }
        }
        mirrorings.push_back(dims);
      }
    }
    torch::Tensor sum;
    for (const auto & dims : mirrorings)
    {
      torch::Tensor p = torch::softmax(m_Model.Forward(dims.empty() ? x : torch::flip(x, dims)), 1);
      if (!dims.empty())
      {
        p = torch::flip(p, dims);
      }
      sum = sum.defined() ? sum.add_(p) : p;
    }
    if (mirrorings.size() > 1)
    {
      sum.div_(static_cast<double>(mirrorings.size()));
    }
    return sum.to(torch::kCPU, torch::kFloat32);
  }

  /** Window start positions per spatial axis of \a padded (tensor order) for windows of \a patch. */
  std::vector<std::vector<int64_t>>
  Positions(const std::vector<int64_t> & padded, const std::vector<int64_t> & patch) const
  {
    std::vector<std::vector<int64_t>> positions;
    for (std::size_t d = 0; d < patch.size(); ++d)
    {
      positions.push_back(SlidingWindowPositions(padded[d], patch[d], m_Options.overlap));
    }
    return positions;
  }

  /** 1D weights of a window of \a size: Gaussian, or uniform without Gaussian weighting. */
  torch::Tensor
  Weights1D(int64_t size) const
  {
    return m_Gaussian ? GaussianWeights1D(size) : torch::ones({ size }, torch::kFloat32);
  }

  /** Sum over the windows at \a positions of the (weighted) probabilities of \a x (N, C, spatial...): (N, K,
   * spatial...). Windows are batched so that about batchSize samples go through the network at once. */
  torch::Tensor
  WindowSum(const torch::Tensor & x, const std::vector<std::vector<int64_t>> & positions,
            const std::vector<int64_t> & patch)
  {
    const int64_t spatial = static_cast<int64_t>(patch.size());
    torch::Tensor weight = torch::ones({}, torch::kFloat32);
    for (int64_t size : patch)
    {
      weight = weight.unsqueeze(-1) * this->Weights1D(size);
    }
    std::vector<int64_t> shape = x.sizes().vec();
    shape[1] = m_Classes;
    torch::Tensor sum = torch::zeros(shape, torch::kFloat32);

    std::vector<std::vector<int64_t>> windows{ {} };
    for (const auto & axis : positions)
    {
      std::vector<std::vector<int64_t>> next;
      for (const auto & w : windows)
      {
        for (int64_t p : axis)
        {
          next.push_back(w);
          next.back().push_back(p);
        }
      }
      windows = std::move(next);
    }
    auto crop = [&](const torch::Tensor & t, const std::vector<int64_t> & start) {
      torch::Tensor c = t;
      for (int64_t d = 0; d < spatial; ++d)
      {
        c = c.narrow(2 + d, start[d], patch[d]);
      }
      return c;
    };
    const int64_t group = std::max<int64_t>(1, m_BatchSize / x.size(0));
    for (std::size_t first = 0; first < windows.size(); first += static_cast<std::size_t>(group))
    {
      const std::size_t          last = std::min(windows.size(), first + static_cast<std::size_t>(group));
      std::vector<torch::Tensor> batch;
      for (std::size_t w = first; w < last; ++w)
      {
        batch.push_back(crop(x, windows[w]));
      }
      const torch::Tensor p = this->Infer(batch.size() == 1 ? batch[0] : torch::cat(batch, 0));
      for (std::size_t w = first; w < last; ++w)
      {
        crop(sum, windows[w]).add_(p.narrow(0, static_cast<int64_t>(w - first) * x.size(0), x.size(0)) * weight);
      }
    }
    return sum;
  }

  /** Sum over window positions of the 1D weights, per voxel of an axis of \a size. */
  torch::Tensor
  Coverage(int64_t size, const std::vector<int64_t> & positions, int64_t patch) const
  {
    torch::Tensor       c = torch::zeros({ size }, torch::kFloat32);
    const torch::Tensor w = this->Weights1D(patch);
    for (int64_t p : positions)
    {
      c.narrow(0, p, patch).add_(w);
    }
    return c;
  }

  /** Padding of \a x (N, C, spatial...) to at least \a patch per axis, centred: returns the offsets. */
  std::vector<int64_t>
  PadToPatch(torch::Tensor & x, const std::vector<int64_t> & patch) const
  {
    const int64_t        spatial = static_cast<int64_t>(patch.size());
    std::vector<int64_t> offsets(spatial, 0);
    std::vector<int64_t> pad; // last axis first, as F::pad wants
    bool                 any = false;
    for (int64_t d = spatial - 1; d >= 0; --d)
    {
      const int64_t size = x.size(2 + d);
      const int64_t total = std::max<int64_t>(0, patch[d] - size);
      offsets[d] = total / 2;
      pad.push_back(total / 2);
      pad.push_back(total - total / 2);
      any = any || total > 0;
    }
    if (any)
    {
      x = F::pad(x, F::PadFuncOptions(pad).mode(torch::kConstant).value(m_PadValue));
    }
    return offsets;
  }

  /** The patch in tensor order for the spatial axes of the model grid; 0 entries take the whole axis. */
  std::vector<int64_t>
  Patch() const
  {
    std::vector<int64_t> patch;
    for (int d = m_Dimension - 1; d >= 0; --d)
    {
      const int64_t p = m_Metadata.patchSize.empty() ? 0 : m_Metadata.patchSize[d];
      patch.push_back(p > 0 ? p : m_ModelSize[d]);
    }
    return patch;
  }

  /** Sliding-window probabilities of a batch of 2D slices (N, C, H, W) -> (N, K, H, W). */
  torch::Tensor
  PredictSlices(torch::Tensor x)
  {
    const std::vector<int64_t> patch = this->Patch();
    const int64_t              height = x.size(2);
    const int64_t              width = x.size(3);
    const auto                 offsets = this->PadToPatch(x, patch);
    const auto                 positions = this->Positions({ x.size(2), x.size(3) }, patch);
    torch::Tensor              p;
    if (positions[0].size() == 1 && positions[1].size() == 1)
    {
      p = this->Infer(x);
    }
    else
    {
      p = this->WindowSum(x, positions, patch);
      p.div_(this->Coverage(x.size(2), positions[0], patch[0]).unsqueeze(1) *
             this->Coverage(x.size(3), positions[1], patch[1]));
    }
    return p.narrow(2, offsets[0], height).narrow(3, offsets[1], width);
  }

  /** 2D networks: slices of the model grid, batched, with sliceContext neighbours as channels. */
  class SliceSource : public ProbabilitySource
  {
  public:
    SliceSource(InferenceRun & run, std::shared_ptr<SliceCache> input)
      : m_Run(run)
      , m_Input(std::move(input))
      , m_Cache([this](int64_t a, int64_t b) { return this->Compute(a, b); })
    {}

    torch::Tensor
    Get(int64_t a, int64_t b) override
    {
      return m_Cache.Get(a, b);
    }

  private:
    torch::Tensor
    Compute(int64_t a, int64_t b)
    {
      const int64_t context = m_Run.m_Metadata.sliceContext;
      const int64_t depth = m_Run.m_ModelSize[2];
      // Whole batches (the extra slices serve the next slab): one batch shape for the network, the fastest.
      const int64_t end = std::min(depth, a + (b - a + m_Run.m_BatchSize - 1) / m_Run.m_BatchSize * m_Run.m_BatchSize);
      std::vector<torch::Tensor> parts;
      for (int64_t b0 = a; b0 < end; b0 += m_Run.m_BatchSize)
      {
        const int64_t b1 = std::min(end, b0 + m_Run.m_BatchSize);
        const int64_t lo = std::max<int64_t>(0, b0 - context);
        const int64_t hi = std::min(depth, b1 + context);
        torch::Tensor slices = m_Input->Get(lo, hi);
        torch::Tensor x;
        if (context == 0)
        {
          x = slices.narrow(0, b0 - lo, b1 - b0).unsqueeze(1);
        }
        else
        {
          std::vector<torch::Tensor> channels;
          for (int64_t c = -context; c <= context; ++c)
          {
            std::vector<int64_t> index;
            for (int64_t q = b0; q < b1; ++q)
            {
              index.push_back(std::clamp<int64_t>(q + c, 0, depth - 1) - lo);
            }
            channels.push_back(slices.index_select(0, torch::tensor(index, torch::kInt64)));
          }
          x = torch::stack(channels, 1);
        }
        parts.push_back(m_Run.PredictSlices(x));
      }
      return parts.size() == 1 ? parts[0] : torch::cat(parts, 0);
    }

    InferenceRun &              m_Run;
    std::shared_ptr<SliceCache> m_Input;
    SliceCache                  m_Cache;
  };

  /** 3D networks: rows of overlapping patches along z; slices are final once the next row starts above them. */
  class VolumeSource : public ProbabilitySource
  {
  public:
    VolumeSource(InferenceRun & run, std::shared_ptr<SliceCache> input)
      : m_Run(run)
      , m_Input(std::move(input))
    {
      m_Patch = run.Patch();
      const int64_t size[3] = { run.m_ModelSize[2], run.m_ModelSize[1], run.m_ModelSize[0] };
      for (int d = 0; d < 3; ++d)
      {
        m_Padded[d] = std::max(size[d], m_Patch[d]);
        m_Offset[d] = (m_Padded[d] - size[d]) / 2;
      }
      m_Positions = run.Positions({ m_Padded[0], m_Padded[1], m_Padded[2] }, m_Patch);
      m_InPlaneCoverage = (run.Coverage(m_Padded[1], m_Positions[1], m_Patch[1]).unsqueeze(1) *
                           run.Coverage(m_Padded[2], m_Positions[2], m_Patch[2]))
                            .narrow(0, m_Offset[1], size[1])
                            .narrow(1, m_Offset[2], size[2]);
      m_ZCoverage = run.Coverage(m_Padded[0], m_Positions[0], m_Patch[0]);
    }

    torch::Tensor
    Get(int64_t a, int64_t b) override
    {
      while (m_FinalEnd < b)
      {
        if (m_Row >= static_cast<int64_t>(m_Positions[0].size()))
        {
          itkGenericExceptionMacro(<< "Sliding window: slices up to " << b << " were asked for, but the rows end at "
                                   << m_FinalEnd);
        }
        this->NextRow();
      }
      if (a > m_FinalBegin)
      {
        m_Final = m_Final.narrow(0, a - m_FinalBegin, m_FinalEnd - a);
        m_FinalBegin = a;
      }
      return m_Final.narrow(0, a - m_FinalBegin, b - a);
    }

  private:
    void
    NextRow()
    {
      const int64_t depth = m_Run.m_ModelSize[2];
      const int64_t z = m_Positions[0][m_Row];
      // Model-grid slices [z - offset, z - offset + patch) that exist, padded to the patch depth.
      const int64_t first = std::max<int64_t>(0, z - m_Offset[0]);
      const int64_t last = std::min(depth, z - m_Offset[0] + m_Patch[0]);
      torch::Tensor x = m_Input->Get(first, last).unsqueeze(0).unsqueeze(0);
      const int64_t before = first - (z - m_Offset[0]);
      const int64_t after = m_Patch[0] - before - (last - first);
      const int64_t padY = m_Padded[1] - x.size(3);
      const int64_t padX = m_Padded[2] - x.size(4);
      if (before > 0 || after > 0 || padY > 0 || padX > 0)
      {
        x =
          F::pad(x,
                 F::PadFuncOptions({ m_Offset[2], padX - m_Offset[2], m_Offset[1], padY - m_Offset[1], before, after })
                   .mode(torch::kConstant)
                   .value(m_Run.m_PadValue));
      }
      // The row's windows: one z position, every in-plane position; the z weights are applied to the row sum.
      torch::Tensor row = m_Run.WindowSum(x, { { 0 }, m_Positions[1], m_Positions[2] }, m_Patch)[0].transpose(0, 1);
      // row: (patch z, K, padded y, padded x) for padded z [z, z + patch)
      if (!m_Accumulator.defined())
      {
        m_Accumulator = row;
        m_AccumulatorBegin = z;
      }
      else
      {
        const int64_t overlap = m_AccumulatorBegin + m_Accumulator.size(0) - z;
        m_Accumulator.narrow(0, z - m_AccumulatorBegin, overlap).add_(row.narrow(0, 0, overlap));
        m_Accumulator = torch::cat({ m_Accumulator, row.narrow(0, overlap, row.size(0) - overlap) }, 0);
      }
      ++m_Row;
      const int64_t finalEnd =
        m_Row < static_cast<int64_t>(m_Positions[0].size()) ? m_Positions[0][m_Row] : m_Padded[0];
      const int64_t count = finalEnd - m_AccumulatorBegin;
      torch::Tensor done = m_Accumulator.narrow(0, 0, count)
                             .narrow(2, m_Offset[1], m_Run.m_ModelSize[1])
                             .narrow(3, m_Offset[2], m_Run.m_ModelSize[0]);
      done = done / (m_ZCoverage.narrow(0, m_AccumulatorBegin, count).reshape({ count, 1, 1, 1 }) * m_InPlaneCoverage);
      // Keep the model-grid slices, dropping the z padding.
      const int64_t keepFrom = std::max<int64_t>(m_AccumulatorBegin, m_Offset[0]);
      const int64_t keepTo = std::min<int64_t>(finalEnd, m_Offset[0] + depth);
      if (keepTo > keepFrom)
      {
        done = done.narrow(0, keepFrom - m_AccumulatorBegin, keepTo - keepFrom);
        if (m_FinalEnd > m_FinalBegin)
        {
          m_Final = torch::cat({ m_Final, done }, 0);
        }
        else
        {
          m_Final = done;
          m_FinalBegin = keepFrom - m_Offset[0];
        }
        m_FinalEnd = keepTo - m_Offset[0];
      }
      m_Accumulator = m_Accumulator.narrow(0, count, m_Accumulator.size(0) - count);
      m_AccumulatorBegin = finalEnd;
    }

    InferenceRun &                    m_Run;
    std::shared_ptr<SliceCache>       m_Input;
    std::vector<int64_t>              m_Patch;
    int64_t                           m_Padded[3] = { 0, 0, 0 };
    int64_t                           m_Offset[3] = { 0, 0, 0 };
    std::vector<std::vector<int64_t>> m_Positions;
    torch::Tensor                     m_InPlaneCoverage;
    torch::Tensor                     m_ZCoverage;
    int64_t                           m_Row = 0;
    torch::Tensor                     m_Accumulator;
    int64_t                           m_AccumulatorBegin = 0;
    torch::Tensor                     m_Final;
    int64_t                           m_FinalBegin = 0;
    int64_t                           m_FinalEnd = 0;
  };

  void
  CheckAbort() const
  {
    if (m_Reporter && m_Reporter->GetAbortGenerateData())
    {
      itk::ProcessAborted e(__FILE__, __LINE__);
      e.SetDescription("Segmentation with " + m_Model.GetPath() + " was aborted");
      throw e;
    }
  }

  void
  Progress(double fraction) const
  {
    if (m_Reporter)
    {
      m_Reporter->UpdateProgress(m_ProgressBegin + (m_ProgressEnd - m_ProgressBegin) * static_cast<float>(fraction));
    }
    this->CheckAbort();
  }

  Model &               m_Model;
  const ModelMetadata & m_Metadata;
  const FloatImage *    m_Input;
  LabelImage *          m_Labels;
  ProbabilityImage *    m_Probabilities;
  InferenceOptions      m_Options;
  itk::ProcessObject *  m_Reporter;
  float                 m_ProgressBegin;
  float                 m_ProgressEnd;
  int64_t               m_Classes = 0;
  int                   m_Dimension = 2;
  Reorientation         m_Orientation;
  int64_t               m_Size[3] = { 0, 0, 0 };                //!< reoriented input grid, ITK order
  int64_t               m_ModelSize[3] = { 0, 0, 0 };           //!< the model's grid, ITK order
  double                m_ModelPerInput[3] = { 1.0, 1.0, 1.0 }; //!< model voxels per input voxel, ITK order
  torch::Tensor         m_ReorientedView;
  float                 m_PadValue = 0.0f;
  int64_t               m_BatchSize = 1;
  bool                  m_Gaussian = true;
  LinearMap             m_ForwardMap;
};

} // namespace

void
RunInference(Model & model, const FloatImage * input, LabelImage * labels, ProbabilityImage * probabilities,
             const InferenceOptions & options, itk::ProcessObject * reporter, float progressBegin, float progressEnd)
{
  if (!input || !labels)
  {
    itkGenericExceptionMacro(<< "RunInference: the input and the label image are required");
  }
  const auto region = input->GetBufferedRegion();
  if (region != input->GetLargestPossibleRegion() || region.GetNumberOfPixels() == 0)
  {
    itkGenericExceptionMacro(<< "RunInference: the whole, non-empty input image must be in memory (buffered region "
                             << region << ")");
  }
  if (labels->GetBufferedRegion() != region)
  {
    itkGenericExceptionMacro(<< "RunInference: the label image must be allocated with the input's region");
  }
  if (probabilities && (probabilities->GetBufferedRegion() != region ||
                        probabilities->GetNumberOfComponentsPerPixel() != GetNumberOfClasses(model)))
  {
    itkGenericExceptionMacro(<< "RunInference: the probability image must be allocated with the input's region and "
                             << GetNumberOfClasses(model) << " components");
  }
  if (!(options.overlap >= 0.0 && options.overlap <= 0.95))
  {
    itkGenericExceptionMacro(<< "RunInference: overlap " << options.overlap << " is not in [0, 0.95]");
  }
  SetTorchNumberOfThreads(options.numberOfThreads);
  const auto size = region.GetSize();
  try
  {
    c10::InferenceMode guard;
    InferenceRun       run(model, input, labels, probabilities, options, reporter, progressBegin, progressEnd);
    run.Execute();
  }
  catch (const itk::ExceptionObject &)
  {
    throw;
  }
  catch (const std::exception & e)
  {
    std::ostringstream context;
    context << "Segmentation with " << model.GetPath() << " of a " << size[0] << "x" << size[1] << "x" << size[2]
            << " image failed";
    ThrowTorchError(e, context.str());
  }
  labels->Modified();
  if (probabilities)
  {
    probabilities->Modified();
  }
}

} // namespace torchseg
