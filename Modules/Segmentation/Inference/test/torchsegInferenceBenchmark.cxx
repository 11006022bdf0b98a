// End-to-end inference benchmark: a 512 x 512 x 200 phantom CT segmented by TorchSegPredict (read, preprocess,
// network, resample, write) with a 2D U-Net, its wall time and peak memory (getrusage of the child process), the
// network's achieved GFLOP/s against the measured 2048^2 GEMM peak, and a stage breakdown measured in this process.
//
//   TorchSegInferenceBenchmark [--size 512] [--slices 200] [--numberOfThreads 0] [--width 16] [--model model.pt]
//                              [--directory DIR] [--tta] [--endToEndOnly]
//
// Without --model it uses the shipped default model when it exists, else a U-Net with random weights (the timing
// does not depend on the weights).
#include "torchsegAbdominalCTPhantomSource.h"
#include "torchsegImageIO.h"
#include "torchsegModel.h"
#include "torchsegNetworkLayers.h"
#include "torchsegSegmentationFilter.h"
#include "torchsegTensorBridge.h"
#include "torchsegThreads.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace
{

double
Seconds(std::chrono::steady_clock::time_point start)
{
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/** CPU seconds (user + system) of this process, or of its waited-for children. */
double
CPUSeconds(int who)
{
  struct rusage usage;
  ::getrusage(who, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

/** GFLOP/s of a 2048^2 float32 matrix product: per wall-clock second, and per CPU second of this process. */
std::pair<double, double>
GemmPeak()
{
  c10::InferenceMode guard;
  const auto         a = torch::randn({ 2048, 2048 });
  const auto         b = torch::randn({ 2048, 2048 });
  for (int i = 0; i < 2; ++i)
  {
    torch::mm(a, b);
  }
  const int    repeats = 5;
  const double cpu = CPUSeconds(RUSAGE_SELF);
  const auto   start = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats; ++i)
  {
    torch::mm(a, b);
  }
  const double flop = 2.0 * 2048.0 * 2048.0 * 2048.0 * repeats;
  return { flop / Seconds(start) / 1e9, flop / (CPUSeconds(RUSAGE_SELF) - cpu) / 1e9 };
}

struct ChildRun
{
  double seconds = 0.0;
  double cpuSeconds = 0.0;
  double peakMB = 0.0;
};

/** Runs \a arguments as a child process: its wall time, CPU time and peak resident memory. */
ChildRun
RunChild(const std::vector<std::string> & arguments)
{
  std::vector<char *> argv;
  for (const auto & a : arguments)
  {
    argv.push_back(const_cast<char *>(a.c_str()));
  }
  argv.push_back(nullptr);
  const auto  start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0)
  {
    ::execv(argv[0], argv.data());
    std::perror("execv");
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  const double seconds = Seconds(start);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
  {
    std::cerr << arguments[0] << " failed" << std::endl;
    std::exit(1);
  }
  struct rusage usage;
  ::getrusage(RUSAGE_CHILDREN, &usage);
  return { seconds, CPUSeconds(RUSAGE_CHILDREN), static_cast<double>(usage.ru_maxrss) / 1024.0 };
}

} // namespace

int
main(int argc, char * argv[])
{
  unsigned int size = 512, slices = 200;
  int          threads = 0, width = 16;
  std::string  modelPath, directory = (fs::path(TORCHSEG_TEST_OUTPUT_DIR) / "InferenceBenchmark").string();
  bool         tta = false, endToEndOnly = false;
  for (int i = 1; i < argc; ++i)
  {
    const std::string a = argv[i];
    const bool        hasValue = i + 1 < argc;
    if (a == "--size" && hasValue)
      size = static_cast<unsigned int>(std::stoi(argv[++i]));
    else if (a == "--slices" && hasValue)
      slices = static_cast<unsigned int>(std::stoi(argv[++i]));
    else if (a == "--numberOfThreads" && hasValue)
      threads = std::stoi(argv[++i]);
    else if (a == "--width" && hasValue)
      width = std::stoi(argv[++i]);
    else if (a == "--model" && hasValue)
      modelPath = argv[++i];
    else if (a == "--directory" && hasValue)
      directory = argv[++i];
    else if (a == "--tta")
      tta = true;
    else if (a == "--endToEndOnly")
      endToEndOnly = true;
    else
    {
      std::cerr
        << "usage: " << argv[0]
        << " [--size 512] [--slices 200] [--numberOfThreads 0] [--width 16] [--model model.pt] [--directory DIR]"
           " [--tta] [--endToEndOnly]"
        << std::endl;
      return 2;
    }
  }
  threads = torchseg::SetTorchNumberOfThreads(threads);
  torchseg::SetITKNumberOfThreads(threads);
  fs::create_directories(directory);
  const std::string ctPath = (fs::path(directory) / "ct.nii.gz").string();
  const std::string labelPath = (fs::path(directory) / "labels.nii.gz").string();

  std::cout << "threads " << threads << "\n";
  const auto [peak, peakPerCPU] = GemmPeak();
  std::cout << "GEMM 2048^2 float32: " << peak << " GFLOP/s (" << peakPerCPU << " GFLOP per CPU second)\n";

  // The CT: a phantom case, axial, written as the user would have it.
  {
    const auto                       start = std::chrono::steady_clock::now();
    auto                             phantom = torchseg::AbdominalCTPhantomSource::New();
    torchseg::PhantomSamplingOptions sampling;
    sampling.size = size;
    sampling.numberOfSlices = slices;
    sampling.axialOnly = true;
    phantom->SetSeed(2026);
    phantom->SetSamplingOptions(sampling);
    phantom->Update();
    torchseg::WriteImageFile(phantom->GetCTOutput(), ctPath);
    std::cout << "phantom " << size << "x" << size << "x" << slices << " spacing "
              << phantom->GetCTOutput()->GetSpacing() << " written in " << Seconds(start) << " s\n";
  }

  // The model: given, shipped, or a U-Net with random weights.
  const fs::path shipped = fs::path(TORCHSEG_DATA_DIR) / "Models" / "torchseg-liver-default.pt";
  if (modelPath.empty() && fs::exists(shipped))
  {
    modelPath = shipped.string();
  }
  if (modelPath.empty())
  {
    torchseg::NetworkOptions options;
    options.architecture = "unet2d";
    options.inputChannels = 1;
    options.numberOfClasses = 3;
    options.options["width"] = width;
    auto                    network = torchseg::CreateNetwork(options);
    torchseg::ModelMetadata metadata;
    metadata.network = network->GetOptions();
    metadata.classes = torchseg::LabelTable::LiverTumour();
    metadata.normalization = { "zscore", -100.0, 250.0, 100.0, 50.0 };
    metadata.targetSpacing = { { 1.6, 1.6, 0.0 } };
    modelPath = (fs::path(directory) / "unet2d-random.pt").string();
    torchseg::Model(network, metadata).Save(modelPath);
  }
  torchseg::Model model = torchseg::Model::Load(modelPath);
  std::cout << "model " << modelPath << ": " << model.GetMetadata().network.architecture << ", "
            << (model.IsTorchScript() ? 0 : torchseg::layers::CountParameters(*model.GetNetwork()))
            << " parameters, target spacing " << model.GetMetadata().targetSpacing[0] << " mm\n";

  // End to end, as a user runs it: a fresh process, so that its peak memory is the pipeline's alone.
  std::vector<std::string> command{ (fs::path(TORCHSEG_BIN_DIR) / "TorchSegPredict").string(),
                                    "--model",
                                    modelPath,
                                    "--numberOfThreads",
                                    std::to_string(threads) };
  if (tta)
  {
    command.push_back("--tta");
  }
  command.push_back(ctPath);
  command.push_back(labelPath);
  const ChildRun child = RunChild(command);
  std::cout << "TorchSegPredict end to end: " << child.seconds << " s (CPU " << child.cpuSeconds << " s), peak memory "
            << child.peakMB << " MB\n";

  if (endToEndOnly)
  {
    return 0;
  }

  // The stages, in this process.
  using Filter = torchseg::SegmentationFilter<torchseg::CTImageType, torchseg::LabelImageType>;
  auto         start = std::chrono::steady_clock::now();
  const auto   ct = torchseg::ReadCTImage(ctPath);
  const double read = Seconds(start);
  start = std::chrono::steady_clock::now();
  auto         shared = torchseg::LoadModel(modelPath);
  const double load = Seconds(start);
  auto         filter = Filter::New();
  filter->SetInput(ct);
  filter->SetModel(shared);
  filter->SetNumberOfTorchThreads(threads);
  filter->SetUseMirroring(tta);
  double       flops = 0.0;
  const double segmentCPUStart = CPUSeconds(RUSAGE_SELF);
  start = std::chrono::steady_clock::now();
  {
    torchseg::layers::ConvolutionFlopCounter counter;
    filter->Update();
    flops = counter.GetFlops();
  }
  const double segment = Seconds(start);
  const double segmentCPU = CPUSeconds(RUSAGE_SELF) - segmentCPUStart;
  start = std::chrono::steady_clock::now();
  torchseg::WriteLabelImage(filter->GetOutput(), labelPath, torchseg::GetClassTable(*shared));
  const double write = Seconds(start);

  // The network alone on batches of model-grid slices.
  const auto   spacing = ct->GetSpacing();
  const auto   inSize = ct->GetLargestPossibleRegion().GetSize();
  const double target = model.GetMetadata().targetSpacing[0];
  const auto   height = target > 0 ? std::llround(spacing[1] * inSize[1] / target) : static_cast<long long>(inSize[1]);
  const auto   widthPx = target > 0 ? std::llround(spacing[0] * inSize[0] / target) : static_cast<long long>(inSize[0]);
  double       networkFlops = 0.0, networkSeconds = 0.0, networkCPUSeconds = 0.0;
  {
    c10::InferenceMode guard;
    const auto         x = torch::randn({ 4, model.GetMetadata().network.inputChannels, height, widthPx });
    model.Forward(x);
    {
      torchseg::layers::ConvolutionFlopCounter counter;
      model.Forward(x);
      networkFlops = counter.GetFlops();
    }
    const int    repeats = 5;
    const double cpu = CPUSeconds(RUSAGE_SELF);
    start = std::chrono::steady_clock::now();
    for (int i = 0; i < repeats; ++i)
    {
      model.Forward(x);
    }
    networkSeconds = Seconds(start) / repeats;
    networkCPUSeconds = (CPUSeconds(RUSAGE_SELF) - cpu) / repeats;
  }
  const double networkRate = networkFlops / networkSeconds / 1e9;

  std::cout << "\n| stage | seconds |\n|---|---|\n"
            << "| read CT (.nii.gz) | " << read << " |\n"
            << "| load model | " << load << " |\n"
            << "| SegmentationFilter (preprocess, network, resample back, argmax) | " << segment << " |\n"
            << "| write labels (.nii.gz) | " << write << " |\n"
            << "| **TorchSegPredict end to end (separate process)** | **" << child.seconds << "** (CPU "
            << child.cpuSeconds << ") |\n\n"
            << "peak memory of TorchSegPredict (ru_maxrss): " << child.peakMB << " MB\n"
            << "network: " << networkFlops / 4 / 1e9 << " GFLOP per " << height << "x" << widthPx << " slice, "
            << networkRate << " GFLOP/s on batches of 4 (" << 100.0 * networkRate / peak << " % of the GEMM's), "
            << networkFlops / networkCPUSeconds / 1e9 << " GFLOP per CPU second ("
            << 100.0 * networkFlops / networkCPUSeconds / 1e9 / peakPerCPU << " % of the GEMM's)\n"
            << "filter: " << flops / 1e9 << " GFLOP in " << segment << " s = " << flops / segment / 1e9
            << " GFLOP/s including pre- and post-processing (CPU " << segmentCPU << " s: " << flops / segmentCPU / 1e9
            << " GFLOP per CPU second)\n";
  return 0;
}
