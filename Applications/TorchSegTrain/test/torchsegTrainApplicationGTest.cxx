// TorchSegTrain run as a program: a short training on synthetic cases (model, checkpoint, logs, return parameters),
// the same model after kill -9 and --resume as without interruption, every bad input (one stderr line naming the file
// or value, non-zero exit, nothing written), and distributed training: two processes launched as torchrun would, their
// resumed run, and a process that dies or hangs stopping the other with an error.
#include "torchsegDistributedContext.h"
#include "torchsegModel.h"
#include "torchsegSyntheticCases.h"
#include "torchsegTestProcesses.h"
#include "torchsegTestingSupport.h"

#include <nlohmann/json.hpp>
#include <torch/serialize/input-archive.h>
#include <torch/torch.h>

#include "gtest/gtest.h"

#include <chrono>
#include <csignal>
#include <filesystem>
#include <cmath>
#include <fstream>
#include <map>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using torchseg::testing::Quote;
using torchseg::testing::ReadText;
using torchseg::testing::OutputPath;
using torchseg::testing::RunCommand;

namespace
{

std::string
Train()
{
  return torchseg::testing::ApplicationPath("TorchSegTrain").string();
}

// Flags of a tiny, fast run.
std::string
TinyFlags()
{
  return " --architecture unet2d --width 4 --depth 3 --spacing 0,0,0 --patchSize 32,32 --batchSize 4 --sliceContext 1"
         " --epochs 3 --iterationsPerEpoch 5 --learningRate 0.01 --numberOfThreads 2 --numberOfWorkers 2 --seed 3";
}

// The data of the running test, written on first use (each test its own: ctest -j runs tests at once).
fs::path
Data()
{
  static std::map<std::string, fs::path> written;
  const std::string                      test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  if (!written.count(test))
  {
    const fs::path d = OutputPath("data");
    torchseg::testing::WriteSyntheticCases(d, { 1, 2, 3 }, "train.csv");
    torchseg::testing::WriteSyntheticCases(d, { 7 }, "validation.csv", torchseg::testing::Orientation::Oblique);
    written[test] = d;
  }
  return written[test];
}

std::vector<torch::Tensor>
ModelWeights(const fs::path & path)
{
  const torchseg::Model      model = torchseg::Model::Load(path.string());
  std::vector<torch::Tensor> w;
  for (const auto & p : model.GetNetwork()->named_parameters())
  {
    w.push_back(p.value().detach().clone());
  }
  return w;
}

bool
SameWeights(const std::vector<torch::Tensor> & a, const std::vector<torch::Tensor> & b)
{
  if (a.size() != b.size() || a.empty())
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

int64_t
CheckpointEpoch(const fs::path & path)
{
  torch::serialize::InputArchive archive;
  archive.load_from(path.string());
  c10::IValue epoch;
  archive.read("epoch", epoch);
  return epoch.toInt();
}

} // namespace

TEST(TorchSegTrain, TrainsAndWritesModelCheckpointLogsAndReturnParameters)
{
  const fs::path dir = OutputPath("run");
  fs::create_directories(dir);
  std::string output;
  const int   code =
    RunCommand(Train() + " --trainList " + Quote(Data() / "train.csv") + " --validationList " +
                 Quote(Data() / "validation.csv") + " --outputModel " + Quote(dir / "model.pt") + " --logFile " +
                 Quote(dir / "log.csv") + " --returnparameterfile " + Quote(dir / "return.txt") + TinyFlags(),
               &output);
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("epoch 3/3"), std::string::npos) << output;
  EXPECT_NE(output.find("<filter-end>"), std::string::npos) << output;
  const torchseg::Model model = torchseg::Model::Load((dir / "model.pt").string());
  EXPECT_EQ(model.GetMetadata().network.inputChannels, 3);
  EXPECT_EQ(model.GetMetadata().classes.GetName(2), "tumour");
  EXPECT_TRUE(fs::exists(dir / "model.pt.checkpoint"));
  EXPECT_EQ(CheckpointEpoch(dir / "model.pt.checkpoint"), 3);
  const std::string csv = ReadText(dir / "log.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4) << csv;
  EXPECT_EQ(csv.rfind("epoch,trainLoss,learningRate,validationMeanDice,validationDice_liver,validationDice_tumour,", 0),
            0u);
  EXPECT_EQ(nlohmann::json::parse(ReadText(dir / "log.json"))["epochs"].size(), 3u);
  const std::string returned = ReadText(dir / "return.txt");
  EXPECT_NE(returned.find("bestEpoch = "), std::string::npos) << returned;
  EXPECT_NE(returned.find("bestValidationDice = "), std::string::npos) << returned;
  const auto & provenance = model.GetMetadata().provenance;
  EXPECT_EQ(provenance.at("modelSelection"), "best");
  EXPECT_EQ(provenance.at("modelEpoch"), provenance.at("bestEpoch"));
  EXPECT_NE(output.find("Wrote " + (dir / "model.pt").string() + " (epoch " +
                        std::to_string(provenance.at("bestEpoch").get<int>()) + ", the best validated)"),
            std::string::npos)
    << output;
  // Nothing else appeared beside the outputs.
  for (const auto & entry : fs::directory_iterator(dir))
  {
    const std::string name = entry.path().filename().string();
    EXPECT_TRUE(name == "model.pt" || name == "model.pt.checkpoint" || name == "log.csv" || name == "log.json" ||
                name == "return.txt")
      << name;
  }
}

TEST(TorchSegTrain, ModelSelectionLastKeepsTheFinalWeights)
{
  // With --modelSelection last the model holds the final weights whatever the validation says: the same weights as
  // a run without validation cases (which keeps the last ones), and its provenance says so.
  const fs::path dir = OutputPath("last");
  fs::create_directories(dir);
  const std::string flags = " --trainList " + Quote(Data() / "train.csv") + TinyFlags() + " --numberOfThreads 1";
  std::string       output;
  ASSERT_EQ(RunCommand(Train() + flags + " --validationList " + Quote(Data() / "validation.csv") +
                         " --modelSelection last --outputModel " + Quote(dir / "last.pt") + " --logFile " +
                         Quote(dir / "last.csv"),
                       &output),
            0)
    << output;
  EXPECT_NE(output.find("(epoch 3, the last)"), std::string::npos) << output;
  ASSERT_EQ(RunCommand(Train() + flags + " --outputModel " + Quote(dir / "unvalidated.pt"), &output), 0) << output;
  const torchseg::Model last = torchseg::Model::Load((dir / "last.pt").string());
  const torchseg::Model unvalidated = torchseg::Model::Load((dir / "unvalidated.pt").string());
  EXPECT_EQ(last.GetMetadata().provenance.at("modelEpoch"), 3);
  EXPECT_EQ(last.GetMetadata().provenance.at("modelSelection"), "last");
  // Its validation Dice is that of epoch 3 (the weights in the file), the best epoch's is kept beside it.
  const nlohmann::json   log = nlohmann::json::parse(ReadText(dir / "last.json"));
  const nlohmann::json & provenance = last.GetMetadata().provenance;
  ASSERT_EQ(log.at("epochs").size(), 3u);
  EXPECT_EQ(provenance.at("validationDice"), log.at("epochs")[2].at("validationDice"));
  const int best = provenance.at("bestEpoch").get<int>();
  ASSERT_GE(best, 1);
  EXPECT_EQ(provenance.at("bestValidationDice"), log.at("epochs")[best - 1].at("validationDice"));
  const auto a = last.GetNetwork()->named_parameters();
  const auto b = unvalidated.GetNetwork()->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto & item : a)
  {
    EXPECT_TRUE(torch::equal(item.value(), b[item.key()])) << item.key();
  }
  // Anything else is refused before training.
  std::string error;
  EXPECT_EQ(RunCommand("{ " + Train() + flags + " --modelSelection newest --outputModel " + Quote(dir / "x.pt") +
                         " 2>&1 >/dev/null; }",
                       &error),
            2)
    << error;
  EXPECT_NE(error.find("newest"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(dir / "x.pt"));
}

TEST(TorchSegTrain, KilledAndResumedEqualsUninterrupted)
{
  const fs::path dir = OutputPath("kill");
  fs::create_directories(dir / "whole");
  fs::create_directories(dir / "part");
  const std::string flags = " --trainList " + Quote(Data() / "train.csv") + TinyFlags() +
                            " --epochs 6 --iterationsPerEpoch 12 --numberOfThreads 1";
  std::string output;
  ASSERT_EQ(RunCommand(Train() + flags + " --outputModel " + Quote(dir / "whole" / "model.pt"), &output), 0) << output;

  // The same run, killed with SIGKILL once its first checkpoint exists.
  const fs::path checkpoint = dir / "part" / "model.pt.checkpoint";
  const pid_t    child = fork();
  ASSERT_GE(child, 0);
  if (child == 0)
  {
    const std::string command =
      "exec " + Train() + flags + " --outputModel " + Quote(dir / "part" / "model.pt") + " > /dev/null 2>&1";
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char *>(nullptr));
    _exit(127);
  }
  const auto start = std::chrono::steady_clock::now();
  while (!fs::exists(checkpoint) && std::chrono::steady_clock::now() - start < std::chrono::seconds(120))
  {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the training ended before it could be killed";
  const int64_t done = CheckpointEpoch(checkpoint);
  EXPECT_GE(done, 1);
  EXPECT_LT(done, 6);

  ASSERT_EQ(RunCommand(Train() + flags + " --outputModel " + Quote(dir / "part" / "model.pt") + " --resume " +
                         Quote(checkpoint),
                       &output),
            0)
    << output;
  EXPECT_NE(output.find("Resuming"), std::string::npos) << output;
  EXPECT_EQ(CheckpointEpoch(checkpoint), 6);
  EXPECT_TRUE(SameWeights(ModelWeights(dir / "whole" / "model.pt"), ModelWeights(dir / "part" / "model.pt")));
  // No temporary file was left behind by the killed run's atomic writes... except at most the one it was writing.
  int temporaries = 0;
  for (const auto & entry : fs::directory_iterator(dir / "part"))
  {
    temporaries += entry.path().filename().string().find(".tmp") != std::string::npos ? 1 : 0;
  }
  EXPECT_LE(temporaries, 1);
}

TEST(TorchSegTrain, BadInputsFailWithOneLineNamingTheFaultAndWriteNothing)
{
  const fs::path dir = OutputPath("bad");
  fs::create_directories(dir);
  // Prepared bad data.
  std::ofstream(dir / "empty.csv") << "image,label\n";
  std::ofstream(dir / "header.csv") << "ct,mask\na,b\n";
  std::ofstream(dir / "missing.csv") << "image,label\nnowhere_ct.nii.gz,nowhere_label.nii.gz\n";
  {
    auto c = torchseg::testing::MakeSyntheticCase(5);
    c.labels->SetPixel({ { 2, 2, 2 } }, 7);
    torchseg::WriteImageFile(c.ct.GetPointer(), (dir / "seven_ct.nii.gz").string());
    torchseg::WriteImageFile(c.labels.GetPointer(), (dir / "seven_label.nii.gz").string());
    std::ofstream(dir / "seven.csv") << "image,label\nseven_ct.nii.gz,seven_label.nii.gz\n";
    auto other = torchseg::testing::MakeSyntheticCase(5, torchseg::testing::Orientation::Flipped);
    torchseg::WriteImageFile(other.labels.GetPointer(), (dir / "flipped_label.nii.gz").string());
    std::ofstream(dir / "mismatch.csv") << "image,label\nseven_ct.nii.gz,flipped_label.nii.gz\n";
    std::ofstream(dir / "notanimage_ct.nii.gz") << "this is not NIfTI";
    std::ofstream(dir / "corrupt.csv") << "image,label\nnotanimage_ct.nii.gz,seven_label.nii.gz\n";
    std::ofstream(dir / "fake.checkpoint") << "not a checkpoint";
  }
  const std::string good = " --trainList " + Quote(Data() / "train.csv");
  const std::string model = " --outputModel " + Quote(dir / "model.pt");
  struct Case
  {
    std::string arguments;
    std::string expected; // in the one stderr line
  };
  const std::vector<Case> cases{
    { " --trainList " + Quote(dir / "absent.csv") + model, "absent.csv" },
    { " --trainList " + Quote(dir / "empty.csv") + model, "empty.csv" },
    { " --trainList " + Quote(dir / "header.csv") + model, "header.csv" },
    { " --trainList " + Quote(dir / "missing.csv") + model, "nowhere_ct.nii.gz" },
    { " --trainList " + Quote(dir / "seven.csv") + model, "seven_label.nii.gz holds the value 7" },
    { " --trainList " + Quote(dir / "mismatch.csv") + model, "flipped_label.nii.gz" },
    { " --trainList " + Quote(dir / "corrupt.csv") + model, "notanimage_ct.nii.gz" },
    { good + " --validationList " + Quote(dir / "seven.csv") + model, "seven_label.nii.gz" },
    { good, "--outputModel" },
    { good + " --outputModel " + Quote(dir / "nodir" / "model.pt"), "nodir" },
    { good + model + " --epochs 0", "Epochs 0" },
    { good + model + " --learningRate -1", "-1" },
    { good + model + " --batchSize 0", "Batch size 0" },
    { good + model + " --iterationsPerEpoch -2", "-2" },
    { good + model + " --patchSize 0,-5", "-5" },
    { good + model + " --spacing 1,1", "--spacing" },
    { good + model + " --architecture resnet", "resnet" },
    { good + model + " --width -3", "width" },
    { good + model + " --architecture fcn8s --backbone unknownnet", "unknownnet" },
    { good + model + " --backbone resnet18", "backbone" },
    { good + model + " --classWeights 1,2", "2 class weights" },
    { good + model + " --loss dice --classWeights auto", "dice" },
    { good + model + " --momentum 2 --optimizer sgd", "Momentum 2" },
    { good + model + " --foregroundFraction 1.5", "1.5" },
    { good + model + " --resume " + Quote(dir / "absent.checkpoint"), "absent.checkpoint" },
    { good + model + " --resume " + Quote(dir / "fake.checkpoint"), "fake.checkpoint" },
    { good + model + " --networkOptions '{broken'", "networkOptions" },
    { good + model + " --sliceContext -1", "Slice context -1" },
  };
  for (const auto & c : cases)
  {
    SCOPED_TRACE(c.arguments);
    std::string output;
    // stderr only: Slicer progress tags go to stdout.
    const int code = RunCommand("( " + Train() + c.arguments + " 2>&1 >/dev/null )", &output);
    EXPECT_NE(code, 0);
    EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << output;
    EXPECT_NE(output.find(c.expected), std::string::npos) << output;
    EXPECT_NE(output.find("TorchSegTrain: error: "), std::string::npos) << output;
    EXPECT_FALSE(fs::exists(dir / "model.pt"));
    EXPECT_FALSE(fs::exists(dir / "model.pt.checkpoint"));
  }
}

namespace
{

// Two TorchSegTrain processes on 127.0.0.1, given their ranks as torchrun would (environment variables; rank 1's
// RANK may be overridden by its own flags); rank 1's outputs go to another directory, which must stay empty.
struct TwoProcesses
{
  pid_t    pid[2] = { -1, -1 };
  fs::path log[2];

