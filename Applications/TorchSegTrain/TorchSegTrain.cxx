// TorchSegTrain: trains a segmentation network on CT volumes (see TorchSegTrain.xml).
#include "TorchSegTrainXML.h"

#include "torchsegApplication.h"
#include "torchsegInference.h"
#include "torchsegTensorBridge.h"
#include "torchsegThreads.h"
#include "torchsegTrainer.h"

#include <cmath>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <unistd.h>

namespace
{

using torchseg::cli::ParsedArguments;
using torchseg::cli::UsageError;

std::string
Fixed(double value, int decimals)
{
  if (!std::isfinite(value))
  {
    return "-";
  }
  std::ostringstream s;
  s << std::fixed << std::setprecision(decimals) << value;
  return s.str();
}

std::string
Scientific(double value)
{
  std::ostringstream s;
  s << std::scientific << std::setprecision(1) << value;
  return s.str();
}

/** The architecture options given as flags (only those set, so the architecture fills in its own defaults). */
nlohmann::json
NetworkOptionsFrom(const ParsedArguments & args)
{
  nlohmann::json options = nlohmann::json::object();
  if (args.IsSet("networkOptions") && !args.GetString("networkOptions").empty())
  {
    try
    {
      options = nlohmann::json::parse(args.GetString("networkOptions"));
    }
    catch (const nlohmann::json::exception & e)
    {
      throw UsageError("--networkOptions \"" + args.GetString("networkOptions") + "\" is not valid JSON (" + e.what() +
                       ")");
    }
    if (!options.is_object())
    {
      throw UsageError("--networkOptions \"" + args.GetString("networkOptions") + "\" is not a JSON object");
    }
  }
  for (const char * key : { "backbone", "upsampling", "downsampling" })
  {
    if (args.IsSet(key))
    {
      options[key] = args.GetString(key);
    }
  }
  if (args.IsSet("featureNormalization"))
  {
    options["normalization"] = args.GetString("featureNormalization");
  }
  for (const char * key : { "width", "depth", "maxWidth", "outputStride" })
  {
    if (args.IsSet(key))
    {
      options[key] = args.GetInt(key);
    }
  }
  for (const char * key : { "deepSupervision", "auxiliaryHead" })
  {
    if (args.GetBool(key))
    {
      options[key] = true;
    }
  }
  return options;
}

torchseg::TrainerOptions
OptionsFrom(const ParsedArguments & args)
{
  torchseg::TrainerOptions o;
  o.trainingSource = args.Require("trainList");
  o.trainingCases = torchseg::ReadCases(o.trainingSource);
  if (args.IsSet("validationList"))
  {
    o.validationSource = args.GetString("validationList");
    o.validationCases = torchseg::ReadCases(o.validationSource);
  }
  o.outputModel = args.Require("outputModel");
  o.resumeCheckpoint = args.IsSet("resume") ? args.GetString("resume") : std::string();
  o.logFile = args.IsSet("logFile") ? args.GetString("logFile") : std::string();

  const std::vector<std::string> names = args.GetStringVector("classNames");
  if (names.empty())
  {
    throw UsageError("--classNames is empty");
  }
  const torchseg::LabelTable       liverTumour = torchseg::LabelTable::LiverTumour();
  std::vector<torchseg::LabelInfo> labels;
  for (std::size_t i = 0; i < names.size(); ++i)
  {
    if (names[i].empty())
    {
      throw UsageError("--classNames has an empty name");
    }
    torchseg::LabelInfo         info;
    const torchseg::LabelInfo * known = liverTumour.Find(static_cast<unsigned int>(i + 1));
    if (known && known->name == names[i])
    {
      info = *known; // keep the colour and terminology of the LiTS classes
    }
    else
    {
      info.value = static_cast<unsigned int>(i + 1);
      info.name = names[i];
      info.color = torchseg::GenericLabelColor(info.value);
    }
    labels.push_back(info);
  }
  o.classes = torchseg::LabelTable(labels);

  o.network.architecture = args.GetString("architecture");
  const int dimensions = args.GetInt("spatialDimensions");
  if (dimensions != 0 && dimensions != 2 && dimensions != 3)
  {
    throw UsageError("--spatialDimensions " + std::to_string(dimensions) + " is not 0, 2 or 3");
  }
  o.network.spatialDimensions = dimensions == 0 ? 2 : dimensions;
  o.network.options = NetworkOptionsFrom(args);

  const std::vector<double> spacing = args.GetDoubleVector("spacing");
  if (spacing.size() != 3)
  {
    throw UsageError("--spacing needs three values x,y,z (0 keeps a case's spacing), not " +
                     std::to_string(spacing.size()));
  }
  std::copy(spacing.begin(), spacing.end(), o.targetSpacing.begin());
  o.normalization = args.GetString("intensityNormalization");
  const std::vector<double> window = args.GetDoubleVector("window");
  if (window.size() != 2)
  {
    throw UsageError("--window needs two values low,high in HU");
  }
  o.windowLow = window[0];
  o.windowHigh = window[1];
  const std::vector<int> patch = args.GetIntVector("patchSize");
  if (patch.size() < 2 || patch.size() > 3)
  {
    throw UsageError("--patchSize needs two (2D) or three values x,y(,z)");
  }
  for (std::size_t a = 0; a < patch.size(); ++a)
  {
    o.sampling.patchSize[a] = patch[a];
  }
  o.sampling.sliceContext = args.GetInt("sliceContext");
  o.wholeSliceInference = !args.GetBool("slidingWindowInference");
  o.sampling.batchSize = args.GetInt("batchSize");
  o.sampling.foregroundFraction = args.GetDouble("foregroundFraction");
  o.sampling.classBalanced = args.GetBool("classBalanced");
  o.sampling.componentBalanced = args.GetBool("componentBalanced");
  o.augmentation.enabled = !args.GetBool("noAugmentation");
  if (args.GetBool("noMirroring"))
  {
    o.augmentation.flipProbability = 0.0;
  }
  o.augmentation.maximumRotationDegrees = args.GetDouble("rotationDegrees");
  o.augmentation.elasticProbability = args.GetDouble("elasticProbability");

  o.loss = torchseg::ParseLossKind(args.GetString("loss"));
  o.classWeights = args.GetString("classWeights");
  o.diceIncludeBackground = args.GetBool("diceBackground");
  o.batchDice = !args.GetBool("perSampleDice");
  o.optimizer = args.GetString("optimizer");
  o.learningRate = args.GetDouble("learningRate");
  if (o.learningRate < 0.0)
  {
    throw UsageError("--learningRate " + args.GetString("learningRate") + " is negative");
  }
  o.schedule = args.GetString("schedule");
  o.momentum = args.GetDouble("momentum");
  o.weightDecay = args.GetDouble("weightDecay");
  o.gradientClipNorm = args.GetDouble("gradientClip");
  o.epochs = args.GetInt("epochs");
  o.iterationsPerEpoch = args.GetInt("iterationsPerEpoch");
  o.validationInterval = args.GetInt("validationInterval");
  o.modelSelection = args.GetString("modelSelection");
  const int seed = args.GetInt("seed");
  if (seed < 0)
  {
    throw UsageError("--seed " + std::to_string(seed) + " is negative");
  }
  o.seed = static_cast<uint64_t>(seed);
  o.numberOfThreads = args.GetInt("numberOfThreads");
  o.numberOfWorkers = args.GetInt("numberOfWorkers");

  // The launcher's environment variables, overridden by the flags given.
  o.distributed = torchseg::DistributedOptions::FromEnvironment();
  for (auto [flag, value] : { std::pair{ "worldSize", &o.distributed.worldSize },
                              { "rank", &o.distributed.rank },
                              { "localRank", &o.distributed.localRank },
                              { "masterPort", &o.distributed.masterPort } })
  {
    if (args.IsSet(flag))
    {
      *value = args.GetInt(flag);
    }
  }
  if (args.IsSet("masterAddress"))
  {
    o.distributed.masterAddress = args.GetString("masterAddress");
  }
  o.distributed.timeoutSeconds = args.GetDouble("distributedTimeout");
  return o;
}

} // namespace

