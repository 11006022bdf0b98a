#include "torchsegApplication.h"

#include "torchsegAtomicOutput.h"
#include "torchsegMemory.h"
#include "torchsegThreads.h"
#include "torchsegVersion.h"

#include "itkMacro.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace torchseg
{
namespace cli
{

namespace
{

std::vector<std::string>
SplitComma(const std::string & s)
{
  std::vector<std::string> out;
  if (s.empty())
  {
    return out;
  }
  std::stringstream stream(s);
  std::string       item;
  while (std::getline(stream, item, ','))
  {
    out.push_back(item);
  }
  return out;
}

bool
ParseInt(const std::string & text, long & value)
{
  if (text.empty())
  {
    return false;
  }
  char * end = nullptr;
  errno = 0;
  value = std::strtol(text.c_str(), &end, 10);
  return errno == 0 && end && *end == '\0';
}

bool
ParseDouble(const std::string & text, double & value)
{
  if (text.empty())
  {
    return false;
  }
  char * end = nullptr;
  errno = 0;
  value = std::strtod(text.c_str(), &end);
  return errno == 0 && end && *end == '\0';
}

std::string
FlagOf(const ParameterDescription & p)
{
  if (!p.longFlag.empty())
  {
    return "--" + p.longFlag;
  }
  if (!p.flag.empty())
  {
    return "-" + p.flag;
  }
  return p.name;
}

/** Checks one value against the parameter's declared type; throws UsageError naming the flag. */
void
CheckValue(const ParameterDescription & p, const std::string & value)
{
  const std::string & tag = p.tag;
  auto fail = [&](const std::string & what) { throw UsageError(FlagOf(p) + ": '" + value + "' is not " + what); };
  if (tag == "integer" || tag == "integer-enumeration")
  {
    long v;
    if (!ParseInt(value, v))
    {
      fail("an integer");
    }
  }
  else if (tag == "float" || tag == "double" || tag == "float-enumeration" || tag == "double-enumeration")
  {
    double v;
    if (!ParseDouble(value, v))
    {
      fail("a number");
    }
  }
  else if (tag == "integer-vector")
  {
    for (const auto & item : SplitComma(value))
    {
      long v;
      if (!ParseInt(item, v))
      {
        fail("a comma-separated list of integers");
      }
    }
  }
  else if (tag == "float-vector" || tag == "double-vector" || tag == "point" || tag == "region")
  {
    for (const auto & item : SplitComma(value))
    {
      double v;
      if (!ParseDouble(item, v))
      {
        fail("a comma-separated list of numbers");
      }
    }
  }
  else if (tag == "boolean")
  {
    if (value != "true" && value != "false")
    {
      fail("true or false");
    }
  }
  if (p.IsEnumeration() && std::find(p.elements.begin(), p.elements.end(), value) == p.elements.end())
  {
    std::string choices;
    for (const auto & e : p.elements)
    {
      choices += (choices.empty() ? "" : ", ") + e;
    }
    fail("one of " + choices);
  }
}

/** One line for a person: without line breaks, ITK's "ITK ERROR: " prefix and object addresses. */
std::string
OneLine(std::string text)
{
  const std::string prefix = "ITK ERROR: ";
  if (text.rfind(prefix, 0) == 0)
  {
    text.erase(0, prefix.size());
  }
  const auto address = text.find("(0x");
  if (address != std::string::npos && address < 80)
  {
    const auto close = text.find("): ", address);
    if (close != std::string::npos)
    {
      text.erase(address, close + 1 - address);
    }
  }
  for (char & c : text)
  {
    if (c == '\n' || c == '\r')
    {
      c = ' ';
    }
  }
  while (!text.empty() && text.back() == ' ')
  {
    text.pop_back();
  }
  return text;
}

} // namespace

const std::vector<std::string> &
GetStandardLongFlags()
{
  static const std::vector<std::string> flags{
    "xml", "help", "version", "returnparameterfile", "processinformationaddress", "echo"
  };
  return flags;
}

// ParsedArguments ---------------------------------------------------------------------------------------------------

const ParameterDescription &
ParsedArguments::Describe(const std::string & name) const
{
  const ParameterDescription * p = m_Description ? m_Description->FindByName(name) : nullptr;
  if (!p)
  {
    itkGenericExceptionMacro(<< "The application asked for the parameter \"" << name
                             << "\", which its XML description does not declare");
  }
  return *p;
}

bool
ParsedArguments::IsSet(const std::string & name) const
{
  this->Describe(name);
  return m_Values.count(name) > 0;
}

bool
ParsedArguments::HasValue(const std::string & name) const
{
  return this->IsSet(name) || !this->Describe(name).defaultValue.empty();
}

std::string
ParsedArguments::GetString(const std::string & name) const
{
  const ParameterDescription & p = this->Describe(name);
  const auto                   it = m_Values.find(name);
  if (it == m_Values.end() || it->second.empty())
  {
    return p.defaultValue;
  }
  return it->second.back();
}

int
ParsedArguments::GetInt(const std::string & name) const
{
  long v = 0;
  ParseInt(this->GetString(name), v);
  return static_cast<int>(v);
}

double
ParsedArguments::GetDouble(const std::string & name) const
{
  double v = 0.0;
  ParseDouble(this->GetString(name), v);
  return v;
}

bool
ParsedArguments::GetBool(const std::string & name) const
{
  return this->GetString(name) == "true";
}

std::vector<int>
ParsedArguments::GetIntVector(const std::string & name) const
{
  std::vector<int> out;
  for (const auto & item : this->GetStringVector(name))
  {
    long v = 0;
    ParseInt(item, v);
    out.push_back(static_cast<int>(v));
  }
  return out;
}

std::vector<double>
ParsedArguments::GetDoubleVector(const std::string & name) const
{
  std::vector<double> out;
  for (const auto & item : this->GetStringVector(name))
  {
    double v = 0.0;
    ParseDouble(item, v);
    out.push_back(v);
  }
  return out;
}

std::vector<std::string>
ParsedArguments::GetStringVector(const std::string & name) const
{
  const ParameterDescription & p = this->Describe(name);
  const auto                   it = m_Values.find(name);
  if (p.multiple)
  {
    if (it == m_Values.end())
    {
      return p.defaultValue.empty() ? std::vector<std::string>{} : std::vector<std::string>{ p.defaultValue };
    }
    return it->second;
  }
  return SplitComma(this->GetString(name));
}

std::string
ParsedArguments::Require(const std::string & name) const
{
  const ParameterDescription & p = this->Describe(name);
  const std::string            value = this->GetString(name);
  if (value.empty())
  {
    throw UsageError(p.IsPositional() ? "missing argument " + p.name : FlagOf(p) + " is required");
  }
  return value;
}

void
ParsedArguments::Set(const std::string & name, const std::string & value)
{
  m_Values[name] = { value };
}

void
ParsedArguments::Append(const std::string & name, const std::string & value)
{
  m_Values[name].push_back(value);
}

// Application -------------------------------------------------------------------------------------------------------

Application::Application(const char * xmlDescription, std::string executableName)
  : m_XML(xmlDescription)
  , m_Name(std::move(executableName))
  , m_Description(ModuleDescription::Parse(m_XML))
{}

ParsedArguments
Application::Parse(const std::vector<std::string> & arguments) const
{
  ParsedArguments          parsed(&m_Description);
  std::vector<std::string> positional;
  const auto &             standard = GetStandardLongFlags();
  bool                     flagsEnded = false;
  for (std::size_t i = 0; i < arguments.size(); ++i)
  {
    const std::string & arg = arguments[i];
    if (flagsEnded || arg.size() < 2 || arg[0] != '-' || (arg.size() > 1 && std::isdigit(arg[1])))
    {
      positional.push_back(arg);
      continue;
    }
    if (arg == "--")
    {
      flagsEnded = true;
      continue;
    }
    std::string key;
    std::string inlineValue;
    bool        hasInlineValue = false;
    const bool  isLong = arg.rfind("--", 0) == 0;
    key = arg.substr(isLong ? 2 : 1);
    const auto eq = key.find('=');
    if (eq != std::string::npos)
    {
      inlineValue = key.substr(eq + 1);
      key = key.substr(0, eq);
      hasInlineValue = true;
    }
    if (isLong && std::find(standard.begin(), standard.end(), key) != standard.end())
    {
      // Standard flags are handled by Run(); only their values are skipped here.
      if ((key == "returnparameterfile" || key == "processinformationaddress") && !hasInlineValue)
      {
        ++i;
      }
      continue;
    }
    const ParameterDescription * p = isLong ? m_Description.FindByLongFlag(key) : m_Description.FindByFlag(key);
    if (!p)
    {
      throw UsageError("unknown option " + (isLong ? "--" : std::string("-")) + key);
    }
    std::string value;
    if (p->IsBoolean())
    {
      value = hasInlineValue ? inlineValue : "true";
    }
    else if (hasInlineValue)
    {
      value = inlineValue;
    }
    else
    {
      if (i + 1 >= arguments.size())
      {
        throw UsageError(FlagOf(*p) + " needs a value");
      }
      value = arguments[++i];
    }
    CheckValue(*p, value);
    if (p->multiple)
    {
      parsed.Append(p->name, value);
    }
    else
    {
      parsed.Set(p->name, value);
    }
  }

  const auto  slots = m_Description.GetPositionalParameters();
  std::size_t next = 0;
  const bool  replaced = !m_PositionalReplacement.empty() && parsed.IsSet(m_PositionalReplacement);
  for (const ParameterDescription * p : slots)
  {
    if (next >= positional.size())
    {
      if (p->defaultValue.empty() && !replaced)
      {
        throw UsageError("missing argument " + p->name + (p->description.empty() ? "" : " (" + p->label + ")"));
      }
      continue;
    }
    if (p->multiple)
    {
      for (; next < positional.size(); ++next)
      {
        CheckValue(*p, positional[next]);
        parsed.Append(p->name, positional[next]);
      }
    }
    else
    {
      CheckValue(*p, positional[next]);
      parsed.Set(p->name, positional[next++]);
    }
  }
  if (next < positional.size())
  {
    throw UsageError("unexpected argument '" + positional[next] + "'");
  }
  return parsed;
}

void
Application::SetPositionalArgumentsReplacedBy(const std::string & name)
{
  if (!m_Description.FindByName(name))
  {
    throw std::logic_error(m_Name + ": no parameter " + name + " can replace the positional arguments");
  }
  m_PositionalReplacement = name;
}

std::string
Application::GetUsage() const
{
  std::ostringstream out;
  out << m_Name << " " << GetVersion() << ": " << m_Description.title << "\n\n" << m_Description.description << "\n\n";
  out << "Usage: " << m_Name << " [options]";
  for (const auto * p : m_Description.GetPositionalParameters())
  {
    out << " " << (p->defaultValue.empty() ? "" : "[") << p->name << (p->multiple ? "..." : "")
        << (p->defaultValue.empty() ? "" : "]");
  }
  if (!m_PositionalReplacement.empty())
  {
    const ParameterDescription * r = m_Description.FindByName(m_PositionalReplacement);
    out << "\n       " << m_Name << " [options] " << (r->longFlag.empty() ? r->name : "--" + r->longFlag) << " <"
        << r->tag << ">";
  }
  out << "\n";
  for (const auto & group : m_Description.groups)
  {
    out << "\n" << group.label << ":\n";
    for (const auto & p : group.parameters)
    {
      if (p.IsReturnParameter())
      {
        continue;
      }
      std::string head = p.IsPositional() ? p.name : FlagOf(p);
      if (!p.IsPositional() && !p.IsBoolean())
      {
        head += " <" + (p.IsEnumeration() ? std::string("choice") : p.tag) + ">";
      }
      out << "  " << head << "\n      " << p.description;
      if (p.IsEnumeration())
      {
        out << " Choices:";
        for (const auto & e : p.elements)
        {
          out << " " << e;
        }
        out << ".";
      }
      if (!p.defaultValue.empty() && !p.IsBoolean())
      {
        out << " Default: " << p.defaultValue << ".";
      }
      out << "\n";
    }
  }
  out << "\nStandard options:\n  --xml  print the Slicer module description\n  --help, --version\n"
      << "  --returnparameterfile <file>  write the results as name = value lines\n";
  return out.str();
}

void
Application::SetReturnValue(const std::string & name, const std::string & value)
{
  const ParameterDescription * p = m_Description.FindByName(name);
  if (!p || !p->IsReturnParameter())
  {
    itkGenericExceptionMacro(<< m_Name << " sets the return parameter \"" << name
                             << "\", which its XML does not declare as an output without flag");
  }
  for (auto & entry : m_ReturnValues)
  {
    if (entry.first == name)
    {
      entry.second = value;
      return;
    }
  }
  m_ReturnValues.emplace_back(name, value);
}

void
Application::WriteReturnParameters(const std::string & path) const
{
  AtomicOutput output(path);
  {
    std::ofstream out(output.GetTemporaryPath());
    for (const auto & entry : m_ReturnValues)
    {
      out << entry.first << " = " << entry.second << "\n";
    }
    if (!out)
    {
      itkGenericExceptionMacro(<< "Cannot write the return parameter file " << path);
    }
  }
  output.Commit();
}

int
Application::Run(int argc, char ** argv, const Body & body)
{
  std::vector<std::string> arguments(argv + 1, argv + argc);
  if (!arguments.empty() && arguments[0] == "--xml")
  {
    std::cout << m_XML;
    if (!m_XML.empty() && m_XML.back() != '\n')
    {
      std::cout << '\n';
    }
    return EXIT_SUCCESS;
  }
  std::string returnParameterFile;
  bool        slicerFlags = false;
  for (std::size_t i = 0; i < arguments.size(); ++i)
  {
    const std::string & a = arguments[i];
    if (a == "--help" || a == "-h")
    {
      std::cout << this->GetUsage();
      return EXIT_SUCCESS;
    }
    if (a == "--version")
    {
      std::cout << m_Name << " " << GetVersion() << std::endl;
      return EXIT_SUCCESS;
    }
    if (a == "--")
    {
      break;
    }
    if (a == "--returnparameterfile" && i + 1 < arguments.size())
    {
      returnParameterFile = arguments[i + 1];
      slicerFlags = true;
    }
    else if (a.rfind("--returnparameterfile=", 0) == 0)
    {
      returnParameterFile = a.substr(std::string("--returnparameterfile=").size());
      slicerFlags = true;
    }
    else if (a.rfind("--processinformationaddress", 0) == 0)
    {
      slicerFlags = true;
    }
  }

  m_SlicerMode = slicerFlags || !::isatty(STDOUT_FILENO);
  m_Progress = ProgressReporter(::isatty(STDERR_FILENO) != 0, m_SlicerMode, &std::cerr, &std::cout);
  ProgressReporter::InstallInterruptHandlers();

  try
  {
    const ParsedArguments parsed = this->Parse(arguments);
    if (m_Description.FindByName("numberOfThreads"))
    {
      m_NumberOfThreads = SetITKNumberOfThreads(parsed.GetInt("numberOfThreads"));
    }
    else
    {
      m_NumberOfThreads = SetITKNumberOfThreads(0);
    }
    RetainFreedMemory();
    body(parsed, *this);
    m_Progress.End();
    if (!returnParameterFile.empty())
    {
      this->WriteReturnParameters(returnParameterFile);
    }
    return EXIT_SUCCESS;
  }
  catch (const UsageError & e)
  {
    std::cerr << m_Name << ": error: " << OneLine(e.what()) << " (see " << m_Name << " --help)" << std::endl;
    return 2;
  }
  catch (const itk::ExceptionObject & e)
  {
    std::cerr << (m_Progress.IsDrawingBar() ? "\n" : "") << m_Name << ": error: " << OneLine(e.GetDescription())
              << std::endl;
  }
  catch (const std::exception & e)
  {
    std::cerr << (m_Progress.IsDrawingBar() ? "\n" : "") << m_Name << ": error: " << OneLine(e.what()) << std::endl;
  }
  return EXIT_FAILURE;
}

} // namespace cli
} // namespace torchseg
