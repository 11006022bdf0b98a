#include "torchsegModuleDescription.h"

#include "torchsegText.h"

#include "itkMacro.h"

#include <tinyxml2.h>

#include <algorithm>
#include <sstream>

namespace torchseg
{
namespace cli
{

namespace
{

std::string
ChildText(const tinyxml2::XMLElement * parent, const char * name)
{
  const tinyxml2::XMLElement * child = parent->FirstChildElement(name);
  if (!child || !child->GetText())
  {
    return std::string();
  }
  return Trim(child->GetText());
}

std::vector<std::string>
SplitComma(const std::string & s)
{
  std::vector<std::string> out;
  std::stringstream        stream(s);
  std::string              item;
  while (std::getline(stream, item, ','))
  {
    item = Trim(item);
    if (!item.empty())
    {
      out.push_back(item);
    }
  }
  return out;
}

} // namespace

bool
ParameterDescription::IsVector() const
{
  return tag.size() > 7 && tag.compare(tag.size() - 7, 7, "-vector") == 0;
}

bool
ParameterDescription::IsEnumeration() const
{
  return tag.size() > 12 && tag.compare(tag.size() - 12, 12, "-enumeration") == 0;
}

ModuleDescription
ModuleDescription::Parse(const std::string & xml)
{
  tinyxml2::XMLDocument document;
  if (document.Parse(xml.c_str(), xml.size()) != tinyxml2::XML_SUCCESS)
  {
    itkGenericExceptionMacro(<< "Malformed module description XML: " << document.ErrorStr());
  }
  const tinyxml2::XMLElement * executable = document.FirstChildElement("executable");
  if (!executable)
  {
    itkGenericExceptionMacro(<< "Module description XML has no <executable> root element");
  }
  ModuleDescription module;
  module.category = ChildText(executable, "category");
  module.title = ChildText(executable, "title");
  module.description = ChildText(executable, "description");
  module.version = ChildText(executable, "version");
  module.documentationUrl = ChildText(executable, "documentation-url");
  module.license = ChildText(executable, "license");
  module.contributor = ChildText(executable, "contributor");
  module.acknowledgements = ChildText(executable, "acknowledgements");

  for (const tinyxml2::XMLElement * group = executable->FirstChildElement("parameters"); group;
       group = group->NextSiblingElement("parameters"))
  {
    ParameterGroup parameterGroup;
    parameterGroup.label = ChildText(group, "label");
    parameterGroup.description = ChildText(group, "description");
    const char * advanced = group->Attribute("advanced");
    parameterGroup.advanced = advanced && std::string(advanced) == "true";
    for (const tinyxml2::XMLElement * element = group->FirstChildElement(); element;
         element = element->NextSiblingElement())
    {
      const std::string tag = element->Name();
      if (tag == "label" || tag == "description")
      {
        continue;
      }
      ParameterDescription p;
      p.tag = tag;
      p.group = parameterGroup.label;
      p.name = ChildText(element, "name");
      p.flag = ChildText(element, "flag");
      p.longFlag = ChildText(element, "longflag");
      p.label = ChildText(element, "label");
      p.description = ChildText(element, "description");
      p.defaultValue = ChildText(element, "default");
      p.channel = ChildText(element, "channel");
      const std::string index = ChildText(element, "index");
      if (!index.empty())
      {
        p.index = std::stoi(index);
      }
      while (!p.flag.empty() && p.flag[0] == '-')
      {
        p.flag.erase(0, 1);
      }
      while (!p.longFlag.empty() && p.longFlag[0] == '-')
      {
        p.longFlag.erase(0, 1);
      }
      if (const char * type = element->Attribute("type"))
      {
        p.imageType = type;
      }
      if (const char * multiple = element->Attribute("multiple"))
      {
        p.multiple = std::string(multiple) == "true";
      }
      if (const char * extensions = element->Attribute("fileExtensions"))
      {
        p.fileExtensions = SplitComma(extensions);
      }
      for (const tinyxml2::XMLElement * e = element->FirstChildElement("element"); e;
           e = e->NextSiblingElement("element"))
      {
        if (e->GetText())
        {
          p.elements.push_back(Trim(e->GetText()));
        }
      }
      if (p.name.empty())
      {
        itkGenericExceptionMacro(<< "Module description: a <" << tag << "> in group \"" << parameterGroup.label
                                 << "\" has no <name>");
      }
      parameterGroup.parameters.push_back(std::move(p));
    }
    module.groups.push_back(std::move(parameterGroup));
  }
  return module;
}

const ParameterDescription *
ModuleDescription::FindByName(const std::string & name) const
{
  for (const auto & group : groups)
  {
    for (const auto & p : group.parameters)
    {
      if (p.name == name)
      {
        return &p;
      }
    }
  }
  return nullptr;
}

const ParameterDescription *
ModuleDescription::FindByLongFlag(const std::string & longFlag) const
{
  for (const auto & group : groups)
  {
    for (const auto & p : group.parameters)
    {
      if (!p.longFlag.empty() && p.longFlag == longFlag)
      {
        return &p;
      }
    }
  }
  return nullptr;
}

const ParameterDescription *
ModuleDescription::FindByFlag(const std::string & flag) const
{
  for (const auto & group : groups)
  {
    for (const auto & p : group.parameters)
    {
      if (!p.flag.empty() && p.flag == flag)
      {
        return &p;
      }
    }
  }
  return nullptr;
}

std::vector<const ParameterDescription *>
ModuleDescription::GetPositionalParameters() const
{
  std::vector<const ParameterDescription *> out;
  for (const auto & group : groups)
  {
    for (const auto & p : group.parameters)
    {
      if (p.IsPositional())
      {
        out.push_back(&p);
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const auto * a, const auto * b) { return a->index < b->index; });
  return out;
}

std::vector<const ParameterDescription *>
ModuleDescription::GetAllParameters() const
{
  std::vector<const ParameterDescription *> out;
  for (const auto & group : groups)
  {
    for (const auto & p : group.parameters)
    {
      out.push_back(&p);
    }
  }
  return out;
}

} // namespace cli
} // namespace torchseg
