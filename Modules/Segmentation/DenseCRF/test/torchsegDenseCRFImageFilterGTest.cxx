// DenseCRFImageFilter against known answers: Dice gains on noisy phantoms with a known two-region truth, a brute-force
// O(N^2) mean-field with exact Gaussian sums on tiny images, physical spacing, geometry, input validation, abort.
#include "torchsegDenseCRFImageFilter.h"
#include "torchsegPermutohedralLattice.h"
#include "torchsegTestingSupport.h"

#include "itkCommand.h"
#include "itkProcessObject.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <numeric>
#include <random>
#include <vector>

namespace
{

using torchseg::DenseCRFParameters;
using torchseg::testing::Orientation;

/** A problem on a grid: intensities, class probabilities (voxel-major) and, for phantoms, the true labels. */
template <unsigned int D>
struct Problem
{
  std::array<std::size_t, D> size{};
  std::array<double, D>      spacing{};
  unsigned int               classes = 2;
  std::vector<float>         intensity;
  std::vector<float>         probability;
  std::vector<int>           truth;

  std::size_t
  NumberOfPixels() const
  {
    return std::accumulate(size.begin(), size.end(), std::size_t{ 1 }, std::multiplies<>());
  }

  std::array<double, D>
  Position(std::size_t linear) const
  {
    std::array<double, D> p{};
    for (unsigned int d = 0; d < D; ++d)
    {
      p[d] = static_cast<double>(linear % size[d]) * spacing[d];
      linear /= size[d];
    }
    return p;
  }
};

template <unsigned int D>
using CTImage = itk::Image<float, D>;
template <unsigned int D>
using ProbabilityImage = itk::VectorImage<float, D>;
template <unsigned int D>
using LabelImage = itk::Image<unsigned char, D>;
template <unsigned int D>
using Filter = torchseg::DenseCRFImageFilter<CTImage<D>, ProbabilityImage<D>, LabelImage<D>>;

template <unsigned int D>
typename CTImage<D>::Pointer
MakeCT(const Problem<D> & problem, Orientation orientation = Orientation::Identity)
{
  typename CTImage<D>::SizeType size;
  std::array<double, D>         origin{};
  for (unsigned int d = 0; d < D; ++d)
  {
    size[d] = problem.size[d];
    origin[d] = -12.5 + 3.0 * d;
  }
  auto image = torchseg::testing::MakeImage<CTImage<D>>(size, problem.spacing, origin, orientation);
  std::copy(problem.intensity.begin(), problem.intensity.end(), image->GetBufferPointer());
  return image;
}

template <unsigned int D>
typename ProbabilityImage<D>::Pointer
MakeProbabilities(const Problem<D> & problem, const CTImage<D> * geometry)
{
  auto image = ProbabilityImage<D>::New();
  image->CopyInformation(geometry);
  image->SetRegions(geometry->GetLargestPossibleRegion());
  image->SetNumberOfComponentsPerPixel(problem.classes);
  image->Allocate();
  std::copy(problem.probability.begin(), problem.probability.end(), image->GetBufferPointer());
  return image;
}

template <unsigned int D>
struct Result
{
  std::vector<int>   labels;
  std::vector<float> probability;
  std::size_t        latticePoints = 0;
};

template <unsigned int D>
Result<D>
RunFilter(const Problem<D> & problem, const DenseCRFParameters & parameters,
          Orientation orientation = Orientation::Identity, unsigned int workUnits = 2)
{
  auto ct = MakeCT(problem, orientation);
  auto probabilities = MakeProbabilities(problem, ct.GetPointer());
  auto filter = Filter<D>::New();
  filter->SetInput(ct);
  filter->SetProbabilityImage(probabilities);
  filter->SetParameters(parameters);
  filter->SetNumberOfWorkUnits(workUnits);
  filter->Update();
  Result<D>                   result;
  const LabelImage<D> *       labels = filter->GetOutput();
  const ProbabilityImage<D> * refined = filter->GetProbabilityOutput();
  // Geometry is carried over unchanged to both outputs.
  EXPECT_EQ(labels->GetLargestPossibleRegion(), ct->GetLargestPossibleRegion());
  EXPECT_EQ(labels->GetOrigin(), ct->GetOrigin());
  EXPECT_EQ(labels->GetSpacing(), ct->GetSpacing());
  EXPECT_EQ(labels->GetDirection(), ct->GetDirection());
  EXPECT_EQ(refined->GetLargestPossibleRegion(), ct->GetLargestPossibleRegion());
  EXPECT_EQ(refined->GetOrigin(), ct->GetOrigin());
  EXPECT_EQ(refined->GetDirection(), ct->GetDirection());
  EXPECT_EQ(refined->GetNumberOfComponentsPerPixel(), problem.classes);
  const std::size_t N = problem.NumberOfPixels();
  result.labels.assign(labels->GetBufferPointer(), labels->GetBufferPointer() + N);
  result.probability.assign(refined->GetBufferPointer(), refined->GetBufferPointer() + N * problem.classes);
  result.latticePoints = filter->GetNumberOfLatticePoints();
  return result;
}

int
ArgMax(const double * q, std::size_t C)
{
  return static_cast<int>(std::max_element(q, q + C) - q);
}

template <typename T>
std::vector<int>
ArgMaxLabels(const std::vector<T> & probability, std::size_t C)
{
  std::vector<int> labels(probability.size() / C);
  for (std::size_t i = 0; i < labels.size(); ++i)
  {
    labels[i] = static_cast<int>(std::max_element(&probability[i * C], &probability[i * C] + C) - &probability[i * C]);
  }
  return labels;
}

double
Dice(const std::vector<int> & a, const std::vector<int> & b, int label)
{
  std::size_t both = 0;
  std::size_t sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
  {
    both += (a[i] == label && b[i] == label);
    sum += (a[i] == label) + (b[i] == label);
  }
  return sum ? 2.0 * both / sum : 1.0;
}

/** A sphere (disc in 2D) of radius \a radius mm at the centre: intensity 60 HU inside, -40 outside, with Gaussian noise
 * of \a intensityNoise HU; foreground probability sigmoid(+-margin + N(0, logitNoise)). */
template <unsigned int D>
Problem<D>
NoisySphere(const std::array<std::size_t, D> & size, const std::array<double, D> & spacing, double radius,
            double intensityNoise, double margin, double logitNoise, unsigned int seed)
{
  Problem<D> problem;
  problem.size = size;
  problem.spacing = spacing;
  const std::size_t                N = problem.NumberOfPixels();
  std::mt19937                     random(seed);
  std::normal_distribution<double> gaussian(0.0, 1.0);
  for (std::size_t i = 0; i < N; ++i)
  {
    const auto p = problem.Position(i);
    double     r2 = 0.0;
    for (unsigned int d = 0; d < D; ++d)
    {
      const double c = p[d] - 0.5 * (size[d] - 1) * spacing[d];
      r2 += c * c;
    }
    const int inside = r2 <= radius * radius ? 1 : 0;
    problem.truth.push_back(inside);
    problem.intensity.push_back(static_cast<float>((inside ? 60.0 : -40.0) + intensityNoise * gaussian(random)));
    const double logit = (inside ? margin : -margin) + logitNoise * gaussian(random);
    const double foreground = 1.0 / (1.0 + std::exp(-logit));
    problem.probability.push_back(static_cast<float>(1.0 - foreground));
    problem.probability.push_back(static_cast<float>(foreground));
  }
  return problem;
}

/** Three classes on a tiny grid: two regions of different intensity with a third class blob, noisy probabilities. */
template <unsigned int D>
Problem<D>
TinyProblem(const std::array<std::size_t, D> & size, const std::array<double, D> & spacing, unsigned int seed)
{
  Problem<D> problem;
  problem.size = size;
  problem.spacing = spacing;
  problem.classes = 3;
  const std::size_t                N = problem.NumberOfPixels();
  std::mt19937                     random(seed);
  std::normal_distribution<double> gaussian(0.0, 1.0);
  for (std::size_t i = 0; i < N; ++i)
  {
    const auto   p = problem.Position(i);
    const double extent = size[0] * spacing[0];
    int          label = p[0] > 0.45 * extent ? 1 : 0;
    double       r2 = 0.0;
    for (unsigned int d = 0; d < D; ++d)
    {
      const double c = p[d] - 0.7 * size[d] * spacing[d];
      r2 += c * c;
    }
    if (r2 < 4.0)
    {
      label = 2;
    }
    const double levels[3] = { -20.0, 40.0, 90.0 };
    problem.intensity.push_back(static_cast<float>(levels[label] + 10.0 * gaussian(random)));
    double logits[3];
    double sum = 0.0;
    for (int c = 0; c < 3; ++c)
    {
      logits[c] = (c == label ? 1.0 : 0.0) + 1.2 * gaussian(random);
      sum += std::exp(logits[c]);
    }
    for (int c = 0; c < 3; ++c)
    {
      problem.probability.push_back(static_cast<float>(std::exp(logits[c]) / sum));
    }
  }
  return problem;
}

/** w * (s_i K_ij s_j - s_i^2 [i == j]) added to \a out for a kernel matrix K with self term 1 included (exactly or
 * as the lattice has it): s_i = (sum_j K_ij)^(-1/2) (at least 1 as the filter bounds it) with the symmetric
 * normalisation, 1 without. The subtraction removes the exact self term, as the filter does. */
void
AddNormalisedKernel(const std::vector<double> & K, std::size_t N, double w, bool symmetric, std::vector<double> & out)
{
  std::vector<double> s(N, 1.0);
  if (symmetric)
  {
    for (std::size_t i = 0; i < N; ++i)
    {
      s[i] = 1.0 / std::sqrt(std::max(1.0, std::accumulate(&K[i * N], &K[i * N] + N, 0.0)));
    }
  }
  for (std::size_t i = 0; i < N; ++i)
  {
    for (std::size_t j = 0; j < N; ++j)
    {
      out[i * N + j] += w * (s[i] * K[i * N + j] * s[j] - (i == j ? s[i] * s[i] : 0.0));
    }
  }
}

/** The pairwise weights the filter applies, as a dense matrix: the lattice kernel read off column by column by
 * filtering unit vectors with the features the filter uses, and the truncated separable Gaussian, each normalised as
 * the filter does. */
template <unsigned int D>
std::vector<double>
FilterKernelMatrix(const Problem<D> & problem, const DenseCRFParameters & p)
{
  const std::size_t   N = problem.NumberOfPixels();
  const bool          symmetric = p.Normalization == torchseg::DenseCRFNormalization::Symmetric;
  std::vector<double> matrix(N * N, 0.0);
  if (p.AppearanceWeight > 0)
  {
    constexpr unsigned int d = D + 1;
    std::vector<float>     features(N * d);
    const float            intensityScale = static_cast<float>(1.0 / p.AppearanceIntensitySigma);
    for (std::size_t i = 0; i < N; ++i)
    {
      std::size_t rest = i;
      for (unsigned int k = 0; k < D; ++k)
      {
        features[i * d + k] = static_cast<float>(rest % problem.size[k]) *
                              static_cast<float>(problem.spacing[k] / p.AppearanceSpatialSigma);
        rest /= problem.size[k];
      }
      features[i * d + D] = problem.intensity[i] * intensityScale;
    }
    torchseg::PermutohedralLattice<d> lattice;
    lattice.Initialize(
      N,
      [&](std::size_t first, std::size_t count, float * f) { std::copy_n(&features[first * d], count * d, f); },
      nullptr);
    std::vector<double> K(N * N);
    std::vector<float>  unit(N, 0.0f);
    std::vector<float>  column(N);
    for (std::size_t j = 0; j < N; ++j)
    {
      unit[j] = 1.0f;
      lattice.Filter(unit.data(), column.data(), 1);
      unit[j] = 0.0f;
      for (std::size_t i = 0; i < N; ++i)
      {
        K[i * N + j] = column[i];
      }
    }
    AddNormalisedKernel(K, N, p.AppearanceWeight, symmetric, matrix);
  }
  if (p.SmoothnessWeight > 0)
  {
    std::vector<double> K(N * N);
    for (std::size_t i = 0; i < N; ++i)
    {
      for (std::size_t j = 0; j < N; ++j)
      {
        double      k = 1.0;
        std::size_t a = i;
        std::size_t b = j;
        for (unsigned int axis = 0; axis < D; ++axis)
        {
          const std::size_t radius = std::min<std::size_t>(
            problem.size[axis] - 1,
            static_cast<std::size_t>(std::ceil(p.SmoothnessTruncation * p.SmoothnessSigma / problem.spacing[axis])));
          const std::size_t step = std::max(a % problem.size[axis], b % problem.size[axis]) -
                                   std::min(a % problem.size[axis], b % problem.size[axis]);
          const double t = step * problem.spacing[axis] / p.SmoothnessSigma;
          k *= step <= radius ? std::exp(-0.5 * t * t) : 0.0;
          a /= problem.size[axis];
          b /= problem.size[axis];
        }
        K[i * N + j] = k;
      }
    }
    AddNormalisedKernel(K, N, p.SmoothnessWeight, symmetric, matrix);
  }
  return matrix;
}

/** The exact pairwise weights of the model: w1 k_alpha + w2 k_gamma (each normalised with the symmetric
 * normalisation, N_i = sum_j k(i, j) with the self term), 0 on the diagonal. */
template <unsigned int D>
std::vector<double>
ExactKernelMatrix(const Problem<D> & problem, const DenseCRFParameters & p)
{
  const std::size_t   N = problem.NumberOfPixels();
  std::vector<double> appearance(N * N);
  std::vector<double> smoothness(N * N);
  for (std::size_t i = 0; i < N; ++i)
  {
    const auto pi = problem.Position(i);
    for (std::size_t j = 0; j < N; ++j)
    {
      const auto pj = problem.Position(j);
      double     r2 = 0.0;
      for (unsigned int d = 0; d < D; ++d)
      {
        r2 += (pi[d] - pj[d]) * (pi[d] - pj[d]);
      }
      const double dI = problem.intensity[i] - problem.intensity[j];
      appearance[i * N + j] = std::exp(-r2 / (2 * p.AppearanceSpatialSigma * p.AppearanceSpatialSigma) -
                                       dI * dI / (2 * p.AppearanceIntensitySigma * p.AppearanceIntensitySigma));
      smoothness[i * N + j] = std::exp(-r2 / (2 * p.SmoothnessSigma * p.SmoothnessSigma));
    }
  }
  const bool          symmetric = p.Normalization == torchseg::DenseCRFNormalization::Symmetric;
  std::vector<double> matrix(N * N, 0.0);
  AddNormalisedKernel(appearance, N, p.AppearanceWeight, symmetric, matrix);
  AddNormalisedKernel(smoothness, N, p.SmoothnessWeight, symmetric, matrix);
  for (std::size_t i = 0; i < N; ++i)
  {
    matrix[i * N + i] = 0.0; // exactly: the self terms cancel
  }
  return matrix;
}

/** The softmax over the classes of each voxel of a = U + K Q: one exact mean-field update, in double. */
std::vector<double>
ExactUpdate(const std::vector<double> & unary, const std::vector<double> & kernel, const std::vector<double> & q,
            std::size_t N, std::size_t C)
{
  std::vector<double> next(N * C);
  std::vector<double> a(C);
  for (std::size_t i = 0; i < N; ++i)
  {
    for (std::size_t c = 0; c < C; ++c)
    {
      double message = 0.0;
      for (std::size_t j = 0; j < N; ++j)
      {
        message += kernel[i * N + j] * q[j * C + c];
      }
      a[c] = unary[i * C + c] + message;
    }
    const double highest = *std::max_element(a.begin(), a.end());
    double       sum = 0.0;
    for (std::size_t c = 0; c < C; ++c)
    {
      a[c] = std::exp(a[c] - highest);
      sum += a[c];
    }
    for (std::size_t c = 0; c < C; ++c)
    {
      next[i * C + c] = a[c] / sum;
    }
  }
  return next;
}

template <unsigned int D>
std::vector<double>
Unary(const Problem<D> & problem, const DenseCRFParameters & p)
{
  const std::size_t   C = problem.classes;
  std::vector<double> unary(problem.probability.size());
  for (std::size_t i = 0; i < problem.NumberOfPixels(); ++i)
  {
    double sum = 0.0;
    for (std::size_t c = 0; c < C; ++c)
    {
      sum += problem.probability[i * C + c];
    }
    for (std::size_t c = 0; c < C; ++c)
    {
      unary[i * C + c] = std::log(std::max(problem.probability[i * C + c] / sum, p.MinimumProbability));
    }
  }
  return unary;
}

/** Mean-field inference of the fully connected CRF with exact Gaussian sums over all pairs j != i, in double: the
 * O(N^2) reference. */
template <unsigned int D>
std::vector<double>
BruteForceMeanField(const Problem<D> & problem, const DenseCRFParameters & p)
{
  const std::size_t         N = problem.NumberOfPixels();
  const std::vector<double> unary = Unary(problem, p);
  const std::vector<double> kernel = ExactKernelMatrix(problem, p);
  const std::vector<double> none(N * N, 0.0);
  std::vector<double>       q = ExactUpdate(unary, none, std::vector<double>(unary.size(), 0.0), N, problem.classes);
  for (unsigned int iteration = 0; iteration < p.NumberOfIterations; ++iteration)
  {
    q = ExactUpdate(unary, kernel, q, N, problem.classes);
  }
  return q;
}

/** Parameters for the tiny problems: the CRF changes many labels without saturating the probabilities everywhere. */
DenseCRFParameters
TinyParameters(torchseg::DenseCRFNormalization normalization = torchseg::DenseCRFNormalization::Symmetric)
{
  DenseCRFParameters p;
  p.Normalization = normalization;
  const bool symmetric = normalization == torchseg::DenseCRFNormalization::Symmetric;
  p.AppearanceWeight = symmetric ? 2.0 : 0.1;
  p.AppearanceSpatialSigma = 3.0;
  p.AppearanceIntensitySigma = 25.0;
  p.SmoothnessWeight = symmetric ? 2.0 : 0.2;
  p.SmoothnessSigma = 1.0;
  p.NumberOfIterations = 5;
  return p;
}

/** Checks the filter against the O(N^2) brute force on a tiny problem, in two ways.
 *
 * Each iteration, rigorously: the filter's iterate Q'_{t+1} (a run with t+1 iterations) must equal the exact
 * mean-field update of its own previous iterate Q'_t up to the error of the filter's messages. The message error
 * e_i(l) = sum_j (K'_ij - K_ij) Q'_t,j(l) is computed exactly from the filter's kernel matrix K' (the lattice kernel
 * read off by filtering unit vectors, the truncated separable Gaussian) and the exact one K. The softmax is
 * 1/2-Lipschitz in the maximum norm (its Jacobian's row sums are 2 Q_l (1 - Q_l)) and ignores constant shifts, so
 * |Q'_{t+1,i}(l) - F(Q'_t)_i(l)| <= (max_l e_i(l) - min_l e_i(l)) / 4, plus 1e-5 for single precision.
 *
 * The whole run: the final probabilities must lie within \a tolerance of the brute force's, and the labels must be
 * equal wherever the brute force's two most probable classes differ by more than twice the tolerance. */
template <unsigned int D>
void
ExpectMatchesBruteForce(const Problem<D> & problem, const DenseCRFParameters & p, double tolerance)
{
  const std::size_t         N = problem.NumberOfPixels();
  const std::size_t         C = problem.classes;
  const std::vector<double> unary = Unary(problem, p);
  const std::vector<double> exact = ExactKernelMatrix(problem, p);
  const std::vector<double> filter = FilterKernelMatrix(problem, p);

  DenseCRFParameters partial = p;
  partial.NumberOfIterations = 0;
  std::vector<float> q = RunFilter(problem, partial).probability;
  double             largestMessageError = 0.0;
  double             largestMessage = 0.0;
  for (unsigned int t = 1; t <= p.NumberOfIterations; ++t)
  {
    partial.NumberOfIterations = t;
    const std::vector<float>  next = RunFilter(problem, partial).probability;
    const std::vector<double> previous(q.begin(), q.end());
    const std::vector<double> update = ExactUpdate(unary, exact, previous, N, C);
    std::size_t               violations = 0;
    for (std::size_t i = 0; i < N; ++i)
    {
      std::vector<double> error(C, 0.0);
      for (std::size_t c = 0; c < C; ++c)
      {
        double message = 0.0;
        for (std::size_t j = 0; j < N; ++j)
        {
          error[c] += (filter[i * N + j] - exact[i * N + j]) * previous[j * C + c];
          message += exact[i * N + j] * previous[j * C + c];
        }
        largestMessageError = std::max(largestMessageError, std::abs(error[c]));
        largestMessage = std::max(largestMessage, std::abs(message));
      }
      const double bound =
        0.25 * (*std::max_element(error.begin(), error.end()) - *std::min_element(error.begin(), error.end())) + 1.0e-5;
      for (std::size_t c = 0; c < C; ++c)
      {
        violations += std::abs(next[i * C + c] - update[i * C + c]) > bound;
      }
    }
    EXPECT_EQ(violations, 0u) << "iteration " << t;
    q = next;
  }
  // The lattice approximates the messages: its error stays a modest fraction of them (measured 10 to 15 %).
  EXPECT_LT(largestMessageError, 0.2 * largestMessage);

  const std::vector<double> reference = BruteForceMeanField(problem, p);
  const std::vector<int>    initial = ArgMaxLabels(problem.probability, C);
  const Result<D>           result = RunFilter(problem, p);
  double                    largestError = 0.0;
  double                    change = 0.0;
  std::size_t               clear = 0;
  std::size_t               mismatches = 0;
  std::size_t               changedByCRF = 0;
  for (std::size_t i = 0; i < N; ++i)
  {
    std::vector<double> sorted(&reference[i * C], &reference[i * C] + C);
    std::sort(sorted.rbegin(), sorted.rend());
    const int label = ArgMax(&reference[i * C], C);
    if (sorted[0] - sorted[1] > 2.0 * tolerance)
    {
      ++clear;
      mismatches += result.labels[i] != label;
    }
    changedByCRF += label != initial[i];
    for (std::size_t c = 0; c < C; ++c)
    {
      largestError = std::max(largestError, std::abs(result.probability[i * C + c] - reference[i * C + c]));
      change = std::max(change, std::abs(reference[i * C + c] - problem.probability[i * C + c]));
    }
  }
  std::cout << N << " voxels: largest |Q - Q_exact| " << largestError << " (tolerance " << tolerance
            << "), largest message error " << largestMessageError << " of messages up to " << largestMessage
            << "; the CRF changed " << changedByCRF << " labels; " << clear << " clear labels, " << mismatches
            << " different" << std::endl;
  EXPECT_LE(largestError, tolerance);
  EXPECT_EQ(mismatches, 0u);
  EXPECT_GE(clear, N * 3 / 4);
  // Not a vacuous comparison: the CRF moves probabilities far more than the tolerance and changes many labels.
  EXPECT_GT(change, 3.0 * tolerance);
  EXPECT_GE(changedByCRF, N / 5);
}

} // namespace

