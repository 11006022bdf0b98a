#ifndef torchsegSurfaceDistanceMetricsImageFilter_hxx
#define torchsegSurfaceDistanceMetricsImageFilter_hxx

#include "torchsegSurfaceDistanceMetricsImageFilter.h"

#include "itkImageScanlineConstIterator.h"
#include "itkProgressTransformer.h"

#include <algorithm>
#include <set>

namespace torchseg
{

template <typename TLabelImage>
SurfaceDistanceMetricsImageFilter<TLabelImage>::SurfaceDistanceMetricsImageFilter()
{
  this->SetPrimaryInputName("Reference");
  this->AddRequiredInputName("Prediction");
}

template <typename TLabelImage>
void
SurfaceDistanceMetricsImageFilter<TLabelImage>::SetReferenceImage(const TLabelImage * image)
{
  this->itk::ProcessObject::SetInput("Reference", const_cast<TLabelImage *>(image));
}

template <typename TLabelImage>
const TLabelImage *
SurfaceDistanceMetricsImageFilter<TLabelImage>::GetReferenceImage() const
{
  return itkDynamicCastInDebugMode<const TLabelImage *>(this->itk::ProcessObject::GetInput("Reference"));
}

template <typename TLabelImage>
void
SurfaceDistanceMetricsImageFilter<TLabelImage>::SetPredictionImage(const TLabelImage * image)
{
  this->itk::ProcessObject::SetInput("Prediction", const_cast<TLabelImage *>(image));
}

template <typename TLabelImage>
const TLabelImage *
SurfaceDistanceMetricsImageFilter<TLabelImage>::GetPredictionImage() const
{
  return itkDynamicCastInDebugMode<const TLabelImage *>(this->itk::ProcessObject::GetInput("Prediction"));
}

template <typename TLabelImage>
void
SurfaceDistanceMetricsImageFilter<TLabelImage>::SetLabels(const LabelListType & labels)
{
  if (labels != m_Labels)
  {
    m_Labels = labels;
    this->Modified();
  }
}

template <typename TLabelImage>
void
SurfaceDistanceMetricsImageFilter<TLabelImage>::VerifyInputInformation() ITKv5_CONST
{
  VerifySameGeometry<ImageDimension>(this->GetReferenceImage(), this->GetPredictionImage());
}

template <typename TLabelImage>
void
SurfaceDistanceMetricsImageFilter<TLabelImage>::BeforeStreamedGenerateData()
{
  Superclass::BeforeStreamedGenerateData();
  m_Boxes.clear();
  m_LabelRegions.clear();
  m_Measures.clear();
  m_EvaluatedLabels.clear();
}

template <typename TLabelImage>
void
SurfaceDistanceMetricsImageFilter<TLabelImage>::StreamedGenerateData(unsigned int)
{
  this->GetMultiThreader()->SetNumberOfWorkUnits(this->GetNumberOfWorkUnits());
  itk::ProgressTransformer progress(0.0f, 0.05f, this);
  this->GetMultiThreader()->template ParallelizeImageRegion<ImageDimension>(
    this->GetReferenceImage()->GetRequestedRegion(),
    [this](const RegionType & region) { this->ThreadedStreamedGenerateData(region); },
    progress.GetProcessObject());
  // Here rather than in AfterStreamedGenerateData, which runs after the superclass has reported the end of the
  // (single) stream piece: the progress stays monotonic.
  this->ComputeDistances();
}

template <typename TLabelImage>
void
SurfaceDistanceMetricsImageFilter<TLabelImage>::Merge(BoxMap & into, const BoxMap & from)
{
  for (const auto & entry : from)
  {
    auto inserted = into.insert(entry);
    if (inserted.second)
    {
      continue;
    }
    LabelBox &       a = inserted.first->second;
    const LabelBox & b = entry.second;
    for (unsigned int d = 0; d < ImageDimension; ++d)
    {
      a.lower[d] = std::min(a.lower[d], b.lower[d]);
      a.upper[d] = std::max(a.upper[d], b.upper[d]);
    }
    a.inReference = a.inReference || b.inReference;
    a.inPrediction = a.inPrediction || b.inPrediction;
  }
}

template <typename TLabelImage>
void
SurfaceDistanceMetricsImageFilter<TLabelImage>::ThreadedStreamedGenerateData(const RegionType & region)
{
  if (region.GetNumberOfPixels() == 0)
  {
    return;
  }
  const TLabelImage *   images[2] = { this->GetReferenceImage(), this->GetPredictionImage() };
  const std::size_t     lineLength = region.GetSize(0);
  constexpr std::size_t Block = 32;
  BoxMap                boxes;
  // The box of the label seen last: runs of one label are the rule, so the map is rarely searched.
  LabelType  cachedLabel{};
  LabelBox * cached = nullptr;
  auto       boxOf = [&](LabelType label) -> LabelBox & {
    if (cached == nullptr || label != cachedLabel)
    {
      auto inserted = boxes.try_emplace(label);
      if (inserted.second)
      {
        inserted.first->second.lower.Fill(itk::NumericTraits<itk::IndexValueType>::max());
        inserted.first->second.upper.Fill(itk::NumericTraits<itk::IndexValueType>::NonpositiveMin());
      }
      cachedLabel = label;
      cached = &inserted.first->second;
    }
    return *cached;
  };

  itk::ImageScanlineConstIterator<TLabelImage> it(images[0], region);
  while (!it.IsAtEnd())
  {
    const IndexType & index = it.GetIndex();
    for (int which = 0; which < 2; ++which)
    {
      const TLabelImage * image = images[which];
      const LabelType *   line = image->GetBufferPointer() + image->ComputeOffset(index);
      std::size_t         x = 0;
      while (x < lineLength)
      {
        const LabelType current = line[x];
        std::size_t     end = x + 1;
        // Skip the run in blocks (a vectorized test), then voxel by voxel.
        while (end + Block <= lineLength)
        {
          bool same = true;
          for (std::size_t k = 0; k < Block; ++k)
          {
            same &= line[end + k] == current;
          }
          if (!same)
          {
            break;
          }
          end += Block;
        }
        while (end < lineLength && line[end] == current)
        {
          ++end;
        }
        LabelBox & box = boxOf(current);
        box.lower[0] = std::min<itk::IndexValueType>(box.lower[0], index[0] + static_cast<itk::IndexValueType>(x));
        box.upper[0] =
          std::max<itk::IndexValueType>(box.upper[0], index[0] + static_cast<itk::IndexValueType>(end - 1));
        for (unsigned int d = 1; d < ImageDimension; ++d)
        {
          box.lower[d] = std::min(box.lower[d], index[d]);
          box.upper[d] = std::max(box.upper[d], index[d]);
        }
        (which == 0 ? box.inReference : box.inPrediction) = true;
        x = end;
      }
    }
    it.NextLine();
  }

  const std::lock_guard<std::mutex> lock(m_Mutex);
  Merge(m_Boxes, boxes);
}

template <typename TLabelImage>
BinaryMaskPair
SurfaceDistanceMetricsImageFilter<TLabelImage>::ExtractMasks(LabelType label, const RegionType & region)
{
  BinaryMaskPair masks;
  masks.dimension = ImageDimension;
  masks.size = { { 1, 1, 1 } };
  const auto & spacing = this->GetReferenceImage()->GetSpacing();
  for (unsigned int d = 0; d < ImageDimension; ++d)
  {
    masks.size[d] = region.GetSize(d);
    masks.spacing[d] = spacing[d];
  }
  const std::size_t n = masks.GetNumberOfVoxels();
  masks.reference.assign(n, 0);
  masks.prediction.assign(n, 0);

  const TLabelImage * reference = this->GetReferenceImage();
  const TLabelImage * prediction = this->GetPredictionImage();
  const std::size_t   nx = masks.size[0];
  const std::size_t   ny = masks.size[1];
  const std::size_t   lines = masks.size[1] * masks.size[2];
  this->GetMultiThreader()->ParallelizeArray(
    0,
    lines,
    [&](itk::SizeValueType line) {
      IndexType index = region.GetIndex();
      index[1] += static_cast<itk::IndexValueType>(line % ny);
      if (ImageDimension > 2)
      {
        index[ImageDimension - 1] += static_cast<itk::IndexValueType>(line / ny);
      }
      const LabelType * t = reference->GetBufferPointer() + reference->ComputeOffset(index);
      const LabelType * s = prediction->GetBufferPointer() + prediction->ComputeOffset(index);
      std::uint8_t *    a = masks.reference.data() + line * nx;
      std::uint8_t *    b = masks.prediction.data() + line * nx;
      for (std::size_t x = 0; x < nx; ++x)
      {
        a[x] = t[x] == label;
        b[x] = s[x] == label;
      }
    },
    nullptr);
  return masks;
}

template <typename TLabelImage>
void
SurfaceDistanceMetricsImageFilter<TLabelImage>::CheckAbort(double progress)
{
  this->UpdateProgress(static_cast<float>(progress));
  if (this->GetAbortGenerateData())
  {
    itk::ProcessAborted e(__FILE__, __LINE__);
    e.SetLocation(ITK_LOCATION);
    e.SetDescription(std::string(this->GetNameOfClass()) + ": computation aborted by the user");
    throw e;
  }
}

template <typename TLabelImage>
void
SurfaceDistanceMetricsImageFilter<TLabelImage>::ComputeDistances()
{
  if (m_Labels.empty())
  {
    for (const auto & entry : m_Boxes)
    {
      if (entry.first != m_BackgroundValue)
      {
        m_EvaluatedLabels.push_back(entry.first);
      }
    }
  }
  else
  {
    const std::set<LabelType> requested(m_Labels.begin(), m_Labels.end());
    m_EvaluatedLabels.assign(requested.begin(), requested.end());
  }

  // Each label's masks are cut from the union of its two boxes, grown by one voxel and clipped to the image.
  const RegionType largest = this->GetReferenceImage()->GetLargestPossibleRegion();
  double           totalVoxels = 0.0;
  for (const LabelType label : m_EvaluatedLabels)
  {
    const auto found = m_Boxes.find(label);
    if (found == m_Boxes.end())
    {
      continue;
    }
    RegionType region;
    region.SetIndex(found->second.lower);
    for (unsigned int d = 0; d < ImageDimension; ++d)
    {
      region.SetSize(d, static_cast<itk::SizeValueType>(found->second.upper[d] - found->second.lower[d] + 1));
    }
    region.PadByRadius(1);
    region.Crop(largest);
    m_LabelRegions[label] = region;
    totalVoxels += static_cast<double>(region.GetNumberOfPixels());
  }

  const double scanShare = 0.05;
  double       done = 0.0;
  this->GetMultiThreader()->SetNumberOfWorkUnits(this->GetNumberOfWorkUnits());
  for (const LabelType label : m_EvaluatedLabels)
  {
    const auto region = m_LabelRegions.find(label);
    if (region == m_LabelRegions.end())
    {
      SurfaceDistanceMeasures absent;
      absent.tolerance = m_NSDTolerance;
      absent.percentile = m_Percentile;
      m_Measures[label] = absent;
      continue;
    }
    const double begin = scanShare + (1.0 - scanShare) * done / totalVoxels;
    const double share = (1.0 - scanShare) * static_cast<double>(region->second.GetNumberOfPixels()) / totalVoxels;
    this->CheckAbort(begin);
    m_Measures[label] =
      ComputeMaskSurfaceDistances(this->ExtractMasks(label, region->second),
                                  m_NSDTolerance,
                                  m_Percentile,
                                  this->GetMultiThreader(),
                                  [&](double fraction) { this->CheckAbort(begin + share * fraction); });
    done += static_cast<double>(region->second.GetNumberOfPixels());
  }
}

template <typename TLabelImage>
SurfaceDistanceMeasures
SurfaceDistanceMetricsImageFilter<TLabelImage>::GetMeasures(LabelType label) const
{
  const auto found = m_Measures.find(label);
  if (found != m_Measures.end())
  {
    return found->second;
  }
  SurfaceDistanceMeasures absent;
  absent.tolerance = m_NSDTolerance;
  absent.percentile = m_Percentile;
  return absent;
}

template <typename TLabelImage>
auto
SurfaceDistanceMetricsImageFilter<TLabelImage>::GetLabelRegion(LabelType label) const -> RegionType
{
  const auto found = m_LabelRegions.find(label);
  return found == m_LabelRegions.end() ? RegionType() : found->second;
}

template <typename TLabelImage>
void
SurfaceDistanceMetricsImageFilter<TLabelImage>::PrintSelf(std::ostream & os, itk::Indent indent) const
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
  os << indent << "NSDTolerance: " << m_NSDTolerance << std::endl;
  os << indent << "Percentile: " << m_Percentile << std::endl;
  os << indent << "EvaluatedLabels: ";
  printList(m_EvaluatedLabels);
  os << indent << "Boxes: " << m_Boxes.size() << " labels" << std::endl;
  for (const auto & entry : m_LabelRegions)
  {
    os << indent.GetNextIndent() << "label " << static_cast<PrintType>(entry.first) << ": index "
       << entry.second.GetIndex() << " size " << entry.second.GetSize() << std::endl;
  }
  for (const auto & entry : m_Measures)
  {
    const SurfaceDistanceMeasures & m = entry.second;
    os << indent.GetNextIndent() << "label " << static_cast<PrintType>(entry.first) << ": "
       << LabelStatusToString(m.status) << " HD " << m.hausdorff << " HD" << m.percentile << " "
       << m.hausdorffPercentile << " ASSD " << m.averageSymmetric << " MASD " << m.meanAverage << " NSD "
       << m.normalizedSurfaceDice << std::endl;
  }
}

} // namespace torchseg

#endif
