#include "torchsegApplication.h"
#include "torchsegTestingSupport.h"

#include "gtest/gtest.h"

#include <fstream>
#include <stdexcept>
#include <sstream>

#include "TorchSegCommandLineTestXML.h"

using torchseg::cli::Application;
using torchseg::cli::UsageError;

namespace
{
Application
MakeApplication()
{
  return Application(TorchSegCommandLineTestXMLDescription, "TestApp");
}
} // namespace

TEST(ModuleDescription, ReadsMetadataGroupsAndParameters)
{
  const Application app = MakeApplication();
  const auto &      d = app.GetDescription();
  EXPECT_EQ(d.category, "Segmentation.TorchSeg");
  EXPECT_EQ(d.version.empty(), false);
  EXPECT_NE(d.version, "@TORCHSEG_VERSION@");
  ASSERT_EQ(d.groups.size(), 1u);
  EXPECT_EQ(d.GetAllParameters().size(), 8u);
  const auto * loss = d.FindByLongFlag("loss");
  ASSERT_NE(loss, nullptr);
  EXPECT_TRUE(loss->IsEnumeration());
  EXPECT_EQ(loss->elements.size(), 2u);
  EXPECT_TRUE(d.FindByName("meanDice")->IsReturnParameter());
  const auto positional = d.GetPositionalParameters();
  ASSERT_EQ(positional.size(), 2u);
  EXPECT_EQ(positional[0]->name, "reference");
  EXPECT_TRUE(positional[1]->multiple);
}

TEST(Application, DefaultsComeFromTheXML)
{
  const auto args = MakeApplication().Parse({ "ref.nii", "pred.nii" });
  EXPECT_EQ(args.GetInt("epochs"), 10);
  EXPECT_FALSE(args.IsSet("epochs"));
  EXPECT_EQ(args.GetDoubleVector("spacing"), (std::vector<double>{ 1, 1, 1 }));
  EXPECT_FALSE(args.GetBool("tta"));
  EXPECT_EQ(args.GetString("loss"), "dicece");
  EXPECT_EQ(args.GetString("reference"), "ref.nii");
  EXPECT_EQ(args.GetStringVector("predictions"), (std::vector<std::string>{ "pred.nii" }));
}

TEST(Application, ParsesSlicerStyleCommandLines)
{
  const auto args = MakeApplication().Parse({ "--epochs",
                                              "3",
                                              "--spacing",
                                              "0.8,0.8,2.5",
                                              "--tta",
                                              "--loss=ce",
                                              "--returnparameterfile",
                                              "/tmp/x.txt",
                                              "ref.nii",
                                              "a.nii",
                                              "b.nii" });
  EXPECT_EQ(args.GetInt("epochs"), 3);
  EXPECT_TRUE(args.IsSet("epochs"));
  EXPECT_EQ(args.GetDoubleVector("spacing"), (std::vector<double>{ 0.8, 0.8, 2.5 }));
  EXPECT_TRUE(args.GetBool("tta"));
  EXPECT_EQ(args.GetString("loss"), "ce");
  EXPECT_EQ(args.GetStringVector("predictions"), (std::vector<std::string>{ "a.nii", "b.nii" }));
}

