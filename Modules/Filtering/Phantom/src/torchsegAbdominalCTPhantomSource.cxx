#include "torchsegAbdominalCTPhantomSource.h"

#include "torchsegPhantomAnatomy.h"
#include "torchsegPhantomRandom.h"

#include "itkMultiThreaderBase.h"

#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <random>

namespace torchseg
{

namespace
{

using FloatImageType = itk::Image<float, 3>;

/** A normalized discrete Gaussian of \a sigma voxels, radius ceil(3 sigma); {1} when sigma is negligible. */
std::vector<float>
GaussianKernel(double sigma, int radius = -1)
{
  if (radius < 0)
  {
    radius = sigma < 0.15 ? 0 : static_cast<int>(std::ceil(3.0 * sigma));
  }
  std::vector<float> k(2 * radius + 1, 0.0f);
  if (sigma < 0.15)
  {
    k[radius] = 1.0f;
    return k;
  }
  double sum = 0.0;
  for (int i = -radius; i <= radius; ++i)
  {
    sum += std::exp(-0.5 * i * i / (sigma * sigma));
  }
  for (int i = -radius; i <= radius; ++i)
  {
    k[i + radius] = static_cast<float>(std::exp(-0.5 * i * i / (sigma * sigma)) / sum);
  }
  return k;
}

double
Dot(const std::vector<float> & a, const std::vector<float> & b)
{
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i)
  {
    s += static_cast<double>(a[i]) * b[i];
  }
  return s;
}

/** Convolves n values spaced by \a stride with a symmetric kernel, replicating the borders; \a line is scratch. */
void
ConvolveLine(float * data, std::size_t n, std::size_t stride, const std::vector<float> & kernel,
             std::vector<float> & line)
{
  const int radius = static_cast<int>(kernel.size() / 2);
  line.resize(n + 2 * radius);
  for (int i = 0; i < static_cast<int>(n + 2 * radius); ++i)
  {
    const int src = std::min(std::max(i - radius, 0), static_cast<int>(n) - 1);
    line[i] = data[src * stride];
  }
  for (std::size_t i = 0; i < n; ++i)
  {
    float acc = 0.0f;
    for (int m = 0; m <= 2 * radius; ++m)
    {
      acc += kernel[m] * line[i + m];
    }
    data[i * stride] = acc;
  }
}

/** Convolves the rows of a (rows x n) block along its rows' direction... i.e. output[r][i] = sum_m k[m] in[r][i+m],
 * where input rows are n + 2 radius long. */
void
ConvolveRows(const float * in, std::size_t inWidth, float * out, std::size_t rows, std::size_t width,
             const std::vector<float> & kernel)
{
  const int taps = static_cast<int>(kernel.size());
  for (std::size_t r = 0; r < rows; ++r)
  {
    const float * src = in + r * inWidth;
    float *       dst = out + r * width;
    for (std::size_t i = 0; i < width; ++i)
    {
      dst[i] = 0.0f;
    }
    for (int m = 0; m < taps; ++m)
    {
      const float   w = kernel[m];
      const float * s = src + m;
      for (std::size_t i = 0; i < width; ++i)
      {
        dst[i] += w * s[i];
      }
    }
  }
}

} // namespace

AbdominalCTPhantomSource::AbdominalCTPhantomSource()
{
  this->SetNumberOfRequiredOutputs(3);
  for (unsigned int i = 0; i < 3; ++i)
  {
    this->SetNthOutput(i, this->MakeOutput(i));
  }
}

AbdominalCTPhantomSource::~AbdominalCTPhantomSource() = default;

itk::DataObject::Pointer
AbdominalCTPhantomSource::MakeOutput(itk::ProcessObject::DataObjectPointerArraySizeType idx)
{
  if (idx == 0)
  {
    return CTImageType::New().GetPointer();
  }
  return LabelImageType::New().GetPointer();
}

auto
AbdominalCTPhantomSource::GetCTOutput() -> CTImageType *
{
  return dynamic_cast<CTImageType *>(this->GetOutput(0));
}

auto
AbdominalCTPhantomSource::GetLabelOutput() -> LabelImageType *
{
  return dynamic_cast<LabelImageType *>(this->itk::ProcessObject::GetOutput(1));
}

auto
AbdominalCTPhantomSource::GetTissueOutput() -> TissueImageType *
{
  return dynamic_cast<TissueImageType *>(this->itk::ProcessObject::GetOutput(2));
}

