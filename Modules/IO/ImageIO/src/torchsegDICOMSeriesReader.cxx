#include "torchsegImageIO.h"
#include "torchsegImageIOPrivate.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpls/djdecode.h"
#include "dcmtk/oflog/oflog.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>
#include <sstream>

namespace fs = std::filesystem;

namespace torchseg
{

namespace
{

using Vector3 = std::array<double, 3>;

double
Dot(const Vector3 & a, const Vector3 & b)
{
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

Vector3
Cross(const Vector3 & a, const Vector3 & b)
{
  return { a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0] };
}

Vector3
Normalized(const Vector3 & a)
{
  const double n = std::sqrt(Dot(a, a));
  return { a[0] / n, a[1] / n, a[2] / n };
}

/** What the reader needs from one file, parsed up to (not including) the pixel data. */
struct SliceHeader
{
  std::string           file;
  std::string           seriesInstanceUID;
  std::string           modality;
  std::string           seriesDescription;
  bool                  localizer = false; // ImageType says LOCALIZER: a scout, not a slice of the volume
  bool                  hasPosition = false;
  bool                  hasOrientation = false;
  bool                  hasPixelSpacing = false;
  Vector3               position{};
  std::array<double, 6> orientation{};
  std::array<double, 2> pixelSpacing{}; // DICOM order: between rows, between columns
  unsigned int          rows = 0;
  unsigned int          columns = 0;
  unsigned int          bitsAllocated = 0;
  unsigned int          bitsStored = 0;
  unsigned int          pixelRepresentation = 0;
  unsigned int          samplesPerPixel = 1;
  long                  numberOfFrames = 1;
  double                slope = 1.0;
  double                intercept = 0.0;
  double                gantryTilt = 0.0;
  double                distance = 0.0; // position along the slice normal, once sorted
};

std::once_flag dcmtkOnce;

std::string
GetString(DcmItem * item, const DcmTagKey & tag)
{
  OFString value;
  if (item->findAndGetOFStringArray(tag, value).good())
  {
    return std::string(value.c_str());
  }
  return std::string();
}

template <std::size_t N>
bool
GetDoubles(DcmItem * item, const DcmTagKey & tag, std::array<double, N> & values)
{
  for (std::size_t i = 0; i < N; ++i)
  {
    Float64 v = 0;
    if (item->findAndGetFloat64(tag, v, static_cast<unsigned long>(i)).bad() || !std::isfinite(v))
    {
      return false;
    }
    values[i] = v;
  }
  return true;
}

unsigned int
GetUnsigned(DcmItem * item, const DcmTagKey & tag, unsigned int fallback)
{
  Uint16 v = 0;
  return item->findAndGetUint16(tag, v).good() ? v : fallback;
}

double
GetDouble(DcmItem * item, const DcmTagKey & tag, double fallback)
{
  Float64 v = 0;
  return item->findAndGetFloat64(tag, v).good() && std::isfinite(v) ? v : fallback;
}

bool
ParseHeader(const std::string & file, SliceHeader & header)
{
  DcmFileFormat format;
  if (format.loadFileUntilTag(file.c_str(), EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect, DCM_PixelData).bad())
  {
    return false;
  }
  DcmDataset * dataset = format.getDataset();
  header.file = file;
  header.seriesInstanceUID = GetString(dataset, DCM_SeriesInstanceUID);
  if (header.seriesInstanceUID.empty())
  {
    return false;
  }
  header.modality = GetString(dataset, DCM_Modality);
  header.seriesDescription = GetString(dataset, DCM_SeriesDescription);
  header.localizer = GetString(dataset, DCM_ImageType).find("LOCALIZER") != std::string::npos;
  header.hasPosition = GetDoubles(dataset, DCM_ImagePositionPatient, header.position);
  header.hasOrientation = GetDoubles(dataset, DCM_ImageOrientationPatient, header.orientation);
  header.hasPixelSpacing = GetDoubles(dataset, DCM_PixelSpacing, header.pixelSpacing);
  header.rows = GetUnsigned(dataset, DCM_Rows, 0);
  header.columns = GetUnsigned(dataset, DCM_Columns, 0);
  header.bitsAllocated = GetUnsigned(dataset, DCM_BitsAllocated, 0);
  header.bitsStored = GetUnsigned(dataset, DCM_BitsStored, header.bitsAllocated);
  header.pixelRepresentation = GetUnsigned(dataset, DCM_PixelRepresentation, 0);
  header.samplesPerPixel = GetUnsigned(dataset, DCM_SamplesPerPixel, 1);
  Sint32 frames = 1;
  if (dataset->findAndGetSint32(DCM_NumberOfFrames, frames).good())
  {
    header.numberOfFrames = frames;
  }
  header.slope = GetDouble(dataset, DCM_RescaleSlope, 1.0);
  header.intercept = GetDouble(dataset, DCM_RescaleIntercept, 0.0);
  header.gantryTilt = GetDouble(dataset, DCM_GantryDetectorTilt, 0.0);
  return true;
}

/** The DICOM files of a directory (not recursive), headers parsed in parallel; the others are skipped. */
std::vector<SliceHeader>
ScanDirectory(const std::string & directory, std::size_t * numberOfFiles)
{
  detail::InitializeDCMTK();
  std::vector<std::string> files;
  std::error_code          ec;
  for (const auto & entry : fs::directory_iterator(directory, ec))
  {
    if (entry.is_regular_file(ec))
    {
      files.push_back(entry.path().string());
    }
  }
  if (ec)
  {
    itkGenericExceptionMacro(<< "Cannot read the DICOM directory " << directory << ": " << ec.message());
  }
  std::sort(files.begin(), files.end());
  if (numberOfFiles)
  {
    *numberOfFiles = files.size();
  }
  std::vector<SliceHeader> headers(files.size());
  std::vector<char>        ok(files.size(), 0);
  detail::ParallelFor(files.size(), [&](std::size_t i) { ok[i] = ParseHeader(files[i], headers[i]); });
  std::vector<SliceHeader> dicom;
  for (std::size_t i = 0; i < files.size(); ++i)
  {
    if (ok[i])
    {
      dicom.push_back(std::move(headers[i]));
    }
  }
  return dicom;
}

std::vector<DICOMSeriesInfo>
Summarize(const std::vector<SliceHeader> & headers)
{
  std::map<std::string, DICOMSeriesInfo> series;
  for (const auto & h : headers)
  {
    DICOMSeriesInfo & info = series[h.seriesInstanceUID];
    info.seriesInstanceUID = h.seriesInstanceUID;
    info.modality = h.modality;
    info.seriesDescription = h.seriesDescription;
    ++info.numberOfFiles;
  }
  std::vector<DICOMSeriesInfo> list;
  for (auto & entry : series)
  {
    list.push_back(entry.second);
  }
  std::stable_sort(list.begin(), list.end(), [](const DICOMSeriesInfo & a, const DICOMSeriesInfo & b) {
    return a.numberOfFiles > b.numberOfFiles;
  });
  return list;
}

std::string
FileName(const std::string & path)
{
  return fs::path(path).filename().string();
}

/** Converts the stored values of one slice to Hounsfield units. */
template <typename TStored>
void
ConvertSlice(const TStored * stored, const SliceHeader & h, float * out, std::size_t count)
{
  const unsigned int bits =
    h.bitsStored > 0 && h.bitsStored <= 8 * sizeof(TStored) ? h.bitsStored : 8 * sizeof(TStored);
  const uint32_t mask = bits >= 32 ? 0xffffffffu : ((1u << bits) - 1u);
  const uint32_t sign = 1u << (bits - 1);
  const double   slope = h.slope;
  const double   intercept = h.intercept;
  for (std::size_t i = 0; i < count; ++i)
  {
    const uint32_t raw = static_cast<uint32_t>(stored[i]) & mask;
    const double   value =
      h.pixelRepresentation == 1 && (raw & sign) ? static_cast<double>(raw) - static_cast<double>(mask) - 1.0 : raw;
    out[i] = static_cast<float>(value * slope + intercept);
  }
}

/** Reads the pixels of one slice into \a out (rows x columns floats); returns an error message or "". */
std::string
ReadSlicePixels(const SliceHeader & h, float * out)
{
  DcmFileFormat format;
  if (format.loadFile(h.file.c_str()).bad())
  {
    return FileName(h.file) + " is truncated or unreadable";
  }
  DcmDataset *  dataset = format.getDataset();
  const DcmXfer xfer(dataset->getOriginalXfer());
  if (xfer.isEncapsulated() && dataset->chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad())
  {
    return FileName(h.file) + " uses the compressed transfer syntax \"" + xfer.getXferName() +
           "\", which cannot be decoded";
  }
  const std::size_t count = static_cast<std::size_t>(h.rows) * h.columns;
  unsigned long     length = 0;
  if (h.bitsAllocated == 16)
  {
    const Uint16 * data = nullptr;
    if (dataset->findAndGetUint16Array(DCM_PixelData, data, &length).bad() || data == nullptr || length < count)
    {
      return FileName(h.file) + " has no or truncated pixel data";
    }
    ConvertSlice(data, h, out, count);
  }
  else if (h.bitsAllocated == 8)
  {
    const Uint8 * data = nullptr;
    if (dataset->findAndGetUint8Array(DCM_PixelData, data, &length).bad() || data == nullptr || length < count)
    {
      return FileName(h.file) + " has no or truncated pixel data";
    }
    ConvertSlice(data, h, out, count);
  }
  else
  {
    return FileName(h.file) + " has BitsAllocated " + std::to_string(h.bitsAllocated) + " (8 or 16 are supported)";
  }
  return std::string();
}

} // namespace

namespace detail
{

void
InitializeDCMTK()
{
  std::call_once(dcmtkOnce, [] {
    // Problems are reported as exceptions; DCMTK's own console messages would break the one-line error contract.
    OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
  });
  if (!dcmDataDict.isDictionaryLoaded())
  {
    itkGenericExceptionMacro(<< "DCMTK's DICOM data dictionary is not loaded (install libdcmtk17 or set DCMDICTPATH "
                                "to its dicom.dic)");
  }
}

std::string
ReadDICOMFileSeriesInstanceUID(const std::string & path)
{
  InitializeDCMTK();
  SliceHeader header;
  return ParseHeader(path, header) ? header.seriesInstanceUID : std::string();
}

CTImageType::Pointer
ReadDICOMSeriesDirectory(const std::string & directory, const std::string & seriesInstanceUID)
{
  const std::string where = "Cannot read the DICOM directory " + directory + ": ";
  std::size_t       numberOfFiles = 0;
  const auto        headers = ScanDirectory(directory, &numberOfFiles);
  if (numberOfFiles == 0)
  {
    itkGenericExceptionMacro(<< where << "it is empty");
  }
  if (headers.empty())
  {
    itkGenericExceptionMacro(<< where << "none of its " << numberOfFiles << " files is a DICOM file");
  }

  // Which series.
  const auto  series = Summarize(headers);
  std::string uid = seriesInstanceUID;
  if (uid.empty())
  {
    for (const auto & info : series)
    {
      if (info.modality == "CT")
      {
        uid = info.seriesInstanceUID;
        break;
      }
    }
    if (uid.empty())
    {
      itkGenericExceptionMacro(<< where << "it holds no CT series (the largest of its " << series.size()
                               << " series is " << series.front().modality << " " << series.front().seriesInstanceUID
                               << "); select a series by its SeriesInstanceUID");
    }
  }
  std::vector<SliceHeader> slices;
  for (const auto & h : headers)
  {
    // Scouts saved in the series of the volume are not slices of it.
    if (h.seriesInstanceUID == uid && !h.localizer)
    {
      slices.push_back(h);
    }
  }
  if (slices.empty())
  {
    itkGenericExceptionMacro(<< where << "it has no series with SeriesInstanceUID " << uid << " (it has "
                             << series.size() << " series, the largest " << series.front().seriesInstanceUID << ")");
  }

  // Every slice must be an image of the same size, spacing and orientation.
  const SliceHeader & first = slices.front();
  for (const auto & h : slices)
  {
    const std::string file = FileName(h.file);
    if (h.numberOfFrames > 1)
    {
      itkGenericExceptionMacro(<< where << file << " is a multi-frame (enhanced) image, which is not supported");
    }
    if (h.rows == 0 || h.columns == 0)
    {
      itkGenericExceptionMacro(<< where << file << " is not an image (no Rows/Columns)");
    }
    if (!h.hasPosition || !h.hasOrientation || !h.hasPixelSpacing)
    {
      itkGenericExceptionMacro(<< where << file << " lacks "
                               << (!h.hasPosition      ? "ImagePositionPatient"
                                   : !h.hasOrientation ? "ImageOrientationPatient"
                                                       : "PixelSpacing"));
    }
    if (h.samplesPerPixel != 1)
    {
      itkGenericExceptionMacro(<< where << file << " has " << h.samplesPerPixel
                               << " samples per pixel; a CT image has one");
    }
    if (h.rows != first.rows || h.columns != first.columns)
    {
      itkGenericExceptionMacro(<< where << "mixed image sizes in the series (" << first.columns << "x" << first.rows
                               << " in " << FileName(first.file) << ", " << h.columns << "x" << h.rows << " in " << file
                               << ")");
    }
    for (int i = 0; i < 2; ++i)
    {
      if (std::abs(h.pixelSpacing[i] - first.pixelSpacing[i]) > 1e-4 * std::abs(first.pixelSpacing[i]))
      {
        itkGenericExceptionMacro(<< where << "mixed pixel spacings in the series (" << FileName(first.file) << " and "
                                 << file << ")");
      }
    }
    for (int i = 0; i < 6; ++i)
    {
      if (std::abs(h.orientation[i] - first.orientation[i]) > 1e-4)
      {
        itkGenericExceptionMacro(<< where << "mixed orientations in the series (ImageOrientationPatient of "
                                 << FileName(first.file) << " and " << file << " differ)");
      }
    }
    if (std::abs(h.gantryTilt) > 0.01)
    {
      itkGenericExceptionMacro(<< where << "gantry tilt of " << h.gantryTilt << " degrees in " << file
                               << " (tilted stacks are not supported)");
    }
  }
  if (first.pixelSpacing[0] <= 0.0 || first.pixelSpacing[1] <= 0.0)
  {
    itkGenericExceptionMacro(<< where << "PixelSpacing " << first.pixelSpacing[0] << "\\" << first.pixelSpacing[1]
                             << " in " << FileName(first.file) << " is not positive");
  }
  if (slices.size() < 2)
  {
    itkGenericExceptionMacro(<< where << "series " << uid << " has a single slice; a 3D volume needs at least two");
  }

  // Orientation: row and column directions from the file, the normal from their cross product.
  const Vector3 rowIn{ first.orientation[0], first.orientation[1], first.orientation[2] };
  const Vector3 colIn{ first.orientation[3], first.orientation[4], first.orientation[5] };
  const double  rowNorm = std::sqrt(Dot(rowIn, rowIn));
  const double  colNorm = std::sqrt(Dot(colIn, colIn));
  if (std::abs(rowNorm - 1.0) > 1e-3 || std::abs(colNorm - 1.0) > 1e-3 ||
      std::abs(Dot(rowIn, colIn)) > 1e-3 * rowNorm * colNorm)
  {
    itkGenericExceptionMacro(<< where << "ImageOrientationPatient of " << FileName(first.file)
                             << " is not two orthogonal unit vectors");
  }
  const Vector3 row = Normalized(rowIn);
  const double  rc = Dot(row, colIn);
  const Vector3 col = Normalized({ colIn[0] - rc * row[0], colIn[1] - rc * row[1], colIn[2] - rc * row[2] });
  const Vector3 normal = Cross(row, col);

  // Slice order: position along the normal.
  for (auto & h : slices)
  {
    h.distance = Dot(h.position, normal);
  }
  std::sort(
    slices.begin(), slices.end(), [](const SliceHeader & a, const SliceHeader & b) { return a.distance < b.distance; });
  const std::size_t   n = slices.size();
  std::vector<double> gaps(n - 1);
  for (std::size_t k = 0; k + 1 < n; ++k)
  {
    gaps[k] = slices[k + 1].distance - slices[k].distance;
  }
  std::vector<double> sortedGaps = gaps;
  std::nth_element(sortedGaps.begin(), sortedGaps.begin() + sortedGaps.size() / 2, sortedGaps.end());
  const double median = sortedGaps[sortedGaps.size() / 2];
  // DS values are decimal strings, often rounded to a few micrometres: tolerances allow for that, not for more.
  const double tolerance = std::max(0.02, 0.01 * median);
  for (std::size_t k = 0; k + 1 < n; ++k)
  {
    if (gaps[k] < tolerance)
    {
      itkGenericExceptionMacro(<< where << FileName(slices[k].file) << " and " << FileName(slices[k + 1].file)
                               << " lie at the same position (" << slices[k].distance
                               << " mm along the normal): several acquisitions in one series are not supported");
    }
  }
  for (std::size_t k = 0; k + 1 < n; ++k)
  {
    if (std::abs(gaps[k] - median) > tolerance)
    {
      const double ratio = gaps[k] / median;
      if (std::abs(ratio - std::round(ratio)) * median <= tolerance && ratio > 1.5)
      {
        itkGenericExceptionMacro(<< where << std::lround(ratio) - 1 << " slice(s) missing between "
                                 << FileName(slices[k].file) << " and " << FileName(slices[k + 1].file) << " (gap "
                                 << gaps[k] << " mm, slice spacing " << median << " mm)");
      }
      const auto range = std::minmax_element(gaps.begin(), gaps.end());
      itkGenericExceptionMacro(<< where << "inconsistent slice spacing (gaps from " << *range.first << " to "
                               << *range.second << " mm)");
    }
  }
  // A stack whose positions drift sideways is tilted (or sheared): its voxels are not on a rectangular grid.
  for (std::size_t k = 0; k + 1 < n; ++k)
  {
    const Vector3 d{ slices[k + 1].position[0] - slices[k].position[0],
                     slices[k + 1].position[1] - slices[k].position[1],
                     slices[k + 1].position[2] - slices[k].position[2] };
    const double  sideways = std::hypot(Dot(d, row), Dot(d, col));
    if (sideways > 0.02 + 0.01 * gaps[k])
    {
      itkGenericExceptionMacro(<< where << "gantry tilt or sheared stack: " << FileName(slices[k + 1].file)
                               << " is offset by " << sideways << " mm within the slice plane from its neighbour");
    }
  }
  {
    const Vector3 d{ slices[n - 1].position[0] - slices[0].position[0],
                     slices[n - 1].position[1] - slices[0].position[1],
                     slices[n - 1].position[2] - slices[0].position[2] };
    const double  sideways = std::hypot(Dot(d, row), Dot(d, col));
    const double  along = Dot(d, normal);
    if (sideways > 0.02 + 1e-3 * along)
    {
      itkGenericExceptionMacro(<< where << "gantry tilt or sheared stack: the slice positions drift by " << sideways
                               << " mm within the slice plane over " << along << " mm ("
                               << std::atan2(sideways, along) * 180.0 / M_PI << " degrees)");
    }
  }

  // Geometry (DICOM's patient coordinates are LPS, as ITK's).
  auto                     image = CTImageType::New();
  CTImageType::SizeType    size{ { first.columns, first.rows, n } };
  CTImageType::SpacingType spacing;
  spacing[0] = first.pixelSpacing[1];
  spacing[1] = first.pixelSpacing[0];
  spacing[2] = (slices[n - 1].distance - slices[0].distance) / static_cast<double>(n - 1);
  CTImageType::PointType     origin;
  CTImageType::DirectionType direction;
  for (unsigned int i = 0; i < 3; ++i)
  {
    origin[i] = slices[0].position[i];
    direction(i, 0) = row[i];
    direction(i, 1) = col[i];
    direction(i, 2) = normal[i];
  }
  image->SetRegions(size);
  image->SetSpacing(spacing);
  image->SetOrigin(origin);
  image->SetDirection(direction);
  image->Allocate();

  const std::size_t        sliceSize = static_cast<std::size_t>(first.rows) * first.columns;
  std::vector<std::string> errors(n);
  detail::ParallelFor(
    n, [&](std::size_t k) { errors[k] = ReadSlicePixels(slices[k], image->GetBufferPointer() + k * sliceSize); });
  for (const auto & error : errors)
  {
    if (!error.empty())
    {
      itkGenericExceptionMacro(<< where << error);
    }
  }
  return image;
}

} // namespace detail

std::vector<DICOMSeriesInfo>
ListDICOMSeries(const std::string & directory)
{
  std::error_code ec;
  if (!fs::exists(directory, ec))
  {
    itkGenericExceptionMacro(<< "Cannot list the DICOM series of " << directory << ": no such directory");
  }
  if (!fs::is_directory(directory, ec))
  {
    itkGenericExceptionMacro(<< "Cannot list the DICOM series of " << directory << ": it is not a directory");
  }
  return Summarize(ScanDirectory(directory, nullptr));
}

} // namespace torchseg
