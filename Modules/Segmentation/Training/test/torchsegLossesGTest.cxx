#include "torchsegLosses.h"

#include "itkMacro.h"

#include <torch/torch.h>

#include "gtest/gtest.h"

#include <cmath>
#include <functional>

using namespace torchseg;

namespace
{

// Logits whose softmax is exactly \a p (log p, any constant shift would do).
torch::Tensor
LogitsOf(const std::vector<double> & p)
{
  return torch::log(torch::tensor(p, torch::kFloat64)).reshape({ 1, static_cast<int64_t>(p.size()), 1, 1 });
}

// Central finite differences of a scalar function of x, compared with autograd.
void
ExpectGradientMatchesFiniteDifferences(const std::function<torch::Tensor(const torch::Tensor &)> & f,
                                       const torch::Tensor &                                       x0)
{
  torch::Tensor x = x0.clone().set_requires_grad(true);
  f(x).backward();
  const torch::Tensor analytic = x.grad().flatten();
  torch::NoGradGuard  noGrad;
  const double        h = 1e-6;
  torch::Tensor       flat = x0.clone().flatten();
  for (int64_t i = 0; i < flat.numel(); ++i)
  {
    torch::Tensor plus = flat.clone();
    torch::Tensor minus = flat.clone();
    plus[i] += h;
    minus[i] -= h;
    const double numeric =
      (f(plus.view(x0.sizes())).item<double>() - f(minus.view(x0.sizes())).item<double>()) / (2.0 * h);
    EXPECT_NEAR(analytic[i].item<double>(), numeric, 1e-6 * std::max(1.0, std::abs(numeric))) << "element " << i;
  }
}

torch::Tensor
RandomLogits(std::vector<int64_t> shape, uint64_t seed)
{
  torch::manual_seed(seed);
  return torch::randn(shape, torch::kFloat64);
}

torch::Tensor
RandomTarget(std::vector<int64_t> shape, int64_t classes, uint64_t seed)
{
  torch::manual_seed(seed);
  return torch::randint(0, classes, shape, torch::kLong);
}

} // namespace

TEST(Losses, CrossEntropyOfTheIssueExampleIsMinusLogOfTheTargetProbability)
{
  // Seven classes; the sixth (index 5) has probability 0.5 and is the target.
  const torch::Tensor logits = LogitsOf({ 0.1, 0.1, 0.1, 0.02, 0.03, 0.5, 0.15 });
  const torch::Tensor target = torch::full({ 1, 1, 1 }, 5, torch::kLong);
  EXPECT_NEAR(CrossEntropyLoss(logits, target).item<double>(), -std::log(0.5), 1e-12);
  // The same example with the target on the 0.15 class.
  EXPECT_NEAR(
    CrossEntropyLoss(logits, torch::full({ 1, 1, 1 }, 6, torch::kLong)).item<double>(), -std::log(0.15), 1e-12);
}

TEST(Losses, CrossEntropyIsTheMeanOverEveryPositionOfTheBatch)
{
  // Two samples of 1 x 2 positions, three classes; each position's probabilities are set explicitly.
  const double  p[4][3] = { { 0.7, 0.2, 0.1 }, { 0.25, 0.25, 0.5 }, { 0.6, 0.3, 0.1 }, { 0.05, 0.9, 0.05 } };
  const int     t[4] = { 0, 2, 1, 1 };
  torch::Tensor logits = torch::zeros({ 2, 3, 1, 2 }, torch::kFloat64);
  torch::Tensor target = torch::zeros({ 2, 1, 2 }, torch::kLong);
  double        expected = 0.0;
  for (int i = 0; i < 4; ++i)
  {
    for (int c = 0; c < 3; ++c)
    {
      logits[i / 2][c][0][i % 2] = std::log(p[i][c]);
    }
    target[i / 2][0][i % 2] = t[i];
    expected += -std::log(p[i][t[i]]) / 4.0;
  }
  EXPECT_NEAR(CrossEntropyLoss(logits, target).item<double>(), expected, 1e-12);

  // Class weights: PyTorch's weighted mean sum w_t l / sum w_t.
  const std::vector<double> w{ 0.5, 2.0, 4.0 };
  double                    num = 0.0, den = 0.0;
  for (int i = 0; i < 4; ++i)
  {
    num += w[t[i]] * -std::log(p[i][t[i]]);
    den += w[t[i]];
  }
  const double weighted = CrossEntropyLoss(logits, target, torch::tensor(w, torch::kFloat64)).item<double>();
  EXPECT_NEAR(weighted, num / den, 1e-12);
  EXPECT_GT(std::abs(weighted - expected), 1e-3);

  // Through the loss module.
  SegmentationLossOptions o;
  o.kind = LossKind::WeightedCrossEntropy;
  o.classWeights = w;
  SegmentationLoss loss(o);
  EXPECT_NEAR(loss(logits, target).item<double>(), num / den, 1e-12);
  o.kind = LossKind::CrossEntropy;
  o.classWeights.clear();
  EXPECT_NEAR(SegmentationLoss(o)(logits, target).item<double>(), expected, 1e-12);
}

