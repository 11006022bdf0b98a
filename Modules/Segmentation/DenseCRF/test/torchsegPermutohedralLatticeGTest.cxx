// The building blocks of the dense CRF against exact sums: the permutohedral lattice, the separable Gaussian on a
// grid, the vectorisable exponential.
#include "torchsegDenseCRFMeanField.h"
#include "torchsegPermutohedralLattice.h"

#include "itkMultiThreaderBase.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

namespace
{

/** Points of a regular grid of \a half * 2 + 1 points per dimension with spacing \a step (in kernel units). */
template <unsigned int d>
std::vector<float>
GridFeatures(double step, int half)
{
  std::vector<float> f;
  std::vector<int>   index(d, -half);
  while (true)
  {
    for (unsigned int k = 0; k < d; ++k)
    {
      f.push_back(static_cast<float>(index[k] * step));
    }
    unsigned int k = 0;
    while (k < d && ++index[k] > half)
    {
      index[k] = -half;
      ++k;
    }
    if (k == d)
    {
      return f;
    }
  }
}

template <unsigned int d>
void
Initialize(torchseg::PermutohedralLattice<d> & lattice, const std::vector<float> & features,
           itk::MultiThreaderBase * threader = nullptr)
{
  lattice.Initialize(
    features.size() / d,
    [&](std::size_t first, std::size_t count, float * out) { std::copy_n(&features[first * d], count * d, out); },
    threader);
}

/** sum_j exp(-|f_i - f_j|^2 / 2) input_j (j != i when excludeSelf), in double. */
template <unsigned int d>
double
ExactSum(const std::vector<float> & f, const std::vector<float> & input, std::size_t i, bool excludeSelf = false)
{
  double sum = 0.0;
  for (std::size_t j = 0; j < input.size(); ++j)
  {
    if (excludeSelf && j == i)
    {
      continue;
    }
    double r2 = 0.0;
    for (unsigned int k = 0; k < d; ++k)
    {
      const double t = f[i * d + k] - f[j * d + k];
      r2 += t * t;
    }
    sum += std::exp(-0.5 * r2) * input[j];
  }
  return sum;
}

/** A uniform density of points: the lattice's Gaussian sums at the centre must be those of the Gaussian. */
template <unsigned int d>
double
LargestUniformDensityError(double step, int half)
{
  const std::vector<float>          f = GridFeatures<d>(step, half);
  const std::size_t                 N = f.size() / d;
  torchseg::PermutohedralLattice<d> lattice;
  Initialize(lattice, f);
  std::vector<float> ones(N, 1.0f);
  std::vector<float> out(N);
  lattice.Filter(ones.data(), out.data(), 1);
  double largest = 0.0;
  for (std::size_t i = 0; i < N; ++i)
  {
    bool central = true;
    for (unsigned int k = 0; k < d; ++k)
    {
      central = central && std::abs(f[i * d + k]) <= 1.0f;
    }
    if (central)
    {
      largest = std::max(largest, std::abs(out[i] / ExactSum<d>(f, ones, i) - 1.0));
    }
  }
  return largest;
}

/** Image-like features: a 2D grid (spacing 1, kernel width thetaAlpha) with an intensity (a disc of +60 over 0, noise
 * 10, kernel width thetaBeta), as the CRF's appearance kernel sees a CT slice. */
std::vector<float>
ImageFeatures(int size, double thetaAlpha, double thetaBeta, unsigned int seed)
{
  std::mt19937                     random(seed);
  std::normal_distribution<double> noise(0.0, 10.0);
  std::vector<float>               f;
  for (int y = 0; y < size; ++y)
  {
    for (int x = 0; x < size; ++x)
    {
      const double r = std::hypot(x - size / 2.0, y - size / 2.0);
      f.push_back(static_cast<float>(x / thetaAlpha));
      f.push_back(static_cast<float>(y / thetaAlpha));
      f.push_back(static_cast<float>(((r < size / 4.0 ? 60.0 : 0.0) + noise(random)) / thetaBeta));
    }
  }
  return f;
}

} // namespace

