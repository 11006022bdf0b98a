#include "torchsegSyntheticCases.h"
#include "torchsegTrainer.h"

#include "itkProcessObject.h"

#include <torch/torch.h>

#include "gtest/gtest.h"

#include <fstream>

using namespace torchseg;
using torchseg::testing::OutputPath;
namespace fs = std::filesystem;
using torchseg::testing::ReadText;

namespace
{

// A tiny 2D U-Net, a few short epochs: seconds on two cores.
TrainerOptions
TinyOptions(const fs::path & dir, const fs::path & trainList, const fs::path & validationList = {})
{
  TrainerOptions o;
  o.trainingCases = ReadCases(trainList.string());
  if (!validationList.empty())
  {
    o.validationCases = ReadCases(validationList.string());
  }
  o.network.architecture = "unet2d";
  o.network.options = { { "width", 4 }, { "depth", 3 } };
  o.targetSpacing = { { 0.0, 0.0, 0.0 } };
  o.sampling.patchSize = { { 32, 32, 0 } };
  o.sampling.batchSize = 4;
  o.sampling.sliceContext = 1;
  o.epochs = 3;
  o.iterationsPerEpoch = 6;
  o.learningRate = 0.01;
  o.numberOfWorkers = 2;
  o.numberOfThreads = 2;
  o.seed = 5;
  o.outputModel = (dir / "model.pt").string();
  o.logFile = (dir / "log.csv").string();
  return o;
}

std::vector<torch::Tensor>
Weights(const SegmentationNetwork & network)
{
  std::vector<torch::Tensor> w;
  for (const auto & p : network->parameters())
  {
    w.push_back(p.detach().clone());
  }
  return w;
}

bool
Equal(const std::vector<torch::Tensor> & a, const std::vector<torch::Tensor> & b)
{
  if (a.size() != b.size())
  {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i)
  {
    if (!torch::equal(a[i], b[i]))
    {
      return false;
    }
  }
  return true;
}

} // namespace

TEST(Trainer, DicePerClassMatchesHandCounts)
{
  // Prediction and reference of 10 voxels: class 1 overlaps on 2 of 3 + 3, class 2 absent from both.
  const torch::Tensor p = torch::tensor({ 1, 1, 1, 0, 0, 0, 0, 0, 0, 0 });
  const torch::Tensor r = torch::tensor({ 0, 1, 1, 1, 0, 0, 0, 0, 0, 0 });
  const auto          dice = ComputeDicePerClass(p, r, 3);
  ASSERT_EQ(dice.size(), 2u);
  EXPECT_DOUBLE_EQ(dice[0], 2.0 * 2.0 / 6.0);
  EXPECT_TRUE(std::isnan(dice[1]));
  EXPECT_DOUBLE_EQ(ComputeDicePerClass(torch::tensor({ 2, 0 }), torch::tensor({ 0, 0 }), 3)[1], 0.0);
}

