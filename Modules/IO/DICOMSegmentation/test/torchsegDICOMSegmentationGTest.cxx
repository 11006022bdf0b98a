#include "torchsegDICOMSegmentation.h"
#include "torchsegTestingSupport.h"

#include "itkGDCMImageIO.h"
#include "itkGDCMSeriesFileNames.h"
#include "itkImageSeriesReader.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcuid.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using torchseg::testing::Orientation;

namespace
{

using CTImageType = itk::Image<float, 3>;
using LabelImageType = torchseg::LabelImageType;

constexpr unsigned int kNX = 64;
constexpr unsigned int kNY = 48;
constexpr unsigned int kNZ = 12;

/** The liver box and the tumour box inside it (index ranges, end excluded). Slices 0, 1, 10, 11 are empty. */
uint8_t
PhantomLabel(unsigned int x, unsigned int y, unsigned int z)
{
  if (x >= 20 && x < 28 && y >= 12 && y < 16 && z >= 4 && z < 7)
  {
    return 2;
  }
  if (x >= 5 && x < 40 && y >= 10 && y < 30 && z >= 2 && z < 10)
  {
    return 1;
  }
  return 0;
}

/** What the test knows about a source series it wrote. */
struct SourceSeries
{
  std::string              directory;
  std::string              studyUID;
  std::string              seriesUID;
  std::string              frameOfReferenceUID;
  std::vector<std::string> sopInstanceUIDs; // by slice index of the design grid
};

std::string
NewUID()
{
  char uid[100];
  dcmGenerateUniqueIdentifier(uid);
  return uid;
}

std::string
DS(double v)
{
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.10g", v);
  return buffer;
}

/** Writes a CT Image Storage series on the grid of \a design with DCMTK, one file per slice, file names in an order
 * unrelated to the slice order. */
SourceSeries
WriteSourceSeries(const CTImageType * design, const fs::path & directory, const std::string & studyUID = NewUID(),
                  const std::string & frameOfReferenceUID = NewUID())
{
  fs::create_directories(directory);
  SourceSeries series;
  series.directory = directory.string();
  series.studyUID = studyUID;
  series.seriesUID = NewUID();
  series.frameOfReferenceUID = frameOfReferenceUID;
  const auto   size = design->GetLargestPossibleRegion().GetSize();
  const auto & d = design->GetDirection();
  const auto & s = design->GetSpacing();
  for (unsigned int k = 0; k < size[2]; ++k)
  {
    const std::string sop = NewUID();
    series.sopInstanceUIDs.push_back(sop);
    CTImageType::IndexType index{ { 0, 0, static_cast<itk::IndexValueType>(k) } };
    CTImageType::PointType p;
    design->TransformIndexToPhysicalPoint(index, p);
    DcmFileFormat file;
    DcmDataset *  ds = file.getDataset();
    auto          put = [ds](const DcmTagKey & tag, const std::string & value) {
      ASSERT_TRUE(ds->putAndInsertString(tag, value.c_str()).good()) << DcmTag(tag).getTagName();
    };
    put(DCM_SOPClassUID, UID_CTImageStorage);
    put(DCM_SOPInstanceUID, sop);
    put(DCM_StudyInstanceUID, studyUID);
    put(DCM_SeriesInstanceUID, series.seriesUID);
    put(DCM_FrameOfReferenceUID, frameOfReferenceUID);
    put(DCM_PatientName, "Phantom^Liver");
    put(DCM_PatientID, "TS-DICOMSEG");
    put(DCM_PatientBirthDate, "19700101");
    put(DCM_PatientSex, "O");
    put(DCM_StudyDate, "20240102");
    put(DCM_StudyTime, "101500");
    put(DCM_StudyID, "1");
    put(DCM_AccessionNumber, "A1");
    put(DCM_ReferringPhysicianName, "");
    put(DCM_Modality, "CT");
    put(DCM_Manufacturer, "TorchSeg tests");
    put(DCM_SeriesNumber, "2");
    put(DCM_InstanceNumber, std::to_string(k + 1));
    put(DCM_ImageType, "ORIGINAL\\PRIMARY\\AXIAL");
    put(DCM_PositionReferenceIndicator, "");
    put(DCM_KVP, "120");
    put(DCM_ImagePositionPatient, DS(p[0]) + "\\" + DS(p[1]) + "\\" + DS(p[2]));
    put(DCM_ImageOrientationPatient,
        DS(d(0, 0)) + "\\" + DS(d(1, 0)) + "\\" + DS(d(2, 0)) + "\\" + DS(d(0, 1)) + "\\" + DS(d(1, 1)) + "\\" +
          DS(d(2, 1)));
    put(DCM_PixelSpacing, DS(s[1]) + "\\" + DS(s[0]));
    put(DCM_SliceThickness, DS(s[2]));
    put(DCM_SamplesPerPixel, "1");
    put(DCM_PhotometricInterpretation, "MONOCHROME2");
    put(DCM_RescaleIntercept, "-1024");
    put(DCM_RescaleSlope, "1");
    put(DCM_RescaleType, "HU");
    ds->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(size[1]));
    ds->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(size[0]));
    ds->putAndInsertUint16(DCM_BitsAllocated, 16);
    ds->putAndInsertUint16(DCM_BitsStored, 16);
    ds->putAndInsertUint16(DCM_HighBit, 15);
    ds->putAndInsertUint16(DCM_PixelRepresentation, 1);
    std::vector<Uint16> pixels(size[0] * size[1]);
    for (unsigned int y = 0; y < size[1]; ++y)
    {
      for (unsigned int x = 0; x < size[0]; ++x)
      {
        pixels[y * size[0] + x] = static_cast<Uint16>(1024 + (PhantomLabel(x, y, k) ? 60 * PhantomLabel(x, y, k) : 0));
      }
    }
    EXPECT_TRUE(ds->putAndInsertUint16Array(DCM_PixelData, pixels.data(), pixels.size()).good());
    const unsigned int name = (k * 5 + 3) % static_cast<unsigned int>(size[2]);
    char               fileName[32];
    std::snprintf(fileName, sizeof(fileName), "IM%04u.dcm", name);
    const OFCondition saved = file.saveFile((directory / fileName).string().c_str(), EXS_LittleEndianExplicit);
    EXPECT_TRUE(saved.good()) << saved.text();
  }
  return series;
}

