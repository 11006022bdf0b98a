#include "torchsegLabelPostProcessing.h"

#include "itkConnectedComponentImageFilter.h"
#include "itkMacro.h"

#include <algorithm>
#include <vector>

namespace torchseg
{

namespace
{

using LabelImage = itk::Image<uint8_t, 3>;
using MaskImage = itk::Image<uint8_t, 3>;
using ComponentImage = itk::Image<uint32_t, 3>;

/** The smallest box (index, size) holding every voxel whose label is \a a or \a b; size 0 when there is none. */
LabelImage::RegionType
BoundingBox(const LabelImage * labels, uint8_t a, uint8_t b)
{
  const auto          region = labels->GetBufferedRegion();
  const auto          size = region.GetSize();
  const uint8_t *     p = labels->GetBufferPointer();
  itk::IndexValueType lo[3] = { static_cast<itk::IndexValueType>(size[0]),
                                static_cast<itk::IndexValueType>(size[1]),
                                static_cast<itk::IndexValueType>(size[2]) };
  itk::IndexValueType hi[3] = { -1, -1, -1 };
  for (itk::IndexValueType z = 0; z < static_cast<itk::IndexValueType>(size[2]); ++z)
  {
    for (itk::IndexValueType y = 0; y < static_cast<itk::IndexValueType>(size[1]); ++y)
    {
      const uint8_t *     row = p + (z * size[1] + y) * size[0];
      itk::IndexValueType first = -1, last = -1;
      for (itk::IndexValueType x = 0; x < static_cast<itk::IndexValueType>(size[0]); ++x)
      {
        if (row[x] == a || row[x] == b)
        {
          if (first < 0)
          {
            first = x;
          }
          last = x;
        }
      }
      if (first >= 0)
      {
        lo[0] = std::min(lo[0], first);
        hi[0] = std::max(hi[0], last);
        lo[1] = std::min(lo[1], y);
        hi[1] = std::max(hi[1], y);
        lo[2] = std::min(lo[2], z);
        hi[2] = std::max(hi[2], z);
      }
    }
  }
  LabelImage::RegionType box;
  if (hi[0] < 0)
  {
    return box;
  }
  for (unsigned int d = 0; d < 3; ++d)
  {
    box.SetIndex(d, lo[d]);
    box.SetSize(d, static_cast<itk::SizeValueType>(hi[d] - lo[d] + 1));
  }
  return box;
}

/** Face-connected components of the voxels of \a box whose label satisfies \a inside; ids 1..count, 0 outside. */
template <typename TPredicate>
ComponentImage::Pointer
Components(const LabelImage * labels, const LabelImage::RegionType & box, TPredicate inside, std::size_t & count)
{
  auto mask = MaskImage::New();
  mask->SetRegions(box.GetSize());
  mask->Allocate();
  const auto      size = labels->GetBufferedRegion().GetSize();
  const auto      boxSize = box.GetSize();
  const auto      start = box.GetIndex();
  const uint8_t * in = labels->GetBufferPointer();
  uint8_t *       out = mask->GetBufferPointer();
  for (itk::SizeValueType z = 0; z < boxSize[2]; ++z)
  {
    for (itk::SizeValueType y = 0; y < boxSize[1]; ++y)
    {
      const uint8_t * row = in + ((z + start[2]) * size[1] + (y + start[1])) * size[0] + start[0];
      uint8_t *       maskRow = out + (z * boxSize[1] + y) * boxSize[0];
      for (itk::SizeValueType x = 0; x < boxSize[0]; ++x)
      {
        maskRow[x] = inside(row[x]) ? 1 : 0;
      }
    }
  }
  auto filter = itk::ConnectedComponentImageFilter<MaskImage, ComponentImage>::New();
  filter->SetInput(mask);
  filter->SetFullyConnected(false);
  filter->Update();
  count = static_cast<std::size_t>(filter->GetObjectCount());
  return filter->GetOutput();
}

/** Calls f(labelPointer, componentId, x, y, z) for every voxel of \a box (box-relative coordinates). */
template <typename F>
void
ForEachInBox(LabelImage * labels, const LabelImage::RegionType & box, const ComponentImage * ids, F && f)
{
  const auto       size = labels->GetBufferedRegion().GetSize();
  const auto       boxSize = box.GetSize();
  const auto       start = box.GetIndex();
  uint8_t *        p = labels->GetBufferPointer();
  const uint32_t * id = ids->GetBufferPointer();
  for (itk::SizeValueType z = 0; z < boxSize[2]; ++z)
  {
    for (itk::SizeValueType y = 0; y < boxSize[1]; ++y)
    {
      const std::size_t offset = ((z + start[2]) * size[1] + (y + start[1])) * size[0] + start[0];
      for (itk::SizeValueType x = 0; x < boxSize[0]; ++x, ++id)
      {
        f(p + offset + x,
          *id,
          static_cast<itk::IndexValueType>(x) + start[0],
          static_cast<itk::IndexValueType>(y) + start[1],
          static_cast<itk::IndexValueType>(z) + start[2]);
      }
    }
  }
}

} // namespace

LabelPostProcessingReport
PostProcessLabels(LabelImage * labels, const LabelPostProcessingOptions & o)
{
  LabelPostProcessingReport report;
  if (!labels || !o.IsActive())
  {
    return report;
  }
  if (o.organLabel == 0 || o.organLabel > 255 || o.tumourLabel > 255 || o.organLabel == o.tumourLabel)
  {
    itkGenericExceptionMacro(<< "Post-processing: organ label " << o.organLabel << " and tumour label " << o.tumourLabel
                             << " must be distinct labels in [1, 255] (tumour 0 = none)");
  }
  if (labels->GetBufferedRegion() != labels->GetLargestPossibleRegion())
  {
    itkGenericExceptionMacro(<< "Post-processing needs the whole label image in memory");
  }
  const auto organ = static_cast<uint8_t>(o.organLabel);
  const auto tumour = static_cast<uint8_t>(o.tumourLabel);
  const bool hasTumour = o.tumourLabel != 0;
  const auto isOrganRegion = [=](uint8_t v) { return v == organ || (hasTumour && v == tumour); };

  if (o.keepLargestOrganComponent)
  {
    const auto box = BoundingBox(labels, organ, hasTumour ? tumour : organ);
    if (box.GetNumberOfPixels() > 0)
    {
      std::size_t              count = 0;
      const auto               ids = Components(labels, box, isOrganRegion, count);
      std::vector<std::size_t> sizes(count + 1, 0);
      for (const uint32_t *id = ids->GetBufferPointer(), *end = id + box.GetNumberOfPixels(); id != end; ++id)
      {
        ++sizes[*id];
      }
      const auto largest = static_cast<uint32_t>(std::max_element(sizes.begin() + 1, sizes.end()) - sizes.begin());
      report.organComponents = count;
      ForEachInBox(labels, box, ids, [&](uint8_t * v, uint32_t id, auto, auto, auto) {
        if (id != 0 && id != largest)
        {
          *v = 0;
          ++report.removedOrganVoxels;
        }
      });
    }
  }

  if (hasTumour && (o.removeTumourOutsideOrgan || o.minimumTumourVolume > 0.0))
  {
    const auto box = BoundingBox(labels, tumour, tumour);
    if (box.GetNumberOfPixels() > 0)
    {
      std::size_t count = 0;
      const auto  ids = Components(
        labels, box, [=](uint8_t v) { return v == tumour; }, count);
      report.tumourComponents = count;
      std::vector<std::size_t> sizes(count + 1, 0);
      std::vector<char>        touchesOrgan(count + 1, 0);
      const auto               size = labels->GetBufferedRegion().GetSize();
      const std::ptrdiff_t     stride[3] = { 1,
                                             static_cast<std::ptrdiff_t>(size[0]),
                                             static_cast<std::ptrdiff_t>(size[0] * size[1]) };
      ForEachInBox(labels, box, ids, [&](uint8_t * v, uint32_t id, auto x, auto y, auto z) {
        if (id == 0)
        {
          return;
        }
        ++sizes[id];
        const itk::IndexValueType index[3] = { x, y, z };
        for (unsigned int d = 0; d < 3 && !touchesOrgan[id]; ++d)
        {
          if ((index[d] > 0 && v[-stride[d]] == organ) ||
              (index[d] + 1 < static_cast<itk::IndexValueType>(size[d]) && v[stride[d]] == organ))
          {
            touchesOrgan[id] = 1;
          }
        }
      });
      const auto           spacing = labels->GetSpacing();
      const double         voxelVolume = spacing[0] * spacing[1] * spacing[2];
      std::vector<uint8_t> replacement(count + 1, tumour);
      replacement[0] = 0;
      for (std::size_t c = 1; c <= count; ++c)
      {
        if (o.removeTumourOutsideOrgan && !touchesOrgan[c])
        {
          replacement[c] = 0;
        }
        else if (static_cast<double>(sizes[c]) * voxelVolume < o.minimumTumourVolume)
        {
          replacement[c] = touchesOrgan[c] ? organ : 0;
        }
        report.removedTumourComponents += replacement[c] != tumour ? 1 : 0;
      }
      ForEachInBox(labels, box, ids, [&](uint8_t * v, uint32_t id, auto, auto, auto) {
        if (id != 0)
        {
          *v = replacement[id];
        }
      });
    }
  }
  labels->Modified();
  return report;
}

} // namespace torchseg
