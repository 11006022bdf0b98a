#include "torchsegPatchSampler.h"

#include "torchsegTrainingPrivate.h"

#include "itkMacro.h"

#include <torch/nn/functional/upsampling.h>
#include <torch/nn/functional/vision.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iterator>
#include <numeric>

namespace torchseg
{

namespace
{

namespace F = torch::nn::functional;
using torch::indexing::Slice;

double
Uniform(std::mt19937_64 & rng, double low, double high)
{
  return std::uniform_real_distribution<double>(low, high)(rng);
}

int64_t
UniformInteger(std::mt19937_64 & rng, int64_t low, int64_t high)
{
  return std::uniform_int_distribution<int64_t>(low, high)(rng);
}

// The first voxel of a patch of \a patch voxels on an axis of \a size voxels, placed around \a position and kept
// inside the volume where it fits (centred with padding on both sides where it does not).
int64_t
PatchStart(double position, int64_t patch, int64_t size)
{
  if (patch >= size)
  {
    return -((patch - size + 1) / 2);
  }
  const auto start = static_cast<int64_t>(std::lround(position - 0.5 * static_cast<double>(patch - 1)));
  return std::min(size - patch, std::max<int64_t>(0, start));
}

// Indices start .. start + n - 1 clamped into [0, size - 1] (border replication), and the mask of those inside.
std::pair<torch::Tensor, torch::Tensor>
CropIndices(int64_t start, int64_t n, int64_t size)
{
  const torch::Tensor raw = torch::arange(start, start + n, torch::kLong);
  return { raw.clamp(0, size - 1), (raw >= 0).logical_and(raw < size) };
}

// Rotation matrix R = Rz Ry Rx for angles (about x, y, z).
std::array<std::array<double, 3>, 3>
RotationMatrix(const std::array<double, 3> & a)
{
  const double cx = std::cos(a[0]), sx = std::sin(a[0]);
  const double cy = std::cos(a[1]), sy = std::sin(a[1]);
  const double cz = std::cos(a[2]), sz = std::sin(a[2]);
  return { { { cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx },
             { sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx },
             { -sy, cy * sx, cy * cx } } };
}

} // namespace

bool
SpatialTransform::IsCrop() const
{
  return rotation[0] == 0.0 && rotation[1] == 0.0 && rotation[2] == 0.0 && scale == 1.0 && !elastic;
}

std::ostream &
operator<<(std::ostream & os, const SamplingOptions & o)
{
  os << o.spatialDimensions << "D samples, slice context " << o.sliceContext << ", patch " << o.patchSize[0] << "x"
     << o.patchSize[1];
  if (o.spatialDimensions == 3)
  {
    os << "x" << o.patchSize[2];
  }
  os << ", batch " << o.batchSize << ", foreground fraction " << o.foregroundFraction
     << (o.classBalanced ? ", class-balanced" : "") << (o.componentBalanced ? ", component-balanced" : "");
  if (o.caseShards != 1)
  {
    os << ", " << o.caseShards << " case shards";
  }
  return os;
}

std::ostream &
operator<<(std::ostream & os, const AugmentationOptions & o)
{
  if (!o.enabled)
  {
    return os << "no augmentation";
  }
  os << "flips p " << o.flipProbability << " axes " << o.flipAxes[0] << o.flipAxes[1] << o.flipAxes[2]
     << ", rotation p " << o.rotationProbability << " +-" << o.maximumRotationDegrees << " deg, scaling p "
     << o.scalingProbability << " [" << o.minimumScale << ", " << o.maximumScale << "], elastic p "
     << o.elasticProbability << " " << o.elasticMagnitude << " mm / " << o.elasticGridSpacing << " mm, brightness p "
     << o.brightnessProbability << " +-" << o.brightnessRange << ", contrast p " << o.contrastProbability << " +-"
     << o.contrastRange << ", gamma p " << o.gammaProbability << " [" << o.minimumGamma << ", " << o.maximumGamma
     << "], noise p " << o.noiseProbability << " var <= " << o.maximumNoiseVariance;
  return os;
}

PatchSampler::PatchSampler(std::shared_ptr<const std::vector<TrainingVolume>> volumes, SamplingOptions sampling,
                           AugmentationOptions augmentation, uint64_t seed)
  : m_Volumes(std::move(volumes))
  , m_Sampling(sampling)
  , m_Augmentation(augmentation)
  , m_Seed(seed)
{
  if (!m_Volumes || m_Volumes->empty())
  {
    itkGenericExceptionMacro(<< "PatchSampler: no training volume");
  }
  const int dims = m_Sampling.spatialDimensions;
  if (dims != 2 && dims != 3)
  {
    itkGenericExceptionMacro(<< "PatchSampler: spatial dimension " << dims << " is not 2 or 3");
  }
  for (int a = 0; a < dims; ++a)
  {
    if (m_Sampling.patchSize[a] < 1 || m_Sampling.patchSize[a] > 4096)
    {
      itkGenericExceptionMacro(<< "PatchSampler: patch size " << m_Sampling.patchSize[a] << " on axis " << a
                               << " is not in 1..4096");
    }
  }
  if (m_Sampling.batchSize < 1)
  {
    itkGenericExceptionMacro(<< "PatchSampler: batch size " << m_Sampling.batchSize << " is not positive");
  }
  if (m_Sampling.sliceContext < 0 || (dims == 3 && m_Sampling.sliceContext != 0))
  {
    itkGenericExceptionMacro(<< "PatchSampler: slice context " << m_Sampling.sliceContext
                             << " (only 2D samples take neighbouring slices, 0 or more)");
  }
  if (m_Sampling.caseShards < 1 || m_Sampling.batchSize % m_Sampling.caseShards != 0)
  {
    itkGenericExceptionMacro(<< "PatchSampler: batch size " << m_Sampling.batchSize << " is not a multiple of the "
                             << m_Sampling.caseShards << " case shards");
  }
  if (!(m_Sampling.foregroundFraction >= 0.0 && m_Sampling.foregroundFraction <= 1.0))
  {
    itkGenericExceptionMacro(<< "PatchSampler: foreground fraction " << m_Sampling.foregroundFraction
                             << " is not in [0, 1]");
  }
  const std::size_t classes = m_Volumes->front().classLocations.size();
  m_VolumesWithClass.resize(classes);
  for (std::size_t v = 0; v < m_Volumes->size(); ++v)
  {
    const TrainingVolume & volume = (*m_Volumes)[v];
    if (!volume.image.defined() || volume.image.dim() != 3 || volume.labels.sizes() != volume.image.sizes() ||
        volume.classLocations.size() != classes ||
        (m_Sampling.componentBalanced && volume.componentLocations.size() != classes))
    {
      itkGenericExceptionMacro(<< "PatchSampler: volume " << volume.name << " is not prepared");
    }
    bool foreground = false;
    for (std::size_t c = 1; c < classes; ++c)
    {
      if (volume.classLocations[c].numel() > 0)
      {
        m_VolumesWithClass[c].push_back(v);
        foreground = true;
      }
    }
    if (foreground)
    {
      m_VolumesWithForeground.push_back(v);
    }
  }
}

int64_t
PatchSampler::GetNumberOfChannels() const
{
  return m_Sampling.spatialDimensions == 2 ? 2 * m_Sampling.sliceContext + 1 : 1;
}

int
PatchSampler::GetPartSize() const
{
  return m_Sampling.batchSize / m_Sampling.caseShards;
}

int
PatchSampler::GetNumberOfForcedSamplesPerPart() const
{
  return static_cast<int>(std::ceil(this->GetPartSize() * m_Sampling.foregroundFraction - 1e-9));
}

int
PatchSampler::GetNumberOfForcedSamples() const
{
  return m_Sampling.caseShards * this->GetNumberOfForcedSamplesPerPart();
}

std::vector<std::size_t>
PatchSampler::GetCaseShard(int64_t epoch, int shard) const
{
  const std::size_t        V = m_Volumes->size();
  const int                S = m_Sampling.caseShards;
  std::vector<std::size_t> all(V);
  std::iota(all.begin(), all.end(), 0);
  if (S == 1)
  {
    return all;
  }
  if (shard < 0 || shard >= S)
  {
    itkGenericExceptionMacro(<< "PatchSampler: case shard " << shard << " is not in 0.." << S - 1);
  }
  // Fisher-Yates with an engine of its own (the trailing key keeps it apart from the sample engines).
  std::mt19937_64 rng = detail::MakeEngine({ m_Seed, static_cast<uint64_t>(epoch), 0x5348415244ull });
  for (std::size_t i = V - 1; i > 0; --i)
  {
    std::swap(all[i], all[static_cast<std::size_t>(UniformInteger(rng, 0, static_cast<int64_t>(i)))]);
  }
  std::vector<std::size_t> mine;
  for (std::size_t i = static_cast<std::size_t>(shard); i < V; i += static_cast<std::size_t>(S))
  {
    mine.push_back(all[i]);
  }
  if (mine.empty())
  {
    mine.push_back(all[static_cast<std::size_t>(shard) % V]);
  }
  std::sort(mine.begin(), mine.end());
  return mine;
}

Batch
PatchSampler::MakeBatch(int64_t epoch, int64_t batchIndex) const
{
  return this->MakeSamples(epoch, batchIndex, 0, m_Sampling.batchSize);
}

Batch
PatchSampler::MakeBatchPart(int64_t epoch, int64_t batchIndex, int part) const
{
  if (part < 0 || part >= m_Sampling.caseShards)
  {
    itkGenericExceptionMacro(<< "PatchSampler: batch part " << part << " is not in 0.." << m_Sampling.caseShards - 1);
  }
  const int size = this->GetPartSize();
  return this->MakeSamples(epoch, batchIndex, part * size, size);
}

Batch
PatchSampler::MakeSamples(int64_t epoch, int64_t batchIndex, int first, int count) const
{
  const int                  B = m_Sampling.batchSize;
  const int                  size = this->GetPartSize();
  const int                  forced = this->GetNumberOfForcedSamplesPerPart();
  std::vector<torch::Tensor> images, labels;
  Batch                      batch;
  batch.index = batchIndex;
  for (int j = first; j < first + count; ++j)
  {
    Sample s = this->Draw(epoch, batchIndex * B + j, j % size >= size - forced);
    batch.forcedForeground += s.forcedForeground ? 1 : 0;
    images.push_back(std::move(s.image));
    labels.push_back(std::move(s.labels));
  }
  batch.images = torch::stack(images);
  batch.labels = torch::stack(labels);
  return batch;
}

Sample
PatchSampler::Draw(int64_t epoch, int64_t index, bool forceForeground) const
{
  std::mt19937_64 rng = detail::MakeEngine({ m_Seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index) });
  const auto &    volumes = *m_Volumes;
  const int       dims = m_Sampling.spatialDimensions;
  const auto &    P = m_Sampling.patchSize;

