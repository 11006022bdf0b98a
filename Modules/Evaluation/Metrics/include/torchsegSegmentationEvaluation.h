#ifndef torchsegSegmentationEvaluation_h
#define torchsegSegmentationEvaluation_h

#include "torchsegEvaluationMeasures.h"

#include "itkProcessObject.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace torchseg
{

/** \brief Every measure of one label of one prediction. */
struct LabelEvaluation
{
  std::int64_t            label = 0;
  std::string             name;
  LabelStatus             status = LabelStatus::Absent;
  OverlapMeasures         overlap;
  SurfaceDistanceMeasures surface;
};

/** \brief The lesion-wise detection measures of one label of one prediction. */
struct LesionEvaluation
{
  std::int64_t            label = 0;
  std::string             name;
  LesionDetectionMeasures measures;
};

/** \brief The evaluation of one prediction against a reference: one entry per evaluated label, sorted by label,
 * the measures of the whole image, and the lesion-wise measures of the lesion labels (none unless asked for). */
struct SegmentationEvaluation
{
  std::string                   reference;  //!< a name for the reference (its file)
  std::string                   prediction; //!< a name for the prediction (its file)
  std::uint64_t                 numberOfPixels = 0;
  double                        voxelVolumeMm3 = 1.0;
  double                        pixelAccuracy = std::numeric_limits<double>::quiet_NaN();
  double                        meanIoU = std::numeric_limits<double>::quiet_NaN();
  double                        meanDice = std::numeric_limits<double>::quiet_NaN();
  double                        nsdTolerance = 2.0;
  double                        percentile = 95.0;
  std::vector<LabelEvaluation>  labels;
  std::vector<LesionEvaluation> lesions; //!< one per lesion label, sorted by label
};

/** \brief What to evaluate and how. */
struct EvaluationOptions
{
  /** The labels to evaluate; empty means every label present in either image except backgroundValue. */
  std::vector<std::int64_t> labels;
  std::int64_t              backgroundValue = 0;
  /** Names of labels; others are called "label N" (and 0 "background"). */
  std::map<std::int64_t, std::string> labelNames;
  double                              nsdTolerance = 2.0; //!< NSD tolerance tau in mm
  double                              percentile = 95.0;  //!< of the robust Hausdorff distance
  std::string                         referenceName;      //!< e.g. the file; used in messages and outputs
  std::string                         predictionName;
  /** Labels evaluated lesion-wise (LesionDetectionMetricsImageFilter); none by default. */
  std::vector<std::int64_t> lesionLabels;
  double                    lesionMinimumDiameter = 10.0; //!< mm, for the restricted lesion summary
  std::uint64_t             lesionMinimumOverlap = 1;     //!< shared voxels that make a match
  bool                      lesionFullyConnected = true;  //!< face, edge and vertex neighbours, or faces only
};

/** Lets a caller follow the filters of EvaluateSegmentation(): called with each filter before it runs and the part
 * [begin, end] of the whole evaluation it represents (e.g. to forward its progress). */
using EvaluationObserver = std::function<void(itk::ProcessObject * filter, double begin, double end)>;

/** The name of \a label: its entry in \a names, else "background" for 0 and "label N" otherwise. */
std::string
GetEvaluationLabelName(const std::map<std::int64_t, std::string> & names, std::int64_t label);

/** Runs OverlapMetricsImageFilter and SurfaceDistanceMetricsImageFilter on the same labels and gathers their
 * measures, and LesionDetectionMetricsImageFilter on each of options.lesionLabels. Throws itk::ExceptionObject naming
 * both images (options.referenceName, options.predictionName) when their geometries differ. */
template <typename TLabelImage>
SegmentationEvaluation
EvaluateSegmentation(const TLabelImage * reference, const TLabelImage * prediction,
                     const EvaluationOptions &  options = EvaluationOptions(),
                     const EvaluationObserver & observer = EvaluationObserver());

/** Gives every evaluation the same labels (the union of theirs, sorted), adding Absent entries where a label was not
 * evaluated, so that several predictions make one comparable table. */
void
HarmonizeLabels(std::vector<SegmentationEvaluation> &       evaluations,
                const std::map<std::int64_t, std::string> & labelNames = {});

/** A table for a terminal: one row per prediction and label (Dice, IoU, precision, recall, HD, HD95, ASSD, NSD,
 * volumes), then pixel accuracy, mean IoU and mean Dice per prediction. "n/a" for NaN, "inf" for infinity. With
 * lesion labels, then FormatLesionTable(). */
std::string
FormatEvaluationTable(const std::vector<SegmentationEvaluation> & evaluations);

/** The lesion-wise part of the terminal table: one row per reference lesion (diameter, extent, volume, detected,
 * Dice, centroid) and per false-positive predicted component, then the detection summary of each prediction and
 * lesion label; empty when no evaluation has lesion labels. */
std::string
FormatLesionTable(const std::vector<SegmentationEvaluation> & evaluations);

/** CSV of the lesions: a header, then one row per prediction, lesion label and component (the reference lesions,
 * then the predicted components), so that lesions pooled over many cases give the detection rate of a test set. */
std::string
FormatLesionCSV(const std::vector<SegmentationEvaluation> & evaluations);

/** CSV: a header, then one row per prediction and label; NaN and infinity are empty fields (the status column
 * says why); numbers in the shortest form that reads back exactly. */
std::string
FormatEvaluationCSV(const std::vector<SegmentationEvaluation> & evaluations);

/** JSON: for one prediction the object of the command-line contract
 * {"reference", "prediction", "pixelAccuracy", "meanIoU", "meanDice", "labels": [{"label", "name", "status", "dice",
 * "iou", "precision", "recall", "specificity", "hd", "hd95", "assd", "masd", "nsd", "referenceVolumeMl",
 * "predictionVolumeMl", ...}]}, for several an array of such objects; NaN and infinity are null. With lesion labels
 * the object also has "lesions": one entry per lesion label with the summaries, the reference lesions and the
 * predicted components. */
std::string
FormatEvaluationJSON(const std::vector<SegmentationEvaluation> & evaluations);

} // namespace torchseg

#include "torchsegSegmentationEvaluation.hxx"

#endif
