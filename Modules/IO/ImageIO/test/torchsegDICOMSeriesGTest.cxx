#include "torchsegImageIO.h"
#include "torchsegTestingSupport.h"

#include "itkImageRegionIteratorWithIndex.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcrleerg.h"

#include "gtest/gtest.h"

#include <fstream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using torchseg::testing::MakeImage;
using torchseg::testing::Orientation;
using torchseg::testing::OutputPath;
using torchseg::testing::ReadText;
using torchseg::testing::RunCommand;

namespace
{

torchseg::CTStorageImageType::Pointer
MakeCT(Orientation orientation, itk::Size<3> size = { { 16, 12, 5 } })
{
  auto image = MakeImage<torchseg::CTStorageImageType>(
    size, { 0.78125, 0.65, 2.5 }, { -200.123456789, -150.5, -812.25 }, orientation);
  itk::ImageRegionIteratorWithIndex<torchseg::CTStorageImageType> it(image, image->GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it)
  {
    const auto i = it.GetIndex();
    it.Set(static_cast<int16_t>((i[0] * 53 + i[1] * 97 + i[2] * 389) % 2800 - 1024));
  }
  return image;
}

std::vector<fs::path>
SeriesFiles(const fs::path & directory)
{
  std::vector<fs::path> files;
  for (const auto & entry : fs::directory_iterator(directory))
  {
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

template <typename F>
std::string
ErrorOf(F && f)
{
  try
  {
    f();
  }
  catch (const itk::ExceptionObject & e)
  {
    return e.GetDescription();
  }
  ADD_FAILURE() << "no exception";
  return std::string();
}

void
ExpectOneLineNaming(const std::string & message, const std::string & path, const std::string & reason)
{
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_NE(message.find(reason), std::string::npos) << message;
}

/** Edits one file of a series in place with DCMTK. */
template <typename F>
void
EditFile(const fs::path & file, F && edit)
{
  DcmFileFormat format;
  ASSERT_TRUE(format.loadFile(file.c_str()).good()) << file;
  edit(format.getDataset());
  ASSERT_TRUE(format.saveFile(file.c_str(), EXS_LittleEndianExplicit).good()) << file;
}

std::string
Attribute(DcmDataset * dataset, const DcmTagKey & tag)
{
  OFString value;
  dataset->findAndGetOFStringArray(tag, value);
  return value.c_str();
}

std::array<double, 3>
Position(const fs::path & file)
{
  DcmFileFormat format;
  format.loadFile(file.c_str());
  std::array<double, 3> p{};
  for (unsigned long i = 0; i < 3; ++i)
  {
    format.getDataset()->findAndGetFloat64(DCM_ImagePositionPatient, p[i], i);
  }
  return p;
}

void
SetPosition(DcmDataset * dataset, const std::array<double, 3> & p)
{
  std::ostringstream text;
  text.precision(10);
  text << p[0] << "\\" << p[1] << "\\" << p[2];
  dataset->putAndInsertString(DCM_ImagePositionPatient, text.str().c_str());
}

bool
HaveTool(const std::string & name)
{
  return RunCommand("command -v " + name + " > /dev/null") == 0;
}

fs::path
WriteSeries(const std::string & name, Orientation orientation, unsigned long seed = 17)
{
  const fs::path              directory = OutputPath(name);
  torchseg::DICOMWriteOptions options;
  options.uidSeed = seed;
  torchseg::WriteDICOMCTSeries(MakeCT(orientation).GetPointer(), directory.string(), options);
  return directory;
}

/** Every voxel of \a b, mapped through physical space onto \a a, lands on a voxel centre (within \a tolerance
 * voxels) with the same value. */
void
ExpectSamePhysicalImage(const torchseg::CTImageType * a, const torchseg::CTImageType * b, double tolerance)
{
  ASSERT_EQ(a->GetLargestPossibleRegion().GetNumberOfPixels(), b->GetLargestPossibleRegion().GetNumberOfPixels());
  std::size_t                                                   mismatches = 0;
  double                                                        worst = 0.0;
  itk::ImageRegionConstIteratorWithIndex<torchseg::CTImageType> it(b, b->GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it)
  {
    torchseg::CTImageType::PointType p;
    b->TransformIndexToPhysicalPoint(it.GetIndex(), p);
    const auto                       c = a->TransformPhysicalPointToContinuousIndex<double>(p);
    torchseg::CTImageType::IndexType index;
    for (unsigned int d = 0; d < 3; ++d)
    {
      index[d] = std::lround(c[d]);
      worst = std::max(worst, std::abs(c[d] - index[d]));
    }
    if (!a->GetLargestPossibleRegion().IsInside(index) || a->GetPixel(index) != it.Get())
    {
      ++mismatches;
    }
  }
  EXPECT_LE(worst, tolerance);
  EXPECT_EQ(mismatches, 0u);
}

} // namespace

TEST(DICOMSeries, RoundTripKeepsGeometryAndValuesInEveryOrientation)
{
  for (Orientation orientation : { Orientation::Identity, Orientation::Flipped, Orientation::Oblique })
  {
    SCOPED_TRACE(static_cast<int>(orientation));
    const auto     ct = MakeCT(orientation);
    const fs::path directory = OutputPath("series" + std::to_string(static_cast<int>(orientation)));
    torchseg::WriteDICOMCTSeries(ct.GetPointer(), directory.string(), torchseg::DICOMWriteOptions());
    EXPECT_EQ(SeriesFiles(directory).size(), 5u);
    const auto back = torchseg::ReadCTImage(directory.string());
    ASSERT_EQ(back->GetLargestPossibleRegion().GetSize(), ct->GetLargestPossibleRegion().GetSize());
    // Decimal strings of 16 characters: 1e-9 mm and 1e-12 in the direction cosines are far above their error.
    for (unsigned int i = 0; i < 3; ++i)
    {
      EXPECT_NEAR(back->GetOrigin()[i], ct->GetOrigin()[i], 1e-9);
      EXPECT_NEAR(back->GetSpacing()[i], ct->GetSpacing()[i], 1e-9);
      for (unsigned int j = 0; j < 3; ++j)
      {
        EXPECT_NEAR(back->GetDirection()(i, j), ct->GetDirection()(i, j), 1e-12);
      }
    }
    const std::size_t n = ct->GetLargestPossibleRegion().GetNumberOfPixels();
    std::size_t       different = 0;
    for (std::size_t i = 0; i < n; ++i)
    {
      different += back->GetBufferPointer()[i] != ct->GetBufferPointer()[i];
    }
    EXPECT_EQ(different, 0u);
  }
}

// A left-handed direction (one axis reversed) cannot be told apart from its right-handed twin in DICOM: slices are
// ordered along ImageOrientationPatient's normal. The voxels stay at the same places in the patient.
TEST(DICOMSeries, LeftHandedVolumeKeepsItsVoxelsInPlace)
{
  auto ct = MakeCT(Orientation::Identity);
  auto d = ct->GetDirection();
  d(2, 2) = -1.0;
  ct->SetDirection(d);
  const fs::path directory = OutputPath("lefthanded");
  torchseg::WriteDICOMCTSeries(ct.GetPointer(), directory.string(), torchseg::DICOMWriteOptions());
  const auto back = torchseg::ReadCTImage(directory.string());
  EXPECT_NEAR(back->GetDirection()(2, 2), 1.0, 1e-12);
  auto asFloat = torchseg::CTImageType::New();
  asFloat->CopyInformation(ct);
  asFloat->SetRegions(ct->GetLargestPossibleRegion());
  asFloat->Allocate();
  std::copy(ct->GetBufferPointer(),
            ct->GetBufferPointer() + ct->GetLargestPossibleRegion().GetNumberOfPixels(),
            asFloat->GetBufferPointer());
  ExpectSamePhysicalImage(asFloat.GetPointer(), back.GetPointer(), 1e-6);
}

TEST(DICOMSeries, RequiredAttributesArePresent)
{
  torchseg::DICOMWriteOptions options;
  options.uidSeed = 5;
  options.patientName = "Doe^Jane";
  options.patientID = "P123";
  options.contrastPhase = "portal venous";
  options.seriesNumber = 7;
  const fs::path directory = OutputPath("attributes");
  torchseg::WriteDICOMCTSeries(MakeCT(Orientation::Oblique).GetPointer(), directory.string(), options);
  const auto files = SeriesFiles(directory);
  ASSERT_EQ(files.size(), 5u);
  std::set<std::string> instanceUIDs;
  for (std::size_t k = 0; k < files.size(); ++k)
  {
    DcmFileFormat format;
    ASSERT_TRUE(format.loadFile(files[k].c_str()).good());
    DcmDataset * ds = format.getDataset();
    for (const DcmTagKey & tag : { DCM_PatientName,
                                   DCM_PatientID,
                                   DCM_PatientBirthDate,
                                   DCM_PatientSex,
                                   DCM_StudyInstanceUID,
                                   DCM_StudyDate,
                                   DCM_StudyTime,
                                   DCM_ReferringPhysicianName,
                                   DCM_StudyID,
                                   DCM_AccessionNumber,
                                   DCM_Modality,
                                   DCM_SeriesInstanceUID,
                                   DCM_SeriesNumber,
                                   DCM_FrameOfReferenceUID,
                                   DCM_PositionReferenceIndicator,
                                   DCM_Manufacturer,
                                   DCM_ImageType,
                                   DCM_InstanceNumber,
                                   DCM_ImagePositionPatient,
                                   DCM_ImageOrientationPatient,
                                   DCM_PixelSpacing,
                                   DCM_SliceThickness,
                                   DCM_SamplesPerPixel,
                                   DCM_PhotometricInterpretation,
                                   DCM_Rows,
                                   DCM_Columns,
                                   DCM_BitsAllocated,
                                   DCM_BitsStored,
                                   DCM_HighBit,
                                   DCM_PixelRepresentation,
                                   DCM_RescaleIntercept,
                                   DCM_RescaleSlope,
                                   DCM_RescaleType,
                                   DCM_KVP,
                                   DCM_AcquisitionNumber,
                                   DCM_SOPClassUID,
                                   DCM_SOPInstanceUID,
                                   DCM_PixelData })
    {
      EXPECT_TRUE(ds->tagExists(tag)) << DcmTag(tag).getTagName() << " in " << files[k];
    }
    EXPECT_EQ(Attribute(ds, DCM_Modality), "CT");
    EXPECT_EQ(Attribute(ds, DCM_SOPClassUID), "1.2.840.10008.5.1.4.1.1.2");
    EXPECT_EQ(Attribute(ds, DCM_PhotometricInterpretation), "MONOCHROME2");
    EXPECT_EQ(Attribute(ds, DCM_BitsAllocated), "16");
    EXPECT_EQ(Attribute(ds, DCM_Rows), "12");
    EXPECT_EQ(Attribute(ds, DCM_Columns), "16");
    EXPECT_EQ(Attribute(ds, DCM_PixelSpacing), "0.65\\0.78125");
    EXPECT_EQ(Attribute(ds, DCM_SliceThickness), "2.5");
    EXPECT_EQ(Attribute(ds, DCM_RescaleType), "HU");
    EXPECT_EQ(Attribute(ds, DCM_PatientName), "Doe^Jane");
    EXPECT_EQ(Attribute(ds, DCM_PatientID), "P123");
    EXPECT_EQ(Attribute(ds, DCM_SeriesNumber), "7");
    EXPECT_EQ(Attribute(ds, DCM_ContrastBolusAgent), "portal venous");
    EXPECT_EQ(Attribute(ds, DCM_InstanceNumber), std::to_string(k + 1));
    instanceUIDs.insert(Attribute(ds, DCM_SOPInstanceUID));
    // ImageOrientationPatient: the direction's first two columns (16-character decimal strings: 1e-13).
    const auto direction = torchseg::testing::MakeDirection<3>(Orientation::Oblique);
    for (unsigned long i = 0; i < 6; ++i)
    {
      Float64 v = 0;
      ds->findAndGetFloat64(DCM_ImageOrientationPatient, v, i);
      EXPECT_NEAR(v, direction(i % 3, i / 3), 1e-12);
    }
  }
  EXPECT_EQ(instanceUIDs.size(), files.size());
}

TEST(DICOMSeries, SameSeedGivesIdenticalFiles)
{
  const fs::path a = WriteSeries("a", Orientation::Flipped, 99);
  const fs::path b = WriteSeries("b", Orientation::Flipped, 99);
  const fs::path c = WriteSeries("c", Orientation::Flipped, 100);
  const auto     filesA = SeriesFiles(a);
  const auto     filesB = SeriesFiles(b);
  const auto     filesC = SeriesFiles(c);
  ASSERT_EQ(filesA.size(), filesB.size());
  for (std::size_t k = 0; k < filesA.size(); ++k)
  {
    EXPECT_EQ(filesA[k].filename(), filesB[k].filename());
    EXPECT_TRUE(ReadText(filesA[k]) == ReadText(filesB[k])) << filesA[k];
    EXPECT_FALSE(ReadText(filesA[k]) == ReadText(filesC[k])) << filesC[k];
  }
}

TEST(DICOMSeries, PassesDciodvfyWithoutErrors)
{
  if (!HaveTool("dciodvfy"))
  {
    GTEST_SKIP() << "dciodvfy (dicom3tools) is not installed";
  }
  torchseg::DICOMWriteOptions options;
  options.uidSeed = 3;
  options.contrastPhase = "arterial";
  const fs::path directory = OutputPath("dciodvfy");
  torchseg::WriteDICOMCTSeries(MakeCT(Orientation::Oblique).GetPointer(), directory.string(), options);
  for (const auto & file : SeriesFiles(directory))
  {
    std::string output;
    RunCommand("dciodvfy '" + file.string() + "'", &output);
    EXPECT_NE(output.find("CTImage"), std::string::npos) << output; // it recognised the IOD
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);)
    {
      EXPECT_EQ(line.find("Error"), std::string::npos) << file << ": " << line;
    }
  }
}

