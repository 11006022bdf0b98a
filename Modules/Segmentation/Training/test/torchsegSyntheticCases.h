#ifndef torchsegSyntheticCases_h
#define torchsegSyntheticCases_h

// Small synthetic CT cases with known labels for the training tests: an elliptic body (40 HU), a liver ellipsoid
// (label 1, 120 HU) and a tumour sphere inside it (label 2, 250 HU), air (-1000 HU) around, Gaussian noise; positions
// vary with the seed. Written as NIfTI files with a list file, as TorchSegPhantom would.
#include "torchsegImageIO.h"
#include "torchsegTestingSupport.h"

#include "itkImageRegionIteratorWithIndex.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace torchseg
{
namespace testing
{

struct SyntheticCase
{
  CTImageType::Pointer    ct;
  LabelImageType::Pointer labels;
};

inline SyntheticCase
MakeSyntheticCase(unsigned int seed, Orientation orientation = Orientation::Identity, unsigned int sizeX = 40,
                  unsigned int sizeY = 36, unsigned int sizeZ = 10)
{
  SyntheticCase               c;
  const std::array<double, 3> spacing{ { 1.5, 1.5, 2.5 } };
  const std::array<double, 3> origin{ { -30.0, -25.0, 100.0 } };
  c.ct = MakeImage<CTImageType>({ { sizeX, sizeY, sizeZ } }, spacing, origin, orientation);
  c.labels = MakeImage<LabelImageType>({ { sizeX, sizeY, sizeZ } }, spacing, origin, orientation);
  std::mt19937                     rng(seed);
  std::uniform_real_distribution<> u(-1.0, 1.0);
  std::normal_distribution<>       noise(0.0, 15.0);
  const double                     cx = 0.5 * sizeX + 2.0 * u(rng), cy = 0.5 * sizeY + 2.0 * u(rng), cz = 0.5 * sizeZ;
  const double ax = 0.28 * sizeX * (1.0 + 0.1 * u(rng)), ay = 0.25 * sizeY * (1.0 + 0.1 * u(rng)), az = 0.35 * sizeZ;
  const double tx = cx + 0.3 * ax * u(rng), ty = cy + 0.3 * ay * u(rng), tz = cz;
  const double tr = 2.5 + 0.8 * u(rng);
  itk::ImageRegionIteratorWithIndex<CTImageType> it(c.ct, c.ct->GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it)
  {
    const auto   i = it.GetIndex();
    const double x = i[0], y = i[1], z = i[2];
    const double body =
      std::pow((x - 0.5 * sizeX) / (0.45 * sizeX), 2) + std::pow((y - 0.5 * sizeY) / (0.45 * sizeY), 2);
    const double liver = std::pow((x - cx) / ax, 2) + std::pow((y - cy) / ay, 2) + std::pow((z - cz) / az, 2);
    // The tumour is measured in mm so that it stays round across the anisotropic grid.
    const double tumour = std::pow((x - tx) * 1.5, 2) + std::pow((y - ty) * 1.5, 2) + std::pow((z - tz) * 2.5, 2);
    uint8_t      label = 0;
    double       hu = body <= 1.0 ? 40.0 : -1000.0;
    if (liver <= 1.0)
    {
      label = 1;
      hu = 120.0;
      if (tumour <= std::pow(tr * 1.5, 2))
      {
        label = 2;
        hu = 250.0;
      }
    }
    it.Set(static_cast<float>(hu + noise(rng)));
    c.labels->SetPixel(i, label);
  }
  return c;
}

/** Writes cases caseNNN_ct.nii.gz / caseNNN_label.nii.gz for the given seeds into \a directory and a list file
 * \a listName beside them; returns the list path. */
inline std::filesystem::path
WriteSyntheticCases(const std::filesystem::path & directory, const std::vector<unsigned int> & seeds,
                    const std::string & listName, Orientation orientation = Orientation::Identity,
                    const std::array<unsigned int, 3> & size = { { 40, 36, 10 } })
{
  std::filesystem::create_directories(directory);
  std::ofstream list((directory / listName).string());
  list << "image,label\n";
  for (unsigned int seed : seeds)
  {
    const SyntheticCase c = MakeSyntheticCase(seed, orientation, size[0], size[1], size[2]);
    char                name[32];
    std::snprintf(name, sizeof(name), "case%03u", seed);
    WriteImageFile(c.ct.GetPointer(), (directory / (std::string(name) + "_ct.nii.gz")).string());
    WriteImageFile(c.labels.GetPointer(), (directory / (std::string(name) + "_label.nii.gz")).string());
    list << name << "_ct.nii.gz," << name << "_label.nii.gz\n";
  }
  return directory / listName;
}

} // namespace testing
} // namespace torchseg

#endif
