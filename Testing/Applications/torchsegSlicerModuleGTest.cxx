// Every application's --xml answer against the rules of Slicer's ModuleDescriptionParser, and the agreement between
// the flags an application accepts and the flags its XML declares.
#include "torchsegApplication.h"
#include "torchsegTestingSupport.h"

#include <tinyxml2.h>

#include "gtest/gtest.h"

#include <regex>
#include <set>
#include <sstream>

namespace
{

std::vector<std::string>
ApplicationNames()
{
  std::vector<std::string> names;
  std::stringstream        list(TORCHSEG_APPLICATION_NAMES);
  std::string              name;
  while (std::getline(list, name, ','))
  {
    if (!name.empty())
    {
      names.push_back(name);
    }
  }
  return names;
}

std::string
XMLOf(const std::string & app)
{
  std::string output;
  const int code = torchseg::testing::RunCommand(torchseg::testing::ApplicationPath(app).string() + " --xml", &output);
  EXPECT_EQ(code, 0) << app << " --xml failed: " << output;
  return output;
}

const std::set<std::string> &
ParameterTags()
{
  static const std::set<std::string> tags{ "integer",
                                           "float",
                                           "double",
                                           "boolean",
                                           "string",
                                           "integer-vector",
                                           "float-vector",
                                           "double-vector",
                                           "string-vector",
                                           "integer-enumeration",
                                           "float-enumeration",
                                           "double-enumeration",
                                           "string-enumeration",
                                           "point",
                                           "pointfile",
                                           "region",
                                           "file",
                                           "directory",
                                           "image",
                                           "geometry",
                                           "transform",
                                           "table",
                                           "measurement" };
  return tags;
}

class SlicerModule : public ::testing::TestWithParam<std::string>
{};

} // namespace

TEST_P(SlicerModule, XMLFollowsTheExecutionModelRules)
{
  const std::string app = GetParam();
  const std::string xml = XMLOf(app);
  ASSERT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n", 0), 0u) << app << ": first line";

  tinyxml2::XMLDocument document;
  ASSERT_EQ(document.Parse(xml.c_str()), tinyxml2::XML_SUCCESS) << app << ": " << document.ErrorStr();
  const tinyxml2::XMLElement * executable = document.FirstChildElement("executable");
  ASSERT_NE(executable, nullptr) << app;
  for (const char * field :
       { "category", "title", "description", "version", "documentation-url", "license", "contributor" })
  {
    const auto * element = executable->FirstChildElement(field);
    ASSERT_TRUE(element && element->GetText() && *element->GetText()) << app << ": <" << field << "> is missing";
  }
  EXPECT_STREQ(executable->FirstChildElement("category")->GetText(), "Segmentation.TorchSeg") << app;
  EXPECT_EQ(std::string(executable->FirstChildElement("version")->GetText()).find('@'), std::string::npos) << app;

  const std::regex      namePattern("[A-Za-z_][A-Za-z0-9_]*");
  const std::regex      longFlagPattern("[a-z][A-Za-z0-9]*");
  std::set<std::string> names, flags;
  std::set<int>         indices;
  int                   groups = 0;
  for (const auto * group = executable->FirstChildElement("parameters"); group;
       group = group->NextSiblingElement("parameters"))
  {
    ++groups;
    ASSERT_NE(group->FirstChildElement("label"), nullptr) << app << ": a <parameters> group without <label>";
    for (const auto * p = group->FirstChildElement(); p; p = p->NextSiblingElement())
    {
      const std::string tag = p->Name();
      if (tag == "label" || tag == "description")
      {
        continue;
      }
      ASSERT_TRUE(ParameterTags().count(tag)) << app << ": unknown parameter type <" << tag << ">";
      const auto * nameElement = p->FirstChildElement("name");
      ASSERT_TRUE(nameElement && nameElement->GetText()) << app << ": <" << tag << "> without <name>";
      const std::string name = nameElement->GetText();
      SCOPED_TRACE(app + " parameter " + name);
      EXPECT_TRUE(std::regex_match(name, namePattern));
      EXPECT_TRUE(names.insert(name).second) << "duplicate name";
      EXPECT_NE(p->FirstChildElement("label"), nullptr);
      EXPECT_NE(p->FirstChildElement("description"), nullptr);
      const auto * longFlag = p->FirstChildElement("longflag");
      const auto * flag = p->FirstChildElement("flag");
      const auto * index = p->FirstChildElement("index");
      const auto * channel = p->FirstChildElement("channel");
      if (longFlag)
      {
        const std::string text = longFlag->GetText();
        EXPECT_TRUE(std::regex_match(text, longFlagPattern)) << "long flag " << text;
        EXPECT_TRUE(flags.insert(text).second) << "duplicate flag";
      }
      if (flag)
      {
        EXPECT_EQ(std::string(flag->GetText()).size(), 1u) << "short flags are one character";
      }
      if (index)
      {
        EXPECT_EQ(longFlag, nullptr) << "an indexed parameter has no flag";
        EXPECT_EQ(flag, nullptr);
        EXPECT_TRUE(indices.insert(std::stoi(index->GetText())).second) << "duplicate index";
      }
      const bool isFileLike = tag == "image" || tag == "file" || tag == "directory" || tag == "transform" ||
                              tag == "geometry" || tag == "table" || tag == "pointfile";
      if (isFileLike)
      {
        ASSERT_NE(channel, nullptr) << "file-like parameters need a channel";
      }
      if (channel)
      {
        const std::string c = channel->GetText();
        EXPECT_TRUE(c == "input" || c == "output");
        if (c == "output" && !index && !longFlag && !flag)
        {
          EXPECT_FALSE(isFileLike) << "return parameters are simple values";
        }
      }
      else
      {
        EXPECT_TRUE(longFlag || flag || index) << "an input parameter needs a flag or an index";
      }
      if (tag == "image")
      {
        const char * type = p->Attribute("type");
        if (type && std::string(type) == "label" && channel && std::string(channel->GetText()) == "output")
        {
          const char * reference = p->Attribute("reference");
          ASSERT_NE(reference, nullptr) << "label outputs name their reference image";
        }
        if (const char * extensions = p->Attribute("fileExtensions"))
        {
          EXPECT_EQ(extensions[0], '.') << "fileExtensions start with a dot";
        }
      }
      if (tag.find("-enumeration") != std::string::npos)
      {
        std::set<std::string> elements;
        for (const auto * e = p->FirstChildElement("element"); e; e = e->NextSiblingElement("element"))
        {
          elements.insert(e->GetText());
        }
        ASSERT_FALSE(elements.empty()) << "an enumeration without elements";
        const auto * def = p->FirstChildElement("default");
        ASSERT_NE(def, nullptr) << "an enumeration without default";
        EXPECT_TRUE(elements.count(def->GetText())) << "default " << def->GetText() << " is not an element";
      }
      if (tag == "boolean")
      {
        const auto * def = p->FirstChildElement("default");
        ASSERT_NE(def, nullptr);
        EXPECT_TRUE(std::string(def->GetText()) == "false") << "booleans are bare flags: default false";
      }
    }
  }
  EXPECT_GT(groups, 0);
  // Indices are contiguous from 0.
  int expected = 0;
  for (int i : indices)
  {
    EXPECT_EQ(i, expected++) << app << ": indices must be 0, 1, ...";
  }
  // The two reserved Slicer flags are never redeclared, and the thread count is declared everywhere.
  EXPECT_FALSE(flags.count("returnparameterfile"));
  EXPECT_FALSE(flags.count("processinformationaddress"));
  EXPECT_TRUE(flags.count("numberOfThreads")) << app << " declares no --numberOfThreads";
}

