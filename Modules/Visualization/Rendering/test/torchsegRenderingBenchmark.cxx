// Timing of the pictures on a clinical-size volume (512 x 512 x 120, 0.78 x 0.78 x 2.5 mm) with a liver-sized
// ellipsoid (about 1.6 L) and a 15 mm tumour. Run: bin/TorchSegRenderingBenchmark (surface rendering needs an X
// display: xvfb-run -a bin/TorchSegRenderingBenchmark).
#include "torchsegLabelSurfaceExtractor.h"
#include "torchsegSlicePictureRenderer.h"
#include "torchsegSurfaceSceneRenderer.h"

#include "itkImageRegionIteratorWithIndex.h"
#include "itkMultiThreaderBase.h"

#include <benchmark/benchmark.h>

namespace
{

struct Volume
{
  torchseg::CTImageType::Pointer    ct;
  torchseg::LabelImageType::Pointer labels;
};

const Volume &
GetVolume()
{
  static const Volume volume = [] {
    Volume                 v;
    itk::Size<3>           size{ { 512, 512, 120 } };
    const double           spacing[3] = { 0.78, 0.78, 2.5 };
    itk::Vector<double, 3> s;
    for (unsigned int d = 0; d < 3; ++d)
    {
      s[d] = spacing[d];
    }
    v.ct = torchseg::CTImageType::New();
    v.ct->SetRegions(size);
    v.ct->SetSpacing(s);
    v.ct->Allocate();
    v.labels = torchseg::LabelImageType::New();
    v.labels->SetRegions(size);
    v.labels->SetSpacing(s);
    v.labels->Allocate();
    for (itk::ImageRegionIteratorWithIndex<torchseg::CTImageType> it(v.ct, v.ct->GetLargestPossibleRegion());
         !it.IsAtEnd();
         ++it)
    {
      const auto & i = it.GetIndex();
      const double x = (i[0] - 256) * spacing[0];
      const double y = (i[1] - 256) * spacing[1];
      const double z = (i[2] - 60) * spacing[2];
      const bool   body = (x * x) / (170.0 * 170.0) + (y * y) / (120.0 * 120.0) < 1.0;
      const bool   spine = std::hypot(x, y - 80.0) < 18.0;
      const double lx = (x + 60.0) / 95.0, ly = (y + 10.0) / 75.0, lz = z / 70.0;
      const bool   liver = lx * lx + ly * ly + lz * lz < 1.0;
      const bool   tumour = std::hypot(std::hypot(x + 70.0, y + 5.0), z - 10.0) < 15.0;
      it.Set(spine ? 700.0f : tumour ? 30.0f : liver ? 110.0f : body ? 40.0f : -1000.0f);
      v.labels->SetPixel(i, tumour ? 2 : liver ? 1 : 0);
    }
    return v;
  }();
  return volume;
}

void
ConfigureThreads(const benchmark::State & state)
{
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(static_cast<itk::ThreadIdType>(state.range(0)));
}

void
BM_LabelSurfaces(benchmark::State & state)
{
  ConfigureThreads(state);
  const Volume & v = GetVolume();
  for (auto _ : state)
  {
    auto extractor = torchseg::LabelSurfaceExtractor::New();
    extractor->SetInput(v.labels);
    extractor->Update();
    benchmark::DoNotOptimize(extractor->GetSurfaces().size());
    state.counters["liverTriangles"] = static_cast<double>(extractor->GetSurfaces()[0].mesh->GetNumberOfPolys());
  }
}
BENCHMARK(BM_LabelSurfaces)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void
BM_SlicePicture(benchmark::State & state)
{
  ConfigureThreads(state);
  const Volume & v = GetVolume();
  for (auto _ : state)
  {
    auto renderer = torchseg::SlicePictureRenderer::New();
    renderer->SetCTImage(v.ct);
    renderer->SetLabelImage(v.labels);
    renderer->Update();
    benchmark::DoNotOptimize(renderer->GetPicture().GetBufferPointer());
  }
}
BENCHMARK(BM_SlicePicture)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void
BM_SurfacePicture(benchmark::State & state)
{
  ConfigureThreads(state);
  if (!torchseg::CanRenderOffscreen())
  {
    state.SkipWithError("no display (run under xvfb-run -a)");
    return;
  }
  const Volume & v = GetVolume();
  auto           extractor = torchseg::LabelSurfaceExtractor::New();
  extractor->SetInput(v.labels);
  extractor->Update();
  for (auto _ : state)
  {
    auto renderer = torchseg::SurfaceSceneRenderer::New();
    renderer->SetSurfaces(extractor->GetSurfaces());
    renderer->SetCTImage(v.ct);
    renderer->Update();
    benchmark::DoNotOptimize(renderer->GetPicture().GetBufferPointer());
  }
}
BENCHMARK(BM_SurfacePicture)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

} // namespace

BENCHMARK_MAIN();
