// TorchSegModel run as a program: the summary and JSON of a model file, a copy that recommends a clean-up (read back
// by the model module and applied by SegmentationFilter), and every bad input (one stderr line, exit code, nothing
// written, the input untouched).
#include "torchsegModel.h"
#include "torchsegTestingSupport.h"

#include <nlohmann/json.hpp>

#include "gtest/gtest.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using torchseg::testing::Quote;
using torchseg::testing::ReadText;
using nlohmann::json;
using torchseg::testing::OutputPath;
using torchseg::testing::RunCommand;

namespace
{

std::string
ModelApp()
{
  return torchseg::testing::ApplicationPath("TorchSegModel").string();
}

/** A tiny native 2D U-Net (3 input channels, liver and tumour) saved as TorchSegTrain saves one. */
fs::path
TinyModel(const fs::path & dir)
{
  torchseg::NetworkOptions network;
  network.architecture = "unet2d";
  network.spatialDimensions = 2;
  network.inputChannels = 3;
  network.numberOfClasses = 3;
  network.options = json{ { "width", 4 }, { "depth", 2 } };
  torchseg::ModelMetadata metadata;
  metadata.network = network;
  metadata.classes = torchseg::LabelTable::LiverTumour();
  metadata.normalization = { "zscore", -6.0, 166.0, 85.4, 35.3 };
  metadata.targetSpacing = { { 1.5, 1.5, 0.0 } };
  metadata.patchSize = { 192, 192 };
  metadata.sliceContext = 1;
  metadata.provenance = json{ { "createdBy", "TorchSegTrain" }, { "bestEpoch", 7 } };
  torch::manual_seed(1);
  fs::create_directories(dir);
  const auto path = dir / "model.pt";
  torchseg::Model(torchseg::CreateNetwork(network), metadata).Save(path.string());
  return path;
}

/** Runs \a arguments and expects exit \a code with one stderr line containing \a text. */
void
ExpectFailure(const std::string & arguments, int code, const std::string & text)
{
  std::string output;
  EXPECT_EQ(RunCommand("{ " + ModelApp() + " " + arguments + " 2>&1 >/dev/null; }", &output), code) << output;
  EXPECT_NE(output.find(text), std::string::npos) << output;
  EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << output;
}

} // namespace

TEST(TorchSegModel, ShowsTheNetworkClassesPreprocessingAndProvenanceAndWritesThemAsJson)
{
  const auto  dir = OutputPath("show");
  const auto  model = TinyModel(dir);
  std::string output;
  ASSERT_EQ(RunCommand(ModelApp() + " --json " + Quote(dir / "model.json") + " " + Quote(model), &output), 0) << output;
  const auto parameters = [] {
    int64_t                  n = 0;
    torchseg::NetworkOptions network;
    network.spatialDimensions = 2;
    network.inputChannels = 3;
    network.options = json{ { "width", 4 }, { "depth", 2 } };
    for (const auto & p : torchseg::CreateNetwork(network)->parameters())
    {
      n += p.numel();
    }
    return n;
  }();
  EXPECT_NE(output.find("unet2d, 2D, 3 input channel(s), 3 classes, " + std::to_string(parameters) + " parameters"),
            std::string::npos)
    << output;
  EXPECT_NE(output.find("0 background, 1 liver, 2 tumour"), std::string::npos) << output;
  EXPECT_NE(output.find("x 1.5 mm, y 1.5 mm, z as the input"), std::string::npos) << output;
  EXPECT_NE(output.find("192 x 192; slice context 1"), std::string::npos) << output;
  EXPECT_NE(output.find("zscore, clip [-6, 166] HU, mean 85.4, std 35.3"), std::string::npos) << output;
  EXPECT_NE(output.find("Post-processing: none recommended"), std::string::npos) << output;
  EXPECT_NE(output.find("bestEpoch 7"), std::string::npos) << output;

  const json j = json::parse(ReadText(dir / "model.json"));
  EXPECT_EQ(j["parameters"], parameters);
  EXPECT_EQ(j["network"]["architecture"], "unet2d");
  EXPECT_EQ(j["sliceContext"], 1);
  EXPECT_EQ(j["normalization"]["mean"], 85.4);
  EXPECT_FALSE(j.contains("postProcessing"));
  // The JSON is the model's own metadata layout: the model module reads it back.
  json metadata = j;
  metadata.erase("parameters");
  EXPECT_EQ(json(torchseg::ParseModelMetadata(metadata, "model.json")),
            json(torchseg::Model::Load(model.string()).GetMetadata()));
}

