#ifndef torchsegSegmentationNetwork_h
#define torchsegSegmentationNetwork_h

#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <string>
#include <vector>

namespace torchseg
{

/** \brief What a network is: its architecture name, spatial dimension, channels, classes and architecture options.
 *
 * Architecture names are the ones the applications take (fcn8s, fcn16s, fcn32s, deeplabv3, deeplabv3plus, pspnet,
 * segnet, deconvnet, unet2d, unet3d, ...). Names ending in 2d/3d fix the dimension; the others take
 * spatialDimensions. \a options holds the architecture's own settings (backbone, width, outputStride, upsampling,
 * depth, deepSupervision, ...); each architecture documents and validates its keys and fills in its defaults.
 * \ingroup TorchSegNetworks
 */
struct NetworkOptions
{
  std::string    architecture = "unet2d";
  int            spatialDimensions = 2;
  int            inputChannels = 1;
  int            numberOfClasses = 3; //!< including the background
  nlohmann::json options = nlohmann::json::object();
};

void
to_json(nlohmann::json & j, const NetworkOptions & o);
void
from_json(const nlohmann::json & j, NetworkOptions & o);

/** \class SegmentationNetworkImpl
 * \brief The interface of every segmentation network: logits of shape (N, classes, spatial...) with the input's
 * spatial size, for any input size (networks pad and crop internally).
 * \ingroup TorchSegNetworks
 */
class SegmentationNetworkImpl : public torch::nn::Module
{
public:
  /** Logits (N, C, H, W) or (N, C, D, H, W) for an input (N, inputChannels, spatial...). */
  virtual torch::Tensor
  forward(torch::Tensor input) = 0;

  /** The main logits first, then auxiliary heads (deep supervision), each at its own resolution. Networks without
   * auxiliary heads return { forward(input) }. */
  virtual std::vector<torch::Tensor>
  forwardWithAuxiliary(torch::Tensor input)
  {
    return { this->forward(std::move(input)) };
  }

  /** The options the network was built with, defaults filled in (what the model file records). */
  const NetworkOptions &
  GetOptions() const
  {
    return m_Options;
  }

protected:
  explicit SegmentationNetworkImpl(NetworkOptions options)
    : m_Options(std::move(options))
  {}
  /** Throws c10::Error naming the expected and the actual shape unless \a input is (N, inputChannels, spatial...)
   * with the network's spatial dimension and at least one element. */
  void
                 CheckInput(const torch::Tensor & input) const;
  NetworkOptions m_Options;
};

TORCH_MODULE(SegmentationNetwork);

/** Builds a network from its options; throws itk::ExceptionObject naming the architecture or option at fault
 * (unknown architecture, unknown option key, inconsistent values). */
SegmentationNetwork
CreateNetwork(const NetworkOptions & options);

/** The options CreateNetwork() would build from: validated (same errors as CreateNetwork()), the dimension fixed by
 * the name, every architecture option filled with its default; builds nothing (cheap: for applications that check
 * their flags before loading data). */
NetworkOptions
ValidateNetworkOptions(const NetworkOptions & options);

/** Every architecture name CreateNetwork() accepts. */
std::vector<std::string>
GetArchitectureNames();

} // namespace torchseg

#endif
