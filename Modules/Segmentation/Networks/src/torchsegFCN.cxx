#include "torchsegFCN.h"

#include "torchsegNetworkOptionReader.h"

#include <torch/torch.h>

namespace torchseg
{

FCNOptions
FCNOptions::Read(NetworkOptions & options)
{
  NetworkOptionReader reader(options);
  FCNOptions          o;
  o.skips = options.architecture == "fcn8s" ? 2 : (options.architecture == "fcn16s" ? 1 : 0);
  o.backbone = ReadBackboneOptions(reader, options, "vgg16", BackboneNames(), 32, { 8, 16, 32 });
  o.upsampling = layers::UpsamplingFromString(
    reader.Choice("upsampling", "bilinear", { "nearest", "bilinear", "transposed", "transposedFrozen" }));
  o.auxiliaryHead = reader.Boolean("auxiliaryHead", false);
  reader.Finish();
  if (o.auxiliaryHead && !o.backbone.IsResNet())
  {
    reader.Fail("auxiliaryHead", "needs a ResNet backbone (not " + o.backbone.name + ")");
  }
  return o;
}

FCNImpl::FCNImpl(NetworkOptions options)
  : SegmentationNetworkImpl(std::move(options))
{
  m_FCNOptions = FCNOptions::Read(m_Options);
  const FCNOptions & o = m_FCNOptions;
  const int          d = m_Options.spatialDimensions;
  const int64_t      classes = m_Options.numberOfClasses;

  // Channels and strides of pool3, pool4 and the last features.
  int64_t channels[3];
  int64_t strides[3];
  if (o.backbone.IsResNet())
  {
    m_ResNet = register_module("backbone", ResNet(o.backbone));
    for (int i = 0; i < 3; ++i)
    {
      channels[i] = m_ResNet->GetStageChannels()[i + 1];
      strides[i] = m_ResNet->GetStageStrides()[i + 1];
    }
    m_Classifier = register_module("classifier", FCNHead(d, channels[2], classes));
    if (o.auxiliaryHead)
    {
      m_AuxiliaryClassifier = register_module("aux_classifier", FCNHead(d, channels[1], classes));
    }
    m_PadMultiple = o.backbone.outputStride;
  }
  else
  {
    m_VGG = register_module("backbone", VGG(o.backbone));
    for (int i = 0; i < 3; ++i)
    {
      channels[i] = m_VGG->GetStageChannels()[i + 2];
      strides[i] = int64_t{ 8 } << i;
    }
    const int64_t fc = 64 * o.backbone.width;
    m_Classifier =
      register_module("classifier",
                      torch::nn::Sequential(layers::Conv(layers::ConvOptions(d, channels[2], fc, 7).padding(3)),
                                            torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)),
                                            torch::nn::Dropout(torch::nn::DropoutOptions(0.5)),
                                            layers::Conv(layers::ConvOptions(d, fc, fc, 1)),
                                            torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)),
                                            torch::nn::Dropout(torch::nn::DropoutOptions(0.5)),
                                            layers::Conv(layers::ConvOptions(d, fc, classes, 1))));
    m_PadMultiple = 32;
  }

  int64_t scoreStride = strides[2];
  if (o.skips >= 1)
  {
    m_ScorePool4 = register_module("score_pool4", layers::Conv(layers::ConvOptions(d, channels[1], classes, 1)));
    m_Upscore2 = register_module("upscore2", layers::Upsample(d, classes, strides[2] / strides[1], o.upsampling));
    scoreStride = strides[1];
  }
  if (o.skips >= 2)
  {
    m_ScorePool3 = register_module("score_pool3", layers::Conv(layers::ConvOptions(d, channels[0], classes, 1)));
    m_UpscorePool4 =
      register_module("upscore_pool4", layers::Upsample(d, classes, strides[1] / strides[0], o.upsampling));
    scoreStride = strides[0];
  }
  m_Upscore = register_module("upscore", layers::Upsample(d, classes, scoreStride, o.upsampling));

  // The paper zero-initialises the skip score layers, so that training starts from the coarser net.
  torch::NoGradGuard noGrad;
  for (auto & score : { m_ScorePool4, m_ScorePool3 })
  {
    if (score)
    {
      score->weight.zero_();
      score->bias.zero_();
    }
  }
}

std::vector<torch::Tensor>
FCNImpl::Run(const torch::Tensor & input, bool auxiliary)
{
  this->CheckInput(input);
  const std::vector<int64_t> size = layers::SpatialSize(input);
  const torch::Tensor        x = layers::PadToMultiple(input, m_PadMultiple);
  const std::vector<int64_t> paddedSize = layers::SpatialSize(x);

  torch::Tensor pool3, pool4, last;
  if (m_ResNet)
  {
    auto features = m_ResNet->forward(x);
    pool3 = features[1];
    pool4 = features[2];
    last = features[3];
  }
  else
  {
    auto features = m_VGG->forward(x);
    pool3 = features.pooled[2];
    pool4 = features.pooled[3];
    last = features.pooled[4];
  }
  torch::Tensor score = m_Classifier->forward(last);
  if (m_ScorePool4)
  {
    score = m_Upscore2(score, layers::SpatialSize(pool4)) + m_ScorePool4(pool4);
  }
  if (m_ScorePool3)
  {
    score = m_UpscorePool4(score, layers::SpatialSize(pool3)) + m_ScorePool3(pool3);
  }
  std::vector<torch::Tensor> outputs{ layers::CropTo(m_Upscore(score, paddedSize), size) };
  if (auxiliary && m_AuxiliaryClassifier)
  {
    outputs.push_back(layers::CropTo(layers::Resize(m_AuxiliaryClassifier->forward(pool4), paddedSize), size));
  }
  return outputs;
}

torch::Tensor
FCNImpl::forward(torch::Tensor input)
{
  return this->Run(input, false).front();
}

std::vector<torch::Tensor>
FCNImpl::forwardWithAuxiliary(torch::Tensor input)
{
  return this->Run(input, true);
}

} // namespace torchseg
