#ifndef torchsegSegmentationFilter_h
#define torchsegSegmentationFilter_h

#include "torchsegDenseCRFRefinement.h"
#include "torchsegInference.h"
#include "torchsegLabelPostProcessing.h"

#include "itkImageToImageFilter.h"
#include "itkVectorImage.h"

#include <memory>
#include <string>

namespace torchseg
{

/** \class SegmentationFilter
 * \brief Segments a CT volume with a trained network and returns a label image on exactly the input's grid.
 *
 * Every step follows the model's metadata (see RunInference()): reorientation to the model's canonical orientation,
 * resampling to its spacing, intensity normalisation, the network slice by slice (2D) or by overlapping patches (3D
 * sliding window, Gaussian weighting), optional mirroring, softmax, linear resampling of the class probabilities
 * back to the input grid, argmax, inverse reorientation. Then optional refinement by the fully connected CRF
 * (UseDenseCRF: on the class probabilities and the CT in Hounsfield units, see RefineWithDenseCRF()) and optional
 * clean-up (LabelPostProcessingOptions; by default with the clean-up the model file recommends, see
 * UseModelPostProcessing).
 *
 * Inputs: the CT (any scalar pixel type, Hounsfield units), and a model (SetModel(), or SetModelFileName() with
 * SetDevice()). Output 0: the labels (size, origin, spacing and direction equal the input's). Output 1 (with
 * ComputeProbabilities on): the class probabilities, one vector component per class, after the CRF when it runs and
 * before the clean-up.
 *
 * Whole-image work (the network needs context across the volume), so the filter asks for the whole input
 * (GenerateInputRequestedRegion) and produces the whole output (EnlargeOutputRequestedRegion); inside, it streams
 * slabs so that memory stays bounded.
 *
 * \code
 * auto filter = torchseg::SegmentationFilter<CTImageType, LabelImageType>::New();
 * filter->SetInput(reader->GetOutput());
 * filter->SetModelFileName("liver.pt");
 * filter->KeepLargestOrganComponentOn();
 * writer->SetInput(filter->GetOutput());
 * \endcode
 * \ingroup TorchSegInference
 */
template <typename TInputImage, typename TOutputImage = itk::Image<uint8_t, TInputImage::ImageDimension>>
class SegmentationFilter : public itk::ImageToImageFilter<TInputImage, TOutputImage>
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(SegmentationFilter);

  using Self = SegmentationFilter;
  using Superclass = itk::ImageToImageFilter<TInputImage, TOutputImage>;
  using Pointer = itk::SmartPointer<Self>;
  using ConstPointer = itk::SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(SegmentationFilter, ImageToImageFilter);

  static constexpr unsigned int ImageDimension = TInputImage::ImageDimension;
  static_assert(ImageDimension == 3, "SegmentationFilter segments 3D volumes");
  static_assert(TOutputImage::ImageDimension == 3, "SegmentationFilter writes 3D label images");

  using InputImageType = TInputImage;
  using OutputImageType = TOutputImage;
  using ProbabilityImageType = itk::VectorImage<float, 3>;
  using ModelPointer = std::shared_ptr<Model>;

  /** The model to run (shared: one loaded model can serve many filters, one at a time). */
  void
  SetModel(ModelPointer model);
  ModelPointer
  GetModel() const
  {
    return m_Model;
  }

  /** A model file to load when no model was set (TorchSeg format or TorchScript with metadata). */
  itkSetMacro(ModelFileName, std::string);
  itkGetConstReferenceMacro(ModelFileName, std::string);

  /** "cpu", "cuda" or "cuda:N"; empty keeps a given model where it is and loads files onto the CPU. An unusable GPU
   * is an error, never a silent fallback. */
  itkSetMacro(Device, std::string);
  itkGetConstReferenceMacro(Device, std::string);

  /** LibTorch intra-op threads; 0 = all hardware threads. (ITK's own work follows the global ITK thread count.) */
  itkSetClampMacro(NumberOfTorchThreads, int, 0, 4096);
  itkGetConstMacro(NumberOfTorchThreads, int);

  /** Fraction of a window shared with its neighbours in the sliding window, in [0, 0.95]. */
  itkSetClampMacro(Overlap, double, 0.0, 0.95);
  itkGetConstMacro(Overlap, double);

  /** Slices (2D) or patches (3D) per forward pass; 0 chooses. */
  itkSetClampMacro(BatchSize, int, 0, 4096);
  itkGetConstMacro(BatchSize, int);

  /** Mirroring test-time augmentation (4 passes for 2D networks, 8 for 3D). */
  itkSetMacro(UseMirroring, bool);
  itkGetConstMacro(UseMirroring, bool);
  itkBooleanMacro(UseMirroring);

  /** Gaussian importance weighting of overlapping windows (on by default); uniform weights when off. */
  itkSetMacro(UseGaussianWeighting, bool);
  itkGetConstMacro(UseGaussianWeighting, bool);
  itkBooleanMacro(UseGaussianWeighting);

  /** Also produce the class probabilities (output 1); costs 4 bytes per class per voxel. */
  itkSetMacro(ComputeProbabilities, bool);
  itkGetConstMacro(ComputeProbabilities, bool);
  itkBooleanMacro(ComputeProbabilities);

  /** Output slices per streaming step; 0 chooses (about 64 MB of probabilities). */
  itkSetClampMacro(SlabSize, int, 0, 1 << 20);
  itkGetConstMacro(SlabSize, int);

