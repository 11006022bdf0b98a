#ifndef torchsegDICOMSegmentationPrivate_h
#define torchsegDICOMSegmentationPrivate_h

// Helpers shared by the translation units of TorchSegDICOMSegmentation; not installed.

#include "itkImageBase.h"

#include <array>
#include <string>
#include <vector>

class OFCondition;

namespace torchseg
{
namespace dicomseg
{

/** The values of a multi-valued DICOM string ("a\b\c"). */
std::vector<std::string>
SplitBackslash(const std::string & text);

/** Parses a Decimal String value list; returns false when a value is not a number or the count differs. */
bool
ParseDecimals(const std::string & text, std::size_t count, double * values);

/** A Decimal String (at most 16 characters) for \a value. */
std::string
FormatDecimal(double value);

/** DCMTK logs its own errors to stderr; the toolkit reports them in its exceptions instead. Idempotent. */
void
QuietDCMTKLogging();

/** "size 64x48x12, spacing 0.8x0.7x2.5 mm, origin (..), direction (..)" for messages. */
std::string
DescribeGrid(const itk::ImageBase<3> * grid);

/** The geometry of a grid in the form the matching needs. */
struct GridGeometry
{
  std::array<unsigned int, 3>          size{};
  std::array<double, 3>                spacing{};
  std::array<double, 3>                origin{}; //!< physical position of the first voxel of the region
  std::array<std::array<double, 3>, 3> axis{};   //!< axis[d]: direction column d (unit vector)
  double                               originProjection = 0.0;

  explicit GridGeometry(const itk::ImageBase<3> * grid);

  /** Whether a row/column direction pair (DICOM ImageOrientationPatient) equals the grid's first two axes. */
  bool
  HasOrientation(const double * orientation) const;

  /** The slice index of a position: true and \a slice set when it lies on a slice of the grid (0.1 slice spacing
   * along the normal, 0.1 pixel in plane). \a offset receives the distance along the normal in slices. */
  bool
  SliceOfPosition(const double * position, long & slice, double & offset) const;
};

} // namespace dicomseg
} // namespace torchseg

#endif