TEST(DenseCRFImageFilter, RefinementRaisesDiceOnNoisyDisc2D)
{
  const auto   problem = NoisySphere<2>({ { 64, 64 } }, { { 1.0, 1.0 } }, 16.0, 15.0, 1.2, 1.5, 7);
  const auto   before = ArgMaxLabels(problem.probability, 2);
  const auto   result = RunFilter(problem, DenseCRFParameters());
  const double diceBefore = Dice(problem.truth, before, 1);
  const double diceAfter = Dice(problem.truth, result.labels, 1);
  std::cout << "2D disc, default parameters: Dice of the argmax " << diceBefore << ", after the CRF " << diceAfter
            << std::endl;
  EXPECT_LT(diceBefore, 0.85);
  EXPECT_GT(diceAfter, diceBefore + 0.1);
  EXPECT_GT(diceAfter, 0.95);
}

TEST(DenseCRFImageFilter, RefinementRaisesDiceOnNoisyBall3D)
{
  const auto   problem = NoisySphere<3>({ { 40, 40, 16 } }, { { 1.0, 1.0, 2.5 } }, 12.0, 15.0, 1.2, 1.5, 11);
  const auto   before = ArgMaxLabels(problem.probability, 2);
  const auto   result = RunFilter(problem, DenseCRFParameters());
  const double diceBefore = Dice(problem.truth, before, 1);
  const double diceAfter = Dice(problem.truth, result.labels, 1);
  std::cout << "3D ball, default parameters: Dice of the argmax " << diceBefore << ", after the CRF " << diceAfter
            << std::endl;
  EXPECT_LT(diceBefore, 0.85);
  EXPECT_GT(diceAfter, diceBefore + 0.1);
  EXPECT_GT(diceAfter, 0.95);
}

