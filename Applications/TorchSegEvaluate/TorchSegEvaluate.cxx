// TorchSegEvaluate: compares predicted label images with a reference (overlap and surface-distance measures) and
// writes a table, CSV and JSON. Definitions and conventions: docs/evaluation.md.
#include "TorchSegEvaluateXML.h"

#include "torchsegApplication.h"
#include "torchsegAtomicOutput.h"
#include "torchsegImageIO.h"
#include "torchsegLabelTable.h"
#include "torchsegSegmentationEvaluation.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>

namespace
{

using torchseg::cli::UsageError;

std::map<std::int64_t, std::string>
LabelNames(const torchseg::cli::ParsedArguments & args, const std::vector<std::int64_t> & labels)
{
  std::map<std::int64_t, std::string> names;
  const torchseg::LabelTable          defaults = torchseg::LabelTable::LiverTumour();
  for (const auto & info : defaults.GetLabels())
  {
    names[info.value] = info.name;
  }
  const std::vector<std::string> given = args.GetStringVector("labelNames");
  if (given.empty())
  {
    return names;
  }
  if (!labels.empty() && given.size() != labels.size())
  {
    throw UsageError("--labelNames gives " + std::to_string(given.size()) + " names for the " +
                     std::to_string(labels.size()) + " labels of --labels");
  }
  for (std::size_t i = 0; i < given.size(); ++i)
  {
    names[labels.empty() ? static_cast<std::int64_t>(i + 1) : labels[i]] = given[i];
  }
  return names;
}

std::string
Number(double value)
{
  if (std::isnan(value))
  {
    return "nan";
  }
  if (std::isinf(value))
  {
    return value > 0 ? "inf" : "-inf";
  }
  std::ostringstream out;
  out.precision(6);
  out << value;
  return out.str();
}

/** "liver=0.9512,tumour=0.8101", with the status for undefined values. */
std::string
PerLabel(const torchseg::SegmentationEvaluation & evaluation, bool hd95)
{
  std::ostringstream out;
  for (const auto & row : evaluation.labels)
  {
    const double value = hd95 ? row.surface.hausdorffPercentile : row.overlap.dice;
    out << (out.tellp() > 0 ? "," : "") << row.name << "="
        << (row.status == torchseg::LabelStatus::Absent ? std::string("absent") : Number(value));
  }
  return out.str();
}

/** The lesion flags, checked: labels of 8-bit label images other than the background, each in --labels when that
 * is given; a finite diameter >= 0; an overlap of at least one voxel. */
void
ParseLesionOptions(const torchseg::cli::ParsedArguments & args, torchseg::EvaluationOptions & options)
{
  const std::set<std::int64_t> evaluated(options.labels.begin(), options.labels.end());
  for (const int label : args.GetIntVector("lesionLabels"))
  {
    if (label < 0 || label > 255)
    {
      throw UsageError("--lesionLabels: " + std::to_string(label) + " is not a label value (labels are 0 to 255)");
    }
    if (label == 0)
    {
      throw UsageError("--lesionLabels: 0 is the background, not a lesion label");
    }
    if (!evaluated.empty() && !evaluated.count(label))
    {
      throw UsageError("--lesionLabels: " + std::to_string(label) + " is not one of the labels of --labels " +
                       args.GetString("labels"));
    }
    if (std::find(options.lesionLabels.begin(), options.lesionLabels.end(), label) == options.lesionLabels.end())
    {
      options.lesionLabels.push_back(label);
    }
  }
  options.lesionMinimumDiameter = args.GetDouble("lesionMinimumDiameter");
  if (!(options.lesionMinimumDiameter >= 0.0) || !std::isfinite(options.lesionMinimumDiameter))
  {
    throw UsageError("--lesionMinimumDiameter: " + args.GetString("lesionMinimumDiameter") +
                     " is not a diameter in mm (>= 0)");
  }
  const int overlap = args.GetInt("lesionMinimumOverlap");
  if (overlap < 1)
  {
    throw UsageError("--lesionMinimumOverlap: " + args.GetString("lesionMinimumOverlap") +
                     " is not a number of voxels (>= 1)");
  }
  options.lesionMinimumOverlap = static_cast<std::uint64_t>(overlap);
  options.lesionFullyConnected = !args.GetBool("lesionFaceConnectivity");
  if (args.IsSet("lesionCsv") && options.lesionLabels.empty())
  {
    throw UsageError("--lesionCsv needs --lesionLabels (the labels to evaluate lesion-wise)");
  }
}

} // namespace

