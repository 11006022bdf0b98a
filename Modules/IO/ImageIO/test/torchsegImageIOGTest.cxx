#include "torchsegImageIO.h"
#include "torchsegTestingSupport.h"

#include "itkImageRegionIteratorWithIndex.h"

#include "gtest/gtest.h"

#include <fstream>
#include <map>
#include <sstream>

namespace fs = std::filesystem;
using torchseg::testing::ReadText;
using torchseg::testing::MakeImage;
using torchseg::testing::Orientation;
using torchseg::testing::OutputPath;

namespace
{

const Orientation AllOrientations[] = { Orientation::Identity, Orientation::Flipped, Orientation::Oblique };

/** A small CT-like int16 volume whose every voxel value is a known function of its index. */
torchseg::CTStorageImageType::Pointer
MakeCT(Orientation orientation, itk::Size<3> size = { { 11, 9, 7 } })
{
  auto image = MakeImage<torchseg::CTStorageImageType>(
    size, { 0.7031250000123, 0.83, 2.5 }, { -187.3456789012345, 12.25, -1033.123456789 }, orientation);
  itk::ImageRegionIteratorWithIndex<torchseg::CTStorageImageType> it(image, image->GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it)
  {
    const auto i = it.GetIndex();
    it.Set(static_cast<int16_t>((i[0] * 37 + i[1] * 101 + i[2] * 331) % 3000 - 1024));
  }
  return image;
}

torchseg::LabelImageType::Pointer
MakeLabels(Orientation orientation)
{
  auto labels =
    MakeImage<torchseg::LabelImageType>({ { 10, 8, 6 } }, { 0.8, 0.8, 3.0 }, { 5.0, -7.5, 100.0 }, orientation);
  itk::ImageRegionIteratorWithIndex<torchseg::LabelImageType> it(labels, labels->GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it)
  {
    const auto i = it.GetIndex();
    // A liver block with a tumour inside it, and one voxel of an unnamed class 5.
    uint8_t v = (i[0] >= 2 && i[0] < 8 && i[1] >= 1 && i[1] < 7 && i[2] >= 1 && i[2] < 5) ? 1 : 0;
    if (v == 1 && i[0] >= 4 && i[0] < 6 && i[1] >= 3 && i[1] < 5 && i[2] == 2)
    {
      v = 2;
    }
    if (i[0] == 0 && i[1] == 0 && i[2] == 5)
    {
      v = 5;
    }
    it.Set(v);
  }
  return labels;
}

template <typename TImageA, typename TImageB>
void
ExpectSameGeometry(const TImageA * a, const TImageB * b, double originTolerance, double directionTolerance)
{
  ASSERT_EQ(a->GetLargestPossibleRegion().GetSize(), b->GetLargestPossibleRegion().GetSize());
  for (unsigned int i = 0; i < 3; ++i)
  {
    EXPECT_NEAR(a->GetOrigin()[i], b->GetOrigin()[i], originTolerance) << "origin " << i;
    EXPECT_NEAR(a->GetSpacing()[i], b->GetSpacing()[i], directionTolerance * a->GetSpacing()[i]) << "spacing " << i;
    for (unsigned int j = 0; j < 3; ++j)
    {
      EXPECT_NEAR(a->GetDirection()(i, j), b->GetDirection()(i, j), directionTolerance) << "direction " << i << j;
    }
  }
}

template <typename TImageA, typename TImageB>
std::size_t
CountDifferentVoxels(const TImageA * a, const TImageB * b)
{
  const std::size_t n = a->GetLargestPossibleRegion().GetNumberOfPixels();
  std::size_t       different = 0;
  for (std::size_t i = 0; i < n; ++i)
  {
    different += static_cast<double>(a->GetBufferPointer()[i]) != static_cast<double>(b->GetBufferPointer()[i]);
  }
  return different;
}

/** The description of the exception \a f throws, or "" (and a failure) when it throws none. */
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

/** A one-line error that names \a path. */
void
ExpectOneLineNaming(const std::string & message, const std::string & path)
{
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_LT(message.size(), 400u) << message;
}

void
WriteText(const fs::path & path, const std::string & text)
{
  std::ofstream out(path, std::ios::binary);
  out << text;
}

/** The key/value lines of a NRRD header ("key: value" and "key:=value"), up to the blank line. */
std::map<std::string, std::string>
NrrdHeader(const fs::path & path)
{
  std::map<std::string, std::string> fields;
  std::ifstream                      in(path, std::ios::binary);
  std::string                        line;
  std::getline(in, line);
  EXPECT_EQ(line.rfind("NRRD000", 0), 0u) << line;
  while (std::getline(in, line) && !line.empty())
  {
    if (line[0] == '#')
    {
      continue;
    }
    auto pos = line.find(":=");
    if (pos != std::string::npos)
    {
      fields[line.substr(0, pos)] = line.substr(pos + 2);
      continue;
    }
    pos = line.find(": ");
    if (pos != std::string::npos)
    {
      fields[line.substr(0, pos)] = line.substr(pos + 2);
    }
  }
  return fields;
}

std::size_t
CountFiles(const fs::path & directory)
{
  std::size_t n = 0;
  for (const auto & entry : fs::directory_iterator(directory))
  {
    (void)entry;
    ++n;
  }
  return n;
}

} // namespace