TEST(DenseCRFImageFilter, SmallLesionSurvivesTheDefaultParameters)
{
  // A lesion-like ball (radius 7 mm, 25 HU) in liver-like tissue (60 HU), noise 15 HU, at CT spacing, three classes
  // with noisy probabilities. With the symmetric normalisation the default weights keep it; with the energy as
  // written the same weights let the appearance kernel's thousands of liver neighbours outvote it, iteration after
  // iteration (why Symmetric is the default).
  Problem<3> problem;
  problem.size = { { 48, 48, 16 } };
  problem.spacing = { { 0.8, 0.8, 2.5 } };
  problem.classes = 3;
  std::mt19937                     random(17);
  std::normal_distribution<double> gaussian(0.0, 1.0);
  for (std::size_t i = 0; i < problem.NumberOfPixels(); ++i)
  {
    const auto p = problem.Position(i);
    double     r2 = 0.0;
    for (unsigned int d = 0; d < 3; ++d)
    {
      const double c = p[d] - 0.5 * (problem.size[d] - 1) * problem.spacing[d];
      r2 += c * c;
    }
    const int label = r2 <= 49.0 ? 2 : 1;
    problem.truth.push_back(label);
    problem.intensity.push_back(static_cast<float>((label == 2 ? 25.0 : 60.0) + 15.0 * gaussian(random)));
    double logits[3];
    double sum = 0.0;
    for (int c = 0; c < 3; ++c)
    {
      logits[c] = (c == label ? 2.0 : 0.0) + gaussian(random);
      sum += std::exp(logits[c]);
    }
    for (int c = 0; c < 3; ++c)
    {
      problem.probability.push_back(static_cast<float>(std::exp(logits[c]) / sum));
    }
  }
  const double       before = Dice(problem.truth, ArgMaxLabels(problem.probability, 3), 2);
  const double       after = Dice(problem.truth, RunFilter(problem, DenseCRFParameters()).labels, 2);
  DenseCRFParameters unnormalised;
  unnormalised.Normalization = torchseg::DenseCRFNormalization::None;
  const double eroded = Dice(problem.truth, RunFilter(problem, unnormalised).labels, 2);
  std::cout << "lesion Dice: argmax " << before << ", CRF " << after << ", unnormalised CRF " << eroded << std::endl;
  EXPECT_GT(after, 0.9);
  EXPECT_GT(after, before);
  EXPECT_LT(eroded, 0.5);
}

