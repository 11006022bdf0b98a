#ifndef torchsegLabelPostProcessing_h
#define torchsegLabelPostProcessing_h

#include "itkImage.h"
#include "torchsegLabelPostProcessingOptions.h"

#include <cstdint>
#include <ostream>

namespace torchseg
{

/** What PostProcessLabels() changed, in voxels. */
struct LabelPostProcessingReport
{
  std::size_t organComponents = 0;    //!< components of the organ region before clean-up
  std::size_t removedOrganVoxels = 0; //!< organ-region voxels outside the largest component
  std::size_t tumourComponents = 0;   //!< tumour components before clean-up
  std::size_t removedTumourComponents = 0;
};

/** Applies \a options to \a labels in place. Works on the bounding box of the organ and tumour voxels only, so the
 * component images stay small for whole-body CTs. Throws when a label is out of range. */
LabelPostProcessingReport
PostProcessLabels(itk::Image<uint8_t, 3> * labels, const LabelPostProcessingOptions & options);

} // namespace torchseg

#endif