TEST(ImageIO, SupportedExtensions)
{
  const auto & extensions = torchseg::GetSupportedImageExtensions();
  for (const char * ext : { ".nii", ".nii.gz", ".nrrd", ".nhdr", ".seg.nrrd", ".mha", ".mhd" })
  {
    EXPECT_NE(std::find(extensions.begin(), extensions.end(), ext), extensions.end()) << ext;
  }
}

// NRRD and MetaImage store the geometry as decimal text with 17 significant digits. MetaImage keeps origin,
// spacing and direction apart: every double survives exactly. NRRD stores spacing x direction ("space
// directions"), so the reader's division by the vector's length may move spacing and direction by an ulp or two.
TEST(ImageIO, NrrdAndMetaImageRoundTripsAreExactInEveryOrientation)
{
  for (const char * ext : { ".nrrd", ".nhdr", ".mha", ".mhd" })
  {
    for (Orientation orientation : AllOrientations)
    {
      SCOPED_TRACE(std::string(ext) + " orientation " + std::to_string(static_cast<int>(orientation)));
      const auto     ct = MakeCT(orientation);
      const fs::path path = OutputPath(std::string("ct") + std::to_string(static_cast<int>(orientation)) + ext);
      torchseg::WriteImageFile(ct.GetPointer(), path.string());
      const auto back = torchseg::ReadCTImage(path.string());
      const bool nrrd = std::string(ext) == ".nrrd" || std::string(ext) == ".nhdr";
      ExpectSameGeometry(ct.GetPointer(), back.GetPointer(), 0.0, nrrd ? 4e-16 : 0.0);
      EXPECT_EQ(CountDifferentVoxels(ct.GetPointer(), back.GetPointer()), 0u);
    }
  }
}

// NIfTI keeps the geometry in float32 (sform rows, quaternion and pixdim): about 7 significant digits. With
// coordinates up to ~1000 mm that is 1e-4 mm for the origin, and 1e-6 for the direction cosines and spacings.
TEST(ImageIO, NiftiRoundTripKeepsGeometryToFloatPrecision)
{
  for (const char * ext : { ".nii", ".nii.gz" })
  {
    for (Orientation orientation : AllOrientations)
    {
      SCOPED_TRACE(std::string(ext) + " orientation " + std::to_string(static_cast<int>(orientation)));
      const auto     ct = MakeCT(orientation);
      const fs::path path = OutputPath(std::string("ct") + std::to_string(static_cast<int>(orientation)) + ext);
      torchseg::WriteImageFile(ct.GetPointer(), path.string());
      const auto back = torchseg::ReadCTImage(path.string());
      ExpectSameGeometry(ct.GetPointer(), back.GetPointer(), 1e-4, 1e-6);
      EXPECT_EQ(CountDifferentVoxels(ct.GetPointer(), back.GetPointer()), 0u);
    }
  }
}