// dcm2niix is an independent reader: its NIfTI (float32 sform/qform) must put every voxel where ours does. NIfTI's
// float32 geometry allows ~1e-5 mm at these coordinates; 1e-3 voxel is ample and still catches any half-voxel
// or flip error.
TEST(DICOMSeries, Dcm2niixAgreesWithOurReader)
{
  if (!HaveTool("dcm2niix"))
  {
    GTEST_SKIP() << "dcm2niix is not installed";
  }
  for (Orientation orientation : { Orientation::Identity, Orientation::Flipped, Orientation::Oblique })
  {
    SCOPED_TRACE(static_cast<int>(orientation));
    const std::string name = "dcm2niix" + std::to_string(static_cast<int>(orientation));
    const fs::path    series = WriteSeries(name, orientation);
    const fs::path    out = OutputPath(name + "_nii");
    fs::create_directories(out);
    std::string log;
    ASSERT_EQ(RunCommand("dcm2niix -b n -z n -f converted -o '" + out.string() + "' '" + series.string() + "'", &log),
              0)
      << log;
    ASSERT_TRUE(fs::exists(out / "converted.nii")) << log;
    const auto ours = torchseg::ReadCTImage(series.string());
    const auto theirs = torchseg::ReadCTImage((out / "converted.nii").string());
    // Spacing and direction agree up to dcm2niix's choice of axis order and sign.
    for (unsigned int i = 0; i < 3; ++i)
    {
      bool matched = false;
      for (unsigned int j = 0; j < 3; ++j)
      {
        double dot = 0.0;
        for (unsigned int r = 0; r < 3; ++r)
        {
          dot += ours->GetDirection()(r, i) * theirs->GetDirection()(r, j);
        }
        if (std::abs(std::abs(dot) - 1.0) < 1e-5)
        {
          matched = true;
          EXPECT_NEAR(ours->GetSpacing()[i], theirs->GetSpacing()[j], 1e-5);
        }
      }
      EXPECT_TRUE(matched) << "axis " << i;
    }
    ExpectSamePhysicalImage(ours.GetPointer(), theirs.GetPointer(), 1e-3);
  }
}