TEST(TorchSegModel, WritesACopyThatRecommendsPostProcessingWithTheSameWeights)
{
  const auto        dir = OutputPath("postprocessing");
  const auto        model = TinyModel(dir);
  const std::string before = ReadText(model);
  std::string       output;
  ASSERT_EQ(RunCommand(ModelApp() +
                         " --postProcessing "
                         "'{\"keepLargestOrganComponent\":true,\"removeTumourOutsideOrgan\":true,"
                         "\"minimumTumourVolume\":120}' --outputModel " +
                         Quote(dir / "cleaned.pt") + " " + Quote(model),
                       &output),
            0)
    << output;
  EXPECT_NE(output.find("organ label 1, keep its largest component; tumour label 2, remove tumour components outside "
                        "the organ, remove tumour components under 120 mm^3"),
            std::string::npos)
    << output;
  EXPECT_EQ(ReadText(model), before); // the input is untouched

  const auto original = torchseg::Model::Load(model.string());
  const auto cleaned = torchseg::Model::Load((dir / "cleaned.pt").string());
  ASSERT_TRUE(cleaned.GetMetadata().postProcessing.has_value());
  const auto & p = *cleaned.GetMetadata().postProcessing;
  EXPECT_TRUE(p.keepLargestOrganComponent);
  EXPECT_TRUE(p.removeTumourOutsideOrgan);
  EXPECT_EQ(p.minimumTumourVolume, 120.0);
  EXPECT_EQ(p.organLabel, 1u);
  EXPECT_EQ(p.tumourLabel, 2u);
  EXPECT_FALSE(original.GetMetadata().postProcessing.has_value());
  // Same weights, same everything else.
  const auto a = original.GetNetwork()->named_parameters();
  const auto b = cleaned.GetNetwork()->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto & item : a)
  {
    EXPECT_TRUE(torch::equal(item.value(), b[item.key()])) << item.key();
  }
  json withoutPost = json(cleaned.GetMetadata());
  withoutPost.erase("postProcessing");
  EXPECT_EQ(withoutPost, json(original.GetMetadata()));

  // "none" removes the recommendation again; an existing output needs --overwrite.
  ExpectFailure("--postProcessing none --outputModel " + Quote(dir / "cleaned.pt") + " " + Quote(dir / "cleaned.pt"),
                2,
                "is the input model");
  ExpectFailure("--postProcessing none --outputModel " + Quote(dir / "cleaned.pt") + " " + Quote(model),
                2,
                "exists; give --overwrite");
  ASSERT_EQ(RunCommand(ModelApp() + " --postProcessing none --overwrite --outputModel " + Quote(dir / "cleaned.pt") +
                         " " + Quote(model),
                       &output),
            0)
    << output;
  EXPECT_FALSE(torchseg::Model::Load((dir / "cleaned.pt").string()).GetMetadata().postProcessing.has_value());
}

