#ifndef torchsegSurfaceDistanceMetricsImageFilter_h
#define torchsegSurfaceDistanceMetricsImageFilter_h

#include "torchsegEvaluationMeasures.h"
#include "torchsegMaskSurfaceDistance.h"

#include "itkImageSink.h"

#include <map>
#include <mutex>
#include <type_traits>
#include <vector>

namespace torchseg
{

/** \class SurfaceDistanceMetricsImageFilter
 * \brief Surface-distance measures of every label between a reference and a predicted label image: the Hausdorff
 * distance, its 95th percentile, the average symmetric surface distance (pooled), the mean of the two directed
 * average distances, the normalized surface Dice at a tolerance in mm, and the directed values.
 *
 * An ImageSink, since the results are numbers: one multi-threaded pass finds the bounding box of every label in
 * either image; then, per label, the two binary masks are cut out of the union of the two boxes (one voxel of margin,
 * clipped to the image), their surfaces found (voxels with a face neighbour outside the mask; outside the image
 * counts as outside) and the exact Euclidean distance transform of each surface (ComputeMaskSurfaceDistances:
 * separable, spacing-aware, voxel centres) evaluated at the other surface. Distances are in mm; since the direction
 * matrix is orthonormal, distances in the index grid scaled by the spacing are world distances.
 *
 * Empty masks follow SurfaceDistanceMeasures: a label in neither image is Absent (NaN); a label in only one has
 * NSD 0 and infinite distances. Progress is reported (the scan, then each label in proportion to its box) and an
 * abort request stops the filter between steps with itk::ProcessAborted.
 *
 * The two images must have the same size, origin, spacing and direction (VerifySameGeometry).
 *
 * \sa OverlapMetricsImageFilter, SurfaceDistanceMeasures
 * \ingroup TorchSegMetrics
 */
template <typename TLabelImage>
class ITK_TEMPLATE_EXPORT SurfaceDistanceMetricsImageFilter : public itk::ImageSink<TLabelImage>
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(SurfaceDistanceMetricsImageFilter);

  using Self = SurfaceDistanceMetricsImageFilter;
  using Superclass = itk::ImageSink<TLabelImage>;
  using Pointer = itk::SmartPointer<Self>;
  using ConstPointer = itk::SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(SurfaceDistanceMetricsImageFilter, ImageSink);

  static constexpr unsigned int ImageDimension = TLabelImage::ImageDimension;
  using LabelImageType = TLabelImage;
  using LabelType = typename TLabelImage::PixelType;
  using RegionType = typename TLabelImage::RegionType;
  using IndexType = typename TLabelImage::IndexType;
  using LabelListType = std::vector<LabelType>;

  static_assert(std::is_integral<LabelType>::value,
                "SurfaceDistanceMetricsImageFilter needs an integer label pixel type");
  static_assert(ImageDimension == 2 || ImageDimension == 3, "SurfaceDistanceMetricsImageFilter works in 2D and 3D");

  /** The reference (ground truth) label image: the first input. */
  void
  SetReferenceImage(const TLabelImage * image);
  const TLabelImage *
  GetReferenceImage() const;

  /** The predicted label image. */
  void
  SetPredictionImage(const TLabelImage * image);
  const TLabelImage *
  GetPredictionImage() const;

  /** The labels to evaluate; empty (the default) means every label present in either image except the background. */
  void
  SetLabels(const LabelListType & labels);
  itkGetConstReferenceMacro(Labels, LabelListType);

  /** The label left out of the default label set (0). */
  itkSetMacro(BackgroundValue, LabelType);
  itkGetConstMacro(BackgroundValue, LabelType);

  /** The tolerance tau (mm) of the normalized surface Dice (2 mm). */
  itkSetClampMacro(NSDTolerance, double, 0.0, itk::NumericTraits<double>::max());
  itkGetConstMacro(NSDTolerance, double);

  /** The percentile of the robust Hausdorff distance (95), with numpy's linear interpolation. */
  itkSetClampMacro(Percentile, double, 0.0, 100.0);
  itkGetConstMacro(Percentile, double);

  /** The labels evaluated by the last update, sorted. */
  itkGetConstReferenceMacro(EvaluatedLabels, LabelListType);

  /** The measures of one label (any label: one in neither image has status Absent). */
  SurfaceDistanceMeasures
  GetMeasures(LabelType label) const;

  /** The region the masks of \a label were cut from (the union bounding box with its margin); empty for a label in
   * neither image. */
  RegionType
  GetLabelRegion(LabelType label) const;

protected:
  SurfaceDistanceMetricsImageFilter();
  ~SurfaceDistanceMetricsImageFilter() override = default;

  void
  PrintSelf(std::ostream & os, itk::Indent indent) const override;

  void
  VerifyInputInformation() ITKv5_CONST override;

  void
  BeforeStreamedGenerateData() override;

  /** The bounding-box scan (the first 5% of the progress), then the distance computations. */
  void
  StreamedGenerateData(unsigned int inputRequestedRegionNumber) override;

  void
  ThreadedStreamedGenerateData(const RegionType & region) override;

private:
  struct LabelBox
  {
    IndexType lower;
    IndexType upper;
    bool      inReference = false;
    bool      inPrediction = false;
  };
  using BoxMap = std::map<LabelType, LabelBox>;

  static void
  Merge(BoxMap & into, const BoxMap & from);

  BinaryMaskPair
  ExtractMasks(LabelType label, const RegionType & region);

  void
  CheckAbort(double progress);

  /** The distances of every evaluated label, from the boxes of the scan. */
  void
  ComputeDistances();

  LabelType                                    m_BackgroundValue{};
  LabelListType                                m_Labels;
  double                                       m_NSDTolerance{ 2.0 };
  double                                       m_Percentile{ 95.0 };
  LabelListType                                m_EvaluatedLabels;
  BoxMap                                       m_Boxes;
  std::map<LabelType, RegionType>              m_LabelRegions;
  std::map<LabelType, SurfaceDistanceMeasures> m_Measures;
  std::mutex                                   m_Mutex;
};

} // namespace torchseg

#ifndef ITK_MANUAL_INSTANTIATION
#  include "torchsegSurfaceDistanceMetricsImageFilter.hxx"
#endif

#endif
