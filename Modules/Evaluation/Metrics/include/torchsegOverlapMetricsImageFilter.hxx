#ifndef torchsegOverlapMetricsImageFilter_hxx
#define torchsegOverlapMetricsImageFilter_hxx

#include "torchsegOverlapMetricsImageFilter.h"

#include "itkImageScanlineConstIterator.h"

#include <algorithm>
#include <set>

namespace torchseg
{

namespace detail
{

/** Counts (reference, prediction) label pairs of one work unit: a dense 256 x 256 table for 8-bit labels, an ordered
 * map otherwise. Pairs arrive as runs of equal pairs, so the map is touched once per run, not once per voxel. */
template <typename TLabel, bool VDense = (sizeof(TLabel) == 1)>
class LabelPairCounter
{
public:
  void
  Add(TLabel reference, TLabel prediction, std::uint64_t count)
  {
    m_Counts[{ reference, prediction }] += count;
  }
  template <typename TFunction>
  void
  ForEach(TFunction && function) const
  {
    for (const auto & entry : m_Counts)
    {
      function(entry.first.first, entry.first.second, entry.second);
    }
  }

private:
  std::map<std::pair<TLabel, TLabel>, std::uint64_t> m_Counts;
};

template <typename TLabel>
class LabelPairCounter<TLabel, true>
{
public:
  LabelPairCounter()
    : m_Counts(256 * 256, 0)
  {}
  void
  Add(TLabel reference, TLabel prediction, std::uint64_t count)
  {
    m_Counts[(std::size_t{ static_cast<std::uint8_t>(reference) } << 8) | static_cast<std::uint8_t>(prediction)] +=
      count;
  }
  template <typename TFunction>
  void
  ForEach(TFunction && function) const
  {
    for (std::size_t i = 0; i < m_Counts.size(); ++i)
    {
      if (m_Counts[i])
      {
        function(static_cast<TLabel>(static_cast<std::uint8_t>(i >> 8)),
                 static_cast<TLabel>(static_cast<std::uint8_t>(i & 0xFF)),
                 m_Counts[i]);
      }
    }
  }

private:
  std::vector<std::uint64_t> m_Counts;
};

} // namespace detail

template <typename TLabelImage>
OverlapMetricsImageFilter<TLabelImage>::OverlapMetricsImageFilter()
{
  this->SetPrimaryInputName("Reference");
  this->AddRequiredInputName("Prediction");
}

template <typename TLabelImage>
void
OverlapMetricsImageFilter<TLabelImage>::SetReferenceImage(const TLabelImage * image)
{
  this->itk::ProcessObject::SetInput("Reference", const_cast<TLabelImage *>(image));
}

template <typename TLabelImage>
const TLabelImage *
OverlapMetricsImageFilter<TLabelImage>::GetReferenceImage() const
{
  return itkDynamicCastInDebugMode<const TLabelImage *>(this->itk::ProcessObject::GetInput("Reference"));
}

template <typename TLabelImage>
void
OverlapMetricsImageFilter<TLabelImage>::SetPredictionImage(const TLabelImage * image)
{
  this->itk::ProcessObject::SetInput("Prediction", const_cast<TLabelImage *>(image));
}

template <typename TLabelImage>
const TLabelImage *
OverlapMetricsImageFilter<TLabelImage>::GetPredictionImage() const
{
  return itkDynamicCastInDebugMode<const TLabelImage *>(this->itk::ProcessObject::GetInput("Prediction"));
}

template <typename TLabelImage>
void
OverlapMetricsImageFilter<TLabelImage>::SetLabels(const LabelListType & labels)
{
  if (labels != m_Labels)
  {
    m_Labels = labels;
    this->Modified();
  }
}

template <typename TLabelImage>
void
OverlapMetricsImageFilter<TLabelImage>::VerifyInputInformation() ITKv5_CONST
{
  VerifySameGeometry<TLabelImage::ImageDimension>(this->GetReferenceImage(), this->GetPredictionImage());
}

template <typename TLabelImage>
void
OverlapMetricsImageFilter<TLabelImage>::BeforeStreamedGenerateData()
{
  Superclass::BeforeStreamedGenerateData();
  m_PairCounts.clear();
  m_EvaluatedLabels.clear();
  m_PresentLabels.clear();
  m_ConfusionMatrix.clear();
  m_LabelIndex.clear();
  m_ReferenceCounts.clear();
  m_PredictionCounts.clear();
  m_NumberOfPixels = 0;
  m_PixelAccuracy = m_MeanIoU = m_MeanDice = std::numeric_limits<double>::quiet_NaN();
}

template <typename TLabelImage>
void
OverlapMetricsImageFilter<TLabelImage>::ThreadedStreamedGenerateData(const RegionType & region)
{
  if (region.GetNumberOfPixels() == 0)
  {
    return;
  }
  const TLabelImage * reference = this->GetReferenceImage();
  const TLabelImage * prediction = this->GetPredictionImage();
  const std::size_t   lineLength = region.GetSize(0);

  constexpr std::size_t               Block = 32;
  detail::LabelPairCounter<LabelType> counter;
  const LabelType *                   r0 = reference->GetBufferPointer() + reference->ComputeOffset(region.GetIndex());
  const LabelType * p0 = prediction->GetBufferPointer() + prediction->ComputeOffset(region.GetIndex());
  LabelType         currentReference = *r0;
  LabelType         currentPrediction = *p0;
  std::uint64_t     run = 0;

  itk::ImageScanlineConstIterator<TLabelImage> it(reference, region);
  while (!it.IsAtEnd())
  {
    const auto &      index = it.GetIndex();
    const LabelType * r = reference->GetBufferPointer() + reference->ComputeOffset(index);
    const LabelType * p = prediction->GetBufferPointer() + prediction->ComputeOffset(index);
    std::size_t       x = 0;
    while (x < lineLength)
    {
      // Label images are piecewise constant: most blocks continue the current run (a vectorized test).
      if (x + Block <= lineLength)
      {
        bool same = true;
        for (std::size_t k = 0; k < Block; ++k)
        {
          same &= (r[x + k] == currentReference) & (p[x + k] == currentPrediction);
        }
        if (same)
        {
          run += Block;
          x += Block;
          continue;
        }
      }
      const std::size_t end = std::min(x + Block, lineLength);
      for (; x < end; ++x)
      {
        if (r[x] == currentReference && p[x] == currentPrediction)
        {
          ++run;
        }
        else
        {
          counter.Add(currentReference, currentPrediction, run);
          currentReference = r[x];
          currentPrediction = p[x];
          run = 1;
        }
      }
    }
    it.NextLine();
  }
  counter.Add(currentReference, currentPrediction, run);

  const std::lock_guard<std::mutex> lock(m_Mutex);
  counter.ForEach([this](LabelType t, LabelType s, std::uint64_t count) {
    if (count)
    {
      m_PairCounts[{ t, s }] += count;
    }
  });
}

template <typename TLabelImage>
void
OverlapMetricsImageFilter<TLabelImage>::AfterStreamedGenerateData()
{
  Superclass::AfterStreamedGenerateData();

  std::set<LabelType> present;
  for (const auto & entry : m_PairCounts)
  {
    present.insert(entry.first.first);
    present.insert(entry.first.second);
  }
  m_PresentLabels.assign(present.begin(), present.end());
  const std::size_t k = m_PresentLabels.size();
  for (std::size_t i = 0; i < k; ++i)
  {
    m_LabelIndex[m_PresentLabels[i]] = i;
  }
  m_ConfusionMatrix.assign(k, std::vector<std::uint64_t>(k, 0));
  m_ReferenceCounts.assign(k, 0);
  m_PredictionCounts.assign(k, 0);
  std::uint64_t agreement = 0;
  m_NumberOfPixels = 0;
  for (const auto & entry : m_PairCounts)
  {
    const std::size_t t = m_LabelIndex[entry.first.first];
    const std::size_t s = m_LabelIndex[entry.first.second];
    m_ConfusionMatrix[t][s] += entry.second;
    m_ReferenceCounts[t] += entry.second;
    m_PredictionCounts[s] += entry.second;
    m_NumberOfPixels += entry.second;
    agreement += t == s ? entry.second : 0;
  }
  m_PixelAccuracy = m_NumberOfPixels ? static_cast<double>(agreement) / static_cast<double>(m_NumberOfPixels)
                                     : std::numeric_limits<double>::quiet_NaN();

  m_VoxelVolume = 1.0;
  for (unsigned int d = 0; d < TLabelImage::ImageDimension; ++d)
  {
    m_VoxelVolume *= this->GetReferenceImage()->GetSpacing()[d];
  }

  if (m_Labels.empty())
  {
    std::copy_if(m_PresentLabels.begin(),
                 m_PresentLabels.end(),
                 std::back_inserter(m_EvaluatedLabels),
                 [this](LabelType label) { return label != m_BackgroundValue; });
  }
  else
  {
    const std::set<LabelType> requested(m_Labels.begin(), m_Labels.end());
    m_EvaluatedLabels.assign(requested.begin(), requested.end());
  }

  double      iouSum = 0.0;
  double      diceSum = 0.0;
  std::size_t counted = 0;
  for (const LabelType label : m_EvaluatedLabels)
  {
    const OverlapMeasures m = this->GetMeasures(label);
    if (m.status != LabelStatus::Absent)
    {
      iouSum += m.iou;
      diceSum += m.dice;
      ++counted;
    }
  }
  if (counted)
  {
    m_MeanIoU = iouSum / static_cast<double>(counted);
    m_MeanDice = diceSum / static_cast<double>(counted);
  }
}

template <typename TLabelImage>
std::uint64_t
OverlapMetricsImageFilter<TLabelImage>::GetConfusionCount(LabelType reference, LabelType prediction) const
{
  const auto it = m_PairCounts.find({ reference, prediction });
  return it == m_PairCounts.end() ? 0 : it->second;
}

template <typename TLabelImage>
OverlapMeasures
OverlapMetricsImageFilter<TLabelImage>::GetMeasures(LabelType label) const
{
  const auto it = m_LabelIndex.find(label);
  if (it == m_LabelIndex.end())
  {
    return OverlapMeasures::FromCounts(0, 0, 0, m_NumberOfPixels, m_VoxelVolume);
  }
  const std::size_t i = it->second;
  return OverlapMeasures::FromCounts(
    m_ConfusionMatrix[i][i], m_ReferenceCounts[i], m_PredictionCounts[i], m_NumberOfPixels, m_VoxelVolume);
}

template <typename TLabelImage>
void
OverlapMetricsImageFilter<TLabelImage>::PrintSelf(std::ostream & os, itk::Indent indent) const
{
  using PrintType = typename itk::NumericTraits<LabelType>::PrintType;
  Superclass::PrintSelf(os, indent);
  auto printList = [&os](const LabelListType & labels) {
    os << "[";
    for (std::size_t i = 0; i < labels.size(); ++i)
    {
      os << (i ? ", " : "") << static_cast<PrintType>(labels[i]);
    }
    os << "]" << std::endl;
  };
  os << indent << "BackgroundValue: " << static_cast<PrintType>(m_BackgroundValue) << std::endl;
  os << indent << "Labels: ";
  printList(m_Labels);
  os << indent << "EvaluatedLabels: ";
  printList(m_EvaluatedLabels);
  os << indent << "PresentLabels: ";
  printList(m_PresentLabels);
  os << indent << "ConfusionMatrix:" << std::endl;
  for (const auto & row : m_ConfusionMatrix)
  {
    os << indent.GetNextIndent();
    for (const auto count : row)
    {
      os << count << " ";
    }
    os << std::endl;
  }
  os << indent << "NumberOfPixels: " << m_NumberOfPixels << std::endl;
  os << indent << "VoxelVolume: " << m_VoxelVolume << std::endl;
  os << indent << "PixelAccuracy: " << m_PixelAccuracy << std::endl;
  os << indent << "MeanIoU: " << m_MeanIoU << std::endl;
  os << indent << "MeanDice: " << m_MeanDice << std::endl;
  os << indent << "PairCounts: " << m_PairCounts.size() << " distinct pairs" << std::endl;
  os << indent << "ReferenceCounts: " << m_ReferenceCounts.size() << " labels" << std::endl;
  os << indent << "PredictionCounts: " << m_PredictionCounts.size() << " labels" << std::endl;
  os << indent << "LabelIndex: " << m_LabelIndex.size() << " labels" << std::endl;
}

} // namespace torchseg

#endif
