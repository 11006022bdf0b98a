#ifndef torchsegSegmentationFilter_hxx
#define torchsegSegmentationFilter_hxx

#include "itkImageAlgorithm.h"
#include "itkNumericTraits.h"

#include <algorithm>
#include <type_traits>

namespace torchseg
{

template <typename TInputImage, typename TOutputImage>
SegmentationFilter<TInputImage, TOutputImage>::SegmentationFilter()
{
  this->SetNumberOfRequiredInputs(1);
  this->SetNumberOfRequiredOutputs(2);
  this->SetNthOutput(0, this->MakeOutput(0));
  this->SetNthOutput(1, this->MakeOutput(1));
}

template <typename TInputImage, typename TOutputImage>
itk::DataObject::Pointer
SegmentationFilter<TInputImage, TOutputImage>::MakeOutput(DataObjectPointerArraySizeType index)
{
  if (index == 1)
  {
    return ProbabilityImageType::New().GetPointer();
  }
  return TOutputImage::New().GetPointer();
}

template <typename TInputImage, typename TOutputImage>
void
SegmentationFilter<TInputImage, TOutputImage>::SetModel(ModelPointer model)
{
  if (m_Model != model)
  {
    m_Model = std::move(model);
    m_LoadedModelFileName.clear();
    this->Modified();
  }
}

template <typename TInputImage, typename TOutputImage>
void
SegmentationFilter<TInputImage, TOutputImage>::SetDenseCRFParameters(const DenseCRFParameters & parameters)
{
  m_DenseCRFParameters = parameters;
  this->Modified();
}

template <typename TInputImage, typename TOutputImage>
auto
SegmentationFilter<TInputImage, TOutputImage>::GetProbabilityOutput() -> ProbabilityImageType *
{
  return dynamic_cast<ProbabilityImageType *>(this->itk::ProcessObject::GetOutput(1));
}

template <typename TInputImage, typename TOutputImage>
InferenceOptions
SegmentationFilter<TInputImage, TOutputImage>::GetInferenceOptions() const
{
  InferenceOptions o;
  o.overlap = m_Overlap;
  o.batchSize = m_BatchSize;
  o.mirroring = m_UseMirroring;
  o.gaussianWeighting = m_UseGaussianWeighting;
  o.numberOfThreads = m_NumberOfTorchThreads;
  o.slabSize = m_SlabSize;
  return o;
}

template <typename TInputImage, typename TOutputImage>
LabelPostProcessingOptions
SegmentationFilter<TInputImage, TOutputImage>::GetPostProcessingOptions() const
{
  LabelPostProcessingOptions o;
  o.organLabel = m_OrganLabel;
  o.tumourLabel = m_TumourLabel;
  o.keepLargestOrganComponent = m_KeepLargestOrganComponent;
  o.removeTumourOutsideOrgan = m_RemoveTumourOutsideOrgan;
  o.minimumTumourVolume = m_MinimumTumourVolume;
  if (m_UseModelPostProcessing && m_Model)
  {
    if (const auto recommended = GetRecommendedPostProcessing(*m_Model))
    {
      o.organLabel = recommended->organLabel;
      o.tumourLabel = recommended->tumourLabel;
      o.keepLargestOrganComponent = o.keepLargestOrganComponent || recommended->keepLargestOrganComponent;
      o.removeTumourOutsideOrgan = o.removeTumourOutsideOrgan || recommended->removeTumourOutsideOrgan;
      o.minimumTumourVolume = std::max(o.minimumTumourVolume, recommended->minimumTumourVolume);
    }
  }
  return o;
}

template <typename TInputImage, typename TOutputImage>
void
SegmentationFilter<TInputImage, TOutputImage>::VerifyPreconditions() ITKv5_CONST
{
  Superclass::VerifyPreconditions();
  if (!m_Model && m_ModelFileName.empty())
  {
    itkExceptionMacro(<< "No model: call SetModel() or SetModelFileName()");
  }
  if (m_UseDenseCRF)
  {
    DenseCRFMeanField::VerifyParameters(m_DenseCRFParameters);
  }
}

template <typename TInputImage, typename TOutputImage>
void
SegmentationFilter<TInputImage, TOutputImage>::PrepareModel()
{
  if (m_Model && m_LoadedModelFileName.empty())
  {
    // A model given by the caller: move it only when a device was asked for.
    if (!m_Device.empty())
    {
      MoveModelTo(*m_Model, m_Device);
    }
    return;
  }
  if (!m_Model || m_LoadedModelFileName != m_ModelFileName)
  {
    m_Model = LoadModel(m_ModelFileName, m_Device);
    m_LoadedModelFileName = m_ModelFileName;
  }
  else if (!m_Device.empty())
  {
    MoveModelTo(*m_Model, m_Device);
  }
}

template <typename TInputImage, typename TOutputImage>
void
SegmentationFilter<TInputImage, TOutputImage>::GenerateOutputInformation()
{
  Superclass::GenerateOutputInformation();
  this->PrepareModel();
  const unsigned int classes = GetNumberOfClasses(*m_Model);
  if (classes - 1 > static_cast<unsigned int>(itk::NumericTraits<typename TOutputImage::PixelType>::max()))
  {
    itkExceptionMacro(<< "The model has " << classes << " classes; the output pixel type cannot hold label "
                      << classes - 1);
  }
  this->GetProbabilityOutput()->SetNumberOfComponentsPerPixel(classes);
}

template <typename TInputImage, typename TOutputImage>
void
SegmentationFilter<TInputImage, TOutputImage>::GenerateInputRequestedRegion()
{
  Superclass::GenerateInputRequestedRegion();
  if (auto * input = const_cast<TInputImage *>(this->GetInput()))
  {
    input->SetRequestedRegionToLargestPossibleRegion();
  }
}

template <typename TInputImage, typename TOutputImage>
void
SegmentationFilter<TInputImage, TOutputImage>::EnlargeOutputRequestedRegion(itk::DataObject * output)
{
  Superclass::EnlargeOutputRequestedRegion(output);
  for (unsigned int i = 0; i < this->GetNumberOfIndexedOutputs(); ++i)
  {
    if (itk::DataObject * o = this->itk::ProcessObject::GetOutput(i))
    {
      o->SetRequestedRegionToLargestPossibleRegion();
    }
  }
}

template <typename TInputImage, typename TOutputImage>
void
SegmentationFilter<TInputImage, TOutputImage>::GenerateData()
{
  using FloatImageType = itk::Image<float, 3>;
  using LabelImageType = itk::Image<uint8_t, 3>;
  const TInputImage * input = this->GetInput();
  const auto          region = input->GetLargestPossibleRegion();

  // The engine reads float voxels; a float input is used in place.
  typename FloatImageType::ConstPointer ct;
  if constexpr (std::is_same_v<TInputImage, FloatImageType>)
  {
    ct = input;
  }
  else
  {
    auto copy = FloatImageType::New();
    copy->CopyInformation(input);
    copy->SetRegions(region);
    copy->Allocate();
    itk::ImageAlgorithm::Copy(input, copy.GetPointer(), region, region);
    ct = copy;
  }

  TOutputImage * output = this->GetOutput();
  output->SetBufferedRegion(output->GetRequestedRegion());
  output->Allocate();
  typename LabelImageType::Pointer labels;
  if constexpr (std::is_same_v<TOutputImage, LabelImageType>)
  {
    labels = output;
  }
  else
  {
    labels = LabelImageType::New();
    labels->CopyInformation(output);
    labels->SetRegions(region);
    labels->Allocate();
  }

  // The CRF needs the full-resolution probabilities: in output 1 when asked for, else in a temporary image.
  ProbabilityImageType *                 probabilities = nullptr;
  typename ProbabilityImageType::Pointer temporaryProbabilities;
  if (m_ComputeProbabilities)
  {
    probabilities = this->GetProbabilityOutput();
    probabilities->SetBufferedRegion(probabilities->GetRequestedRegion());
    probabilities->Allocate();
  }
  else if (m_UseDenseCRF)
  {
    temporaryProbabilities = ProbabilityImageType::New();
    temporaryProbabilities->CopyInformation(output);
    temporaryProbabilities->SetRegions(region);
    temporaryProbabilities->SetNumberOfComponentsPerPixel(
      this->GetProbabilityOutput()->GetNumberOfComponentsPerPixel());
    temporaryProbabilities->Allocate();
    probabilities = temporaryProbabilities;
  }

  m_DenseCRFReport = DenseCRFRefinementReport();
  const float networkEnd = m_UseDenseCRF ? 0.7f : 0.97f;
  RunInference(*m_Model, ct, labels, probabilities, this->GetInferenceOptions(), this, 0.0f, networkEnd);
  if (m_UseDenseCRF)
  {
    m_DenseCRFReport = RefineWithDenseCRF(ct, probabilities, labels, m_DenseCRFParameters, this, networkEnd, 0.97f);
    temporaryProbabilities = nullptr;
  }
  m_PostProcessingReport = PostProcessLabels(labels, this->GetPostProcessingOptions());
  if constexpr (!std::is_same_v<TOutputImage, LabelImageType>)
  {
    itk::ImageAlgorithm::Copy(labels.GetPointer(), output, region, region);
  }
  this->UpdateProgress(1.0f);
}

template <typename TInputImage, typename TOutputImage>
void
SegmentationFilter<TInputImage, TOutputImage>::PrintSelf(std::ostream & os, itk::Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "Model: " << (m_Model ? "set" : "none") << std::endl;
  os << indent << "ModelFileName: " << m_ModelFileName << std::endl;
  os << indent << "LoadedModelFileName: " << m_LoadedModelFileName << std::endl;
  os << indent << "Device: " << (m_Device.empty() ? "(model's)" : m_Device) << std::endl;
  os << indent << "NumberOfTorchThreads: " << m_NumberOfTorchThreads << std::endl;
  os << indent << "Overlap: " << m_Overlap << std::endl;
  os << indent << "BatchSize: " << m_BatchSize << std::endl;
  os << indent << "UseMirroring: " << m_UseMirroring << std::endl;
  os << indent << "UseGaussianWeighting: " << m_UseGaussianWeighting << std::endl;
  os << indent << "ComputeProbabilities: " << m_ComputeProbabilities << std::endl;
  os << indent << "SlabSize: " << m_SlabSize << std::endl;
  os << indent << "OrganLabel: " << m_OrganLabel << std::endl;
  os << indent << "TumourLabel: " << m_TumourLabel << std::endl;
  os << indent << "KeepLargestOrganComponent: " << m_KeepLargestOrganComponent << std::endl;
  os << indent << "RemoveTumourOutsideOrgan: " << m_RemoveTumourOutsideOrgan << std::endl;
  os << indent << "MinimumTumourVolume: " << m_MinimumTumourVolume << std::endl;
  os << indent << "UseModelPostProcessing: " << m_UseModelPostProcessing << std::endl;
  os << indent << "UseDenseCRF: " << m_UseDenseCRF << std::endl;
  os << indent << "DenseCRFParameters: " << m_DenseCRFParameters << std::endl;
  os << indent << "DenseCRFReport: " << m_DenseCRFReport << std::endl;
  os << indent << "PostProcessingReport: " << m_PostProcessingReport.organComponents << " organ components, "
     << m_PostProcessingReport.removedOrganVoxels << " organ voxels removed, "
     << m_PostProcessingReport.tumourComponents << " tumour components, "
     << m_PostProcessingReport.removedTumourComponents << " removed" << std::endl;
}

} // namespace torchseg

#endif
