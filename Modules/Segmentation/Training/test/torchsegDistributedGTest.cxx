// Distributed data-parallel training: the launch settings from the environment, and two training processes on
// 127.0.0.1 that end with identical weights, equal to one process training on the combined batches.
#include "torchsegDistributedContext.h"
#include "torchsegSyntheticCases.h"
#include "torchsegTestProcesses.h"
#include "torchsegTestingSupport.h"

#include <nlohmann/json.hpp>
#include <torch/serialize.h>
#include <torch/torch.h>

#include "gtest/gtest.h"

#include <cstdlib>
#include <optional>
#include <thread>

using namespace torchseg;
using torchseg::testing::OutputPath;
namespace fs = std::filesystem;
using torchseg::testing::Quote;

namespace
{

std::vector<torch::Tensor>
LoadWeights(const fs::path & path)
{
  std::vector<torch::Tensor> weights;
  torch::load(weights, path.string());
  return weights;
}

// Sets environment variables for the scope's lifetime.
class ScopedEnvironment
{
public:
  explicit ScopedEnvironment(const std::vector<std::pair<std::string, std::string>> & values)
  {
    for (const auto & [name, value] : values)
    {
      const char * old = std::getenv(name.c_str());
      m_Saved.push_back({ name, old ? std::optional<std::string>(old) : std::nullopt });
      setenv(name.c_str(), value.c_str(), 1);
    }
  }
  ~ScopedEnvironment()
  {
    for (const auto & [name, value] : m_Saved)
    {
      if (value)
      {
        setenv(name.c_str(), value->c_str(), 1);
      }
      else
      {
        unsetenv(name.c_str());
      }
    }
  }

private:
  std::vector<std::pair<std::string, std::optional<std::string>>> m_Saved;
};

} // namespace

TEST(DistributedOptions, TheLaunchersEnvironmentVariablesAreReadAndChecked)
{
  {
    ScopedEnvironment        environment({ { "MASTER_ADDR", "node17" },
                                           { "MASTER_PORT", "29611" },
                                           { "WORLD_SIZE", "8" },
                                           { "RANK", "5" },
                                           { "LOCAL_RANK", "1" },
                                           { "LOCAL_WORLD_SIZE", "2" },
                                           { "GLOO_SOCKET_IFNAME", "eth1" },
                                           { "TORCHELASTIC_USE_AGENT_STORE", "True" },
                                           { "TORCHELASTIC_RESTART_COUNT", "3" } });
    const DistributedOptions o = DistributedOptions::FromEnvironment();
    EXPECT_EQ(o.masterAddress, "node17");
    EXPECT_EQ(o.masterPort, 29611);
    EXPECT_EQ(o.worldSize, 8);
    EXPECT_EQ(o.rank, 5);
    EXPECT_EQ(o.localRank, 1);
    EXPECT_EQ(o.socketInterface, "eth1");
    // torchrun's static rendezvous hosts the store itself; a restarted attempt must not see the keys of the last.
    EXPECT_TRUE(o.useLauncherStore);
    EXPECT_EQ(o.storePrefix, "torchseg/attempt_3");
    EXPECT_EQ(o.GetDefaultNumberOfThreads(), std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / 2));
    EXPECT_TRUE(o.IsDistributed());
    EXPECT_NO_THROW(o.Validate());
  }
  {
    ScopedEnvironment environment({ std::pair<std::string, std::string>{ "WORLD_SIZE", "two" } });
    try
    {
      DistributedOptions::FromEnvironment();
      ADD_FAILURE() << "no error";
    }
    catch (const itk::ExceptionObject & e)
    {
      EXPECT_NE(std::string(e.GetDescription()).find("WORLD_SIZE=\"two\""), std::string::npos) << e.GetDescription();
    }
  }
  auto message = [](DistributedOptions o) {
    try
    {
      o.Validate();
    }
    catch (const itk::ExceptionObject & e)
    {
      return std::string(e.GetDescription());
    }
    return std::string();
  };
  DistributedOptions o;
  o.worldSize = 2;
  o.rank = 2;
  EXPECT_NE(message(o).find("Rank 2 is not in 0..1"), std::string::npos) << message(o);
  o.rank = 1;
  o.masterPort = 70000;
  EXPECT_NE(message(o).find("Master port 70000"), std::string::npos) << message(o);
  o.masterPort = 29500;
  o.timeoutSeconds = 0.0;
  EXPECT_NE(message(o).find("timeout 0"), std::string::npos) << message(o);
  EXPECT_FALSE(DistributedOptions().IsDistributed());
}

TEST(DistributedContext, ASingleProcessNeedsNoPeers)
{
  DistributedContext context(DistributedOptions{});
  EXPECT_EQ(context.GetWorldSize(), 1);
  torch::Tensor t = torch::tensor({ 1.0, 2.0 });
  context.Sum(t);
  EXPECT_TRUE(torch::equal(t, torch::tensor({ 1.0, 2.0 })));
  EXPECT_EQ(context.AllGather(t).size(), 1u);
  EXPECT_EQ(context.BroadcastBytes("abc"), "abc");
  EXPECT_NO_THROW(context.CheckSameOnEveryRank(42, "nothing"));
}

