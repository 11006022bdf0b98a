#ifndef torchsegLosses_h
#define torchsegLosses_h

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <ostream>
#include <string>
#include <vector>

namespace torchseg
{

/** \brief The losses of TorchSegTrain (--loss ce|wce|dice|dicece).
 * \ingroup TorchSegTraining */
enum class LossKind
{
  CrossEntropy,         //!< "ce"
  WeightedCrossEntropy, //!< "wce"
  Dice,                 //!< "dice"
  DiceCrossEntropy      //!< "dicece", nnU-Net's default
};

/** "ce", "wce", "dice" or "dicece"; throws itk::ExceptionObject naming the value otherwise. */
LossKind
ParseLossKind(const std::string & name);
std::string
ToString(LossKind kind);

/** Pixel-wise cross-entropy over every position and class.
 *
 * \a logits has shape (N, C, spatial...), \a target (N, spatial...) holds class indices (any integer type). Without
 * weights the result is the mean over all positions of -log softmax(logits)[target]. With per-class weights w (a
 * tensor of C values) it is PyTorch's weighted mean: sum_i w[t_i] * -log p_i[t_i] / sum_i w[t_i]. */
torch::Tensor
CrossEntropyLoss(const torch::Tensor & logits, const torch::Tensor & target,
                 const torch::Tensor & classWeights = torch::Tensor());

/** \brief Options of the soft Dice loss.
 * \ingroup TorchSegTraining */
struct SoftDiceOptions
{
  /** Average over every class, or over the foreground classes only (nnU-Net excludes the background). */
  bool includeBackground = true;
  /** Added to the numerator and the denominator: an absent class predicted absent scores 1, and gradients stay
   * finite. */
  double smooth = 1e-5;
  /** Accumulate the sums over the whole batch (nnU-Net's "batch Dice", stable for classes absent from some
   * samples) rather than per sample, then averaged over the samples. */
  bool batchDice = true;
};

/** Soft Dice loss on probabilities: 1 - mean_c (2 sum(y y') + s) / (sum(y^2) + sum(y'^2) + s), the sums running over
 * the spatial positions (and the batch with batchDice), y the one-hot target and y' the probabilities, both of shape
 * (N, C, spatial...). */
torch::Tensor
SoftDiceLossFromProbabilities(const torch::Tensor & probabilities, const torch::Tensor & oneHotTarget,
                              const SoftDiceOptions & options = SoftDiceOptions());

/** Soft Dice loss of logits (N, C, spatial...) against class indices (N, spatial...): softmax over the classes,
 * one-hot targets, then SoftDiceLossFromProbabilities. */
torch::Tensor
SoftDiceLoss(const torch::Tensor & logits, const torch::Tensor & target,
             const SoftDiceOptions & options = SoftDiceOptions());

/** One-hot encoding (N, C, spatial...) as float of class indices (N, spatial...). */
torch::Tensor
OneHot(const torch::Tensor & target, int64_t numberOfClasses);

/** \brief Voxel counts per class over a training set, from which class weights are computed.
 * \ingroup TorchSegTraining */
struct ClassFrequencies
{
  /** Voxels of each class over all images. */
  std::vector<double> voxels;
  /** For each class, the total number of voxels of the images in which that class occurs (the denominator of the
   * median-frequency scheme). */
  std::vector<double> voxelsOfImagesWithClass;

  /** Adds one label image's per-class voxel counts. */
  void
  Add(const std::vector<double> & countsOfOneImage);
};

/** How per-class weights are derived from the training labels. */
enum class ClassWeighting
{
  /** w_c = N / (C * n_c): "balanced" weights; every class then carries the same total weight. */
  InverseFrequency,
  /** Eigen and Fergus: f_c = n_c / (voxels of the images containing c), w_c = median(f) / f_c. */
  MedianFrequency
};

/** Per-class weights; a class that never occurs gets weight 0 (it never is a target), and the weights are
 * otherwise exactly as documented for \a method. Throws when no class occurs at all. */
std::vector<double>
ComputeClassWeights(const ClassFrequencies & frequencies, ClassWeighting method);

/** Deep-supervision weights for \a numberOfHeads heads ordered from the full resolution down: halving per head,
 * normalised to sum 1 (1 head: {1}; 3 heads: {4/7, 2/7, 1/7}). */
std::vector<double>
DeepSupervisionWeights(std::size_t numberOfHeads);

/** Class indices (N, spatial...) resampled by nearest neighbour to the spatial size \a size (PyTorch's "nearest":
 * source index floor(i * in / out)). */
torch::Tensor
DownsampleLabels(const torch::Tensor & target, torch::IntArrayRef size);

/** \brief Options of SegmentationLoss.
 * \ingroup TorchSegTraining */
struct SegmentationLossOptions
{
  LossKind kind = LossKind::DiceCrossEntropy;
  int64_t  numberOfClasses = 3;
  /** Per-class weights of the cross-entropy term (wce requires them; dicece may use them; ce and dice refuse them). */
  std::vector<double> classWeights;
  double              crossEntropyWeight = 1.0; //!< dicece: weight of the cross-entropy term
  double              diceWeight = 1.0;         //!< dicece: weight of the Dice term
  SoftDiceOptions     dice{ false, 1e-5, true };
};

std::ostream &
operator<<(std::ostream & os, const SegmentationLossOptions & options);

/** \class SegmentationLossImpl
 * \brief The training loss: cross-entropy, weighted cross-entropy, soft Dice or Dice + cross-entropy, with
 * deep-supervision weighting for networks with several heads.
 *
 * The constructor validates the options (weights count, non-negative weights, ...) and throws
 * itk::ExceptionObject naming the value at fault.
 * \ingroup TorchSegTraining
 */
class SegmentationLossImpl : public torch::nn::Module
{
public:
  explicit SegmentationLossImpl(SegmentationLossOptions options);

  /** The loss of logits (N, C, spatial...) against class indices (N, spatial...). */
  torch::Tensor
  forward(const torch::Tensor & logits, const torch::Tensor & target);

  /** Deep supervision: \a heads ordered from full resolution down (as SegmentationNetworkImpl::forwardWithAuxiliary
   * returns them); each head is compared with the target downsampled (nearest) to its size, and the losses are
   * combined with DeepSupervisionWeights(). One head gives forward(heads[0], target). */
  torch::Tensor
  forwardDeepSupervision(const std::vector<torch::Tensor> & heads, const torch::Tensor & target);

  const SegmentationLossOptions &
  GetOptions() const
  {
    return m_Options;
  }

private:
  SegmentationLossOptions m_Options;
  torch::Tensor           m_ClassWeights;
};

TORCH_MODULE(SegmentationLoss);

} // namespace torchseg

#endif