TEST(Trainer, LearnsTheSyntheticOrgansAndWritesModelLogAndCheckpoint)
{
  const fs::path dir = OutputPath("run");
  const fs::path train = torchseg::testing::WriteSyntheticCases(dir / "data", { 1, 2, 3, 4 }, "train.csv");
  const fs::path validation = torchseg::testing::WriteSyntheticCases(
    dir / "data", { 11, 12 }, "validation.csv", torchseg::testing::Orientation::Flipped);
  TrainerOptions o = TinyOptions(dir, train, validation);
  o.epochs = 4;
  o.iterationsPerEpoch = 40;
  o.sampling.batchSize = 8;
  o.network.options["width"] = 8;
  o.sampling.classBalanced = true;
  o.sampling.componentBalanced = true;
  auto                     trainer = Trainer::New();
  std::vector<EpochRecord> records;
  int                      progressCalls = 0;
  trainer->SetOptions(o);
  trainer->SetEpochCallback([&](const EpochRecord & r) { records.push_back(r); });
  trainer->SetProgressCallback([&](const TrainingProgress & p) { progressCalls += p.epoch > 0 ? 1 : 0; });
  trainer->Run();
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(progressCalls, 160);
  EXPECT_LT(records.back().trainLoss, 0.6 * records.front().trainLoss);
  // Liver and tumour of the held-out, flipped cases are found.
  EXPECT_GT(records.back().validationDice[0], 0.85);
  EXPECT_GT(records.back().validationDice[1], 0.3);
  EXPECT_GT(records.back().samplesPerSecond, 0.0);
  EXPECT_GE(records.back().dataWaitFraction, 0.0);
  EXPECT_LE(records.back().dataWaitFraction, 1.0);

  // The model file: metadata with the preprocessing, loadable.
  const Model  model = Model::Load(o.outputModel);
  const auto & m = model.GetMetadata();
  EXPECT_EQ(m.network.architecture, "unet2d");
  EXPECT_EQ(m.network.inputChannels, 3);
  EXPECT_EQ(m.sliceContext, 1);
  EXPECT_EQ(m.normalization.method, "zscore");
  // Foreground (liver 120 HU, tumour 250 HU, noise 15 HU): the clip range brackets both.
  EXPECT_GT(m.normalization.mean, 120.0);
  EXPECT_LT(m.normalization.mean, 180.0);
  EXPECT_LT(m.normalization.clipLow, 100.0);
  EXPECT_GT(m.normalization.clipHigh, 250.0);
  EXPECT_EQ(m.classes.size(), 2u);
  EXPECT_EQ(m.patchSize, (std::vector<int64_t>{ 0, 0 })); // whole slices at inference
  const int bestEpoch = m.provenance["bestEpoch"].get<int>();
  ASSERT_GE(bestEpoch, 1);
  ASSERT_LE(bestEpoch, 4);
  EXPECT_EQ(m.provenance["modelEpoch"].get<int>(), bestEpoch);
  EXPECT_EQ(m.provenance["epochsTrained"].get<int>(), 4);
  // The validation Dice recorded is that of the weights in the file (here the best epoch's).
  const auto & bestRecord = records[static_cast<std::size_t>(bestEpoch - 1)];
  EXPECT_DOUBLE_EQ(m.provenance["validationDice"]["liver"].get<double>(), bestRecord.validationDice[0]);
  EXPECT_DOUBLE_EQ(m.provenance["validationDice"]["tumour"].get<double>(), bestRecord.validationDice[1]);
  EXPECT_EQ(m.provenance["bestValidationDice"], m.provenance["validationDice"]);

  // The log: header and one row per epoch.
  const std::string csv = ReadText(dir / "log.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "epoch,trainLoss,learningRate,validationMeanDice,validationDice_liver,validationDice_tumour,epochSeconds,"
            "samplesPerSecond,dataWaitFraction");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);
  const auto json = nlohmann::json::parse(ReadText(dir / "log.json"));
  EXPECT_EQ(json["epochs"].size(), 4u);
  EXPECT_EQ(json["options"]["sampling"]["classBalanced"], true);
  EXPECT_EQ(json["options"]["sampling"]["componentBalanced"], true);
  EXPECT_TRUE(fs::exists(GetCheckpointPath(o.outputModel)));
}

// Bitwise: the same seed gives the same model whatever the number of data workers, and whichever run of the process
// it is (the first Trainer::Run of a process used to train with two OpenMP threads, the later ones with the one thread
// the case loading had left on the training thread; the thread count changes the rounding of parallel reductions).
TEST(Trainer, TheSameSeedGivesTheSameModelWhateverTheNumberOfWorkers)
{
  const fs::path dir = OutputPath("determinism");
  const fs::path train = torchseg::testing::WriteSyntheticCases(dir / "data", { 1, 2, 3 }, "train.csv");
  auto           run = [&](int workers, uint64_t seed, std::vector<EpochRecord> & log) {
    TrainerOptions o = TinyOptions(dir, train);
    o.numberOfWorkers = workers;
    o.seed = seed;
    o.augmentation.rotationProbability = o.augmentation.elasticProbability = o.augmentation.noiseProbability = 0.5;
    auto trainer = Trainer::New();
    trainer->SetOptions(o);
    trainer->Run();
    // The training thread keeps the thread count it was given.
    EXPECT_EQ(at::get_num_threads(), o.numberOfThreads);
    log = trainer->GetLog();
    return Weights(trainer->GetNetwork());
  };
  std::vector<EpochRecord>         reference, log;
  const std::vector<torch::Tensor> first = run(0, 5, reference);
  for (int workers : { 3, 1, 0 })
  {
    SCOPED_TRACE(workers);
    EXPECT_TRUE(Equal(first, run(workers, 5, log)));
    ASSERT_EQ(log.size(), reference.size());
    for (std::size_t e = 0; e < log.size(); ++e)
    {
      EXPECT_EQ(log[e].trainLoss, reference[e].trainLoss) << "epoch " << e + 1;
    }
  }
  // The test can fail: another seed gives another model.
  EXPECT_FALSE(Equal(first, run(0, 6, log)));
}

