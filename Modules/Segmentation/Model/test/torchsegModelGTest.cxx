// The model file: metadata JSON in both layouts, native save/load, TorchScript files with embedded or sidecar
// metadata, and every way a file can be wrong.
#include "torchsegModel.h"
#include "torchsegTestingSupport.h"

#include "itkMacro.h"

#include <torch/cuda.h>
#include <torch/serialize/output-archive.h>

#include "gtest/gtest.h"

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using nlohmann::json;
using torchseg::Model;
using torchseg::ModelMetadata;
using torchseg::testing::OutputPath;
using torchseg::testing::ReadText;

namespace
{

/** The message of the itk::ExceptionObject \a f throws ("" when it throws nothing). */
template <typename F>
std::string
ErrorOf(F && f)
{
  try
  {
    f();
  }
  catch (const itk::ExceptionObject & e)
  {
    return e.GetDescription();
  }
  return std::string();
}

#define EXPECT_ERROR_CONTAINS(statement, text)                                                                         \
  do                                                                                                                   \
  {                                                                                                                    \
    const std::string message_ = ErrorOf([&] { statement; });                                                          \
    EXPECT_NE(message_.find(text), std::string::npos) << "message: \"" << message_ << "\"";                            \
    EXPECT_EQ(message_.find('\n'), std::string::npos) << "one line: \"" << message_ << "\"";                           \
  } while (false)

ModelMetadata
LiverMetadata2D()
{
  ModelMetadata m;
  m.network.architecture = "unet2d";
  m.network.spatialDimensions = 2;
  m.network.inputChannels = 3;
  m.network.numberOfClasses = 3;
  m.classes = torchseg::LabelTable::LiverTumour();
  m.normalization = { "zscore", -200.0, 300.0, 99.5, 45.25 };
  m.targetSpacing = { { 1.6, 1.6, 0.0 } };
  m.patchSize = { 256, 224 };
  m.sliceContext = 1;
  m.orientation = "LPS";
  m.provenance = json{ { "epochs", 12 }, { "dice", { 0.95, 0.61 } } };
  return m;
}

json
MonaiJson()
{
  return json::parse(R"({
    "name": "spleen ct segmentation", "version": "0.5.0",
    "network_data_format": {
      "inputs": {"image": {"type": "image", "format": "hounsfield", "modality": "CT", "num_channels": 1,
                           "spatial_shape": [96, 96, 64], "dtype": "float32", "value_range": [0, 1],
                           "is_patch_data": true, "channel_def": {"0": "image"}}},
      "outputs": {"pred": {"type": "image", "format": "segmentation", "num_channels": 3, "spatial_shape": [96, 96, 64],
                           "dtype": "float32", "value_range": [0, 1], "is_patch_data": true,
                           "channel_def": {"0": "background", "1": "liver", "2": "tumour"}}}
    }
  })");
}

/** A TorchScript module defined in place: logits (-x, x, 2x - 1) per voxel, any spatial dimension. */
torch::jit::Module
PointwiseScript()
{
  torch::jit::Module module("PointwiseLogits");
  module.define(R"(
    def forward(self, x):
        return torch.cat([-x, x, 2.0 * x - 1.0], 1)
  )");
  return module;
}

void
WriteText(const fs::path & path, const std::string & text)
{
  std::ofstream out(path, std::ios::binary);
  out << text;
}

/** A small native network: a narrow, shallow U-Net. */
torchseg::SegmentationNetwork
SmallNetwork(int classes)
{
  torchseg::NetworkOptions options;
  options.architecture = "unet2d";
  options.spatialDimensions = 2;
  options.inputChannels = 1;
  options.numberOfClasses = classes;
  options.options = json{ { "width", 8 }, { "depth", 3 } };
  return torchseg::CreateNetwork(options);
}

