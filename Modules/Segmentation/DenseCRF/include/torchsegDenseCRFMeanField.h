#ifndef torchsegDenseCRFMeanField_h
#define torchsegDenseCRFMeanField_h

#include "itkMultiThreaderBase.h"

#include <chrono>
#include <cstddef>
#include <functional>
#include <ostream>
#include <vector>

namespace torchseg
{

/** How the Gaussian kernels of the CRF are scaled. \ingroup TorchSegDenseCRF */
enum class DenseCRFNormalization
{
  /** k_ij as it is: the energy of Kraehenbuehl and Koltun (NIPS 2011) as written. The messages are sums over the
   * kernel's reach: in 3D, thousands of voxels for thetaAlpha = 10 mm, so w1 and w2 must shrink with the voxel size. */
  None,
  /** k_ij / sqrt(N_i N_j) with N_i = sum_j k_ij: the default of Kraehenbuehl's later code (densecrf 2.x,
   * NORMALIZE_SYMMETRIC), which pydensecrf and DeepLab-style pipelines run. The messages are weighted averages of
   * the neighbours' probabilities, so w1 and w2 are on the scale of the unary whatever the spacing and dimension. */
  Symmetric
};

std::ostream &
operator<<(std::ostream & os, DenseCRFNormalization normalization);

/** \brief The parameters of the fully connected CRF (Kraehenbuehl and Koltun 2011), in physical units.
 *
 * Pairwise Potts potential between every pair of voxels i != j:
 * w1 k_alpha(i, j) + w2 k_gamma(i, j) when their labels differ, with the kernels
 * k_alpha = exp(-|p_i - p_j|^2 / (2 thetaAlpha^2) - (I_i - I_j)^2 / (2 thetaBeta^2)) and
 * k_gamma = exp(-|p_i - p_j|^2 / (2 thetaGamma^2)), each normalised as Normalization says; p is the position in mm
 * and I the intensity in the image's units (Hounsfield units for CT). Unary potential
 * -log(max(probability, MinimumProbability)).
 * \ingroup TorchSegDenseCRF
 */
struct DenseCRFParameters
{
  /** w1, the weight of the appearance (bilateral) kernel. */
  double AppearanceWeight = 4.0;
  /** theta_alpha, the spatial standard deviation of the appearance kernel, in mm. */
  double AppearanceSpatialSigma = 5.0;
  /** theta_beta, the intensity standard deviation of the appearance kernel, in intensity units (HU). */
  double AppearanceIntensitySigma = 12.0;
  /** w2, the weight of the smoothness kernel. */
  double SmoothnessWeight = 3.0;
  /** theta_gamma, the standard deviation of the smoothness kernel, in mm. */
  double SmoothnessSigma = 1.0;
  /** Mean-field iterations (5 as in DeepLab). */
  unsigned int NumberOfIterations = 5;
  /** Probabilities are clamped to at least this before the logarithm of the unary potential. */
  double MinimumProbability = 1.0e-5;
  /** Per-voxel probability sums further than this from 1 are refused; closer ones are normalised. */
  double ProbabilitySumTolerance = 1.0e-2;
  /** The separable smoothness kernel is truncated at this many standard deviations. */
  double SmoothnessTruncation = 4.0;
  /** How both kernels are scaled (Symmetric by default). */
  DenseCRFNormalization Normalization = DenseCRFNormalization::Symmetric;
  /** Run the iterations only on the bounding box of the voxels that are not certain background, grown by the
   * kernels' reach (3 thetaAlpha, SmoothnessTruncation thetaGamma); elsewhere Q = P. A voxel is certain background
   * when its background probability (component 0) exceeds every other class's by a factor exp(w1 + w2): with the
   * symmetric normalisation messages are weighted averages of Q, so no message can outweigh that unary, and every
   * voxel outside the box has only such voxels within the kernels' reach. Only with the symmetric normalisation. */
  bool RestrictToUncertainRegion = true;
};

std::ostream &
operator<<(std::ostream & os, const DenseCRFParameters & parameters);

/** \class DenseCRFMeanField
 * \brief Mean-field inference of the fully connected CRF on raw interleaved buffers of a 1D to 4D grid.
 *
 * The engine behind DenseCRFImageFilter, free of image types so that it is compiled once. Each iteration computes,
 * for each class l, the messages Qtilde_i(l) = sum_m w_m sum_{j != i} k_m(i, j) Q_j(l) and sets
 * Q_i(l) proportional to exp(log P_i(l) + Qtilde_i(l)) (the Potts compatibility makes the term of the other labels a
 * constant per voxel, which the normalisation removes). The appearance kernel (positions and intensity) is filtered
 * on a PermutohedralLattice built once; the smoothness kernel, a Gaussian of the position alone, is separable and is
 * filtered exactly by three 1D convolutions (truncated at SmoothnessTruncation standard deviations), faster and more
 * accurate than a lattice for the narrow widths it has. Positions are index * spacing: distances in mm, whatever the
 * direction cosines (they are orthonormal).
 * \ingroup TorchSegDenseCRF
 */
class DenseCRFMeanField
{
public:
  /** Writes the intensities of the voxels [first, first + count) (linear indices, x fastest) to \a intensities. */
  using IntensityFunctionType = std::function<void(std::size_t first, std::size_t count, float * intensities)>;
  /** Called with the progress in [0, 1] between steps; returning false aborts (Run() then returns false). */
  using ProgressFunctionType = std::function<bool(double)>;

