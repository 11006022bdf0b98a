#include "torchsegDICOMSegmentation.h"
#include "torchsegDICOMSegmentationPrivate.h"

#include "itkMacro.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmfg/fgpixmsr.h"
#include "dcmtk/dcmfg/fgplanor.h"
#include "dcmtk/dcmfg/fgplanpo.h"
#include "dcmtk/dcmfg/fgseg.h"
#include "dcmtk/dcmseg/segdoc.h"
#include "dcmtk/dcmseg/segment.h"
#include "dcmtk/dcmseg/segutils.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>

namespace torchseg
{
namespace
{

std::string
Lower(std::string text)
{
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

CodedConcept
ReadCode(CodeSequenceMacro & code)
{
  OFString value;
  OFString scheme;
  OFString meaning;
  code.getCodeValue(value);
  code.getCodingSchemeDesignator(scheme);
  code.getCodeMeaning(meaning);
  return { value.c_str(), scheme.c_str(), meaning.c_str() };
}

bool
SameCode(const CodedConcept & a, const CodedConcept & b)
{
  return !a.IsEmpty() && a.value == b.value && a.scheme == b.scheme;
}

/** The label value of a segment, by the rule documented in the header. */
unsigned int
LabelValueOf(const LabelInfo & segment, unsigned int segmentNumber, const LabelTable & labelValues)
{
  auto sameType = [&segment](const LabelInfo & e) {
    return SameCode(e.type, segment.type) &&
           (e.category.IsEmpty() || segment.category.IsEmpty() || SameCode(e.category, segment.category));
  };
  const std::string name = Lower(segment.name);
  const LabelInfo * typeMatch = nullptr;
  int               typeMatches = 0;
  for (const auto & entry : labelValues.GetLabels())
  {
    if (sameType(entry))
    {
      if (Lower(entry.name) == name)
      {
        return entry.value;
      }
      typeMatch = &entry;
      ++typeMatches;
    }
  }
  if (typeMatches == 1)
  {
    return typeMatch->value;
  }
  for (const auto & entry : labelValues.GetLabels())
  {
    if (Lower(entry.name) == name)
    {
      return entry.value;
    }
  }
  // The writer's name for a class without a table entry: "label N".
  if (name.rfind("label ", 0) == 0 && name.size() > 6 && name.find_first_not_of("0123456789", 6) == std::string::npos &&
      name.size() <= 9)
  {
    const unsigned long v = std::stoul(name.substr(6));
    if (v >= 1 && v <= 255)
    {
      return static_cast<unsigned int>(v);
    }
  }
  return segmentNumber;
}

[[noreturn]] void
Fail(const std::string & file, const std::string & what)
{
  itkGenericExceptionMacro(<< "Cannot read the DICOM segmentation " << file << ": " << what);
}

} // namespace

DICOMSegmentationContents
ReadDICOMSegmentation(const std::string & file, const itk::ImageBase<3> * referenceGeometry,
                      const LabelTable & labelValues)
{
  dicomseg::QuietDCMTKLogging();
  if (!referenceGeometry)
  {
    Fail(file, "no reference geometry given");
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
  {
    Fail(file, "the file does not exist");
  }
  DcmFileFormat fileFormat;
  OFCondition   condition = fileFormat.loadFile(file.c_str());
  if (condition.bad())
  {
    Fail(file, std::string("not a readable DICOM file (") + condition.text() + ")");
  }
  DcmDataset * dataset = fileFormat.getDataset();
  OFString     sopClass;
  dataset->findAndGetOFString(DCM_SOPClassUID, sopClass);
  if (sopClass != UID_SegmentationStorage)
  {
    Fail(file,
         "its SOPClassUID is \"" + std::string(sopClass.c_str()) + "\", not Segmentation Storage " +
           UID_SegmentationStorage);
  }
  Uint16 rows = 0;
  Uint16 columns = 0;
  dataset->findAndGetUint16(DCM_Rows, rows);
  dataset->findAndGetUint16(DCM_Columns, columns);

  DICOMSegmentationContents contents;
  OFString                  text;
  if (dataset->findAndGetOFString(DCM_SeriesDescription, text).good())
  {
    contents.seriesDescription = text.c_str();
  }
  DcmItem * referenced = nullptr;
  if (dataset->findAndGetSequenceItem(DCM_ReferencedSeriesSequence, referenced, 0).good() && referenced &&
      referenced->findAndGetOFString(DCM_SeriesInstanceUID, text).good())
  {
    contents.referencedSeriesInstanceUID = text.c_str();
  }

  DcmSegmentation * raw = nullptr;
  condition = DcmSegmentation::loadDataset(*dataset, raw);
  std::unique_ptr<DcmSegmentation> seg(raw);
  if (condition.bad() || !seg)
  {
    Fail(file, std::string("invalid Segmentation object (") + condition.text() + ")");
  }
  const bool fractional = seg->getSegmentationType() == DcmSegTypes::ST_FRACTIONAL;
  contents.type = fractional ? DICOMSegmentationType::Fractional : DICOMSegmentationType::Binary;
  if (fractional)
  {
    Uint16 maximum = 0;
    if (dataset->findAndGetUint16(DCM_MaximumFractionalValue, maximum).bad() || maximum == 0)
    {
      Fail(file, "a fractional segmentation without a MaximumFractionalValue");
    }
    contents.maximumFractionalValue = maximum;
  }

  // Geometry of the reference.
  const dicomseg::GridGeometry g(referenceGeometry);
  const std::string            grid = dicomseg::DescribeGrid(referenceGeometry);
  if (columns != g.size[0] || rows != g.size[1])
  {
    Fail(file,
         "its frames have " + std::to_string(columns) + "x" + std::to_string(rows) + " pixels, the reference grid (" +
           grid + ") does not");
  }

  // Segments and their label values.
  const std::size_t                   numberOfSegments = seg->getNumberOfSegments();
  std::vector<unsigned int>           valueOfSegment(numberOfSegments + 1, 0);
  std::map<unsigned int, std::size_t> segmentOfValue;
  unsigned int                        maximumValue = 0;
  for (std::size_t s = 1; s <= numberOfSegments; ++s)
  {
    DcmSegment * segment = seg->getSegment(s);
    if (!segment)
    {
      Fail(file, "segment " + std::to_string(s) + " is missing");
    }
    LabelInfo info;
    segment->getSegmentLabel(text);
    info.name = text.c_str();
    info.category = ReadCode(segment->getSegmentedPropertyCategoryCode());
    info.type = ReadCode(segment->getSegmentedPropertyTypeCode());
    if (info.name.empty())
    {
      info.name = info.type.meaning.empty() ? "segment " + std::to_string(s) : info.type.meaning;
    }
    Uint16 L = 0;
    Uint16 a = 0;
    Uint16 b = 0;
    if (segment->getRecommendedDisplayCIELabValue(L, a, b).good())
    {
      info.color = DICOMLabToRGB({ { L, a, b } });
    }
    info.value = LabelValueOf(info, static_cast<unsigned int>(s), labelValues);
    if (info.value == 0 || info.value > 255)
    {
      Fail(file,
           "segment " + std::to_string(s) + " (\"" + info.name + "\") maps to label value " +
             std::to_string(info.value) + ", outside 1..255");
    }
    const auto previous = segmentOfValue.find(info.value);
    if (previous != segmentOfValue.end())
    {
      Fail(file,
           "segments " + std::to_string(previous->second) + " and " + std::to_string(s) + " both map to label value " +
             std::to_string(info.value) + " (\"" + info.name + "\")");
    }
    segmentOfValue[info.value] = s;
    valueOfSegment[s] = info.value;
    maximumValue = std::max(maximumValue, info.value);
    contents.table.Set(info);
  }

  auto labels = LabelImageType::New();
  labels->CopyInformation(referenceGeometry);
  labels->SetRegions(referenceGeometry->GetLargestPossibleRegion());
  labels->Allocate(true);
  const std::size_t sliceSize = static_cast<std::size_t>(g.size[0]) * g.size[1];
  if (fractional)
  {
    contents.fractions = ProbabilityImageType::New();
    contents.fractions->CopyInformation(referenceGeometry);
    contents.fractions->SetRegions(referenceGeometry->GetLargestPossibleRegion());
    contents.fractions->SetNumberOfComponentsPerPixel(maximumValue + 1);
    contents.fractions->Allocate(true);
  }

  // Frames, in segment order so that the highest segment number wins where binary segments overlap.
  FGInterface &                                     groups = seg->getFunctionalGroups();
  const std::size_t                                 numberOfFrames = seg->getNumberOfFrames();
  std::vector<std::pair<unsigned int, std::size_t>> order;
  order.reserve(numberOfFrames);
  for (std::size_t f = 0; f < numberOfFrames; ++f)
  {
    auto * segmentation =
      dynamic_cast<FGSegmentation *>(groups.get(static_cast<Uint32>(f), DcmFGTypes::EFG_SEGMENTATION));
    Uint16 number = 0;
    if (!segmentation || segmentation->getReferencedSegmentNumber(number).bad() || number == 0 ||
        number > numberOfSegments)
    {
      Fail(file, "frame " + std::to_string(f + 1) + " references no valid segment");
    }
    order.emplace_back(number, f);
  }
  std::stable_sort(order.begin(), order.end());

  uint8_t *          labelBuffer = labels->GetBufferPointer();
  float *            fractionBuffer = fractional ? contents.fractions->GetBufferPointer() : nullptr;
  const unsigned int components = maximumValue + 1;
  const float        scale = fractional ? 1.0f / static_cast<float>(contents.maximumFractionalValue) : 0.0f;
  for (const auto & [number, f] : order)
  {
    const std::string frameName = "frame " + std::to_string(f + 1);
    auto *            orientation =
      dynamic_cast<FGPlaneOrientationPatient *>(groups.get(static_cast<Uint32>(f), DcmFGTypes::EFG_PLANEORIENTPATIENT));
    double iop[6];
    if (!orientation || orientation->getImageOrientationPatient(iop[0], iop[1], iop[2], iop[3], iop[4], iop[5]).bad())
    {
      Fail(file, frameName + " has no PlaneOrientationSequence");
    }
    if (!g.HasOrientation(iop))
    {
      Fail(file,
           frameName + " has orientation (" + dicomseg::FormatDecimal(iop[0]) + " " + dicomseg::FormatDecimal(iop[1]) +
             " " + dicomseg::FormatDecimal(iop[2]) + "; " + dicomseg::FormatDecimal(iop[3]) + " " +
             dicomseg::FormatDecimal(iop[4]) + " " + dicomseg::FormatDecimal(iop[5]) +
             "), not that of the reference grid (" + grid + ")");
    }
    auto * measures =
      dynamic_cast<FGPixelMeasures *>(groups.get(static_cast<Uint32>(f), DcmFGTypes::EFG_PIXELMEASURES));
    Float64 rowSpacing = 0.0;
    Float64 columnSpacing = 0.0;
    if (measures && measures->getPixelSpacing(rowSpacing, 0).good() &&
        measures->getPixelSpacing(columnSpacing, 1).good() &&
        (std::abs(rowSpacing - g.spacing[1]) > 1e-3 * g.spacing[1] ||
         std::abs(columnSpacing - g.spacing[0]) > 1e-3 * g.spacing[0]))
    {
      Fail(file,
           frameName + " has PixelSpacing " + dicomseg::FormatDecimal(rowSpacing) + "\\" +
             dicomseg::FormatDecimal(columnSpacing) + ", not that of the reference grid (" + grid + ")");
    }
    auto * position =
      dynamic_cast<FGPlanePosPatient *>(groups.get(static_cast<Uint32>(f), DcmFGTypes::EFG_PLANEPOSPATIENT));
    double ipp[3];
    if (!position || position->getImagePositionPatient(ipp[0], ipp[1], ipp[2]).bad())
    {
      Fail(file, frameName + " has no PlanePositionSequence");
    }
    long   slice = 0;
    double offset = 0.0;
    if (!g.SliceOfPosition(ipp, slice, offset) || slice < 0 || slice >= static_cast<long>(g.size[2]))
    {
      Fail(file,
           frameName + " at ImagePositionPatient (" + dicomseg::FormatDecimal(ipp[0]) + ", " +
             dicomseg::FormatDecimal(ipp[1]) + ", " + dicomseg::FormatDecimal(ipp[2]) +
             ") lies on no slice of the reference grid (" + grid + ")");
    }

    const DcmIODTypes::Frame * stored = seg->getFrame(f);
    if (!stored || !stored->pixData)
    {
      Fail(file, frameName + " has no pixel data");
    }
    std::unique_ptr<DcmIODTypes::Frame> unpacked;
    const Uint8 *                       pixels = stored->pixData;
    if (!fractional && stored->length < sliceSize)
    {
      unpacked.reset(DcmSegUtils::unpackBinaryFrame(stored, rows, columns));
      if (!unpacked)
      {
        Fail(file, frameName + ": cannot unpack the binary pixel data");
      }
      pixels = unpacked->pixData;
    }
    else if (stored->length < sliceSize)
    {
      Fail(file,
           frameName + " has " + std::to_string(stored->length) + " bytes, expected " + std::to_string(sliceSize));
    }
    const unsigned int value = valueOfSegment[number];
    if (fractional)
    {
      float * out = fractionBuffer + static_cast<std::size_t>(slice) * sliceSize * components;
      for (std::size_t i = 0; i < sliceSize; ++i)
      {
        out[i * components + value] = std::min(1.0f, pixels[i] * scale);
      }
    }
    else
    {
      uint8_t * out = labelBuffer + static_cast<std::size_t>(slice) * sliceSize;
      for (std::size_t i = 0; i < sliceSize; ++i)
      {
        if (pixels[i])
        {
          out[i] = static_cast<uint8_t>(value);
        }
      }
    }
  }

  if (fractional)
  {
    // Background = 1 - sum of the classes; the label is the class with the largest fraction (lower value on ties).
    const std::size_t numberOfVoxels = sliceSize * g.size[2];
    for (std::size_t i = 0; i < numberOfVoxels; ++i)
    {
      float *      f = fractionBuffer + i * components;
      float        sum = 0.0f;
      unsigned int best = 0;
      float        bestFraction = -1.0f;
      for (unsigned int c = 1; c < components; ++c)
      {
        sum += f[c];
      }
      f[0] = std::max(0.0f, 1.0f - sum);
      for (unsigned int c = 0; c < components; ++c)
      {
        if (f[c] > bestFraction)
        {
          bestFraction = f[c];
          best = c;
        }
      }
      labelBuffer[i] = static_cast<uint8_t>(best);
    }
  }
  contents.labels = labels;
  return contents;
}

} // namespace torchseg