TEST(Trainer, ResumingAnInterruptedRunGivesTheUninterruptedModel)
{
  const fs::path dir = OutputPath("resume");
  const fs::path train = torchseg::testing::WriteSyntheticCases(dir / "data", { 1, 2, 3 }, "train.csv");
  const fs::path validation = torchseg::testing::WriteSyntheticCases(dir / "data", { 9 }, "validation.csv");
  for (const char * optimizer : { "adamw", "sgd" })
  {
    SCOPED_TRACE(optimizer);
    TrainerOptions whole = TinyOptions(dir / optimizer / "whole", train, validation);
    whole.optimizer = optimizer;
    fs::create_directories(dir / optimizer / "whole");
    auto a = Trainer::New();
    a->SetOptions(whole);
    a->Run();

    TrainerOptions part = TinyOptions(dir / optimizer / "part", train, validation);
    part.optimizer = optimizer;
    fs::create_directories(dir / optimizer / "part");
    auto b = Trainer::New();
    b->SetOptions(part);
    b->SetProgressCallback([](const TrainingProgress & p) {
      if (p.epoch == 2 && p.iteration == 3)
      {
        throw itk::ProcessAborted(__FILE__, __LINE__);
      }
    });
    EXPECT_THROW(b->Run(), itk::ProcessAborted);
    ASSERT_TRUE(fs::exists(GetCheckpointPath(part.outputModel)));
    EXPECT_EQ(b->GetLog().size(), 1u);

    TrainerOptions resumed = part;
    resumed.resumeCheckpoint = GetCheckpointPath(part.outputModel);
    auto c = Trainer::New();
    c->SetOptions(resumed);
    c->Run();
    EXPECT_TRUE(Equal(Weights(a->GetNetwork()), Weights(c->GetNetwork())));
    ASSERT_EQ(c->GetLog().size(), 3u);
    EXPECT_DOUBLE_EQ(c->GetLog()[2].trainLoss, a->GetLog()[2].trainLoss);
    EXPECT_DOUBLE_EQ(c->GetLog()[0].trainLoss, a->GetLog()[0].trainLoss);
    // The log file holds every epoch, the first from before the interruption.
    const std::string csv = ReadText(dir / optimizer / "part" / "log.csv");
    EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);

    // Other settings than the checkpoint's are refused before training.
    TrainerOptions changed = resumed;
    changed.sampling.batchSize = 2;
    auto d = Trainer::New();
    d->SetOptions(changed);
    try
    {
      d->Run();
      ADD_FAILURE() << "no error";
    }
    catch (const itk::ExceptionObject & e)
    {
      EXPECT_NE(std::string(e.GetDescription()).find("batchSize"), std::string::npos) << e.GetDescription();
    }
  }
}

