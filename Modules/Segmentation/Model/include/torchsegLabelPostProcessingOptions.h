#ifndef torchsegLabelPostProcessingOptions_h
#define torchsegLabelPostProcessingOptions_h

#include <ostream>

namespace torchseg
{

/** \brief Clean-up of an organ and tumour segmentation (the LiTS convention by default: organ 1, tumour 2).
 *
 * Components are face-connected (6-neighbourhood). The organ region is the organ and the tumour labels together,
 * since a tumour lies inside its organ. PostProcessLabels() (TorchSegInference) applies it; a model file may
 * recommend one (ModelMetadata::postProcessing), which SegmentationFilter and TorchSegPredict then apply by default.
 * \ingroup TorchSegModel
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

/** "organ 1, tumour 2, keepLargestOrganComponent 1, ..." for logs. */
std::ostream &
operator<<(std::ostream & os, const LabelPostProcessingOptions & options);

} // namespace torchseg

#endif
