#ifndef torchsegPhantomAnatomy_h
#define torchsegPhantomAnatomy_h

// Internal to TorchSegPhantom: the implicit shapes of the phantom and the painter that rasterizes them.

#include "torchsegPhantomParameters.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

namespace torchseg
{
namespace phantom
{

/** A point or vector in the anatomy frame (mm; x patient left, y posterior, z superior). */
struct Vec3
{
  double x = 0.0;
  double y = 0.0;
  double z = 0.0;
};

inline Vec3
operator+(const Vec3 & a, const Vec3 & b)
{
  return { a.x + b.x, a.y + b.y, a.z + b.z };
}
inline Vec3
operator-(const Vec3 & a, const Vec3 & b)
{
  return { a.x - b.x, a.y - b.y, a.z - b.z };
}
inline Vec3
operator*(const Vec3 & a, double s)
{
  return { a.x * s, a.y * s, a.z * s };
}
inline double
Dot(const Vec3 & a, const Vec3 & b)
{
  return a.x * b.x + a.y * b.y + a.z * b.z;
}
inline double
Length(const Vec3 & a)
{
  return std::sqrt(Dot(a, a));
}
inline Vec3
Normalized(const Vec3 & a)
{
  const double l = Length(a);
  return l > 0.0 ? a * (1.0 / l) : Vec3{ 0.0, 0.0, 1.0 };
}
inline Vec3
Cross(const Vec3 & a, const Vec3 & b)
{
  return { a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x };
}

inline double
Clamp(double v, double low, double high)
{
  return v < low ? low : (v > high ? high : v);
}

/** 0 below e0, 1 above e1, smooth in between (either order of the edges). */
inline double
SmoothStep(double e0, double e1, double x)
{
  const double t = Clamp((x - e0) / (e1 - e0), 0.0, 1.0);
  return t * t * (3.0 - 2.0 * t);
}

/** Polynomial smooth minimum (union of signed distances) with blend radius k. */
inline double
SmoothMin(double a, double b, double k)
{
  const double h = std::max(k - std::abs(a - b), 0.0) / k;
  return std::min(a, b) - h * h * k * 0.25;
}
inline double
SmoothMax(double a, double b, double k)
{
  return -SmoothMin(-a, -b, k);
}

/** atan2 to about 1e-5 rad, with arithmetic only (fast, and the same everywhere). */
double
FastAtan2(double y, double x);

/** Axis-aligned box in the anatomy frame. */
struct Box
{
  Vec3 lo{ std::numeric_limits<double>::infinity(),
           std::numeric_limits<double>::infinity(),
           std::numeric_limits<double>::infinity() };
  Vec3 hi{ -std::numeric_limits<double>::infinity(),
           -std::numeric_limits<double>::infinity(),
           -std::numeric_limits<double>::infinity() };

  static Box
  Everything();
  static Box
  Around(const Vec3 & c, const Vec3 & halfExtent);
  void
  Include(const Vec3 & p);
  void
  Include(const Box & b);
  Box
  Expanded(double margin) const;
  Box
  Intersected(const Box & b) const;
  bool
  IsEmpty() const
  {
    return !(lo.x <= hi.x && lo.y <= hi.y && lo.z <= hi.z);
  }
  bool
  Contains(const Vec3 & p) const
  {
    return p.x >= lo.x && p.x <= hi.x && p.y >= lo.y && p.y <= hi.y && p.z >= lo.z && p.z <= hi.z;
  }
  /** The voxel indices [i0, i1] of the row start + i * step inside the box; false when none in [0, n). */
  bool
  RowRange(const Vec3 & start, const Vec3 & step, int n, int & i0, int & i1) const;
};

/** Smooth value noise in [-1, 1] with features of about \a wavelength mm; a pure function of the point and seed. */
class ValueNoise
{
public:
  ValueNoise() = default;
  ValueNoise(uint64_t seed, double wavelength);
  double
  operator()(const Vec3 & p) const;

private:
  uint64_t m_Seed = 0;
  double   m_Frequency = 1.0;
};

/** Rotation matrix (row-major), mapping shape-local vectors to the anatomy frame. */
struct Rotation
{
  double m[9] = { 1, 0, 0, 0, 1, 0, 0, 0, 1 };

  /** Rotation about z, then y, then x (angles in radians), applied to the local vector. */
  static Rotation
  FromAngles(double aboutX, double aboutY, double aboutZ);
  /** A rotation taking the local z axis to \a axis. */
  static Rotation
  AlignZ(const Vec3 & axis);
  Vec3
  Apply(const Vec3 & v) const
  {
    return { m[0] * v.x + m[1] * v.y + m[2] * v.z,
             m[3] * v.x + m[4] * v.y + m[5] * v.z,
             m[6] * v.x + m[7] * v.y + m[8] * v.z };
  }
  Vec3
  ApplyInverse(const Vec3 & v) const
  {
    return { m[0] * v.x + m[3] * v.y + m[6] * v.z,
             m[1] * v.x + m[4] * v.y + m[7] * v.z,
             m[2] * v.x + m[5] * v.y + m[8] * v.z };
  }
};

/** Approximate signed distance to an ellipsoid (exact on the surface, a bound elsewhere). */
class Ellipsoid
{
public:
  Ellipsoid() = default;
  Ellipsoid(const Vec3 & center, const Vec3 & radii, const Rotation & rotation = Rotation());
  double
  Distance(const Vec3 & p) const;
  Box
  Bounds() const;
  Vec3
  Local(const Vec3 & p) const
  {
    return m_Rotation.ApplyInverse(p - m_Center);
  }

