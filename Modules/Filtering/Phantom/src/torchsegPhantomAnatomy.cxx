#include "torchsegPhantomAnatomy.h"

#include "torchsegPhantomRandom.h"

#include "itkMacro.h"

#include <array>
#include <functional>

namespace torchseg
{
namespace phantom
{

namespace
{
constexpr double kPi = 3.14159265358979323846;
constexpr double kInfinity = std::numeric_limits<double>::infinity();

uint64_t
HashMix(uint64_t v)
{
  v ^= v >> 33;
  v *= 0xFF51AFD7ED558CCDULL;
  v ^= v >> 33;
  v *= 0xC4CEB9FE1A85EC53ULL;
  v ^= v >> 33;
  return v;
}

/** Angle difference wrapped to [-pi, pi]. */
double
AngleDifference(double a, double b)
{
  double d = a - b;
  while (d > kPi)
  {
    d -= 2.0 * kPi;
  }
  while (d < -kPi)
  {
    d += 2.0 * kPi;
  }
  return d;
}

/** Approximate signed distance to the ellipse (x/a)^2 + (y/b)^2 = 1. */
inline double
EllipseDistance(double x, double y, double a, double b)
{
  const double k0 = std::sqrt((x / a) * (x / a) + (y / b) * (y / b));
  const double k1 = std::sqrt((x / (a * a)) * (x / (a * a)) + (y / (b * b)) * (y / (b * b)));
  if (k1 < 1.0e-12)
  {
    return -std::min(a, b);
  }
  return k0 * (k0 - 1.0) / k1;
}

} // namespace

double
FastAtan2(double y, double x)
{
  const double ax = std::abs(x);
  const double ay = std::abs(y);
  const double mx = std::max(ax, ay);
  if (mx == 0.0)
  {
    return 0.0;
  }
  const double a = std::min(ax, ay) / mx;
  const double s = a * a;
  double       r =
    a * (0.99997726 + s * (-0.33262347 + s * (0.19354346 + s * (-0.11643287 + s * (0.05265332 + s * -0.01172120)))));
  if (ay > ax)
  {
    r = 0.5 * kPi - r;
  }
  if (x < 0.0)
  {
    r = kPi - r;
  }
  return y < 0.0 ? -r : r;
}

// ----------------------------------------------------------------------------------------------------------------
// Box, noise, rotations, primitives

Box
Box::Everything()
{
  Box b;
  b.lo = { -kInfinity, -kInfinity, -kInfinity };
  b.hi = { kInfinity, kInfinity, kInfinity };
  return b;
}

Box
Box::Around(const Vec3 & c, const Vec3 & h)
{
  Box b;
  b.lo = c - h;
  b.hi = c + h;
  return b;
}

void
Box::Include(const Vec3 & p)
{
  lo = { std::min(lo.x, p.x), std::min(lo.y, p.y), std::min(lo.z, p.z) };
  hi = { std::max(hi.x, p.x), std::max(hi.y, p.y), std::max(hi.z, p.z) };
}

void
Box::Include(const Box & b)
{
  if (!b.IsEmpty())
  {
    this->Include(b.lo);
    this->Include(b.hi);
  }
}

Box
Box::Expanded(double margin) const
{
  Box b = *this;
  b.lo = b.lo - Vec3{ margin, margin, margin };
  b.hi = b.hi + Vec3{ margin, margin, margin };
  return b;
}

Box
Box::Intersected(const Box & o) const
{
  Box b;
  b.lo = { std::max(lo.x, o.lo.x), std::max(lo.y, o.lo.y), std::max(lo.z, o.lo.z) };
  b.hi = { std::min(hi.x, o.hi.x), std::min(hi.y, o.hi.y), std::min(hi.z, o.hi.z) };
  return b;
}

bool
Box::RowRange(const Vec3 & start, const Vec3 & step, int n, int & i0, int & i1) const
{
  double       tMin = 0.0;
  double       tMax = n - 1.0;
  const double s[3] = { start.x, start.y, start.z };
  const double d[3] = { step.x, step.y, step.z };
  const double l[3] = { lo.x, lo.y, lo.z };
  const double h[3] = { hi.x, hi.y, hi.z };
  for (int k = 0; k < 3; ++k)
  {
    if (std::abs(d[k]) < 1.0e-12)
    {
      if (s[k] < l[k] || s[k] > h[k])
      {
        return false;
      }
      continue;
    }
    double t0 = (l[k] - s[k]) / d[k];
    double t1 = (h[k] - s[k]) / d[k];
    if (t0 > t1)
    {
      std::swap(t0, t1);
    }
    tMin = std::max(tMin, t0);
    tMax = std::min(tMax, t1);
    if (tMin > tMax)
    {
      return false;
    }
  }
  i0 = static_cast<int>(std::ceil(tMin));
  i1 = static_cast<int>(std::floor(tMax));
  return i0 <= i1;
}

ValueNoise::ValueNoise(uint64_t seed, double wavelength)
  : m_Seed(HashMix(seed + 0x632BE59BD9B4E019ULL))
  , m_Frequency(1.0 / wavelength)
{}

double
ValueNoise::operator()(const Vec3 & p) const
{
  const double  x = p.x * m_Frequency;
  const double  y = p.y * m_Frequency;
  const double  z = p.z * m_Frequency;
  const double  fx = std::floor(x);
  const double  fy = std::floor(y);
  const double  fz = std::floor(z);
  const int64_t ix = static_cast<int64_t>(fx);
  const int64_t iy = static_cast<int64_t>(fy);
  const int64_t iz = static_cast<int64_t>(fz);
  double        tx = x - fx;
  double        ty = y - fy;
  double        tz = z - fz;
  tx = tx * tx * (3.0 - 2.0 * tx);
  ty = ty * ty * (3.0 - 2.0 * ty);
  tz = tz * tz * (3.0 - 2.0 * tz);
  const uint64_t hx[2] = { static_cast<uint64_t>(ix) * 0x9E3779B97F4A7C15ULL,
                           static_cast<uint64_t>(ix + 1) * 0x9E3779B97F4A7C15ULL };
  const uint64_t hy[2] = { static_cast<uint64_t>(iy) * 0xC2B2AE3D27D4EB4FULL,
                           static_cast<uint64_t>(iy + 1) * 0xC2B2AE3D27D4EB4FULL };
  const uint64_t hz[2] = { static_cast<uint64_t>(iz) * 0x165667B19E3779F9ULL,
                           static_cast<uint64_t>(iz + 1) * 0x165667B19E3779F9ULL };
  double         v[8];
  for (int c = 0; c < 8; ++c)
  {
    // One multiply-xorshift round suffices to decorrelate lattice values (the coordinates are already multiplied).
    uint64_t h = m_Seed ^ hx[c & 1] ^ hy[(c >> 1) & 1] ^ hz[c >> 2];
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 32;
    v[c] = static_cast<double>(h >> 11) * 0x1.0p-52 - 1.0;
  }
  const double x00 = v[0] + tx * (v[1] - v[0]);
  const double x10 = v[2] + tx * (v[3] - v[2]);
  const double x01 = v[4] + tx * (v[5] - v[4]);
  const double x11 = v[6] + tx * (v[7] - v[6]);
  const double y0 = x00 + ty * (x10 - x00);
  const double y1 = x01 + ty * (x11 - x01);
  return y0 + tz * (y1 - y0);
}

Rotation
Rotation::FromAngles(double ax, double ay, double az)
{
  const double cx = std::cos(ax), sx = std::sin(ax);
  const double cy = std::cos(ay), sy = std::sin(ay);
  const double cz = std::cos(az), sz = std::sin(az);
  // Rx * Ry * Rz
  Rotation r;
  r.m[0] = cy * cz;
  r.m[1] = -cy * sz;
  r.m[2] = sy;
  r.m[3] = sx * sy * cz + cx * sz;
  r.m[4] = -sx * sy * sz + cx * cz;
  r.m[5] = -sx * cy;
  r.m[6] = -cx * sy * cz + sx * sz;
  r.m[7] = cx * sy * sz + sx * cz;
  r.m[8] = cx * cy;
  return r;
}

Rotation
Rotation::AlignZ(const Vec3 & axis)
{
  const Vec3 w = Normalized(axis);
  const Vec3 helper = std::abs(w.x) < 0.9 ? Vec3{ 1, 0, 0 } : Vec3{ 0, 1, 0 };
  const Vec3 u = Normalized(Cross(helper, w));
  const Vec3 v = Cross(w, u);
  Rotation   r;
  r.m[0] = u.x;
  r.m[1] = v.x;
  r.m[2] = w.x;
  r.m[3] = u.y;
  r.m[4] = v.y;
  r.m[5] = w.y;
  r.m[6] = u.z;
  r.m[7] = v.z;
  r.m[8] = w.z;
  return r;
}

Ellipsoid::Ellipsoid(const Vec3 & center, const Vec3 & radii, const Rotation & rotation)
  : m_Center(center)
  , m_Radii(radii)
  , m_InverseRadii{ 1.0 / radii.x, 1.0 / radii.y, 1.0 / radii.z }
  , m_InverseRadii2{ 1.0 / (radii.x * radii.x), 1.0 / (radii.y * radii.y), 1.0 / (radii.z * radii.z) }
  , m_Rotation(rotation)
{
  const double * m = rotation.m;
  m_Rotated = !(m[0] == 1.0 && m[4] == 1.0 && m[8] == 1.0);
}

double
Ellipsoid::Distance(const Vec3 & p) const
{
  const Vec3   q = m_Rotated ? this->Local(p) : p - m_Center;
  const double ax = q.x * m_InverseRadii.x, ay = q.y * m_InverseRadii.y, az = q.z * m_InverseRadii.z;
  const double bx = q.x * m_InverseRadii2.x, by = q.y * m_InverseRadii2.y, bz = q.z * m_InverseRadii2.z;
  const double k0 = std::sqrt(ax * ax + ay * ay + az * az);
  const double k1 = std::sqrt(bx * bx + by * by + bz * bz);
  if (k1 < 1.0e-12)
  {
    return -std::min(m_Radii.x, std::min(m_Radii.y, m_Radii.z));
  }
  return k0 * (k0 - 1.0) / k1;
}

Box
Ellipsoid::Bounds() const
{
  const double * m = m_Rotation.m;
  Vec3           h;
  h.x = std::sqrt(m[0] * m[0] * m_Radii.x * m_Radii.x + m[1] * m[1] * m_Radii.y * m_Radii.y +
                  m[2] * m[2] * m_Radii.z * m_Radii.z);
  h.y = std::sqrt(m[3] * m[3] * m_Radii.x * m_Radii.x + m[4] * m[4] * m_Radii.y * m_Radii.y +
                  m[5] * m[5] * m_Radii.z * m_Radii.z);
  h.z = std::sqrt(m[6] * m[6] * m_Radii.x * m_Radii.x + m[7] * m[7] * m_Radii.y * m_Radii.y +
                  m[8] * m[8] * m_Radii.z * m_Radii.z);
  return Box::Around(m_Center, h);
}

Segment::Segment(const Vec3 & a_, const Vec3 & b_, double ra_, double rb_, double arcStart_)
  : a(a_)
  , b(b_)
  , ra(ra_)
  , rb(rb_)
  , arcStart(arcStart_)
  , ab(b_ - a_)
{
  length = Length(ab);
  invLength2 = length > 0.0 ? 1.0 / (length * length) : 0.0;
  bounds = Box::Around(a, { ra, ra, ra });
  bounds.Include(Box::Around(b, { rb, rb, rb }));
}

double
Segment::Distance(const Vec3 & p, double * arc) const
{
  const Vec3   ap = p - a;
  const double t = Clamp(Dot(ap, ab) * invLength2, 0.0, 1.0);
  const Vec3   q = ap - ab * t;
  if (arc)
  {
    *arc = arcStart + t * length;
  }
  return Length(q) - (ra + t * (rb - ra));
}

/** Segments of a polyline through \a points with radii \a radii, arc lengths accumulated. */
std::vector<Segment>
MakeChain(const std::vector<Vec3> & points, const std::vector<double> & radii)
{
  std::vector<Segment> chain;
  double               arc = 0.0;
  for (std::size_t i = 0; i + 1 < points.size(); ++i)
  {
    chain.emplace_back(points[i], points[i + 1], radii[i], radii[i + 1], arc);
    arc += chain.back().length;
  }
  return chain;
}

/** The union distance of a chain of segments (each tested only inside its box). */
double
ChainDistance(const std::vector<Segment> & chain, const Vec3 & p, double margin)
{
  double d = kInfinity;
  for (const Segment & s : chain)
  {
    const Box b = s.bounds.Expanded(margin);
    if (b.Contains(p))
    {
      d = std::min(d, s.Distance(p));
    }
  }
  return d;
}

Box
ChainBounds(const std::vector<Segment> & chain)
{
  Box b;
  for (const Segment & s : chain)
  {
    b.Include(s.bounds);
  }
  return b;
}

// ----------------------------------------------------------------------------------------------------------------
// The torso: body outline, fat, muscle wall, abdominal cavity, diaphragm, spine position. Radii are tabulated over
// (angle, height) so that a point needs one atan2 and a bilinear lookup.

class Torso
{
public:
  struct Radii
  {
    float body;
    float fatInner;
    float cavity;
  };