TEST(DenseCRFImageFilter, MatchesBruteForceMeanField2D)
{
  // Symmetric normalisation (the default). Tolerance: the final error was measured at 0.028, the per-step bounds of
  // the run reach about 0.02; the lattice's gain errors largely cancel in the normalisation.
  ExpectMatchesBruteForce(TinyProblem<2>({ { 12, 10 } }, { { 1.0, 1.0 } }, 3), TinyParameters(), 0.05);
}

TEST(DenseCRFImageFilter, MatchesBruteForceMeanField3D)
{
  // Anisotropic spacing. Tolerance: the final error was measured at 0.054 (a tiny 3D grid is all edge, where the
  // lattice errs most).
  ExpectMatchesBruteForce(TinyProblem<3>({ { 6, 6, 5 } }, { { 1.0, 1.0, 1.5 } }, 5), TinyParameters(), 0.1);
}

TEST(DenseCRFImageFilter, MatchesBruteForceUnnormalisedMeanField2D)
{
  // The NIPS 2011 energy as written. Tolerance: the largest per-step bound of this run is about 0.035; the final
  // error was measured at 0.058.
  ExpectMatchesBruteForce(
    TinyProblem<2>({ { 12, 10 } }, { { 1.0, 1.0 } }, 3), TinyParameters(torchseg::DenseCRFNormalization::None), 0.1);
}

