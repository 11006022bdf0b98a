// TorchSegPredict: segments a CT volume, or the cases of a list (one shard of it), with a trained network (see
// TorchSegPredict.xml).
#include "TorchSegPredictXML.h"

#include "torchsegApplication.h"
#include "torchsegAtomicOutput.h"
#include "torchsegDICOMSegmentation.h"
#include "torchsegImageIO.h"
#include "torchsegPredictionList.h"
#include "torchsegSegmentationFilter.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace fs = std::filesystem;

namespace
{

const char * const DefaultModelName = "torchseg-liver-default.pt";

/** Where the shipped model may be: the install tree beside the executable, then the source tree. */
std::vector<fs::path>
DefaultModelCandidates()
{
  std::vector<fs::path> candidates;
  std::error_code       ec;
  const fs::path        executable = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
  {
    candidates.push_back(executable.parent_path().parent_path() / TORCHSEG_INSTALL_MODEL_DIR / DefaultModelName);
  }
  candidates.push_back(fs::path(TORCHSEG_SOURCE_MODEL_DIR) / DefaultModelName);
  return candidates;
}

std::string
DefaultModelPath()
{
  const auto  candidates = DefaultModelCandidates();
  std::string tried;
  for (const auto & candidate : candidates)
  {
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec))
    {
      return candidate.string();
    }
    tried += (tried.empty() ? "" : ", ") + candidate.lexically_normal().string();
  }
  itkGenericExceptionMacro(<< "The default model is missing (looked for " << tried
                           << "); pass a model with --model model.pt (TorchSegTrain --outputModel writes one)");
}

/** Refuses an output file name the writers cannot handle, before any work is done. */
void
CheckOutputExtension(const std::string & path, const std::string & flag, bool labels)
{
  const std::string ext = torchseg::GetFullExtension(path);
  const auto &      supported = torchseg::GetSupportedImageExtensions();
  if (std::find(supported.begin(), supported.end(), ext) == supported.end() || (!labels && ext == ".seg.nrrd"))
  {
    std::string list;
    for (const auto & e : supported)
    {
      if (labels || e != ".seg.nrrd")
      {
        list += (list.empty() ? "" : ", ") + e;
      }
    }
    throw torchseg::cli::UsageError(flag + " " + path + ": unsupported file type \"" + ext + "\" (use " + list + ")");
  }
}

std::string
FormatNumber(double value, int decimals)
{
  std::ostringstream s;
  s << std::fixed << std::setprecision(decimals) << value;
  return s.str();
}

using Filter = torchseg::SegmentationFilter<torchseg::CTImageType, torchseg::LabelImageType>;

/** Refuses out-of-range values of the numeric flags, naming the flag, before any work. */
void
CheckSettings(const torchseg::cli::ParsedArguments & args)
{
  const double overlap = args.GetDouble("overlap");
  if (!(overlap >= 0.0 && overlap <= 0.95))
  {
    throw torchseg::cli::UsageError("--overlap " + args.GetString("overlap") + " is not in [0, 0.95]");
  }
  for (const char * name : { "batchSize", "organLabel", "tumourLabel" })
  {
    const int value = args.GetInt(name);
    if (value < 0 || value > 255 || (value == 0 && std::string(name) == "organLabel"))
    {
      throw torchseg::cli::UsageError(std::string("--") + name + " " + args.GetString(name) + " is out of range");
    }
  }
  if (args.GetDouble("minimumTumourVolume") < 0.0)
  {
    throw torchseg::cli::UsageError("--minimumTumourVolume " + args.GetString("minimumTumourVolume") + " is negative");
  }
  const int iterations = args.GetInt("crfIterations");
  if (iterations < 0 || iterations > 1000)
  {
    throw torchseg::cli::UsageError("--crfIterations " + args.GetString("crfIterations") + " is not in [0, 1000]");
  }
  for (const char * name : { "crfAppearanceWeight", "crfSmoothnessWeight" })
  {
    const double value = args.GetDouble(name);
    if (!(value >= 0.0) || !std::isfinite(value))
    {
      throw torchseg::cli::UsageError(std::string("--") + name + " " + args.GetString(name) +
                                      " is not a finite number >= 0");
    }
  }
  for (const char * name : { "crfAppearanceSpatialSigma", "crfAppearanceIntensitySigma", "crfSmoothnessSigma" })
  {
    const double value = args.GetDouble(name);
    if (!(value > 0.0) || !std::isfinite(value))
    {
      throw torchseg::cli::UsageError(std::string("--") + name + " " + args.GetString(name) +
                                      " is not a finite number > 0");
    }
  }
}

