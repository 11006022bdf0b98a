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
    all.push_back(object);
  }
  const nlohmann::ordered_json & document = evaluations.size() == 1 ? all.front() : all;
  return document.dump(2) + "\n";
}

} // namespace torchseg
