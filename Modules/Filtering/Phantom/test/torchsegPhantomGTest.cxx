#include "torchsegAbdominalCTPhantomSource.h"
#include "torchsegPhantomParameters.h"
#include "torchsegPhantomRandom.h"
#include "torchsegTestingSupport.h"

#include "itkCommand.h"
#include "itkImageRegionConstIteratorWithIndex.h"
#include "itkMultiThreaderBase.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <sstream>

namespace
{

using torchseg::AbdominalCTPhantomSource;
using torchseg::ContrastPhase;
using torchseg::PhantomParameters;
using torchseg::PhantomSamplingOptions;
using torchseg::PhantomTissue;
using torchseg::PhantomTumour;
using torchseg::TumourKind;
using CTImageType = AbdominalCTPhantomSource::CTImageType;
using LabelImageType = AbdominalCTPhantomSource::LabelImageType;

struct Rendered
{
  CTImageType::Pointer    ct;
  LabelImageType::Pointer label;
  LabelImageType::Pointer tissue;
  PhantomParameters       parameters;
};

Rendered
Render(AbdominalCTPhantomSource * source)
{
  source->Update();
  Rendered r;
  r.ct = source->GetCTOutput();
  r.label = source->GetLabelOutput();
  r.tissue = source->GetTissueOutput();
  r.ct->DisconnectPipeline();
  r.label->DisconnectPipeline();
  r.tissue->DisconnectPipeline();
  r.parameters = source->GetParameters();
  return r;
}

Rendered
RenderParameters(const PhantomParameters & p)
{
  auto source = AbdominalCTPhantomSource::New();
  source->SetParameters(p);
  return Render(source);
}

Rendered
RenderSampled(uint64_t seed, uint64_t caseIndex, const PhantomSamplingOptions & options)
{
  auto source = AbdominalCTPhantomSource::New();
  source->SetSeed(seed);
  source->SetCaseIndex(caseIndex);
  source->SetSamplingOptions(options);
  return Render(source);
}

PhantomSamplingOptions
SmallOptions(std::optional<ContrastPhase> phase = std::nullopt)
{
  PhantomSamplingOptions o;
  o.size = 96;
  o.numberOfSlices = 24;
  o.phase = phase;
  return o;
}

template <typename TImage>
std::size_t
NumberOfPixels(const TImage * image)
{
  return image->GetBufferedRegion().GetNumberOfPixels();
}

template <typename TImage>
bool
SameBuffer(const TImage * a, const TImage * b)
{
  return NumberOfPixels(a) == NumberOfPixels(b) &&
         std::memcmp(
           a->GetBufferPointer(), b->GetBufferPointer(), NumberOfPixels(a) * sizeof(typename TImage::PixelType)) == 0;
}

/** Voxels whose value is in \a values and whose neighbours up to \a radius voxels along each axis (in the slice
 * only, when \a inPlaneOnly) are too. */
std::vector<std::size_t>
Eroded(const LabelImageType * map, const std::set<uint8_t> & values, bool inPlaneOnly = false, int radius = 1)
{
  const auto      size = map->GetBufferedRegion().GetSize();
  const long      n[3] = { static_cast<long>(size[0]), static_cast<long>(size[1]), static_cast<long>(size[2]) };
  const long      stride[3] = { 1, n[0], n[0] * n[1] };
  const uint8_t * m = map->GetBufferPointer();
  std::vector<std::size_t> out;
  const int                axes = inPlaneOnly ? 2 : 3;
  for (long k = 0; k < n[2]; ++k)
  {
    for (long j = 0; j < n[1]; ++j)
    {
      for (long i = 0; i < n[0]; ++i)
      {
        const long idx[3] = { i, j, k };
        const long o = (k * n[1] + j) * n[0] + i;
        bool       inside = values.count(m[o]) > 0;
        for (int a = 0; a < axes && inside; ++a)
        {
          for (int r = 1; r <= radius && inside; ++r)
          {
            inside = idx[a] - r >= 0 && idx[a] + r < n[a] && values.count(m[o - r * stride[a]]) &&
                     values.count(m[o + r * stride[a]]);
          }
        }
        if (inside)
        {
          out.push_back(static_cast<std::size_t>(o));
        }
      }
    }
  }
  return out;
}

double
MeanAt(const CTImageType * ct, const std::vector<std::size_t> & voxels)
{
  double sum = 0.0;
  for (const std::size_t o : voxels)
  {
    sum += ct->GetBufferPointer()[o];
  }
  return voxels.empty() ? std::nan("") : sum / voxels.size();
}

std::size_t
Count(const LabelImageType * image, uint8_t value)
{
  const uint8_t * b = image->GetBufferPointer();
  return static_cast<std::size_t>(std::count(b, b + NumberOfPixels(image), value));
}

uint8_t
T(PhantomTissue t)
{
  return static_cast<uint8_t>(t);
}

/** A cube of \a n voxels of \a spacing mm (thin slices, no blur across them) centred on a world point. */
void
SetCrop(PhantomParameters & p, const std::array<double, 3> & world, unsigned int n, double spacing)
{
  auto & g = p.geometry;
  g.size = { n, n, n };
  g.spacing = { spacing, spacing, spacing };
  g.sliceThickness = 0.3 * spacing;
  g.direction = { 1, 0, 0, 0, 1, 0, 0, 0, 1 };
  g.orientation = torchseg::PhantomOrientation::Axial;
  for (int k = 0; k < 3; ++k)
  {
    g.origin[k] = world[k] - 0.5 * (n - 1) * spacing;
  }
}

/** Parameters of a small axial case with one explicit tumour, its centre placed by the source. */
PhantomParameters
CaseWithTumour(uint64_t seed, ContrastPhase phase, const PhantomTumour & tumour)
{
  PhantomSamplingOptions options = SmallOptions(phase);
  options.axialOnly = true;
  PhantomParameters p = torchseg::SamplePhantomParameters(seed, 0, options);
  p.tumours = { tumour };
  auto source = AbdominalCTPhantomSource::New();
  source->SetParameters(p);
  source->UpdateOutputInformation();
  PhantomParameters placed = source->GetParameters();
  placed.tumours[0].autoPlace = false;
  return placed;
}

PhantomTumour
RoundTumour(TumourKind kind, double radius)
{
  PhantomTumour t;
  t.kind = kind;
  t.radius = radius;
  t.irregularity = 0.0;
  t.elongation = { 1.0, 1.0, 1.0 };
  return t;
}

} // namespace