ModelMetadata
MetadataFor(const torchseg::SegmentationNetwork & network)
{
  ModelMetadata m;
  m.network = network->GetOptions();
  m.classes = torchseg::LabelTable::Generic(static_cast<unsigned int>(m.network.numberOfClasses - 1));
  return m;
}

} // namespace

TEST(ModelMetadata, JsonRoundTripKeepsEveryField)
{
  const ModelMetadata m = LiverMetadata2D();
  const json          j = m;
  EXPECT_EQ(j.at("targetSpacing"), json({ 1.6, 1.6, 0.0 }));
  EXPECT_EQ(j.at("classes").at(1).at("name"), "tumour");
  EXPECT_EQ(j.at("classes").at(0).at("type").at("value"), "10200004");

  const ModelMetadata r = json::parse(j.dump()).get<ModelMetadata>();
  EXPECT_EQ(r.network.architecture, "unet2d");
  EXPECT_EQ(r.network.inputChannels, 3);
  EXPECT_EQ(r.network.numberOfClasses, 3);
  ASSERT_EQ(r.classes.size(), 2u);
  EXPECT_EQ(r.classes.GetName(2), "tumour");
  EXPECT_EQ(r.classes.GetColor(1), m.classes.GetColor(1));
  EXPECT_EQ(r.classes.Find(1)->category.meaning, "Anatomical Structure");
  EXPECT_EQ(r.normalization.method, "zscore");
  EXPECT_DOUBLE_EQ(r.normalization.clipLow, -200.0);
  EXPECT_DOUBLE_EQ(r.normalization.clipHigh, 300.0);
  EXPECT_DOUBLE_EQ(r.normalization.mean, 99.5);
  EXPECT_DOUBLE_EQ(r.normalization.std, 45.25);
  EXPECT_EQ(r.targetSpacing, m.targetSpacing);
  EXPECT_EQ(r.patchSize, m.patchSize);
  EXPECT_EQ(r.sliceContext, 1);
  EXPECT_EQ(r.orientation, "LPS");
  EXPECT_EQ(r.axisOrder, "zyx");
  EXPECT_EQ(r.provenance, m.provenance);
  EXPECT_FALSE(r.postProcessing.has_value());
  EXPECT_FALSE(j.contains("postProcessing"));
  EXPECT_NO_THROW(torchseg::ValidateMetadata(r, "test"));
}

TEST(ModelMetadata, RecommendedPostProcessingRoundTripsAndIsChecked)
{
  ModelMetadata m = LiverMetadata2D();
  m.postProcessing = torchseg::LabelPostProcessingOptions{};
  m.postProcessing->keepLargestOrganComponent = true;
  m.postProcessing->minimumTumourVolume = 65.5;
  const json j = m;
  EXPECT_EQ(j.at("postProcessing"),
            json({ { "organLabel", 1 },
                   { "tumourLabel", 2 },
                   { "keepLargestOrganComponent", true },
                   { "removeTumourOutsideOrgan", false },
                   { "minimumTumourVolume", 65.5 } }));
  const ModelMetadata r = torchseg::ParseModelMetadata(json::parse(j.dump()), "m.json");
  ASSERT_TRUE(r.postProcessing.has_value());
  EXPECT_TRUE(r.postProcessing->keepLargestOrganComponent);
  EXPECT_FALSE(r.postProcessing->removeTumourOutsideOrgan);
  EXPECT_EQ(r.postProcessing->minimumTumourVolume, 65.5);
  EXPECT_EQ(r.postProcessing->tumourLabel, 2u);

  // Keys left out take their defaults; null means none recommended.
  json k = j;
  k["postProcessing"] = json{ { "removeTumourOutsideOrgan", true } };
  const ModelMetadata partial = torchseg::ParseModelMetadata(k, "m.json");
  EXPECT_TRUE(partial.postProcessing->removeTumourOutsideOrgan);
  EXPECT_FALSE(partial.postProcessing->keepLargestOrganComponent);
  EXPECT_EQ(partial.postProcessing->organLabel, 1u);
  k["postProcessing"] = nullptr;
  EXPECT_FALSE(torchseg::ParseModelMetadata(k, "m.json").postProcessing.has_value());

  auto parse = [](const json & x) { return torchseg::ParseModelMetadata(x, "m.json"); };
  k = j;
  k["postProcessing"]["largest"] = true;
  EXPECT_ERROR_CONTAINS(parse(k), "postProcessing: unknown key \"largest\"");
  k = j;
  k["postProcessing"] = "yes";
  EXPECT_ERROR_CONTAINS(parse(k), "postProcessing must be a JSON object");
  k = j;
  k["postProcessing"]["tumourLabel"] = 3;
  EXPECT_ERROR_CONTAINS(parse(k), "postProcessing organLabel 1 and tumourLabel 3 must be distinct classes");
  k = j;
  k["postProcessing"]["tumourLabel"] = 1;
  EXPECT_ERROR_CONTAINS(parse(k), "must be distinct classes");
  k = j;
  k["postProcessing"]["organLabel"] = 0;
  EXPECT_ERROR_CONTAINS(parse(k), "organLabel 0 must lie in [1, 255]");
  k = j;
  k["postProcessing"]["minimumTumourVolume"] = -2.0;
  EXPECT_ERROR_CONTAINS(parse(k), "minimumTumourVolume -2");
  k = j;
  k["postProcessing"]["minimumTumourVolume"] = "big";
  EXPECT_ERROR_CONTAINS(parse(k), "\"minimumTumourVolume\" has the wrong type");
}