torchseg::DenseCRFParameters
CRFParameters(const torchseg::cli::ParsedArguments & args)
{
  torchseg::DenseCRFParameters p;
  p.NumberOfIterations = static_cast<unsigned int>(args.GetInt("crfIterations"));
  p.AppearanceWeight = args.GetDouble("crfAppearanceWeight");
  p.AppearanceSpatialSigma = args.GetDouble("crfAppearanceSpatialSigma");
  p.AppearanceIntensitySigma = args.GetDouble("crfAppearanceIntensitySigma");
  p.SmoothnessWeight = args.GetDouble("crfSmoothnessWeight");
  p.SmoothnessSigma = args.GetDouble("crfSmoothnessSigma");
  p.Normalization = args.GetString("crfNormalization") == "none" ? torchseg::DenseCRFNormalization::None
                                                                 : torchseg::DenseCRFNormalization::Symmetric;
  return p;
}

/** Where one case's results go; the temporaries are created at once, so that a missing directory fails first. */
struct CaseOutputs
{
  std::string                             labelsPath;
  std::unique_ptr<torchseg::AtomicOutput> labels;
  std::unique_ptr<torchseg::AtomicOutput> probabilities;
  std::unique_ptr<torchseg::AtomicOutput> dicom;
};

/** The volume of each class (mL): "name=volume,..." for the return parameters and "name V mL, ..." for people. */
std::pair<std::string, std::string>
ClassVolumes(const torchseg::LabelImageType * labels, const torchseg::LabelTable & classes,
             unsigned int numberOfClasses)
{
  std::vector<std::size_t> counts(256, 0);
  const auto *             voxel = labels->GetBufferPointer();
  for (std::size_t i = 0, n = labels->GetBufferedRegion().GetNumberOfPixels(); i < n; ++i)
  {
    ++counts[voxel[i]];
  }
  const auto   spacing = labels->GetSpacing();
  const double voxelMl = spacing[0] * spacing[1] * spacing[2] / 1000.0;
  std::string  volumes;
  std::string  summary;
  for (unsigned int c = 1; c < numberOfClasses; ++c)
  {
    const std::string name = classes.GetName(c);
    const std::string ml = FormatNumber(static_cast<double>(counts[c]) * voxelMl, 2);
    volumes += (volumes.empty() ? "" : ",") + name + "=" + ml;
    summary += (summary.empty() ? "" : ", ") + name + " " + ml + " mL";
  }
  return { volumes, summary };
}

/** Segments one CT with the loaded model and writes its outputs atomically; the progress of the work maps to
 * [begin, end]. Returns the class volumes (see ClassVolumes()). */
