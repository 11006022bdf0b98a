#ifndef torchsegPermutohedralLattice_h
#define torchsegPermutohedralLattice_h

#include "torchsegDefaultInitAllocator.h"

#include "itkMultiThreaderBase.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace torchseg
{

/** \class PermutohedralLattice
 * \brief Gaussian filtering of values attached to points in a VFeatureDimension-dimensional feature space, in time
 * linear in the number of points (Adams, Baek and Davis, "Fast high-dimensional filtering using the permutohedral
 * lattice", Eurographics 2010).
 *
 * Filter() computes, for every point i, out_i = sum_j k(f_i, f_j) in_j with the unit Gaussian
 * k(f, g) = exp(-|f - g|^2 / 2): the features are given already divided by the kernel's standard deviation in
 * each dimension. The features are embedded in the hyperplane x.1 = 0 of R^(d+1), scaled so that the lattice blur
 * has unit standard deviation; each point is splatted onto the d+1 vertices of the lattice simplex enclosing it with
 * its barycentric weights, the lattice is blurred with [1/2 1 1/2] along each of its d+1 directions, and the result
 * is read back (sliced) with the same weights. The vertices live in a hash table, so the cost is
 * O(N (d+1) + M (d+1)) per value for N points and M occupied vertices (M is much smaller than N when the kernel is
 * wide compared with the spacing of the points). The vertex set also holds the neighbours of the enclosing simplices'
 * vertices, so that blur paths leaving them and coming back keep their mass.
 *
 * The lattice kernel only approximates the Gaussian. Its overall gain is fixed analytically so that the integral of
 * the lattice kernel equals that of the Gaussian, (2 pi)^(d/2): filtering a uniform density of points gives the
 * exact Gaussian sum (up to the discretisation of the density), which the tests check.
 *
 * Initialize() embeds the points once (in parallel: each work unit builds a hash table of the vertices of its own
 * contiguous range of points, and the tables are merged); each Filter() call then costs two passes over the stored
 * vertex indices and weights plus a blur of the M vertices, on the same work units. The barycentric weights are
 * stored in 16 bits (steps of 1/65535, summing to exactly 1); the vertex values and scratch arrays are kept between
 * Filter() calls (one call at a time).
 *
 * Instantiated for feature dimensions 1 to 5.
 * \ingroup TorchSegDenseCRF
 */
template <unsigned int VFeatureDimension>
class PermutohedralLattice
{
public:
  static constexpr unsigned int FeatureDimension = VFeatureDimension;
  /** The vertices of the simplex enclosing a point: d + 1. */
  static constexpr unsigned int VerticesPerPoint = VFeatureDimension + 1;

  /** Writes the features of the points [first, first + count) to \a features (count x FeatureDimension, point after
   * point), divided by the kernel's standard deviation. Called concurrently for disjoint ranges. */
  using FeatureFunctionType = std::function<void(std::size_t first, std::size_t count, float * features)>;

  PermutohedralLattice() = default;

  /** Embeds \a numberOfPoints points, in parallel on \a threader's work units (one work unit when null). Throws
   * itk::ExceptionObject when a feature is not finite or too large for the lattice's integer coordinates. */
  void
  Initialize(std::size_t numberOfPoints, const FeatureFunctionType & features, itk::MultiThreaderBase * threader);

  /** For every point i: output_i = weight * (sum_j k(f_i, f_j) input_j - (excludeSelf ? input_i : 0)), added to
   * output_i when \a accumulate. \a input and \a output hold numberOfPoints x numberOfValues interleaved values and
   * must not overlap; a null \a input stands for values that are all 1. With excludeSelf the sum is the one over j != i
   * (the self term of the Gaussian is 1). With \a pointScale (one factor s_i per point) the kernel is scaled
   * symmetrically, s_i k(f_i, f_j) s_j: the symmetric normalisation of a CRF kernel when s_i = (sum_j k(f_i,
   * f_j))^(-1/2). */
  void
  Filter(const float * input, float * output, unsigned int numberOfValues, float weight = 1.0f,
         bool excludeSelf = false, bool accumulate = false, const float * pointScale = nullptr) const;

  std::size_t
  GetNumberOfPoints() const
  {
    return m_NumberOfPoints;
  }

  /** The lattice vertices M: those of the simplices enclosing the points, and their neighbours along the lattice
   * directions (blur paths leaving the enclosing simplices and coming back keep their mass). */
  std::size_t
  GetNumberOfLatticePoints() const
  {
    return m_NumberOfLatticePoints;
  }

  /** The vertices of the simplices enclosing the points. */
  std::size_t
  GetNumberOfOccupiedLatticePoints() const
  {
    return m_NumberOfOccupiedLatticePoints;
  }

  /** The gain applied to the sliced values so that the lattice kernel integrates to (2 pi)^(d/2). */
  static double
  GetKernelGain();

  /** Bytes held between Filter() calls. */
  std::size_t
  GetMemorySize() const;

private:
  /** A contiguous range of points with its own vertex numbering. */
  struct Chunk
  {
    std::size_t                first = 0;
    std::size_t                count = 0;
    std::size_t                localBase = 0; // where its vertex values start in the concatenated local arrays
    crf::LargeVector<uint32_t> localToGlobal;
  };

  std::size_t                     m_NumberOfPoints = 0;
  std::size_t                     m_NumberOfLatticePoints = 0;
  std::size_t                     m_NumberOfOccupiedLatticePoints = 0;
  crf::LargeVector<uint32_t>      m_Offsets;    // point-major, VerticesPerPoint chunk-local vertex indices
  crf::LargeVector<uint16_t>      m_Weights;    // point-major, VerticesPerPoint barycentric weights * 65535
  crf::LargeVector<uint32_t>      m_Neighbours; // per direction, per vertex: (minus, plus), global index + 1
  std::vector<Chunk>              m_Chunks;
  crf::LargeVector<uint32_t>      m_CopyStart; // per vertex: where its local copies start in m_Copies
  crf::LargeVector<uint32_t>      m_Copies;    // positions of the local copies in the concatenated local arrays
  itk::MultiThreaderBase::Pointer m_Threader;
  // Filter()'s vertex values, kept between calls (their pages are then written once).
  mutable crf::LargeVector<float> m_LocalValues; // the chunks' vertex values, concatenated
  mutable crf::LargeVector<float> m_Values;
  mutable crf::LargeVector<float> m_Blurred;
};

} // namespace torchseg

#endif
