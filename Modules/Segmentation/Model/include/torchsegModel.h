#ifndef torchsegModel_h
#define torchsegModel_h

#include "torchsegLabelPostProcessingOptions.h"
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
 * "window": clip to [clipLow, clipHigh] and map linearly to [0, 1].
 * "none": the network takes Hounsfield units as they are (TorchScript models that normalise themselves). */
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
  LabelTable             classes;
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
  /** Order of the spatial axes of the network's tensors: "zyx" (this toolkit and PyTorch: (D, H, W) = (z, y, x)) or
   * "xyz" (MONAI, whose arrays keep the NIfTI voxel order (x, y, z)). Model::Forward() permutes accordingly, so
   * callers always pass (z, y, x) tensors. */
  std::string axisOrder = "zyx";
  /** Training provenance: date, toolkit version, data, hyper-parameters, validation scores. */
  nlohmann::json provenance = nlohmann::json::object();
  /** The label clean-up recommended with this model (chosen on validation cases); SegmentationFilter and
   * TorchSegPredict apply it unless told not to. Unset: none recommended. */
  std::optional<LabelPostProcessingOptions> postProcessing;
};

/** The toolkit's own metadata layout (keys as the member names). from_json() checks types and refuses unknown keys
 * and inconsistent values (see ValidateMetadata()) with an itk::ExceptionObject naming the key. */
void
to_json(nlohmann::json & j, const ModelMetadata & m);
void
from_json(const nlohmann::json & j, ModelMetadata & m);

/** Checks that the metadata is complete and consistent: spatial dimension 2 or 3, input channels against
 * sliceContext, class table against the number of classes, normalisation, spacing, patch size, orientation code.
 * Throws itk::ExceptionObject whose message starts with \a source (e.g. the file name) and names the key at fault. */
void
ValidateMetadata(const ModelMetadata & metadata, const std::string & source);

/** Reads metadata in either layout: the toolkit's own (a "network" key), or a MONAI bundle's metadata.json (a
 * "network_data_format" key: inputs.image.num_channels and spatial_shape, outputs.pred.num_channels and
 * channel_def), whose preprocessing may be given in a "torchseg" object with the toolkit's own keys (normalization,
 * targetSpacing, patchSize, sliceContext, orientation, axisOrder, classes). MONAI defaults: orientation "RAS",
 * axisOrder "xyz", normalisation "none". The result is validated; errors start with \a source. */
ModelMetadata
ParseModelMetadata(const nlohmann::json & json, const std::string & source);

/** The direction matrix of an orientation code such as "LPS" (identity) or "RAS" (x and y reversed): column i is the
 * unit vector the i-th index axis points to. Throws on a malformed code. */
std::array<std::array<double, 3>, 3>
OrientationCodeToDirection(const std::string & code);

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

  /** The format tag and version a native model file carries. */
  static constexpr const char * FormatTag = "torchseg-model";
  static constexpr int          FormatVersion = 1;

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

  /** The file the model was loaded from (empty for a model built in memory). */
  const std::string &
  GetPath() const
  {
    return m_Path;
  }

  /** Moves the weights to \a device. */
  void
  To(const torch::Device & device);

  /** Logits for a batch (N, channels, spatial...) given in (z, y, x) axis order on any device; returned on the
   * model's device, shape checked against the metadata (N, classes, spatial...). Puts a native network in eval
   * mode; no autograd. Errors name the model file and the input shape. */
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

/** Writes a native model file from its parts, atomically: the format tag and version, the metadata, and the named
 * tensors (state-dict names) with a checksum each. Model::Save() writes through it; it also lets tests write files
 * whose parts disagree. */
void
WriteModelFile(const std::string & path, const nlohmann::json & metadata,
               const std::vector<std::pair<std::string, torch::Tensor>> & tensors);

} // namespace torchseg

#endif
