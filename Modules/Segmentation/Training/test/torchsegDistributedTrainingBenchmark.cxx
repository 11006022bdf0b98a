// Distributed training throughput on this machine: samples per second of TorchSegTrain with 1 and 2 processes (the
// default recipe's 2D U-Net, 192 x 192 crops), with the same total number of threads, and the cost of one gradient
// all-reduce between two processes.
//
//   TorchSegDistributedTrainingBenchmark [ROUNDS [ITERATIONS]]      (defaults 2 and 12)
//
// Each configuration trains 2 epochs of ITERATIONS steps on synthetic cases without validation; the figures are the
// second epoch's samples per second as rank 0's log reports it (all processes' samples), and the CPU time of all
// processes (whole runs, loading included) per trained sample, which other load on a shared machine disturbs less.
// Configurations are interleaved and repeated ROUNDS times.
#include "torchsegDistributedContext.h"
#include "torchsegSegmentationNetwork.h"
#include "torchsegSyntheticCases.h"
#include "torchsegTestProcesses.h"
#include "torchsegTestingSupport.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <sys/resource.h>

namespace fs = std::filesystem;
using torchseg::testing::FreePort;
using torchseg::testing::ReadText;
using torchseg::testing::StartProcess;
using torchseg::testing::WaitProcess;

namespace
{

struct Configuration
{
  std::string name;
  int         processes;
  int         threads; //!< per process
  int         batch;   //!< per process
};

// One rank of the all-reduce measurement: the gradients of the recipe's U-Net (1.94 M parameters), averaged 30 times.
int
AllReduceWorker()
{
  torchseg::NetworkOptions n;
  n.architecture = "unet2d";
  n.spatialDimensions = 2;
  n.inputChannels = 3;
  n.numberOfClasses = 3;
  n.options = { { "width", 16 }, { "depth", 5 } };
  auto network = torchseg::CreateNetwork(n);
  auto parameters = network->parameters();
  for (auto & p : parameters)
  {
    p.mutable_grad() = torch::randn_like(p);
  }
  torchseg::DistributedOptions o = torchseg::DistributedOptions::FromEnvironment();
  o.timeoutSeconds = 120;
  torchseg::DistributedContext context(o);
  int64_t                      bytes = 0;
  for (const auto & p : parameters)
  {
    bytes += p.numel() * 4;
  }
  context.AverageGradients(parameters); // warm-up
  const int  repeats = 30;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats; ++i)
  {
    context.AverageGradients(parameters);
  }
  const double ms = 1000.0 * std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / repeats;
  if (o.rank == 0)
  {
    std::cout << std::fixed << std::setprecision(1) << "all-reduce of " << bytes / 1.0e6
              << " MB of gradients (buckets of " << context.GetBucketBytes() / 1048576.0 << " MiB): " << ms
              << " ms per step" << std::endl;
  }
  return 0;
}

} // namespace

