// Clean-up of organ and tumour labels on a phantom whose components are known box by box.
#include "torchsegLabelPostProcessing.h"
#include "torchsegTestingSupport.h"

#include "itkImageRegionConstIterator.h"

#include "gtest/gtest.h"

#include <map>

namespace
{

using LabelImage = itk::Image<uint8_t, 3>;

void
Fill(LabelImage * image, std::array<long, 3> lo, std::array<long, 3> hi, uint8_t value)
{
  for (long z = lo[2]; z <= hi[2]; ++z)
  {
    for (long y = lo[1]; y <= hi[1]; ++y)
    {
      for (long x = lo[0]; x <= hi[0]; ++x)
      {
        image->SetPixel({ { x, y, z } }, value);
      }
    }
  }
}

/** Voxel spacing 1 x 1 x 2 mm (2 mm^3 per voxel), oblique, with:
 *  the organ, a 16x16x10 block holding tumour A (4x4x3 = 48 voxels, 96 mm^3) and tumour B (2 voxels, 4 mm^3);
 *  an organ island (3x3x2 = 18 voxels) with tumour D beside it (1x3x2 = 6 voxels, 12 mm^3);
 *  tumour C (3x3x2 = 18 voxels, 36 mm^3) touching no organ. */
LabelImage::Pointer
Phantom()
{
  auto image = torchseg::testing::MakeImage<LabelImage>(
    { { 30, 30, 20 } }, { 1.0, 1.0, 2.0 }, { 3.0, -4.0, 10.0 }, torchseg::testing::Orientation::Oblique);
  Fill(image, { 2, 2, 2 }, { 17, 17, 11 }, 1);
  Fill(image, { 5, 5, 4 }, { 8, 8, 6 }, 2);     // A
  Fill(image, { 12, 12, 5 }, { 12, 13, 5 }, 2); // B
  Fill(image, { 22, 22, 2 }, { 24, 24, 3 }, 1); // island
  Fill(image, { 25, 22, 2 }, { 25, 24, 3 }, 2); // D
  Fill(image, { 25, 5, 15 }, { 27, 7, 16 }, 2); // C
  return image;
}

std::map<int, std::size_t>
Histogram(const LabelImage * image)
{
  std::map<int, std::size_t> h;
  for (itk::ImageRegionConstIterator<LabelImage> it(image, image->GetLargestPossibleRegion()); !it.IsAtEnd(); ++it)
  {
    ++h[it.Get()];
  }
  return h;
}

const std::size_t Block = 16 * 16 * 10;
const std::size_t A = 48, B = 2, Island = 18, D = 6, C = 18;

} // namespace

TEST(LabelPostProcessing, NothingAskedChangesNothing)
{
  auto                                 image = Phantom();
  const auto                           before = Histogram(image);
  torchseg::LabelPostProcessingOptions options;
  EXPECT_FALSE(options.IsActive());
  torchseg::PostProcessLabels(image, options);
  EXPECT_EQ(Histogram(image), before);
  EXPECT_EQ(before.at(1), Block - A - B + Island);
  EXPECT_EQ(before.at(2), A + B + D + C);
}

TEST(LabelPostProcessing, LargestOrganComponentCountsTumourAsOrgan)
{
  auto                                 image = Phantom();
  torchseg::LabelPostProcessingOptions options;
  options.keepLargestOrganComponent = true;
  const auto report = torchseg::PostProcessLabels(image, options);
  EXPECT_EQ(report.organComponents, 3u); // block with A and B; island with D; C
  EXPECT_EQ(report.removedOrganVoxels, Island + D + C);
  const auto h = Histogram(image);
  EXPECT_EQ(h.at(1), Block - A - B);
  EXPECT_EQ(h.at(2), A + B);
  EXPECT_EQ(image->GetPixel({ { 23, 23, 2 } }), 0);
  EXPECT_EQ(image->GetPixel({ { 6, 6, 5 } }), 2);
}

TEST(LabelPostProcessing, TumourOutsideTheOrganIsDropped)
{
  auto                                 image = Phantom();
  torchseg::LabelPostProcessingOptions options;
  options.removeTumourOutsideOrgan = true;
  const auto report = torchseg::PostProcessLabels(image, options);
  EXPECT_EQ(report.tumourComponents, 4u);
  EXPECT_EQ(report.removedTumourComponents, 1u);
  const auto h = Histogram(image);
  EXPECT_EQ(h.at(2), A + B + D);
  EXPECT_EQ(h.at(1), Block - A - B + Island);
  EXPECT_EQ(image->GetPixel({ { 26, 6, 15 } }), 0);
  EXPECT_EQ(image->GetPixel({ { 25, 23, 3 } }), 2);
}

TEST(LabelPostProcessing, SmallTumoursBecomeOrganInsideItAndBackgroundOutside)
{
  {
    auto                                 image = Phantom();
    torchseg::LabelPostProcessingOptions options;
    options.minimumTumourVolume = 10.0; // B (4 mm^3) only
    const auto report = torchseg::PostProcessLabels(image, options);
    EXPECT_EQ(report.removedTumourComponents, 1u);
    EXPECT_EQ(image->GetPixel({ { 12, 13, 5 } }), 1);
    const auto h = Histogram(image);
    EXPECT_EQ(h.at(2), A + D + C);
    EXPECT_EQ(h.at(1), Block - A + Island);
  }
  {
    auto                                 image = Phantom();
    torchseg::LabelPostProcessingOptions options;
    options.minimumTumourVolume = 40.0; // B (4), D (12) and C (36 mm^3); A (96 mm^3) stays
    const auto report = torchseg::PostProcessLabels(image, options);
    EXPECT_EQ(report.removedTumourComponents, 3u);
    const auto h = Histogram(image);
    EXPECT_EQ(h.at(2), A);
    EXPECT_EQ(h.at(1), Block - A + Island + D);
    EXPECT_EQ(h.at(0), 30u * 30u * 20u - Block - Island - D);
  }
}

TEST(LabelPostProcessing, EverythingTogetherAndWithoutATumourClass)
{
  auto                                 image = Phantom();
  torchseg::LabelPostProcessingOptions options;
  options.keepLargestOrganComponent = true;
  options.removeTumourOutsideOrgan = true;
  options.minimumTumourVolume = 10.0;
  torchseg::PostProcessLabels(image, options);
  auto h = Histogram(image);
  EXPECT_EQ(h.at(2), A);
  EXPECT_EQ(h.at(1), Block - A);

  // Without a tumour class, label 2 is just another class: the organ block (with holes) stays, the island goes.
  image = Phantom();
  options = {};
  options.tumourLabel = 0;
  options.keepLargestOrganComponent = true;
  options.minimumTumourVolume = 1000.0;
  const auto report = torchseg::PostProcessLabels(image, options);
  EXPECT_EQ(report.organComponents, 2u);
  h = Histogram(image);
  EXPECT_EQ(h.at(1), Block - A - B);
  EXPECT_EQ(h.at(2), A + B + D + C);
}

TEST(LabelPostProcessing, InconsistentLabelsAreRefused)
{
  auto                                 image = Phantom();
  torchseg::LabelPostProcessingOptions options;
  options.keepLargestOrganComponent = true;
  options.tumourLabel = 1;
  EXPECT_THROW(torchseg::PostProcessLabels(image, options), itk::ExceptionObject);
  options.organLabel = 0;
  options.tumourLabel = 2;
  EXPECT_THROW(torchseg::PostProcessLabels(image, options), itk::ExceptionObject);
}
