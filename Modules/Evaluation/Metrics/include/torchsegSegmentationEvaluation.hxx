#ifndef torchsegSegmentationEvaluation_hxx
#define torchsegSegmentationEvaluation_hxx

#include "torchsegSegmentationEvaluation.h"

#include "torchsegOverlapMetricsImageFilter.h"
#include "torchsegSurfaceDistanceMetricsImageFilter.h"

#include <limits>
#include <set>

namespace torchseg
{

template <typename TLabelImage>
SegmentationEvaluation
EvaluateSegmentation(const TLabelImage * reference, const TLabelImage * prediction, const EvaluationOptions & options,
                     const EvaluationObserver & observer)
{
  using LabelType = typename TLabelImage::PixelType;
  const std::string referenceName =
    options.referenceName.empty() ? std::string("the reference") : "reference " + options.referenceName;
  const std::string predictionName =
    options.predictionName.empty() ? std::string("the prediction") : "prediction " + options.predictionName;
  VerifySameGeometry<TLabelImage::ImageDimension>(reference, prediction, referenceName, predictionName);

  // Requested labels the pixel type cannot hold are in neither image.
  std::vector<LabelType> representable;
  std::set<std::int64_t> unrepresentable;
  for (const std::int64_t label : options.labels)
  {
    if (label >= static_cast<std::int64_t>(std::numeric_limits<LabelType>::lowest()) &&
        label <= static_cast<std::int64_t>(std::numeric_limits<LabelType>::max()))
    {
      representable.push_back(static_cast<LabelType>(label));
    }
    else
    {
      unrepresentable.insert(label);
    }
  }
  const bool defaultLabels = options.labels.empty();

  SegmentationEvaluation result;
  result.reference = options.referenceName;
  result.prediction = options.predictionName;
  result.nsdTolerance = options.nsdTolerance;
  result.percentile = options.percentile;

  auto overlap = OverlapMetricsImageFilter<TLabelImage>::New();
  overlap->SetReferenceImage(reference);
  overlap->SetPredictionImage(prediction);
  if (observer)
  {
    observer(overlap, 0.0, 0.1);
  }
  overlap->Update();
  std::vector<LabelType> evaluated;
  if (defaultLabels)
  {
    for (const LabelType label : overlap->GetPresentLabels())
    {
      if (static_cast<std::int64_t>(label) != options.backgroundValue)
      {
        evaluated.push_back(label);
      }
    }
  }
  else
  {
    const std::set<LabelType> unique(representable.begin(), representable.end());
    evaluated.assign(unique.begin(), unique.end());
  }
  result.numberOfPixels = overlap->GetNumberOfPixels();
  result.voxelVolumeMm3 = overlap->GetVoxelVolume();
  result.pixelAccuracy = overlap->GetPixelAccuracy();

  auto surface = SurfaceDistanceMetricsImageFilter<TLabelImage>::New();
  surface->SetReferenceImage(reference);
  surface->SetPredictionImage(prediction);
  surface->SetNSDTolerance(options.nsdTolerance);
  surface->SetPercentile(options.percentile);
  if (!evaluated.empty())
  {
    surface->SetLabels(evaluated);
    if (observer)
    {
      observer(surface, 0.1, 1.0);
    }
    surface->Update();
  }

  std::map<std::int64_t, LabelEvaluation> rows;
  for (const LabelType label : evaluated)
  {
    LabelEvaluation row;
    row.label = static_cast<std::int64_t>(label);
    row.name = GetEvaluationLabelName(options.labelNames, row.label);
    row.overlap = overlap->GetMeasures(label);
    row.surface = surface->GetMeasures(label);
    row.status = row.overlap.status;
    rows[row.label] = row;
  }
  for (const std::int64_t label : unrepresentable)
  {
    LabelEvaluation row;
    row.label = label;
    row.name = GetEvaluationLabelName(options.labelNames, label);
    row.overlap = OverlapMeasures::FromCounts(0, 0, 0, result.numberOfPixels, result.voxelVolumeMm3);
    row.surface.tolerance = options.nsdTolerance;
    row.surface.percentile = options.percentile;
    rows[label] = row;
  }

  double      iouSum = 0.0;
  double      diceSum = 0.0;
  std::size_t counted = 0;
  for (auto & entry : rows)
  {
    if (entry.second.status != LabelStatus::Absent)
    {
      iouSum += entry.second.overlap.iou;
      diceSum += entry.second.overlap.dice;
      ++counted;
    }
    result.labels.push_back(entry.second);
  }
  if (counted)
  {
    result.meanIoU = iouSum / static_cast<double>(counted);
    result.meanDice = diceSum / static_cast<double>(counted);
  }
  return result;
}

} // namespace torchseg

#endif