TEST(PermutohedralLattice, UniformDensityGivesTheGaussianSum)
{
  // The analytic gain makes the lattice kernel integrate to (2 pi)^(d/2); without it (the 1 / (1 + 2^-d) of the
  // reference implementation) the sums would be 8 % (d = 1) to 23 % (d = 4) low. Measured errors: below 0.1 % for
  // d <= 2, about 1 % for d = 3 and 4 (the density is coarser there).
  EXPECT_LT(LargestUniformDensityError<1>(0.1, 80), 0.005);
  EXPECT_LT(LargestUniformDensityError<2>(0.25, 24), 0.005);
  EXPECT_LT(LargestUniformDensityError<3>(0.4, 12), 0.02);
  EXPECT_LT(LargestUniformDensityError<4>(0.5, 8), 0.03);
}

TEST(PermutohedralLattice, FilteringIsLinearAndAConstantStaysProportional)
{
  const std::vector<float>          f = ImageFeatures(24, 4.0, 15.0, 1);
  const std::size_t                 N = f.size() / 3;
  torchseg::PermutohedralLattice<3> lattice;
  Initialize(lattice, f);
  // Three values per point: 1, the constant 2.5 and a random field r; then r alone.
  std::mt19937                          random(5);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  std::vector<float>                    input(3 * N);
  std::vector<float>                    field(N);
  for (std::size_t i = 0; i < N; ++i)
  {
    field[i] = uniform(random);
    input[3 * i] = 1.0f;
    input[3 * i + 1] = 2.5f;
    input[3 * i + 2] = field[i];
  }
  std::vector<float> out(3 * N);
  std::vector<float> alone(N);
  lattice.Filter(input.data(), out.data(), 3);
  lattice.Filter(field.data(), alone.data(), 1);
  for (std::size_t i = 0; i < N; ++i)
  {
    ASSERT_GT(out[3 * i], 0.0f);
    // Filtering a constant gives the constant times the filtered ones (the normalised filter returns the constant).
    EXPECT_NEAR(out[3 * i + 1] / out[3 * i], 2.5f, 2.5e-6f);
    EXPECT_NEAR(out[3 * i + 2], alone[i], 1.0e-5f * out[3 * i]);
  }
}

TEST(PermutohedralLattice, MatchesExactGaussianSumsOnImageFeatures)
{
  // Relative RMS errors measured: 3.0 % (thetaAlpha 5, thetaBeta 10) and 2.5 % (3, 5); the kernel of the lattice is
  // a little sharper than the Gaussian (variance 0.88 instead of 1 per dimension).
  for (const auto & widths : { std::array<double, 2>{ { 5.0, 10.0 } }, std::array<double, 2>{ { 3.0, 5.0 } } })
  {
    const std::vector<float>          f = ImageFeatures(40, widths[0], widths[1], 2);
    const std::size_t                 N = f.size() / 3;
    torchseg::PermutohedralLattice<3> lattice;
    Initialize(lattice, f);
    std::mt19937                          random(9);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    std::vector<float>                    q(N);
    std::generate(q.begin(), q.end(), [&] { return uniform(random); });
    std::vector<float> out(N);
    lattice.Filter(q.data(), out.data(), 1, 1.0f, true);
    double error = 0.0;
    double reference = 0.0;
    for (std::size_t i = 0; i < N; i += 3)
    {
      const double exact = ExactSum<3>(f, q, i, true);
      error += (out[i] - exact) * (out[i] - exact);
      reference += exact * exact;
    }
    const double relative = std::sqrt(error / reference);
    std::cout << "thetaAlpha " << widths[0] << ", thetaBeta " << widths[1] << ": " << lattice.GetNumberOfLatticePoints()
              << " vertices for " << N << " points, relative RMS error " << relative << std::endl;
    EXPECT_LT(relative, 0.05);
  }
}

TEST(PermutohedralLattice, WeightSelfExclusionAndAccumulation)
{
  const std::vector<float>          f = ImageFeatures(16, 3.0, 10.0, 3);
  const std::size_t                 N = f.size() / 3;
  torchseg::PermutohedralLattice<3> lattice;
  Initialize(lattice, f);
  std::vector<float> in(2 * N);
  for (std::size_t k = 0; k < in.size(); ++k)
  {
    in[k] = static_cast<float>((k * 7919) % 13) / 13.0f;
  }
  std::vector<float> plain(2 * N);
  std::vector<float> weighted(2 * N);
  std::vector<float> accumulated(2 * N, 1.0f);
  lattice.Filter(in.data(), plain.data(), 2);
  lattice.Filter(in.data(), weighted.data(), 2, 0.5f, true);
  lattice.Filter(in.data(), accumulated.data(), 2, 0.5f, true, true);
  for (std::size_t k = 0; k < in.size(); ++k)
  {
    EXPECT_NEAR(weighted[k], 0.5f * (plain[k] - in[k]), 1.0e-5f * plain[k]);
    EXPECT_NEAR(accumulated[k], 1.0f + weighted[k], 1.0e-5f * plain[k]);
  }
}

