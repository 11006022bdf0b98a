#ifndef torchsegTrainingData_hxx
#define torchsegTrainingData_hxx

#include "itkIdentityTransform.h"
#include "itkLinearInterpolateImageFunction.h"
#include "itkNearestNeighborInterpolateImageFunction.h"
#include "itkOrientImageFilter.h"
#include "itkResampleImageFilter.h"

#include <cmath>

namespace torchseg
{

template <typename TImage>
typename TImage::Pointer
ReorientToCanonical(const TImage * image, const std::string & orientation)
{
  static_assert(TImage::ImageDimension == 3, "ReorientToCanonical works on 3D images");
  if (orientation != "LPS")
  {
    itkGenericExceptionMacro(<< "Orientation \"" << orientation << "\" is not supported for training (LPS only)");
  }
  using FilterType = itk::OrientImageFilter<TImage, TImage>;
  auto filter = FilterType::New();
  filter->SetInput(image);
  filter->UseImageDirectionOn();
  typename TImage::DirectionType identity;
  identity.SetIdentity();
  filter->SetDesiredCoordinateDirection(identity);
  filter->Update();
  typename TImage::Pointer output = filter->GetOutput();
  output->DisconnectPipeline();
  return output;
}

template <typename TImage>
typename TImage::Pointer
ResampleToSpacing(const TImage * image, const std::array<double, 3> & spacing, bool nearestNeighbour)
{
  constexpr unsigned int         Dimension = TImage::ImageDimension;
  const auto                     inSpacing = image->GetSpacing();
  const auto                     inSize = image->GetLargestPossibleRegion().GetSize();
  typename TImage::SpacingType   outSpacing = inSpacing;
  typename TImage::SizeType      outSize = inSize;
  itk::Vector<double, Dimension> shift;
  bool                           changed = false;
  for (unsigned int d = 0; d < Dimension; ++d)
  {
    shift[d] = 0.0;
    if (spacing[d] > 0.0 && std::abs(spacing[d] - inSpacing[d]) > 1e-6 * inSpacing[d])
    {
      outSpacing[d] = spacing[d];
      const double extent = inSpacing[d] * static_cast<double>(inSize[d]);
      outSize[d] = std::max<itk::SizeValueType>(1, static_cast<itk::SizeValueType>(std::lround(extent / spacing[d])));
      // Keep the low outer edge in place: the first voxel centre moves by half the change of spacing.
      shift[d] = 0.5 * (outSpacing[d] - inSpacing[d]);
      changed = true;
    }
  }
  if (!changed)
  {
    return const_cast<TImage *>(image);
  }
  typename TImage::PointType first;
  image->TransformIndexToPhysicalPoint(image->GetLargestPossibleRegion().GetIndex(), first);
  const typename TImage::PointType origin = first + image->GetDirection() * shift;
  using FilterType = itk::ResampleImageFilter<TImage, TImage, double>;
  auto filter = FilterType::New();
  filter->SetInput(image);
  filter->SetTransform(itk::IdentityTransform<double, Dimension>::New());
  if (nearestNeighbour)
  {
    filter->SetInterpolator(itk::NearestNeighborInterpolateImageFunction<TImage, double>::New());
  }
  else
  {
    filter->SetInterpolator(itk::LinearInterpolateImageFunction<TImage, double>::New());
  }
  filter->SetOutputSpacing(outSpacing);
  filter->SetOutputOrigin(origin);
  filter->SetOutputDirection(image->GetDirection());
  filter->SetSize(outSize);
  filter->SetDefaultPixelValue(0);
  filter->Update();
  typename TImage::Pointer output = filter->GetOutput();
  output->DisconnectPipeline();
  return output;
}

} // namespace torchseg

#endif