std::pair<std::string, std::string>
PredictCase(const std::shared_ptr<torchseg::Model> & model, const std::string & input, CaseOutputs & outputs,
            const torchseg::cli::ParsedArguments & args, torchseg::cli::Application & app, double begin, double end)
{
  const torchseg::LabelTable & classes = torchseg::GetClassTable(*model);
  const bool                   fractional = args.GetString("dicomSegmentationType") == "fractional";
  auto &                       progress = app.GetProgress();
  progress.Report(begin, "reading");
  progress.CheckAbort();
  torchseg::CTImageType::Pointer ct = torchseg::ReadCTImage(input, args.GetString("seriesInstanceUID"));

  auto filter = Filter::New();
  filter->SetInput(ct);
  filter->SetModel(model);
  filter->SetNumberOfTorchThreads(app.GetNumberOfThreads());
  filter->SetUseMirroring(args.GetBool("tta"));
  filter->SetOverlap(args.GetDouble("overlap"));
  filter->SetBatchSize(args.GetInt("batchSize"));
  filter->SetUseGaussianWeighting(!args.GetBool("uniformWeighting"));
  filter->SetComputeProbabilities(outputs.probabilities != nullptr || (outputs.dicom && fractional));
  filter->SetUseDenseCRF(args.GetBool("crf"));
  filter->SetDenseCRFParameters(CRFParameters(args));
  filter->SetOrganLabel(static_cast<unsigned int>(args.GetInt("organLabel")));
  filter->SetTumourLabel(static_cast<unsigned int>(args.GetInt("tumourLabel")));
  filter->SetKeepLargestOrganComponent(args.GetBool("largestComponent"));
  filter->SetRemoveTumourOutsideOrgan(args.GetBool("removeTumourOutsideOrgan"));
  filter->SetMinimumTumourVolume(args.GetDouble("minimumTumourVolume"));
  filter->SetUseModelPostProcessing(!args.GetBool("noModelPostProcessing"));
  const double span = end - begin;
  progress.Observe(filter, begin + 0.08 * span, begin + 0.9 * span);
  filter->Update();
  const torchseg::LabelImageType *           labels = filter->GetOutput();
  const torchseg::LabelPostProcessingOptions post = filter->GetPostProcessingOptions();
  if (post.IsActive())
  {
    const torchseg::LabelPostProcessingReport & report = filter->GetPostProcessingReport();
    std::ostringstream                          line;
    line << "post-processing"
         << (filter->GetUseModelPostProcessing() && torchseg::GetRecommendedPostProcessing(*model)
               ? " (with the model's recommendation)"
               : "")
         << ":";
    if (post.keepLargestOrganComponent)
    {
      line << " largest organ component kept (" << report.removedOrganVoxels << " voxels of "
           << (report.organComponents ? report.organComponents - 1 : 0) << " other component(s) removed)";
    }
    if (post.tumourLabel != 0 && (post.removeTumourOutsideOrgan || post.minimumTumourVolume > 0.0))
    {
      line << (post.keepLargestOrganComponent ? ";" : "") << " tumour components"
           << (post.removeTumourOutsideOrgan ? " outside the organ" : "")
           << (post.removeTumourOutsideOrgan && post.minimumTumourVolume > 0.0 ? " or" : "");
      if (post.minimumTumourVolume > 0.0)
      {
        line << " under " << FormatNumber(post.minimumTumourVolume, 0) << " mm^3";
      }
      line << " removed (" << report.removedTumourComponents << " of " << report.tumourComponents << ")";
    }
    std::cout << line.str() << std::endl;
  }

  progress.Report(begin + 0.9 * span, "writing");
  torchseg::WriteLabelImage(labels, outputs.labels->GetTemporaryPath().string(), classes);
  if (outputs.probabilities)
  {
    torchseg::WriteImageFile(filter->GetProbabilityOutput(), outputs.probabilities->GetTemporaryPath().string());
  }
  if (outputs.dicom)
  {
    torchseg::DICOMSegmentationOptions options;
    options.seriesDescription = args.GetString("dicomSeriesDescription");
    options.sourceSeriesInstanceUID = args.GetString("seriesInstanceUID");
    const std::string temporary = outputs.dicom->GetTemporaryPath().string();
    if (fractional)
    {
      torchseg::WriteDICOMSegmentation(filter->GetProbabilityOutput(), input, temporary, classes, options);
    }
    else
    {
      torchseg::WriteDICOMSegmentation(labels, input, temporary, classes, options);
    }
  }
  progress.CheckAbort();
  for (auto * output : { outputs.labels.get(), outputs.probabilities.get(), outputs.dicom.get() })
  {
    if (output)
    {
      output->Commit();
    }
  }
  return ClassVolumes(labels, classes, torchseg::GetNumberOfClasses(*model));
}