TEST(PermutohedralLattice, PointScaleScalesTheKernelSymmetrically)
{
  const std::vector<float>          f = ImageFeatures(16, 3.0, 10.0, 6);
  const std::size_t                 N = f.size() / 3;
  torchseg::PermutohedralLattice<3> lattice;
  Initialize(lattice, f);
  std::vector<float> in(2 * N);
  std::vector<float> scale(N);
  std::vector<float> scaledIn(2 * N);
  for (std::size_t i = 0; i < N; ++i)
  {
    scale[i] = 0.2f + static_cast<float>(i % 7) / 7.0f;
    for (unsigned int c = 0; c < 2; ++c)
    {
      in[2 * i + c] = static_cast<float>((i * 31 + c * 17) % 11) / 11.0f;
      scaledIn[2 * i + c] = scale[i] * in[2 * i + c];
    }
  }
  // s_i (sum_j k_ij s_j in_j - s_i in_i) computed by the lattice, against the same from scaled input and output.
  std::vector<float> out(2 * N);
  std::vector<float> plain(2 * N);
  lattice.Filter(in.data(), out.data(), 2, 0.7f, true, false, scale.data());
  lattice.Filter(scaledIn.data(), plain.data(), 2, 0.7f, true);
  for (std::size_t i = 0; i < N; ++i)
  {
    for (unsigned int c = 0; c < 2; ++c)
    {
      EXPECT_NEAR(out[2 * i + c], scale[i] * plain[2 * i + c], 1.0e-5f * std::abs(plain[2 * i + c]) + 1.0e-6f);
    }
  }
}

TEST(PermutohedralLattice, WorkUnitsDoNotChangeTheResult)
{
  const std::vector<float> f = ImageFeatures(96, 4.0, 15.0, 4); // 9216 points: two chunks and more
  const std::size_t        N = f.size() / 3;
  std::vector<float>       q(N);
  for (std::size_t i = 0; i < N; ++i)
  {
    q[i] = static_cast<float>(i % 17) / 17.0f;
  }
  torchseg::PermutohedralLattice<3> serial;
  Initialize(serial, f);
  std::vector<float> expected(N);
  serial.Filter(q.data(), expected.data(), 1);
  auto threader = itk::MultiThreaderBase::New();
  threader->SetNumberOfWorkUnits(3);
  torchseg::PermutohedralLattice<3> parallel;
  Initialize(parallel, f, threader);
  EXPECT_EQ(parallel.GetNumberOfLatticePoints(), serial.GetNumberOfLatticePoints());
  std::vector<float> out(N);
  parallel.Filter(q.data(), out.data(), 1);
  for (std::size_t i = 0; i < N; ++i)
  {
    EXPECT_NEAR(out[i], expected[i], 1.0e-5f * expected[i]);
  }
}

TEST(PermutohedralLattice, NonFiniteFeaturesAreRefusedNamingThePoint)
{
  std::vector<float> f = GridFeatures<2>(0.5, 3);
  f[2 * 10 + 1] = std::numeric_limits<float>::quiet_NaN();
  torchseg::PermutohedralLattice<2> lattice;
  try
  {
    Initialize(lattice, f);
    ADD_FAILURE() << "no exception";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find("point 10 "), std::string::npos) << e.GetDescription();
  }
}