TEST(ModelMetadata, MissingOrInconsistentKeysAreClearErrors)
{
  const json good = LiverMetadata2D();
  auto       parse = [](const json & j) { return torchseg::ParseModelMetadata(j, "m.json"); };
  EXPECT_NO_THROW(parse(good));

  EXPECT_ERROR_CONTAINS(parse(json::object()), "neither \"network\"");
  json j = good;
  j["targetSpacng"] = { 1, 1, 1 };
  EXPECT_ERROR_CONTAINS(parse(j), "unknown key \"targetSpacng\"");
  j = good;
  j["targetSpacing"] = "1.6";
  EXPECT_ERROR_CONTAINS(parse(j), "\"targetSpacing\" has the wrong type");
  j = good;
  j["targetSpacing"] = { 1.0, 1.0 };
  EXPECT_ERROR_CONTAINS(parse(j), "3 numbers");
  j = good;
  j["targetSpacing"] = { 1.0, -1.0, 1.0 };
  EXPECT_ERROR_CONTAINS(parse(j), "targetSpacing -1");
  j = good;
  j["classes"].erase(1);
  EXPECT_ERROR_CONTAINS(parse(j), "lists 1 foreground class(es), but the network has 3 outputs");
  j = good;
  j["classes"][1]["value"] = 7;
  EXPECT_ERROR_CONTAINS(parse(j), "class \"tumour\" has value 7");
  j = good;
  j["classes"][1]["value"] = 1;
  EXPECT_ERROR_CONTAINS(parse(j), "value 1 appears twice");
  j = good;
  j["sliceContext"] = 2;
  EXPECT_ERROR_CONTAINS(parse(j), "sliceContext 2 takes 5 input channel(s)");
  j = good;
  j["normalization"]["method"] = "minmax";
  EXPECT_ERROR_CONTAINS(parse(j), "\"minmax\" is not one of zscore, window, none");
  j = good;
  j["normalization"]["std"] = 0.0;
  EXPECT_ERROR_CONTAINS(parse(j), "std 0");
  j = good;
  j["orientation"] = "LPL";
  EXPECT_ERROR_CONTAINS(parse(j), "\"LPL\"");
  j = good;
  j["patchSize"] = { 64, 64, 64 };
  EXPECT_ERROR_CONTAINS(parse(j), "patchSize has 3 entries for a 2D network");
  j = good;
  j["network"]["spatialDimensions"] = 3;
  j["network"]["architecture"] = "unet3d";
  j["network"]["inputChannels"] = 1;
  j["sliceContext"] = 0;
  j["patchSize"] = json::array();
  EXPECT_ERROR_CONTAINS(parse(j), "a 3D network needs patchSize");
  j["patchSize"] = { 32, 32, 16 };
  EXPECT_NO_THROW(parse(j));
  j = good;
  j["network"]["numberOfClasses"] = 1;
  j["classes"] = json::array();
  EXPECT_ERROR_CONTAINS(parse(j), "numberOfClasses is 1");
}