void
AbdominalCTPhantomSource::SetSamplingOptions(const PhantomSamplingOptions & options)
{
  m_SamplingOptions = options;
  this->Modified();
}

void
AbdominalCTPhantomSource::SetParameters(const PhantomParameters & parameters)
{
  parameters.Validate();
  m_ExplicitParameters = parameters;
  m_UseExplicitParameters = true;
  this->Modified();
}

void
AbdominalCTPhantomSource::UseSampledParameters()
{
  if (m_UseExplicitParameters)
  {
    m_UseExplicitParameters = false;
    this->Modified();
  }
}

void
AbdominalCTPhantomSource::GenerateOutputInformation()
{
  m_Parameters =
    m_UseExplicitParameters ? m_ExplicitParameters : SamplePhantomParameters(m_Seed, m_CaseIndex, m_SamplingOptions);
  m_Parameters.Validate();
  const PhantomGeometry & g = m_Parameters.geometry;

  CTImageType::RegionType    region;
  CTImageType::SpacingType   spacing;
  CTImageType::PointType     origin;
  CTImageType::DirectionType direction;
  for (unsigned int r = 0; r < 3; ++r)
  {
    region.SetSize(r, g.size[r]);
    region.SetIndex(r, 0);
    spacing[r] = g.spacing[r];
    origin[r] = g.origin[r];
    for (unsigned int c = 0; c < 3; ++c)
    {
      direction(r, c) = g.direction[3 * r + c];
    }
  }
  for (unsigned int i = 0; i < 3; ++i)
  {
    auto * output = dynamic_cast<itk::ImageBase<3> *>(this->itk::ProcessObject::GetOutput(i));
    output->SetLargestPossibleRegion(region);
    output->SetSpacing(spacing);
    output->SetOrigin(origin);
    output->SetDirection(direction);
  }

  // The scanned box in the anatomy frame (with half a slice of margin for the slice profile).
  phantom::Box scene;
  for (int corner = 0; corner < 8; ++corner)
  {
    double index[3];
    for (int k = 0; k < 3; ++k)
    {
      const double margin = k == 2 ? 0.5 + 0.5 * g.sliceThickness / g.spacing[2] : 0.5;
      index[k] = (corner & (1 << k)) ? g.size[k] - 1.0 + margin : -margin;
    }
    phantom::Vec3 p;
    double *      out[3] = { &p.x, &p.y, &p.z };
    for (int r = 0; r < 3; ++r)
    {
      double v = g.origin[r] - g.anatomyOrigin[r];
      for (int c = 0; c < 3; ++c)
      {
        v += g.direction[3 * r + c] * g.spacing[c] * index[c];
      }
      *out[r] = v;
    }
    scene.Include(p);
  }
  m_Anatomy = std::make_shared<phantom::Anatomy>(m_Parameters, scene);
  m_Parameters = m_Anatomy->GetParameters();
}

void
AbdominalCTPhantomSource::EnlargeOutputRequestedRegion(itk::DataObject *)
{
  for (unsigned int i = 0; i < 3; ++i)
  {
    this->itk::ProcessObject::GetOutput(i)->SetRequestedRegionToLargestPossibleRegion();
  }
}

template <typename TFunction>
void
AbdominalCTPhantomSource::ForEachSlice(unsigned int numberOfSlices, float progressWeight, TFunction && function)
{
  const unsigned int workers =
    std::max(1u, std::min(numberOfSlices, static_cast<unsigned int>(this->GetNumberOfWorkUnits())));
  // Batches let the pipeline thread report progress and notice an abort between them; within a batch, threads
  // take slices from a shared counter (slices through the liver cost more than others).
  const unsigned int       batch = std::max(4 * workers, numberOfSlices / 40 + 1);
  const float              start = this->GetProgress();
  std::exception_ptr       failure;
  std::mutex               failureMutex;
  itk::MultiThreaderBase * threader = this->GetMultiThreader();
  threader->SetNumberOfWorkUnits(workers);
  for (unsigned int first = 0; first < numberOfSlices; first += batch)
  {
    const unsigned int        last = std::min(numberOfSlices, first + batch);
    std::atomic<unsigned int> next{ first };
    threader->ParallelizeArray(
      0,
      workers,
      [&](itk::SizeValueType) {
        for (unsigned int k = next++; k < last; k = next++)
        {
          try
          {
            function(k);
          }
          catch (...)
          {
            std::lock_guard<std::mutex> lock(failureMutex);
            if (!failure)
            {
              failure = std::current_exception();
            }
            next = last;
          }
        }
      },
      nullptr);
    if (failure)
    {
      std::rethrow_exception(failure);
    }
    this->UpdateProgress(start + progressWeight * static_cast<float>(last) / numberOfSlices);
    if (this->GetAbortGenerateData())
    {
      itk::ProcessAborted e(__FILE__, __LINE__);
      e.SetDescription("AbdominalCTPhantomSource: aborted");
      e.SetLocation(ITK_LOCATION);
      throw e;
    }
  }
}