/** The design grid of a test: 64x48x12, anisotropic in-plane spacing so that rows and columns cannot be confused. */
CTImageType::Pointer
MakeDesignGrid(Orientation orientation, unsigned int slices = kNZ)
{
  return torchseg::testing::MakeImage<CTImageType>(
    { { kNX, kNY, slices } }, { { 0.8, 0.7, 2.5 } }, { { -20.5, 15.25, 30.0 } }, orientation);
}

/** The CT as the applications read it: ITK's GDCM series reader. */
CTImageType::Pointer
ReadCTWithITK(const std::string & directory, const std::string & seriesUID)
{
  auto names = itk::GDCMSeriesFileNames::New();
  names->SetUseSeriesDetails(false);
  names->SetDirectory(directory);
  auto reader = itk::ImageSeriesReader<CTImageType>::New();
  reader->SetImageIO(itk::GDCMImageIO::New());
  reader->SetFileNames(names->GetFileNames(seriesUID));
  reader->Update();
  return reader->GetOutput();
}

LabelImageType::Pointer
MakePhantomLabels(const itk::ImageBase<3> * grid)
{
  auto labels = LabelImageType::New();
  labels->CopyInformation(grid);
  labels->SetRegions(grid->GetLargestPossibleRegion());
  labels->Allocate(true);
  const auto size = labels->GetLargestPossibleRegion().GetSize();
  for (unsigned int z = 0; z < size[2]; ++z)
  {
    for (unsigned int y = 0; y < size[1]; ++y)
    {
      for (unsigned int x = 0; x < size[0]; ++x)
      {
        labels->SetPixel({ { x, y, z } }, PhantomLabel(x, y, z));
      }
    }
  }
  return labels;
}

/** Runs dciodvfy; returns its "Error" lines and prints its warnings. */
std::vector<std::string>
Dciodvfy(const fs::path & file, std::vector<std::string> * warnings = nullptr)
{
  std::string output;
  const int   rc = torchseg::testing::RunCommand("dciodvfy '" + file.string() + "'", &output);
  EXPECT_NE(rc, 127) << "dciodvfy is not installed: " << output;
  EXPECT_NE(output.find("Segmentation"), std::string::npos) << "dciodvfy did not recognise the IOD:\n" << output;
  std::vector<std::string> errors;
  std::istringstream       lines(output);
  std::string              line;
  while (std::getline(lines, line))
  {
    if (line.rfind("Error", 0) == 0)
    {
      errors.push_back(line);
    }
    else if (line.rfind("Warning", 0) == 0)
    {
      std::cout << "[dciodvfy] " << line << "\n";
      if (warnings)
      {
        warnings->push_back(line);
      }
    }
  }
  return errors;
}

bool
HaveDciodvfy()
{
  return torchseg::testing::RunCommand("command -v dciodvfy") == 0;
}

std::string
GetString(DcmItem * item, const DcmTagKey & tag, unsigned long pos = 0)
{
  OFString value;
  item->findAndGetOFString(tag, value, pos);
  return value.c_str();
}

/** One frame of a written SEG as DCMTK-independent facts: segment, position and referenced source instance. */
struct FrameFacts
{
  unsigned int segment = 0;
  double       position[3] = { 0, 0, 0 };
  std::string  sourceInstance;
  std::string  sourceClass;
};

std::vector<FrameFacts>
ReadFrameFacts(DcmDataset * ds)
{
  std::vector<FrameFacts> frames;
  DcmSequenceOfItems *    perFrame = nullptr;
  EXPECT_TRUE(ds->findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, perFrame).good());
  if (!perFrame)
  {
    return frames;
  }
  for (unsigned long i = 0; i < perFrame->card(); ++i)
  {
    DcmItem *  item = perFrame->getItem(i);
    FrameFacts f;
    DcmItem *  sub = nullptr;
    Uint16     number = 0;
    if (item->findAndGetSequenceItem(DCM_SegmentIdentificationSequence, sub, 0).good())
    {
      sub->findAndGetUint16(DCM_ReferencedSegmentNumber, number);
    }
    f.segment = number;
    if (item->findAndGetSequenceItem(DCM_PlanePositionSequence, sub, 0).good())
    {
      for (unsigned int c = 0; c < 3; ++c)
      {
        sub->findAndGetFloat64(DCM_ImagePositionPatient, f.position[c], c);
      }
    }
    DcmItem * derivation = nullptr;
    DcmItem * source = nullptr;
    if (item->findAndGetSequenceItem(DCM_DerivationImageSequence, derivation, 0).good() &&
        derivation->findAndGetSequenceItem(DCM_SourceImageSequence, source, 0).good())
    {
      f.sourceInstance = GetString(source, DCM_ReferencedSOPInstanceUID);
      f.sourceClass = GetString(source, DCM_ReferencedSOPClassUID);
    }
    frames.push_back(f);
  }
  return frames;
}

/** The slice of the grid a position lies on (nearest), by projection on the third direction column. */
long
SliceOf(const itk::ImageBase<3> * grid, const double * p)
{
  const auto & d = grid->GetDirection();
  double       along = 0.0;
  for (unsigned int r = 0; r < 3; ++r)
  {
    along += (p[r] - grid->GetOrigin()[r]) * d(r, 2);
  }
  return std::lround(along / grid->GetSpacing()[2]);
}

