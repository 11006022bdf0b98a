#include "torchsegEvaluationMeasures.h"

#include <algorithm>

namespace torchseg
{

const char *
LabelStatusToString(LabelStatus status)
{
  switch (status)
  {
    case LabelStatus::Ok:
      return "ok";
    case LabelStatus::Absent:
      return "absent";
    case LabelStatus::ReferenceEmpty:
      return "referenceEmpty";
    case LabelStatus::PredictionEmpty:
      return "predictionEmpty";
  }
  return "unknown";
}

LabelStatus
ClassifyLabel(std::uint64_t referenceCount, std::uint64_t predictionCount)
{
  if (referenceCount == 0 && predictionCount == 0)
  {
    return LabelStatus::Absent;
  }
  if (referenceCount == 0)
  {
    return LabelStatus::ReferenceEmpty;
  }
  if (predictionCount == 0)
  {
    return LabelStatus::PredictionEmpty;
  }
  return LabelStatus::Ok;
}

namespace
{

/** a / b with IEEE semantics spelled out: 0/0 is NaN, x/0 is +-inf. */
double
Ratio(double a, double b)
{
  if (b == 0.0)
  {
    if (a == 0.0)
    {
      return std::numeric_limits<double>::quiet_NaN();
    }
    return a > 0.0 ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
  }
  return a / b;
}

} // namespace

OverlapMeasures
OverlapMeasures::FromCounts(std::uint64_t truePositives, std::uint64_t referenceCount, std::uint64_t predictionCount,
                            std::uint64_t numberOfPixels, double voxelVolumeMm3)
{
  OverlapMeasures m;
  m.status = ClassifyLabel(referenceCount, predictionCount);
  m.referenceCount = referenceCount;
  m.predictionCount = predictionCount;
  m.truePositives = truePositives;
  m.falsePositives = predictionCount - truePositives;
  m.falseNegatives = referenceCount - truePositives;
  const std::uint64_t unionCount = referenceCount + predictionCount - truePositives;
  m.trueNegatives = numberOfPixels - unionCount;

  const auto tp = static_cast<double>(truePositives);
  const auto fp = static_cast<double>(m.falsePositives);
  const auto tn = static_cast<double>(m.trueNegatives);
  const auto t = static_cast<double>(referenceCount);
  const auto s = static_cast<double>(predictionCount);
  m.dice = Ratio(2.0 * tp, s + t);
  m.iou = Ratio(tp, static_cast<double>(unionCount));
  m.precision = Ratio(tp, s);
  m.recall = Ratio(tp, t);
  m.specificity = Ratio(tn, tn + fp);
  m.falsePositiveRate = Ratio(fp, fp + tn);
  m.falseDiscoveryRate = Ratio(fp, tp + fp);
  m.volumeSimilarity = 1.0 - Ratio(std::abs(s - t), s + t);
  m.relativeVolumeDifference = Ratio(s - t, t);
  m.referenceVolumeMl = t * voxelVolumeMm3 / 1000.0;
  m.predictionVolumeMl = s * voxelVolumeMm3 / 1000.0;
  return m;
}

LesionDetectionSummary
LesionDetectionSummary::FromCounts(std::uint64_t referenceLesions, std::uint64_t detectedLesions,
                                   std::uint64_t predictedComponents, std::uint64_t truePositiveComponents)
{
  LesionDetectionSummary s;
  s.status = ClassifyLabel(referenceLesions, predictedComponents);
  s.referenceLesions = referenceLesions;
  s.detectedLesions = detectedLesions;
  s.predictedComponents = predictedComponents;
  s.truePositiveComponents = truePositiveComponents;
  s.falsePositiveComponents = predictedComponents - truePositiveComponents;
  s.detectionRate = Ratio(static_cast<double>(detectedLesions), static_cast<double>(referenceLesions));
  s.precision = Ratio(static_cast<double>(truePositiveComponents), static_cast<double>(predictedComponents));
  if (!std::isnan(s.detectionRate) && !std::isnan(s.precision))
  {
    const double sum = s.detectionRate + s.precision;
    s.f1 = sum > 0.0 ? 2.0 * s.detectionRate * s.precision / sum : 0.0;
  }
  return s;
}

double
EquivalentBallDiameter(double volume, unsigned int dimension)
{
  if (dimension == 2)
  {
    return 2.0 * std::sqrt(volume / M_PI);
  }
  if (dimension == 3)
  {
    return std::cbrt(6.0 * volume / M_PI);
  }
  // The volume of the unit ball: pi^(n/2) / Gamma(n/2 + 1).
  const double n = static_cast<double>(dimension);
  const double unitBall = std::pow(M_PI, n / 2.0) / std::tgamma(n / 2.0 + 1.0);
  return 2.0 * std::pow(volume / unitBall, 1.0 / n);
}

double
LinearPercentile(std::vector<double> & values, double q)
{
  if (values.empty())
  {
    return std::numeric_limits<double>::quiet_NaN();
  }
  const double      rank = std::clamp(q, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
  const std::size_t lower = static_cast<std::size_t>(std::floor(rank));
  const std::size_t upper = std::min(lower + 1, values.size() - 1);
  const double      fraction = rank - static_cast<double>(lower);
  std::nth_element(values.begin(), values.begin() + lower, values.end());
  const double low = values[lower];
  if (fraction == 0.0 || upper == lower)
  {
    return low;
  }
  // The next order statistic is the smallest value above position lower.
  const double high = *std::min_element(values.begin() + lower + 1, values.end());
  // numpy's _lerp: exact at both ends.
  const double diff = high - low;
  return fraction >= 0.5 ? high - diff * (1.0 - fraction) : low + diff * fraction;
}

} // namespace torchseg