  Torso(const PhantomParameters & p, double zMin, double zMax)
    : m_Body(p.body)
  {
    PhantomRandom random(PhantomRandom::Mix(p.body.shapeSeed, 21));
    for (double & phase : m_Phases)
    {
      phase = random.Uniform(0.0, 2.0 * kPi);
    }
    for (int k = 0; k < 4; ++k)
    {
      m_Harmonics[k] = random.Uniform(0.0, 0.022) / std::sqrt(k + 1.0);
      m_FatHarmonics[k] = random.Uniform(0.0, 0.12);
    }
    m_PosteriorFlattening = random.Uniform(0.88, 0.96);
    m_PosteriorSquareness = random.Uniform(0.5, 1.5);
    const double W = m_Body.halfWidth;
    const double D = m_Body.halfDepth;
    const double F = m_Body.subcutaneousFat;
    const double M = m_Body.muscleThickness;
    m_SizeScale = std::sqrt(W / 158.0);
    m_CavityHalfWidth = W - m_Body.skinThickness - 1.15 * F - 1.3 * M;
    m_CavityHalfDepth = D - m_Body.skinThickness - 0.75 * F - M;
    m_SpineDepth = random.Uniform(58.0, 70.0) * std::sqrt(D / 115.0);
    m_SpineBase = D * m_PosteriorFlattening - m_Body.skinThickness - 0.75 * F - m_SpineDepth;
    m_DiaphragmFloor = random.Uniform(-108.0, -92.0);
    m_AnteriorFloor = random.Uniform(-65.0, -50.0);
    m_DomeHeight = random.Uniform(65.0, 85.0);

    m_Z0 = kZStep * std::floor(zMin / kZStep) - 4.0;
    m_NumberOfZ = static_cast<int>(std::ceil((zMax - m_Z0) / kZStep)) + 3;
    m_Table.resize(static_cast<std::size_t>(m_NumberOfZ) * kAngles);
    for (int iz = 0; iz < m_NumberOfZ; ++iz)
    {
      const double z = m_Z0 + iz * kZStep;

      for (int ia = 0; ia < kAngles; ++ia)
      {
        const double theta = -kPi + 2.0 * kPi * ia / kAngles;
        const double body = this->BodyRadius(theta, z);
        const double fatInner = body - m_Body.skinThickness - this->FatThickness(theta, z);
        const double c = std::cos(theta);
        const double anterior = AngleDifference(theta, -0.5 * kPi);
        const double muscle = M * (1.0 + 0.3 * c * c) * (1.0 - 0.35 * std::exp(-(anterior * anterior) / (0.02 * 0.02)));
        const double cavity = std::max(fatInner - muscle, 0.3 * body);
        m_Table[static_cast<std::size_t>(iz) * kAngles + ia] = { static_cast<float>(body),
                                                                 static_cast<float>(std::max(fatInner, 0.4 * body)),
                                                                 static_cast<float>(cavity) };
      }
    }
    // The back rests flat on the table, slightly inside the narrowest back along the abdomen.
    m_BackPlane = kInfinity;
    for (double z = -300.0; z <= 40.0; z += 10.0)
    {
      m_BackPlane = std::min(m_BackPlane, this->BodyRadius(0.5 * kPi, z));
    }
    m_BackPlane -= random.Uniform(1.0, 6.0);
  }

  /** The posterior abdominal wall (psoas, quadratus lumborum, paraspinal muscles): the cavity lies anterior to
   * y = PosteriorWall(x, z); \a slope receives dy/dx. */
  double
  PosteriorWall(double x, double z, double & slope) const
  {
    const double x0 = this->SpineHalfWidth(z) + 6.0;
    const double k = 0.01;
    const double ax = std::abs(x) - x0;
    const double y0 = this->SpineY(z) + 0.3 * this->SpineHalfDepth(z);
    if (ax <= 0.0)
    {
      slope = 0.0;
      return y0;
    }
    slope = (x < 0.0 ? -2.0 : 2.0) * k * ax;
    return y0 + k * ax * ax;
  }

  /** The abdominal cavity's posterior limit: the posterior abdominal wall below the first lumbar vertebra, the
   * spine-hugging limit of the thorax above it (the liver's bare area lies on the diaphragm there). */
  double
  PosteriorWallDistance(const Vec3 & p) const
  {
    const double w = SmoothStep(-85.0, -135.0, p.z);
    if (w <= 0.0)
    {
      return this->ThoracicPosteriorDistance(p);
    }
    double       slope;
    const double y = this->PosteriorWall(p.x, p.z, slope);
    const double abdominal = (p.y - y) / std::sqrt(1.0 + slope * slope);
    return w >= 1.0 ? abdominal : w * abdominal + (1.0 - w) * this->ThoracicPosteriorDistance(p);
  }

  /** Above the diaphragm the lungs reach around the vertebral bodies into the paravertebral gutters. */
  double
  ThoracicPosteriorDistance(const Vec3 & p) const
  {
    const double hw = this->SpineHalfWidth(p.z);
    const double ax = std::max(std::abs(p.x) - (hw - 4.0), 0.0);
    const double y = this->SpineY(p.z) + 0.5 * this->SpineHalfDepth(p.z) + 0.05 * ax * ax;
    const double slope = 0.1 * ax;
    return (p.y - y) / std::sqrt(1.0 + slope * slope);
  }

  /** The plane the patient's back is flattened on (the table top). */
  double
  BackPlane() const
  {
    return m_BackPlane;
  }

  Radii
  Lookup(double theta, double z) const
  {
    const double  t = (theta + kPi) * (kAngles / (2.0 * kPi));
    const double  ft = std::floor(t);
    const int     a0 = static_cast<int>(ft) & (kAngles - 1);
    const int     a1 = (a0 + 1) & (kAngles - 1);
    const double  wa = t - ft;
    const double  u = Clamp((z - m_Z0) / kZStep, 0.0, m_NumberOfZ - 1.001);
    const int     z0 = static_cast<int>(u);
    const double  wz = u - z0;
    const Radii * r0 = &m_Table[static_cast<std::size_t>(z0) * kAngles];
    const Radii * r1 = r0 + kAngles;
    const float   w00 = static_cast<float>((1.0 - wa) * (1.0 - wz)), w01 = static_cast<float>(wa * (1.0 - wz));
    const float   w10 = static_cast<float>((1.0 - wa) * wz), w11 = static_cast<float>(wa * wz);
    return { w00 * r0[a0].body + w01 * r0[a1].body + w10 * r1[a0].body + w11 * r1[a1].body,
             w00 * r0[a0].fatInner + w01 * r0[a1].fatInner + w10 * r1[a0].fatInner + w11 * r1[a1].fatInner,
             w00 * r0[a0].cavity + w01 * r0[a1].cavity + w10 * r1[a0].cavity + w11 * r1[a1].cavity };
  }

  double
  CavityDistance(const Vec3 & p) const
  {
    const double r = std::sqrt(p.x * p.x + p.y * p.y);
    return std::max(r - this->Lookup(FastAtan2(p.y, p.x), p.z).cavity, this->PosteriorWallDistance(p));
  }

  /** Height of the diaphragm above (x, y); \a gx, \a gy receive its slope. Flat-topped domes (quartic) that fall
   * steeply into the costophrenic recesses, deepest at the back. */
  double
  DiaphragmHeight(double x, double y, double & gx, double & gy) const
  {
    const double ac = m_CavityHalfWidth, bc = m_CavityHalfDepth;
    const double sx = 0.6 * ac, sy = 0.9 * bc;
    const double xr = (x + 0.42 * ac) / sx, yr = (y + 0.05 * bc) / sy;
    const double xl = (x - 0.42 * ac) / sx;
    const double rr = xr * xr + yr * yr, rl = xl * xl + yr * yr;
    const double right = -m_DomeHeight * rr * rr;
    const double left = -m_Body.leftDomeDrop - m_DomeHeight * rl * rl;
    const double h = SmoothMax(right, left, 20.0);
    const bool   rightWins = right >= left;
    const double rho2 = rightWins ? rr : rl;
    gx = -4.0 * m_DomeHeight * rho2 * (rightWins ? xr : xl) / sx;
    gy = -4.0 * m_DomeHeight * rho2 * yr / sy;
    const double t = SmoothStep(-0.9 * bc, 0.6 * bc, y);
    const double floor = m_AnteriorFloor + (m_DiaphragmFloor - m_AnteriorFloor) * t;
    if (h < floor)
    {
      gx = 0.0;
      gy = (m_DiaphragmFloor - m_AnteriorFloor) * 6.0 * t * (1.0 - t) / (1.5 * bc);
    }
    return SmoothMax(h, floor, 15.0);
  }

  /** Signed distance to the diaphragm's surface: positive above it (thorax), negative below (abdomen). */
  double
  DiaphragmDistance(const Vec3 & p) const
  {
    double       gx, gy;
    const double h = this->DiaphragmHeight(p.x, p.y, gx, gy);
    return (p.z - h) / std::sqrt(1.0 + gx * gx + gy * gy);
  }

  /** Vertebral body centre (y) and half sizes along the spine. */
  double
  SpineY(double z) const
  {
    return m_SpineBase - 6.0 * SmoothStep(-120.0, -260.0, z) + 4.0 * SmoothStep(-60.0, 60.0, z);
  }
  double
  SpineHalfWidth(double z) const
  {
    return (17.0 + 7.0 * SmoothStep(-60.0, -160.0, z)) * m_SizeScale;
  }
  double
  SpineHalfDepth(double z) const
  {
    return (13.5 + 4.0 * SmoothStep(-60.0, -160.0, z)) * m_SizeScale;
  }

  double
  CavityHalfWidth() const
  {
    return m_CavityHalfWidth;
  }
  double
  CavityHalfDepth() const
  {
    return m_CavityHalfDepth;
  }
  double
  SizeScale() const
  {
    return m_SizeScale;
  }
  /** The body's largest extent, for bounding boxes. */
  Box
  BodyBounds() const
  {
    return Box{ { -1.25 * m_Body.halfWidth, -1.3 * m_Body.halfDepth, -kInfinity },
                { 1.25 * m_Body.halfWidth, 1.3 * m_Body.halfDepth, kInfinity } };
  }
  double
  BodyRadius(double theta, double z) const
  {
    const double c = std::cos(theta), s = std::sin(theta);
    const double a = m_Body.halfWidth * (1.0 + 0.035 * std::sin(2.0 * kPi * z / 360.0 + m_Phases[0]) +
                                         0.015 * std::sin(2.0 * kPi * z / 150.0 + m_Phases[1]));
    const double b = m_Body.halfDepth * (1.0 + 0.03 * std::sin(2.0 * kPi * z / 300.0 + m_Phases[2]));
    const double post = std::max(s, 0.0);
    const double bb = b * (1.0 - (1.0 - m_PosteriorFlattening) * post);
    const double n = m_Body.squareness + m_PosteriorSquareness * post;
    double       r = std::pow(std::pow(std::abs(c) / a, n) + std::pow(std::abs(s) / bb, n), -1.0 / n);
    double       h = 0.0;
    for (int k = 0; k < 4; ++k)
    {
      h += m_Harmonics[k] * std::cos((k + 2) * theta + m_Phases[3 + k] +
                                     0.8 * std::sin(2.0 * kPi * z / (180.0 + 60.0 * k) + m_Phases[7 + k]));
    }
    return r * (1.0 + h);
  }

