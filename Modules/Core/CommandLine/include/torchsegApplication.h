#ifndef torchsegApplication_h
#define torchsegApplication_h

#include "torchsegModuleDescription.h"
#include "torchsegProgressReporter.h"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace torchseg
{
namespace cli
{

/** \class ParsedArguments
 * \brief The values of an application's parameters, parsed as its XML description declares them.
 *
 * Getters take the parameter's XML <name>; an unset parameter yields its XML <default>. Values were checked
 * against their declared types when parsed.
 * \ingroup TorchSegCommandLine
 */
class ParsedArguments
{
public:
  explicit ParsedArguments(const ModuleDescription * description = nullptr)
    : m_Description(description)
  {}

  /** True when the parameter was given on the command line. */
  bool
  IsSet(const std::string & name) const;
  /** True when the parameter was given or has a non-empty default. */
  bool
  HasValue(const std::string & name) const;

  std::string
  GetString(const std::string & name) const;
  int
  GetInt(const std::string & name) const;
  double
  GetDouble(const std::string & name) const;
  bool
  GetBool(const std::string & name) const;
  std::vector<int>
  GetIntVector(const std::string & name) const;
  std::vector<double>
  GetDoubleVector(const std::string & name) const;
  /** Comma-separated values, or every value of a multiple="true" parameter. */
  std::vector<std::string>
  GetStringVector(const std::string & name) const;

  /** Throws a usage error naming the flag when the parameter has no value. */
  std::string
  Require(const std::string & name) const;

  void
  Set(const std::string & name, const std::string & value);
  void
  Append(const std::string & name, const std::string & value);

private:
  const ParameterDescription &
  Describe(const std::string & name) const;

  const ModuleDescription *                       m_Description;
  std::map<std::string, std::vector<std::string>> m_Values;
};

/** Thrown for a bad command line (unknown flag, malformed value, missing argument): exit code 2. */
class UsageError : public std::runtime_error
{
public:
  using std::runtime_error::runtime_error;
};

/** \class Application
 * \brief The frame of every TorchSeg executable: parses argv as its Slicer XML declares, answers --xml, --help and
 * --version, sets the thread count, reports progress, writes --returnparameterfile, and turns any exception into
 * one line on stderr and a non-zero exit code.
 *
 * \code
 * int main(int argc, char * argv[])
 * {
 *   torchseg::cli::Application app(TorchSegEvaluateXMLDescription, "TorchSegEvaluate");
 *   return app.Run(argc, argv, [](const torchseg::cli::ParsedArguments & args, torchseg::cli::Application & app) {
 *     ...
 *   });
 * }
 * \endcode
 * \ingroup TorchSegCommandLine
 */
class Application
{
public:
  using Body = std::function<void(const ParsedArguments &, Application &)>;

  Application(const char * xmlDescription, std::string executableName);

  /** Returns the process exit code: 0 on success, 1 on a failure, 2 on a bad command line. */
  int
  Run(int argc, char ** argv, const Body & body);

  /** The positional arguments (e.g. INPUT OUTPUT) may be left out when the parameter \a name (e.g. "inputList", a
   * list of cases that replaces them) is given; the body then finds them empty. Other missing positional arguments
   * stay errors. */
  void
  SetPositionalArgumentsReplacedBy(const std::string & name);

  /** Parses a command line (without argv[0]); throws UsageError. Public for tests. */
  ParsedArguments
  Parse(const std::vector<std::string> & arguments) const;

  const ModuleDescription &
  GetDescription() const
  {
    return m_Description;
  }
  const std::string &
  GetXML() const
  {
    return m_XML;
  }
  const std::string &
  GetName() const
  {
    return m_Name;
  }
  /** The help text generated from the XML. */
  std::string
  GetUsage() const;

  ProgressReporter &
  GetProgress()
  {
    return m_Progress;
  }

  /** Resolved --numberOfThreads (all hardware threads when not given); ITK's default is already set to it. */
  int
  GetNumberOfThreads() const
  {
    return m_NumberOfThreads;
  }

  /** Records a return parameter (declared in the XML as an output without flag); written on success. */
  void
  SetReturnValue(const std::string & name, const std::string & value);

  /** True when the application runs under Slicer (tags on stdout rather than prose). */
  bool
  IsSlicerMode() const
  {
    return m_SlicerMode;
  }

private:
  void
  WriteReturnParameters(const std::string & path) const;

  std::string                                      m_XML;
  std::string                                      m_Name;
  ModuleDescription                                m_Description;
  ProgressReporter                                 m_Progress;
  int                                              m_NumberOfThreads = 1;
  std::string                                      m_PositionalReplacement;
  bool                                             m_SlicerMode = false;
  std::vector<std::pair<std::string, std::string>> m_ReturnValues;
};

/** Flags every application accepts without declaring them (Slicer adds them to command lines). */
const std::vector<std::string> &
GetStandardLongFlags();

} // namespace cli
} // namespace torchseg

#endif