TEST(DICOMSeries, AppliesRescaleSlopeAndIntercept)
{
  const fs::path directory = WriteSeries("rescale", Orientation::Identity);
  const auto     plain = torchseg::ReadCTImage(directory.string());
  const auto     files = SeriesFiles(directory);
  for (std::size_t k = 0; k < files.size(); ++k)
  {
    EditFile(files[k], [k](DcmDataset * ds) {
      ds->putAndInsertString(DCM_RescaleSlope, k == 2 ? "0.5" : "2");
      ds->putAndInsertString(DCM_RescaleIntercept, "-1024");
    });
  }
  const auto  rescaled = torchseg::ReadCTImage(directory.string());
  const auto  size = plain->GetLargestPossibleRegion().GetSize();
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < plain->GetLargestPossibleRegion().GetNumberOfPixels(); ++i)
  {
    const std::size_t k = i / (size[0] * size[1]);
    const float       expected = plain->GetBufferPointer()[i] * (k == 2 ? 0.5f : 2.0f) - 1024.0f;
    wrong += rescaled->GetBufferPointer()[i] != expected;
  }
  EXPECT_EQ(wrong, 0u);
}

TEST(DICOMSeries, ReadsUnsignedTwelveBitStorage)
{
  const fs::path directory = WriteSeries("unsigned", Orientation::Identity);
  const auto     plain = torchseg::ReadCTImage(directory.string());
  for (const auto & file : SeriesFiles(directory))
  {
    EditFile(file, [](DcmDataset * ds) {
      const Uint16 * pixels = nullptr;
      unsigned long  count = 0;
      ds->findAndGetUint16Array(DCM_PixelData, pixels, &count);
      // Stored = HU + 1024 in 12 bits, garbage in the unused high bits (which a reader must ignore).
      std::vector<Uint16> stored(pixels, pixels + count);
      for (auto & v : stored)
      {
        v = static_cast<Uint16>((static_cast<int16_t>(v) + 1024) | 0xF000);
      }
      ds->putAndInsertUint16Array(DCM_PixelData, stored.data(), count);
      ds->putAndInsertString(DCM_BitsStored, "12");
      ds->putAndInsertString(DCM_HighBit, "11");
      ds->putAndInsertString(DCM_PixelRepresentation, "0");
      ds->putAndInsertString(DCM_RescaleIntercept, "-1024");
    });
  }
  const auto  back = torchseg::ReadCTImage(directory.string());
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < plain->GetLargestPossibleRegion().GetNumberOfPixels(); ++i)
  {
    wrong += back->GetBufferPointer()[i] != plain->GetBufferPointer()[i];
  }
  EXPECT_EQ(wrong, 0u);
}