void
AbdominalCTPhantomSource::GenerateData()
{
  CTImageType *     ct = this->GetCTOutput();
  LabelImageType *  label = this->GetLabelOutput();
  TissueImageType * tissue = this->GetTissueOutput();
  ct->SetBufferedRegion(ct->GetRequestedRegion());
  ct->Allocate();
  label->SetBufferedRegion(label->GetRequestedRegion());
  label->Allocate();
  tissue->SetBufferedRegion(tissue->GetRequestedRegion());
  tissue->Allocate();

  auto hu = FloatImageType::New();
  hu->CopyInformation(ct);
  hu->SetRegions(ct->GetLargestPossibleRegion());
  hu->Allocate();

  this->UpdateProgress(0.0f);
  this->Paint(hu);
  this->Blur(hu);
  this->AddNoiseAndQuantize(hu);
  this->UpdateProgress(1.0f);
}

void
AbdominalCTPhantomSource::Paint(FloatImageType * hu)
{
  const PhantomGeometry & g = m_Parameters.geometry;
  const std::size_t       nx = g.size[0], ny = g.size[1], nz = g.size[2];
  phantom::Vec3           axis[3];
  for (int c = 0; c < 3; ++c)
  {
    axis[c] = { g.direction[c], g.direction[3 + c], g.direction[6 + c] };
  }
  const phantom::Vec3 step = axis[0] * g.spacing[0];
  const phantom::Vec3 rowStep = axis[1] * g.spacing[1];
  const phantom::Vec3 sliceStep = axis[2] * g.spacing[2];
  const phantom::Vec3 origin{ g.origin[0] - g.anatomyOrigin[0],
                              g.origin[1] - g.anatomyOrigin[1],
                              g.origin[2] - g.anatomyOrigin[2] };
  // Slice profile: the thickness is sampled at evenly spaced points and averaged (partial volume across the slice).
  const int             subSlices = g.sliceThickness < 1.8 ? 1 : (g.sliceThickness < 4.0 ? 3 : 5);
  const int             centre = subSlices / 2;
  phantom::PaintContext context;
  context.width = std::min(g.spacing[0], g.spacing[1]);
  context.invWidth = 1.0 / context.width;

  float *                  huBuffer = hu->GetBufferPointer();
  uint8_t *                labelBuffer = this->GetLabelOutput()->GetBufferPointer();
  uint8_t *                tissueBuffer = this->GetTissueOutput()->GetBufferPointer();
  const phantom::Anatomy & anatomy = *m_Anatomy;
  this->ForEachSlice(static_cast<unsigned int>(nz), 0.75f, [&](unsigned int k) {
    std::vector<phantom::Sample> samples(nx);
    for (std::size_t j = 0; j < ny; ++j)
    {
      const std::size_t offset = (k * ny + j) * nx;
      float *           row = huBuffer + offset;
      for (std::size_t i = 0; i < nx; ++i)
      {
        row[i] = 0.0f;
      }
      const phantom::Vec3 rowStart = origin + rowStep * static_cast<double>(j) + sliceStep * static_cast<double>(k);
      for (int q = 0; q < subSlices; ++q)
      {
        const double        shift = ((q + 0.5) / subSlices - 0.5) * g.sliceThickness;
        const phantom::Vec3 start = rowStart + axis[2] * shift;
        anatomy.PaintRow(start, step, static_cast<int>(nx), samples.data(), context);
        for (std::size_t i = 0; i < nx; ++i)
        {
          row[i] += samples[i].hu;
        }
        if (q == centre)
        {
          for (std::size_t i = 0; i < nx; ++i)
          {
            labelBuffer[offset + i] = samples[i].label;
            tissueBuffer[offset + i] = samples[i].tissue;
          }
        }
      }
      if (subSlices > 1)
      {
        const float scale = 1.0f / subSlices;
        for (std::size_t i = 0; i < nx; ++i)
        {
          row[i] *= scale;
        }
      }
    }
  });
}

