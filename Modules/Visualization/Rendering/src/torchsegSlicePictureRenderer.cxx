#include "torchsegSlicePictureRenderer.h"

#include "itkMultiThreaderBase.h"

#include <algorithm>
#include <cmath>
#include <mutex>

namespace torchseg
{

namespace
{

const RGBCanvas::Color kBackground{ { 22, 23, 27 } };
const RGBCanvas::Color kText{ { 232, 232, 232 } };
const RGBCanvas::Color kMutedText{ { 160, 162, 170 } };

/** The affine map world -> continuous index of an image: index = A * (world - origin). */
struct WorldToIndex
{
  itk::Matrix<double, 3, 3> matrix;
  itk::Point<double, 3>     origin;
  itk::Size<3>              size;
  itk::Index<3>             start;

  explicit WorldToIndex(const itk::ImageBase<3> * image)
  {
    itk::Matrix<double, 3, 3> scaled;
    for (unsigned int r = 0; r < 3; ++r)
    {
      for (unsigned int c = 0; c < 3; ++c)
      {
        scaled(r, c) = image->GetDirection()(r, c) * image->GetSpacing()[c];
      }
    }
    matrix = scaled.GetInverse();
    origin = image->GetOrigin();
    size = image->GetBufferedRegion().GetSize();
    start = image->GetBufferedRegion().GetIndex();
  }

