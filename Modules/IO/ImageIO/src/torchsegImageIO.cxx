#include "torchsegImageIO.h"

#include "torchsegAtomicOutput.h"
#include "torchsegImageIOPrivate.h"

#include "itkGDCMImageIOFactory.h"
#include "itkImageRegionConstIterator.h"
#include "itkMetaDataObject.h"
#include "itkMultiThreaderBase.h"
#include "itkMetaImageIO.h"
#include "itkMetaImageIOFactory.h"
#include "itkNiftiImageIO.h"
#include "itkNiftiImageIOFactory.h"
#include "itkNrrdImageIO.h"
#include "itkNrrdImageIOFactory.h"
#include "itkVectorImage.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <unistd.h>
#include <zlib.h>

namespace fs = std::filesystem;

namespace torchseg
{

namespace
{

/** zlib level of .nii.gz files: level 1 is several times faster than 6 on CT and a few percent larger. */
constexpr int NiftiCompressionLevel = 1;

const char * const SupportedList = ".nii, .nii.gz, .nrrd, .nhdr, .seg.nrrd, .mha, .mhd or a DICOM series directory";

enum class FileFormat
{
  Unknown,
  NIfTI,
  NRRD,
  MetaImage
};

FileFormat
FormatOfExtension(const std::string & ext)
{
  if (ext == ".nii" || ext == ".nii.gz")
  {
    return FileFormat::NIfTI;
  }
  if (ext == ".nrrd" || ext == ".nhdr" || ext == ".seg.nrrd")
  {
    return FileFormat::NRRD;
  }
  if (ext == ".mha" || ext == ".mhd")
  {
    return FileFormat::MetaImage;
  }
  return FileFormat::Unknown;
}

const char *
FormatName(FileFormat format)
{
  switch (format)
  {
    case FileFormat::NIfTI:
      return "NIfTI";
    case FileFormat::NRRD:
      return "NRRD";
    case FileFormat::MetaImage:
      return "MetaImage";
    default:
      return "image";
  }
}

itk::ImageIOBase::Pointer
CreateImageIO(FileFormat format)
{
  switch (format)
  {
    case FileFormat::NIfTI:
      return itk::NiftiImageIO::New().GetPointer();
    case FileFormat::NRRD:
      return itk::NrrdImageIO::New().GetPointer();
    case FileFormat::MetaImage: {
      auto io = itk::MetaImageIO::New();
      // The default (6 digits) would round origin, spacing and direction: keep every bit of a double.
      io->SetDoublePrecision(17);
      return io.GetPointer();
    }
    default:
      return nullptr;
  }
}

std::string
DimensionsText(const itk::ImageIOBase * io)
{
  std::ostringstream text;
  for (unsigned int d = 0; d < io->GetNumberOfDimensions(); ++d)
  {
    text << (d ? " x " : "") << io->GetDimensions(d);
  }
  return text.str();
}

/** The number of bytes a gzip file decompresses to, at least up to \a needed (reading stops there). */
uint64_t
GzipDecompressedSize(const std::string & path, uint64_t needed)
{
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr)
  {
    return 0;
  }
  std::vector<char> buffer(1 << 20);
  uint64_t          total = 0;
  while (total < needed)
  {
    const int n = gzread(file, buffer.data(), static_cast<unsigned int>(buffer.size()));
    if (n <= 0)
    {
      break;
    }
    total += static_cast<uint64_t>(n);
  }
  gzclose(file);
  return total;
}

/** True when a .nii.gz file holds all the voxels its header announces. ITK's NIfTI reader does not notice a
 * truncated gzip stream (it fills the rest with garbage), so this is checked here: quickly with the stream's
 * trailer (its size modulo 2^32), and by decompressing when the trailer disagrees (a multi-member file). */
bool
NiftiGzipIsComplete(const std::string & path, uint64_t imageBytes)
{
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr)
  {
    return false;
  }
  unsigned char header[544] = {};
  const int     n = gzread(file, header, sizeof(header));
  gzclose(file);
  if (n < 348)
  {
    return false;
  }
  auto read32 = [&](int offset, bool swap) {
    uint32_t v;
    std::memcpy(&v, header + offset, 4);
    return swap ? __builtin_bswap32(v) : v;
  };
  uint32_t sizeofHeader = read32(0, false);
  bool     swap = false;
  if (sizeofHeader != 348 && sizeofHeader != 540)
  {
    swap = true;
    sizeofHeader = read32(0, true);
  }
  uint64_t voxOffset = 0;
  if (sizeofHeader == 348)
  {
    const uint32_t bits = read32(108, swap);
    float          offset;
    std::memcpy(&offset, &bits, 4);
    voxOffset = offset > 352.0f ? static_cast<uint64_t>(offset) : 352;
  }
  else if (sizeofHeader == 540 && n >= 176)
  {
    uint64_t v;
    std::memcpy(&v, header + 168, 8);
    voxOffset = swap ? __builtin_bswap64(v) : v;
  }
  else
  {
    return true; // not a header this check understands: leave it to ITK
  }
  const uint64_t expected = voxOffset + imageBytes;
  std::ifstream  raw(path, std::ios::binary | std::ios::ate);
  const auto     size = static_cast<std::streamoff>(raw.tellg());
  unsigned char  trailer[4] = {};
  if (size >= 4 && raw.seekg(size - 4).read(reinterpret_cast<char *>(trailer), 4))
  {
    const uint32_t isize = trailer[0] | (trailer[1] << 8) | (trailer[2] << 16) | (uint32_t(trailer[3]) << 24);
    if (isize == static_cast<uint32_t>(expected))
    {
      return true;
    }
  }
  return GzipDecompressedSize(path, expected) >= expected;
}