TEST(ModelMetadata, MonaiLayoutGivesChannelsClassesAndPatch)
{
  const ModelMetadata m = torchseg::ParseModelMetadata(MonaiJson(), "bundle.ts");
  EXPECT_EQ(m.network.spatialDimensions, 3);
  EXPECT_EQ(m.network.inputChannels, 1);
  EXPECT_EQ(m.network.numberOfClasses, 3);
  EXPECT_EQ(m.classes.GetName(1), "liver");
  EXPECT_EQ(m.classes.GetName(2), "tumour");
  EXPECT_EQ(m.patchSize, (std::vector<int64_t>{ 96, 96, 64 }));
  EXPECT_EQ(m.orientation, "RAS");
  EXPECT_EQ(m.axisOrder, "xyz");
  EXPECT_EQ(m.normalization.method, "none");
  EXPECT_EQ(m.provenance.at("version"), "0.5.0");

  json j = MonaiJson();
  j["torchseg"] = json{ { "normalization", { { "method", "window" }, { "clipLow", -57 }, { "clipHigh", 164 } } },
                        { "targetSpacing", { 1.5, 1.5, 2.0 } },
                        { "orientation", "LPS" } };
  const ModelMetadata t = torchseg::ParseModelMetadata(j, "bundle.ts");
  EXPECT_EQ(t.normalization.method, "window");
  EXPECT_DOUBLE_EQ(t.normalization.clipLow, -57.0);
  EXPECT_EQ(t.targetSpacing[2], 2.0);
  EXPECT_EQ(t.orientation, "LPS");
  EXPECT_EQ(t.axisOrder, "xyz");

  auto parse = [](const json & x) { return torchseg::ParseModelMetadata(x, "bundle.ts"); };
  j = MonaiJson();
  j["network_data_format"]["inputs"]["image"].erase("num_channels");
  EXPECT_ERROR_CONTAINS(parse(j), "inputs.image.num_channels is missing");
  j = MonaiJson();
  j["network_data_format"]["outputs"]["pred"].erase("num_channels");
  EXPECT_ERROR_CONTAINS(parse(j), "outputs.pred.num_channels is missing");
  j = MonaiJson();
  j["network_data_format"]["inputs"]["image"].erase("spatial_shape");
  EXPECT_ERROR_CONTAINS(parse(j), "spatial_shape is missing");
  j = MonaiJson();
  j["network_data_format"]["outputs"]["pred"]["num_channels"] = 2;
  EXPECT_ERROR_CONTAINS(parse(j), "channel_def names 3 channels, but num_channels is 2");
  j = MonaiJson();
  j["network_data_format"]["inputs"]["image"]["num_channels"] = 2;
  EXPECT_ERROR_CONTAINS(parse(j), "a 3D network takes the CT as its one input channel");
  j = MonaiJson();
  j["network_data_format"]["inputs"]["image"]["spatial_shape"] = { "16*n", "16*n", "16*n" };
  EXPECT_ERROR_CONTAINS(parse(j), "a 3D network needs patchSize");
  j["torchseg"] = json{ { "patchSize", { 64, 64, 32 } } };
  EXPECT_EQ(parse(j).patchSize, (std::vector<int64_t>{ 64, 64, 32 }));
  j["torchseg"] = json{ { "spacing", { 1, 1, 1 } } };
  EXPECT_ERROR_CONTAINS(parse(j), "unknown key \"spacing\"");
}