  // The volumes this sample may come from: those of its part's case shard (all with one shard); foreground-forced
  // samples take the shard's volumes with the wanted class, or all such volumes when the shard has none.
  const int64_t            B = m_Sampling.batchSize;
  const int                shard = static_cast<int>((index % B) / this->GetPartSize());
  std::vector<std::size_t> shardVolumes;
  if (m_Sampling.caseShards > 1)
  {
    shardVolumes = this->GetCaseShard(epoch, shard);
  }
  auto inShard = [&shardVolumes](const std::vector<std::size_t> & candidates) {
    if (shardVolumes.empty())
    {
      return candidates;
    }
    std::vector<std::size_t> both;
    std::set_intersection(
      candidates.begin(), candidates.end(), shardVolumes.begin(), shardVolumes.end(), std::back_inserter(both));
    return both.empty() ? candidates : both;
  };

  std::size_t           v = 0;
  std::array<double, 3> centre{ { 0.0, 0.0, 0.0 } };
  const bool            forced = forceForeground && !m_VolumesWithForeground.empty();
  if (forced)
  {
    int64_t c = 0;
    if (m_Sampling.classBalanced)
    {
      std::vector<std::size_t> present;
      for (std::size_t k = 1; k < m_VolumesWithClass.size(); ++k)
      {
        if (!m_VolumesWithClass[k].empty())
        {
          present.push_back(k);
        }
      }
      c = static_cast<int64_t>(present[UniformInteger(rng, 0, static_cast<int64_t>(present.size()) - 1)]);
      const std::vector<std::size_t> candidates = inShard(m_VolumesWithClass[c]);
      v = candidates[UniformInteger(rng, 0, static_cast<int64_t>(candidates.size()) - 1)];
    }
    else
    {
      const std::vector<std::size_t> candidates = inShard(m_VolumesWithForeground);
      v = candidates[UniformInteger(rng, 0, static_cast<int64_t>(candidates.size()) - 1)];
      std::vector<int64_t> present;
      for (std::size_t k = 1; k < volumes[v].classLocations.size(); ++k)
      {
        if (volumes[v].classLocations[k].numel() > 0)
        {
          present.push_back(static_cast<int64_t>(k));
        }
      }
      c = present[UniformInteger(rng, 0, static_cast<int64_t>(present.size()) - 1)];
    }
    const torch::Tensor * chosen = &volumes[v].classLocations[c];
    if (m_Sampling.componentBalanced && !volumes[v].componentLocations[c].empty())
    {
      const auto & components = volumes[v].componentLocations[c];
      chosen =
        &components[static_cast<std::size_t>(UniformInteger(rng, 0, static_cast<int64_t>(components.size()) - 1))];
    }
    const torch::Tensor & locations = *chosen;
    const int64_t         linear = locations[UniformInteger(rng, 0, locations.numel() - 1)].item<int64_t>();
    const int64_t         X = volumes[v].SizeX(), Y = volumes[v].SizeY();
    const int64_t         voxel[3] = { linear % X, (linear / X) % Y, linear / (X * Y) };
    for (int a = 0; a < 3; ++a)
    {
      // A jitter of up to a sixth of the patch keeps the voxel inside it under the largest rotation and scaling.
      const bool   spatialAxis = a < dims;
      const double jitter = spatialAxis ? Uniform(rng, -1.0, 1.0) * static_cast<double>(P[a]) / 6.0 : 0.0;
      centre[a] = static_cast<double>(voxel[a]) + jitter;
    }
  }
  else
  {
    if (shardVolumes.empty())
    {
      v = static_cast<std::size_t>(UniformInteger(rng, 0, static_cast<int64_t>(volumes.size()) - 1));
    }
    else
    {
      v = shardVolumes[UniformInteger(rng, 0, static_cast<int64_t>(shardVolumes.size()) - 1)];
    }
    const int64_t S[3] = { volumes[v].SizeX(), volumes[v].SizeY(), volumes[v].SizeZ() };
    for (int a = 0; a < 3; ++a)
    {
      if (a >= dims)
      {
        centre[a] = static_cast<double>(UniformInteger(rng, 0, S[a] - 1));
      }
      else if (P[a] >= S[a])
      {
        centre[a] = 0.5 * static_cast<double>(S[a] - 1);
      }
      else
      {
        centre[a] = static_cast<double>(UniformInteger(rng, 0, S[a] - P[a])) + 0.5 * static_cast<double>(P[a] - 1);
      }
    }
  }
  // Snap the patch onto the voxel grid inside the volume.
  const int64_t S[3] = { volumes[v].SizeX(), volumes[v].SizeY(), volumes[v].SizeZ() };
  for (int a = 0; a < dims; ++a)
  {
    centre[a] = static_cast<double>(PatchStart(centre[a], P[a], S[a])) + 0.5 * static_cast<double>(P[a] - 1);
  }
  if (dims == 2)
  {
    centre[2] = std::round(centre[2]);
  }

