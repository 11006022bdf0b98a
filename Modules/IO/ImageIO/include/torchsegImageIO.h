#ifndef torchsegImageIO_h
#define torchsegImageIO_h

#include "torchsegLabelTable.h"

#include "itkImage.h"

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

} // namespace torchseg

#include "torchsegImageIO.hxx"

#endif
