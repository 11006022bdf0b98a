#include "torchsegSegmentationEvaluation.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <set>
#include <sstream>

namespace torchseg
{

namespace
{

/** The shortest decimal form that reads back to the same double; "" for NaN and infinity. */
std::string
ExactNumber(double value)
{
  if (!std::isfinite(value))
  {
    return std::string();
  }
  char       buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

/** A CSV field, quoted when it holds a separator, a quote or a line break. */
std::string
CSVField(const std::string & text)
{
  if (text.find_first_of(",\"\n\r") == std::string::npos)
  {
    return text;
  }
  std::string quoted = "\"";
  for (const char c : text)
  {
    quoted += c;
    if (c == '"')
    {
      quoted += '"';
    }
  }
  return quoted + "\"";
}

nlohmann::json
JSONNumber(double value)
{
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

/** A fixed-point cell of the terminal table. */
std::string
Cell(double value, int decimals)
{
  if (std::isnan(value))
  {
    return "n/a";
  }
  if (std::isinf(value))
  {
    return value > 0 ? "inf" : "-inf";
  }
  std::ostringstream out;
  out << std::fixed << std::setprecision(decimals) << value;
  return out.str();
}

std::string
ShortName(const std::string & path)
{
  return path.empty() ? std::string("prediction") : std::filesystem::path(path).filename().string();
}

nlohmann::ordered_json
SummaryJSON(const LesionDetectionSummary & s)
{
  nlohmann::ordered_json object;
  object["status"] = LabelStatusToString(s.status);
  object["referenceLesions"] = s.referenceLesions;
  object["detectedLesions"] = s.detectedLesions;
  object["detectionRate"] = JSONNumber(s.detectionRate);
  object["predictedComponents"] = s.predictedComponents;
  object["truePositiveComponents"] = s.truePositiveComponents;
  object["falsePositiveComponents"] = s.falsePositiveComponents;
  object["precision"] = JSONNumber(s.precision);
  object["f1"] = JSONNumber(s.f1);
  return object;
}

nlohmann::ordered_json
ComponentJSON(const LesionComponent & c, bool reference)
{
  nlohmann::ordered_json object;
  auto                   numbers = [](const std::vector<double> & values) {
    nlohmann::ordered_json array = nlohmann::ordered_json::array();
    for (const double v : values)
    {
      array.push_back(std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr));
    }
    return array;
  };
  object["id"] = c.id;
  object["voxels"] = c.voxelCount;
  object["volumeMl"] = JSONNumber(c.volumeMl);
  object["equivalentDiameterMm"] = JSONNumber(c.equivalentDiameterMm);
  object["maximumExtentMm"] = JSONNumber(c.maximumExtentMm);
  object["extentMm"] = numbers(c.extentMm);
  object["centroid"] = numbers(c.centroid);
  object["boundingBoxLower"] = c.boundingBoxLower;
  object["boundingBoxUpper"] = c.boundingBoxUpper;
  object["overlapVoxels"] = c.overlapVoxels;
  if (reference)
  {
    object["detected"] = c.matched;
    object["dice"] = JSONNumber(c.dice);
    object["matchedComponents"] = c.matches;
  }
  else
  {
    object["falsePositive"] = !c.matched;
    object["matchedLesions"] = c.matches;
  }
  return object;
}

nlohmann::ordered_json
LesionJSON(const LesionEvaluation & lesion)
{
  const LesionDetectionMeasures & m = lesion.measures;
  nlohmann::ordered_json          object;
  object["label"] = lesion.label;
  object["name"] = lesion.name;
  object["connectivity"] = m.fullyConnected ? "full" : "face";
  object["minimumOverlapVoxels"] = m.minimumOverlapVoxels;
  object["minimumDiameterMm"] = m.minimumDiameterMm;
  nlohmann::ordered_json summary = SummaryJSON(m.all);
  for (auto it = summary.begin(); it != summary.end(); ++it)
  {
    object[it.key()] = it.value();
  }
  object["meanLesionDice"] = JSONNumber(m.meanLesionDice);
  object["aboveMinimumDiameter"] = SummaryJSON(m.aboveMinimumDiameter);
  nlohmann::ordered_json referenceList = nlohmann::ordered_json::array();
  for (const auto & c : m.referenceLesions)
  {
    referenceList.push_back(ComponentJSON(c, true));
  }
  nlohmann::ordered_json predictionList = nlohmann::ordered_json::array();
  for (const auto & c : m.predictedComponents)
  {
    predictionList.push_back(ComponentJSON(c, false));
  }
  object["referenceLesionList"] = referenceList;
  object["predictedComponentList"] = predictionList;
  return object;
}

LabelEvaluation
AbsentRow(const SegmentationEvaluation & evaluation, std::int64_t label, const std::string & name)
{
  LabelEvaluation row;
  row.label = label;
  row.name = name;
  row.overlap = OverlapMeasures::FromCounts(0, 0, 0, evaluation.numberOfPixels, evaluation.voxelVolumeMm3);
  row.surface.tolerance = evaluation.nsdTolerance;
  row.surface.percentile = evaluation.percentile;
  return row;
}

} // namespace

std::string
GetEvaluationLabelName(const std::map<std::int64_t, std::string> & names, std::int64_t label)
{
  const auto found = names.find(label);
  if (found != names.end() && !found->second.empty())
  {
    return found->second;
  }
  return label == 0 ? std::string("background") : "label " + std::to_string(label);
}

void
HarmonizeLabels(std::vector<SegmentationEvaluation> &       evaluations,
                const std::map<std::int64_t, std::string> & labelNames)
{
  std::map<std::int64_t, std::string> all;
  for (const auto & evaluation : evaluations)
  {
    for (const auto & row : evaluation.labels)
    {
      all.emplace(row.label, row.name);
    }
  }
  for (auto & evaluation : evaluations)
  {
    std::set<std::int64_t> have;
    for (const auto & row : evaluation.labels)
    {
      have.insert(row.label);
    }
    for (const auto & entry : all)
    {
      if (!have.count(entry.first))
      {
        const std::string name =
          labelNames.count(entry.first) ? GetEvaluationLabelName(labelNames, entry.first) : entry.second;
        evaluation.labels.push_back(AbsentRow(evaluation, entry.first, name));
      }
    }
    std::sort(evaluation.labels.begin(),
              evaluation.labels.end(),
              [](const LabelEvaluation & a, const LabelEvaluation & b) { return a.label < b.label; });
  }
}

std::string
FormatEvaluationTable(const std::vector<SegmentationEvaluation> & evaluations)
{
  const bool         several = evaluations.size() > 1;
  std::ostringstream out;
  if (!evaluations.empty() && !evaluations.front().reference.empty())
  {
    out << "Reference: " << evaluations.front().reference << "\n";
  }
  if (evaluations.size() == 1 && !evaluations.front().prediction.empty())
  {
    out << "Prediction: " << evaluations.front().prediction << "\n";
  }
  std::size_t predictionWidth = 10;
  std::size_t nameWidth = 4;
  for (const auto & evaluation : evaluations)
  {
    predictionWidth = std::max(predictionWidth, ShortName(evaluation.prediction).size());
    for (const auto & row : evaluation.labels)
    {
      nameWidth = std::max(nameWidth, row.name.size());
    }
  }
  const double       tolerance = evaluations.empty() ? 2.0 : evaluations.front().nsdTolerance;
  std::ostringstream nsdHeader;
  nsdHeader << "NSD@" << tolerance;
  out << std::left;
  if (several)
  {
    out << std::setw(static_cast<int>(predictionWidth) + 2) << "Prediction";
  }
  out << std::setw(7) << "Label" << std::setw(static_cast<int>(nameWidth) + 2) << "Name" << std::setw(17) << "Status"
      << std::right << std::setw(8) << "Dice" << std::setw(8) << "IoU" << std::setw(8) << "Prec" << std::setw(8)
      << "Recall" << std::setw(9) << "HD" << std::setw(9) << "HD95" << std::setw(9) << "ASSD" << std::setw(9)
      << nsdHeader.str() << std::setw(11) << "Ref mL" << std::setw(11) << "Pred mL"
      << "\n";
  for (const auto & evaluation : evaluations)
  {
    for (const auto & row : evaluation.labels)
    {
      out << std::left;
      if (several)
      {
        out << std::setw(static_cast<int>(predictionWidth) + 2) << ShortName(evaluation.prediction);
      }
      out << std::setw(7) << row.label << std::setw(static_cast<int>(nameWidth) + 2) << row.name << std::setw(17)
          << LabelStatusToString(row.status) << std::right << std::setw(8) << Cell(row.overlap.dice, 4) << std::setw(8)
          << Cell(row.overlap.iou, 4) << std::setw(8) << Cell(row.overlap.precision, 4) << std::setw(8)
          << Cell(row.overlap.recall, 4) << std::setw(9) << Cell(row.surface.hausdorff, 2) << std::setw(9)
          << Cell(row.surface.hausdorffPercentile, 2) << std::setw(9) << Cell(row.surface.averageSymmetric, 2)
          << std::setw(9) << Cell(row.surface.normalizedSurfaceDice, 4) << std::setw(11)
          << Cell(row.overlap.referenceVolumeMl, 2) << std::setw(11) << Cell(row.overlap.predictionVolumeMl, 2) << "\n";
    }
  }
  out << "(distances in mm; NSD at " << tolerance << " mm)\n";
  for (const auto & evaluation : evaluations)
  {
    if (several)
    {
      out << ShortName(evaluation.prediction) << ": ";
    }
    out << "pixel accuracy " << Cell(evaluation.pixelAccuracy, 4) << ", mean IoU " << Cell(evaluation.meanIoU, 4)
        << ", mean Dice " << Cell(evaluation.meanDice, 4) << "\n";
  }
  out << FormatLesionTable(evaluations);
  return out.str();
}

std::string
FormatLesionTable(const std::vector<SegmentationEvaluation> & evaluations)
{
  const LesionEvaluation * first = nullptr;
  std::size_t              predictionWidth = 10;
  std::size_t              nameWidth = 4;
  for (const auto & evaluation : evaluations)
  {
    predictionWidth = std::max(predictionWidth, ShortName(evaluation.prediction).size());
    for (const auto & lesion : evaluation.lesions)
    {
      first = first ? first : &lesion;
      nameWidth = std::max(nameWidth, lesion.name.size());
    }
  }
  if (first == nullptr)
  {
    return std::string();
  }
  const bool         several = evaluations.size() > 1;
  std::ostringstream out;
  out << "\nLesions (connected components, " << (first->measures.fullyConnected ? "face, edge and vertex" : "face")
      << " neighbours; detected: a predicted component shares >= " << first->measures.minimumOverlapVoxels << " voxel"
      << (first->measures.minimumOverlapVoxels == 1 ? "" : "s")
      << "; diameter: of the ball of equal volume; FP: false-positive predicted component)\n";
  out << std::left;
  if (several)
  {
    out << std::setw(static_cast<int>(predictionWidth) + 2) << "Prediction";
  }
  out << std::setw(7) << "Label" << std::setw(static_cast<int>(nameWidth) + 2) << "Name" << std::setw(8) << "Lesion"
      << std::right << std::setw(13) << "Diameter mm" << std::setw(11) << "Extent mm" << std::setw(11) << "Volume mL"
      << std::setw(10) << "Detected" << std::setw(8) << "Dice"
      << "  Centroid (mm)\n";
  auto centroid = [](const LesionComponent & c) {
    std::ostringstream text;
    text << std::fixed << std::setprecision(1) << "(";
    for (std::size_t d = 0; d < c.centroid.size(); ++d)
    {
      text << (d ? ", " : "") << c.centroid[d];
    }
    text << ")";
    return text.str();
  };
  auto row = [&](const SegmentationEvaluation & evaluation,
                 const LesionEvaluation &       lesion,
                 const std::string &            id,
                 const LesionComponent &        c,
                 const std::string &            detected,
                 double                         dice) {
    out << std::left;
    if (several)
    {
      out << std::setw(static_cast<int>(predictionWidth) + 2) << ShortName(evaluation.prediction);
    }
    out << std::setw(7) << lesion.label << std::setw(static_cast<int>(nameWidth) + 2) << lesion.name << std::setw(8)
        << id << std::right << std::setw(13) << Cell(c.equivalentDiameterMm, 2) << std::setw(11)
        << Cell(c.maximumExtentMm, 2) << std::setw(11) << Cell(c.volumeMl, 4) << std::setw(10) << detected
        << std::setw(8) << Cell(dice, 4) << "  " << centroid(c) << "\n";
  };
  for (const auto & evaluation : evaluations)
  {
    for (const auto & lesion : evaluation.lesions)
    {
      for (const auto & c : lesion.measures.referenceLesions)
      {
        row(evaluation, lesion, std::to_string(c.id), c, c.matched ? "yes" : "no", c.dice);
      }
      for (const auto & c : lesion.measures.predictedComponents)
      {
        if (!c.matched)
        {
          row(evaluation, lesion, "FP " + std::to_string(c.id), c, "-", c.dice);
        }
      }
    }
  }
  auto summary = [&out](const LesionDetectionSummary & s) {
    out << s.detectedLesions << " of " << s.referenceLesions << " lesions detected (rate " << Cell(s.detectionRate, 4)
        << "), " << s.falsePositiveComponents << " of " << s.predictedComponents
        << " predicted components false positive (precision " << Cell(s.precision, 4) << "), F1 " << Cell(s.f1, 4);
  };
  for (const auto & evaluation : evaluations)
  {
    for (const auto & lesion : evaluation.lesions)
    {
      const LesionDetectionMeasures & m = lesion.measures;
      if (several)
      {
        out << ShortName(evaluation.prediction) << ": ";
      }
      out << lesion.name << ": ";
      if (m.all.status == LabelStatus::Absent)
      {
        out << "absent (no lesion and no predicted component)\n";
        continue;
      }
      summary(m.all);
      out << ", mean lesion Dice " << Cell(m.meanLesionDice, 4) << "\n";
      out << "  diameter >= " << m.minimumDiameterMm << " mm: ";
      summary(m.aboveMinimumDiameter);
      out << "\n";
    }
  }
  return out.str();
}

std::string
FormatLesionCSV(const std::vector<SegmentationEvaluation> & evaluations)
{
  std::ostringstream out;
  out << "reference,prediction,label,name,kind,id,voxels,volumeMl,equivalentDiameterMm,maximumExtentMm,centroidX,"
         "centroidY,centroidZ,detected,falsePositive,dice,overlapVoxels,matches,minimumDiameterMm,"
         "aboveMinimumDiameter\n";
  for (const auto & evaluation : evaluations)
  {
    for (const auto & lesion : evaluation.lesions)
    {
      const LesionDetectionMeasures & m = lesion.measures;
      const double                    threshold = m.minimumDiameterMm * (1.0 - 1e-12);
      for (const bool reference : { true, false })
      {
        for (const auto & c : reference ? m.referenceLesions : m.predictedComponents)
        {
          out << CSVField(evaluation.reference) << ',' << CSVField(evaluation.prediction) << ',' << lesion.label << ','
              << CSVField(lesion.name) << ',' << (reference ? "reference" : "prediction") << ',' << c.id << ','
              << c.voxelCount << ',' << ExactNumber(c.volumeMl) << ',' << ExactNumber(c.equivalentDiameterMm) << ','
              << ExactNumber(c.maximumExtentMm);
          for (std::size_t d = 0; d < 3; ++d)
          {
            out << ',' << (d < c.centroid.size() ? ExactNumber(c.centroid[d]) : std::string());
          }
          out << ',' << (reference ? (c.matched ? "1" : "0") : "") << ',' << (reference ? "" : (c.matched ? "0" : "1"))
              << ',' << ExactNumber(c.dice) << ',' << c.overlapVoxels << ',';
          for (std::size_t i = 0; i < c.matches.size(); ++i)
          {
            out << (i ? ";" : "") << c.matches[i];
          }
          out << ',' << ExactNumber(m.minimumDiameterMm) << ',' << (c.equivalentDiameterMm >= threshold ? "1" : "0")
              << '\n';
        }
      }
    }
  }
  return out.str();
}

std::string
FormatEvaluationCSV(const std::vector<SegmentationEvaluation> & evaluations)
{
  std::ostringstream out;
  out << "reference,prediction,label,name,status,dice,iou,precision,recall,specificity,falsePositiveRate,"
         "falseDiscoveryRate,volumeSimilarity,relativeVolumeDifference,hd,hd95,assd,masd,nsd,nsdTolerance,"
         "referenceVolumeMl,predictionVolumeMl,referenceVoxels,predictionVoxels,truePositives,pixelAccuracy,meanIoU,"
         "meanDice\n";
  for (const auto & evaluation : evaluations)
  {
    for (const auto & row : evaluation.labels)
    {
      const OverlapMeasures &         o = row.overlap;
      const SurfaceDistanceMeasures & s = row.surface;
      out << CSVField(evaluation.reference) << ',' << CSVField(evaluation.prediction) << ',' << row.label << ','
          << CSVField(row.name) << ',' << LabelStatusToString(row.status);
      for (const double value : { o.dice,
                                  o.iou,
                                  o.precision,
                                  o.recall,
                                  o.specificity,
                                  o.falsePositiveRate,
                                  o.falseDiscoveryRate,
                                  o.volumeSimilarity,
                                  o.relativeVolumeDifference,
                                  s.hausdorff,
                                  s.hausdorffPercentile,
                                  s.averageSymmetric,
                                  s.meanAverage,
                                  s.normalizedSurfaceDice,
                                  evaluation.nsdTolerance,
                                  o.referenceVolumeMl,
                                  o.predictionVolumeMl })
      {
        out << ',' << ExactNumber(value);
      }
      out << ',' << o.referenceCount << ',' << o.predictionCount << ',' << o.truePositives;
      for (const double value : { evaluation.pixelAccuracy, evaluation.meanIoU, evaluation.meanDice })
      {
        out << ',' << ExactNumber(value);
      }
      out << '\n';
    }
  }
  return out.str();
}

std::string
FormatEvaluationJSON(const std::vector<SegmentationEvaluation> & evaluations)
{
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  for (const auto & evaluation : evaluations)
  {
    nlohmann::ordered_json object;
    object["reference"] = evaluation.reference;
    object["prediction"] = evaluation.prediction;
    object["pixelAccuracy"] = JSONNumber(evaluation.pixelAccuracy);
    object["meanIoU"] = JSONNumber(evaluation.meanIoU);
    object["meanDice"] = JSONNumber(evaluation.meanDice);
    object["nsdTolerance"] = evaluation.nsdTolerance;
    object["numberOfVoxels"] = evaluation.numberOfPixels;
    object["voxelVolumeMm3"] = evaluation.voxelVolumeMm3;
    nlohmann::ordered_json labels = nlohmann::ordered_json::array();
    for (const auto & row : evaluation.labels)
    {
      const OverlapMeasures &         o = row.overlap;
      const SurfaceDistanceMeasures & s = row.surface;
      nlohmann::ordered_json          entry;
      entry["label"] = row.label;
      entry["name"] = row.name;
      entry["status"] = LabelStatusToString(row.status);
      entry["dice"] = JSONNumber(o.dice);
      entry["iou"] = JSONNumber(o.iou);
      entry["precision"] = JSONNumber(o.precision);
      entry["recall"] = JSONNumber(o.recall);
      entry["specificity"] = JSONNumber(o.specificity);
      entry["hd"] = JSONNumber(s.hausdorff);
      entry["hd95"] = JSONNumber(s.hausdorffPercentile);
      entry["assd"] = JSONNumber(s.averageSymmetric);
      entry["masd"] = JSONNumber(s.meanAverage);
      entry["nsd"] = JSONNumber(s.normalizedSurfaceDice);
      entry["referenceVolumeMl"] = JSONNumber(o.referenceVolumeMl);
      entry["predictionVolumeMl"] = JSONNumber(o.predictionVolumeMl);
      entry["falsePositiveRate"] = JSONNumber(o.falsePositiveRate);
      entry["falseDiscoveryRate"] = JSONNumber(o.falseDiscoveryRate);
      entry["volumeSimilarity"] = JSONNumber(o.volumeSimilarity);
      entry["relativeVolumeDifference"] = JSONNumber(o.relativeVolumeDifference);
      entry["referenceVoxels"] = o.referenceCount;
      entry["predictionVoxels"] = o.predictionCount;
      entry["truePositives"] = o.truePositives;
      const std::pair<const char *, const DirectedSurfaceDistance *> directions[] = {
        { "referenceToPrediction", &s.referenceToPrediction }, { "predictionToReference", &s.predictionToReference }
      };
      for (const auto & direction : directions)
      {
        const DirectedSurfaceDistance & d = *direction.second;
        nlohmann::ordered_json          directed;
        directed["surfaceVoxels"] = d.numberOfSurfaceVoxels;
        directed["hd"] = JSONNumber(d.maximum);
        directed["hd95"] = JSONNumber(d.percentile);
        directed["mean"] = JSONNumber(d.mean);
        directed["withinTolerance"] = d.numberWithinTolerance;
        entry[direction.first] = directed;
      }
      labels.push_back(entry);
    }
    object["labels"] = labels;
    if (!evaluation.lesions.empty())
    {
      nlohmann::ordered_json lesions = nlohmann::ordered_json::array();
      for (const auto & lesion : evaluation.lesions)
      {
        lesions.push_back(LesionJSON(lesion));
      }
      object["lesions"] = lesions;
    }
    all.push_back(object);
  }
  const nlohmann::ordered_json & document = evaluations.size() == 1 ? all.front() : all;
  return document.dump(2) + "\n";
}

} // namespace torchseg