TEST(ImageIO, CompressionFollowsTheFlag)
{
  auto ct = MakeCT(Orientation::Identity, { { 64, 64, 16 } });
  ct->FillBuffer(-1000);
  const fs::path compressed = OutputPath("compressed.nrrd");
  const fs::path raw = OutputPath("raw.nrrd");
  torchseg::WriteImageFile(ct.GetPointer(), compressed.string(), true);
  torchseg::WriteImageFile(ct.GetPointer(), raw.string(), false);
  EXPECT_GT(fs::file_size(raw), 64u * 64 * 16 * 2);
  EXPECT_LT(fs::file_size(compressed), fs::file_size(raw) / 10);
  EXPECT_EQ(NrrdHeader(compressed)["encoding"], "gzip");
  EXPECT_EQ(NrrdHeader(raw)["encoding"], "raw");
}

// .nii.gz is compressed in 4 MiB chunks on several threads: the result must be one valid gzip stream that zlib,
// gzip and ITK read back, byte for byte.
TEST(ImageIO, NiftiGzipIsOneValidStreamOverSeveralChunks)
{
  const auto     ct = MakeCT(Orientation::Oblique, { { 256, 256, 40 } }); // 5 MiB of voxels: two chunks
  const fs::path gz = OutputPath("chunks.nii.gz");
  const fs::path raw = OutputPath("chunks.nii");
  torchseg::WriteImageFile(ct.GetPointer(), gz.string());
  torchseg::WriteImageFile(ct.GetPointer(), raw.string());
  std::string log;
  EXPECT_EQ(torchseg::testing::RunCommand("gzip -t '" + gz.string() + "'", &log), 0) << log;
  EXPECT_EQ(torchseg::testing::RunCommand("gzip -dc '" + gz.string() + "' | cmp - '" + raw.string() + "'", &log), 0)
    << log;
  EXPECT_LT(fs::file_size(gz), fs::file_size(raw));
  const auto back = torchseg::ReadCTImage(gz.string());
  EXPECT_EQ(CountDifferentVoxels(ct.GetPointer(), back.GetPointer()), 0u);
}

TEST(ImageIO, DetachedHeadersAreWrittenWithTheirDataFilesAndNoTemporaries)
{
  const auto     ct = MakeCT(Orientation::Oblique);
  const fs::path directory = OutputPath("detached");
  fs::create_directories(directory);
  torchseg::WriteImageFile(ct.GetPointer(), (directory / "ct.nhdr").string());
  torchseg::WriteImageFile(ct.GetPointer(), (directory / "ct.mhd").string());
  std::set<std::string> names;
  for (const auto & entry : fs::directory_iterator(directory))
  {
    names.insert(entry.path().filename().string());
  }
  // Header and data file for each; nothing else (no temporary left behind).
  EXPECT_EQ(names.size(), 4u);
  EXPECT_TRUE(names.count("ct.nhdr"));
  EXPECT_TRUE(names.count("ct.mhd"));
  EXPECT_NE(ReadText(directory / "ct.nhdr").find("data file: ct."), std::string::npos);
  EXPECT_NE(ReadText(directory / "ct.mhd").find("ElementDataFile = ct."), std::string::npos);
  // And they read back from another working directory.
  const auto back = torchseg::ReadCTImage((directory / "ct.nhdr").string());
  EXPECT_EQ(CountDifferentVoxels(ct.GetPointer(), back.GetPointer()), 0u);
}

TEST(ImageIO, WriteReplacesAnExistingFileAtomically)
{
  const fs::path path = OutputPath("replace.nii.gz");
  auto           a = MakeCT(Orientation::Identity);
  torchseg::WriteImageFile(a.GetPointer(), path.string());
  auto b = MakeCT(Orientation::Identity);
  b->FillBuffer(7);
  torchseg::WriteImageFile(b.GetPointer(), path.string());
  const auto back = torchseg::ReadCTImage(path.string());
  EXPECT_EQ(back->GetPixel({ { 3, 3, 3 } }), 7.0f);
  EXPECT_EQ(CountFiles(path.parent_path()) > 0, true);
  for (const auto & entry : fs::directory_iterator(path.parent_path()))
  {
    EXPECT_EQ(entry.path().filename().string().find(".replace.tmp"), std::string::npos) << entry.path();
  }
}

