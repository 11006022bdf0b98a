#include "torchsegDICOMSegmentation.h"
#include "torchsegDICOMSegmentationPrivate.h"

#include "torchsegAtomicOutput.h"
#include "torchsegVersion.h"

#include "itkMacro.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcvrda.h"
#include "dcmtk/dcmdata/dcvrtm.h"
#include "dcmtk/dcmfg/fgderimg.h"
#include "dcmtk/dcmfg/fgfracon.h"
#include "dcmtk/dcmfg/fgpixmsr.h"
#include "dcmtk/dcmfg/fgplanor.h"
#include "dcmtk/dcmfg/fgplanpo.h"
#include "dcmtk/dcmiod/modcommoninstanceref.h"
#include "dcmtk/dcmseg/segdoc.h"
#include "dcmtk/dcmseg/segment.h"

#include <algorithm>
#include <functional>
#include <bitset>
#include <cmath>
#include <memory>
#include <sstream>

namespace torchseg
{
namespace
{

using dicomseg::FormatDecimal;
using dicomseg::SplitBackslash;

/** The category and type of a segment whose class has no codes: SCT "Tissue", as 3D Slicer does. */
const CodedConcept kGenericCode{ "85756007", "SCT", "Tissue" };

bool
IsASCII(const std::string & text)
{
  return std::none_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

/** A segment to write: the voxel value (label value or probability component) it comes from, and its class. */
struct SegmentSpec
{
  unsigned int value = 0;
  LabelInfo    info;
};

void
Check(const OFCondition & condition, const std::string & output, const std::string & what)
{
  if (condition.bad())
  {
    itkGenericExceptionMacro(<< "Cannot write the DICOM segmentation " << output << ": " << what << " ("
                             << condition.text() << ")");
  }
}

/** The segments: the table's entries (those \a usable accepts), then generic ones for other present values. */
std::vector<SegmentSpec>
MakeSegments(const LabelTable & table, const std::bitset<256> & present,
             const std::function<bool(unsigned int)> & usable)
{
  std::vector<SegmentSpec> segments;
  for (const auto & entry : table.GetLabels())
  {
    if (entry.value < 256 && usable(entry.value))
    {
      segments.push_back({ entry.value, entry });
    }
  }
  for (unsigned int v = 1; v < 256; ++v)
  {
    if (present[v] && !table.Find(v))
    {
      LabelInfo info;
      info.value = v;
      info.name = table.GetName(v);
      info.color = table.GetColor(v);
      segments.push_back({ v, info });
    }
  }
  return segments;
}

/** Builds the SEG document around per-slice frames given by \a frameOf; shared by the binary and fractional paths.
 * \a frameOf(value, slice, buffer) fills one frame (Columns x Rows bytes, row by row) and returns whether it holds
 * anything; \a present[slice][value] says in advance whether it would, so empty slices cost nothing. */
template <typename TFrameFunction>
void
WriteDocument(const itk::ImageBase<3> * grid, const std::vector<DICOMSourceInstance> & instances,
              const std::vector<SegmentSpec> & segments, const std::vector<std::bitset<256>> & present, bool fractional,
              const DICOMSegmentationOptions & options, const std::string & outputFile, TFrameFunction && frameOf)
{
  const dicomseg::GridGeometry g(grid);
  const std::string            version = GetVersion();
  const Uint16                 rows = static_cast<Uint16>(g.size[1]);
  const Uint16                 columns = static_cast<Uint16>(g.size[0]);

  AtomicOutput out(outputFile);

  IODGeneralEquipmentModule::EquipmentInfo equipment(
    options.manufacturer.c_str(),
    options.manufacturerModelName.c_str(),
    options.deviceSerialNumber.c_str(),
    (options.softwareVersions.empty() ? version : options.softwareVersions).c_str());
  ContentIdentificationMacro identification(std::to_string(options.instanceNumber).c_str(),
                                            options.contentLabel.c_str(),
                                            options.contentDescription.c_str(),
                                            options.contentCreatorName.c_str());
  DcmSegmentation *          raw = nullptr;
  if (fractional)
  {
    Check(DcmSegmentation::createFractionalSegmentation(raw,
                                                        rows,
                                                        columns,
                                                        options.fractionalProbability ? DcmSegTypes::SFT_PROBABILITY
                                                                                      : DcmSegTypes::SFT_OCCUPANCY,
                                                        255,
                                                        equipment,
                                                        identification),
          outputFile,
          "creating the fractional segmentation (check manufacturer, content label and creator)");
  }
  else
  {
    Check(DcmSegmentation::createBinarySegmentation(raw, rows, columns, equipment, identification),
          outputFile,
          "creating the binary segmentation (check manufacturer, content label and creator)");
  }
  std::unique_ptr<DcmSegmentation> doc(raw);
  doc->setCheckFGOnWrite(OFFalse); // the groups below are valid by construction; checking costs O(frames^2)

  // Patient, study and frame of reference of the source.
  Check(doc->importFromSourceImage(instances.front().fileName.c_str()),
        outputFile,
        "importing patient, study and frame of reference from " + instances.front().fileName);

  // Series, instance, dates.
  OFString date;
  OFString time;
  DcmDate::getCurrentDate(date);
  DcmTime::getCurrentTime(time);
  const std::string & sourceSeries = instances.front().seriesInstanceUID;
  const std::string   seriesUID = options.seriesInstanceUID.empty()
                                    ? MakeDICOMUID(options.uidSeed, "SEG SeriesInstanceUID " + sourceSeries)
                                    : options.seriesInstanceUID;
  const std::string   sopUID = options.sopInstanceUID.empty()
                                 ? MakeDICOMUID(options.uidSeed, "SEG SOPInstanceUID " + seriesUID)
                                 : options.sopInstanceUID;
  Check(doc->getSeries().setSeriesInstanceUID(seriesUID.c_str()), outputFile, "SeriesInstanceUID " + seriesUID);
  Check(doc->getSeries().setSeriesNumber(std::to_string(options.seriesNumber).c_str()),
        outputFile,
        "SeriesNumber " + std::to_string(options.seriesNumber));
  Check(doc->getSeries().setSeriesDescription(IsASCII(options.seriesDescription) ? options.seriesDescription.c_str()
                                                                                 : "segmentation"),
        outputFile,
        "SeriesDescription \"" + options.seriesDescription + "\"");
  doc->getSeries().setSeriesDate(date);
  doc->getSeries().setSeriesTime(time);
  Check(doc->getSOPCommon().setSOPInstanceUID(sopUID.c_str()), outputFile, "SOPInstanceUID " + sopUID);
  doc->getGeneralImage().setContentDate(date);
  doc->getGeneralImage().setContentTime(time);

  // Dimensions: the segment, then the position along the slice normal.
  const std::string              dimensionUID = MakeDICOMUID(options.uidSeed, "SEG DimensionOrganizationUID " + sopUID);
  IODMultiframeDimensionModule & dimensions = doc->getDimensions();
  Check(
    dimensions.addDimensionIndex(
      DCM_ReferencedSegmentNumber, dimensionUID.c_str(), DCM_SegmentIdentificationSequence, "ReferencedSegmentNumber"),
    outputFile,
    "dimension index ReferencedSegmentNumber");
  Check(dimensions.addDimensionIndex(
          DCM_ImagePositionPatient, dimensionUID.c_str(), DCM_PlanePositionSequence, "ImagePositionPatient"),
        outputFile,
        "dimension index ImagePositionPatient");

  // Shared functional groups, taken from the source so that they are the same strings.
  const auto                                 orientation = SplitBackslash(instances.front().imageOrientationPatient);
  std::unique_ptr<FGPlaneOrientationPatient> planeOrientation(
    FGPlaneOrientationPatient::createMinimal(orientation[0].c_str(),
                                             orientation[1].c_str(),
                                             orientation[2].c_str(),
                                             orientation[3].c_str(),
                                             orientation[4].c_str(),
                                             orientation[5].c_str()));
  if (!planeOrientation)
  {
    itkGenericExceptionMacro(<< "Cannot write the DICOM segmentation " << outputFile
                             << ": invalid ImageOrientationPatient " << instances.front().imageOrientationPatient
                             << " in " << instances.front().fileName);
  }
  Check(doc->addForAllFrames(*planeOrientation), outputFile, "shared PlaneOrientationSequence");
  FGPixelMeasures pixelMeasures;
  Check(pixelMeasures.setPixelSpacing(instances.front().pixelSpacing.c_str()),
        outputFile,
        "PixelSpacing " + instances.front().pixelSpacing + " of " + instances.front().fileName);
  const std::string thickness =
    instances.front().sliceThickness.empty() ? FormatDecimal(g.spacing[2]) : instances.front().sliceThickness;
  Check(pixelMeasures.setSliceThickness(thickness.c_str()), outputFile, "SliceThickness " + thickness);
  Check(pixelMeasures.setSpacingBetweenSlices(FormatDecimal(g.spacing[2]).c_str()),
        outputFile,
        "SpacingBetweenSlices " + FormatDecimal(g.spacing[2]));
  Check(doc->addForAllFrames(pixelMeasures), outputFile, "shared PixelMeasuresSequence");

  // Segments.
  for (std::size_t s = 0; s < segments.size(); ++s)
  {
    const LabelInfo &    info = segments[s].info;
    const CodedConcept & category = info.category.IsEmpty() ? kGenericCode : info.category;
    const CodedConcept & type = info.type.IsEmpty() ? kGenericCode : info.type;
    DcmSegment *         segment = nullptr;
    Check(
      DcmSegment::create(segment,
                         IsASCII(info.name) ? info.name.c_str() : "segment",
                         CodeSequenceMacro(category.value.c_str(), category.scheme.c_str(), category.meaning.c_str()),
                         CodeSequenceMacro(type.value.c_str(), type.scheme.c_str(), type.meaning.c_str()),
                         DcmSegTypes::SAT_AUTOMATIC,
                         options.algorithmName.c_str()),
      outputFile,
      "segment \"" + info.name + "\" (label " + std::to_string(info.value) + ")");
    std::unique_ptr<DcmSegment> owned(segment);
    const auto                  lab = RGBToDICOMLab(info.color);
    Check(segment->setRecommendedDisplayCIELabValue(lab[0], lab[1], lab[2]), outputFile, "segment colour");
    AlgorithmIdentificationMacro & algorithm = segment->getSegmentationAlgorithmIdentification();
    Check(algorithm.getAlgorithmFamilyCode().set("123110", "DCM", "Artificial Intelligence"),
          outputFile,
          "AlgorithmFamilyCodeSequence");
    Check(algorithm.setAlgorithmName(options.algorithmName.c_str()),
          outputFile,
          "algorithm name \"" + options.algorithmName + "\"");
    const std::string algorithmVersion = options.algorithmVersion.empty() ? version : options.algorithmVersion;
    Check(algorithm.setAlgorithmVersion(algorithmVersion.c_str()),
          outputFile,
          "algorithm version \"" + algorithmVersion + "\"");
    Uint16 number = 0;
    Check(doc->addSegment(segment, number), outputFile, "adding segment \"" + info.name + "\"");
    owned.release();
    if (number != s + 1)
    {
      itkGenericExceptionMacro(<< "Cannot write the DICOM segmentation " << outputFile << ": segment \"" << info.name
                               << "\" got number " << number << " instead of " << s + 1);
    }
  }

  // Frames: segment by segment, slice by slice along the normal.
  const CodeSequenceMacro  derivationCode("113076", "DCM", "Segmentation");
  std::vector<Uint8>       frame(static_cast<std::size_t>(rows) * columns);
  std::vector<std::size_t> framesOfSegment(segments.size(), 0);
  auto                     addFrame = [&](std::size_t segmentIndex, unsigned int slice) {
    const DICOMSourceInstance &        source = instances[slice];
    const auto                         position = SplitBackslash(source.imagePositionPatient);
    std::unique_ptr<FGPlanePosPatient> planePosition(
      FGPlanePosPatient::createMinimal(position[0].c_str(), position[1].c_str(), position[2].c_str()));
    if (!planePosition)
    {
      itkGenericExceptionMacro(<< "Cannot write the DICOM segmentation " << outputFile
                               << ": invalid ImagePositionPatient " << source.imagePositionPatient << " in "
                               << source.fileName);
    }
    FGFrameContent frameContent;
    Check(frameContent.setDimensionIndexValues(static_cast<Uint32>(segmentIndex + 1), 0), outputFile, "frame content");
    Check(frameContent.setDimensionIndexValues(slice + 1, 1), outputFile, "frame content");
    FGDerivationImage     derivation;
    DerivationImageItem * derivationItem = nullptr;
    Check(derivation.addDerivationImageItem(derivationCode, "", derivationItem), outputFile, "DerivationImageSequence");
    auto * sourceItem = new SourceImageItem();
    derivationItem->getSourceImageItems().push_back(sourceItem);
    Check(sourceItem->getPurposeOfReferenceCode().set("121322", "DCM", "Source image for image processing operation"),
          outputFile,
          "PurposeOfReferenceCodeSequence");
    Check(sourceItem->getImageSOPInstanceReference().setReferencedSOPClassUID(source.sopClassUID.c_str()),
          outputFile,
          "ReferencedSOPClassUID of " + source.fileName);
    Check(sourceItem->getImageSOPInstanceReference().setReferencedSOPInstanceUID(source.sopInstanceUID.c_str()),
          outputFile,
          "ReferencedSOPInstanceUID of " + source.fileName);
    const OFVector<FGBase *> groups{ planePosition.get(), &frameContent, &derivation };
    Check(doc->addFrame(frame.data(), static_cast<Uint16>(segmentIndex + 1), groups),
          outputFile,
          "frame of segment " + std::to_string(segmentIndex + 1) + " on slice " + std::to_string(slice));
  };
  for (std::size_t s = 0; s < segments.size(); ++s)
  {
    for (unsigned int k = 0; k < g.size[2]; ++k)
    {
      if (!present[k][segments[s].value] && options.skipEmptySlices)
      {
        continue;
      }
      frameOf(segments[s].value, k, frame.data());
      addFrame(s, k);
      ++framesOfSegment[s];
    }
  }
  // A segment found nowhere still gets one (empty) frame on the first slice: the object needs a frame, DCMTK
  // refuses fewer frames than segments, and readers then see every class with a definite "absent".
  std::fill(frame.begin(), frame.end(), Uint8(0));
  for (std::size_t s = 0; s < segments.size(); ++s)
  {
    if (!framesOfSegment[s])
    {
      addFrame(s, 0);
    }
  }

  // Common Instance Reference: the whole source series.
  auto * referencedSeries = new IODSeriesAndInstanceReferenceMacro::ReferencedSeriesItem();
  doc->getCommonInstanceReference().getReferencedSeriesItems().push_back(referencedSeries);
  Check(referencedSeries->setSeriesInstanceUID(instances.front().seriesInstanceUID.c_str()),
        outputFile,
        "ReferencedSeriesSequence");
  for (const auto & instance : instances)
  {
    auto * item = new SOPInstanceReferenceMacro();
    referencedSeries->getReferencedInstanceItems().push_back(item);
    Check(item->setReferencedSOPClassUID(instance.sopClassUID.c_str()), outputFile, "ReferencedInstanceSequence");
    Check(item->setReferencedSOPInstanceUID(instance.sopInstanceUID.c_str()), outputFile, "ReferencedInstanceSequence");
  }

  DcmFileFormat file;
  Check(doc->writeDataset(*file.getDataset()), outputFile, "assembling the dataset");
  Check(file.getDataset()->putAndInsertString(DCM_SegmentsOverlap, fractional ? "UNDEFINED" : "NO"),
        outputFile,
        "SegmentsOverlap");
  // Text of our own that is not ASCII (a class name such as "tumeur hépatique") is UTF-8: say so, unless the source
  // declared another character set for the patient and study text copied from it.
  std::vector<std::string> texts{
    options.seriesDescription, options.contentDescription, options.contentCreatorName,
    options.algorithmName,     options.manufacturer,       options.manufacturerModelName
  };
  for (const auto & segment : segments)
  {
    texts.push_back(segment.info.name);
  }
  const auto nonASCII = std::find_if(texts.begin(), texts.end(), [](const std::string & t) { return !IsASCII(t); });
  if (nonASCII != texts.end())
  {
    OFString characterSet;
    file.getDataset()->findAndGetOFStringArray(DCM_SpecificCharacterSet, characterSet);
    if (!characterSet.empty() && characterSet != "ISO_IR 192")
    {
      itkGenericExceptionMacro(<< "Cannot write the DICOM segmentation " << outputFile << ": the text \"" << *nonASCII
                               << "\" is not ASCII and the source series uses the character set " << characterSet);
    }
    Check(file.getDataset()->putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192"),
          outputFile,
          "SpecificCharacterSet");
    // DCMTK's value checks know ASCII only, so the texts went in as ASCII placeholders: put the real ones now.
    DcmDataset * dataset = file.getDataset();
    Check(dataset->putAndInsertString(DCM_SeriesDescription, options.seriesDescription.c_str()),
          outputFile,
          "SeriesDescription");
    for (std::size_t s = 0; s < segments.size(); ++s)
    {
      DcmItem * item = nullptr;
      Check(dataset->findAndGetSequenceItem(DCM_SegmentSequence, item, static_cast<signed long>(s)),
            outputFile,
            "SegmentSequence");
      Check(item->putAndInsertString(DCM_SegmentLabel, segments[s].info.name.c_str()), outputFile, "SegmentLabel");
    }
  }
  const OFCondition saved = file.saveFile(out.GetTemporaryPath().string().c_str(), EXS_LittleEndianExplicit);
  if (saved.bad())
  {
    itkGenericExceptionMacro(<< "Cannot write the DICOM segmentation " << outputFile << " (" << saved.text() << ")");
  }
  out.Commit();
}

void
CheckCommon(const itk::ImageBase<3> * image, const std::string & outputFile)
{
  const auto size = image->GetLargestPossibleRegion().GetSize();
  if (size[0] == 0 || size[1] == 0 || size[2] == 0 || size[0] > 65535 || size[1] > 65535)
  {
    itkGenericExceptionMacro(<< "Cannot write the DICOM segmentation " << outputFile << ": the image size " << size
                             << " is empty or has more than 65535 rows or columns");
  }
  if (image->GetBufferedRegion() != image->GetLargestPossibleRegion())
  {
    itkGenericExceptionMacro(<< "Cannot write the DICOM segmentation " << outputFile
                             << ": the image is not buffered whole (call Update() on it first)");
  }
}

} // namespace

void
WriteDICOMSegmentation(const LabelImageType * labels, const std::string & sourceSeriesDirectory,
                       const std::string & outputFile, const LabelTable & table,
                       const DICOMSegmentationOptions & options)
{
  dicomseg::QuietDCMTKLogging();
  if (!labels)
  {
    itkGenericExceptionMacro(<< "Cannot write the DICOM segmentation " << outputFile << ": no label image given");
  }
  CheckCommon(labels, outputFile);
  { // Fail on an unwritable target before reading the source.
    AtomicOutput probe(outputFile);
  }
  const auto instances = MatchDICOMSeriesToGrid(labels, sourceSeriesDirectory, options.sourceSeriesInstanceUID);

  const auto                    size = labels->GetLargestPossibleRegion().GetSize();
  const std::size_t             sliceSize = size[0] * size[1];
  const uint8_t *               buffer = labels->GetBufferPointer();
  std::vector<std::bitset<256>> present(size[2]);
  std::bitset<256>              anywhere;
  for (std::size_t k = 0; k < size[2]; ++k)
  {
    bool            seen[256] = {};
    const uint8_t * slice = buffer + k * sliceSize;
    for (std::size_t i = 0; i < sliceSize; ++i)
    {
      seen[slice[i]] = true;
    }
    for (unsigned int v = 1; v < 256; ++v)
    {
      present[k][v] = seen[v];
    }
    anywhere |= present[k];
  }
  const auto segments = MakeSegments(table, anywhere, [](unsigned int) { return true; });
  if (segments.empty())
  {
    itkGenericExceptionMacro(<< "Cannot write the DICOM segmentation " << outputFile
                             << ": the label table is empty and the label image has no foreground");
  }
  const bool  fractional = options.type == DICOMSegmentationType::Fractional;
  const Uint8 on = fractional ? 255 : 1;
  WriteDocument(labels,
                instances,
                segments,
                present,
                fractional,
                options,
                outputFile,
                [&](unsigned int value, unsigned int k, Uint8 * frame) {
                  const uint8_t * slice = buffer + k * sliceSize;
                  for (std::size_t i = 0; i < sliceSize; ++i)
                  {
                    frame[i] = slice[i] == value ? on : 0;
                  }
                });
}

void
WriteDICOMSegmentation(const ProbabilityImageType * probabilities, const std::string & sourceSeriesDirectory,
                       const std::string & outputFile, const LabelTable & table,
                       const DICOMSegmentationOptions & options)
{
  dicomseg::QuietDCMTKLogging();
  if (!probabilities)
  {
    itkGenericExceptionMacro(<< "Cannot write the DICOM segmentation " << outputFile << ": no probability image given");
  }
  CheckCommon(probabilities, outputFile);
  const unsigned int components = probabilities->GetNumberOfComponentsPerPixel();
  if (components < 2 || components > 256)
  {
    itkGenericExceptionMacro(<< "Cannot write the DICOM segmentation " << outputFile << ": the probability image has "
                             << components << " components (expected 2 to 256: background and classes)");
  }
  {
    AtomicOutput probe(outputFile);
  }
  const auto instances = MatchDICOMSeriesToGrid(probabilities, sourceSeriesDirectory, options.sourceSeriesInstanceUID);

  const auto        size = probabilities->GetLargestPossibleRegion().GetSize();
  const std::size_t sliceSize = size[0] * size[1];
  const float *     buffer = probabilities->GetBufferPointer();
  auto              quantise = [](float p) -> Uint8 {
    if (!(p > 0.0f))
    {
      return 0; // also NaN
    }
    return p >= 1.0f ? Uint8(255) : static_cast<Uint8>(std::lround(255.0f * p));
  };
  std::vector<std::bitset<256>> present(size[2]);
  std::bitset<256>              components_;
  for (unsigned int c = 1; c < components; ++c)
  {
    components_[c] = true;
  }
  for (std::size_t k = 0; k < size[2]; ++k)
  {
    const float * slice = buffer + k * sliceSize * components;
    for (std::size_t i = 0; i < sliceSize; ++i)
    {
      for (unsigned int c = 1; c < components; ++c)
      {
        if (quantise(slice[i * components + c]) > 0)
        {
          present[k][c] = true;
        }
      }
    }
  }
  const auto segments =
    MakeSegments(table, components_, [components](unsigned int value) { return value < components; });
  WriteDocument(probabilities,
                instances,
                segments,
                present,
                true,
                options,
                outputFile,
                [&](unsigned int value, unsigned int k, Uint8 * frame) {
                  const float * slice = buffer + k * sliceSize * components;
                  for (std::size_t i = 0; i < sliceSize; ++i)
                  {
                    frame[i] = quantise(slice[i * components + value]);
                  }
                });
}

} // namespace torchseg
