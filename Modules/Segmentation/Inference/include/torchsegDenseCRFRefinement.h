#ifndef torchsegDenseCRFRefinement_h
#define torchsegDenseCRFRefinement_h

#include "torchsegDenseCRFMeanField.h"

#include "itkImage.h"
#include "itkImageRegion.h"
#include "itkProcessObject.h"
#include "itkVectorImage.h"

#include <cstdint>
#include <ostream>

namespace torchseg
{

/** \brief What the dense CRF did in one refinement.
 * \ingroup TorchSegInference
 */
struct DenseCRFRefinementReport
{
  /** The region the mean-field iterations ran on (see DenseCRFParameters::RestrictToUncertainRegion): the whole
   * volume, the box of the voxels that are not certain background, or an empty region. */
  itk::ImageRegion<3> iteratedRegion;
  /** Vertices of the appearance kernel's lattice. */
  std::size_t latticePoints = 0;
  /** Labels that the CRF changed (against the argmax of the network's probabilities). */
  std::size_t changedLabels = 0;
};

std::ostream &
operator<<(std::ostream & os, const DenseCRFRefinementReport & report);

/** Refines a network's class probabilities with the fully connected CRF (DenseCRFImageFilter) and writes the labels
 * of the refined probabilities. \a ct is the CT in Hounsfield units, as read (so that thetaBeta is in HU), on the
 * grid of \a probabilities and \a labels; \a probabilities (one component per class, background first) is replaced
 * by the refined probabilities, \a labels by their argmax. Threads: ITK's global default. Progress goes to
 * \a reporter in [progressBegin, progressEnd], whose AbortGenerateData flag stops the CRF with itk::ProcessAborted
 * (leaving both images as they were). */
DenseCRFRefinementReport
RefineWithDenseCRF(const itk::Image<float, 3> * ct, itk::VectorImage<float, 3> * probabilities,
                   itk::Image<uint8_t, 3> * labels, const DenseCRFParameters & parameters,
                   itk::ProcessObject * reporter = nullptr, float progressBegin = 0.0f, float progressEnd = 1.0f);

} // namespace torchseg

#endif