TEST(ImageIO, ReadImageFileGivesTheRequestedPixelType)
{
  const auto     ct = MakeCT(Orientation::Flipped);
  const fs::path path = OutputPath("ct.mha");
  torchseg::WriteImageFile(ct.GetPointer(), path.string());
  const auto asShort = torchseg::ReadImageFile<int16_t, 3>(path.string());
  EXPECT_EQ(CountDifferentVoxels(ct.GetPointer(), asShort.GetPointer()), 0u);
  const auto asDouble = torchseg::ReadImageFile<double, 3>(path.string());
  EXPECT_EQ(CountDifferentVoxels(ct.GetPointer(), asDouble.GetPointer()), 0u);
}

TEST(ImageIO, LabelImagesRoundTripInEveryFormat)
{
  for (const char * ext : { ".nii.gz", ".nrrd", ".mha", ".seg.nrrd" })
  {
    for (Orientation orientation : AllOrientations)
    {
      SCOPED_TRACE(std::string(ext) + " orientation " + std::to_string(static_cast<int>(orientation)));
      const auto     labels = MakeLabels(orientation);
      const fs::path path = OutputPath(std::string("labels") + std::to_string(static_cast<int>(orientation)) + ext);
      torchseg::WriteLabelImage(labels.GetPointer(), path.string(), torchseg::LabelTable::LiverTumour());
      const auto back = torchseg::ReadLabelImage(path.string());
      const bool nifti = std::string(ext) == ".nii.gz";
      ExpectSameGeometry(labels.GetPointer(), back.GetPointer(), nifti ? 1e-4 : 0.0, nifti ? 1e-6 : 4e-16);
      EXPECT_EQ(CountDifferentVoxels(labels.GetPointer(), back.GetPointer()), 0u);
    }
  }
}

TEST(ImageIO, SegNrrdHeaderHasSlicerSegmentationFields)
{
  const auto     labels = MakeLabels(Orientation::Oblique);
  const fs::path path = OutputPath("labels.seg.nrrd");
  torchseg::WriteLabelImage(labels.GetPointer(), path.string(), torchseg::LabelTable::LiverTumour());
  auto h = NrrdHeader(path);

  EXPECT_EQ(h["type"], "unsigned char");
  EXPECT_EQ(h["dimension"], "3");
  EXPECT_EQ(h["space"], "left-posterior-superior");
  EXPECT_EQ(h["sizes"], "10 8 6");
  EXPECT_EQ(h["kinds"], "domain domain domain");
  EXPECT_EQ(h["encoding"], "gzip");
  EXPECT_EQ(h["Segmentation_MasterRepresentation"], "Binary labelmap");
  EXPECT_EQ(h["Segmentation_ContainedRepresentationNames"], "Binary labelmap|");
  EXPECT_EQ(h["Segmentation_ReferenceImageExtentOffset"], "0 0 0");

  // Liver (table entry 1): 221 130 101 / 255.
  EXPECT_EQ(h["Segment0_ID"], "Segment_1");
  EXPECT_EQ(h["Segment0_Name"], "liver");
  EXPECT_EQ(h["Segment0_NameAutoGenerated"], "0");
  EXPECT_EQ(h["Segment0_Color"], "0.866667 0.509804 0.396078");
  EXPECT_EQ(h["Segment0_ColorAutoGenerated"], "0");
  EXPECT_EQ(h["Segment0_LabelValue"], "1");
  EXPECT_EQ(h["Segment0_Layer"], "0");
  EXPECT_EQ(h["Segment0_Extent"], "0 9 0 7 0 5");
  EXPECT_EQ(h["Segment0_Tags"],
            "TerminologyEntry:Segmentation category and type - 3D Slicer General Anatomy list"
            "~SCT^123037004^Anatomical Structure~SCT^10200004^Liver~^^~Anatomic codes - DICOM master list~^^~^^|");
  // Tumour (table entry 2): 240 220 60 / 255.
  EXPECT_EQ(h["Segment1_Name"], "tumour");
  EXPECT_EQ(h["Segment1_LabelValue"], "2");
  EXPECT_EQ(h["Segment1_Color"], "0.941176 0.862745 0.235294");
  EXPECT_EQ(h["Segment1_Tags"],
            "TerminologyEntry:Segmentation category and type - 3D Slicer General Anatomy list"
            "~SCT^49755003^Morphologically Altered Structure~SCT^108369006^Neoplasm~^^~Anatomic codes - DICOM master "
            "list~^^~^^|");
  // Value 5 is in the image but not in the table: a generic segment, Slicer's default terminology.
  EXPECT_EQ(h["Segment2_ID"], "Segment_5");
  EXPECT_EQ(h["Segment2_Name"], "label 5");
  EXPECT_EQ(h["Segment2_LabelValue"], "5");
  EXPECT_EQ(h["Segment2_NameAutoGenerated"], "1");
  EXPECT_EQ(h["Segment2_ColorAutoGenerated"], "1");
  EXPECT_EQ(h["Segment2_Tags"],
            "TerminologyEntry:Segmentation category and type - 3D Slicer General Anatomy list"
            "~SCT^85756007^Tissue~SCT^85756007^Tissue~^^~Anatomic codes - DICOM master list~^^~^^|");
  EXPECT_EQ(h.count("Segment3_ID"), 0u);

  // The space directions are the direction columns times the spacing (LPS), the origin the first voxel.
  const auto &      d = labels->GetDirection();
  std::stringstream directions(h["space directions"]);
  for (unsigned int axis = 0; axis < 3; ++axis)
  {
    char   c;
    double v[3];
    directions >> c >> v[0] >> c >> v[1] >> c >> v[2] >> c;
    for (unsigned int r = 0; r < 3; ++r)
    {
      EXPECT_NEAR(v[r], d(r, axis) * labels->GetSpacing()[axis], 1e-12);
    }
  }

  torchseg::LabelTable table;
  const auto           back = torchseg::ReadLabelImage(path.string(), &table);
  EXPECT_EQ(CountDifferentVoxels(labels.GetPointer(), back.GetPointer()), 0u);
  ASSERT_EQ(table.size(), 3u);
  EXPECT_EQ(table.GetName(1), "liver");
  EXPECT_EQ(table.GetName(2), "tumour");
  EXPECT_EQ(table.GetName(5), "label 5");
  EXPECT_EQ(table.GetColor(1), (std::array<uint8_t, 3>{ { 221, 130, 101 } }));
  EXPECT_EQ(table.Find(1)->type.value, "10200004");
  EXPECT_EQ(table.Find(1)->category.meaning, "Anatomical Structure");
  EXPECT_EQ(table.Find(2)->type.meaning, "Neoplasm");
}

