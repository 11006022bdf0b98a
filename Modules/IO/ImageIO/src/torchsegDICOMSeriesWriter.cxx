#include "torchsegImageIO.h"

#include "torchsegAtomicOutput.h"
#include "torchsegImageIOPrivate.h"
#include "torchsegVersion.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcuid.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <vector>

namespace fs = std::filesystem;

namespace torchseg
{

namespace
{

/** A Decimal String value (at most 16 characters) as close to \a value as that allows. */
std::string
FormatDS(double value)
{
  if (std::abs(value) < 1e-15)
  {
    return "0";
  }
  char text[64];
  for (int precision = 16; precision > 0; --precision)
  {
    std::snprintf(text, sizeof(text), "%.*g", precision, value);
    if (std::strlen(text) <= 16)
    {
      break;
    }
  }
  return text;
}

std::string
FormatDSList(std::initializer_list<double> values)
{
  std::string text;
  for (double v : values)
  {
    text += (text.empty() ? "" : "\\") + FormatDS(v);
  }
  return text;
}

bool
IsASCII(const std::string & text)
{
  for (unsigned char c : text)
  {
    if (c >= 0x80)
    {
      return false;
    }
  }
  return true;
}

/** The attributes shared by every slice of the series. */
struct SeriesAttributes
{
  std::string studyInstanceUID;
  std::string seriesInstanceUID;
  std::string frameOfReferenceUID;
  std::string date;
  std::string time;
  std::string imageOrientation;
  std::string pixelSpacing;
  std::string sliceThickness;
  std::string characterSet;
};

void
Put(DcmItem * item, const DcmTagKey & tag, const std::string & value)
{
  const OFCondition status = item->putAndInsertString(DcmTag(tag), value.c_str());
  if (status.bad())
  {
    itkGenericExceptionMacro(<< "Cannot set DICOM attribute " << DcmTag(tag).getTagName() << " to \"" << value
                             << "\": " << status.text());
  }
}

} // namespace

void
WriteDICOMCTSeries(const CTStorageImageType * image, const std::string & directory, const DICOMWriteOptions & options)
{
  if (image == nullptr)
  {
    itkGenericExceptionMacro(<< "Cannot write the DICOM series " << directory << ": no image was given");
  }
  detail::InitializeDCMTK();
  const auto region = image->GetBufferedRegion();
  const auto size = region.GetSize();
  if (region != image->GetLargestPossibleRegion() || region.GetNumberOfPixels() == 0)
  {
    itkGenericExceptionMacro(<< "Cannot write the DICOM series " << directory
                             << ": the image is empty or not fully buffered");
  }
  if (size[0] > 65535 || size[1] > 65535)
  {
    itkGenericExceptionMacro(<< "Cannot write the DICOM series " << directory << ": slices of " << size[0] << " x "
                             << size[1] << " voxels exceed DICOM's 65535 rows or columns");
  }
  const auto & direction = image->GetDirection();
  const auto & spacing = image->GetSpacing();
  for (unsigned int i = 0; i < 3; ++i)
  {
    if (!(spacing[i] > 0.0))
    {
      itkGenericExceptionMacro(<< "Cannot write the DICOM series " << directory << ": spacing " << spacing
                               << " is not positive");
    }
    for (unsigned int j = 0; j < 3; ++j)
    {
      double dot = 0.0;
      for (unsigned int r = 0; r < 3; ++r)
      {
        dot += direction(r, i) * direction(r, j);
      }
      if (std::abs(dot - (i == j ? 1.0 : 0.0)) > 1e-6)
      {
        itkGenericExceptionMacro(<< "Cannot write the DICOM series " << directory
                                 << ": the direction matrix is not orthonormal");
      }
    }
  }

  SeriesAttributes    series;
  const unsigned long seed = options.uidSeed;
  series.studyInstanceUID =
    options.studyInstanceUID.empty() ? MakeDICOMUID(seed, "StudyInstanceUID") : options.studyInstanceUID;
  series.seriesInstanceUID = options.seriesInstanceUID.empty()
                               ? MakeDICOMUID(seed,
                                              "SeriesInstanceUID " + series.studyInstanceUID,
                                              static_cast<unsigned long>(options.seriesNumber))
                               : options.seriesInstanceUID;
  series.frameOfReferenceUID = options.frameOfReferenceUID.empty()
                                 ? MakeDICOMUID(seed, "FrameOfReferenceUID " + series.studyInstanceUID)
                                 : options.frameOfReferenceUID;
  if (seed != 0)
  {
    // The same seed gives the same files, so the dates cannot be today's.
    series.date = "20000101";
    series.time = "120000";
  }
  else
  {
    const std::time_t now = std::time(nullptr);
    std::tm           local{};
    localtime_r(&now, &local);
    char text[16];
    std::strftime(text, sizeof(text), "%Y%m%d", &local);
    series.date = text;
    std::strftime(text, sizeof(text), "%H%M%S", &local);
    series.time = text;
  }
  series.imageOrientation = FormatDSList(
    { direction(0, 0), direction(1, 0), direction(2, 0), direction(0, 1), direction(1, 1), direction(2, 1) });
  // PixelSpacing is (between rows, between columns): ITK's (y, x).
  series.pixelSpacing = FormatDSList({ spacing[1], spacing[0] });
  series.sliceThickness = FormatDS(spacing[2]);
  for (const std::string * text : { &options.patientName,
                                    &options.patientID,
                                    &options.studyDescription,
                                    &options.seriesDescription,
                                    &options.contrastPhase })
  {
    if (!IsASCII(*text))
    {
      series.characterSet = "ISO_IR 192";
    }
  }
  const bool        contrast = !options.contrastPhase.empty() && options.contrastPhase != "native";
  const std::string version = GetVersion();

  AtomicOutput             output(directory, true);
  const fs::path           temporary = output.GetTemporaryPath();
  const std::size_t        sliceSize = static_cast<std::size_t>(size[0]) * size[1];
  const double             normal[3] = { direction(0, 2), direction(1, 2), direction(2, 2) };
  std::vector<std::string> errors(size[2]);

  auto writeSlice = [&](std::size_t k) {
    try
    {
      DcmFileFormat                 format;
      DcmDataset *                  ds = format.getDataset();
      CTStorageImageType::IndexType index = region.GetIndex();
      index[2] += static_cast<itk::IndexValueType>(k);
      CTStorageImageType::PointType position;
      image->TransformIndexToPhysicalPoint(index, position);
      const std::string instanceUID = MakeDICOMUID(seed, "SOPInstanceUID " + series.seriesInstanceUID, k);
      const std::string instanceNumber = std::to_string(k + 1);

      if (!series.characterSet.empty())
      {
        Put(ds, DCM_SpecificCharacterSet, series.characterSet);
      }
      Put(ds, DCM_ImageType, "DERIVED\\PRIMARY\\AXIAL");
      Put(ds, DCM_SOPClassUID, UID_CTImageStorage);
      Put(ds, DCM_SOPInstanceUID, instanceUID);
      Put(ds, DCM_StudyDate, series.date);
      Put(ds, DCM_SeriesDate, series.date);
      Put(ds, DCM_ContentDate, series.date);
      Put(ds, DCM_StudyTime, series.time);
      Put(ds, DCM_SeriesTime, series.time);
      Put(ds, DCM_ContentTime, series.time);
      Put(ds, DCM_AccessionNumber, "");
      Put(ds, DCM_Modality, "CT");
      Put(ds, DCM_Manufacturer, "TorchSeg");
      Put(ds, DCM_ReferringPhysicianName, "");
      Put(ds, DCM_StudyDescription, options.studyDescription);
      Put(ds, DCM_SeriesDescription, options.seriesDescription);
      Put(ds, DCM_ManufacturerModelName, "TorchSeg");
      Put(ds, DCM_PatientName, options.patientName);
      Put(ds, DCM_PatientID, options.patientID);
      Put(ds, DCM_PatientBirthDate, "");
      Put(ds, DCM_PatientSex, "O");
      if (contrast)
      {
        Put(ds, DCM_ContrastBolusAgent, options.contrastPhase);
      }
      Put(ds, DCM_SliceThickness, series.sliceThickness);
      Put(ds, DCM_KVP, "120");
      Put(ds, DCM_SoftwareVersions, version);
      Put(ds, DCM_PatientPosition, "HFS");
      Put(ds, DCM_StudyInstanceUID, series.studyInstanceUID);
      Put(ds, DCM_SeriesInstanceUID, series.seriesInstanceUID);
      Put(ds, DCM_StudyID, "1");
      Put(ds, DCM_SeriesNumber, std::to_string(options.seriesNumber));
      Put(ds, DCM_AcquisitionNumber, "1");
      Put(ds, DCM_InstanceNumber, instanceNumber);
      // Unpaired body part: General Series' Laterality is then not required.
      Put(ds, DCM_ImageLaterality, "U");
      Put(ds, DCM_ImagePositionPatient, FormatDSList({ position[0], position[1], position[2] }));
      Put(ds, DCM_ImageOrientationPatient, series.imageOrientation);
      Put(ds, DCM_FrameOfReferenceUID, series.frameOfReferenceUID);
      Put(ds, DCM_PositionReferenceIndicator, "");
      Put(ds, DCM_SliceLocation, FormatDS(position[0] * normal[0] + position[1] * normal[1] + position[2] * normal[2]));
      Put(ds, DCM_SamplesPerPixel, "1");
      Put(ds, DCM_PhotometricInterpretation, "MONOCHROME2");
      Put(ds, DCM_Rows, std::to_string(size[1]));
      Put(ds, DCM_Columns, std::to_string(size[0]));
      Put(ds, DCM_PixelSpacing, series.pixelSpacing);
      Put(ds, DCM_BitsAllocated, "16");
      Put(ds, DCM_BitsStored, "16");
      Put(ds, DCM_HighBit, "15");
      Put(ds, DCM_PixelRepresentation, "1");
      // Stored values are Hounsfield units: identity rescale.
      Put(ds, DCM_WindowCenter, "40");
      Put(ds, DCM_WindowWidth, "400");
      Put(ds, DCM_RescaleIntercept, "0");
      Put(ds, DCM_RescaleSlope, "1");
      Put(ds, DCM_RescaleType, "HU");
      const int16_t *   pixels = image->GetBufferPointer() + k * sliceSize;
      const OFCondition status = ds->putAndInsertUint16Array(
        DCM_PixelData, reinterpret_cast<const Uint16 *>(pixels), static_cast<unsigned long>(sliceSize));
      if (status.bad())
      {
        errors[k] = std::string("cannot store the pixel data: ") + status.text();
        return;
      }
      char name[32];
      std::snprintf(name, sizeof(name), "CT%06lu.dcm", static_cast<unsigned long>(k + 1));
      const fs::path    file = temporary / name;
      const OFCondition saved = format.saveFile(file.c_str(), EXS_LittleEndianExplicit);
      if (saved.bad())
      {
        errors[k] = "cannot write " + std::string(name) + ": " + saved.text();
      }
    }
    catch (const itk::ExceptionObject & e)
    {
      errors[k] = detail::OneLine(e.GetDescription());
    }
  };
  detail::ParallelFor(size[2], writeSlice);
  for (const auto & error : errors)
  {
    if (!error.empty())
    {
      itkGenericExceptionMacro(<< "Cannot write the DICOM series " << directory << ": " << error);
    }
  }
  output.Commit();
}

} // namespace torchseg