  double
  FatThickness(double theta, double z) const
  {
    const double c = std::cos(theta), s = std::sin(theta);
    double       profile = 0.75 + 0.4 * c * c + 0.35 * std::max(0.0, -s) * SmoothStep(-60.0, -250.0, z);
    double       h = 0.0;
    for (int k = 0; k < 4; ++k)
    {
      h += m_FatHarmonics[k] * std::cos((k + 1) * theta + m_Phases[11 + k] + 0.01 * z);
    }
    return m_Body.subcutaneousFat * profile * (1.0 + 0.5 * h);
  }

private:
  static constexpr int    kAngles = 512; // a power of two: the angle index wraps with a mask
  static constexpr double kZStep = 2.0;

  PhantomBody            m_Body;
  std::array<double, 16> m_Phases{};
  double                 m_Harmonics[4] = {};
  double                 m_FatHarmonics[4] = {};
  double                 m_PosteriorFlattening = 0.92;
  double                 m_PosteriorSquareness = 1.0;
  double                 m_SizeScale = 1.0;
  double                 m_CavityHalfWidth = 100.0;
  double                 m_CavityHalfDepth = 80.0;
  double                 m_SpineDepth = 62.0;
  double                 m_SpineBase = 20.0;
  double                 m_DiaphragmFloor = -100.0;
  double                 m_AnteriorFloor = -55.0;
  double                 m_BackPlane = 100.0;
  double                 m_DomeHeight = 75.0;
  double                 m_Z0 = 0.0;
  int                    m_NumberOfZ = 0;
  std::vector<Radii>     m_Table;
};

// ----------------------------------------------------------------------------------------------------------------
// Layers

namespace
{

/** Mean HU of a tissue in this case. */
struct TissueTable
{
  std::array<float, NumberOfPhantomTissues> hu{};
  double
  operator()(PhantomTissue t) const
  {
    return hu[static_cast<unsigned int>(t)];
  }
};

/** Skin, subcutaneous fat, muscle wall, ribs, and the cavity's visceral fat (abdomen) or lung (thorax). */
class TorsoLayer : public PointLayer<TorsoLayer>
{
public:
  TorsoLayer(std::shared_ptr<const Torso> torso, const PhantomParameters & p, const TissueTable & hu)
    : m_Torso(std::move(torso))
    , m_HU(hu)
    , m_Skin(p.body.skinThickness)
  {
    bounds = m_Torso->BodyBounds();
    PhantomRandom random(PhantomRandom::Mix(p.body.shapeSeed, 31));
    m_FatTexture = ValueNoise(random.Next(), 9.0);
    m_Mesentery = ValueNoise(random.Next(), 6.0);
    m_LungTexture = ValueNoise(random.Next(), 12.0);
    m_LungVessels = ValueNoise(random.Next(), 5.0);
    m_DiaphragmHalf = 0.5 * random.Uniform(3.0, 5.0);
    m_LowestRib = random.Uniform(-118.0, -95.0);
    m_RibSpacing = random.Uniform(23.0, 28.0) * m_Torso->SizeScale();
    m_RibDrop = random.Uniform(130.0, 180.0);
    m_FatPlane = random.Uniform(0.6, 1.6);
    m_RibHalfThickness = random.Uniform(3.0, 4.0);
    m_RibHalfHeight = random.Uniform(4.5, 6.0);
    const double sz = m_Torso->SizeScale();
    m_ErectorHalfWidth = random.Uniform(24.0, 32.0) * sz;
    m_ErectorHalfDepth = random.Uniform(20.0, 26.0) * sz;
    m_ErectorX = m_ErectorHalfWidth + random.Uniform(4.0, 8.0);
    m_ErectorDepth = random.Uniform(36.0, 44.0) * sz + m_ErectorHalfDepth * 0.6;
    // Mesenteric vessels and nodes: bright dots in the fat, brighter with contrast.
    m_MesentericHU = 0.5 * (hu(PhantomTissue::Artery) + hu(PhantomTissue::PortalVein)) - 30.0;
  }

  double
  GetDiaphragmHalfThickness() const
  {
    return m_DiaphragmHalf;
  }

  /** Visceral fat: strands, and mesenteric vessels and nodes (dots brighter with contrast). */
  double
  DeferredTexture(const Vec3 & p) const override
  {
    const double n = m_Mesentery(p);
    return 6.0 * m_FatTexture(p) + 0.7 * SmoothStep(0.58, 0.8, n) * (m_MesentericHU - m_HU(PhantomTissue::VisceralFat));
  }

  void
  PaintPoint(const Vec3 & p, Sample & s, const PaintContext & c) const
  {
    const double r = std::sqrt(p.x * p.x + p.y * p.y);
    const double theta = FastAtan2(p.y, p.x);
    const auto   R = m_Torso->Lookup(theta, p.z);
    const double dBody = std::max(r - R.body, p.y - m_Torso->BackPlane());
    if (dBody > 0.5 * c.width)
    {
      return;
    }
    const double iw = c.invWidth;
    const double half = 0.5 * c.width;
    const double dMuscle = r - R.fatInner;
    const double dWall = r - R.cavity;
    double       dAbdomen = kInfinity, dThorax = kInfinity;
    if (dWall < half)
    {
      const double dd = m_Torso->DiaphragmDistance(p);
      dAbdomen = std::max({ dWall, m_Torso->PosteriorWallDistance(p), dd + m_DiaphragmHalf });
      dThorax = std::max({ dWall, m_Torso->ThoracicPosteriorDistance(p), m_DiaphragmHalf - dd });
    }
    // Layers that an inner one covers completely are not painted.
    if (dMuscle > -half)
    {
      Composite(s, dBody, m_HU(PhantomTissue::Skin), PhantomTissue::Skin, 0, iw);
      const double dFat = dBody + m_Skin;
      if (dFat < half)
      {
        Composite(
          s, dFat, m_HU(PhantomTissue::SubcutaneousFat) + 8.0 * m_FatTexture(p), PhantomTissue::SubcutaneousFat, 0, iw);
      }
    }
    if (dMuscle >= half)
    {
      return;
    }
    if (std::min(dAbdomen, dThorax) > -half)
    {
      Composite(s, dMuscle, m_HU(PhantomTissue::Muscle), PhantomTissue::Muscle, 0, iw);
      // The flank's three muscles (external and internal oblique, transversus) are separated by thin fat planes.
      const double lateral = std::abs(std::cos(theta));
      if (lateral > 0.55 && dWall > -half)
      {
        const double thickness = R.fatInner - R.cavity;
        for (const double f : { 0.36, 0.68 })
        {
          const double plane = std::abs(r - (R.fatInner - f * thickness)) - 0.5 * m_FatPlane;
          Composite(s,
                    std::max(plane, 0.6 - (lateral - 0.55) * 8.0),
                    m_HU(PhantomTissue::VisceralFat),
                    PhantomTissue::VisceralFat,
                    0,
                    iw);
        }
      }
    }
    if (dAbdomen < half)
    {
      // The fat's texture is deferred: organs cover most of it.
      const double a = Composite(s, dAbdomen, m_HU(PhantomTissue::VisceralFat), PhantomTissue::VisceralFat, 0, iw);
      s.deferred += static_cast<float>(a);
    }
    if (dThorax < half)
    {
      const double v = m_LungVessels(p);
      const double hu = m_HU(PhantomTissue::Lung) + 25.0 * m_LungTexture(p) + SmoothStep(0.5, 0.8, v) * 650.0;
      Composite(s, dThorax, hu, PhantomTissue::Lung, 0, iw);
    }
    // Erector spinae on both sides of the spinous processes, behind the ribs.
    const double yb = m_Torso->SpineY(p.z);
    const double ey = yb + m_ErectorDepth;
    if (std::abs(p.y - ey) < m_ErectorHalfDepth + c.width)
    {
      const double d = EllipseDistance(std::abs(p.x) - m_ErectorX, p.y - ey, m_ErectorHalfWidth, m_ErectorHalfDepth);
      Composite(s, std::max(d, dMuscle), m_HU(PhantomTissue::Muscle), PhantomTissue::Muscle, 0, iw);
    }
    this->PaintRibs(p, r, theta, R, s, c);
  }

private:
  void
  PaintRibs(const Vec3 & p, double r, double theta, const Torso::Radii & R, Sample & s, const PaintContext & c) const
  {
    const double phi = AngleDifference(theta, 0.5 * kPi); // 0 at the back, +-pi at the front
    const double absPhi = std::abs(phi);
    if (absPhi < 0.5)
    {
      return; // the spine's region
    }
    const double hr = m_RibHalfThickness;
    const double rc = std::min(std::max(R.cavity + hr + 0.5, R.fatInner - 35.0), R.fatInner - hr - 1.0);
    if (std::abs(r - rc) > hr + c.width)
    {
      return;
    }
    const double drop = m_RibDrop * (absPhi - 0.5) / kPi;
    const double u = (p.z - m_LowestRib + drop) / m_RibSpacing;
    const int    first = static_cast<int>(std::floor(u));
    for (int m = first; m <= first + 1; ++m)
    {
      if (m < 0 || m > 8)
      {
        continue;
      }
      const double extent = m == 0 ? 1.25 : (m == 1 ? 1.75 : (m < 5 ? 2.55 : 2.8));
      if (absPhi > extent)
      {
        continue;
      }
      const double zc = m_LowestRib + m * m_RibSpacing - drop;
      const double taper = SmoothStep(extent, extent - 0.15, absPhi);
      const double d =
        EllipseDistance(r - rc, p.z - zc, hr * (0.6 + 0.4 * taper), m_RibHalfHeight * (0.7 + 0.3 * taper));
      if (d > 0.5 * c.width)
      {
        continue;
      }
      const bool cartilage = m >= 2 && absPhi > extent - 0.6;
      if (cartilage)
      {
        Composite(s, d, m_HU(PhantomTissue::CostalCartilage), PhantomTissue::CostalCartilage, 0, c.invWidth);
      }
      else
      {
        Composite(s, d, m_HU(PhantomTissue::CorticalBone), PhantomTissue::CorticalBone, 0, c.invWidth);
        Composite(s, d + 1.2, m_HU(PhantomTissue::CancellousBone), PhantomTissue::CancellousBone, 0, c.invWidth);
      }
    }
  }