void
AbdominalCTPhantomSource::Blur(FloatImageType * hu)
{
  const PhantomGeometry & g = m_Parameters.geometry;
  const std::size_t       nx = g.size[0], ny = g.size[1], nz = g.size[2];
  const double            psf = m_Parameters.scanner.psfSigma;
  const auto              kx = GaussianKernel(psf / g.spacing[0]);
  const auto              ky = GaussianKernel(psf / g.spacing[1]);
  // What the sub-slice sampling leaves of a smooth slice sensitivity profile.
  const double sliceSigma = (g.sliceThickness < 1.8 ? 0.4 : 0.2) * g.sliceThickness;
  const auto   kz = GaussianKernel(nz > 1 ? sliceSigma / g.spacing[2] : 0.0);
  float *      data = hu->GetBufferPointer();
  if (kx.size() > 1 || ky.size() > 1)
  {
    this->ForEachSlice(static_cast<unsigned int>(nz), 0.05f, [&](unsigned int k) {
      std::vector<float> line;
      float *            slice = data + k * nx * ny;
      if (kx.size() > 1)
      {
        for (std::size_t j = 0; j < ny; ++j)
        {
          ConvolveLine(slice + j * nx, nx, 1, kx, line);
        }
      }
      if (ky.size() > 1)
      {
        // Along y a whole row at a time: out[j] = sum_m k[m] in[j + m - r].
        const int          r = static_cast<int>(ky.size() / 2);
        std::vector<float> copy(slice, slice + nx * ny);
        for (std::size_t j = 0; j < ny; ++j)
        {
          float * dst = slice + j * nx;
          std::fill(dst, dst + nx, 0.0f);
          for (int m = -r; m <= r; ++m)
          {
            const int     src = std::min(std::max(static_cast<int>(j) + m, 0), static_cast<int>(ny) - 1);
            const float   w = ky[m + r];
            const float * s = copy.data() + src * nx;
            for (std::size_t i = 0; i < nx; ++i)
            {
              dst[i] += w * s[i];
            }
          }
        }
      }
    });
  }
  if (kz.size() > 1)
  {
    const int r = static_cast<int>(kz.size() / 2);
    this->ForEachSlice(static_cast<unsigned int>(ny), 0.03f, [&](unsigned int j) {
      std::vector<float> plane(nz * nx);
      for (std::size_t k = 0; k < nz; ++k)
      {
        std::copy(data + (k * ny + j) * nx, data + (k * ny + j + 1) * nx, plane.data() + k * nx);
      }
      for (std::size_t k = 0; k < nz; ++k)
      {
        float * dst = data + (k * ny + j) * nx;
        std::fill(dst, dst + nx, 0.0f);
        for (int m = -r; m <= r; ++m)
        {
          const int     src = std::min(std::max(static_cast<int>(k) + m, 0), static_cast<int>(nz) - 1);
          const float   w = kz[m + r];
          const float * s = plane.data() + src * nx;
          for (std::size_t i = 0; i < nx; ++i)
          {
            dst[i] += w * s[i];
          }
        }
      }
    });
  }
  else
  {
    this->UpdateProgress(this->GetProgress() + 0.03f);
  }
}

