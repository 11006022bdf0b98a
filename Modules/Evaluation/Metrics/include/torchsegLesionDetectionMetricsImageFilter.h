#ifndef torchsegLesionDetectionMetricsImageFilter_h
#define torchsegLesionDetectionMetricsImageFilter_h

#include "torchsegEvaluationMeasures.h"

#include "itkImageSink.h"

#include <array>
#include <mutex>
#include <type_traits>
#include <vector>

namespace torchseg
{

/** \class LesionDetectionMetricsImageFilter
 * \brief Lesion-wise detection measures of one label: the connected components of the reference (lesions) and of
 * the prediction, which of them match, per-lesion size, position and Dice, and the detection rate, lesion-level
 * precision and F1, over all lesions and over those of at least a minimum diameter.
 *
 * An ImageSink, since the results are numbers: each work unit of the (streamable) pass records the runs of voxels
 * equal to the label along x in both images; after the pass the runs are labelled with a union-find over the runs of
 * neighbouring lines (the scan-line algorithm of ITK's ConnectedComponentImageFilter, with the same neighbourhoods:
 * FullyConnected gives face, edge and vertex neighbours, otherwise faces only), and the overlaps of reference and
 * predicted components come from intersecting the runs of each line. No label image is allocated: the memory and
 * the work after the pass follow the number of runs, not the number of voxels.
 *
 * A reference lesion and a predicted component match when they share at least MinimumOverlap voxels (1). A lesion
 * is detected when a predicted component matches it; its Dice is taken against the union of the predicted
 * components that match it (0 when none does). A predicted component that matches no lesion is a false positive.
 * Volumes and diameters depend on the spacing only: the equivalent diameter is that of the ball of the same volume,
 * the extent the bounding-box side along each image axis; the centroid (the mean voxel centre) is a world point
 * (TransformContinuousIndexToPhysicalPoint), so it follows origin and direction. The summary restricted to
 * MinimumDiameter (10 mm) counts the reference lesions and predicted components whose equivalent diameter is at
 * least that diameter.
 *
 * Both images must have the same size, origin, spacing and direction (VerifySameGeometry). Progress covers the pass;
 * an abort request stops the filter at the end of the current piece with itk::ProcessAborted.
 *
 * \sa LesionDetectionMeasures, OverlapMetricsImageFilter, itk::ConnectedComponentImageFilter
 * \ingroup TorchSegMetrics
 */
template <typename TLabelImage>
class ITK_TEMPLATE_EXPORT LesionDetectionMetricsImageFilter : public itk::ImageSink<TLabelImage>
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(LesionDetectionMetricsImageFilter);

  using Self = LesionDetectionMetricsImageFilter;
  using Superclass = itk::ImageSink<TLabelImage>;
  using Pointer = itk::SmartPointer<Self>;
  using ConstPointer = itk::SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(LesionDetectionMetricsImageFilter, ImageSink);

  static constexpr unsigned int ImageDimension = TLabelImage::ImageDimension;
  using LabelImageType = TLabelImage;
  using LabelType = typename TLabelImage::PixelType;
  using RegionType = typename TLabelImage::RegionType;
  using IndexType = typename TLabelImage::IndexType;

  static_assert(std::is_integral<LabelType>::value,
                "LesionDetectionMetricsImageFilter needs an integer label pixel type");
  static_assert(ImageDimension >= 2, "LesionDetectionMetricsImageFilter works on images of two or more dimensions");

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

  /** The label whose components are evaluated (1). */
  itkSetMacro(Label, LabelType);
  itkGetConstMacro(Label, LabelType);

  /** Face, edge and vertex neighbours connect (true, the default), or faces only; as in
   * itk::ConnectedComponentImageFilter. */
  itkSetMacro(FullyConnected, bool);
  itkGetConstMacro(FullyConnected, bool);
  itkBooleanMacro(FullyConnected);

  /** The number of shared voxels that makes a reference lesion and a predicted component match (1; at least 1). */
  itkSetMacro(MinimumOverlap, std::uint64_t);
  itkGetConstMacro(MinimumOverlap, std::uint64_t);