TEST(Losses, CrossEntropyWorksIn3D)
{
  const torch::Tensor logits = RandomLogits({ 2, 3, 4, 5, 6 }, 1);
  const torch::Tensor target = RandomTarget({ 2, 4, 5, 6 }, 3, 2);
  // Independent computation: explicit log-sum-exp per voxel.
  const auto   lse = torch::log(torch::exp(logits).sum(1));
  const auto   picked = logits.gather(1, target.unsqueeze(1)).squeeze(1);
  const double expected = (lse - picked).mean().item<double>();
  EXPECT_NEAR(CrossEntropyLoss(logits, target).item<double>(), expected, 1e-12);
}

TEST(Losses, SoftDiceMatchesTheDefinitionComputedByHand)
{
  // One sample, two classes, four positions: probabilities of class 1 given, class 0 = 1 - p1.
  const double  p1[4] = { 0.9, 0.2, 0.6, 0.1 };
  const int     t[4] = { 1, 0, 1, 0 };
  torch::Tensor probs = torch::zeros({ 1, 2, 2, 2 }, torch::kFloat64);
  torch::Tensor target = torch::zeros({ 1, 2, 2 }, torch::kLong);
  for (int i = 0; i < 4; ++i)
  {
    probs[0][1][i / 2][i % 2] = p1[i];
    probs[0][0][i / 2][i % 2] = 1.0 - p1[i];
    target[0][i / 2][i % 2] = t[i];
  }
  auto dice = [&](int c, double s) {
    double inter = 0, sp = 0, sy = 0;
    for (int i = 0; i < 4; ++i)
    {
      const double p = c == 1 ? p1[i] : 1.0 - p1[i];
      const double y = t[i] == c ? 1.0 : 0.0;
      inter += p * y;
      sp += p * p;
      sy += y * y;
    }
    return (2.0 * inter + s) / (sp + sy + s);
  };
  const torch::Tensor y = OneHot(target, 2);
  SoftDiceOptions     o;
  o.smooth = 0.0;
  EXPECT_NEAR(SoftDiceLossFromProbabilities(probs, y, o).item<double>(), 1.0 - 0.5 * (dice(0, 0) + dice(1, 0)), 1e-12);
  o.includeBackground = false;
  EXPECT_NEAR(SoftDiceLossFromProbabilities(probs, y, o).item<double>(), 1.0 - dice(1, 0), 1e-12);
  o.smooth = 1.0;
  EXPECT_NEAR(SoftDiceLossFromProbabilities(probs, y, o).item<double>(), 1.0 - dice(1, 1.0), 1e-12);
  // From logits: softmax of log-probabilities gives back the probabilities.
  o.includeBackground = true;
  o.smooth = 0.0;
  EXPECT_NEAR(SoftDiceLoss(torch::log(probs), target, o).item<double>(), 1.0 - 0.5 * (dice(0, 0) + dice(1, 0)), 1e-12);
}

TEST(Losses, PerfectPredictionGivesZeroDiceLoss)
{
  const torch::Tensor target = RandomTarget({ 2, 5, 6 }, 3, 3);
  target[1].fill_(0); // class 1 and 2 absent from the second sample
  const torch::Tensor y = OneHot(target, 3);
  for (bool batch : { true, false })
    for (bool background : { true, false })
    {
      SoftDiceOptions o;
      o.batchDice = batch;
      o.includeBackground = background;
      o.smooth = 1e-5;
      EXPECT_NEAR(SoftDiceLossFromProbabilities(y, y, o).item<double>(), 0.0, 1e-12) << batch << background;
      // Logits of +-50 give probabilities one-hot to within e^-100.
      const torch::Tensor logits = (y.to(torch::kFloat64) * 100.0 - 50.0);
      EXPECT_NEAR(SoftDiceLoss(logits, target, o).item<double>(), 0.0, 1e-12);
    }
  // A wrong prediction does not score zero.
  EXPECT_GT(SoftDiceLossFromProbabilities(1.0 - y, y).item<double>(), 0.99);
}