  std::shared_ptr<const Torso> m_Torso;
  TissueTable                  m_HU;
  double                       m_Skin;
  ValueNoise                   m_FatTexture;
  ValueNoise                   m_Mesentery;
  ValueNoise                   m_LungTexture;
  ValueNoise                   m_LungVessels;
  double                       m_DiaphragmHalf = 2.0;
  double                       m_LowestRib = -105.0;
  double                       m_RibSpacing = 25.0;
  double                       m_RibDrop = 70.0;
  double                       m_RibHalfThickness = 3.5;
  double                       m_RibHalfHeight = 6.0;
  double                       m_FatPlane = 1.0;
  double                       m_MesentericHU = 100.0;
  double                       m_ErectorHalfWidth = 28.0;
  double                       m_ErectorHalfDepth = 22.0;
  double                       m_ErectorX = 34.0;
  double                       m_ErectorDepth = 50.0;
};

/** The CT couch under the patient: two thin curved plates. */
class TableLayer : public PointLayer<TableLayer>
{
public:
  TableLayer(double topY, double hu)
    : m_Top(topY)
    , m_HU(hu)
  {
    bounds = Box{ { -240.0, topY - 3.0, -kInfinity }, { 240.0, topY + 70.0, kInfinity } };
  }
  void
  PaintPoint(const Vec3 & p, Sample & s, const PaintContext & c) const
  {
    const double curve = m_Top + 0.0004 * p.x * p.x;
    const double side = std::abs(p.x) - 230.0;
    const double top = std::max(std::abs(p.y - curve) - 1.5, side);
    const double bottom = std::max(std::abs(p.y - curve - 35.0) - 2.0, side);
    Composite(s, std::min(top, bottom), m_HU, PhantomTissue::Table, 0, c.invWidth);
  }

private:
  double m_Top;
  double m_HU;
};

/** Psoas muscles: elliptic cylinders beside the lumbar vertebrae, growing towards the pelvis. */
class PsoasLayer : public PointLayer<PsoasLayer>
{
public:
  PsoasLayer(std::shared_ptr<const Torso> torso, double hu, double size)
    : m_Torso(std::move(torso))
    , m_HU(hu)
    , m_Size(size)
  {
    const double y = m_Torso->SpineY(-200.0);
    bounds = Box{ { -30.0 - 3.0 * size, y - 2.0 * size, -kInfinity }, { 30.0 + 3.0 * size, y + 2.0 * size, -85.0 } };
  }
  void
  PaintPoint(const Vec3 & p, Sample & s, const PaintContext & c) const
  {
    const double ax = m_Size * SmoothStep(-90.0, -230.0, p.z);
    if (ax < 1.0)
    {
      return;
    }
    const double ay = 0.85 * ax;
    const double cx = m_Torso->SpineHalfWidth(p.z) + 0.75 * ax;
    const double cy = m_Torso->SpineY(p.z) + 2.0;
    const double d = EllipseDistance(std::abs(p.x) - cx, p.y - cy, ax, ay);
    Composite(s, d, m_HU, PhantomTissue::Muscle, 0, c.invWidth);
  }

private:
  std::shared_ptr<const Torso> m_Torso;
  double                       m_HU;
  double                       m_Size;
};

/** Vertebral column: bodies with cortical shell and cancellous core, discs, canal, neural arch, processes. */
class SpineLayer : public PointLayer<SpineLayer>
{
public:
  SpineLayer(std::shared_ptr<const Torso> torso, const TissueTable & hu, PhantomRandom & random)
    : m_Torso(std::move(torso))
    , m_HU(hu)
  {
    m_Period = random.Uniform(27.0, 33.0) * m_Torso->SizeScale();
    m_Disc = random.Uniform(6.0, 9.0);
    m_Phase = random.Uniform(0.0, m_Period);
    m_CanalRadius = random.Uniform(7.5, 9.5);
    m_SpinousLength = random.Uniform(28.0, 40.0);
    // Around the spine's line (its y varies by 10 mm along the body).
    const double y = m_Torso->SpineY(-100.0);
    bounds = Box{ { -66.0, y - 45.0, -kInfinity }, { 66.0, y + 110.0, kInfinity } };
  }

  void
  PaintPoint(const Vec3 & p, Sample & s, const PaintContext & c) const
  {
    const double yb = m_Torso->SpineY(p.z);
    const double hw = m_Torso->SpineHalfWidth(p.z);
    const double hd = m_Torso->SpineHalfDepth(p.z);
    const double dx = p.x, dy = p.y - yb;
    if (dy < -hd - 3.0 || std::abs(dx) > 65.0)
    {
      return;
    }
    const double iw = c.invWidth;
    const double ellipse = EllipseDistance(dx, dy, hw, hd);
    // Position within the vertebra: u in [-P/2, P/2), the disc around |u| = P/2.
    const double zz = p.z - m_Phase;
    const double u = zz - m_Period * std::floor(zz / m_Period) - 0.5 * m_Period;
    const double bodyHalf = 0.5 * (m_Period - m_Disc);
    if (ellipse < 0.5 * c.width + 1.0)
    {
      Composite(s, ellipse - 0.8, m_HU(PhantomTissue::IntervertebralDisc), PhantomTissue::IntervertebralDisc, 0, iw);
      const double dBody = SmoothMax(ellipse, std::abs(u) - bodyHalf, 2.0);
      Composite(s, dBody, m_HU(PhantomTissue::CorticalBone), PhantomTissue::CorticalBone, 0, iw);
      Composite(s, dBody + 1.3, m_HU(PhantomTissue::CancellousBone), PhantomTissue::CancellousBone, 0, iw);
    }
    // Neural arch around the canal, shifted up within the vertebra (the foramina lie at the disc level).
    const double cy = hd + m_CanalRadius + 1.0;
    const double ry = dy - cy;
    const double rho = std::sqrt(dx * dx + ry * ry);
    const double ua = u - 0.12 * m_Period;
    const double archHalf = 0.36 * m_Period;
    const double ring = std::abs(rho - m_CanalRadius - 3.5) - 3.5;
    // Spinous process: a plate running back and down from the arch.
    const double along = ry - m_CanalRadius - 4.0;
    const double spinous =
      std::max(std::max(std::abs(dx) - 3.5, std::abs(along - 0.5 * m_SpinousLength) - 0.5 * m_SpinousLength),
               std::abs(ua + 0.35 * along) - 0.22 * m_Period);
    double posterior = std::max(ring, std::abs(ua) - archHalf);
    posterior = std::min(posterior, spinous);
    // Transverse processes, lumbar.
    if (p.z < -95.0)
    {
      const double transverse = std::max(
        std::max(std::abs(std::abs(dx) - 0.5 * (hw + 38.0)) - 0.5 * (38.0 - hw + 8.0), std::abs(ry + 2.0) - 4.0),
        std::abs(ua) - 0.18 * m_Period);
      posterior = std::min(posterior, transverse);
    }
    if (posterior < 0.5 * c.width)
    {
      Composite(s, posterior, m_HU(PhantomTissue::CorticalBone), PhantomTissue::CorticalBone, 0, iw);
      Composite(s, posterior + 1.3, m_HU(PhantomTissue::CancellousBone), PhantomTissue::CancellousBone, 0, iw);
    }
    const double canal = rho - m_CanalRadius;
    if (canal < 0.5 * c.width)
    {
      Composite(s, canal, m_HU(PhantomTissue::SpinalCanal), PhantomTissue::SpinalCanal, 0, iw);
    }
  }

private:
  std::shared_ptr<const Torso> m_Torso;
  TissueTable                  m_HU;
  double                       m_Period = 30.0;
  double                       m_Disc = 7.0;
  double                       m_Phase = 0.0;
  double                       m_CanalRadius = 8.5;
  double                       m_SpinousLength = 35.0;
};

/** Tubes along chains of segments: vessels (solid) or bowel (wall, contents, gas). */
class TubeLayer : public Layer
{
public:
  enum class Contents
  {
    Solid,
    Fluid,
    Stool
  };

  std::vector<Segment>         segments;
  PhantomTissue                tissue = PhantomTissue::Artery;
  double                       hu = 0.0;
  uint8_t                      label = 0;
  bool                         clipToLiver = false;
  std::shared_ptr<const Torso> clipToCavity; //!< bowel stays inside the abdominal cavity
  Contents                     contents = Contents::Solid;
  double                       wall = 0.0; //!< wall thickness (bowel)
  double                       wallHU = 0.0;
  PhantomTissue                lumenTissue = PhantomTissue::LumenFluid;
  double                       lumenHU = 0.0;
  double                       gasLevel = -kInfinity; //!< gas fills the lumen anterior to this y (supine patient)
  double                       gasHU = -1000.0;
  double                       gasFraction = 0.0; //!< stool: fraction of the lumen with gas pockets
  double                       haustra = 0.0;     //!< relative radius modulation along the colon
  double                       haustraPeriod = 30.0;
  double                       lobulation = 0.0; //!< mm, surface noise (pancreas)
  ValueNoise                   noise;
  ValueNoise                   noise2;

  void
  Finalize()
  {
    bounds = ChainBounds(segments).Expanded(lobulation + 2.0);
  }

  void
  PaintSpan(const Vec3 & start, const Vec3 & step, int i0, int i1, Sample * samples,
            const PaintContext & c) const override
  {
    struct Active
    {
      const Segment * segment;
      int             first;
      int             last;
    };
    // Only the segments whose boxes this row crosses.
    thread_local std::vector<Active> active;
    active.clear();
    const double margin = 0.5 * c.width + lobulation + 1.0;
    for (const Segment & seg : segments)
    {
      int a, b;
      if (seg.bounds.Expanded(margin + seg.rb * haustra + seg.ra * haustra).RowRange(start, step, i1 + 1, a, b))
      {
        a = std::max(a, i0);
        if (a <= b)
        {
          active.push_back({ &seg, a, b });
        }
      }
    }
    const std::size_t count = active.size();
    if (count == 0)
    {
      return;
    }
    for (int i = i0; i <= i1; ++i)
    {
      const Vec3 p = start + step * static_cast<double>(i);
      double     d = kInfinity;
      double     arc = 0.0;
      double     radius = 0.0;
      for (std::size_t k = 0; k < count; ++k)
      {
        if (i < active[k].first || i > active[k].last)
        {
          continue;
        }
        double       a;
        const double dk = active[k].segment->Distance(p, &a);
        if (dk < d)
        {
          d = dk;
          arc = a;
          radius = active[k].segment->ra;
        }
      }
      if (d > margin + radius * haustra)
      {
        continue;
      }
      if (haustra > 0.0)
      {
        d -= radius * haustra * std::cos(2.0 * kPi * arc / haustraPeriod);
      }
      if (lobulation > 0.0)
      {
        d += lobulation * noise(p);
      }
      this->PaintTube(p, d, samples[i], c);
    }
  }

private:
  void
  PaintTube(const Vec3 & p, double d, Sample & s, const PaintContext & c) const
  {
    if (clipToLiver)
    {
      d = std::max(d, static_cast<double>(s.liver));
    }
    if (clipToCavity)
    {
      d = std::max(d, clipToCavity->CavityDistance(p) + 2.0);
    }
    if (d > 0.5 * c.width)
    {
      return;
    }
    const double iw = c.invWidth;
    if (contents == Contents::Solid)
    {
      Composite(s, d, hu, tissue, label, iw);
      return;
    }
    Composite(s, d, wallHU, PhantomTissue::BowelWall, 0, iw);
    const double dl = d + wall;
    if (dl > 0.5 * c.width)
    {
      return;
    }
    if (contents == Contents::Fluid)
    {
      Composite(s, dl, lumenHU, lumenTissue, 0, iw);
    }
    else
    {
      Composite(s, dl, lumenHU + 60.0 * noise(p), PhantomTissue::Stool, 0, iw);
      const double g = noise2(p);
      const double threshold = 1.0 - 2.0 * gasFraction;
      Composite(s, std::max(dl, (threshold - g) * 12.0), gasHU, PhantomTissue::LumenGas, 0, iw);
    }
    if (gasLevel > -kInfinity)
    {
      Composite(s, std::max(dl, p.y - gasLevel), gasHU, PhantomTissue::LumenGas, 0, iw);
    }
  }
};

/** Small spheres (calcifications, gallstones). */
class SphereLayer : public PointLayer<SphereLayer>
{
public:
  SphereLayer(const Vec3 & c, double r, double hu, PhantomTissue tissue)
    : m_Center(c)
    , m_Radius(r)
    , m_HU(hu)
    , m_Tissue(tissue)
  {
    bounds = Box::Around(c, { r + 2.0, r + 2.0, r + 2.0 });
  }
  void
  PaintPoint(const Vec3 & p, Sample & s, const PaintContext & c) const
  {
    Composite(s, Length(p - m_Center) - m_Radius, m_HU, m_Tissue, 0, c.invWidth);
  }

private:
  Vec3          m_Center;
  double        m_Radius;
  double        m_HU;
  PhantomTissue m_Tissue;
};

/** Heart above the central diaphragm: pericardial fat, myocardium, blood pool. */
class HeartLayer : public PointLayer<HeartLayer>
{
public:
  HeartLayer(std::shared_ptr<const Torso> torso, const Ellipsoid & outer, const Ellipsoid & inner,
             const TissueTable & hu)
    : m_Torso(std::move(torso))
    , m_Outer(outer)
    , m_Inner(inner)
    , m_HU(hu)
  {
    bounds = outer.Bounds().Expanded(8.0);
  }
  void
  PaintPoint(const Vec3 & p, Sample & s, const PaintContext & c) const
  {
    const double d = m_Outer.Distance(p);
    if (d > 6.0 + c.width)
    {
      return;
    }
    const double above = 2.5 - m_Torso->DiaphragmDistance(p);
    const double iw = c.invWidth;
    Composite(s, std::max(d - 6.0, above), m_HU(PhantomTissue::VisceralFat), PhantomTissue::VisceralFat, 0, iw);
    Composite(s, std::max(d, above), m_HU(PhantomTissue::Myocardium), PhantomTissue::Myocardium, 0, iw);
    Composite(s, std::max(m_Inner.Distance(p), above), m_HU(PhantomTissue::BloodPool), PhantomTissue::BloodPool, 0, iw);
  }

private:
  std::shared_ptr<const Torso> m_Torso;
  Ellipsoid                    m_Outer;
  Ellipsoid                    m_Inner;
  TissueTable                  m_HU;
};

/** Kidney: perirenal fat, cortex, medulla (pyramids), sinus fat, pelvis, optional cortical cyst. */
class KidneyLayer : public PointLayer<KidneyLayer>
{
public:
  Ellipsoid   outer;
  Ellipsoid   notch;
  Ellipsoid   sinus;
  Ellipsoid   pelvis;
  bool        hasCyst = false;
  Ellipsoid   cyst;
  ValueNoise  pyramids;
  TissueTable hu;

