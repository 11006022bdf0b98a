// TorchSegEvaluate through its executable: numbers in the JSON and CSV outputs, several predictions, and failures
// that leave no output behind.
#include "torchsegImageIO.h"
#include "torchsegTestingSupport.h"

#include "itkImageRegionIteratorWithIndex.h"

#include <nlohmann/json.hpp>

#include "gtest/gtest.h"

#include <fstream>
#include <sstream>

namespace
{

namespace fs = std::filesystem;
using torchseg::testing::Quote;
using torchseg::testing::ReadText;
using torchseg::LabelImageType;
using torchseg::testing::ApplicationPath;
using torchseg::testing::MakeImage;
using torchseg::testing::OutputPath;
using torchseg::testing::RunCommand;

/** Label 1 in the box [lo, hi]^3 of a 50^3 image (the cubes of metrics.md), label 2 in [40, 43]^3 when asked. */
fs::path
WriteCube(const std::string & name, long lo, long hi, bool tumour = false, double spacingZ = 1.0)
{
  LabelImageType::Pointer image = MakeImage<LabelImageType>({ 50, 50, 50 }, { 1.0, 1.0, spacingZ }, { -25, 10, 3 });
  itk::ImageRegionIteratorWithIndex<LabelImageType> it(image, image->GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it)
  {
    const auto & i = it.GetIndex();
    auto         in = [&i](long a, long b) {
      return i[0] >= a && i[0] <= b && i[1] >= a && i[1] <= b && i[2] >= a && i[2] <= b;
    };
    it.Set(in(lo, hi) ? 1 : (tumour && in(40, 43) ? 2 : 0));
  }
  const fs::path path = OutputPath(name);
  torchseg::WriteImageFile(image.GetPointer(), path.string());
  return path;
}

std::string
Evaluate()
{
  return ApplicationPath("TorchSegEvaluate").string();
}

std::vector<std::string>
Lines(const std::string & text)
{
  std::vector<std::string> lines;
  std::stringstream        stream(text);
  std::string              line;
  while (std::getline(stream, line))
  {
    lines.push_back(line);
  }
  return lines;
}

/** Runs a command and returns its exit code, with only its stderr in \a errors. */
int
RunForErrors(const std::string & command, std::string & errors)
{
  return RunCommand("(" + command + " > /dev/null)", &errors);
}

} // namespace

TEST(TorchSegEvaluate, CubesThroughTheExecutable)
{
  const fs::path reference = WriteCube("reference.nii.gz", 10, 29, true);
  const fs::path prediction = WriteCube("prediction.nrrd", 20, 34);
  const fs::path json = OutputPath("result.json");
  const fs::path csv = OutputPath("result.csv");
  const fs::path parameters = OutputPath("parameters.txt");
  std::string    output;
  const int      code =
    RunCommand(Evaluate() + " --json " + Quote(json) + " --csv " + Quote(csv) + " --returnparameterfile " +
                 Quote(parameters) + " --numberOfThreads 2 " + Quote(reference) + " " + Quote(prediction),
               &output);
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("liver"), std::string::npos) << output;
  EXPECT_NE(output.find("mean Dice"), std::string::npos) << output;

  const auto result = nlohmann::json::parse(ReadText(json));
  EXPECT_EQ(result["reference"], reference.string());
  EXPECT_EQ(result["prediction"], prediction.string());
  ASSERT_EQ(result["labels"].size(), 2u);
  const auto & liver = result["labels"][0];
  EXPECT_EQ(liver["label"], 1);
  EXPECT_EQ(liver["name"], "liver");
  EXPECT_EQ(liver["status"], "ok");
  EXPECT_NEAR(liver["dice"].get<double>(), 0.175824, 5e-7);
  EXPECT_NEAR(liver["hd"].get<double>(), 17.3205, 5e-5);
  EXPECT_NEAR(liver["hd95"].get<double>(), 13.9476, 5e-5);
  EXPECT_NEAR(liver["assd"].get<double>(), 6.9092, 5e-5);
  EXPECT_NEAR(liver["masd"].get<double>(), 6.2918, 5e-5);
  EXPECT_NEAR(liver["nsd"].get<double>(), 0.1560, 5e-5);
  EXPECT_DOUBLE_EQ(liver["referenceVolumeMl"].get<double>(), 8.0);
  EXPECT_DOUBLE_EQ(liver["predictionVolumeMl"].get<double>(), 3.375);
  const auto & tumour = result["labels"][1];
  EXPECT_EQ(tumour["name"], "tumour");
  EXPECT_EQ(tumour["status"], "predictionEmpty");
  EXPECT_EQ(tumour["dice"], 0.0);
  EXPECT_TRUE(tumour["hd95"].is_null());
  EXPECT_NEAR(result["meanDice"].get<double>(), 0.175824 / 2, 5e-7);

  const auto rows = Lines(ReadText(csv));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].rfind("reference,prediction,label,name,status,dice,", 0), 0u) << rows[0];
  EXPECT_NE(rows[1].find(",1,liver,ok,0.17582417582417584,"), std::string::npos) << rows[1];
  EXPECT_NE(rows[2].find(",2,tumour,predictionEmpty,0,0,"), std::string::npos) << rows[2];

  const std::string returned = ReadText(parameters);
  EXPECT_NE(returned.find("dice = liver=0.175824,tumour=0\n"), std::string::npos) << returned;
  EXPECT_NE(returned.find("hd95 = liver=13.9476,tumour=inf\n"), std::string::npos) << returned;
  EXPECT_NE(returned.find("meanDice = 0.0879121\n"), std::string::npos) << returned;
}