  /** \a size and \a spacing (mm) per dimension, x first; 1 to 4 dimensions. */
  DenseCRFMeanField(std::vector<std::size_t> size, std::vector<double> spacing, unsigned int numberOfClasses,
                    itk::MultiThreaderBase * threader);

  /** Refines \a probabilities (voxel-major, numberOfClasses per voxel) into \a refined (same layout; may be the same
   * buffer). Throws itk::ExceptionObject naming the voxel when a probability is negative or not finite, or when
   * the probabilities of a voxel do not sum to 1 within the tolerance. Returns false when aborted. */
  bool
  Run(const float * probabilities, const IntensityFunctionType & intensity, const DenseCRFParameters & parameters,
      float * refined, const ProgressFunctionType & progress = {}) const;

  /** Checks the parameters; throws itk::ExceptionObject naming the one at fault. */
  static void
  VerifyParameters(const DenseCRFParameters & parameters);

  /** The number of vertices of the last appearance lattice (0 before Run()). */
  std::size_t
  GetNumberOfLatticePoints() const
  {
    return m_NumberOfLatticePoints;
  }

  /** Seconds spent by the last Run(): embedding the lattice, and the mean-field iterations. */
  double
  GetLatticeSeconds() const
  {
    return m_LatticeSeconds;
  }
  double
  GetIterationSeconds() const
  {
    return m_IterationSeconds;
  }

  /** The box the last Run() iterated on (see DenseCRFParameters::RestrictToUncertainRegion): its first index and size
   * per dimension; the whole grid without restriction, a size of 0 when every voxel was certain background. */
  const std::vector<std::size_t> &
  GetRegionIndex() const
  {
    return m_RegionIndex;
  }
  const std::vector<std::size_t> &
  GetRegionSize() const
  {
    return m_RegionSize;
  }

private:
  /** Sets the region from the initial Q (the clamped, normalised P); false when every voxel is certain background. */
  bool
  FindRegion(const float * q, const DenseCRFParameters & parameters) const;

  /** Builds the lattice and runs the iterations on a grid of \a size (the spacing is the engine's). */
  bool
  Iterate(const std::vector<std::size_t> & size, const float * probabilities, const IntensityFunctionType & intensity,
          const DenseCRFParameters & parameters, float * q, std::chrono::steady_clock::time_point start,
          const std::function<bool(double)> & report) const;

  std::vector<std::size_t>         m_Size;
  std::vector<double>              m_Spacing;
  std::size_t                      m_NumberOfPixels = 0;
  unsigned int                     m_NumberOfClasses = 0;
  itk::MultiThreaderBase::Pointer  m_Threader;
  mutable std::size_t              m_NumberOfLatticePoints = 0;
  mutable double                   m_LatticeSeconds = 0.0;
  mutable double                   m_IterationSeconds = 0.0;
  mutable std::vector<std::size_t> m_RegionIndex;
  mutable std::vector<std::size_t> m_RegionSize;
};

/** output_i = weight * (sum_j k_ij input_j - (excludeSelf ? k_ii input_i : 0)) on a grid of interleaved
 * \a numberOfComponents-vectors (x fastest), with k_ij = exp(-|p_i - p_j|^2 / (2 sigma^2)), p = index * spacing in mm,
 * j over the grid's voxels; with \a normalise, k_ij / sqrt(N_i N_j) with N_i = sum_j k_ij (symmetric normalisation).
 * One 1D pass per axis (the Gaussian, its row sums and the normalisation are separable), truncated at \a truncation
 * standard deviations (the kernel is 1 at the centre). \a input and \a output must not overlap. Parallel on
 * \a threader's work units (one when null). \ingroup TorchSegDenseCRF */
void
GaussianFilterGrid(const float * input, float * output, const std::vector<std::size_t> & size,
                   const std::vector<double> & spacing, unsigned int numberOfComponents, double sigma,
                   double truncation, itk::MultiThreaderBase * threader, float weight = 1.0f, bool excludeSelf = false,
                   bool normalise = false);

/** exp(x) for x <= 0 in single precision (relative error below 3e-7; arguments below -87 are taken as -87), written so
 * that the compiler vectorises loops over it. \ingroup TorchSegDenseCRF */
void
ExpNonPositiveInPlace(float * values, std::size_t count);

} // namespace torchseg

#endif