void
AbdominalCTPhantomSource::AddNoiseAndQuantize(const FloatImageType * hu)
{
  const PhantomGeometry & g = m_Parameters.geometry;
  const PhantomScanner &  scanner = m_Parameters.scanner;
  const std::size_t       nx = g.size[0], ny = g.size[1], nz = g.size[2];
  const float *           in = hu->GetBufferPointer();
  int16_t *               out = this->GetCTOutput()->GetBufferPointer();

  // CT noise texture: white noise through a band-pass (difference of Gaussians) in the slice, scaled to the wanted
  // standard deviation exactly (the variance of the filtered noise is computed from the kernels).
  const bool   noisy = scanner.noiseSigma > 0.0;
  const double beta = scanner.noiseCoarseWeight;
  const double sx1 = scanner.noiseGrain / g.spacing[0], sy1 = scanner.noiseGrain / g.spacing[1];
  const int    rx = static_cast<int>(std::ceil(3.0 * sx1 * scanner.noiseCoarseRatio));
  const int    ry = static_cast<int>(std::ceil(3.0 * sy1 * scanner.noiseCoarseRatio));
  const auto   g1x = GaussianKernel(sx1, rx), g2x = GaussianKernel(sx1 * scanner.noiseCoarseRatio, rx);
  const auto   g1y = GaussianKernel(sy1, ry), g2y = GaussianKernel(sy1 * scanner.noiseCoarseRatio, ry);
  const double variance = Dot(g1x, g1x) * Dot(g1y, g1y) - 2.0 * beta * Dot(g1x, g2x) * Dot(g1y, g2y) +
                          beta * beta * Dot(g2x, g2x) * Dot(g2y, g2y);
  const float scale = noisy ? static_cast<float>(scanner.noiseSigma / std::sqrt(variance)) : 0.0f;
  const float coarse = static_cast<float>(beta);
  // Irwin-Hall: the sum of four 16-bit uniforms, standardized; close to normal, and exact integer arithmetic.
  const double irwinMean = 2.0 * 65535.0;
  const float  irwinScale = static_cast<float>(1.0 / std::sqrt((65536.0 * 65536.0 - 1.0) / 3.0));

  this->ForEachSlice(static_cast<unsigned int>(nz), 0.17f, [&](unsigned int k) {
    const std::size_t offset = k * nx * ny;
    if (!noisy)
    {
      for (std::size_t i = 0; i < nx * ny; ++i)
      {
        const double v = std::floor(static_cast<double>(in[offset + i]) + 0.5);
        out[offset + i] = static_cast<int16_t>(std::min(std::max(v, -1024.0), 3071.0));
      }
      return;
    }
    const std::size_t  wx = nx + 2 * rx, wy = ny + 2 * ry;
    std::vector<float> white(wx * wy);
    std::mt19937_64    engine(PhantomRandom::Mix(scanner.noiseSeed, k));
    for (float & w : white)
    {
      const uint64_t v = engine();
      const int64_t  sum = static_cast<int64_t>((v & 0xFFFF) + ((v >> 16) & 0xFFFF) + ((v >> 32) & 0xFFFF) + (v >> 48));
      w = static_cast<float>(static_cast<double>(sum) - irwinMean) * irwinScale;
    }
    // Along x: (wy x nx) for each of the two Gaussians; then along y.
    std::vector<float> fine(wy * nx), wide(wy * nx);
    ConvolveRows(white.data(), wx, fine.data(), wy, nx, g1x);
    ConvolveRows(white.data(), wx, wide.data(), wy, nx, g2x);
    std::vector<float> row(nx);
    for (std::size_t j = 0; j < ny; ++j)
    {
      std::fill(row.begin(), row.end(), 0.0f);
      for (int m = 0; m <= 2 * ry; ++m)
      {
        const float   a = g1y[m];
        const float   b = coarse * g2y[m];
        const float * f = fine.data() + (j + m) * nx;
        const float * w = wide.data() + (j + m) * nx;
        for (std::size_t i = 0; i < nx; ++i)
        {
          row[i] += a * f[i] - b * w[i];
        }
      }
      const float * src = in + offset + j * nx;
      int16_t *     dst = out + offset + j * nx;
      for (std::size_t i = 0; i < nx; ++i)
      {
        const double v = std::floor(static_cast<double>(src[i] + scale * row[i]) + 0.5);
        dst[i] = static_cast<int16_t>(std::min(std::max(v, -1024.0), 3071.0));
      }
    }
  });
}

void
AbdominalCTPhantomSource::PrintSelf(std::ostream & os, itk::Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "Seed: " << m_Seed << std::endl;
  os << indent << "CaseIndex: " << m_CaseIndex << std::endl;
  os << indent << "SamplingOptions: size " << m_SamplingOptions.size << ", slices " << m_SamplingOptions.numberOfSlices
     << ", phase " << (m_SamplingOptions.phase ? ToString(*m_SamplingOptions.phase) : std::string("sampled"))
     << ", axial only " << m_SamplingOptions.axialOnly << std::endl;
  os << indent << "UseExplicitParameters: " << m_UseExplicitParameters << std::endl;
  if (m_UseExplicitParameters)
  {
    os << indent << "ExplicitParameters:" << std::endl;
    m_ExplicitParameters.Print(os, indent.GetNextIndent());
  }
  os << indent << "Parameters:" << std::endl;
  m_Parameters.Print(os, indent.GetNextIndent());
  os << indent << "Anatomy: " << (m_Anatomy ? std::to_string(m_Anatomy->GetNumberOfLayers()) + " layers" : "none")
     << std::endl;
}

} // namespace torchseg
