// TorchSegPredict: segments a CT volume with a trained network (see TorchSegPredict.xml).
#include "TorchSegPredictXML.h"

#include "torchsegApplication.h"
#include "torchsegAtomicOutput.h"
#include "torchsegDICOMSegmentation.h"
#include "torchsegImageIO.h"
#include "torchsegSegmentationFilter.h"

#include <algorithm>
#include <chrono>
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

} // namespace

int
main(int argc, char * argv[])
{
  torchseg::cli::Application application(TorchSegPredictXMLDescription, "TorchSegPredict");
  return application.Run(argc, argv, [](const torchseg::cli::ParsedArguments & args, torchseg::cli::Application & app) {
    using Filter = torchseg::SegmentationFilter<torchseg::CTImageType, torchseg::LabelImageType>;
    const auto start = std::chrono::steady_clock::now();

    const std::string input = args.Require("inputVolume");
    const std::string output = args.Require("outputVolume");
    const std::string probabilitiesPath = args.GetString("probabilities");
    CheckOutputExtension(output, "OUTPUT", true);
    if (!probabilitiesPath.empty())
    {
      CheckOutputExtension(probabilitiesPath, "--probabilities", false);
    }
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
      throw torchseg::cli::UsageError("--minimumTumourVolume " + args.GetString("minimumTumourVolume") +
                                      " is negative");
    }
    const std::string dicomPath = args.GetString("dicomSegmentation");
    const bool        fractional = args.GetString("dicomSegmentationType") == "fractional";
    std::error_code   ec;
    if (!dicomPath.empty() && !fs::is_directory(input, ec))
    {
      throw torchseg::cli::UsageError("--dicomSegmentation needs INPUT to be a DICOM series directory, not " + input);
    }
    // The temporaries are created beside their targets now, so that a missing directory fails before the work.
    torchseg::AtomicOutput                  labelOutput(output);
    std::unique_ptr<torchseg::AtomicOutput> probabilityOutput;
    if (!probabilitiesPath.empty())
    {
      probabilityOutput = std::make_unique<torchseg::AtomicOutput>(probabilitiesPath);
    }
    std::unique_ptr<torchseg::AtomicOutput> dicomOutput;
    if (!dicomPath.empty())
    {
      dicomOutput = std::make_unique<torchseg::AtomicOutput>(dicomPath);
    }

    auto & progress = app.GetProgress();
    progress.Start("TorchSegPredict", input);
    const std::string modelPath = args.IsSet("model") ? args.GetString("model") : DefaultModelPath();
    progress.Report(0.01, "loading the model");
    const auto                   model = torchseg::LoadModel(modelPath, args.GetString("device"));
    const torchseg::LabelTable & classes = torchseg::GetClassTable(*model);
    const unsigned int           numberOfClasses = torchseg::GetNumberOfClasses(*model);

    progress.Report(0.02, "reading");
    progress.CheckAbort();
    torchseg::CTImageType::Pointer ct = torchseg::ReadCTImage(input, args.GetString("seriesInstanceUID"));

    auto filter = Filter::New();
    filter->SetInput(ct);
    filter->SetModel(model);
    filter->SetNumberOfTorchThreads(app.GetNumberOfThreads());
    filter->SetUseMirroring(args.GetBool("tta"));
    filter->SetOverlap(overlap);
    filter->SetBatchSize(args.GetInt("batchSize"));
    filter->SetUseGaussianWeighting(!args.GetBool("uniformWeighting"));
    filter->SetComputeProbabilities(probabilityOutput != nullptr || (dicomOutput && fractional));
    filter->SetOrganLabel(static_cast<unsigned int>(args.GetInt("organLabel")));
    filter->SetTumourLabel(static_cast<unsigned int>(args.GetInt("tumourLabel")));
    filter->SetKeepLargestOrganComponent(args.GetBool("largestComponent"));
    filter->SetRemoveTumourOutsideOrgan(args.GetBool("removeTumourOutsideOrgan"));
    filter->SetMinimumTumourVolume(args.GetDouble("minimumTumourVolume"));
    progress.Observe(filter, 0.1, 0.9);
    filter->Update();
    const torchseg::LabelImageType * labels = filter->GetOutput();

    progress.Report(0.9, "writing");
    torchseg::WriteLabelImage(labels, labelOutput.GetTemporaryPath().string(), classes);
    if (probabilityOutput)
    {
      torchseg::WriteImageFile(filter->GetProbabilityOutput(), probabilityOutput->GetTemporaryPath().string());
    }
    if (dicomOutput)
    {
      torchseg::DICOMSegmentationOptions options;
      options.seriesDescription = args.GetString("dicomSeriesDescription");
      options.sourceSeriesInstanceUID = args.GetString("seriesInstanceUID");
      const std::string temporary = dicomOutput->GetTemporaryPath().string();
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
    labelOutput.Commit();
    for (auto * output : { probabilityOutput.get(), dicomOutput.get() })
    {
      if (output)
      {
        output->Commit();
      }
    }

    // The volume of each class, in mL.
    std::vector<std::size_t> counts(256, 0);
    const auto *             voxel = labels->GetBufferPointer();
    for (std::size_t i = 0, n = labels->GetBufferedRegion().GetNumberOfPixels(); i < n; ++i)
    {
      ++counts[voxel[i]];
    }
    const auto   spacing = labels->GetSpacing();
    const double voxelMl = spacing[0] * spacing[1] * spacing[2] / 1000.0;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string  volumes;
    std::string  summary;
    for (unsigned int c = 1; c < numberOfClasses; ++c)
    {
      const std::string name = classes.GetName(c);
      const std::string ml = FormatNumber(static_cast<double>(counts[c]) * voxelMl, 2);
      volumes += (volumes.empty() ? "" : ",") + name + "=" + ml;
      summary += (summary.empty() ? "" : ", ") + name + " " + ml + " mL";
    }
    progress.End();
    std::cout << "TorchSegPredict: " << output << " in " << FormatNumber(seconds, 1) << " s: " << summary << std::endl;
    app.SetReturnValue("classVolumes", volumes);
    app.SetReturnValue("elapsedSeconds", FormatNumber(seconds, 3));
  });
}
