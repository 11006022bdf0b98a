#include "torchsegDICOMSegmentation.h"
#include "torchsegDICOMSegmentationPrivate.h"

#include "itkMacro.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmiod/cielabutil.h"
#include "dcmtk/oflog/oflog.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <sstream>

namespace fs = std::filesystem;

namespace torchseg
{
namespace dicomseg
{

std::vector<std::string>
SplitBackslash(const std::string & text)
{
  std::vector<std::string> values;
  std::string::size_type   begin = 0;
  while (true)
  {
    const auto end = text.find('\\', begin);
    values.push_back(text.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos)
    {
      break;
    }
    begin = end + 1;
  }
  return values;
}

bool
ParseDecimals(const std::string & text, std::size_t count, double * values)
{
  const auto parts = SplitBackslash(text);
  if (parts.size() != count)
  {
    return false;
  }
  for (std::size_t i = 0; i < count; ++i)
  {
    const char * begin = parts[i].c_str();
    char *       end = nullptr;
    values[i] = std::strtod(begin, &end);
    if (end == begin || !std::isfinite(values[i]))
    {
      return false;
    }
  }
  return true;
}

std::string
FormatDecimal(double value)
{
  if (std::abs(value) < 1e-12)
  {
    value = 0.0;
  }
  char buffer[64];
  for (int precision = 10; precision > 0; --precision)
  {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    if (std::char_traits<char>::length(buffer) <= 16)
    {
      return buffer;
    }
  }
  return "0";
}

void
QuietDCMTKLogging()
{
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("TORCHSEG_DCMTK_LOG"))
    {
      return; // debugging: keep DCMTK's own messages
    }
    for (const char * name : { "dcmtk.dcmdata", "dcmtk.dcmiod", "dcmtk.dcmfg", "dcmtk.dcmseg" })
    {
      OFLog::getLogger(name).setLogLevel(OFLogger::FATAL_LOG_LEVEL);
    }
  });
}

std::string
DescribeGrid(const itk::ImageBase<3> * grid)
{
  const GridGeometry g(grid);
  std::ostringstream s;
  s << "size " << g.size[0] << "x" << g.size[1] << "x" << g.size[2] << ", spacing " << g.spacing[0] << "x"
    << g.spacing[1] << "x" << g.spacing[2] << " mm, origin (" << g.origin[0] << ", " << g.origin[1] << ", "
    << g.origin[2] << "), direction (";
  for (unsigned int c = 0; c < 3; ++c)
  {
    s << (c ? "; " : "") << g.axis[c][0] << " " << g.axis[c][1] << " " << g.axis[c][2];
  }
  s << ")";
  return s.str();
}

GridGeometry::GridGeometry(const itk::ImageBase<3> * grid)
{
  const auto            region = grid->GetLargestPossibleRegion();
  const auto &          direction = grid->GetDirection();
  itk::Point<double, 3> first;
  grid->TransformIndexToPhysicalPoint(region.GetIndex(), first);
  for (unsigned int d = 0; d < 3; ++d)
  {
    size[d] = static_cast<unsigned int>(region.GetSize(d));
    spacing[d] = grid->GetSpacing()[d];
    origin[d] = first[d];
    double norm = 0.0;
    for (unsigned int r = 0; r < 3; ++r)
    {
      norm += direction(r, d) * direction(r, d);
    }
    norm = std::sqrt(norm);
    for (unsigned int r = 0; r < 3; ++r)
    {
      axis[d][r] = norm > 0.0 ? direction(r, d) / norm : 0.0;
    }
  }
  originProjection = origin[0] * axis[2][0] + origin[1] * axis[2][1] + origin[2] * axis[2][2];
}

bool
GridGeometry::HasOrientation(const double * orientation) const
{
  constexpr double tolerance = 1e-3;
  for (unsigned int r = 0; r < 3; ++r)
  {
    if (std::abs(orientation[r] - axis[0][r]) > tolerance || std::abs(orientation[3 + r] - axis[1][r]) > tolerance)
    {
      return false;
    }
  }
  return true;
}

