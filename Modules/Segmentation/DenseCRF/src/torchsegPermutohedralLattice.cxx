#include "torchsegPermutohedralLattice.h"

#include "torchsegDenseCRFVectorize.h"

#include "itkMacro.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

namespace torchseg
{
namespace
{

/** The elevation scale of Adams et al., sqrt(2/3) (d+1). The lattice kernel it gives has a variance of about 0.88
 * per feature dimension instead of 1 and a sharper peak; a smaller scale matching the variance was measured to fit
 * the Gaussian worse (relative L2 error of the kernel and of filtered images), so the scale is kept. */
double
ElevationScale(unsigned int d)
{
  return std::sqrt(2.0 / 3.0) * (d + 1.0);
}

/** The coordinates of lattice vertices are stored in 16 bits: keys of up to 4 coordinates are one 64-bit word. */
using Coordinate = int16_t;
constexpr int32_t CoordinateLimit = 32000;

/** Open-addressing hash table of lattice vertices: the D first coordinates of a vertex of the hyperplane x.1 = 0
 * (the last one is minus their sum), numbered in insertion order. A slot holds the key and its index, so that a probe
 * reads one place in memory. */
template <unsigned int D>
class VertexTable
{
public:
  explicit VertexTable(std::size_t expected)
  {
    std::size_t capacity = 64;
    while (capacity < 2 * expected)
    {
      capacity *= 2;
    }
    m_Slots.assign(capacity, Slot());
    m_Keys.reserve(expected * D);
  }

  std::size_t
  Size() const
  {
    return m_Size;
  }

  const Coordinate *
  Key(std::size_t index) const
  {
    return m_Keys.data() + index * D;
  }

  uint32_t
  Insert(const Coordinate * key)
  {
    if (2 * (m_Size + 1) > m_Slots.size())
    {
      Grow();
    }
    const std::size_t mask = m_Slots.size() - 1;
    for (std::size_t slot = Hash(key) & mask;; slot = (slot + 1) & mask)
    {
      Slot & entry = m_Slots[slot];
      if (entry.index == Empty)
      {
        std::memcpy(entry.key, key, sizeof(entry.key));
        entry.index = static_cast<uint32_t>(m_Size);
        m_Keys.insert(m_Keys.end(), key, key + D);
        return static_cast<uint32_t>(m_Size++);
      }
      if (std::memcmp(entry.key, key, sizeof(entry.key)) == 0)
      {
        return entry.index;
      }
    }
  }

  /** The index of \a key, or -1. */
  int64_t
  Find(const Coordinate * key) const
  {
    const std::size_t mask = m_Slots.size() - 1;
    for (std::size_t slot = Hash(key) & mask;; slot = (slot + 1) & mask)
    {
      const Slot & entry = m_Slots[slot];
      if (entry.index == Empty)
      {
        return -1;
      }
      if (std::memcmp(entry.key, key, sizeof(entry.key)) == 0)
      {
        return entry.index;
      }
    }
  }

private:
  static constexpr uint32_t Empty = 0xFFFFFFFFu;

  struct Slot
  {
    Coordinate key[D > 0 ? D : 1] = {};
    uint32_t   index = Empty;
  };

  static std::size_t
  Hash(const Coordinate * key)
  {
    // One multiplication per coordinate: vertices close on the lattice tend to land in nearby slots, which keeps the
    // probes of neighbouring voxels in cache (a stronger mixing was measured 40 % slower for that reason).
    uint64_t h = 0x243F6A8885A308D3ull;
    for (unsigned int k = 0; k < D; ++k)
    {
      h = (h ^ static_cast<uint16_t>(key[k])) * 0x9E3779B97F4A7C15ull;
    }
    return static_cast<std::size_t>(h ^ (h >> 31));
  }

  void
  Grow()
  {
    std::vector<Slot> slots(2 * m_Slots.size());
    const std::size_t mask = slots.size() - 1;
    for (const Slot & entry : m_Slots)
    {
      if (entry.index == Empty)
      {
        continue;
      }
      std::size_t slot = Hash(entry.key) & mask;
      while (slots[slot].index != Empty)
      {
        slot = (slot + 1) & mask;
      }
      slots[slot] = entry;
    }
    m_Slots.swap(slots);
  }

