#ifndef torchsegPatchSampler_h
#define torchsegPatchSampler_h

#include "torchsegTrainingSet.h"

#include <torch/types.h>

#include <array>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <random>
#include <thread>
#include <vector>

namespace torchseg
{

/** \brief What a training sample is: a 2D slice (with neighbouring slices as extra channels) or a 3D patch, and
 * how samples are drawn.
 * \ingroup TorchSegTraining */
struct SamplingOptions
{
  int spatialDimensions = 2;
  /** 2D: neighbouring slices on each side given as extra input channels (channels = 2 * sliceContext + 1). */
  int sliceContext = 0;
  /** Patch size in voxels (x, y, z); z is ignored in 2D. Regions beyond a volume repeat its border (CT) and are
   * background (labels). */
  std::array<int64_t, 3> patchSize{ { 128, 128, 1 } };
  int                    batchSize = 8;
  /** Share of each batch forced to be centred on a foreground voxel (nnU-Net: 0.33); the count is rounded up so that
   * at least this share contains organ or tumour. */
  double foregroundFraction = 1.0 / 3.0;
  /** Forced samples pick the foreground class uniformly first (rare classes such as tumours then get as many
   * samples as large ones); otherwise a class present in the drawn case. */
  bool classBalanced = false;
  /** Forced samples pick one connected component of the chosen class in the drawn case uniformly, then a voxel of
   * it: small lesions are then centred as often as large ones (voxels drawn uniformly from the class favour each
   * lesion in proportion to its volume). */
  bool componentBalanced = false;
  /** The batch is made of this many equal parts (batchSize must be a multiple), part p drawn only from shard p of the
   * training cases; the cases are dealt into the shards again every epoch, from (seed, epoch). Distributed training
   * makes one part per process; 1 (the default) draws every sample from all cases. */
  int caseShards = 1;
};

std::ostream &
operator<<(std::ostream & os, const SamplingOptions & o);

/** \brief On-the-fly augmentation: probabilities and ranges (nnU-Net's defaults where it has them).
 * \ingroup TorchSegTraining */
struct AugmentationOptions
{
  bool enabled = true;
  /** Per spatial axis (x, y, z) mirroring with probability 0.5. */
  std::array<bool, 3> flipAxes{ { true, true, true } };
  double              flipProbability = 0.5;
  double              rotationProbability = 0.2;
  double              maximumRotationDegrees = 15.0; //!< in-plane; 3D patches rotate about every axis
  double              scalingProbability = 0.2;
  double              minimumScale = 0.85;
  double              maximumScale = 1.25;
  double              elasticProbability = 0.1;
  double              elasticMagnitude = 4.0;    //!< mm, standard deviation of the control-point displacements
  double              elasticGridSpacing = 32.0; //!< mm between control points
  double              brightnessProbability = 0.15;
  double              brightnessRange = 0.25; //!< multiplies by U(1 - r, 1 + r)
  double              contrastProbability = 0.15;
  double              contrastRange = 0.25; //!< scales around the mean by U(1 - r, 1 + r), range kept
  double              gammaProbability = 0.3;
  double              minimumGamma = 0.7;
  double              maximumGamma = 1.5;
  double              noiseProbability = 0.1;
  double              maximumNoiseVariance = 0.1; //!< Gaussian noise, variance U(0, v), normalised units
};

std::ostream &
operator<<(std::ostream & os, const AugmentationOptions & o);

/** \brief The spatial transform of one sample: source position = centre + R S^-1 offset + elastic displacement,
 * offsets in mm from the patch centre; then mirroring of the patch.
 * \ingroup TorchSegTraining */
struct SpatialTransform
{
  std::array<bool, 3>   flip{ { false, false, false } }; //!< x, y, z of the patch
  std::array<double, 3> rotation{ { 0.0, 0.0, 0.0 } };   //!< radians about x, y, z
  double                scale = 1.0;                     //!< > 1 magnifies
  bool                  elastic = false;
  double                elasticMagnitude = 0.0;
  double                elasticGridSpacing = 32.0;
  uint64_t              elasticSeed = 0;

  /** True when sampling is a plain crop (no rotation, scaling or deformation). */
  bool
  IsCrop() const;
};

/** \brief Intensity changes of one sample (applied to the image channels only).
 * \ingroup TorchSegTraining */
struct IntensityTransform
{
  double   brightness = 1.0;
  double   contrast = 1.0;
  double   gamma = 1.0;
  double   noiseStandardDeviation = 0.0;
  uint64_t noiseSeed = 0;
};

/** \brief One training sample: image channels (C, spatial...) and labels (spatial...) int64, with where it came
 * from. */
struct Sample
{
  torch::Tensor         image;
  torch::Tensor         labels;
  std::size_t           volume = 0;
  std::array<double, 3> centre{ { 0.0, 0.0, 0.0 } }; //!< voxel coordinates (x, y, z) in the volume
  bool                  forcedForeground = false;
};

/** \brief A batch: images (N, C, spatial...) float32 and labels (N, spatial...) int64. */
struct Batch
{
  torch::Tensor images;
  torch::Tensor labels;
  int64_t       index = 0;
  int           forcedForeground = 0; //!< samples centred on foreground
};

/** \class PatchSampler
 * \brief Draws training samples from preprocessed volumes: random or foreground-centred positions, then random
 * spatial and intensity augmentation, labels transformed with the image by nearest-neighbour interpolation.
 *
 * Deterministic: sample i of epoch e depends only on (seed, e, i), never on the thread that draws it, so batches can
 * be made by any number of workers in any order. Thread-safe (const).
 * \ingroup TorchSegTraining
 */
class PatchSampler
{
public:
  PatchSampler(std::shared_ptr<const std::vector<TrainingVolume>> volumes, SamplingOptions sampling,
               AugmentationOptions augmentation, uint64_t seed);