std::shared_ptr<torchseg::Model>
LoadTheModel(const torchseg::cli::ParsedArguments & args, torchseg::cli::ProgressReporter & progress)
{
  const std::string modelPath = args.IsSet("model") ? args.GetString("model") : DefaultModelPath();
  progress.Report(0.0, "loading the model");
  return torchseg::LoadModel(modelPath, args.GetString("device"));
}

/** One CT: INPUT OUTPUT. */
void
PredictSingleCase(const torchseg::cli::ParsedArguments & args, torchseg::cli::Application & app)
{
  const auto        start = std::chrono::steady_clock::now();
  const std::string input = args.Require("inputVolume");
  const std::string output = args.Require("outputVolume");
  const std::string probabilitiesPath = args.GetString("probabilities");
  CheckOutputExtension(output, "OUTPUT", true);
  if (!probabilitiesPath.empty())
  {
    CheckOutputExtension(probabilitiesPath, "--probabilities", false);
  }
  const std::string dicomPath = args.GetString("dicomSegmentation");
  std::error_code   ec;
  if (!dicomPath.empty() && !fs::is_directory(input, ec))
  {
    throw torchseg::cli::UsageError("--dicomSegmentation needs INPUT to be a DICOM series directory, not " + input);
  }
  CaseOutputs outputs;
  outputs.labelsPath = output;
  outputs.labels = std::make_unique<torchseg::AtomicOutput>(output);
  if (!probabilitiesPath.empty())
  {
    outputs.probabilities = std::make_unique<torchseg::AtomicOutput>(probabilitiesPath);
  }
  if (!dicomPath.empty())
  {
    outputs.dicom = std::make_unique<torchseg::AtomicOutput>(dicomPath);
  }

  auto & progress = app.GetProgress();
  progress.Start("TorchSegPredict", input);
  const auto   model = LoadTheModel(args, progress);
  const auto   volumes = PredictCase(model, input, outputs, args, app, 0.02, 1.0);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  progress.End();
  std::cout << "TorchSegPredict: " << output << " in " << FormatNumber(seconds, 1) << " s: " << volumes.second
            << std::endl;
  app.SetReturnValue("classVolumes", volumes.first);
  app.SetReturnValue("elapsedSeconds", FormatNumber(seconds, 3));
}

/** The cases of --inputList in this process's --shard: outputs that exist are skipped (unless --overwrite), a case
 * that fails is reported and the others go on; the run fails at the end when any case failed. */