// ------------------------------------------------------------------------------------------------------------------
// Random numbers

TEST(PhantomRandom, EngineIsTheStandardMersenneTwister)
{
  // The C++ standard fixes mt19937_64: its 10000th output from the default seed is 9981545732273789042.
  torchseg::PhantomRandom r(5489u);
  uint64_t                v = 0;
  for (int i = 0; i < 10000; ++i)
  {
    v = r.Next();
  }
  EXPECT_EQ(v, 9981545732273789042ULL);
}

TEST(PhantomRandom, DistributionsAreExplicitAndReproducible)
{
  torchseg::PhantomRandom a(42), b(42), c(43);
  for (int i = 0; i < 100; ++i)
  {
    const double u = a.Uniform();
    EXPECT_EQ(u, b.Uniform());
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
  EXPECT_NE(a.Next(), c.Next());
  // Uniform() is the top 53 bits of the engine's output: a value anyone can recompute.
  torchseg::PhantomRandom d(7);
  std::mt19937_64         e(7);
  EXPECT_EQ(d.Uniform(), static_cast<double>(e() >> 11) * 0x1.0p-53);
}

TEST(PhantomRandom, MomentsOfTheDistributions)
{
  torchseg::PhantomRandom r(2024);
  const int               n = 40000;
  double                  s = 0.0, s2 = 0.0, t = 0.0;
  int                     hits[5] = {};
  int64_t                 minI = 100, maxI = -100;
  for (int i = 0; i < n; ++i)
  {
    const double x = r.Normal(3.0, 2.0);
    s += x;
    s2 += x * x;
    t += r.Triangular(0.0, 1.0, 4.0);
    const int64_t k = r.Integer(-2, 2);
    minI = std::min(minI, k);
    maxI = std::max(maxI, k);
    hits[r.Choice({ 1.0, 0.0, 3.0, 0.0, 0.0 })]++;
  }
  const double mean = s / n;
  EXPECT_NEAR(mean, 3.0, 0.05);
  EXPECT_NEAR(std::sqrt(s2 / n - mean * mean), 2.0, 0.05);
  EXPECT_NEAR(t / n, 5.0 / 3.0, 0.03); // mean of the triangular (0 + 1 + 4) / 3
  EXPECT_EQ(minI, -2);
  EXPECT_EQ(maxI, 2);
  EXPECT_EQ(hits[1] + hits[3] + hits[4], 0);
  EXPECT_NEAR(hits[2] / static_cast<double>(n), 0.75, 0.01);
  EXPECT_THROW(r.Choice({ 0.0, 0.0 }), itk::ExceptionObject);
  EXPECT_THROW(r.Integer(3, 2), itk::ExceptionObject);
}

// ------------------------------------------------------------------------------------------------------------------
// Parameter sampling

TEST(PhantomSampler, SameSeedAndCaseGiveTheSameParameters)
{
  std::ostringstream a, b, c;
  torchseg::SamplePhantomParameters(7, 3).Print(a);
  torchseg::SamplePhantomParameters(7, 3).Print(b);
  torchseg::SamplePhantomParameters(7, 4).Print(c);
  EXPECT_EQ(a.str(), b.str());
  EXPECT_NE(a.str(), c.str());
}

TEST(PhantomSampler, FixedPhaseOrSliceCountLeavesTheAnatomyUnchanged)
{
  PhantomSamplingOptions native;
  native.phase = ContrastPhase::Native;
  PhantomSamplingOptions fixedSlices;
  fixedSlices.numberOfSlices = 77;
  const auto free = torchseg::SamplePhantomParameters(11, 5);
  for (const auto & options : { native, fixedSlices })
  {
    const auto p = torchseg::SamplePhantomParameters(11, 5, options);
    EXPECT_EQ(p.body.shapeSeed, free.body.shapeSeed);
    EXPECT_EQ(p.liver.shapeSeed, free.liver.shapeSeed);
    EXPECT_EQ(p.body.halfWidth, free.body.halfWidth);
    EXPECT_EQ(p.tumours.size(), free.tumours.size());
  }
  EXPECT_EQ(torchseg::SamplePhantomParameters(11, 5, native).phase, ContrastPhase::Native);
  EXPECT_EQ(torchseg::SamplePhantomParameters(11, 5, fixedSlices).geometry.size[2], 77u);
}

TEST(PhantomSampler, GeometryRangesAndVarietyOverManyCases)
{
  std::map<torchseg::PhantomOrientation, int> orientations;
  std::map<ContrastPhase, int>                phases;
  int                                         withoutTumours = 0, withSeveral = 0, tiny = 0, large = 0;
  unsigned int                                minSlices = 100000, maxSlices = 0;
  std::set<double>                            sliceWidths;
  for (uint64_t c = 0; c < 400; ++c)
  {
    const PhantomParameters p = torchseg::SamplePhantomParameters(1234, c);
    const auto &            g = p.geometry;
    EXPECT_EQ(g.size[0], 512u);
    EXPECT_EQ(g.size[1], 512u);
    EXPECT_GE(g.spacing[0], 0.6);
    EXPECT_LE(g.spacing[0], 1.0);
    EXPECT_EQ(g.spacing[0], g.spacing[1]);
    EXPECT_GE(g.spacing[2], 1.0);
    EXPECT_LE(g.spacing[2], 5.0);
    minSlices = std::min(minSlices, g.size[2]);
    maxSlices = std::max(maxSlices, g.size[2]);
    sliceWidths.insert(g.spacing[2]);
    // The field of view holds the whole body width.
    EXPECT_GT(g.size[0] * g.spacing[0], 2.0 * p.body.halfWidth);
    orientations[g.orientation]++;
    phases[p.phase]++;
    withoutTumours += p.tumours.empty();
    withSeveral += p.tumours.size() >= 3;
    for (const auto & t : p.tumours)
    {
      EXPECT_GE(2.0 * t.radius, 3.0);
      EXPECT_LE(2.0 * t.radius, 50.0);
      tiny += 2.0 * t.radius < 5.0;
      large += 2.0 * t.radius > 30.0;
    }
    const auto liver = p.HU(PhantomTissue::Liver);
    const auto range = torchseg::GetTissueHURange(PhantomTissue::Liver, p.phase);
    EXPECT_LE(liver, range.second);
    EXPECT_GE(liver, range.first - p.liver.steatosis - 1e-3);
  }
  EXPECT_LT(minSlices, 60u);  // tens ...
  EXPECT_GT(maxSlices, 200u); // ... to hundreds
  EXPECT_GE(sliceWidths.size(), 6u);
  EXPECT_GT(orientations[torchseg::PhantomOrientation::Axial], 200);
  EXPECT_GT(orientations[torchseg::PhantomOrientation::Flipped], 20);
  EXPECT_GT(orientations[torchseg::PhantomOrientation::Oblique], 20);
  EXPECT_GT(phases[ContrastPhase::Native], 30);
  EXPECT_GT(phases[ContrastPhase::Arterial], 30);
  EXPECT_GT(phases[ContrastPhase::PortalVenous], 150);
  EXPECT_GT(withoutTumours, 40);
  EXPECT_GT(withSeveral, 60);
  EXPECT_GT(tiny, 40);
  EXPECT_GT(large, 20);
}

TEST(PhantomSampler, SmallSizesKeepTheFieldOfViewAndFixedSlices)
{
  for (uint64_t c = 0; c < 50; ++c)
  {
    const PhantomParameters p = torchseg::SamplePhantomParameters(5, c, SmallOptions());
    const auto &            g = p.geometry;
    EXPECT_EQ(g.size[0], 96u);
    EXPECT_EQ(g.size[2], 24u);
    EXPECT_GE(g.size[0] * g.spacing[0], 0.6 * 512 - 1e-9);
    EXPECT_LE(g.size[0] * g.spacing[0], 512 + 1e-9);
    EXPECT_GE(g.spacing[2], 1.0);
    EXPECT_LE(g.spacing[2], 5.0);
  }
}

TEST(PhantomSampler, AxialOnlyAndValidation)
{
  PhantomSamplingOptions axial;
  axial.axialOnly = true;
  for (uint64_t c = 0; c < 40; ++c)
  {
    const auto p = torchseg::SamplePhantomParameters(3, c, axial);
    EXPECT_EQ(p.geometry.orientation, torchseg::PhantomOrientation::Axial);
    EXPECT_EQ(p.geometry.direction, (std::array<double, 9>{ 1, 0, 0, 0, 1, 0, 0, 0, 1 }));
  }
  PhantomSamplingOptions tooSmall;
  tooSmall.size = 4;
  EXPECT_THROW(torchseg::SamplePhantomParameters(1, 0, tooSmall), itk::ExceptionObject);

  PhantomParameters p = torchseg::SamplePhantomParameters(1, 0, SmallOptions());
  p.geometry.spacing[1] = -1.0;
  EXPECT_THROW(p.Validate(), itk::ExceptionObject);
  p = torchseg::SamplePhantomParameters(1, 0, SmallOptions());
  p.geometry.direction = { 1, 0, 0, 0.1, 1, 0, 0, 0, 1 };
  EXPECT_THROW(p.Validate(), itk::ExceptionObject);
  p = torchseg::SamplePhantomParameters(1, 0, SmallOptions());
  p.tumours.push_back(RoundTumour(TumourKind::Hypodense, 80.0));
  EXPECT_THROW(p.Validate(), itk::ExceptionObject);
  auto source = AbdominalCTPhantomSource::New();
  EXPECT_THROW(source->SetParameters(p), itk::ExceptionObject);
  EXPECT_EQ(torchseg::ContrastPhaseFromString("Portal Venous"), ContrastPhase::PortalVenous);
  EXPECT_EQ(torchseg::ContrastPhaseFromString("arterial"), ContrastPhase::Arterial);
  EXPECT_THROW(torchseg::ContrastPhaseFromString("delayed"), itk::ExceptionObject);
}

// ------------------------------------------------------------------------------------------------------------------
// Rendered images

TEST(PhantomSource, SameSeedGivesIdenticalVoxelsDifferentSeedDiffers)
{
  const Rendered a = RenderSampled(99, 2, SmallOptions());
  const Rendered b = RenderSampled(99, 2, SmallOptions());
  const Rendered c = RenderSampled(100, 2, SmallOptions());
  EXPECT_TRUE(SameBuffer(a.ct.GetPointer(), b.ct.GetPointer()));
  EXPECT_TRUE(SameBuffer(a.label.GetPointer(), b.label.GetPointer()));
  EXPECT_TRUE(SameBuffer(a.tissue.GetPointer(), b.tissue.GetPointer()));
  EXPECT_FALSE(SameBuffer(a.ct.GetPointer(), c.ct.GetPointer()));
}

TEST(PhantomSource, OutputDoesNotDependOnTheNumberOfThreads)
{
  const int saved = itk::MultiThreaderBase::GetGlobalDefaultNumberOfThreads();
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(1);
  auto one = AbdominalCTPhantomSource::New();
  one->SetNumberOfWorkUnits(1);
  one->SetSeed(8);
  one->SetSamplingOptions(SmallOptions());
  const Rendered a = Render(one);
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(std::max(saved, 3));
  auto many = AbdominalCTPhantomSource::New();
  many->SetNumberOfWorkUnits(std::max(saved, 3));
  many->SetSeed(8);
  many->SetSamplingOptions(SmallOptions());
  const Rendered b = Render(many);
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(saved);
  EXPECT_TRUE(SameBuffer(a.ct.GetPointer(), b.ct.GetPointer()));
  EXPECT_TRUE(SameBuffer(a.label.GetPointer(), b.label.GetPointer()));
}

TEST(PhantomSource, OutputsShareTheParametersGeometry)
{
  for (const auto orientation : { torchseg::testing::Orientation::Identity,
                                  torchseg::testing::Orientation::Flipped,
                                  torchseg::testing::Orientation::Oblique })
  {
    PhantomParameters p = torchseg::SamplePhantomParameters(21, 0, SmallOptions());
    const auto        d = torchseg::testing::MakeDirection<3>(orientation);
    for (int r = 0; r < 3; ++r)
    {
      for (int c = 0; c < 3; ++c)
      {
        p.geometry.direction[3 * r + c] = d(r, c);
      }
    }
    p.geometry.size = { 40, 36, 12 };
    const Rendered out = RenderParameters(p);
    for (const itk::ImageBase<3> * image : { static_cast<const itk::ImageBase<3> *>(out.ct.GetPointer()),
                                             static_cast<const itk::ImageBase<3> *>(out.label.GetPointer()),
                                             static_cast<const itk::ImageBase<3> *>(out.tissue.GetPointer()) })
    {
      EXPECT_EQ(image->GetLargestPossibleRegion().GetSize()[0], 40u);
      EXPECT_EQ(image->GetLargestPossibleRegion().GetSize()[1], 36u);
      EXPECT_EQ(image->GetLargestPossibleRegion().GetSize()[2], 12u);
      for (int k = 0; k < 3; ++k)
      {
        EXPECT_EQ(image->GetSpacing()[k], p.geometry.spacing[k]);
        EXPECT_EQ(image->GetOrigin()[k], p.geometry.origin[k]);
      }
      EXPECT_EQ(image->GetDirection(), d);
    }
    const int16_t * v = out.ct->GetBufferPointer();
    const auto      mm = std::minmax_element(v, v + NumberOfPixels(out.ct.GetPointer()));
    EXPECT_GE(*mm.first, -1024);
    EXPECT_LE(*mm.second, 3071);
  }
}

TEST(PhantomSource, AnatomyLivesInWorldCoordinatesWhateverTheAxes)
{
  // The same case on a grid with reversed x and z axes covering the same points: the same voxels, mirrored.
  PhantomParameters p = torchseg::SamplePhantomParameters(31, 1, SmallOptions(ContrastPhase::PortalVenous));
  p.geometry.direction = { 1, 0, 0, 0, 1, 0, 0, 0, 1 };
  p.scanner.noiseSigma = 0.0; // noise is drawn in index space
  p.geometry.size = { 64, 64, 16 };
  PhantomParameters f = p;
  f.geometry.direction = { -1, 0, 0, 0, 1, 0, 0, 0, -1 };
  f.geometry.origin[0] = p.geometry.origin[0] + (p.geometry.size[0] - 1) * p.geometry.spacing[0];
  f.geometry.origin[2] = p.geometry.origin[2] + (p.geometry.size[2] - 1) * p.geometry.spacing[2];
  const Rendered a = RenderParameters(p);
  const Rendered b = RenderParameters(f);
  const auto     size = a.ct->GetLargestPossibleRegion().GetSize();
  std::size_t    labelDiff = 0, liver = 0;
  int            maxDiff = 0;
  for (itk::IndexValueType k = 0; k < static_cast<itk::IndexValueType>(size[2]); ++k)
  {
    for (itk::IndexValueType j = 0; j < static_cast<itk::IndexValueType>(size[1]); ++j)
    {
      for (itk::IndexValueType i = 0; i < static_cast<itk::IndexValueType>(size[0]); ++i)
      {
        const CTImageType::IndexType ia = { { i, j, k } };
        const CTImageType::IndexType ib = {
          { static_cast<itk::IndexValueType>(size[0]) - 1 - i, j, static_cast<itk::IndexValueType>(size[2]) - 1 - k }
        };
        maxDiff = std::max(maxDiff, std::abs(a.ct->GetPixel(ia) - b.ct->GetPixel(ib)));
        labelDiff += a.label->GetPixel(ia) != b.label->GetPixel(ib);
        liver += a.label->GetPixel(ia) == 1;
      }
    }
  }
  EXPECT_GT(liver, 500u);
  EXPECT_LE(maxDiff, 1);
  EXPECT_LE(labelDiff, 2u);
}

TEST(PhantomSource, ObliqueAxesSeeTheSameLiverInTheWorld)
{
  PhantomParameters p = torchseg::SamplePhantomParameters(41, 0, SmallOptions(ContrastPhase::PortalVenous));
  p.geometry.direction = { 1, 0, 0, 0, 1, 0, 0, 0, 1 };
  p.geometry.size = { 80, 80, 40 };
  p.geometry.spacing = { 4.0, 4.0, 4.0 };
  p.geometry.sliceThickness = 4.0;
  const auto & a = p.geometry.anatomyOrigin;
  const auto   centre = std::array<double, 3>{ a[0] - 40.0, a[1], a[2] - 90.0 }; // the right upper quadrant
  auto         place = [&](PhantomParameters & q) {
    for (int r = 0; r < 3; ++r)
    {
      q.geometry.origin[r] = centre[r];
      for (int c = 0; c < 3; ++c)
      {
        q.geometry.origin[r] -=
          q.geometry.direction[3 * r + c] * q.geometry.spacing[c] * 0.5 * (q.geometry.size[c] - 1);
      }
    }
  };
  place(p);
  PhantomParameters o = p;
  const auto        d = torchseg::testing::MakeDirection<3>(torchseg::testing::Orientation::Oblique);
  for (int r = 0; r < 3; ++r)
  {
    for (int c = 0; c < 3; ++c)
    {
      o.geometry.direction[3 * r + c] = d(r, c);
    }
  }
  place(o);
  auto centroid = [](const Rendered & r, double & volume) {
    itk::Vector<double, 3> sum;
    sum.Fill(0.0);
    std::size_t                                            n = 0;
    itk::ImageRegionConstIteratorWithIndex<LabelImageType> it(r.label, r.label->GetLargestPossibleRegion());
    for (; !it.IsAtEnd(); ++it)
    {
      if (it.Get() == 1)
      {
        CTImageType::PointType pt;
        r.label->TransformIndexToPhysicalPoint(it.GetIndex(), pt);
        sum += pt.GetVectorFromOrigin();
        ++n;
      }
    }
    const auto & s = r.label->GetSpacing();
    volume = n * s[0] * s[1] * s[2];
    return sum / static_cast<double>(std::max<std::size_t>(n, 1));
  };
  double     va = 0.0, vo = 0.0;
  const auto ca = centroid(RenderParameters(p), va);
  const auto co = centroid(RenderParameters(o), vo);
  EXPECT_GT(va, 500000.0); // mm^3: the whole liver is in this 320 mm cube
  EXPECT_NEAR(vo / va, 1.0, 0.03);
  EXPECT_LT((ca - co).GetNorm(), 2.0);
}

TEST(PhantomSource, NoiseFreeTissuesHaveTheirHounsfieldValues)
{
  // A 1 mm crop around a tumour deep in the liver, no blur, no noise: every voxel inside a tissue carries that
  // tissue's HU (plus its texture amplitude), by construction.
  PhantomParameters p = CaseWithTumour(51, ContrastPhase::PortalVenous, RoundTumour(TumourKind::Hypodense, 6.0));
  p.scanner.noiseSigma = 0.0;
  p.scanner.psfSigma = 0.0;
  p.liver.vesselScale = 0.1; // vessels thinner than a voxel would blur parenchyma voxels by partial volume
  SetCrop(p, GetTumourWorldCentre(p, p.tumours[0]), 48, 1.0);
  const Rendered out = RenderParameters(p);
  // Two voxels in: soft tumour margins and anti-aliased vessel edges stay outside.
  const auto liver = Eroded(out.tissue, { T(PhantomTissue::Liver) }, false, 2);
  const auto tumour = Eroded(out.tissue, { T(PhantomTissue::Tumour) });
  ASSERT_GT(liver.size(), 1000u);
  ASSERT_GT(tumour.size(), 300u);
  for (const std::size_t o : liver)
  {
    ASSERT_NEAR(out.ct->GetBufferPointer()[o], p.HU(PhantomTissue::Liver), p.liver.heterogeneity + 0.5);
  }
  // Tumours have soft margins: check the core, 3 mm inside.
  const auto core = Eroded(out.tissue, { T(PhantomTissue::Tumour) }, false, 3);
  EXPECT_GT(core.size(), 100u);
  for (const std::size_t o : core)
  {
    ASSERT_NEAR(out.ct->GetBufferPointer()[o], p.tumours[0].coreHU, 5.5);
  }
  EXPECT_NEAR(MeanAt(out.ct, liver), p.HU(PhantomTissue::Liver), 2.0);
}

TEST(PhantomSource, TissueMeansMatchTheirRangesPerPhase)
{
  // Whole small cases with blur and noise: means over eroded tissue regions lie in the clinical ranges.
  std::map<ContrastPhase, double> liverMean, aortaMean;
  for (const ContrastPhase phase : { ContrastPhase::Native, ContrastPhase::Arterial, ContrastPhase::PortalVenous })
  {
    PhantomSamplingOptions options = SmallOptions(phase);
    options.size = 128;
    options.numberOfSlices = 40;
    options.axialOnly = true;
    Rendered r = RenderSampled(61, 0, options);
    if (r.parameters.liver.steatosis > 0.0)
    {
      r = RenderSampled(61, 1, options);
    }
    ASSERT_EQ(r.parameters.liver.steatosis, 0.0);
    auto check = [&](PhantomTissue tissue, double low, double high, std::size_t minimum, int erosion = 1) {
      const auto voxels = Eroded(r.tissue, { T(tissue) }, true, erosion);
      if (voxels.size() < minimum)
      {
        return std::nan("");
      }
      const double mean = MeanAt(r.ct, voxels);
      EXPECT_GE(mean, low) << torchseg::GetTissueName(tissue) << " in " << torchseg::ToString(phase);
      EXPECT_LE(mean, high) << torchseg::GetTissueName(tissue) << " in " << torchseg::ToString(phase);
      // And close to the value the case drew.
      EXPECT_NEAR(mean, r.parameters.HU(tissue), 12.0) << torchseg::GetTissueName(tissue);
      return mean;
    };
    // Clinical ranges, written here independently of the sampler's table.
    const double liverRange[3][2] = { { 40, 72 }, { 58, 95 }, { 90, 135 } };
    const double aortaRange[3][2] = { { 25, 60 }, { 230, 420 }, { 120, 200 } };
    const auto   p = static_cast<int>(phase);
    liverMean[phase] = check(PhantomTissue::Liver, liverRange[p][0], liverRange[p][1], 200);
    aortaMean[phase] = check(PhantomTissue::Artery, aortaRange[p][0], aortaRange[p][1], 5);
    check(PhantomTissue::SubcutaneousFat, -130, -75, 100);
    check(PhantomTissue::Muscle, 30, 80, 100, 2); // the flank's fat planes are thinner than these pixels
    check(PhantomTissue::Spleen, 30, 150, 30);
    check(PhantomTissue::Air, -1024, -950, 1000);
    EXPECT_FALSE(std::isnan(liverMean[phase]));
  }
  EXPECT_LT(liverMean[ContrastPhase::Native], liverMean[ContrastPhase::Arterial]);
  EXPECT_LT(liverMean[ContrastPhase::Arterial], liverMean[ContrastPhase::PortalVenous]);
  EXPECT_GT(aortaMean[ContrastPhase::Arterial], aortaMean[ContrastPhase::PortalVenous]);
  EXPECT_GT(aortaMean[ContrastPhase::PortalVenous], aortaMean[ContrastPhase::Native]);
}

TEST(PhantomSource, LabelsMatchTheImage)
{
  // The liver label covers liver-valued voxels; the label is the tissue map's liver (parenchyma and its vessels)
  // and tumours.
  PhantomSamplingOptions options = SmallOptions(ContrastPhase::PortalVenous);
  options.size = 128;
  options.numberOfSlices = 40;
  const Rendered  r = RenderSampled(71, 3, options);
  const uint8_t * label = r.label->GetBufferPointer();
  const uint8_t * tissue = r.tissue->GetBufferPointer();
  for (std::size_t o = 0; o < NumberOfPixels(r.label.GetPointer()); ++o)
  {
    const auto t = static_cast<PhantomTissue>(tissue[o]);
    const bool tumour =
      t == PhantomTissue::Tumour || t == PhantomTissue::TumourRim || t == PhantomTissue::TumourNecrosis;
    const bool liverTissue =
      t == PhantomTissue::Liver || t == PhantomTissue::HepaticVein || t == PhantomTissue::PortalVein;
    ASSERT_EQ(label[o] == 2, tumour) << o;
    if (label[o] == 1)
    {
      ASSERT_TRUE(liverTissue) << o;
    }
  }
  const auto   liver = Eroded(r.label, { 1 }, true);
  const double mean = MeanAt(r.ct, liver);
  EXPECT_GT(liver.size(), 2000u);
  EXPECT_NEAR(mean, r.parameters.HU(PhantomTissue::Liver), 15.0);
}

TEST(PhantomSource, TumoursLieInsideTheLiverEnvelope)
{
  // Render cases with tumours, then the same cases without them: every tumour voxel was liver.
  int checked = 0;
  for (uint64_t c = 0; c < 12 && checked < 3; ++c)
  {
    PhantomSamplingOptions options = SmallOptions();
    options.axialOnly = true;
    PhantomParameters p = torchseg::SamplePhantomParameters(81, c, options);
    if (p.tumours.size() < 2)
    {
      continue;
    }
    p.geometry.size = { 96, 96, 32 };
    const Rendered with = RenderParameters(p);
    p.tumours.clear();
    const Rendered    without = RenderParameters(p);
    const std::size_t tumourVoxels = Count(with.label, 2);
    if (tumourVoxels == 0)
    {
      continue;
    }
    const uint8_t * a = with.label->GetBufferPointer();
    const uint8_t * b = without.label->GetBufferPointer();
    std::size_t     outside = 0;
    for (std::size_t o = 0; o < NumberOfPixels(with.label.GetPointer()); ++o)
    {
      outside += a[o] == 2 && b[o] != 1;
      ASSERT_FALSE(a[o] == 1 && b[o] != 1) << "liver appeared at " << o;
    }
    EXPECT_EQ(outside, 0u);
    EXPECT_EQ(Count(without.label, 2), 0u);
    EXPECT_EQ(Count(with.label, 1) + tumourVoxels, Count(without.label, 1));
    ++checked;
  }
  EXPECT_EQ(checked, 3);
}

TEST(PhantomSource, TumourVolumeMatchesItsRadiusAndTinyTumoursAreLabelled)
{
  for (const double radius : { 7.0, 2.0 })
  {
    PhantomParameters p = CaseWithTumour(91, ContrastPhase::PortalVenous, RoundTumour(TumourKind::Hypodense, radius));
    const double      spacing = radius > 5.0 ? 1.0 : 0.5;
    SetCrop(p, GetTumourWorldCentre(p, p.tumours[0]), static_cast<unsigned int>(4.0 * radius / spacing + 8), spacing);
    const Rendered out = RenderParameters(p);
    const double   volume = Count(out.label, 2) * spacing * spacing * spacing;
    EXPECT_NEAR(volume / (4.0 / 3.0 * M_PI * radius * radius * radius), 1.0, radius > 5.0 ? 0.04 : 0.1)
      << "radius " << radius;
  }
}

TEST(PhantomSource, TumourContrastFollowsItsKindAndPhase)
{
  struct Case
  {
    TumourKind    kind;
    ContrastPhase phase;
    double        minimum; // tumour mean - liver mean
    double        maximum;
  };
  const Case cases[] = { { TumourKind::Hypodense, ContrastPhase::PortalVenous, -70.0, -25.0 },
                         { TumourKind::Hyperdense, ContrastPhase::Arterial, 20.0, 70.0 },
                         { TumourKind::Cystic, ContrastPhase::PortalVenous, -130.0, -70.0 },
                         { TumourKind::Isodense, ContrastPhase::PortalVenous, -10.0, 8.0 } };
  for (const Case & c : cases)
  {
    PhantomTumour     t = RoundTumour(c.kind, 7.0);
    PhantomParameters p = CaseWithTumour(101, c.phase, t);
    const auto        hu = torchseg::GetTypicalTumourHU(c.kind, c.phase, p.HU(PhantomTissue::Liver));
    p.tumours[0].coreHU = hu.first;
    p.tumours[0].rimHU = hu.second;
    SetCrop(p, GetTumourWorldCentre(p, p.tumours[0]), 40, 1.0);
    p.geometry.sliceThickness = 1.0;
    const Rendered out = RenderParameters(p);
    const double   tumour = MeanAt(out.ct, Eroded(out.label, { 2 }));
    const double   liver = MeanAt(out.ct, Eroded(out.tissue, { T(PhantomTissue::Liver) }));
    EXPECT_GE(tumour - liver, c.minimum) << torchseg::ToString(c.kind);
    EXPECT_LE(tumour - liver, c.maximum) << torchseg::ToString(c.kind);
  }
  // An enhancing rim is brighter than the core.
  PhantomTumour rim = RoundTumour(TumourKind::RimEnhancing, 9.0);
  rim.rimThickness = 3.0;
  PhantomParameters p = CaseWithTumour(111, ContrastPhase::Arterial, rim);
  const auto        rimHU =
    torchseg::GetTypicalTumourHU(TumourKind::RimEnhancing, ContrastPhase::Arterial, p.HU(PhantomTissue::Liver));
  p.tumours[0].coreHU = rimHU.first;
  p.tumours[0].rimHU = rimHU.second;
  SetCrop(p, GetTumourWorldCentre(p, p.tumours[0]), 40, 1.0);
  p.scanner.noiseSigma = 0.0;
  const Rendered out = RenderParameters(p);
  const double   rimMean = MeanAt(out.ct, Eroded(out.tissue, { T(PhantomTissue::TumourRim) }, true));
  const double   coreMean = MeanAt(out.ct, Eroded(out.tissue, { T(PhantomTissue::Tumour) }));
  EXPECT_GT(rimMean, coreMean + 20.0);
}

TEST(PhantomSource, NoiseHasTheRequestedLevelAndCtTexture)
{
  PhantomParameters p = torchseg::SamplePhantomParameters(121, 0, SmallOptions());
  p.geometry.size = { 128, 128, 12 };
  p.geometry.spacing = { 0.7, 0.7, 2.5 };
  p.geometry.direction = { 1, 0, 0, 0, 1, 0, 0, 0, 1 };
  const auto & anatomy = p.geometry.anatomyOrigin;
  p.geometry.origin = { anatomy[0] - 90.0, anatomy[1] - 60.0, anatomy[2] - 100.0 }; // the liver
  p.scanner.noiseSigma = 15.0;
  p.scanner.noiseGrain = 0.8;
  p.scanner.noiseCoarseRatio = 2.5;
  p.scanner.noiseCoarseWeight = 0.6;
  const Rendered noisy = RenderParameters(p);
  p.scanner.noiseSigma = 0.0;
  const Rendered  clean = RenderParameters(p);
  const auto      size = noisy.ct->GetLargestPossibleRegion().GetSize();
  const int16_t * a = noisy.ct->GetBufferPointer();
  const int16_t * b = clean.ct->GetBufferPointer();
  double          s = 0.0, s2 = 0.0, lagX = 0.0, lagZ = 0.0;
  std::size_t     n = 0, nx = 0, nz = 0;
  auto            diff = [&](std::size_t o) { return static_cast<double>(a[o]) - b[o]; };
  for (std::size_t o = 0; o < NumberOfPixels(noisy.ct.GetPointer()); ++o)
  {
    if (b[o] <= -1000 || b[o] >= 3000)
    {
      continue; // clamped
    }
    s += diff(o);
    s2 += diff(o) * diff(o);
    ++n;
    if ((o % size[0]) + 1 < size[0] && b[o + 1] > -1000)
    {
      lagX += diff(o) * diff(o + 1);
      ++nx;
    }
    if (o + size[0] * size[1] < NumberOfPixels(noisy.ct.GetPointer()) && b[o + size[0] * size[1]] > -1000)
    {
      lagZ += diff(o) * diff(o + size[0] * size[1]);
      ++nz;
    }
  }
  const double mean = s / n;
  const double variance = s2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.3);
  EXPECT_NEAR(std::sqrt(variance), 15.0, 0.6);
  EXPECT_GT(lagX / nx / variance, 0.3);         // correlated within the slice
  EXPECT_NEAR(lagZ / nz / variance, 0.0, 0.05); // independent between slices
}