  void
  Finalize()
  {
    bounds = outer.Bounds().Expanded(12.0);
    if (hasCyst)
    {
      bounds.Include(cyst.Bounds().Expanded(2.0));
    }
  }

  /** Signed distance to the kidney's outline (with the hilum's notch). */
  double
  Distance(const Vec3 & p) const
  {
    return SmoothMax(outer.Distance(p), -notch.Distance(p), 4.0);
  }

  void
  PaintPoint(const Vec3 & p, Sample & s, const PaintContext & c) const
  {
    const double iw = c.invWidth;
    const double d = this->Distance(p);
    if (d < 8.0 + 0.5 * c.width)
    {
      Composite(s, d - 6.0, hu(PhantomTissue::VisceralFat), PhantomTissue::VisceralFat, 0, iw);
      if (d < 0.5 * c.width)
      {
        Composite(s, d, hu(PhantomTissue::KidneyCortex), PhantomTissue::KidneyCortex, 0, iw);
        const double dm = std::max(d + 6.0, (-0.15 - pyramids(p)) * 10.0);
        Composite(s, dm, hu(PhantomTissue::KidneyMedulla), PhantomTissue::KidneyMedulla, 0, iw);
        Composite(
          s, std::max(sinus.Distance(p), d + 1.5), hu(PhantomTissue::VisceralFat), PhantomTissue::VisceralFat, 0, iw);
      }
      Composite(s, pelvis.Distance(p), hu(PhantomTissue::Urine), PhantomTissue::Urine, 0, iw);
    }
    if (hasCyst)
    {
      Composite(s, cyst.Distance(p), hu(PhantomTissue::Cyst), PhantomTissue::Cyst, 0, iw);
    }
  }
};

/** A solid organ (spleen): deformed ellipsoid clipped to the abdominal cavity, textured. */
class SolidOrganLayer : public PointLayer<SolidOrganLayer>
{
public:
  Ellipsoid                    shape;
  ValueNoise                   deformation;
  double                       deformationAmplitude = 0.0;
  ValueNoise                   texture;
  double                       textureAmplitude = 0.0;
  std::shared_ptr<const Torso> torso;
  PhantomTissue                tissue = PhantomTissue::Spleen;
  double                       hu = 0.0;

  void
  Finalize()
  {
    bounds = shape.Bounds().Expanded(deformationAmplitude + 2.0);
  }

  double
  Distance(const Vec3 & p) const
  {
    double d = shape.Distance(p);
    if (d > deformationAmplitude + 4.0)
    {
      return d - deformationAmplitude;
    }
    d += deformationAmplitude * deformation(p);
    d = std::max(d, torso->CavityDistance(p) + 1.0);
    return std::max(d, torso->DiaphragmDistance(p) + 3.0);
  }

  void
  PaintPoint(const Vec3 & p, Sample & s, const PaintContext & c) const
  {
    const double d = this->Distance(p);
    if (d < 0.5 * c.width)
    {
      Composite(s, d, hu + textureAmplitude * texture(p), tissue, 0, c.invWidth);
    }
  }
};

/** Stomach: two blended ellipsoids (fundus-body, antrum), wall, contents, gas above an air-fluid level. */
class StomachLayer : public PointLayer<StomachLayer>
{
public:
  Ellipsoid                    fundus;
  Ellipsoid                    antrum;
  std::shared_ptr<const Torso> torso;
  double                       wall = 4.0;
  double                       wallHU = 0.0;
  PhantomTissue                contentsTissue = PhantomTissue::LumenFluid;
  double                       contentsHU = 0.0;
  double                       contentsTexture = 0.0;
  ValueNoise                   texture;
  double                       gasLevel = -kInfinity;
  double                       gasHU = -1000.0;

  void
  Finalize()
  {
    bounds = fundus.Bounds();
    bounds.Include(antrum.Bounds());
    bounds = bounds.Expanded(4.0);
  }

  double
  Distance(const Vec3 & p) const
  {
    double d = SmoothMin(fundus.Distance(p), antrum.Distance(p), 20.0);
    if (d > 10.0)
    {
      return d;
    }
    d = std::max(d, torso->CavityDistance(p) + 2.0);
    return std::max(d, torso->DiaphragmDistance(p) + 3.0);
  }

  void
  PaintPoint(const Vec3 & p, Sample & s, const PaintContext & c) const
  {
    const double d = this->Distance(p);
    if (d > 0.5 * c.width)
    {
      return;
    }
    const double iw = c.invWidth;
    Composite(s, d, wallHU, PhantomTissue::BowelWall, 0, iw);
    const double dl = d + wall;
    if (dl > 0.5 * c.width)
    {
      return;
    }
    Composite(s, dl, contentsHU + contentsTexture * texture(p), contentsTissue, 0, iw);
    Composite(s, std::max(dl, p.y - gasLevel), gasHU, PhantomTissue::LumenGas, 0, iw);
  }
};

/** Gallbladder: thin enhancing wall around bile. */
class GallbladderLayer : public PointLayer<GallbladderLayer>
{
public:
  GallbladderLayer(const Ellipsoid & shape, double wallHU, double bileHU)
    : m_Shape(shape)
    , m_WallHU(wallHU)
    , m_BileHU(bileHU)
  {
    bounds = shape.Bounds().Expanded(2.0);
  }
  void
  PaintPoint(const Vec3 & p, Sample & s, const PaintContext & c) const
  {
    const double d = m_Shape.Distance(p);
    Composite(s, d, m_WallHU, PhantomTissue::Gallbladder, 0, c.invWidth);
    Composite(s, d + 1.5, m_BileHU, PhantomTissue::Gallbladder, 0, c.invWidth);
  }

private:
  Ellipsoid m_Shape;
  double    m_WallHU;
  double    m_BileHU;
};

} // namespace

// ----------------------------------------------------------------------------------------------------------------
// The liver and what lies inside it

/** The liver envelope: smooth union of deformed lobes, inside the cavity, below the diaphragm, around its
 * neighbours (vena cava, right kidney, stomach, gallbladder, aorta, spine). */
class LiverShape
{
public:
  struct Exclusion
  {
    Box                                 bounds;
    std::function<double(const Vec3 &)> distance;
    double                              margin = 0.0;
  };

  std::vector<Ellipsoid>       lobes;
  double                       blend = 18.0;
  ValueNoise                   coarse;
  ValueNoise                   fine;
  double                       coarseAmplitude = 6.0;
  double                       fineAmplitude = 2.0;
  std::shared_ptr<const Torso> torso;
  double                       diaphragmHalf = 2.0;
  std::vector<Exclusion>       exclusions;
  Box                          bounds;

  void
  Finalize()
  {
    bounds = Box();
    for (const Ellipsoid & e : lobes)
    {
      bounds.Include(e.Bounds());
    }
    bounds = bounds.Expanded(coarseAmplitude + fineAmplitude + 1.0);
    // The diaphragm caps the liver below the right dome.
    bounds.hi.z = std::min(bounds.hi.z, 2.0);
  }

  double
  Distance(const Vec3 & p) const
  {
    if (!bounds.Contains(p))
    {
      // The liver lies inside its box: the distance to the box is a lower bound.
      const double dx = std::max({ bounds.lo.x - p.x, p.x - bounds.hi.x, 0.0 });
      const double dy = std::max({ bounds.lo.y - p.y, p.y - bounds.hi.y, 0.0 });
      const double dz = std::max({ bounds.lo.z - p.z, p.z - bounds.hi.z, 0.0 });
      return std::max(std::sqrt(dx * dx + dy * dy + dz * dz), 0.5);
    }
    double f = lobes[0].Distance(p);
    for (std::size_t k = 1; k < lobes.size(); ++k)
    {
      f = SmoothMin(f, lobes[k].Distance(p), blend);
    }
    const double amplitude = coarseAmplitude + fineAmplitude;
    if (f - amplitude > 6.0)
    {
      return f - amplitude; // a lower bound: far outside whatever the deformation
    }
    f += coarseAmplitude * coarse(p) + fineAmplitude * fine(p);
    f = std::max(f, torso->CavityDistance(p) + 1.5);
    f = std::max(f, torso->DiaphragmDistance(p) + diaphragmHalf);
    for (const Exclusion & e : exclusions)
    {
      if (e.bounds.Contains(p))
      {
        f = std::max(f, e.margin - e.distance(p));
      }
    }
    return f;
  }
};

namespace
{

class LiverLayer : public PointLayer<LiverLayer>
{
public:
  LiverLayer(std::shared_ptr<const LiverShape> liver, double hu, double heterogeneity, uint64_t seed)
    : m_Liver(std::move(liver))
    , m_HU(hu)
    , m_Heterogeneity(heterogeneity)
    , m_Texture(seed, 10.0)
  {
    bounds = m_Liver->bounds;
  }
  void
  PaintPoint(const Vec3 & p, Sample & s, const PaintContext & c) const
  {
    const double d = m_Liver->Distance(p);
    s.liver = static_cast<float>(d);
    if (d < 0.5 * c.width)
    {
      Composite(s, d, m_HU + m_Heterogeneity * m_Texture(p), PhantomTissue::Liver, 1, c.invWidth);
    }
  }

private:
  std::shared_ptr<const LiverShape> m_Liver;
  double                            m_HU;
  double                            m_Heterogeneity;
  ValueNoise                        m_Texture;
};

/** A tumour clipped to the liver envelope: core, optional enhancing rim and necrotic centre. */
class TumourLayer : public PointLayer<TumourLayer>
{
public:
  Ellipsoid  shape;
  ValueNoise deformation;
  double     deformationAmplitude = 0.0;
  ValueNoise texture;
  double     textureAmplitude = 0.0;
  double     rim = 0.0;
  double     necrosisDepth = 0.0;
  double     coreHU = 0.0;
  double     rimHU = 0.0;
  double     necrosisHU = 0.0;
  double     softness = 0.0; //!< mm over which the margin fades (ill-defined margins)

  void
  Finalize()
  {
    bounds = shape.Bounds().Expanded(deformationAmplitude + softness + 1.0);
  }

