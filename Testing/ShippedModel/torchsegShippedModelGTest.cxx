// The shipped default model, end to end through the applications a newcomer runs first: a fixed phantom (the
// quickstart's case) is generated, segmented with TorchSegPredict's default model and defaults, and evaluated. A
// regression anywhere (phantom, I/O, preprocessing, networks, inference, post-processing, metrics) moves these numbers.
#include "torchsegTestingSupport.h"

#include "gtest/gtest.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace
{
namespace fs = std::filesystem;
using torchseg::testing::Quote;
using torchseg::testing::ReadText;
using torchseg::testing::ApplicationPath;
using torchseg::testing::OutputPath;
using torchseg::testing::RunCommand;

// The quickstart's case (scripts/quickstart.sh), segmented as a newcomer does: no flags, so the clean-up the model
// file recommends (largest liver component, tumours outside the liver removed) is applied.
constexpr const char * QuickstartPhantom = "--cases 1 --seed 2026 --size 512 --slices 120";
// What the shipped model scored on that case when it was shipped (2026-11-25: liver Dice 0.9656, HD95 4.47 mm; one of
// its three tumours of 10 mm and more found, the 18 mm rim-enhancing one, tumour Dice 0.085), less a margin for
// floating-point differences between machines. The model misses issue 8's tumour targets on fresh phantoms
// (docs/model-card.md): these thresholds catch regressions, they do not claim quality.
constexpr double MinimumLiverDice = 0.955;
constexpr double MaximumLiverHD95 = 5.0;

nlohmann::json
ReadJson(const fs::path & path)
{
  return nlohmann::json::parse(ReadText(path));
}

const nlohmann::json &
Label(const nlohmann::json & evaluation, const std::string & name)
{
  for (const auto & label : evaluation.at("labels"))
  {
    if (label.at("name") == name)
    {
      return label;
    }
  }
  throw std::runtime_error("no label " + name + " in the evaluation");
}

} // namespace

TEST(ShippedModel, SegmentsTheQuickstartPhantomAsDocumented)
{
  const fs::path work = OutputPath("work");
  fs::create_directories(work);
  std::string output;
  ASSERT_EQ(RunCommand(Quote(ApplicationPath("TorchSegPhantom")) + " --outputDirectory " + Quote(work) + " " +
                         QuickstartPhantom + " --numberOfThreads 2 > /dev/null",
                       &output),
            0)
    << output;
  const fs::path prediction = work / "prediction.nii.gz";
  ASSERT_EQ(RunCommand(Quote(ApplicationPath("TorchSegPredict")) + " --numberOfThreads 2 " +
                         Quote(work / "case000_ct.nii.gz") + " " + Quote(prediction),
                       &output),
            0)
    << output;
  // The model file carries its post-processing, and TorchSegPredict applies it without being asked.
  EXPECT_NE(output.find("post-processing (with the model's recommendation): largest organ component kept"),
            std::string::npos)
    << output;
  const fs::path json = work / "evaluation.json";
  ASSERT_EQ(RunCommand(Quote(ApplicationPath("TorchSegEvaluate")) +
                         " --labels 1,2 --labelNames liver,tumour --lesionLabels 2 --lesionMinimumDiameter 10 --json " +
                         Quote(json) + " " + Quote(work / "case000_label.nii.gz") + " " + Quote(prediction) +
                         " > /dev/null",
                       &output),
            0)
    << output;
  const auto   evaluation = ReadJson(json);
  const auto & liver = Label(evaluation, "liver");
  const auto & tumour = Label(evaluation, "tumour");
  const auto & lesions = evaluation.at("lesions").at(0);
  std::cout << "liver Dice " << liver.at("dice") << ", HD95 " << liver.at("hd95") << " mm; tumour Dice "
            << tumour.at("dice") << "; lesions >= 10 mm detected "
            << lesions.at("aboveMinimumDiameter").at("detectedLesions") << " of "
            << lesions.at("aboveMinimumDiameter").at("referenceLesions") << std::endl;
  EXPECT_GE(liver.at("dice").get<double>(), MinimumLiverDice);
  EXPECT_LE(liver.at("hd95").get<double>(), MaximumLiverHD95);
  EXPECT_EQ(lesions.at("aboveMinimumDiameter").at("referenceLesions").get<int>(), 3);
  EXPECT_GE(lesions.at("aboveMinimumDiameter").at("detectedLesions").get<int>(), 1);
}
