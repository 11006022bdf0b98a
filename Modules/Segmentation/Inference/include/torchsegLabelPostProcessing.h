#ifndef torchsegLabelPostProcessing_h
#define torchsegLabelPostProcessing_h

#include "itkImage.h"

#include <cstdint>
#include <ostream>

namespace torchseg
{

/** \brief Clean-up of an organ and tumour segmentation (the LiTS convention by default: organ 1, tumour 2).
 *
 * Components are face-connected (6-neighbourhood). The organ region is the organ and the tumour labels together,
 * since a tumour lies inside its organ.
 * \ingroup TorchSegInference
 */
struct LabelPostProcessingOptions
{
  unsigned int organLabel = 1;
  /** 0 when the model has no tumour class. */
  unsigned int tumourLabel = 2;
  /** Keep only the largest connected component of the organ region; voxels of other components become background. */
  bool keepLargestOrganComponent = false;
  /** Tumour components that touch no organ voxel become background. */
  bool removeTumourOutsideOrgan = false;
  /** Tumour components smaller than this (mm^3) are dropped: they become organ where they touch the organ (a hole in
   * the organ would be wrong), background otherwise. 0 keeps all. */
  double minimumTumourVolume = 0.0;

  bool
  IsActive() const
  {
    return keepLargestOrganComponent || (tumourLabel != 0 && (removeTumourOutsideOrgan || minimumTumourVolume > 0.0));
  }
};

std::ostream &
operator<<(std::ostream & os, const LabelPostProcessingOptions & options);

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
