#include "torchsegDenseCRFMeanField.h"

#include "torchsegPermutohedralLattice.h"

#include "torchsegDenseCRFVectorize.h"
#include "torchsegDefaultInitAllocator.h"

#include "itkMacro.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <sstream>
#include <type_traits>

namespace torchseg
{
namespace
{

/** Runs body(begin, end) over [0, count) split into about as many ranges as the threader has work units. */
void
ParallelRanges(itk::MultiThreaderBase * threader, std::size_t count, std::size_t minimumRange,
               const std::function<void(std::size_t, std::size_t)> & body)
{
  const std::size_t units = threader ? std::max<std::size_t>(1, threader->GetNumberOfWorkUnits()) : 1;
  const std::size_t ranges = std::max<std::size_t>(1, std::min(units, count / std::max<std::size_t>(1, minimumRange)));
  if (ranges == 1)
  {
    body(0, count);
    return;
  }
  threader->ParallelizeArray(
    0, ranges, [&](itk::SizeValueType r) { body(count * r / ranges, count * (r + 1) / ranges); }, nullptr);
}

std::string
VoxelIndexText(std::size_t linear, const std::vector<std::size_t> & size)
{
  std::ostringstream os;
  os << '[';
  for (std::size_t d = 0; d < size.size(); ++d)
  {
    os << (d ? ", " : "") << linear % size[d];
    linear /= size[d];
  }
  os << ']';
  return os.str();
}

template <typename T>
void
PrintVector(std::ostream & os, const std::vector<T> & v)
{
  os << '[';
  for (std::size_t i = 0; i < v.size(); ++i)
  {
    os << (i ? ", " : "") << v[i];
  }
  os << ']';
}

/** Q_i = softmax(U_i + M_i) over the classes for the voxels [begin, end), with the unary U_i = log(max(P_i / sum P_i,
 * floor)) written as a product: Q_i proportional to max(P_i / sum P_i, floor) exp(M_i - max M_i). No logarithm, and
 * no unary array (P is the input). Without messages, Q_i is the clamped, normalised P_i. */
template <unsigned int VC>
TORCHSEG_VECTOR_CLONES void
SoftmaxUpdate(const float * probabilities, const float * messages, float * q, std::size_t begin, std::size_t end,
              unsigned int runtimeClasses, float floor)
{
  const std::size_t     C = VC > 0 ? VC : runtimeClasses;
  constexpr std::size_t block = 1024;
  std::vector<float>    a(block * C);
  for (std::size_t start = begin; start < end; start += block)
  {
    const std::size_t n = std::min(block, end - start);
    if (messages)
    {
      const float * m = messages + start * C;
      for (std::size_t i = 0; i < n; ++i)
      {
        float highest = m[i * C];
        for (std::size_t c = 1; c < C; ++c)
        {
          highest = std::max(highest, m[i * C + c]);
        }
        for (std::size_t c = 0; c < C; ++c)
        {
          a[i * C + c] = m[i * C + c] - highest;
        }
      }
      ExpNonPositiveInPlace(a.data(), n * C);
    }
    else
    {
      std::fill_n(a.data(), n * C, 1.0f);
    }
    const float * p = probabilities + start * C;
    float *       out = q + start * C;
    for (std::size_t i = 0; i < n; ++i)
    {
      float sum = 0.0f;
      for (std::size_t c = 0; c < C; ++c)
      {
        sum += p[i * C + c];
      }
      const float inverseSum = 1.0f / sum;
      float       total = 0.0f;
      for (std::size_t c = 0; c < C; ++c)
      {
        const float e = a[i * C + c] * std::max(p[i * C + c] * inverseSum, floor);
        a[i * C + c] = e;
        total += e;
      }
      const float inverse = 1.0f / total;
      for (std::size_t c = 0; c < C; ++c)
      {
        out[i * C + c] = a[i * C + c] * inverse;
      }
    }
  }
}

template <typename TFunction>
void
DispatchClasses(unsigned int numberOfClasses, TFunction && f)
{
  switch (numberOfClasses)
  {
    case 2:
      f(std::integral_constant<unsigned int, 2>());
      break;
    case 3:
      f(std::integral_constant<unsigned int, 3>());
      break;
    case 4:
      f(std::integral_constant<unsigned int, 4>());
      break;
    default:
      f(std::integral_constant<unsigned int, 0>());
  }
}

/** The lattice of the appearance kernel: features (position / thetaAlpha, intensity / thetaBeta). */
class AppearanceFilter
{
public:
  virtual ~AppearanceFilter() = default;
  virtual void
  Filter(const float * q, float * messages, unsigned int classes, float weight, bool accumulate,
         const float * scale) const = 0;
  /** out_i = sum_j k(i, j), the self term included. */
  virtual void
  RowSums(float * out) const = 0;
  virtual std::size_t
  GetNumberOfLatticePoints() const = 0;
};

template <unsigned int VImageDimension>
class AppearanceLattice : public AppearanceFilter
{
public:
  AppearanceLattice(const std::vector<std::size_t> & size, const std::vector<double> & spacing,
                    const DenseCRFMeanField::IntensityFunctionType & intensity, const DenseCRFParameters & parameters,
                    std::size_t numberOfPixels, itk::MultiThreaderBase * threader)
  {
    constexpr unsigned int             d = VImageDimension + 1;
    std::array<float, VImageDimension> step;
    for (unsigned int k = 0; k < VImageDimension; ++k)
    {
      step[k] = static_cast<float>(spacing[k] / parameters.AppearanceSpatialSigma);
    }
    const float intensityScale = static_cast<float>(1.0 / parameters.AppearanceIntensitySigma);
    m_Lattice.Initialize(
      numberOfPixels,
      [&](std::size_t first, std::size_t count, float * features) {
        std::vector<float> values(count);
        intensity(first, count, values.data());
        std::array<std::size_t, VImageDimension> index;
        std::size_t                              rest = first;
        for (unsigned int k = 0; k < VImageDimension; ++k)
        {
          index[k] = rest % size[k];
          rest /= size[k];
        }
        for (std::size_t i = 0; i < count; ++i)
        {
          float * f = features + i * d;
          for (unsigned int k = 0; k < VImageDimension; ++k)
          {
            f[k] = static_cast<float>(index[k]) * step[k];
          }
          f[VImageDimension] = values[i] * intensityScale;
          for (unsigned int k = 0; k < VImageDimension && ++index[k] == size[k]; ++k)
          {
            index[k] = 0;
          }
        }
      },
      threader);
  }