  /** Refine the class probabilities with the fully connected CRF (Kraehenbuehl and Koltun 2011, as DeepLab v1/v2) on
   * the CT in Hounsfield units before the argmax is final and before the clean-up; with mirroring, once on the
   * averaged probabilities. Off by default. The full-resolution probabilities are then held in memory (4 bytes per
   * class and voxel) even without ComputeProbabilities. */
  itkSetMacro(UseDenseCRF, bool);
  itkGetConstMacro(UseDenseCRF, bool);
  itkBooleanMacro(UseDenseCRF);

  /** The CRF's parameters (DenseCRFParameters' defaults unless set). */
  void
  SetDenseCRFParameters(const DenseCRFParameters & parameters);
  const DenseCRFParameters &
  GetDenseCRFParameters() const
  {
    return m_DenseCRFParameters;
  }

  /** What the CRF did in the last run (empty when it did not run). */
  const DenseCRFRefinementReport &
  GetDenseCRFReport() const
  {
    return m_DenseCRFReport;
  }

  /** Post-processing: the organ and tumour labels (tumour 0 = none). */
  itkSetMacro(OrganLabel, unsigned int);
  itkGetConstMacro(OrganLabel, unsigned int);
  itkSetMacro(TumourLabel, unsigned int);
  itkGetConstMacro(TumourLabel, unsigned int);
  /** Keep the largest connected component of the organ (organ and tumour voxels together). */
  itkSetMacro(KeepLargestOrganComponent, bool);
  itkGetConstMacro(KeepLargestOrganComponent, bool);
  itkBooleanMacro(KeepLargestOrganComponent);
  /** Drop tumour components that touch no organ voxel. */
  itkSetMacro(RemoveTumourOutsideOrgan, bool);
  itkGetConstMacro(RemoveTumourOutsideOrgan, bool);
  itkBooleanMacro(RemoveTumourOutsideOrgan);
  /** Drop tumour components smaller than this volume in mm^3 (they become organ inside the organ). */
  itkSetClampMacro(MinimumTumourVolume, double, 0.0, itk::NumericTraits<double>::max());
  itkGetConstMacro(MinimumTumourVolume, double);
  /** Apply the clean-up the model file recommends (ModelMetadata::postProcessing; on by default). Its labels then
   * replace OrganLabel and TumourLabel, and each of its steps is done in addition to those set above (the larger
   * minimum tumour volume wins). Off: only the settings above. */
  itkSetMacro(UseModelPostProcessing, bool);
  itkGetConstMacro(UseModelPostProcessing, bool);
  itkBooleanMacro(UseModelPostProcessing);

  /** The class probabilities (valid after Update() with ComputeProbabilities on). */
  ProbabilityImageType *
  GetProbabilityOutput();

  /** What the post-processing changed in the last run. */
  const LabelPostProcessingReport &
  GetPostProcessingReport() const
  {
    return m_PostProcessingReport;
  }

  /** The settings gathered as RunInference() and PostProcessLabels() take them. */
  InferenceOptions
  GetInferenceOptions() const;
  /** The clean-up the next Update() applies: the settings above, combined with the model's recommendation when
   * UseModelPostProcessing is on and the model (once set or loaded) has one. */
  LabelPostProcessingOptions
  GetPostProcessingOptions() const;

protected:
  SegmentationFilter();
  ~SegmentationFilter() override = default;

  void
  PrintSelf(std::ostream & os, itk::Indent indent) const override;

  void
  VerifyPreconditions() ITKv5_CONST override;

  /** Loads the model (when given by file name) and sets the probability output's number of components. */
  void
  GenerateOutputInformation() override;

  /** The network needs the whole volume. */
  void
  GenerateInputRequestedRegion() override;

  /** The whole label image is produced at once. */
  void
  EnlargeOutputRequestedRegion(itk::DataObject * output) override;

  void
  GenerateData() override;

  using DataObjectPointerArraySizeType = itk::ProcessObject::DataObjectPointerArraySizeType;
  using Superclass::MakeOutput;
  itk::DataObject::Pointer
  MakeOutput(DataObjectPointerArraySizeType index) override;

private:
  void
  PrepareModel();

  ModelPointer              m_Model;
  std::string               m_ModelFileName;
  std::string               m_LoadedModelFileName;
  std::string               m_Device;
  int                       m_NumberOfTorchThreads = 0;
  double                    m_Overlap = 0.5;
  int                       m_BatchSize = 0;
  bool                      m_UseMirroring = false;
  bool                      m_UseGaussianWeighting = true;
  bool                      m_ComputeProbabilities = false;
  int                       m_SlabSize = 0;
  unsigned int              m_OrganLabel = 1;
  unsigned int              m_TumourLabel = 2;
  bool                      m_KeepLargestOrganComponent = false;
  bool                      m_RemoveTumourOutsideOrgan = false;
  double                    m_MinimumTumourVolume = 0.0;
  bool                      m_UseModelPostProcessing = true;
  bool                      m_UseDenseCRF = false;
  DenseCRFParameters        m_DenseCRFParameters;
  DenseCRFRefinementReport  m_DenseCRFReport;
  LabelPostProcessingReport m_PostProcessingReport;
};

} // namespace torchseg

#ifndef ITK_MANUAL_INSTANTIATION
#  include "torchsegSegmentationFilter.hxx"
#endif

#endif