int
main(int argc, char * argv[])
{
  torchseg::cli::Application app(TorchSegTrainXMLDescription, "TorchSegTrain");
  return app.Run(argc, argv, [](const ParsedArguments & args, torchseg::cli::Application & app) {
    torchseg::TrainerOptions options = OptionsFrom(args);
    options.numberOfThreads = app.GetNumberOfThreads();
    if (options.distributed.IsDistributed() && !args.IsSet("numberOfThreads"))
    {
      // The processes of one machine share its cores.
      options.numberOfThreads = torchseg::SetITKNumberOfThreads(options.distributed.GetDefaultNumberOfThreads());
    }
    torchseg::SetTorchNumberOfThreads(options.numberOfThreads);
    // Rank 0 reports; the others say only what concerns them, prefixed with their rank.
    const bool        reporting = options.distributed.rank == 0;
    const std::string prefix = reporting ? std::string() : "rank " + std::to_string(options.distributed.rank) + ": ";

    auto & progress = app.GetProgress();
    auto   say = [&app, prefix](const std::string & line) {
      if (app.GetProgress().IsDrawingBar())
      {
        std::cerr << "\r\033[K" << std::flush;
      }
      std::cout << prefix << line << std::endl;
    };
    auto trainer = torchseg::Trainer::New();
    trainer->SetOptions(options);
    // Validation segments the held-out volumes exactly as TorchSegPredict does.
    torchseg::InferenceOptions inference;
    inference.numberOfThreads = options.numberOfThreads;
    trainer->SetValidationPredictor([inference](torchseg::Model & model, const torchseg::CTImageType * image) {
      auto labels = torchseg::LabelImageType::New();
      labels->CopyInformation(image);
      labels->SetRegions(image->GetLargestPossibleRegion());
      labels->Allocate();
      torchseg::RunInference(model, image, labels, nullptr, inference);
      return labels;
    });
    trainer->SetMessageCallback(say);
    trainer->SetProgressCallback([&progress, reporting](const torchseg::TrainingProgress & p) {
      progress.CheckAbort();
      if (!reporting)
      {
        return;
      }
      std::ostringstream status;
      if (p.epoch == 0)
      {
        status << "loading cases " << p.casesLoaded << "/" << p.numberOfCases;
        progress.Report(0.0, status.str());
        return;
      }
      status << "epoch " << p.epoch << "/" << p.epochs << " loss " << Fixed(p.loss, 4) << " lr "
             << Scientific(p.learningRate);
      if (std::isfinite(p.validationMeanDice))
      {
        status << " val Dice " << Fixed(p.validationMeanDice, 3);
      }
      progress.Report(p.fraction, status.str());
    });
    const auto names = options.classes.GetLabels();
    trainer->SetEpochCallback([&say, &options, names, reporting](const torchseg::EpochRecord & r) {
      if (!reporting)
      {
        return;
      }
      std::ostringstream line;
      line << "epoch " << r.epoch << "/" << options.epochs << ": loss " << Fixed(r.trainLoss, 4) << ", lr "
           << Scientific(r.learningRate);
      if (!r.validationDice.empty())
      {
        line << ", validation Dice";
        for (std::size_t c = 0; c < names.size() && c < r.validationDice.size(); ++c)
        {
          line << " " << names[c].name << " " << Fixed(r.validationDice[c], 3);
        }
        line << " (mean " << Fixed(r.validationMeanDice, 3) << ")" << (r.best ? " best" : "");
      }
      line << ", " << Fixed(r.epochSeconds, 1) << " s, " << Fixed(r.samplesPerSecond, 1) << " samples/s, data wait "
           << Fixed(100.0 * r.dataWaitFraction, 1) << " %";
      say(line.str());
    });

    trainer->ValidateOptions();
    if (reporting)
    {
      progress.Start("Training", options.outputModel);
    }
    trainer->Run();
    if (!reporting)
    {
      say("done");
      return;
    }

    const auto & log = trainer->GetLog();
    int          bestEpoch = 0;
    double       bestDice = std::nan("");
    double       samplesPerSecond = 0.0;
    for (const auto & r : log)
    {
      if (r.best)
      {
        bestEpoch = r.epoch;
        bestDice = r.validationMeanDice;
      }
      samplesPerSecond = r.samplesPerSecond;
    }
    app.SetReturnValue("bestValidationDice", std::isfinite(bestDice) ? Fixed(bestDice, 6) : std::string("nan"));
    app.SetReturnValue("bestEpoch", std::to_string(bestEpoch));
    app.SetReturnValue("samplesPerSecond", Fixed(samplesPerSecond, 3));
    const int modelEpoch =
      options.modelSelection == "last" || bestEpoch == 0 ? static_cast<int>(log.size()) : bestEpoch;
    say("Wrote " + options.outputModel + " (epoch " + std::to_string(modelEpoch) + ", " +
        (options.modelSelection == "last" ? "the last"
         : bestEpoch                      ? "the best validated"
                                          : "the last") +
        ")");
  });
}
