#include "torchsegPatchSampler.h"

#include <torch/torch.h>

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>

using namespace torchseg;

namespace
{

// A volume (z, y, x) with an L-shaped organ (label 1, CT 1000) and, optionally, a small "tumour" (label 2, CT 2000)
// inside it; everything else 0. The L shape has no mirror or rotational symmetry.
TrainingVolume
MakeVolume(int64_t X, int64_t Y, int64_t Z, bool tumour, const std::string & name = "v")
{
  TrainingVolume v;
  v.name = name;
  v.labels = torch::zeros({ Z, Y, X }, torch::kUInt8);
  using torch::indexing::Slice;
  const int64_t z0 = Z / 3, z1 = std::max(z0 + 1, 2 * Z / 3);
  v.labels.index_put_({ Slice(z0, z1), Slice(Y / 4, Y / 4 + Y / 8), Slice(X / 4, 3 * X / 4) }, 1);
  v.labels.index_put_({ Slice(z0, z1), Slice(Y / 4, 3 * Y / 4), Slice(X / 4, X / 4 + X / 8) }, 1);
  if (tumour)
  {
    v.labels.index_put_({ Slice(z0, z0 + 1), Slice(Y / 4 + 1, Y / 4 + 3), Slice(X / 4 + 1, X / 4 + 3) }, 2);
  }
  v.image = v.labels.to(torch::kFloat32) * 1000.0;
  v.spacing = { { 1.0, 1.0, 2.0 } };
  IndexClassLocations(v, 3, std::size_t{ 1 } << 20, 0);
  return v;
}

std::shared_ptr<std::vector<TrainingVolume>>
MakeVolumes(std::vector<TrainingVolume> volumes)
{
  return std::make_shared<std::vector<TrainingVolume>>(std::move(volumes));
}

AugmentationOptions
NoAugmentation()
{
  AugmentationOptions a;
  a.enabled = false;
  return a;
}

SamplingOptions
Sampling2D(int64_t patch, int batch = 8, int context = 0)
{
  SamplingOptions s;
  s.spatialDimensions = 2;
  s.patchSize = { { patch, patch, 1 } };
  s.batchSize = batch;
  s.sliceContext = context;
  return s;
}

// Share of pixels where the image (thresholded halfway between classes) disagrees with the labels.
double
Disagreement(const Sample & s)
{
  const torch::Tensor fromImage = (s.image.select(0, s.image.size(0) / 2) / 1000.0).round().to(torch::kLong);
  return fromImage.ne(s.labels).to(torch::kFloat64).mean().item<double>();
}

} // namespace

TEST(PatchSampler, AtLeastAThirdOfEveryBatchContainsForeground)
{
  // Large volumes with a small organ: random slices and patches rarely hit it.
  std::vector<TrainingVolume> volumes;
  for (int i = 0; i < 3; ++i)
  {
    volumes.push_back(MakeVolume(96, 96, 40, i == 0));
  }
  SamplingOptions s = Sampling2D(24, 8);
  s.foregroundFraction = 1.0 / 3.0;
  auto sampler = std::make_shared<PatchSampler>(MakeVolumes(volumes), s, AugmentationOptions(), 7);
  EXPECT_EQ(sampler->GetNumberOfForcedSamples(), 3);
  int withForeground = 0, total = 0;
  for (int64_t b = 0; b < 25; ++b)
  {
    const Batch batch = sampler->MakeBatch(0, b);
    ASSERT_EQ(batch.images.sizes(), (std::vector<int64_t>{ 8, 1, 24, 24 }));
    ASSERT_EQ(batch.labels.sizes(), (std::vector<int64_t>{ 8, 24, 24 }));
    EXPECT_EQ(batch.forcedForeground, 3);
    const torch::Tensor perSample = batch.labels.flatten(1).gt(0).any(1);
    const int           n = perSample.sum().item<int>();
    EXPECT_GE(n, 3) << "batch " << b;
    // The forced ones are the last three.
    EXPECT_TRUE(perSample.slice(0, 5).all().item<bool>()) << "batch " << b;
    withForeground += n;
    total += 8;
  }
  EXPECT_GE(withForeground, total / 3);
  // Without oversampling the organ is rare here: the forcing is what brings it in.
  SamplingOptions none = s;
  none.foregroundFraction = 0.0;
  PatchSampler plain(MakeVolumes(volumes), none, AugmentationOptions(), 7);
  int          plainCount = 0;
  for (int64_t b = 0; b < 25; ++b)
  {
    plainCount += plain.MakeBatch(0, b).labels.flatten(1).gt(0).any(1).sum().item<int>();
  }
  EXPECT_LT(plainCount, total / 3);

  // 3D patches too.
  SamplingOptions s3;
  s3.spatialDimensions = 3;
  s3.patchSize = { { 16, 16, 8 } };
  s3.batchSize = 3;
  PatchSampler patches(MakeVolumes(volumes), s3, AugmentationOptions(), 8);
  for (int64_t b = 0; b < 10; ++b)
  {
    const Batch batch = patches.MakeBatch(2, b);
    ASSERT_EQ(batch.images.sizes(), (std::vector<int64_t>{ 3, 1, 8, 16, 16 }));
    EXPECT_TRUE(batch.labels[2].gt(0).any().item<bool>());
  }
}

