#ifndef torchsegModuleDescription_h
#define torchsegModuleDescription_h

#include <string>
#include <vector>

namespace torchseg
{
namespace cli
{

/** \brief One parameter of a Slicer Execution Model description (an element such as <integer> or <image>). */
struct ParameterDescription
{
  std::string              tag; //!< XML element: integer, double, boolean, string-enumeration, image, file, ...
  std::string              name;
  std::string              flag;     //!< short flag without the dash, may be empty
  std::string              longFlag; //!< long flag without the dashes, may be empty
  std::string              label;
  std::string              description;
  std::string              defaultValue;
  std::string              channel; //!< "input", "output" or empty
  std::string              imageType;
  std::string              group;    //!< label of the enclosing <parameters>
  std::vector<std::string> elements; //!< enumeration choices
  std::vector<std::string> fileExtensions;
  int                      index = -1;
  bool                     multiple = false;

  bool
  IsBoolean() const
  {
    return tag == "boolean";
  }
  bool
  IsPositional() const
  {
    return index >= 0;
  }
  /** Output channel without flag or index: a result written to --returnparameterfile. */
  bool
  IsReturnParameter() const
  {
    return channel == "output" && flag.empty() && longFlag.empty() && index < 0;
  }
  bool
  IsVector() const;
  bool
  IsEnumeration() const;
};

struct ParameterGroup
{
  std::string                       label;
  std::string                       description;
  bool                              advanced = false;
  std::vector<ParameterDescription> parameters;
};

/** \class ModuleDescription
 * \brief An application's Slicer Execution Model XML, parsed: the single source of truth for its flags, help text
 * and defaults.
 * \ingroup TorchSegCommandLine
 */
class ModuleDescription
{
public:
  /** Parses the XML text; throws itk::ExceptionObject that says what is malformed. */
  static ModuleDescription
  Parse(const std::string & xml);

  std::string                 category;
  std::string                 title;
  std::string                 description;
  std::string                 version;
  std::string                 documentationUrl;
  std::string                 license;
  std::string                 contributor;
  std::string                 acknowledgements;
  std::vector<ParameterGroup> groups;

  const ParameterDescription *
  FindByName(const std::string & name) const;
  const ParameterDescription *
  FindByLongFlag(const std::string & longFlag) const;
  const ParameterDescription *
  FindByFlag(const std::string & flag) const;
  /** Positional parameters sorted by index. */
  std::vector<const ParameterDescription *>
  GetPositionalParameters() const;
  std::vector<const ParameterDescription *>
  GetAllParameters() const;
};

} // namespace cli
} // namespace torchseg

#endif