/** What the text header of a MetaImage says about where its voxels are (MetaImageIO does not tell). */
struct MetaImageData
{
  bool        compressed = false;
  int64_t     compressedSize = -1;
  std::string dataFile;      // "LOCAL" for .mha
  uint64_t    headerEnd = 0; // offset of the voxels in a LOCAL file
};

MetaImageData
ParseMetaImageHeader(const std::string & path)
{
  MetaImageData data;
  std::ifstream file(path, std::ios::binary);
  std::string   line;
  for (int lines = 0; lines < 200 && std::getline(file, line); ++lines)
  {
    const auto  equal = line.find('=');
    std::string key = line.substr(0, equal);
    std::string value = equal == std::string::npos ? std::string() : line.substr(equal + 1);
    auto        trim = [](std::string & t) {
      t.erase(std::remove_if(t.begin(), t.end(), [](unsigned char c) { return std::isspace(c); }), t.end());
    };
    trim(key);
    if (key == "CompressedData")
    {
      data.compressed = value.find("True") != std::string::npos || value.find("true") != std::string::npos;
    }
    else if (key == "CompressedDataSize")
    {
      data.compressedSize = std::atoll(value.c_str());
    }
    else if (key == "ElementDataFile")
    {
      // The file name may contain spaces: trim only the ends.
      const auto first = value.find_first_not_of(" \t\r");
      const auto last = value.find_last_not_of(" \t\r");
      data.dataFile = first == std::string::npos ? std::string() : value.substr(first, last - first + 1);
      data.headerEnd = static_cast<uint64_t>(file.tellg());
      break;
    }
  }
  return data;
}

/** The detached data file a .nhdr names ("data file: x.raw.gz"), or "" when the voxels follow the header. */
std::string
NrrdDataFile(const std::string & path)
{
  std::ifstream file(path, std::ios::binary);
  std::string   line;
  for (int lines = 0; lines < 200 && std::getline(file, line) && !line.empty() && line != "\r"; ++lines)
  {
    for (const char * key : { "data file: ", "datafile: " })
    {
      if (line.rfind(key, 0) == 0)
      {
        std::string name = line.substr(std::strlen(key));
        while (!name.empty() && std::isspace(static_cast<unsigned char>(name.back())))
        {
          name.pop_back();
        }
        return name;
      }
    }
  }
  return std::string();
}

/** Checks, before ITK reads, that the voxels the header announces are there: ITK either reads garbage from a short
 * file (NIfTI .gz) or prints to stderr and fails with a message that does not say why. */
void
CheckVoxelDataPresent(const std::string & path, const std::string & ext, const itk::ImageIOBase * io, uint64_t fileSize)
{
  const uint64_t imageBytes = io->GetImageSizeInBytes();
  const fs::path directory = fs::path(path).parent_path();
  auto           truncated = [&](uint64_t have, uint64_t need) {
    itkGenericExceptionMacro(<< "Cannot read " << path << ": the file is truncated (" << have
                             << " bytes of voxel data, the header announces " << need << ")");
  };
  if (ext == ".nii" && fileSize < imageBytes + 348)
  {
    truncated(fileSize < 352 ? 0 : fileSize - 352, imageBytes);
  }
  else if (ext == ".nii.gz" && !NiftiGzipIsComplete(path, imageBytes))
  {
    itkGenericExceptionMacro(<< "Cannot read " << path << ": the file is truncated (the compressed stream ends before "
                             << imageBytes << " bytes of voxels)");
  }
  else if (ext == ".mha" || ext == ".mhd")
  {
    const MetaImageData data = ParseMetaImageHeader(path);
    const bool          local = data.dataFile == "LOCAL";
    if (!local && (data.dataFile.empty() || data.dataFile.find_first_of("%*") != std::string::npos ||
                   data.dataFile.rfind("LIST", 0) == 0))
    {
      return; // file lists and patterns: left to ITK
    }
    const fs::path  dataPath = local ? fs::path(path) : directory / data.dataFile;
    std::error_code ec;
    if (!local && !fs::is_regular_file(dataPath, ec))
    {
      itkGenericExceptionMacro(<< "Cannot read " << path << ": its data file " << dataPath.string() << " is missing");
    }
    const uint64_t size = fs::file_size(dataPath, ec);
    const uint64_t have = local ? (size > data.headerEnd ? size - data.headerEnd : 0) : size;
    const uint64_t need = data.compressed ? (data.compressedSize > 0 ? data.compressedSize : 0) : imageBytes;
    if (have < need)
    {
      truncated(have, need);
    }
  }
  else if (ext == ".nhdr")
  {
    const std::string name = NrrdDataFile(path);
    if (name.empty() || name.find_first_of("% ") != std::string::npos || name == "LIST")
    {
      return;
    }
    const fs::path  dataPath = fs::path(name).is_absolute() ? fs::path(name) : directory / name;
    std::error_code ec;
    if (!fs::is_regular_file(dataPath, ec))
    {
      itkGenericExceptionMacro(<< "Cannot read " << path << ": its data file " << dataPath.string() << " is missing");
    }
  }
}