TEST(TorchSegModel, WritesACopyWithAnotherInferencePatch)
{
  // The tiny model records 192 x 192 (sliding window); 0,0 makes it run whole slices, and back.
  const auto  dir = OutputPath("patch");
  const auto  model = TinyModel(dir);
  std::string output;
  ASSERT_EQ(
    RunCommand(ModelApp() + " --patchSize 0,0 --outputModel " + Quote(dir / "whole.pt") + " " + Quote(model), &output),
    0)
    << output;
  EXPECT_NE(output.find("Patch:          whole slice"), std::string::npos) << output;
  const auto whole = torchseg::Model::Load((dir / "whole.pt").string());
  EXPECT_EQ(whole.GetMetadata().patchSize, (std::vector<int64_t>{ 0, 0 }));
  ASSERT_EQ(RunCommand(ModelApp() +
                         " --patchSize 160,128 --postProcessing '{\"removeTumourOutsideOrgan\":true}'"
                         " --outputModel " +
                         Quote(dir / "window.pt") + " " + Quote(dir / "whole.pt"),
                       &output),
            0)
    << output;
  const auto window = torchseg::Model::Load((dir / "window.pt").string());
  EXPECT_EQ(window.GetMetadata().patchSize, (std::vector<int64_t>{ 160, 128 }));
  ASSERT_TRUE(window.GetMetadata().postProcessing.has_value());
  EXPECT_TRUE(window.GetMetadata().postProcessing->removeTumourOutsideOrgan);
  // Everything else as in the input.
  json a = json(window.GetMetadata());
  json b = json(torchseg::Model::Load(model.string()).GetMetadata());
  a.erase("postProcessing");
  a.erase("patchSize");
  b.erase("patchSize");
  EXPECT_EQ(a, b);
  ExpectFailure("--patchSize 0,0 " + Quote(model), 2, "--patchSize needs --outputModel");
  ExpectFailure("--patchSize 64,64,64 --outputModel " + Quote(dir / "bad.pt") + " " + Quote(model),
                2,
                "patchSize has 3 entries for a 2D network");
  ExpectFailure("--patchSize -1,64 --outputModel " + Quote(dir / "bad.pt") + " " + Quote(model),
                2,
                "patchSize entry -1 is invalid");
  EXPECT_FALSE(fs::exists(dir / "bad.pt"));
}

TEST(TorchSegModel, BadInputsFailWithOneLineAndWriteNothing)
{
  const auto dir = OutputPath("bad");
  const auto model = TinyModel(dir);
  const auto out = Quote(dir / "out.pt");
  ExpectFailure(Quote(dir / "missing.pt"), 1, "missing.pt");
  {
    std::ofstream(dir / "text.pt") << "not a model\n";
  }
  ExpectFailure(Quote(dir / "text.pt"), 1, "text.pt");
  ExpectFailure("--postProcessing '{}' " + Quote(model), 2, "--postProcessing needs --outputModel");
  ExpectFailure("--outputModel " + out + " " + Quote(model), 2, "--outputModel needs --postProcessing or --patchSize");
  ExpectFailure("--postProcessing '{nope' --outputModel " + out + " " + Quote(model), 2, "is not JSON");
  ExpectFailure("--postProcessing '[1]' --outputModel " + out + " " + Quote(model), 2, "is not a JSON object");
  ExpectFailure(
    "--postProcessing '{\"largest\":true}' --outputModel " + out + " " + Quote(model), 2, "unknown key \"largest\"");
  ExpectFailure("--postProcessing '{\"tumourLabel\":5}' --outputModel " + out + " " + Quote(model),
                2,
                "must be distinct classes of the model");
  ExpectFailure("--postProcessing '{\"organLabel\":2}' --outputModel " + out + " " + Quote(model),
                2,
                "must be distinct classes of the model");
  ExpectFailure("--postProcessing '{\"minimumTumourVolume\":-1}' --outputModel " + out + " " + Quote(model),
                2,
                "minimumTumourVolume -1");
  ExpectFailure("--postProcessing '{\"keepLargestOrganComponent\":\"yes\"}' --outputModel " + out + " " + Quote(model),
                2,
                "\"keepLargestOrganComponent\" has the wrong type");
  EXPECT_FALSE(fs::exists(dir / "out.pt"));
  for (const auto & entry : fs::directory_iterator(dir))
  {
    EXPECT_TRUE(entry.path().filename() == "model.pt" || entry.path().filename() == "text.pt") << entry.path();
  }
}
