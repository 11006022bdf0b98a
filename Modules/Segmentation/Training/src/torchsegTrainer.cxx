#include "torchsegTrainer.h"

#include "torchsegAtomicOutput.h"
#include "torchsegTensorBridge.h"
#include "torchsegThreads.h"
#include "torchsegTrainingPrivate.h"
#include "torchsegVersion.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <numeric>
#include <sstream>

namespace fs = std::filesystem;
using nlohmann::json;

namespace torchseg
{

namespace
{

constexpr const char * CheckpointFormat = "torchseg-checkpoint";
constexpr int64_t      CheckpointVersion = 1;

using Clock = std::chrono::steady_clock;

double
SecondsSince(Clock::time_point start)
{
  return std::chrono::duration<double>(Clock::now() - start).count();
}

bool
EndsWith(const std::string & s, const std::string & suffix)
{
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "nan"-free JSON numbers: NaN becomes null.
json
NumberOrNull(double v)
{
  return std::isfinite(v) ? json(v) : json(nullptr);
}

std::string
FormatNumber(double v)
{
  if (!std::isfinite(v))
  {
    return std::string();
  }
  std::ostringstream out;
  out << std::setprecision(6) << v;
  return out.str();
}

std::string
IsoDate()
{
  const std::time_t now = std::time(nullptr);
  std::tm           utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

void
CheckDirectoryOf(const std::string & path, const char * what)
{
  fs::path        parent = fs::path(path).parent_path();
  std::error_code ec;
  if (parent.empty())
  {
    parent = ".";
  }
  if (!fs::is_directory(parent, ec))
  {
    itkGenericExceptionMacro(<< what << " " << path << ": the directory " << parent.string() << " does not exist");
  }
  if (fs::is_directory(path, ec))
  {
    itkGenericExceptionMacro(<< what << " " << path << " is a directory");
  }
}

bool
SamePath(const std::string & a, const std::string & b)
{
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec))
  {
    return fs::equivalent(a, b, ec);
  }
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

std::vector<double>
ParseWeightList(const std::string & text)
{
  std::vector<double> weights;
  std::stringstream   stream(text);
  std::string         item;
  while (std::getline(stream, item, ','))
  {
    char *       end = nullptr;
    const double w = std::strtod(item.c_str(), &end);
    if (item.empty() || !end || *end != '\0')
    {
      itkGenericExceptionMacro(<< "Class weights \"" << text
                               << "\" are not auto, inverse, median or a comma-separated list of numbers");
    }
    weights.push_back(w);
  }
  return weights;
}

} // namespace

nlohmann::json
TrainerOptionsToJson(const TrainerOptions & o)
{
  json classes = json::array();
  for (const auto & c : o.classes.GetLabels())
  {
    classes.push_back({ { "value", c.value }, { "name", c.name } });
  }
  const auto & s = o.sampling;
  const auto & a = o.augmentation;
  json         j = json{ { "trainingSource", o.trainingSource },
                 { "validationSource", o.validationSource },
                 { "trainingCases", o.trainingCases.size() },
                 { "validationCases", o.validationCases.size() },
                 { "classes", classes },
                 { "network", o.network },
                 { "targetSpacing", o.targetSpacing },
                 { "normalization", o.normalization },
                 { "window", { o.windowLow, o.windowHigh } },
                 { "sampling",
                           { { "spatialDimensions", s.spatialDimensions },
                             { "sliceContext", s.sliceContext },
                             { "patchSize", s.patchSize },
                             { "batchSize", s.batchSize },
                             { "foregroundFraction", s.foregroundFraction },
                             { "classBalanced", s.classBalanced } } },
                 { "augmentation",
                           { { "enabled", a.enabled },
                             { "flipAxes", a.flipAxes },
                             { "flipProbability", a.flipProbability },
                             { "rotationProbability", a.rotationProbability },
                             { "maximumRotationDegrees", a.maximumRotationDegrees },
                             { "scalingProbability", a.scalingProbability },
                             { "scaleRange", { a.minimumScale, a.maximumScale } },
                             { "elasticProbability", a.elasticProbability },
                             { "elasticMagnitude", a.elasticMagnitude },
                             { "elasticGridSpacing", a.elasticGridSpacing },
                             { "brightnessProbability", a.brightnessProbability },
                             { "brightnessRange", a.brightnessRange },
                             { "contrastProbability", a.contrastProbability },
                             { "contrastRange", a.contrastRange },
                             { "gammaProbability", a.gammaProbability },
                             { "gammaRange", { a.minimumGamma, a.maximumGamma } },
                             { "noiseProbability", a.noiseProbability },
                             { "maximumNoiseVariance", a.maximumNoiseVariance } } },
                 { "loss", ToString(o.loss) },
                 { "classWeights", o.classWeights },
                 { "crossEntropyWeight", o.crossEntropyWeight },
                 { "diceWeight", o.diceWeight },
                 { "diceIncludeBackground", o.diceIncludeBackground },
                 { "batchDice", o.batchDice },
                 { "optimizer", o.optimizer },
                 { "learningRate", o.learningRate },
                 { "momentum", o.momentum },
                 { "weightDecay", o.weightDecay },
                 { "schedule", o.schedule },
                 { "polyExponent", o.polyExponent },
                 { "gradientClipNorm", o.gradientClipNorm },
                 { "epochs", o.epochs },
                 { "iterationsPerEpoch", o.iterationsPerEpoch },
                 { "validationInterval", o.validationInterval },
                 { "modelSelection", o.modelSelection },
                 { "seed", o.seed },
                 { "wholeSliceInference", o.wholeSliceInference },
                 { "numberOfWorkers", o.numberOfWorkers } };
  // Only where they are not the defaults, so that checkpoints of single-process runs keep their settings.
  if (s.caseShards != 1)
  {
    j["sampling"]["caseShards"] = s.caseShards;
  }
  if (s.componentBalanced)
  {
    j["sampling"]["componentBalanced"] = true;
  }
  if (o.distributed.IsDistributed())
  {
    j["worldSize"] = o.distributed.worldSize; // each process makes batchSize samples of every step
  }
  return j;
}

std::vector<double>
ComputeDicePerClass(const torch::Tensor & prediction, const torch::Tensor & reference, unsigned int numberOfClasses)
{
  if (prediction.sizes() != reference.sizes())
  {
    itkGenericExceptionMacro(<< "Dice: prediction " << ShapeToString(prediction) << " and reference "
                             << ShapeToString(reference) << " differ in shape");
  }
  const torch::Tensor p = prediction.to(torch::kLong).flatten();
  const torch::Tensor r = reference.to(torch::kLong).flatten();
  std::vector<double> dice;
  for (unsigned int c = 1; c < numberOfClasses; ++c)
  {
    const torch::Tensor pc = p.eq(static_cast<int64_t>(c));
    const torch::Tensor rc = r.eq(static_cast<int64_t>(c));
    const double        sizes = pc.sum().item<double>() + rc.sum().item<double>();
    const double        overlap = pc.logical_and(rc).sum().item<double>();
    dice.push_back(sizes > 0 ? 2.0 * overlap / sizes : std::numeric_limits<double>::quiet_NaN());
  }
  return dice;
}

std::string
GetCheckpointPath(const std::string & outputModel)
{
  return outputModel + ".checkpoint";
}

void
Trainer::Message(const std::string & text) const
{
  if (m_MessageCallback)
  {
    m_MessageCallback(text);
  }
}

void
Trainer::ResolveDefaults()
{
  TrainerOptions & o = m_Options;
  if (o.learningRate == 0.0)
  {
    o.learningRate = o.optimizer == "sgd" ? 0.01 : 0.001;
  }
  if (o.weightDecay < 0.0)
  {
    o.weightDecay = o.optimizer == "adamw" ? 0.01 : 3e-5;
  }
  const std::string & arch = o.network.architecture;
  if (EndsWith(arch, "3d"))
  {
    o.network.spatialDimensions = 3;
  }
  else if (EndsWith(arch, "2d"))
  {
    o.network.spatialDimensions = 2;
  }
  o.sampling.spatialDimensions = o.network.spatialDimensions;
  if (o.network.spatialDimensions == 3)
  {
    o.sampling.sliceContext = 0;
  }
  o.network.inputChannels = o.network.spatialDimensions == 2 ? 2 * o.sampling.sliceContext + 1 : 1;
  o.network.numberOfClasses = static_cast<int>(o.classes.size()) + 1;
}

void
Trainer::ValidateOptions()
{
  this->ResolveDefaults();
  const TrainerOptions & o = m_Options;
  auto                   positive = [](double v) { return std::isfinite(v) && v > 0.0; };
  if (o.trainingCases.empty())
  {
    itkExceptionMacro(<< "No training case given");
  }
  if (o.classes.empty())
  {
    itkExceptionMacro(<< "No foreground class given");
  }
  for (std::size_t i = 0; i < o.classes.size(); ++i)
  {
    if (o.classes.GetLabels()[i].value != i + 1)
    {
      itkExceptionMacro(<< "Class \"" << o.classes.GetLabels()[i].name << "\" has label value "
                        << o.classes.GetLabels()[i].value << "; the classes must be numbered 1, 2, ... in order");
    }
  }
  if (o.network.spatialDimensions != 2 && o.network.spatialDimensions != 3)
  {
    itkExceptionMacro(<< "Spatial dimension " << o.network.spatialDimensions << " is not 2 or 3");
  }
  if (o.epochs < 1 || o.epochs > 100000)
  {
    itkExceptionMacro(<< "Epochs " << o.epochs << " is not in 1..100000");
  }
  if (o.iterationsPerEpoch < 1 || o.iterationsPerEpoch > 10000000)
  {
    itkExceptionMacro(<< "Iterations per epoch " << o.iterationsPerEpoch << " is not positive");
  }
  if (o.validationInterval < 1)
  {
    itkExceptionMacro(<< "Validation interval " << o.validationInterval << " is not positive");
  }
  if (o.modelSelection != "best" && o.modelSelection != "last")
  {
    itkExceptionMacro(<< "Model selection \"" << o.modelSelection << "\" is not one of best, last");
  }
  if (o.sampling.batchSize < 1 || o.sampling.batchSize > 4096)
  {
    itkExceptionMacro(<< "Batch size " << o.sampling.batchSize << " is not in 1..4096");
  }
  if (!positive(o.learningRate) || o.learningRate > 10.0)
  {
    itkExceptionMacro(<< "Learning rate " << o.learningRate << " is not in (0, 10]");
  }
  if (!(o.momentum >= 0.0 && o.momentum < 1.0))
  {
    itkExceptionMacro(<< "Momentum " << o.momentum << " is not in [0, 1)");
  }
  if (!(o.weightDecay >= 0.0 && o.weightDecay < 1.0))
  {
    itkExceptionMacro(<< "Weight decay " << o.weightDecay << " is not in [0, 1)");
  }
  if (!(o.gradientClipNorm >= 0.0) || !std::isfinite(o.gradientClipNorm))
  {
    itkExceptionMacro(<< "Gradient clipping norm " << o.gradientClipNorm << " is negative");
  }
  if (!positive(o.polyExponent))
  {
    itkExceptionMacro(<< "Poly exponent " << o.polyExponent << " is not positive");
  }
  if (o.optimizer != "sgd" && o.optimizer != "adam" && o.optimizer != "adamw")
  {
    itkExceptionMacro(<< "Optimizer \"" << o.optimizer << "\" is not one of sgd, adam, adamw");
  }
  if (o.schedule != "poly" && o.schedule != "cosine" && o.schedule != "constant")
  {
    itkExceptionMacro(<< "Learning-rate schedule \"" << o.schedule << "\" is not one of poly, cosine, constant");
  }
  if (o.normalization != "zscore" && o.normalization != "window")
  {
    itkExceptionMacro(<< "Normalization \"" << o.normalization << "\" is not one of zscore, window");
  }
  if (o.normalization == "window" && !(o.windowHigh > o.windowLow))
  {
    itkExceptionMacro(<< "Intensity window [" << o.windowLow << ", " << o.windowHigh << "] is empty");
  }
  for (double s : o.targetSpacing)
  {
    if (!(s >= 0.0) || !std::isfinite(s) || s > 100.0)
    {
      itkExceptionMacro(<< "Target spacing " << s << " is not 0 (keep) or a spacing in mm up to 100");
    }
  }
  for (int a = 0; a < o.network.spatialDimensions; ++a)
  {
    if (o.sampling.patchSize[a] < 0 || o.sampling.patchSize[a] > 4096)
    {
      itkExceptionMacro(<< "Patch size " << o.sampling.patchSize[a] << " is not in 0 (automatic)..4096");
    }
  }
  if (o.sampling.sliceContext < 0 || o.sampling.sliceContext > 16)
  {
    itkExceptionMacro(<< "Slice context " << o.sampling.sliceContext << " is not in 0..16");
  }
  if (!(o.sampling.foregroundFraction >= 0.0 && o.sampling.foregroundFraction <= 1.0))
  {
    itkExceptionMacro(<< "Foreground fraction " << o.sampling.foregroundFraction << " is not in [0, 1]");
  }
  const auto & A = o.augmentation;
  for (double p : { A.flipProbability,
                    A.rotationProbability,
                    A.scalingProbability,
                    A.elasticProbability,
                    A.brightnessProbability,
                    A.contrastProbability,
                    A.gammaProbability,
                    A.noiseProbability })
  {
    if (!(p >= 0.0 && p <= 1.0))
    {
      itkExceptionMacro(<< "Augmentation probability " << p << " is not in [0, 1]");
    }
  }
  if (!(A.minimumScale > 0.0 && A.maximumScale >= A.minimumScale) || !(A.minimumGamma > 0.0 && A.maximumGamma >= 1.0) ||
      !(A.elasticGridSpacing > 0.0) || !(A.elasticMagnitude >= 0.0) || !(A.maximumNoiseVariance >= 0.0))
  {
    itkExceptionMacro(<< "Augmentation ranges are inconsistent: " << A);
  }
  if (o.numberOfWorkers < 0 || o.numberOfWorkers > 64)
  {
    itkExceptionMacro(<< "Number of workers " << o.numberOfWorkers << " is not in 0..64");
  }
  if (o.numberOfThreads < 0)
  {
    itkExceptionMacro(<< "Number of threads " << o.numberOfThreads << " is negative");
  }
  if (o.sampling.caseShards < 1 || o.sampling.batchSize % o.sampling.caseShards != 0)
  {
    itkExceptionMacro(<< "Batch size " << o.sampling.batchSize << " is not a multiple of the " << o.sampling.caseShards
                      << " case shards");
  }
  o.distributed.Validate();
  if (o.distributed.IsDistributed())
  {
    if (!DistributedContext::IsAvailable())
    {
      itkExceptionMacro(<< "Distributed training (world size " << o.distributed.worldSize
                        << ") needs LibTorch's Gloo backend: this build found no gloo headers (Debian package "
                           "libgloo-dev); install it and configure again");
    }
    if (o.sampling.caseShards != 1)
    {
      itkExceptionMacro(<< "Case shards " << o.sampling.caseShards
                        << " with a distributed training: every process is one shard already");
    }
  }
  // The loss (weights count and signs), without the data-derived weights.
  {
    SegmentationLossOptions lo;
    lo.kind = o.loss;
    lo.numberOfClasses = o.network.numberOfClasses;
    lo.crossEntropyWeight = o.crossEntropyWeight;
    lo.diceWeight = o.diceWeight;
    lo.dice.includeBackground = o.diceIncludeBackground;
    lo.dice.batchDice = o.batchDice;
    const std::string & w = o.classWeights;
    if (!w.empty() && w != "auto" && w != "inverse" && w != "median")
    {
      lo.classWeights = ParseWeightList(w);
    }
    else if (!w.empty() || o.loss == LossKind::WeightedCrossEntropy)
    {
      lo.classWeights.assign(static_cast<std::size_t>(lo.numberOfClasses), 1.0);
    }
    SegmentationLoss check(lo);
  }
  // The architecture and its options.
  try
  {
    CreateNetwork(o.network);
  }
  catch (const itk::ExceptionObject &)
  {
    throw;
  }
  catch (const std::exception & e)
  {
    ThrowTorchError(e, "Architecture " + o.network.architecture);
  }
  // Outputs: never a file the user did not name, never an input. Only rank 0 writes them and reads the checkpoint, on
  // its machine: the other ranks' file systems need not hold them.
  if (o.outputModel.empty())
  {
    itkExceptionMacro(<< "No output model given");
  }
  if (!this->IsMainProcess())
  {
    return;
  }
  CheckDirectoryOf(o.outputModel, "Output model");
  for (const auto & list : { o.trainingCases, o.validationCases })
  {
    for (const auto & c : list)
    {
      if (SamePath(c.image, o.outputModel) || SamePath(c.label, o.outputModel))
      {
        itkExceptionMacro(<< "Output model " << o.outputModel << " is an input image");
      }
    }
  }
  if (!o.logFile.empty())
  {
    CheckDirectoryOf(o.logFile, "Log file");
    if (SamePath(o.logFile, o.outputModel))
    {
      itkExceptionMacro(<< "Log file " << o.logFile << " is the output model");
    }
  }
  if (!o.resumeCheckpoint.empty())
  {
    std::error_code ec;
    if (!fs::is_regular_file(o.resumeCheckpoint, ec))
    {
      itkExceptionMacro(<< "Checkpoint " << o.resumeCheckpoint << " does not exist");
    }
    if (SamePath(o.resumeCheckpoint, o.outputModel))
    {
      itkExceptionMacro(<< "Checkpoint " << o.resumeCheckpoint << " is the output model; resume from "
                        << GetCheckpointPath(o.outputModel));
    }
    std::string format;
    try
    {
      torch::serialize::InputArchive archive;
      archive.load_from(o.resumeCheckpoint);
      c10::IValue value;
      if (archive.try_read("format", value) && value.isString())
      {
        format = value.toStringRef();
      }
    }
    catch (const std::exception &)
    {}
    if (format != CheckpointFormat)
    {
      itkExceptionMacro(<< "Checkpoint " << o.resumeCheckpoint << " is not a TorchSeg training checkpoint");
    }
  }
}

void
Trainer::LoadData()
{
  TrainerOptions &     o = m_Options;
  const auto           start = Clock::now();
  PreprocessingOptions prep;
  prep.numberOfClasses = static_cast<unsigned int>(o.network.numberOfClasses);
  prep.targetSpacing = o.targetSpacing;
  prep.numberOfThreads = o.numberOfThreads;
  auto statistics = ForegroundIntensityStatistics::New();
  auto progress = [this, &o](std::size_t done) {
    if (m_ProgressCallback)
    {
      TrainingProgress p;
      p.epochs = o.epochs;
      p.casesLoaded = static_cast<int>(done);
      p.numberOfCases = static_cast<int>(o.trainingCases.size());
      m_ProgressCallback(p);
    }
  };
  m_TrainingVolumes = std::make_shared<std::vector<TrainingVolume>>(LoadTrainingVolumes(
    o.trainingCases, prep, o.normalization == "zscore" ? statistics.GetPointer() : nullptr, progress));
  m_Metadata.normalization = statistics->ComputeNormalization(o.normalization, o.windowLow, o.windowHigh);
  for (auto & v : *m_TrainingVolumes)
  {
    NormalizeIntensities(v.image, m_Metadata.normalization);
  }
  {
    std::ostringstream text;
    const auto &       n = m_Metadata.normalization;
    text << "Loaded " << m_TrainingVolumes->size() << " training case(s) in " << std::fixed << std::setprecision(1)
         << SecondsSince(start) << " s; normalisation " << n.method << " clip [" << n.clipLow << ", " << n.clipHigh
         << "] HU, mean " << n.mean << ", std " << n.std;
    this->Message(text.str());
  }

  // Patch size from the data where not given: the median preprocessed size, rounded up to a multiple of 32 (2D) or
  // 16 (3D), at most 512 in-plane (2D) or 128 x 128 x 64 (3D).
  const int dims = o.network.spatialDimensions;
  for (int a = 0; a < dims; ++a)
  {
    if (o.sampling.patchSize[a] > 0)
    {
      continue;
    }
    std::vector<int64_t> sizes;
    for (const auto & v : *m_TrainingVolumes)
    {
      sizes.push_back(a == 0 ? v.SizeX() : a == 1 ? v.SizeY() : v.SizeZ());
    }
    std::nth_element(sizes.begin(), sizes.begin() + sizes.size() / 2, sizes.end());
    const int64_t multiple = dims == 2 ? 32 : 16;
    const int64_t limit = dims == 2 ? 512 : (a == 2 ? 64 : 128);
    o.sampling.patchSize[a] = std::min(limit, (sizes[sizes.size() / 2] + multiple - 1) / multiple * multiple);
  }
  if (dims == 2)
  {
    o.sampling.patchSize[2] = 1;
  }

  // Class weights from the training labels.
  const std::string & w = o.classWeights;
  m_ClassWeights.clear();
  if (w == "auto" || w == "inverse" || w == "median" || (w.empty() && o.loss == LossKind::WeightedCrossEntropy))
  {
    m_ClassWeights =
      ComputeClassWeights(CountClassFrequencies(*m_TrainingVolumes),
                          w == "median" ? ClassWeighting::MedianFrequency : ClassWeighting::InverseFrequency);
  }
  else if (!w.empty())
  {
    m_ClassWeights = ParseWeightList(w);
  }
  if (!m_ClassWeights.empty())
  {
    std::ostringstream text;
    text << "Class weights";
    for (double v : m_ClassWeights)
    {
      text << " " << v;
    }
    this->Message(text.str());
  }

  // Validation cases: in a distributed training, every rank validates its share (case i on rank i mod N).
  m_ValidationCases.clear();
  std::vector<CaseFiles> validationCases;
  for (std::size_t i = 0; i < o.validationCases.size(); ++i)
  {
    if (static_cast<int>(i % static_cast<std::size_t>(o.distributed.worldSize)) == o.distributed.rank)
    {
      validationCases.push_back(o.validationCases[i]);
    }
  }
  if (!validationCases.empty())
  {
    const auto validationStart = Clock::now();
    if (m_ValidationPredictor)
    {
      for (const auto & c : validationCases)
      {
        ValidationCase v;
        v.name = c.image;
        v.image = ReadCTImage(c.image);
        v.labels = ReadLabelImage(c.label);
        CheckSameGeometry(v.image, v.labels, c.image, c.label);
        CountLabelVoxels(v.labels, prep.numberOfClasses, c.label);
        m_ValidationCases.push_back(std::move(v));
      }
    }
    else
    {
      std::vector<TrainingVolume> volumes = LoadTrainingVolumes(validationCases, prep);
      for (auto & volume : volumes)
      {
        NormalizeIntensities(volume.image, m_Metadata.normalization);
        ValidationCase v;
        v.name = volume.name;
        v.volume = std::move(volume);
        m_ValidationCases.push_back(std::move(v));
      }
    }
    std::ostringstream text;
    text << "Loaded " << m_ValidationCases.size() << " validation case(s)"
         << (o.distributed.IsDistributed() ? " (this rank's share)" : "") << " in " << std::fixed
         << std::setprecision(1) << SecondsSince(validationStart) << " s";
    this->Message(text.str());
  }
}

void
Trainer::BuildModel()
{
  const TrainerOptions & o = m_Options;
  SamplingOptions        sampling = o.sampling;
  if (o.distributed.IsDistributed())
  {
    // One batch of N x batchSize samples per step, part r made by rank r from its case shard.
    sampling.batchSize *= o.distributed.worldSize;
    sampling.caseShards = o.distributed.worldSize;
  }
  m_Sampler = std::make_shared<PatchSampler>(m_TrainingVolumes, sampling, o.augmentation, o.seed);

  torch::manual_seed(o.seed);
  try
  {
    m_Network = CreateNetwork(o.network);
  }
  catch (const itk::ExceptionObject &)
  {
    throw;
  }
  catch (const std::exception & e)
  {
    ThrowTorchError(e, "Architecture " + o.network.architecture);
  }
  m_Network->train();

  m_Metadata.network = m_Network->GetOptions();
  m_Metadata.classes = o.classes;
  m_Metadata.targetSpacing = o.targetSpacing;
  m_Metadata.sliceContext = o.sampling.sliceContext;
  m_Metadata.orientation = "LPS";
  m_Metadata.axisOrder = "zyx";
  m_Metadata.patchSize.assign(o.sampling.patchSize.begin(), o.sampling.patchSize.begin() + o.network.spatialDimensions);
  if (o.network.spatialDimensions == 2 && o.wholeSliceInference)
  {
    m_Metadata.patchSize = { 0, 0 };
  }
  ValidateMetadata(m_Metadata, "training");

  SegmentationLossOptions lo;
  lo.kind = o.loss;
  lo.numberOfClasses = o.network.numberOfClasses;
  lo.classWeights = m_ClassWeights;
  lo.crossEntropyWeight = o.crossEntropyWeight;
  lo.diceWeight = o.diceWeight;
  lo.dice.includeBackground = o.diceIncludeBackground;
  lo.dice.batchDice = o.batchDice;
  m_Loss = SegmentationLoss(lo);

  auto parameters = m_Network->parameters();
  if (o.optimizer == "sgd")
  {
    m_Optimizer = std::make_shared<torch::optim::SGD>(
      parameters,
      torch::optim::SGDOptions(o.learningRate).momentum(o.momentum).nesterov(true).weight_decay(o.weightDecay));
  }
  else if (o.optimizer == "adam")
  {
    m_Optimizer = std::make_shared<torch::optim::Adam>(
      parameters, torch::optim::AdamOptions(o.learningRate).weight_decay(o.weightDecay));
  }
  else
  {
    m_Optimizer = std::make_shared<torch::optim::AdamW>(
      parameters, torch::optim::AdamWOptions(o.learningRate).weight_decay(o.weightDecay));
  }
  int64_t count = 0;
  for (const auto & p : parameters)
  {
    count += p.numel();
  }
  std::ostringstream text;
  text << "Network " << o.network.architecture << " " << json(m_Metadata.network.options).dump() << ": " << count
       << " parameters; " << o.sampling << "; " << ToString(o.loss) << " loss; " << o.optimizer << " lr "
       << o.learningRate << " (" << o.schedule << "), weight decay " << o.weightDecay;
  if (o.distributed.IsDistributed())
  {
    text << "; " << o.distributed.worldSize << " processes, " << o.sampling.batchSize * o.distributed.worldSize
         << " samples per step";
  }
  this->Message(text.str());
}

double
Trainer::LearningRateAt(int64_t iteration) const
{
  const TrainerOptions & o = m_Options;
  const double           total = static_cast<double>(o.epochs) * o.iterationsPerEpoch;
  const double           t = std::min(1.0, static_cast<double>(iteration) / total);
  if (o.schedule == "poly")
  {
    return o.learningRate * std::pow(1.0 - t, o.polyExponent);
  }
  if (o.schedule == "cosine")
  {
    return o.learningRate * 0.5 * (1.0 + std::cos(M_PI * t));
  }
  return o.learningRate;
}

torch::Tensor
Trainer::PredictVolume(const TrainingVolume & volume)
{
  const TrainerOptions & o = m_Options;
  torch::NoGradGuard     noGrad;
  m_Network->eval();
  torch::Tensor result;
  try
  {
    if (o.network.spatialDimensions == 2)
    {
      const int64_t              Z = volume.SizeZ(), k = o.sampling.sliceContext;
      const int64_t              step = std::max(1, o.sampling.batchSize);
      std::vector<torch::Tensor> slices;
      for (int64_t z0 = 0; z0 < Z; z0 += step)
      {
        const int64_t       z1 = std::min(Z, z0 + step);
        const torch::Tensor centre = torch::arange(z0, z1, torch::kLong).unsqueeze(1);
        const torch::Tensor offsets = torch::arange(-k, k + 1, torch::kLong).unsqueeze(0);
        const torch::Tensor index = (centre + offsets).clamp(0, Z - 1).flatten();
        const torch::Tensor input =
          volume.image.index_select(0, index).view({ z1 - z0, 2 * k + 1, volume.SizeY(), volume.SizeX() });
        slices.push_back(m_Network->forward(input).argmax(1).to(torch::kUInt8));
      }
      result = torch::cat(slices, 0);
    }
    else
    {
      // Overlapping windows (half a patch apart), softmax probabilities averaged.
      const int64_t        S[3] = { volume.SizeZ(), volume.SizeY(), volume.SizeX() };
      const int64_t        P[3] = { o.sampling.patchSize[2], o.sampling.patchSize[1], o.sampling.patchSize[0] };
      std::vector<int64_t> starts[3], window(3);
      for (int a = 0; a < 3; ++a)
      {
        window[a] = std::min(S[a], P[a]);
        const int64_t step = std::max<int64_t>(1, window[a] / 2);
        for (int64_t s = 0;; s += step)
        {
          if (s + window[a] >= S[a])
          {
            starts[a].push_back(S[a] - window[a]);
            break;
          }
          starts[a].push_back(s);
        }
      }
      torch::Tensor probabilities = torch::zeros({ o.network.numberOfClasses, S[0], S[1], S[2] });
      using torch::indexing::Slice;
      for (int64_t z : starts[0])
        for (int64_t y : starts[1])
          for (int64_t x : starts[2])
          {
            const torch::Tensor input =
              volume.image.index({ Slice(z, z + window[0]), Slice(y, y + window[1]), Slice(x, x + window[2]) })
                .unsqueeze(0)
                .unsqueeze(0);
            const torch::Tensor p = torch::softmax(m_Network->forward(input), 1)[0];
            probabilities.index({ Slice(), Slice(z, z + window[0]), Slice(y, y + window[1]), Slice(x, x + window[2]) })
              .add_(p);
          }
      result = probabilities.argmax(0).to(torch::kUInt8);
    }
  }
  catch (const itk::ExceptionObject &)
  {
    m_Network->train();
    throw;
  }
  catch (const std::exception & e)
  {
    m_Network->train();
    ThrowTorchError(e, "Validation of " + volume.name + " " + ShapeToString(volume.image));
  }
  m_Network->train();
  return result;
}

EpochRecord
Trainer::Validate()
{
  const unsigned int C = static_cast<unsigned int>(m_Options.network.numberOfClasses);
  // Per class: the sum of the Dice of the cases that have it, and their count (summed over the ranks).
  torch::Tensor sums = torch::zeros({ 2, static_cast<int64_t>(C) - 1 }, torch::kFloat64);
  auto          sum = sums.accessor<double, 2>();
  for (const auto & v : m_ValidationCases)
  {
    std::vector<double> dice;
    if (m_ValidationPredictor)
    {
      Model                         model(m_Network, m_Metadata);
      const LabelImageType::Pointer prediction = m_ValidationPredictor(model, v.image);
      m_Network->train();
      CheckSameGeometry(v.labels, prediction, v.name, "its predicted labels");
      dice =
        ComputeDicePerClass(ImageToTensorView(prediction.GetPointer()), ImageToTensorView(v.labels.GetPointer()), C);
    }
    else
    {
      dice = ComputeDicePerClass(this->PredictVolume(v.volume), v.volume.labels, C);
    }
    for (unsigned int c = 0; c + 1 < C; ++c)
    {
      if (std::isfinite(dice[c]))
      {
        sum[0][c] += dice[c];
        sum[1][c] += 1.0;
      }
    }
  }
  if (m_Distributed)
  {
    m_Distributed->Sum(sums);
    sum = sums.accessor<double, 2>();
  }
  EpochRecord record;
  double      total = 0.0;
  int         n = 0;
  for (unsigned int c = 0; c + 1 < C; ++c)
  {
    const double mean = sum[1][c] > 0.0 ? sum[0][c] / sum[1][c] : std::numeric_limits<double>::quiet_NaN();
    record.validationDice.push_back(mean);
    if (std::isfinite(mean))
    {
      total += mean;
      ++n;
    }
  }
  record.validationMeanDice = n > 0 ? total / n : std::numeric_limits<double>::quiet_NaN();
  return record;
}

nlohmann::json
Trainer::ResumeSettings() const
{
  json j = TrainerOptionsToJson(m_Options);
  // What may change between the interrupted run and its continuation.
  for (const char * key : { "trainingSource",
                            "validationSource",
                            "validationCases",
                            "validationInterval",
                            "modelSelection",
                            "epochs",
                            "numberOfWorkers" })
  {
    j.erase(key);
  }
  return j;
}

void
Trainer::SaveModel(const std::string & path, int epoch) const
{
  if (!this->IsMainProcess())
  {
    return;
  }
  ModelMetadata m = m_Metadata;
  // Per-class validation Dice of an epoch (1-based), an empty object when that epoch was not validated.
  const auto diceOf = [this](int e) {
    json dice = json::object();
    if (e > 0 && e <= static_cast<int>(m_Log.size()))
    {
      const EpochRecord & r = m_Log[static_cast<std::size_t>(e - 1)];
      for (std::size_t c = 0; c < r.validationDice.size(); ++c)
      {
        dice[m_Options.classes.GetLabels()[c].name] = NumberOrNull(r.validationDice[c]);
      }
    }
    return dice;
  };
  m.provenance = json{ { "createdBy", "TorchSegTrain" },
                       { "toolkitVersion", GetVersion() },
                       { "date", IsoDate() },
                       { "epochsTrained", m_Log.size() },
                       { "bestEpoch", m_BestEpoch },
                       { "modelEpoch", epoch },
                       { "modelSelection", m_Options.modelSelection },
                       { "validationDice", diceOf(epoch) },           // of the weights in this file
                       { "bestValidationDice", diceOf(m_BestEpoch) }, // of bestEpoch
                       { "classWeights", m_ClassWeights },
                       { "training", TrainerOptionsToJson(m_Options) } };
  Model(m_Network, m).Save(path);
}

void
Trainer::SaveCheckpoint(int completedEpochs) const
{
  // Every rank's global generator (dropout), gathered by all ranks, written by rank 0.
  torch::Tensor rankGenerators;
  if (m_Distributed)
  {
    torch::Tensor state;
    {
      auto                        generator = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(generator.mutex());
      state = generator.get_state();
    }
    rankGenerators = torch::stack(m_Distributed->AllGather(state));
  }
  if (!this->IsMainProcess())
  {
    return;
  }
  const std::string path = GetCheckpointPath(m_Options.outputModel);
  AtomicOutput      output(path);
  try
  {
    torch::serialize::OutputArchive archive;
    archive.write("format", c10::IValue(std::string(CheckpointFormat)));
    archive.write("formatVersion", c10::IValue(CheckpointVersion));
    archive.write("epoch", c10::IValue(static_cast<int64_t>(completedEpochs)));
    archive.write("bestScore", c10::IValue(m_BestScore));
    archive.write("bestEpoch", c10::IValue(static_cast<int64_t>(m_BestEpoch)));
    archive.write("settings", c10::IValue(this->ResumeSettings().dump()));
    archive.write("metadata", c10::IValue(json(m_Metadata).dump()));
    json log = json::array();
    for (const auto & r : m_Log)
    {
      json dice = json::array();
      for (double d : r.validationDice)
      {
        dice.push_back(NumberOrNull(d));
      }
      log.push_back({ { "epoch", r.epoch },
                      { "trainLoss", r.trainLoss },
                      { "learningRate", r.learningRate },
                      { "validationMeanDice", NumberOrNull(r.validationMeanDice) },
                      { "validationDice", dice },
                      { "epochSeconds", r.epochSeconds },
                      { "validationSeconds", r.validationSeconds },
                      { "samplesPerSecond", r.samplesPerSecond },
                      { "dataWaitFraction", r.dataWaitFraction },
                      { "best", r.best } });
    }
    archive.write("log", c10::IValue(log.dump()));
    {
      auto                        generator = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(generator.mutex());
      archive.write("globalGenerator", generator.get_state(), /*is_buffer=*/true);
    }
    if (rankGenerators.defined())
    {
      archive.write("rankGenerators", rankGenerators, /*is_buffer=*/true);
    }
    torch::serialize::OutputArchive network;
    m_Network->save(network);
    archive.write("network", network);
    torch::serialize::OutputArchive optimizer;
    m_Optimizer->save(optimizer);
    archive.write("optimizer", optimizer);
    archive.save_to(output.GetTemporaryPath().string());
  }
  catch (const itk::ExceptionObject &)
  {
    throw;
  }
  catch (const std::exception & e)
  {
    ThrowTorchError(e, "Cannot write the checkpoint " + path);
  }
  output.Commit();
}

int
Trainer::LoadCheckpoint(const std::string & path)
{
  // Rank 0 reads the file and sends its bytes to the other ranks, whose machines need not see it.
  std::string bytes;
  if (this->IsMainProcess())
  {
    std::ifstream in(path, std::ios::binary);
    if (!in)
    {
      itkExceptionMacro(<< "Cannot read the checkpoint " << path);
    }
    std::ostringstream content;
    content << in.rdbuf();
    bytes = content.str();
  }
  if (m_Distributed)
  {
    bytes = m_Distributed->BroadcastBytes(bytes);
  }
  int epoch = 0;
  try
  {
    torch::serialize::InputArchive archive;
    archive.load_from(bytes.data(), bytes.size());
    c10::IValue value;
    archive.read("formatVersion", value);
    if (value.toInt() != CheckpointVersion)
    {
      itkExceptionMacro(<< "Checkpoint " << path << " has format version " << value.toInt() << ", not "
                        << CheckpointVersion);
    }
    archive.read("settings", value);
    const json saved = json::parse(value.toStringRef());
    const json now = this->ResumeSettings();
    for (const auto & item : now.items())
    {
      if (!saved.contains(item.key()) || saved[item.key()] != item.value())
      {
        itkExceptionMacro(<< "Checkpoint " << path << " was trained with " << item.key() << " = "
                          << (saved.contains(item.key()) ? saved[item.key()].dump() : std::string("(none)")) << ", not "
                          << item.value().dump() << "; resume with the settings of the interrupted run");
      }
    }
    for (const auto & item : saved.items())
    {
      if (!now.contains(item.key()))
      {
        itkExceptionMacro(<< "Checkpoint " << path << " was trained with " << item.key() << " = " << item.value().dump()
                          << ", not without; resume with the settings of the interrupted run");
      }
    }
    archive.read("metadata", value);
    const ModelMetadata metadata = json::parse(value.toStringRef()).get<ModelMetadata>();
    const auto &        a = metadata.normalization;
    const auto &        b = m_Metadata.normalization;
    if (a.method != b.method || std::abs(a.clipLow - b.clipLow) > 1e-6 * (1 + std::abs(a.clipLow)) ||
        std::abs(a.clipHigh - b.clipHigh) > 1e-6 * (1 + std::abs(a.clipHigh)) ||
        std::abs(a.mean - b.mean) > 1e-6 * (1 + std::abs(a.mean)) || std::abs(a.std - b.std) > 1e-6 * (1 + a.std))
    {
      itkExceptionMacro(<< "Checkpoint " << path
                        << " was trained on other data (its intensity normalisation differs from that of the given "
                           "training cases)");
    }
    archive.read("epoch", value);
    epoch = static_cast<int>(value.toInt());
    archive.read("bestScore", value);
    m_BestScore = value.toDouble();
    archive.read("bestEpoch", value);
    m_BestEpoch = static_cast<int>(value.toInt());
    archive.read("log", value);
    m_Log.clear();
    for (const auto & r : json::parse(value.toStringRef()))
    {
      EpochRecord e;
      e.epoch = r.at("epoch").get<int>();
      e.trainLoss = r.at("trainLoss").get<double>();
      e.learningRate = r.at("learningRate").get<double>();
      e.validationMeanDice =
        r.at("validationMeanDice").is_null() ? std::nan("") : r.at("validationMeanDice").get<double>();
      for (const auto & d : r.at("validationDice"))
      {
        e.validationDice.push_back(d.is_null() ? std::nan("") : d.get<double>());
      }
      e.epochSeconds = r.at("epochSeconds").get<double>();
      e.validationSeconds = r.at("validationSeconds").get<double>();
      e.samplesPerSecond = r.at("samplesPerSecond").get<double>();
      e.dataWaitFraction = r.at("dataWaitFraction").get<double>();
      e.best = r.at("best").get<bool>();
      m_Log.push_back(e);
    }
    torch::Tensor state;
    archive.read("globalGenerator", state, /*is_buffer=*/true);
    if (m_Distributed)
    {
      torch::Tensor states;
      archive.read("rankGenerators", states, /*is_buffer=*/true);
      if (states.dim() != 2 || states.size(0) != m_Distributed->GetWorldSize())
      {
        itkExceptionMacro(<< "Checkpoint " << path << " holds the random states of "
                          << (states.dim() ? states.size(0) : 0) << " processes, not "
                          << m_Distributed->GetWorldSize());
      }
      state = states[m_Distributed->GetRank()].clone();
    }
    {
      auto                        generator = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(generator.mutex());
      generator.set_state(state);
    }
    torch::serialize::InputArchive network;
    archive.read("network", network);
    m_Network->load(network);
    torch::serialize::InputArchive optimizer;
    archive.read("optimizer", optimizer);
    m_Optimizer->load(optimizer);
  }
  catch (const itk::ExceptionObject &)
  {
    throw;
  }
  catch (const std::exception & e)
  {
    ThrowTorchError(e, "Cannot resume from the checkpoint " + path);
  }
  if (epoch < 0 || epoch > m_Options.epochs)
  {
    itkExceptionMacro(<< "Checkpoint " << path << " has completed " << epoch << " epochs, more than --epochs "
                      << m_Options.epochs);
  }
  m_LastValidationDice = m_Log.empty() ? std::nan("") : m_Log.back().validationMeanDice;
  std::ostringstream text;
  text << "Resuming " << path << " after epoch " << epoch;
  this->Message(text.str());
  return epoch;
}

void
Trainer::WriteLog() const
{
  const std::string & file = m_Options.logFile;
  if (file.empty() || !this->IsMainProcess())
  {
    return;
  }
  std::string       csvPath = file, jsonPath;
  const std::string ext = fs::path(file).extension().string();
  if (ext == ".json")
  {
    jsonPath = file;
    csvPath = file.substr(0, file.size() - ext.size()) + ".csv";
  }
  else
  {
    jsonPath = file.substr(0, file.size() - ext.size()) + ".json";
  }
  std::vector<std::string> names;
  for (const auto & c : m_Options.classes.GetLabels())
  {
    names.push_back(c.name);
  }
  {
    std::ostringstream csv;
    csv << "epoch,trainLoss,learningRate,validationMeanDice";
    for (const auto & n : names)
    {
      csv << ",validationDice_" << n;
    }
    csv << ",epochSeconds,samplesPerSecond,dataWaitFraction\n";
    for (const auto & r : m_Log)
    {
      csv << r.epoch << "," << FormatNumber(r.trainLoss) << "," << FormatNumber(r.learningRate) << ","
          << FormatNumber(r.validationMeanDice);
      for (std::size_t c = 0; c < names.size(); ++c)
      {
        csv << "," << (c < r.validationDice.size() ? FormatNumber(r.validationDice[c]) : std::string());
      }
      csv << "," << FormatNumber(r.epochSeconds) << "," << FormatNumber(r.samplesPerSecond) << ","
          << FormatNumber(r.dataWaitFraction) << "\n";
    }
    AtomicOutput output(csvPath);
    std::ofstream(output.GetTemporaryPath()) << csv.str();
    output.Commit();
  }
  {
    json epochs = json::array();
    for (const auto & r : m_Log)
    {
      json dice = json::object();
      for (std::size_t c = 0; c < names.size() && c < r.validationDice.size(); ++c)
      {
        dice[names[c]] = NumberOrNull(r.validationDice[c]);
      }
      epochs.push_back({ { "epoch", r.epoch },
                         { "trainLoss", r.trainLoss },
                         { "learningRate", r.learningRate },
                         { "validationMeanDice", NumberOrNull(r.validationMeanDice) },
                         { "validationDice", dice },
                         { "epochSeconds", r.epochSeconds },
                         { "validationSeconds", r.validationSeconds },
                         { "samplesPerSecond", r.samplesPerSecond },
                         { "dataWaitFraction", r.dataWaitFraction },
                         { "best", r.best } });
    }
    const json   document{ { "outputModel", m_Options.outputModel },
                         { "classes", names },
                         { "bestEpoch", m_BestEpoch },
                         { "options", TrainerOptionsToJson(m_Options) },
                         { "epochs", epochs } };
    AtomicOutput output(jsonPath);
    std::ofstream(output.GetTemporaryPath()) << document.dump(2) << "\n";
    output.Commit();
  }
}

void
Trainer::Run()
{
  this->ValidateOptions();
  SetTorchNumberOfThreads(m_Options.numberOfThreads);
  m_Log.clear();
  m_BestScore = -1.0;
  m_BestEpoch = 0;
  m_TrainingSeconds = 0.0;
  m_DataWaitSeconds = 0.0;
  m_LastValidationDice = std::nan("");
  this->JoinProcessGroup();
  this->LoadData();
  this->BuildModel();
  int startEpoch = 0;
  if (!m_Options.resumeCheckpoint.empty())
  {
    startEpoch = this->LoadCheckpoint(m_Options.resumeCheckpoint);
  }
  this->SynchronizeProcesses();
  const TrainerOptions & o = m_Options;
  const int64_t          I = o.iterationsPerEpoch;
  const int              part = m_Distributed ? m_Distributed->GetRank() : -1;
  const int              processes = m_Distributed ? m_Distributed->GetWorldSize() : 1;
  const bool             validation = !o.validationCases.empty();
  const auto             parameters = m_Network->parameters();
  const auto             buffers = m_Network->buffers();
  const double           totalIterations = static_cast<double>(o.epochs - startEpoch) * I;
  for (int epoch = startEpoch; epoch < o.epochs; ++epoch)
  {
    // The training thread's LibTorch thread count, again: it is a per-thread setting that a validation predictor may
    // have changed, and the results of parallel reductions depend on it.
    SetTorchNumberOfThreads(o.numberOfThreads);
    const auto  epochStart = Clock::now();
    BatchLoader loader(m_Sampler, epoch, I, o.numberOfWorkers, 0, part);
    double      lossSum = 0.0;
    double      lr = o.learningRate;
    for (int64_t it = 0; it < I; ++it)
    {
      Batch batch;
      loader.Next(batch);
      lr = this->LearningRateAt(epoch * I + it);
      for (auto & group : m_Optimizer->param_groups())
      {
        group.options().set_lr(lr);
      }
      double value = 0.0;
      try
      {
        if (m_Distributed && !buffers.empty())
        {
          // As PyTorch's DistributedDataParallel: rank 0's running statistics (batch normalisation) everywhere.
          m_Distributed->Broadcast(buffers);
        }
        m_Optimizer->zero_grad();
        const std::vector<torch::Tensor> heads = m_Network->forwardWithAuxiliary(batch.images);
        torch::Tensor                    loss = m_Loss->forwardDeepSupervision(heads, batch.labels);
        loss.backward();
        if (m_Distributed)
        {
          m_Distributed->AverageGradients(parameters);
        }
        if (o.gradientClipNorm > 0.0)
        {
          torch::nn::utils::clip_grad_norm_(parameters, o.gradientClipNorm);
        }
        m_Optimizer->step();
        value = loss.item<double>();
      }
      catch (const itk::ExceptionObject &)
      {
        throw;
      }
      catch (const std::exception & e)
      {
        ThrowTorchError(e,
                        "Training step " + std::to_string(it + 1) + " of epoch " + std::to_string(epoch + 1) +
                          " on a batch " + ShapeToString(batch.images));
      }
      if (!std::isfinite(value))
      {
        itkExceptionMacro(<< "Training diverged at epoch " << epoch + 1 << ", iteration " << it + 1 << " (loss "
                          << value << "); lower the learning rate (" << o.learningRate << ")");
      }
      lossSum += value;
      if (m_ProgressCallback)
      {
        TrainingProgress p;
        p.epoch = epoch + 1;
        p.epochs = o.epochs;
        p.iteration = static_cast<int>(it + 1);
        p.iterationsPerEpoch = static_cast<int>(I);
        p.loss = lossSum / static_cast<double>(it + 1);
        p.learningRate = lr;
        p.validationMeanDice = m_LastValidationDice;
        p.fraction = (static_cast<double>(epoch - startEpoch) * I + it + 1) / totalIterations;
        m_ProgressCallback(p);
      }
    }
    const double trainSeconds = SecondsSince(epochStart);
    m_TrainingSeconds += trainSeconds;
    m_DataWaitSeconds += loader.GetWaitSeconds();
    if (m_Distributed)
    {
      // The mean loss of the whole batches (every rank's part has the same number of samples).
      torch::Tensor sum = torch::tensor({ lossSum }, torch::kFloat64);
      m_Distributed->Sum(sum);
      lossSum = sum.item<double>() / processes;
    }

    const auto  validationStart = Clock::now();
    const bool  validate = validation && ((epoch + 1) % o.validationInterval == 0 || epoch + 1 == o.epochs);
    EpochRecord record = validate ? this->Validate() : EpochRecord();
    record.validationSeconds = SecondsSince(validationStart);
    record.epoch = epoch + 1;
    record.trainLoss = lossSum / static_cast<double>(I);
    record.learningRate = lr;
    record.samplesPerSecond = static_cast<double>(I * o.sampling.batchSize * processes) / trainSeconds;
    record.dataWaitFraction = loader.GetWaitSeconds() / trainSeconds;
    if (validate)
    {
      m_LastValidationDice = record.validationMeanDice;
    }
    if (!validation)
    {
      record.best = true;
    }
    else if (std::isfinite(record.validationMeanDice) && record.validationMeanDice > m_BestScore)
    {
      record.best = true;
      m_BestScore = record.validationMeanDice;
    }
    if (record.best)
    {
      m_BestEpoch = record.epoch;
    }
    record.epochSeconds = SecondsSince(epochStart);
    m_Log.push_back(record);
    if (record.best || o.modelSelection == "last")
    {
      this->SaveModel(o.outputModel, record.epoch);
    }
    this->SaveCheckpoint(epoch + 1);
    this->WriteLog();
    if (m_EpochCallback)
    {
      m_EpochCallback(record);
    }
  }
  std::error_code ec;
  if (this->IsMainProcess() && (m_BestEpoch == 0 || !fs::exists(o.outputModel, ec)))
  {
    // No validation score was ever defined (or the kept model was removed): write the last weights.
    this->SaveModel(o.outputModel, static_cast<int>(m_Log.size()));
  }
  if (m_Distributed)
  {
    // The others end once rank 0 has written everything (or they learn that it failed).
    m_Distributed->Barrier();
  }
}

void
Trainer::JoinProcessGroup()
{
  const DistributedOptions & d = m_Options.distributed;
  if (!d.IsDistributed())
  {
    m_Distributed.reset();
    return;
  }
  if (m_Distributed && m_Distributed->GetRank() == d.rank && m_Distributed->GetWorldSize() == d.worldSize)
  {
    return;
  }
  std::ostringstream text;
  text << "Joining a distributed training: " << d;
  this->Message(text.str());
  m_Distributed = std::make_shared<DistributedContext>(d);
  this->Message("Joined: all " + std::to_string(d.worldSize) + " processes are connected");
}

void
Trainer::SynchronizeProcesses()
{
  if (!m_Distributed)
  {
    return;
  }
  const TrainerOptions & o = m_Options;
  // Every rank must train the same network on the same data with the same settings: the resume settings (all but
  // paths, counts of validation cases and workers), the normalisation, the patch size and the class weights.
  json                           check = this->ResumeSettings();
  const IntensityNormalization & n = m_Metadata.normalization;
  check["normalization"] = { n.method, n.clipLow, n.clipHigh, n.mean, n.std };
  check["patchSize"] = o.sampling.patchSize;
  check["classWeights"] = m_ClassWeights;
  m_Distributed->CheckSameOnEveryRank(detail::StableHash(check.dump()), "settings, training data or normalisation");
  // Rank 0's weights everywhere (they are equal already when every rank built them from the same seed).
  std::vector<torch::Tensor> state = m_Network->parameters();
  for (const auto & b : m_Network->buffers())
  {
    state.push_back(b);
  }
  m_Distributed->Broadcast(state);
  if (o.resumeCheckpoint.empty())
  {
    // Each rank its own random stream for what draws from the global generator during training (dropout); a resumed
    // run got its rank's state from the checkpoint.
    std::mt19937_64 engine =
      detail::MakeEngine({ o.seed, static_cast<uint64_t>(m_Distributed->GetRank()), 0x44524f504f5554ull });
    torch::manual_seed(engine());
  }
}

void
Trainer::PrintSelf(std::ostream & os, itk::Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "Options: " << TrainerOptionsToJson(m_Options).dump() << std::endl;
  os << indent << "ValidationPredictor: " << (m_ValidationPredictor ? "set" : "internal") << std::endl;
  os << indent << "ProgressCallback: " << (m_ProgressCallback ? "set" : "none") << std::endl;
  os << indent << "EpochCallback: " << (m_EpochCallback ? "set" : "none") << std::endl;
  os << indent << "MessageCallback: " << (m_MessageCallback ? "set" : "none") << std::endl;
  os << indent << "TrainingVolumes: " << (m_TrainingVolumes ? m_TrainingVolumes->size() : 0) << std::endl;
  os << indent << "ValidationCases: " << m_ValidationCases.size() << std::endl;
  os << indent << "Sampler: " << (m_Sampler ? "built" : "none") << std::endl;
  os << indent << "Metadata: " << json(m_Metadata).dump() << std::endl;
  os << indent << "Network: " << (m_Network ? m_Network->GetOptions().architecture : std::string("none")) << std::endl;
  os << indent << "Loss: " << (m_Loss ? "built" : "none") << std::endl;
  os << indent << "Optimizer: " << (m_Optimizer ? m_Options.optimizer : std::string("none")) << std::endl;
  os << indent << "Distributed: ";
  if (m_Distributed)
  {
    os << m_Distributed->GetOptions() << std::endl;
  }
  else
  {
    os << "no" << std::endl;
  }
  os << indent << "ClassWeights:";
  for (double w : m_ClassWeights)
  {
    os << " " << w;
  }
  os << std::endl;
  os << indent << "Log: " << m_Log.size() << " epoch(s)" << std::endl;
  os << indent << "BestScore: " << m_BestScore << std::endl;
  os << indent << "BestEpoch: " << m_BestEpoch << std::endl;
  os << indent << "TrainingSeconds: " << m_TrainingSeconds << std::endl;
  os << indent << "DataWaitSeconds: " << m_DataWaitSeconds << std::endl;
  os << indent << "LastValidationDice: " << m_LastValidationDice << std::endl;
}

} // namespace torchseg
