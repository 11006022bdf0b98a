#ifndef torchsegDenseCRFImageFilter_hxx
#define torchsegDenseCRFImageFilter_hxx

#include "torchsegDenseCRFImageFilter.h"

#include "itkMultiThreaderBase.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <vector>

namespace torchseg
{

template <typename TInputImage, typename TProbabilityImage, typename TLabelImage>
DenseCRFImageFilter<TInputImage, TProbabilityImage, TLabelImage>::DenseCRFImageFilter()
{
  this->AddRequiredInputName("ProbabilityImage", 1);
  this->SetNumberOfRequiredOutputs(2);
  this->SetNthOutput(0, this->MakeOutput(0));
  this->SetNthOutput(1, this->MakeOutput(1));
}

template <typename TInputImage, typename TProbabilityImage, typename TLabelImage>
itk::DataObject::Pointer
DenseCRFImageFilter<TInputImage, TProbabilityImage, TLabelImage>::MakeOutput(DataObjectPointerArraySizeType index)
{
  if (index == 1)
  {
    return TProbabilityImage::New().GetPointer();
  }
  return Superclass::MakeOutput(index);
}

template <typename TInputImage, typename TProbabilityImage, typename TLabelImage>
TProbabilityImage *
DenseCRFImageFilter<TInputImage, TProbabilityImage, TLabelImage>::GetProbabilityOutput()
{
  return dynamic_cast<TProbabilityImage *>(this->itk::ProcessObject::GetOutput(1));
}

template <typename TInputImage, typename TProbabilityImage, typename TLabelImage>
const TProbabilityImage *
DenseCRFImageFilter<TInputImage, TProbabilityImage, TLabelImage>::GetProbabilityOutput() const
{
  return dynamic_cast<const TProbabilityImage *>(this->itk::ProcessObject::GetOutput(1));
}

template <typename TInputImage, typename TProbabilityImage, typename TLabelImage>
void
DenseCRFImageFilter<TInputImage, TProbabilityImage, TLabelImage>::SetParameters(const DenseCRFParameters & p)
{
  this->SetAppearanceWeight(p.AppearanceWeight);
  this->SetAppearanceSpatialSigma(p.AppearanceSpatialSigma);
  this->SetAppearanceIntensitySigma(p.AppearanceIntensitySigma);
  this->SetSmoothnessWeight(p.SmoothnessWeight);
  this->SetSmoothnessSigma(p.SmoothnessSigma);
  this->SetNumberOfIterations(p.NumberOfIterations);
  this->SetMinimumProbability(p.MinimumProbability);
  this->SetProbabilitySumTolerance(p.ProbabilitySumTolerance);
  this->SetSmoothnessTruncation(p.SmoothnessTruncation);
  this->SetNormalization(p.Normalization);
  this->SetRestrictToUncertainRegion(p.RestrictToUncertainRegion);
}

template <typename TInputImage, typename TProbabilityImage, typename TLabelImage>
DenseCRFParameters
DenseCRFImageFilter<TInputImage, TProbabilityImage, TLabelImage>::GetParameters() const
{
  DenseCRFParameters p;
  p.AppearanceWeight = m_AppearanceWeight;
  p.AppearanceSpatialSigma = m_AppearanceSpatialSigma;
  p.AppearanceIntensitySigma = m_AppearanceIntensitySigma;
  p.SmoothnessWeight = m_SmoothnessWeight;
  p.SmoothnessSigma = m_SmoothnessSigma;
  p.NumberOfIterations = m_NumberOfIterations;
  p.MinimumProbability = m_MinimumProbability;
  p.ProbabilitySumTolerance = m_ProbabilitySumTolerance;
  p.SmoothnessTruncation = m_SmoothnessTruncation;
  p.Normalization = m_Normalization;
  p.RestrictToUncertainRegion = m_RestrictToUncertainRegion;
  return p;
}

template <typename TInputImage, typename TProbabilityImage, typename TLabelImage>
void
DenseCRFImageFilter<TInputImage, TProbabilityImage, TLabelImage>::VerifyPreconditions() ITKv5_CONST
{
  Superclass::VerifyPreconditions();
  DenseCRFMeanField::VerifyParameters(this->GetParameters());
}

template <typename TInputImage, typename TProbabilityImage, typename TLabelImage>
void
DenseCRFImageFilter<TInputImage, TProbabilityImage, TLabelImage>::VerifyInputInformation() ITKv5_CONST
{
  // One line naming the first difference (the superclass check lists all in several lines, and ignores the size).
  const TInputImage *       image = this->GetInput();
  const TProbabilityImage * probabilities = this->GetProbabilityImage();
  auto                      text = [](const auto & value) {
    std::ostringstream os;
    os << value;
    return os.str();
  };
  const auto imageSize = image->GetLargestPossibleRegion().GetSize();
  const auto probabilitySize = probabilities->GetLargestPossibleRegion().GetSize();
  if (imageSize != probabilitySize)
  {
    itkExceptionMacro(<< "the probability image's size " << text(probabilitySize) << " differs from the image's "
                      << text(imageSize));
  }
  const double spacingTolerance = 1.0e-6 * std::abs(image->GetSpacing()[0]);
  for (unsigned int d = 0; d < ImageDimension; ++d)
  {
    if (std::abs(image->GetSpacing()[d] - probabilities->GetSpacing()[d]) > spacingTolerance)
    {
      itkExceptionMacro(<< "the probability image's spacing " << text(probabilities->GetSpacing())
                        << " differs from the image's " << text(image->GetSpacing()));
    }
  }
  for (unsigned int d = 0; d < ImageDimension; ++d)
  {
    if (std::abs(image->GetOrigin()[d] - probabilities->GetOrigin()[d]) > spacingTolerance)
    {
      itkExceptionMacro(<< "the probability image's origin " << text(probabilities->GetOrigin())
                        << " differs from the image's " << text(image->GetOrigin()));
    }
  }
  for (unsigned int r = 0; r < ImageDimension; ++r)
  {
    for (unsigned int c = 0; c < ImageDimension; ++c)
    {
      if (std::abs(image->GetDirection()(r, c) - probabilities->GetDirection()(r, c)) > 1.0e-6)
      {
        std::ostringstream a;
        std::ostringstream b;
        for (unsigned int i = 0; i < ImageDimension; ++i)
        {
          for (unsigned int j = 0; j < ImageDimension; ++j)
          {
            a << (i + j ? " " : "") << probabilities->GetDirection()(i, j);
            b << (i + j ? " " : "") << image->GetDirection()(i, j);
          }
        }
        itkExceptionMacro(<< "the probability image's direction [" << a.str() << "] differs from the image's ["
                          << b.str() << "]");
      }
    }
  }
  const unsigned int classes = probabilities->GetNumberOfComponentsPerPixel();
  if (classes < 2)
  {
    itkExceptionMacro(<< "the probability image has " << classes << " component(s); at least 2 classes are needed");
  }
  if (static_cast<double>(classes - 1) > static_cast<double>(std::numeric_limits<LabelType>::max()))
  {
    itkExceptionMacro(<< "the probability image has " << classes << " classes, more than the label type holds");
  }
}

template <typename TInputImage, typename TProbabilityImage, typename TLabelImage>
void
DenseCRFImageFilter<TInputImage, TProbabilityImage, TLabelImage>::GenerateOutputInformation()
{
  Superclass::GenerateOutputInformation();
  const TProbabilityImage * probabilities = this->GetProbabilityImage();
  TProbabilityImage *       output = this->GetProbabilityOutput();
  if (probabilities && output)
  {
    output->SetNumberOfComponentsPerPixel(probabilities->GetNumberOfComponentsPerPixel());
  }
}

template <typename TInputImage, typename TProbabilityImage, typename TLabelImage>
void
DenseCRFImageFilter<TInputImage, TProbabilityImage, TLabelImage>::GenerateInputRequestedRegion()
{
  Superclass::GenerateInputRequestedRegion();
  if (auto * image = const_cast<TInputImage *>(this->GetInput()))
  {
    image->SetRequestedRegionToLargestPossibleRegion();
  }
  if (auto * probabilities = const_cast<TProbabilityImage *>(this->GetProbabilityImage()))
  {
    probabilities->SetRequestedRegionToLargestPossibleRegion();
  }
}

template <typename TInputImage, typename TProbabilityImage, typename TLabelImage>
void
DenseCRFImageFilter<TInputImage, TProbabilityImage, TLabelImage>::EnlargeOutputRequestedRegion(itk::DataObject *)
{
  for (unsigned int i = 0; i < this->GetNumberOfIndexedOutputs(); ++i)
  {
    if (auto * output = dynamic_cast<itk::ImageBase<ImageDimension> *>(this->itk::ProcessObject::GetOutput(i)))
    {
      output->SetRequestedRegionToLargestPossibleRegion();
    }
  }
}

template <typename TInputImage, typename TProbabilityImage, typename TLabelImage>
void
DenseCRFImageFilter<TInputImage, TProbabilityImage, TLabelImage>::GenerateData()
{
  const TInputImage *       image = this->GetInput();
  const TProbabilityImage * probabilities = this->GetProbabilityImage();
  this->AllocateOutputs();
  TLabelImage *       labels = this->GetOutput();
  TProbabilityImage * refined = this->GetProbabilityOutput();
  m_NumberOfLatticePoints = 0;
  m_IteratedRegion = RegionType();

  const auto region = image->GetLargestPossibleRegion();
  if (image->GetBufferedRegion() != region || probabilities->GetBufferedRegion() != region ||
      labels->GetBufferedRegion() != region || refined->GetBufferedRegion() != region)
  {
    itkExceptionMacro(<< "the whole image must be buffered (largest region " << region.GetSize() << ")");
  }
  std::vector<std::size_t> size(ImageDimension);
  std::vector<double>      spacing(ImageDimension);
  for (unsigned int d = 0; d < ImageDimension; ++d)
  {
    size[d] = region.GetSize(d);
    spacing[d] = image->GetSpacing()[d];
  }
  const unsigned int       classes = probabilities->GetNumberOfComponentsPerPixel();
  itk::MultiThreaderBase * threader = this->GetMultiThreader();
  threader->SetNumberOfWorkUnits(this->GetNumberOfWorkUnits());

  const auto * intensities = image->GetBufferPointer();
  bool         completed = false;
  try
  {
    DenseCRFMeanField crf(size, spacing, classes, threader);
    completed = crf.Run(
      probabilities->GetBufferPointer(),
      [intensities](std::size_t first, std::size_t count, float * out) {
        for (std::size_t i = 0; i < count; ++i)
        {
          out[i] = static_cast<float>(intensities[first + i]);
        }
      },
      this->GetParameters(),
      refined->GetBufferPointer(),
      [this](double progress) {
        this->UpdateProgress(static_cast<float>(0.98 * progress));
        return !this->GetAbortGenerateData();
      });
    m_NumberOfLatticePoints = crf.GetNumberOfLatticePoints();
    for (unsigned int d = 0; d < ImageDimension; ++d)
    {
      m_IteratedRegion.SetIndex(d, region.GetIndex(d) + static_cast<itk::IndexValueType>(crf.GetRegionIndex()[d]));
      m_IteratedRegion.SetSize(d, crf.GetRegionSize()[d]);
    }
  }
  catch (...)
  {
    // No partial output: the buffers hold nothing meaningful.
    labels->ReleaseData();
    refined->ReleaseData();
    throw;
  }
  if (!completed)
  {
    labels->ReleaseData();
    refined->ReleaseData();
    itk::ProcessAborted aborted(__FILE__, __LINE__);
    aborted.SetDescription("DenseCRFImageFilter: aborted");
    aborted.SetLocation(ITK_LOCATION);
    throw aborted;
  }

  // The label of each voxel: its most probable class (the lowest on ties).
  const float *     q = refined->GetBufferPointer();
  LabelType *       out = labels->GetBufferPointer();
  const std::size_t count = region.GetNumberOfPixels();
  const std::size_t ranges =
    std::max<std::size_t>(1, std::min<std::size_t>(this->GetNumberOfWorkUnits(), count / 4096));
  threader->ParallelizeArray(
    0,
    ranges,
    [&](itk::SizeValueType r) {
      const std::size_t end = count * (r + 1) / ranges;
      for (std::size_t i = count * r / ranges; i < end; ++i)
      {
        const float * qi = q + i * classes;
        unsigned int  best = 0;
        for (unsigned int c = 1; c < classes; ++c)
        {
          if (qi[c] > qi[best])
          {
            best = c;
          }
        }
        out[i] = static_cast<LabelType>(best);
      }
    },
    nullptr);
  this->UpdateProgress(1.0f);
}

template <typename TInputImage, typename TProbabilityImage, typename TLabelImage>
void
DenseCRFImageFilter<TInputImage, TProbabilityImage, TLabelImage>::PrintSelf(std::ostream & os, itk::Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "AppearanceWeight: " << m_AppearanceWeight << std::endl;
  os << indent << "AppearanceSpatialSigma: " << m_AppearanceSpatialSigma << std::endl;
  os << indent << "AppearanceIntensitySigma: " << m_AppearanceIntensitySigma << std::endl;
  os << indent << "SmoothnessWeight: " << m_SmoothnessWeight << std::endl;
  os << indent << "SmoothnessSigma: " << m_SmoothnessSigma << std::endl;
  os << indent << "NumberOfIterations: " << m_NumberOfIterations << std::endl;
  os << indent << "MinimumProbability: " << m_MinimumProbability << std::endl;
  os << indent << "ProbabilitySumTolerance: " << m_ProbabilitySumTolerance << std::endl;
  os << indent << "SmoothnessTruncation: " << m_SmoothnessTruncation << std::endl;
  os << indent << "Normalization: " << m_Normalization << std::endl;
  os << indent << "RestrictToUncertainRegion: " << m_RestrictToUncertainRegion << std::endl;
  os << indent << "NumberOfLatticePoints: " << m_NumberOfLatticePoints << std::endl;
  os << indent << "IteratedRegion: " << m_IteratedRegion << std::endl;
}

} // namespace torchseg

#endif