TEST(PatchSampler, ClassBalancedSamplingFavoursTheRareClass)
{
  // Only one of four volumes has a tumour.
  std::vector<TrainingVolume> volumes;
  for (int i = 0; i < 4; ++i)
  {
    volumes.push_back(MakeVolume(48, 48, 12, i == 2));
  }
  SamplingOptions s = Sampling2D(16, 6);
  s.foregroundFraction = 1.0; // every sample forced
  auto countTumour = [&](bool balanced) {
    s.classBalanced = balanced;
    PatchSampler sampler(MakeVolumes(volumes), s, NoAugmentation(), 3);
    int          n = 0;
    for (int64_t b = 0; b < 40; ++b)
    {
      n += sampler.MakeBatch(0, b).labels.flatten(1).eq(2).any(1).sum().item<int>();
    }
    return n / 240.0;
  };
  // Expected shares: balanced 1/2, otherwise 1/4 (volume) * 1/2 (class) = 1/8 (plus chance hits near the tumour).
  EXPECT_GT(countTumour(true), 0.4);
  EXPECT_LT(countTumour(false), 0.25);
}

TEST(PatchSampler, ComponentBalancedSamplingFavoursSmallLesions)
{
  // A large tumour (5 x 24 x 24 voxels) and a small one (2 x 2 x 2) far from it, told apart by their intensity.
  TrainingVolume v;
  v.name = "two lesions";
  v.labels = torch::zeros({ 8, 64, 64 }, torch::kUInt8);
  using torch::indexing::Slice;
  v.labels.index_put_({ Slice(2, 7), Slice(4, 28), Slice(4, 28) }, 2);
  v.labels.index_put_({ Slice(3, 5), Slice(50, 52), Slice(50, 52) }, 2);
  v.image = v.labels.to(torch::kFloat32) * 1000.0;
  v.image.index_put_({ Slice(3, 5), Slice(50, 52), Slice(50, 52) }, 5000.0);
  v.spacing = { { 1.0, 1.0, 2.0 } };
  IndexClassLocations(v, 3, 100000, 0);
  ASSERT_EQ(v.componentLocations[2].size(), 2u);

  SamplingOptions s = Sampling2D(12, 8); // crops of 12: one never holds both lesions
  s.foregroundFraction = 1.0;
  auto smallShare = [&](bool componentBalanced) {
    s.componentBalanced = componentBalanced;
    PatchSampler sampler(MakeVolumes({ v }), s, NoAugmentation(), 5);
    int          n = 0;
    for (int64_t b = 0; b < 30; ++b)
    {
      n += sampler.MakeBatch(0, b).images.flatten(1).ge(4999.0).any(1).sum().item<int>();
    }
    return n / 240.0;
  };
  // Expected shares: component-balanced 1/2 (times the slices of the small lesion among those drawn), voxel-wise
  // 8 / 2888.
  const double balanced = smallShare(true);
  EXPECT_GT(balanced, 0.35);
  EXPECT_LT(balanced, 0.65);
  EXPECT_LT(smallShare(false), 0.03);

  // Volumes prepared without component locations are refused for component-balanced sampling.
  TrainingVolume unindexed = v;
  unindexed.componentLocations.clear();
  s.componentBalanced = true;
  EXPECT_THROW(PatchSampler(MakeVolumes({ unindexed }), s, NoAugmentation(), 5), itk::ExceptionObject);
}