/** Compresses \a input into the gzip file \a output, in parallel like pigz: the data is cut into chunks that are
 * deflated independently (the chunks but the last end on a byte boundary with a sync flush) and concatenated into one
 * deflate stream, with the CRC-32s combined. ITK's NIfTI writer compresses on one thread at a fixed level and takes
 * seconds for a 512 x 512 x 120 CT; this takes a fraction of that. mtime is 0, so equal data gives equal files. */
void
GzipFile(const fs::path & input, const fs::path & output, int level)
{
  std::ifstream in(input, std::ios::binary | std::ios::ate);
  if (!in)
  {
    itkGenericExceptionMacro(<< "Cannot read the temporary file " << input.string());
  }
  const auto size = static_cast<std::size_t>(in.tellg());
  in.seekg(0);
  std::vector<unsigned char> data(size);
  if (size > 0 && !in.read(reinterpret_cast<char *>(data.data()), static_cast<std::streamsize>(size)))
  {
    itkGenericExceptionMacro(<< "Cannot read the temporary file " << input.string());
  }
  const std::size_t                       chunk = std::size_t{ 1 } << 22;
  const std::size_t                       chunks = std::max<std::size_t>(1, (size + chunk - 1) / chunk);
  std::vector<std::vector<unsigned char>> compressed(chunks);
  std::vector<uLong>                      crcs(chunks);
  std::vector<char>                       failed(chunks, 0);
  detail::ParallelFor(chunks, [&](std::size_t c) {
    const std::size_t begin = c * chunk;
    const std::size_t length = std::min(chunk, size - std::min(size, begin));
    z_stream          z{};
    if (deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    {
      failed[c] = 1;
      return;
    }
    std::vector<unsigned char> & out = compressed[c];
    out.resize(deflateBound(&z, static_cast<uLong>(length)) + 64);
    z.next_in = data.data() + begin;
    z.avail_in = static_cast<uInt>(length);
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    const int status = deflate(&z, c + 1 == chunks ? Z_FINISH : Z_SYNC_FLUSH);
    if ((c + 1 == chunks && status != Z_STREAM_END) || (c + 1 < chunks && (status != Z_OK || z.avail_in != 0)))
    {
      failed[c] = 1;
    }
    out.resize(out.size() - z.avail_out);
    deflateEnd(&z);
    crcs[c] = crc32(crc32(0L, Z_NULL, 0), data.data() + begin, static_cast<uInt>(length));
  });
  if (std::find(failed.begin(), failed.end(), 1) != failed.end())
  {
    itkGenericExceptionMacro(<< "Cannot compress " << output.string() << ": zlib failed");
  }
  uLong crc = crcs[0];
  for (std::size_t c = 1; c < chunks; ++c)
  {
    const std::size_t length = std::min(chunk, size - c * chunk);
    crc = crc32_combine(crc, crcs[c], static_cast<z_off_t>(length));
  }
  std::ofstream       out(output, std::ios::binary | std::ios::trunc);
  const unsigned char header[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
  out.write(reinterpret_cast<const char *>(header), sizeof(header));
  for (const auto & block : compressed)
  {
    out.write(reinterpret_cast<const char *>(block.data()), static_cast<std::streamsize>(block.size()));
  }
  const uint32_t      isize = static_cast<uint32_t>(size);
  const unsigned char trailer[8] = { static_cast<unsigned char>(crc),         static_cast<unsigned char>(crc >> 8),
                                     static_cast<unsigned char>(crc >> 16),   static_cast<unsigned char>(crc >> 24),
                                     static_cast<unsigned char>(isize),       static_cast<unsigned char>(isize >> 8),
                                     static_cast<unsigned char>(isize >> 16), static_cast<unsigned char>(isize >> 24) };
  out.write(reinterpret_cast<const char *>(trailer), sizeof(trailer));
  out.close();
  if (!out)
  {
    itkGenericExceptionMacro(<< "Cannot write " << output.string() << " (disk full?)");
  }
}

/** Opens the header of an image file; see detail::OpenImageFileForReading. \a allowComponents admits vector images
 * (the layers of a .seg.nrrd). */
itk::ImageIOBase::Pointer
OpenImageFile(const std::string & path, unsigned int dimension, bool allowComponents)
{
  RegisterImageIOFactories();
  if (path.empty())
  {
    itkGenericExceptionMacro(<< "An input image path is empty");
  }
  std::error_code ec;
  const auto      status = fs::status(path, ec);
  if (!fs::exists(status))
  {
    itkGenericExceptionMacro(<< "Cannot read " << path << ": no such file");
  }
  if (fs::is_directory(status))
  {
    itkGenericExceptionMacro(<< "Cannot read " << path << ": it is a directory, not an image file");
  }
  if (!fs::is_regular_file(status))
  {
    itkGenericExceptionMacro(<< "Cannot read " << path << ": it is not a regular file");
  }
  if (::access(path.c_str(), R_OK) != 0)
  {
    itkGenericExceptionMacro(<< "Cannot read " << path << ": permission denied");
  }
  const auto fileSize = fs::file_size(path, ec);
  if (fileSize == 0)
  {
    itkGenericExceptionMacro(<< "Cannot read " << path << ": the file is empty");
  }

  const std::string ext = detail::LowerCaseExtension(path);
  const FileFormat  expected = FormatOfExtension(ext);
  FileFormat        format = FileFormat::Unknown;
  // The extension's format first, then the others: a mislabelled file is still read for what it is.
  for (FileFormat candidate : { expected, FileFormat::NIfTI, FileFormat::NRRD, FileFormat::MetaImage })
  {
    if (candidate == FileFormat::Unknown)
    {
      continue;
    }
    itk::ImageIOBase::Pointer               probe = CreateImageIO(candidate);
    const detail::ScopedSilentStandardError silence;
    if (probe->CanReadFile(path.c_str()))
    {
      format = candidate;
      break;
    }
  }
  if (format == FileFormat::Unknown)
  {
    if (detail::LooksLikeDICOMFile(path))
    {
      itkGenericExceptionMacro(<< "Cannot read " << path
                               << ": it is a single DICOM file; give the directory of its series instead");
    }
    if (expected != FileFormat::Unknown)
    {
      itkGenericExceptionMacro(<< "Cannot read " << path << ": not a valid " << FormatName(expected)
                               << " file (corrupt or truncated header)");
    }
    itkGenericExceptionMacro(<< "Cannot read " << path << ": not an image in a supported format (" << SupportedList
                             << ")");
  }

  itk::ImageIOBase::Pointer io = CreateImageIO(format);
  io->SetFileName(path);
  try
  {
    const detail::ScopedSilentStandardError silence;
    io->ReadImageInformation();
  }
  catch (const itk::ExceptionObject &)
  {
    itkGenericExceptionMacro(<< "Cannot read " << path << ": the " << FormatName(format)
                             << " header is corrupt or incomplete");
  }

  unsigned int effective = io->GetNumberOfDimensions();
  while (effective > dimension && io->GetDimensions(effective - 1) <= 1)
  {
    --effective;
  }
  if (effective != dimension)
  {
    itkGenericExceptionMacro(<< "Cannot read " << path << ": it is a " << effective << "D image (size "
                             << DimensionsText(io) << "); a " << dimension << "D image is needed");
  }
  for (unsigned int d = 0; d < io->GetNumberOfDimensions(); ++d)
  {
    if (io->GetDimensions(d) == 0)
    {
      itkGenericExceptionMacro(<< "Cannot read " << path << ": the header gives size " << DimensionsText(io)
                               << ", which has no voxels");
    }
  }
  if (io->GetNumberOfComponents() != 1 && !allowComponents)
  {
    itkGenericExceptionMacro(<< "Cannot read " << path << ": it has " << io->GetNumberOfComponents()
                             << " components per voxel; a scalar image is needed");
  }
  if (io->GetComponentType() == itk::IOComponentEnum::UNKNOWNCOMPONENTTYPE)
  {
    itkGenericExceptionMacro(<< "Cannot read " << path << ": the voxel type is not supported");
  }

  CheckVoxelDataPresent(path, ext, io, fileSize);
  return io;
}

/** A metadata string of a dictionary, or "" without it. */
std::string
MetaString(const itk::MetaDataDictionary & dictionary, const std::string & key)
{
  std::string value;
  itk::ExposeMetaData<std::string>(dictionary, key, value);
  return value;
}

/** The segments a .seg.nrrd header describes. */
struct SegmentHeader
{
  std::string            id;
  std::string            name;
  std::array<uint8_t, 3> color{ { 128, 128, 128 } };
  int                    labelValue = 0;
  int                    layer = 0;
  CodedConcept           category;
  CodedConcept           type;
};

std::vector<SegmentHeader>
ParseSegments(const itk::MetaDataDictionary & dictionary)
{
  std::vector<SegmentHeader> segments;
  for (int i = 0;; ++i)
  {
    const std::string prefix = "Segment" + std::to_string(i) + "_";
    if (!dictionary.HasKey(prefix + "ID"))
    {
      break;
    }
    SegmentHeader segment;
    segment.id = MetaString(dictionary, prefix + "ID");
    segment.name = MetaString(dictionary, prefix + "Name");
    if (segment.name.empty())
    {
      segment.name = segment.id.empty() ? "Segment_" + std::to_string(i + 1) : segment.id;
    }
    const std::string value = MetaString(dictionary, prefix + "LabelValue");
    segment.labelValue = value.empty() ? i + 1 : std::atoi(value.c_str());
    const std::string layer = MetaString(dictionary, prefix + "Layer");
    segment.layer = layer.empty() ? i : std::atoi(layer.c_str());
    std::istringstream color(MetaString(dictionary, prefix + "Color"));
    double             rgb[3] = { 0.5, 0.5, 0.5 };
    color >> rgb[0] >> rgb[1] >> rgb[2];
    for (int c = 0; c < 3; ++c)
    {
      segment.color[c] = static_cast<uint8_t>(std::lround(std::clamp(rgb[c], 0.0, 1.0) * 255.0));
    }
    const std::string tags = MetaString(dictionary, prefix + "Tags");
    const std::string key = "TerminologyEntry:";
    const auto        start = tags.find(key);
    if (start != std::string::npos)
    {
      const auto end = tags.find('|', start);
      ParseSlicerTerminologyEntry(
        tags.substr(start + key.size(), end == std::string::npos ? std::string::npos : end - start - key.size()),
        segment.category,
        segment.type);
    }
    segments.push_back(segment);
  }
  return segments;
}

std::string
FormatColor(const std::array<uint8_t, 3> & color)
{
  std::ostringstream text;
  text << color[0] / 255.0 << " " << color[1] / 255.0 << " " << color[2] / 255.0;
  return text.str();
}

} // namespace

namespace detail
{

void
ParallelFor(std::size_t count, const std::function<void(std::size_t)> & body)
{
  const std::size_t threads =
    std::min<std::size_t>(count, std::max(1u, itk::MultiThreaderBase::GetGlobalDefaultNumberOfThreads()));
  if (threads <= 1)
  {
    for (std::size_t i = 0; i < count; ++i)
    {
      body(i);
    }
    return;
  }
  std::atomic<std::size_t> next{ 0 };
  auto                     work = [&] {
    for (std::size_t i = next++; i < count; i = next++)
    {
      body(i);
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t)
  {
    pool.emplace_back(work);
  }
  work();
  for (auto & thread : pool)
  {
    thread.join();
  }
}

std::string
OneLine(const std::string & text)
{
  std::string line;
  bool        blank = false;
  for (char c : text)
  {
    if (std::isspace(static_cast<unsigned char>(c)))
    {
      blank = !line.empty();
      continue;
    }
    if (blank)
    {
      line += ' ';
      blank = false;
    }
    line += c;
  }
  return line;
}

std::string
LowerCaseExtension(const std::string & path)
{
  std::string name = fs::path(path).filename().string();
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  return GetFullExtension(name);
}

bool
LooksLikeDICOMFile(const std::string & path)
{
  std::ifstream file(path, std::ios::binary);
  char          magic[132] = {};
  return file.read(magic, sizeof(magic)) && std::memcmp(magic + 128, "DICM", 4) == 0;
}

itk::ImageIOBase::Pointer
OpenImageFileForReading(const std::string & path, unsigned int dimension)
{
  return OpenImageFile(path, dimension, false);
}

void
ThrowReadError(const std::string & path, const itk::ExceptionObject & error)
{
  std::error_code ec;
  if (!fs::exists(path, ec))
  {
    itkGenericExceptionMacro(<< "Cannot read " << path << ": no such file");
  }
  const std::string reason = OneLine(error.GetDescription());
  if (reason.find("etached") != std::string::npos || reason.find("data file") != std::string::npos ||
      reason.find("ElementDataFile") != std::string::npos)
  {
    itkGenericExceptionMacro(<< "Cannot read " << path << ": its detached voxel data file is missing or unreadable");
  }
  itkGenericExceptionMacro(<< "Cannot read " << path << ": the voxel data is truncated or corrupt");
}

void
ThrowWriteError(const std::string & path, const itk::ExceptionObject & error)
{
  std::string reason = OneLine(error.GetDescription());
  if (reason.size() > 160)
  {
    reason = reason.substr(0, 157) + "...";
  }
  itkGenericExceptionMacro(<< "Cannot write " << path << ": " << reason);
}

itk::ImageIOBase::Pointer
CreateImageIOForWriting(const std::string & path, bool compress)
{
  RegisterImageIOFactories();
  const std::string ext = LowerCaseExtension(path);
  const FileFormat  format = FormatOfExtension(ext);
  if (format == FileFormat::Unknown)
  {
    itkGenericExceptionMacro(<< "Cannot write " << path << ": unsupported extension \"" << ext
                             << "\" (use .nii, .nii.gz, .nrrd, .nhdr, .seg.nrrd, .mha or .mhd)");
  }
  itk::ImageIOBase::Pointer io = CreateImageIO(format);
  io->SetUseCompression(compress);
  return io;
}

void
WriteAtomically(const std::string & path, const std::function<void(const std::string &)> & write)
{
  const fs::path target(path);
  fs::path       parent = target.parent_path();
  if (parent.empty())
  {
    parent = ".";
  }
  std::error_code ec;
  if (fs::is_directory(parent, ec) && ::access(parent.c_str(), W_OK) != 0)
  {
    itkGenericExceptionMacro(<< "Cannot write " << path << ": the directory " << parent.string() << " is not writable");
  }
  const std::string ext = LowerCaseExtension(path);
  if (ext == ".nii.gz")
  {
    // ITK writes an uncompressed .nii, compressed here on every thread (see GzipFile).
    std::string name = target.filename().string();
    name.resize(name.size() - 3);
    AtomicOutput output(target);
    AtomicOutput uncompressed(parent / name);
    write(uncompressed.GetTemporaryPath().string());
    GzipFile(uncompressed.GetTemporaryPath(), output.GetTemporaryPath(), NiftiCompressionLevel);
    output.Commit();
    return;
  }
  if (ext != ".nhdr" && ext != ".mhd")
  {
    AtomicOutput output(target);
    write(output.GetTemporaryPath().string());
    output.Commit();
    return;
  }
  // A detached header names its data file: write both under their final names in a private directory, then move
  // the data files beside the target, and the header last (the header appearing is the commit).
  AtomicOutput   staging(parent / (target.filename().string() + ".staging"), true);
  const fs::path stagedHeader = staging.GetTemporaryPath() / target.filename();
  write(stagedHeader.string());
  for (const auto & entry : fs::directory_iterator(staging.GetTemporaryPath()))
  {
    if (entry.path().filename() == target.filename())
    {
      continue;
    }
    fs::rename(entry.path(), parent / entry.path().filename(), ec);
    if (ec)
    {
      itkGenericExceptionMacro(<< "Cannot write " << path << ": moving its data file "
                               << entry.path().filename().string() << " into place failed: " << ec.message());
    }
  }
  fs::rename(stagedHeader, target, ec);
  if (ec)
  {
    itkGenericExceptionMacro(<< "Cannot write " << path << ": " << ec.message());
  }
}

namespace
{
/** A stream buffer that discards everything. */
class NullBuffer : public std::streambuf
{
protected:
  int
  overflow(int c) override
  {
    return traits_type::not_eof(c);
  }
  std::streamsize
  xsputn(const char *, std::streamsize n) override
  {
    return n;
  }
};
std::mutex       silenceMutex;
int              silenceCount = 0;
std::streambuf * silencedBuffer = nullptr;
} // namespace

ScopedSilentStandardError::ScopedSilentStandardError(bool active)
  : m_Active(active)
{
  static NullBuffer null;
  if (!m_Active)
  {
    return;
  }
  std::lock_guard<std::mutex> lock(silenceMutex);
  if (silenceCount++ == 0)
  {
    silencedBuffer = std::cerr.rdbuf(&null);
  }
}

ScopedSilentStandardError::~ScopedSilentStandardError()
{
  if (!m_Active)
  {
    return;
  }
  std::lock_guard<std::mutex> lock(silenceMutex);
  if (--silenceCount == 0)
  {
    std::cerr.rdbuf(silencedBuffer);
  }
}

bool
PrintsWhileReading(const itk::ImageIOBase * io)
{
  return io != nullptr && std::strcmp(io->GetNameOfClass(), "MetaImageIO") == 0;
}

} // namespace detail

void
RegisterImageIOFactories()
{
  static std::once_flag once;
  std::call_once(once, [] {
    itk::NiftiImageIOFactory::RegisterOneFactory();
    itk::NrrdImageIOFactory::RegisterOneFactory();
    itk::MetaImageIOFactory::RegisterOneFactory();
    itk::GDCMImageIOFactory::RegisterOneFactory();
  });
}

const std::vector<std::string> &
GetSupportedImageExtensions()
{
  static const std::vector<std::string> extensions{ ".nii", ".nii.gz", ".nrrd", ".nhdr", ".seg.nrrd", ".mha", ".mhd" };
  return extensions;
}

CTImageType::Pointer
ReadCTImage(const std::string & path, const std::string & seriesInstanceUID)
{
  RegisterImageIOFactories();
  if (path.empty())
  {
    itkGenericExceptionMacro(<< "An input CT path is empty");
  }
  std::error_code ec;
  if (fs::is_directory(path, ec))
  {
    return detail::ReadDICOMSeriesDirectory(path, seriesInstanceUID);
  }
  if (fs::is_regular_file(path, ec) && detail::LooksLikeDICOMFile(path))
  {
    // One file of a series stands for its series: the whole directory is read, with this file's series.
    const std::string uid = detail::ReadDICOMFileSeriesInstanceUID(path);
    if (uid.empty())
    {
      itkGenericExceptionMacro(<< "Cannot read " << path << ": a DICOM file without a SeriesInstanceUID");
    }
    fs::path directory = fs::path(path).parent_path();
    return detail::ReadDICOMSeriesDirectory(directory.empty() ? "." : directory.string(),
                                            seriesInstanceUID.empty() ? uid : seriesInstanceUID);
  }
  return ReadImageFile<float, 3>(path);
}

LabelImageType::Pointer
ReadLabelImage(const std::string & path)
{
  return ReadLabelImage(path, nullptr);
}

LabelImageType::Pointer
ReadLabelImage(const std::string & path, LabelTable * labelTable)
{
  itk::ImageIOBase::Pointer        io = OpenImageFile(path, 3, true);
  const std::vector<SegmentHeader> segments = ParseSegments(io->GetMetaDataDictionary());
  const unsigned int               layers = io->GetNumberOfComponents();
  if (layers != 1 && segments.empty())
  {
    itkGenericExceptionMacro(<< "Cannot read " << path << ": it has " << layers
                             << " components per voxel; a label image has one");
  }
  if (labelTable)
  {
    *labelTable = LabelTable();
  }

  LabelImageType::Pointer labels;
  if (layers == 1 && io->GetComponentType() == itk::IOComponentEnum::UCHAR)
  {
    auto reader = itk::ImageFileReader<LabelImageType>::New();
    reader->SetImageIO(io);
    reader->SetFileName(path);
    try
    {
      const detail::ScopedSilentStandardError silence(detail::PrintsWhileReading(io));
      reader->Update();
    }
    catch (const itk::ExceptionObject & e)
    {
      detail::ThrowReadError(path, e);
    }
    labels = reader->GetOutput();
    labels->DisconnectPipeline();
  }
  else
  {
    // Other voxel types are read as double and checked: a label must be an integer in [0, 255].
    using VectorType = itk::VectorImage<double, 3>;
    auto reader = itk::ImageFileReader<VectorType>::New();
    reader->SetImageIO(io);
    reader->SetFileName(path);
    try
    {
      const detail::ScopedSilentStandardError silence(detail::PrintsWhileReading(io));
      reader->Update();
    }
    catch (const itk::ExceptionObject & e)
    {
      detail::ThrowReadError(path, e);
    }
    const VectorType * values = reader->GetOutput();
    labels = LabelImageType::New();
    labels->CopyInformation(values);
    labels->SetRegions(values->GetLargestPossibleRegion());
    labels->Allocate(true);
    const double *    in = values->GetBufferPointer();
    uint8_t *         out = labels->GetBufferPointer();
    const std::size_t count = labels->GetLargestPossibleRegion().GetNumberOfPixels();
    for (std::size_t i = 0; i < count; ++i)
    {
      for (unsigned int layer = 0; layer < layers; ++layer)
      {
        const double v = in[i * layers + layer];
        if (!(v >= 0.0 && v <= 255.0) || v != std::floor(v))
        {
          itkGenericExceptionMacro(<< "Cannot read " << path << ": voxel value " << v
                                   << " is not a label (an integer in 0..255)");
        }
        if (layers == 1)
        {
          out[i] = static_cast<uint8_t>(v);
        }
        else if (v != 0.0)
        {
          // Flatten the layers: the last segment (header order) of this layer with this value wins.
          for (std::size_t s = segments.size(); s-- > 0;)
          {
            if (segments[s].layer == static_cast<int>(layer) && segments[s].labelValue == static_cast<int>(v))
            {
              out[i] = std::max<uint8_t>(out[i], static_cast<uint8_t>(std::min<std::size_t>(s + 1, 255)));
              break;
            }
          }
        }
      }
    }
  }

  if (labelTable)
  {
    for (std::size_t s = 0; s < segments.size(); ++s)
    {
      LabelInfo info;
      info.value = layers == 1 ? static_cast<unsigned int>(segments[s].labelValue) : static_cast<unsigned int>(s + 1);
      info.name = segments[s].name;
      info.color = segments[s].color;
      info.category = segments[s].category;
      info.type = segments[s].type;
      if (info.value > 0 && info.value < 256)
      {
        labelTable->Set(info);
      }
    }
  }
  labels->SetMetaDataDictionary(itk::MetaDataDictionary());
  return labels;
}

void
WriteLabelImage(const LabelImageType * labels, const std::string & path, const LabelTable & labels_table)
{
  if (labels == nullptr)
  {
    itkGenericExceptionMacro(<< "Cannot write " << path << ": no label image was given");
  }
  if (detail::LowerCaseExtension(path) != ".seg.nrrd")
  {
    WriteImageFile(labels, path, true);
    return;
  }

  // Which values occur: every table entry gets a segment (Slicer shows empty ones too), and so does every value
  // present without an entry.
  std::array<bool, 256> present{};
  {
    const uint8_t *   p = labels->GetBufferPointer();
    const std::size_t count = labels->GetBufferedRegion().GetNumberOfPixels();
    for (std::size_t i = 0; i < count; ++i)
    {
      present[p[i]] = true;
    }
  }
  std::vector<LabelInfo> segments;
  std::vector<bool>      generic;
  for (unsigned int v = 1; v < 256; ++v)
  {
    if (const LabelInfo * info = labels_table.Find(v))
    {
      segments.push_back(*info);
      generic.push_back(false);
    }
    else if (present[v])
    {
      LabelInfo info;
      info.value = v;
      info.name = labels_table.GetName(v);
      info.color = labels_table.GetColor(v);
      segments.push_back(info);
      generic.push_back(true);
    }
  }

  // Slicer's layout (vtkMRMLSegmentationStorageNode): one shared layer, every segment spanning the whole extent.
  const auto         size = labels->GetLargestPossibleRegion().GetSize();
  std::ostringstream extent;
  extent << 0 << " " << size[0] - 1 << " " << 0 << " " << size[1] - 1 << " " << 0 << " " << size[2] - 1;
  itk::MetaDataDictionary dictionary;
  itk::EncapsulateMetaData<std::string>(dictionary, "Segmentation_MasterRepresentation", "Binary labelmap");
  itk::EncapsulateMetaData<std::string>(dictionary, "Segmentation_ContainedRepresentationNames", "Binary labelmap|");
  itk::EncapsulateMetaData<std::string>(dictionary, "Segmentation_ReferenceImageExtentOffset", "0 0 0");
  for (std::size_t s = 0; s < segments.size(); ++s)
  {
    const LabelInfo & info = segments[s];
    const std::string prefix = "Segment" + std::to_string(s) + "_";
    itk::EncapsulateMetaData<std::string>(dictionary, prefix + "ID", "Segment_" + std::to_string(info.value));
    itk::EncapsulateMetaData<std::string>(dictionary, prefix + "Name", info.name);
    itk::EncapsulateMetaData<std::string>(dictionary, prefix + "NameAutoGenerated", generic[s] ? "1" : "0");
    itk::EncapsulateMetaData<std::string>(dictionary, prefix + "Color", FormatColor(info.color));
    itk::EncapsulateMetaData<std::string>(dictionary, prefix + "ColorAutoGenerated", generic[s] ? "1" : "0");
    itk::EncapsulateMetaData<std::string>(dictionary, prefix + "LabelValue", std::to_string(info.value));
    itk::EncapsulateMetaData<std::string>(dictionary, prefix + "Layer", "0");
    itk::EncapsulateMetaData<std::string>(dictionary, prefix + "Extent", extent.str());
    itk::EncapsulateMetaData<std::string>(
      dictionary, prefix + "Tags", "TerminologyEntry:" + MakeSlicerTerminologyEntry(info) + "|");
  }

  // The header fields travel in the dictionary of a view that shares the caller's voxels.
  auto view = LabelImageType::New();
  view->Graft(labels);
  view->SetMetaDataDictionary(dictionary);
  WriteImageFile(view.GetPointer(), path, true);
}

std::string
MakeSlicerTerminologyEntry(const LabelInfo & label)
{
  static const CodedConcept tissue{ "85756007", "SCT", "Tissue" };
  const CodedConcept &      category = label.category.IsEmpty() ? tissue : label.category;
  const CodedConcept &      type = label.type.IsEmpty() ? tissue : label.type;
  auto                      code = [](const CodedConcept & c) { return c.scheme + "^" + c.value + "^" + c.meaning; };
  return "Segmentation category and type - 3D Slicer General Anatomy list~" + code(category) + "~" + code(type) +
         "~^^~Anatomic codes - DICOM master list~^^~^^";
}

void
ParseSlicerTerminologyEntry(const std::string & entry, CodedConcept & category, CodedConcept & type)
{
  category = CodedConcept();
  type = CodedConcept();
  std::vector<std::string> fields;
  std::istringstream       in(entry);
  for (std::string field; std::getline(in, field, '~');)
  {
    fields.push_back(field);
  }
  auto parse = [](const std::string & text, CodedConcept & concept) {
    const auto first = text.find('^');
    const auto second = first == std::string::npos ? std::string::npos : text.find('^', first + 1);
    if (second == std::string::npos)
    {
      return;
    }
    concept.scheme = text.substr(0, first);
    concept.value = text.substr(first + 1, second - first - 1);
    concept.meaning = text.substr(second + 1);
  };
  if (fields.size() >= 3)
  {
    parse(fields[1], category);
    parse(fields[2], type);
  }
}

std::string
MakeDICOMUID(unsigned long seed, const std::string & role, unsigned long index)
{
  // 2.25.<decimal of 128 bits> (ISO/IEC 9834-8): no registered root needed, unique with overwhelming probability.
  auto mix = [](uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  };
  uint64_t hi = 0;
  uint64_t lo = 0;
  if (seed != 0)
  {
    uint64_t h = 0xcbf29ce484222325ULL; // FNV-1a of the role
    for (unsigned char c : role)
    {
      h = (h ^ c) * 0x100000001b3ULL;
    }
    hi = mix(mix(seed) ^ h ^ mix(index + 0x51ed270b27ULL));
    lo = mix(hi ^ mix(seed + 0x2545f4914f6cdd1dULL) ^ (index * 0x9e3779b97f4a7c15ULL));
  }
  else
  {
    std::random_device random;
    hi = (uint64_t(random()) << 32) ^ random();
    lo = (uint64_t(random()) << 32) ^ random();
  }
  // Shaped like an RFC 4122 UUID (version 8 when derived, 4 when random; variant 10).
  hi = (hi & ~0xF000ULL) | (seed != 0 ? 0x8000ULL : 0x4000ULL);
  lo = (lo & ~(3ULL << 62)) | (2ULL << 62);
  unsigned __int128 value = (static_cast<unsigned __int128>(hi) << 64) | lo;
  std::string       digits;
  do
  {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(value % 10)));
    value /= 10;
  } while (value != 0);
  return "2.25." + digits;
}

} // namespace torchseg