TEST(ModelMetadata, OrientationCodes)
{
  using D = std::array<std::array<double, 3>, 3>;
  EXPECT_EQ(torchseg::OrientationCodeToDirection("LPS"), (D{ { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } } }));
  EXPECT_EQ(torchseg::OrientationCodeToDirection("RAS"), (D{ { { -1, 0, 0 }, { 0, -1, 0 }, { 0, 0, 1 } } }));
  // "PLI": index x runs posterior, y to the left, z inferior.
  EXPECT_EQ(torchseg::OrientationCodeToDirection("PLI"), (D{ { { 0, 1, 0 }, { 1, 0, 0 }, { 0, 0, -1 } } }));
  EXPECT_ERROR_CONTAINS(torchseg::OrientationCodeToDirection("LRS"), "\"LRS\"");
  EXPECT_ERROR_CONTAINS(torchseg::OrientationCodeToDirection("LP"), "three-letter");
}

TEST(Model, NativeSaveLoadRoundTripGivesIdenticalOutputs)
{
  torch::manual_seed(3);
  auto          network = SmallNetwork(3);
  ModelMetadata metadata = MetadataFor(network);
  metadata.classes = torchseg::LabelTable::LiverTumour();
  metadata.normalization = { "window", -100.0, 200.0, 0.0, 1.0 };
  metadata.targetSpacing = { { 1.5, 1.5, 0.0 } };
  metadata.provenance = json{ { "note", "round trip" } };
  Model model(network, metadata);
  EXPECT_FALSE(model.IsTorchScript());

  const auto path = OutputPath("model.pt");
  model.Save(path.string());
  ASSERT_TRUE(fs::exists(path));

  Model loaded = Model::Load(path.string());
  EXPECT_FALSE(loaded.IsTorchScript());
  EXPECT_EQ(loaded.GetPath(), path.string());
  EXPECT_EQ(json(loaded.GetMetadata()), json(model.GetMetadata()));
  EXPECT_EQ(loaded.GetMetadata().classes.GetName(2), "tumour");

  // Every parameter and buffer, bit for bit, and the outputs they give.
  auto original = network->named_parameters();
  auto restored = loaded.GetNetwork()->named_parameters();
  ASSERT_EQ(original.size(), restored.size());
  for (const auto & item : original)
  {
    EXPECT_TRUE(torch::equal(item.value(), restored[item.key()])) << item.key();
  }
  const torch::Tensor x = torch::randn({ 2, 1, 37, 45 });
  const torch::Tensor a = model.Forward(x);
  const torch::Tensor b = loaded.Forward(x);
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{ 2, 3, 37, 45 }));
  EXPECT_TRUE(torch::equal(a, b));
}

