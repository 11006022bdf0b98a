#ifndef torchsegDICOMSegmentation_h
#define torchsegDICOMSegmentation_h

#include "torchsegImageIO.h"
#include "torchsegLabelTable.h"

#include "itkImage.h"
#include "itkVectorImage.h"

#include <array>
#include <string>
#include <vector>

namespace torchseg
{

/** Per-class probabilities on the grid of a label image: component c is the probability of label value c
 * (component 0 is the background), e.g. the softmax output of a network. */
using ProbabilityImageType = itk::VectorImage<float, 3>;

/** Binary segments (one bit per voxel) or fractional ones (a probability per voxel, quantised to 8 bits). */
enum class DICOMSegmentationType
{
  Binary,
  Fractional
};

/** What a written DICOM Segmentation says about itself. Every field has a usable default. */
struct DICOMSegmentationOptions
{
  /** Written by the label-image overload; the probability overload always writes FRACTIONAL. */
  DICOMSegmentationType type = DICOMSegmentationType::Binary;
  std::string           seriesDescription = "TorchSeg segmentation";
  int                   seriesNumber = 300;
  int                   instanceNumber = 1;
  std::string           contentLabel = "SEGMENTATION"; //!< Code String: upper case letters, digits, space, _
  std::string           contentDescription = "Automatic segmentation";
  std::string           contentCreatorName = "TorchSeg^"; //!< Person Name (family^given)
  std::string           algorithmName = "TorchSeg";
  std::string           algorithmVersion; //!< empty: torchseg::GetVersion()
  std::string           manufacturer = "TorchSeg";
  std::string           manufacturerModelName = "TorchSeg";
  std::string           deviceSerialNumber = "1";
  std::string           softwareVersions;        //!< empty: torchseg::GetVersion()
  std::string           sourceSeriesInstanceUID; //!< empty: the series of the directory whose grid matches
  std::string           seriesInstanceUID;       //!< empty: generated
  std::string           sopInstanceUID;          //!< empty: generated
  /** Generated UIDs ("2.25." form, torchseg::MakeDICOMUID) are random when 0, else derived from this seed. */
  unsigned long uidSeed = 0;
  /** Write frames only for the slices where a segment is present (true), or every slice of every segment. */
  bool skipEmptySlices = true;
  /** Fractional type PROBABILITY (true) or OCCUPANCY (false). */
  bool fractionalProbability = true;
};

/** One image of the source series, matched to one slice of a label grid. */
struct DICOMSourceInstance
{
  std::string           fileName;
  std::string           sopClassUID;
  std::string           sopInstanceUID;
  std::string           seriesInstanceUID;
  std::string           imagePositionPatient;    //!< as written in the file ("x\y\z")
  std::string           imageOrientationPatient; //!< as written in the file (six values)
  std::string           pixelSpacing;            //!< as written in the file ("row\column")
  std::string           sliceThickness;          //!< as written in the file; may be empty
  std::array<double, 3> position{ { 0.0, 0.0, 0.0 } };
};

/** Finds the DICOM series of \a directory (not recursive) that lies on the grid of \a grid and returns its
 * instances in slice order: element k is the instance of slice k of the grid.
 *
 * An instance belongs to slice k when its ImageOrientationPatient equals the grid's first two direction columns
 * (within 1e-3), its Rows/Columns and PixelSpacing equal the grid's size and spacing, and its
 * ImagePositionPatient lies on slice k: the distance along the slice normal within 0.1 slice spacing, the in-plane
 * offset within 0.1 pixel. With \a seriesInstanceUID empty every series of the directory is tried, largest first.
 * Throws itk::ExceptionObject naming the directory and the grid when no DICOM image is found, when the series has
 * more or fewer slices than the grid, or when a slice has no instance or two.
 * \ingroup TorchSegDICOMSegmentation */
std::vector<DICOMSourceInstance>
MatchDICOMSeriesToGrid(const itk::ImageBase<3> * grid, const std::string & directory,
                       const std::string & seriesInstanceUID = std::string());

/** Writes \a labels, a label map on the grid of a CT series read from \a sourceSeriesDirectory, as a DICOM
 * Segmentation Storage object \a outputFile (binary, or fractional with 0/255 values when options.type is
 * Fractional), atomically.
 *
 * Segments: one per entry of \a table, in table order (segment number = position in the table, so the LiTS table
 * gives liver = 1, tumour = 2), then one generic segment per voxel value present in the image without an entry.
 * Each segment carries the label name, RecommendedDisplayCIELabValue from the colour, SegmentedPropertyCategory
 * and Type codes (SCT 85756007 "Tissue" for entries without codes), algorithm AUTOMATIC with options.algorithmName.
 * Frames: one per segment and slice where the segment is present (options.skipEmptySlices), with its
 * PlanePositionSequence (the source instance's ImagePositionPatient) and a DerivationImageSequence referencing the
 * source instance of that slice; PlaneOrientation and PixelMeasures are shared. Patient, study and frame of
 * reference are copied from the source; ReferencedSeriesSequence lists every instance of the source series.
 * A segment absent from the whole image gets one empty frame on the first slice (so every class is present as a
 * definite "absent", and the object has frames even when the image has no foreground).
 * Throws itk::ExceptionObject naming the file or value at fault; leaves no partial output.
 * \ingroup TorchSegDICOMSegmentation */
void
WriteDICOMSegmentation(const LabelImageType * labels, const std::string & sourceSeriesDirectory,
                       const std::string & outputFile, const LabelTable & table,
                       const DICOMSegmentationOptions & options = DICOMSegmentationOptions());

/** Writes per-class probabilities as a FRACTIONAL DICOM Segmentation (MaximumFractionalValue 255: a probability p
 * is stored as round(255 p), so read back within 0.5/255). Component c of \a probabilities is label value c;
 * component 0 (the background) is not written. Segments as in the label-map overload, for the table's entries
 * whose value is a component; a frame is written where round(255 p) > 0 somewhere on the slice. */
void
WriteDICOMSegmentation(const ProbabilityImageType * probabilities, const std::string & sourceSeriesDirectory,
                       const std::string & outputFile, const LabelTable & table,
                       const DICOMSegmentationOptions & options = DICOMSegmentationOptions());

/** What ReadDICOMSegmentation() gives back. */
struct DICOMSegmentationContents
{
  /** The label map on the reference grid. */
  LabelImageType::Pointer labels;
  /** Fractional objects only (else nullptr): component c is the stored fraction (value / MaximumFractionalValue) of
   * label value c; component 0 is the background, max(0, 1 - sum of the others). */
  ProbabilityImageType::Pointer fractions;
  /** One entry per segment, with the label value it was mapped to, its name, colour and codes. */
  LabelTable            table;
  DICOMSegmentationType type = DICOMSegmentationType::Binary;
  unsigned int          maximumFractionalValue = 0;
  std::string           referencedSeriesInstanceUID; //!< the first item of ReferencedSeriesSequence, if any
  std::string           seriesDescription;
};

/** Reads a DICOM Segmentation object onto the grid of \a referenceGeometry (the CT of the source series).
 *
 * Label values: a segment matching an entry of \a labelValues (same SegmentedPropertyType code value and scheme,
 * and same category when both have one; else the same name, case-insensitive) takes that entry's value; otherwise
 * its segment number. Binary: a voxel takes the value of the segment whose frame covers it (the highest segment
 * number where segments overlap). Fractional: the value with the highest fraction, the background's being
 * 1 - the sum of the others (ties go to the lower value).
 * Each frame is placed by projecting its ImagePositionPatient on the reference's slice normal; a frame whose
 * orientation, size, spacing or position does not fall on the reference grid is an error naming the file and the
 * grid. Throws itk::ExceptionObject naming the file for a missing, unreadable or non-segmentation file.
 * \ingroup TorchSegDICOMSegmentation */
DICOMSegmentationContents
ReadDICOMSegmentation(const std::string & file, const itk::ImageBase<3> * referenceGeometry,
                      const LabelTable & labelValues = LabelTable());

/** The DICOM representation (L, a, b in 0..65535, CIELab as in PS3.3 C.10.7.1.1) of an sRGB colour, and back. */
std::array<uint16_t, 3>
RGBToDICOMLab(const std::array<uint8_t, 3> & rgb);
std::array<uint8_t, 3>
DICOMLabToRGB(const std::array<uint16_t, 3> & lab);

} // namespace torchseg

#endif