TEST(ImageIO, SlicerTerminologyEntryParsesBack)
{
  torchseg::LabelInfo    info = torchseg::LabelTable::LiverTumour().GetLabels()[0];
  const std::string      entry = torchseg::MakeSlicerTerminologyEntry(info);
  torchseg::CodedConcept category, type;
  torchseg::ParseSlicerTerminologyEntry(entry, category, type);
  EXPECT_EQ(category.value, "123037004");
  EXPECT_EQ(category.scheme, "SCT");
  EXPECT_EQ(type.meaning, "Liver");
  torchseg::ParseSlicerTerminologyEntry("garbage", category, type);
  EXPECT_TRUE(category.IsEmpty());
  EXPECT_TRUE(type.IsEmpty());
}

// A segmentation Slicer saved with overlapping segments has several layers (a 4D NRRD whose first axis is a list).
TEST(ImageIO, ReadsMultiLayerSegNrrdByFlatteningTheLayers)
{
  const fs::path path = OutputPath("layers.seg.nrrd");
  std::string    header = "NRRD0004\n"
                          "type: unsigned char\n"
                          "dimension: 4\n"
                          "space: left-posterior-superior\n"
                          "sizes: 2 3 2 1\n"
                          "space directions: none (1,0,0) (0,1,0) (0,0,1)\n"
                          "kinds: list domain domain domain\n"
                          "encoding: raw\n"
                          "space origin: (10,20,30)\n"
                          "Segment0_ID:=a\nSegment0_Name:=big\nSegment0_LabelValue:=1\nSegment0_Layer:=0\n"
                          "Segment0_Color:=1 0 0\n"
                          "Segment1_ID:=b\nSegment1_Name:=small\nSegment1_LabelValue:=1\nSegment1_Layer:=1\n"
                          "Segment1_Color:=0 0 1\n"
                          "Segment2_ID:=c\nSegment2_Name:=other\nSegment2_LabelValue:=2\nSegment2_Layer:=0\n"
                          "\n";
  // Voxel i (x fastest): layer 0 then layer 1. Layer 0: big at 0,1,2; other at 3. Layer 1: small at 1.
  const unsigned char data[] = { 1, 0, 1, 1, 1, 0, 2, 0, 0, 0, 0, 0 };
  header.append(reinterpret_cast<const char *>(data), sizeof(data));
  WriteText(path, header);
  torchseg::LabelTable table;
  const auto           labels = torchseg::ReadLabelImage(path.string(), &table);
  ASSERT_EQ(labels->GetLargestPossibleRegion().GetSize(), (itk::Size<3>{ { 3, 2, 1 } }));
  const uint8_t expected[] = { 1, 2, 1, 3, 0, 0 };
  for (int i = 0; i < 6; ++i)
  {
    EXPECT_EQ(labels->GetBufferPointer()[i], expected[i]) << i;
  }
  EXPECT_EQ(labels->GetOrigin()[0], 10.0);
  ASSERT_EQ(table.size(), 3u);
  EXPECT_EQ(table.GetName(2), "small");
  EXPECT_EQ(table.GetColor(2), (std::array<uint8_t, 3>{ { 0, 0, 255 } }));
  EXPECT_EQ(table.GetName(3), "other");
}