void
PredictListedCases(const torchseg::cli::ParsedArguments & args, torchseg::cli::Application & app)
{
  const auto        start = std::chrono::steady_clock::now();
  const std::string listFile = args.GetString("inputList");
  if (!args.GetString("inputVolume").empty() || !args.GetString("outputVolume").empty())
  {
    throw torchseg::cli::UsageError("give either INPUT OUTPUT or --inputList, not both");
  }
  for (const char * name : { "probabilities", "dicomSegmentation" })
  {
    if (!args.GetString(name).empty())
    {
      throw torchseg::cli::UsageError(std::string("--") + name + " names one file: it cannot be used with --inputList");
    }
  }
  torchseg::Shard shard;
  try
  {
    shard = torchseg::ParseShard(args.GetString("shard"));
  }
  catch (const std::invalid_argument & e)
  {
    throw torchseg::cli::UsageError("--shard " + args.GetString("shard") + ": " + e.what());
  }
  const std::vector<torchseg::PredictionCase> cases = torchseg::ReadPredictionList(listFile);
  for (const auto & c : cases)
  {
    CheckOutputExtension(c.output, listFile + " line " + std::to_string(c.line) + ": output", true);
  }
  const std::vector<std::size_t> selected = torchseg::SelectShard(cases.size(), shard);
  const bool                     overwrite = args.GetBool("overwrite");
  const std::string              where = listFile + (shard.count > 1 ? " shard " + args.GetString("shard") : "");

  auto & progress = app.GetProgress();
  progress.Start("TorchSegPredict", where + ": " + std::to_string(selected.size()) + " cases");
  std::vector<std::size_t> todo;
  std::size_t              skipped = 0;
  for (std::size_t k = 0; k < selected.size(); ++k)
  {
    const torchseg::PredictionCase & c = cases[selected[k]];
    std::error_code                  ec;
    if (!overwrite && fs::exists(c.output, ec))
    {
      ++skipped;
      std::cout << "TorchSegPredict: [" << k + 1 << "/" << selected.size() << "] " << c.output << " exists, skipped"
                << std::endl;
      continue;
    }
    todo.push_back(k);
  }
  // The model is loaded once, and only when there is work (its errors end the run at once).
  std::shared_ptr<torchseg::Model> model = todo.empty() ? nullptr : LoadTheModel(args, progress);
  std::size_t                      written = 0;
  std::vector<std::string>         failed;
  const double                     share = 1.0 / std::max<std::size_t>(1, todo.size());
  for (std::size_t t = 0; t < todo.size(); ++t)
  {
    const std::size_t                k = todo[t];
    const torchseg::PredictionCase & c = cases[selected[k]];
    const std::string                tag = "[" + std::to_string(k + 1) + "/" + std::to_string(selected.size()) + "] ";
    const auto                       caseStart = std::chrono::steady_clock::now();
    try
    {
      CaseOutputs outputs;
      outputs.labelsPath = c.output;
      outputs.labels = std::make_unique<torchseg::AtomicOutput>(c.output);
      const auto volumes = PredictCase(model, c.input, outputs, args, app, t * share, (t + 1) * share);
      ++written;
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - caseStart).count();
      std::cout << "TorchSegPredict: " << tag << c.output << " in " << FormatNumber(seconds, 1)
                << " s: " << volumes.second << std::endl;
    }
    catch (const itk::ProcessAborted &)
    {
      throw; // an interruption stops the whole run
    }
    catch (const std::exception & e)
    {
      // ITK's exceptions are std::exceptions, and so are LibTorch's (c10::Error, or std::runtime_error from Debian's
      // build) when the library has not already translated them. No output of the case is left behind.
      const auto * itkError = dynamic_cast<const itk::ExceptionObject *>(&e);
      std::string  message = itkError ? itkError->GetDescription() : e.what();
      std::replace(message.begin(), message.end(), '\n', ' ');
      failed.push_back(c.input);
      std::cerr << "TorchSegPredict: error: " << tag << c.input << " (" << listFile << " line " << c.line
                << "): " << message << std::endl;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  progress.End();
  std::cout << "TorchSegPredict: " << where << ": " << selected.size() << " cases, " << written << " written, "
            << skipped << " skipped (existing), " << failed.size() << " failed in " << FormatNumber(seconds, 1) << " s"
            << std::endl;
  app.SetReturnValue("casesWritten", std::to_string(written));
  app.SetReturnValue("casesSkipped", std::to_string(skipped));
  app.SetReturnValue("casesFailed", std::to_string(failed.size()));
  app.SetReturnValue("elapsedSeconds", FormatNumber(seconds, 3));
  if (!failed.empty())
  {
    itkGenericExceptionMacro(<< failed.size() << " of " << selected.size() << " cases failed (first: " << failed[0]
                             << "); the others are written");
  }
}

} // namespace

int
main(int argc, char * argv[])
{
  torchseg::cli::Application application(TorchSegPredictXMLDescription, "TorchSegPredict");
  application.SetPositionalArgumentsReplacedBy("inputList");
  return application.Run(argc, argv, [](const torchseg::cli::ParsedArguments & args, torchseg::cli::Application & app) {
    CheckSettings(args);
    if (!args.GetString("inputList").empty())
    {
      PredictListedCases(args, app);
      return;
    }
    if (args.IsSet("shard") || args.GetBool("overwrite"))
    {
      throw torchseg::cli::UsageError(std::string(args.IsSet("shard") ? "--shard" : "--overwrite") +
                                      " needs --inputList");
    }
    PredictSingleCase(args, app);
  });
}