TEST(TorchSegEvaluate, SeveralPredictionsMakeOneTable)
{
  const fs::path reference = WriteCube("reference.nii.gz", 10, 29);
  const fs::path shifted = WriteCube("shifted.nii.gz", 20, 34);
  const fs::path same = WriteCube("same.mha", 10, 29, true);
  const fs::path json = OutputPath("result.json");
  const fs::path csv = OutputPath("result.csv");
  std::string    output;
  const int      code = RunCommand(Evaluate() + " --labels 1,2,3 --labelNames organ,lesion,other --nsdTolerance 1 " +
                                "--json " + Quote(json) + " --csv " + Quote(csv) + " " + Quote(reference) + " " +
                                Quote(shifted) + " " + Quote(same),
                              &output);
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("shifted.nii.gz"), std::string::npos) << output;
  EXPECT_NE(output.find("same.mha"), std::string::npos) << output;

  const auto result = nlohmann::json::parse(ReadText(json));
  ASSERT_TRUE(result.is_array());
  ASSERT_EQ(result.size(), 2u);
  EXPECT_EQ(result[0]["prediction"], shifted.string());
  EXPECT_EQ(result[1]["prediction"], same.string());
  for (const auto & e : result)
  {
    ASSERT_EQ(e["labels"].size(), 3u);
    EXPECT_EQ(e["labels"][0]["name"], "organ");
    EXPECT_EQ(e["labels"][2]["name"], "other");
    EXPECT_EQ(e["labels"][2]["status"], "absent");
    EXPECT_TRUE(e["labels"][2]["dice"].is_null());
  }
  EXPECT_NEAR(result[0]["labels"][0]["dice"].get<double>(), 0.175824, 5e-7);
  EXPECT_EQ(result[0]["labels"][1]["status"], "absent");
  EXPECT_EQ(result[1]["labels"][0]["dice"], 1.0);
  EXPECT_EQ(result[1]["labels"][0]["hd"], 0.0);
  EXPECT_EQ(result[1]["labels"][0]["nsd"], 1.0);
  EXPECT_EQ(result[1]["labels"][1]["status"], "referenceEmpty");
  EXPECT_EQ(Lines(ReadText(csv)).size(), 1u + 2u * 3u);
}