TEST(DenseCRFImageFilter, MatchesBruteForceUnnormalisedMeanField3D)
{
  // Tolerance: the largest per-step bound of this run is about 0.14; the final error was measured at 0.143.
  ExpectMatchesBruteForce(TinyProblem<3>({ { 6, 6, 5 } }, { { 1.0, 1.0, 1.5 } }, 5),
                          TinyParameters(torchseg::DenseCRFNormalization::None),
                          0.2);
}

TEST(DenseCRFImageFilter, SmoothnessKernelAloneIsExact)
{
  // Without the appearance kernel, the messages are separable exact convolutions, normalised exactly per axis
  // (truncated at 4 sigma: the neglected weights are below exp(-8) = 3.4e-4 of w2 each, on a grid this small a few).
  for (const auto normalization : { torchseg::DenseCRFNormalization::Symmetric, torchseg::DenseCRFNormalization::None })
  {
    for (const double zSpacing : { 1.0, 2.5 })
    {
      const auto problem = TinyProblem<3>({ { 6, 6, 5 } }, { { 0.8, 1.0, zSpacing } }, 5);
      auto       p = TinyParameters(normalization);
      p.AppearanceWeight = 0.0;
      p.SmoothnessWeight = normalization == torchseg::DenseCRFNormalization::Symmetric ? 5.0 : 1.0;
      p.SmoothnessSigma = 1.2;
      const auto reference = BruteForceMeanField(problem, p);
      const auto result = RunFilter(problem, p);
      double     largest = 0.0;
      double     change = 0.0;
      for (std::size_t k = 0; k < reference.size(); ++k)
      {
        largest = std::max(largest, std::abs(result.probability[k] - reference[k]));
        change = std::max(change, std::abs(reference[k] - problem.probability[k]));
      }
      EXPECT_LT(largest, 2.0e-4) << normalization << ", z spacing " << zSpacing;
      EXPECT_GT(change, 0.3) << normalization << ", z spacing " << zSpacing;
      EXPECT_EQ(result.labels, ArgMaxLabels(reference, problem.classes));
    }
  }
}

