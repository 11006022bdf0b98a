#include "torchsegMaskSurfaceDistance.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace torchseg
{

namespace
{

constexpr double Infinity = std::numeric_limits<double>::infinity();

/** Runs body(i) for i in [0, n), on the threader's work units when there is more than one item. */
void
ParallelFor(itk::MultiThreaderBase * threader, std::size_t n, const std::function<void(std::size_t)> & body)
{
  if (n == 0)
  {
    return;
  }
  if (threader == nullptr || n == 1 || threader->GetNumberOfWorkUnits() <= 1)
  {
    for (std::size_t i = 0; i < n; ++i)
    {
      body(i);
    }
    return;
  }
  threader->ParallelizeArray(
    0,
    static_cast<itk::SizeValueType>(n),
    [&body](itk::SizeValueType i) { body(static_cast<std::size_t>(i)); },
    nullptr);
}

/** The lower envelope of the parabolas w (q - p)^2 + f[p] over the finite samples p, evaluated at every q in
 * [0, n) into d (which may alias f). Returns false, leaving d untouched, when no sample is finite. */
bool
LowerEnvelope(const double * f, std::size_t n, double w, double * d, std::size_t * v, double * fv, double * h,
              double * z)
{
  std::ptrdiff_t k = -1;
  for (std::size_t q = 0; q < n; ++q)
  {
    const double fq = f[q];
    if (fq == Infinity)
    {
      continue;
    }
    const double qd = static_cast<double>(q);
    const double hq = fq + w * qd * qd;
    double       s = -Infinity;
    while (k >= 0)
    {
      const double p = static_cast<double>(v[k]);
      s = (hq - h[k]) / (2.0 * w * (qd - p));
      if (s > z[k])
      {
        break;
      }
      --k;
    }
    if (k < 0)
    {
      s = -Infinity;
    }
    ++k;
    v[k] = q;
    fv[k] = fq;
    h[k] = hq;
    z[k] = s;
    z[k + 1] = Infinity;
  }
  if (k < 0)
  {
    return false;
  }
  std::size_t j = 0;
  for (std::size_t q = 0; q < n; ++q)
  {
    const double qd = static_cast<double>(q);
    while (z[j + 1] < qd)
    {
      ++j;
    }
    const double p = static_cast<double>(v[j]);
    d[q] = w * (qd - p) * (qd - p) + fv[j];
  }
  return true;
}

/** Squared distances along x to the nearest feature of each row, scaled by the spacing. */
void
DistanceAlongRows(const std::uint8_t * features, std::uint8_t featureBits, const std::array<std::size_t, 3> & size,
                  double spacing, double * out, itk::MultiThreaderBase * threader)
{
  const std::size_t nx = size[0];
  const std::size_t rows = size[1] * size[2];
  const double      w = spacing * spacing;
  ParallelFor(threader, rows, [&](std::size_t row) {
    const std::uint8_t * f = features + row * nx;
    double *             d = out + row * nx;
    // Forward sweep: distance to the last feature on the left, in voxels.
    std::size_t last = nx; // none yet
    for (std::size_t x = 0; x < nx; ++x)
    {
      if (f[x] & featureBits)
      {
        last = x;
      }
      d[x] = last == nx ? Infinity : static_cast<double>(x - last);
    }
    if (last == nx)
    {
      return; // no feature in this row
    }
    // Backward sweep: the nearest feature on the right, then square and scale.
    std::size_t next = nx;
    for (std::size_t x = nx; x-- > 0;)
    {
      if (f[x] & featureBits)
      {
        next = x;
      }
      double distance = d[x];
      if (next != nx)
      {
        distance = std::min(distance, static_cast<double>(next - x));
      }
      d[x] = distance == Infinity ? Infinity : w * distance * distance;
    }
  });
}

/** The lower envelope along dimension \a dim (1: y, 2: z) of every column of the box, in place. Columns are
 * processed in blocks of contiguous x so that memory is read row by row. With \a queries, only the voxels marked
 * there are written back (and columns without any are skipped). */
void
EnvelopeAlongColumns(double * values, const std::array<std::size_t, 3> & size, unsigned int dim, double spacing,
                     const std::uint8_t * queries, std::uint8_t queryBits, itk::MultiThreaderBase * threader)
{
  constexpr std::size_t block = 64;
  const std::size_t     nx = size[0];
  const std::size_t     ny = size[1];
  const std::size_t     nz = size[2];
  const std::size_t     n = dim == 1 ? ny : nz;                // column length
  const std::size_t     stride = dim == 1 ? nx : nx * ny;      // between column elements
  const std::size_t     others = dim == 1 ? nz : ny;           // the remaining dimension
  const std::size_t     otherStride = dim == 1 ? nx * ny : nx; // between columns of that dimension
  const std::size_t     blocksPerLine = (nx + block - 1) / block;
  const double          w = spacing * spacing;

  ParallelFor(threader, others * blocksPerLine, [&](std::size_t item) {
    const std::size_t other = item / blocksPerLine;
    const std::size_t x0 = (item % blocksPerLine) * block;
    const std::size_t width = std::min(block, nx - x0);
    const std::size_t base = other * otherStride + x0;

    std::vector<double>       gathered(width * n);
    std::vector<std::size_t>  v(n);
    std::vector<double>       fv(n);
    std::vector<double>       h(n);
    std::vector<double>       z(n + 1);
    std::vector<std::uint8_t> wanted(width, queries ? 0 : 1);
    for (std::size_t i = 0; i < n; ++i)
    {
      const double * src = values + base + i * stride;
      for (std::size_t c = 0; c < width; ++c)
      {
        gathered[c * n + i] = src[c];
      }
      if (queries)
      {
        const std::uint8_t * q = queries + base + i * stride;
        for (std::size_t c = 0; c < width; ++c)
        {
          wanted[c] |= q[c] & queryBits;
        }
      }
    }
    for (std::size_t c = 0; c < width; ++c)
    {
      if (!wanted[c])
      {
        continue;
      }
      double * col = gathered.data() + c * n;
      if (!LowerEnvelope(col, n, w, col, v.data(), fv.data(), h.data(), z.data()))
      {
        std::fill(col, col + n, Infinity);
      }
    }
    for (std::size_t i = 0; i < n; ++i)
    {
      double * dst = values + base + i * stride;
      if (queries)
      {
        const std::uint8_t * q = queries + base + i * stride;
        for (std::size_t c = 0; c < width; ++c)
        {
          if (q[c] & queryBits)
          {
            dst[c] = gathered[c * n + i];
          }
        }
      }
      else
      {
        for (std::size_t c = 0; c < width; ++c)
        {
          dst[c] = gathered[c * n + i];
        }
      }
    }
  });
}

/** The squared distance transform of the voxels of \a flags with one of \a featureBits; with \a queryBits, exact
 * only at the voxels with one of those (and 0 means every voxel). */
void
SquaredDistanceTransform(const std::uint8_t * flags, std::uint8_t featureBits, std::uint8_t queryBits,
                         const std::array<std::size_t, 3> & size, const std::array<double, 3> & spacing, double * out,
                         itk::MultiThreaderBase * threader, const std::function<void(double)> & step)
{
  const std::uint8_t * queries = queryBits ? flags : nullptr;
  DistanceAlongRows(flags, featureBits, size, spacing[0], out, threader);
  step(1.0 / 3.0);
  if (size[1] > 1)
  {
    EnvelopeAlongColumns(out, size, 1, spacing[1], size[2] > 1 ? nullptr : queries, queryBits, threader);
  }
  step(2.0 / 3.0);
  if (size[2] > 1)
  {
    EnvelopeAlongColumns(out, size, 2, spacing[2], queries, queryBits, threader);
  }
  step(1.0);
}

/** The directed distances (mm) at the voxels of \a flags with one of \a queryBits, in memory order. */
std::vector<double>
GatherDistances(const double * squared, const std::uint8_t * flags, std::uint8_t queryBits, std::size_t n,
                std::size_t count)
{
  std::vector<double> distances;
  distances.reserve(count);
  for (std::size_t i = 0; i < n; ++i)
  {
    if (flags[i] & queryBits)
    {
      distances.push_back(std::sqrt(squared[i]));
    }
  }
  return distances;
}

DirectedSurfaceDistance
Summarize(std::vector<double> & distances, double tolerance, double percentile)
{
  DirectedSurfaceDistance d;
  d.numberOfSurfaceVoxels = distances.size();
  // Distances equal to tau in exact arithmetic count as within it despite rounding in the transform.
  const double limit = tolerance * (1.0 + 1e-12);
  double       sum = 0.0;
  double       maximum = 0.0;
  for (const double value : distances)
  {
    sum += value;
    maximum = std::max(maximum, value);
    d.numberWithinTolerance += value <= limit ? 1 : 0;
  }
  d.sum = sum;
  d.mean = sum / static_cast<double>(distances.size());
  d.maximum = maximum;
  d.percentile = LinearPercentile(distances, percentile);
  return d;
}

} // namespace

std::size_t
ComputeMaskSurface(const std::uint8_t * mask, const std::array<std::size_t, 3> & size, unsigned int dimension,
                   std::uint8_t * surface, itk::MultiThreaderBase * threader)
{
  const std::size_t               nx = size[0];
  const std::size_t               ny = size[1];
  const std::size_t               nz = size[2];
  const std::vector<std::uint8_t> zeros(nx, 0);
  std::vector<std::size_t>        counts(ny * nz, 0);
  ParallelFor(threader, ny * nz, [&](std::size_t row) {
    const std::size_t    y = row % ny;
    const std::size_t    z = row / ny;
    const std::uint8_t * m = mask + row * nx;
    std::uint8_t *       s = surface + row * nx;
    const std::uint8_t * below = y > 0 ? m - nx : zeros.data();
    const std::uint8_t * above = y + 1 < ny ? m + nx : zeros.data();
    const std::uint8_t * back = dimension > 2 && z > 0 ? m - nx * ny : (dimension > 2 ? zeros.data() : m);
    const std::uint8_t * front = dimension > 2 && z + 1 < nz ? m + nx * ny : (dimension > 2 ? zeros.data() : m);
    std::size_t          count = 0;
    if (nx == 1)
    {
      s[0] = m[0];
    }
    else
    {
      s[0] = m[0];
      s[nx - 1] = m[nx - 1];
      for (std::size_t x = 1; x + 1 < nx; ++x)
      {
        const std::uint8_t inner = m[x - 1] & m[x + 1] & below[x] & above[x] & back[x] & front[x];
        s[x] = m[x] & static_cast<std::uint8_t>(inner ^ 1u);
      }
    }
    for (std::size_t x = 0; x < nx; ++x)
    {
      count += s[x];
    }
    counts[row] = count;
  });
  return std::accumulate(counts.begin(), counts.end(), std::size_t{ 0 });
}

void
ComputeSquaredDistanceTransform(const std::uint8_t * features, const std::array<std::size_t, 3> & size,
                                const std::array<double, 3> & spacing, double * squaredDistance,
                                itk::MultiThreaderBase * threader)
{
  SquaredDistanceTransform(features, 0xFF, 0, size, spacing, squaredDistance, threader, [](double) {});
}

SurfaceDistanceMeasures
ComputeMaskSurfaceDistances(BinaryMaskPair masks, double tolerance, double percentile,
                            itk::MultiThreaderBase * threader, const SurfaceDistanceProgress & progress)
{
  const std::size_t n = masks.GetNumberOfVoxels();
  if (masks.reference.size() != n || masks.prediction.size() != n || (masks.dimension != 2 && masks.dimension != 3) ||
      (masks.dimension == 2 && masks.size[2] != 1))
  {
    itkGenericExceptionMacro(<< "ComputeMaskSurfaceDistances: masks of " << masks.reference.size() << " and "
                             << masks.prediction.size() << " voxels do not fill a " << masks.dimension << "D box of "
                             << masks.size[0] << " x " << masks.size[1] << " x " << masks.size[2] << " voxels");
  }
  auto report = [&progress](double fraction) {
    if (progress)
    {
      progress(fraction);
    }
  };

  SurfaceDistanceMeasures result;
  result.tolerance = tolerance;
  result.percentile = percentile;

  // The two surfaces share one byte per voxel (bit 0: reference, bit 1: prediction), and each mask is released as
  // soon as its surface is known: at most 3 bytes per voxel here, 9 (with the distances) below.
  constexpr std::uint8_t    ReferenceBit = 1;
  constexpr std::uint8_t    PredictionBit = 2;
  std::vector<std::uint8_t> surfaces(n);
  const std::size_t         nr =
    n ? ComputeMaskSurface(masks.reference.data(), masks.size, masks.dimension, surfaces.data(), threader) : 0;
  std::vector<std::uint8_t>().swap(masks.reference);
  std::size_t np = 0;
  {
    std::vector<std::uint8_t> predictionSurface(n);
    np =
      n ? ComputeMaskSurface(masks.prediction.data(), masks.size, masks.dimension, predictionSurface.data(), threader)
        : 0;
    std::vector<std::uint8_t>().swap(masks.prediction);
    for (std::size_t i = 0; i < n; ++i)
    {
      surfaces[i] |= static_cast<std::uint8_t>(predictionSurface[i] << 1);
    }
  }
  result.referenceToPrediction.numberOfSurfaceVoxels = nr;
  result.predictionToReference.numberOfSurfaceVoxels = np;
  result.status = ClassifyLabel(nr, np);
  report(0.1);

  if (result.status == LabelStatus::Absent)
  {
    return result;
  }
  if (result.status != LabelStatus::Ok)
  {
    result.hausdorff = result.hausdorffPercentile = result.averageSymmetric = result.meanAverage = Infinity;
    result.normalizedSurfaceDice = 0.0;
    for (DirectedSurfaceDistance * d : { &result.referenceToPrediction, &result.predictionToReference })
    {
      d->maximum = d->percentile = d->mean = d->sum = Infinity;
      d->numberWithinTolerance = 0;
    }
    report(1.0);
    return result;
  }

  std::vector<double> squared(n);
  // Reference surface -> prediction surface: the transform of the prediction's surface at the reference's.
  SquaredDistanceTransform(
    surfaces.data(), PredictionBit, ReferenceBit, masks.size, masks.spacing, squared.data(), threader, [&](double f) {
      report(0.1 + 0.4 * f);
    });
  std::vector<double> referenceToPrediction = GatherDistances(squared.data(), surfaces.data(), ReferenceBit, n, nr);
  SquaredDistanceTransform(
    surfaces.data(), ReferenceBit, PredictionBit, masks.size, masks.spacing, squared.data(), threader, [&](double f) {
      report(0.5 + 0.45 * f);
    });
  std::vector<double> predictionToReference = GatherDistances(squared.data(), surfaces.data(), PredictionBit, n, np);
  squared = std::vector<double>();

  result.referenceToPrediction = Summarize(referenceToPrediction, tolerance, percentile);
  result.predictionToReference = Summarize(predictionToReference, tolerance, percentile);
  const DirectedSurfaceDistance & a = result.referenceToPrediction;
  const DirectedSurfaceDistance & b = result.predictionToReference;
  const auto                      count = static_cast<double>(a.numberOfSurfaceVoxels + b.numberOfSurfaceVoxels);
  result.hausdorff = std::max(a.maximum, b.maximum);
  result.hausdorffPercentile = std::max(a.percentile, b.percentile);
  result.averageSymmetric = (a.sum + b.sum) / count;
  result.meanAverage = 0.5 * (a.mean + b.mean);
  result.normalizedSurfaceDice = static_cast<double>(a.numberWithinTolerance + b.numberWithinTolerance) / count;
  report(1.0);
  return result;
}

} // namespace torchseg
