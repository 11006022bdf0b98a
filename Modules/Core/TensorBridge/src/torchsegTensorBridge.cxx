#include "torchsegTensorBridge.h"

#include "torchsegMemory.h"
#include "torchsegThreads.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <mutex>
#include <sstream>

namespace torchseg
{

int
SetTorchNumberOfThreads(int requested)
{
  const int n = ResolveNumberOfThreads(requested);
  RetainFreedMemory();
  at::set_num_threads(n);
  // The inter-op pool can be sized only once, before its first use.
  static std::once_flag interop;
  std::call_once(interop, [n] {
    try
    {
      at::set_num_interop_threads(n);
    }
    catch (const c10::Error &)
    {
      // Already started by an earlier LibTorch call: its size cannot change any more, which is harmless.
    }
  });
  return n;
}

torch::Device
ParseDevice(const std::string & text)
{
  if (text == "cpu")
  {
    return torch::Device(torch::kCPU);
  }
  int index = -1;
  if (text == "cuda")
  {
    index = 0;
  }
  else if (text.rfind("cuda:", 0) == 0)
  {
    const std::string number = text.substr(5);
    if (number.empty() || number.find_first_not_of("0123456789") != std::string::npos)
    {
      itkGenericExceptionMacro(<< "Device \"" << text << "\" is malformed: use cpu, cuda or cuda:N");
    }
    index = std::stoi(number);
  }
  else
  {
    itkGenericExceptionMacro(<< "Device \"" << text << "\" is not one of cpu, cuda, cuda:N");
  }
  if (!torch::cuda::is_available())
  {
    itkGenericExceptionMacro(<< "Device \"" << text
                             << "\" was requested, but no usable CUDA GPU is available (this LibTorch build has "
                             << (torch::cuda::device_count() > 0 ? "GPUs it cannot use" : "no CUDA support or no GPU")
                             << "); use --device cpu");
  }
  const int count = static_cast<int>(torch::cuda::device_count());
  if (index >= count)
  {
    itkGenericExceptionMacro(<< "Device \"" << text << "\" does not exist: " << count << " CUDA GPU(s) are available");
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

void
ThrowTorchError(const std::exception & error, const std::string & context)
{
  const auto * torchError = dynamic_cast<const c10::Error *>(&error);
  std::string  message = torchError ? torchError->what_without_backtrace() : error.what();
  const auto   newline = message.find('\n');
  if (newline != std::string::npos)
  {
    message = message.substr(0, newline);
  }
  itkGenericExceptionMacro(<< context << ": " << message);
}

std::string
ShapeToString(const torch::Tensor & tensor)
{
  if (!tensor.defined())
  {
    return "[undefined]";
  }
  std::ostringstream out;
  out << '[';
  for (int64_t d = 0; d < tensor.dim(); ++d)
  {
    out << (d ? ", " : "") << tensor.size(d);
  }
  out << ']';
  return out.str();
}

} // namespace torchseg