  SpatialTransform   spatial;
  IntensityTransform intensity;
  const auto &       A = m_Augmentation;
  if (A.enabled)
  {
    // 2D: mirroring z reverses the order of the context slices.
    const int flipAxes = dims == 3 || m_Sampling.sliceContext > 0 ? 3 : 2;
    for (int a = 0; a < flipAxes; ++a)
    {
      spatial.flip[a] = A.flipAxes[a] && Uniform(rng, 0.0, 1.0) < A.flipProbability;
    }
    if (Uniform(rng, 0.0, 1.0) < A.rotationProbability)
    {
      const double maximum = A.maximumRotationDegrees * M_PI / 180.0;
      for (int a = (dims == 2 ? 2 : 0); a < 3; ++a)
      {
        spatial.rotation[a] = Uniform(rng, -maximum, maximum);
      }
    }
    if (Uniform(rng, 0.0, 1.0) < A.scalingProbability)
    {
      spatial.scale = Uniform(rng, A.minimumScale, A.maximumScale);
    }
    if (Uniform(rng, 0.0, 1.0) < A.elasticProbability)
    {
      spatial.elastic = true;
      spatial.elasticMagnitude = A.elasticMagnitude;
      spatial.elasticGridSpacing = A.elasticGridSpacing;
      spatial.elasticSeed = rng();
    }
    if (Uniform(rng, 0.0, 1.0) < A.brightnessProbability)
    {
      intensity.brightness = Uniform(rng, 1.0 - A.brightnessRange, 1.0 + A.brightnessRange);
    }
    if (Uniform(rng, 0.0, 1.0) < A.contrastProbability)
    {
      intensity.contrast = Uniform(rng, 1.0 - A.contrastRange, 1.0 + A.contrastRange);
    }
    if (Uniform(rng, 0.0, 1.0) < A.gammaProbability)
    {
      // As nnU-Net: half of the draws below 1, half above.
      intensity.gamma =
        Uniform(rng, 0.0, 1.0) < 0.5 ? Uniform(rng, A.minimumGamma, 1.0) : Uniform(rng, 1.0, A.maximumGamma);
    }
    if (Uniform(rng, 0.0, 1.0) < A.noiseProbability)
    {
      intensity.noiseStandardDeviation = std::sqrt(Uniform(rng, 0.0, A.maximumNoiseVariance));
      intensity.noiseSeed = rng();
    }
  }
  Sample sample = this->Extract(v, centre, spatial, intensity);
  if (forced && !spatial.IsCrop() && !sample.labels.gt(0).any().item<bool>())
  {
    // The foreground voxel was pushed out of the patch (patch clamped at the volume's border, then rotated): fall
    // back to the plain crop, which contains it.
    SpatialTransform crop;
    crop.flip = spatial.flip;
    sample = this->Extract(v, centre, crop, intensity);
  }
  sample.forcedForeground = forced;
  return sample;
}