std::size_t
CountDifferences(const LabelImageType * a, const LabelImageType * b)
{
  std::size_t       n = 0;
  const std::size_t count = a->GetLargestPossibleRegion().GetNumberOfPixels();
  for (std::size_t i = 0; i < count; ++i)
  {
    n += a->GetBufferPointer()[i] != b->GetBufferPointer()[i];
  }
  return n;
}

class DICOMSegmentationGeometry : public ::testing::TestWithParam<Orientation>
{};

} // namespace

TEST(DICOMSegmentation, CIELabColoursRoundTripAndWhiteIsNeutral)
{
  const auto white = torchseg::RGBToDICOMLab({ { 255, 255, 255 } });
  EXPECT_NEAR(white[0], 65535, 2);
  // a* = b* = 0 -> (0 + 128) * 65535 / 255 = 32896; DCMTK's D65 constants leave white 0.015 off neutral.
  EXPECT_NEAR(white[1], 32896, 8);
  EXPECT_NEAR(white[2], 32896, 8);
  const auto black = torchseg::RGBToDICOMLab({ { 0, 0, 0 } });
  EXPECT_NEAR(black[0], 0, 2);
  for (const auto & entry : torchseg::LabelTable::LiverTumour().GetLabels())
  {
    const auto back = torchseg::DICOMLabToRGB(torchseg::RGBToDICOMLab(entry.color));
    for (unsigned int c = 0; c < 3; ++c)
    {
      EXPECT_NEAR(back[c], entry.color[c], 1) << entry.name << " component " << c;
    }
  }
}