TEST(TorchSegEvaluate, GeometryMismatchFailsWithoutOutput)
{
  const fs::path reference = WriteCube("reference.nii.gz", 10, 29);
  const fs::path thick = WriteCube("thick.nii.gz", 10, 29, false, 2.5);
  const fs::path json = OutputPath("result.json");
  const fs::path csv = OutputPath("result.csv");
  std::string    errors;
  const int      code = RunForErrors(Evaluate() + " --json " + Quote(json) + " --csv " + Quote(csv) + " " +
                                  Quote(reference) + " " + Quote(thick),
                                errors);
  EXPECT_NE(code, 0);
  const auto lines = Lines(errors);
  ASSERT_EQ(lines.size(), 1u) << errors;
  EXPECT_EQ(lines[0].rfind("TorchSegEvaluate: error: prediction " + thick.string(), 0), 0u) << errors;
  EXPECT_NE(lines[0].find("spacing (1, 1, 2.5) instead of (1, 1, 1)"), std::string::npos) << errors;
  EXPECT_FALSE(fs::exists(json));
  EXPECT_FALSE(fs::exists(csv));
  for (const auto & entry : fs::directory_iterator(json.parent_path()))
  {
    EXPECT_EQ(entry.path().filename().string().find("GeometryMismatchFailsWithoutOutput_result"), std::string::npos)
      << "left behind: " << entry.path();
  }
}

TEST(TorchSegEvaluate, MissingFileFailsWithoutOutput)
{
  const fs::path reference = WriteCube("reference.nii.gz", 10, 29);
  const fs::path json = OutputPath("result.json");
  const fs::path missing = OutputPath("missing.nii.gz");
  std::string    errors;
  // The first prediction is fine; the second does not exist: nothing is written.
  const int code = RunForErrors(Evaluate() + " --json " + Quote(json) + " " + Quote(reference) + " " +
                                  Quote(reference) + " " + Quote(missing),
                                errors);
  EXPECT_NE(code, 0);
  const auto lines = Lines(errors);
  ASSERT_EQ(lines.size(), 1u) << errors;
  EXPECT_NE(lines[0].find(missing.string()), std::string::npos) << errors;
  EXPECT_FALSE(fs::exists(json));

  // A missing reference.
  EXPECT_NE(RunForErrors(Evaluate() + " " + Quote(missing) + " " + Quote(reference), errors), 0);
  EXPECT_NE(errors.find(missing.string()), std::string::npos) << errors;
  // An output directory that does not exist: refused before any work.
  EXPECT_NE(
    RunForErrors(Evaluate() + " --csv /nonexistent/dir/out.csv " + Quote(reference) + " " + Quote(reference), errors),
    0);
  EXPECT_NE(errors.find("/nonexistent/dir"), std::string::npos) << errors;
}

TEST(TorchSegEvaluate, BadArgumentsAreUsageErrors)
{
  const fs::path reference = WriteCube("reference.nii.gz", 10, 29);
  std::string    errors;
  EXPECT_EQ(RunForErrors(Evaluate() + " --nsdTolerance -1 " + Quote(reference) + " " + Quote(reference), errors), 2);
  EXPECT_NE(errors.find("--nsdTolerance"), std::string::npos) << errors;
  EXPECT_EQ(
    RunForErrors(Evaluate() + " --labels 1,2 --labelNames a " + Quote(reference) + " " + Quote(reference), errors), 2);
  EXPECT_NE(errors.find("--labelNames"), std::string::npos) << errors;
  EXPECT_EQ(RunForErrors(Evaluate() + " " + Quote(reference), errors), 2);
  EXPECT_NE(errors.find("predictions"), std::string::npos) << errors;

  std::string xml;
  ASSERT_EQ(RunCommand(Evaluate() + " --xml", &xml), 0);
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"utf-8\"?>", 0), 0u);
  EXPECT_NE(xml.find("<name>predictions</name>"), std::string::npos);
}