  void
  Filter(const float * q, float * messages, unsigned int classes, float weight, bool accumulate,
         const float * scale) const override
  {
    m_Lattice.Filter(q, messages, classes, weight, true, accumulate, scale);
  }

  void
  RowSums(float * out) const override
  {
    m_Lattice.Filter(nullptr, out, 1);
  }

  std::size_t
  GetNumberOfLatticePoints() const override
  {
    return m_Lattice.GetNumberOfLatticePoints();
  }

private:
  PermutohedralLattice<VImageDimension + 1> m_Lattice;
};

double
SecondsSince(std::chrono::steady_clock::time_point start)
{
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/** One block of lines of the separable Gaussian: p holds the block gathered as [L][B] (already scaled by the input
 * factors of the axis) with `radius` zero rows on both sides; the sums go to destination (rows `stride` apart), times
 * the output factor of their row (scale, or 1). On the last axis they are also weighted and, with excludeSelf, the
 * self term (1 / N_i with the normalisation: selfLower holds the factors of the other axes for the B columns)
 * is subtracted. */
TORCHSEG_VECTOR_CLONES void
ConvolveBlock(const float * p, std::size_t B, std::size_t stride, std::size_t L, const float * w, std::size_t radius,
              const float * scale, const float * scaleExpanded, const float * selfLower, float * output,
              const float * input, bool last, bool excludeSelf, float weight)
{
  constexpr std::size_t chunk = 256;
  float                 sum[chunk];
  // Rows of the block are contiguous in the grid when B == stride; otherwise each row is written apart.
  const bool        contiguous = B == stride;
  const std::size_t rowLength = contiguous ? L * B : B;
  const std::size_t rows = contiguous ? 1 : L;
  for (std::size_t row = 0; row < rows; ++row)
  {
    float *       destination = output + row * stride;
    const float * self = input + row * stride;
    const float * line = p + row * B;
    for (std::size_t t0 = 0; t0 < rowLength; t0 += chunk)
    {
      const std::size_t n = std::min(chunk, rowLength - t0);
      const float *     centre = line + t0;
      for (std::size_t t = 0; t < n; ++t)
      {
        sum[t] = w[0] * centre[t];
      }
      for (std::size_t k = 1; k <= radius; ++k)
      {
        const float   wk = w[k];
        const float * before = centre - k * B;
        const float * after = centre + k * B;
        for (std::size_t t = 0; t < n; ++t)
        {
          sum[t] += wk * (before[t] + after[t]);
        }
      }
      if (scaleExpanded && !last)
      {
        // A contiguous block (lines of a few values along x): one factor per value, vectorised.
        const float * f = scaleExpanded + t0;
        float *       out = destination + t0;
        for (std::size_t t = 0; t < n; ++t)
        {
          out[t] = f[t] * sum[t];
        }
        continue;
      }
      // Runs of positions within one line position l (B values each) share the output factor.
      for (std::size_t t = 0; t < n;)
      {
        const std::size_t position = t0 + t;
        const std::size_t l = contiguous ? position / B : row;
        const std::size_t column = contiguous ? position % B : position;
        const std::size_t run = std::min(B - column, n - t);
        const float       f = scale ? scale[l] : 1.0f;
        float *           out = destination + position;
        const float *     s = sum + t;
        if (!last)
        {
          for (std::size_t u = 0; u < run; ++u)
          {
            out[u] = f * s[u];
          }
        }
        else if (excludeSelf)
        {
          const float * q = self + position;
          if (scale)
          {
            const float * lower = selfLower + column;
            for (std::size_t u = 0; u < run; ++u)
            {
              out[u] = weight * (f * s[u] - lower[u] * f * f * q[u]);
            }
          }
          else
          {
            for (std::size_t u = 0; u < run; ++u)
            {
              out[u] = weight * (s[u] - q[u]);
            }
          }
        }
        else
        {
          for (std::size_t u = 0; u < run; ++u)
          {
            out[u] = weight * f * s[u];
          }
        }
        t += run;
      }
    }
  }
}

} // namespace

std::ostream &
operator<<(std::ostream & os, DenseCRFNormalization normalization)
{
  return os << (normalization == DenseCRFNormalization::Symmetric ? "Symmetric" : "None");
}

std::ostream &
operator<<(std::ostream & os, const DenseCRFParameters & p)
{
  os << "w1 " << p.AppearanceWeight << ", thetaAlpha " << p.AppearanceSpatialSigma << " mm, thetaBeta "
     << p.AppearanceIntensitySigma << ", w2 " << p.SmoothnessWeight << ", thetaGamma " << p.SmoothnessSigma
     << " mm, iterations " << p.NumberOfIterations << ", minimum probability " << p.MinimumProbability
     << ", sum tolerance " << p.ProbabilitySumTolerance << ", truncation " << p.SmoothnessTruncation
     << ", normalization " << p.Normalization << ", restrict to uncertain region "
     << (p.RestrictToUncertainRegion ? "on" : "off");
  return os;
}

TORCHSEG_VECTOR_CLONES void
ExpNonPositiveInPlace(float * values, std::size_t count)
{
  // Cephes' expf: exp(x) = 2^n exp(r), n = round(x / ln 2), |r| <= ln(2) / 2, exp(r) by a degree-6 polynomial.
  // Rounding by adding and subtracting 1.5 * 2^23 and building 2^n from its exponent bits keep the loop free of
  // calls and branches. The clamp at -87 compares the bits as unsigned integers (for x <= 0 a larger pattern is a
  // more negative number): GCC does not vectorise a floating-point max without -fno-trapping-math.
  constexpr uint32_t minus87 = 0xC2AE0000u; // -87.0f
  for (std::size_t i = 0; i < count; ++i)
  {
    uint32_t bitsOfX;
    std::memcpy(&bitsOfX, values + i, sizeof(bitsOfX));
    bitsOfX = std::min(bitsOfX, minus87);
    float x;
    std::memcpy(&x, &bitsOfX, sizeof(x));
    const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
    float       p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
    float         scale;
    std::memcpy(&scale, &bits, sizeof(scale));
    values[i] = p * scale;
  }
}

void
GaussianFilterGrid(const float * input, float * output, const std::vector<std::size_t> & size,
                   const std::vector<double> & spacing, unsigned int numberOfComponents, double sigma,
                   double truncation, itk::MultiThreaderBase * threader, float weight, bool excludeSelf, bool normalise)
{
  const std::size_t D = size.size();
  std::size_t       total = numberOfComponents;
  for (std::size_t s : size)
  {
    total *= s;
  }
  // Per axis: the truncated 1D kernel, and with the normalisation the factors t_a(l) = S_a(l)^(-1/2) of its row sums
  // S_a (the row sums of the separable kernel are their products, so the normalised kernel t_i k_ij t_j is one
  // T_a K_a T_a pass per axis).
  std::vector<std::vector<float>> kernels(D);
  std::vector<std::vector<float>> factors(D);
  for (std::size_t axis = 0; axis < D; ++axis)
  {
    const std::size_t L = size[axis];
    const std::size_t radius =
      std::min<std::size_t>(L - 1, static_cast<std::size_t>(std::ceil(truncation * sigma / spacing[axis])));
    kernels[axis].resize(radius + 1);
    for (std::size_t k = 0; k <= radius; ++k)
    {
      const double t = k * spacing[axis] / sigma;
      kernels[axis][k] = static_cast<float>(std::exp(-0.5 * t * t));
    }
    if (normalise)
    {
      factors[axis].resize(L);
      for (std::size_t l = 0; l < L; ++l)
      {
        double rowSum = 0.0;
        for (std::size_t m = (l > radius ? l - radius : 0); m <= std::min(L - 1, l + radius); ++m)
        {
          rowSum += kernels[axis][l > m ? l - m : m - l];
        }
        factors[axis][l] = static_cast<float>(1.0 / std::sqrt(rowSum));
      }
    }
  }
  // The self term of voxel i is 1 / N_i = prod_a t_a(i_a)^2: the factors of all axes but the last, per value of a
  // slice across the last axis.
  std::vector<float> selfLower;
  if (normalise && excludeSelf)
  {
    selfLower.assign(total / size[D - 1], 1.0f);
    std::size_t inner = numberOfComponents;
    for (std::size_t axis = 0; axis + 1 < D; ++axis)
    {
      for (std::size_t k = 0; k < selfLower.size(); ++k)
      {
        const float t = factors[axis][(k / inner) % size[axis]];
        selfLower[k] *= t * t;
      }
      inner *= size[axis];
    }
  }

  std::size_t stride = numberOfComponents; // floats between neighbours along the current axis
  for (std::size_t axis = 0; axis < D; ++axis)
  {
    const bool        first = axis == 0;
    const bool        last = axis + 1 == D;
    const float *     source = first ? input : output;
    const std::size_t L = size[axis];
    const std::size_t radius = kernels[axis].size() - 1;
    const float *     w = kernels[axis].data();
    const float *     scale = normalise ? factors[axis].data() : nullptr;
    // Blocks that are whole contiguous lines (stride <= 256, as along x) get their factors one per value.
    std::vector<float> expanded;
    if (normalise && stride <= 256)
    {
      expanded.resize(L * stride);
      for (std::size_t l = 0; l < L; ++l)
      {
        std::fill_n(&expanded[l * stride], stride, factors[axis][l]);
      }
    }
    // Lines along the axis in blocks of up to 256 adjacent lines (the whole line of interleaved components along x):
    // gathered into a scratch [L][B] padded with `radius` zero rows on both sides, so that the symmetric sums
    // w0 p[t] + sum_k wk (p[t - kB] + p[t + kB]) run over contiguous memory without bounds.
    const std::size_t block = std::min<std::size_t>(stride, 256);
    const std::size_t blocksPerOuter = (stride + block - 1) / block;
    const std::size_t outer = total / (stride * L);
    ParallelRanges(threader, outer * blocksPerOuter, 1, [&](std::size_t begin, std::size_t end) {
      std::vector<float> scratch((L + 2 * radius) * block, 0.0f);
      for (std::size_t item = begin; item < end; ++item)
      {
        const std::size_t o = item / blocksPerOuter;
        const std::size_t s0 = (item % blocksPerOuter) * block;
        const std::size_t B = std::min(block, stride - s0);
        const std::size_t offset = o * stride * L + s0;
        float *           p = scratch.data() + radius * B;
        if (!expanded.empty())
        {
          const float * from = source + offset;
          for (std::size_t t = 0; t < L * B; ++t)
          {
            p[t] = expanded[t] * from[t];
          }
        }
        for (std::size_t l = 0; expanded.empty() && l < L; ++l)
        {
          const float * from = source + offset + l * stride;
          float *       to = p + l * B;
          if (scale)
          {
            const float f = scale[l];
            for (std::size_t b = 0; b < B; ++b)
            {
              to[b] = f * from[b];
            }
          }
          else
          {
            std::memcpy(to, from, B * sizeof(float));
          }
        }
        // The pads must be zero; a block of another width may have left values there.
        std::fill(scratch.data(), p, 0.0f);
        std::fill(p + L * B, p + (L + radius) * B, 0.0f);
        ConvolveBlock(p,
                      B,
                      stride,
                      L,
                      w,
                      radius,
                      scale,
                      expanded.empty() ? nullptr : expanded.data(),
                      selfLower.empty() ? nullptr : selfLower.data() + s0,
                      output + offset,
                      input + offset,
                      last,
                      excludeSelf,
                      weight);
      }
    });
    stride *= L;
  }
}

DenseCRFMeanField::DenseCRFMeanField(std::vector<std::size_t> size, std::vector<double> spacing,
                                     unsigned int numberOfClasses, itk::MultiThreaderBase * threader)
  : m_Size(std::move(size))
  , m_Spacing(std::move(spacing))
  , m_NumberOfClasses(numberOfClasses)
  , m_Threader(threader)
{
  if (m_Size.empty() || m_Size.size() > 4 || m_Spacing.size() != m_Size.size())
  {
    itkGenericExceptionMacro(<< "DenseCRFMeanField: " << m_Size.size() << " dimensions with " << m_Spacing.size()
                             << " spacings; 1 to 4 dimensions are supported");
  }
  m_NumberOfPixels = 1;
  for (std::size_t d = 0; d < m_Size.size(); ++d)
  {
    if (m_Size[d] == 0 || !(m_Spacing[d] > 0.0) || !std::isfinite(m_Spacing[d]))
    {
      std::ostringstream os;
      PrintVector(os, m_Size);
      os << " with spacing ";
      PrintVector(os, m_Spacing);
      itkGenericExceptionMacro(<< "DenseCRFMeanField: invalid grid: size " << os.str());
    }
    m_NumberOfPixels *= m_Size[d];
  }
  if (numberOfClasses < 2)
  {
    itkGenericExceptionMacro(<< "DenseCRFMeanField: " << numberOfClasses
                             << " class(es); the probabilities need at least 2 components");
  }
}

void
DenseCRFMeanField::VerifyParameters(const DenseCRFParameters & p)
{
  auto positive = [](double value, const char * name) {
    if (!(value > 0.0) || !std::isfinite(value))
    {
      itkGenericExceptionMacro(<< "DenseCRF: " << name << " must be positive and finite, not " << value);
    }
  };
  auto nonNegative = [](double value, const char * name) {
    if (!(value >= 0.0) || !std::isfinite(value))
    {
      itkGenericExceptionMacro(<< "DenseCRF: " << name << " must be non-negative and finite, not " << value);
    }
  };
  nonNegative(p.AppearanceWeight, "the appearance weight w1");
  positive(p.AppearanceSpatialSigma, "the appearance spatial sigma thetaAlpha");
  positive(p.AppearanceIntensitySigma, "the appearance intensity sigma thetaBeta");
  nonNegative(p.SmoothnessWeight, "the smoothness weight w2");
  positive(p.SmoothnessSigma, "the smoothness sigma thetaGamma");
  positive(p.SmoothnessTruncation, "the smoothness truncation");
  nonNegative(p.ProbabilitySumTolerance, "the probability sum tolerance");
  if (!(p.MinimumProbability > 0.0) || !(p.MinimumProbability < 1.0))
  {
    itkGenericExceptionMacro(<< "DenseCRF: the minimum probability must be in (0, 1), not " << p.MinimumProbability);
  }
}

bool
DenseCRFMeanField::Run(const float * probabilities, const IntensityFunctionType & intensity,
                       const DenseCRFParameters & parameters, float * refined,
                       const ProgressFunctionType & progress) const
{
  VerifyParameters(parameters);
  const auto               start = std::chrono::steady_clock::now();
  const std::size_t        N = m_NumberOfPixels;
  const std::size_t        C = m_NumberOfClasses;
  itk::MultiThreaderBase * threader = m_Threader.GetPointer();
  auto                     report = [&](double value) { return !progress || progress(value); };
  m_NumberOfLatticePoints = 0;
  m_LatticeSeconds = 0.0;
  m_IterationSeconds = 0.0;

  // The probabilities are checked first; the first invalid voxel (lowest index) is reported. They also serve as the
  // unary (see SoftmaxUpdate): when they share the output's buffer, a copy is kept.
  std::atomic<std::size_t> firstBad{ std::numeric_limits<std::size_t>::max() };
  const double             tolerance = parameters.ProbabilitySumTolerance;
  ParallelRanges(threader, N, 4096, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i)
    {
      const float * p = probabilities + i * C;
      double        sum = 0.0;
      bool          valid = true;
      for (std::size_t c = 0; c < C; ++c)
      {
        valid = valid && std::isfinite(p[c]) && p[c] >= 0.0f;
        sum += p[c];
      }
      if (!valid || !(std::abs(sum - 1.0) <= tolerance))
      {
        std::size_t current = firstBad.load();
        while (i < current && !firstBad.compare_exchange_weak(current, i))
        {}
        return;
      }
    }
  });
  if (firstBad.load() != std::numeric_limits<std::size_t>::max())
  {
    const std::size_t  i = firstBad.load();
    const float *      p = probabilities + i * C;
    std::ostringstream values;
    double             sum = 0.0;
    for (std::size_t c = 0; c < C; ++c)
    {
      values << (c ? ", " : "") << p[c];
      sum += p[c];
    }
    itkGenericExceptionMacro(<< "DenseCRF: the class probabilities of voxel " << VoxelIndexText(i, m_Size) << " ("
                             << values.str() << ") are not valid probabilities: each must be finite and >= 0, their "
                             << "sum (" << sum << ") within " << tolerance << " of 1");
  }
  crf::LargeVector<float> inputCopy;
  if (probabilities == refined)
  {
    inputCopy.assign(probabilities, probabilities + N * C);
    probabilities = inputCopy.data();
  }
  // Q = P (normalised and clamped) everywhere: the result outside the region the iterations run on.
  const float floor = static_cast<float>(parameters.MinimumProbability);
  DispatchClasses(m_NumberOfClasses, [&](auto classes) {
    ParallelRanges(threader, N, 4096, [&](std::size_t begin, std::size_t end) {
      SoftmaxUpdate<decltype(classes)::value>(probabilities, nullptr, refined, begin, end, m_NumberOfClasses, floor);
    });
  });

