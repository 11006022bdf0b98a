#ifndef torchsegLesionDetectionMetricsImageFilter_hxx
#define torchsegLesionDetectionMetricsImageFilter_hxx

#include "torchsegLesionDetectionMetricsImageFilter.h"

#include "itkImageScanlineConstIterator.h"

#include <algorithm>
#include <map>
#include <numeric>

namespace torchseg
{

namespace detail
{

/** Calls found(begin, end) for every maximal run [begin, end] of \a label in line[0, length). Label images are
 * piecewise constant: 32-voxel blocks wholly outside or wholly inside a run are recognised with one vectorised
 * comparison. */
template <typename TLabel, typename TFunction>
void
ForEachRun(const TLabel * line, std::size_t length, TLabel label, TFunction && found)
{
  constexpr std::size_t Block = 32;
  std::size_t           x = 0;
  while (x < length)
  {
    while (x + Block <= length)
    {
      bool none = true;
      for (std::size_t k = 0; k < Block; ++k)
      {
        none &= line[x + k] != label;
      }
      if (!none)
      {
        break;
      }
      x += Block;
    }
    while (x < length && line[x] != label)
    {
      ++x;
    }
    if (x == length)
    {
      return;
    }
    const std::size_t begin = x;
    while (x + Block <= length)
    {
      bool all = true;
      for (std::size_t k = 0; k < Block; ++k)
      {
        all &= line[x + k] == label;
      }
      if (!all)
      {
        break;
      }
      x += Block;
    }
    while (x < length && line[x] == label)
    {
      ++x;
    }
    found(begin, x - 1);
  }
}

} // namespace detail

template <typename TLabelImage>
LesionDetectionMetricsImageFilter<TLabelImage>::LesionDetectionMetricsImageFilter()
{
  this->SetPrimaryInputName("Reference");
  this->AddRequiredInputName("Prediction");
  m_LineStride.fill(0);
}

template <typename TLabelImage>
void
LesionDetectionMetricsImageFilter<TLabelImage>::SetReferenceImage(const TLabelImage * image)
{
  this->itk::ProcessObject::SetInput("Reference", const_cast<TLabelImage *>(image));
}

template <typename TLabelImage>
const TLabelImage *
LesionDetectionMetricsImageFilter<TLabelImage>::GetReferenceImage() const
{
  return itkDynamicCastInDebugMode<const TLabelImage *>(this->itk::ProcessObject::GetInput("Reference"));
}

template <typename TLabelImage>
void
LesionDetectionMetricsImageFilter<TLabelImage>::SetPredictionImage(const TLabelImage * image)
{
  this->itk::ProcessObject::SetInput("Prediction", const_cast<TLabelImage *>(image));
}

template <typename TLabelImage>
const TLabelImage *
LesionDetectionMetricsImageFilter<TLabelImage>::GetPredictionImage() const
{
  return itkDynamicCastInDebugMode<const TLabelImage *>(this->itk::ProcessObject::GetInput("Prediction"));
}

template <typename TLabelImage>
void
LesionDetectionMetricsImageFilter<TLabelImage>::VerifyPreconditions() ITKv5_CONST
{
  Superclass::VerifyPreconditions();
  if (m_MinimumOverlap == 0)
  {
    itkExceptionMacro(<< "MinimumOverlap is 0: a match needs at least one shared voxel");
  }
  if (!std::isfinite(m_MinimumDiameter) || m_MinimumDiameter < 0.0)
  {
    itkExceptionMacro(<< "MinimumDiameter " << m_MinimumDiameter << " is not a diameter in mm (finite, >= 0)");
  }
}

template <typename TLabelImage>
void
LesionDetectionMetricsImageFilter<TLabelImage>::VerifyInputInformation() ITKv5_CONST
{
  VerifySameGeometry<ImageDimension>(this->GetReferenceImage(), this->GetPredictionImage());
}

template <typename TLabelImage>
void
LesionDetectionMetricsImageFilter<TLabelImage>::BeforeStreamedGenerateData()
{
  Superclass::BeforeStreamedGenerateData();
  m_Measures = LesionDetectionMeasures();
  m_ReferencePieces.clear();
  m_PredictionPieces.clear();
  m_LargestRegion = this->GetReferenceImage()->GetLargestPossibleRegion();
  m_LineStride.fill(0);
  itk::OffsetValueType stride = 1;
  for (unsigned int d = 1; d < ImageDimension; ++d)
  {
    m_LineStride[d] = stride;
    stride *= static_cast<itk::OffsetValueType>(m_LargestRegion.GetSize(d));
  }
}

template <typename TLabelImage>
void
LesionDetectionMetricsImageFilter<TLabelImage>::ThreadedStreamedGenerateData(const RegionType & region)
{
  if (region.GetNumberOfPixels() == 0)
  {
    return;
  }
  const TLabelImage * images[2] = { this->GetReferenceImage(), this->GetPredictionImage() };
  RunList             runs[2];
  const std::size_t   lineLength = region.GetSize(0);
  const IndexType &   start = m_LargestRegion.GetIndex();

  itk::ImageScanlineConstIterator<TLabelImage> it(images[0], region);
  while (!it.IsAtEnd())
  {
    const IndexType &    index = it.GetIndex();
    itk::OffsetValueType line = 0;
    for (unsigned int d = 1; d < ImageDimension; ++d)
    {
      line += (index[d] - start[d]) * m_LineStride[d];
    }
    for (int which = 0; which < 2; ++which)
    {
      const TLabelImage * image = images[which];
      RunList &           list = runs[which];
      detail::ForEachRun(image->GetBufferPointer() + image->ComputeOffset(index),
                         lineLength,
                         m_Label,
                         [&list, &index, line](std::size_t begin, std::size_t end) {
                           list.push_back({ line,
                                            index[0] + static_cast<itk::IndexValueType>(begin),
                                            index[0] + static_cast<itk::IndexValueType>(end) });
                         });
    }
    it.NextLine();
  }

  const std::lock_guard<std::mutex> lock(m_Mutex);
  if (!runs[0].empty())
  {
    m_ReferencePieces.push_back(std::move(runs[0]));
  }
  if (!runs[1].empty())
  {
    m_PredictionPieces.push_back(std::move(runs[1]));
  }
}

template <typename TLabelImage>
auto
LesionDetectionMetricsImageFilter<TLabelImage>::GatherRuns(std::vector<RunList> & pieces) -> RunList
{
  auto before = [](const Run & a, const Run & b) { return a.line < b.line || (a.line == b.line && a.begin < b.begin); };
  // Pieces hold disjoint sets of lines, each in order, unless a region was split along x.
  std::sort(pieces.begin(), pieces.end(), [&before](const RunList & a, const RunList & b) {
    return before(a.front(), b.front());
  });
  std::size_t total = 0;
  for (const RunList & piece : pieces)
  {
    total += piece.size();
  }
  RunList runs;
  runs.reserve(total);
  for (RunList & piece : pieces)
  {
    runs.insert(runs.end(), piece.begin(), piece.end());
    RunList().swap(piece);
  }
  pieces.clear();
  if (!std::is_sorted(runs.begin(), runs.end(), before))
  {
    std::sort(runs.begin(), runs.end(), before);
  }
  // Join the parts of a run that a piece boundary along x cut.
  std::size_t kept = 0;
  for (std::size_t i = 0; i < runs.size(); ++i)
  {
    if (kept > 0 && runs[kept - 1].line == runs[i].line && runs[kept - 1].end + 1 == runs[i].begin)
    {
      runs[kept - 1].end = runs[i].end;
    }
    else
    {
      runs[kept++] = runs[i];
    }
  }
  runs.resize(kept);
  return runs;
}

template <typename TLabelImage>
void
LesionDetectionMetricsImageFilter<TLabelImage>::DecodeLine(itk::OffsetValueType line, IndexType & index) const
{
  index[0] = m_LargestRegion.GetIndex(0);
  for (unsigned int d = 1; d < ImageDimension; ++d)
  {
    index[d] = m_LargestRegion.GetIndex(d) +
               (line / m_LineStride[d]) % static_cast<itk::OffsetValueType>(m_LargestRegion.GetSize(d));
  }
}

template <typename TLabelImage>
std::vector<std::uint64_t>
LesionDetectionMetricsImageFilter<TLabelImage>::LabelRuns(const RunList & runs,
                                                          std::uint64_t & numberOfComponents) const
{
  const std::size_t        n = runs.size();
  std::vector<std::size_t> parent(n);
  std::iota(parent.begin(), parent.end(), std::size_t{ 0 });
  auto find = [&parent](std::size_t i) {
    while (parent[i] != i)
    {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  // The root of a set is its first run, so that components are numbered in raster order.
  auto unite = [&](std::size_t a, std::size_t b) {
    a = find(a);
    b = find(b);
    if (a != b)
    {
      parent[std::max(a, b)] = std::min(a, b);
    }
  };

  // The neighbouring lines that come before a line: offsets in {-1, 0, 1} along the axes 1 .. D-1 whose line number
  // is smaller; with faces only, a neighbouring line differs along one axis.
  struct LineOffset
  {
    std::array<itk::OffsetValueType, ImageDimension> step;
    itk::OffsetValueType                             linear;
  };
  std::vector<LineOffset> offsets;
  {
    std::size_t combinations = 1;
    for (unsigned int d = 1; d < ImageDimension; ++d)
    {
      combinations *= 3;
    }
    for (std::size_t c = 0; c < combinations; ++c)
    {
      LineOffset   offset{};
      std::size_t  code = c;
      unsigned int nonZero = 0;
      for (unsigned int d = 1; d < ImageDimension; ++d)
      {
        offset.step[d] = static_cast<itk::OffsetValueType>(code % 3) - 1;
        code /= 3;
        nonZero += offset.step[d] != 0;
        offset.linear += offset.step[d] * m_LineStride[d];
      }
      if (offset.linear < 0 && (m_FullyConnected || nonZero == 1))
      {
        offsets.push_back(offset);
      }
    }
  }
  // Runs of neighbouring lines touch when their x ranges overlap (faces), or overlap once grown by one voxel.
  const itk::IndexValueType slack = m_FullyConnected ? 1 : 0;

  IndexType   index;
  std::size_t groupBegin = 0;
  while (groupBegin < n)
  {
    const itk::OffsetValueType line = runs[groupBegin].line;
    std::size_t                groupEnd = groupBegin;
    while (groupEnd < n && runs[groupEnd].line == line)
    {
      ++groupEnd;
    }
    this->DecodeLine(line, index);
    for (const LineOffset & offset : offsets)
    {
      bool inside = true;
      for (unsigned int d = 1; d < ImageDimension && inside; ++d)
      {
        const itk::IndexValueType c = index[d] + offset.step[d];
        inside = c >= m_LargestRegion.GetIndex(d) &&
                 c < m_LargestRegion.GetIndex(d) + static_cast<itk::IndexValueType>(m_LargestRegion.GetSize(d));
      }
      if (!inside)
      {
        continue;
      }
      const itk::OffsetValueType neighbour = line + offset.linear;
      auto                       first =
        std::lower_bound(runs.begin(), runs.begin() + groupBegin, neighbour, [](const Run & r, itk::OffsetValueType l) {
          return r.line < l;
        });
      std::size_t j = static_cast<std::size_t>(first - runs.begin());
      std::size_t i = groupBegin;
      while (i < groupEnd && j < groupBegin && runs[j].line == neighbour)
      {
        const Run & a = runs[i];
        const Run & b = runs[j];
        if (a.begin <= b.end + slack && b.begin <= a.end + slack)
        {
          unite(i, j);
        }
        // Runs of a line are at least one voxel apart: the run that ends first touches nothing further on.
        if (a.end < b.end)
        {
          ++i;
        }
        else
        {
          ++j;
        }
      }
    }
    groupBegin = groupEnd;
  }

  std::vector<std::uint64_t> component(n, 0);
  numberOfComponents = 0;
  for (std::size_t i = 0; i < n; ++i)
  {
    const std::size_t root = find(i);
    component[i] = root == i ? ++numberOfComponents : component[root];
  }
  return component;
}

template <typename TLabelImage>
std::vector<LesionComponent>
LesionDetectionMetricsImageFilter<TLabelImage>::MeasureComponents(const RunList &                    runs,
                                                                  const std::vector<std::uint64_t> & componentOfRun,
                                                                  std::uint64_t numberOfComponents) const
{
  struct Accumulator
  {
    std::uint64_t                      count = 0;
    std::array<double, ImageDimension> sum{};
    IndexType                          lower;
    IndexType                          upper;
  };
  std::vector<Accumulator> accumulators(numberOfComponents);
  for (auto & a : accumulators)
  {
    a.lower.Fill(itk::NumericTraits<itk::IndexValueType>::max());
    a.upper.Fill(itk::NumericTraits<itk::IndexValueType>::NonpositiveMin());
  }
  IndexType            index;
  itk::OffsetValueType decoded = -1;
  for (std::size_t i = 0; i < runs.size(); ++i)
  {
    const Run & run = runs[i];
    if (run.line != decoded)
    {
      this->DecodeLine(run.line, index);
      decoded = run.line;
    }
    Accumulator &       a = accumulators[componentOfRun[i] - 1];
    const std::uint64_t length = static_cast<std::uint64_t>(run.end - run.begin + 1);
    a.count += length;
    // The sum of begin .. end: (begin + end) (end - begin + 1) / 2, an integer (one factor is even).
    a.sum[0] += static_cast<double>(run.begin + run.end) * static_cast<double>(length) / 2.0;
    a.lower[0] = std::min(a.lower[0], run.begin);
    a.upper[0] = std::max(a.upper[0], run.end);
    for (unsigned int d = 1; d < ImageDimension; ++d)
    {
      a.sum[d] += static_cast<double>(index[d]) * static_cast<double>(length);
      a.lower[d] = std::min(a.lower[d], index[d]);
      a.upper[d] = std::max(a.upper[d], index[d]);
    }
  }

  const TLabelImage *          image = this->GetReferenceImage();
  const auto &                 spacing = image->GetSpacing();
  const double                 voxelVolume = m_Measures.voxelVolumeMm3;
  std::vector<LesionComponent> components(numberOfComponents);
  for (std::uint64_t c = 0; c < numberOfComponents; ++c)
  {
    const Accumulator & a = accumulators[c];
    LesionComponent &   component = components[c];
    component.id = c + 1;
    component.voxelCount = a.count;
    const double volume = static_cast<double>(a.count) * voxelVolume;
    component.volumeMl = volume / 1000.0;
    component.equivalentDiameterMm = EquivalentBallDiameter(volume, ImageDimension);
    itk::ContinuousIndex<double, ImageDimension> mean;
    for (unsigned int d = 0; d < ImageDimension; ++d)
    {
      const double extent = static_cast<double>(a.upper[d] - a.lower[d] + 1) * spacing[d];
      component.extentMm.push_back(extent);
      component.maximumExtentMm = std::max(component.maximumExtentMm, extent);
      component.boundingBoxLower.push_back(a.lower[d]);
      component.boundingBoxUpper.push_back(a.upper[d]);
      mean[d] = a.sum[d] / static_cast<double>(a.count);
    }
    typename TLabelImage::PointType centroid;
    image->TransformContinuousIndexToPhysicalPoint(mean, centroid);
    component.centroid.assign(centroid.Begin(), centroid.End());
  }
  return components;
}

template <typename TLabelImage>
void
LesionDetectionMetricsImageFilter<TLabelImage>::CheckAbort()
{
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
LesionDetectionMetricsImageFilter<TLabelImage>::StreamedGenerateData(unsigned int inputRequestedRegionNumber)
{
  Superclass::StreamedGenerateData(inputRequestedRegionNumber);
  this->CheckAbort();
  if (inputRequestedRegionNumber + 1 == this->GetNumberOfInputRequestedRegions())
  {
    this->ComputeMeasures();
  }
}

template <typename TLabelImage>
void
LesionDetectionMetricsImageFilter<TLabelImage>::ComputeMeasures()
{
  LesionDetectionMeasures & m = m_Measures;
  m.fullyConnected = m_FullyConnected;
  m.minimumOverlapVoxels = m_MinimumOverlap;
  m.minimumDiameterMm = m_MinimumDiameter;
  m.voxelVolumeMm3 = 1.0;
  for (unsigned int d = 0; d < ImageDimension; ++d)
  {
    m.voxelVolumeMm3 *= this->GetReferenceImage()->GetSpacing()[d];
  }

  const RunList reference = GatherRuns(m_ReferencePieces);
  const RunList prediction = GatherRuns(m_PredictionPieces);
  std::uint64_t numberOfLesions = 0;
  std::uint64_t numberOfComponents = 0;
  const auto    lesionOfRun = this->LabelRuns(reference, numberOfLesions);
  const auto    componentOfRun = this->LabelRuns(prediction, numberOfComponents);
  m.referenceLesions = this->MeasureComponents(reference, lesionOfRun, numberOfLesions);
  m.predictedComponents = this->MeasureComponents(prediction, componentOfRun, numberOfComponents);

  // Shared voxels of each (lesion, component) pair, from the runs of each line (both lists in line order).
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> shared;
  std::size_t                                                      i = 0;
  std::size_t                                                      j = 0;
  while (i < reference.size() && j < prediction.size())
  {
    const Run & a = reference[i];
    const Run & b = prediction[j];
    if (a.line != b.line)
    {
      (a.line < b.line ? i : j) += 1;
      continue;
    }
    const itk::IndexValueType overlap = std::min(a.end, b.end) - std::max(a.begin, b.begin) + 1;
    if (overlap > 0)
    {
      shared[{ lesionOfRun[i], componentOfRun[j] }] += static_cast<std::uint64_t>(overlap);
    }
    (a.end < b.end ? i : j) += 1;
  }

  std::vector<std::uint64_t> matchedOverlap(numberOfLesions, 0);
  for (const auto & entry : shared)
  {
    LesionComponent & lesion = m.referenceLesions[entry.first.first - 1];
    LesionComponent & component = m.predictedComponents[entry.first.second - 1];
    lesion.overlapVoxels += entry.second;
    component.overlapVoxels += entry.second;
    if (entry.second >= m_MinimumOverlap)
    {
      lesion.matches.push_back(component.id);
      component.matches.push_back(lesion.id);
      matchedOverlap[lesion.id - 1] += entry.second;
    }
  }

  // A small predicted component still detects a large lesion: the restricted summary selects each side by its own
  // diameter. A diameter equal to the minimum within rounding counts.
  const double  threshold = m_MinimumDiameter * (1.0 - 1e-12);
  std::uint64_t detected = 0, largeLesions = 0, largeDetected = 0;
  double        diceSum = 0.0;
  for (LesionComponent & lesion : m.referenceLesions)
  {
    std::uint64_t unionVoxels = 0;
    for (const std::uint64_t id : lesion.matches)
    {
      unionVoxels += m.predictedComponents[id - 1].voxelCount;
    }
    lesion.matched = !lesion.matches.empty();
    lesion.dice =
      2.0 * static_cast<double>(matchedOverlap[lesion.id - 1]) / static_cast<double>(lesion.voxelCount + unionVoxels);
    diceSum += lesion.dice;
    detected += lesion.matched;
    const bool large = lesion.equivalentDiameterMm >= threshold;
    largeLesions += large;
    largeDetected += large && lesion.matched;
  }
  std::uint64_t truePositives = 0, largeComponents = 0, largeTruePositives = 0;
  for (LesionComponent & component : m.predictedComponents)
  {
    component.matched = !component.matches.empty();
    truePositives += component.matched;
    const bool large = component.equivalentDiameterMm >= threshold;
    largeComponents += large;
    largeTruePositives += large && component.matched;
  }
  m.all = LesionDetectionSummary::FromCounts(numberOfLesions, detected, numberOfComponents, truePositives);
  m.aboveMinimumDiameter =
    LesionDetectionSummary::FromCounts(largeLesions, largeDetected, largeComponents, largeTruePositives);
  m.meanLesionDice =
    numberOfLesions ? diceSum / static_cast<double>(numberOfLesions) : std::numeric_limits<double>::quiet_NaN();
}

template <typename TLabelImage>
void
LesionDetectionMetricsImageFilter<TLabelImage>::PrintSelf(std::ostream & os, itk::Indent indent) const
{
  using PrintType = typename itk::NumericTraits<LabelType>::PrintType;
  Superclass::PrintSelf(os, indent);
  os << indent << "Label: " << static_cast<PrintType>(m_Label) << std::endl;
  os << indent << "FullyConnected: " << (m_FullyConnected ? "On" : "Off") << std::endl;
  os << indent << "MinimumOverlap: " << m_MinimumOverlap << std::endl;
  os << indent << "MinimumDiameter: " << m_MinimumDiameter << std::endl;
  os << indent << "LargestRegion: " << m_LargestRegion << std::endl;
  os << indent << "LineStride: " << detail::FormatTuple(m_LineStride, ImageDimension) << std::endl;
  os << indent << "ReferencePieces: " << m_ReferencePieces.size() << std::endl;
  os << indent << "PredictionPieces: " << m_PredictionPieces.size() << std::endl;
  const auto printSummary = [&os](itk::Indent in, const char * name, const LesionDetectionSummary & s) {
    os << in << name << ": " << LabelStatusToString(s.status) << ", " << s.detectedLesions << " of "
       << s.referenceLesions << " lesions detected (rate " << s.detectionRate << "), " << s.falsePositiveComponents
       << " of " << s.predictedComponents << " predicted components false positive (precision " << s.precision
       << "), F1 " << s.f1 << std::endl;
  };
  os << indent << "Measures:" << std::endl;
  const itk::Indent next = indent.GetNextIndent();
  os << next << "VoxelVolumeMm3: " << m_Measures.voxelVolumeMm3 << std::endl;
  printSummary(next, "All", m_Measures.all);
  printSummary(next, "AboveMinimumDiameter", m_Measures.aboveMinimumDiameter);
  os << next << "MeanLesionDice: " << m_Measures.meanLesionDice << std::endl;
  for (const LesionComponent & lesion : m_Measures.referenceLesions)
  {
    os << next << "lesion " << lesion.id << ": " << lesion.voxelCount << " voxels, " << lesion.volumeMl << " mL, "
       << "diameter " << lesion.equivalentDiameterMm << " mm, centroid "
       << detail::FormatTuple(lesion.centroid, ImageDimension) << (lesion.matched ? ", detected" : ", missed")
       << ", Dice " << lesion.dice << std::endl;
  }
  for (const LesionComponent & component : m_Measures.predictedComponents)
  {
    os << next << "predicted component " << component.id << ": " << component.voxelCount << " voxels, diameter "
       << component.equivalentDiameterMm << " mm" << (component.matched ? "" : ", false positive") << std::endl;
  }
}

} // namespace torchseg

#endif