  /** Continuous index relative to the buffer's first voxel. */
  std::array<double, 3>
  operator()(const itk::Point<double, 3> & p) const
  {
    const itk::Vector<double, 3> v = p - origin;
    std::array<double, 3>        index{};
    for (unsigned int r = 0; r < 3; ++r)
    {
      index[r] = matrix(r, 0) * v[0] + matrix(r, 1) * v[1] + matrix(r, 2) * v[2] - static_cast<double>(start[r]);
    }
    return index;
  }
};

/** Trilinear interpolation within the volume's voxel footprint (half a voxel beyond the outer centres is clamped);
 * false outside it. */
bool
SampleLinear(const CTImageType * image, const WorldToIndex & map, const itk::Point<double, 3> & p, double & value)
{
  const auto            index = map(p);
  const auto            size = map.size;
  std::array<long, 3>   base{};
  std::array<double, 3> fraction{};
  for (unsigned int d = 0; d < 3; ++d)
  {
    const double n = static_cast<double>(size[d]);
    if (index[d] < -0.5 || index[d] > n - 0.5)
    {
      return false;
    }
    const double c = std::clamp(index[d], 0.0, n - 1.0);
    base[d] = std::min(static_cast<long>(std::floor(c)), static_cast<long>(size[d]) - 1);
    fraction[d] = c - static_cast<double>(base[d]);
  }
  const float * buffer = image->GetBufferPointer();
  const long    sx = 1;
  const long    sy = static_cast<long>(size[0]);
  const long    sz = sy * static_cast<long>(size[1]);
  const long    o = base[0] * sx + base[1] * sy + base[2] * sz;
  const long    dx = base[0] + 1 < static_cast<long>(size[0]) ? sx : 0;
  const long    dy = base[1] + 1 < static_cast<long>(size[1]) ? sy : 0;
  const long    dz = base[2] + 1 < static_cast<long>(size[2]) ? sz : 0;
  const double  fx = fraction[0], fy = fraction[1], fz = fraction[2];
  const double  c00 = buffer[o] * (1 - fx) + buffer[o + dx] * fx;
  const double  c10 = buffer[o + dy] * (1 - fx) + buffer[o + dy + dx] * fx;
  const double  c01 = buffer[o + dz] * (1 - fx) + buffer[o + dz + dx] * fx;
  const double  c11 = buffer[o + dz + dy] * (1 - fx) + buffer[o + dz + dy + dx] * fx;
  value = (c00 * (1 - fy) + c10 * fy) * (1 - fz) + (c01 * (1 - fy) + c11 * fy) * fz;
  return true;
}

uint8_t
SampleNearest(const LabelImageType * image, const WorldToIndex & map, const itk::Point<double, 3> & p)
{
  const auto index = map(p);
  long       offset = 0;
  long       stride = 1;
  for (unsigned int d = 0; d < 3; ++d)
  {
    const long i = static_cast<long>(std::floor(index[d] + 0.5));
    if (i < 0 || i >= static_cast<long>(map.size[d]))
    {
      return 0;
    }
    offset += i * stride;
    stride *= static_cast<long>(map.size[d]);
  }
  return image->GetBufferPointer()[offset];
}

bool
SameGeometry(const itk::ImageBase<3> * a, const itk::ImageBase<3> * b)
{
  if (a->GetLargestPossibleRegion() != b->GetLargestPossibleRegion())
  {
    return false;
  }
  for (unsigned int d = 0; d < 3; ++d)
  {
    if (std::abs(a->GetOrigin()[d] - b->GetOrigin()[d]) > 1e-4 ||
        std::abs(a->GetSpacing()[d] - b->GetSpacing()[d]) > 1e-6)
    {
      return false;
    }
    for (unsigned int c = 0; c < 3; ++c)
    {
      if (std::abs(a->GetDirection()(d, c) - b->GetDirection()(d, c)) > 1e-6)
      {
        return false;
      }
    }
  }
  return true;
}

/** Voxel counts of each label value, or of each agreement category between two images on the same grid. */
std::array<std::size_t, 256>
CountValues(const LabelImageType * labels, const LabelImageType * reference)
{
  std::array<std::size_t, 256> total{};
  std::mutex                   mutex;
  const std::size_t            n = labels->GetBufferedRegion().GetNumberOfPixels();
  const uint8_t *              p = labels->GetBufferPointer();
  const uint8_t *              r = reference ? reference->GetBufferPointer() : nullptr;
  const std::size_t            chunk = 1 << 20;
  itk::MultiThreaderBase::New()->ParallelizeArray(
    0,
    (n + chunk - 1) / chunk,
    [&](itk::SizeValueType c) {
      std::array<std::size_t, 256> local{};
      const std::size_t            end = std::min(n, (c + 1) * chunk);
      for (std::size_t i = c * chunk; i < end; ++i)
      {
        if (r == nullptr)
        {
          ++local[p[i]];
        }
        else
        {
          using A = SlicePictureRenderer::Agreement;
          const A category = p[i] == 0   ? (r[i] == 0 ? A::None : A::FalseNegative)
                             : r[i] == 0 ? A::FalsePositive
                                         : (r[i] == p[i] ? A::Agreement : A::Confusion);
          ++local[static_cast<uint8_t>(category)];
        }
      }
      std::lock_guard<std::mutex> lock(mutex);
      for (unsigned int v = 0; v < 256; ++v)
      {
        total[v] += local[v];
      }
    },
    nullptr);
  return total;
}

/** Sum of continuous indices and count of the voxels selected by \a select, for a centroid. */
template <typename TSelect>
std::pair<std::array<double, 3>, std::size_t>
SumIndices(const LabelImageType * image, TSelect select)
{
  std::array<double, 3> sum{};
  std::size_t           count = 0;
  std::mutex            mutex;
  const auto            size = image->GetBufferedRegion().GetSize();
  const uint8_t *       buffer = image->GetBufferPointer();
  itk::MultiThreaderBase::New()->ParallelizeArray(
    0,
    size[2],
    [&](itk::SizeValueType z) {
      std::array<double, 3> local{};
      std::size_t           n = 0;
      for (itk::SizeValueType y = 0; y < size[1]; ++y)
      {
        const uint8_t * row = buffer + (z * size[1] + y) * size[0];
        for (itk::SizeValueType x = 0; x < size[0]; ++x)
        {
          if (select(row[x], (z * size[1] + y) * size[0] + x))
          {
            local[0] += static_cast<double>(x);
            local[1] += static_cast<double>(y);
            local[2] += static_cast<double>(z);
            ++n;
          }
        }
      }
      std::lock_guard<std::mutex> lock(mutex);
      for (unsigned int d = 0; d < 3; ++d)
      {
        sum[d] += local[d];
      }
      count += n;
    },
    nullptr);
  return { sum, count };
}

/** Draws text with a one-pixel dark halo so that it reads on any image. */
void
DrawHaloText(RGBCanvas & canvas, int x, int y, const std::string & text, int size, RGBCanvas::HorizontalAlignment h,
             RGBCanvas::VerticalAlignment v)
{
  for (const auto & offset : { std::array<int, 2>{ { -1, 0 } },
                               std::array<int, 2>{ { 1, 0 } },
                               std::array<int, 2>{ { 0, -1 } },
                               std::array<int, 2>{ { 0, 1 } } })
  {
    canvas.DrawText(x + offset[0], y + offset[1], text, size, RGBCanvas::Color{ { 0, 0, 0 } }, h, v, true);
  }
  canvas.DrawText(x, y, text, size, RGBCanvas::Color{ { 255, 236, 140 } }, h, v, true);
}

} // namespace

std::vector<std::pair<unsigned int, double>>
ComputeLabelVolumes(const LabelImageType * labels)
{
  if (labels == nullptr)
  {
    itkGenericExceptionMacro(<< "ComputeLabelVolumes: the label image is null");
  }
  const auto   counts = CountValues(labels, nullptr);
  const double voxel = std::abs(labels->GetSpacing()[0] * labels->GetSpacing()[1] * labels->GetSpacing()[2]);
  std::vector<std::pair<unsigned int, double>> volumes;
  for (unsigned int v = 1; v < 256; ++v)
  {
    if (counts[v] > 0)
    {
      volumes.emplace_back(v, static_cast<double>(counts[v]) * voxel);
    }
  }
  return volumes;
}

SlicePictureRenderer::PointType
SlicePictureRenderer::View::PixelToWorld(double i, double j) const
{
  return origin + right * ((i + 0.5) * pixelSpacing) + down * ((j + 0.5) * pixelSpacing);
}

bool
SlicePictureRenderer::View::WorldToPicture(const PointType & point, int & column, int & row) const
{
  const VectorType v = point - origin;
  const double     i = (v * right) / pixelSpacing - 0.5;
  const double     j = (v * down) / pixelSpacing - 0.5;
  const long       ci = std::lround(i);
  const long       cj = std::lround(j);
  if (ci < 0 || cj < 0 || ci >= static_cast<long>(width) || cj >= static_cast<long>(height))
  {
    return false;
  }
  column = x + static_cast<int>(ci);
  row = y + static_cast<int>(cj);
  return true;
}

SlicePictureRenderer::SlicePictureRenderer()
  : m_LabelTable(LabelTable::LiverTumour())
{
  this->SetNumberOfRequiredInputs(1);
  m_FocusPoint.Fill(0.0);
  m_UsedFocusPoint.Fill(0.0);
}

void
SlicePictureRenderer::SetCTImage(const CTImageType * image)
{
  this->SetNthInput(0, const_cast<CTImageType *>(image));
}

const CTImageType *
SlicePictureRenderer::GetCTImage() const
{
  return dynamic_cast<const CTImageType *>(this->GetInput(0));
}

void
SlicePictureRenderer::SetLabelImage(const LabelImageType * image)
{
  this->SetNthInput(1, const_cast<LabelImageType *>(image));
}

const LabelImageType *
SlicePictureRenderer::GetLabelImage() const
{
  return this->GetNumberOfIndexedInputs() > 1 ? dynamic_cast<const LabelImageType *>(this->GetInput(1)) : nullptr;
}

void
SlicePictureRenderer::SetReferenceImage(const LabelImageType * image)
{
  this->SetNthInput(2, const_cast<LabelImageType *>(image));
}

const LabelImageType *
SlicePictureRenderer::GetReferenceImage() const
{
  return this->GetNumberOfIndexedInputs() > 2 ? dynamic_cast<const LabelImageType *>(this->GetInput(2)) : nullptr;
}

void
SlicePictureRenderer::SetLabelTable(const LabelTable & table)
{
  m_LabelTable = table;
  this->Modified();
}

void
SlicePictureRenderer::SetFocusPoint(const PointType & point)
{
  m_FocusPoint = point;
  m_HasFocusPoint = true;
  this->Modified();
}

void
SlicePictureRenderer::ClearFocusPoint()
{
  m_HasFocusPoint = false;
  this->Modified();
}

SlicePictureRenderer::Color
SlicePictureRenderer::GetAgreementColor(Agreement category)
{
  switch (category)
  {
    case Agreement::Agreement:
      return Color{ { 46, 204, 113 } }; // green
    case Agreement::FalsePositive:
      return Color{ { 235, 59, 90 } }; // red
    case Agreement::FalseNegative:
      return Color{ { 52, 152, 255 } }; // blue
    case Agreement::Confusion:
      return Color{ { 255, 159, 26 } }; // orange
    default:
      return Color{ { 0, 0, 0 } };
  }
}

const char *
SlicePictureRenderer::GetAgreementName(Agreement category)
{
  switch (category)
  {
    case Agreement::Agreement:
      return "agreement";
    case Agreement::FalsePositive:
      return "false positive (prediction only)";
    case Agreement::FalseNegative:
      return "false negative (reference only)";
    case Agreement::Confusion:
      return "wrong class";
    default:
      return "none";
  }
}

uint8_t
SlicePictureRenderer::WindowIntensity(double hu) const
{
  const double lower = m_Level - 0.5 * m_Window;
  const double grey = 255.0 * (hu - lower) / m_Window;
  return static_cast<uint8_t>(std::clamp(std::lround(grey), 0L, 255L));
}

void
SlicePictureRenderer::VerifyPreconditions() ITKv5_CONST
{
  Superclass::VerifyPreconditions();
  if (this->GetCTImage() == nullptr)
  {
    itkExceptionMacro(<< "The CT image is not set");
  }
  if (!(m_Window > 0.0))
  {
    itkExceptionMacro(<< "The window width must be positive, not " << m_Window);
  }
  if (m_Mode == Mode::Compare && (this->GetLabelImage() == nullptr || this->GetReferenceImage() == nullptr))
  {
    itkExceptionMacro(<< "Compare mode needs both a label (prediction) image and a reference image");
  }
  if (m_PixelSpacing < 0.0)
  {
    itkExceptionMacro(<< "The pixel spacing cannot be negative: " << m_PixelSpacing);
  }
}

SlicePictureRenderer::PointType
SlicePictureRenderer::ComputeFocusPoint() const
{
  if (m_HasFocusPoint)
  {
    return m_FocusPoint;
  }
  const unsigned int     focus = m_FocusLabel;
  auto                   select = [focus](uint8_t v) { return focus == 0 ? v != 0 : v == focus; };
  std::size_t            count = 0;
  const LabelImageType * first = this->GetLabelImage();
  const LabelImageType * second = m_Mode == Mode::Compare ? this->GetReferenceImage() : nullptr;
  // The centroid in world space: the mean of world points, an affine image of the mean index of each image.
  itk::Vector<double, 3> worldSum;
  worldSum.Fill(0.0);
  for (const LabelImageType * image : { first, second })
  {
    if (image == nullptr)
    {
      continue;
    }
    const auto [s, n] = SumIndices(image, [&](uint8_t v, std::size_t) { return select(v); });
    if (n == 0)
    {
      continue;
    }
    itk::ContinuousIndex<double, 3> mean;
    for (unsigned int d = 0; d < 3; ++d)
    {
      mean[d] = s[d] / static_cast<double>(n) + static_cast<double>(image->GetBufferedRegion().GetIndex(d));
    }
    PointType p;
    image->TransformContinuousIndexToPhysicalPoint(mean, p);
    worldSum += p.GetVectorFromOrigin() * static_cast<double>(n);
    count += n;
  }
  PointType focusPoint;
  if (count > 0)
  {
    for (unsigned int d = 0; d < 3; ++d)
    {
      focusPoint[d] = worldSum[d] / static_cast<double>(count);
    }
    return focusPoint;
  }
  const CTImageType *             ct = this->GetCTImage();
  itk::ContinuousIndex<double, 3> middle;
  for (unsigned int d = 0; d < 3; ++d)
  {
    middle[d] = ct->GetLargestPossibleRegion().GetIndex(d) + 0.5 * (ct->GetLargestPossibleRegion().GetSize(d) - 1.0);
  }
  ct->TransformContinuousIndexToPhysicalPoint(middle, focusPoint);
  return focusPoint;
}

RGBCanvas
SlicePictureRenderer::RenderView(const View & view) const
{
  const CTImageType *    ct = this->GetCTImage();
  const LabelImageType * labels = this->GetLabelImage();
  const LabelImageType * reference = m_Mode == Mode::Compare ? this->GetReferenceImage() : nullptr;
  const WorldToIndex     ctMap(ct);
  const WorldToIndex     labelMap(labels ? static_cast<const itk::ImageBase<3> *>(labels) : ct);
  const WorldToIndex     referenceMap(reference ? static_cast<const itk::ImageBase<3> *>(reference) : ct);

  RGBCanvas            canvas(view.width, view.height, Color{ { 0, 0, 0 } });
  std::vector<uint8_t> classes(static_cast<std::size_t>(view.width) * view.height, 0);
  itk::MultiThreaderBase::New()->ParallelizeArray(
    0,
    view.height,
    [&](itk::SizeValueType j) {
      for (unsigned int i = 0; i < view.width; ++i)
      {
        const PointType p = view.PixelToWorld(i, static_cast<double>(j));
        double          hu = 0.0;
        if (SampleLinear(ct, ctMap, p, hu))
        {
          const uint8_t g = this->WindowIntensity(hu);
          canvas.SetPixel(static_cast<int>(i), static_cast<int>(j), Color{ { g, g, g } });
        }
        uint8_t value = labels ? SampleNearest(labels, labelMap, p) : 0;
        if (reference)
        {
          const uint8_t   r = SampleNearest(reference, referenceMap, p);
          const Agreement category = value == 0 ? (r == 0 ? Agreement::None : Agreement::FalseNegative)
                                     : r == 0   ? Agreement::FalsePositive
                                                : (r == value ? Agreement::Agreement : Agreement::Confusion);
          value = static_cast<uint8_t>(category);
        }
        classes[j * view.width + i] = value;
      }
    },
    nullptr);

  std::array<Color, 256> colors;
  for (unsigned int v = 1; v < 256; ++v)
  {
    colors[v] = reference ? GetAgreementColor(static_cast<Agreement>(std::min(v, 4u))) : m_LabelTable.GetColor(v);
  }
  const int w = static_cast<int>(view.width);
  const int h = static_cast<int>(view.height);
  itk::MultiThreaderBase::New()->ParallelizeArray(
    0,
    view.height,
    [&](itk::SizeValueType jj) {
      const int j = static_cast<int>(jj);
      for (int i = 0; i < w; ++i)
      {
        const uint8_t value = classes[j * w + i];
        if (value == 0)
        {
          continue;
        }
        bool boundary = false;
        if (m_DrawContours)
        {
          const int neighbours[4][2] = { { i - 1, j }, { i + 1, j }, { i, j - 1 }, { i, j + 1 } };
          for (const auto & n : neighbours)
          {
            if (n[0] >= 0 && n[0] < w && n[1] >= 0 && n[1] < h && classes[n[1] * w + n[0]] != value)
            {
              boundary = true;
            }
          }
        }
        canvas.BlendPixel(i, j, colors[value], boundary ? 1.0 : m_Opacity);
      }
    },
    nullptr);
  return canvas;
}

void
SlicePictureRenderer::GenerateData()
{
  const CTImageType *    ct = this->GetCTImage();
  const LabelImageType * labels = this->GetLabelImage();
  const LabelImageType * reference = m_Mode == Mode::Compare ? this->GetReferenceImage() : nullptr;
  this->UpdateProgress(0.0f);

  m_UsedFocusPoint = this->ComputeFocusPoint();
  this->UpdateProgress(0.2f);

  // The views: planes of the LPS frame through the focus point, in radiological display orientation.
  struct Axes
  {
    const char * name;
    VectorType   right;
    VectorType   down;
    unsigned int normalAxis;
  };
  auto vector = [](double x, double y, double z) {
    VectorType v;
    v[0] = x;
    v[1] = y;
    v[2] = z;
    return v;
  };
  const Axes axes[3] = { { "Axial", vector(1, 0, 0), vector(0, 1, 0), 2 },
                         { "Coronal", vector(1, 0, 0), vector(0, 0, -1), 1 },
                         { "Sagittal", vector(0, 1, 0), vector(0, 0, -1), 0 } };

  // Extent of the CT's voxel footprint projected onto each view's axes.
  std::array<PointType, 8> corners;
  const auto &             region = ct->GetLargestPossibleRegion();
  for (unsigned int c = 0; c < 8; ++c)
  {
    itk::ContinuousIndex<double, 3> index;
    for (unsigned int d = 0; d < 3; ++d)
    {
      index[d] = region.GetIndex(d) - 0.5 + (((c >> d) & 1u) ? static_cast<double>(region.GetSize(d)) : 0.0);
    }
    ct->TransformContinuousIndexToPhysicalPoint(index, corners[c]);
  }
  double spacing = m_PixelSpacing;
  if (spacing <= 0.0)
  {
    spacing = std::min({ ct->GetSpacing()[0], ct->GetSpacing()[1], ct->GetSpacing()[2] });
  }
  std::array<std::array<double, 4>, 3> ranges{};
  double                               largest = 0.0;
  for (unsigned int v = 0; v < 3; ++v)
  {
    double umin = 1e300, umax = -1e300, vmin = 1e300, vmax = -1e300;
    for (const auto & corner : corners)
    {
      const VectorType p = corner.GetVectorFromOrigin();
      umin = std::min(umin, p * axes[v].right);
      umax = std::max(umax, p * axes[v].right);
      vmin = std::min(vmin, p * axes[v].down);
      vmax = std::max(vmax, p * axes[v].down);
    }
    if (m_FieldOfView > 0.0)
    {
      // A square around the focus point, whatever the volume's extent.
      const double u = m_UsedFocusPoint.GetVectorFromOrigin() * axes[v].right;
      const double w = m_UsedFocusPoint.GetVectorFromOrigin() * axes[v].down;
      umin = u - 0.5 * m_FieldOfView;
      umax = u + 0.5 * m_FieldOfView;
      vmin = w - 0.5 * m_FieldOfView;
      vmax = w + 0.5 * m_FieldOfView;
    }
    ranges[v] = { { umin, umax, vmin, vmax } };
    largest = std::max({ largest, umax - umin, vmax - vmin });
  }
  if (m_PixelSpacing <= 0.0)
  {
    // A zoomed view is drawn MaximumViewSize pixels wide (finer than the voxels if need be); a whole volume at the
    // smallest voxel side unless that makes it larger.
    spacing = m_FieldOfView > 0.0 ? m_FieldOfView / m_MaximumViewSize : std::max(spacing, largest / m_MaximumViewSize);
  }
  else if (largest / spacing > 8192.0)
  {
    itkExceptionMacro(<< "Pixel spacing " << spacing << " mm would make a view " << largest / spacing
                      << " pixels wide (at most 8192)");
  }

  // Layout: title, view names, views, legend. The views sit side by side; when the coronal and sagittal views are
  // short (a slab of slices thinner than the body is wide), they are stacked to the right of the axial view.
  const int margin = 14;
  const int nameFont = 15;
  const int titleFont = 20;
  const int legendFont = 14;
  int       top = margin;
  if (!m_Title.empty())
  {
    top += RGBCanvas::MeasureText(m_Title, titleFont, true)[1] + 8;
  }
  const int nameHeight = RGBCanvas::MeasureText("Axial (z = 0 mm)", nameFont, true)[1] + 6;
  m_Views.clear();
  std::vector<std::string> names;
  std::vector<int>         columnWidths;
  for (unsigned int v = 0; v < 3; ++v)
  {
    View view;
    view.name = axes[v].name;
    view.right = axes[v].right;
    view.down = axes[v].down;
    view.pixelSpacing = spacing;
    view.width = static_cast<unsigned int>(std::max(1.0, std::ceil((ranges[v][1] - ranges[v][0]) / spacing - 1e-9)));
    view.height = static_cast<unsigned int>(std::max(1.0, std::ceil((ranges[v][3] - ranges[v][2]) / spacing - 1e-9)));
    VectorType normal;
    normal.Fill(0.0);
    normal[axes[v].normalAxis] = 1.0;
    const double depth = m_UsedFocusPoint.GetVectorFromOrigin() * normal;
    view.origin.Fill(0.0);
    view.origin += view.right * ranges[v][0] + view.down * ranges[v][2] + normal * depth;
    const std::string name = view.name + " (" + "xyz"[axes[v].normalAxis] + " = " +
                             FormatNumber(m_UsedFocusPoint[axes[v].normalAxis], 1) + " mm)";
    names.push_back(name);
    columnWidths.push_back(std::max(static_cast<int>(view.width), RGBCanvas::MeasureText(name, nameFont, true)[0]));
    m_Views.push_back(view);
  }
  const int  h0 = static_cast<int>(m_Views[0].height);
  const int  h1 = static_cast<int>(m_Views[1].height);
  const int  h2 = static_cast<int>(m_Views[2].height);
  const bool stacked = 5 * (h1 + nameHeight + h2) <= 6 * h0; // at most 20 % taller than the axial view
  int        x = margin;
  int        viewsHeight = 0;
  if (stacked)
  {
    m_Views[0].x = margin;
    m_Views[0].y = top + nameHeight;
    m_Views[1].x = m_Views[2].x = margin + columnWidths[0] + margin;
    m_Views[1].y = top + nameHeight;
    m_Views[2].y = m_Views[1].y + h1 + nameHeight;
    x = m_Views[1].x + std::max(columnWidths[1], columnWidths[2]) + margin;
    viewsHeight = std::max(h0, h1 + nameHeight + h2);
  }
  else
  {
    for (unsigned int v = 0; v < 3; ++v)
    {
      m_Views[v].x = x;
      m_Views[v].y = top + nameHeight;
      x += columnWidths[v] + margin;
      viewsHeight = std::max(viewsHeight, static_cast<int>(m_Views[v].height));
    }
  }
  const int width = std::max(x, 360);

  // Legend entries: labels present (overlay) or agreement categories (compare), with volumes on a shared grid.
  struct Entry
  {
    Color       color;
    std::string text;
  };
  std::vector<Entry> entries;
  if (m_ShowLegend && labels != nullptr)
  {
    const double voxelMl =
      std::abs(labels->GetSpacing()[0] * labels->GetSpacing()[1] * labels->GetSpacing()[2]) / 1000.0;
    if (reference == nullptr)
    {
      const auto counts = CountValues(labels, nullptr);
      for (unsigned int v = 1; v < 256; ++v)
      {
        if (counts[v] > 0)
        {
          entries.push_back({ m_LabelTable.GetColor(v),
                              m_LabelTable.GetName(v) + "  " + FormatNumber(counts[v] * voxelMl, 1) + " mL" });
        }
      }
    }
    else
    {
      const bool shared = SameGeometry(labels, reference);
      const auto counts = shared ? CountValues(labels, reference) : std::array<std::size_t, 256>{};
      for (const Agreement a :
           { Agreement::Agreement, Agreement::FalsePositive, Agreement::FalseNegative, Agreement::Confusion })
      {
        std::string text = GetAgreementName(a);
        if (shared)
        {
          text += "  " + FormatNumber(counts[static_cast<uint8_t>(a)] * voxelMl, 1) + " mL";
        }
        entries.push_back({ GetAgreementColor(a), text });
      }
    }
  }
  const std::string footer = "W " + FormatNumber(m_Window, 0) + " / L " + FormatNumber(m_Level, 0) + " HU   pixel " +
                             FormatNumber(spacing, 2) + " mm";
  // Flow the legend entries into rows.
  const int                       swatch = 14;
  std::vector<std::array<int, 3>> placed; // x, row, entry
  int                             row = 0;
  int                             cursor = margin;
  for (std::size_t e = 0; e < entries.size(); ++e)
  {
    const int w = swatch + 6 + RGBCanvas::MeasureText(entries[e].text, legendFont)[0] + 22;
    if (cursor + w > width - margin && cursor > margin)
    {
      ++row;
      cursor = margin;
    }
    placed.push_back({ { cursor, row, static_cast<int>(e) } });
    cursor += w;
  }
  const int lineHeight = RGBCanvas::MeasureText("Mg", legendFont)[1] + 6;
  const int legendTop = top + nameHeight + viewsHeight + 10;
  const int legendRows = entries.empty() ? 1 : row + 1;
  const int height = legendTop + legendRows * lineHeight + lineHeight + margin;

  RGBCanvas picture(static_cast<unsigned int>(width), static_cast<unsigned int>(height), kBackground);
  if (!m_Title.empty())
  {
    picture.DrawText(margin,
                     margin,
                     m_Title,
                     titleFont,
                     kText,
                     RGBCanvas::HorizontalAlignment::Left,
                     RGBCanvas::VerticalAlignment::Top,
                     true);
  }
  const char * letters[3][4] = { { "R", "L", "A", "P" }, { "R", "L", "S", "I" }, { "A", "P", "S", "I" } };
  for (unsigned int v = 0; v < 3; ++v)
  {
    if (this->GetAbortGenerateData())
    {
      itk::ProcessAborted e(__FILE__, __LINE__);
      e.SetDescription("SlicePictureRenderer aborted");
      throw e;
    }
    const View & view = m_Views[v];
    picture.Paste(this->RenderView(view), view.x, view.y);
    picture.DrawText(view.x,
                     view.y - 4,
                     names[v],
                     nameFont,
                     kText,
                     RGBCanvas::HorizontalAlignment::Left,
                     RGBCanvas::VerticalAlignment::Bottom,
                     true);
    const int cx = view.x + static_cast<int>(view.width) / 2;
    const int cy = view.y + static_cast<int>(view.height) / 2;
    const int right = view.x + static_cast<int>(view.width);
    const int bottom = view.y + static_cast<int>(view.height);
    using H = RGBCanvas::HorizontalAlignment;
    using V = RGBCanvas::VerticalAlignment;
    DrawHaloText(picture, view.x + 5, cy, letters[v][0], 13, H::Left, V::Centre);
    DrawHaloText(picture, right - 5, cy, letters[v][1], 13, H::Right, V::Centre);
    DrawHaloText(picture, cx, view.y + 4, letters[v][2], 13, H::Centre, V::Top);
    DrawHaloText(picture, cx, bottom - 4, letters[v][3], 13, H::Centre, V::Bottom);
    this->UpdateProgress(0.2f + 0.25f * static_cast<float>(v + 1));
  }
  for (const auto & p : placed)
  {
    const int y = legendTop + p[1] * lineHeight;
    picture.FillRectangle(p[0], y + (lineHeight - 6 - swatch) / 2 + 1, swatch, swatch, entries[p[2]].color);
    picture.DrawText(p[0] + swatch + 6, y, entries[p[2]].text, legendFont, kText);
  }
  picture.DrawText(margin, legendTop + legendRows * lineHeight, footer, legendFont - 2, kMutedText);
  m_Picture = std::move(picture);
  this->UpdateProgress(1.0f);
}

void
SlicePictureRenderer::WritePNG(const std::string & path) const
{
  if (m_Picture.IsEmpty())
  {
    itkExceptionMacro(<< "Cannot write " << path << ": Update() has not drawn a picture yet");
  }
  m_Picture.WritePNG(path);
}

void
SlicePictureRenderer::PrintSelf(std::ostream & os, itk::Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "Mode: " << (m_Mode == Mode::Overlay ? "Overlay" : "Compare") << std::endl;
  os << indent << "LabelTable: " << m_LabelTable.size() << " entries" << std::endl;
  os << indent << "Window: " << m_Window << std::endl;
  os << indent << "Level: " << m_Level << std::endl;
  os << indent << "Opacity: " << m_Opacity << std::endl;
  os << indent << "DrawContours: " << m_DrawContours << std::endl;
  os << indent << "HasFocusPoint: " << m_HasFocusPoint << std::endl;
  os << indent << "FocusPoint: " << m_FocusPoint << std::endl;
  os << indent << "FocusLabel: " << m_FocusLabel << std::endl;
  os << indent << "PixelSpacing: " << m_PixelSpacing << std::endl;
  os << indent << "MaximumViewSize: " << m_MaximumViewSize << std::endl;
  os << indent << "FieldOfView: " << m_FieldOfView << std::endl;
  os << indent << "ShowLegend: " << m_ShowLegend << std::endl;
  os << indent << "Title: " << m_Title << std::endl;
  os << indent << "Picture: " << m_Picture.GetWidth() << "x" << m_Picture.GetHeight() << std::endl;
  os << indent << "Views: " << m_Views.size() << std::endl;
  os << indent << "UsedFocusPoint: " << m_UsedFocusPoint << std::endl;
}

} // namespace torchseg