TEST(Application, RejectsBadCommandLinesNamingTheFlag)
{
  const Application app = MakeApplication();
  auto              message = [&](const std::vector<std::string> & argv) -> std::string {
    try
    {
      app.Parse(argv);
    }
    catch (const UsageError & e)
    {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(message({ "--epochs", "ten", "r", "p" }).find("--epochs"), std::string::npos);
  EXPECT_NE(message({ "--spacing", "1,x,1", "r", "p" }).find("--spacing"), std::string::npos);
  EXPECT_NE(message({ "--loss", "focal", "r", "p" }).find("one of ce, dicece"), std::string::npos);
  EXPECT_NE(message({ "--bogus", "r", "p" }).find("unknown option --bogus"), std::string::npos);
  EXPECT_NE(message({ "r" }).find("missing argument predictions"), std::string::npos);
  EXPECT_NE(message({ "r", "p", "--epochs" }).find("needs a value"), std::string::npos);
  EXPECT_EQ(message({ "--epochs", "-3", "r", "p" }), "no error");
}

TEST(Application, RunWritesReturnParametersAndMapsErrorsToExitCodes)
{
  Application              app = MakeApplication();
  const std::string        returnFile = torchseg::testing::OutputPath("return.txt").string();
  std::vector<std::string> argvStrings{ "TestApp", "--returnparameterfile", returnFile, "--numberOfThreads", "2", "r",
                                        "p" };
  std::vector<char *>      argv;
  for (auto & s : argvStrings)
  {
    argv.push_back(s.data());
  }
  int       threads = 0;
  const int code = app.Run(static_cast<int>(argv.size()), argv.data(), [&](const auto &, Application & a) {
    threads = a.GetNumberOfThreads();
    a.SetReturnValue("meanDice", "0.93");
  });
  EXPECT_EQ(code, 0);
  EXPECT_EQ(threads, 2);
  EXPECT_EQ(torchseg::testing::ReadText(returnFile), "meanDice = 0.93\n");

  const int failing = app.Run(static_cast<int>(argv.size()), argv.data(), [](const auto &, Application &) {
    itkGenericExceptionMacro(<< "cannot read broken.nii");
  });
  EXPECT_EQ(failing, 1);
  std::vector<char *> bad{ argv[0], argvStrings[5].data() };
  EXPECT_EQ(app.Run(2, bad.data(), [](const auto &, Application &) {}), 2);
}

TEST(Application, UsageIsGeneratedFromTheXML)
{
  const std::string usage = MakeApplication().GetUsage();
  EXPECT_NE(usage.find("--epochs <integer>"), std::string::npos);
  EXPECT_NE(usage.find("Number of epochs. Default: 10."), std::string::npos);
  EXPECT_NE(usage.find("Choices: ce dicece."), std::string::npos);
}

TEST(ProgressReporter, WritesSlicerTags)
{
  std::ostringstream              tags;
  torchseg::cli::ProgressReporter progress(false, true, nullptr, &tags);
  progress.Start("Segmenting", "network");
  progress.Report(0.5);
  progress.Report(0.501); // below the 1 % step: not repeated
  progress.End();
  const std::string text = tags.str();
  EXPECT_NE(text.find("<filter-start>\n<filter-name>Segmenting</filter-name>"), std::string::npos);
  EXPECT_NE(text.find("<filter-progress>0.5</filter-progress>"), std::string::npos);
  EXPECT_EQ(text.find("0.501"), std::string::npos);
  EXPECT_NE(text.find("<filter-end>"), std::string::npos);
}

TEST(Application, PositionalArgumentsCanBeReplacedByAParameter)
{
  // As TorchSegPredict's --inputList replaces INPUT OUTPUT: only when that parameter is given may they be left out.
  Application app = MakeApplication();
  EXPECT_THROW(app.Parse({ "--loss", "ce" }), UsageError);
  EXPECT_THROW(app.SetPositionalArgumentsReplacedBy("inputList"), std::logic_error); // not a parameter of the XML
  app.SetPositionalArgumentsReplacedBy("loss");
  const auto parsed = app.Parse({ "--loss", "ce" });
  EXPECT_EQ(parsed.GetString("loss"), "ce");
  EXPECT_EQ(parsed.GetString("reference"), "");
  EXPECT_FALSE(parsed.IsSet("predictions"));
  try
  {
    app.Parse({ "--epochs", "3" });
    ADD_FAILURE() << "positional arguments are still required without --loss";
  }
  catch (const UsageError & e)
  {
    EXPECT_NE(std::string(e.what()).find("missing argument reference"), std::string::npos) << e.what();
  }
  // Given anyway, they are parsed as usual (the application decides whether both may be used).
  EXPECT_EQ(app.Parse({ "--loss", "ce", "r", "p" }).GetString("reference"), "r");
  EXPECT_NE(app.GetUsage().find("TestApp [options] --loss <string-enumeration>"), std::string::npos) << app.GetUsage();
}