Sample
PatchSampler::Extract(std::size_t volumeIndex, const std::array<double, 3> & centre, const SpatialTransform & spatial,
                      const IntensityTransform & intensity) const
{
  const TrainingVolume & volume = m_Volumes->at(volumeIndex);
  const int              dims = m_Sampling.spatialDimensions;
  const auto &           P = m_Sampling.patchSize;
  const int64_t          S[3] = { volume.SizeX(), volume.SizeY(), volume.SizeZ() };

  torch::Tensor source;      // (C, [Z,] Y, X) float
  torch::Tensor sourceLabel; // ([Z,] Y, X) uint8
  if (dims == 2)
  {
    const int64_t z = std::min(S[2] - 1, std::max<int64_t>(0, std::llround(centre[2])));
    const int64_t k = m_Sampling.sliceContext;
    source = volume.image.index_select(0, torch::arange(z - k, z + k + 1, torch::kLong).clamp(0, S[2] - 1));
    sourceLabel = volume.labels[z];
  }
  else
  {
    source = volume.image.unsqueeze(0);
    sourceLabel = volume.labels;
  }

  torch::Tensor image, labels;
  if (spatial.IsCrop())
  {
    image = source;
    labels = sourceLabel;
    torch::Tensor inside;
    for (int a = 0; a < dims; ++a)
    {
      const int64_t start = static_cast<int64_t>(std::lround(centre[a] - 0.5 * static_cast<double>(P[a] - 1)));
      auto [indices, mask] = CropIndices(start, P[a], S[a]);
      const int64_t axis = dims - a; // image axis of spatial axis a: x is last
      image = image.index_select(axis, indices);
      labels = labels.index_select(axis - 1, indices);
      std::vector<int64_t> shape(static_cast<std::size_t>(dims), 1);
      shape[static_cast<std::size_t>(dims - 1 - a)] = P[a];
      const torch::Tensor m = mask.view(shape);
      inside = inside.defined() ? inside.logical_and(m) : m;
    }
    labels = labels.mul(inside.to(torch::kUInt8));
  }
  else
  {
    // Output offsets in mm from the patch centre, per spatial axis, as full grids over the patch (ij indexing).
    std::vector<torch::Tensor> axes;
    for (int a = dims - 1; a >= 0; --a)
    {
      axes.push_back((torch::arange(P[a], torch::kFloat64) - 0.5 * static_cast<double>(P[a] - 1)) * volume.spacing[a]);
    }
    std::vector<torch::Tensor> grids = torch::meshgrid(axes, "ij");
    std::reverse(grids.begin(), grids.end()); // grids[a] is the offset along spatial axis a
    std::vector<torch::Tensor> displacement;
    if (spatial.elastic)
    {
      at::Generator        generator = detail::MakeTorchGenerator(spatial.elasticSeed);
      std::vector<int64_t> coarse{ 1, dims };
      std::vector<int64_t> fine;
      for (int a = dims - 1; a >= 0; --a)
      {
        const double extent = static_cast<double>(P[a]) * volume.spacing[a];
        coarse.push_back(
          std::max<int64_t>(2, static_cast<int64_t>(std::ceil(extent / spatial.elasticGridSpacing)) + 1));
        fine.push_back(P[a]);
      }
      const torch::Tensor nodes = torch::randn(coarse, generator, torch::kFloat64) * spatial.elasticMagnitude;
      auto                interpolation = F::InterpolateFuncOptions().size(fine).align_corners(true);
      if (dims == 2)
      {
        interpolation.mode(torch::kBilinear);
      }
      else
      {
        interpolation.mode(torch::kTrilinear);
      }
      const torch::Tensor field = F::interpolate(nodes, interpolation)[0];
      for (int a = 0; a < dims; ++a)
      {
        displacement.push_back(field[a]);
      }
    }
    const auto                 R = RotationMatrix(spatial.rotation);
    const double               inverseScale = 1.0 / spatial.scale;
    std::vector<torch::Tensor> normalized;
    for (int a = 0; a < dims; ++a)
    {
      torch::Tensor position = torch::full_like(grids[0], centre[a] * volume.spacing[a]);
      for (int b = 0; b < dims; ++b)
      {
        // 2D uses the in-plane block of the rotation about z.
        const double r = R[static_cast<std::size_t>(a)][static_cast<std::size_t>(b)] * inverseScale;
        if (r != 0.0)
        {
          position = position + r * grids[b];
        }
      }
      if (spatial.elastic)
      {
        position = position + displacement[a];
      }
      const torch::Tensor index = position / volume.spacing[a];
      normalized.push_back(S[a] > 1 ? index * (2.0 / static_cast<double>(S[a] - 1)) - 1.0 : index * 0.0);
    }
    const torch::Tensor grid = torch::stack(normalized, -1).unsqueeze(0).to(torch::kFloat32);
    image = F::grid_sample(
      source.unsqueeze(0),
      grid,
      F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kBorder).align_corners(true))[0];
    labels = F::grid_sample(
      sourceLabel.unsqueeze(0).unsqueeze(0).to(torch::kFloat32),
      grid,
      F::GridSampleFuncOptions().mode(torch::kNearest).padding_mode(torch::kZeros).align_corners(true))[0][0];
  }

  std::vector<int64_t> imageFlips, labelFlips;
  for (int a = 0; a < dims; ++a)
  {
    if (spatial.flip[a])
    {
      imageFlips.push_back(dims - a);
      labelFlips.push_back(dims - 1 - a);
    }
  }
  if (dims == 2 && spatial.flip[2] && m_Sampling.sliceContext > 0)
  {
    imageFlips.push_back(0);
  }
  if (!imageFlips.empty())
  {
    image = image.flip(imageFlips);
  }
  if (!labelFlips.empty())
  {
    labels = labels.flip(labelFlips);
  }
  image = image.contiguous();

  if (intensity.noiseStandardDeviation > 0.0)
  {
    at::Generator generator = detail::MakeTorchGenerator(intensity.noiseSeed);
    image = image + torch::randn(image.sizes(), generator, torch::kFloat32) * intensity.noiseStandardDeviation;
  }
  if (intensity.brightness != 1.0)
  {
    image = image * intensity.brightness;
  }
  if (intensity.contrast != 1.0)
  {
    const torch::Tensor mean = image.mean();
    const torch::Tensor low = image.min(), high = image.max();
    image = ((image - mean) * intensity.contrast + mean).clamp(low, high);
  }
  if (intensity.gamma != 1.0)
  {
    const torch::Tensor low = image.min();
    const torch::Tensor range = image.max() - low;
    image = ((image - low) / (range + 1e-7)).pow(intensity.gamma) * range + low;
  }

  Sample s;
  s.image = image;
  s.labels = labels.to(torch::kLong).contiguous();
  s.volume = volumeIndex;
  s.centre = centre;
  return s;
}

