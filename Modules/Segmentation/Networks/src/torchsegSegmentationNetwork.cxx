#include "torchsegSegmentationNetwork.h"

#include "torchsegDeepLab.h"
#include "torchsegDilatedNetworks.h"
#include "torchsegFCN.h"
#include "torchsegNetworkOptionReader.h"
#include "torchsegRefinementNetworks.h"
#include "torchsegSegNet.h"
#include "torchsegTensorBridge.h"
#include "torchsegUNet.h"

#include "itkMacro.h"

#include <algorithm>
#include <functional>
#include <sstream>

namespace torchseg
{

void
to_json(nlohmann::json & j, const NetworkOptions & o)
{
  j = nlohmann::json{ { "architecture", o.architecture },
                      { "spatialDimensions", o.spatialDimensions },
                      { "inputChannels", o.inputChannels },
                      { "numberOfClasses", o.numberOfClasses },
                      { "options", o.options } };
}

void
from_json(const nlohmann::json & j, NetworkOptions & o)
{
  if (!j.is_object())
  {
    itkGenericExceptionMacro(<< "Network options must be a JSON object, got " << j.dump());
  }
  static const char * known[] = { "architecture", "spatialDimensions", "inputChannels", "numberOfClasses", "options" };
  for (const auto & item : j.items())
  {
    if (std::find(std::begin(known), std::end(known), item.key()) == std::end(known))
    {
      itkGenericExceptionMacro(<< "Network options: unknown key \"" << item.key() << "\"");
    }
  }
  NetworkOptions defaults;
  try
  {
    o.architecture = j.at("architecture").get<std::string>();
    o.spatialDimensions = j.value("spatialDimensions", defaults.spatialDimensions);
    o.inputChannels = j.value("inputChannels", defaults.inputChannels);
    o.numberOfClasses = j.value("numberOfClasses", defaults.numberOfClasses);
    o.options = j.value("options", nlohmann::json::object());
  }
  catch (const nlohmann::json::exception & e)
  {
    itkGenericExceptionMacro(<< "Network options " << j.dump() << " are malformed: " << e.what());
  }
}

namespace
{
struct Architecture
{
  const char *                          name;
  int                                   dimensions; //!< 0: any, from NetworkOptions::spatialDimensions
  std::function<void(NetworkOptions &)> read;       //!< validates and fills the options
  std::function<SegmentationNetwork(const NetworkOptions &)> create;
};

template <typename TNetwork>
SegmentationNetwork
Make(const NetworkOptions & options)
{
  return SegmentationNetwork(std::static_pointer_cast<SegmentationNetworkImpl>(TNetwork(options).ptr()));
}

template <typename TOptions>
void
Read(NetworkOptions & options)
{
  TOptions::Read(options);
}

const std::vector<Architecture> &
Architectures()
{
  static const std::vector<Architecture> architectures{
    { "fcn32s", 0, Read<FCNOptions>, Make<FCN> },
    { "fcn16s", 0, Read<FCNOptions>, Make<FCN> },
    { "fcn8s", 0, Read<FCNOptions>, Make<FCN> },
    { "deeplabv3", 0, Read<DeepLabOptions>, Make<DeepLabV3> },
    { "deeplabv3plus", 0, Read<DeepLabOptions>, Make<DeepLabV3Plus> },
    { "pspnet", 0, Read<DeepLabOptions>, Make<PSPNet> },
    { "segnet", 0, Read<EncoderDecoderOptions>, Make<SegNet> },
    { "deconvnet", 0, Read<EncoderDecoderOptions>, Make<DeconvNet> },
    { "unet2d", 2, Read<UNetOptions>, Make<UNet> },
    { "unet3d", 3, Read<UNetOptions>, Make<UNet> },
    { "deeplabv1", 0, Read<DilatedNetworkOptions>, Make<DeepLabV1> },
    { "deeplabv2", 0, Read<DilatedNetworkOptions>, Make<DeepLabV2> },
    { "ducHdc", 0, Read<DilatedNetworkOptions>, Make<DUCHDC> },
    { "denseaspp", 0, Read<DilatedNetworkOptions>, Make<DenseASPP> },
    { "gcn", 0, Read<RefinementNetworkOptions>, Make<GCN> },
    { "refinenet", 0, Read<RefinementNetworkOptions>, Make<RefineNet> },
  };
  return architectures;
}
} // namespace

namespace
{
const Architecture &
FindArchitecture(const std::string & name)
{
  const auto & architectures = Architectures();
  const auto   it =
    std::find_if(architectures.begin(), architectures.end(), [&](const Architecture & a) { return name == a.name; });
  if (it == architectures.end())
  {
    std::string names;
    for (const auto & a : architectures)
    {
      names += (names.empty() ? "" : ", ") + std::string(a.name);
    }
    itkGenericExceptionMacro(<< "Unknown network architecture \"" << name << "\" (known: " << names << ")");
  }
  return *it;
}
} // namespace

NetworkOptions
ValidateNetworkOptions(const NetworkOptions & options)
{
  const Architecture & architecture = FindArchitecture(options.architecture);
  NetworkOptions       filled = options;
  if (architecture.dimensions != 0)
  {
    // The name fixes the dimension.
    filled.spatialDimensions = architecture.dimensions;
  }
  if (filled.spatialDimensions != 2 && filled.spatialDimensions != 3)
  {
    itkGenericExceptionMacro(<< "Network " << options.architecture << ": spatialDimensions " << filled.spatialDimensions
                             << " is not 2 or 3");
  }
  if (filled.inputChannels < 1)
  {
    itkGenericExceptionMacro(<< "Network " << options.architecture << ": inputChannels " << filled.inputChannels
                             << " is not positive");
  }
  if (filled.numberOfClasses < 1)
  {
    itkGenericExceptionMacro(<< "Network " << options.architecture << ": numberOfClasses " << filled.numberOfClasses
                             << " is not positive");
  }
  architecture.read(filled);
  return filled;
}

SegmentationNetwork
CreateNetwork(const NetworkOptions & options)
{
  const NetworkOptions filled = ValidateNetworkOptions(options);
  try
  {
    return FindArchitecture(filled.architecture).create(filled);
  }
  catch (const itk::ExceptionObject &)
  {
    throw;
  }
  catch (const std::exception & e)
  {
    ThrowTorchError(e, "building network " + nlohmann::json(filled).dump());
  }
}

void
SegmentationNetworkImpl::CheckInput(const torch::Tensor & input) const
{
  TORCH_CHECK(input.dim() == m_Options.spatialDimensions + 2 && input.size(1) == m_Options.inputChannels,
              "Network ",
              m_Options.architecture,
              " expects an input of shape (N, ",
              m_Options.inputChannels,
              m_Options.spatialDimensions == 2 ? ", H, W)" : ", D, H, W)",
              ", got ",
              input.sizes());
  TORCH_CHECK(input.numel() > 0, "Network ", m_Options.architecture, " got an empty input ", input.sizes());
}

std::vector<std::string>
GetArchitectureNames()
{
  std::vector<std::string> names;
  for (const auto & a : Architectures())
  {
    names.emplace_back(a.name);
  }
  return names;
}


NetworkOptionReader::NetworkOptionReader(NetworkOptions & options)
  : m_Options(options)
  , m_Given(options.options)
{
  if (m_Given.is_null())
  {
    m_Given = nlohmann::json::object();
  }
  if (!m_Given.is_object())
  {
    itkGenericExceptionMacro(<< "Network " << options.architecture << ": options must be a JSON object, got "
                             << m_Given.dump());
  }
}

const nlohmann::json *
NetworkOptionReader::Find(const std::string & key)
{
  m_Read.push_back(key);
  const auto it = m_Given.find(key);
  return it == m_Given.end() ? nullptr : &*it;
}

void
NetworkOptionReader::Fail(const std::string & key, const std::string & reason) const
{
  const auto         it = m_Given.find(key);
  std::ostringstream value;
  if (it != m_Given.end())
  {
    value << " = " << it->dump();
  }
  itkGenericExceptionMacro(<< "Network " << m_Options.architecture << ": option " << key << value.str() << " "
                           << reason);
}

int
NetworkOptionReader::Integer(const std::string & key, int defaultValue, int minimum, int maximum)
{
  int value = defaultValue;
  if (const auto * j = this->Find(key))
  {
    if (!j->is_number_integer())
    {
      this->Fail(key, "is not an integer");
    }
    const auto v = j->get<int64_t>();
    if (v < minimum || v > maximum)
    {
      this->Fail(key, "is outside [" + std::to_string(minimum) + ", " + std::to_string(maximum) + "]");
    }
    value = static_cast<int>(v);
  }
  m_Filled[key] = value;
  return value;
}

int
NetworkOptionReader::IntegerChoice(const std::string & key, int defaultValue, const std::vector<int> & allowed)
{
  int value = defaultValue;
  if (const auto * j = this->Find(key))
  {
    std::string list;
    for (const int a : allowed)
    {
      list += (list.empty() ? "" : ", ") + std::to_string(a);
    }
    if (!j->is_number_integer())
    {
      this->Fail(key, "is not an integer (allowed: " + list + ")");
    }
    const auto v = j->get<int64_t>();
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end())
    {
      this->Fail(key, "is not one of " + list);
    }
    value = static_cast<int>(v);
  }
  m_Filled[key] = value;
  return value;
}