TEST_P(DICOMSegmentationGeometry, BinaryRoundTripReferencesTheSourceSlices)
{
  const Orientation  orientation = GetParam();
  const fs::path     dir = torchseg::testing::OutputPath("ct");
  const SourceSeries source = WriteSourceSeries(MakeDesignGrid(orientation), dir);
  const auto         ct = ReadCTWithITK(source.directory, source.seriesUID);
  // The grid ITK gives the series is the design grid: the premise of every other check.
  const auto design = MakeDesignGrid(orientation);
  for (unsigned int i = 0; i < 3; ++i)
  {
    EXPECT_NEAR(ct->GetOrigin()[i], design->GetOrigin()[i], 1e-4);
    EXPECT_NEAR(ct->GetSpacing()[i], design->GetSpacing()[i], 1e-4);
    for (unsigned int j = 0; j < 3; ++j)
    {
      EXPECT_NEAR(ct->GetDirection()(i, j), design->GetDirection()(i, j), 1e-5);
    }
  }
  // ITK reads the pixels the test wrote where the phantom puts them (60 HU per label value).
  std::size_t misplaced = 0;
  for (unsigned int z = 0; z < kNZ; ++z)
  {
    for (unsigned int y = 0; y < kNY; ++y)
    {
      for (unsigned int x = 0; x < kNX; ++x)
      {
        misplaced += ct->GetPixel({ { x, y, z } }) != 60.0f * PhantomLabel(x, y, z);
      }
    }
  }
  EXPECT_EQ(misplaced, 0u);
  const auto labels = MakePhantomLabels(ct);
  const auto table = torchseg::LabelTable::LiverTumour();

  const fs::path                     output = torchseg::testing::OutputPath("seg.dcm");
  torchseg::DICOMSegmentationOptions options;
  options.seriesDescription = "Liver and tumour";
  options.seriesNumber = 301;
  ASSERT_NO_THROW(torchseg::WriteDICOMSegmentation(labels, source.directory, output.string(), table, options));
  ASSERT_TRUE(fs::exists(output));

  // Validity.
  if (HaveDciodvfy())
  {
    const auto errors = Dciodvfy(output);
    EXPECT_TRUE(errors.empty()) << errors.size() << " errors, first: " << errors.front();
  }

  // Round trip, with and without a table.
  const auto back = torchseg::ReadDICOMSegmentation(output.string(), ct, table);
  ASSERT_TRUE(back.labels);
  EXPECT_EQ(back.labels->GetLargestPossibleRegion(), labels->GetLargestPossibleRegion());
  EXPECT_EQ(CountDifferences(back.labels, labels), 0u);
  EXPECT_EQ(back.type, torchseg::DICOMSegmentationType::Binary);
  EXPECT_FALSE(back.fractions);
  EXPECT_EQ(back.referencedSeriesInstanceUID, source.seriesUID);
  EXPECT_EQ(back.seriesDescription, "Liver and tumour");
  ASSERT_EQ(back.table.size(), 2u);
  for (const auto & expected : table.GetLabels())
  {
    const torchseg::LabelInfo * got = back.table.Find(expected.value);
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(got->name, expected.name);
    EXPECT_EQ(got->type.value, expected.type.value);
    EXPECT_EQ(got->type.scheme, expected.type.scheme);
    EXPECT_EQ(got->category.value, expected.category.value);
    for (unsigned int c = 0; c < 3; ++c)
    {
      EXPECT_NEAR(got->color[c], expected.color[c], 1);
    }
  }
  const auto byNumber = torchseg::ReadDICOMSegmentation(output.string(), ct);
  EXPECT_EQ(CountDifferences(byNumber.labels, labels), 0u); // the LiTS table's segment numbers are its values

  // The dataset itself.
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(output.string().c_str()).good());
  DcmDataset * ds = file.getDataset();
  EXPECT_EQ(GetString(ds, DCM_SOPClassUID), UID_SegmentationStorage);
  EXPECT_EQ(GetString(ds, DCM_Modality), "SEG");
  EXPECT_EQ(GetString(ds, DCM_SegmentationType), "BINARY");
  EXPECT_EQ(GetString(ds, DCM_StudyInstanceUID), source.studyUID);
  EXPECT_EQ(GetString(ds, DCM_FrameOfReferenceUID), source.frameOfReferenceUID);
  EXPECT_EQ(GetString(ds, DCM_PatientID), "TS-DICOMSEG");
  EXPECT_EQ(GetString(ds, DCM_PatientName), "Phantom^Liver");
  EXPECT_EQ(GetString(ds, DCM_SeriesNumber), "301");
  EXPECT_NE(GetString(ds, DCM_SeriesInstanceUID), source.seriesUID);
  EXPECT_EQ(GetString(ds, DCM_ContentCreatorName), "TorchSeg^");

  // ReferencedSeriesSequence: the source series and all its instances.
  DcmItem * referenced = nullptr;
  ASSERT_TRUE(ds->findAndGetSequenceItem(DCM_ReferencedSeriesSequence, referenced, 0).good());
  EXPECT_EQ(GetString(referenced, DCM_SeriesInstanceUID), source.seriesUID);
  DcmSequenceOfItems * instances = nullptr;
  ASSERT_TRUE(referenced->findAndGetSequence(DCM_ReferencedInstanceSequence, instances).good());
  std::set<std::string> listed;
  for (unsigned long i = 0; i < instances->card(); ++i)
  {
    listed.insert(GetString(instances->getItem(i), DCM_ReferencedSOPInstanceUID));
    EXPECT_EQ(GetString(instances->getItem(i), DCM_ReferencedSOPClassUID), UID_CTImageStorage);
  }
  EXPECT_EQ(listed, std::set<std::string>(source.sopInstanceUIDs.begin(), source.sopInstanceUIDs.end()));

  // Segments: labels, codes, algorithm.
  DcmSequenceOfItems * segments = nullptr;
  ASSERT_TRUE(ds->findAndGetSequence(DCM_SegmentSequence, segments).good());
  ASSERT_EQ(segments->card(), 2u);
  for (unsigned long i = 0; i < 2; ++i)
  {
    DcmItem *                   item = segments->getItem(i);
    const torchseg::LabelInfo & expected = table.GetLabels()[i];
    Uint16                      number = 0;
    item->findAndGetUint16(DCM_SegmentNumber, number);
    EXPECT_EQ(number, i + 1);
    EXPECT_EQ(GetString(item, DCM_SegmentLabel), expected.name);
    EXPECT_EQ(GetString(item, DCM_SegmentAlgorithmType), "AUTOMATIC");
    EXPECT_EQ(GetString(item, DCM_SegmentAlgorithmName), "TorchSeg");
    DcmItem * code = nullptr;
    ASSERT_TRUE(item->findAndGetSequenceItem(DCM_SegmentedPropertyTypeCodeSequence, code, 0).good());
    EXPECT_EQ(GetString(code, DCM_CodeValue), expected.type.value);
    EXPECT_EQ(GetString(code, DCM_CodingSchemeDesignator), "SCT");
    EXPECT_EQ(GetString(code, DCM_CodeMeaning), expected.type.meaning);
    ASSERT_TRUE(item->findAndGetSequenceItem(DCM_SegmentedPropertyCategoryCodeSequence, code, 0).good());
    EXPECT_EQ(GetString(code, DCM_CodeValue), expected.category.value);
    const auto lab = torchseg::RGBToDICOMLab(expected.color);
    for (unsigned int c = 0; c < 3; ++c)
    {
      Uint16 v = 0;
      item->findAndGetUint16(DCM_RecommendedDisplayCIELabValue, v, c);
      EXPECT_EQ(v, lab[c]);
    }
  }

  // Frames: exactly the non-empty (segment, slice) pairs: liver on slices 2..9, tumour on 4..6; each references
  // the source instance of its slice, and lies where that slice lies.
  const auto                              frames = ReadFrameFacts(ds);
  std::set<std::pair<unsigned int, long>> expectedFrames;
  for (long k = 2; k < 10; ++k)
  {
    expectedFrames.insert({ 1u, k });
  }
  for (long k = 4; k < 7; ++k)
  {
    expectedFrames.insert({ 2u, k });
  }
  std::set<std::pair<unsigned int, long>> gotFrames;
  for (const auto & f : frames)
  {
    const long k = SliceOf(ct, f.position);
    ASSERT_GE(k, 0);
    ASSERT_LT(k, static_cast<long>(kNZ));
    gotFrames.insert({ f.segment, k });
    EXPECT_EQ(f.sourceInstance, source.sopInstanceUIDs[k]) << "frame of segment " << f.segment << " on slice " << k;
    EXPECT_EQ(f.sourceClass, UID_CTImageStorage);
    CTImageType::PointType p;
    ct->TransformIndexToPhysicalPoint({ { 0, 0, k } }, p);
    for (unsigned int c = 0; c < 3; ++c)
    {
      EXPECT_NEAR(f.position[c], p[c], 1e-4);
    }
  }
  EXPECT_EQ(frames.size(), 11u);
  EXPECT_EQ(gotFrames, expectedFrames);

  // The packed pixel data, decoded here (PS3.5 8.1.1: frames concatenated bit after bit, first pixel in the least
  // significant bit; pixels row by row, the column index along the first ImageOrientationPatient vector).
  const Uint8 * bits = nullptr;
  unsigned long length = 0;
  ASSERT_TRUE(ds->findAndGetUint8Array(DCM_PixelData, bits, &length).good());
  ASSERT_GE(length * 8, frames.size() * kNX * kNY);
  std::size_t wrongBits = 0;
  for (std::size_t f = 0; f < frames.size(); ++f)
  {
    const long k = SliceOf(ct, frames[f].position);
    for (unsigned int y = 0; y < kNY; ++y)
    {
      for (unsigned int x = 0; x < kNX; ++x)
      {
        const std::size_t bit = f * kNX * kNY + y * kNX + x;
        const bool        set = (bits[bit / 8] >> (bit % 8)) & 1u;
        wrongBits += set != (PhantomLabel(x, y, static_cast<unsigned int>(k)) == frames[f].segment);
      }
    }
  }
  EXPECT_EQ(wrongBits, 0u);

  // Shared groups: orientation and spacing of the CT.
  DcmItem * shared = nullptr;
  ASSERT_TRUE(ds->findAndGetSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0).good());
  DcmItem * measures = nullptr;
  ASSERT_TRUE(shared->findAndGetSequenceItem(DCM_PixelMeasuresSequence, measures, 0).good());
  Float64 rowSpacing = 0;
  Float64 columnSpacing = 0;
  Float64 between = 0;
  measures->findAndGetFloat64(DCM_PixelSpacing, rowSpacing, 0);
  measures->findAndGetFloat64(DCM_PixelSpacing, columnSpacing, 1);
  measures->findAndGetFloat64(DCM_SpacingBetweenSlices, between);
  EXPECT_NEAR(rowSpacing, 0.7, 1e-6);
  EXPECT_NEAR(columnSpacing, 0.8, 1e-6);
  EXPECT_NEAR(between, 2.5, 1e-6);
  DcmItem * planeOrientation = nullptr;
  ASSERT_TRUE(shared->findAndGetSequenceItem(DCM_PlaneOrientationSequence, planeOrientation, 0).good());
  for (unsigned int c = 0; c < 6; ++c)
  {
    Float64 v = 0;
    planeOrientation->findAndGetFloat64(DCM_ImageOrientationPatient, v, c);
    EXPECT_NEAR(v, ct->GetDirection()(c % 3, c / 3), 1e-6);
  }
}

