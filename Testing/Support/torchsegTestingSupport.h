#ifndef torchsegTestingSupport_h
#define torchsegTestingSupport_h

#include "itkImage.h"
#include "itkMatrix.h"

#include <array>
#include <cmath>
#include <filesystem>
#include <string>

namespace torchseg
{
namespace testing
{

/** A path in the test output directory unique to the running GoogleTest test: "<Suite>_<Test>_<name>", so that
 * tests can run in parallel (ctest -j). Any existing file or directory of that name is removed first. */
std::filesystem::path
OutputPath(const std::string & name);

/** Path of a built application executable, e.g. ApplicationPath("TorchSegPhantom"). */
std::filesystem::path
ApplicationPath(const std::string & name);

/** \a path in single quotes, for a shell command line (test paths hold no quotes). */
std::string
Quote(const std::filesystem::path & path);

/** The whole content of a file; empty when it cannot be read. */
std::string
ReadText(const std::filesystem::path & path);

/** Runs a shell command, capturing stdout and stderr; returns the exit code. */
int
RunCommand(const std::string & command, std::string * output = nullptr);

/** The geometries every geometry-sensitive test uses. */
enum class Orientation
{
  Identity, //!< axial LPS
  Flipped,  //!< x and z axes reversed (a rotation: determinant +1)
  Mirrored, //!< x axis reversed only (a reflection: determinant -1)
  Oblique   //!< rotated by a few degrees about two axes
};

/** An orthonormal direction matrix of the given kind. */
template <unsigned int VDimension>
itk::Matrix<double, VDimension, VDimension>
MakeDirection(Orientation orientation)
{
  itk::Matrix<double, VDimension, VDimension> d;
  d.SetIdentity();
  if (orientation == Orientation::Flipped)
  {
    d(0, 0) = -1.0;
    d(VDimension - 1, VDimension - 1) = -1.0;
  }
  else if (orientation == Orientation::Mirrored)
  {
    d(0, 0) = -1.0;
  }
  else if (orientation == Orientation::Oblique)
  {
    const double                                a = 7.0 * M_PI / 180.0;
    itk::Matrix<double, VDimension, VDimension> rz;
    rz.SetIdentity();
    rz(0, 0) = std::cos(a);
    rz(0, 1) = -std::sin(a);
    rz(1, 0) = std::sin(a);
    rz(1, 1) = std::cos(a);
    d = rz;
    if (VDimension == 3)
    {
      const double                                b = -4.0 * M_PI / 180.0;
      itk::Matrix<double, VDimension, VDimension> rx;
      rx.SetIdentity();
      rx(1, 1) = std::cos(b);
      rx(1, 2) = -std::sin(b);
      rx(2, 1) = std::sin(b);
      rx(2, 2) = std::cos(b);
      d = rx * rz;
    }
  }
  return d;
}

/** A zero-filled image with the given size, spacing, origin and orientation. */
template <typename TImage>
typename TImage::Pointer
MakeImage(const typename TImage::SizeType & size, const std::array<double, TImage::ImageDimension> & spacing,
          const std::array<double, TImage::ImageDimension> & origin = {},
          Orientation                                        orientation = Orientation::Identity)
{
  auto image = TImage::New();
  image->SetRegions(size);
  typename TImage::SpacingType s;
  typename TImage::PointType   o;
  for (unsigned int d = 0; d < TImage::ImageDimension; ++d)
  {
    s[d] = spacing[d];
    o[d] = origin[d];
  }
  image->SetSpacing(s);
  image->SetOrigin(o);
  image->SetDirection(MakeDirection<TImage::ImageDimension>(orientation));
  image->Allocate(true);
  return image;
}

} // namespace testing
} // namespace torchseg

#endif