namespace
{

using Box = std::array<long, 6>; // x0, y0, z0, x1, y1, z1 (inclusive)

/** A 50^3 image of 0.8 x 0.8 x 1.5 mm voxels: a liver (label 1) in [2, 47]^3 and tumours (label 2) in the boxes. */
fs::path
WriteTumours(const std::string & name, const std::vector<Box> & tumours, bool liver = true)
{
  LabelImageType::Pointer image = MakeImage<LabelImageType>({ 50, 50, 50 }, { 0.8, 0.8, 1.5 }, { -25, 10, 3 });
  itk::ImageRegionIteratorWithIndex<LabelImageType> it(image, image->GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it)
  {
    const auto & i = it.GetIndex();
    auto         in = [&i](const Box & b) {
      return i[0] >= b[0] && i[1] >= b[1] && i[2] >= b[2] && i[0] <= b[3] && i[1] <= b[4] && i[2] <= b[5];
    };
    it.Set(std::any_of(tumours.begin(), tumours.end(), in) ? 2 : (liver && in({ 2, 2, 2, 47, 47, 47 }) ? 1 : 0));
  }
  const fs::path path = OutputPath(name);
  torchseg::WriteImageFile(image.GetPointer(), path.string());
  return path;
}

/** Reference tumours R1 (1000 voxels), R2 (216), R3 (64); the prediction finds R1 shifted (800 shared), R2 with two
 * components (72 shared each), misses R3 and adds a false positive P4. */
void
WriteTumourPair(fs::path & reference, fs::path & prediction)
{
  reference =
    WriteTumours("reference.nii.gz", { { 5, 5, 5, 14, 14, 14 }, { 30, 5, 5, 35, 10, 10 }, { 40, 30, 30, 43, 33, 33 } });
  prediction = WriteTumours(
    "prediction.nii.gz",
    { { 7, 5, 5, 16, 14, 14 }, { 27, 5, 5, 31, 10, 10 }, { 34, 5, 5, 38, 10, 10 }, { 40, 40, 20, 42, 42, 22 } });
}

} // namespace