TEST(DenseCRFImageFilter, AnisotropicSpacingActsThroughPhysicalDistance)
{
  // A neutral voxel between two x-neighbours that favour class 0 and two z-neighbours that favour class 1 (3 x 1 x 3
  // grid, corners neutral). After one update its messages differ by w2 * 2 * 0.8 * (k(sx) - k(sz)), with
  // k(s) = exp(-s^2 / (2 thetaGamma^2)): the physically nearer pair wins.
  Problem<3> problem;
  problem.size = { { 3, 1, 3 } };
  problem.intensity.assign(9, 0.0f);
  for (std::size_t z = 0; z < 3; ++z)
  {
    for (std::size_t x = 0; x < 3; ++x)
    {
      const bool  xNeighbour = z == 1 && x != 1;
      const bool  zNeighbour = x == 1 && z != 1;
      const float p0 = xNeighbour ? 0.9f : (zNeighbour ? 0.1f : 0.5f);
      problem.probability.push_back(p0);
      problem.probability.push_back(1.0f - p0);
    }
  }
  DenseCRFParameters p;
  p.Normalization = torchseg::DenseCRFNormalization::None;
  p.AppearanceWeight = 0.0;
  p.SmoothnessWeight = 2.0;
  p.SmoothnessSigma = 1.5;
  p.NumberOfIterations = 1;
  const std::size_t centre = 4;
  for (const auto & spacing : { std::array<double, 3>{ { 1.0, 1.0, 2.0 } },
                                std::array<double, 3>{ { 2.0, 1.0, 1.0 } },
                                std::array<double, 3>{ { 1.2, 1.0, 1.6 } } })
  {
    problem.spacing = spacing;
    const auto   result = RunFilter(problem, p);
    auto         k = [&](double s) { return std::exp(-s * s / (2.0 * p.SmoothnessSigma * p.SmoothnessSigma)); };
    const double difference = p.SmoothnessWeight * 2.0 * 0.8 * (k(spacing[0]) - k(spacing[2]));
    const double expected = 1.0 / (1.0 + std::exp(-difference));
    EXPECT_NEAR(result.probability[centre * 2], expected, 1.0e-6) << spacing[0] << " x " << spacing[2];
    EXPECT_EQ(result.labels[centre], spacing[0] < spacing[2] ? 0 : 1);
  }
}

TEST(DenseCRFImageFilter, ScalingSpacingAndWidthsTogetherChangesNothing)
{
  // Only physical distance over kernel width matters: doubling the spacing and the two spatial widths gives the same
  // result; doubling the spacing alone does not.
  const auto problem = NoisySphere<3>({ { 16, 14, 8 } }, { { 0.7, 0.7, 2.0 } }, 4.0, 10.0, 1.0, 1.5, 21);
  auto       p = TinyParameters(); // weak enough not to saturate the probabilities
  p.AppearanceSpatialSigma = 4.0;
  const auto reference = RunFilter(problem, p);
  auto       scaled = problem;
  for (double & s : scaled.spacing)
  {
    s *= 2.0;
  }
  const auto coarser = RunFilter(scaled, p);
  p.AppearanceSpatialSigma *= 2.0;
  p.SmoothnessSigma *= 2.0;
  const auto same = RunFilter(scaled, p);
  double     largest = 0.0;
  double     changed = 0.0;
  for (std::size_t k = 0; k < reference.probability.size(); ++k)
  {
    largest = std::max<double>(largest, std::abs(same.probability[k] - reference.probability[k]));
    changed = std::max<double>(changed, std::abs(coarser.probability[k] - reference.probability[k]));
  }
  EXPECT_LT(largest, 1.0e-5);
  EXPECT_EQ(same.labels, reference.labels);
  EXPECT_GT(changed, 0.1);
}

TEST(DenseCRFImageFilter, DirectionDoesNotChangeTheResult)
{
  // Distances are index * spacing: the direction cosines (orthonormal) do not enter, and the outputs keep them.
  const auto problem = NoisySphere<3>({ { 20, 18, 9 } }, { { 0.8, 0.9, 2.0 } }, 6.0, 15.0, 1.0, 1.5, 4);
  const auto identity = RunFilter(problem, DenseCRFParameters(), Orientation::Identity);
  for (const Orientation orientation : { Orientation::Flipped, Orientation::Oblique })
  {
    const auto other = RunFilter(problem, DenseCRFParameters(), orientation);
    EXPECT_EQ(other.labels, identity.labels);
    EXPECT_EQ(other.probability, identity.probability);
  }
}

TEST(DenseCRFImageFilter, ZeroIterationsGiveTheArgmaxOfTheInput)
{
  const auto problem = TinyProblem<2>({ { 12, 10 } }, { { 1.0, 1.0 } }, 3);
  auto       p = TinyParameters();
  p.NumberOfIterations = 0;
  const auto result = RunFilter(problem, p);
  EXPECT_EQ(result.labels, ArgMaxLabels(problem.probability, 3));
  for (std::size_t k = 0; k < result.probability.size(); ++k)
  {
    EXPECT_NEAR(result.probability[k], problem.probability[k], 1.0e-6);
  }
}

TEST(DenseCRFImageFilter, ResultDoesNotDependOnTheNumberOfWorkUnits)
{
  const auto problem = NoisySphere<3>({ { 24, 20, 10 } }, { { 1.0, 1.0, 2.0 } }, 6.0, 15.0, 1.0, 1.5, 8);
  const auto one = RunFilter(problem, DenseCRFParameters(), Orientation::Identity, 1);
  const auto three = RunFilter(problem, DenseCRFParameters(), Orientation::Identity, 3);
  EXPECT_EQ(one.labels, three.labels);
  double largest = 0.0;
  for (std::size_t k = 0; k < one.probability.size(); ++k)
  {
    largest = std::max<double>(largest, std::abs(one.probability[k] - three.probability[k]));
  }
  // Only the order of the floating-point sums on the lattice differs.
  EXPECT_LT(largest, 1.0e-4);
}

TEST(DenseCRFImageFilter, ProbabilitiesCloseToOneAreNormalised)
{
  auto problem = TinyProblem<2>({ { 12, 10 } }, { { 1.0, 1.0 } }, 3);
  auto scaled = problem;
  for (std::size_t i = 0; i < problem.NumberOfPixels(); ++i)
  {
    const float factor = i % 2 ? 1.004f : 0.996f;
    for (unsigned int c = 0; c < 3; ++c)
    {
      scaled.probability[i * 3 + c] *= factor;
    }
  }
  const auto reference = RunFilter(problem, TinyParameters());
  const auto result = RunFilter(scaled, TinyParameters());
  EXPECT_EQ(result.labels, reference.labels);
  for (std::size_t k = 0; k < result.probability.size(); ++k)
  {
    EXPECT_NEAR(result.probability[k], reference.probability[k], 1.0e-5);
  }
}

namespace
{

/** Runs the filter, expecting an exception whose one-line description contains every one of \a words. */
template <unsigned int D>
void
ExpectRefused(typename Filter<D>::Pointer filter, const std::vector<std::string> & words)
{
  try
  {
    filter->Update();
    ADD_FAILURE() << "no exception";
  }
  catch (const itk::ExceptionObject & e)
  {
    const std::string message = e.GetDescription();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    for (const std::string & word : words)
    {
      EXPECT_NE(message.find(word), std::string::npos) << "'" << word << "' not in: " << message;
    }
  }
}

typename Filter<2>::Pointer
MakeFilter(const Problem<2> & problem, const CTImage<2> * ct, const ProbabilityImage<2> * probabilities)
{
  (void)problem;
  auto filter = Filter<2>::New();
  filter->SetInput(ct);
  filter->SetProbabilityImage(probabilities);
  return filter;
}

} // namespace

