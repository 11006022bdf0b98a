#include "torchsegModel.h"

#include "torchsegAtomicOutput.h"
#include "torchsegTensorBridge.h"

#include "itkMacro.h"

#include <torch/serialize/output-archive.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using nlohmann::json;

namespace torchseg
{

namespace
{

/** Reads \a key of \a j into \a value with a message that names the key when the type is wrong. */
template <typename T>
void
ReadKey(const json & j, const char * key, T & value, const std::string & where)
{
  const auto it = j.find(key);
  if (it == j.end())
  {
    return;
  }
  try
  {
    value = it->get<T>();
  }
  catch (const json::exception & e)
  {
    std::string what = e.what();
    const auto  bracket = what.find("] ");
    what = bracket == std::string::npos ? what : what.substr(bracket + 2);
    itkGenericExceptionMacro(<< where << ": \"" << key << "\" has the wrong type (" << what << ")");
  }
}

void
RefuseUnknownKeys(const json & j, const std::set<std::string> & known, const std::string & where)
{
  for (const auto & item : j.items())
  {
    if (!known.count(item.key()))
    {
      std::string list;
      for (const auto & k : known)
      {
        list += (list.empty() ? "" : ", ") + k;
      }
      itkGenericExceptionMacro(<< where << ": unknown key \"" << item.key() << "\" (known: " << list << ")");
    }
  }
}

void
RequireObject(const json & j, const std::string & where)
{
  if (!j.is_object())
  {
    itkGenericExceptionMacro(<< where << " must be a JSON object, not " << j.type_name());
  }
}

json
ConceptToJson(const CodedConcept & c)
{
  return json{ { "value", c.value }, { "scheme", c.scheme }, { "meaning", c.meaning } };
}

CodedConcept
ConceptFromJson(const json & j, const std::string & where)
{
  RequireObject(j, where);
  RefuseUnknownKeys(j, { "value", "scheme", "meaning" }, where);
  CodedConcept c;
  ReadKey(j, "value", c.value, where);
  ReadKey(j, "scheme", c.scheme, where);
  ReadKey(j, "meaning", c.meaning, where);
  return c;
}

json
ClassesToJson(const LabelTable & table)
{
  json list = json::array();
  for (const LabelInfo & label : table.GetLabels())
  {
    json entry{ { "value", label.value },
                { "name", label.name },
                { "color", { label.color[0], label.color[1], label.color[2] } } };
    if (!label.category.IsEmpty())
    {
      entry["category"] = ConceptToJson(label.category);
    }
    if (!label.type.IsEmpty())
    {
      entry["type"] = ConceptToJson(label.type);
    }
    list.push_back(entry);
  }
  return list;
}

LabelTable
ClassesFromJson(const json & j, const std::string & where)
{
  if (!j.is_array())
  {
    itkGenericExceptionMacro(<< where << ": \"classes\" must be an array of {value, name, color} objects");
  }
  LabelTable             table;
  std::set<unsigned int> seen;
  for (std::size_t i = 0; i < j.size(); ++i)
  {
    const std::string entryWhere = where + ": classes[" + std::to_string(i) + "]";
    RequireObject(j[i], entryWhere);
    RefuseUnknownKeys(j[i], { "value", "name", "color", "category", "type" }, entryWhere);
    if (!j[i].contains("value") || !j[i].contains("name"))
    {
      itkGenericExceptionMacro(<< entryWhere << " needs \"value\" and \"name\"");
    }
    LabelInfo info;
    int       value = 0;
    ReadKey(j[i], "value", value, entryWhere);
    if (value < 1 || value > 255)
    {
      itkGenericExceptionMacro(<< entryWhere << ": value " << value << " is not a foreground label in [1, 255]");
    }
    if (!seen.insert(static_cast<unsigned int>(value)).second)
    {
      itkGenericExceptionMacro(<< entryWhere << ": value " << value << " appears twice");
    }
    info.value = static_cast<unsigned int>(value);
    ReadKey(j[i], "name", info.name, entryWhere);
    if (j[i].contains("color"))
    {
      std::vector<int> color;
      ReadKey(j[i], "color", color, entryWhere);
      if (color.size() != 3 || std::any_of(color.begin(), color.end(), [](int c) { return c < 0 || c > 255; }))
      {
        itkGenericExceptionMacro(<< entryWhere << ": \"color\" must be three integers in [0, 255]");
      }
      info.color = {
        { static_cast<uint8_t>(color[0]), static_cast<uint8_t>(color[1]), static_cast<uint8_t>(color[2]) }
      };
    }
    else
    {
      info.color = GenericLabelColor(info.value);
    }
    if (j[i].contains("category"))
    {
      info.category = ConceptFromJson(j[i]["category"], entryWhere + ".category");
    }
    if (j[i].contains("type"))
    {
      info.type = ConceptFromJson(j[i]["type"], entryWhere + ".type");
    }
    table.Set(info);
  }
  return table;
}

json
NormalizationToJson(const IntensityNormalization & n)
{
  return json{
    { "method", n.method }, { "clipLow", n.clipLow }, { "clipHigh", n.clipHigh }, { "mean", n.mean }, { "std", n.std }
  };
}

IntensityNormalization
NormalizationFromJson(const json & j, const std::string & where)
{
  RequireObject(j, where);
  RefuseUnknownKeys(j, { "method", "clipLow", "clipHigh", "mean", "std" }, where);
  IntensityNormalization n;
  ReadKey(j, "method", n.method, where);
  ReadKey(j, "clipLow", n.clipLow, where);
  ReadKey(j, "clipHigh", n.clipHigh, where);
  ReadKey(j, "mean", n.mean, where);
  ReadKey(j, "std", n.std, where);
  return n;
}

json
PostProcessingToJson(const LabelPostProcessingOptions & o)
{
  return json{ { "organLabel", o.organLabel },
               { "tumourLabel", o.tumourLabel },
               { "keepLargestOrganComponent", o.keepLargestOrganComponent },
               { "removeTumourOutsideOrgan", o.removeTumourOutsideOrgan },
               { "minimumTumourVolume", o.minimumTumourVolume } };
}

/** A null "postProcessing" means none recommended. */
std::optional<LabelPostProcessingOptions>
PostProcessingFromJson(const json & j, const std::string & where)
{
  if (j.is_null())
  {
    return std::nullopt;
  }
  RequireObject(j, where);
  RefuseUnknownKeys(
    j,
    { "organLabel", "tumourLabel", "keepLargestOrganComponent", "removeTumourOutsideOrgan", "minimumTumourVolume" },
    where);
  LabelPostProcessingOptions o;
  int                        organ = static_cast<int>(o.organLabel);
  int                        tumour = static_cast<int>(o.tumourLabel);
  ReadKey(j, "organLabel", organ, where);
  ReadKey(j, "tumourLabel", tumour, where);
  if (organ < 1 || organ > 255 || tumour < 0 || tumour > 255)
  {
    itkGenericExceptionMacro(<< where << ": organLabel " << organ << " must lie in [1, 255] and tumourLabel " << tumour
                             << " in [0, 255] (0: no tumour class)");
  }
  o.organLabel = static_cast<unsigned int>(organ);
  o.tumourLabel = static_cast<unsigned int>(tumour);
  ReadKey(j, "keepLargestOrganComponent", o.keepLargestOrganComponent, where);
  ReadKey(j, "removeTumourOutsideOrgan", o.removeTumourOutsideOrgan, where);
  ReadKey(j, "minimumTumourVolume", o.minimumTumourVolume, where);
  return o;
}

/** The keys of the toolkit's own layout besides "network", shared with the "torchseg" object of MONAI metadata. */
void
ReadPreprocessingKeys(const json & j, ModelMetadata & m, const std::string & where)
{
  if (j.contains("classes"))
  {
    m.classes = ClassesFromJson(j["classes"], where);
  }
  if (j.contains("normalization"))
  {
    m.normalization = NormalizationFromJson(j["normalization"], where + ": normalization");
  }
  if (j.contains("targetSpacing"))
  {
    std::vector<double> spacing;
    ReadKey(j, "targetSpacing", spacing, where);
    if (spacing.size() != 3)
    {
      itkGenericExceptionMacro(<< where << ": \"targetSpacing\" must hold 3 numbers (x, y, z), not " << spacing.size());
    }
    std::copy(spacing.begin(), spacing.end(), m.targetSpacing.begin());
  }
  ReadKey(j, "patchSize", m.patchSize, where);
  ReadKey(j, "sliceContext", m.sliceContext, where);
  ReadKey(j, "orientation", m.orientation, where);
  ReadKey(j, "axisOrder", m.axisOrder, where);
  if (j.contains("provenance"))
  {
    m.provenance = j["provenance"];
  }
  if (j.contains("postProcessing"))
  {
    m.postProcessing = PostProcessingFromJson(j["postProcessing"], where + ": postProcessing");
  }
}

const std::set<std::string> &
PreprocessingKeys()
{
  static const std::set<std::string> keys{ "classes",   "normalization", "targetSpacing",
                                           "patchSize", "sliceContext",  "orientation",
                                           "axisOrder", "provenance",    "postProcessing" };
  return keys;
}

/** A MONAI spatial_shape entry: a number is a size, a string ("*", "16*n") means any size. */
int64_t
MonaiSpatialEntry(const json & entry, const std::string & where)
{
  if (entry.is_number_integer())
  {
    return entry.get<int64_t>();
  }
  if (entry.is_string())
  {
    return 0;
  }
  itkGenericExceptionMacro(<< where << ": spatial_shape entries must be integers or strings such as \"16*n\"");
}

/** The one entry of a MONAI inputs/outputs object: \a preferred, or the only one. */
const json &
MonaiEntry(const json & parent, const char * group, const char * preferred, const std::string & where)
{
  if (!parent.contains(group) || !parent[group].is_object() || parent[group].empty())
  {
    itkGenericExceptionMacro(<< where << ": network_data_format." << group << " is missing");
  }
  const json & g = parent[group];
  if (g.contains(preferred))
  {
    return g[preferred];
  }
  if (g.size() == 1)
  {
    return g.begin().value();
  }
  itkGenericExceptionMacro(<< where << ": network_data_format." << group << " has " << g.size()
                           << " entries and none is called \"" << preferred << "\"");
}

ModelMetadata
ParseMonaiMetadata(const json & j, const std::string & source)
{
  const std::string where = source + " (MONAI metadata)";
  const json &      format = j["network_data_format"];
  RequireObject(format, where + ": network_data_format");
  const json & image = MonaiEntry(format, "inputs", "image", where);
  const json & pred = MonaiEntry(format, "outputs", "pred", where);
  RequireObject(image, where + ": the input entry");
  RequireObject(pred, where + ": the output entry");

  ModelMetadata m;
  m.orientation = "RAS";
  m.axisOrder = "xyz";
  m.normalization.method = "none";
  m.network.architecture = "torchscript";

  if (!image.contains("num_channels"))
  {
    itkGenericExceptionMacro(<< where
                             << ": inputs.image.num_channels is missing (how many channels the network takes)");
  }
  ReadKey(image, "num_channels", m.network.inputChannels, where + ": inputs.image");
  if (!image.contains("spatial_shape") || !image["spatial_shape"].is_array())
  {
    itkGenericExceptionMacro(<< where
                             << ": inputs.image.spatial_shape is missing (it gives the spatial dimension, 2 or 3)");
  }
  const json & shape = image["spatial_shape"];
  m.network.spatialDimensions = static_cast<int>(shape.size());
  for (const auto & entry : shape)
  {
    m.patchSize.push_back(MonaiSpatialEntry(entry, where + ": inputs.image"));
  }
  if (std::all_of(m.patchSize.begin(), m.patchSize.end(), [](int64_t v) { return v == 0; }))
  {
    m.patchSize.clear();
  }
  if (image.contains("dtype"))
  {
    std::string dtype;
    ReadKey(image, "dtype", dtype, where + ": inputs.image");
    if (dtype != "float32" && dtype != "float")
    {
      itkGenericExceptionMacro(<< where << ": inputs.image.dtype is \"" << dtype
                               << "\", but TorchSeg feeds float32 tensors");
    }
  }
  if (!pred.contains("num_channels"))
  {
    itkGenericExceptionMacro(<< where
                             << ": outputs.pred.num_channels is missing (how many classes the network returns)");
  }
  ReadKey(pred, "num_channels", m.network.numberOfClasses, where + ": outputs.pred");
  if (m.network.numberOfClasses < 2)
  {
    itkGenericExceptionMacro(<< where << ": outputs.pred.num_channels is " << m.network.numberOfClasses
                             << "; TorchSeg needs per-class logits (background included), at least 2");
  }
  if (pred.contains("channel_def"))
  {
    const json & def = pred["channel_def"];
    RequireObject(def, where + ": outputs.pred.channel_def");
    if (static_cast<int>(def.size()) != m.network.numberOfClasses)
    {
      itkGenericExceptionMacro(<< where << ": outputs.pred.channel_def names " << def.size()
                               << " channels, but num_channels is " << m.network.numberOfClasses);
    }
    LabelTable table;
    for (int c = 1; c < m.network.numberOfClasses; ++c)
    {
      const std::string key = std::to_string(c);
      if (!def.contains(key) || !def[key].is_string())
      {
        itkGenericExceptionMacro(<< where << ": outputs.pred.channel_def has no name for channel \"" << key << "\"");
      }
      LabelInfo info;
      info.value = static_cast<unsigned int>(c);
      info.name = def[key].get<std::string>();
      info.color = GenericLabelColor(info.value);
      table.Set(info);
    }
    m.classes = table;
  }
  else
  {
    m.classes = LabelTable::Generic(static_cast<unsigned int>(m.network.numberOfClasses - 1));
  }
  for (const char * key : { "name", "version", "authors", "description", "license", "copyright" })
  {
    if (j.contains(key))
    {
      m.provenance[key] = j[key];
    }
  }
  if (j.contains("torchseg"))
  {
    RequireObject(j["torchseg"], where + ": \"torchseg\"");
    RefuseUnknownKeys(j["torchseg"], PreprocessingKeys(), where + ": torchseg");
    ReadPreprocessingKeys(j["torchseg"], m, where + ": torchseg");
  }
  return m;
}

bool
IsZipFile(const std::string & path)
{
  std::ifstream in(path, std::ios::binary);
  char          magic[4] = { 0, 0, 0, 0 };
  in.read(magic, 4);
  return in.gcount() == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
}

std::string
ReadTextFile(const fs::path & path)
{
  std::ifstream in(path, std::ios::binary);
  if (!in)
  {
    itkGenericExceptionMacro(<< "Cannot read the model metadata " << path.string());
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

json
ParseJsonText(const std::string & text, const std::string & source)
{
  try
  {
    return json::parse(text);
  }
  catch (const json::exception & e)
  {
    std::string what = e.what();
    const auto  bracket = what.find("] ");
    itkGenericExceptionMacro(<< source << " is not valid JSON ("
                             << (bracket == std::string::npos ? what : what.substr(bracket + 2)) << ")");
  }
}

/** A position-weighted sum of the bytes of a tensor (Adler-like): the zip records of PyTorch archives carry no
 * checked CRC, so the native format stores this per tensor to tell corrupt weights from good ones. */
int64_t
TensorChecksum(const torch::Tensor & tensor)
{
  const torch::Tensor bytes = tensor.detach().to(torch::kCPU).contiguous().reshape({ -1 }).view(torch::kUInt8);
  const torch::Tensor weights = torch::arange(bytes.numel(), torch::kInt32).remainder_(65521).add_(1);
  return bytes.to(torch::kInt32).mul_(weights).sum(torch::kInt64).item<int64_t>() + bytes.numel();
}

/** Permutes the spatial axes of an (N, C, spatial...) tensor between (z, y, x) and (x, y, z) order. */
torch::Tensor
ReverseSpatialAxes(const torch::Tensor & t)
{
  std::vector<int64_t> order{ 0, 1 };
  for (int64_t d = t.dim() - 1; d >= 2; --d)
  {
    order.push_back(d);
  }
  return t.permute(order);
}

} // namespace

// Metadata ----------------------------------------------------------------------------------------------------------

void
to_json(json & j, const ModelMetadata & m)
{
  j = json{ { "network", m.network },
            { "classes", ClassesToJson(m.classes) },
            { "normalization", NormalizationToJson(m.normalization) },
            { "targetSpacing", m.targetSpacing },
            { "patchSize", m.patchSize },
            { "sliceContext", m.sliceContext },
            { "orientation", m.orientation },
            { "axisOrder", m.axisOrder },
            { "provenance", m.provenance } };
  if (m.postProcessing)
  {
    j["postProcessing"] = PostProcessingToJson(*m.postProcessing);
  }
}

void
from_json(const json & j, ModelMetadata & m)
{
  const std::string where = "model metadata";
  RequireObject(j, where);
  std::set<std::string> known = PreprocessingKeys();
  known.insert("network");
  RefuseUnknownKeys(j, known, where);
  if (!j.contains("network"))
  {
    itkGenericExceptionMacro(<< where
                             << ": \"network\" (architecture, spatialDimensions, inputChannels, "
                                "numberOfClasses) is missing");
  }
  ModelMetadata result;
  try
  {
    result.network = j["network"].get<NetworkOptions>();
  }
  catch (const json::exception & e)
  {
    itkGenericExceptionMacro(<< where << ": \"network\" is malformed (" << e.what() << ")");
  }
  ReadPreprocessingKeys(j, result, where);
  if (!j.contains("classes"))
  {
    result.classes = LabelTable::Generic(static_cast<unsigned int>(std::max(0, result.network.numberOfClasses - 1)));
  }
  m = std::move(result);
}

void
ValidateMetadata(const ModelMetadata & m, const std::string & source)
{
  const NetworkOptions & n = m.network;
  if (n.spatialDimensions != 2 && n.spatialDimensions != 3)
  {
    itkGenericExceptionMacro(<< source << ": the network works in " << n.spatialDimensions
                             << " spatial dimensions; TorchSeg runs 2D (slice) and 3D networks");
  }
  if (n.inputChannels < 1)
  {
    itkGenericExceptionMacro(<< source << ": the number of input channels is " << n.inputChannels);
  }
  if (n.numberOfClasses < 2 || n.numberOfClasses > 256)
  {
    itkGenericExceptionMacro(<< source << ": numberOfClasses is " << n.numberOfClasses
                             << "; it must count the background and lie in [2, 256]");
  }
  if (m.sliceContext < 0)
  {
    itkGenericExceptionMacro(<< source << ": sliceContext is " << m.sliceContext << "; it must be 0 or more");
  }
  if (n.spatialDimensions == 2 && n.inputChannels != 2 * m.sliceContext + 1)
  {
    itkGenericExceptionMacro(<< source << ": a 2D network with sliceContext " << m.sliceContext << " takes "
                             << 2 * m.sliceContext + 1 << " input channel(s) (the slice and its neighbours), but "
                             << "the metadata says inputChannels " << n.inputChannels);
  }
  if (n.spatialDimensions == 3 && (n.inputChannels != 1 || m.sliceContext != 0))
  {
    itkGenericExceptionMacro(<< source << ": a 3D network takes the CT as its one input channel (inputChannels "
                             << n.inputChannels << ", sliceContext " << m.sliceContext << " given)");
  }
  if (m.classes.size() != static_cast<std::size_t>(n.numberOfClasses - 1))
  {
    itkGenericExceptionMacro(<< source << ": the class table lists " << m.classes.size()
                             << " foreground class(es), but the network has " << n.numberOfClasses
                             << " outputs (background + " << n.numberOfClasses - 1 << ")");
  }
  for (const LabelInfo & label : m.classes.GetLabels())
  {
    if (label.value >= static_cast<unsigned int>(n.numberOfClasses))
    {
      itkGenericExceptionMacro(<< source << ": class \"" << label.name << "\" has value " << label.value
                               << ", but the network has only " << n.numberOfClasses << " outputs");
    }
  }
  const IntensityNormalization & norm = m.normalization;
  if (norm.method != "zscore" && norm.method != "window" && norm.method != "none")
  {
    itkGenericExceptionMacro(<< source << ": normalization method \"" << norm.method
                             << "\" is not one of zscore, window, none");
  }
  if (norm.method != "none" && !(norm.clipLow < norm.clipHigh))
  {
    itkGenericExceptionMacro(<< source << ": normalization clipLow " << norm.clipLow << " is not below clipHigh "
                             << norm.clipHigh);
  }
  if (norm.method == "zscore" && !(norm.std > 0.0 && std::isfinite(norm.std) && std::isfinite(norm.mean)))
  {
    itkGenericExceptionMacro(<< source << ": normalization std " << norm.std << " must be a positive number");
  }
  for (double s : m.targetSpacing)
  {
    if (!(s >= 0.0) || !std::isfinite(s))
    {
      itkGenericExceptionMacro(<< source << ": targetSpacing " << s << " must be 0 (keep) or a positive number of mm");
    }
  }
  if (!m.patchSize.empty() && static_cast<int>(m.patchSize.size()) != n.spatialDimensions)
  {
    itkGenericExceptionMacro(<< source << ": patchSize has " << m.patchSize.size() << " entries for a "
                             << n.spatialDimensions << "D network");
  }
  for (int64_t p : m.patchSize)
  {
    if (p < 0 || (p == 0 && n.spatialDimensions == 3))
    {
      itkGenericExceptionMacro(<< source << ": patchSize entry " << p << " is invalid");
    }
  }
  if (n.spatialDimensions == 3 && m.patchSize.empty())
  {
    itkGenericExceptionMacro(<< source << ": a 3D network needs patchSize (x, y, z) for the sliding window");
  }
  OrientationCodeToDirection(m.orientation);
  if (m.axisOrder != "zyx" && m.axisOrder != "xyz")
  {
    itkGenericExceptionMacro(<< source << ": axisOrder \"" << m.axisOrder << "\" is not zyx or xyz");
  }
  if (m.postProcessing)
  {
    const LabelPostProcessingOptions & p = *m.postProcessing;
    const auto                         classes = static_cast<unsigned int>(n.numberOfClasses);
    if (p.organLabel < 1 || p.organLabel >= classes || p.tumourLabel >= classes || p.organLabel == p.tumourLabel)
    {
      itkGenericExceptionMacro(<< source << ": postProcessing organLabel " << p.organLabel << " and tumourLabel "
                               << p.tumourLabel << " must be distinct classes of the model (organ 1 to " << classes - 1
                               << ", tumour 0 for none)");
    }
    if (!(p.minimumTumourVolume >= 0.0) || !std::isfinite(p.minimumTumourVolume))
    {
      itkGenericExceptionMacro(<< source << ": postProcessing minimumTumourVolume " << p.minimumTumourVolume
                               << " must be a volume in mm^3 (>= 0)");
    }
  }
}

std::ostream &
operator<<(std::ostream & os, const LabelPostProcessingOptions & o)
{
  return os << "organ " << o.organLabel << ", tumour " << o.tumourLabel << ", keepLargestOrganComponent "
            << o.keepLargestOrganComponent << ", removeTumourOutsideOrgan " << o.removeTumourOutsideOrgan
            << ", minimumTumourVolume " << o.minimumTumourVolume << " mm^3";
}

ModelMetadata
ParseModelMetadata(const json & j, const std::string & source)
{
  if (!j.is_object())
  {
    itkGenericExceptionMacro(<< source << ": the metadata must be a JSON object");
  }
  ModelMetadata m;
  if (j.contains("network_data_format"))
  {
    m = ParseMonaiMetadata(j, source);
  }
  else if (j.contains("network"))
  {
    try
    {
      m = j.get<ModelMetadata>();
    }
    catch (const itk::ExceptionObject & e)
    {
      itkGenericExceptionMacro(<< source << ": " << e.GetDescription());
    }
  }
  else
  {
    itkGenericExceptionMacro(<< source
                             << ": the metadata has neither \"network\" (TorchSeg layout) nor "
                                "\"network_data_format\" (MONAI layout)");
  }
  ValidateMetadata(m, source);
  return m;
}

std::array<std::array<double, 3>, 3>
OrientationCodeToDirection(const std::string & code)
{
  std::array<std::array<double, 3>, 3> d{};
  bool                                 used[3] = { false, false, false };
  if (code.size() != 3)
  {
    itkGenericExceptionMacro(<< "Orientation \"" << code << "\" is not a three-letter code such as LPS or RAS");
  }
  for (int i = 0; i < 3; ++i)
  {
    int    axis = -1;
    double sign = 1.0;
    switch (code[i])
    {
      case 'L':
        axis = 0;
        break;
      case 'R':
        axis = 0;
        sign = -1.0;
        break;
      case 'P':
        axis = 1;
        break;
      case 'A':
        axis = 1;
        sign = -1.0;
        break;
      case 'S':
        axis = 2;
        break;
      case 'I':
        axis = 2;
        sign = -1.0;
        break;
      default:
        break;
    }
    if (axis < 0 || used[axis])
    {
      itkGenericExceptionMacro(<< "Orientation \"" << code
                               << "\" is not a code of three distinct axes from L/R, P/A, S/I");
    }
    used[axis] = true;
    d[axis][i] = sign; // column i: where index axis i points
  }
  return d;
}

// Model -------------------------------------------------------------------------------------------------------------

Model::Model(SegmentationNetwork network, ModelMetadata metadata)
  : m_Network(std::move(network))
  , m_Metadata(std::move(metadata))
{
  if (!m_Network)
  {
    itkGenericExceptionMacro(<< "Model: the network is empty");
  }
  const NetworkOptions & built = m_Network->GetOptions();
  const NetworkOptions & said = m_Metadata.network;
  if (built.architecture != said.architecture || built.spatialDimensions != said.spatialDimensions ||
      built.inputChannels != said.inputChannels || built.numberOfClasses != said.numberOfClasses)
  {
    itkGenericExceptionMacro(<< "Model: the metadata describes a " << said.architecture << " network ("
                             << said.spatialDimensions << "D, " << said.inputChannels << " channel(s), "
                             << said.numberOfClasses << " classes), but the network is a " << built.architecture << " ("
                             << built.spatialDimensions << "D, " << built.inputChannels << " channel(s), "
                             << built.numberOfClasses << " classes)");
  }
  // The network's options carry the defaults its architecture filled in: they are what the file must record.
  m_Metadata.network = built;
  ValidateMetadata(m_Metadata, "model metadata");
  const auto parameters = m_Network->parameters();
  m_Device = parameters.empty() ? torch::Device(torch::kCPU) : parameters.front().device();
}

void
WriteModelFile(const std::string & path, const nlohmann::json & metadata,
               const std::vector<std::pair<std::string, torch::Tensor>> & tensors)
{
  AtomicOutput output(path);
  try
  {
    c10::Dict<std::string, at::Tensor> state;
    c10::Dict<std::string, int64_t>    checksums;
    for (const auto & [name, value] : tensors)
    {
      const torch::Tensor t = value.detach().to(torch::kCPU).contiguous();
      state.insert(name, t);
      checksums.insert(name, TensorChecksum(t));
    }
    torch::serialize::OutputArchive archive;
    archive.write("format", c10::IValue(std::string(Model::FormatTag)));
    archive.write("formatVersion", c10::IValue(static_cast<int64_t>(Model::FormatVersion)));
    archive.write("metadata", c10::IValue(metadata.dump(2)));
    archive.write("state", c10::IValue(state));
    archive.write("checksums", c10::IValue(checksums));
    archive.save_to(output.GetTemporaryPath().string());
  }
  catch (const itk::ExceptionObject &)
  {
    throw;
  }
  catch (const std::exception & e)
  {
    ThrowTorchError(e, "Cannot write the model " + path);
  }
  output.Commit();
}

void
Model::Save(const std::string & path) const
{
  if (!m_Network)
  {
    itkGenericExceptionMacro(<< "Cannot save " << path << ": " << (m_Path.empty() ? "the model" : m_Path)
                             << " is a TorchScript model; only native TorchSeg networks are written in the TorchSeg "
                                "model format");
  }
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto & item : m_Network->named_parameters(/*recurse=*/true))
  {
    tensors.emplace_back(item.key(), item.value());
  }
  for (const auto & item : m_Network->named_buffers(/*recurse=*/true))
  {
    tensors.emplace_back(item.key(), item.value());
  }
  WriteModelFile(path, json(m_Metadata), tensors);
}

Model
Model::Load(const std::string & path, const torch::Device & device)
{
  std::error_code ec;
  if (!fs::exists(path, ec))
  {
    itkGenericExceptionMacro(<< "Cannot read the model " << path << ": no such file");
  }
  if (!fs::is_regular_file(path, ec))
  {
    itkGenericExceptionMacro(<< "Cannot read the model " << path << ": it is not a file");
  }
  if (!IsZipFile(path))
  {
    itkGenericExceptionMacro(<< path
                             << " is not a model file: neither a TorchSeg model nor a TorchScript archive "
                                "(both are zip archives)");
  }

  torch::jit::ExtraFilesMap extra{ { "metadata.json", "" } };
  torch::jit::Module        module;
  try
  {
    module = torch::jit::load(path, torch::Device(torch::kCPU), extra);
  }
  catch (const std::exception & e)
  {
    ThrowTorchError(e, path + " is corrupt, truncated or not a PyTorch archive");
  }

  Model model;
  model.m_Path = path;
  if (module.hasattr("format"))
  {
    const c10::IValue format = module.attr("format");
    if (!format.isString() || format.toStringRef() != FormatTag)
    {
      itkGenericExceptionMacro(<< path << " is not a TorchSeg model (its format tag is "
                               << (format.isString() ? "\"" + format.toStringRef() + "\"" : format.tagKind()) << ")");
    }
    const c10::IValue version = module.hasattr("formatVersion") ? module.attr("formatVersion") : c10::IValue();
    if (!version.isInt() || version.toInt() < 1 || version.toInt() > FormatVersion)
    {
      itkGenericExceptionMacro(<< path << " has TorchSeg model format version "
                               << (version.isInt() ? std::to_string(version.toInt()) : "?") << "; this TorchSeg reads "
                               << "version " << FormatVersion << " (a newer TorchSeg wrote it?)");
    }
    if (!module.hasattr("metadata") || !module.attr("metadata").isString() || !module.hasattr("state") ||
        !module.attr("state").isGenericDict() || !module.hasattr("checksums") ||
        !module.attr("checksums").isGenericDict())
    {
      itkGenericExceptionMacro(<< path << " is a damaged TorchSeg model: its metadata or weights are missing");
    }
    model.m_Metadata =
      ParseModelMetadata(ParseJsonText(module.attr("metadata").toStringRef(), path + " metadata"), path);
    model.m_Network = CreateNetwork(model.m_Metadata.network);
    model.m_Metadata.network = model.m_Network->GetOptions();

    const c10::Dict<c10::IValue, c10::IValue> state = module.attr("state").toGenericDict();
    const c10::Dict<c10::IValue, c10::IValue> checksums = module.attr("checksums").toGenericDict();
    std::set<std::string>                     used;
    const auto                                describe = [&model]() {
      const NetworkOptions & n = model.m_Metadata.network;
      return n.architecture + " network of the metadata (" + std::to_string(n.spatialDimensions) + "D, " +
             std::to_string(n.inputChannels) + " input channel(s), " + std::to_string(n.numberOfClasses) + " classes)";
    };
    auto assign = [&](const std::string & name, torch::Tensor & target) {
      const auto it = state.find(c10::IValue(name));
      if (it == state.end() || !it->value().isTensor())
      {
        itkGenericExceptionMacro(<< path << ": the weights \"" << name << "\" of the " << describe()
                                 << " are missing from the file");
      }
      const torch::Tensor source = it->value().toTensor();
      const auto          checksum = checksums.find(c10::IValue(name));
      if (checksum == checksums.end() || !checksum->value().isInt() ||
          checksum->value().toInt() != TensorChecksum(source))
      {
        itkGenericExceptionMacro(<< path << " is corrupt: the weights \"" << name << "\" do not match their checksum");
      }
      if (source.sizes() != target.sizes())
      {
        itkGenericExceptionMacro(<< path << ": the weights \"" << name << "\" have shape " << ShapeToString(source)
                                 << " in the file, but the " << describe() << " needs " << ShapeToString(target)
                                 << " (class count or options do not match the weights)");
      }
      torch::NoGradGuard noGrad;
      target.copy_(source);
      used.insert(name);
    };
    for (auto & item : model.m_Network->named_parameters(/*recurse=*/true))
    {
      assign(item.key(), item.value());
    }
    for (auto & item : model.m_Network->named_buffers(/*recurse=*/true))
    {
      assign(item.key(), item.value());
    }
    for (const auto & entry : state)
    {
      const std::string name = entry.key().isString() ? entry.key().toStringRef() : std::string("?");
      if (!used.count(name))
      {
        itkGenericExceptionMacro(<< path << ": the file holds weights \"" << name << "\" that the " << describe()
                                 << " does not have");
      }
    }
    model.m_Network->eval();
    model.To(device);
    return model;
  }

  // A TorchScript module: metadata from a sidecar JSON (which wins, so that a model can be corrected without
  // rewriting it) or the embedded extra file.
  std::string source;
  std::string text;
  for (const fs::path & sidecar : { fs::path(path + ".json"), fs::path(path).replace_extension(".json") })
  {
    if (sidecar.string() != path && fs::is_regular_file(sidecar, ec))
    {
      source = sidecar.string();
      text = ReadTextFile(sidecar);
      break;
    }
  }
  if (source.empty() && !extra["metadata.json"].empty())
  {
    source = path + " (metadata.json)";
    text = extra["metadata.json"];
  }
  if (source.empty())
  {
    itkGenericExceptionMacro(<< path << " is a TorchScript file without metadata: embed metadata.json as an extra file "
                             << "(MONAI bundle layout) or write it beside the model as "
                             << fs::path(path).replace_extension(".json").string());
  }
  model.m_Metadata = ParseModelMetadata(ParseJsonText(text, source), source);
  if (!module.find_method("forward"))
  {
    itkGenericExceptionMacro(<< path << " is a TorchScript file without a forward() method");
  }
  module.eval();
  model.m_Script = module;
  model.To(device);

  // One small forward pass tells whether the metadata's channels, classes and spatial dimension fit the network.
  const ModelMetadata & m = model.m_Metadata;
  std::vector<int64_t>  shape{ 1, m.network.inputChannels };
  for (int d = m.network.spatialDimensions - 1; d >= 0; --d)
  {
    const int64_t p = m.patchSize.empty() ? 0 : m.patchSize[d];
    shape.push_back(p > 0 && p <= 128 ? p : (m.network.spatialDimensions == 2 ? 64 : 32));
  }
  model.Forward(torch::zeros(shape));
  return model;
}

void
Model::To(const torch::Device & device)
{
  if (!device.is_cpu())
  {
    ParseDevice(device.str()); // an unusable GPU is a clear error, not a LibTorch dispatch message
  }
  try
  {
    if (m_Network)
    {
      m_Network->to(device);
    }
    if (m_Script)
    {
      m_Script->to(device);
    }
  }
  catch (const std::exception & e)
  {
    ThrowTorchError(
      e, "Cannot move the model " + (m_Path.empty() ? std::string("(in memory)") : m_Path) + " to " + device.str());
  }
  m_Device = device;
}

torch::Tensor
Model::Forward(const torch::Tensor & input)
{
  const std::string name = m_Path.empty() ? std::string("the model") : "the model " + m_Path;
  const int         dims = m_Metadata.network.spatialDimensions;
  if (input.dim() != dims + 2 || input.size(1) != m_Metadata.network.inputChannels)
  {
    itkGenericExceptionMacro(<< name << " takes (N, " << m_Metadata.network.inputChannels << ", "
                             << (dims == 2 ? "H, W" : "D, H, W") << ") tensors, not " << ShapeToString(input));
  }
  torch::Tensor output;
  try
  {
    c10::InferenceMode guard;
    torch::Tensor      x = input.to(m_Device, torch::kFloat32);
    const bool         reverse = m_Metadata.axisOrder == "xyz";
    if (reverse)
    {
      x = ReverseSpatialAxes(x).contiguous();
    }
    if (m_Network)
    {
      if (m_Network->is_training())
      {
        m_Network->eval();
      }
      output = m_Network->forward(x);
    }
    else
    {
      c10::IValue result = m_Script->forward({ x });
      if (result.isTuple())
      {
        result = result.toTupleRef().elements().at(0);
      }
      else if (result.isList())
      {
        result = result.toListRef().at(0);
      }
      if (!result.isTensor())
      {
        itkGenericExceptionMacro(<< name << " returned a " << result.tagKind() << ", not a tensor of logits");
      }
      output = result.toTensor();
    }
    if (reverse && output.dim() == x.dim())
    {
      output = ReverseSpatialAxes(output);
    }
  }
  catch (const itk::ExceptionObject &)
  {
    throw;
  }
  catch (const std::exception & e)
  {
    ThrowTorchError(e, name + " failed on an input of shape " + ShapeToString(input));
  }
  bool ok = output.dim() == input.dim() && output.size(0) == input.size(0) &&
            output.size(1) == m_Metadata.network.numberOfClasses;
  for (int64_t d = 2; ok && d < input.dim(); ++d)
  {
    ok = output.size(d) == input.size(d);
  }
  if (!ok)
  {
    itkGenericExceptionMacro(<< name << " returned logits of shape " << ShapeToString(output)
                             << " for an input of shape " << ShapeToString(input) << "; its metadata promises (N, "
                             << m_Metadata.network.numberOfClasses << " classes, the input's spatial size)");
  }
  return output;
}

} // namespace torchseg