INSTANTIATE_TEST_SUITE_P(Orientations, DICOMSegmentationGeometry,
                         ::testing::Values(Orientation::Identity, Orientation::Flipped, Orientation::Oblique),
                         [](const ::testing::TestParamInfo<Orientation> & info) {
                           return info.param == Orientation::Identity
                                    ? std::string("Identity")
                                    : (info.param == Orientation::Flipped ? "Flipped" : "Oblique");
                         });

// The application path: a series written by torchseg::WriteDICOMCTSeries, read by torchseg::ReadCTImage.
TEST_P(DICOMSegmentationGeometry, RoundTripOnTheToolkitsOwnDICOMSeries)
{
  const auto design = MakeDesignGrid(GetParam());
  auto       stored = torchseg::CTStorageImageType::New();
  stored->CopyInformation(design);
  stored->SetRegions(design->GetLargestPossibleRegion());
  stored->Allocate(true);
  const fs::path              dir = torchseg::testing::OutputPath("ct");
  torchseg::DICOMWriteOptions ctOptions;
  ctOptions.uidSeed = 7;
  torchseg::WriteDICOMCTSeries(stored, dir.string(), ctOptions);
  const auto ct = torchseg::ReadCTImage(dir.string());
  const auto labels = MakePhantomLabels(ct);

  const fs::path                     output = torchseg::testing::OutputPath("seg.dcm");
  torchseg::DICOMSegmentationOptions options;
  options.uidSeed = 11;
  torchseg::WriteDICOMSegmentation(labels, dir.string(), output.string(), torchseg::LabelTable::LiverTumour(), options);
  if (HaveDciodvfy())
  {
    const auto errors = Dciodvfy(output);
    EXPECT_TRUE(errors.empty()) << errors.size() << " errors, first: " << errors.front();
  }
  const auto back = torchseg::ReadDICOMSegmentation(output.string(), ct, torchseg::LabelTable::LiverTumour());
  EXPECT_EQ(CountDifferences(back.labels, labels), 0u);

  // Every frame references the instance whose position is the frame's position.
  const auto    instances = torchseg::MatchDICOMSeriesToGrid(ct, dir.string());
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(output.string().c_str()).good());
  EXPECT_EQ(GetString(file.getDataset(), DCM_SeriesInstanceUID).rfind("2.25.", 0), 0u);
  const auto frames = ReadFrameFacts(file.getDataset());
  EXPECT_EQ(frames.size(), 11u);
  for (const auto & f : frames)
  {
    const long k = SliceOf(ct, f.position);
    ASSERT_TRUE(k >= 0 && k < static_cast<long>(kNZ));
    DcmFileFormat sourceFile;
    ASSERT_TRUE(sourceFile.loadFile(instances[k].fileName.c_str()).good());
    EXPECT_EQ(f.sourceInstance, GetString(sourceFile.getDataset(), DCM_SOPInstanceUID));
    double position[3];
    for (unsigned int c = 0; c < 3; ++c)
    {
      sourceFile.getDataset()->findAndGetFloat64(DCM_ImagePositionPatient, position[c], c);
      EXPECT_NEAR(position[c], f.position[c], 1e-6);
    }
  }
}