TEST(DICOMSeries, ReadsACompressedSeries)
{
  const fs::path directory = WriteSeries("rle", Orientation::Oblique);
  const auto     plain = torchseg::ReadCTImage(directory.string());
  DcmRLEEncoderRegistration::registerCodecs();
  for (const auto & file : SeriesFiles(directory))
  {
    DcmFileFormat format;
    ASSERT_TRUE(format.loadFile(file.c_str()).good());
    ASSERT_TRUE(format.getDataset()->chooseRepresentation(EXS_RLELossless, nullptr).good());
    ASSERT_TRUE(format.saveFile(file.c_str(), EXS_RLELossless).good());
  }
  DcmRLEEncoderRegistration::cleanup();
  const auto  back = torchseg::ReadCTImage(directory.string());
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < plain->GetLargestPossibleRegion().GetNumberOfPixels(); ++i)
  {
    wrong += back->GetBufferPointer()[i] != plain->GetBufferPointer()[i];
  }
  EXPECT_EQ(wrong, 0u);
}

TEST(DICOMSeries, SlicesAreSortedByPositionNotByFileName)
{
  const fs::path directory = WriteSeries("shuffled", Orientation::Flipped);
  const auto     expected = torchseg::ReadCTImage(directory.string());
  const auto     files = SeriesFiles(directory);
  // Reverse the file names (and instance numbers) of the slices.
  for (std::size_t k = 0; k < files.size(); ++k)
  {
    fs::rename(files[k], directory / ("tmp" + std::to_string(k)));
  }
  for (std::size_t k = 0; k < files.size(); ++k)
  {
    fs::rename(directory / ("tmp" + std::to_string(k)), directory / ("z" + std::to_string(files.size() - k)));
  }
  const auto back = torchseg::ReadCTImage(directory.string());
  for (unsigned int i = 0; i < 3; ++i)
  {
    EXPECT_EQ(back->GetOrigin()[i], expected->GetOrigin()[i]);
  }
  EXPECT_TRUE(std::equal(back->GetBufferPointer(),
                         back->GetBufferPointer() + back->GetLargestPossibleRegion().GetNumberOfPixels(),
                         expected->GetBufferPointer()));
}