  TwoProcesses(const fs::path & dir, const std::string & flags, const std::string & rank1Flags = std::string(),
               const std::string & rank1Environment = "1")
  {
    const int port = torchseg::testing::FreePort();
    for (int r = 0; r < 2; ++r)
    {
      fs::create_directories(dir / ("rank" + std::to_string(r)));
      log[r] = dir / ("rank" + std::to_string(r) + ".txt");
      const std::string environment = "env MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) +
                                      " WORLD_SIZE=2 RANK=" + (r == 1 ? rank1Environment : std::string("0")) +
                                      " LOCAL_RANK=" + std::to_string(r);
      pid[r] = torchseg::testing::StartProcess(environment + " " + Train() + flags + " --outputModel " +
                                                 Quote(dir / ("rank" + std::to_string(r)) / "model.pt") +
                                                 (r == 1 ? rank1Flags : std::string()),
                                               log[r]);
    }
  }
  int
  Wait(int r, double seconds)
  {
    const int code = torchseg::testing::WaitProcess(pid[r], seconds);
    if (code >= 0)
    {
      pid[r] = -1;
    }
    return code;
  }
  ~TwoProcesses()
  {
    for (pid_t p : pid)
    {
      if (p > 0)
      {
        torchseg::testing::KillProcess(p);
      }
    }
  }
};

bool
WaitForFile(const fs::path & path, double seconds)
{
  const auto start = std::chrono::steady_clock::now();
  while (!fs::exists(path))
  {
    if (std::chrono::steady_clock::now() - start > std::chrono::duration<double>(seconds))
    {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

} // namespace

TEST(TorchSegTrain, TwoProcessesLaunchedLikeTorchrunTrainOneModelAndResumeExactly)
{
  if (!torchseg::DistributedContext::IsAvailable())
  {
    GTEST_SKIP() << "built without LibTorch's Gloo backend (libgloo-dev)";
  }
  const fs::path    dir = OutputPath("distributed");
  const std::string flags = " --trainList " + Quote(Data() / "train.csv") + " --validationList " +
                            Quote(Data() / "validation.csv") + TinyFlags() +
                            " --numberOfThreads 1 --schedule constant --distributedTimeout 120";
  // Uninterrupted: 4 epochs. Rank 1's environment says rank 7: its --rank flag overrides it.
  {
    TwoProcesses run(
      dir / "whole", flags + " --epochs 4 --logFile " + Quote(dir / "whole" / "log.csv"), " --rank 1", "7");
    ASSERT_EQ(run.Wait(0, 300), 0) << ReadText(run.log[0]);
    ASSERT_EQ(run.Wait(1, 60), 0) << ReadText(run.log[1]);
    const std::string output = ReadText(run.log[0]);
    EXPECT_NE(output.find("2 processes, 8 samples per step"), std::string::npos) << output;
    EXPECT_NE(output.find("epoch 4/4"), std::string::npos) << output;
    // Rank 1 reports only its own lines, and wrote nothing.
    const std::string other = ReadText(run.log[1]);
    EXPECT_EQ(other.find("epoch "), std::string::npos) << other;
    EXPECT_NE(other.find("rank 1: "), std::string::npos) << other;
    EXPECT_TRUE(fs::is_empty(dir / "whole" / "rank1"));
    EXPECT_EQ(CheckpointEpoch(dir / "whole" / "rank0" / "model.pt.checkpoint"), 4);
    const auto log = nlohmann::json::parse(ReadText(dir / "whole" / "log.json"));
    EXPECT_EQ(log["epochs"].size(), 4u);
    EXPECT_EQ(log["options"]["worldSize"], 2);
  }
  // Two epochs, then resumed to four: the same model. Only rank 0 reads the checkpoint (rank 1 is given a path that
  // does not exist on its "machine").
  {
    TwoProcesses run(dir / "part", flags + " --epochs 2");
    ASSERT_EQ(run.Wait(0, 300), 0) << ReadText(run.log[0]);
    ASSERT_EQ(run.Wait(1, 60), 0) << ReadText(run.log[1]);
  }
  {
    TwoProcesses run(dir / "part",
                     flags + " --epochs 4 --resume " + Quote(dir / "part" / "rank0" / "model.pt.checkpoint"),
                     " --resume " + Quote(dir / "nowhere" / "model.pt.checkpoint"));
    ASSERT_EQ(run.Wait(0, 300), 0) << ReadText(run.log[0]);
    ASSERT_EQ(run.Wait(1, 60), 0) << ReadText(run.log[1]);
    EXPECT_NE(ReadText(run.log[0]).find("Resuming"), std::string::npos);
  }
  EXPECT_EQ(CheckpointEpoch(dir / "part" / "rank0" / "model.pt.checkpoint"), 4);
  EXPECT_TRUE(
    SameWeights(ModelWeights(dir / "whole" / "rank0" / "model.pt"), ModelWeights(dir / "part" / "rank0" / "model.pt")));
  // A resumed run must keep the world size.
  std::string output;
  EXPECT_NE(RunCommand(Train() + flags + " --epochs 5 --outputModel " + Quote(dir / "single.pt") + " --resume " +
                         Quote(dir / "part" / "rank0" / "model.pt.checkpoint"),
                       &output),
            0);
  EXPECT_NE(output.find("worldSize"), std::string::npos) << output;
}

TEST(TorchSegTrain, AProcessThatDiesStopsTheOtherAtOnceWithAnError)
{
  if (!torchseg::DistributedContext::IsAvailable())
  {
    GTEST_SKIP() << "built without LibTorch's Gloo backend (libgloo-dev)";
  }
  const fs::path    dir = OutputPath("distributed-kill");
  const std::string flags = " --trainList " + Quote(Data() / "train.csv") + TinyFlags() +
                            " --numberOfThreads 1 --epochs 100000 --distributedTimeout 120";
  for (int victim : { 1, 0 })
  {
    SCOPED_TRACE(victim);
    const fs::path sub = dir / std::to_string(victim);
    TwoProcesses   run(sub, flags);
    // Once training is under way (a checkpoint written), one process is killed.
    ASSERT_TRUE(WaitForFile(sub / "rank0" / "model.pt.checkpoint", 300)) << ReadText(run.log[0]);
    torchseg::testing::KillProcess(run.pid[victim]);
    run.pid[victim] = -1;
    const auto start = std::chrono::steady_clock::now();
    const int  survivor = 1 - victim;
    const int  code = run.Wait(survivor, 60);
    const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(code, 1) << ReadText(run.log[survivor]);
    // A dead peer closes its connections: no need to wait for the 120 s timeout.
    EXPECT_LT(seconds, 30.0);
    const std::string output = ReadText(run.log[survivor]);
    EXPECT_NE(output.find("TorchSegTrain: error: Distributed training, rank " + std::to_string(survivor) + " of 2: "),
              std::string::npos)
      << output;
    EXPECT_NE(output.find("failed"), std::string::npos) << output;
  }
}

TEST(TorchSegTrain, AProcessThatHangsStopsTheOtherAfterTheTimeout)
{
  if (!torchseg::DistributedContext::IsAvailable())
  {
    GTEST_SKIP() << "built without LibTorch's Gloo backend (libgloo-dev)";
  }
  const fs::path    dir = OutputPath("distributed-hang");
  const std::string flags = " --trainList " + Quote(Data() / "train.csv") + TinyFlags() +
                            " --numberOfThreads 1 --epochs 100000 --distributedTimeout 8";
  TwoProcesses run(dir, flags);
  ASSERT_TRUE(WaitForFile(dir / "rank0" / "model.pt.checkpoint", 300)) << ReadText(run.log[0]);
  kill(run.pid[1], SIGSTOP); // alive, connected, silent
  const auto        start = std::chrono::steady_clock::now();
  const int         code = run.Wait(0, 120);
  const auto        seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string output = ReadText(run.log[0]);
  EXPECT_EQ(code, 1) << output;
  EXPECT_GT(seconds, 6.0);  // not before the timeout
  EXPECT_LT(seconds, 40.0); // and not long after
  EXPECT_NE(output.find("Distributed training, rank 0 of 2: "), std::string::npos) << output;
  EXPECT_NE(output.find("8 s timeout"), std::string::npos) << output;
}

TEST(TorchSegTrain, ProcessesStartedWithOtherSettingsAreRefused)
{
  if (!torchseg::DistributedContext::IsAvailable())
  {
    GTEST_SKIP() << "built without LibTorch's Gloo backend (libgloo-dev)";
  }
  const fs::path dir = OutputPath("distributed-settings");
  TwoProcesses   run(dir,
                   " --trainList " + Quote(Data() / "train.csv") + TinyFlags() +
                     " --numberOfThreads 1 --distributedTimeout 120",
                   " --seed 4");
  for (int r = 0; r < 2; ++r)
  {
    const int         code = run.Wait(r, 120);
    const std::string output = ReadText(run.log[r]);
    EXPECT_EQ(code, 1) << output;
    EXPECT_NE(output.find("Distributed training, rank " + std::to_string(r) +
                          " of 2: the settings, training data or normalisation of rank 1 differ from rank 0's"),
              std::string::npos)
      << output;
  }
  EXPECT_FALSE(fs::exists(dir / "rank0" / "model.pt"));
}

// Issue 10: every newer architecture trains through TorchSegTrain by its name (tiny widths, two steps) and gives a
// model file that loads as that architecture with a finite training loss.
TEST(TorchSegTrain, TheNewerArchitecturesTrainByName)
{
  for (const std::string name : { "deeplabv1", "deeplabv2", "ducHdc", "denseaspp", "gcn", "refinenet" })
  {
    const fs::path dir = OutputPath(name);
    fs::create_directories(dir);
    const std::string backbone = name == "deeplabv1" ? " --backbone vgg11" : " --backbone resnet18";
    std::string       output;
    const int         code =
      RunCommand(Train() + " --trainList " + Quote(Data() / "train.csv") + " --outputModel " + Quote(dir / "model.pt") +
                   " --logFile " + Quote(dir / "log.csv") + " --architecture " + name + backbone +
                   " --width 4 --spacing 0,0,0 --patchSize 64,64 --batchSize 2 --epochs 1 --iterationsPerEpoch 2"
                   " --numberOfThreads 2 --numberOfWorkers 0 --seed 5",
                 &output);
    ASSERT_EQ(code, 0) << name << ": " << output;
    const torchseg::Model model = torchseg::Model::Load((dir / "model.pt").string());
    EXPECT_EQ(model.GetMetadata().network.architecture, name);
    const auto   log = nlohmann::json::parse(ReadText(dir / "log.json"));
    const double loss = log["epochs"][0]["trainLoss"].get<double>();
    EXPECT_TRUE(std::isfinite(loss) && loss > 0.0) << name << ": loss " << loss;
  }
}