TEST(DICOMSegmentation, FractionalProbabilitiesRoundTripWithinHalfAQuantum)
{
  const fs::path     dir = torchseg::testing::OutputPath("ct");
  const SourceSeries source = WriteSourceSeries(MakeDesignGrid(Orientation::Oblique), dir);
  const auto         ct = ReadCTWithITK(source.directory, source.seriesUID);
  const auto         labels = MakePhantomLabels(ct);

  // Softmax-like probabilities whose argmax is the phantom label, with a voxel-dependent ripple so that the
  // quantisation is exercised at many levels; none on slices 0 and 11, so that those carry no frames.
  auto probabilities = torchseg::ProbabilityImageType::New();
  probabilities->CopyInformation(ct);
  probabilities->SetRegions(ct->GetLargestPossibleRegion());
  probabilities->SetNumberOfComponentsPerPixel(3);
  probabilities->Allocate();
  for (unsigned int z = 0; z < kNZ; ++z)
  {
    for (unsigned int y = 0; y < kNY; ++y)
    {
      for (unsigned int x = 0; x < kNX; ++x)
      {
        const float ripple = static_cast<float>((x * 7 + y * 13 + z * 29) % 97) / 97.0f * 0.1f;
        float       p1 = 0.0f;
        float       p2 = 0.0f;
        if (z > 0 && z + 1 < kNZ)
        {
          switch (PhantomLabel(x, y, z))
          {
            case 1:
              p1 = 0.75f + ripple;
              p2 = 0.02f;
              break;
            case 2:
              p1 = 0.1f;
              p2 = 0.8f + ripple;
              break;
            default:
              p1 = 0.05f + ripple;
              p2 = 0.01f;
          }
        }
        itk::VariableLengthVector<float> v(3);
        v[0] = 1.0f - p1 - p2;
        v[1] = p1;
        v[2] = p2;
        probabilities->SetPixel({ { x, y, z } }, v);
      }
    }
  }
  const fs::path output = torchseg::testing::OutputPath("fractional.dcm");
  ASSERT_NO_THROW(torchseg::WriteDICOMSegmentation(
    probabilities.GetPointer(), source.directory, output.string(), torchseg::LabelTable::LiverTumour()));
  if (HaveDciodvfy())
  {
    const auto errors = Dciodvfy(output);
    EXPECT_TRUE(errors.empty()) << errors.size() << " errors, first: " << errors.front();
  }
  const auto back = torchseg::ReadDICOMSegmentation(output.string(), ct, torchseg::LabelTable::LiverTumour());
  EXPECT_EQ(back.type, torchseg::DICOMSegmentationType::Fractional);
  EXPECT_EQ(back.maximumFractionalValue, 255u);
  ASSERT_TRUE(back.fractions);
  ASSERT_EQ(back.fractions->GetNumberOfComponentsPerPixel(), 3u);
  EXPECT_EQ(CountDifferences(back.labels, labels), 0u);
  double worst = 0.0;
  for (unsigned int z = 0; z < kNZ; ++z)
  {
    for (unsigned int y = 0; y < kNY; ++y)
    {
      for (unsigned int x = 0; x < kNX; ++x)
      {
        const auto expected = probabilities->GetPixel({ { x, y, z } });
        const auto got = back.fractions->GetPixel({ { x, y, z } });
        for (unsigned int c = 1; c < 3; ++c)
        {
          worst = std::max(worst, std::abs(static_cast<double>(got[c]) - expected[c]));
        }
        EXPECT_NEAR(got[0], std::max(0.0f, 1.0f - got[1] - got[2]), 1e-6);
      }
    }
  }
  std::cout << "worst fraction error " << worst << " (half a quantum: " << 0.5 / 255.0 << ")\n";
  EXPECT_LE(worst, 0.5 / 255.0 + 1e-6);
  EXPECT_GT(worst, 0.1 / 255.0); // the values really were quantised

  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(output.string().c_str()).good());
  EXPECT_EQ(GetString(file.getDataset(), DCM_SegmentationType), "FRACTIONAL");
  EXPECT_EQ(GetString(file.getDataset(), DCM_SegmentationFractionalType), "PROBABILITY");
  const auto frames = ReadFrameFacts(file.getDataset());
  EXPECT_EQ(frames.size(), 2u * (kNZ - 2)); // both classes on slices 1..10
  for (const auto & f : frames)
  {
    const long k = SliceOf(ct, f.position);
    EXPECT_TRUE(k >= 1 && k <= 10) << k;
    EXPECT_EQ(f.sourceInstance, source.sopInstanceUIDs[k]);
  }
}

TEST(DICOMSegmentation, LabelMapWrittenAsFractionalReadsBackExactly)
{
  const SourceSeries source =
    WriteSourceSeries(MakeDesignGrid(Orientation::Flipped), torchseg::testing::OutputPath("ct"));
  const auto                         ct = ReadCTWithITK(source.directory, source.seriesUID);
  const auto                         labels = MakePhantomLabels(ct);
  const fs::path                     output = torchseg::testing::OutputPath("seg.dcm");
  torchseg::DICOMSegmentationOptions options;
  options.type = torchseg::DICOMSegmentationType::Fractional;
  torchseg::WriteDICOMSegmentation(
    labels, source.directory, output.string(), torchseg::LabelTable::LiverTumour(), options);
  if (HaveDciodvfy())
  {
    const auto errors = Dciodvfy(output);
    EXPECT_TRUE(errors.empty()) << errors.size() << " errors, first: " << errors.front();
  }
  const auto back = torchseg::ReadDICOMSegmentation(output.string(), ct);
  EXPECT_EQ(back.type, torchseg::DICOMSegmentationType::Fractional);
  EXPECT_EQ(CountDifferences(back.labels, labels), 0u);
}