double
NetworkOptionReader::Real(const std::string & key, double defaultValue, double minimum, double maximum)
{
  double value = defaultValue;
  if (const auto * j = this->Find(key))
  {
    if (!j->is_number())
    {
      this->Fail(key, "is not a number");
    }
    value = j->get<double>();
    if (!(value >= minimum && value <= maximum))
    {
      std::ostringstream range;
      range << "is outside [" << minimum << ", " << maximum << "]";
      this->Fail(key, range.str());
    }
  }
  m_Filled[key] = value;
  return value;
}

bool
NetworkOptionReader::Boolean(const std::string & key, bool defaultValue)
{
  bool value = defaultValue;
  if (const auto * j = this->Find(key))
  {
    if (!j->is_boolean())
    {
      this->Fail(key, "is not true or false");
    }
    value = j->get<bool>();
  }
  m_Filled[key] = value;
  return value;
}

std::string
NetworkOptionReader::Choice(const std::string & key, const std::string & defaultValue,
                            const std::vector<std::string> & allowed)
{
  std::string value = defaultValue;
  if (const auto * j = this->Find(key))
  {
    std::string list;
    for (const auto & a : allowed)
    {
      list += (list.empty() ? "" : ", ") + a;
    }
    if (!j->is_string())
    {
      this->Fail(key, "is not a string (allowed: " + list + ")");
    }
    value = j->get<std::string>();
    if (std::find(allowed.begin(), allowed.end(), value) == allowed.end())
    {
      this->Fail(key, "is not one of " + list);
    }
  }
  m_Filled[key] = value;
  return value;
}

void
NetworkOptionReader::Finish()
{
  for (const auto & item : m_Given.items())
  {
    if (std::find(m_Read.begin(), m_Read.end(), item.key()) == m_Read.end())
    {
      std::string known;
      for (const auto & k : m_Read)
      {
        known += (known.empty() ? "" : ", ") + k;
      }
      itkGenericExceptionMacro(<< "Network " << m_Options.architecture << ": unknown option \"" << item.key()
                               << "\" (known: " << (known.empty() ? "none" : known) << ")");
    }
  }
  m_Options.options = m_Filled;
}

} // namespace torchseg
