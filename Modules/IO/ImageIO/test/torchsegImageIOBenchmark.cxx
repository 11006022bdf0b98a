// Reading and writing a 512 x 512 x 120 CT volume (the phantom's default size) in each format.
#include "torchsegImageIO.h"

#include "itkImageFileWriter.h"
#include "itkImageRegionIteratorWithIndex.h"
#include "itkMultiThreaderBase.h"
#include "itkNiftiImageIO.h"

#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>
#include <thread>

namespace fs = std::filesystem;

namespace
{

torchseg::CTStorageImageType::Pointer
MakeVolume()
{
  auto                                   image = torchseg::CTStorageImageType::New();
  torchseg::CTStorageImageType::SizeType size{ { 512, 512, 120 } };
  image->SetRegions(size);
  torchseg::CTStorageImageType::SpacingType spacing;
  spacing[0] = spacing[1] = 0.75;
  spacing[2] = 2.5;
  image->SetSpacing(spacing);
  image->Allocate();
  // A smooth body with noise: compresses like CT, not like a constant.
  std::mt19937                                                    random(1);
  std::normal_distribution<float>                                 noise(0.0f, 15.0f);
  itk::ImageRegionIteratorWithIndex<torchseg::CTStorageImageType> it(image, image->GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it)
  {
    const auto   i = it.GetIndex();
    const double x = (i[0] - 256.0) / 200.0;
    const double y = (i[1] - 256.0) / 150.0;
    it.Set(static_cast<int16_t>((x * x + y * y < 1.0 ? 40.0 : -1000.0) + noise(random)));
  }
  return image;
}

const torchseg::CTStorageImageType *
Volume()
{
  static const auto volume = MakeVolume();
  return volume.GetPointer();
}

std::string
Output(const std::string & name)
{
  return (fs::path(TORCHSEG_TEST_OUTPUT_DIR) / ("benchmark_" + name)).string();
}

void
BM_WriteDICOMSeries(benchmark::State & state)
{
  torchseg::DICOMWriteOptions options;
  options.uidSeed = 1;
  // Like an application: voxel work on every hardware thread.
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(std::thread::hardware_concurrency());
  for (auto _ : state)
  {
    torchseg::WriteDICOMCTSeries(Volume(), Output("dicom"), options);
  }
  state.SetBytesProcessed(state.iterations() * 512 * 512 * 120 * 2);
}

void
BM_ReadDICOMSeries(benchmark::State & state)
{
  if (!fs::exists(Output("dicom")))
  {
    torchseg::WriteDICOMCTSeries(Volume(), Output("dicom"), torchseg::DICOMWriteOptions());
  }
  for (auto _ : state)
  {
    benchmark::DoNotOptimize(torchseg::ReadCTImage(Output("dicom")));
  }
  state.SetBytesProcessed(state.iterations() * 512 * 512 * 120 * 2);
}

void
BM_WriteFile(benchmark::State & state, const std::string & extension)
{
  for (auto _ : state)
  {
    torchseg::WriteImageFile(Volume(), Output("ct" + extension));
  }
  state.SetBytesProcessed(state.iterations() * 512 * 512 * 120 * 2);
  state.counters["MB"] = fs::file_size(Output("ct" + extension)) / 1e6;
}

// For comparison: ITK's own NIfTI writer compressing the .nii.gz on one thread.
void
BM_WriteNiftiGzipWithITK(benchmark::State & state)
{
  for (auto _ : state)
  {
    auto writer = itk::ImageFileWriter<torchseg::CTStorageImageType>::New();
    writer->SetInput(Volume());
    writer->SetImageIO(itk::NiftiImageIO::New());
    writer->SetFileName(Output("itk.nii.gz"));
    writer->SetUseCompression(true);
    writer->Update();
  }
  state.SetBytesProcessed(state.iterations() * 512 * 512 * 120 * 2);
  state.counters["MB"] = fs::file_size(Output("itk.nii.gz")) / 1e6;
}

void
BM_ReadFile(benchmark::State & state, const std::string & extension)
{
  torchseg::WriteImageFile(Volume(), Output("ct" + extension));
  for (auto _ : state)
  {
    benchmark::DoNotOptimize(torchseg::ReadCTImage(Output("ct" + extension)));
  }
  state.SetBytesProcessed(state.iterations() * 512 * 512 * 120 * 2);
}

} // namespace

BENCHMARK(BM_WriteDICOMSeries)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ReadDICOMSeries)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_WriteFile, nii, std::string(".nii"))->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ReadFile, nii, std::string(".nii"))->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_WriteFile, niigz, std::string(".nii.gz"))->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_WriteNiftiGzipWithITK)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ReadFile, niigz, std::string(".nii.gz"))->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_WriteFile, nrrd, std::string(".nrrd"))->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ReadFile, nrrd, std::string(".nrrd"))->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_WriteFile, mha, std::string(".mha"))->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ReadFile, mha, std::string(".mha"))->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
