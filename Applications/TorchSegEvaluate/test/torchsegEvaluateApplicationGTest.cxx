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

std::string
Quote(const fs::path & path)
{
  return "'" + path.string() + "'";
}

std::string
ReadText(const fs::path & path)
{
  std::ifstream     file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
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
