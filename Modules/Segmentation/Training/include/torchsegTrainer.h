#ifndef torchsegTrainer_h
#define torchsegTrainer_h

#include "torchsegDistributedContext.h"
#include "torchsegLosses.h"
#include "torchsegModel.h"
#include "torchsegPatchSampler.h"
#include "torchsegTrainingSet.h"

#include "itkObject.h"
#include "itkObjectFactory.h"

#include <nlohmann/json.hpp>
#include <torch/optim/optimizer.h>

#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace torchseg
{

/** \brief Everything a training run is made of. The defaults are the toolkit's default-model recipe where one
 * exists (Dice + cross-entropy, AdamW, poly schedule, foreground oversampling, nnU-Net augmentation).
 * \ingroup TorchSegTraining */
struct TrainerOptions
{
  // Data
  std::vector<CaseFiles> trainingCases;
  std::vector<CaseFiles> validationCases;
  std::string            trainingSource;   //!< list file or directory the training cases came from (provenance)
  std::string            validationSource; //!< likewise for the validation cases

  // Classes and network
  LabelTable     classes = LabelTable::LiverTumour(); //!< foreground classes; numberOfClasses = size + 1
  NetworkOptions network; //!< architecture and its options; dimensions, channels and classes are filled in

  // Preprocessing
  std::array<double, 3> targetSpacing{ { 1.5, 1.5, 0.0 } };
  std::string           normalization = "zscore"; //!< "zscore" (from the training set) or "window"
  double                windowLow = -200.0;
  double                windowHigh = 300.0;

  // Samples
  SamplingOptions     sampling; //!< patchSize all 0: chosen from the data
  AugmentationOptions augmentation;
  /** 2D networks: the model tells inference to run whole slices (metadata patchSize 0, 0), one pass per slice,
   * rather than a sliding window of the training crop (several overlapping passes per slice). */
  bool wholeSliceInference = true;

  // Loss
  LossKind    loss = LossKind::DiceCrossEntropy;
  std::string classWeights; //!< "" (none), "auto" / "inverse" (inverse frequency), "median", or "w0,w1,..."
  double      crossEntropyWeight = 1.0;
  double      diceWeight = 1.0;
  bool        diceIncludeBackground = false;
  bool        batchDice = true;

  // Optimisation
  std::string optimizer = "adamw"; //!< "sgd" (Nesterov momentum), "adam", "adamw"
  double      learningRate = 0.0;  //!< 0: 0.01 for SGD, 0.001 for Adam(W)
  double      momentum = 0.99;     //!< SGD
  double      weightDecay = -1.0;  //!< < 0: 3e-5 for SGD and Adam, 0.01 for AdamW
  std::string schedule = "poly";   //!< "poly", "cosine", "constant"
  double      polyExponent = 0.9;
  double      gradientClipNorm = 12.0; //!< 0: no clipping
  int         epochs = 50;
  int         iterationsPerEpoch = 250;
  int         validationInterval = 1; //!< validate every n-th epoch (and after the last)
  /** Which weights the model file gets: "best" (the epoch of the best validation mean Dice; the last epoch without
   * validation cases) or "last" (the final weights, as nnU-Net's checkpoint_final; validation is only logged). */
  std::string modelSelection = "best";
  uint64_t    seed = 0;

  // Machine
  int numberOfThreads = 0; //!< LibTorch and ITK threads (0: all)
  int numberOfWorkers = 2; //!< background batch workers (0: batches made in the training thread)
  /** Data-parallel training over several processes (worldSize > 1): every process makes sampling.batchSize samples
   * of each step from its own shard of the cases, the gradients are averaged over the processes, rank 0 alone writes
   * the model, the checkpoint and the log. */
  DistributedOptions distributed;

  // Outputs
  std::string outputModel;      //!< the best model (validation) or the last one (no validation)
  std::string resumeCheckpoint; //!< continue this checkpoint
  std::string logFile;          //!< CSV log (a JSON twin is written beside it)
};

/** The options as JSON (for the model's provenance and the checkpoint). */
nlohmann::json
TrainerOptionsToJson(const TrainerOptions & options);

/** \brief One epoch of the log.
 * \ingroup TorchSegTraining */
struct EpochRecord
{
  int                 epoch = 0; //!< 1-based
  double              trainLoss = 0.0;
  double              learningRate = 0.0; //!< at the epoch's last iteration
  double              validationMeanDice = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> validationDice; //!< per foreground class, NaN where no case has the class in either image
  double              epochSeconds = 0.0;
  double              validationSeconds = 0.0;
  double              samplesPerSecond = 0.0;
  double              dataWaitFraction = 0.0;
  bool                best = false;
};

/** \brief Where a running training stands, for progress displays.
 * \ingroup TorchSegTraining */
struct TrainingProgress
{
  int    epoch = 0; //!< 1-based
  int    epochs = 0;
  int    iteration = 0; //!< 1-based within the epoch
  int    iterationsPerEpoch = 0;
  double loss = 0.0; //!< mean of the epoch so far
  double learningRate = 0.0;
  double validationMeanDice = std::numeric_limits<double>::quiet_NaN(); //!< of the last validation
  double fraction = 0.0;                                                //!< of this run's work
  int    casesLoaded = 0;                                               //!< while loading (epoch 0): cases read so far
  int    numberOfCases = 0;
};

/** Dice of one predicted label volume against its reference, per class 1 .. numberOfClasses-1 (NaN when the class is
 * absent from both). Tensors of equal shape holding class indices. */
std::vector<double>
ComputeDicePerClass(const torch::Tensor & prediction, const torch::Tensor & reference, unsigned int numberOfClasses);

/** The canonical checkpoint path of an output model: "<model>.checkpoint". */
std::string
GetCheckpointPath(const std::string & outputModel);

/** \class Trainer
 * \brief Trains a segmentation network on CT volumes and writes the model file: validates every input before any
 * training, loads and preprocesses the cases (several at once), computes the normalisation over the training set,
 * then runs epochs of background-loaded, augmented batches with validation on held-out volumes, writing the best
 * model, a checkpoint and the log atomically after every epoch.
 *
 * Deterministic: a fixed seed gives the same model on the same machine with the same thread count, whatever the
 * number of data workers; Resume continues a checkpoint exactly (the model after an interrupted and resumed run
 * equals that of an uninterrupted one).
 *
 * Distributed (TrainerOptions::distributed, see DistributedContext): N processes train one model. Step i of epoch e
 * is one batch of N x batchSize samples in N parts, part r (drawn from case shard r of the epoch) made by rank r;
 * the gradients are averaged over the ranks before clipping and the optimiser step, so every rank holds the same
 * weights, equal to those of one process training on the whole batch (sampling.caseShards = N) where the loss is a
 * mean over samples (see docs/scaling.md for which losses are). Validation cases are shared out and their Dice
 * summed over the ranks.
 * \ingroup TorchSegTraining
 */
class Trainer : public itk::Object
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(Trainer);
  using Self = Trainer;
  using Superclass = itk::Object;
  using Pointer = itk::SmartPointer<Self>;
  using ConstPointer = itk::SmartPointer<const Self>;
  itkNewMacro(Self);
  itkTypeMacro(Trainer, itk::Object);

  /** Predicts a label image on the grid of a CT volume (Hounsfield units) with a model; used for validation when set
   * (e.g. the inference filter, so that validation sees exactly what users get); otherwise the trainer predicts
   * the preprocessed volumes itself (slice by slice, or by overlapping patches). */
  using ValidationPredictor = std::function<LabelImageType::Pointer(Model &, const CTImageType *)>;

  void
  SetOptions(const TrainerOptions & options)
  {
    m_Options = options;
    this->Modified();
  }
  const TrainerOptions &
  GetOptions() const
  {
    return m_Options;
  }

  void
  SetValidationPredictor(ValidationPredictor predictor)
  {
    m_ValidationPredictor = std::move(predictor);
  }

  /** Called after every iteration (and while cases load, with epoch 0); may throw to stop (e.g.
   * itk::ProcessAborted): the last checkpoint stays. */
  void
  SetProgressCallback(std::function<void(const TrainingProgress &)> callback)
  {
    m_ProgressCallback = std::move(callback);
  }
  /** Called after every epoch with its record. */
  void
  SetEpochCallback(std::function<void(const EpochRecord &)> callback)
  {
    m_EpochCallback = std::move(callback);
  }
  /** The process group of a distributed training; Run() joins one from TrainerOptions::distributed when none is set
   * (and keeps it for later runs with the same rank and world size). */
  void
  SetDistributedContext(std::shared_ptr<DistributedContext> context)
  {
    m_Distributed = std::move(context);
  }
  std::shared_ptr<DistributedContext>
  GetDistributedContext() const
  {
    return m_Distributed;
  }

  /** Called with one-line messages (what was loaded, the normalisation, the class weights, ...). */
  void
  SetMessageCallback(std::function<void(const std::string &)> callback)
  {
    m_MessageCallback = std::move(callback);
  }

  /** Checks the options without touching data: hyper-parameters, architecture, output paths, the checkpoint to
   * resume. Throws itk::ExceptionObject naming the option or file at fault. Run() calls it first. */
  void
  ValidateOptions();

  /** Runs the training. */
  void
  Run();

  /** The log so far (after Run(): every epoch, including those of a resumed checkpoint). */
  const std::vector<EpochRecord> &
  GetLog() const
  {
    return m_Log;
  }
  /** The metadata written into the model file. */
  const ModelMetadata &
  GetMetadata() const
  {
    return m_Metadata;
  }
  /** The trained network (after Run()): the last epoch's weights. */
  SegmentationNetwork
  GetNetwork() const
  {
    return m_Network;
  }
  /** Seconds spent training (iterations only) and waiting for data in this run. */
  itkGetConstMacro(TrainingSeconds, double);
  itkGetConstMacro(DataWaitSeconds, double);

protected:
  Trainer() = default;
  ~Trainer() override = default;
  void
  PrintSelf(std::ostream & os, itk::Indent indent) const override;

private:
  struct ValidationCase
  {
    std::string             name;
    CTImageType::Pointer    image; //!< original grid, HU (with an external predictor)
    LabelImageType::Pointer labels;
    TrainingVolume          volume; //!< preprocessed (internal predictor)
  };

  void
  Message(const std::string & text) const;
  void
  ResolveDefaults();
  void
  LoadData();
  void
  BuildModel();
  double
  LearningRateAt(int64_t iteration) const;
  EpochRecord
  Validate();
  torch::Tensor
  PredictVolume(const TrainingVolume & volume);
  void
  SaveCheckpoint(int completedEpochs) const;
  int
  LoadCheckpoint(const std::string & path);
  void
  JoinProcessGroup();
  void
  SynchronizeProcesses();
  bool
  IsMainProcess() const
  {
    return m_Options.distributed.rank == 0;
  }
  void
  WriteLog() const;
  void
  SaveModel(const std::string & path, int epoch) const;
  nlohmann::json
  ResumeSettings() const;

  TrainerOptions                                m_Options;
  ValidationPredictor                           m_ValidationPredictor;
  std::function<void(const TrainingProgress &)> m_ProgressCallback;
  std::function<void(const EpochRecord &)>      m_EpochCallback;
  std::function<void(const std::string &)>      m_MessageCallback;

  std::shared_ptr<std::vector<TrainingVolume>> m_TrainingVolumes;
  std::vector<ValidationCase>                  m_ValidationCases;
  std::shared_ptr<PatchSampler>                m_Sampler;
  ModelMetadata                                m_Metadata;
  SegmentationNetwork                          m_Network{ nullptr };
  SegmentationLoss                             m_Loss{ nullptr };
  std::shared_ptr<torch::optim::Optimizer>     m_Optimizer;
  std::shared_ptr<DistributedContext>          m_Distributed;
  std::vector<double>                          m_ClassWeights;
  std::vector<EpochRecord>                     m_Log;
  double                                       m_BestScore = -1.0;
  int                                          m_BestEpoch = 0;
  double                                       m_TrainingSeconds = 0.0;
  double                                       m_DataWaitSeconds = 0.0;
  double                                       m_LastValidationDice = std::numeric_limits<double>::quiet_NaN();
};

} // namespace torchseg

#endif
