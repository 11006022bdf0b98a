#ifndef torchsegSegmentationEvaluation_hxx
#define torchsegSegmentationEvaluation_hxx

#include "torchsegSegmentationEvaluation.h"

#include "torchsegLesionDetectionMetricsImageFilter.h"
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

  const std::set<std::int64_t> lesionLabels(options.lesionLabels.begin(), options.lesionLabels.end());
  // Each lesion label is one more pass over both images, about a tenth of the surface distances' work.
  const double surfaceEnd = lesionLabels.empty() ? 1.0 : 0.8;

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
      observer(surface, 0.1, surfaceEnd);
    }
    surface->Update();
  }

  const double lesionShare = lesionLabels.empty() ? 0.0 : (1.0 - surfaceEnd) / static_cast<double>(lesionLabels.size());
  double       lesionBegin = surfaceEnd;
  for (const std::int64_t label : lesionLabels)
  {
    LesionEvaluation lesion;
    lesion.label = label;
    lesion.name = GetEvaluationLabelName(options.labelNames, label);
    lesion.measures.fullyConnected = options.lesionFullyConnected;
    lesion.measures.minimumOverlapVoxels = options.lesionMinimumOverlap;
    lesion.measures.minimumDiameterMm = options.lesionMinimumDiameter;
    lesion.measures.voxelVolumeMm3 = result.voxelVolumeMm3;
    // A label the pixel type cannot hold is in neither image: no lesion, status Absent.
    if (label >= static_cast<std::int64_t>(std::numeric_limits<LabelType>::lowest()) &&
        label <= static_cast<std::int64_t>(std::numeric_limits<LabelType>::max()))
    {
      auto lesions = LesionDetectionMetricsImageFilter<TLabelImage>::New();
      lesions->SetReferenceImage(reference);
      lesions->SetPredictionImage(prediction);
      lesions->SetLabel(static_cast<LabelType>(label));
      lesions->SetFullyConnected(options.lesionFullyConnected);
      lesions->SetMinimumOverlap(options.lesionMinimumOverlap);
      lesions->SetMinimumDiameter(options.lesionMinimumDiameter);
      if (observer)
      {
        observer(lesions, lesionBegin, lesionBegin + lesionShare);
      }
      lesions->Update();
      lesion.measures = lesions->GetMeasures();
    }
    lesionBegin += lesionShare;
    result.lesions.push_back(lesion);
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