TEST(TorchSegEvaluate, LesionDetectionThroughTheExecutable)
{
  fs::path reference, prediction;
  WriteTumourPair(reference, prediction);
  const fs::path json = OutputPath("result.json");
  const fs::path plainJson = OutputPath("plain.json");
  const fs::path csv = OutputPath("result.csv");
  const fs::path plainCsv = OutputPath("plain.csv");
  const fs::path lesionCsv = OutputPath("lesions.csv");
  const fs::path parameters = OutputPath("parameters.txt");
  std::string    output;
  ASSERT_EQ(RunCommand(Evaluate() + " --json " + Quote(plainJson) + " --csv " + Quote(plainCsv) + " " +
                         Quote(reference) + " " + Quote(prediction),
                       &output),
            0)
    << output;
  EXPECT_EQ(output.find("Lesions"), std::string::npos) << output;
  ASSERT_EQ(RunCommand(Evaluate() + " --lesionLabels 2 --json " + Quote(json) + " --csv " + Quote(csv) +
                         " --lesionCsv " + Quote(lesionCsv) + " --returnparameterfile " + Quote(parameters) + " " +
                         Quote(reference) + " " + Quote(prediction),
                       &output),
            0)
    << output;
  EXPECT_NE(output.find("tumour: 2 of 3 lesions detected (rate 0.6667), 1 of 4 predicted components false positive "
                        "(precision 0.7500), F1 0.7059"),
            std::string::npos)
    << output;
  EXPECT_NE(output.find("diameter >= 10 mm: 1 of 1 lesions detected (rate 1.0000)"), std::string::npos) << output;
  EXPECT_NE(output.find("FP 4"), std::string::npos) << output;

  // The JSON of the contract is unchanged; "lesions" is added.
  auto result = nlohmann::ordered_json::parse(ReadText(json));
  ASSERT_EQ(result.count("lesions"), 1u);
  const auto lesions = result["lesions"];
  result.erase("lesions");
  EXPECT_EQ(result, nlohmann::ordered_json::parse(ReadText(plainJson)));
  EXPECT_EQ(ReadText(csv), ReadText(plainCsv));

  ASSERT_EQ(lesions.size(), 1u);
  const auto & tumour = lesions[0];
  EXPECT_EQ(tumour["label"], 2);
  EXPECT_EQ(tumour["name"], "tumour");
  EXPECT_EQ(tumour["status"], "ok");
  EXPECT_EQ(tumour["connectivity"], "full");
  EXPECT_EQ(tumour["minimumDiameterMm"], 10.0);
  EXPECT_EQ(tumour["referenceLesions"], 3);
  EXPECT_EQ(tumour["detectedLesions"], 2);
  EXPECT_DOUBLE_EQ(tumour["detectionRate"].get<double>(), 2.0 / 3.0);
  EXPECT_EQ(tumour["predictedComponents"], 4);
  EXPECT_EQ(tumour["falsePositiveComponents"], 1);
  EXPECT_EQ(tumour["precision"], 0.75);
  EXPECT_DOUBLE_EQ(tumour["f1"].get<double>(), 12.0 / 17.0);
  EXPECT_DOUBLE_EQ(tumour["meanLesionDice"].get<double>(), 1.3 / 3.0);
  const auto & large = tumour["aboveMinimumDiameter"];
  EXPECT_EQ(large["referenceLesions"], 1);
  EXPECT_EQ(large["detectionRate"], 1.0);
  EXPECT_EQ(large["predictedComponents"], 1);
  EXPECT_EQ(large["precision"], 1.0);

  const auto & list = tumour["referenceLesionList"];
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0]["voxels"], 1000);
  EXPECT_NEAR(list[0]["volumeMl"].get<double>(), 0.96, 1e-7); // float32 spacing in the NIfTI header
  EXPECT_NEAR(list[0]["equivalentDiameterMm"].get<double>(), 12.2393, 5e-5);
  EXPECT_EQ(list[0]["maximumExtentMm"], 15.0);
  // The mean index (9.5, 9.5, 9.5) in world coordinates; the NIfTI header holds float32.
  EXPECT_NEAR(list[0]["centroid"][0].get<double>(), -25.0 + 9.5 * 0.8, 1e-5);
  EXPECT_NEAR(list[0]["centroid"][1].get<double>(), 10.0 + 9.5 * 0.8, 1e-5);
  EXPECT_NEAR(list[0]["centroid"][2].get<double>(), 3.0 + 9.5 * 1.5, 1e-5);
  EXPECT_EQ(list[0]["detected"], true);
  EXPECT_EQ(list[0]["dice"], 0.8);
  EXPECT_EQ(list[1]["dice"], 0.5);
  EXPECT_EQ(list[1]["matchedComponents"], nlohmann::ordered_json::array({ 2, 3 }));
  EXPECT_EQ(list[2]["detected"], false);
  EXPECT_EQ(list[2]["dice"], 0.0);
  const auto & components = tumour["predictedComponentList"];
  ASSERT_EQ(components.size(), 4u);
  EXPECT_EQ(components[3]["falsePositive"], true);
  EXPECT_EQ(components[3]["voxels"], 27);
  EXPECT_EQ(components[0]["falsePositive"], false);

  const auto rows = Lines(ReadText(lesionCsv));
  ASSERT_EQ(rows.size(), 1u + 3u + 4u);
  EXPECT_EQ(rows[0].rfind("reference,prediction,label,name,kind,id,voxels,volumeMl,equivalentDiameterMm,", 0), 0u);
  EXPECT_NE(rows[3].find(",2,tumour,reference,3,64,"), std::string::npos) << rows[3];
  EXPECT_NE(rows[7].find(",2,tumour,prediction,4,27,"), std::string::npos) << rows[7];

  EXPECT_NE(ReadText(parameters).find("lesionDetectionRate = tumour=0.666667\n"), std::string::npos)
    << ReadText(parameters);

  // Face connectivity, a larger overlap and a smaller diameter.
  ASSERT_EQ(RunCommand(Evaluate() + " --lesionLabels 2 --lesionFaceConnectivity --lesionMinimumOverlap 100 " +
                         "--lesionMinimumDiameter 7 --json " + Quote(json) + " " + Quote(reference) + " " +
                         Quote(prediction),
                       &output),
            0)
    << output;
  const auto strict = nlohmann::json::parse(ReadText(json))["lesions"][0];
  EXPECT_EQ(strict["connectivity"], "face");
  EXPECT_EQ(strict["minimumOverlapVoxels"], 100);
  EXPECT_EQ(strict["detectedLesions"], 1);                          // R2 shares only 72 voxels with each component
  EXPECT_EQ(strict["aboveMinimumDiameter"]["referenceLesions"], 2); // R2: 7.34 mm
  EXPECT_EQ(strict["aboveMinimumDiameter"]["detectedLesions"], 1);
}