  /** The equivalent diameter (mm) from which components count in the restricted summary (10; finite, >= 0). */
  itkSetMacro(MinimumDiameter, double);
  itkGetConstMacro(MinimumDiameter, double);

  /** The pass streams: with several divisions each input is read piece by piece (the runs of all pieces are joined
   * before labelling), so that an upstream pipeline need not hold the whole image. */
  using Superclass::GetNumberOfStreamDivisions;
  using Superclass::SetNumberOfStreamDivisions;

  /** Everything the last update found. */
  itkGetConstReferenceMacro(Measures, LesionDetectionMeasures);

  /** Shortcuts into GetMeasures(): the summary over every component, and the one restricted to MinimumDiameter. */
  const LesionDetectionSummary &
  GetSummary() const
  {
    return m_Measures.all;
  }
  const LesionDetectionSummary &
  GetSummaryAboveMinimumDiameter() const
  {
    return m_Measures.aboveMinimumDiameter;
  }
  const std::vector<LesionComponent> &
  GetReferenceLesions() const
  {
    return m_Measures.referenceLesions;
  }
  const std::vector<LesionComponent> &
  GetPredictedComponents() const
  {
    return m_Measures.predictedComponents;
  }

protected:
  LesionDetectionMetricsImageFilter();
  ~LesionDetectionMetricsImageFilter() override = default;

  void
  PrintSelf(std::ostream & os, itk::Indent indent) const override;

  /** Refuses a zero MinimumOverlap and a negative or non-finite MinimumDiameter. */
  void
  VerifyPreconditions() ITKv5_CONST override;

  void
  VerifyInputInformation() ITKv5_CONST override;

  void
  BeforeStreamedGenerateData() override;

  /** The pass over one piece; after the last piece, the labelling and the measures. Here rather than in
   * AfterStreamedGenerateData, so that an abort request stops the filter (itk::ProcessAborted) while the streaming
   * loop can still reset the pipeline. */
  void
  StreamedGenerateData(unsigned int inputRequestedRegionNumber) override;

  /** Records the runs of the label in both images along x. */
  void
  ThreadedStreamedGenerateData(const RegionType & region) override;

private:
  /** Voxels [begin, end] (inclusive) of one line along x; \c line numbers the lines of the largest possible region
   * (x fastest among the other axes). */
  struct Run
  {
    itk::OffsetValueType line;
    itk::IndexValueType  begin;
    itk::IndexValueType  end;
  };
  using RunList = std::vector<Run>;

  /** The runs of all pieces in (line, begin) order, runs cut by a piece boundary along x joined again. */
  static RunList
  GatherRuns(std::vector<RunList> & pieces);

  /** Numbers the connected components of \a runs 1, 2, ... in raster order of their first voxel; returns the
   * component of each run and sets \a numberOfComponents. */
  std::vector<std::uint64_t>
  LabelRuns(const RunList & runs, std::uint64_t & numberOfComponents) const;

  /** Size, extent, bounding box and centroid of each component. */
  std::vector<LesionComponent>
  MeasureComponents(const RunList & runs, const std::vector<std::uint64_t> & componentOfRun,
                    std::uint64_t numberOfComponents) const;

  /** Labels the runs of all pieces, measures the components and matches them. */
  void
  ComputeMeasures();

  /** The line's index along the axes 1 .. ImageDimension - 1. */
  void
  DecodeLine(itk::OffsetValueType line, IndexType & index) const;

  void
  CheckAbort();

  LabelType               m_Label{ 1 };
  bool                    m_FullyConnected{ true };
  std::uint64_t           m_MinimumOverlap{ 1 };
  double                  m_MinimumDiameter{ 10.0 };
  LesionDetectionMeasures m_Measures;

  // The line numbering of the largest possible region, and the runs of each piece (reference, prediction).
  RegionType                                       m_LargestRegion;
  std::array<itk::OffsetValueType, ImageDimension> m_LineStride;
  std::vector<RunList>                             m_ReferencePieces;
  std::vector<RunList>                             m_PredictionPieces;
  std::mutex                                       m_Mutex;
};

} // namespace torchseg

#ifndef ITK_MANUAL_INSTANTIATION
#  include "torchsegLesionDetectionMetricsImageFilter.hxx"
#endif

#endif
