#include "torchsegTrainingSet.h"

#include "torchsegTensorBridge.h"
#include "torchsegThreads.h"
#include "torchsegTrainingPrivate.h"

#include <torch/torch.h>

#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

namespace torchseg
{

TrainingVolume
PrepareTrainingVolume(const CTImageType * ct, const LabelImageType * labels, const PreprocessingOptions & options,
                      const std::string & ctPath, const std::string & labelPath,
                      ForegroundIntensityStatistics * statistics)
{
  if (!ct || !labels)
  {
    itkGenericExceptionMacro(<< "No image given for the case " << ctPath);
  }
  const unsigned int C = options.numberOfClasses;
  if (C < 2 || C > 256)
  {
    itkGenericExceptionMacro(<< "Number of classes " << C << " is not in 2..256");
  }
  CheckSameGeometry(ct, labels, ctPath, labelPath);
  CountLabelVoxels(labels, C, labelPath);
  if (statistics)
  {
    statistics->Add(ct, labels);
  }
  const auto orientedCT = ReorientToCanonical<CTImageType>(ct, options.orientation);
  const auto orientedLabels = ReorientToCanonical<LabelImageType>(labels, options.orientation);
  const auto resampledCT = ResampleToSpacing<CTImageType>(orientedCT, options.targetSpacing, false);
  const auto resampledLabels = ResampleToSpacing<LabelImageType>(orientedLabels, options.targetSpacing, true);

  TrainingVolume v;
  v.name = ctPath;
  for (unsigned int d = 0; d < 3; ++d)
  {
    v.spacing[d] = resampledCT->GetSpacing()[d];
  }
  v.image = ImageToTensor(resampledCT.GetPointer());
  v.labels = ImageToTensorView(resampledLabels.GetPointer()).to(torch::kUInt8);

  const torch::Tensor flat = v.labels.flatten().to(torch::kLong);
  const torch::Tensor counts = torch::bincount(flat, {}, C);
  v.classVoxels.resize(C);
  v.classLocations.resize(C);
  at::Generator generator = detail::MakeTorchGenerator(detail::StableHash(ctPath));
  for (unsigned int c = 0; c < C; ++c)
  {
    v.classVoxels[c] = counts[c].item<double>();
    if (c == 0)
    {
      v.classLocations[c] = torch::empty({ 0 }, torch::kLong);
      continue;
    }
    torch::Tensor where = (flat == static_cast<int64_t>(c)).nonzero().flatten();
    if (where.numel() > static_cast<int64_t>(options.locationsPerClass))
    {
      const torch::Tensor pick = torch::randperm(where.numel(), generator, torch::kLong)
                                   .slice(0, 0, static_cast<int64_t>(options.locationsPerClass));
      where = std::get<0>(where.index_select(0, pick).sort());
    }
    v.classLocations[c] = where.contiguous();
  }
  return v;
}

std::vector<TrainingVolume>
LoadTrainingVolumes(const std::vector<CaseFiles> & cases, const PreprocessingOptions & options,
                    ForegroundIntensityStatistics * statistics, const std::function<void(std::size_t)> & progress)
{
  std::vector<TrainingVolume> volumes(cases.size());
  std::atomic<std::size_t>    next{ 0 };
  std::atomic<bool>           failed{ false };
  std::size_t                 done = 0;
  std::exception_ptr          error;
  std::mutex                  mutex;
  auto                        work = [&]() {
    while (!failed)
    {
      const std::size_t i = next++;
      if (i >= cases.size())
      {
        return;
      }
      try
      {
        const auto ct = ReadCTImage(cases[i].image);
        const auto labels = ReadLabelImage(cases[i].label);
        volumes[i] = PrepareTrainingVolume(ct, labels, options, cases[i].image, cases[i].label);
        if (statistics)
        {
          // Keyed by the case: the normalisation must not depend on which thread finished first.
          statistics->Add(ct, labels, i);
        }
      }
      catch (...)
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (!error)
        {
          error = std::current_exception();
        }
        failed = true;
        return;
      }
      std::lock_guard<std::mutex> lock(mutex);
      ++done;
      if (progress)
      {
        progress(done);
      }
    }
  };
  const std::size_t threads =
    std::min<std::size_t>(cases.size(), static_cast<std::size_t>(ResolveNumberOfThreads(options.numberOfThreads)));
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t)
  {
    pool.emplace_back([&work] {
      detail::UseOneTorchThreadHere();
      work();
    });
  }
  {
    // The caller's thread helps, and then trains with its own thread count again.
    detail::ScopedOneTorchThread one;
    work();
  }
  for (auto & t : pool)
  {
    t.join();
  }
  if (error)
  {
    std::rethrow_exception(error);
  }
  return volumes;
}

ClassFrequencies
CountClassFrequencies(const std::vector<TrainingVolume> & volumes)
{
  ClassFrequencies f;
  for (const auto & v : volumes)
  {
    f.Add(v.classVoxels);
  }
  return f;
}

void
NormalizeIntensities(torch::Tensor & hounsfield, const IntensityNormalization & n)
{
  if (n.method == "none")
  {
    return;
  }
  if (!(n.clipHigh > n.clipLow))
  {
    itkGenericExceptionMacro(<< "Intensity normalisation: clip range [" << n.clipLow << ", " << n.clipHigh
                             << "] is empty");
  }
  if (n.method == "zscore")
  {
    if (!(n.std > 0.0))
    {
      itkGenericExceptionMacro(<< "Intensity normalisation: standard deviation " << n.std << " is not positive");
    }
    hounsfield.clamp_(n.clipLow, n.clipHigh).sub_(n.mean).div_(n.std);
  }
  else if (n.method == "window")
  {
    hounsfield.clamp_(n.clipLow, n.clipHigh).sub_(n.clipLow).div_(n.clipHigh - n.clipLow);
  }
  else
  {
    itkGenericExceptionMacro(<< "Intensity normalisation \"" << n.method << "\" is not one of zscore, window, none");
  }
}

} // namespace torchseg
