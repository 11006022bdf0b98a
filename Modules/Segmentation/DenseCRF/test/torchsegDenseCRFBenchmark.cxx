// The dense CRF on a CT-sized volume: 512 x 512 x 100 voxels of 0.8 x 0.8 x 2.5 mm, 3 classes (background, a
// liver-like ellipsoid, two tumours), CT in HU with noise 15 HU, probabilities from noisy logits (as a network's
// softmax might be). Reports seconds per volume, the lattice size, the split between building the lattice and the
// iterations, and the peak memory. Run one benchmark per process (--benchmark_filter) for a meaningful peak memory.
#include "torchsegDenseCRFImageFilter.h"

#include "itkMultiThreaderBase.h"

#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

namespace
{

constexpr unsigned int Dimension = 3;
using CTImage = itk::Image<short, Dimension>;
using ProbabilityImage = itk::VectorImage<float, Dimension>;
using LabelImage = itk::Image<unsigned char, Dimension>;
using FilterType = torchseg::DenseCRFImageFilter<CTImage, ProbabilityImage, LabelImage>;

double
PeakResidentMB()
{
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

/** Seconds of processor time (user and system, all threads) used by the process so far. */
double
ProcessorSeconds()
{
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + 1.0e-6 * (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

struct Volume
{
  CTImage::Pointer          ct;
  ProbabilityImage::Pointer probabilities;
  std::vector<uint8_t>      truth;
  std::vector<uint8_t>      nearSurface;
};

/** Dice of label \a label between the truth and \a labels (one value per voxel). */
template <typename TLabels>
double
Dice(const std::vector<uint8_t> & truth, const TLabels & labels, unsigned int label)
{
  std::size_t both = 0;
  std::size_t sum = 0;
  for (std::size_t i = 0; i < truth.size(); ++i)
  {
    const bool a = truth[i] == label;
    const bool b = static_cast<unsigned int>(labels[i]) == label;
    both += a && b;
    sum += a + b;
  }
  return sum ? 2.0 * both / sum : 1.0;
}

const Volume &
GetVolume()
{
  static const Volume volume = [] {
    const std::size_t X = 512, Y = 512, Z = 100;
    const double      spacing[3] = { 0.8, 0.8, 2.5 };
    Volume            v;
    v.ct = CTImage::New();
    v.ct->SetRegions(CTImage::SizeType{ { X, Y, Z } });
    v.ct->SetSpacing(spacing);
    v.ct->Allocate();
    v.probabilities = ProbabilityImage::New();
    v.probabilities->CopyInformation(v.ct);
    v.probabilities->SetRegions(v.ct->GetLargestPossibleRegion());
    v.probabilities->SetNumberOfComponentsPerPixel(3);
    v.probabilities->Allocate();
    v.truth.resize(X * Y * Z);
    v.nearSurface.resize(X * Y * Z);
    short * ct = v.ct->GetBufferPointer();
    float * p = v.probabilities->GetBufferPointer();

    itk::MultiThreaderBase::New()->ParallelizeArray(
      0,
      Z,
      [&](itk::SizeValueType z) {
        std::mt19937                     random(static_cast<unsigned int>(z) + 1);
        std::normal_distribution<double> gaussian(0.0, 1.0);
        for (std::size_t y = 0; y < Y; ++y)
        {
          for (std::size_t x = 0; x < X; ++x)
          {
            const double px = x * spacing[0], py = y * spacing[1], pz = z * spacing[2];
            const double body = std::pow((px - 205.0) / 180.0, 2) + std::pow((py - 205.0) / 140.0, 2);
            const double liver =
              std::pow((px - 150.0) / 90.0, 2) + std::pow((py - 180.0) / 70.0, 2) + std::pow((pz - 125.0) / 90.0, 2);
            const double t1 = std::pow(px - 130.0, 2) + std::pow(py - 170.0, 2) + std::pow(pz - 120.0, 2);
            const double t2 = std::pow(px - 180.0, 2) + std::pow(py - 200.0, 2) + std::pow(pz - 150.0, 2);
            int          label = liver <= 1.0 ? 1 : 0;
            if (t1 <= 20.0 * 20.0 || t2 <= 12.0 * 12.0)
            {
              label = 2;
            }
            double hu = body > 1.0 ? -1000.0 : (label == 1 ? 60.0 : (label == 2 ? 25.0 : 10.0));
            hu += 15.0 * gaussian(random);
            const std::size_t i = (z * Y + y) * X + x;
            ct[i] = static_cast<short>(std::lround(hu));
            v.truth[i] = static_cast<uint8_t>(label);
            double logits[3];
            double sum = 0.0;
            for (int c = 0; c < 3; ++c)
            {
              logits[c] = (c == label ? 2.0 : 0.0) + 1.0 * gaussian(random);
              sum += std::exp(logits[c]);
            }
            for (int c = 0; c < 3; ++c)
            {
              p[i * 3 + c] = static_cast<float>(std::exp(logits[c]) / sum);
            }
            // Near a surface: the liver's normalised radius within [0.85, 1.15] (about +-10 mm), or within 10 mm
            // of a tumour's surface.
            v.nearSurface[i] = std::abs(std::sqrt(liver) - 1.0) < 0.15 || std::abs(std::sqrt(t1) - 20.0) < 10.0 ||
                               std::abs(std::sqrt(t2) - 12.0) < 10.0;
          }
        }
      },
      nullptr);
    return v;
  }();
  return volume;
}

/** As a network's softmax: the noisy probabilities within about 10 mm of the organ's and the tumours' surfaces,
 * certain (1 - 2e-5 for the true class) elsewhere. Made when asked for (one probability image per process). */
ProbabilityImage::Pointer
MakeNetworkLikeProbabilities(const Volume & volume)
{
  auto network = ProbabilityImage::New();
  network->CopyInformation(volume.probabilities);
  network->SetRegions(volume.probabilities->GetLargestPossibleRegion());
  network->SetNumberOfComponentsPerPixel(3);
  network->Allocate();
  const float * p = volume.probabilities->GetBufferPointer();
  float *       out = network->GetBufferPointer();
  for (std::size_t i = 0; i < volume.truth.size(); ++i)
  {
    for (unsigned int c = 0; c < 3; ++c)
    {
      out[3 * i + c] = volume.nearSurface[i] ? p[3 * i + c] : (c == volume.truth[i] ? 1.0f - 2.0e-5f : 1.0e-5f);
    }
  }
  return network;
}

void
RunFilterBenchmark(benchmark::State & state, bool network)
{
  const auto threads = static_cast<itk::ThreadIdType>(state.range(0));
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(threads);
  const Volume &                  volume = GetVolume();
  const ProbabilityImage::Pointer probabilities = network ? MakeNetworkLikeProbabilities(volume) : volume.probabilities;
  std::size_t                     latticePoints = 0;
  double                          liverDice = 0.0;
  double                          tumourDice = 0.0;
  FilterType::Pointer             last;
  const double                    processorStart = ProcessorSeconds();
  for (auto _ : state)
  {
    last = nullptr; // one volume's outputs in memory at a time
    auto filter = FilterType::New();
    filter->SetInput(volume.ct);
    filter->SetProbabilityImage(probabilities);
    filter->SetAppearanceSpatialSigma(static_cast<double>(state.range(1)));
    filter->SetRestrictToUncertainRegion(state.range(2) != 0);
    filter->SetNumberOfWorkUnits(threads);
    filter->Update();
    latticePoints = filter->GetNumberOfLatticePoints();
    benchmark::DoNotOptimize(filter->GetOutput()->GetBufferPointer());
    last = filter;
  }
  const double processorSeconds = (ProcessorSeconds() - processorStart) / state.iterations();
  liverDice = Dice(volume.truth, last->GetOutput()->GetBufferPointer(), 1);
  tumourDice = Dice(volume.truth, last->GetOutput()->GetBufferPointer(), 2);
  // The argmax of the input probabilities, for comparison.
  const float *        p = probabilities->GetBufferPointer();
  std::vector<uint8_t> argmax(volume.truth.size());
  for (std::size_t i = 0; i < argmax.size(); ++i)
  {
    argmax[i] = static_cast<uint8_t>(std::max_element(p + 3 * i, p + 3 * i + 3) - (p + 3 * i));
  }
  state.counters["liverDiceArgmax"] = Dice(volume.truth, argmax, 1);
  state.counters["tumourDiceArgmax"] = Dice(volume.truth, argmax, 2);
  state.counters["liverDiceCRF"] = liverDice;
  state.counters["tumourDiceCRF"] = tumourDice;
  state.counters["latticePoints"] = static_cast<double>(latticePoints);
  state.counters["iteratedFraction"] =
    static_cast<double>(last->GetIteratedRegion().GetNumberOfPixels()) / static_cast<double>(volume.truth.size());
  state.counters["cpuSecondsPerVolume"] = processorSeconds;
  state.counters["peakMB"] = PeakResidentMB();
}

/** Noisy probabilities everywhere (the argmax is wrong on about 20 % of the voxels): the whole volume is iterated. */
void
BM_DenseCRF512x512x100(benchmark::State & state)
{
  RunFilterBenchmark(state, false);
}
// Arguments: threads, thetaAlpha in mm (5 is the default; 10 gives a lattice of a sixth of the vertices), restriction
// to the uncertain region (on by default; it changes nothing here).
BENCHMARK(BM_DenseCRF512x512x100)
  ->Args({ 2, 5, 1 })
  ->Args({ 1, 5, 1 })
  ->Args({ 2, 10, 1 })
  ->Unit(benchmark::kSecond)
  ->UseRealTime()
  ->Iterations(2);

/** Network-like probabilities (certain far from the surfaces): with and without the restriction to the box of the
 * uncertain voxels. */
void
BM_DenseCRFNetworkLike512x512x100(benchmark::State & state)
{
  RunFilterBenchmark(state, true);
}
BENCHMARK(BM_DenseCRFNetworkLike512x512x100)
  ->Args({ 2, 5, 1 })
  ->Args({ 2, 5, 0 })
  ->Unit(benchmark::kSecond)
  ->UseRealTime()
  ->Iterations(2);

/** The same inference through the engine, split into building the lattice and the iterations. */
void
BM_DenseCRFPhases512x512x100(benchmark::State & state)
{
  const auto threads = static_cast<itk::ThreadIdType>(state.range(0));
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(threads);
  const Volume & volume = GetVolume();
  auto           threader = itk::MultiThreaderBase::New();
  threader->SetNumberOfWorkUnits(threads);
  const std::size_t  N = volume.ct->GetLargestPossibleRegion().GetNumberOfPixels();
  std::vector<float> refined(N * 3);
  const short *      ct = volume.ct->GetBufferPointer();
  double             lattice = 0.0;
  double             iterations = 0.0;
  std::size_t        latticePoints = 0;
  const double       processorStart = ProcessorSeconds();
  for (auto _ : state)
  {
    torchseg::DenseCRFMeanField crf({ 512, 512, 100 }, { 0.8, 0.8, 2.5 }, 3, threader);
    crf.Run(
      volume.probabilities->GetBufferPointer(),
      [ct](std::size_t first, std::size_t count, float * out) {
        for (std::size_t i = 0; i < count; ++i)
        {
          out[i] = ct[first + i];
        }
      },
      torchseg::DenseCRFParameters(),
      refined.data());
    lattice = crf.GetLatticeSeconds();
    iterations = crf.GetIterationSeconds();
    latticePoints = crf.GetNumberOfLatticePoints();
  }
  state.counters["latticePoints"] = static_cast<double>(latticePoints);
  state.counters["cpuSecondsPerVolume"] = (ProcessorSeconds() - processorStart) / state.iterations();
  state.counters["latticeSeconds"] = lattice;
  state.counters["iterationSeconds"] = iterations;
  state.counters["peakMB"] = PeakResidentMB();
}
BENCHMARK(BM_DenseCRFPhases512x512x100)->Arg(2)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(2);

} // namespace

BENCHMARK_MAIN();