TEST(DICOMSegmentation, GenericSegmentsAndNonContiguousValuesKeepTheirLabelValues)
{
  const SourceSeries source =
    WriteSourceSeries(MakeDesignGrid(Orientation::Identity), torchseg::testing::OutputPath("ct"));
  const auto ct = ReadCTWithITK(source.directory, source.seriesUID);
  auto       labels = MakePhantomLabels(ct);
  // Values 1 (liver), 3 (a class without codes) and 7 (no table entry).
  for (unsigned int x = 50; x < 60; ++x)
  {
    labels->SetPixel({ { x, 40, 1 } }, 3);
    labels->SetPixel({ { x, 41, 11 } }, 7);
  }
  for (unsigned int x = 20; x < 28; ++x) // the tumour becomes class 3 too
  {
    for (unsigned int y = 12; y < 16; ++y)
    {
      for (unsigned int z = 4; z < 7; ++z)
      {
        labels->SetPixel({ { x, y, z } }, 3);
      }
    }
  }
  torchseg::LabelTable table;
  table.Set(torchseg::LabelTable::LiverTumour().GetLabels()[0]);
  torchseg::LabelInfo vessel;
  vessel.value = 3;
  vessel.name = "vaisseau hépatique"; // not ASCII: written as UTF-8 (ISO_IR 192)
  vessel.color = { { 0, 151, 206 } };
  table.Set(vessel);

  const fs::path output = torchseg::testing::OutputPath("seg.dcm");
  torchseg::WriteDICOMSegmentation(labels, source.directory, output.string(), table);
  if (HaveDciodvfy())
  {
    const auto errors = Dciodvfy(output);
    EXPECT_TRUE(errors.empty()) << errors.size() << " errors, first: " << errors.front();
  }
  const auto back = torchseg::ReadDICOMSegmentation(output.string(), ct, table);
  EXPECT_EQ(CountDifferences(back.labels, labels), 0u);
  ASSERT_EQ(back.table.size(), 3u);
  EXPECT_EQ(back.table.GetName(3), "vaisseau hépatique");
  EXPECT_EQ(back.table.Find(3)->type.value, "85756007"); // generic "Tissue" codes for a class without codes
  EXPECT_EQ(back.table.GetName(7), "label 7");

  // Without a table: segment numbers (1 liver, 2 vessel), except the writer's generic "label 7".
  const auto byNumber = torchseg::ReadDICOMSegmentation(output.string(), ct);
  EXPECT_EQ(byNumber.labels->GetPixel({ { 22, 13, 5 } }), 2);
  EXPECT_EQ(byNumber.labels->GetPixel({ { 10, 20, 5 } }), 1);
  EXPECT_EQ(byNumber.labels->GetPixel({ { 55, 41, 11 } }), 7);
  EXPECT_EQ(byNumber.table.GetName(2), "vaisseau hépatique");
}

// A label grid that walks the slices in the opposite order (last slice first, third axis reversed) is matched by
// position, not by index: reading it back onto the CT grid gives the phantom.
TEST(DICOMSegmentation, ReversedSliceOrderIsMatchedByPosition)
{
  const SourceSeries source =
    WriteSourceSeries(MakeDesignGrid(Orientation::Oblique), torchseg::testing::OutputPath("ct"));
  const auto ct = ReadCTWithITK(source.directory, source.seriesUID);
  auto       reversed = LabelImageType::New();
  reversed->SetRegions(ct->GetLargestPossibleRegion());
  reversed->SetSpacing(ct->GetSpacing());
  CTImageType::PointType last;
  ct->TransformIndexToPhysicalPoint({ { 0, 0, kNZ - 1 } }, last);
  reversed->SetOrigin(last);
  auto direction = ct->GetDirection();
  for (unsigned int r = 0; r < 3; ++r)
  {
    direction(r, 2) = -direction(r, 2);
  }
  reversed->SetDirection(direction);
  reversed->Allocate(true);
  for (unsigned int z = 0; z < kNZ; ++z)
  {
    for (unsigned int y = 0; y < kNY; ++y)
    {
      for (unsigned int x = 0; x < kNX; ++x)
      {
        reversed->SetPixel({ { x, y, kNZ - 1 - z } }, PhantomLabel(x, y, z));
      }
    }
  }
  const fs::path output = torchseg::testing::OutputPath("seg.dcm");
  torchseg::WriteDICOMSegmentation(reversed, source.directory, output.string(), torchseg::LabelTable::LiverTumour());
  const auto back = torchseg::ReadDICOMSegmentation(output.string(), ct);
  EXPECT_EQ(CountDifferences(back.labels, MakePhantomLabels(ct)), 0u);
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(output.string().c_str()).good());
  for (const auto & f : ReadFrameFacts(file.getDataset()))
  {
    EXPECT_EQ(f.sourceInstance, source.sopInstanceUIDs[SliceOf(ct, f.position)]);
  }
}

TEST(DICOMSegmentation, AbsentSegmentsGetOneEmptyFrame)
{
  const SourceSeries source =
    WriteSourceSeries(MakeDesignGrid(Orientation::Identity), torchseg::testing::OutputPath("ct"));
  const auto ct = ReadCTWithITK(source.directory, source.seriesUID);
  auto       labels = MakePhantomLabels(ct);
  labels->FillBuffer(0);
  const fs::path output = torchseg::testing::OutputPath("seg.dcm");
  torchseg::WriteDICOMSegmentation(labels, source.directory, output.string(), torchseg::LabelTable::LiverTumour());
  if (HaveDciodvfy())
  {
    const auto errors = Dciodvfy(output);
    EXPECT_TRUE(errors.empty()) << errors.size() << " errors, first: " << errors.front();
  }
  const auto back = torchseg::ReadDICOMSegmentation(output.string(), ct);
  EXPECT_EQ(CountDifferences(back.labels, labels), 0u);
  EXPECT_EQ(back.table.size(), 2u);
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(output.string().c_str()).good());
  const auto frames = ReadFrameFacts(file.getDataset());
  ASSERT_EQ(frames.size(), 2u);
  for (unsigned int s = 0; s < 2; ++s)
  {
    EXPECT_EQ(frames[s].segment, s + 1);
    EXPECT_EQ(SliceOf(ct, frames[s].position), 0);
    EXPECT_EQ(frames[s].sourceInstance, source.sopInstanceUIDs[0]);
  }
}

TEST(DICOMSegmentation, PicksTheMatchingSeriesOfADirectory)
{
  const fs::path     dir = torchseg::testing::OutputPath("ct");
  const SourceSeries wanted = WriteSourceSeries(MakeDesignGrid(Orientation::Oblique), dir);
  // A larger series of the same study in the same directory, on another grid.
  const SourceSeries other = WriteSourceSeries(
    MakeDesignGrid(Orientation::Identity, kNZ + 3), dir / "other", wanted.studyUID, wanted.frameOfReferenceUID);
  for (const auto & entry : fs::directory_iterator(dir / "other"))
  {
    fs::rename(entry.path(), dir / ("other_" + entry.path().filename().string()));
  }
  fs::remove(dir / "other");
  const auto ct = ReadCTWithITK(wanted.directory, wanted.seriesUID);
  const auto matched = torchseg::MatchDICOMSeriesToGrid(ct, dir.string());
  ASSERT_EQ(matched.size(), kNZ);
  for (unsigned int k = 0; k < kNZ; ++k)
  {
    EXPECT_EQ(matched[k].sopInstanceUID, wanted.sopInstanceUIDs[k]);
    EXPECT_EQ(matched[k].seriesInstanceUID, wanted.seriesUID);
  }
  // Naming the other series is an error that names it.
  try
  {
    torchseg::MatchDICOMSeriesToGrid(ct, dir.string(), other.seriesUID);
    FAIL() << "the other series was matched";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find(other.seriesUID), std::string::npos) << e.GetDescription();
  }
}