TEST(PhantomSource, LiverVolumeVariesAcrossCasesWithinAdultRange)
{
  std::vector<double> volumes;
  for (uint64_t c = 0; c < 8; ++c)
  {
    PhantomParameters p = torchseg::SamplePhantomParameters(131, c, SmallOptions());
    auto &            g = p.geometry;
    g.direction = { 1, 0, 0, 0, 1, 0, 0, 0, 1 };
    g.size = { 64, 64, 56 };
    g.spacing = { 5.0, 5.0, 4.0 };
    g.sliceThickness = 4.0;
    p.tumours.clear();
    for (int k = 0; k < 3; ++k)
    {
      const double centre = g.anatomyOrigin[k] + (k == 2 ? -95.0 : 0.0);
      g.origin[k] = centre - 0.5 * (g.size[k] - 1) * g.spacing[k];
    }
    const Rendered out = RenderParameters(p);
    volumes.push_back(Count(out.label, 1) * 100.0 / 1.0e6); // litres
  }
  double mean = 0.0, s2 = 0.0;
  for (const double v : volumes)
  {
    EXPECT_GT(v, 0.8); // litres: adult livers, small to hepatomegaly
    EXPECT_LT(v, 3.0);
    mean += v / volumes.size();
  }
  for (const double v : volumes)
  {
    s2 += (v - mean) * (v - mean) / volumes.size();
  }
  EXPECT_GT(std::sqrt(s2) / mean, 0.05);
}