TEST(TorchSegEvaluate, LesionFlagsRejectBadValues)
{
  fs::path reference, prediction;
  WriteTumourPair(reference, prediction);
  const fs::path    json = OutputPath("result.json");
  const fs::path    lesionCsv = OutputPath("lesions.csv");
  const std::string images = " --json " + Quote(json) + " " + Quote(reference) + " " + Quote(prediction);
  const std::vector<std::pair<std::string, std::string>> cases = {
    { "--lesionLabels 2 --lesionMinimumDiameter -1", "--lesionMinimumDiameter: -1 is not a diameter in mm (>= 0)" },
    { "--lesionLabels 2 --lesionMinimumOverlap 0", "--lesionMinimumOverlap: 0 is not a number of voxels (>= 1)" },
    { "--lesionLabels -2", "--lesionLabels: -2 is not a label value (labels are 0 to 255)" },
    { "--lesionLabels 300", "--lesionLabels: 300 is not a label value (labels are 0 to 255)" },
    { "--lesionLabels 0", "--lesionLabels: 0 is the background, not a lesion label" },
    { "--labels 1 --lesionLabels 2", "--lesionLabels: 2 is not one of the labels of --labels 1" },
    { "--lesionLabels 5", "--lesionLabels: label 5 is in neither " + reference.string() + " nor the prediction(s)" },
    { "--lesionCsv " + Quote(lesionCsv), "--lesionCsv needs --lesionLabels" },
  };
  for (const auto & c : cases)
  {
    std::string errors;
    EXPECT_EQ(RunForErrors(Evaluate() + " " + c.first + images, errors), 2) << c.first;
    const auto lines = Lines(errors);
    ASSERT_EQ(lines.size(), 1u) << c.first << ": " << errors;
    EXPECT_EQ(lines[0].rfind("TorchSegEvaluate: error: " + c.second, 0), 0u) << c.first << ": " << errors;
    EXPECT_FALSE(fs::exists(json)) << c.first;
    EXPECT_FALSE(fs::exists(lesionCsv)) << c.first;
  }

  // A case without tumours is evaluated when the label is asked for: no reference lesion, one false positive.
  const fs::path clean = WriteTumours("clean.nii.gz", {});
  const fs::path spot = WriteTumours("spot.nii.gz", { { 20, 20, 20, 22, 22, 22 } });
  std::string    output;
  ASSERT_EQ(RunCommand(Evaluate() + " --labels 1,2 --lesionLabels 2 --json " + Quote(json) + " " + Quote(clean) + " " +
                         Quote(spot),
                       &output),
            0)
    << output;
  const auto tumour = nlohmann::json::parse(ReadText(json))["lesions"][0];
  EXPECT_EQ(tumour["status"], "referenceEmpty");
  EXPECT_TRUE(tumour["detectionRate"].is_null());
  EXPECT_EQ(tumour["precision"], 0.0);
  EXPECT_EQ(tumour["falsePositiveComponents"], 1);
  // Clean against clean: absent, and the rates are null.
  ASSERT_EQ(RunCommand(Evaluate() + " --labels 1,2 --lesionLabels 2 --json " + Quote(json) + " " + Quote(clean) + " " +
                         Quote(clean),
                       &output),
            0)
    << output;
  EXPECT_EQ(nlohmann::json::parse(ReadText(json))["lesions"][0]["status"], "absent");
  EXPECT_NE(output.find("tumour: absent"), std::string::npos) << output;
}
