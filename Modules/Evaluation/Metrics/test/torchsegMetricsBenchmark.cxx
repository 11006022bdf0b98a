// Evaluation on a CT-sized pair: 512 x 512 x 300 voxels of 0.8 x 0.8 x 1.5 mm, a liver-like ellipsoid (label 1) with
// three tumour spheres (label 2); the prediction is shifted, eroded, misses part of one tumour and adds a false one.
// Compares the toolkit's filters with ITK's LabelOverlapMeasuresImageFilter, HausdorffDistanceImageFilter and (for the
// lesion-wise detection) ConnectedComponentImageFilter.
// Run each benchmark in its own process (--benchmark_filter) for a meaningful peak memory.
#include "torchsegLesionDetectionMetricsImageFilter.h"
#include "torchsegOverlapMetricsImageFilter.h"
#include "torchsegSegmentationEvaluation.h"
#include "torchsegSurfaceDistanceMetricsImageFilter.h"

#include "itkConnectedComponentImageFilter.h"
#include "itkHausdorffDistanceImageFilter.h"
#include "itkImageRegionIteratorWithIndex.h"
#include "itkLabelOverlapMeasuresImageFilter.h"
#include "itkMultiThreaderBase.h"

#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <array>
#include <cmath>

namespace
{

using LabelImage = itk::Image<std::uint8_t, 3>;

struct Sphere
{
  std::array<double, 3> centre; // mm, relative to the liver centre
  double                radius;
};

double
PeakResidentMB()
{
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

LabelImage::Pointer
MakePhantom(const std::array<double, 3> & shift, double erosion, const std::vector<Sphere> & tumours)
{
  auto image = LabelImage::New();
  image->SetRegions(LabelImage::SizeType{ { 512, 512, 300 } });
  const double spacing[3] = { 0.8, 0.8, 1.5 };
  image->SetSpacing(spacing);
  image->Allocate();
  const std::array<double, 3> centre{ { 230.0, 200.0, 225.0 } }; // mm
  const std::array<double, 3> axes{ { 100.0 - erosion, 80.0 - erosion, 75.0 - erosion } };
  std::uint8_t *              buffer = image->GetBufferPointer();
  itk::MultiThreaderBase::New()->ParallelizeArray(
    0,
    300,
    [&](itk::SizeValueType z) {
      for (std::size_t y = 0; y < 512; ++y)
      {
        for (std::size_t x = 0; x < 512; ++x)
        {
          const double p[3] = { x * 0.8 - centre[0] - shift[0],
                                y * 0.8 - centre[1] - shift[1],
                                z * 1.5 - centre[2] - shift[2] };
          std::uint8_t label = 0;
          double       e = 0;
          for (int d = 0; d < 3; ++d)
          {
            e += p[d] * p[d] / (axes[d] * axes[d]);
          }
          if (e <= 1.0)
          {
            label = 1;
          }
          for (const Sphere & s : tumours)
          {
            double r2 = 0;
            for (int d = 0; d < 3; ++d)
            {
              r2 += (p[d] - s.centre[d]) * (p[d] - s.centre[d]);
            }
            if (r2 <= s.radius * s.radius)
            {
              label = 2;
            }
          }
          buffer[x + 512 * (y + 512 * z)] = label;
        }
      }
    },
    nullptr);
  return image;
}

struct Pair
{
  LabelImage::Pointer reference;
  LabelImage::Pointer prediction;
  double              baselineMB;
};

/** The prediction with two small false-positive liver blobs in opposite corners of the volume: the union bounding
 * box of label 1 becomes the whole image (the worst case of the crop). */
const LabelImage *
GetScatteredPrediction();

const Pair &
GetPair()
{
  static const Pair pair = [] {
    Pair p;
    p.reference = MakePhantom(
      { { 0, 0, 0 } }, 0.0, { { { { 30, 10, 5 } }, 15 }, { { { -40, -20, 20 } }, 10 }, { { { 10, 40, -30 } }, 8 } });
    p.prediction = MakePhantom(
      { { 2.0, -1.6, 1.5 } }, 2.0, { { { { 31, 9, 6 } }, 14 }, { { { -41, -20, 21 } }, 7 }, { { { -60, 0, 0 } }, 6 } });
    p.baselineMB = PeakResidentMB();
    return p;
  }();
  return pair;
}

const LabelImage *
GetScatteredPrediction()
{
  static const LabelImage::Pointer scattered = [] {
    const LabelImage * prediction = GetPair().prediction;
    auto               image = LabelImage::New();
    image->CopyInformation(prediction);
    image->SetRegions(prediction->GetLargestPossibleRegion());
    image->Allocate();
    std::copy_n(prediction->GetBufferPointer(),
                prediction->GetLargestPossibleRegion().GetNumberOfPixels(),
                image->GetBufferPointer());
    for (const long corner : { 2L, 505L })
    {
      for (long z = 0; z < 4; ++z)
      {
        for (long y = 0; y < 6; ++y)
        {
          for (long x = 0; x < 6; ++x)
          {
            image->SetPixel({ { corner + x, corner + y, (corner > 100 ? 295 : 1) + z } }, 1);
          }
        }
      }
    }
    return image;
  }();
  return scattered;
}

void
SetCounters(benchmark::State & state)
{
  state.counters["peakMB"] = PeakResidentMB();
  state.counters["imagesMB"] = GetPair().baselineMB;
}

void
BM_Overlap(benchmark::State & state)
{
  const Pair & pair = GetPair();
  double       dice = 0;
  for (auto _ : state)
  {
    auto filter = torchseg::OverlapMetricsImageFilter<LabelImage>::New();
    filter->SetReferenceImage(pair.reference);
    filter->SetPredictionImage(pair.prediction);
    filter->Update();
    dice = filter->GetMeanDice();
  }
  state.counters["meanDice"] = dice;
  SetCounters(state);
}

void
Surface(benchmark::State & state, std::vector<std::uint8_t> labels)
{
  const Pair & pair = GetPair();
  double       hd95 = 0;
  double       boxVoxels = 0;
  for (auto _ : state)
  {
    auto filter = torchseg::SurfaceDistanceMetricsImageFilter<LabelImage>::New();
    filter->SetReferenceImage(pair.reference);
    filter->SetPredictionImage(pair.prediction);
    filter->SetLabels(labels);
    filter->Update();
    hd95 = filter->GetMeasures(labels.front()).hausdorffPercentile;
    boxVoxels = static_cast<double>(filter->GetLabelRegion(labels.front()).GetNumberOfPixels());
  }
  state.counters["hd95"] = hd95;
  state.counters["boxVoxels"] = boxVoxels;
  SetCounters(state);
}

void
BM_SurfaceLiver(benchmark::State & state)
{
  Surface(state, { 1 });
}

void
BM_SurfaceTumour(benchmark::State & state)
{
  Surface(state, { 2 });
}

/** The liver with false positives in two corners: the distance transforms cover the whole 512 x 512 x 300 box. */
void
BM_SurfaceLiverScattered(benchmark::State & state)
{
  const Pair &       pair = GetPair();
  const LabelImage * scattered = GetScatteredPrediction();
  double             hd = 0;
  for (auto _ : state)
  {
    auto filter = torchseg::SurfaceDistanceMetricsImageFilter<LabelImage>::New();
    filter->SetReferenceImage(pair.reference);
    filter->SetPredictionImage(scattered);
    filter->SetLabels({ 1 });
    filter->Update();
    hd = filter->GetMeasures(1).hausdorff;
  }
  state.counters["hd"] = hd;
  SetCounters(state);
}

/** Label 3 is in neither image: the bounding-box scan alone. */
void
BM_SurfaceScanOnly(benchmark::State & state)
{
  Surface(state, { 3 });
}

void
BM_SurfaceBothLabels(benchmark::State & state)
{
  Surface(state, { 1, 2 });
}

void
BM_AllMetricsBothLabels(benchmark::State & state)
{
  const Pair &                     pair = GetPair();
  torchseg::SegmentationEvaluation e;
  for (auto _ : state)
  {
    e = torchseg::EvaluateSegmentation<LabelImage>(pair.reference, pair.prediction);
  }
  state.counters["liverDice"] = e.labels.at(0).overlap.dice;
  state.counters["liverVoxels"] = static_cast<double>(e.labels.at(0).overlap.referenceCount);
  state.counters["tumourVoxels"] = static_cast<double>(e.labels.at(1).overlap.referenceCount);
  state.counters["liverHD"] = e.labels.at(0).surface.hausdorff;
  state.counters["liverHD95"] = e.labels.at(0).surface.hausdorffPercentile;
  state.counters["liverASSD"] = e.labels.at(0).surface.averageSymmetric;
  state.counters["tumourDice"] = e.labels.at(1).overlap.dice;
  state.counters["tumourHD95"] = e.labels.at(1).surface.hausdorffPercentile;
  SetCounters(state);
}

void
BM_ITKLabelOverlapMeasures(benchmark::State & state)
{
  const Pair & pair = GetPair();
  double       dice = 0;
  for (auto _ : state)
  {
    auto filter = itk::LabelOverlapMeasuresImageFilter<LabelImage>::New();
    filter->SetSourceImage(pair.prediction);
    filter->SetTargetImage(pair.reference);
    filter->Update();
    dice = filter->GetDiceCoefficient(1);
  }
  state.counters["liverDice"] = dice;
  SetCounters(state);
}

/** ITK's voxel-set Hausdorff distance of both labels, on binary masks made before the timing. */
void
BM_ITKHausdorffBothLabels(benchmark::State & state)
{
  const Pair &                     pair = GetPair();
  std::vector<LabelImage::Pointer> masks;
  for (const std::uint8_t label : { 1, 2 })
  {
    for (const LabelImage * source : { pair.reference.GetPointer(), pair.prediction.GetPointer() })
    {
      auto mask = LabelImage::New();
      mask->CopyInformation(source);
      mask->SetRegions(source->GetLargestPossibleRegion());
      mask->Allocate();
      const std::size_t n = source->GetLargestPossibleRegion().GetNumberOfPixels();
      for (std::size_t i = 0; i < n; ++i)
      {
        mask->GetBufferPointer()[i] = source->GetBufferPointer()[i] == label;
      }
      masks.push_back(mask);
    }
  }
  double hd = 0;
  for (auto _ : state)
  {
    for (std::size_t l = 0; l < 2; ++l)
    {
      auto filter = itk::HausdorffDistanceImageFilter<LabelImage, LabelImage>::New();
      filter->SetInput1(masks[2 * l]);
      filter->SetInput2(masks[2 * l + 1]);
      filter->SetUseImageSpacing(true);
      filter->Update();
      if (l == 0)
      {
        hd = filter->GetHausdorffDistance();
      }
    }
  }
  state.counters["liverHD"] = hd;
  SetCounters(state);
}

/** Lesion-wise detection of one label: the run scan of both images, the labelling and the matching. */
void
Lesions(benchmark::State & state, std::uint8_t label)
{
  const Pair & pair = GetPair();
  double       detected = 0, lesions = 0, components = 0, falsePositives = 0;
  for (auto _ : state)
  {
    auto filter = torchseg::LesionDetectionMetricsImageFilter<LabelImage>::New();
    filter->SetReferenceImage(pair.reference);
    filter->SetPredictionImage(pair.prediction);
    filter->SetLabel(label);
    filter->Update();
    const torchseg::LesionDetectionSummary & s = filter->GetSummary();
    detected = static_cast<double>(s.detectedLesions);
    lesions = static_cast<double>(s.referenceLesions);
    components = static_cast<double>(s.predictedComponents);
    falsePositives = static_cast<double>(s.falsePositiveComponents);
  }
  state.counters["lesions"] = lesions;
  state.counters["detected"] = detected;
  state.counters["components"] = components;
  state.counters["falsePositives"] = falsePositives;
  SetCounters(state);
}

void
BM_LesionsTumour(benchmark::State & state)
{
  Lesions(state, 2);
}

/** The liver: one large component per image, about 150 000 runs each. */
void
BM_LesionsLiver(benchmark::State & state)
{
  Lesions(state, 1);
}

/** ITK's connected components of the tumour masks of both images (masks made before the timing): labelling only, no
 * sizes and no matching. */
void
BM_ITKConnectedComponentsTumour(benchmark::State & state)
{
  const Pair &                     pair = GetPair();
  std::vector<LabelImage::Pointer> masks;
  for (const LabelImage * source : { pair.reference.GetPointer(), pair.prediction.GetPointer() })
  {
    auto mask = LabelImage::New();
    mask->CopyInformation(source);
    mask->SetRegions(source->GetLargestPossibleRegion());
    mask->Allocate();
    const std::size_t n = source->GetLargestPossibleRegion().GetNumberOfPixels();
    for (std::size_t i = 0; i < n; ++i)
    {
      mask->GetBufferPointer()[i] = source->GetBufferPointer()[i] == 2;
    }
    masks.push_back(mask);
  }
  double objects = 0;
  for (auto _ : state)
  {
    for (const auto & mask : masks)
    {
      auto filter = itk::ConnectedComponentImageFilter<LabelImage, itk::Image<std::uint32_t, 3>>::New();
      filter->SetInput(mask);
      filter->SetFullyConnected(true);
      filter->Update();
      objects = static_cast<double>(filter->GetObjectCount());
    }
  }
  state.counters["predictedComponents"] = objects;
  SetCounters(state);
}

} // namespace

BENCHMARK(BM_Overlap)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime()->Iterations(5);
BENCHMARK(BM_SurfaceLiver)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime()->Iterations(3);
BENCHMARK(BM_SurfaceTumour)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime()->Iterations(3);
BENCHMARK(BM_SurfaceLiverScattered)
  ->Unit(benchmark::kMillisecond)
  ->MeasureProcessCPUTime()
  ->UseRealTime()
  ->Iterations(1);
BENCHMARK(BM_SurfaceScanOnly)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime()->Iterations(3);
BENCHMARK(BM_SurfaceBothLabels)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime()->Iterations(3);
BENCHMARK(BM_AllMetricsBothLabels)
  ->Unit(benchmark::kMillisecond)
  ->MeasureProcessCPUTime()
  ->UseRealTime()
  ->Iterations(3);
BENCHMARK(BM_ITKLabelOverlapMeasures)
  ->Unit(benchmark::kMillisecond)
  ->MeasureProcessCPUTime()
  ->UseRealTime()
  ->Iterations(3);
BENCHMARK(BM_ITKHausdorffBothLabels)
  ->Unit(benchmark::kMillisecond)
  ->MeasureProcessCPUTime()
  ->UseRealTime()
  ->Iterations(1);

BENCHMARK(BM_LesionsTumour)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime()->Iterations(5);
BENCHMARK(BM_LesionsLiver)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime()->Iterations(3);
BENCHMARK(BM_ITKConnectedComponentsTumour)
  ->Unit(benchmark::kMillisecond)
  ->MeasureProcessCPUTime()
  ->UseRealTime()
  ->Iterations(3);

int
main(int argc, char ** argv)
{
  // Both cores, like the applications' default.
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(2);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