TEST(ImageIO, ReadLabelImageAcceptsIntegerTypesAndRefusesNonLabels)
{
  using ShortImage = itk::Image<int16_t, 3>;
  auto image = MakeImage<ShortImage>({ { 4, 4, 4 } }, { 1.0, 1.0, 1.0 });
  image->SetPixel({ { 1, 1, 1 } }, 2);
  image->SetPixel({ { 2, 2, 2 } }, 255);
  const fs::path good = OutputPath("short.nii.gz");
  torchseg::WriteImageFile(image.GetPointer(), good.string());
  const auto labels = torchseg::ReadLabelImage(good.string());
  EXPECT_EQ(labels->GetPixel({ { 1, 1, 1 } }), 2);
  EXPECT_EQ(labels->GetPixel({ { 2, 2, 2 } }), 255);
  EXPECT_EQ(labels->GetPixel({ { 0, 0, 0 } }), 0);

  image->SetPixel({ { 3, 3, 3 } }, 300);
  const fs::path big = OutputPath("big.nrrd");
  torchseg::WriteImageFile(image.GetPointer(), big.string());
  ExpectOneLineNaming(ErrorOf([&] { torchseg::ReadLabelImage(big.string()); }), big.string());

  using FloatImage = itk::Image<float, 3>;
  auto fractional = MakeImage<FloatImage>({ { 4, 4, 4 } }, { 1.0, 1.0, 1.0 });
  fractional->SetPixel({ { 1, 2, 3 } }, 0.5f);
  const fs::path half = OutputPath("half.mha");
  torchseg::WriteImageFile(fractional.GetPointer(), half.string());
  const std::string message = ErrorOf([&] { torchseg::ReadLabelImage(half.string()); });
  ExpectOneLineNaming(message, half.string());
  EXPECT_NE(message.find("0.5"), std::string::npos) << message;
}

// ---------------------------------------------------------------------------------------------------------------
// Bad input: one line naming the path, for each kind of failure.

TEST(ImageIOErrors, MissingFile)
{
  const fs::path path = OutputPath("missing.nii.gz");
  const auto     message = ErrorOf([&] { torchseg::ReadCTImage(path.string()); });
  ExpectOneLineNaming(message, path.string());
  EXPECT_NE(message.find("no such file"), std::string::npos) << message;
  ExpectOneLineNaming(ErrorOf([&] { torchseg::ReadLabelImage(path.string()); }), path.string());
}

TEST(ImageIOErrors, TruncatedFiles)
{
  const auto ct = MakeCT(Orientation::Identity, { { 32, 32, 8 } });
  for (const char * ext : { ".nii", ".nii.gz", ".nrrd", ".mha", "z.mha", ".seg.nrrd" })
  {
    SCOPED_TRACE(ext);
    const fs::path path = OutputPath(std::string("truncated") + ext);
    // Uncompressed and compressed MetaImage, the others compressed (.nii is never).
    torchseg::WriteImageFile(ct.GetPointer(), path.string(), std::string(ext) != ".mha");
    fs::resize_file(path, fs::file_size(path) * 2 / 3);
    const auto message = ErrorOf([&] { torchseg::ReadCTImage(path.string()); });
    ExpectOneLineNaming(message, path.string());
    EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  }
}