  const std::size_t D = m_Size.size();
  m_RegionIndex.assign(D, 0);
  m_RegionSize = m_Size;
  if (!this->FindRegion(refined, parameters))
  {
    // Certain background everywhere: the iterations would change no label.
    m_RegionSize.assign(D, 0);
    m_LatticeSeconds = SecondsSince(start);
    return report(1.0);
  }
  if (m_RegionSize == m_Size)
  {
    return this->Iterate(m_Size, probabilities, intensity, parameters, refined, start, report);
  }

  // The region as a grid of its own: its probabilities and Q gathered, its intensities read through the full grid's
  // linear indices, its result scattered back.
  std::size_t regionPixels = 1;
  for (const std::size_t extent : m_RegionSize)
  {
    regionPixels *= extent;
  }
  const std::size_t rowLength = m_RegionSize[0];
  const std::size_t rows = regionPixels / rowLength;
  auto              fullIndexOfRow = [this, D](std::size_t row) {
    std::size_t linear = m_RegionIndex[0];
    std::size_t stride = m_Size[0];
    for (std::size_t k = 1; k < D; ++k)
    {
      linear += (m_RegionIndex[k] + row % m_RegionSize[k]) * stride;
      row /= m_RegionSize[k];
      stride *= m_Size[k];
    }
    return linear;
  };
  crf::LargeVector<float> regionProbabilities(regionPixels * C);
  crf::LargeVector<float> regionQ(regionPixels * C);
  ParallelRanges(threader, rows, 64, [&](std::size_t begin, std::size_t end) {
    for (std::size_t row = begin; row < end; ++row)
    {
      const std::size_t from = fullIndexOfRow(row) * C;
      std::copy_n(probabilities + from, rowLength * C, &regionProbabilities[row * rowLength * C]);
      std::copy_n(refined + from, rowLength * C, &regionQ[row * rowLength * C]);
    }
  });
  const IntensityFunctionType regionIntensity = [&](std::size_t first, std::size_t count, float * out) {
    while (count > 0)
    {
      const std::size_t row = first / rowLength;
      const std::size_t x = first % rowLength;
      const std::size_t run = std::min(count, rowLength - x);
      intensity(fullIndexOfRow(row) + x, run, out);
      first += run;
      count -= run;
      out += run;
    }
  };
  const bool completed =
    this->Iterate(m_RegionSize, regionProbabilities.data(), regionIntensity, parameters, regionQ.data(), start, report);
  if (completed)
  {
    ParallelRanges(threader, rows, 64, [&](std::size_t begin, std::size_t end) {
      for (std::size_t row = begin; row < end; ++row)
      {
        std::copy_n(&regionQ[row * rowLength * C], rowLength * C, refined + fullIndexOfRow(row) * C);
      }
    });
  }
  return completed;
}