TEST(DICOMSegmentation, ErrorsNameTheFaultAndLeaveNoOutput)
{
  const fs::path     dir = torchseg::testing::OutputPath("ct");
  const SourceSeries source = WriteSourceSeries(MakeDesignGrid(Orientation::Flipped), dir);
  const auto         ct = ReadCTWithITK(source.directory, source.seriesUID);
  const auto         table = torchseg::LabelTable::LiverTumour();
  const fs::path     output = torchseg::testing::OutputPath("seg.dcm");

  auto expectFailure = [&](const LabelImageType *           labels,
                           const std::string &              directory,
                           const fs::path &                 out,
                           const std::vector<std::string> & mentions) {
    try
    {
      torchseg::WriteDICOMSegmentation(labels, directory, out.string(), table);
      ADD_FAILURE() << "no error for " << out;
    }
    catch (const itk::ExceptionObject & e)
    {
      const std::string message = e.GetDescription();
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
      for (const auto & m : mentions)
      {
        EXPECT_NE(message.find(m), std::string::npos) << "\"" << m << "\" not in: " << message;
      }
    }
    EXPECT_FALSE(fs::exists(out));
    const std::string temporaryPrefix = "." + out.stem().string() + ".tmp";
    for (const auto & entry : fs::directory_iterator(out.parent_path()))
    {
      EXPECT_NE(entry.path().filename().string().rfind(temporaryPrefix, 0), 0u) << "left behind: " << entry.path();
    }
  };

  // One slice too many.
  {
    auto grid = MakeDesignGrid(Orientation::Flipped, kNZ + 1);
    auto labels = MakePhantomLabels(grid);
    expectFailure(labels, source.directory, output, { source.directory, "13 slices", "size 64x48x13" });
  }
  // Shifted by half a slice along the normal.
  {
    auto                   labels = MakePhantomLabels(ct);
    CTImageType::PointType origin = ct->GetOrigin();
    for (unsigned int r = 0; r < 3; ++r)
    {
      origin[r] += 0.5 * 2.5 * ct->GetDirection()(r, 2);
    }
    labels->SetOrigin(origin);
    expectFailure(labels, source.directory, output, { source.directory, "lies on no slice" });
  }
  // Transposed in-plane spacing.
  {
    auto                        labels = MakePhantomLabels(ct);
    LabelImageType::SpacingType spacing = ct->GetSpacing();
    std::swap(spacing[0], spacing[1]);
    labels->SetSpacing(spacing);
    expectFailure(labels, source.directory, output, { source.directory, "PixelSpacing" });
  }
  const auto labels = MakePhantomLabels(ct);
  // A directory without DICOM files.
  {
    const fs::path empty = torchseg::testing::OutputPath("notdicom");
    fs::create_directories(empty);
    std::ofstream(empty / "readme.txt") << "not DICOM\n";
    expectFailure(labels, empty.string(), output, { empty.string(), "No DICOM image" });
  }
  // A directory that does not exist.
  expectFailure(labels, (dir / "missing").string(), output, { (dir / "missing").string(), "does not exist" });
  // An output directory that does not exist.
  const fs::path nowhere = torchseg::testing::OutputPath("nowhere") / "seg.dcm";
  try
  {
    torchseg::WriteDICOMSegmentation(labels, source.directory, nowhere.string(), table);
    ADD_FAILURE() << "no error for " << nowhere;
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find(nowhere.string()), std::string::npos) << e.GetDescription();
  }
  EXPECT_FALSE(fs::exists(nowhere));
}

TEST(DICOMSegmentation, ReadingRefusesWrongFilesAndGrids)
{
  const SourceSeries source =
    WriteSourceSeries(MakeDesignGrid(Orientation::Oblique), torchseg::testing::OutputPath("ct"));
  const auto     ct = ReadCTWithITK(source.directory, source.seriesUID);
  const fs::path output = torchseg::testing::OutputPath("seg.dcm");
  torchseg::WriteDICOMSegmentation(
    MakePhantomLabels(ct), source.directory, output.string(), torchseg::LabelTable::LiverTumour());
  auto expectFailure = [&](const std::string & file, const itk::ImageBase<3> * grid, const std::string & mention) {
    try
    {
      torchseg::ReadDICOMSegmentation(file, grid);
      ADD_FAILURE() << "no error reading " << file;
    }
    catch (const itk::ExceptionObject & e)
    {
      const std::string message = e.GetDescription();
      EXPECT_NE(message.find(file), std::string::npos) << message;
      EXPECT_NE(message.find(mention), std::string::npos) << message;
    }
  };
  expectFailure((fs::path(source.directory) / "IM0003.dcm").string(), ct, "not Segmentation Storage");
  expectFailure(output.string() + ".missing", ct, "does not exist");
  auto shifted = MakePhantomLabels(ct);
  auto origin = ct->GetOrigin();
  origin[0] += 3.0; // in-plane shift: positions project onto slices but the first voxel differs
  shifted->SetOrigin(origin);
  expectFailure(output.string(), shifted, "lies on no slice");
  auto identity = MakePhantomLabels(MakeDesignGrid(Orientation::Identity));
  expectFailure(output.string(), identity, "orientation");
}