TEST(GaussianFilterGrid, EqualsTheExactSumWithPhysicalDistances)
{
  // Anisotropic 3D grids with two components: the separable passes equal the sum over all voxels of
  // exp(-|p - q|^2 / (2 sigma^2)) with p = index * spacing, up to the truncation at 4 sigma (3.4e-4 relative at most).
  // The second grid has lines of more than 256 values across (blocks of different widths).
  for (const std::vector<std::size_t> & size :
       { std::vector<std::size_t>{ 9, 7, 6 }, std::vector<std::size_t>{ 150, 4, 5 } })
  {
    const std::vector<double> spacing{ 0.7, 1.0, 1.9 };
    const double              sigma = 1.3;
    const std::size_t         N = size[0] * size[1] * size[2];
    std::vector<float>        input(2 * N);
    for (std::size_t k = 0; k < input.size(); ++k)
    {
      input[k] = static_cast<float>((k * 104729) % 101) / 101.0f;
    }
    auto               threader = itk::MultiThreaderBase::New();
    std::vector<float> data(2 * N);
    torchseg::GaussianFilterGrid(input.data(), data.data(), size, spacing, 2, sigma, 4.0, threader);
    std::vector<float> excluded(data.size());
    torchseg::GaussianFilterGrid(input.data(), excluded.data(), size, spacing, 2, sigma, 4.0, threader, 0.5f, true);
    std::vector<float> normalisedOut(data.size());
    torchseg::GaussianFilterGrid(
      input.data(), normalisedOut.data(), size, spacing, 2, sigma, 4.0, threader, 0.5f, true, true);
    auto Kernel = [&](std::size_t i, std::size_t j) {
      const double dx = (double(i % size[0]) - double(j % size[0])) * spacing[0];
      const double dy = (double(i / size[0] % size[1]) - double(j / size[0] % size[1])) * spacing[1];
      const double dz = (double(i / (size[0] * size[1])) - double(j / (size[0] * size[1]))) * spacing[2];
      const double r2 = dx * dx + dy * dy + dz * dz;
      return r2 < 100.0 * sigma * sigma ? std::exp(-r2 / (2 * sigma * sigma)) : 0.0;
    };
    std::vector<double> rowSums(N, 0.0);
    for (std::size_t i = 0; i < N; ++i)
    {
      for (std::size_t j = 0; j < N; ++j)
      {
        rowSums[i] += Kernel(i, j);
      }
    }
    double largest = 0.0;
    for (std::size_t i = 0; i < N; ++i)
    {
      const double xi = double(i % size[0]), yi = double(i / size[0] % size[1]), zi = double(i / (size[0] * size[1]));
      for (unsigned int c = 0; c < 2; ++c)
      {
        double exact = 0.0;
        for (std::size_t j = 0; j < N; ++j)
        {
          const double dx = (xi - double(j % size[0])) * spacing[0];
          const double dy = (yi - double(j / size[0] % size[1])) * spacing[1];
          const double dz = (zi - double(j / (size[0] * size[1]))) * spacing[2];
          const double r2 = dx * dx + dy * dy + dz * dz;
          if (r2 < 100.0 * sigma * sigma)
          {
            exact += std::exp(-r2 / (2 * sigma * sigma)) * input[2 * j + c];
          }
        }
        largest = std::max(largest, std::abs(data[2 * i + c] - exact) / exact);
        EXPECT_NEAR(excluded[2 * i + c], 0.5 * (exact - input[2 * i + c]), 4.0e-4 * exact);
        // Symmetric normalisation: sum_j k_ij in_j / sqrt(N_i N_j) - in_i / N_i, N = the sums of k.
        double normalised = 0.0;
        for (std::size_t j = 0; j < N; ++j)
        {
          normalised += Kernel(i, j) * input[2 * j + c] / std::sqrt(rowSums[i] * rowSums[j]);
        }
        normalised -= input[2 * i + c] / rowSums[i];
        EXPECT_NEAR(normalisedOut[2 * i + c], 0.5 * normalised, 4.0e-4 * std::abs(normalised) + 1.0e-6);
      }
    }
    EXPECT_LT(largest, 4.0e-4) << size[0];
  }
}

TEST(ExpNonPositive, MatchesTheStandardExponential)
{
  std::vector<float> x;
  for (float v = 0.0f; v > -87.0f; v -= 0.0137f)
  {
    x.push_back(v);
  }
  std::vector<float> y = x;
  torchseg::ExpNonPositiveInPlace(y.data(), y.size());
  double largest = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i)
  {
    const double exact = std::exp(static_cast<double>(x[i]));
    largest = std::max(largest, std::abs(y[i] - exact) / exact);
  }
  EXPECT_LT(largest, 3.0e-7);
  float floor = -1000.0f;
  torchseg::ExpNonPositiveInPlace(&floor, 1);
  EXPECT_GE(floor, 0.0f);
  EXPECT_LT(floor, 1.0e-37f);
}