bool
DenseCRFMeanField::FindRegion(const float * q, const DenseCRFParameters & parameters) const
{
  const std::size_t D = m_Size.size();
  const double      reach =
    std::max(parameters.AppearanceWeight > 0.0 ? 3.0 * parameters.AppearanceSpatialSigma : 0.0,
             parameters.SmoothnessWeight > 0.0 ? parameters.SmoothnessTruncation * parameters.SmoothnessSigma : 0.0);
  if (!parameters.RestrictToUncertainRegion || parameters.Normalization != DenseCRFNormalization::Symmetric ||
      parameters.NumberOfIterations == 0 || reach == 0.0)
  {
    return true;
  }
  // Settled: q_0 >= exp(w1 + w2) q_l for every l > 0 (q is the clamped, normalised P, so the ratio is that of the
  // unary potentials). With the symmetric normalisation the messages are weighted averages of Q times w1 and w2.
  const float ratio =
    static_cast<float>(std::exp(std::min(80.0, parameters.AppearanceWeight + parameters.SmoothnessWeight)));
  const std::size_t C = m_NumberOfClasses;
  const std::size_t N = m_NumberOfPixels;
  const std::size_t units = m_Threader ? std::max<std::size_t>(1, m_Threader->GetNumberOfWorkUnits()) : 1;
  std::vector<std::vector<std::size_t>> lowest(units + 1,
                                               std::vector<std::size_t>(D, std::numeric_limits<std::size_t>::max()));
  std::vector<std::vector<std::size_t>> highest(units + 1, std::vector<std::size_t>(D, 0));
  std::atomic<std::size_t>              nextSlot{ 0 };
  ParallelRanges(m_Threader.GetPointer(), N, 1 << 16, [&](std::size_t begin, std::size_t end) {
    const std::size_t          slot = nextSlot++;
    std::vector<std::size_t> & low = lowest[slot];
    std::vector<std::size_t> & high = highest[slot];
    std::vector<std::size_t>   index(D);
    for (std::size_t i = begin; i < end; ++i)
    {
      const float * qi = q + i * C;
      float         other = qi[1];
      for (std::size_t c = 2; c < C; ++c)
      {
        other = std::max(other, qi[c]);
      }
      if (qi[0] >= ratio * other)
      {
        continue;
      }
      std::size_t rest = i;
      for (std::size_t k = 0; k < D; ++k)
      {
        const std::size_t value = rest % m_Size[k];
        rest /= m_Size[k];
        low[k] = std::min(low[k], value);
        high[k] = std::max(high[k], value);
      }
    }
  });
  std::vector<std::size_t> low(D, std::numeric_limits<std::size_t>::max());
  std::vector<std::size_t> high(D, 0);
  for (std::size_t slot = 0; slot < lowest.size(); ++slot)
  {
    for (std::size_t k = 0; k < D; ++k)
    {
      low[k] = std::min(low[k], lowest[slot][k]);
      high[k] = std::max(high[k], highest[slot][k]);
    }
  }
  if (low[0] == std::numeric_limits<std::size_t>::max())
  {
    return false;
  }
  for (std::size_t k = 0; k < D; ++k)
  {
    const auto margin = static_cast<std::size_t>(std::ceil(reach / m_Spacing[k]));
    m_RegionIndex[k] = low[k] > margin ? low[k] - margin : 0;
    m_RegionSize[k] = std::min(m_Size[k] - 1, high[k] + margin) + 1 - m_RegionIndex[k];
  }
  return true;
}