TEST(Model, ForeignCorruptAndTruncatedFilesAreClearErrors)
{
  auto       network = SmallNetwork(3);
  Model      model(network, MetadataFor(network));
  const auto good = OutputPath("good.pt");
  model.Save(good.string());
  const std::string bytes = ReadText(good);

  EXPECT_ERROR_CONTAINS(Model::Load(OutputPath("missing.pt").string()), "no such file");
  EXPECT_ERROR_CONTAINS(Model::Load(fs::path(TORCHSEG_TEST_OUTPUT_DIR).string()), "not a file");

  const auto truncated = OutputPath("truncated.pt");
  WriteText(truncated, bytes.substr(0, bytes.size() / 2));
  EXPECT_ERROR_CONTAINS(Model::Load(truncated.string()), truncated.string() + " is corrupt, truncated");

  const auto  corrupt = OutputPath("corrupt.pt");
  std::string damaged = bytes;
  for (std::size_t i = damaged.size() / 3; i < damaged.size() / 3 + 4096 && i < damaged.size(); ++i)
  {
    damaged[i] = static_cast<char>(damaged[i] ^ 0x5a);
  }
  WriteText(corrupt, damaged);
  EXPECT_ERROR_CONTAINS(Model::Load(corrupt.string()), corrupt.string() + " is corrupt");

  // A flipped bit inside the weights leaves the archive readable: the checksum finds it. The weights of one layer
  // are set to a value whose bytes can be found in the file.
  {
    torch::NoGradGuard noGrad;
    network->parameters().front().fill_(1234.5f);
  }
  const auto marked = OutputPath("marked.pt");
  model.Save(marked.string());
  std::string markedBytes = ReadText(marked);
  const float value = 1234.5f;
  std::string pattern;
  for (int i = 0; i < 8; ++i)
  {
    pattern.append(reinterpret_cast<const char *>(&value), sizeof(value));
  }
  const auto where = markedBytes.find(pattern);
  ASSERT_NE(where, std::string::npos);
  EXPECT_NO_THROW(Model::Load(marked.string()));
  markedBytes[where + 5] = static_cast<char>(markedBytes[where + 5] ^ 0x01);
  WriteText(marked, markedBytes);
  EXPECT_ERROR_CONTAINS(Model::Load(marked.string()), "do not match their checksum");

  const auto text = OutputPath("image.nii");
  WriteText(text, std::string(348, '\0'));
  EXPECT_ERROR_CONTAINS(Model::Load(text.string()), "is not a model file");

  const auto empty = OutputPath("empty.pt");
  WriteText(empty, "");
  EXPECT_ERROR_CONTAINS(Model::Load(empty.string()), "is not a model file");

  // A PyTorch archive of another kind: a module without metadata or forward().
  const auto                      foreign = OutputPath("foreign.pt");
  torch::serialize::OutputArchive archive;
  archive.write("weights", torch::ones({ 3 }));
  archive.save_to(foreign.string());
  EXPECT_ERROR_CONTAINS(Model::Load(foreign.string()), "TorchScript file without metadata");

  const auto                      checkpoint = OutputPath("checkpoint.pt");
  torch::serialize::OutputArchive other;
  other.write("format", c10::IValue(std::string("torchseg-checkpoint")));
  other.save_to(checkpoint.string());
  EXPECT_ERROR_CONTAINS(Model::Load(checkpoint.string()), "format tag is \"torchseg-checkpoint\"");

  const auto                      future = OutputPath("future.pt");
  torch::serialize::OutputArchive newer;
  newer.write("format", c10::IValue(std::string(Model::FormatTag)));
  newer.write("formatVersion", c10::IValue(int64_t{ 99 }));
  newer.save_to(future.string());
  EXPECT_ERROR_CONTAINS(Model::Load(future.string()), "format version 99");
}

TEST(Model, WeightsThatDoNotMatchTheMetadataAreRefused)
{
  auto three = SmallNetwork(3);
  auto writeWith = [&](const fs::path & path, const json & metadata, bool dropOne, bool addOne) {
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    for (const auto & item : three->named_parameters())
    {
      tensors.emplace_back(item.key(), item.value());
    }
    for (const auto & item : three->named_buffers())
    {
      tensors.emplace_back(item.key(), item.value());
    }
    if (dropOne)
    {
      tensors.erase(tensors.begin());
    }
    if (addOne)
    {
      tensors.emplace_back("extra.weight", torch::zeros({ 2 }));
    }
    torchseg::WriteModelFile(path.string(), metadata, tensors);
  };
  ModelMetadata fourClasses = MetadataFor(three);
  fourClasses.network.numberOfClasses = 4;
  fourClasses.classes = torchseg::LabelTable::Generic(3);
  const json four = fourClasses;
  const auto mismatch = OutputPath("four.pt");
  writeWith(mismatch, four, false, false);
  EXPECT_ERROR_CONTAINS(Model::Load(mismatch.string()), "class count or options do not match the weights");
  EXPECT_ERROR_CONTAINS(Model::Load(mismatch.string()), "4 classes");

  const auto missing = OutputPath("missing-weights.pt");
  writeWith(missing, json(MetadataFor(three)), true, false);
  EXPECT_ERROR_CONTAINS(Model::Load(missing.string()), "are missing from the file");

  const auto extra = OutputPath("extra-weights.pt");
  writeWith(extra, json(MetadataFor(three)), false, true);
  EXPECT_ERROR_CONTAINS(Model::Load(extra.string()), "\"extra.weight\"");

  json broken = MetadataFor(three);
  broken["classes"] = json::array();
  const auto noClasses = OutputPath("no-classes.pt");
  writeWith(noClasses, broken, false, false);
  EXPECT_ERROR_CONTAINS(Model::Load(noClasses.string()), "lists 0 foreground class(es)");
}

