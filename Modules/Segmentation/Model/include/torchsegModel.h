#ifndef torchsegModel_h
#define torchsegModel_h

#include "torchsegLabelTable.h"
#include "torchsegSegmentationNetwork.h"

#include <nlohmann/json.hpp>
#include <torch/script.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace torchseg
{

/** \brief CT intensity preprocessing, recorded in the model so inference repeats training exactly.
 *
 * "zscore" (nnU-Net's CT scheme): clip to [clipLow, clipHigh] (the 0.5 and 99.5 percentiles of foreground voxels of
 * the training set), then (v - mean) / std with the foreground mean and standard deviation.
 * "window": clip to [clipLow, clipHigh] and map linearly to [0, 1]. */
struct IntensityNormalization
{
  std::string method = "zscore";
  double      clipLow = -1024.0;
  double      clipHigh = 3071.0;
  double      mean = 0.0;
  double      std = 1.0;
};

/** \brief Everything a model file says besides its weights. */
struct ModelMetadata
{
  NetworkOptions network;
  /** Foreground classes (value, name, colour, terminology); value 0 is the background. */
  LabelTable classes;
  IntensityNormalization normalization;
  /** Voxel spacing (x, y, z) in mm the network works at; 0 on an axis keeps the input's spacing there (2D models
   * usually resample in-plane only). */
  std::array<double, 3> targetSpacing{ { 0.0, 0.0, 0.0 } };
  /** Patch size in voxels, ITK order (x, y[, z]); for 2D networks the in-plane slice size (0 = whole slice). */
  std::vector<int64_t> patchSize;
  /** 2D networks: neighbouring slices on each side given as extra channels (inputChannels = 2 * sliceContext + 1). */
  int sliceContext = 0;
  /** Canonical orientation the network sees: the three-letter ITK/DICOM code of the axes (LPS: x to the patient's
   * left, y posterior, z superior; the identity direction). Images are reoriented to it before inference. */
  std::string orientation = "LPS";
  /** Training provenance: date, toolkit version, data, hyper-parameters, validation scores. */
  nlohmann::json provenance = nlohmann::json::object();
};

void
to_json(nlohmann::json & j, const ModelMetadata & m);
void
from_json(const nlohmann::json & j, ModelMetadata & m);

/** \class Model
 * \brief A trained network with its metadata: the toolkit's own model file (one file: weights and metadata), or a
 * TorchScript file whose metadata is embedded as extra file "metadata.json" (MONAI bundle layout, or this toolkit's
 * own layout) or stored in a sidecar "<model>.json".
 * \ingroup TorchSegModel
 */
class Model
{
public:
  /** Loads either kind of file onto \a device. Errors (missing file, foreign or corrupt file, missing or
   * inconsistent metadata, weights that do not match the metadata) name the path and what is wrong. */
  static Model
  Load(const std::string & path, const torch::Device & device = torch::kCPU);

  /** A model around a native network (e.g. one just trained). */
  Model(SegmentationNetwork network, ModelMetadata metadata);

  /** Writes the toolkit's own format atomically (native networks only). */
  void
  Save(const std::string & path) const;

  const ModelMetadata &
  GetMetadata() const
  {
    return m_Metadata;
  }
  bool
  IsTorchScript() const
  {
    return !m_Network;
  }
  /** The native network, or an empty holder for TorchScript models. */
  SegmentationNetwork
  GetNetwork() const
  {
    return m_Network;
  }
  torch::Device
  GetDevice() const
  {
    return m_Device;
  }

  /** Logits for a batch (N, channels, spatial...) on the model's device; eval mode, no autograd. */
  torch::Tensor
  Forward(const torch::Tensor & input);

private:
  Model() = default;
  SegmentationNetwork               m_Network{ nullptr };
  std::optional<torch::jit::Module> m_Script;
  ModelMetadata                     m_Metadata;
  torch::Device                     m_Device = torch::kCPU;
  std::string                       m_Path;
};

} // namespace torchseg

#endif
