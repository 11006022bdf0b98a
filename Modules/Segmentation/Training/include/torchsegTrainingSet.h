#ifndef torchsegTrainingSet_h
#define torchsegTrainingSet_h

#include "torchsegLosses.h"
#include "torchsegTrainingData.h"

#include <torch/types.h>

#include <array>
#include <functional>
#include <string>
#include <vector>

namespace torchseg
{

/** \brief How cases are prepared for training: the preprocessing a model records in its metadata.
 * \ingroup TorchSegTraining */
struct PreprocessingOptions
{
  /** Classes including the background; label values must lie in 0 .. numberOfClasses-1. */
  unsigned int numberOfClasses = 3;
  /** Spacing (x, y, z) in mm the network works at; 0 keeps a case's own spacing on that axis. */
  std::array<double, 3> targetSpacing{ { 0.0, 0.0, 0.0 } };
  /** Canonical orientation (ModelMetadata::orientation). */
  std::string orientation = "LPS";
  /** Cases read and preprocessed at once (0: all hardware threads). */
  int numberOfThreads = 0;
  /** Foreground voxel locations kept per class and case for foreground oversampling (a random subset, seeded by
   * the case name). */
  std::size_t locationsPerClass = 10000;
};

/** \brief One preprocessed case in memory: reoriented, resampled, intensities normalised (once the training set's
 * statistics are known), with the locations of its foreground voxels for oversampling.
 * \ingroup TorchSegTraining */
struct TrainingVolume
{
  std::string           name;                         //!< the CT path
  torch::Tensor         image;                        //!< (z, y, x) float32
  torch::Tensor         labels;                       //!< (z, y, x) uint8
  std::array<double, 3> spacing{ { 1.0, 1.0, 1.0 } }; //!< (x, y, z) mm of the preprocessed grid
  std::vector<double>   classVoxels;                  //!< voxels per class on the preprocessed grid
  /** Per class: an int64 tensor of linear indices z * (Y X) + y * X + x of up to
   * PreprocessingOptions::locationsPerClass voxels of that class (all when fewer), in increasing order; empty for the
   * background. */
  std::vector<torch::Tensor> classLocations;
  /** Per class, per connected component of that class (26-connected on the preprocessed grid, largest first): an
   * int64 tensor of up to PreprocessingOptions::locationsPerClass of its voxels' linear indices, in increasing
   * order; empty for the background. Lesion-wise (component-balanced) sampling draws from these. */
  std::vector<std::vector<torch::Tensor>> componentLocations;

  int64_t
  SizeX() const
  {
    return image.size(2);
  }
  int64_t
  SizeY() const
  {
    return image.size(1);
  }
  int64_t
  SizeZ() const
  {
    return image.size(0);
  }
};

/** Fills the voxel counts, class locations and component locations of \a volume from its labels ((z, y, x) uint8,
 * values below \a numberOfClasses): where there are more than \a locationsPerClass voxels of a class (or of one
 * component), a random subset drawn from \a seed, so that a case always gets the same locations. */
void
IndexClassLocations(TrainingVolume & volume, unsigned int numberOfClasses, std::size_t locationsPerClass,
                    uint64_t seed);

/** Prepares one case held in memory: checks that \a labels matches the grid of \a ct and holds no value outside the
 * declared classes (errors name \a ctPath / \a labelPath), adds its foreground intensities (at the original
 * resolution) to \a statistics when given, reorients, resamples (CT linear, labels nearest) and converts to tensors.
 * The intensities stay in HU: NormalizeIntensities() follows once the statistics of the whole set are known. */
TrainingVolume
PrepareTrainingVolume(const CTImageType * ct, const LabelImageType * labels, const PreprocessingOptions & options,
                      const std::string & ctPath, const std::string & labelPath,
                      ForegroundIntensityStatistics * statistics = nullptr);

/** Reads (ReadCTImage / ReadLabelImage) and prepares every case, several at once; \a progress (when set) is called
 * with the number of cases done. The first error (unreadable file, geometry mismatch, label value outside the
 * classes) is rethrown after the other threads stop. Volumes come back in the order of \a cases. */
std::vector<TrainingVolume>
LoadTrainingVolumes(const std::vector<CaseFiles> & cases, const PreprocessingOptions & options,
                    ForegroundIntensityStatistics *          statistics = nullptr,
                    const std::function<void(std::size_t)> & progress = {});

/** Per-class voxel counts of the prepared volumes, for ComputeClassWeights(). */
ClassFrequencies
CountClassFrequencies(const std::vector<TrainingVolume> & volumes);

/** Applies the normalisation in place to a tensor of Hounsfield units: zscore (clip, subtract the mean, divide by the
 * standard deviation), window (clip, map to [0, 1]) or none. Throws on an unknown method or a zero range. */
void
NormalizeIntensities(torch::Tensor & hounsfield, const IntensityNormalization & normalization);

} // namespace torchseg

#endif