bool
GridGeometry::SliceOfPosition(const double * position, long & slice, double & offset) const
{
  std::array<double, 3> d;
  for (unsigned int r = 0; r < 3; ++r)
  {
    d[r] = position[r] - origin[r];
  }
  const double along = d[0] * axis[2][0] + d[1] * axis[2][1] + d[2] * axis[2][2];
  const double t = along / spacing[2];
  slice = std::lround(t);
  offset = t - static_cast<double>(slice);
  // The in-plane part of the offset: the slice's first voxel must be the grid's first voxel of that slice.
  double inPlane = 0.0;
  for (unsigned int r = 0; r < 3; ++r)
  {
    const double e = d[r] - along * axis[2][r];
    inPlane += e * e;
  }
  inPlane = std::sqrt(inPlane);
  return std::abs(offset) <= 0.1 && inPlane <= 0.1 * std::min(spacing[0], spacing[1]);
}

} // namespace dicomseg

namespace
{

using dicomseg::GridGeometry;

/** An image file of the directory with what the matching needs; files that are not single-frame DICOM images
 * with a position are skipped. */
struct ScannedImage
{
  DICOMSourceInstance   instance;
  unsigned int          rows = 0;
  unsigned int          columns = 0;
  std::array<double, 6> orientation{};
  std::array<double, 2> pixelSpacing{};
};

bool
ScanFile(const fs::path & path, ScannedImage & image)
{
  DcmFileFormat file;
  if (file
        .loadFileUntilTag(
          path.string().c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect, DCM_PixelData)
        .bad())
  {
    return false;
  }
  DcmDataset * dataset = file.getDataset();
  OFString     value;
  auto         get = [dataset](const DcmTagKey & tag, std::string & out) {
    OFString v;
    if (dataset->findAndGetOFStringArray(tag, v).bad())
    {
      return false;
    }
    out = v.c_str();
    return !out.empty();
  };
  DICOMSourceInstance & inst = image.instance;
  inst.fileName = path.string();
  if (!get(DCM_SOPClassUID, inst.sopClassUID) || !get(DCM_SOPInstanceUID, inst.sopInstanceUID) ||
      !get(DCM_SeriesInstanceUID, inst.seriesInstanceUID) ||
      !get(DCM_ImagePositionPatient, inst.imagePositionPatient) ||
      !get(DCM_ImageOrientationPatient, inst.imageOrientationPatient) || !get(DCM_PixelSpacing, inst.pixelSpacing))
  {
    return false;
  }
  get(DCM_SliceThickness, inst.sliceThickness);
  Sint32 frames = 1;
  if (dataset->findAndGetSint32(DCM_NumberOfFrames, frames).good() && frames > 1)
  {
    return false;
  }
  Uint16 rows = 0;
  Uint16 columns = 0;
  if (dataset->findAndGetUint16(DCM_Rows, rows).bad() || dataset->findAndGetUint16(DCM_Columns, columns).bad())
  {
    return false;
  }
  image.rows = rows;
  image.columns = columns;
  return dicomseg::ParseDecimals(inst.imagePositionPatient, 3, inst.position.data()) &&
         dicomseg::ParseDecimals(inst.imageOrientationPatient, 6, image.orientation.data()) &&
         dicomseg::ParseDecimals(inst.pixelSpacing, 2, image.pixelSpacing.data());
}

/** Matches one series to the grid; returns an empty string and fills \a result, or the reason it does not match. */
std::string
MatchSeries(const GridGeometry & g, const std::vector<ScannedImage> & images, std::vector<DICOMSourceInstance> & result)
{
  std::ostringstream why;
  if (images.size() != g.size[2])
  {
    why << "it has " << images.size() << " images, the grid " << g.size[2] << " slices";
    return why.str();
  }
  result.assign(g.size[2], DICOMSourceInstance());
  std::vector<bool> found(g.size[2], false);
  for (const auto & image : images)
  {
    const std::string & file = image.instance.fileName;
    if (image.columns != g.size[0] || image.rows != g.size[1])
    {
      why << file << " has " << image.columns << "x" << image.rows << " pixels";
      return why.str();
    }
    if (!g.HasOrientation(image.orientation.data()))
    {
      why << file << " has ImageOrientationPatient " << image.instance.imageOrientationPatient;
      return why.str();
    }
    // PixelSpacing is (between rows, between columns) = (y, x).
    if (std::abs(image.pixelSpacing[0] - g.spacing[1]) > 1e-3 * g.spacing[1] ||
        std::abs(image.pixelSpacing[1] - g.spacing[0]) > 1e-3 * g.spacing[0])
    {
      why << file << " has PixelSpacing " << image.instance.pixelSpacing;
      return why.str();
    }
    long   slice = 0;
    double offset = 0.0;
    if (!g.SliceOfPosition(image.instance.position.data(), slice, offset) || slice < 0 ||
        slice >= static_cast<long>(g.size[2]))
    {
      why << file << " at ImagePositionPatient " << image.instance.imagePositionPatient
          << " lies on no slice of the grid (nearest slice " << slice << ", " << offset << " slice spacings away)";
      return why.str();
    }
    if (found[slice])
    {
      why << "slice " << slice << " has two images, " << result[slice].fileName << " and " << file;
      return why.str();
    }
    found[slice] = true;
    result[slice] = image.instance;
  }
  return std::string();
}

} // namespace

