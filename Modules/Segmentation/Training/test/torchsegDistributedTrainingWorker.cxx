// One process of the distributed-training tests (torchsegDistributedGTest.cxx starts several): trains the test's tiny
// network with the Trainer and writes its final weights to <outputDirectory>/weights-rank<R>.pt. The distributed
// settings come from the environment (MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK), as a launcher would set them.
//
//   torchsegDistributedTrainingWorker TRAIN_LIST VALIDATION_LIST OUTPUT_DIRECTORY BATCH_SIZE CASE_SHARDS
#include "torchsegTrainer.h"

#include <torch/serialize.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

int
main(int argc, char * argv[])
{
  if (argc != 6)
  {
    std::cerr << "usage: " << argv[0] << " TRAIN_LIST VALIDATION_LIST OUTPUT_DIRECTORY BATCH_SIZE CASE_SHARDS\n";
    return 2;
  }
  const std::filesystem::path directory = argv[3];
  try
  {
    torchseg::TrainerOptions o;
    o.trainingCases = torchseg::ReadCases(argv[1]);
    o.validationCases = torchseg::ReadCases(argv[2]);
    o.network.architecture = "unet2d";
    o.network.options = { { "width", 4 }, { "depth", 3 } }; // instance normalisation: per sample
    o.targetSpacing = { { 0.0, 0.0, 0.0 } };
    o.sampling.patchSize = { { 32, 32, 0 } };
    o.sampling.sliceContext = 1;
    o.sampling.batchSize = std::atoi(argv[4]);
    o.sampling.caseShards = std::atoi(argv[5]);
    o.sampling.foregroundFraction = 0.5;
    // Every term a mean over samples: per-sample Dice, unweighted cross-entropy.
    o.loss = torchseg::LossKind::DiceCrossEntropy;
    o.batchDice = false;
    o.optimizer = "sgd";
    o.learningRate = 0.01;
    o.epochs = 3;
    o.iterationsPerEpoch = 4;
    o.numberOfWorkers = 1;
    o.numberOfThreads = 1;
    o.seed = 11;
    o.distributed = torchseg::DistributedOptions::FromEnvironment();
    o.distributed.timeoutSeconds = 60.0;
    o.outputModel = (directory / "model.pt").string();
    o.logFile = (directory / "log.csv").string();
    auto trainer = torchseg::Trainer::New();
    trainer->SetOptions(o);
    trainer->Run();
    std::vector<torch::Tensor> weights;
    for (const auto & p : trainer->GetNetwork()->parameters())
    {
      weights.push_back(p.detach().clone());
    }
    torch::save(weights, (directory / ("weights-rank" + std::to_string(o.distributed.rank) + ".pt")).string());
    const auto & last = trainer->GetLog().back();
    std::cout << "rank " << o.distributed.rank << " loss " << last.trainLoss << " validation Dice "
              << last.validationMeanDice << std::endl;
  }
  catch (const std::exception & e)
  {
    std::cerr << "worker: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
