#ifndef torchsegOverlapMetricsImageFilter_h
#define torchsegOverlapMetricsImageFilter_h

#include "torchsegEvaluationMeasures.h"

#include "itkImageSink.h"

#include <map>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

namespace torchseg
{

/** \class OverlapMetricsImageFilter
 * \brief Voxel-overlap measures of every label between a reference and a predicted label image, from one
 * multi-threaded pass that builds the confusion matrix of all labels.
 *
 * An ImageSink: the measures are numbers, not an image, and a sink streams its inputs (SetNumberOfStreamDivisions
 * is not needed: the pass is one read of each voxel). Each work unit counts the (reference, prediction) label pairs of
 * its region into its own matrix, merged under a lock; per label L the filter then derives Dice, IoU, precision,
 * recall, specificity, false positive rate, false discovery rate, volume similarity, the signed relative volume
 * difference and the volumes in mL (OverlapMeasures), and over the whole image the pixel accuracy and the
 * unweighted mean IoU and mean Dice over the evaluated labels present in either image.
 *
 * The evaluated labels are those given to SetLabels(), or by default every label present in either image except
 * BackgroundValue. The two images must have the same size, origin, spacing and direction (VerifySameGeometry):
 * unlike ITK's LabelOverlapMeasuresImageFilter, a larger image is never silently cropped.
 *
 * \sa SurfaceDistanceMetricsImageFilter, OverlapMeasures
 * \ingroup TorchSegMetrics
 */
template <typename TLabelImage>
class ITK_TEMPLATE_EXPORT OverlapMetricsImageFilter : public itk::ImageSink<TLabelImage>
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(OverlapMetricsImageFilter);

  using Self = OverlapMetricsImageFilter;
  using Superclass = itk::ImageSink<TLabelImage>;
  using Pointer = itk::SmartPointer<Self>;
  using ConstPointer = itk::SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(OverlapMetricsImageFilter, ImageSink);

  using LabelImageType = TLabelImage;
  using LabelType = typename TLabelImage::PixelType;
  using RegionType = typename TLabelImage::RegionType;
  using LabelListType = std::vector<LabelType>;
  /** Counts of (reference label, prediction label) pairs: rows follow the reference, columns the prediction, both
   * in the order of GetPresentLabels(). */
  using ConfusionMatrixType = std::vector<std::vector<std::uint64_t>>;

  static_assert(std::is_integral<LabelType>::value, "OverlapMetricsImageFilter needs an integer label pixel type");

  /** The reference (ground truth) label image T: the first input. */
  void
  SetReferenceImage(const TLabelImage * image);
  const TLabelImage *
  GetReferenceImage() const;

  /** The predicted label image S. */
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

  /** The labels evaluated by the last update, sorted. */
  itkGetConstReferenceMacro(EvaluatedLabels, LabelListType);
  /** Every label that occurs in either image, sorted. */
  itkGetConstReferenceMacro(PresentLabels, LabelListType);
  itkGetConstReferenceMacro(ConfusionMatrix, ConfusionMatrixType);

  /** The number of voxels with reference label \a reference and predicted label \a prediction. */
  std::uint64_t
  GetConfusionCount(LabelType reference, LabelType prediction) const;

  /** The measures of one label (any label: one in neither image has status Absent). */
  OverlapMeasures
  GetMeasures(LabelType label) const;

  /** Voxels where prediction equals reference, over all voxels (all labels). */
  itkGetConstMacro(PixelAccuracy, double);
  /** Unweighted means over the evaluated labels present in either image; NaN when there is none. */
  itkGetConstMacro(MeanIoU, double);
  itkGetConstMacro(MeanDice, double);
  itkGetConstMacro(NumberOfPixels, std::uint64_t);
  /** The volume of one voxel in mm^3 (the product of the spacing). */
  itkGetConstMacro(VoxelVolume, double);

protected:
  OverlapMetricsImageFilter();
  ~OverlapMetricsImageFilter() override = default;

  void
  PrintSelf(std::ostream & os, itk::Indent indent) const override;

  void
  VerifyInputInformation() ITKv5_CONST override;

  void
  BeforeStreamedGenerateData() override;

  void
  ThreadedStreamedGenerateData(const RegionType & region) override;

  void
  AfterStreamedGenerateData() override;

private:
  using PairKey = std::pair<LabelType, LabelType>;

  LabelType                        m_BackgroundValue{};
  LabelListType                    m_Labels;
  LabelListType                    m_EvaluatedLabels;
  LabelListType                    m_PresentLabels;
  ConfusionMatrixType              m_ConfusionMatrix;
  std::map<PairKey, std::uint64_t> m_PairCounts;
  std::map<LabelType, std::size_t> m_LabelIndex; // position in m_PresentLabels
  std::vector<std::uint64_t>       m_ReferenceCounts;
  std::vector<std::uint64_t>       m_PredictionCounts;
  double                           m_PixelAccuracy{ std::numeric_limits<double>::quiet_NaN() };
  double                           m_MeanIoU{ std::numeric_limits<double>::quiet_NaN() };
  double                           m_MeanDice{ std::numeric_limits<double>::quiet_NaN() };
  std::uint64_t                    m_NumberOfPixels{ 0 };
  double                           m_VoxelVolume{ 1.0 };
  std::mutex                       m_Mutex;
};

} // namespace torchseg

#ifndef ITK_MANUAL_INSTANTIATION
#  include "torchsegOverlapMetricsImageFilter.hxx"
#endif

#endif