TEST(Losses, BatchDiceDiffersFromPerSampleDiceAsDefined)
{
  // Two samples, one foreground class: sample 0 predicts its 1 voxel perfectly; sample 1 has 3 foreground voxels
  // and predicts 1 of them.
  torch::Tensor probs = torch::zeros({ 2, 2, 1, 4 }, torch::kFloat64);
  torch::Tensor target = torch::zeros({ 2, 1, 4 }, torch::kLong);
  target[0][0][0] = 1;
  probs[0][1][0][0] = 1.0;
  target[1][0][0] = 1;
  target[1][0][1] = 1;
  target[1][0][2] = 1;
  probs[1][1][0][0] = 1.0;
  probs.select(1, 0).copy_(1.0 - probs.select(1, 1));
  SoftDiceOptions o;
  o.includeBackground = false;
  o.smooth = 0.0;
  o.batchDice = false;
  // Per sample: dice 1 and 2*1/(1+3) = 0.5 -> loss 1 - 0.75.
  EXPECT_NEAR(SoftDiceLossFromProbabilities(probs, OneHot(target, 2), o).item<double>(), 0.25, 1e-12);
  // Batch: 2*2/(2+4) = 2/3 -> loss 1/3.
  o.batchDice = true;
  EXPECT_NEAR(SoftDiceLossFromProbabilities(probs, OneHot(target, 2), o).item<double>(), 1.0 / 3.0, 1e-12);
}

TEST(Losses, DiceCrossEntropyIsTheWeightedSumOfItsTerms)
{
  const torch::Tensor     logits = RandomLogits({ 2, 3, 4, 4 }, 4);
  const torch::Tensor     target = RandomTarget({ 2, 4, 4 }, 3, 5);
  SegmentationLossOptions o;
  o.kind = LossKind::DiceCrossEntropy;
  o.crossEntropyWeight = 0.3;
  o.diceWeight = 2.0;
  const double ce = CrossEntropyLoss(logits, target).item<double>();
  const double dice = SoftDiceLoss(logits, target, o.dice).item<double>();
  EXPECT_NEAR(SegmentationLoss(o)(logits, target).item<double>(), 0.3 * ce + 2.0 * dice, 1e-12);
  o.classWeights = { 1.0, 2.0, 3.0 };
  const double wce = CrossEntropyLoss(logits, target, torch::tensor(o.classWeights, torch::kFloat64)).item<double>();
  EXPECT_NEAR(SegmentationLoss(o)(logits, target).item<double>(), 0.3 * wce + 2.0 * dice, 1e-12);
  o.kind = LossKind::Dice;
  o.classWeights.clear();
  EXPECT_NEAR(SegmentationLoss(o)(logits, target).item<double>(), dice, 1e-12);
}

TEST(Losses, GradientsMatchFiniteDifferences)
{
  const torch::Tensor logits = RandomLogits({ 2, 3, 3, 2 }, 6);
  const torch::Tensor target = RandomTarget({ 2, 3, 2 }, 3, 7);
  for (auto kind :
       { LossKind::CrossEntropy, LossKind::WeightedCrossEntropy, LossKind::Dice, LossKind::DiceCrossEntropy })
    for (bool batch : { true, false })
    {
      SegmentationLossOptions o;
      o.kind = kind;
      o.dice.batchDice = batch;
      o.dice.smooth = 1e-3;
      if (kind == LossKind::WeightedCrossEntropy)
      {
        o.classWeights = { 0.2, 1.0, 5.0 };
      }
      SegmentationLoss loss(o);
      SCOPED_TRACE(ToString(kind) + (batch ? " batch" : " per-sample"));
      ExpectGradientMatchesFiniteDifferences([&](const torch::Tensor & x) { return loss(x, target); }, logits);
    }
}

TEST(Losses, DeepSupervisionWeightsHalveAndSumToOne)
{
  const auto w1 = DeepSupervisionWeights(1);
  ASSERT_EQ(w1.size(), 1u);
  EXPECT_DOUBLE_EQ(w1[0], 1.0);
  const auto w3 = DeepSupervisionWeights(3);
  ASSERT_EQ(w3.size(), 3u);
  EXPECT_DOUBLE_EQ(w3[0], 4.0 / 7.0);
  EXPECT_DOUBLE_EQ(w3[1], 2.0 / 7.0);
  EXPECT_DOUBLE_EQ(w3[2], 1.0 / 7.0);
}