TEST(ImageIOErrors, CorruptHeaders)
{
  const auto ct = MakeCT(Orientation::Identity);
  // NIfTI: a header whose size field is wrong.
  const fs::path nii = OutputPath("corrupt.nii");
  torchseg::WriteImageFile(ct.GetPointer(), nii.string());
  {
    std::fstream file(nii, std::ios::binary | std::ios::in | std::ios::out);
    const char   garbage[8] = { 'g', 'a', 'r', 'b', 'a', 'g', 'e', '!' };
    file.write(garbage, sizeof(garbage));
    file.seekp(344);
    file.write(garbage, 4); // the magic "n+1"
  }
  // NRRD: an unknown type and a broken sizes line.
  const fs::path nrrd = OutputPath("corrupt.nrrd");
  WriteText(nrrd, "NRRD0004\ntype: quaternion\ndimension: 3\nsizes: 4 x 4\nencoding: raw\n\n0123456789");
  // MetaImage: a header without dimensions.
  const fs::path mha = OutputPath("corrupt.mha");
  WriteText(mha, "ObjectType = Image\nNDims = banana\nElementType = MET_SHORT\nElementDataFile = LOCAL\n0123");
  for (const fs::path & path : { nii, nrrd, mha })
  {
    SCOPED_TRACE(path.string());
    const auto message = ErrorOf([&] { torchseg::ReadCTImage(path.string()); });
    ExpectOneLineNaming(message, path.string());
    EXPECT_NE(message.find("corrupt"), std::string::npos) << message;
  }
}

TEST(ImageIOErrors, NonImageFiles)
{
  const fs::path text = OutputPath("notes.txt");
  WriteText(text, "These are not voxels.\n");
  auto message = ErrorOf([&] { torchseg::ReadCTImage(text.string()); });
  ExpectOneLineNaming(message, text.string());
  EXPECT_NE(message.find("supported format"), std::string::npos) << message;

  const fs::path disguised = OutputPath("notes.nii.gz");
  WriteText(disguised, "These are not voxels either, despite the name.\n");
  message = ErrorOf([&] { torchseg::ReadCTImage(disguised.string()); });
  ExpectOneLineNaming(message, disguised.string());
  EXPECT_NE(message.find("not a valid NIfTI file"), std::string::npos) << message;

  const fs::path empty = OutputPath("empty.nrrd");
  WriteText(empty, "");
  message = ErrorOf([&] { torchseg::ReadCTImage(empty.string()); });
  ExpectOneLineNaming(message, empty.string());
  EXPECT_NE(message.find("empty"), std::string::npos) << message;
}

TEST(ImageIOErrors, TwoDimensionalImageWhereThreeAreNeeded)
{
  using Image2D = itk::Image<int16_t, 2>;
  auto image = MakeImage<Image2D>({ { 8, 8 } }, { 1.0, 1.0 });
  for (const char * ext : { ".nii.gz", ".nrrd", ".mha" })
  {
    const fs::path path = OutputPath(std::string("slice") + ext);
    torchseg::WriteImageFile(image.GetPointer(), path.string());
    const auto message = ErrorOf([&] { torchseg::ReadCTImage(path.string()); });
    ExpectOneLineNaming(message, path.string());
    EXPECT_NE(message.find("2D image"), std::string::npos) << message;
    ExpectOneLineNaming(ErrorOf([&] { torchseg::ReadLabelImage(path.string()); }), path.string());
    // Where 2D is what is asked for, it reads.
    const itk::Size<2> expected{ { 8, 8 } };
    const auto         slice = torchseg::ReadImageFile<int16_t, 2>(path.string());
    EXPECT_EQ(slice->GetLargestPossibleRegion().GetSize(), expected);
  }
}

