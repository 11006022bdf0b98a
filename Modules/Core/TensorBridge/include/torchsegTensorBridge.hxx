#ifndef torchsegTensorBridge_hxx
#define torchsegTensorBridge_hxx

#include <type_traits>
#include <vector>

namespace torchseg
{

namespace detail
{
template <typename TImage>
std::vector<int64_t>
TensorShapeOf(const TImage * image)
{
  const auto           size = image->GetBufferedRegion().GetSize();
  std::vector<int64_t> shape(TImage::ImageDimension);
  for (unsigned int d = 0; d < TImage::ImageDimension; ++d)
  {
    shape[TImage::ImageDimension - 1 - d] = static_cast<int64_t>(size[d]);
  }
  return shape;
}

template <typename TPixel>
constexpr torch::ScalarType
ScalarTypeOf()
{
  if constexpr (std::is_same_v<TPixel, float>)
    return torch::kFloat32;
  else if constexpr (std::is_same_v<TPixel, double>)
    return torch::kFloat64;
  else if constexpr (std::is_same_v<TPixel, int16_t>)
    return torch::kInt16;
  else if constexpr (std::is_same_v<TPixel, int32_t>)
    return torch::kInt32;
  else if constexpr (std::is_same_v<TPixel, uint8_t>)
    return torch::kUInt8;
  else if constexpr (std::is_same_v<TPixel, int8_t>)
    return torch::kInt8;
  else if constexpr (std::is_same_v<TPixel, int64_t>)
    return torch::kInt64;
  else
    return torch::ScalarType::Undefined;
}
} // namespace detail

template <typename TPixel, unsigned int VDimension>
torch::Tensor
ImageToTensorView(const itk::Image<TPixel, VDimension> * image)
{
  using ImageType = itk::Image<TPixel, VDimension>;
  static_assert(detail::ScalarTypeOf<TPixel>() != torch::ScalarType::Undefined, "unsupported pixel type");
  if (!image || !image->GetBufferPointer())
  {
    itkGenericExceptionMacro(<< "ImageToTensorView: the image has no buffer");
  }
  typename ImageType::ConstPointer keepAlive = image;
  auto                             deleter = [keepAlive](void *) mutable { keepAlive = nullptr; };
  auto                             tensor = torch::from_blob(const_cast<TPixel *>(image->GetBufferPointer()),
                                 detail::TensorShapeOf(image),
                                 deleter,
                                 torch::TensorOptions().dtype(detail::ScalarTypeOf<TPixel>()));
  return std::is_same_v<TPixel, float> ? tensor : tensor.to(torch::kFloat32);
}

template <typename TPixel, unsigned int VDimension>
torch::Tensor
ImageToTensor(const itk::Image<TPixel, VDimension> * image)
{
  torch::Tensor view = ImageToTensorView(image);
  return std::is_same_v<TPixel, float> ? view.clone() : view;
}

template <typename TImage>
typename TImage::Pointer
TensorToImage(const torch::Tensor & tensor, const itk::ImageBase<TImage::ImageDimension> * geometry)
{
  constexpr unsigned int Dimension = TImage::ImageDimension;
  using PixelType = typename TImage::PixelType;
  static_assert(detail::ScalarTypeOf<PixelType>() != torch::ScalarType::Undefined, "unsupported pixel type");
  if (tensor.dim() != static_cast<int64_t>(Dimension))
  {
    itkGenericExceptionMacro(<< "TensorToImage: a tensor of shape " << ShapeToString(tensor) << " is not a "
                             << Dimension << "D image");
  }
  typename TImage::SizeType size;
  for (unsigned int d = 0; d < Dimension; ++d)
  {
    size[d] = static_cast<itk::SizeValueType>(tensor.size(Dimension - 1 - d));
  }
  if (geometry)
  {
    const auto expected = geometry->GetLargestPossibleRegion().GetSize();
    if (expected != size)
    {
      itkGenericExceptionMacro(<< "TensorToImage: tensor shape " << ShapeToString(tensor)
                               << " does not match the reference image size " << expected);
    }
  }
  auto                        image = TImage::New();
  typename TImage::RegionType region;
  region.SetSize(size);
  if (geometry)
  {
    region.SetIndex(geometry->GetLargestPossibleRegion().GetIndex());
    image->SetOrigin(geometry->GetOrigin());
    image->SetSpacing(geometry->GetSpacing());
    image->SetDirection(geometry->GetDirection());
  }
  image->SetRegions(region);
  image->Allocate();
  const torch::Tensor source =
    tensor.detach()
      .to(torch::kCPU, detail::ScalarTypeOf<PixelType>(), /*non_blocking=*/false, /*copy=*/false)
      .contiguous();
  std::copy_n(source.data_ptr<PixelType>(), region.GetNumberOfPixels(), image->GetBufferPointer());
  return image;
}

} // namespace torchseg

#endif