TEST(Losses, DeepSupervisionComparesEachHeadWithNearestDownsampledTargets)
{
  // Target 1 x 4 x 4 with a distinct label per 2 x 2 block: nearest downsampling to 2 x 2 picks each block's label.
  torch::Tensor target = torch::zeros({ 1, 4, 4 }, torch::kLong);
  target.index_put_({ 0, torch::indexing::Slice(0, 2), torch::indexing::Slice(2, 4) }, 1);
  target.index_put_({ 0, torch::indexing::Slice(2, 4), torch::indexing::Slice(0, 2) }, 2);
  const torch::Tensor small = DownsampleLabels(target, { 2, 2 });
  const torch::Tensor expectedSmall = torch::tensor({ 0, 1, 2, 0 }, torch::kLong).reshape({ 1, 2, 2 });
  EXPECT_TRUE(torch::equal(small, expectedSmall)) << small;
  EXPECT_EQ(small.scalar_type(), torch::kLong);

  const torch::Tensor     full = RandomLogits({ 1, 3, 4, 4 }, 8);
  const torch::Tensor     half = RandomLogits({ 1, 3, 2, 2 }, 9);
  SegmentationLossOptions o;
  SegmentationLoss        loss(o);
  const double            expected =
    2.0 / 3.0 * loss(full, target).item<double>() + 1.0 / 3.0 * loss(half, expectedSmall).item<double>();
  EXPECT_NEAR(loss->forwardDeepSupervision({ full, half }, target).item<double>(), expected, 1e-12);
  EXPECT_NEAR(loss->forwardDeepSupervision({ full }, target).item<double>(), loss(full, target).item<double>(), 1e-12);
}

TEST(Losses, ClassWeightsFromFrequencies)
{
  // Two images: image A (100 voxels) has 90 background, 10 liver; image B (100 voxels) 70 / 25 / 5 tumour.
  ClassFrequencies f;
  f.Add({ 90, 10, 0 });
  f.Add({ 70, 25, 5 });
  const auto inv = ComputeClassWeights(f, ClassWeighting::InverseFrequency);
  ASSERT_EQ(inv.size(), 3u);
  EXPECT_DOUBLE_EQ(inv[0], 200.0 / (3 * 160.0));
  EXPECT_DOUBLE_EQ(inv[1], 200.0 / (3 * 35.0));
  EXPECT_DOUBLE_EQ(inv[2], 200.0 / (3 * 5.0));
  // Median frequency: f0 = 160/200, f1 = 35/200, f2 = 5/100 (only image B contains tumour); median f1.
  const auto med = ComputeClassWeights(f, ClassWeighting::MedianFrequency);
  EXPECT_DOUBLE_EQ(med[0], (35.0 / 200.0) / (160.0 / 200.0));
  EXPECT_DOUBLE_EQ(med[1], 1.0);
  EXPECT_DOUBLE_EQ(med[2], (35.0 / 200.0) / (5.0 / 100.0));
  // A class that never occurs gets weight 0.
  ClassFrequencies g;
  g.Add({ 50, 50, 0 });
  EXPECT_DOUBLE_EQ(ComputeClassWeights(g, ClassWeighting::InverseFrequency)[2], 0.0);
  EXPECT_THROW(ComputeClassWeights(ClassFrequencies(), ClassWeighting::InverseFrequency), itk::ExceptionObject);
}

TEST(Losses, BadOptionsAndShapesAreRefused)
{
  SegmentationLossOptions o;
  o.kind = LossKind::WeightedCrossEntropy;
  EXPECT_THROW(SegmentationLoss{ o }, itk::ExceptionObject); // no weights
  o.classWeights = { 1.0, 2.0 };
  EXPECT_THROW(SegmentationLoss{ o }, itk::ExceptionObject); // 2 weights for 3 classes
  o.classWeights = { 1.0, -2.0, 1.0 };
  EXPECT_THROW(SegmentationLoss{ o }, itk::ExceptionObject);
  o.classWeights = { 1.0, 1.0, 1.0 };
  o.kind = LossKind::Dice;
  EXPECT_THROW(SegmentationLoss{ o }, itk::ExceptionObject); // Dice takes no class weights
  o.kind = LossKind::DiceCrossEntropy;
  o.diceWeight = -1.0;
  EXPECT_THROW(SegmentationLoss{ o }, itk::ExceptionObject);
  EXPECT_THROW(ParseLossKind("focal"), itk::ExceptionObject);
  EXPECT_EQ(ParseLossKind("dicece"), LossKind::DiceCrossEntropy);

  SegmentationLoss loss(SegmentationLossOptions{});
  EXPECT_THROW(loss(torch::zeros({ 1, 3, 4, 4 }), torch::zeros({ 1, 4, 5 }, torch::kLong)), itk::ExceptionObject);
  EXPECT_THROW(loss(torch::zeros({ 1, 2, 4, 4 }), torch::zeros({ 1, 4, 4 }, torch::kLong)), itk::ExceptionObject);
}
