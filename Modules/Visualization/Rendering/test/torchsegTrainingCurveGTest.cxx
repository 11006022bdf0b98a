#include "torchsegTestingSupport.h"
#include "torchsegTrainingCurvePlotter.h"

#include "gtest/gtest.h"

#include <cmath>
#include <fstream>

namespace
{

using torchseg::TrainingCurvePlotter;

double
Loss(int epoch)
{
  return 1.2 * std::exp(-0.2 * epoch) + 0.1;
}
double
MeanDice(int epoch)
{
  return 0.85 - 0.6 * std::exp(-0.3 * epoch);
}

/** A log as TorchSegTrain writes it: 12 epochs, liver Dice 0.08 above the mean, tumour 0.08 below. */
std::string
WriteLog(const std::string & name, bool validation = true)
{
  const auto    path = torchseg::testing::OutputPath(name);
  std::ofstream out(path);
  out << "epoch,trainLoss,learningRate,validationMeanDice,validationDice_liver,validationDice_tumour,epochSeconds,"
         "samplesPerSecond,dataWaitFraction\n";
  for (int e = 1; e <= 12; ++e)
  {
    out << e << "," << Loss(e) << ",0.001,";
    if (validation)
    {
      out << MeanDice(e) << "," << MeanDice(e) + 0.08 << "," << MeanDice(e) - 0.08;
    }
    else
    {
      out << ",,";
    }
    out << ",30.5,12.0,0.1\r\n";
  }
  return path.string();
}

void
ExpectColorAt(const torchseg::RGBCanvas & picture, const std::array<double, 2> & pixel,
              const TrainingCurvePlotter::Color & color, const std::string & what)
{
  const auto actual = picture.GetPixel(static_cast<unsigned int>(std::lround(pixel[0])),
                                       static_cast<unsigned int>(std::lround(pixel[1])));
  EXPECT_EQ(actual, color) << what << " at (" << pixel[0] << ", " << pixel[1] << "): (" << int(actual[0]) << ", "
                           << int(actual[1]) << ", " << int(actual[2]) << ")";
}

} // namespace

TEST(TrainingCurves, ReadsTheTrainingLogColumns)
{
  const auto log = torchseg::ReadTrainingLog(WriteLog("log.csv"));
  ASSERT_EQ(log.epoch.size(), 12u);
  EXPECT_EQ(log.epoch[3], 4.0);
  EXPECT_NEAR(log.trainLoss[3], Loss(4), 1e-5);
  EXPECT_NEAR(log.validationMeanDice[11], MeanDice(12), 1e-5);
  ASSERT_EQ(log.validationDice.size(), 2u);
  EXPECT_EQ(log.validationDice[0].first, "liver");
  EXPECT_EQ(log.validationDice[1].first, "tumour");
  EXPECT_NEAR(log.validationDice[1].second[0], MeanDice(1) - 0.08, 1e-5);
  EXPECT_EQ(log.epochSeconds[0], 30.5);

  const auto empty = torchseg::ReadTrainingLog(WriteLog("novalidation.csv", false));
  EXPECT_TRUE(std::isnan(empty.validationMeanDice[0]));
  EXPECT_TRUE(std::isnan(empty.validationDice[0].second[5]));
}

TEST(TrainingCurves, ReadErrorsNameTheFileAndLine)
{
  const auto missing = torchseg::testing::OutputPath("missing.csv");
  EXPECT_THROW(torchseg::ReadTrainingLog(missing.string()), itk::ExceptionObject);

  const auto noLoss = torchseg::testing::OutputPath("noloss.csv");
  std::ofstream(noLoss) << "epoch,validationMeanDice\n1,0.5\n";
  try
  {
    torchseg::ReadTrainingLog(noLoss.string());
    FAIL() << "a log without trainLoss was accepted";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find(noLoss.string()), std::string::npos);
    EXPECT_NE(std::string(e.GetDescription()).find("trainLoss"), std::string::npos);
  }

  const auto bad = torchseg::testing::OutputPath("bad.csv");
  std::ofstream(bad) << "epoch,trainLoss\n1,0.5\n2,zero point four\n";
  try
  {
    torchseg::ReadTrainingLog(bad.string());
    FAIL() << "a malformed number was accepted";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find("line 3"), std::string::npos) << e.GetDescription();
  }
}

