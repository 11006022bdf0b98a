#ifndef torchsegEvaluationMeasures_h
#define torchsegEvaluationMeasures_h

#include "itkImageBase.h"
#include "itkMacro.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace torchseg
{

/** Why a label's measures are what they are: both masks present (\c Ok), neither (\c Absent: every measure NaN,
 * the label is left out of the means), or only one of them (\c ReferenceEmpty, \c PredictionEmpty: Dice, IoU and
 * NSD are 0, every distance is +infinity). */
enum class LabelStatus : std::uint8_t
{
  Ok,
  Absent,
  ReferenceEmpty,
  PredictionEmpty
};

/** "ok", "absent", "referenceEmpty" or "predictionEmpty": the words of the JSON and CSV outputs. */
const char *
LabelStatusToString(LabelStatus status);

/** The status of a label whose reference mask has \a referenceCount voxels and prediction mask \a predictionCount. */
LabelStatus
ClassifyLabel(std::uint64_t referenceCount, std::uint64_t predictionCount);

/** \brief Voxel-overlap measures of one label L between a reference T and a prediction S (masks T_L and S_L).
 *
 * Ratios follow their definitions literally, so that 0/0 is NaN (e.g. precision when S_L is empty) and x/0 is +inf
 * (the relative volume difference when T_L is empty); the status says which case applies.
 * \ingroup TorchSegMetrics
 */
struct OverlapMeasures
{
  LabelStatus   status = LabelStatus::Absent;
  std::uint64_t referenceCount = 0;                                                  //!< |T_L|
  std::uint64_t predictionCount = 0;                                                 //!< |S_L|
  std::uint64_t truePositives = 0;                                                   //!< |S_L ∩ T_L|
  std::uint64_t falsePositives = 0;                                                  //!< |S_L \ T_L|
  std::uint64_t falseNegatives = 0;                                                  //!< |T_L \ S_L|
  std::uint64_t trueNegatives = 0;                                                   //!< N - |S_L ∪ T_L|
  double        dice = std::numeric_limits<double>::quiet_NaN();                     //!< 2 TP / (|S_L| + |T_L|)
  double        iou = std::numeric_limits<double>::quiet_NaN();                      //!< TP / |S_L ∪ T_L|
  double        precision = std::numeric_limits<double>::quiet_NaN();                //!< TP / |S_L|
  double        recall = std::numeric_limits<double>::quiet_NaN();                   //!< TP / |T_L|
  double        specificity = std::numeric_limits<double>::quiet_NaN();              //!< TN / (TN + FP)
  double        falsePositiveRate = std::numeric_limits<double>::quiet_NaN();        //!< FP / (FP + TN)
  double        falseDiscoveryRate = std::numeric_limits<double>::quiet_NaN();       //!< FP / (TP + FP)
  double        volumeSimilarity = std::numeric_limits<double>::quiet_NaN();         //!< 1 - ||S|-|T|| / (|S|+|T|)
  double        relativeVolumeDifference = std::numeric_limits<double>::quiet_NaN(); //!< (|S_L| - |T_L|) / |T_L|
  double        referenceVolumeMl = 0.0;                                             //!< |T_L| x voxel volume
  double        predictionVolumeMl = 0.0;                                            //!< |S_L| x voxel volume

  /** The measures from the counts: true positives, |T_L|, |S_L|, the number of voxels N of the image, and the
   * volume of one voxel in mm^3. */
  static OverlapMeasures
  FromCounts(std::uint64_t truePositives, std::uint64_t referenceCount, std::uint64_t predictionCount,
             std::uint64_t numberOfPixels, double voxelVolumeMm3);
};

/** \brief The distances (mm) from the surface voxels of one mask to the nearest surface voxel of the other. */
struct DirectedSurfaceDistance
{
  std::uint64_t numberOfSurfaceVoxels = 0;
  std::uint64_t numberWithinTolerance = 0; //!< surface voxels with distance <= the NSD tolerance
  double        maximum = std::numeric_limits<double>::quiet_NaN();
  double        percentile = std::numeric_limits<double>::quiet_NaN(); //!< at the filter's percentile (95)
  double        mean = std::numeric_limits<double>::quiet_NaN();
  double        sum = std::numeric_limits<double>::quiet_NaN();
};

/** \brief Surface-distance measures of one label between a reference and a prediction (distances in mm).
 *
 * Surfaces are the voxels of a mask with a face neighbour outside it (outside the image counts as outside).
 * Empty masks: both empty gives status Absent and NaN everywhere; one empty gives NSD 0 and +inf distances
 * (directed values included).
 * \ingroup TorchSegMetrics
 */
struct SurfaceDistanceMeasures
{
  LabelStatus             status = LabelStatus::Absent;
  double                  tolerance = 2.0;   //!< NSD tolerance tau (mm)
  double                  percentile = 95.0; //!< the percentile of hausdorffPercentile
  double                  hausdorff = std::numeric_limits<double>::quiet_NaN();             //!< HD
  double                  hausdorffPercentile = std::numeric_limits<double>::quiet_NaN();   //!< HD95
  double                  averageSymmetric = std::numeric_limits<double>::quiet_NaN();      //!< ASSD (pooled)
  double                  meanAverage = std::numeric_limits<double>::quiet_NaN();           //!< MASD
  double                  normalizedSurfaceDice = std::numeric_limits<double>::quiet_NaN(); //!< NSD at tolerance
  DirectedSurfaceDistance referenceToPrediction; //!< from the reference's surface to the prediction's
  DirectedSurfaceDistance predictionToReference; //!< from the prediction's surface to the reference's
};

/** \brief One connected component of a label's mask: a reference lesion, or a component of the prediction.
 *
 * Sizes depend on the spacing only (never on the direction matrix); the centroid is a world (LPS) point.
 * \ingroup TorchSegMetrics
 */
struct LesionComponent
{
  std::uint64_t id = 0;         //!< 1, 2, ... in raster order of the component's first voxel
  std::uint64_t voxelCount = 0; //!< number of voxels
  double        volumeMl = 0.0; //!< voxelCount x voxel volume / 1000 (in 2D: the area in mm^2 / 1000)
  /** The diameter (mm) of the ball with the component's volume: (6 V / pi)^(1/3) in 3D, 2 (A / pi)^(1/2) in 2D. */
  double equivalentDiameterMm = 0.0;
  /** The largest side (mm) of the component's bounding box along the image axes. */
  double                    maximumExtentMm = 0.0;
  std::vector<double>       extentMm;          //!< per image axis: (upper - lower + 1) x spacing
  std::vector<double>       centroid;          //!< mean of the voxel centres, world coordinates (mm)
  std::vector<std::int64_t> boundingBoxLower;  //!< first index of the bounding box
  std::vector<std::int64_t> boundingBoxUpper;  //!< last index of the bounding box (inclusive)
  std::uint64_t             overlapVoxels = 0; //!< voxels shared with the label's mask in the other image
  /** For a reference lesion: detected; for a predicted component: not a false positive. */
  bool matched = false;
  /** Reference lesions only: Dice of the lesion against the union of the predicted components matched to it (0 when
   * none is); NaN for predicted components. */
  double                     dice = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::uint64_t> matches; //!< ids of the matched components of the other image, ascending
};

/** \brief Lesion-level detection counts of one label, and the rates they give.
 *
 * Rates follow their definitions literally (0/0 is NaN); the status is that of the counts: \c Absent when there is
 * neither a reference lesion nor a predicted component, \c ReferenceEmpty / \c PredictionEmpty when one side has
 * none.
 * \ingroup TorchSegMetrics
 */
struct LesionDetectionSummary
{
  LabelStatus   status = LabelStatus::Absent;
  std::uint64_t referenceLesions = 0;        //!< reference components counted
  std::uint64_t detectedLesions = 0;         //!< of them, matched by at least one predicted component
  std::uint64_t predictedComponents = 0;     //!< predicted components counted
  std::uint64_t truePositiveComponents = 0;  //!< of them, matched to at least one reference lesion
  std::uint64_t falsePositiveComponents = 0; //!< of them, matched to none
  double        detectionRate = std::numeric_limits<double>::quiet_NaN(); //!< detected / reference (lesion recall)
  double        precision = std::numeric_limits<double>::quiet_NaN();     //!< true-positive / predicted components
  double        f1 = std::numeric_limits<double>::quiet_NaN();            //!< 2 P R / (P + R); 0 when both are 0

  static LesionDetectionSummary
  FromCounts(std::uint64_t referenceLesions, std::uint64_t detectedLesions, std::uint64_t predictedComponents,
             std::uint64_t truePositiveComponents);
};

/** \brief Lesion-wise (per connected component) detection measures of one label L.
 *
 * The reference lesions are the connected components of T_L, the predicted components those of S_L. A reference
 * lesion and a predicted component match when they share at least minimumOverlapVoxels voxels; a reference lesion is
 * detected when some predicted component matches it, a predicted component is a false positive when it matches no
 * reference lesion. \c aboveMinimumDiameter counts only the reference lesions and the predicted components whose
 * equivalent diameter is at least minimumDiameterMm (a small predicted component still detects a large lesion).
 * \ingroup TorchSegMetrics
 */
struct LesionDetectionMeasures
{
  bool                         fullyConnected = true;    //!< face, edge and vertex neighbours (else faces only)
  std::uint64_t                minimumOverlapVoxels = 1; //!< the overlap that makes a match
  double                       minimumDiameterMm = 10.0; //!< the threshold of aboveMinimumDiameter
  double                       voxelVolumeMm3 = 1.0;
  LesionDetectionSummary       all;                  //!< every component
  LesionDetectionSummary       aboveMinimumDiameter; //!< components of equivalent diameter >= minimumDiameterMm
  double                       meanLesionDice = std::numeric_limits<double>::quiet_NaN(); //!< over reference lesions
  std::vector<LesionComponent> referenceLesions;                                          //!< by id
  std::vector<LesionComponent> predictedComponents;                                       //!< by id
};

/** The diameter (mm) of the ball of \a dimension dimensions whose volume (mm^dimension) is \a volume. */
double
EquivalentBallDiameter(double volume, unsigned int dimension);

/** The \a q-th percentile (q in [0, 100]) of \a values with linear interpolation between order statistics
 * (numpy.percentile's default): the value at fractional rank q/100 (n - 1). Reorders \a values; NaN when empty. */
double
LinearPercentile(std::vector<double> & values, double q);

/** Throws itk::ExceptionObject unless two images share size, origin, spacing and direction. The message names both
 * images and every property that differs, with the two values. Spacing is compared relative to its magnitude,
 * origin relative to the larger of its magnitude and the largest spacing, direction entries (unit vectors)
 * absolutely, all with \a tolerance (1e-6); sizes exactly. */
template <unsigned int VDimension>
void
VerifySameGeometry(const itk::ImageBase<VDimension> * reference, const itk::ImageBase<VDimension> * prediction,
                   const std::string & referenceName = "the reference",
                   const std::string & predictionName = "the prediction", double tolerance = 1e-6);

} // namespace torchseg

#include "torchsegEvaluationMeasures.hxx"

#endif
