#ifndef torchsegImageIO_hxx
#define torchsegImageIO_hxx

#include "itkImageFileReader.h"
#include "itkImageFileWriter.h"

namespace torchseg
{

template <typename TPixel, unsigned int VDimension>
typename itk::Image<TPixel, VDimension>::Pointer
ReadImageFile(const std::string & path)
{
  using ImageType = itk::Image<TPixel, VDimension>;
  // The ImageIO is chosen and its header checked before ITK reads, so that every failure has a one-line message.
  itk::ImageIOBase::Pointer io = detail::OpenImageFileForReading(path, VDimension);
  auto                      reader = itk::ImageFileReader<ImageType>::New();
  reader->SetImageIO(io);
  reader->SetFileName(path);
  try
  {
    const detail::ScopedSilentStandardError silence(detail::PrintsWhileReading(io));
    reader->Update();
  }
  catch (const itk::ExceptionObject & e)
  {
    detail::ThrowReadError(path, e);
  }
  typename ImageType::Pointer image = reader->GetOutput();
  image->DisconnectPipeline();
  return image;
}

template <typename TImage>
void
WriteImageFile(const TImage * image, const std::string & path, bool compress)
{
  if (image == nullptr)
  {
    itkGenericExceptionMacro(<< "Cannot write " << path << ": no image was given");
  }
  itk::ImageIOBase::Pointer io = detail::CreateImageIOForWriting(path, compress);
  detail::WriteAtomically(path, [&](const std::string & temporary) {
    auto writer = itk::ImageFileWriter<TImage>::New();
    writer->SetInput(image);
    writer->SetImageIO(io);
    writer->SetFileName(temporary);
    writer->SetUseCompression(compress);
    try
    {
      writer->Update();
    }
    catch (const itk::ExceptionObject & e)
    {
      detail::ThrowWriteError(path, e);
    }
  });
}

} // namespace torchseg

#endif
