// Training throughput: samples per second of the training step (network + loss + optimiser) for the default 2D
// U-Net and a 3D U-Net, the cost of making augmented batches, and whole epochs with background loading (samples per
// second and the share of time the training thread waits for data).
#include "torchsegLosses.h"
#include "torchsegPatchSampler.h"
#include "torchsegSegmentationNetwork.h"
#include "torchsegTensorBridge.h"

#include <torch/optim/adamw.h>
#include <torch/torch.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>

using namespace torchseg;

namespace
{

int
Threads()
{
  const char * n = std::getenv("TORCHSEG_BENCHMARK_THREADS");
  return n ? std::atoi(n) : 0;
}

// Volumes like preprocessed CT: normalised noise with a bright "organ" block and a small "tumour" inside.
std::shared_ptr<std::vector<TrainingVolume>>
MakeVolumes(int64_t X, int64_t Y, int64_t Z, int count)
{
  auto volumes = std::make_shared<std::vector<TrainingVolume>>();
  torch::manual_seed(1);
  using torch::indexing::Slice;
  for (int i = 0; i < count; ++i)
  {
    TrainingVolume v;
    v.name = "synthetic" + std::to_string(i);
    v.labels = torch::zeros({ Z, Y, X }, torch::kUInt8);
    v.labels.index_put_({ Slice(Z / 4, 3 * Z / 4), Slice(Y / 4, Y / 2), Slice(X / 5, X / 2) }, 1);
    v.labels.index_put_({ Slice(Z / 3, Z / 2), Slice(Y / 3, Y / 3 + 8), Slice(X / 4, X / 4 + 8) }, 2);
    v.image = torch::randn({ Z, Y, X }) + v.labels.to(torch::kFloat32);
    v.spacing = { { 1.5, 1.5, 2.5 } };
    const torch::Tensor flat = v.labels.flatten().to(torch::kLong);
    for (int64_t c = 0; c < 3; ++c)
    {
      v.classVoxels.push_back(flat.eq(c).sum().item<double>());
      v.classLocations.push_back(c == 0 ? torch::empty({ 0 }, torch::kLong) : flat.eq(c).nonzero().flatten());
    }
    volumes->push_back(std::move(v));
  }
  return volumes;
}

struct Setup
{
  SegmentationNetwork                  network{ nullptr };
  SegmentationLoss                     loss{ nullptr };
  std::unique_ptr<torch::optim::AdamW> optimizer;
  int64_t                              parameters = 0;
};

Setup
MakeSetup(const std::string & architecture, int channels, nlohmann::json options)
{
  Setup          s;
  NetworkOptions n;
  n.architecture = architecture;
  n.spatialDimensions = architecture == "unet3d" ? 3 : 2;
  n.inputChannels = channels;
  n.numberOfClasses = 3;
  n.options = std::move(options);
  torch::manual_seed(0);
  s.network = CreateNetwork(n);
  s.network->train();
  s.loss = SegmentationLoss(SegmentationLossOptions{});
  s.optimizer = std::make_unique<torch::optim::AdamW>(s.network->parameters(), torch::optim::AdamWOptions(1e-3));
  for (const auto & p : s.network->parameters())
  {
    s.parameters += p.numel();
  }
  return s;
}

void
Step(Setup & s, const torch::Tensor & images, const torch::Tensor & labels)
{
  s.optimizer->zero_grad();
  torch::Tensor loss = s.loss->forwardDeepSupervision(s.network->forwardWithAuxiliary(images), labels);
  loss.backward();
  torch::nn::utils::clip_grad_norm_(s.network->parameters(), 12.0);
  s.optimizer->step();
  benchmark::DoNotOptimize(loss.item<double>());
}

// The training step alone on a fixed batch: 2D U-Net, args (width, size, batch, input channels).
void
BM_TrainStepUNet2D(benchmark::State & state)
{
  SetTorchNumberOfThreads(Threads());
  const int     width = static_cast<int>(state.range(0));
  const int64_t size = state.range(1), batch = state.range(2), channels = state.range(3);
  Setup         s = MakeSetup("unet2d", static_cast<int>(channels), { { "width", width }, { "depth", 5 } });
  torch::Tensor images = torch::randn({ batch, channels, size, size });
  torch::Tensor labels = torch::randint(0, 3, { batch, size, size }, torch::kLong);
  Step(s, images, labels); // warm-up (oneDNN primitive creation)
  for (auto _ : state)
  {
    Step(s, images, labels);
  }
  state.counters["samplesPerSecond"] =
    benchmark::Counter(static_cast<double>(batch) * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["parameters"] = static_cast<double>(s.parameters);
}
BENCHMARK(BM_TrainStepUNet2D)
  ->Args({ 16, 256, 8, 1 })
  ->Args({ 16, 256, 8, 3 })
  ->Args({ 16, 192, 8, 3 })
  ->Args({ 32, 256, 8, 3 })
  ->Unit(benchmark::kMillisecond)
  ->UseRealTime()
  ->MinTime(5.0);

// The same U-Net in the "classic" configuration of the Python reference (batch norm, ReLU, max-pooling), args as
// above.
void
BM_TrainStepUNet2DClassic(benchmark::State & state)
{
  SetTorchNumberOfThreads(Threads());
  const int     width = static_cast<int>(state.range(0));
  const int64_t size = state.range(1), batch = state.range(2), channels = state.range(3);
  Setup         s = MakeSetup("unet2d",
                      static_cast<int>(channels),
                      { { "width", width },
                                { "depth", 5 },
                                { "normalization", "batch" },
                                { "downsampling", "maxpool" },
                                { "negativeSlope", 0.0 } });
  torch::Tensor images = torch::randn({ batch, channels, size, size });
  torch::Tensor labels = torch::randint(0, 3, { batch, size, size }, torch::kLong);
  Step(s, images, labels);
  for (auto _ : state)
  {
    Step(s, images, labels);
  }
  state.counters["samplesPerSecond"] =
    benchmark::Counter(static_cast<double>(batch) * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["parameters"] = static_cast<double>(s.parameters);
}
BENCHMARK(BM_TrainStepUNet2DClassic)
  ->Args({ 16, 256, 8, 1 })
  ->Unit(benchmark::kMillisecond)
  ->UseRealTime()
  ->MinTime(5.0);

// 3D U-Net, args (width, patch edge in-plane, patch depth, batch).
void
BM_TrainStepUNet3D(benchmark::State & state)
{
  SetTorchNumberOfThreads(Threads());
  const int     width = static_cast<int>(state.range(0));
  const int64_t edge = state.range(1), depth = state.range(2), batch = state.range(3);
  Setup         s = MakeSetup("unet3d", 1, { { "width", width }, { "depth", 4 } });
  torch::Tensor images = torch::randn({ batch, 1, depth, edge, edge });
  torch::Tensor labels = torch::randint(0, 3, { batch, depth, edge, edge }, torch::kLong);
  Step(s, images, labels);
  for (auto _ : state)
  {
    Step(s, images, labels);
  }
  state.counters["samplesPerSecond"] =
    benchmark::Counter(static_cast<double>(batch) * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["parameters"] = static_cast<double>(s.parameters);
}
BENCHMARK(BM_TrainStepUNet3D)
  ->Args({ 8, 96, 48, 2 })
  ->Args({ 16, 96, 48, 2 })
  ->Unit(benchmark::kMillisecond)
  ->UseRealTime()
  ->MinTime(5.0);

// Making one augmented batch in the calling thread (what each background worker does), args (2D: slice size, 3D:
// patch edge), dimension.
void
BM_MakeBatch(benchmark::State & state)
{
  SetTorchNumberOfThreads(1);
  const int64_t   size = state.range(0);
  const int       dims = static_cast<int>(state.range(1));
  SamplingOptions sampling;
  sampling.spatialDimensions = dims;
  sampling.sliceContext = dims == 2 ? 1 : 0;
  sampling.patchSize =
    dims == 2 ? std::array<int64_t, 3>{ { size, size, 1 } } : std::array<int64_t, 3>{ { size, size, 48 } };
  sampling.batchSize = dims == 2 ? 8 : 2;
  PatchSampler sampler(
    dims == 2 ? MakeVolumes(280, 250, 80, 4) : MakeVolumes(200, 180, 100, 4), sampling, AugmentationOptions(), 1);
  int64_t b = 0;
  for (auto _ : state)
  {
    Batch batch = sampler.MakeBatch(0, b++);
    benchmark::DoNotOptimize(batch);
  }
  state.counters["samplesPerSecond"] =
    benchmark::Counter(static_cast<double>(sampling.batchSize) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MakeBatch)->Args({ 192, 2 })->Args({ 96, 3 })->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);

// Whole epochs: background workers make augmented batches while the training thread steps; args (dimension,
// workers). Reports samples per second and the share of the time the training thread waited for a batch.
void
BM_TrainEpoch(benchmark::State & state)
{
  SetTorchNumberOfThreads(Threads());
  const int       dims = static_cast<int>(state.range(0));
  const int       workers = static_cast<int>(state.range(1));
  SamplingOptions sampling;
  sampling.spatialDimensions = dims;
  sampling.sliceContext = dims == 2 ? 1 : 0;
  sampling.patchSize = dims == 2 ? std::array<int64_t, 3>{ { 192, 192, 1 } } : std::array<int64_t, 3>{ { 96, 96, 48 } };
  sampling.batchSize = dims == 2 ? 8 : 2;
  auto sampler = std::make_shared<PatchSampler>(
    dims == 2 ? MakeVolumes(280, 250, 80, 4) : MakeVolumes(200, 180, 100, 4), sampling, AugmentationOptions(), 1);
  Setup         s = dims == 2 ? MakeSetup("unet2d", 3, { { "width", 16 }, { "depth", 5 } })
                              : MakeSetup("unet3d", 1, { { "width", 8 }, { "depth", 4 } });
  const int64_t iterations = dims == 2 ? 20 : 10;
  double        wait = 0.0, total = 0.0;
  int64_t       samples = 0, epoch = 0;
  for (auto _ : state)
  {
    const auto  start = std::chrono::steady_clock::now();
    BatchLoader loader(sampler, epoch++, iterations, workers);
    Batch       batch;
    while (loader.Next(batch))
    {
      Step(s, batch.images, batch.labels);
      samples += batch.images.size(0);
    }
    wait += loader.GetWaitSeconds();
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  state.counters["samplesPerSecond"] = samples / total;
  state.counters["dataWaitFraction"] = wait / total;
}
BENCHMARK(BM_TrainEpoch)
  ->Args({ 2, 0 })
  ->Args({ 2, 2 })
  ->Args({ 3, 2 })
  ->Unit(benchmark::kSecond)
  ->UseRealTime()
  ->Iterations(2);

} // namespace

BENCHMARK_MAIN();
