#ifndef torchsegTrainingData_h
#define torchsegTrainingData_h

#include "torchsegImageIO.h"
#include "torchsegModel.h"

#include "itkObject.h"
#include "itkObjectFactory.h"

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace torchseg
{

/** \brief One training case: a CT image and its reference label image (files or DICOM series directories).
 * \ingroup TorchSegTraining */
struct CaseFiles
{
  std::string image;
  std::string label;
};

/** Reads a list file: a CSV with the header "image,label" and one case per line; relative paths are relative to
 * the list file's directory; blank lines and lines starting with '#' are skipped. Errors (missing or unreadable
 * file, wrong header, a line without two fields, an empty list) name the file and line. Files are not opened. */
std::vector<CaseFiles>
ReadCaseList(const std::string & listFile);

/** The cases of a directory: every "<name>_ct<ext>" (file or DICOM directory "<name>_ct") with a
 * "<name>_label<ext>" beside it, sorted by name. Throws, naming the directory, when it holds no pair or a CT
 * without its label. */
std::vector<CaseFiles>
FindCasePairs(const std::string & directory);

/** ReadCaseList() for a file, FindCasePairs() for a directory. */
std::vector<CaseFiles>
ReadCases(const std::string & listFileOrDirectory);

/** Throws, naming both files, unless \a image and \a labels share size, origin, spacing and direction (to within
 * 1e-3 of a voxel / 1e-4 in the direction cosines). */
void
CheckSameGeometry(const itk::ImageBase<3> * image, const itk::ImageBase<3> * labels, const std::string & imagePath,
                  const std::string & labelPath);

/** Voxels per label value 0 .. numberOfClasses-1; throws, naming \a path and the value, when a voxel holds a value
 * outside the declared classes. */
std::vector<double>
CountLabelVoxels(const LabelImageType * labels, unsigned int numberOfClasses, const std::string & path);

/** The image reoriented by a permutation and flips of its axes (no resampling) so that its direction is as close
 * as possible to the direction of \a orientation ("LPS": the identity). Physical positions of voxels are kept: an
 * oblique image stays oblique by the residual rotation. This is the rule of the inference filter, so a network sees
 * training and test images the same way. */
template <typename TImage>
typename TImage::Pointer
ReorientToCanonical(const TImage * image, const std::string & orientation = "LPS");

/** The image resampled to \a spacing (x, y, z; 0 keeps the image's spacing on that axis), over the same field of
 * view (the outer voxel edges stay in place; size = round(extent / spacing)); linear interpolation, or nearest
 * neighbour for labels. Returns the input itself when nothing changes. */
template <typename TImage>
typename TImage::Pointer
ResampleToSpacing(const TImage * image, const std::array<double, 3> & spacing, bool nearestNeighbour);

/** \class ForegroundIntensityStatistics
 * \brief Accumulates the CT values of foreground voxels (label > 0) over a training set: a fine histogram for the
 * percentiles and per-image moments (count, mean, sum of squared deviations) for the mean and standard deviation; then
 * the normalisation nnU-Net uses for CT.
 *
 * Add() may be called from several threads at once. The result does not depend on the order of the calls: the
 * histogram holds integer counts, and the moments of the images are merged in the order of their keys (floating-point
 * merging is not associative, and the last bits of the normalisation reach every weight of a trained model).
 * \ingroup TorchSegTraining
 */
class ForegroundIntensityStatistics : public itk::Object
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(ForegroundIntensityStatistics);
  using Self = ForegroundIntensityStatistics;
  using Superclass = itk::Object;
  using Pointer = itk::SmartPointer<Self>;
  using ConstPointer = itk::SmartPointer<const Self>;
  itkNewMacro(Self);
  itkTypeMacro(ForegroundIntensityStatistics, itk::Object);

  /** Histogram range and bin width in HU; values outside are counted in the end bins (for the percentiles only). */
  static constexpr double HistogramMinimum = -4096.0;
  static constexpr double HistogramMaximum = 12288.0;
  static constexpr double BinWidth = 0.25;

  /** Adds the voxels of \a image where \a labels is non-zero (same grid, checked by the caller), merged after the
   * images added so far. */
  void
  Add(const CTImageType * image, const LabelImageType * labels);
  /** Likewise, merged in the order of \a key (e.g. the case index) whatever the order of the calls; each key once. */
  void
  Add(const CTImageType * image, const LabelImageType * labels, uint64_t key);

  std::size_t
  GetNumberOfVoxels() const;
  double
  GetMean() const;
  double
  GetStandardDeviation() const;
  /** The \a q-quantile (0..1) with linear interpolation between order statistics, as numpy.percentile; exact for
   * values on the bin grid (integer HU). */
  double
  GetQuantile(double q) const;

  /** method "zscore": clip to the 0.5/99.5 percentiles, then the foreground mean and standard deviation (of the
   * unclipped values, as nnU-Net). method "window": clip to [windowLow, windowHigh] mapped to [0, 1] (no
   * statistics needed). Throws when zscore is asked for and no foreground voxel was seen. */
  IntensityNormalization
  ComputeNormalization(const std::string & method, double windowLow = -200.0, double windowHigh = 300.0) const;

protected:
  ForegroundIntensityStatistics();
  ~ForegroundIntensityStatistics() override = default;
  void
  PrintSelf(std::ostream & os, itk::Indent indent) const override;

private:
  struct Moments
  {
    uint64_t count = 0;
    double   mean = 0.0;
    double   sumOfSquaredDeviations = 0.0;
  };
  /** The moments of every image merged in key order (Chan et al.). */
  Moments
  MergedMoments() const;

  mutable std::mutex          m_Mutex;
  std::vector<uint64_t>       m_Histogram;
  std::map<uint64_t, Moments> m_Moments; //!< per added image, by key
};

} // namespace torchseg

#include "torchsegTrainingData.hxx"

#endif
