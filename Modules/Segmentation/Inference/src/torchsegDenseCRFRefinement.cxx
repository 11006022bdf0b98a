#include "torchsegDenseCRFRefinement.h"

#include "torchsegDenseCRFImageFilter.h"

#include "itkCommand.h"
#include "itkMultiThreaderBase.h"

#include <algorithm>

namespace torchseg
{

std::ostream &
operator<<(std::ostream & os, const DenseCRFRefinementReport & report)
{
  os << "iterated region " << report.iteratedRegion.GetIndex() << " " << report.iteratedRegion.GetSize() << ", "
     << report.latticePoints << " lattice vertices, " << report.changedLabels << " labels changed";
  return os;
}

DenseCRFRefinementReport
RefineWithDenseCRF(const itk::Image<float, 3> * ct, itk::VectorImage<float, 3> * probabilities,
                   itk::Image<uint8_t, 3> * labels, const DenseCRFParameters & parameters,
                   itk::ProcessObject * reporter, float progressBegin, float progressEnd)
{
  using CTImageType = itk::Image<float, 3>;
  using ProbabilityImageType = itk::VectorImage<float, 3>;
  using LabelImageType = itk::Image<uint8_t, 3>;
  using CRFType = DenseCRFImageFilter<CTImageType, ProbabilityImageType, LabelImageType>;

  // The images may belong to another pipeline (the segmentation filter's input and outputs): the CRF reads grafted
  // views of their buffers, so that its update never reaches their sources.
  auto ctView = CTImageType::New();
  ctView->Graft(ct);
  auto probabilityView = ProbabilityImageType::New();
  probabilityView->Graft(probabilities);

  auto crf = CRFType::New();
  crf->SetInput(ctView);
  crf->SetProbabilityImage(probabilityView);
  crf->SetParameters(parameters);
  crf->SetNumberOfWorkUnits(itk::MultiThreaderBase::GetGlobalDefaultNumberOfThreads());
  if (reporter)
  {
    crf->AddObserver(itk::ProgressEvent(), [&](const itk::EventObject &) {
      reporter->UpdateProgress(progressBegin + (progressEnd - progressBegin) * crf->GetProgress());
      if (reporter->GetAbortGenerateData())
      {
        crf->AbortGenerateDataOn();
      }
    });
  }
  crf->Update();

  DenseCRFRefinementReport report;
  report.iteratedRegion = crf->GetIteratedRegion();
  report.latticePoints = crf->GetNumberOfLatticePoints();
  const std::size_t pixels = labels->GetBufferedRegion().GetNumberOfPixels();
  const uint8_t *   refinedLabels = crf->GetOutput()->GetBufferPointer();
  uint8_t *         out = labels->GetBufferPointer();
  for (std::size_t i = 0; i < pixels; ++i)
  {
    report.changedLabels += out[i] != refinedLabels[i];
  }
  std::copy_n(refinedLabels, pixels, out);
  std::copy_n(crf->GetProbabilityOutput()->GetBufferPointer(),
              pixels * probabilities->GetNumberOfComponentsPerPixel(),
              probabilities->GetBufferPointer());
  return report;
}

} // namespace torchseg