TEST(DICOMSeries, SelectsTheLargestCTSeriesOrTheRequestedOne)
{
  const fs::path mixed = OutputPath("mixed");
  fs::create_directories(mixed);
  torchseg::DICOMWriteOptions small;
  small.uidSeed = 1;
  small.seriesNumber = 1;
  small.seriesDescription = "small";
  torchseg::DICOMWriteOptions large = small;
  large.seriesNumber = 2;
  large.seriesDescription = "large";
  torchseg::DICOMWriteOptions mr = small;
  mr.seriesNumber = 3;
  mr.seriesDescription = "not CT";
  const fs::path a = OutputPath("small"), b = OutputPath("large"), c = OutputPath("mr");
  torchseg::WriteDICOMCTSeries(MakeCT(Orientation::Identity, { { 8, 8, 3 } }).GetPointer(), a.string(), small);
  torchseg::WriteDICOMCTSeries(MakeCT(Orientation::Identity, { { 8, 8, 6 } }).GetPointer(), b.string(), large);
  torchseg::WriteDICOMCTSeries(MakeCT(Orientation::Identity, { { 8, 8, 9 } }).GetPointer(), c.string(), mr);
  for (const auto & file : SeriesFiles(c))
  {
    EditFile(file, [](DcmDataset * ds) { ds->putAndInsertString(DCM_Modality, "MR"); });
  }
  int n = 0;
  for (const fs::path & dir : { a, b, c })
  {
    for (const auto & file : SeriesFiles(dir))
    {
      fs::rename(file, mixed / ("f" + std::to_string(n++)));
    }
  }
  std::ofstream(mixed / "README.txt") << "not DICOM";

  const auto series = torchseg::ListDICOMSeries(mixed.string());
  ASSERT_EQ(series.size(), 3u);
  EXPECT_EQ(series[0].numberOfFiles, 9u);
  EXPECT_EQ(series[0].modality, "MR");
  EXPECT_EQ(series[1].numberOfFiles, 6u);
  EXPECT_EQ(series[1].seriesDescription, "large");
  EXPECT_EQ(series[2].numberOfFiles, 3u);

  // Default: the largest CT series, not the larger MR one.
  EXPECT_EQ(torchseg::ReadCTImage(mixed.string())->GetLargestPossibleRegion().GetSize()[2], 6u);
  // By UID.
  EXPECT_EQ(torchseg::ReadCTImage(mixed.string(), series[2].seriesInstanceUID)->GetLargestPossibleRegion().GetSize()[2],
            3u);
  // A file of a series stands for its series.
  DcmFileFormat format;
  format.loadFile((mixed / "f0").c_str());
  EXPECT_EQ(torchseg::ReadCTImage((mixed / "f0").string())->GetLargestPossibleRegion().GetSize()[2], 3u);
  // An unknown UID.
  ExpectOneLineNaming(ErrorOf([&] { torchseg::ReadCTImage(mixed.string(), "1.2.3.4"); }), mixed.string(), "1.2.3.4");
}