int
main(int argc, char * argv[])
{
  torchseg::cli::Application application(TorchSegEvaluateXMLDescription, "TorchSegEvaluate");
  return application.Run(argc, argv, [](const torchseg::cli::ParsedArguments & args, torchseg::cli::Application & app) {
    const std::string              referencePath = args.Require("reference");
    const std::vector<std::string> predictionPaths = args.GetStringVector("predictions");
    if (predictionPaths.empty())
    {
      throw UsageError("missing argument predictions (one or more predicted label images)");
    }

    torchseg::EvaluationOptions options;
    for (const int label : args.GetIntVector("labels"))
    {
      if (label < 0)
      {
        throw UsageError("--labels: " + std::to_string(label) + " is not a label value (labels are >= 0)");
      }
      options.labels.push_back(label);
    }
    options.labelNames = LabelNames(args, options.labels);
    options.nsdTolerance = args.GetDouble("nsdTolerance");
    if (!(options.nsdTolerance >= 0.0) || !std::isfinite(options.nsdTolerance))
    {
      throw UsageError("--nsdTolerance: " + args.GetString("nsdTolerance") + " is not a distance in mm (>= 0)");
    }
    options.referenceName = referencePath;
    ParseLesionOptions(args, options);

    // Fail on an unwritable output before the work, and write nothing until everything succeeded.
    std::unique_ptr<torchseg::AtomicOutput> csv;
    std::unique_ptr<torchseg::AtomicOutput> json;
    if (args.IsSet("csv"))
    {
      csv = std::make_unique<torchseg::AtomicOutput>(args.GetString("csv"));
    }
    if (args.IsSet("json"))
    {
      json = std::make_unique<torchseg::AtomicOutput>(args.GetString("json"));
    }
    std::unique_ptr<torchseg::AtomicOutput> lesionCsv;
    if (args.IsSet("lesionCsv"))
    {
      lesionCsv = std::make_unique<torchseg::AtomicOutput>(args.GetString("lesionCsv"));
    }

    auto & progress = app.GetProgress();
    progress.Start("Evaluating",
                   "Overlap and surface distances of " + std::to_string(predictionPaths.size()) + " prediction(s)");
    const torchseg::LabelImageType::Pointer       reference = torchseg::ReadLabelImage(referencePath);
    std::vector<torchseg::SegmentationEvaluation> evaluations;
    const double                                  share = 1.0 / static_cast<double>(predictionPaths.size());
    for (std::size_t i = 0; i < predictionPaths.size(); ++i)
    {
      progress.CheckAbort();
      const torchseg::LabelImageType::Pointer prediction = torchseg::ReadLabelImage(predictionPaths[i]);
      options.predictionName = predictionPaths[i];
      evaluations.push_back(torchseg::EvaluateSegmentation<torchseg::LabelImageType>(
        reference, prediction, options, [&](itk::ProcessObject * filter, double begin, double end) {
          progress.Observe(filter, share * (static_cast<double>(i) + begin), share * (static_cast<double>(i) + end));
        }));
    }
    progress.CheckAbort();
    torchseg::HarmonizeLabels(evaluations, options.labelNames);
    if (options.labels.empty())
    {
      // The evaluated labels are those present in the reference or a prediction: a lesion label outside them is
      // most likely a mistake (a tumour-free case is evaluated with the label in --labels).
      for (const std::int64_t label : options.lesionLabels)
      {
        const auto & rows = evaluations.front().labels;
        if (std::none_of(
              rows.begin(), rows.end(), [label](const torchseg::LabelEvaluation & row) { return row.label == label; }))
        {
          throw UsageError("--lesionLabels: label " + std::to_string(label) + " is in neither " + referencePath +
                           " nor the prediction(s) (to evaluate a case without it, list it in --labels too)");
        }
      }
    }
    progress.End();

    auto write = [](torchseg::AtomicOutput & output, const std::string & text) {
      std::ofstream file(output.GetTemporaryPath(), std::ios::binary);
      file << text;
      file.close();
      if (!file)
      {
        itkGenericExceptionMacro(<< "Cannot write " << output.GetTargetPath().string());
      }
    };
    if (csv)
    {
      write(*csv, torchseg::FormatEvaluationCSV(evaluations));
    }
    if (json)
    {
      write(*json, torchseg::FormatEvaluationJSON(evaluations));
    }
    if (lesionCsv)
    {
      write(*lesionCsv, torchseg::FormatLesionCSV(evaluations));
    }
    for (auto * output : { csv.get(), json.get(), lesionCsv.get() })
    {
      if (output)
      {
        output->Commit();
      }
    }

    std::cout << torchseg::FormatEvaluationTable(evaluations) << std::flush;

    const torchseg::SegmentationEvaluation & first = evaluations.front();
    app.SetReturnValue("dice", PerLabel(first, false));
    app.SetReturnValue("hd95", PerLabel(first, true));
    app.SetReturnValue("meanDice", Number(first.meanDice));
    app.SetReturnValue("pixelAccuracy", Number(first.pixelAccuracy));
    std::ostringstream detection;
    for (const auto & lesion : first.lesions)
    {
      const double rate = lesion.measures.all.detectionRate;
      detection << (detection.tellp() > 0 ? "," : "") << lesion.name << "="
                << (std::isnan(rate) ? std::string("n/a") : Number(rate));
    }
    app.SetReturnValue("lesionDetectionRate", detection.str());
  });
}