TEST(Model, SaveIsAtomicAndNativeOnly)
{
  auto  network = SmallNetwork(3);
  Model model(network, MetadataFor(network));
  EXPECT_ERROR_CONTAINS(model.Save((OutputPath("no-such-dir") / "model.pt").string()), "does not exist");

  const auto                scriptPath = OutputPath("script.pt");
  torch::jit::ExtraFilesMap extra{ { "metadata.json", MonaiJson().dump() } };
  PointwiseScript().save(scriptPath.string(), extra);
  Model      script = Model::Load(scriptPath.string());
  const auto target = OutputPath("resaved.pt");
  EXPECT_ERROR_CONTAINS(script.Save(target.string()), "is a TorchScript model");
  EXPECT_FALSE(fs::exists(target));
  for (const auto & entry : fs::directory_iterator(target.parent_path()))
  {
    EXPECT_EQ(entry.path().filename().string().find(".resaved"), std::string::npos) << entry.path();
  }
}

TEST(Model, TorchScriptWithEmbeddedMonaiMetadata)
{
  const auto path = OutputPath("pointwise.ts");
  json       metadata = MonaiJson();
  metadata["network_data_format"]["inputs"]["image"]["spatial_shape"] = { 8, 8, 8 };
  torch::jit::ExtraFilesMap extra{ { "metadata.json", metadata.dump() } };
  PointwiseScript().save(path.string(), extra);

  Model model = Model::Load(path.string());
  EXPECT_TRUE(model.IsTorchScript());
  EXPECT_EQ(model.GetMetadata().network.numberOfClasses, 3);
  EXPECT_EQ(model.GetMetadata().classes.GetName(1), "liver");
  const torch::Tensor x = torch::linspace(-1, 1, 2 * 3 * 4).reshape({ 1, 1, 2, 3, 4 });
  const torch::Tensor y = model.Forward(x);
  EXPECT_TRUE(torch::allclose(y, torch::cat({ -x, x, 2 * x - 1 }, 1)));
}

TEST(Model, TorchScriptAxisOrderXYZIsPermutedForTheNetwork)
{
  // Logit 1 grows along the network's last axis; with axisOrder "xyz" that axis is z, the first of (z, y, x).
  torch::jit::Module module("Ramp");
  module.define(R"(
    def forward(self, x):
        ramp = torch.arange(x.size(4)).float().reshape(1, 1, 1, 1, -1)
        return torch.cat([torch.zeros_like(x), ramp * torch.ones_like(x)], 1)
  )");
  json metadata = MonaiJson();
  metadata["network_data_format"]["outputs"]["pred"]["num_channels"] = 2;
  metadata["network_data_format"]["outputs"]["pred"]["channel_def"] = { { "0", "background" }, { "1", "ramp" } };
  const auto                path = OutputPath("ramp.ts");
  torch::jit::ExtraFilesMap extra{ { "metadata.json", metadata.dump() } };
  module.save(path.string(), extra);

  Model               model = Model::Load(path.string());
  const torch::Tensor y = model.Forward(torch::zeros({ 1, 1, 2, 3, 4 })); // (z, y, x) = (2, 3, 4)
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{ 1, 2, 2, 3, 4 }));
  EXPECT_EQ(y[0][1][1][2][3].item<float>(), 1.0f); // z = 1
  EXPECT_EQ(y[0][1][0][2][3].item<float>(), 0.0f); // z = 0, whatever x is
}