BatchLoader::BatchLoader(std::shared_ptr<const PatchSampler> sampler, int64_t epoch, int64_t numberOfBatches,
                         int numberOfWorkers, int capacity, int part)
  : m_Sampler(std::move(sampler))
  , m_Epoch(epoch)
  , m_Part(part)
  , m_NumberOfBatches(numberOfBatches)
  , m_Capacity(capacity > 0 ? capacity : std::max(2, 2 * numberOfWorkers))
{
  for (int w = 0; w < numberOfWorkers; ++w)
  {
    m_Workers.emplace_back([this] { this->Work(); });
  }
}

BatchLoader::~BatchLoader()
{
  {
    std::lock_guard<std::mutex> lock(m_Mutex);
    m_Stop = true;
  }
  m_Consumed.notify_all();
  for (auto & w : m_Workers)
  {
    w.join();
  }
}

void
BatchLoader::Work()
{
  detail::UseOneTorchThreadHere();
  for (;;)
  {
    int64_t b = 0;
    {
      std::unique_lock<std::mutex> lock(m_Mutex);
      m_Consumed.wait(lock, [this] {
        return m_Stop || m_NextToMake >= m_NumberOfBatches || m_NextToMake < m_NextToHand + m_Capacity;
      });
      if (m_Stop || m_NextToMake >= m_NumberOfBatches)
      {
        return;
      }
      b = m_NextToMake++;
    }
    try
    {
      Batch                       batch = this->Make(b);
      std::lock_guard<std::mutex> lock(m_Mutex);
      m_Ready.emplace(b, std::move(batch));
    }
    catch (...)
    {
      std::lock_guard<std::mutex> lock(m_Mutex);
      if (!m_Error)
      {
        m_Error = std::current_exception();
      }
      m_Stop = true;
    }
    m_Produced.notify_all();
    m_Consumed.notify_all();
  }
}

Batch
BatchLoader::Make(int64_t batchIndex) const
{
  return m_Part < 0 ? m_Sampler->MakeBatch(m_Epoch, batchIndex) : m_Sampler->MakeBatchPart(m_Epoch, batchIndex, m_Part);
}

bool
BatchLoader::Next(Batch & batch)
{
  const auto start = std::chrono::steady_clock::now();
  if (m_NextToHand >= m_NumberOfBatches)
  {
    return false;
  }
  if (m_Workers.empty())
  {
    // As a worker would: one thread, so that the batch is bitwise the same whatever the number of workers.
    detail::ScopedOneTorchThread one;
    batch = this->Make(m_NextToHand++);
    m_WaitSeconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return true;
  }
  {
    std::unique_lock<std::mutex> lock(m_Mutex);
    m_Produced.wait(lock, [this] { return m_Error || m_Ready.count(m_NextToHand) > 0; });
    if (m_Error)
    {
      std::rethrow_exception(m_Error);
    }
    auto it = m_Ready.find(m_NextToHand);
    batch = std::move(it->second);
    m_Ready.erase(it);
    ++m_NextToHand;
  }
  m_Consumed.notify_all();
  m_WaitSeconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return true;
}

} // namespace torchseg
