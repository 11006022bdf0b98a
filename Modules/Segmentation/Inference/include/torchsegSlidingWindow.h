#ifndef torchsegSlidingWindow_h
#define torchsegSlidingWindow_h

#include <torch/types.h>

#include <vector>

namespace torchseg
{

/** The 1D Gaussian importance weights of a window of \a size voxels: exp(-(i - c)^2 / (2 sigma^2)) with the centre
 * c = (size - 1) / 2 (so the weights are mirror-symmetric) and sigma = size / 8 (nnU-Net), scaled so that the largest
 * weight is 1. Never zero: the border weight of a window is about exp(-8). */
torch::Tensor
GaussianWeights1D(int64_t size);

/** The importance map of a window: the outer product of GaussianWeights1D() over \a patch (tensor axis order);
 * its largest value is 1. */
torch::Tensor
GaussianImportanceMap(const std::vector<int64_t> & patch);

/** The start positions of sliding windows of \a patchSize over \a imageSize voxels (imageSize >= patchSize) with
 * neighbours sharing about \a overlap of a window: evenly spaced from 0 to imageSize - patchSize, as nnU-Net. */
std::vector<int64_t>
SlidingWindowPositions(int64_t imageSize, int64_t patchSize, double overlap);

} // namespace torchseg

#endif
