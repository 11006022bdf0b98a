#include "torchsegPermutohedralLattice.h"

#include "torchsegDenseCRFVectorize.h"
#include "torchsegDefaultInitAllocator.h"

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
 * reads one place in memory. The table is far larger than the caches, so callers compute the hashes of a batch of
 * keys, prefetch their slots, and then insert or find them: the misses of the batch overlap. */
template <unsigned int D>
class VertexTable
{
public:
  explicit VertexTable(std::size_t expected)
  {
    this->Rehash(CapacityFor(expected));
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
  Prefetch(std::size_t hash) const
  {
    __builtin_prefetch(&m_Slots[hash & (m_Slots.size() - 1)]);
  }

  /** The index of \a key (whose Hash() is \a hash), inserted when it is new. */
  uint32_t
  Insert(const Coordinate * key, std::size_t hash)
  {
    if (2 * (m_Size + 1) > m_Slots.size())
    {
      this->Rehash(2 * m_Slots.size());
    }
    const std::size_t mask = m_Slots.size() - 1;
    for (std::size_t slot = hash & mask;; slot = (slot + 1) & mask)
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

  uint32_t
  Insert(const Coordinate * key)
  {
    return this->Insert(key, Hash(key));
  }

  /** The index of \a key (whose Hash() is \a hash), or -1. */
  int64_t
  Find(const Coordinate * key, std::size_t hash) const
  {
    const std::size_t mask = m_Slots.size() - 1;
    for (std::size_t slot = hash & mask;; slot = (slot + 1) & mask)
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

  /** Slots for \a expected keys at a load of at most one half. */
  static std::size_t
  CapacityFor(std::size_t expected)
  {
    std::size_t capacity = 64;
    while (capacity < 2 * expected)
    {
      capacity *= 2;
    }
    return capacity;
  }

  void
  Rehash(std::size_t capacity)
  {
    crf::LargeVector<Slot> slots(capacity);
    const std::size_t      mask = capacity - 1;
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

  crf::LargeVector<Slot>       m_Slots;
  crf::LargeVector<Coordinate> m_Keys;
  std::size_t                  m_Size = 0;
};

/** The vertices most recently looked up, direct-mapped by their hash (a few hundred kilobytes, in the core's own
 * cache): the voxels of a row and of the next rows reach mostly the same vertices, whose lookups then stay out of
 * the large table. */
template <unsigned int D>
class RecentVertices
{
public:
  static constexpr std::size_t Slots = std::size_t(1) << 14;

  /** The index of \a key (whose VertexTable hash is \a hash), or Missing. */
  uint32_t
  Find(const Coordinate * key, std::size_t hash) const
  {
    const Entry & entry = m_Entries[SlotOf(hash)];
    return entry.index != Missing && std::memcmp(entry.key, key, sizeof(entry.key)) == 0 ? entry.index : Missing;
  }

  void
  Store(const Coordinate * key, std::size_t hash, uint32_t index)
  {
    Entry & entry = m_Entries[SlotOf(hash)];
    std::memcpy(entry.key, key, sizeof(entry.key));
    entry.index = index;
  }

  static constexpr uint32_t Missing = 0xFFFFFFFFu;

private:
  struct Entry
  {
    Coordinate key[D > 0 ? D : 1] = {};
    uint32_t   index = Missing;
  };

  static std::size_t
  SlotOf(std::size_t hash)
  {
    return (hash >> 24) & (Slots - 1);
  }

  std::vector<Entry> m_Entries = std::vector<Entry>(Slots);
};

/** Adds to \a table the neighbours along the d+1 lattice directions of its vertices [0, count), and writes their
 * indices to \a neighbours: for vertex m and direction j, [(m (d+1) + j) 2] the one at -e_j (d+1) + 1 and [+ 1]
 * the one at +e_j (d+1) - 1 (the lattice blur's two neighbours). */
template <unsigned int d>
void
AddNeighbours(VertexTable<d> & table, std::size_t count, crf::LargeVector<uint32_t> & neighbours)
{
  constexpr unsigned int V = d + 1;
  constexpr std::size_t  Batch = 8; // vertices whose 2 (d+1) neighbours are prefetched together
  neighbours.resize(count * V * 2);
  Coordinate  keys[Batch][V][2][d > 0 ? d : 1];
  std::size_t hashes[Batch][V][2];
  for (std::size_t m0 = 0; m0 < count; m0 += Batch)
  {
    const std::size_t n = std::min(Batch, count - m0);
    for (std::size_t b = 0; b < n; ++b)
    {
      const Coordinate * key = table.Key(m0 + b);
      for (unsigned int j = 0; j <= d; ++j)
      {
        for (const int side : { 0, 1 })
        {
          const int    sign = side == 0 ? 1 : -1;
          Coordinate * neighbour = keys[b][j][side];
          for (unsigned int k = 0; k < d; ++k)
          {
            neighbour[k] = static_cast<Coordinate>(key[k] - sign);
          }
          if (j < d)
          {
            neighbour[j] = static_cast<Coordinate>(key[j] + sign * static_cast<int>(d));
          }
          hashes[b][j][side] = VertexTable<d>::Hash(neighbour);
          table.Prefetch(hashes[b][j][side]);
        }
      }
    }
    for (std::size_t b = 0; b < n; ++b)
    {
      for (unsigned int j = 0; j <= d; ++j)
      {
        for (const int side : { 0, 1 })
        {
          neighbours[((m0 + b) * V + j) * 2 + side] = table.Insert(keys[b][j][side], hashes[b][j][side]);
        }
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

/** The barycentric weights are stored as multiples of 1/65535. */
constexpr float WeightUnit = 1.0f / 65535.0f;

/** Embeds points: the simplex of the lattice enclosing each and its barycentric weights. The elevation to the
 * hyperplane x.1 = 0 uses the orthogonal basis of Adams et al. (columns of norm sqrt(2/3) (d+1), so that the lattice
 * blur has unit standard deviation in feature units). */
template <unsigned int d>
class Embedder
{
public:
  static constexpr int D1 = static_cast<int>(d) + 1;

  /** A simplex: its remainder-0 vertex (the first d coordinates; the last is minus their sum) and the ranks of the
   * coordinates. */
  struct Simplex
  {
    int32_t rem0[d > 0 ? d : 1];
    int     rank[D1];
  };

  Embedder()
  {
    const double scale = ElevationScale(d);
    for (unsigned int k = 0; k < d; ++k)
    {
      m_ElevationScale[k] = scale / std::sqrt(static_cast<double>((k + 1) * (k + 2)));
    }
  }

  /** The simplex enclosing the point of features \a f and its barycentric weights in 16 bits (summing to 65535).
   * Returns false when a feature is not finite or too large for the vertex coordinates. */
  bool
  Locate(const float * f, Simplex & simplex, uint16_t * weights) const
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
    int * const             rank = simplex.rank;
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
      rank[i] = 0;
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

    // Rounded to 16 bits; the largest weight takes the rounding remainder, so that constants are kept exactly.
    int total = 0;
    int largest = 0;
    for (int r = 0; r < D1; ++r)
    {
      const double scaled = std::min(1.0, std::max(0.0, barycentric[r])) * 65535.0;
      weights[r] = static_cast<uint16_t>(scaled + 0.5);
      total += weights[r];
      largest = barycentric[r] > barycentric[largest] ? r : largest;
    }
    weights[largest] = static_cast<uint16_t>(weights[largest] + (65535 - total));

    for (unsigned int i = 0; i < d; ++i)
    {
      simplex.rem0[i] = rem0[i];
    }
    return true;
  }

  /** The key of vertex \a r of \a simplex: rem0 plus the canonical remainder-r point, permuted by the ranks. */
  static void
  VertexKey(const Simplex & simplex, int r, Coordinate * key)
  {
    for (unsigned int i = 0; i < d; ++i)
    {
      key[i] = static_cast<Coordinate>(simplex.rem0[i] + (simplex.rank[i] <= static_cast<int>(d) - r ? r : r - D1));
    }
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

/** Adds w_r * f_i * input_i to the V vertices of each point (VC values, or runtimeValues when VC is 0; a null input
 * is all ones), f = scale or 1, w_r the 16-bit weights in units of 1/65535. */
template <unsigned int VC, unsigned int V>
TORCHSEG_VECTOR_CLONES void
SplatPoints(const uint32_t * offsets, const uint16_t * weights, const float * input, const float * scale,
            std::size_t count, unsigned int runtimeValues, float * lattice)
{
  if constexpr (VC > 0)
  {
    for (std::size_t i = 0; i < count; ++i)
    {
      float       in[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
      const float f = (scale ? scale[i] : 1.0f) * WeightUnit;
      for (unsigned int c = 0; c < VC; ++c)
      {
        in[c] = input ? f * input[i * VC + c] : f;
      }
      for (unsigned int r = 0; r < V; ++r)
      {
        const float w = static_cast<float>(weights[i * V + r]);
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
      const float f = (scale ? scale[i] : 1.0f) * WeightUnit;
      for (unsigned int r = 0; r < V; ++r)
      {
        const float w = f * static_cast<float>(weights[i * V + r]);
        float *     v = lattice + static_cast<std::size_t>(offsets[i * V + r]) * C;
        for (unsigned int c = 0; c < C; ++c)
        {
          v[c] += input ? w * input[i * C + c] : w;
        }
      }
    }
  }
}

/** output_i (+)= f_i (gain * sum_r w_r lattice[vertex r] - selfWeight * f_i input_i), f = scale or 1 (a null input
 * is all ones); \a gain includes the unit of the 16-bit weights. */
template <unsigned int VC, unsigned int V>
TORCHSEG_VECTOR_CLONES void
SlicePoints(const uint32_t * offsets, const uint16_t * weights, const float * lattice, const float * input,
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
        const float   w = static_cast<float>(weights[i * V + r]);
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
        const float   w = static_cast<float>(weights[i * V + r]);
        const float * v = lattice + static_cast<std::size_t>(offsets[i * V + r]) * S;
        for (unsigned int c = 0; c < C; ++c)
        {
          s[c] += w * v[c];
        }
      }
    }
    float *     out = output + i * C;
    const float f = scale ? scale[i] : 1.0f;
    for (unsigned int c = 0; c < C; ++c)
    {
      const float in = input ? input[i * C + c] : 1.0f;
      const float value = f * (gain * s[c] - selfWeight * f * in);
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
  std::size_t bytes = m_Offsets.capacity() * sizeof(uint32_t) + m_Weights.capacity() * sizeof(uint16_t) +
                      m_Neighbours.capacity() * sizeof(uint32_t) +
                      (m_Values.capacity() + m_Blurred.capacity()) * sizeof(float);
  for (const Chunk & chunk : m_Chunks)
  {
    bytes += chunk.localToGlobal.capacity() * sizeof(uint32_t);
  }
  bytes += m_LocalValues.capacity() * sizeof(float) + (m_CopyStart.capacity() + m_Copies.capacity()) * sizeof(uint32_t);
  return bytes;
}

template <unsigned int VFeatureDimension>
void
PermutohedralLattice<VFeatureDimension>::Initialize(std::size_t numberOfPoints, const FeatureFunctionType & features,
                                                    itk::MultiThreaderBase * threader)
{
  constexpr unsigned int d = VFeatureDimension;
  constexpr unsigned int V = VerticesPerPoint;
  using EmbedderType = Embedder<d>;
  m_Threader = threader;
  m_NumberOfPoints = numberOfPoints;
  // Not initialised here: the work units write the entries of their own points (and so first touch those pages).
  m_Offsets.resize(numberOfPoints * V);
  m_Weights.resize(numberOfPoints * V);
  m_LocalValues = crf::LargeVector<float>();
  m_Values = crf::LargeVector<float>();
  m_Blurred = crf::LargeVector<float>();

  // Contiguous ranges of points (slabs of an image) share few vertices: each work unit gets one, with its own table,
  // merged below. (Ranges of a million points, whose tables stay in the last-level cache, were measured no faster:
  // a slab of 4 CT slices shares half of its vertices with its neighbours, and the merge and sums double.)
  const std::size_t units = threader ? std::max<std::size_t>(1, threader->GetNumberOfWorkUnits()) : 1;
  const std::size_t chunks = std::max<std::size_t>(1, std::min<std::size_t>(units, numberOfPoints / 4096));
  m_Chunks.assign(chunks, Chunk());
  std::vector<std::unique_ptr<VertexTable<d>>> tables(chunks);
  std::vector<std::size_t>                     badPoint(chunks, std::numeric_limits<std::size_t>::max());
  std::vector<std::size_t>                     occupied(chunks, 0);
  std::vector<crf::LargeVector<uint32_t>>      localNeighbours(chunks);
  const EmbedderType                           embedder;

  auto embedChunk = [&](std::size_t c) {
    Chunk & chunk = m_Chunks[c];
    chunk.first = numberOfPoints * c / chunks;
    chunk.count = numberOfPoints * (c + 1) / chunks - chunk.first;
    // About 0.2 vertices per point (with the closure below) for CT at the default widths; the table grows if needed.
    tables[c] = std::make_unique<VertexTable<d>>(std::max<std::size_t>(chunk.count / 8, 1024));
    VertexTable<d> &      table = *tables[c];
    constexpr std::size_t block = 1024;
    // Points whose vertices are looked up together: the table slots of those not among the recent vertices are
    // prefetched first, then inserted.
    constexpr std::size_t Batch = 16;
    struct Pending
    {
      Coordinate  keys[V][d > 0 ? d : 1];
      std::size_t hashes[V];
      uint32_t *  offsets;
      uint32_t    missing; // bit r: vertex r is not among the recent vertices
    };
    std::array<Pending, Batch>     pending;
    std::vector<float>             f(block * d);
    auto                           recent = std::make_unique<RecentVertices<d>>();
    typename EmbedderType::Simplex simplex;
    for (std::size_t start = 0; start < chunk.count; start += block)
    {
      const std::size_t n = std::min(block, chunk.count - start);
      const std::size_t first = chunk.first + start;
      features(first, n, f.data());
      for (std::size_t b0 = 0; b0 < n; b0 += Batch)
      {
        std::size_t waiting = 0;
        for (std::size_t i = b0; i < std::min(n, b0 + Batch); ++i)
        {
          const std::size_t point = first + i;
          if (!embedder.Locate(f.data() + i * d, simplex, &m_Weights[point * V]))
          {
            badPoint[c] = point;
            return;
          }
          Pending & p = pending[waiting];
          p.offsets = &m_Offsets[point * V];
          p.missing = 0;
          for (unsigned int r = 0; r < V; ++r)
          {
            EmbedderType::VertexKey(simplex, static_cast<int>(r), p.keys[r]);
            p.hashes[r] = VertexTable<d>::Hash(p.keys[r]);
            p.offsets[r] = recent->Find(p.keys[r], p.hashes[r]);
            if (p.offsets[r] == RecentVertices<d>::Missing)
            {
              p.missing |= 1u << r;
              table.Prefetch(p.hashes[r]);
            }
          }
          waiting += p.missing != 0;
        }
        for (std::size_t k = 0; k < waiting; ++k)
        {
          const Pending & p = pending[k];
          for (unsigned int r = 0; r < V; ++r)
          {
            if (p.missing & (1u << r))
            {
              p.offsets[r] = table.Insert(p.keys[r], p.hashes[r]);
              recent->Store(p.keys[r], p.hashes[r], p.offsets[r]);
            }
          }
        }
      }
    }
    // Close the slab's vertex set under one blur step: a blur path that leaves the occupied vertices and comes back
    // (a step along one direction, then along another) would otherwise lose its mass. This lowers the error of
    // filtered values against exact Gaussian sums by 20 to 50 % (measured on image-like point sets, most at the edges
    // of the point cloud: the intensity dimension of a homogeneous region is thinner than a lattice cell), at about
    // twice the vertices; further steps were measured not to help.
    occupied[c] = table.Size();
    AddNeighbours(table, occupied[c], localNeighbours[c]);
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

  // One numbering for all vertices, chunk after chunk. Within a chunk, each occupied vertex (in the order the points
  // reached them) is followed by those of its blur neighbours not numbered yet: the vertices that the blur reads
  // together are then close in memory. Keys are inserted in prefetched batches.
  std::size_t localTotal = 0;
  for (const auto & table : tables)
  {
    localTotal += table->Size();
  }
  VertexTable<d> global(localTotal);
  for (std::size_t c = 0; c < chunks; ++c)
  {
    const VertexTable<d> &             table = *tables[c];
    const crf::LargeVector<uint32_t> & local = localNeighbours[c];
    Chunk &                            chunk = m_Chunks[c];
    std::vector<uint32_t>              order;
    order.reserve(table.Size());
    std::vector<uint8_t> placed(table.Size(), 0);
    for (std::size_t k = 0; k < occupied[c]; ++k)
    {
      if (!placed[k])
      {
        placed[k] = 1;
        order.push_back(static_cast<uint32_t>(k));
      }
      for (std::size_t e = 0; e < 2 * V; ++e)
      {
        const uint32_t neighbour = local[k * V * 2 + e];
        if (!placed[neighbour])
        {
          placed[neighbour] = 1;
          order.push_back(neighbour);
        }
      }
    }
    chunk.localToGlobal.resize(table.Size());
    constexpr std::size_t Batch = 32;
    std::size_t           hashes[Batch];
    for (std::size_t k0 = 0; k0 < order.size(); k0 += Batch)
    {
      const std::size_t n = std::min(Batch, order.size() - k0);
      for (std::size_t b = 0; b < n; ++b)
      {
        hashes[b] = VertexTable<d>::Hash(table.Key(order[k0 + b]));
        global.Prefetch(hashes[b]);
      }
      for (std::size_t b = 0; b < n; ++b)
      {
        chunk.localToGlobal[order[k0 + b]] = global.Insert(table.Key(order[k0 + b]), hashes[b]);
      }
    }
    tables[c].reset();
  }
  m_NumberOfLatticePoints = global.Size();
  const std::size_t M = m_NumberOfLatticePoints;

  // The local copies of each vertex (compressed rows: m_CopyStart[m] .. m_CopyStart[m + 1] index m_Copies, which
  // holds positions in the concatenated local arrays), so that Filter() sums them in parallel over the vertices.
  m_CopyStart.assign(M + 1, 0);
  std::size_t base = 0;
  for (Chunk & chunk : m_Chunks)
  {
    chunk.localBase = base;
    base += chunk.localToGlobal.size();
    for (const uint32_t m : chunk.localToGlobal)
    {
      ++m_CopyStart[m + 1];
    }
  }
  for (std::size_t m = 0; m < M; ++m)
  {
    m_CopyStart[m + 1] += m_CopyStart[m];
  }
  m_Copies.resize(base);
  {
    std::vector<uint32_t> next(m_CopyStart.begin(), m_CopyStart.end() - 1);
    for (const Chunk & chunk : m_Chunks)
    {
      for (std::size_t k = 0; k < chunk.localToGlobal.size(); ++k)
      {
        m_Copies[next[chunk.localToGlobal[k]]++] = static_cast<uint32_t>(chunk.localBase + k);
      }
    }
  }

  // The two neighbours of each vertex along each lattice direction e_j (d+1) - 1 (the last coordinate is implicit),
  // stored as global index + 1 (0: absent). Those of a vertex occupied in some chunk came with that chunk's closure;
  // the others are looked up.
  m_Neighbours.assign(static_cast<std::size_t>(V) * M * 2, 0);
  std::vector<uint8_t> known(M, 0);
  for (std::size_t c = 0; c < chunks; ++c)
  {
    const crf::LargeVector<uint32_t> & map = m_Chunks[c].localToGlobal;
    const crf::LargeVector<uint32_t> & local = localNeighbours[c];
    for (std::size_t k = 0; k < occupied[c]; ++k)
    {
      const std::size_t m = map[k];
      if (known[m])
      {
        continue;
      }
      known[m] = 1;
      for (unsigned int j = 0; j < V; ++j)
      {
        m_Neighbours[(j * M + m) * 2] = map[local[(k * V + j) * 2]] + 1;
        m_Neighbours[(j * M + m) * 2 + 1] = map[local[(k * V + j) * 2 + 1]] + 1;
      }
    }
    localNeighbours[c] = crf::LargeVector<uint32_t>();
  }
  std::vector<uint32_t> unknown;
  for (std::size_t m = 0; m < M; ++m)
  {
    if (!known[m])
    {
      unknown.push_back(static_cast<uint32_t>(m));
    }
  }
  m_NumberOfOccupiedLatticePoints = M - unknown.size();
  ParallelRanges(threader, unknown.size(), 4096, [&](std::size_t begin, std::size_t end) {
    constexpr std::size_t Batch = 8;
    Coordinate            keys[Batch][V][2][d > 0 ? d : 1];
    std::size_t           hashes[Batch][V][2];
    for (std::size_t u0 = begin; u0 < end; u0 += Batch)
    {
      const std::size_t n = std::min(Batch, end - u0);
      for (std::size_t b = 0; b < n; ++b)
      {
        const Coordinate * key = global.Key(unknown[u0 + b]);
        for (unsigned int j = 0; j < V; ++j)
        {
          Coordinate * minus = keys[b][j][0];
          Coordinate * plus = keys[b][j][1];
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
          for (const int side : { 0, 1 })
          {
            hashes[b][j][side] = VertexTable<d>::Hash(keys[b][j][side]);
            global.Prefetch(hashes[b][j][side]);
          }
        }
      }
      for (std::size_t b = 0; b < n; ++b)
      {
        for (unsigned int j = 0; j < V; ++j)
        {
          for (const int side : { 0, 1 })
          {
            m_Neighbours[(j * M + unknown[u0 + b]) * 2 + side] =
              static_cast<uint32_t>(global.Find(keys[b][j][side], hashes[b][j][side]) + 1);
          }
        }
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
  const std::size_t S = StrideOf(numberOfValues);
  const std::size_t localTotal = m_Copies.size();
  m_LocalValues.resize(localTotal * S);
  forEachChunk([&](std::size_t c) {
    const Chunk & chunk = m_Chunks[c];
    float *       local = m_LocalValues.data() + chunk.localBase * S;
    std::fill_n(local, chunk.localToGlobal.size() * S, 0.0f);
    DispatchValues(numberOfValues, [&](auto values) {
      SplatPoints<decltype(values)::value, V>(&m_Offsets[chunk.first * V],
                                              &m_Weights[chunk.first * V],
                                              input ? input + chunk.first * C : nullptr,
                                              pointScale ? pointScale + chunk.first : nullptr,
                                              chunk.count,
                                              numberOfValues,
                                              local);
    });
  });
  m_Values.resize((M + 1) * S);
  m_Blurred.resize((M + 1) * S);
  std::fill_n(m_Values.data(), S, 0.0f);
  std::fill_n(m_Blurred.data(), S, 0.0f);
  ParallelRanges(threader, M, 8192, [&](std::size_t begin, std::size_t end) {
    for (std::size_t m = begin; m < end; ++m)
    {
      float * dst = &m_Values[(m + 1) * S];
      std::fill_n(dst, S, 0.0f);
      for (uint32_t k = m_CopyStart[m]; k < m_CopyStart[m + 1]; ++k)
      {
        const float * src = &m_LocalValues[static_cast<std::size_t>(m_Copies[k]) * S];
        for (std::size_t v = 0; v < S; ++v)
        {
          dst[v] += src[v];
        }
      }
    }
  });

  for (unsigned int j = 0; j < V; ++j)
  {
    const uint32_t * neighbours = &m_Neighbours[static_cast<std::size_t>(j) * M * 2];
    ParallelRanges(threader, M, 8192, [&](std::size_t begin, std::size_t end) {
      if (S == 4)
      {
        BlurVertices<4>(m_Values.data(), m_Blurred.data(), neighbours, begin, end, S);
      }
      else
      {
        BlurVertices<0>(m_Values.data(), m_Blurred.data(), neighbours, begin, end, S);
      }
    });
    m_Values.swap(m_Blurred);
  }

  const float gain = static_cast<float>(GetKernelGain()) * weight * WeightUnit;
  const float selfWeight = excludeSelf ? weight : 0.0f;
  forEachChunk([&](std::size_t c) {
    const Chunk &                      chunk = m_Chunks[c];
    const crf::LargeVector<uint32_t> & map = chunk.localToGlobal;
    float *                            local = m_LocalValues.data() + chunk.localBase * S;
    for (std::size_t k = 0; k < map.size(); ++k)
    {
      std::copy_n(&m_Values[(static_cast<std::size_t>(map[k]) + 1) * S], S, &local[k * S]);
    }
    DispatchValues(numberOfValues, [&](auto valuesTag) {
      SlicePoints<decltype(valuesTag)::value, V>(&m_Offsets[chunk.first * V],
                                                 &m_Weights[chunk.first * V],
                                                 local,
                                                 input ? input + chunk.first * C : nullptr,
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