bool
DenseCRFMeanField::Iterate(const std::vector<std::size_t> & size, const float * probabilities,
                           const IntensityFunctionType & intensity, const DenseCRFParameters & parameters, float * q,
                           std::chrono::steady_clock::time_point start,
                           const std::function<bool(double)> &   report) const
{
  std::size_t N = 1;
  for (const std::size_t extent : size)
  {
    N *= extent;
  }
  const std::size_t                 C = m_NumberOfClasses;
  itk::MultiThreaderBase *          threader = m_Threader.GetPointer();
  const float                       floor = static_cast<float>(parameters.MinimumProbability);
  const bool                        appearance = parameters.AppearanceWeight > 0.0 && parameters.NumberOfIterations > 0;
  const bool                        smoothness = parameters.SmoothnessWeight > 0.0 && parameters.NumberOfIterations > 0;
  const double                      latticeShare = appearance ? 0.2 : 0.0;
  std::unique_ptr<AppearanceFilter> lattice;
  if (appearance)
  {
    switch (size.size())
    {
      case 1:
        lattice = std::make_unique<AppearanceLattice<1>>(size, m_Spacing, intensity, parameters, N, threader);
        break;
      case 2:
        lattice = std::make_unique<AppearanceLattice<2>>(size, m_Spacing, intensity, parameters, N, threader);
        break;
      case 3:
        lattice = std::make_unique<AppearanceLattice<3>>(size, m_Spacing, intensity, parameters, N, threader);
        break;
      default:
        lattice = std::make_unique<AppearanceLattice<4>>(size, m_Spacing, intensity, parameters, N, threader);
        break;
    }
    m_NumberOfLatticePoints = lattice->GetNumberOfLatticePoints();
  }
  // Symmetric normalisation of the appearance kernel: s_i = N_i^(-1/2), N_i = sum_j k(i, j) from the lattice. The
  // exact N_i is at least 1 (the self term), a bound the lattice's approximation is held to.
  const bool              symmetric = parameters.Normalization == DenseCRFNormalization::Symmetric;
  crf::LargeVector<float> appearanceScale;
  if (appearance && symmetric)
  {
    appearanceScale.resize(N);
    lattice->RowSums(appearanceScale.data());
    ParallelRanges(threader, N, 1 << 16, [&](std::size_t begin, std::size_t end) {
      for (std::size_t i = begin; i < end; ++i)
      {
        appearanceScale[i] = 1.0f / std::sqrt(std::max(appearanceScale[i], 1.0f));
      }
    });
  }
  m_LatticeSeconds = SecondsSince(start);
  if (!report(latticeShare))
  {
    return false;
  }

  const auto              iterationsStart = std::chrono::steady_clock::now();
  crf::LargeVector<float> messages((appearance || smoothness) ? N * C : 0);
  const float             w2 = static_cast<float>(parameters.SmoothnessWeight);
  for (unsigned int iteration = 0; iteration < parameters.NumberOfIterations; ++iteration)
  {
    if (smoothness)
    {
      // messages = w2 (sum_j k_gamma(i, j) Q_j - Q_i): the self term of the Gaussian is exactly 1.
      GaussianFilterGrid(q,
                         messages.data(),
                         size,
                         m_Spacing,
                         m_NumberOfClasses,
                         parameters.SmoothnessSigma,
                         parameters.SmoothnessTruncation,
                         threader,
                         w2,
                         true,
                         symmetric);
    }
    if (appearance)
    {
      lattice->Filter(q,
                      messages.data(),
                      m_NumberOfClasses,
                      static_cast<float>(parameters.AppearanceWeight),
                      smoothness,
                      appearanceScale.empty() ? nullptr : appearanceScale.data());
    }
    DispatchClasses(m_NumberOfClasses, [&](auto classes) {
      ParallelRanges(threader, N, 4096, [&](std::size_t begin, std::size_t end) {
        SoftmaxUpdate<decltype(classes)::value>(
          probabilities, messages.empty() ? nullptr : messages.data(), q, begin, end, m_NumberOfClasses, floor);
      });
    });
    if (!report(latticeShare + (1.0 - latticeShare) * (iteration + 1) / parameters.NumberOfIterations))
    {
      m_IterationSeconds = SecondsSince(iterationsStart);
      return false;
    }
  }
  m_IterationSeconds = SecondsSince(iterationsStart);
  return true;
}

} // namespace torchseg