  const Vec3 &
  GetCenter() const
  {
    return m_Center;
  }
  const Vec3 &
  GetRadii() const
  {
    return m_Radii;
  }

private:
  Vec3     m_Center;
  Vec3     m_Radii{ 1, 1, 1 };
  Vec3     m_InverseRadii{ 1, 1, 1 };
  Vec3     m_InverseRadii2{ 1, 1, 1 };
  Rotation m_Rotation;
  bool     m_Rotated = false;
};

/** A tapered capsule from a (radius ra) to b (radius rb). */
struct Segment
{
  Vec3   a;
  Vec3   b;
  double ra = 1.0;
  double rb = 1.0;
  double arcStart = 0.0; //!< arc length of a along its chain
  Vec3   ab;
  double length = 0.0;
  double invLength2 = 0.0;
  Box    bounds;

  Segment() = default;
  Segment(const Vec3 & a, const Vec3 & b, double ra, double rb, double arcStart = 0.0);
  /** Signed distance; \a arc receives the arc length of the nearest axis point. */
  double
  Distance(const Vec3 & p, double * arc = nullptr) const;
};

/** What the painter carries per sample point. */
struct Sample
{
  float   hu = -1000.0f;
  float   liver = 1.0e30f; //!< signed distance to the liver envelope, once the liver is painted
  float   deferred = 0.0f; //!< weight of the deferred texture still visible (see Layer::DeferredTexture)
  uint8_t tissue = 0;
  uint8_t label = 0;
};

struct PaintContext
{
  double width = 1.0;    //!< anti-aliasing width (mm): a boundary ramps over this distance
  double invWidth = 1.0; //!< 1 / width
};

/** Paints a shape of signed distance \a d over the sample with partial-volume coverage (a linear ramp over the
 * anti-aliasing width); the voxel centre's tissue and label are those of the last shape that contains it. Returns
 * the coverage. */
inline double
Composite(Sample & s, double d, double hu, PhantomTissue tissue, uint8_t label, double invWidth)
{
  const double a = 0.5 - d * invWidth;
  if (a <= 0.0)
  {
    return 0.0;
  }
  if (a >= 1.0)
  {
    s.hu = static_cast<float>(hu);
    s.deferred = 0.0f;
  }
  else
  {
    s.hu += static_cast<float>(a * (hu - s.hu));
    s.deferred *= static_cast<float>(1.0 - a);
  }
  if (d < 0.0)
  {
    s.tissue = static_cast<uint8_t>(tissue);
    s.label = label;
  }
  return a < 1.0 ? a : 1.0;
}

/** One entry of the painter's list. */
class Layer
{
public:
  virtual ~Layer() = default;
  /** Paints voxels i0..i1 (inclusive) of the row start + i * step. */
  virtual void
  PaintSpan(const Vec3 & start, const Vec3 & step, int i0, int i1, Sample * samples, const PaintContext & c) const = 0;

  /** A texture whose evaluation a layer defers to the end of the painting, where it is added with the weight the
   * painting left in Sample::deferred (compositing is linear, so this equals painting it in place); it is then only
   * computed where it can be seen. */
  virtual double
  DeferredTexture(const Vec3 &) const
  {
    return 0.0;
  }


  Box bounds = Box::Everything(); //!< nothing outside it is painted
};

/** A layer painted voxel by voxel through TDerived::PaintPoint(p, sample, context). */
template <typename TDerived>
class PointLayer : public Layer
{
public:
  void
  PaintSpan(const Vec3 & start, const Vec3 & step, int i0, int i1, Sample * samples,
            const PaintContext & c) const override
  {
    const auto & self = static_cast<const TDerived &>(*this);
    for (int i = i0; i <= i1; ++i)
    {
      self.PaintPoint(start + step * static_cast<double>(i), samples[i], c);
    }
  }
};

class Torso;
class LiverShape;

/** The anatomy of one case: built from the parameters (tumours placed), then painted row by row. */
class Anatomy
{
public:
  /** \a sceneBounds: the scanned region in the anatomy frame (shapes are only built where they can be seen). */
  Anatomy(const PhantomParameters & parameters, const Box & sceneBounds);
  ~Anatomy();

  /** The parameters with the tumour centres filled in. */
  const PhantomParameters &
  GetParameters() const
  {
    return m_Parameters;
  }

  /** Resets samples[0, n) to air and paints every layer over the row start + i * step. */
  void
  PaintRow(const Vec3 & start, const Vec3 & step, int n, Sample * samples, const PaintContext & c) const;

  /** Signed distance to the liver envelope (before tumours; vessels inside count as liver). */
  double
  LiverDistance(const Vec3 & p) const;

  std::size_t
  GetNumberOfLayers() const
  {
    return m_Layers.size();
  }

private:
  void
  Build(const Box & sceneBounds);
  void
  PlaceTumours();

  PhantomParameters                   m_Parameters;
  std::vector<std::unique_ptr<Layer>> m_Layers;
  const Layer *                       m_Deferred = nullptr; //!< the layer whose texture is deferred
  std::shared_ptr<Torso>              m_Torso;
  std::shared_ptr<LiverShape>         m_Liver;
};

} // namespace phantom
} // namespace torchseg

#endif
