#ifndef torchsegMetricsTestHelpers_h
#define torchsegMetricsTestHelpers_h

#include "torchsegTestingSupport.h"

#include "itkImageRegionIterator.h"
#include "itkImageRegionIteratorWithIndex.h"

#include <cmath>
#include <functional>

namespace torchseg
{
namespace testing
{

/** Sets every voxel of \a image to value(index). */
template <typename TImage, typename TFunction>
void
FillByIndex(TImage * image, TFunction && value)
{
  itk::ImageRegionIteratorWithIndex<TImage> it(image, image->GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it)
  {
    it.Set(static_cast<typename TImage::PixelType>(value(it.GetIndex())));
  }
}

/** Sets every voxel of \a image to value(world point). */
template <typename TImage, typename TFunction>
void
FillByPoint(TImage * image, TFunction && value)
{
  itk::ImageRegionIteratorWithIndex<TImage> it(image, image->GetLargestPossibleRegion());
  typename TImage::PointType                point;
  for (; !it.IsAtEnd(); ++it)
  {
    image->TransformIndexToPhysicalPoint(it.GetIndex(), point);
    it.Set(static_cast<typename TImage::PixelType>(value(point)));
  }
}

/** True when the index lies in the box [lo, hi] along every axis (inclusive). */
template <typename TIndex>
bool
InBox(const TIndex & index, long lo, long hi)
{
  for (unsigned int d = 0; d < TIndex::Dimension; ++d)
  {
    if (index[d] < lo || index[d] > hi)
    {
      return false;
    }
  }
  return true;
}

} // namespace testing
} // namespace torchseg

#endif