  std::vector<Slot>       m_Slots;
  std::vector<Coordinate> m_Keys;
  std::size_t             m_Size = 0;
};

/** Adds to \a table the neighbours along the d+1 lattice directions of its vertices [0, count), and writes their
 * indices to \a neighbours: for vertex m and direction j, [(m (d+1) + j) 2] the one at -e_j (d+1) + 1 and [+ 1]
 * the one at +e_j (d+1) - 1 (the lattice blur's two neighbours). */
template <unsigned int d>
void
AddNeighbours(VertexTable<d> & table, std::size_t count, std::vector<uint32_t> & neighbours)
{
  neighbours.resize(count * (d + 1) * 2);
  Coordinate neighbour[d > 0 ? d : 1];
  for (std::size_t m = 0; m < count; ++m)
  {
    for (unsigned int j = 0; j <= d; ++j)
    {
      for (const int side : { 0, 1 })
      {
        const int          sign = side == 0 ? 1 : -1;
        const Coordinate * key = table.Key(m); // Insert may move the keys
        for (unsigned int k = 0; k < d; ++k)
        {
          neighbour[k] = static_cast<Coordinate>(key[k] - sign);
        }
        if (j < d)
        {
          neighbour[j] = static_cast<Coordinate>(key[j] + sign * static_cast<int>(d));
        }
        neighbours[(m * (d + 1) + j) * 2 + side] = table.Insert(neighbour);
      }
    }
  }
}

/** Runs body(begin, end) over [0, count) split into about as many ranges as the threader has work units. */
void
ParallelRanges(itk::MultiThreaderBase * threader, std::size_t count, std::size_t minimumRange,
               const std::function<void(std::size_t, std::size_t)> & body)
{
  const std::size_t units = threader ? std::max<std::size_t>(1, threader->GetNumberOfWorkUnits()) : 1;
  const std::size_t ranges = std::max<std::size_t>(1, std::min(units, count / std::max<std::size_t>(1, minimumRange)));
  if (ranges == 1)
  {
    body(0, count);
    return;
  }
  threader->ParallelizeArray(
    0, ranges, [&](itk::SizeValueType r) { body(count * r / ranges, count * (r + 1) / ranges); }, nullptr);
}

/** Embeds one point: the chunk-local indices of the vertices of its enclosing simplex and its barycentric weights.
 * The elevation to the hyperplane x.1 = 0 uses the orthogonal basis of Adams et al. (columns of norm
 * sqrt(2/3) (d+1), so that the lattice blur has unit standard deviation in feature units). */
template <unsigned int d>
class Embedder
{
public:
  static constexpr int D1 = static_cast<int>(d) + 1;

  Embedder()
  {
    const double scale = ElevationScale(d);
    for (unsigned int k = 0; k < d; ++k)
    {
      m_ElevationScale[k] = scale / std::sqrt(static_cast<double>((k + 1) * (k + 2)));
    }
  }

  /** The vertices of recently seen simplices, keyed by the remainder-0 vertex and the ranks: neighbouring voxels
   * often share a simplex, and a hit saves the d+1 lookups in the vertex table. Direct-mapped. */
  class SimplexCache
  {
  public:
    static constexpr std::size_t Slots = 1 << 14;

    /** The cached vertices of the simplex, or null; \a slot receives where to store them. */
    const uint32_t *
    Find(const int32_t * key, std::size_t & slot) const
    {
      uint64_t h = 0x2545F4914F6CDD1Dull;
      for (int k = 0; k < D1; ++k)
      {
        h = (h ^ static_cast<uint32_t>(key[k])) * 0x9E3779B97F4A7C15ull;
      }
      slot = static_cast<std::size_t>(h >> 50) & (Slots - 1);
      if (m_Used[slot] && std::memcmp(&m_Keys[slot * D1], key, D1 * sizeof(int32_t)) == 0)
      {
        return &m_Vertices[slot * D1];
      }
      return nullptr;
    }

    void
    Store(std::size_t slot, const int32_t * key, const uint32_t * vertices)
    {
      std::memcpy(&m_Keys[slot * D1], key, D1 * sizeof(int32_t));
      std::memcpy(&m_Vertices[slot * D1], vertices, D1 * sizeof(uint32_t));
      m_Used[slot] = 1;
    }

