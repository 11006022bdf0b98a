#ifndef torchsegVTKImageBridge_hxx
#define torchsegVTKImageBridge_hxx

#include "itkMacro.h"

#include <vtkAOSDataArrayTemplate.h>
#include <vtkCallbackCommand.h>
#include <vtkCommand.h>
#include <vtkPointData.h>

namespace torchseg
{

template <typename TPixel>
vtkSmartPointer<vtkImageData>
ImageToVTKImageData(const itk::Image<TPixel, 3> * image)
{
  static_assert(std::is_arithmetic<TPixel>::value, "ImageToVTKImageData bridges scalar images only");
  using ImageType = itk::Image<TPixel, 3>;
  if (image == nullptr)
  {
    itkGenericExceptionMacro(<< "ImageToVTKImageData: the image is null");
  }
  const auto &             region = image->GetBufferedRegion();
  const itk::SizeValueType count = region.GetNumberOfPixels();
  if (count == 0 || image->GetBufferPointer() == nullptr)
  {
    itkGenericExceptionMacro(<< "ImageToVTKImageData: the image has no buffered pixels (region " << region << ")");
  }

  auto array = vtkSmartPointer<vtkAOSDataArrayTemplate<TPixel>>::New();
  array->SetName("scalars");
  // save = 1: VTK never frees the ITK buffer; the observer below releases the image when the array dies.
  array->SetArray(const_cast<TPixel *>(image->GetBufferPointer()), static_cast<vtkIdType>(count), 1);
  auto * holder = new typename ImageType::ConstPointer(image);
  auto   release = vtkSmartPointer<vtkCallbackCommand>::New();
  release->SetClientData(holder);
  release->SetCallback([](vtkObject *, unsigned long, void * clientData, void *) {
    delete static_cast<typename ImageType::ConstPointer *>(clientData);
  });
  array->AddObserver(vtkCommand::DeleteEvent, release);

  auto         data = vtkSmartPointer<vtkImageData>::New();
  const auto & index = region.GetIndex();
  const auto & size = region.GetSize();
  data->SetExtent(static_cast<int>(index[0]),
                  static_cast<int>(index[0] + size[0]) - 1,
                  static_cast<int>(index[1]),
                  static_cast<int>(index[1] + size[1]) - 1,
                  static_cast<int>(index[2]),
                  static_cast<int>(index[2] + size[2]) - 1);
  data->SetOrigin(image->GetOrigin()[0], image->GetOrigin()[1], image->GetOrigin()[2]);
  data->SetSpacing(image->GetSpacing()[0], image->GetSpacing()[1], image->GetSpacing()[2]);
  double direction[9];
  for (unsigned int r = 0; r < 3; ++r)
  {
    for (unsigned int c = 0; c < 3; ++c)
    {
      direction[3 * r + c] = image->GetDirection()(r, c);
    }
  }
  data->SetDirectionMatrix(direction);
  data->GetPointData()->SetScalars(array);
  return data;
}

} // namespace torchseg

#endif