TEST(PatchSampler, CropsCarrySliceContextAndPadWithBorderAndBackground)
{
  auto v = MakeVolume(20, 16, 5, false);
  // Image value = 100 * z + x so that the channel and the column can be read back.
  v.image = (torch::arange(5, torch::kFloat32).view({ 5, 1, 1 }) * 100.0 +
             torch::arange(20, torch::kFloat32).view({ 1, 1, 20 }))
              .expand({ 5, 16, 20 })
              .contiguous();
  PatchSampler sampler(MakeVolumes({ v }), Sampling2D(8, 1, 1), NoAugmentation(), 1);
  EXPECT_EQ(sampler.GetNumberOfChannels(), 3);
  // Centre on slice 0, x = 1.5 (patch x from -2 to 5): context slices clamp to 0, 0, 1; columns -2, -1 repeat 0.
  const Sample s = sampler.Extract(0, { { 1.5, 7.5, 0.0 } }, SpatialTransform(), IntensityTransform());
  ASSERT_EQ(s.image.sizes(), (std::vector<int64_t>{ 3, 8, 8 }));
  EXPECT_FLOAT_EQ(s.image[0][0][0].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(s.image[1][0][0].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(s.image[2][0][0].item<float>(), 100.0f);
  EXPECT_FLOAT_EQ(s.image[1][0][1].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(s.image[1][0][2].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(s.image[1][0][7].item<float>(), 5.0f);
  // Labels beyond the volume are background, inside they are copied.
  const Sample t = sampler.Extract(0, { { 1.5, 7.5, 2.0 } }, SpatialTransform(), IntensityTransform());
  EXPECT_EQ(t.labels.slice(1, 0, 2).sum().item<int64_t>(), 0);
  EXPECT_TRUE(torch::equal(t.labels.slice(1, 2, 8), v.labels[2].slice(0, 4, 12).slice(1, 0, 6).to(torch::kLong)));
  // Mirroring z in 2D reverses the context slices.
  SpatialTransform flipZ;
  flipZ.flip[2] = true;
  const Sample u = sampler.Extract(0, { { 10.5, 7.5, 2.0 } }, flipZ, IntensityTransform());
  EXPECT_FLOAT_EQ(u.image[0][0][0].item<float>(), 300.0f + 7.0f);
  EXPECT_FLOAT_EQ(u.image[2][0][0].item<float>(), 100.0f + 7.0f);
}

TEST(PatchSampler, FlipsAndQuarterTurnsMoveLabelsExactlyWithTheImage)
{
  auto                        v = MakeVolume(40, 40, 6, true);
  PatchSampler                sampler(MakeVolumes({ v }), Sampling2D(21), NoAugmentation(), 1);
  const std::array<double, 3> centre{ { 15.0, 14.0, 2.0 } };
  const Sample                crop = sampler.Extract(0, centre, SpatialTransform(), IntensityTransform());
  ASSERT_GT(crop.labels.gt(0).sum().item<int64_t>(), 20);

  SpatialTransform flipX;
  flipX.flip[0] = true;
  const Sample f = sampler.Extract(0, centre, flipX, IntensityTransform());
  EXPECT_TRUE(torch::equal(f.labels, crop.labels.flip({ 1 })));
  EXPECT_TRUE(torch::equal(f.image, crop.image.flip({ 2 })));
  EXPECT_FALSE(torch::equal(f.labels, crop.labels)); // the L shape is not symmetric

  // A quarter turn: output(u) = input(R u), R = [[0, -1], [1, 0]], so output[y][x] = crop[x][20 - y].
  SpatialTransform quarter;
  quarter.rotation[2] = M_PI / 2;
  const Sample  r = sampler.Extract(0, centre, quarter, IntensityTransform());
  torch::Tensor expectedLabels = torch::empty_like(crop.labels);
  torch::Tensor expectedImage = torch::empty_like(crop.image);
  for (int64_t y = 0; y < 21; ++y)
    for (int64_t x = 0; x < 21; ++x)
    {
      expectedLabels[y][x] = crop.labels[x][20 - y];
      expectedImage[0][y][x] = crop.image[0][x][20 - y];
    }
  EXPECT_TRUE(torch::equal(r.labels, expectedLabels));
  EXPECT_TRUE(torch::allclose(r.image, expectedImage, 1e-3, 1e-2));
}

TEST(PatchSampler, RandomSpatialAugmentationKeepsLabelsOnTheirStructures)
{
  auto v = MakeVolume(64, 64, 6, true);
  for (int dims : { 2, 3 })
  {
    SamplingOptions s = dims == 2 ? Sampling2D(48) : SamplingOptions();
    if (dims == 3)
    {
      s.spatialDimensions = 3;
      s.patchSize = { { 40, 40, 6 } };
    }
    PatchSampler                sampler(MakeVolumes({ v }), s, NoAugmentation(), 1);
    const std::array<double, 3> centre{ { 24.0, 24.0, dims == 2 ? 2.0 : 2.5 } };
    const Sample                crop = sampler.Extract(0, centre, SpatialTransform(), IntensityTransform());
    for (int trial = 0; trial < 4; ++trial)
    {
      SpatialTransform t;
      t.rotation = { { dims == 3 ? 0.1 : 0.0, dims == 3 ? -0.05 : 0.0, 0.3 - 0.2 * trial } };
      t.scale = 0.85 + 0.12 * trial;
      t.elastic = trial % 2 == 1;
      t.elasticMagnitude = 3.0;
      t.elasticSeed = 10 + trial;
      t.flip = { { trial == 2, trial == 3, false } };
      const Sample a = sampler.Extract(0, centre, t, IntensityTransform());
      SCOPED_TRACE(std::to_string(dims) + "D trial " + std::to_string(trial));
      // Linear (image) and nearest (labels) interpolation disagree at most along the boundaries.
      EXPECT_LT(Disagreement(a), 0.04);
      // ... and the labels did move.
      EXPECT_GT(a.labels.ne(crop.labels).to(torch::kFloat64).mean().item<double>(), 0.01);
      EXPECT_TRUE(a.labels.eq(2).any().item<bool>() || dims == 3);
    }
  }
  // Magnifying by 2 around the 2 x 2 tumour quadruples its area.
  PatchSampler                sampler(MakeVolumes({ v }), Sampling2D(24), NoAugmentation(), 1);
  const std::array<double, 3> centre{ { 17.5, 17.5, 2.0 } };
  SpatialTransform            zoom;
  zoom.scale = 2.0;
  EXPECT_EQ(sampler.Extract(0, centre, SpatialTransform(), IntensityTransform()).labels.eq(2).sum().item<int64_t>(), 4);
  EXPECT_EQ(sampler.Extract(0, centre, zoom, IntensityTransform()).labels.eq(2).sum().item<int64_t>(), 16);
}

TEST(PatchSampler, IntensityAugmentationsDoWhatTheySay)
{
  auto v = MakeVolume(32, 32, 4, false);
  v.image = torch::linspace(-1.0, 3.0, 32 * 32 * 4).view({ 4, 32, 32 });
  PatchSampler                sampler(MakeVolumes({ v }), Sampling2D(32), NoAugmentation(), 1);
  const std::array<double, 3> centre{ { 15.5, 15.5, 1.0 } };
  const torch::Tensor         base = sampler.Extract(0, centre, SpatialTransform(), IntensityTransform()).image;
  IntensityTransform          bright;
  bright.brightness = 1.2;
  EXPECT_TRUE(torch::allclose(sampler.Extract(0, centre, SpatialTransform(), bright).image, base * 1.2));
  IntensityTransform contrast;
  contrast.contrast = 0.5;
  const torch::Tensor c = sampler.Extract(0, centre, SpatialTransform(), contrast).image;
  EXPECT_NEAR(c.mean().item<double>(), base.mean().item<double>(), 1e-5);
  EXPECT_NEAR(c.std().item<double>(), 0.5 * base.std().item<double>(), 1e-5);
  IntensityTransform gamma;
  gamma.gamma = 2.0;
  const torch::Tensor g = sampler.Extract(0, centre, SpatialTransform(), gamma).image;
  EXPECT_NEAR(g.min().item<double>(), base.min().item<double>(), 1e-5);
  EXPECT_NEAR(g.max().item<double>(), base.max().item<double>(), 1e-5);
  // A value a quarter of the range above the minimum maps to 1/16 of the range above it.
  const double  low = base.min().item<double>(), range = base.max().item<double>() - low;
  const int64_t at = (base - (low + 0.25 * range)).abs().argmin().item<int64_t>();
  const double  b = base.flatten()[at].item<double>();
  EXPECT_NEAR(g.flatten()[at].item<double>(), low + std::pow((b - low) / range, 2.0) * range, 1e-4);
  IntensityTransform noise;
  noise.noiseStandardDeviation = 0.3;
  noise.noiseSeed = 5;
  const torch::Tensor n = sampler.Extract(0, centre, SpatialTransform(), noise).image - base;
  EXPECT_NEAR(n.std().item<double>(), 0.3, 0.03);
}

TEST(PatchSampler, BatchesDependOnlyOnSeedEpochAndIndexNotOnWorkers)
{
  std::vector<TrainingVolume> volumes;
  for (int i = 0; i < 3; ++i)
  {
    volumes.push_back(MakeVolume(40, 36, 10, true));
  }
  AugmentationOptions a; // everything on, often
  a.rotationProbability = a.scalingProbability = a.elasticProbability = a.noiseProbability = 0.5;
  auto sampler = std::make_shared<PatchSampler>(MakeVolumes(volumes), Sampling2D(24, 4, 1), a, 42);
  std::vector<std::vector<Batch>> runs;
  for (int workers : { 0, 1, 3 })
  {
    BatchLoader        loader(sampler, 5, 6, workers, 2);
    std::vector<Batch> batches;
    Batch              b;
    while (loader.Next(b))
    {
      batches.push_back(b);
    }
    EXPECT_GE(loader.GetWaitSeconds(), 0.0);
    runs.push_back(batches);
  }
  for (std::size_t r = 1; r < runs.size(); ++r)
  {
    ASSERT_EQ(runs[r].size(), 6u);
    for (std::size_t i = 0; i < 6; ++i)
    {
      EXPECT_EQ(runs[r][i].index, static_cast<int64_t>(i));
      EXPECT_TRUE(torch::equal(runs[r][i].images, runs[0][i].images)) << r << " " << i;
      EXPECT_TRUE(torch::equal(runs[r][i].labels, runs[0][i].labels)) << r << " " << i;
    }
  }
  // Another epoch or another seed gives other batches.
  EXPECT_FALSE(torch::equal(sampler->MakeBatch(6, 0).images, runs[0][0].images));
  PatchSampler other(MakeVolumes(volumes), Sampling2D(24, 4, 1), a, 43);
  EXPECT_FALSE(torch::equal(other.MakeBatch(5, 0).images, runs[0][0].images));
}

TEST(PatchSampler, CaseShardsSplitEveryBatchAmongCasesDealtAgainEveryEpoch)
{
  // Five volumes, three shards, batches of 6: part p (samples 2p, 2p + 1) comes from shard p only.
  std::vector<TrainingVolume> volumes;
  for (int i = 0; i < 5; ++i)
  {
    volumes.push_back(MakeVolume(24, 20, 6, i % 2 == 0));
  }
  SamplingOptions sampling = Sampling2D(16, 6, 1);
  sampling.caseShards = 3;
  sampling.foregroundFraction = 0.5;
  AugmentationOptions a;
  a.rotationProbability = 0.5;
  auto                             sampler = std::make_shared<PatchSampler>(MakeVolumes(volumes), sampling, a, 7);
  std::vector<std::vector<size_t>> first;
  bool                             changed = false;
  for (int64_t epoch = 0; epoch < 4; ++epoch)
  {
    std::vector<int> seen(5, 0);
    for (int shard = 0; shard < 3; ++shard)
    {
      const auto cases = sampler->GetCaseShard(epoch, shard);
      EXPECT_TRUE(std::is_sorted(cases.begin(), cases.end()));
      EXPECT_GE(cases.size(), 1u);
      EXPECT_LE(cases.size(), 2u);
      for (auto c : cases)
      {
        ++seen[c];
      }
      if (epoch == 0)
      {
        first.push_back(cases);
      }
      else
      {
        changed = changed || cases != first[static_cast<std::size_t>(shard)];
      }
      // The same deal every time it is asked for.
      EXPECT_EQ(cases, sampler->GetCaseShard(epoch, shard));
    }
    EXPECT_EQ(seen, std::vector<int>(5, 1)) << "epoch " << epoch; // disjoint, and every case dealt
    for (int64_t b = 0; b < 3; ++b)
    {
      for (int j = 0; j < 6; ++j)
      {
        const auto shard = sampler->GetCaseShard(epoch, j / 2);
        for (bool forced : { false, true })
        {
          const Sample s = sampler->Draw(epoch, b * 6 + j, forced);
          EXPECT_TRUE(std::count(shard.begin(), shard.end(), s.volume)) << epoch << " " << b << " " << j;
        }
      }
    }
  }
  EXPECT_TRUE(changed) << "the cases were dealt the same way every epoch";
  // A part is exactly its slice of the whole batch, also from a loader; each part has its forced foreground.
  const Batch whole = sampler->MakeBatch(2, 1);
  EXPECT_EQ(whole.forcedForeground, 3);
  EXPECT_EQ(sampler->GetNumberOfForcedSamples(), 3);
  for (int part = 0; part < 3; ++part)
  {
    const Batch b = sampler->MakeBatchPart(2, 1, part);
    ASSERT_EQ(b.images.size(0), 2);
    EXPECT_EQ(b.forcedForeground, 1);
    EXPECT_TRUE(torch::equal(b.images, whole.images.slice(0, 2 * part, 2 * part + 2)));
    EXPECT_TRUE(torch::equal(b.labels, whole.labels.slice(0, 2 * part, 2 * part + 2)));
    BatchLoader loader(sampler, 2, 2, 1, 0, part);
    Batch       loaded;
    ASSERT_TRUE(loader.Next(loaded));
    ASSERT_TRUE(loader.Next(loaded));
    EXPECT_TRUE(torch::equal(loaded.images, b.images));
  }
  EXPECT_THROW(sampler->MakeBatchPart(2, 1, 3), itk::ExceptionObject);
  // Fewer cases than shards: every shard still has one.
  sampling.caseShards = 6;
  PatchSampler few(MakeVolumes({ volumes[0], volumes[1] }), sampling, a, 7);
  for (int shard = 0; shard < 6; ++shard)
  {
    EXPECT_EQ(few.GetCaseShard(0, shard).size(), 1u);
  }
  // One shard: every case, and the batches of before.
  EXPECT_EQ(PatchSampler(MakeVolumes(volumes), Sampling2D(16, 6, 1), a, 7).GetCaseShard(3, 0).size(), 5u);
  sampling.caseShards = 4;
  EXPECT_THROW(PatchSampler(MakeVolumes(volumes), sampling, a, 7), itk::ExceptionObject); // 6 not a multiple of 4
}

TEST(PatchSampler, BadOptionsAreRefused)
{
  auto volumes = MakeVolumes({ MakeVolume(16, 16, 4, false) });
  EXPECT_THROW(PatchSampler(MakeVolumes({}), Sampling2D(8), NoAugmentation(), 1), itk::ExceptionObject);
  EXPECT_THROW(PatchSampler(volumes, Sampling2D(0), NoAugmentation(), 1), itk::ExceptionObject);
  EXPECT_THROW(PatchSampler(volumes, Sampling2D(8, 0), NoAugmentation(), 1), itk::ExceptionObject);
  SamplingOptions s = Sampling2D(8);
  s.foregroundFraction = 1.5;
  EXPECT_THROW(PatchSampler(volumes, s, NoAugmentation(), 1), itk::ExceptionObject);
  s = Sampling2D(8);
  s.spatialDimensions = 3;
  s.sliceContext = 1;
  EXPECT_THROW(PatchSampler(volumes, s, NoAugmentation(), 1), itk::ExceptionObject);
}