TEST(Trainer, BadDataStopsBeforeTrainingAndWritesNothing)
{
  const fs::path dir = OutputPath("bad");
  const fs::path train = torchseg::testing::WriteSyntheticCases(dir / "data", { 1, 2 }, "train.csv");
  auto           expectError = [&](TrainerOptions o, const std::string & expected) {
    auto trainer = Trainer::New();
    trainer->SetOptions(o);
    int iterations = 0;
    trainer->SetProgressCallback([&](const TrainingProgress & p) { iterations += p.epoch > 0 ? 1 : 0; });
    try
    {
      trainer->Run();
      ADD_FAILURE() << "no error for " << expected;
    }
    catch (const itk::ExceptionObject & e)
    {
      EXPECT_NE(std::string(e.GetDescription()).find(expected), std::string::npos) << e.GetDescription();
    }
    EXPECT_EQ(iterations, 0);
    EXPECT_FALSE(fs::exists(o.outputModel));
    EXPECT_FALSE(fs::exists(GetCheckpointPath(o.outputModel)));
  };
  // A label value beyond the declared classes.
  {
    auto c = torchseg::testing::MakeSyntheticCase(3);
    c.labels->SetPixel({ { 1, 1, 1 } }, 3);
    WriteImageFile(c.ct.GetPointer(), (dir / "data" / "bad_ct.nii.gz").string());
    WriteImageFile(c.labels.GetPointer(), (dir / "data" / "bad_label.nii.gz").string());
    TrainerOptions o = TinyOptions(dir, train);
    o.trainingCases.push_back(
      { (dir / "data" / "bad_ct.nii.gz").string(), (dir / "data" / "bad_label.nii.gz").string() });
    expectError(o, "bad_label.nii.gz holds the value 3");
  }
  // A label image on another grid.
  {
    auto c = torchseg::testing::MakeSyntheticCase(4);
    auto other = torchseg::testing::MakeSyntheticCase(4, torchseg::testing::Orientation::Identity, 40, 36, 9);
    WriteImageFile(c.ct.GetPointer(), (dir / "data" / "grid_ct.nii.gz").string());
    WriteImageFile(other.labels.GetPointer(), (dir / "data" / "grid_label.nii.gz").string());
    TrainerOptions o = TinyOptions(dir, train);
    o.trainingCases.push_back(
      { (dir / "data" / "grid_ct.nii.gz").string(), (dir / "data" / "grid_label.nii.gz").string() });
    expectError(o, "grid_label.nii.gz does not match");
  }
  // A missing file.
  {
    TrainerOptions o = TinyOptions(dir, train);
    o.trainingCases.push_back(
      { (dir / "data" / "absent_ct.nii.gz").string(), (dir / "data" / "absent.nii.gz").string() });
    expectError(o, "absent_ct.nii.gz");
  }
  // Nonsense hyper-parameters, each named.
  auto hyper = [&](const std::function<void(TrainerOptions &)> & change, const std::string & expected) {
    TrainerOptions o = TinyOptions(dir, train);
    change(o);
    expectError(o, expected);
  };
  hyper([](TrainerOptions & o) { o.epochs = 0; }, "Epochs 0");
  hyper([](TrainerOptions & o) { o.learningRate = -0.1; }, "Learning rate -0.1");
  hyper([](TrainerOptions & o) { o.sampling.batchSize = 0; }, "Batch size 0");
  hyper([](TrainerOptions & o) { o.optimizer = "rmsprop"; }, "rmsprop");
  hyper([](TrainerOptions & o) { o.schedule = "step"; }, "step");
  hyper([](TrainerOptions & o) { o.sampling.patchSize[0] = -4; }, "Patch size -4");
  hyper([](TrainerOptions & o) { o.momentum = 1.5; }, "Momentum 1.5");
  hyper([](TrainerOptions & o) { o.classWeights = "1,2"; }, "2 class weights");
  hyper([](TrainerOptions & o) { o.classWeights = "heavy"; }, "heavy");
  hyper([](TrainerOptions & o) { o.network.architecture = "resnet"; }, "resnet");
  hyper([](TrainerOptions & o) { o.network.options["width"] = -3; }, "width");
  hyper([](TrainerOptions & o) { o.targetSpacing[0] = -1.0; }, "Target spacing -1");
  hyper([](TrainerOptions & o) { o.sampling.foregroundFraction = 2.0; }, "Foreground fraction 2");
  hyper([&](TrainerOptions & o) { o.outputModel = (dir / "missing" / "model.pt").string(); }, "does not exist");
  hyper([&](TrainerOptions & o) { o.resumeCheckpoint = train.string(); }, "not a TorchSeg training checkpoint");
  hyper([](TrainerOptions & o) { o.trainingCases.clear(); }, "No training case");
}