TEST(DICOMSeries, IgnoresALocalizerInTheSeries)
{
  const fs::path directory = WriteSeries("localizer", Orientation::Identity);
  const auto     expected = torchseg::ReadCTImage(directory.string());
  // A scout in the same series: another orientation, ImageType LOCALIZER.
  fs::copy_file(SeriesFiles(directory)[0], directory / "scout.dcm");
  EditFile(directory / "scout.dcm", [](DcmDataset * ds) {
    ds->putAndInsertString(DCM_ImageType, "ORIGINAL\\PRIMARY\\LOCALIZER");
    ds->putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\0\\-1");
    ds->putAndInsertString(DCM_SOPInstanceUID, "2.25.1234");
  });
  const auto back = torchseg::ReadCTImage(directory.string());
  EXPECT_EQ(back->GetLargestPossibleRegion().GetSize(), expected->GetLargestPossibleRegion().GetSize());
  EXPECT_TRUE(std::equal(back->GetBufferPointer(),
                         back->GetBufferPointer() + back->GetLargestPossibleRegion().GetNumberOfPixels(),
                         expected->GetBufferPointer()));
}

TEST(DICOMSeries, DirectoryWithoutCTSeries)
{
  const fs::path directory = WriteSeries("onlymr", Orientation::Identity);
  for (const auto & file : SeriesFiles(directory))
  {
    EditFile(file, [](DcmDataset * ds) { ds->putAndInsertString(DCM_Modality, "MR"); });
  }
  ExpectOneLineNaming(ErrorOf([&] { torchseg::ReadCTImage(directory.string()); }), directory.string(), "no CT series");
}