TEST(TrainingCurves, CurvesPassThroughTheirDataPoints)
{
  auto plotter = TrainingCurvePlotter::New();
  plotter->SetLog(torchseg::ReadTrainingLog(WriteLog("log.csv")));
  plotter->SetTitle("unet2d on the phantom");
  plotter->Update();
  const auto & picture = plotter->GetPicture();
  EXPECT_EQ(picture.GetWidth(), 1280u);
  EXPECT_EQ(picture.GetHeight(), 480u);

  // The plotted ranges hold the data and are not much wider.
  const auto & loss = plotter->GetLossAxes();
  EXPECT_LE(loss.yMinimum, Loss(12));
  EXPECT_GE(loss.yMinimum, 0.0);
  EXPECT_GE(loss.yMaximum, Loss(1));
  EXPECT_LE(loss.yMaximum, 1.25 * Loss(1));
  EXPECT_LE(loss.xMinimum, 1.0);
  EXPECT_GE(loss.xMaximum, 12.0);
  EXPECT_LE(loss.xMaximum - loss.xMinimum, 14.0);
  const auto & dice = plotter->GetDiceAxes();
  EXPECT_EQ(dice.yMinimum, 0.0);
  EXPECT_EQ(dice.yMaximum, 1.0);
  EXPECT_GT(dice.left, loss.left + loss.width); // side by side

  for (int e = 1; e <= 12; ++e)
  {
    ExpectColorAt(picture, loss.DataToPixel(e, Loss(e)), TrainingCurvePlotter::GetLossColor(), "loss");
    ExpectColorAt(picture, dice.DataToPixel(e, MeanDice(e)), TrainingCurvePlotter::GetMeanDiceColor(), "mean Dice");
    ExpectColorAt(picture, dice.DataToPixel(e, MeanDice(e) + 0.08), plotter->GetClassColor("liver"), "liver Dice");
  }
  EXPECT_NE(plotter->GetClassColor("liver"), plotter->GetClassColor("tumour"));

  // Independently of DataToPixel: in the column of epoch 1, the loss colour sits where a loss of Loss(1) belongs
  // on an axis from yMinimum (bottom row of the plot area) to yMaximum (top row).
  const int column = static_cast<int>(
    std::lround(loss.left + (1.0 - loss.xMinimum) / (loss.xMaximum - loss.xMinimum) * (loss.width - 1)));
  double rows = 0.0;
  int    count = 0;
  for (int row = loss.top; row < loss.top + loss.height; ++row)
  {
    if (picture.GetPixel(column, row) == TrainingCurvePlotter::GetLossColor())
    {
      rows += row;
      ++count;
    }
  }
  ASSERT_GT(count, 0);
  const double expectedRow = loss.top + (loss.yMaximum - Loss(1)) / (loss.yMaximum - loss.yMinimum) * (loss.height - 1);
  EXPECT_NEAR(rows / count, expectedRow, 2.5);

  const auto path = torchseg::testing::OutputPath("curves.png");
  plotter->WritePNG(path.string());
  const auto read = torchseg::RGBCanvas::ReadPNG(path.string());
  EXPECT_EQ(read.GetWidth(), 1280u);
}

TEST(TrainingCurves, WithoutValidationAndWithoutLoss)
{
  auto plotter = TrainingCurvePlotter::New();
  plotter->SetLog(torchseg::ReadTrainingLog(WriteLog("novalidation.csv", false)));
  EXPECT_NO_THROW(plotter->Update());
  const auto & loss = plotter->GetLossAxes();
  ExpectColorAt(plotter->GetPicture(), loss.DataToPixel(5, Loss(5)), TrainingCurvePlotter::GetLossColor(), "loss");

  torchseg::TrainingLog empty;
  empty.epoch = { 1.0, 2.0 };
  empty.trainLoss = { std::nan(""), std::nan("") };
  plotter->SetLog(empty);
  EXPECT_THROW(plotter->Update(), itk::ExceptionObject);
}
