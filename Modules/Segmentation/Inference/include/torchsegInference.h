#ifndef torchsegInference_h
#define torchsegInference_h

#include "torchsegLabelPostProcessingOptions.h"
#include "torchsegLabelTable.h"

#include "itkImage.h"
#include "itkProcessObject.h"
#include "itkVectorImage.h"

#include <memory>
#include <optional>
#include <ostream>
#include <string>

namespace torchseg
{

class Model;

/** \brief The settings of one inference run (SegmentationFilter gathers its members into one).
 * \ingroup TorchSegInference
 */
struct InferenceOptions
{
  /** Fraction of a patch shared by neighbouring sliding-window positions, in [0, 0.95]. */
  double overlap = 0.5;
  /** Slices (2D networks) or patches (3D networks) per forward pass; 0 chooses (4 slices, 1 patch). */
  int batchSize = 0;
  /** Test-time augmentation: the mean of the class probabilities over every mirroring of the spatial axes. */
  bool mirroring = false;
  /** Gaussian importance weighting of overlapping windows (sigma = patch / 8, as nnU-Net); uniform otherwise. */
  bool gaussianWeighting = true;
  /** LibTorch intra-op threads; 0 = all hardware threads. */
  int numberOfThreads = 0;
  /** Output slices resampled and written per step; 0 chooses about 64 MB of class probabilities. */
  int slabSize = 0;
};

std::ostream &
operator<<(std::ostream & os, const InferenceOptions & options);

/** Loads a model (TorchSeg or TorchScript file) onto the device named by \a device ("cpu", "cuda", "cuda:N"; empty
 * means cpu). A GPU that is asked for and unusable is an error naming the device, never a silent fallback. */
std::shared_ptr<Model>
LoadModel(const std::string & path, const std::string & device = std::string());

/** Moves \a model to the device named by \a device (parsed as LoadModel does). */
void
MoveModelTo(Model & model, const std::string & device);

/** The number of classes the model returns (background included). */
unsigned int
GetNumberOfClasses(const Model & model);

/** The model's foreground classes (names, colours, terminology), for writers. */
const LabelTable &
GetClassTable(const Model & model);

/** The label clean-up the model file recommends (ModelMetadata::postProcessing), if any. */
std::optional<LabelPostProcessingOptions>
GetRecommendedPostProcessing(const Model & model);

/** Segments \a input with \a model, all steps driven by the model's metadata: reorientation to its canonical
 * orientation (the nearest axis-aligned view; an oblique input keeps its rotation), resampling to its spacing,
 * intensity normalisation, the network slice by slice (2D, batched, with neighbouring slices as channels) or by
 * overlapping patches (3D sliding window with Gaussian weighting and padding), optional mirroring, softmax, linear
 * resampling of the class probabilities back to the input grid, argmax, and the inverse reorientation.
 *
 * Works in slabs of output slices, so full-resolution probabilities of every class are never held at once (unless
 * \a probabilities is given). \a labels (and \a probabilities, with one component per class) must be allocated with
 * the input's largest region and geometry. Progress goes to \a reporter in [progressBegin, progressEnd]; its
 * AbortGenerateData flag stops the run with itk::ProcessAborted. */
void
RunInference(Model & model, const itk::Image<float, 3> * input, itk::Image<uint8_t, 3> * labels,
             itk::VectorImage<float, 3> * probabilities, const InferenceOptions & options,
             itk::ProcessObject * reporter = nullptr, float progressBegin = 0.0f, float progressEnd = 1.0f);

} // namespace torchseg

#endif