std::vector<DICOMSourceInstance>
MatchDICOMSeriesToGrid(const itk::ImageBase<3> * grid, const std::string & directory,
                       const std::string & seriesInstanceUID)
{
  dicomseg::QuietDCMTKLogging();
  if (!grid)
  {
    itkGenericExceptionMacro(<< "MatchDICOMSeriesToGrid: no grid given for " << directory);
  }
  std::error_code ec;
  if (!fs::is_directory(directory, ec))
  {
    itkGenericExceptionMacro(<< "The DICOM source series directory " << directory << " does not exist");
  }
  std::map<std::string, std::vector<ScannedImage>> series;
  for (const auto & entry : fs::directory_iterator(directory, ec))
  {
    if (!entry.is_regular_file(ec))
    {
      continue;
    }
    ScannedImage image;
    if (ScanFile(entry.path(), image))
    {
      series[image.instance.seriesInstanceUID].push_back(std::move(image));
    }
  }
  if (series.empty())
  {
    itkGenericExceptionMacro(<< "No DICOM image with a position (ImagePositionPatient) in the directory " << directory);
  }
  std::vector<const std::pair<const std::string, std::vector<ScannedImage>> *> candidates;
  for (const auto & s : series)
  {
    if (seriesInstanceUID.empty() || s.first == seriesInstanceUID)
    {
      candidates.push_back(&s);
    }
  }
  if (candidates.empty())
  {
    itkGenericExceptionMacro(<< "The directory " << directory << " has no DICOM series " << seriesInstanceUID);
  }
  std::stable_sort(candidates.begin(), candidates.end(), [](const auto * a, const auto * b) {
    return a->second.size() > b->second.size();
  });
  const GridGeometry               g(grid);
  std::vector<DICOMSourceInstance> result;
  std::string                      firstReason;
  for (const auto * candidate : candidates)
  {
    const std::string reason = MatchSeries(g, candidate->second, result);
    if (reason.empty())
    {
      return result;
    }
    if (firstReason.empty())
    {
      firstReason = "series " + candidate->first + ": " + reason;
    }
  }
  itkGenericExceptionMacro(<< "The label grid (" << dicomseg::DescribeGrid(grid)
                           << ") does not match the DICOM series in " << directory << " (" << firstReason << ")");
}

std::array<uint16_t, 3>
RGBToDICOMLab(const std::array<uint8_t, 3> & rgb)
{
  double L = 0.0;
  double a = 0.0;
  double b = 0.0;
  IODCIELabUtil::rgb2DicomLab(L, a, b, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0);
  auto clamp = [](double v) { return static_cast<uint16_t>(std::lround(std::min(65535.0, std::max(0.0, v)))); };
  return { { clamp(L), clamp(a), clamp(b) } };
}

std::array<uint8_t, 3>
DICOMLabToRGB(const std::array<uint16_t, 3> & lab)
{
  double r = 0.0;
  double g = 0.0;
  double b = 0.0;
  IODCIELabUtil::dicomLab2RGB(r, g, b, lab[0], lab[1], lab[2]);
  auto clamp = [](double v) { return static_cast<uint8_t>(std::lround(std::min(255.0, std::max(0.0, 255.0 * v)))); };
  return { { clamp(r), clamp(g), clamp(b) } };
}

} // namespace torchseg
