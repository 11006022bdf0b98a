// Time to generate one phantom case (CT, label and tissue map), by size and thread count.
//   TorchSegPhantomBenchmark --benchmark_filter=512
#include "torchsegAbdominalCTPhantomSource.h"

#include "itkMultiThreaderBase.h"

#include <benchmark/benchmark.h>

namespace
{

// Arguments: in-plane size, slices, slice width (0.1 mm units), threads.
void
BM_Phantom(benchmark::State & state)
{
  const auto                       size = static_cast<unsigned int>(state.range(0));
  const auto                       slices = static_cast<unsigned int>(state.range(1));
  const double                     width = state.range(2) / 10.0;
  const int                        threads = static_cast<int>(state.range(3));
  torchseg::PhantomSamplingOptions options;
  options.size = size;
  options.numberOfSlices = slices;
  options.axialOnly = true;
  torchseg::PhantomParameters p = torchseg::SamplePhantomParameters(1, 0, options);
  // A fixed slice width, the scan range centred on the liver.
  p.geometry.spacing[2] = width;
  p.geometry.sliceThickness = width;
  p.geometry.origin[2] = p.geometry.anatomyOrigin[2] - 90.0 - 0.5 * (slices - 1) * width;
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(threads);
  for (auto _ : state)
  {
    auto source = torchseg::AbdominalCTPhantomSource::New();
    source->SetNumberOfWorkUnits(threads);
    source->SetParameters(p);
    source->Update();
    benchmark::DoNotOptimize(source->GetCTOutput()->GetBufferPointer());
  }
  state.counters["voxels/s"] =
    benchmark::Counter(static_cast<double>(size) * size * slices * state.iterations(), benchmark::Counter::kIsRate);
}

// The serial part: sampling the parameters and building the anatomy (torso tables, vessel trees, tumour placement).
void
BM_PhantomAnatomy(benchmark::State & state)
{
  uint64_t caseIndex = 0;
  for (auto _ : state)
  {
    auto source = torchseg::AbdominalCTPhantomSource::New();
    source->SetSeed(1);
    source->SetCaseIndex(caseIndex++ % 8);
    source->UpdateOutputInformation();
    benchmark::DoNotOptimize(source->GetParameters().tumours.size());
  }
}

} // namespace

BENCHMARK(BM_PhantomAnatomy)->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime();

BENCHMARK(BM_Phantom)
  ->ArgNames({ "size", "slices", "width_0.1mm", "threads" })
  ->Args({ 128, 32, 50, 1 })
  ->Args({ 256, 60, 25, 2 })
  ->Args({ 512, 120, 25, 1 })
  ->Args({ 512, 120, 25, 2 })
  ->Args({ 512, 120, 10, 2 })
  ->Args({ 512, 120, 50, 2 })
  ->Unit(benchmark::kMillisecond)
  ->UseRealTime()
  ->MeasureProcessCPUTime();

BENCHMARK_MAIN();