TEST(ImageIOErrors, FourDimensionalImageWhereThreeAreNeeded)
{
  using Image4D = itk::Image<int16_t, 4>;
  auto image = MakeImage<Image4D>({ { 6, 5, 4, 3 } }, { 1.0, 1.0, 1.0, 1.0 });
  for (const char * ext : { ".nii.gz", ".nrrd", ".mha" })
  {
    const fs::path path = OutputPath(std::string("series") + ext);
    torchseg::WriteImageFile(image.GetPointer(), path.string());
    const auto message = ErrorOf([&] { torchseg::ReadCTImage(path.string()); });
    ExpectOneLineNaming(message, path.string());
    EXPECT_NE(message.find("4D image"), std::string::npos) << message;
  }
  // A fourth dimension of size 1 is still a 3D volume.
  auto           single = MakeImage<Image4D>({ { 6, 5, 4, 1 } }, { 1.0, 1.0, 1.0, 1.0 });
  const fs::path path = OutputPath("single.nii.gz");
  torchseg::WriteImageFile(single.GetPointer(), path.string());
  EXPECT_EQ(torchseg::ReadCTImage(path.string())->GetLargestPossibleRegion().GetSize(), (itk::Size<3>{ { 6, 5, 4 } }));
}

TEST(ImageIOErrors, DirectoriesWithoutASeries)
{
  const fs::path empty = OutputPath("emptydir");
  fs::create_directories(empty);
  auto message = ErrorOf([&] { torchseg::ReadCTImage(empty.string()); });
  ExpectOneLineNaming(message, empty.string());
  EXPECT_NE(message.find("empty"), std::string::npos) << message;

  const fs::path other = OutputPath("nodicom");
  fs::create_directories(other);
  WriteText(other / "readme.txt", "no images here");
  WriteText(other / "data.bin", std::string(300, '\x01'));
  message = ErrorOf([&] { torchseg::ReadCTImage(other.string()); });
  ExpectOneLineNaming(message, other.string());
  EXPECT_NE(message.find("DICOM"), std::string::npos) << message;

  // A label image is a file, never a directory.
  ExpectOneLineNaming(ErrorOf([&] { torchseg::ReadLabelImage(other.string()); }), other.string());
}

TEST(ImageIOErrors, WritesThatCannotHappenLeaveNothing)
{
  const auto     ct = MakeCT(Orientation::Identity);
  const fs::path directory = OutputPath("writes");
  fs::create_directories(directory);
  const fs::path unsupported = directory / "ct.jpg";
  ExpectOneLineNaming(ErrorOf([&] { torchseg::WriteImageFile(ct.GetPointer(), unsupported.string()); }),
                      unsupported.string());
  const fs::path nowhere = directory / "missing" / "ct.nii.gz";
  ExpectOneLineNaming(ErrorOf([&] { torchseg::WriteImageFile(ct.GetPointer(), nowhere.string()); }), nowhere.string());
  const fs::path labels = directory / "labels.seg.nrrd";
  ExpectOneLineNaming(
    ErrorOf([&] { torchseg::WriteLabelImage(nullptr, labels.string(), torchseg::LabelTable::LiverTumour()); }),
    labels.string());
  EXPECT_EQ(CountFiles(directory), 0u);
}

TEST(ImageIO, DICOMUIDsAreValidAndDeterministicFromTheSeed)
{
  const std::string a = torchseg::MakeDICOMUID(42, "study");
  EXPECT_EQ(a, torchseg::MakeDICOMUID(42, "study"));
  EXPECT_NE(a, torchseg::MakeDICOMUID(43, "study"));
  EXPECT_NE(a, torchseg::MakeDICOMUID(42, "series"));
  EXPECT_NE(torchseg::MakeDICOMUID(42, "instance", 1), torchseg::MakeDICOMUID(42, "instance", 2));
  EXPECT_NE(torchseg::MakeDICOMUID(0, "study"), torchseg::MakeDICOMUID(0, "study"));
  for (const std::string & uid : { a, torchseg::MakeDICOMUID(0, "x"), torchseg::MakeDICOMUID(7, "y", 99) })
  {
    EXPECT_LE(uid.size(), 64u);
    ASSERT_EQ(uid.rfind("2.25.", 0), 0u) << uid;
    EXPECT_NE(uid[5], '0') << uid;
    EXPECT_EQ(uid.find_first_not_of("0123456789", 5), std::string::npos) << uid;
  }
}