TEST(PhantomSource, VarietyAcrossSeeds)
{
  // Over a handful of small cases: some without tumour voxels, some with, several phases and orientations.
  int           withTumours = 0, without = 0;
  std::set<int> phases, orientations;
  for (uint64_t c = 0; c < 10; ++c)
  {
    PhantomSamplingOptions options = SmallOptions();
    options.size = 64;
    options.numberOfSlices = 16;
    const Rendered r = RenderSampled(141, c, options);
    const bool     labelled = Count(r.label, 2) > 0;
    withTumours += labelled;
    without += !labelled;
    if (r.parameters.tumours.empty())
    {
      EXPECT_FALSE(labelled);
    }
    EXPECT_GT(Count(r.label, 1), 0u);
    phases.insert(static_cast<int>(r.parameters.phase));
    orientations.insert(static_cast<int>(r.parameters.geometry.orientation));
  }
  EXPECT_GE(withTumours, 2);
  EXPECT_GE(without, 2);
  EXPECT_GE(phases.size(), 2u);
  EXPECT_GE(orientations.size(), 2u);
}

TEST(PhantomSource, ReportsProgressAndHonoursAbort)
{
  auto source = AbdominalCTPhantomSource::New();
  source->SetSamplingOptions(SmallOptions());
  std::vector<float> progress;

  auto observer = itk::CStyleCommand::New();
  struct Data
  {
    AbdominalCTPhantomSource * source;
    std::vector<float> *       progress;
    float                      abortAt;
  };
  Data data{ source.GetPointer(), &progress, 2.0f };
  observer->SetClientData(&data);
  observer->SetCallback([](itk::Object *, const itk::EventObject &, void * client) {
    auto * d = static_cast<Data *>(client);
    d->progress->push_back(d->source->GetProgress());
    if (d->source->GetProgress() > d->abortAt)
    {
      d->source->AbortGenerateDataOn();
    }
  });
  source->AddObserver(itk::ProgressEvent(), observer);
  source->Update();
  ASSERT_GE(progress.size(), 5u);
  EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));
  EXPECT_FLOAT_EQ(progress.back(), 1.0f);

  auto aborted = AbdominalCTPhantomSource::New();
  aborted->SetSamplingOptions(SmallOptions());
  progress.clear();
  data = { aborted.GetPointer(), &progress, 0.2f };
  aborted->AddObserver(itk::ProgressEvent(), observer);
  EXPECT_THROW(aborted->Update(), itk::ProcessAborted);
  EXPECT_LT(progress.back(), 0.9f);
}

TEST(PhantomSource, PrintSelfShowsTheParameters)
{
  auto source = AbdominalCTPhantomSource::New();
  source->SetSeed(5);
  source->SetSamplingOptions(SmallOptions());
  source->UpdateOutputInformation();
  std::ostringstream os;
  source->Print(os);
  EXPECT_NE(os.str().find("Seed: 5"), std::string::npos);
  EXPECT_NE(os.str().find("Tumours:"), std::string::npos);
  EXPECT_NE(os.str().find("layers"), std::string::npos);
}
