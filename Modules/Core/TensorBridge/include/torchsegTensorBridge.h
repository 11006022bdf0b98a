#ifndef torchsegTensorBridge_h
#define torchsegTensorBridge_h

#include "itkImage.h"
#include "itkMacro.h"

#include <torch/types.h>

#include <c10/util/Exception.h>

#include <string>

namespace torchseg
{

/** \brief The one bridge between ITK images and LibTorch tensors: the only code of the toolkit that touches raw
 * tensor memory.
 *
 * Axis convention: ITK stores x fastest, so an image of size (x, y, z) is a tensor of shape (z, y, x) (PyTorch's
 * (D, H, W)); in 2D (x, y) becomes (y, x). Geometry (origin, spacing, direction) stays with the ITK image; a tensor
 * has none, and TensorToImage() takes it from a reference.
 * \ingroup TorchSegTensorBridge
 */

/** A float tensor of shape (z, y, x) / (y, x) that shares the image's buffer (no copy) and keeps the image alive. */
template <typename TPixel, unsigned int VDimension>
torch::Tensor
ImageToTensorView(const itk::Image<TPixel, VDimension> * image);

/** A new contiguous float tensor of shape (z, y, x) / (y, x) with the image's values converted to float. */
template <typename TPixel, unsigned int VDimension>
torch::Tensor
ImageToTensor(const itk::Image<TPixel, VDimension> * image);

/** A new image holding the tensor's values (shape (z, y, x) / (y, x), any dtype, any device), with the size given
 * by the tensor and origin, spacing and direction copied from \a geometry (which may be nullptr). */
template <typename TImage>
typename TImage::Pointer
TensorToImage(const torch::Tensor & tensor, const itk::ImageBase<TImage::ImageDimension> * geometry);

/** Sets LibTorch's intra-op thread count (and, once per process, its inter-op pool) to
 * ResolveNumberOfThreads(requested); returns it. LibTorch starts with one thread on small machines. Also calls
 * RetainFreedMemory(), so that every program that runs networks reuses freed activation memory. */
int
SetTorchNumberOfThreads(int requested);

/** Parses "cpu", "cuda" or "cuda:N"; throws itk::ExceptionObject that names the value when it is malformed or when
 * no usable GPU exists (never a silent fallback to the CPU). */
torch::Device
ParseDevice(const std::string & text);

/** Rethrows a LibTorch error as itk::ExceptionObject with context (model path, tensor shape), without LibTorch's
 * C++ backtrace. LibTorch throws c10::Error, and (Debian's build, for some operators) std::runtime_error: catch
 * std::exception at the boundary and pass it here. */
[[noreturn]] void
ThrowTorchError(const std::exception & error, const std::string & context);

/** "[2, 1, 97, 123]" for messages. */
std::string
ShapeToString(const torch::Tensor & tensor);

} // namespace torchseg

#include "torchsegTensorBridge.hxx"

#endif