// ---------------------------------------------------------------------------------------------------------------
// Stacks that are not a regular grid are refused, naming the directory.

TEST(DICOMSeriesErrors, MissingSlice)
{
  const fs::path directory = WriteSeries("missing", Orientation::Oblique);
  fs::remove(SeriesFiles(directory)[2]);
  ExpectOneLineNaming(ErrorOf([&] { torchseg::ReadCTImage(directory.string()); }), directory.string(), "missing");
}

TEST(DICOMSeriesErrors, InconsistentSpacing)
{
  const fs::path directory = WriteSeries("spacing", Orientation::Identity);
  const auto     file = SeriesFiles(directory)[1];
  auto           p = Position(file);
  p[2] += 0.7; // slice 1 moves 0.7 mm along the normal (spacing 2.5)
  EditFile(file, [&](DcmDataset * ds) { SetPosition(ds, p); });
  ExpectOneLineNaming(
    ErrorOf([&] { torchseg::ReadCTImage(directory.string()); }), directory.string(), "inconsistent slice spacing");
}

TEST(DICOMSeriesErrors, GantryTiltAndShear)
{
  // Positions drifting sideways: a tilted acquisition.
  const fs::path sheared = WriteSeries("sheared", Orientation::Identity);
  const auto     files = SeriesFiles(sheared);
  for (std::size_t k = 0; k < files.size(); ++k)
  {
    auto p = Position(files[k]);
    p[1] += 0.25 * k; // 0.25 mm per 2.5 mm slice: about 5.7 degrees
    EditFile(files[k], [&](DcmDataset * ds) { SetPosition(ds, p); });
  }
  ExpectOneLineNaming(ErrorOf([&] { torchseg::ReadCTImage(sheared.string()); }), sheared.string(), "gantry tilt");

  // The GantryDetectorTilt attribute.
  const fs::path tilted = WriteSeries("tilted", Orientation::Identity);
  for (const auto & file : SeriesFiles(tilted))
  {
    EditFile(file, [](DcmDataset * ds) { ds->putAndInsertString(DCM_GantryDetectorTilt, "12"); });
  }
  ExpectOneLineNaming(ErrorOf([&] { torchseg::ReadCTImage(tilted.string()); }), tilted.string(), "gantry tilt");
}

