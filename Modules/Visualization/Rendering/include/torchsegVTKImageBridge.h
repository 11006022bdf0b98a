#ifndef torchsegVTKImageBridge_h
#define torchsegVTKImageBridge_h

#include "itkImage.h"

#include <vtkImageData.h>
#include <vtkMatrix4x4.h>
#include <vtkSmartPointer.h>

#include <array>
#include <cstdint>

namespace torchseg
{

/** The image types the pictures are drawn from: CT in Hounsfield units and labels (0 background). The same aliases
 * as TorchSegImageIO's, so images read there pass here unchanged. */
using CTImageType = itk::Image<float, 3>;
using LabelImageType = itk::Image<uint8_t, 3>;

/** \brief The bridge from ITK images to VTK data, carrying origin, spacing and direction.
 *
 * ITK and VTK agree on the index-to-world map: world = origin + direction * diag(spacing) * index, in LPS
 * millimetres. vtkImageData stores the direction since VTK 9.0, but most VTK filters ignore it; geometry code of
 * this module therefore works in index space and maps points with MakeIndexToWorldMatrix().
 * \ingroup TorchSegRendering
 */

/** The 4x4 homogeneous matrix that maps a continuous index (i, j, k, 1) to the physical point (x, y, z, 1). */
vtkSmartPointer<vtkMatrix4x4>
MakeIndexToWorldMatrix(const itk::ImageBase<3> * image);

/** The physical bounding box (xmin, xmax, ymin, ymax, zmin, zmax) of the voxel centres of \a region. */
std::array<double, 6>
GetWorldBounds(const itk::ImageBase<3> * image, const itk::ImageRegion<3> & region);

/** A vtkImageData that shares the image's buffer (no copy) and keeps the ITK image alive as long as the VTK array
 * lives; extent, origin, spacing and direction are those of the image's buffered region. */
template <typename TPixel>
vtkSmartPointer<vtkImageData>
ImageToVTKImageData(const itk::Image<TPixel, 3> * image);

} // namespace torchseg

#include "torchsegVTKImageBridge.hxx"

#endif
