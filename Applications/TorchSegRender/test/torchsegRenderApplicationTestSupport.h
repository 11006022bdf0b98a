// Shared by the TorchSegRender application tests: a small CT phantom with a liver and a tumour, written to disk.
#ifndef torchsegRenderApplicationTestSupport_h
#define torchsegRenderApplicationTestSupport_h

#include "torchsegImageIO.h"
#include "torchsegTestingSupport.h"

#include "itkImageRegionIteratorWithIndex.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace rendertest
{

namespace fs = std::filesystem;
using torchseg::testing::Quote;

constexpr double kLiverHU = 90.0;
constexpr double kBodyHU = 40.0;
constexpr double kSpacing[3] = { 0.8, 0.8, 2.5 };

/** A 64 x 56 x 20 CT (0.8 x 0.8 x 2.5 mm, oblique) with a body block, a liver block (label 1) and a tumour block
 * inside it (label 2); \a shift moves the labels (not the CT) along the first index axis. */
struct Case
{
  fs::path    ct;
  fs::path    labels;
  std::size_t liverVoxels = 0;
  std::size_t tumourVoxels = 0;
};

inline Case
WriteCase(const std::string & prefix, int shift = 0, bool writeCT = true)
{
  using torchseg::CTImageType;
  using torchseg::LabelImageType;
  const auto orientation = torchseg::testing::Orientation::Oblique;
  auto       ct =
    torchseg::testing::MakeImage<CTImageType>({ 64, 56, 20 }, { 0.8, 0.8, 2.5 }, { -30.0, 5.0, 12.0 }, orientation);
  auto labels =
    torchseg::testing::MakeImage<LabelImageType>({ 64, 56, 20 }, { 0.8, 0.8, 2.5 }, { -30.0, 5.0, 12.0 }, orientation);
  const itk::ImageRegion<3> body({ { 4, 4, 0 } }, { { 56, 48, 20 } });
  const itk::ImageRegion<3> liver({ { 10, 12, 4 } }, { { 24, 22, 10 } });
  const itk::ImageRegion<3> tumour({ { 18, 18, 7 } }, { { 6, 6, 4 } });
  Case                      result;
  for (itk::ImageRegionIteratorWithIndex<CTImageType> it(ct, ct->GetLargestPossibleRegion()); !it.IsAtEnd(); ++it)
  {
    const auto & i = it.GetIndex();
    it.Set(static_cast<float>(liver.IsInside(i) ? kLiverHU : body.IsInside(i) ? kBodyHU : -1000.0));
    auto shifted = i;
    shifted[0] -= shift;
    const uint8_t value = tumour.IsInside(shifted) ? 2 : liver.IsInside(shifted) ? 1 : 0;
    labels->SetPixel(i, value);
    result.liverVoxels += value == 1;
    result.tumourVoxels += value == 2;
  }
  result.ct = torchseg::testing::OutputPath(prefix + "_ct.nii.gz");
  result.labels = torchseg::testing::OutputPath(prefix + "_labels.nii.gz");
  if (writeCT)
  {
    torchseg::WriteImageFile(ct.GetPointer(), result.ct.string());
  }
  torchseg::WriteImageFile(labels.GetPointer(), result.labels.string());
  return result;
}

inline std::string
Render()
{
  return torchseg::testing::ApplicationPath("TorchSegRender").string();
}

/** Runs a command with stdout discarded (it carries Slicer progress tags): \a errors gets stderr alone. */
inline int
RunForErrors(const std::string & command, std::string & errors)
{
  return torchseg::testing::RunCommand("(" + command + " > /dev/null)", &errors);
}

inline std::vector<std::string>
Lines(const std::string & text)
{
  std::vector<std::string> lines;
  std::stringstream        stream(text);
  std::string              line;
  while (std::getline(stream, line))
  {
    if (!line.empty())
    {
      lines.push_back(line);
    }
  }
  return lines;
}

/** The value of "name = value" in a --returnparameterfile. */
inline std::string
ReturnValue(const fs::path & file, const std::string & name)
{
  std::ifstream stream(file);
  std::string   line;
  while (std::getline(stream, line))
  {
    if (line.rfind(name + " = ", 0) == 0)
    {
      return line.substr(name.size() + 3);
    }
  }
  return std::string();
}

/** The number after "name=" in "liver=1.2,tumour=0.3". */
inline double
VolumeOf(const std::string & volumes, const std::string & name)
{
  const auto at = volumes.find(name + "=");
  return at == std::string::npos ? -1.0 : std::stod(volumes.substr(at + name.size() + 1));
}

} // namespace rendertest

#endif