  /** Batch \a batchIndex of epoch \a epoch: samples batchIndex * B ... + B - 1, in each of its caseShards parts the
   * last ceil(B / caseShards * foregroundFraction) forced onto foreground. */
  Batch
  MakeBatch(int64_t epoch, int64_t batchIndex) const;

  /** Part \a part (0 .. caseShards-1) of that batch: its B / caseShards samples drawn from case shard \a part, exactly
   * as in the whole batch (a process of a distributed training makes its part only). */
  Batch
  MakeBatchPart(int64_t epoch, int64_t batchIndex, int part) const;

  /** One sample, drawn from its own random engine seeded by (seed, epoch, index), from the case shard of its part of
   * the batch (index modulo B). */
  Sample
  Draw(int64_t epoch, int64_t index, bool forceForeground) const;

  /** The volumes of case shard \a shard in epoch \a epoch, in increasing order: a permutation of all volumes from
   * (seed, epoch) dealt round-robin into caseShards shards (with fewer volumes than shards, shard s gets volume s mod
   * count of the permutation). Every volume when caseShards is 1. */
  std::vector<std::size_t>
  GetCaseShard(int64_t epoch, int shard) const;

  /** Extracts the sample of \a volume centred at \a centre (voxel coordinates x, y, z) with the given transforms:
   * the deterministic core of Draw(), public for tests. */
  Sample
  Extract(std::size_t volume, const std::array<double, 3> & centre, const SpatialTransform & spatial,
          const IntensityTransform & intensity) const;

  /** Input channels of a sample: 2 * sliceContext + 1 in 2D, 1 in 3D. */
  int64_t
  GetNumberOfChannels() const;

  /** Samples per batch forced onto foreground (over all its parts). */
  int
  GetNumberOfForcedSamples() const;

  const SamplingOptions &
  GetSamplingOptions() const
  {
    return m_Sampling;
  }
  const AugmentationOptions &
  GetAugmentationOptions() const
  {
    return m_Augmentation;
  }

private:
  /** Samples per part of a batch, and those of them forced onto foreground. */
  int
  GetPartSize() const;
  int
  GetNumberOfForcedSamplesPerPart() const;
  Batch
  MakeSamples(int64_t epoch, int64_t batchIndex, int first, int count) const;

  std::shared_ptr<const std::vector<TrainingVolume>> m_Volumes;
  SamplingOptions                                    m_Sampling;
  AugmentationOptions                                m_Augmentation;
  uint64_t                                           m_Seed;
  std::vector<std::size_t>                           m_VolumesWithForeground;
  /** Per foreground class: the volumes that contain it (class-balanced sampling). */
  std::vector<std::vector<std::size_t>> m_VolumesWithClass;
};

/** \class BatchLoader
 * \brief Makes the batches of one epoch in background threads, ahead of the training loop, in a bounded queue;
 * hands them out in order, so results do not depend on scheduling.
 *
 * Workers run their LibTorch operators single-threaded, leaving the intra-op threads to the training step. With
 * zero workers batches are made on demand in Next().
 * \ingroup TorchSegTraining
 */
class BatchLoader
{
public:
  /** \a part: the part of every batch to make (PatchSampler::MakeBatchPart), or -1 for whole batches. */
  BatchLoader(std::shared_ptr<const PatchSampler> sampler, int64_t epoch, int64_t numberOfBatches, int numberOfWorkers,
              int capacity = 0, int part = -1);
  ~BatchLoader();
  BatchLoader(const BatchLoader &) = delete;
  BatchLoader &
  operator=(const BatchLoader &) = delete;

  /** The next batch in order, waiting for it when needed; false after the last one. Rethrows a worker's error. */
  bool
  Next(Batch & batch);

  /** Seconds Next() spent waiting for workers. */
  double
  GetWaitSeconds() const
  {
    return m_WaitSeconds;
  }

private:
  void
  Work();
  Batch
  Make(int64_t batchIndex) const;

  std::shared_ptr<const PatchSampler> m_Sampler;
  int64_t                             m_Epoch;
  int                                 m_Part;
  int64_t                             m_NumberOfBatches;
  int                                 m_Capacity;
  std::vector<std::thread>            m_Workers;
  std::mutex                          m_Mutex;
  std::condition_variable             m_Produced;
  std::condition_variable             m_Consumed;
  std::map<int64_t, Batch>            m_Ready;
  int64_t                             m_NextToMake = 0;
  int64_t                             m_NextToHand = 0;
  bool                                m_Stop = false;
  std::exception_ptr                  m_Error;
  double                              m_WaitSeconds = 0.0;
};

} // namespace torchseg

#endif