  private:
    std::vector<int32_t>  m_Keys = std::vector<int32_t>(Slots * D1);
    std::vector<uint32_t> m_Vertices = std::vector<uint32_t>(Slots * D1);
    std::vector<uint8_t>  m_Used = std::vector<uint8_t>(Slots, 0);
  };

  /** Returns false when a feature is not finite or too large for 32-bit vertex coordinates. */
  bool
  Embed(const float * f, VertexTable<d> & table, SimplexCache & cache, uint32_t * offsets, float * weights) const
  {
    std::array<double, D1> y;
    double                 sum = 0.0;
    for (unsigned int j = d; j > 0; --j)
    {
      const double cf = static_cast<double>(f[j - 1]) * m_ElevationScale[j - 1];
      y[j] = sum - j * cf;
      sum += cf;
    }
    y[0] = sum;

    // The nearest point with all coordinates multiple of d+1 ("remainder 0"), then the ordering of the residuals
    // gives the simplex; when the rounded point leaves the hyperplane, the extreme residuals are moved by d+1.
    // Branch-free: the residuals are in random order, so branches on them would be mispredicted half of the time.
    constexpr double        inverse = 1.0 / D1;
    std::array<int32_t, D1> rem0;
    std::array<double, D1>  delta;
    std::array<int, D1>     rank{};
    int                     coordinateSum = 0;
    for (int i = 0; i < D1; ++i)
    {
      const double scaled = y[i] * inverse;
      if (!(std::abs(y[i]) < CoordinateLimit - 2 * D1)) // also false for NaN
      {
        return false;
      }
      const int r = static_cast<int>(scaled + (scaled >= 0.0 ? 0.5 : -0.5)); // lround, without the call
      rem0[i] = r * D1;
      coordinateSum += r;
      delta[i] = y[i] - rem0[i];
    }
    for (int i = 0; i < D1 - 1; ++i)
    {
      for (int j = i + 1; j < D1; ++j)
      {
        const int smaller = delta[i] < delta[j];
        rank[i] += smaller;
        rank[j] += 1 - smaller;
      }
    }
    for (int i = 0; i < D1; ++i)
    {
      const int ranked = rank[i] + coordinateSum;
      const int shift = (ranked < 0) - (ranked >= D1); // +1, 0 or -1
      rank[i] = ranked + shift * D1;
      rem0[i] += shift * D1;
    }

    std::array<double, D1 + 1> barycentric{};
    for (int i = 0; i < D1; ++i)
    {
      const double v = (y[i] - rem0[i]) * inverse;
      barycentric[d - rank[i]] += v;
      barycentric[d + 1 - rank[i]] -= v;
    }
    barycentric[0] += 1.0 + barycentric[d + 1];

    for (int r = 0; r < D1; ++r)
    {
      weights[r] = static_cast<float>(barycentric[r]);
    }

    // The simplex is given by rem0 (its last coordinate is minus the sum of the others) and the ranks.
    int32_t simplex[D1];
    int32_t packedRanks = 0;
    for (int i = 0; i < D1; ++i)
    {
      packedRanks = (packedRanks << 3) | rank[i];
    }
    for (unsigned int i = 0; i < d; ++i)
    {
      simplex[i] = rem0[i];
    }
    simplex[d] = packedRanks;
    std::size_t slot = 0;
    if (const uint32_t * cached = cache.Find(simplex, slot))
    {
      std::memcpy(offsets, cached, D1 * sizeof(uint32_t));
      return true;
    }
    // Vertex r of the simplex is rem0 plus the canonical remainder-r point, permuted by the ranks.
    Coordinate key[d > 0 ? d : 1];
    for (int r = 0; r < D1; ++r)
    {
      for (unsigned int i = 0; i < d; ++i)
      {
        key[i] = static_cast<Coordinate>(rem0[i] + (rank[i] <= static_cast<int>(d) - r ? r : r - D1));
      }
      offsets[r] = table.Insert(key);
    }
    cache.Store(slot, simplex, offsets);
    return true;
  }

private:
  std::array<double, d> m_ElevationScale{};
};

/** The values of a vertex are stored with this stride: up to 4 values are padded to 4, one vector operation. */
inline std::size_t
StrideOf(unsigned int numberOfValues)
{
  return numberOfValues <= 4 ? 4 : numberOfValues;
}

/** Adds w_r * f_i * input_i to the V vertices of each point (VC values, or runtimeValues when VC is 0), f = scale or
 * 1. */
template <unsigned int VC, unsigned int V>
TORCHSEG_VECTOR_CLONES void
SplatPoints(const uint32_t * offsets, const float * weights, const float * input, const float * scale,
            std::size_t count, unsigned int runtimeValues, float * lattice)
{
  if constexpr (VC > 0)
  {
    for (std::size_t i = 0; i < count; ++i)
    {
      float       in[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
      const float f = scale ? scale[i] : 1.0f;
      for (unsigned int c = 0; c < VC; ++c)
      {
        in[c] = f * input[i * VC + c];
      }
      for (unsigned int r = 0; r < V; ++r)
      {
        const float w = weights[i * V + r];
        float *     v = lattice + static_cast<std::size_t>(offsets[i * V + r]) * 4;
        for (unsigned int c = 0; c < 4; ++c)
        {
          v[c] += w * in[c];
        }
      }
    }
  }
  else
  {
    const unsigned int C = runtimeValues;
    for (std::size_t i = 0; i < count; ++i)
    {
      const float * in = input + i * C;
      const float   f = scale ? scale[i] : 1.0f;
      for (unsigned int r = 0; r < V; ++r)
      {
        const float w = f * weights[i * V + r];
        float *     v = lattice + static_cast<std::size_t>(offsets[i * V + r]) * C;
        for (unsigned int c = 0; c < C; ++c)
        {
          v[c] += w * in[c];
        }
      }
    }
  }
}

/** output_i (+)= f_i (gain * sum_r w_r lattice[vertex r] - selfWeight * f_i input_i), f = scale or 1. */
template <unsigned int VC, unsigned int V>
TORCHSEG_VECTOR_CLONES void
SlicePoints(const uint32_t * offsets, const float * weights, const float * lattice, const float * input,
            const float * scale, std::size_t count, unsigned int runtimeValues, float gain, float selfWeight,
            bool accumulate, float * output)
{
  const unsigned int     C = VC > 0 ? VC : runtimeValues;
  const std::size_t      S = VC > 0 ? 4 : C;
  constexpr unsigned int MaxStack = 16;
  float                  sum[MaxStack];
  std::vector<float>     heapSum(S > MaxStack ? S : 0);
  float *                s = S > MaxStack ? heapSum.data() : sum;
  for (std::size_t i = 0; i < count; ++i)
  {
    if constexpr (VC > 0)
    {
      float t[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
      for (unsigned int r = 0; r < V; ++r)
      {
        const float   w = weights[i * V + r];
        const float * v = lattice + static_cast<std::size_t>(offsets[i * V + r]) * 4;
        for (unsigned int c = 0; c < 4; ++c)
        {
          t[c] += w * v[c];
        }
      }
      for (unsigned int c = 0; c < 4; ++c)
      {
        s[c] = t[c];
      }
    }
    else
    {
      std::fill(s, s + C, 0.0f);
      for (unsigned int r = 0; r < V; ++r)
      {
        const float   w = weights[i * V + r];
        const float * v = lattice + static_cast<std::size_t>(offsets[i * V + r]) * S;
        for (unsigned int c = 0; c < C; ++c)
        {
          s[c] += w * v[c];
        }
      }
    }
    const float * in = input + i * C;
    float *       out = output + i * C;
    const float   f = scale ? scale[i] : 1.0f;
    for (unsigned int c = 0; c < C; ++c)
    {
      const float value = f * (gain * s[c] - selfWeight * f * in[c]);
      out[c] = accumulate ? out[c] + value : value;
    }
  }
}

/** One blur direction over the vertices [begin, end): out = centre + (minus + plus) / 2 (row 0 is the zero vertex). */
template <unsigned int VS>
TORCHSEG_VECTOR_CLONES void
BlurVertices(const float * values, float * blurred, const uint32_t * neighbours, std::size_t begin, std::size_t end,
             std::size_t runtimeStride)
{
  const std::size_t S = VS > 0 ? VS : runtimeStride;
  for (std::size_t m = begin; m < end; ++m)
  {
    const float * centre = values + (m + 1) * S;
    const float * a = values + static_cast<std::size_t>(neighbours[2 * m]) * S;
    const float * b = values + static_cast<std::size_t>(neighbours[2 * m + 1]) * S;
    float *       out = blurred + (m + 1) * S;
    for (std::size_t v = 0; v < S; ++v)
    {
      out[v] = centre[v] + 0.5f * (a[v] + b[v]);
    }
  }
}

template <typename TFunction>
void
DispatchValues(unsigned int numberOfValues, TFunction && f)
{
  switch (numberOfValues)
  {
    case 1:
      f(std::integral_constant<unsigned int, 1>());
      break;
    case 2:
      f(std::integral_constant<unsigned int, 2>());
      break;
    case 3:
      f(std::integral_constant<unsigned int, 3>());
      break;
    case 4:
      f(std::integral_constant<unsigned int, 4>());
      break;
    default:
      f(std::integral_constant<unsigned int, 0>());
  }
}

} // namespace

template <unsigned int VFeatureDimension>
double
PermutohedralLattice<VFeatureDimension>::GetKernelGain()
{
  // A uniform density rho of points in feature space reaches the hyperplane with density rho / s^d (the elevation
  // scales by s = sqrt(2/3) (d+1)); a lattice cell has volume (d+1)^(d-1/2); the d+1 blurs [1/2 1 1/2] multiply a
  // uniform field by 2^(d+1); slicing weights sum to 1. The Gaussian sum of that density is rho (2 pi)^(d/2).
  constexpr double d = VFeatureDimension;
  const double     s = ElevationScale(VFeatureDimension);
  const double     cellVolume = std::pow(d + 1.0, d - 0.5);
  return std::pow(2.0 * M_PI, d / 2.0) * std::pow(s, d) / (cellVolume * std::pow(2.0, d + 1.0));
}

template <unsigned int VFeatureDimension>
std::size_t
PermutohedralLattice<VFeatureDimension>::GetMemorySize() const
{
  std::size_t bytes = m_Offsets.capacity() * sizeof(uint32_t) + m_Weights.capacity() * sizeof(float) +
                      m_Neighbours.capacity() * sizeof(uint32_t);
  for (const Chunk & chunk : m_Chunks)
  {
    bytes += chunk.localToGlobal.capacity() * sizeof(uint32_t);
  }
  return bytes;
}

template <unsigned int VFeatureDimension>
void
PermutohedralLattice<VFeatureDimension>::Initialize(std::size_t numberOfPoints, const FeatureFunctionType & features,
                                                    itk::MultiThreaderBase * threader)
{
  constexpr unsigned int d = VFeatureDimension;
  constexpr unsigned int V = VerticesPerPoint;
  m_Threader = threader;
  m_NumberOfPoints = numberOfPoints;
  m_Offsets.assign(numberOfPoints * V, 0);
  m_Weights.assign(numberOfPoints * V, 0.0f);

  // Contiguous ranges of points (slabs of an image) share few vertices: each gets its own table, merged below.
  const std::size_t units = threader ? std::max<std::size_t>(1, threader->GetNumberOfWorkUnits()) : 1;
  const std::size_t chunks = std::max<std::size_t>(1, std::min<std::size_t>(units, numberOfPoints / 4096));
  m_Chunks.assign(chunks, Chunk());
  std::vector<std::unique_ptr<VertexTable<d>>> tables(chunks);
  std::vector<std::size_t>                     badPoint(chunks, std::numeric_limits<std::size_t>::max());
  std::vector<std::size_t>                     occupied(chunks, 0);
  std::vector<std::vector<uint32_t>>           localNeighbours(chunks);
  const Embedder<d>                            embedder;

  auto embedChunk = [&](std::size_t c) {
    Chunk & chunk = m_Chunks[c];
    chunk.first = numberOfPoints * c / chunks;
    chunk.count = numberOfPoints * (c + 1) / chunks - chunk.first;
    tables[c] = std::make_unique<VertexTable<d>>(std::min<std::size_t>(chunk.count, 1u << 16));
    constexpr std::size_t block = 1024;
    std::vector<float>    f(block * d);
    auto                  cache = std::make_unique<typename Embedder<d>::SimplexCache>();
    for (std::size_t start = 0; start < chunk.count; start += block)
    {
      const std::size_t n = std::min(block, chunk.count - start);
      const std::size_t first = chunk.first + start;
      features(first, n, f.data());
      for (std::size_t i = 0; i < n; ++i)
      {
        if (!embedder.Embed(
              f.data() + i * d, *tables[c], *cache, &m_Offsets[(first + i) * V], &m_Weights[(first + i) * V]))
        {
          badPoint[c] = first + i;
          return;
        }
      }
    }
    // Close the slab's vertex set under one blur step: a blur path that leaves the occupied vertices and comes back
    // (a step along one direction, then along another) would otherwise lose its mass. This lowers the error of
    // filtered values against exact Gaussian sums by 20 to 50 % (measured on image-like point sets, most at the edges
    // of the point cloud: the intensity dimension of a homogeneous region is thinner than a lattice cell), at about
    // twice the vertices; further steps were measured not to help.
    occupied[c] = tables[c]->Size();
    AddNeighbours(*tables[c], occupied[c], localNeighbours[c]);
  };
  if (chunks == 1)
  {
    embedChunk(0);
  }
  else
  {
    threader->ParallelizeArray(0, chunks, embedChunk, nullptr);
  }
  for (std::size_t c = 0; c < chunks; ++c)
  {
    if (badPoint[c] != std::numeric_limits<std::size_t>::max())
    {
      itkGenericExceptionMacro(<< "PermutohedralLattice: the features of point " << badPoint[c]
                               << " are not finite or too large: each must stay below about 6000 kernel widths from 0 "
                                  "(a kernel width far too small for the data?)");
    }
  }

  // One numbering for all vertices, the occupied ones first.
  std::size_t localTotal = 0;
  for (const auto & table : tables)
  {
    localTotal += table->Size();
  }
  VertexTable<d> global(localTotal);
  for (std::size_t c = 0; c < chunks; ++c)
  {
    m_Chunks[c].localToGlobal.resize(tables[c]->Size());
    for (std::size_t k = 0; k < occupied[c]; ++k)
    {
      m_Chunks[c].localToGlobal[k] = global.Insert(tables[c]->Key(k));
    }
  }
  m_NumberOfOccupiedLatticePoints = global.Size();
  for (std::size_t c = 0; c < chunks; ++c)
  {
    for (std::size_t k = occupied[c]; k < tables[c]->Size(); ++k)
    {
      m_Chunks[c].localToGlobal[k] = global.Insert(tables[c]->Key(k));
    }
    tables[c].reset();
  }
  m_NumberOfLatticePoints = global.Size();

  // The two neighbours of each vertex along each lattice direction e_j (d+1) - 1 (the last coordinate is implicit),
  // stored as global index + 1 (0: absent). Those of the occupied vertices came with the dilation; the others are
  // looked up.
  const std::size_t M = m_NumberOfLatticePoints;
  const std::size_t occupiedVertices = m_NumberOfOccupiedLatticePoints;
  m_Neighbours.assign(static_cast<std::size_t>(V) * M * 2, 0);
  for (std::size_t c = 0; c < chunks; ++c)
  {
    const std::vector<uint32_t> & map = m_Chunks[c].localToGlobal;
    const std::vector<uint32_t> & local = localNeighbours[c];
    for (std::size_t k = 0; k < occupied[c]; ++k)
    {
      const std::size_t m = map[k];
      for (unsigned int j = 0; j < V; ++j)
      {
        m_Neighbours[(j * M + m) * 2] = map[local[(k * V + j) * 2]] + 1;
        m_Neighbours[(j * M + m) * 2 + 1] = map[local[(k * V + j) * 2 + 1]] + 1;
      }
    }
    localNeighbours[c] = std::vector<uint32_t>();
  }
  ParallelRanges(threader, M - occupiedVertices, 4096, [&](std::size_t begin, std::size_t end) {
    Coordinate minus[d > 0 ? d : 1];
    Coordinate plus[d > 0 ? d : 1];
    for (std::size_t m = occupiedVertices + begin; m < occupiedVertices + end; ++m)
    {
      const Coordinate * key = global.Key(m);
      for (unsigned int j = 0; j < V; ++j)
      {
        for (unsigned int k = 0; k < d; ++k)
        {
          minus[k] = static_cast<Coordinate>(key[k] - 1);
          plus[k] = static_cast<Coordinate>(key[k] + 1);
        }
        if (j < d)
        {
          minus[j] = static_cast<Coordinate>(key[j] + static_cast<int>(d));
          plus[j] = static_cast<Coordinate>(key[j] - static_cast<int>(d));
        }
        const int64_t a = global.Find(minus);
        const int64_t b = global.Find(plus);
        m_Neighbours[(j * M + m) * 2] = static_cast<uint32_t>(a + 1);
        m_Neighbours[(j * M + m) * 2 + 1] = static_cast<uint32_t>(b + 1);
      }
    }
  });
}

template <unsigned int VFeatureDimension>
void
PermutohedralLattice<VFeatureDimension>::Filter(const float * input, float * output, unsigned int numberOfValues,
                                                float weight, bool excludeSelf, bool accumulate,
                                                const float * pointScale) const
{
  constexpr unsigned int   V = VerticesPerPoint;
  const std::size_t        C = numberOfValues;
  const std::size_t        M = m_NumberOfLatticePoints;
  itk::MultiThreaderBase * threader = m_Threader.GetPointer();
  const std::size_t        chunks = m_Chunks.size();

  auto forEachChunk = [&](const std::function<void(std::size_t)> & body) {
    if (chunks == 1)
    {
      body(0);
    }
    else
    {
      threader->ParallelizeArray(0, chunks, body, nullptr);
    }
  };

  // Splat each chunk into its own vertices, then add them up in the global numbering (row 0 stays zero: it stands
  // for absent neighbours). Vertex values are stored with stride S (padded to 4 for up to 4 values).
  const std::size_t               S = StrideOf(numberOfValues);
  std::vector<std::vector<float>> local(chunks);
  forEachChunk([&](std::size_t c) {
    const Chunk & chunk = m_Chunks[c];
    local[c].assign(chunk.localToGlobal.size() * S, 0.0f);
    DispatchValues(numberOfValues, [&](auto values) {
      SplatPoints<decltype(values)::value, V>(&m_Offsets[chunk.first * V],
                                              &m_Weights[chunk.first * V],
                                              input + chunk.first * C,
                                              pointScale ? pointScale + chunk.first : nullptr,
                                              chunk.count,
                                              numberOfValues,
                                              local[c].data());
    });
  });
  std::vector<float> values((M + 1) * S, 0.0f);
  std::vector<float> blurred((M + 1) * S, 0.0f);
  for (std::size_t c = 0; c < chunks; ++c)
  {
    const std::vector<uint32_t> & map = m_Chunks[c].localToGlobal;
    const float *                 src = local[c].data();
    for (std::size_t k = 0; k < map.size(); ++k)
    {
      float * dst = &values[(static_cast<std::size_t>(map[k]) + 1) * S];
      for (std::size_t v = 0; v < S; ++v)
      {
        dst[v] += src[k * S + v];
      }
    }
  }

  for (unsigned int j = 0; j < V; ++j)
  {
    const uint32_t * neighbours = &m_Neighbours[static_cast<std::size_t>(j) * M * 2];
    ParallelRanges(threader, M, 8192, [&](std::size_t begin, std::size_t end) {
      if (S == 4)
      {
        BlurVertices<4>(values.data(), blurred.data(), neighbours, begin, end, S);
      }
      else
      {
        BlurVertices<0>(values.data(), blurred.data(), neighbours, begin, end, S);
      }
    });
    values.swap(blurred);
  }

  const float gain = static_cast<float>(GetKernelGain()) * weight;
  const float selfWeight = excludeSelf ? weight : 0.0f;
  forEachChunk([&](std::size_t c) {
    const Chunk &                 chunk = m_Chunks[c];
    const std::vector<uint32_t> & map = chunk.localToGlobal;
    std::vector<float> &          v = local[c];
    for (std::size_t k = 0; k < map.size(); ++k)
    {
      std::copy_n(&values[(static_cast<std::size_t>(map[k]) + 1) * S], S, &v[k * S]);
    }
    DispatchValues(numberOfValues, [&](auto valuesTag) {
      SlicePoints<decltype(valuesTag)::value, V>(&m_Offsets[chunk.first * V],
                                                 &m_Weights[chunk.first * V],
                                                 v.data(),
                                                 input + chunk.first * C,
                                                 pointScale ? pointScale + chunk.first : nullptr,
                                                 chunk.count,
                                                 numberOfValues,
                                                 gain,
                                                 selfWeight,
                                                 accumulate,
                                                 output + chunk.first * C);
    });
  });
}

template class PermutohedralLattice<1>;
template class PermutohedralLattice<2>;
template class PermutohedralLattice<3>;
template class PermutohedralLattice<4>;
template class PermutohedralLattice<5>;

} // namespace torchseg