int
main(int argc, char * argv[])
{
  if (argc > 1 && std::string(argv[1]) == "--allReduceWorker")
  {
    return AllReduceWorker();
  }
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 2;
  const int iterations = argc > 2 ? std::atoi(argv[2]) : 12;
  if (!torchseg::DistributedContext::IsAvailable())
  {
    std::cerr << "built without LibTorch's Gloo backend (libgloo-dev): nothing to measure" << std::endl;
    return 1;
  }
  const fs::path dir = fs::path(TORCHSEG_TEST_OUTPUT_DIR) / "TorchSegDistributedTrainingBenchmark";
  fs::remove_all(dir);
  const fs::path train = torchseg::testing::WriteSyntheticCases(
    dir / "data", { 1, 2, 3, 4 }, "train.csv", torchseg::testing::Orientation::Identity, { { 256, 224, 16 } });
  const std::string self = (fs::path(TORCHSEG_BIN_DIR) / "TorchSegDistributedTrainingBenchmark").string();
  const std::string trainer = (fs::path(TORCHSEG_BIN_DIR) / "TorchSegTrain").string();

  // The all-reduce alone.
  {
    const std::string environment =
      "env MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(FreePort()) + " WORLD_SIZE=2 OMP_NUM_THREADS=1 ";
    const pid_t a = StartProcess(environment + "RANK=0 " + self + " --allReduceWorker", dir / "allreduce0.txt");
    const pid_t b = StartProcess(environment + "RANK=1 " + self + " --allReduceWorker", dir / "allreduce1.txt");
    WaitProcess(a, 300);
    WaitProcess(b, 60);
    std::cout << ReadText(dir / "allreduce0.txt");
  }

  const std::vector<Configuration> configurations{
    { "1 process x 2 threads, batch 8", 1, 2, 8 },
    { "2 processes x 1 thread, batch 4 each (same 8 per step)", 2, 1, 4 },
    { "2 processes x 1 thread, batch 8 each (16 per step)", 2, 1, 8 },
    { "1 process x 1 thread, batch 8", 1, 1, 8 },
  };
  std::map<std::string, std::vector<double>> results, cpuPerSample;
  for (int round = 0; round < rounds; ++round)
  {
    for (const auto & c : configurations)
    {
      const fs::path    out = dir / ("run" + std::to_string(round) + "-" + std::to_string(&c - configurations.data()));
      const std::string flags =
        " --trainList '" + train.string() + "' --architecture unet2d --width 16 --depth 5 --spacing 0,0,0" +
        " --sliceContext 1 --patchSize 192,192 --batchSize " + std::to_string(c.batch) + " --epochs 2" +
        " --iterationsPerEpoch " + std::to_string(iterations) + " --numberOfWorkers 1 --numberOfThreads " +
        std::to_string(c.threads) + " --seed 1 --distributedTimeout 600";
      const int          port = FreePort();
      std::vector<pid_t> pids;
      for (int r = 0; r < c.processes; ++r)
      {
        fs::create_directories(out / std::to_string(r));
        const std::string environment =
          "env OMP_WAIT_POLICY=PASSIVE MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) +
          " WORLD_SIZE=" + std::to_string(c.processes) + " RANK=" + std::to_string(r) + " ";
        pids.push_back(StartProcess(environment + trainer + flags + " --outputModel '" +
                                      (out / std::to_string(r) / "model.pt").string() + "' --logFile '" +
                                      (out / std::to_string(r) / "log.json").string() + "'",
                                    out / ("rank" + std::to_string(r) + ".txt")));
      }
      bool   ok = true;
      double cpu = 0.0;
      for (pid_t p : pids)
      {
        int    status = 0;
        rusage usage{};
        ok = wait4(p, &status, 0, &usage) == p && WIFEXITED(status) && WEXITSTATUS(status) == 0 && ok;
        cpu +=
          usage.ru_utime.tv_sec + 1e-6 * usage.ru_utime.tv_usec + usage.ru_stime.tv_sec + 1e-6 * usage.ru_stime.tv_usec;
      }
      if (!ok)
      {
        std::cerr << c.name << " failed:\n" << ReadText(out / "rank0.txt") << std::endl;
        return 1;
      }
      const auto log = nlohmann::json::parse(ReadText(out / "0" / "log.json"));
      results[c.name].push_back(log["epochs"][1]["samplesPerSecond"].get<double>());
      cpuPerSample[c.name].push_back(1000.0 * cpu / (2.0 * iterations * c.batch * c.processes));
    }
  }
  std::cout << "\n| Configuration (2D U-Net width 16, 192 x 192, 3 channels) | samples/s | CPU ms per sample |\n"
               "|---|---|---|\n";
  for (const auto & c : configurations)
  {
    const auto & v = results[c.name];
    const auto & u = cpuPerSample[c.name];
    std::cout << "| " << c.name << " | " << std::fixed << std::setprecision(2) << *std::min_element(v.begin(), v.end())
              << " - " << *std::max_element(v.begin(), v.end()) << " | " << std::setprecision(0)
              << *std::min_element(u.begin(), u.end()) << " - " << *std::max_element(u.begin(), u.end()) << " |\n";
  }
  return 0;
}
