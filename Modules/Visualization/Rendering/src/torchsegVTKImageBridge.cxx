#include "torchsegRenderingProcessObject.h"
#include "torchsegVTKImageBridge.h"

#include <algorithm>
#include <limits>

namespace torchseg
{

vtkSmartPointer<vtkMatrix4x4>
MakeIndexToWorldMatrix(const itk::ImageBase<3> * image)
{
  if (image == nullptr)
  {
    itkGenericExceptionMacro(<< "MakeIndexToWorldMatrix: the image is null");
  }
  auto         matrix = vtkSmartPointer<vtkMatrix4x4>::New();
  const auto & direction = image->GetDirection();
  const auto & spacing = image->GetSpacing();
  const auto & origin = image->GetOrigin();
  for (unsigned int r = 0; r < 3; ++r)
  {
    for (unsigned int c = 0; c < 3; ++c)
    {
      matrix->SetElement(r, c, direction(r, c) * spacing[c]);
    }
    matrix->SetElement(r, 3, origin[r]);
  }
  return matrix;
}

std::array<double, 6>
GetWorldBounds(const itk::ImageBase<3> * image, const itk::ImageRegion<3> & region)
{
  std::array<double, 6> bounds{ { std::numeric_limits<double>::max(),
                                  std::numeric_limits<double>::lowest(),
                                  std::numeric_limits<double>::max(),
                                  std::numeric_limits<double>::lowest(),
                                  std::numeric_limits<double>::max(),
                                  std::numeric_limits<double>::lowest() } };
  // The box of an affine image of a box is spanned by the images of its eight corners.
  for (unsigned int corner = 0; corner < 8; ++corner)
  {
    itk::Index<3> index;
    for (unsigned int d = 0; d < 3; ++d)
    {
      index[d] =
        region.GetIndex(d) + (((corner >> d) & 1u) ? static_cast<itk::IndexValueType>(region.GetSize(d)) - 1 : 0);
    }
    itk::Point<double, 3> p;
    image->TransformIndexToPhysicalPoint(index, p);
    for (unsigned int d = 0; d < 3; ++d)
    {
      bounds[2 * d] = std::min(bounds[2 * d], p[d]);
      bounds[2 * d + 1] = std::max(bounds[2 * d + 1], p[d]);
    }
  }
  return bounds;
}

void
RenderingProcessObject::Update()
{
  this->UpdateOutputInformation();
  for (const auto & input : this->GetInputs())
  {
    if (input)
    {
      input->SetRequestedRegionToLargestPossibleRegion();
    }
  }
  this->UpdateOutputData(nullptr);
}

} // namespace torchseg