TEST(Model, TorchScriptSidecarMetadataAndMissingMetadata)
{
  const auto path = OutputPath("sidecar.pt");
  const auto sidecar = OutputPath("sidecar.pt.json");
  PointwiseScript().save(path.string());
  EXPECT_ERROR_CONTAINS(Model::Load(path.string()), "TorchScript file without metadata");

  ModelMetadata m;
  m.network.architecture = "external";
  m.network.inputChannels = 1;
  m.network.numberOfClasses = 3;
  m.classes = torchseg::LabelTable::LiverTumour();
  m.normalization.method = "none";
  WriteText(sidecar, json(m).dump());
  Model model = Model::Load(path.string());
  EXPECT_TRUE(model.IsTorchScript());
  EXPECT_EQ(model.GetMetadata().network.spatialDimensions, 2);
  EXPECT_EQ(model.GetMetadata().classes.GetName(1), "liver");

  WriteText(sidecar, "{ \"network\": ");
  EXPECT_ERROR_CONTAINS(Model::Load(path.string()), "is not valid JSON");
}

TEST(Model, TorchScriptWhoseMetadataDoesNotFitTheNetwork)
{
  // A 1x1 convolution with one input channel, returning 3 classes.
  torch::jit::Module module("Conv");
  module.register_parameter("weight", torch::ones({ 3, 1, 1, 1 }), false);
  module.define(R"(
    def forward(self, x):
        return torch.conv2d(x, self.weight)
  )");
  const auto path = OutputPath("conv.ts");
  auto       save = [&](int channels, int classes) {
    ModelMetadata m;
    m.network.architecture = "external";
    m.network.inputChannels = channels;
    m.network.numberOfClasses = classes;
    m.sliceContext = (channels - 1) / 2;
    m.classes = torchseg::LabelTable::Generic(static_cast<unsigned int>(classes - 1));
    torch::jit::ExtraFilesMap extra{ { "metadata.json", json(m).dump() } };
    module.save(path.string(), extra);
  };
  save(1, 3);
  EXPECT_NO_THROW(Model::Load(path.string()));
  save(3, 3);
  EXPECT_ERROR_CONTAINS(Model::Load(path.string()), "failed on an input of shape [1, 3, 64, 64]");
  save(1, 2);
  EXPECT_ERROR_CONTAINS(Model::Load(path.string()), "returned logits of shape [1, 3, 64, 64]");

  save(1, 3);
  Model model = Model::Load(path.string());
  EXPECT_ERROR_CONTAINS(model.Forward(torch::zeros({ 1, 2, 8, 8 })), "takes (N, 1, H, W) tensors, not [1, 2, 8, 8]");
  EXPECT_ERROR_CONTAINS(model.Forward(torch::zeros({ 1, 1, 8, 8, 8 })), "not [1, 1, 8, 8, 8]");
}

TEST(Model, UnusableDeviceIsAClearError)
{
  if (torch::cuda::is_available())
  {
    GTEST_SKIP() << "a GPU is available";
  }
  const auto                path = OutputPath("device.ts");
  torch::jit::ExtraFilesMap extra{ { "metadata.json", MonaiJson().dump() } };
  PointwiseScript().save(path.string(), extra);
  EXPECT_ERROR_CONTAINS(Model::Load(path.string(), torch::Device(torch::kCUDA, 0)),
                        "Device \"cuda:0\" was requested, but no usable CUDA GPU is available");
}