TEST_P(SlicerModule, AcceptsExactlyTheFlagsItsXMLDeclares)
{
  const std::string app = GetParam();
  const auto        description = torchseg::cli::ModuleDescription::Parse(XMLOf(app));
  const std::string exe = torchseg::testing::ApplicationPath(app).string();
  for (const auto * p : description.GetAllParameters())
  {
    if (p->longFlag.empty())
    {
      continue;
    }
    // A declared flag with a deliberately unusable value: the error, if any, must not call the flag unknown.
    std::string output;
    torchseg::testing::RunCommand(exe + " --" + p->longFlag + (p->IsBoolean() ? "" : " @invalid@") +
                                    " /nonexistent/a /nonexistent/b /nonexistent/c",
                                  &output);
    EXPECT_EQ(output.find("unknown option"), std::string::npos) << app << " --" << p->longFlag << ": " << output;
  }
  std::string output;
  const int   code = torchseg::testing::RunCommand(exe + " --notDeclaredAnywhere 1 x y", &output);
  EXPECT_EQ(code, 2) << app;
  EXPECT_NE(output.find("unknown option --notDeclaredAnywhere"), std::string::npos) << app << ": " << output;

  std::string help;
  ASSERT_EQ(torchseg::testing::RunCommand(exe + " --help", &help), 0);
  for (const auto * p : description.GetAllParameters())
  {
    if (!p->longFlag.empty())
    {
      EXPECT_NE(help.find("--" + p->longFlag), std::string::npos) << app << " --help omits --" << p->longFlag;
    }
  }
  std::string version;
  ASSERT_EQ(torchseg::testing::RunCommand(exe + " --version", &version), 0);
  EXPECT_EQ(version.rfind(app + " ", 0), 0u) << version;
}

INSTANTIATE_TEST_SUITE_P(Applications, SlicerModule, ::testing::ValuesIn(ApplicationNames()),
                         [](const ::testing::TestParamInfo<std::string> & info) { return info.param; });