// The acceptance test. Two processes (rank 0 and 1, batches of 4 each) and one process with batches of 8 made
// of the same two case shards train the same tiny U-Net (instance normalisation, per-sample Dice + cross-entropy,
// SGD) for 12 steps with validation: both ranks end bitwise equal, and equal to the single process within 1e-5.
TEST(DistributedContext, TwoProcessesEndWithIdenticalWeightsEqualToOneProcessOverTheCombinedBatch)
{
  if (!DistributedContext::IsAvailable())
  {
    GTEST_SKIP() << "built without LibTorch's Gloo backend (libgloo-dev)";
  }
  const fs::path    dir = OutputPath("two");
  const fs::path    train = torchseg::testing::WriteSyntheticCases(dir / "data", { 1, 2, 3, 4, 5 }, "train.csv");
  const fs::path    validation = torchseg::testing::WriteSyntheticCases(dir / "data", { 8, 9, 10 }, "validation.csv");
  const std::string worker = (fs::path(TORCHSEG_BIN_DIR) / "torchsegDistributedTrainingWorker").string();
  const int         port = torchseg::testing::FreePort();
  ASSERT_GT(port, 0);
  auto start = [&](const std::string & name, const std::string & environment, int batch, int shards) {
    fs::create_directories(dir / name);
    return torchseg::testing::StartProcess("env " + environment + " " + worker + " " + Quote(train) + " " +
                                             Quote(validation) + " " + Quote(dir / name) + " " + std::to_string(batch) +
                                             " " + std::to_string(shards),
                                           dir / (name + ".txt"));
  };
  const std::string master = "MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) + " WORLD_SIZE=2 ";
  const pid_t       rank0 = start("rank0", master + "RANK=0 LOCAL_RANK=0", 4, 1);
  const pid_t       rank1 = start("rank1", master + "RANK=1 LOCAL_RANK=1", 4, 1);
  const pid_t       single = start("single", "WORLD_SIZE=1 RANK=0", 8, 2);
  for (const auto & [pid, name] : { std::pair{ rank0, "rank0" }, { rank1, "rank1" }, { single, "single" } })
  {
    const int code = torchseg::testing::WaitProcess(pid, 400.0);
    if (code < 0)
    {
      torchseg::testing::KillProcess(pid);
    }
    EXPECT_EQ(code, 0) << name << ":\n" << torchseg::testing::ReadText(dir / (std::string(name) + ".txt"));
  }
  ASSERT_TRUE(fs::exists(dir / "rank0" / "weights-rank0.pt"));
  ASSERT_TRUE(fs::exists(dir / "rank1" / "weights-rank1.pt"));
  ASSERT_TRUE(fs::exists(dir / "single" / "weights-rank0.pt"));

  const auto a = LoadWeights(dir / "rank0" / "weights-rank0.pt");
  const auto b = LoadWeights(dir / "rank1" / "weights-rank1.pt");
  const auto s = LoadWeights(dir / "single" / "weights-rank0.pt");
  ASSERT_EQ(a.size(), b.size());
  ASSERT_EQ(a.size(), s.size());
  double difference = 0.0, change = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i)
  {
    EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i << " differs between the ranks";
    difference = std::max(difference, (a[i] - s[i]).abs().max().item<double>());
    change = std::max(change, s[i].abs().max().item<double>());
  }
  std::cout << "largest difference to the single process: " << difference << std::endl;
  EXPECT_LE(difference, 1e-5);
  EXPECT_GT(change, 0.0);

  // Rank 0 wrote the model, the checkpoint and the log; rank 1 nothing but the test's weights.
  EXPECT_TRUE(fs::exists(dir / "rank0" / "model.pt"));
  EXPECT_TRUE(fs::exists(dir / "rank0" / "model.pt.checkpoint"));
  EXPECT_TRUE(fs::exists(dir / "rank0" / "log.csv"));
  for (const auto & entry : fs::directory_iterator(dir / "rank1"))
  {
    EXPECT_EQ(entry.path().filename(), "weights-rank1.pt");
  }
  // The logged losses are those of the whole batches, the validation Dice that of all cases (shared out).
  const auto distributed = nlohmann::json::parse(torchseg::testing::ReadText(dir / "rank0" / "log.json"));
  const auto reference = nlohmann::json::parse(torchseg::testing::ReadText(dir / "single" / "log.json"));
  ASSERT_EQ(distributed["epochs"].size(), 3u);
  for (std::size_t e = 0; e < 3; ++e)
  {
    EXPECT_NEAR(
      distributed["epochs"][e]["trainLoss"].get<double>(), reference["epochs"][e]["trainLoss"].get<double>(), 1e-5);
    // Weights within 1e-5 could flip a voxel's class, which moves a Dice by about 1e-3.
    EXPECT_NEAR(distributed["epochs"][e]["validationMeanDice"].get<double>(),
                reference["epochs"][e]["validationMeanDice"].get<double>(),
                5e-3);
  }
  EXPECT_EQ(distributed["options"]["worldSize"], 2);
}