TEST(DenseCRFImageFilter, InvalidProbabilitiesAreRefusedNamingTheVoxel)
{
  const auto        problem = TinyProblem<2>({ { 12, 10 } }, { { 1.0, 1.0 } }, 3);
  const std::size_t voxel = 2 * 12 + 5; // index [5, 2]
  {
    auto bad = problem;
    bad.probability[voxel * 3] += 0.5f;
    auto ct = MakeCT(bad);
    auto filter = MakeFilter(bad, ct, MakeProbabilities(bad, ct.GetPointer()));
    ExpectRefused<2>(filter, { "[5, 2]", "sum" });
    EXPECT_EQ(filter->GetOutput()->GetBufferedRegion().GetNumberOfPixels(), 0u);
  }
  for (const float value : { -0.1f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity() })
  {
    auto bad = problem;
    bad.probability[voxel * 3 + 1] = value;
    auto ct = MakeCT(bad);
    ExpectRefused<2>(MakeFilter(bad, ct, MakeProbabilities(bad, ct.GetPointer())), { "[5, 2]" });
  }
}

TEST(DenseCRFImageFilter, GeometryMismatchIsRefusedNamingIt)
{
  const auto problem = TinyProblem<2>({ { 12, 10 } }, { { 1.0, 1.0 } }, 3);
  auto       ct = MakeCT(problem);
  {
    auto probabilities = MakeProbabilities(problem, ct.GetPointer());
    auto spacing = probabilities->GetSpacing();
    spacing[1] = 1.5;
    probabilities->SetSpacing(spacing);
    ExpectRefused<2>(MakeFilter(problem, ct, probabilities), { "spacing" });
  }
  {
    auto probabilities = MakeProbabilities(problem, ct.GetPointer());
    auto origin = probabilities->GetOrigin();
    origin[0] += 0.5;
    probabilities->SetOrigin(origin);
    ExpectRefused<2>(MakeFilter(problem, ct, probabilities), { "origin" });
  }
  {
    auto probabilities = MakeProbabilities(problem, ct.GetPointer());
    probabilities->SetDirection(torchseg::testing::MakeDirection<2>(Orientation::Oblique));
    ExpectRefused<2>(MakeFilter(problem, ct, probabilities), { "direction" });
  }
  {
    auto other = TinyProblem<2>({ { 12, 11 } }, { { 1.0, 1.0 } }, 3);
    auto otherCT = MakeCT(other);
    ExpectRefused<2>(MakeFilter(problem, ct, MakeProbabilities(other, otherCT.GetPointer())), { "size" });
  }
  {
    auto single = problem;
    single.classes = 1;
    single.probability.assign(problem.NumberOfPixels(), 1.0f);
    ExpectRefused<2>(MakeFilter(problem, ct, MakeProbabilities(single, ct.GetPointer())), { "component" });
  }
  {
    auto filter = Filter<2>::New();
    filter->SetInput(ct);
    ExpectRefused<2>(filter, { "ProbabilityImage" });
  }
}

TEST(DenseCRFImageFilter, InvalidParametersAreRefusedNamingThem)
{
  const auto problem = TinyProblem<2>({ { 12, 10 } }, { { 1.0, 1.0 } }, 3);
  auto       ct = MakeCT(problem);
  auto       probabilities = MakeProbabilities(problem, ct.GetPointer());
  {
    auto filter = MakeFilter(problem, ct, probabilities);
    filter->SetAppearanceSpatialSigma(0.0);
    ExpectRefused<2>(filter, { "thetaAlpha" });
  }
  {
    auto filter = MakeFilter(problem, ct, probabilities);
    filter->SetAppearanceIntensitySigma(-3.0);
    ExpectRefused<2>(filter, { "thetaBeta" });
  }
  {
    auto filter = MakeFilter(problem, ct, probabilities);
    filter->SetSmoothnessWeight(-1.0);
    ExpectRefused<2>(filter, { "w2" });
  }
  {
    auto filter = MakeFilter(problem, ct, probabilities);
    filter->SetMinimumProbability(0.0);
    ExpectRefused<2>(filter, { "minimum probability" });
  }
}

TEST(DenseCRFImageFilter, ReportsProgressAndHonoursAbort)
{
  const auto problem = NoisySphere<2>({ { 32, 32 } }, { { 1.0, 1.0 } }, 8.0, 15.0, 1.2, 1.5, 2);
  auto       ct = MakeCT(problem);
  auto       probabilities = MakeProbabilities(problem, ct.GetPointer());
  {
    auto               filter = MakeFilter(problem, ct, probabilities);
    std::vector<float> progress;
    auto               observer = itk::CStyleCommand::New();
    struct Context
    {
      Filter<2> *          filter;
      std::vector<float> * progress;
    } context{ filter.GetPointer(), &progress };
    observer->SetClientData(&context);
    observer->SetCallback([](itk::Object *, const itk::EventObject &, void * data) {
      auto * c = static_cast<Context *>(data);
      c->progress->push_back(c->filter->GetProgress());
    });
    filter->AddObserver(itk::ProgressEvent(), observer);
    filter->Update();
    ASSERT_GE(progress.size(), 6u); // the lattice, 5 iterations, the end
    EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));
    EXPECT_FLOAT_EQ(progress.back(), 1.0f);
  }
  {
    auto filter = MakeFilter(problem, ct, probabilities);
    auto observer = itk::CStyleCommand::New();
    observer->SetClientData(filter.GetPointer());
    observer->SetCallback([](itk::Object *, const itk::EventObject &, void * data) {
      auto * f = static_cast<Filter<2> *>(data);
      if (f->GetProgress() > 0.0f)
      {
        f->AbortGenerateDataOn();
      }
    });
    filter->AddObserver(itk::ProgressEvent(), observer);
    EXPECT_THROW(filter->Update(), itk::ProcessAborted);
  }
}