TEST(DICOMSeriesErrors, MixedOrientations)
{
  const fs::path directory = WriteSeries("orientations", Orientation::Identity);
  EditFile(SeriesFiles(directory)[3],
           [](DcmDataset * ds) { ds->putAndInsertString(DCM_ImageOrientationPatient, "0\\1\\0\\-1\\0\\0"); });
  ExpectOneLineNaming(
    ErrorOf([&] { torchseg::ReadCTImage(directory.string()); }), directory.string(), "mixed orientations");
}

TEST(DICOMSeriesErrors, DuplicatePositions)
{
  const fs::path directory = WriteSeries("duplicate", Orientation::Identity);
  const auto     files = SeriesFiles(directory);
  const auto     p = Position(files[1]);
  EditFile(files[2], [&](DcmDataset * ds) { SetPosition(ds, p); });
  ExpectOneLineNaming(ErrorOf([&] { torchseg::ReadCTImage(directory.string()); }), directory.string(), "same position");
}

TEST(DICOMSeriesErrors, SingleSliceAndMixedSizes)
{
  const fs::path single = OutputPath("single");
  torchseg::WriteDICOMCTSeries(
    MakeCT(Orientation::Identity, { { 8, 8, 1 } }).GetPointer(), single.string(), torchseg::DICOMWriteOptions());
  ExpectOneLineNaming(ErrorOf([&] { torchseg::ReadCTImage(single.string()); }), single.string(), "single slice");

  const fs::path sizes = WriteSeries("sizes", Orientation::Identity);
  EditFile(SeriesFiles(sizes)[0], [](DcmDataset * ds) { ds->putAndInsertString(DCM_Columns, "8"); });
  ExpectOneLineNaming(ErrorOf([&] { torchseg::ReadCTImage(sizes.string()); }), sizes.string(), "mixed image sizes");
}

TEST(DICOMSeriesErrors, TruncatedPixelData)
{
  const fs::path directory = WriteSeries("truncatedpixels", Orientation::Identity);
  const auto     file = SeriesFiles(directory)[2];
  fs::resize_file(file, fs::file_size(file) - 100);
  ExpectOneLineNaming(ErrorOf([&] { torchseg::ReadCTImage(directory.string()); }), directory.string(), "truncated");
}

TEST(DICOMSeriesWriter, ReplacesAnExistingSeriesAndRefusesBadTargets)
{
  const fs::path directory = WriteSeries("replace", Orientation::Identity);
  torchseg::WriteDICOMCTSeries(
    MakeCT(Orientation::Identity, { { 8, 8, 3 } }).GetPointer(), directory.string(), torchseg::DICOMWriteOptions());
  EXPECT_EQ(SeriesFiles(directory).size(), 3u);
  for (const auto & entry : fs::directory_iterator(directory.parent_path()))
  {
    EXPECT_EQ(entry.path().filename().string().find(".DICOMSeriesWriter_ReplacesAnExisting"), std::string::npos)
      << entry.path();
  }

  const fs::path nowhere = OutputPath("no") / "such" / "dir";
  ExpectOneLineNaming(ErrorOf([&] {
                        torchseg::WriteDICOMCTSeries(
                          MakeCT(Orientation::Identity).GetPointer(), nowhere.string(), torchseg::DICOMWriteOptions());
                      }),
                      nowhere.string(),
                      "does not exist");
  EXPECT_FALSE(fs::exists(nowhere));
}
