#ifndef torchsegImageIO_h
#define torchsegImageIO_h

#include "torchsegLabelTable.h"

#include "itkImage.h"
#include "itkImageIOBase.h"

#include <functional>
#include <string>
#include <vector>

namespace torchseg
{

/** The image types the applications exchange. CT is read as float Hounsfield units (DICOM rescale applied) and
 * written as int16; labels are uint8 (0 background, 1 liver, 2 tumour for the LiTS convention). */
using CTImageType = itk::Image<float, 3>;
using CTStorageImageType = itk::Image<int16_t, 3>;
using LabelImageType = itk::Image<uint8_t, 3>;

/** Registers the ImageIO factories the toolkit reads and writes (NIfTI, NRRD, MetaImage, GDCM); idempotent. Every
 * reader and writer below calls it, so a program linking the library needs no UseITK factory magic. */
void
RegisterImageIOFactories();

/** The extensions the toolkit reads and writes: .nii, .nii.gz, .nrrd, .nhdr, .seg.nrrd, .mha, .mhd. */
const std::vector<std::string> &
GetSupportedImageExtensions();

/** One DICOM series found in a directory. */
struct DICOMSeriesInfo
{
  std::string seriesInstanceUID;
  std::string modality;
  std::string seriesDescription;
  std::size_t numberOfFiles = 0;
};

/** Lists the DICOM series in \a directory (not recursive), largest first. */
std::vector<DICOMSeriesInfo>
ListDICOMSeries(const std::string & directory);

/** Reads a 3D CT volume from a NIfTI/NRRD/MetaImage file or a DICOM series directory, in Hounsfield units.
 *
 * For a directory: the series \a seriesInstanceUID, or by default the largest CT series; slices sorted by position
 * along the slice normal; rescale slope/intercept applied; gantry tilt, inconsistent slice spacing, missing slices
 * or mixed orientations are refused with an error naming the directory. Geometry is ITK's LPS.
 * Errors (missing file, truncated or corrupt header, 2D or 4D image, empty directory, non-image file) are
 * itk::ExceptionObject whose description is one line that names the path. */
CTImageType::Pointer
ReadCTImage(const std::string & path, const std::string & seriesInstanceUID = std::string());

/** Reads a 3D label image (any integer pixel type on disk; values must lie in [0, 255]; .seg.nrrd included). */
LabelImageType::Pointer
ReadLabelImage(const std::string & path);

/** As above, and fills \a labelTable (when not null) with the segments a .seg.nrrd header describes: label value,
 * name, colour and terminology codes. A plain label image leaves the table empty. A .seg.nrrd with several layers
 * (overlapping segments) is flattened: segment i (0-based, header order) becomes value i + 1, later segments winning
 * where they overlap; a single-layer file keeps its label values. */
LabelImageType::Pointer
ReadLabelImage(const std::string & path, LabelTable * labelTable);

/** Reads any scalar image file of dimension VDimension as TPixel (errors as ReadCTImage). */
template <typename TPixel, unsigned int VDimension>
typename itk::Image<TPixel, VDimension>::Pointer
ReadImageFile(const std::string & path);

/** Writes an image atomically (temporary file beside the target, then rename); the format follows the extension;
 * compression on by default. Throws with the path on an unsupported extension or a failed write. */
template <typename TImage>
void
WriteImageFile(const TImage * image, const std::string & path, bool compress = true);

/** Writes a label image (.nii/.nii.gz/.nrrd/.nhdr/.mha/.mhd, or .seg.nrrd with Slicer's segment fields: names,
 * colours, terminology from \a labels) atomically. Voxel values without a table entry get generic segments. */
void
WriteLabelImage(const LabelImageType * labels, const std::string & path, const LabelTable & labels_table);

/** Patient and study fields of a written DICOM CT series. UIDs left empty are generated (deterministically from
 * \a uidSeed when it is non-zero, so the same phantom seed gives the same files). */
struct DICOMWriteOptions
{
  std::string   patientName = "TorchSeg^Phantom";
  std::string   patientID = "TS0000";
  std::string   studyInstanceUID;
  std::string   seriesInstanceUID;
  std::string   frameOfReferenceUID;
  std::string   studyDescription = "TorchSeg synthetic abdominal CT";
  std::string   seriesDescription = "Phantom CT";
  std::string   contrastPhase; //!< e.g. "native", "arterial", "portal venous" (ContrastBolusAgent when not native)
  int           seriesNumber = 1;
  unsigned long uidSeed = 0;
};

/** Writes a CT volume as a DICOM CT Image Storage series (one file per slice: ImagePositionPatient,
 * ImageOrientationPatient, PixelSpacing, SliceThickness, RescaleSlope/Intercept, study/series/instance UIDs) into
 * \a directory, atomically (the directory appears complete or not at all). */
void
WriteDICOMCTSeries(const CTStorageImageType * image, const std::string & directory, const DICOMWriteOptions & options);

/** The Slicer terminology string of a label ("Segmentation category and type - 3D Slicer General Anatomy
 * list~SCT^123037004^Anatomical Structure~SCT^10200004^Liver~^^~Anatomic codes - DICOM master list~^^~^^"); labels
 * without codes get Slicer's default, SCT 85756007 "Tissue". */
std::string
MakeSlicerTerminologyEntry(const LabelInfo & label);

/** The category and type codes of a Slicer terminology string (the inverse of MakeSlicerTerminologyEntry; empty
 * concepts when the string does not parse). */
void
ParseSlicerTerminologyEntry(const std::string & entry, CodedConcept & category, CodedConcept & type);

/** A DICOM UID "2.25.<decimal of 128 bits>": deterministic from (\a seed, \a role, \a index) when \a seed is
 * non-zero, random otherwise. */
std::string
MakeDICOMUID(unsigned long seed, const std::string & role, unsigned long index = 0);

namespace detail
{
/** Checks that \a path is a readable file of a supported format, reads its header, and checks that it holds a
 * scalar image of \a dimension dimensions (trailing dimensions of size 1 are allowed). Throws one-line errors that
 * name the path. */
itk::ImageIOBase::Pointer
OpenImageFileForReading(const std::string & path, unsigned int dimension);

/** Rethrows an ITK failure while reading the voxels of \a path as a one-line error naming the path. */
[[noreturn]] void
ThrowReadError(const std::string & path, const itk::ExceptionObject & error);

/** Rethrows an ITK failure while writing \a path as a one-line error naming the path. */
[[noreturn]] void
ThrowWriteError(const std::string & path, const itk::ExceptionObject & error);

/** The ImageIO that writes \a path, chosen by its extension; throws, naming the path, on an unsupported one. */
itk::ImageIOBase::Pointer
CreateImageIOForWriting(const std::string & path, bool compress);

/** Calls \a write with a temporary file name that has the extension of \a path, then moves the result into place,
 * so that \a path appears complete or not at all. Detached headers (.nhdr, .mhd) are written in a temporary
 * directory, and their data files are moved beside the target before the header. */
void
WriteAtomically(const std::string & path, const std::function<void(const std::string &)> & write);

/** Mutes std::cerr while alive. MetaIO and ITK's warnings print there while a header or a file is read; the toolkit
 * reports every reading problem as a one-line exception instead, and a command-line application must print one line
 * only. Nested and concurrent instances are counted; the last one restores the stream. */
class ScopedSilentStandardError
{
public:
  /** Mutes only when \a active, so that a caller can decide at run time. */
  explicit ScopedSilentStandardError(bool active = true);
  ~ScopedSilentStandardError();
  ScopedSilentStandardError(const ScopedSilentStandardError &) = delete;
  ScopedSilentStandardError &
  operator=(const ScopedSilentStandardError &) = delete;

private:
  bool m_Active;
};

/** True for the ImageIOs that print to std::cerr while reading voxels (MetaIO); only those are muted then, so that
 * other threads' output (a progress bar) is not swallowed while a large file is read. */
bool
PrintsWhileReading(const itk::ImageIOBase * io);
} // namespace detail

} // namespace torchseg

#include "torchsegImageIO.hxx"

#endif
