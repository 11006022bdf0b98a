#include "torchsegTrainingSet.h"

#include "torchsegTensorBridge.h"
#include "torchsegThreads.h"
#include "torchsegTrainingPrivate.h"

#include "itkBinaryThresholdImageFilter.h"
#include "itkConnectedComponentImageFilter.h"
#include "itkImage.h"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

namespace torchseg
{

void
IndexClassLocations(TrainingVolume & v, unsigned int C, std::size_t locationsPerClass, uint64_t seed)
{
  if (!v.labels.defined() || v.labels.dim() != 3 || v.labels.scalar_type() != torch::kUInt8)
  {
    itkGenericExceptionMacro(<< "IndexClassLocations: the labels of " << v.name << " are not a (z, y, x) uint8 tensor");
  }
  const torch::Tensor labels = v.labels.contiguous();
  const torch::Tensor flat = labels.flatten().to(torch::kLong);
  if (flat.numel() > 0 && flat.max().item<int64_t>() >= static_cast<int64_t>(C))
  {
    itkGenericExceptionMacro(<< "IndexClassLocations: the labels of " << v.name << " hold values of " << C
                             << " classes or more");
  }
  const torch::Tensor counts = torch::bincount(flat, {}, C);
  // Two streams, so that the class locations do not depend on how the components were subsampled.
  at::Generator classGenerator = detail::MakeTorchGenerator(seed);
  at::Generator componentGenerator = detail::MakeTorchGenerator(seed + 1);
  const auto    cap = static_cast<int64_t>(locationsPerClass);
  auto          subset = [cap](torch::Tensor where, at::Generator & generator) {
    if (where.numel() > cap)
    {
      const torch::Tensor pick = torch::randperm(where.numel(), generator, torch::kLong).slice(0, 0, cap);
      return std::get<0>(where.index_select(0, pick).sort()).contiguous();
    }
    // A copy: a component's locations are a view of the whole class's, which must not stay alive through it.
    return where.clone();
  };

  // The labels as an ITK image (no copy) for the connected components; only the topology matters.
  using BinaryImageType = itk::Image<uint8_t, 3>;
  using ComponentImageType = itk::Image<int32_t, 3>;
  auto                      image = BinaryImageType::New();
  BinaryImageType::SizeType size;
  for (int d = 0; d < 3; ++d)
  {
    size[d] = static_cast<itk::SizeValueType>(labels.size(2 - d));
  }
  image->SetRegions(size);
  image->GetPixelContainer()->SetImportPointer(labels.data_ptr<uint8_t>(), flat.numel(), false);

  v.classVoxels.assign(C, 0.0);
  v.classLocations.clear();
  for (unsigned int c = 0; c < C; ++c)
  {
    v.classLocations.push_back(torch::empty({ 0 }, torch::kLong));
  }
  v.componentLocations.assign(C, {});
  for (unsigned int c = 0; c < C; ++c)
  {
    v.classVoxels[c] = counts[c].item<double>();
    if (c == 0 || v.classVoxels[c] == 0.0)
    {
      continue;
    }
    const torch::Tensor where = (flat == static_cast<int64_t>(c)).nonzero().flatten();
    v.classLocations[c] = subset(where, classGenerator);

    auto threshold = itk::BinaryThresholdImageFilter<BinaryImageType, BinaryImageType>::New();
    threshold->SetInput(image);
    threshold->SetLowerThreshold(static_cast<uint8_t>(c));
    threshold->SetUpperThreshold(static_cast<uint8_t>(c));
    threshold->SetInsideValue(1);
    threshold->SetOutsideValue(0);
    auto components = itk::ConnectedComponentImageFilter<BinaryImageType, ComponentImageType>::New();
    components->SetInput(threshold->GetOutput());
    components->SetFullyConnected(true);
    components->Update();
    const auto          number = static_cast<int64_t>(components->GetObjectCount());
    const torch::Tensor componentOf =
      torch::from_blob(components->GetOutput()->GetBufferPointer(), { flat.numel() }, torch::kInt32)
        .index_select(0, where)
        .to(torch::kLong);
    // Group the class's voxels by component (a stable sort keeps each group in increasing order), largest first.
    const auto                 sorted = componentOf.sort(/*stable=*/true, 0, false);
    const torch::Tensor        grouped = where.index_select(0, std::get<1>(sorted));
    const torch::Tensor        sizes = torch::bincount(std::get<0>(sorted), {}, number + 1).slice(0, 1).contiguous();
    const std::vector<int64_t> sizeList(sizes.data_ptr<int64_t>(), sizes.data_ptr<int64_t>() + number);
    std::vector<torch::Tensor> byComponent = grouped.split_with_sizes(sizeList);
    std::stable_sort(byComponent.begin(), byComponent.end(), [](const torch::Tensor & a, const torch::Tensor & b) {
      return a.numel() > b.numel();
    });
    for (const torch::Tensor & part : byComponent)
    {
      v.componentLocations[c].push_back(subset(part, componentGenerator));
    }
  }
}

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

  IndexClassLocations(v, C, options.locationsPerClass, detail::StableHash(ctPath));
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
