#ifndef torchsegMaskSurfaceDistance_h
#define torchsegMaskSurfaceDistance_h

#include "torchsegEvaluationMeasures.h"

#include "itkMultiThreaderBase.h"

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

namespace torchseg
{

/** \brief Two binary masks (reference and prediction) on the same box of voxels, x fastest: the input of
 * ComputeMaskSurfaceDistances(). A 2D image is a box with size[2] == 1 and dimension 2.
 * \ingroup TorchSegMetrics
 */
struct BinaryMaskPair
{
  unsigned int               dimension = 3;
  std::array<std::size_t, 3> size{ { 0, 0, 0 } };
  std::array<double, 3>      spacing{ { 1.0, 1.0, 1.0 } };
  std::vector<std::uint8_t>  reference;  //!< 1 inside T_L, 0 outside
  std::vector<std::uint8_t>  prediction; //!< 1 inside S_L, 0 outside

  std::size_t
  GetNumberOfVoxels() const
  {
    return size[0] * size[1] * size[2];
  }
};

/** Marks the surface voxels of \a mask: voxels inside with at least one face neighbour (6 in 3D, 4 in 2D) outside;
 * outside the box counts as outside. Returns the number of surface voxels. */
std::size_t
ComputeMaskSurface(const std::uint8_t * mask, const std::array<std::size_t, 3> & size, unsigned int dimension,
                   std::uint8_t * surface, itk::MultiThreaderBase * threader = nullptr);

/** The exact squared Euclidean distance (mm^2) from every voxel of the box to the nearest voxel where \a features
 * is non-zero, voxel centres, with anisotropic spacing (Felzenszwalb & Huttenlocher's separable lower envelope of
 * parabolas); +infinity everywhere when there are no features. \a squaredDistance has one value per voxel. */
void
ComputeSquaredDistanceTransform(const std::uint8_t * features, const std::array<std::size_t, 3> & size,
                                const std::array<double, 3> & spacing, double * squaredDistance,
                                itk::MultiThreaderBase * threader = nullptr);

/** Called between the steps of ComputeMaskSurfaceDistances() with the fraction of its work done; may throw (e.g.
 * itk::ProcessAborted) to stop it. */
using SurfaceDistanceProgress = std::function<void(double)>;

/** The surface-distance measures between the reference and the prediction masks of \a masks: HD, the \a percentile
 * (95) Hausdorff distance with numpy's linear interpolation, ASSD, MASD, NSD at \a tolerance mm, and the directed
 * values. Empty masks follow the conventions of SurfaceDistanceMeasures. The masks are taken by value (move them in)
 * and released once their surfaces are found: the peak is 9 bytes per voxel of the box. */
SurfaceDistanceMeasures
ComputeMaskSurfaceDistances(BinaryMaskPair masks, double tolerance = 2.0, double percentile = 95.0,
                            itk::MultiThreaderBase *        threader = nullptr,
                            const SurfaceDistanceProgress & progress = SurfaceDistanceProgress());

} // namespace torchseg

#endif
