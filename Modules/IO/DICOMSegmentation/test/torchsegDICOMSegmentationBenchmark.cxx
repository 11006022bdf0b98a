// Writing and reading DICOM Segmentations of a 512 x 512 CT series (the phantom's in-plane size): liver and tumour
// as binary segments (120 slices), and per-class probabilities as fractional ones (60 slices).
#include "torchsegDICOMSegmentation.h"

#include <benchmark/benchmark.h>

#include <cmath>
#include <filesystem>
#include <map>

namespace fs = std::filesystem;

namespace
{

std::string
Output(const std::string & name)
{
  return (fs::path(TORCHSEG_TEST_OUTPUT_DIR) / ("benchmark_dicomseg_" + name)).string();
}

/** A source series of \a slices slices written once per process, and the CT grid read back from it. */
struct Source
{
  std::string                       directory;
  torchseg::CTImageType::Pointer    ct;
  torchseg::LabelImageType::Pointer labels;
};

const Source &
GetSource(unsigned int slices)
{
  static std::map<unsigned int, Source> sources;
  auto                                  it = sources.find(slices);
  if (it != sources.end())
  {
    return it->second;
  }
  Source source;
  source.directory = Output("ct" + std::to_string(slices));
  auto                                   image = torchseg::CTStorageImageType::New();
  torchseg::CTStorageImageType::SizeType size{ { 512, 512, slices } };
  image->SetRegions(size);
  torchseg::CTStorageImageType::SpacingType spacing;
  spacing[0] = spacing[1] = 0.75;
  spacing[2] = 2.5;
  image->SetSpacing(spacing);
  image->Allocate(true);
  torchseg::DICOMWriteOptions options;
  options.uidSeed = 1;
  torchseg::WriteDICOMCTSeries(image, source.directory, options);
  source.ct = torchseg::ReadCTImage(source.directory);

  // A liver ellipsoid over the middle half of the slices, a tumour sphere inside it.
  source.labels = torchseg::LabelImageType::New();
  source.labels->CopyInformation(source.ct);
  source.labels->SetRegions(source.ct->GetLargestPossibleRegion());
  source.labels->Allocate(true);
  uint8_t * p = source.labels->GetBufferPointer();
  for (unsigned int z = 0; z < slices; ++z)
  {
    for (unsigned int y = 0; y < 512; ++y)
    {
      for (unsigned int x = 0; x < 512; ++x, ++p)
      {
        const double u = (x - 300.0) / 120.0;
        const double v = (y - 230.0) / 90.0;
        const double w = (z - slices / 2.0) / (slices / 4.0);
        const double t = ((x - 320.0) * (x - 320.0) + (y - 220.0) * (y - 220.0)) / (30.0 * 30.0) +
                         (z - slices / 2.0) * (z - slices / 2.0) * 6.25 / (30.0 * 30.0);
        *p = t < 1.0 ? 2 : (u * u + v * v + w * w < 1.0 ? 1 : 0);
      }
    }
  }
  return sources.emplace(slices, std::move(source)).first->second;
}

torchseg::ProbabilityImageType::Pointer
MakeProbabilities(const Source & source)
{
  auto probabilities = torchseg::ProbabilityImageType::New();
  probabilities->CopyInformation(source.ct);
  probabilities->SetRegions(source.ct->GetLargestPossibleRegion());
  probabilities->SetNumberOfComponentsPerPixel(3);
  probabilities->Allocate();
  const std::size_t n = source.ct->GetLargestPossibleRegion().GetNumberOfPixels();
  const uint8_t *   labels = source.labels->GetBufferPointer();
  float *           out = probabilities->GetBufferPointer();
  for (std::size_t i = 0; i < n; ++i, out += 3)
  {
    out[1] = labels[i] == 1 ? 0.9f : (labels[i] == 2 ? 0.05f : 0.0f);
    out[2] = labels[i] == 2 ? 0.9f : 0.0f;
    out[0] = 1.0f - out[1] - out[2];
  }
  return probabilities;
}

void
BM_MatchSeries(benchmark::State & state)
{
  const Source & source = GetSource(static_cast<unsigned int>(state.range(0)));
  for (auto _ : state)
  {
    benchmark::DoNotOptimize(torchseg::MatchDICOMSeriesToGrid(source.ct, source.directory));
  }
}
BENCHMARK(BM_MatchSeries)->Arg(120)->Unit(benchmark::kMillisecond);

void
BM_WriteBinary(benchmark::State & state)
{
  const Source & source = GetSource(static_cast<unsigned int>(state.range(0)));
  for (auto _ : state)
  {
    torchseg::WriteDICOMSegmentation(
      source.labels, source.directory, Output("binary.dcm"), torchseg::LabelTable::LiverTumour());
  }
  state.counters["MB"] = static_cast<double>(fs::file_size(Output("binary.dcm"))) / 1e6;
}
BENCHMARK(BM_WriteBinary)->Arg(120)->Unit(benchmark::kMillisecond);

void
BM_ReadBinary(benchmark::State & state)
{
  const Source & source = GetSource(static_cast<unsigned int>(state.range(0)));
  torchseg::WriteDICOMSegmentation(
    source.labels, source.directory, Output("binary.dcm"), torchseg::LabelTable::LiverTumour());
  for (auto _ : state)
  {
    benchmark::DoNotOptimize(torchseg::ReadDICOMSegmentation(Output("binary.dcm"), source.ct));
  }
}
BENCHMARK(BM_ReadBinary)->Arg(120)->Unit(benchmark::kMillisecond);

void
BM_WriteFractional(benchmark::State & state)
{
  const Source & source = GetSource(static_cast<unsigned int>(state.range(0)));
  const auto     probabilities = MakeProbabilities(source);
  for (auto _ : state)
  {
    torchseg::WriteDICOMSegmentation(
      probabilities.GetPointer(), source.directory, Output("fractional.dcm"), torchseg::LabelTable::LiverTumour());
  }
  state.counters["MB"] = static_cast<double>(fs::file_size(Output("fractional.dcm"))) / 1e6;
}
BENCHMARK(BM_WriteFractional)->Arg(60)->Unit(benchmark::kMillisecond);

void
BM_ReadFractional(benchmark::State & state)
{
  const Source & source = GetSource(static_cast<unsigned int>(state.range(0)));
  torchseg::WriteDICOMSegmentation(MakeProbabilities(source).GetPointer(),
                                   source.directory,
                                   Output("fractional.dcm"),
                                   torchseg::LabelTable::LiverTumour());
  for (auto _ : state)
  {
    benchmark::DoNotOptimize(torchseg::ReadDICOMSegmentation(Output("fractional.dcm"), source.ct));
  }
}
BENCHMARK(BM_ReadFractional)->Arg(60)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
