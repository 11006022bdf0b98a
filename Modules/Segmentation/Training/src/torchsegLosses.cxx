#include "torchsegLosses.h"

#include "torchsegTensorBridge.h"

#include "itkMacro.h"

#include <torch/nn/functional/loss.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace torchseg
{

LossKind
ParseLossKind(const std::string & name)
{
  if (name == "ce")
    return LossKind::CrossEntropy;
  if (name == "wce")
    return LossKind::WeightedCrossEntropy;
  if (name == "dice")
    return LossKind::Dice;
  if (name == "dicece")
    return LossKind::DiceCrossEntropy;
  itkGenericExceptionMacro(<< "Loss \"" << name << "\" is not one of ce, wce, dice, dicece");
}

std::string
ToString(LossKind kind)
{
  switch (kind)
  {
    case LossKind::CrossEntropy:
      return "ce";
    case LossKind::WeightedCrossEntropy:
      return "wce";
    case LossKind::Dice:
      return "dice";
    case LossKind::DiceCrossEntropy:
      return "dicece";
  }
  return "unknown";
}

namespace
{

void
CheckShapes(const torch::Tensor & logits, const torch::Tensor & target, const char * what)
{
  if (!logits.defined() || !target.defined() || logits.dim() < 3 || target.dim() != logits.dim() - 1 ||
      logits.size(0) != target.size(0) || logits.sizes().slice(2) != target.sizes().slice(1))
  {
    itkGenericExceptionMacro(<< what << ": logits " << ShapeToString(logits) << " and target " << ShapeToString(target)
                             << " do not match (expected (N, C, spatial...) and (N, spatial...))");
  }
}

} // namespace

torch::Tensor
CrossEntropyLoss(const torch::Tensor & logits, const torch::Tensor & target, const torch::Tensor & classWeights)
{
  CheckShapes(logits, target, "CrossEntropyLoss");
  namespace F = torch::nn::functional;
  auto options = F::CrossEntropyFuncOptions().reduction(torch::kMean);
  if (classWeights.defined())
  {
    if (classWeights.dim() != 1 || classWeights.size(0) != logits.size(1))
    {
      itkGenericExceptionMacro(<< "CrossEntropyLoss: " << classWeights.numel() << " class weights for "
                               << logits.size(1) << " classes");
    }
    options.weight(classWeights.to(logits.options()));
  }
  return F::cross_entropy(logits, target.to(torch::kLong), options);
}

torch::Tensor
OneHot(const torch::Tensor & target, int64_t numberOfClasses)
{
  // one_hot appends the class axis last: move it to position 1.
  torch::Tensor        h = torch::one_hot(target.to(torch::kLong), numberOfClasses);
  std::vector<int64_t> order{ 0, h.dim() - 1 };
  for (int64_t d = 1; d < h.dim() - 1; ++d)
  {
    order.push_back(d);
  }
  return h.permute(order).to(torch::kFloat32).contiguous();
}

torch::Tensor
SoftDiceLossFromProbabilities(const torch::Tensor & probabilities, const torch::Tensor & oneHotTarget,
                              const SoftDiceOptions & options)
{
  if (!probabilities.defined() || probabilities.sizes() != oneHotTarget.sizes() || probabilities.dim() < 3)
  {
    itkGenericExceptionMacro(<< "SoftDiceLoss: probabilities " << ShapeToString(probabilities) << " and one-hot target "
                             << ShapeToString(oneHotTarget) << " differ in shape");
  }
  torch::Tensor p = probabilities;
  torch::Tensor y = oneHotTarget.to(p.options());
  if (!options.includeBackground)
  {
    if (p.size(1) < 2)
    {
      itkGenericExceptionMacro(<< "SoftDiceLoss: excluding the background leaves no class of " << p.size(1));
    }
    p = p.slice(1, 1);
    y = y.slice(1, 1);
  }
  // Sum over the spatial axes, and over the batch for batch Dice.
  std::vector<int64_t> axes;
  if (options.batchDice)
  {
    axes.push_back(0);
  }
  for (int64_t d = 2; d < p.dim(); ++d)
  {
    axes.push_back(d);
  }
  const torch::Tensor intersection = (p * y).sum(axes);
  const torch::Tensor denominator = (p * p).sum(axes) + (y * y).sum(axes);
  const torch::Tensor dice = (2.0 * intersection + options.smooth) / (denominator + options.smooth);
  return 1.0 - dice.mean();
}

torch::Tensor
SoftDiceLoss(const torch::Tensor & logits, const torch::Tensor & target, const SoftDiceOptions & options)
{
  CheckShapes(logits, target, "SoftDiceLoss");
  return SoftDiceLossFromProbabilities(torch::softmax(logits, 1), OneHot(target, logits.size(1)), options);
}

void
ClassFrequencies::Add(const std::vector<double> & countsOfOneImage)
{
  if (voxels.size() < countsOfOneImage.size())
  {
    voxels.resize(countsOfOneImage.size(), 0.0);
    voxelsOfImagesWithClass.resize(countsOfOneImage.size(), 0.0);
  }
  const double total = std::accumulate(countsOfOneImage.begin(), countsOfOneImage.end(), 0.0);
  for (std::size_t c = 0; c < countsOfOneImage.size(); ++c)
  {
    voxels[c] += countsOfOneImage[c];
    if (countsOfOneImage[c] > 0)
    {
      voxelsOfImagesWithClass[c] += total;
    }
  }
}

std::vector<double>
ComputeClassWeights(const ClassFrequencies & frequencies, ClassWeighting method)
{
  const std::size_t C = frequencies.voxels.size();
  const double      total = std::accumulate(frequencies.voxels.begin(), frequencies.voxels.end(), 0.0);
  if (C == 0 || total <= 0.0)
  {
    itkGenericExceptionMacro(<< "Cannot compute class weights: the training labels hold no voxels");
  }
  std::vector<double> weights(C, 0.0);
  if (method == ClassWeighting::InverseFrequency)
  {
    for (std::size_t c = 0; c < C; ++c)
    {
      if (frequencies.voxels[c] > 0)
      {
        weights[c] = total / (static_cast<double>(C) * frequencies.voxels[c]);
      }
    }
    return weights;
  }
  std::vector<double> f(C, 0.0);
  std::vector<double> present;
  for (std::size_t c = 0; c < C; ++c)
  {
    if (frequencies.voxels[c] > 0 && frequencies.voxelsOfImagesWithClass[c] > 0)
    {
      f[c] = frequencies.voxels[c] / frequencies.voxelsOfImagesWithClass[c];
      present.push_back(f[c]);
    }
  }
  std::sort(present.begin(), present.end());
  const std::size_t n = present.size();
  const double      median = n % 2 ? present[n / 2] : 0.5 * (present[n / 2 - 1] + present[n / 2]);
  for (std::size_t c = 0; c < C; ++c)
  {
    if (f[c] > 0)
    {
      weights[c] = median / f[c];
    }
  }
  return weights;
}

std::vector<double>
DeepSupervisionWeights(std::size_t numberOfHeads)
{
  std::vector<double> w(numberOfHeads);
  double              sum = 0.0;
  for (std::size_t k = 0; k < numberOfHeads; ++k)
  {
    w[k] = std::ldexp(1.0, -static_cast<int>(k));
    sum += w[k];
  }
  for (double & v : w)
  {
    v /= sum;
  }
  return w;
}

torch::Tensor
DownsampleLabels(const torch::Tensor & target, torch::IntArrayRef size)
{
  if (target.sizes().slice(1) == size)
  {
    return target;
  }
  namespace F = torch::nn::functional;
  // interpolate wants a channel axis and floating point values; labels are small integers, exact in float.
  const torch::Tensor t = target.unsqueeze(1).to(torch::kFloat32);
  const torch::Tensor r = F::interpolate(t, F::InterpolateFuncOptions().size(size.vec()).mode(torch::kNearest));
  return r.squeeze(1).to(target.scalar_type());
}

std::ostream &
operator<<(std::ostream & os, const SegmentationLossOptions & o)
{
  os << "loss " << ToString(o.kind) << ", classes " << o.numberOfClasses << ", class weights [";
  for (std::size_t c = 0; c < o.classWeights.size(); ++c)
  {
    os << (c ? "," : "") << o.classWeights[c];
  }
  os << "], CE weight " << o.crossEntropyWeight << ", Dice weight " << o.diceWeight << ", Dice "
     << (o.dice.includeBackground ? "with" : "without") << " background, smooth " << o.dice.smooth << ", "
     << (o.dice.batchDice ? "batch" : "per-sample") << " Dice";
  return os;
}

SegmentationLossImpl::SegmentationLossImpl(SegmentationLossOptions options)
  : m_Options(std::move(options))
{
  const auto & o = m_Options;
  if (o.numberOfClasses < 2)
  {
    itkGenericExceptionMacro(<< "Loss: " << o.numberOfClasses << " classes; at least 2 (background included) needed");
  }
  const bool hasCE = o.kind != LossKind::Dice;
  if (!o.classWeights.empty())
  {
    if (o.kind == LossKind::CrossEntropy || o.kind == LossKind::Dice)
    {
      itkGenericExceptionMacro(<< "Loss " << ToString(o.kind)
                               << " takes no class weights (use wce, or dicece for a weighted cross-entropy term)");
    }
    if (static_cast<int64_t>(o.classWeights.size()) != o.numberOfClasses)
    {
      itkGenericExceptionMacro(<< "Loss: " << o.classWeights.size() << " class weights given for " << o.numberOfClasses
                               << " classes (background included)");
    }
    double sum = 0.0;
    for (double w : o.classWeights)
    {
      if (!std::isfinite(w) || w < 0.0)
      {
        itkGenericExceptionMacro(<< "Loss: class weight " << w << " is not a finite non-negative number");
      }
      sum += w;
    }
    if (sum <= 0.0)
    {
      itkGenericExceptionMacro(<< "Loss: the class weights are all zero");
    }
    m_ClassWeights = register_buffer("class_weights", torch::tensor(o.classWeights, torch::kFloat64));
  }
  else if (o.kind == LossKind::WeightedCrossEntropy)
  {
    itkGenericExceptionMacro(<< "Loss wce needs class weights (given, or computed from the training labels)");
  }
  if (hasCE && (!std::isfinite(o.crossEntropyWeight) || o.crossEntropyWeight < 0.0))
  {
    itkGenericExceptionMacro(<< "Loss: cross-entropy weight " << o.crossEntropyWeight << " is negative");
  }
  if (o.kind != LossKind::CrossEntropy && o.kind != LossKind::WeightedCrossEntropy &&
      (!std::isfinite(o.diceWeight) || o.diceWeight < 0.0))
  {
    itkGenericExceptionMacro(<< "Loss: Dice weight " << o.diceWeight << " is negative");
  }
  if (!std::isfinite(o.dice.smooth) || o.dice.smooth < 0.0)
  {
    itkGenericExceptionMacro(<< "Loss: Dice smoothing " << o.dice.smooth << " is negative");
  }
  if (!o.dice.includeBackground && o.numberOfClasses < 2)
  {
    itkGenericExceptionMacro(<< "Loss: Dice without background needs a foreground class");
  }
}

torch::Tensor
SegmentationLossImpl::forward(const torch::Tensor & logits, const torch::Tensor & target)
{
  CheckShapes(logits, target, "Loss");
  if (logits.size(1) != m_Options.numberOfClasses)
  {
    itkGenericExceptionMacro(<< "Loss: logits " << ShapeToString(logits) << " have " << logits.size(1)
                             << " channels for " << m_Options.numberOfClasses << " classes");
  }
  switch (m_Options.kind)
  {
    case LossKind::CrossEntropy:
      return CrossEntropyLoss(logits, target);
    case LossKind::WeightedCrossEntropy:
      return CrossEntropyLoss(logits, target, m_ClassWeights);
    case LossKind::Dice:
      return SoftDiceLoss(logits, target, m_Options.dice);
    case LossKind::DiceCrossEntropy:
      break;
  }
  return m_Options.crossEntropyWeight * CrossEntropyLoss(logits, target, m_ClassWeights) +
         m_Options.diceWeight * SoftDiceLoss(logits, target, m_Options.dice);
}

torch::Tensor
SegmentationLossImpl::forwardDeepSupervision(const std::vector<torch::Tensor> & heads, const torch::Tensor & target)
{
  if (heads.empty())
  {
    itkGenericExceptionMacro(<< "Loss: no network output to compare with the target " << ShapeToString(target));
  }
  if (heads.size() == 1)
  {
    return this->forward(heads[0], target);
  }
  const std::vector<double> weights = DeepSupervisionWeights(heads.size());
  torch::Tensor             total;
  for (std::size_t k = 0; k < heads.size(); ++k)
  {
    const torch::Tensor t = DownsampleLabels(target, heads[k].sizes().slice(2));
    const torch::Tensor l = weights[k] * this->forward(heads[k], t);
    total = total.defined() ? total + l : l;
  }
  return total;
}

} // namespace torchseg