namespace
{

/** A network-like output: a noisy ball (radius 6 mm, in a corner of a 102 x 90 x 80 mm volume) whose probabilities are
 * noisy within 5 mm of its surface and certain background (1 - 1e-5) farther out, as a softmax is far from the organs.
 */
Problem<3>
ConfidentBackgroundBall()
{
  Problem<3> problem;
  problem.size = { { 128, 112, 32 } };
  problem.spacing = { { 0.8, 0.8, 2.5 } };
  std::mt19937                     random(23);
  std::normal_distribution<double> gaussian(0.0, 1.0);
  for (std::size_t i = 0; i < problem.NumberOfPixels(); ++i)
  {
    const auto   p = problem.Position(i);
    const double r = std::sqrt(std::pow(p[0] - 20.0, 2) + std::pow(p[1] - 25.0, 2) + std::pow(p[2] - 30.0, 2));
    const int    inside = r <= 6.0 ? 1 : 0;
    problem.truth.push_back(inside);
    problem.intensity.push_back(static_cast<float>((inside ? 60.0 : -40.0) + 15.0 * gaussian(random)));
    double foreground = 1.0e-5;
    if (r < 11.0)
    {
      foreground = 1.0 / (1.0 + std::exp(-((inside ? 1.0 : -1.0) + 1.5 * gaussian(random))));
    }
    problem.probability.push_back(static_cast<float>(1.0 - foreground));
    problem.probability.push_back(static_cast<float>(foreground));
  }
  return problem;
}

} // namespace

TEST(DenseCRFImageFilter, RestrictingToTheUncertainRegionKeepsTheResult)
{
  const auto problem = ConfidentBackgroundBall();
  const auto ct = MakeCT(problem);
  const auto probabilities = MakeProbabilities(problem, ct.GetPointer());
  auto       run = [&](bool restrict) {
    auto filter = Filter<3>::New();
    filter->SetInput(ct);
    filter->SetProbabilityImage(probabilities);
    filter->SetRestrictToUncertainRegion(restrict);
    filter->Update();
    return filter;
  };
  const auto whole = run(false);
  const auto restricted = run(true);
  EXPECT_EQ(whole->GetIteratedRegion(), ct->GetLargestPossibleRegion());

  // The box of the uncertain voxels (r < 11 mm around (20, 25, 30) mm) grown by 3 thetaAlpha = 15 mm.
  const auto & region = restricted->GetIteratedRegion();
  std::cout << "iterated region " << region.GetIndex() << " " << region.GetSize() << " of "
            << ct->GetLargestPossibleRegion().GetSize() << std::endl;
  const double low[3] = { 20.0 - 11.0 - 15.0, 25.0 - 11.0 - 15.0, 30.0 - 11.0 - 15.0 };
  const double high[3] = { 20.0 + 11.0 + 15.0, 25.0 + 11.0 + 15.0, 30.0 + 11.0 + 15.0 };
  for (unsigned int d = 0; d < 3; ++d)
  {
    const auto first = std::max<long>(0, static_cast<long>(std::floor(low[d] / problem.spacing[d])));
    const auto last = std::min<long>(problem.size[d] - 1, static_cast<long>(std::ceil(high[d] / problem.spacing[d])));
    EXPECT_NEAR(region.GetIndex(d) - ct->GetLargestPossibleRegion().GetIndex(d), first, 2) << d;
    EXPECT_NEAR(region.GetIndex(d) + static_cast<long>(region.GetSize(d)) - 1 -
                  ct->GetLargestPossibleRegion().GetIndex(d),
                last,
                2)
      << d;
  }
  EXPECT_LT(region.GetNumberOfPixels(), ct->GetLargestPossibleRegion().GetNumberOfPixels() / 4);

  // The same labels everywhere; the same probabilities away from the box's border; outside the box the input's.
  const std::size_t N = problem.NumberOfPixels();
  const auto *      a = whole->GetOutput()->GetBufferPointer();
  const auto *      b = restricted->GetOutput()->GetBufferPointer();
  EXPECT_TRUE(std::equal(a, a + N, b));
  const float * qa = whole->GetProbabilityOutput()->GetBufferPointer();
  const float * qb = restricted->GetProbabilityOutput()->GetBufferPointer();
  double        largestInside = 0.0;
  for (std::size_t i = 0; i < N; ++i)
  {
    const auto    p = problem.Position(i);
    const double  r = std::sqrt(std::pow(p[0] - 20.0, 2) + std::pow(p[1] - 25.0, 2) + std::pow(p[2] - 30.0, 2));
    itk::Index<3> index;
    std::size_t   rest = i;
    for (unsigned int d = 0; d < 3; ++d)
    {
      index[d] = ct->GetLargestPossibleRegion().GetIndex(d) + static_cast<long>(rest % problem.size[d]);
      rest /= problem.size[d];
    }
    if (r < 11.0)
    {
      largestInside = std::max<double>(largestInside, std::abs(qa[2 * i + 1] - qb[2 * i + 1]));
    }
    if (!region.IsInside(index))
    {
      EXPECT_NEAR(qb[2 * i + 1], problem.probability[2 * i + 1], 1.0e-6);
    }
  }
  std::cout << "largest difference of the foreground probability where it is uncertain: " << largestInside << std::endl;
  EXPECT_LT(largestInside, 0.03);
  EXPECT_GT(Dice(problem.truth, std::vector<int>(b, b + N), 1), 0.9);

  // Certain background everywhere: nothing to iterate on, the input's argmax.
  auto certain = problem;
  for (std::size_t i = 0; i < N; ++i)
  {
    certain.probability[2 * i] = 1.0f - 1.0e-5f;
    certain.probability[2 * i + 1] = 1.0e-5f;
  }
  auto filter = Filter<3>::New();
  filter->SetInput(ct);
  filter->SetProbabilityImage(MakeProbabilities(certain, ct.GetPointer()));
  filter->Update();
  EXPECT_EQ(filter->GetIteratedRegion().GetNumberOfPixels(), 0u);
  EXPECT_EQ(filter->GetNumberOfLatticePoints(), 0u);
  const auto * labels = filter->GetOutput()->GetBufferPointer();
  EXPECT_EQ(std::count(labels, labels + N, 0), static_cast<long>(N));

  // Without the symmetric normalisation messages are not bounded by the weights: the whole image.
  auto unnormalised = Filter<3>::New();
  unnormalised->SetInput(ct);
  unnormalised->SetProbabilityImage(probabilities);
  unnormalised->SetNormalization(torchseg::DenseCRFNormalization::None);
  unnormalised->SetAppearanceWeight(0.01);
  unnormalised->SetSmoothnessWeight(0.01);
  unnormalised->Update();
  EXPECT_EQ(unnormalised->GetIteratedRegion(), ct->GetLargestPossibleRegion());
}
