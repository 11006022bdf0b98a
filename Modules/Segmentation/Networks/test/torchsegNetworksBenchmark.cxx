// Forward-pass speed of every architecture on the CPU: 256x256 slices in batches of 8 (2D) and one 96^3 volume
// (3D), at each architecture's default options, 1 input channel and 3 classes (background, liver, tumour), in
// InferenceMode with LibTorch's thread count set to all hardware threads (--numberOfThreads N to change it).
// Reports seconds per forward, images (volumes) per second, the analytic convolution GFLOP per forward and the
// achieved GFLOP/s, next to the float32 matrix-product peak measured with torch::mm on 2048^2 matrices.
// On a shared machine the wall-clock figures depend on the other load; "GFLOP/cpu-s" (FLOPs per second of CPU time
// of the whole process, all threads) does much less, and times the thread count it estimates the uncontended rate.
//
//   TorchSegNetworksBenchmark [--numberOfThreads N] [--width W] [--benchmark_filter=REGEX]
//
// --width W benchmarks every network at base width W (U-Net: W/2) instead of its default: the CPU-sized
// configurations of docs/performance-networks.md.
#include "torchsegNetworkLayers.h"
#include "torchsegSegmentationNetwork.h"
#include "torchsegTensorBridge.h"

#include <torch/torch.h>

#include <benchmark/benchmark.h>

#include <ctime>
#include <cstring>
#include <string>

namespace
{
int g_Threads = 0;
int g_Width = 0;

void
BM_MatrixProduct2048(benchmark::State & state)
{
  const int            threads = torchseg::SetTorchNumberOfThreads(g_Threads);
  torch::InferenceMode guard;
  const int64_t        n = 2048;
  const auto           a = torch::randn({ n, n });
  const auto           b = torch::randn({ n, n });
  auto                 c = torch::mm(a, b);
  const auto           cpu = std::clock();
  for (auto _ : state)
  {
    torch::mm_out(c, a, b);
    benchmark::DoNotOptimize(c.data_ptr());
  }
  const double cpuSeconds = static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC;
  const double flops = 2.0 * n * n * n;
  state.counters["GFLOP/cpu-s"] = flops / 1e9 * state.iterations() / cpuSeconds;
  state.counters["GFLOP"] = flops / 1e9;
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9 * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["threads"] = threads;
}

void
BM_Forward(benchmark::State & state, const std::string & architecture, int dimensions)
{
  const int                threads = torchseg::SetTorchNumberOfThreads(g_Threads);
  torchseg::NetworkOptions options;
  options.architecture = architecture;
  options.spatialDimensions = dimensions;
  options.inputChannels = 1;
  options.numberOfClasses = 3;
  if (g_Width > 0)
  {
    options.options["width"] = architecture.rfind("unet", 0) == 0 ? std::max(g_Width / 2, 1) : g_Width;
  }
  torch::manual_seed(0);
  auto network = torchseg::CreateNetwork(options);
  network->eval();
  const int64_t        batch = dimensions == 2 ? 8 : 1;
  std::vector<int64_t> shape{ batch, 1 };
  for (int d = 0; d < dimensions; ++d)
  {
    shape.push_back(dimensions == 2 ? 256 : 96);
  }
  torch::InferenceMode guard;
  const torch::Tensor  input = torch::randn(shape);
  double               flops = 0.0;
  {
    // The first call also creates oneDNN's primitives: untimed.
    torchseg::layers::ConvolutionFlopCounter counter;
    benchmark::DoNotOptimize(network->forward(input).data_ptr());
    flops = counter.GetFlops();
  }
  const auto cpu = std::clock();
  for (auto _ : state)
  {
    const torch::Tensor logits = network->forward(input);
    benchmark::DoNotOptimize(logits.data_ptr());
  }
  const double cpuSeconds = static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC;
  state.counters["GFLOP/cpu-s"] = flops / 1e9 * state.iterations() / cpuSeconds;
  state.counters["images/s"] =
    benchmark::Counter(static_cast<double>(batch * state.iterations()), benchmark::Counter::kIsRate);
  state.counters["GFLOP"] = flops / 1e9;
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9 * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["Mparams"] = torchseg::layers::CountParameters(*network) / 1e6;
  state.counters["threads"] = threads;
}

} // namespace

int
main(int argc, char ** argv)
{
  // Our own flags first; the rest goes to Google Benchmark.
  std::vector<char *> rest{ argv[0] };
  for (int i = 1; i < argc; ++i)
  {
    if (std::strcmp(argv[i], "--numberOfThreads") == 0 && i + 1 < argc)
    {
      g_Threads = std::stoi(argv[++i]);
    }
    else if (std::strcmp(argv[i], "--width") == 0 && i + 1 < argc)
    {
      g_Width = std::stoi(argv[++i]);
    }
    else
    {
      rest.push_back(argv[i]);
    }
  }
  benchmark::RegisterBenchmark("MatrixProduct2048", BM_MatrixProduct2048)
    ->MeasureProcessCPUTime()
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
  for (const int dimensions : { 2, 3 })
  {
    for (const auto & name : torchseg::GetArchitectureNames())
    {
      if ((name == "unet2d" && dimensions == 3) || (name == "unet3d" && dimensions == 2))
      {
        continue;
      }
      const std::string label = "Forward/" + name + "/" + (dimensions == 2 ? "2d_256x256_batch8" : "3d_96cubed_batch1");
      benchmark::RegisterBenchmark(label.c_str(), BM_Forward, name, dimensions)
        ->MeasureProcessCPUTime()
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond)
        ->MinTime(2.0);
    }
  }
  int count = static_cast<int>(rest.size());
  benchmark::Initialize(&count, rest.data());
  if (benchmark::ReportUnrecognizedArguments(count, rest.data()))
  {
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