  void
  PaintPoint(const Vec3 & p, Sample & s, const PaintContext & c) const
  {
    const double width = std::max(c.width, softness);
    double       d = shape.Distance(p);
    if (d - deformationAmplitude > 0.5 * width)
    {
      return;
    }
    d += deformationAmplitude * deformation(p);
    const double liver = s.liver;
    const double dt = std::max(d, liver);
    if (dt > 0.5 * width)
    {
      return;
    }
    const double iw = 1.0 / width;
    const double tex = textureAmplitude * texture(p);
    if (rim > 0.0)
    {
      Composite(s, dt, rimHU, PhantomTissue::TumourRim, 2, iw);
      Composite(s, std::max(d + rim, liver), coreHU + tex, PhantomTissue::Tumour, 2, iw);
    }
    else
    {
      Composite(s, dt, coreHU + tex, PhantomTissue::Tumour, 2, iw);
    }
    if (necrosisDepth > 0.0)
    {
      Composite(s, std::max(d + necrosisDepth, liver), necrosisHU + 0.5 * tex, PhantomTissue::TumourNecrosis, 2, iw);
    }
  }
};

/** Vessels branching from \a start, kept inside the liver: at each node the vessel goes on (slightly turned, a
 * little thinner) and gives off a thinner side branch, as portal and hepatic veins do. */
void
GrowTree(const LiverShape & liver, PhantomRandom & random, const Vec3 & start, const Vec3 & direction, double length,
         double radius, int depth, std::vector<Segment> & out)
{
  if (radius < 0.8 || out.size() > 400)
  {
    return;
  }
  const Vec3 dir = Normalized(direction);
  Vec3       end = start + dir * length;
  int        tries = 0;
  while (liver.Distance(end) > -0.5 * radius && tries < 3)
  {
    length *= 0.6;
    end = start + dir * length;
    ++tries;
  }
  // Random draws happen whether or not the branch survives, so that one branch does not shift its siblings.
  const double spin = random.Uniform(0.0, 2.0 * kPi);
  const double angles[2] = { random.Uniform(0.08, 0.3), random.Uniform(0.55, 1.0) };
  const double lengths[2] = { random.Uniform(0.8, 1.0), random.Uniform(0.55, 0.85) };
  const double radii[2] = { random.Uniform(0.88, 0.96), random.Uniform(0.55, 0.75) };
  if (tries == 3)
  {
    return;
  }
  const double endRadius = 0.94 * radius;
  out.emplace_back(start, end, radius, endRadius);
  if (depth == 0)
  {
    return;
  }
  const Vec3 helper = std::abs(dir.z) < 0.9 ? Vec3{ 0, 0, 1 } : Vec3{ 1, 0, 0 };
  const Vec3 perp = Normalized(Cross(dir, helper));
  const Vec3 axis = perp * std::cos(spin) + Cross(dir, perp) * std::sin(spin);
  for (int k = 0; k < 2; ++k)
  {
    // The trunk and its side branch turn to opposite sides.
    const double a = k == 0 ? -angles[0] : angles[1];
    const Vec3   child = dir * std::cos(a) + Cross(axis, dir) * std::sin(a);
    GrowTree(liver, random, end, child, length * lengths[k], endRadius * radii[k], depth - 1, out);
  }
}

} // namespace

// ----------------------------------------------------------------------------------------------------------------
// Anatomy

Anatomy::Anatomy(const PhantomParameters & parameters, const Box & sceneBounds)
  : m_Parameters(parameters)
{
  this->Build(sceneBounds);
}

Anatomy::~Anatomy() = default;

double
Anatomy::LiverDistance(const Vec3 & p) const
{
  return m_Liver->Distance(p);
}

void
Anatomy::PaintRow(const Vec3 & start, const Vec3 & step, int n, Sample * samples, const PaintContext & c) const
{
  const float air = m_Parameters.HU(PhantomTissue::Air);
  for (int i = 0; i < n; ++i)
  {
    samples[i] = Sample();
    samples[i].hu = air;
  }
  for (const auto & layer : m_Layers)
  {
    int i0, i1;
    if (layer->bounds.Expanded(c.width).RowRange(start, step, n, i0, i1))
    {
      layer->PaintSpan(start, step, i0, i1, samples, c);
    }
  }
  if (m_Deferred)
  {
    for (int i = 0; i < n; ++i)
    {
      if (samples[i].deferred > 1.0e-4f)
      {
        samples[i].hu +=
          static_cast<float>(samples[i].deferred * m_Deferred->DeferredTexture(start + step * static_cast<double>(i)));
      }
    }
  }
}

void
Anatomy::Build(const Box & scene)
{
  const PhantomParameters & P = m_Parameters;
  TissueTable               hu;
  hu.hu = P.tissueHU;
  using T = PhantomTissue;
  PhantomRandom rBody(PhantomRandom::Mix(P.body.shapeSeed, 51));
  PhantomRandom rOrgans(PhantomRandom::Mix(P.organs.shapeSeed, 52));
  PhantomRandom rLiver(PhantomRandom::Mix(P.liver.shapeSeed, 53));

  // The torso's tables always cover the abdomen, so that the anatomy does not depend on the scanned range.
  const double zLow = std::min(scene.lo.z, -420.0) - 10.0;
  const double zHigh = std::max(scene.hi.z, 160.0) + 10.0;
  auto         torso = std::make_shared<Torso>(P, std::max(zLow, -20000.0), std::min(zHigh, 20000.0));
  m_Torso = torso;
  auto         torsoLayer = std::make_unique<TorsoLayer>(torso, P, hu);
  const double diaphragmHalf = torsoLayer->GetDiaphragmHalfThickness();
  const double ac = torso->CavityHalfWidth();
  const double bc = torso->CavityHalfDepth();
  const double sz = torso->SizeScale();

  m_Layers.push_back(std::make_unique<TableLayer>(torso->BackPlane() + 0.5, hu(T::Table)));
  m_Deferred = torsoLayer.get();
  m_Layers.push_back(std::move(torsoLayer));
  m_Layers.push_back(std::make_unique<PsoasLayer>(torso, hu(T::Muscle), rBody.Uniform(18.0, 26.0) * sz));
  m_Layers.push_back(std::make_unique<SpineLayer>(torso, hu, rBody));

  // Great vessels.
  const double aortaRadius0 = rBody.Uniform(10.0, 13.0) * sz;
  const double aortaShift = rBody.Uniform(-4.0, 6.0);
  auto         aortaRadius = [&](double z) { return aortaRadius0 * (1.0 - 0.2 * SmoothStep(-60.0, -260.0, z)); };
  auto         aortaCenter = [&](double z) {
    const double hw = torso->SpineHalfWidth(z), hd = torso->SpineHalfDepth(z), yb = torso->SpineY(z);
    const double ra = aortaRadius(z);
    const Vec3   abdominal{ 0.35 * hw + 0.6 * ra + aortaShift, yb - hd - ra - 2.0, z };
    const Vec3   thoracic{ 0.9 * hw + 0.5 * ra, yb - 0.2 * hd, z };
    const double w = SmoothStep(-60.0, -15.0, z);
    return abdominal * (1.0 - w) + thoracic * w;
  };
  const double ivcRadius = rBody.Uniform(10.0, 13.0) * sz;
  auto         ivcCenter = [&](double z) {
    const double hw = torso->SpineHalfWidth(z), hd = torso->SpineHalfDepth(z), yb = torso->SpineY(z);
    const Vec3   lower{ -(0.55 * hw + ivcRadius + 2.0), yb - hd - 0.5 * ivcRadius, z };
    const Vec3   upper{ -0.2 * ac, yb - hd - 18.0, z };
    const double w = SmoothStep(-90.0, -30.0, z);
    return lower * (1.0 - w) + upper * w;
  };
  const double        bifurcation = rBody.Uniform(-285.0, -250.0);
  const double        topZ = std::min(std::max(scene.hi.z, -200.0) + 30.0, 160.0);
  std::vector<Vec3>   aortaPoints, ivcPoints;
  std::vector<double> aortaRadii, ivcRadii;
  for (double z = topZ; z > bifurcation; z -= 25.0)
  {
    aortaPoints.push_back(aortaCenter(z));
    aortaRadii.push_back(aortaRadius(z));
  }
  aortaPoints.push_back(aortaCenter(bifurcation));
  aortaRadii.push_back(aortaRadius(bifurcation));
  for (double z = std::min(topZ, 15.0); z > bifurcation - 10.0; z -= 25.0)
  {
    ivcPoints.push_back(ivcCenter(z));
    ivcRadii.push_back(ivcRadius);
  }
  ivcPoints.push_back(ivcCenter(bifurcation - 10.0));
  ivcRadii.push_back(ivcRadius);
  auto addVessel = [&](const std::vector<Segment> & chain, T tissue) {
    auto layer = std::make_unique<TubeLayer>();
    layer->segments = chain;
    layer->tissue = tissue;
    layer->hu = hu(tissue);
    layer->Finalize();
    m_Layers.push_back(std::move(layer));
  };
  const auto   aorta = MakeChain(aortaPoints, aortaRadii);
  const auto   ivc = MakeChain(ivcPoints, ivcRadii);
  const Vec3   bif = aortaCenter(bifurcation);
  const Vec3   bifV = ivcCenter(bifurcation - 10.0);
  const double iliac = 0.62 * aortaRadius(bifurcation);
  for (const double side : { -1.0, 1.0 })
  {
    addVessel(MakeChain({ bif, { side * 55.0, bif.y + 15.0, bifurcation - 130.0 } }, { iliac, iliac }), T::Artery);
    addVessel(MakeChain({ bifV, { side * 50.0 - 8.0, bifV.y + 22.0, bifurcation - 140.0 } },
                        { 0.8 * ivcRadius, 0.8 * ivcRadius }),
              T::VenaCava);
  }

  // Heart on the central diaphragm.
  {
    double          gx, gy;
    const Vec3      base{ 0.15 * ac, -0.3 * bc, 0.0 };
    const double    zd = torso->DiaphragmHeight(base.x, base.y, gx, gy);
    const Vec3      radii = Vec3{ 60.0, 48.0, 55.0 } * (sz * rBody.Uniform(0.9, 1.1));
    const Rotation  rot = Rotation::FromAngles(0.0, 0.0, 0.5);
    const Ellipsoid outer({ base.x, base.y, zd + 0.85 * radii.z }, radii, rot);
    const Ellipsoid inner({ base.x, base.y, zd + 0.85 * radii.z }, radii - Vec3{ 10.0, 10.0, 10.0 }, rot);
    m_Layers.push_back(std::make_unique<HeartLayer>(torso, outer, inner, hu));
  }

  addVessel(aorta, T::Artery);
  if (P.organs.aorticCalcification)
  {
    const int spots = static_cast<int>(rOrgans.Integer(2, 7));
    for (int k = 0; k < spots; ++k)
    {
      const double z = rOrgans.Uniform(-250.0, -60.0);
      const double a = rOrgans.Uniform(0.0, 2.0 * kPi);
      const Vec3   c = aortaCenter(z) + Vec3{ std::cos(a), std::sin(a), 0.0 } * (aortaRadius(z) - 1.0);
      m_Layers.push_back(
        std::make_unique<SphereLayer>(c, rOrgans.Uniform(0.8, 2.2), hu(T::Calcification), T::Calcification));
    }
  }
  addVessel(ivc, T::VenaCava);

  // Visceral arteries.
  const Vec3   celiac = aortaCenter(-95.0);
  const double ra95 = aortaRadius(-95.0);
  const Vec3   celiacEnd{ celiac.x, celiac.y - ra95 - 14.0, -93.0 };
  addVessel(
    MakeChain({ celiac, celiacEnd, { -0.25 * ac, celiacEnd.y - 8.0, -96.0 } }, { 3.5 * sz, 3.0 * sz, 2.5 * sz }),
    T::Artery);
  addVessel(
    MakeChain({ celiacEnd, { 0.3 * ac, celiacEnd.y + 10.0, -88.0 }, { 0.5 * ac, torso->SpineY(-85.0) - 5.0, -85.0 } },
              { 3.0 * sz, 2.8 * sz, 2.5 * sz }),
    T::Artery);
  const Vec3   sma = aortaCenter(-112.0);
  const double ra112 = aortaRadius(-112.0);
  addVessel(
    MakeChain({ sma, { sma.x - 2.0, sma.y - ra112 - 12.0, -118.0 }, { sma.x - 4.0, sma.y - ra112 - 22.0, -220.0 } },
              { 3.8 * sz, 3.5 * sz, 3.0 * sz }),
    T::Artery);

  // Kidneys, with their veins to the vena cava and arteries from the aorta.
  std::shared_ptr<KidneyLayer> rightKidney;
  const int                    cystSide = rOrgans.Bernoulli(0.5) ? 0 : 1;
  for (int k = 0; k < 2; ++k)
  {
    const double side = k == 0 ? -1.0 : 1.0; // right kidney first (patient right: -x)
    const double zk = k == 0 ? rOrgans.Uniform(-142.0, -118.0) : rOrgans.Uniform(-128.0, -102.0);
    const double hw = torso->SpineHalfWidth(zk);
    const double ks = P.organs.kidneyScale * sz;
    const Vec3 c{ side * (hw + rOrgans.Uniform(40.0, 50.0) * sz), torso->SpineY(zk) + rOrgans.Uniform(-8.0, 4.0), zk };
    const Vec3 radii = Vec3{ 26.0, 21.0, 54.0 } * ks;
    const double   psi = rOrgans.Uniform(0.45, 0.75);
    const Rotation rot =
      Rotation::FromAngles(rOrgans.Uniform(0.1, 0.25), side * rOrgans.Uniform(0.1, 0.25), -side * psi);
    const Vec3 hilum = Normalized({ -side * std::cos(psi), -std::sin(psi), 0.0 });
    auto       kidney = std::make_shared<KidneyLayer>();
    kidney->outer = Ellipsoid(c, radii, rot);
    kidney->notch = Ellipsoid(c + hilum * (0.95 * radii.x), Vec3{ 13.0, 13.0, 22.0 } * ks);
    kidney->sinus = Ellipsoid(c + hilum * (0.6 * radii.x), Vec3{ radii.x * 0.4, radii.y * 0.35, radii.z * 0.5 }, rot);
    kidney->pelvis = Ellipsoid(c + hilum * (0.75 * radii.x), Vec3{ 7.0, 6.0, 11.0 } * ks, rot);
    kidney->pyramids = ValueNoise(rOrgans.Next(), 9.0);
    kidney->hu = hu;
    const Vec3 cystDirection =
      Normalized({ -hilum.x, -hilum.y + rOrgans.Uniform(-0.5, 0.5), rOrgans.Uniform(-1.0, 1.0) });
    const double cystRadius = rOrgans.Uniform(5.0, 18.0);
    if (P.organs.renalCyst && k == cystSide)
    {
      kidney->hasCyst = true;
      kidney->cyst =
        Ellipsoid(c + Vec3{ cystDirection.x * radii.x, cystDirection.y * radii.y, cystDirection.z * radii.z } * 0.85,
                  Vec3{ cystRadius, cystRadius, cystRadius });
    }
    kidney->Finalize();
    const Vec3 hilumPoint = c + hilum * radii.x;
    const Vec3 ivcPoint = ivcCenter(zk + 5.0);
    if (k == 0)
    {
      addVessel(MakeChain({ hilumPoint, ivcPoint }, { 5.0 * sz, 5.5 * sz }), T::VenaCava);
      rightKidney = kidney;
    }
    else
    {
      const Vec3 a = aortaCenter(zk + 5.0);
      addVessel(MakeChain({ hilumPoint, { a.x, a.y - aortaRadius(zk) - 6.0, zk + 5.0 }, ivcPoint },
                          { 5.0 * sz, 5.0 * sz, 5.5 * sz }),
                T::VenaCava);
    }
    addVessel(MakeChain({ aortaCenter(zk + 10.0), hilumPoint + Vec3{ 0.0, 6.0, 3.0 } }, { 3.0 * sz, 2.5 * sz }),
              T::Artery);
    m_Layers.push_back(std::make_unique<KidneyLayer>(*kidney));
  }

  // Spleen along the left posterolateral wall.
  {
    auto         spleen = std::make_unique<SolidOrganLayer>();
    const double s = P.organs.spleenScale * sz;
    spleen->shape = Ellipsoid({ 0.62 * ac, 0.3 * bc, -60.0 - P.body.leftDomeDrop + rOrgans.Uniform(-10.0, 10.0) },
                              Vec3{ 22.0, 50.0, 55.0 } * s,
                              Rotation::FromAngles(0.0, 0.0, 0.64 + rOrgans.Uniform(-0.15, 0.15)));
    spleen->deformation = ValueNoise(rOrgans.Next(), 35.0);
    spleen->deformationAmplitude = 5.0;
    spleen->texture = ValueNoise(rOrgans.Next(), P.phase == ContrastPhase::Arterial ? 14.0 : 20.0);
    spleen->textureAmplitude = P.phase == ContrastPhase::Arterial ? 35.0 : 3.0;
    spleen->torso = torso;
    spleen->tissue = T::Spleen;
    spleen->hu = hu(T::Spleen);
    spleen->Finalize();
    m_Layers.push_back(std::move(spleen));
  }

  // Pancreas, then the splenic vein on its back and the portal confluence.
  const Vec3 aorta110 = aortaCenter(-110.0);
  const Vec3 aorta100 = aortaCenter(-100.0);
  const Vec3 head{ -0.22 * ac, torso->SpineY(-125.0) - torso->SpineHalfDepth(-125.0) - 30.0, -125.0 };
  const Vec3 neck{ -0.02 * ac, aorta110.y - aortaRadius(-110.0) - 20.0, -110.0 };
  const Vec3 body{ 0.22 * ac, aorta100.y - aortaRadius(-100.0) - 14.0, -100.0 };
  const Vec3 tail{ 0.48 * ac, torso->SpineY(-90.0) - 5.0, -88.0 };
  {
    auto pancreas = std::make_unique<TubeLayer>();
    pancreas->segments = MakeChain({ head, neck, body, tail }, { 15.0 * sz, 11.0 * sz, 11.0 * sz, 9.0 * sz });
    pancreas->tissue = T::Pancreas;
    pancreas->hu = hu(T::Pancreas);
    pancreas->lobulation = 2.5;
    pancreas->noise = ValueNoise(rOrgans.Next(), 7.0);
    pancreas->Finalize();
    m_Layers.push_back(std::move(pancreas));
  }
  const Vec3 confluence = neck + Vec3{ 0.0, 10.0, -3.0 };
  addVessel(MakeChain({ tail + Vec3{ 0.0, 10.0, 0.0 }, body + Vec3{ 0.0, 11.0, 0.0 }, confluence },
                      { 4.5 * sz, 4.5 * sz, 5.0 * sz }),
            T::PortalVein);
  addVessel(MakeChain({ confluence, { -0.04 * ac, confluence.y - 5.0, -210.0 } }, { 5.5 * sz, 5.0 * sz }),
            T::PortalVein);

  // Stomach.
  auto stomach = std::make_shared<StomachLayer>();
  {
    const double s = P.organs.stomachSize * sz;
    stomach->fundus = Ellipsoid({ 0.35 * ac, -0.05 * bc, -55.0 - P.body.leftDomeDrop }, Vec3{ 40.0, 36.0, 45.0 } * s);
    stomach->antrum =
      Ellipsoid({ 0.08 * ac, -0.55 * bc, -100.0 }, Vec3{ 30.0, 22.0, 26.0 } * s, Rotation::FromAngles(0.0, 0.0, -0.5));
    stomach->torso = torso;
    stomach->wall = rOrgans.Uniform(3.0, 5.0);
    stomach->wallHU = hu(T::BowelWall);
    switch (P.organs.stomachContents)
    {
      case 1: // food
        stomach->contentsTissue = T::LumenFluid;
        stomach->contentsHU = hu(T::LumenFluid) + 15.0;
        stomach->contentsTexture = 45.0;
        break;
      case 2:
        stomach->contentsTissue = T::OralContrast;
        stomach->contentsHU = hu(T::OralContrast);
        stomach->contentsTexture = 10.0;
        break;
      default:
        stomach->contentsTissue = T::LumenFluid;
        stomach->contentsHU = hu(T::LumenFluid);
        stomach->contentsTexture = 3.0;
        break;
    }
    stomach->texture = ValueNoise(rOrgans.Next(), 6.0);
    const Ellipsoid & f = stomach->fundus;
    stomach->gasLevel = f.GetCenter().y - f.GetRadii().y + 2.0 * f.GetRadii().y * P.organs.stomachGas;
    stomach->gasHU = hu(T::LumenGas);
    stomach->Finalize();
    m_Layers.push_back(std::make_unique<StomachLayer>(*stomach));
  }

  // Bowel: duodenum, small bowel loops, colon.
  auto addBowel = [&](const std::vector<Segment> & chain, TubeLayer::Contents contents, bool gas) {
    auto layer = std::make_unique<TubeLayer>();
    layer->segments = chain;
    layer->contents = contents;
    layer->clipToCavity = torso;
    layer->wall = rOrgans.Uniform(2.0, 3.0);
    layer->wallHU = hu(T::BowelWall);
    layer->gasHU = hu(T::LumenGas);
    layer->noise = ValueNoise(rOrgans.Next(), 5.0);
    layer->noise2 = ValueNoise(rOrgans.Next(), 9.0);
    if (contents == TubeLayer::Contents::Stool)
    {
      layer->lumenTissue = T::Stool;
      layer->lumenHU = hu(T::Stool);
      layer->gasFraction = rOrgans.Uniform(0.2, 0.6);
      layer->haustra = 0.12;
      layer->haustraPeriod = rOrgans.Uniform(25.0, 35.0);
    }
    else
    {
      layer->lumenTissue = P.organs.oralContrast ? T::OralContrast : T::LumenFluid;
      layer->lumenHU = hu(layer->lumenTissue);
    }
    const double gasDepth = rOrgans.Uniform(0.2, 0.6);
    if (gas)
    {
      double front = kInfinity;
      for (const Segment & s : chain)
      {
        front = std::min({ front, s.a.y - s.ra, s.b.y - s.rb });
      }
      layer->gasLevel = front + 2.0 * chain.front().ra * gasDepth;
    }
    layer->Finalize();
    m_Layers.push_back(std::move(layer));
  };
  {
    const Ellipsoid & a = stomach->antrum;
    const Vec3        pylorus{ a.GetCenter().x - 0.9 * a.GetRadii().x, a.GetCenter().y + 5.0, a.GetCenter().z - 5.0 };
    const double      r = 11.0 * sz;
    addBowel(MakeChain({ pylorus,
                         { -0.33 * ac, -0.15 * bc, -125.0 },
                         { -0.35 * ac, -0.05 * bc, -165.0 },
                         { 0.0, aortaCenter(-170.0).y - aortaRadius(-170.0) - 14.0, -175.0 },
                         { 0.2 * ac, -0.15 * bc, -160.0 } },
                       { r, r, r, 0.9 * r, r }),
             TubeLayer::Contents::Fluid,
             rOrgans.Bernoulli(0.4));
  }
  const int loops = static_cast<int>(rOrgans.Integer(8, 14));
  for (int l = 0; l < loops; ++l)
  {
    Vec3   p{ rOrgans.Uniform(-0.45, 0.45) * ac, rOrgans.Uniform(-0.75, 0.1) * bc, rOrgans.Uniform(-330.0, -150.0) };
    double heading = rOrgans.Uniform(0.0, 2.0 * kPi);
    double climb = rOrgans.Uniform(-0.6, 0.6);
    const double        r = rOrgans.Uniform(9.0, 13.0) * sz;
    std::vector<Vec3>   points{ p };
    std::vector<double> radii{ r };
    for (int k = 0; k < 6; ++k)
    {
      heading += rOrgans.Uniform(-1.2, 1.2);
      climb = Clamp(climb + rOrgans.Uniform(-0.5, 0.5), -0.9, 0.9);
      const double step = rOrgans.Uniform(22.0, 32.0);
      p = p + Normalized({ std::cos(heading), 0.7 * std::sin(heading), climb }) * step;
      points.push_back(p);
      radii.push_back(r);
    }
    addBowel(MakeChain(points, radii), TubeLayer::Contents::Fluid, rOrgans.Bernoulli(0.25));
  }
  {
    const double bottom = std::min(scene.lo.z, -200.0) - 30.0;
    const double ra = rOrgans.Uniform(20.0, 26.0) * sz, rt = rOrgans.Uniform(18.0, 22.0) * sz,
                 rd = rOrgans.Uniform(15.0, 18.0) * sz;
    const double flexure = rOrgans.Uniform(-165.0, -140.0);
    addBowel(MakeChain({ { -0.68 * ac, 0.0, bottom },
                         { -0.66 * ac, -0.1 * bc, flexure - 15.0 },
                         { -0.55 * ac, -0.45 * bc, flexure },
                         { -0.2 * ac, -0.7 * bc, flexure - rOrgans.Uniform(20.0, 60.0) },
                         { 0.25 * ac, -0.65 * bc, flexure - rOrgans.Uniform(10.0, 40.0) },
                         { 0.65 * ac, -0.2 * bc, -110.0 },
                         { 0.72 * ac, 0.05 * bc, -170.0 },
                         { 0.7 * ac, 0.0, bottom } },
                       { ra, ra, ra, rt, rt, rt, rd, rd }),
             TubeLayer::Contents::Stool,
             false);
  }

  // The liver's lobes.
  auto            liver = std::make_shared<LiverShape>();
  const double    s = P.liver.scale;
  const Vec3      offset{ P.liver.offset[0], P.liver.offset[1], P.liver.offset[2] };
  const Ellipsoid rightLobe(Vec3{ -0.48 * ac, -0.02 * bc, -84.0 } + offset,
                            Vec3{ 66.0, 78.0, 92.0 } * s,
                            Rotation::FromAngles(0.0, 0.0, rLiver.Uniform(-0.15, 0.15)));
  const double    leftSize = P.liver.leftLobe;
  const Ellipsoid leftLobe(Vec3{ 0.3 * ac, -0.48 * bc, -40.0 - 0.3 * P.body.leftDomeDrop } + offset,
                           Vec3{ 34.0 * leftSize, 26.0, 35.0 * std::sqrt(leftSize) } * s,
                           Rotation::FromAngles(0.0, 0.0, -0.25 + rLiver.Uniform(-0.1, 0.1)));
  liver->lobes.push_back(rightLobe);
  liver->lobes.emplace_back(Vec3{ -0.05 * ac, -0.45 * bc, -58.0 } + offset, Vec3{ 42.0, 38.0, 58.0 } * s);
  liver->lobes.push_back(leftLobe);
  liver->lobes.emplace_back(Vec3{ -0.12 * ac, 0.12 * bc, -65.0 } + offset, Vec3{ 22.0, 20.0, 32.0 } * s);
  if (P.liver.riedelLobe > 0.0)
  {
    liver->lobes.emplace_back(Vec3{ -0.62 * ac, -0.1 * bc, -150.0 - 20.0 * P.liver.riedelLobe } + offset,
                              Vec3{ 0.2 * ac, 0.35 * bc, 45.0 * P.liver.riedelLobe } * s);
  }
  liver->coarse = ValueNoise(rLiver.Next(), 55.0);
  liver->fine = ValueNoise(rLiver.Next(), 18.0);
  liver->coarseAmplitude = P.liver.irregularity;
  liver->fineAmplitude = 0.3 * P.liver.irregularity;
  liver->torso = torso;
  liver->diaphragmHalf = diaphragmHalf;

  // Gallbladder in its fossa under the right lobe.
  std::shared_ptr<Ellipsoid> gallbladder;
  {
    const Vec3 &    c = rightLobe.GetCenter();
    const Vec3 &    r = rightLobe.GetRadii();
    const Vec3      g{ c.x + 0.5 * r.x, c.y - 0.6 * r.y, c.z - 0.45 * r.z };
    const double    gs = rOrgans.Uniform(0.8, 1.2);
    const Ellipsoid shape(g, Vec3{ 14.0, 16.0, 34.0 } * gs, Rotation::AlignZ({ 0.15, -0.55, -0.8 }));
    const int       stones = static_cast<int>(rOrgans.Integer(1, 3));
    std::vector<std::pair<Vec3, double>> stoneList;
    for (int k = 0; k < stones; ++k)
    {
      stoneList.emplace_back(g + Vec3{ rOrgans.Uniform(-5.0, 5.0), 8.0 * gs, rOrgans.Uniform(-20.0, -5.0) * gs },
                             rOrgans.Uniform(2.5, 6.0));
    }
    if (P.organs.gallbladder)
    {
      gallbladder = std::make_shared<Ellipsoid>(shape);
      m_Layers.push_back(std::make_unique<GallbladderLayer>(shape, hu(T::BowelWall), hu(T::Gallbladder)));
      if (P.organs.gallstones)
      {
        for (const auto & stone : stoneList)
        {
          m_Layers.push_back(
            std::make_unique<SphereLayer>(stone.first, stone.second, hu(T::Calcification), T::Calcification));
        }
      }
    }
  }

  // The liver gives way to its neighbours.
  auto chainExclusion = [&](std::vector<Segment> chain, double margin) {
    LiverShape::Exclusion e;
    e.bounds = ChainBounds(chain).Expanded(margin + 1.0);
    auto shared = std::make_shared<std::vector<Segment>>(std::move(chain));
    e.distance = [shared](const Vec3 & p) { return ChainDistance(*shared, p, 0.0); };
    e.margin = margin;
    liver->exclusions.push_back(e);
  };
  chainExclusion(ivc, 0.5);
  chainExclusion(aorta, 3.0);
  {
    std::vector<Vec3>   spine;
    std::vector<double> radii;
    for (double z = 20.0; z > -260.0; z -= 20.0)
    {
      spine.push_back({ 0.0, torso->SpineY(z), z });
      radii.push_back(std::max(torso->SpineHalfWidth(z), torso->SpineHalfDepth(z)) + 4.0);
    }
    chainExclusion(MakeChain(spine, radii), 0.0);
  }
  {
    LiverShape::Exclusion e;
    e.bounds = rightKidney->outer.Bounds().Expanded(8.0);
    e.distance = [rightKidney](const Vec3 & p) { return rightKidney->Distance(p); };
    e.margin = 6.0;
    liver->exclusions.push_back(e);
  }
  {
    LiverShape::Exclusion e;
    e.bounds = stomach->bounds.Expanded(4.0);
    e.distance = [stomach](const Vec3 & p) { return stomach->Distance(p); };
    e.margin = 3.0;
    liver->exclusions.push_back(e);
  }
  if (gallbladder)
  {
    LiverShape::Exclusion e;
    e.bounds = gallbladder->Bounds().Expanded(3.0);
    e.distance = [gallbladder](const Vec3 & p) { return gallbladder->Distance(p); };
    e.margin = 1.0;
    liver->exclusions.push_back(e);
  }
  liver->Finalize();
  m_Liver = liver;

  // The portal vein from the confluence to the hilum (outside the liver: not liver label).
  Vec3 hilum = rightLobe.GetCenter() +
               Vec3{ 0.35 * rightLobe.GetRadii().x, -0.25 * rightLobe.GetRadii().y, -0.25 * rightLobe.GetRadii().z };
  for (int k = 0; k < 12 && liver->Distance(hilum) > -8.0; ++k)
  {
    hilum = hilum + (rightLobe.GetCenter() - hilum) * 0.15;
  }
  const double vs = P.liver.vesselScale * sz;
  addVessel(MakeChain({ confluence, hilum }, { 6.0 * vs, 7.0 * vs }), T::PortalVein);

  m_Layers.push_back(std::make_unique<LiverLayer>(liver, hu(T::Liver), P.liver.heterogeneity, rLiver.Next()));

  // Intrahepatic vessels: portal branches from the hilum, hepatic veins into the vena cava. Liver label.
  auto addLiverVessels = [&](const std::vector<Segment> & segments, T tissue) {
    auto layer = std::make_unique<TubeLayer>();
    layer->segments = segments;
    layer->tissue = tissue;
    layer->hu = hu(tissue);
    layer->label = 1;
    layer->clipToLiver = true;
    layer->Finalize();
    m_Layers.push_back(std::move(layer));
  };
  {
    // The portal trunk goes on inside the liver (there it is liver label) to the hilum, where it divides.
    std::vector<Segment> portal = MakeChain({ confluence, hilum }, { 6.0 * vs, 7.0 * vs });
    const Vec3           right =
      rightLobe.GetCenter() +
      Vec3{ -0.25 * rightLobe.GetRadii().x, 0.1 * rightLobe.GetRadii().y, 0.05 * rightLobe.GetRadii().z };
    GrowTree(*liver, rLiver, hilum, right - hilum, 30.0 * s, 7.0 * vs, 8, portal);
    GrowTree(*liver, rLiver, hilum, leftLobe.GetCenter() - hilum, 30.0 * s, 6.0 * vs, 8, portal);

    addLiverVessels(portal, T::PortalVein);
    std::vector<Segment> hepatic;
    const Vec3           outlet = ivcCenter(-20.0 + offset.z);
    const Vec3           directions[3] = { { -1.0, -0.1, -0.5 }, { -0.3, -1.0, -0.55 }, { 0.55, -0.8, -0.25 } };
    for (const Vec3 & d : directions)
    {
      GrowTree(*liver, rLiver, outlet + Normalized(d) * (0.5 * ivcRadius), d, 35.0 * s, 6.5 * vs, 8, hepatic);
    }

    addLiverVessels(hepatic, T::HepaticVein);
  }

  this->PlaceTumours();
  for (const PhantomTumour & t : m_Parameters.tumours)
  {
    PhantomRandom r(PhantomRandom::Mix(t.shapeSeed, 42));
    auto          layer = std::make_unique<TumourLayer>();
    const Vec3    radii{ t.radius * t.elongation[0], t.radius * t.elongation[1], t.radius * t.elongation[2] };
    layer->shape = Ellipsoid({ t.center[0], t.center[1], t.center[2] },
                             radii,
                             Rotation::FromAngles(r.Uniform(0.0, kPi), r.Uniform(0.0, kPi), r.Uniform(0.0, kPi)));
    layer->deformation = ValueNoise(r.Next(), std::max(2.5, 0.9 * t.radius));
    layer->deformationAmplitude = t.irregularity * t.radius;
    layer->texture = ValueNoise(r.Next(), 3.0);
    layer->textureAmplitude = t.kind == TumourKind::Cystic ? 1.5 : 5.0;
    layer->rim = t.rimThickness;
    layer->necrosisDepth = t.necrosis > 0.0 ? (1.0 - t.necrosis) * t.radius : 0.0;
    layer->coreHU = t.coreHU;
    layer->rimHU = t.rimHU;
    layer->necrosisHU = hu(T::TumourNecrosis);
    switch (t.kind)
    {
      case TumourKind::Cystic:
        layer->softness = 0.0;
        break;
      case TumourKind::Hyperdense:
        layer->softness = r.Uniform(0.5, 2.0);
        break;
      case TumourKind::Isodense:
        layer->softness = r.Uniform(1.5, 3.5);
        break;
      default:
        layer->softness = r.Uniform(1.0, 3.0);
        break;
    }
    layer->Finalize();
    m_Layers.push_back(std::move(layer));
  }
}

void
Anatomy::PlaceTumours()
{
  const Box           bounds = m_Liver->bounds;
  std::vector<Vec3>   centres;
  std::vector<double> radii;
  for (PhantomTumour & t : m_Parameters.tumours)
  {
    if (t.autoPlace)
    {
      PhantomRandom r(PhantomRandom::Mix(t.shapeSeed, 41));
      // Small tumours wholly inside the liver; large ones may bulge out of it (subcapsular), then are clipped.
      const double depth = t.radius < 8.0 ? t.radius + 1.0 : 0.5 * t.radius;
      Vec3         best;
      double       bestScore = kInfinity;
      for (int attempt = 0; attempt < 400; ++attempt)
      {
        const Vec3 c{ r.Uniform(bounds.lo.x, bounds.hi.x),
                      r.Uniform(bounds.lo.y, bounds.hi.y),
                      r.Uniform(bounds.lo.z, bounds.hi.z) };
        double     score = m_Liver->Distance(c) + depth;
        for (std::size_t k = 0; k < centres.size(); ++k)
        {
          score += std::max(0.0, 0.8 * (radii[k] + t.radius) - Length(c - centres[k]));
        }
        if (score < bestScore)
        {
          bestScore = score;
          best = c;
        }
        if (score <= 0.0)
        {
          break;
        }
      }
      t.center = { best.x, best.y, best.z };
    }
    centres.push_back({ t.center[0], t.center[1], t.center[2] });
    radii.push_back(t.radius);
  }
}

} // namespace phantom
} // namespace torchseg
