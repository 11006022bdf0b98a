#include "torchsegPhantomParameters.h"

#include "torchsegPhantomRandom.h"

#include "itkMacro.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace torchseg
{

std::string
ToString(ContrastPhase phase)
{
  switch (phase)
  {
    case ContrastPhase::Native:
      return "native";
    case ContrastPhase::Arterial:
      return "arterial";
    case ContrastPhase::PortalVenous:
      return "portal venous";
  }
  return "unknown";
}

ContrastPhase
ContrastPhaseFromString(const std::string & text)
{
  std::string key;
  for (const char c : text)
  {
    if (c != ' ' && c != '_' && c != '-')
    {
      key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  if (key == "native" || key == "noncontrast")
  {
    return ContrastPhase::Native;
  }
  if (key == "arterial")
  {
    return ContrastPhase::Arterial;
  }
  if (key == "portal" || key == "portalvenous" || key == "venous")
  {
    return ContrastPhase::PortalVenous;
  }
  itkGenericExceptionMacro(<< "Unknown contrast phase \"" << text << "\" (expected native, arterial or portal)");
}

std::string
ToString(PhantomOrientation orientation)
{
  switch (orientation)
  {
    case PhantomOrientation::Axial:
      return "axial";
    case PhantomOrientation::Flipped:
      return "flipped";
    case PhantomOrientation::Oblique:
      return "oblique";
  }
  return "unknown";
}

std::string
ToString(TumourKind kind)
{
  switch (kind)
  {
    case TumourKind::Hypodense:
      return "hypodense";
    case TumourKind::RimEnhancing:
      return "rim-enhancing";
    case TumourKind::Cystic:
      return "cystic";
    case TumourKind::Hyperdense:
      return "hyperdense";
    case TumourKind::Isodense:
      return "isodense";
  }
  return "unknown";
}

const char *
GetTissueName(PhantomTissue tissue)
{
  static const char * const names[NumberOfPhantomTissues] = { "air",
                                                              "skin",
                                                              "subcutaneous fat",
                                                              "muscle",
                                                              "visceral fat",
                                                              "lung",
                                                              "cortical bone",
                                                              "cancellous bone",
                                                              "intervertebral disc",
                                                              "spinal canal",
                                                              "costal cartilage",
                                                              "myocardium",
                                                              "blood pool",
                                                              "artery",
                                                              "vena cava",
                                                              "portal vein",
                                                              "hepatic vein",
                                                              "liver",
                                                              "tumour",
                                                              "tumour rim",
                                                              "tumour necrosis",
                                                              "gallbladder",
                                                              "spleen",
                                                              "kidney cortex",
                                                              "kidney medulla",
                                                              "urine",
                                                              "pancreas",
                                                              "bowel wall",
                                                              "lumen fluid",
                                                              "lumen gas",
                                                              "stool",
                                                              "oral contrast",
                                                              "cyst",
                                                              "calcification",
                                                              "table" };
  const auto                i = static_cast<unsigned int>(tissue);
  return i < NumberOfPhantomTissues ? names[i] : "unknown";
}

namespace
{

struct PhaseRanges
{
  PhantomTissue tissue;
  double        low[3];
  double        high[3];
};

// Mean HU of each tissue per phase (native, late arterial, portal venous), from clinical CT practice.
const PhaseRanges kTissueRanges[] = {
  { PhantomTissue::Air, { -1000, -1000, -1000 }, { -1000, -1000, -1000 } },
  { PhantomTissue::Skin, { 20, 25, 30 }, { 50, 55, 60 } },
  { PhantomTissue::SubcutaneousFat, { -115, -115, -115 }, { -90, -90, -90 } },
  { PhantomTissue::Muscle, { 40, 45, 50 }, { 60, 65, 70 } },
  { PhantomTissue::VisceralFat, { -110, -110, -110 }, { -85, -85, -85 } },
  { PhantomTissue::Lung, { -880, -880, -880 }, { -830, -830, -830 } },
  { PhantomTissue::CorticalBone, { 1000, 1000, 1000 }, { 1400, 1400, 1400 } },
  { PhantomTissue::CancellousBone, { 150, 150, 150 }, { 260, 260, 260 } },
  { PhantomTissue::IntervertebralDisc, { 70, 70, 70 }, { 110, 110, 110 } },
  { PhantomTissue::SpinalCanal, { 10, 10, 10 }, { 30, 30, 30 } },
  { PhantomTissue::CostalCartilage, { 100, 100, 100 }, { 200, 200, 200 } },
  { PhantomTissue::Myocardium, { 40, 90, 90 }, { 55, 130, 120 } },
  { PhantomTissue::BloodPool, { 35, 200, 130 }, { 50, 320, 180 } },
  { PhantomTissue::Artery, { 35, 250, 130 }, { 50, 400, 190 } },
  { PhantomTissue::VenaCava, { 35, 60, 110 }, { 50, 110, 160 } },
  { PhantomTissue::PortalVein, { 35, 100, 150 }, { 50, 160, 200 } },
  { PhantomTissue::HepaticVein, { 35, 40, 130 }, { 50, 70, 180 } },
  { PhantomTissue::Liver, { 50, 65, 100 }, { 65, 85, 125 } },
  { PhantomTissue::Tumour, { 30, 40, 50 }, { 45, 60, 75 } },
  { PhantomTissue::TumourRim, { 45, 85, 100 }, { 60, 110, 130 } },
  { PhantomTissue::TumourNecrosis, { 5, 5, 5 }, { 25, 25, 25 } },
  { PhantomTissue::Gallbladder, { 0, 0, 0 }, { 20, 20, 20 } },
  { PhantomTissue::Spleen, { 40, 100, 105 }, { 55, 140, 130 } },
  { PhantomTissue::KidneyCortex, { 30, 150, 150 }, { 40, 220, 200 } },
  { PhantomTissue::KidneyMedulla, { 30, 60, 140 }, { 40, 100, 190 } },
  { PhantomTissue::Urine, { 0, 0, 0 }, { 15, 15, 15 } },
  { PhantomTissue::Pancreas, { 35, 100, 80 }, { 50, 140, 110 } },
  { PhantomTissue::BowelWall, { 35, 70, 80 }, { 50, 100, 110 } },
  { PhantomTissue::LumenFluid, { 0, 0, 0 }, { 25, 25, 25 } },
  { PhantomTissue::LumenGas, { -1000, -1000, -1000 }, { -950, -950, -950 } },
  { PhantomTissue::Stool, { -120, -120, -120 }, { -20, -20, -20 } },
  { PhantomTissue::OralContrast, { 200, 200, 200 }, { 400, 400, 400 } },
  { PhantomTissue::Cyst, { 0, 0, 0 }, { 15, 15, 15 } },
  { PhantomTissue::Calcification, { 500, 500, 500 }, { 900, 900, 900 } },
  { PhantomTissue::Table, { 150, 150, 150 }, { 300, 300, 300 } },
};
static_assert(sizeof(kTissueRanges) / sizeof(kTissueRanges[0]) == NumberOfPhantomTissues,
              "every tissue needs an HU range");

struct TumourRanges
{
  // Core and rim relative to the liver (cystic cores are absolute), low/high per phase.
  double coreLow[3];
  double coreHigh[3];
  double rimLow[3];
  double rimHigh[3];
  bool   absoluteCore;
};

const TumourRanges &
GetTumourRanges(TumourKind kind)
{
  static const TumourRanges ranges[] = {
    // Hypodense: hypovascular, conspicuous in the portal phase.
    { { -25, -35, -60 }, { -10, -15, -30 }, { -25, -35, -60 }, { -10, -15, -30 }, false },
    // RimEnhancing: hypodense core, rim brighter than liver in the arterial phase, near iso in the portal phase.
    { { -30, -40, -65 }, { -12, -20, -35 }, { -10, 10, -5 }, { 0, 40, 15 }, false },
    // Cystic: water.
    { { 0, 0, 0 }, { 20, 20, 20 }, { 0, 0, 0 }, { 20, 20, 20 }, true },
    // Hyperdense: arterial wash-in, portal washout.
    { { -15, 25, -20 }, { -5, 60, -5 }, { -15, 25, -20 }, { -5, 60, -5 }, false },
    // Isodense.
    { { -6, -5, -8 }, { 6, 10, 5 }, { -6, -5, -8 }, { 6, 10, 5 }, false },
  };
  return ranges[static_cast<unsigned int>(kind)];
}

std::pair<double, double>
SampleTumourHU(TumourKind kind, ContrastPhase phase, double liverHU, PhantomRandom & random)
{
  const TumourRanges & r = GetTumourRanges(kind);
  const auto           p = static_cast<unsigned int>(phase);
  double               core = random.Uniform(r.coreLow[p], r.coreHigh[p]);
  const double         rim = liverHU + random.Uniform(r.rimLow[p], r.rimHigh[p]);
  core = r.absoluteCore ? core : liverHU + core;
  return { std::max(core, 5.0), std::max(rim, 5.0) };
}

// Scanner slice widths, mm, and how often they occur.
const double kSliceWidths[] = { 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0 };
const double kSliceWidthWeights[] = { 0.12, 0.10, 0.08, 0.15, 0.18, 0.10, 0.07, 0.20 };

void
Multiply(const double a[9], const double b[9], double out[9])
{
  for (int r = 0; r < 3; ++r)
  {
    for (int c = 0; c < 3; ++c)
    {
      out[3 * r + c] = a[3 * r] * b[c] + a[3 * r + 1] * b[3 + c] + a[3 * r + 2] * b[6 + c];
    }
  }
}

} // namespace

std::pair<double, double>
GetTissueHURange(PhantomTissue tissue, ContrastPhase phase)
{
  const auto t = static_cast<unsigned int>(tissue);
  if (t >= NumberOfPhantomTissues)
  {
    itkGenericExceptionMacro(<< "GetTissueHURange: invalid tissue " << t);
  }
  const auto p = static_cast<unsigned int>(phase);
  return { kTissueRanges[t].low[p], kTissueRanges[t].high[p] };
}

std::array<float, NumberOfPhantomTissues>
GetTypicalTissueHU(ContrastPhase phase)
{
  std::array<float, NumberOfPhantomTissues> hu{};
  for (unsigned int t = 0; t < NumberOfPhantomTissues; ++t)
  {
    const auto range = GetTissueHURange(static_cast<PhantomTissue>(t), phase);
    hu[t] = static_cast<float>(0.5 * (range.first + range.second));
  }
  return hu;
}

std::array<double, 3>
GetTumourWorldCentre(const PhantomParameters & parameters, const PhantomTumour & tumour)
{
  const auto & a = parameters.geometry.anatomyOrigin;
  return { a[0] + tumour.center[0], a[1] + tumour.center[1], a[2] + tumour.center[2] };
}

std::pair<double, double>
GetTypicalTumourHU(TumourKind kind, ContrastPhase phase, double liverHU)
{
  const TumourRanges & r = GetTumourRanges(kind);
  const auto           p = static_cast<unsigned int>(phase);
  const double         core = 0.5 * (r.coreLow[p] + r.coreHigh[p]);
  const double         rim = liverHU + 0.5 * (r.rimLow[p] + r.rimHigh[p]);
  return { std::max(r.absoluteCore ? core : liverHU + core, 5.0), std::max(rim, 5.0) };
}

PhantomParameters
SamplePhantomParameters(uint64_t seed, uint64_t caseIndex, const PhantomSamplingOptions & options)
{
  if (options.size < 16 || options.size > 2048)
  {
    itkGenericExceptionMacro(<< "Phantom size " << options.size << " is outside [16, 2048]");
  }
  if (options.numberOfSlices > 2000)
  {
    itkGenericExceptionMacro(<< "Phantom slice count " << options.numberOfSlices << " is above 2000");
  }
  PhantomParameters p;
  p.seed = seed;
  p.caseIndex = caseIndex;

  // One stream per aspect, so that e.g. a fixed phase or slice count leaves the anatomy of a case unchanged.
  const uint64_t caseSeed = PhantomRandom::Mix(seed, caseIndex);
  PhantomRandom  rGeometry(PhantomRandom::Mix(caseSeed, 1));
  PhantomRandom  rBody(PhantomRandom::Mix(caseSeed, 2));
  PhantomRandom  rLiver(PhantomRandom::Mix(caseSeed, 3));
  PhantomRandom  rOrgans(PhantomRandom::Mix(caseSeed, 4));
  PhantomRandom  rTumours(PhantomRandom::Mix(caseSeed, 5));
  PhantomRandom  rHU(PhantomRandom::Mix(caseSeed, 6));
  PhantomRandom  rScanner(PhantomRandom::Mix(caseSeed, 7));

  // Most public liver CT is portal venous.
  const auto sampledPhase = static_cast<ContrastPhase>(rHU.Choice({ 0.2, 0.25, 0.55 }));
  p.phase = options.phase ? *options.phase : sampledPhase;

  PhantomBody & body = p.body;
  body.halfWidth = rBody.ClampedNormal(158.0, 18.0, 125.0, 195.0);
  body.halfDepth = body.halfWidth * rBody.Uniform(0.62, 0.80);
  body.squareness = rBody.Uniform(2.1, 2.8);
  body.skinThickness = rBody.Uniform(1.5, 3.0);
  body.subcutaneousFat =
    std::min(rBody.ClampedNormal(8.0 + 0.45 * (body.halfWidth - 125.0), 6.0, 4.0, 50.0), 0.3 * body.halfDepth);
  body.muscleThickness = rBody.Uniform(8.0, 16.0);
  body.leftDomeDrop = rBody.Uniform(5.0, 25.0);
  body.boneDensity = rBody.Uniform(0.6, 1.2);
  body.shapeSeed = rBody.Next();

  PhantomLiver & liver = p.liver;
  liver.scale = rLiver.ClampedNormal(1.0, 0.09, 0.8, 1.25);
  for (double & o : liver.offset)
  {
    o = rLiver.ClampedNormal(0.0, 7.0, -18.0, 18.0);
  }
  liver.leftLobe = rLiver.Uniform(0.5, 1.4);
  liver.riedelLobe = rLiver.Bernoulli(0.15) ? rLiver.Uniform(0.4, 1.0) : 0.0;
  liver.irregularity = rLiver.Uniform(3.0, 10.0);
  liver.vesselScale = rLiver.Uniform(0.8, 1.2);
  liver.steatosis = rLiver.Bernoulli(0.1) ? rLiver.Uniform(15.0, 40.0) : 0.0;
  liver.heterogeneity = rLiver.Uniform(2.0, 6.0);
  liver.shapeSeed = rLiver.Next();

  PhantomOrgans & organs = p.organs;
  organs.gallbladder = rOrgans.Bernoulli(0.75);
  organs.gallstones = rOrgans.Bernoulli(0.12) && organs.gallbladder;
  organs.stomachSize = rOrgans.Uniform(0.6, 1.3);
  organs.stomachGas = rOrgans.Uniform(0.0, 0.6);
  organs.stomachContents = static_cast<int>(rOrgans.Choice({ 0.6, 0.25, 0.15 }));
  organs.oralContrast = rOrgans.Bernoulli(0.2);
  organs.kidneyScale = rOrgans.Uniform(0.85, 1.15);
  organs.renalCyst = rOrgans.Bernoulli(0.15);
  organs.spleenScale = rOrgans.Uniform(0.75, 1.35);
  organs.aorticCalcification = rOrgans.Bernoulli(0.3);
  organs.shapeSeed = rOrgans.Next();

  for (unsigned int t = 0; t < NumberOfPhantomTissues; ++t)
  {
    const auto range = GetTissueHURange(static_cast<PhantomTissue>(t), p.phase);
    p.tissueHU[t] = static_cast<float>(rHU.Uniform(range.first, range.second));
  }
  // Cancellous bone follows the patient's bone density (age) within its range.
  const auto boneRange = GetTissueHURange(PhantomTissue::CancellousBone, p.phase);
  p.tissueHU[static_cast<unsigned int>(PhantomTissue::CancellousBone)] =
    static_cast<float>(boneRange.first + (boneRange.second - boneRange.first) * (body.boneDensity - 0.6) / 0.6);
  const auto liverIndex = static_cast<unsigned int>(PhantomTissue::Liver);
  p.tissueHU[liverIndex] -= static_cast<float>(liver.steatosis);
  const double liverHU = p.tissueHU[liverIndex];

  // Tumours: none in about a fifth of the cases; a fifth of them tiny (3-7 mm).
  const std::size_t numberOfTumours = rTumours.Choice({ 0.22, 0.22, 0.16, 0.12, 0.09, 0.07, 0.05, 0.04, 0.03 });
  for (std::size_t i = 0; i < numberOfTumours; ++i)
  {
    PhantomTumour t;
    t.kind = static_cast<TumourKind>(rTumours.Choice({ 0.45, 0.2, 0.1, 0.15, 0.1 }));
    t.radius = rTumours.Bernoulli(0.2) ? rTumours.Uniform(1.5, 3.5) : rTumours.LogUniform(3.5, 25.0);
    for (double & e : t.elongation)
    {
      e = rTumours.Uniform(0.8, 1.2);
    }
    t.irregularity = t.kind == TumourKind::Cystic ? rTumours.Uniform(0.02, 0.06) : rTumours.Uniform(0.05, 0.3);
    t.rimThickness = t.kind == TumourKind::RimEnhancing ? std::min(rTumours.Uniform(1.5, 4.0), 0.45 * t.radius) : 0.0;
    const bool canNecrose =
      t.kind == TumourKind::Hypodense || t.kind == TumourKind::RimEnhancing || t.kind == TumourKind::Hyperdense;
    t.necrosis = canNecrose && t.radius > 12.0 && rTumours.Bernoulli(0.5) ? rTumours.Uniform(0.3, 0.6) : 0.0;
    const auto hu = SampleTumourHU(t.kind, p.phase, liverHU, rTumours);
    t.coreHU = hu.first;
    t.rimHU = hu.second;
    t.autoPlace = true;
    t.shapeSeed = rTumours.Next();
    p.tumours.push_back(t);
  }

  PhantomScanner & scanner = p.scanner;
  scanner.psfSigma = rScanner.Uniform(0.35, 0.8);
  scanner.noiseSigma = rScanner.Triangular(5.0, 13.0, 25.0);
  scanner.noiseGrain = rScanner.Uniform(0.45, 0.9);
  scanner.noiseCoarseRatio = rScanner.Uniform(2.0, 3.2);
  scanner.noiseCoarseWeight = rScanner.Uniform(0.3, 0.75);
  scanner.noiseSeed = rScanner.Next();

  // Geometry. The reconstruction field of view adapts to the patient: 0.6-1.0 mm pixels at 512; other matrix
  // sizes keep the field of view, so the whole body is in every image.
  PhantomGeometry & g = p.geometry;
  const double      fov = std::clamp(2.0 * body.halfWidth * rGeometry.Uniform(1.06, 1.3), 307.2, 512.0);
  const double      inPlane = std::round(fov / options.size * 1.0e4) / 1.0e4;
  const double      coverage = rGeometry.Uniform(150.0, 330.0);
  const std::size_t widthChoice =
    rGeometry.Choice(std::vector<double>(std::begin(kSliceWidthWeights), std::end(kSliceWidthWeights)));
  double       sliceWidth = kSliceWidths[widthChoice];
  unsigned int slices = 0;
  if (options.numberOfSlices > 0)
  {
    // The nearest scanner slice width to the sampled coverage.
    slices = options.numberOfSlices;
    const double wanted = coverage / slices;
    sliceWidth = kSliceWidths[0];
    for (const double w : kSliceWidths)
    {
      if (std::abs(w - wanted) < std::abs(sliceWidth - wanted))
      {
        sliceWidth = w;
      }
    }
  }
  else
  {
    slices = static_cast<unsigned int>(std::clamp(std::round(coverage / sliceWidth), 20.0, 360.0));
  }
  g.size = { options.size, options.size, slices };
  g.spacing = { inPlane, inPlane, sliceWidth };
  g.sliceThickness = sliceWidth;

  const double orientationDraw = rGeometry.Uniform();
  const double flipDraw = rGeometry.Uniform();
  const double tiltX = rGeometry.Sign() * rGeometry.Uniform(2.0, 10.0) * M_PI / 180.0;
  const double rollZ = rGeometry.Bernoulli(0.5) ? rGeometry.Uniform(-5.0, 5.0) * M_PI / 180.0 : 0.0;
  const double yawY = rGeometry.Bernoulli(0.3) ? rGeometry.Uniform(-3.0, 3.0) * M_PI / 180.0 : 0.0;
  g.orientation = PhantomOrientation::Axial;
  if (!options.axialOnly)
  {
    g.orientation = orientationDraw < 0.7    ? PhantomOrientation::Axial
                    : orientationDraw < 0.85 ? PhantomOrientation::Flipped
                                             : PhantomOrientation::Oblique;
  }
  g.direction = { 1, 0, 0, 0, 1, 0, 0, 0, 1 };
  if (g.orientation == PhantomOrientation::Flipped)
  {
    // Any non-empty set of reversed axes (bit k: axis k).
    const int mask = 1 + static_cast<int>(flipDraw * 7.0);
    for (int k = 0; k < 3; ++k)
    {
      if (mask & (1 << k))
      {
        g.direction[4 * k] = -1.0;
      }
    }
  }
  else if (g.orientation == PhantomOrientation::Oblique)
  {
    const double rx[9] = { 1, 0, 0, 0, std::cos(tiltX), -std::sin(tiltX), 0, std::sin(tiltX), std::cos(tiltX) };
    const double ry[9] = { std::cos(yawY), 0, std::sin(yawY), 0, 1, 0, -std::sin(yawY), 0, std::cos(yawY) };
    const double rz[9] = { std::cos(rollZ), -std::sin(rollZ), 0, std::sin(rollZ), std::cos(rollZ), 0, 0, 0, 1 };
    double       ryx[9];
    Multiply(ry, rx, ryx);
    Multiply(rz, ryx, g.direction.data());
  }

  g.anatomyOrigin = { rGeometry.Uniform(-25.0, 25.0),
                      rGeometry.Uniform(-60.0, 60.0),
                      rGeometry.Uniform(-900.0, 200.0) };
  // Scan range: its top from a little below the right dome (liver dome cut off) to above it (lung bases, heart).
  const double top = rGeometry.Uniform(-25.0, 45.0);
  const double extent = (slices - 1) * sliceWidth;
  const double centre[3] = { g.anatomyOrigin[0] + rGeometry.Uniform(-15.0, 15.0),
                             g.anatomyOrigin[1] + rGeometry.Uniform(-5.0, 30.0),
                             g.anatomyOrigin[2] + top - 0.5 * extent };
  for (int r = 0; r < 3; ++r)
  {
    double o = centre[r];
    for (int c = 0; c < 3; ++c)
    {
      o -= g.direction[3 * r + c] * g.spacing[c] * 0.5 * (g.size[c] - 1.0);
    }
    g.origin[r] = o;
  }
  p.Validate();
  return p;
}

void
PhantomParameters::Validate() const
{
  const PhantomGeometry & g = geometry;
  for (int k = 0; k < 3; ++k)
  {
    if (g.size[k] < (k < 2 ? 8u : 1u) || g.size[k] > 4096)
    {
      itkGenericExceptionMacro(<< "Phantom size " << g.size[k] << " along axis " << k << " is outside ["
                               << (k < 2 ? 8 : 1) << ", 4096]");
    }
    if (!(g.spacing[k] > 0.0 && g.spacing[k] <= 50.0))
    {
      itkGenericExceptionMacro(<< "Phantom spacing " << g.spacing[k] << " along axis " << k
                               << " is outside (0, 50] mm");
    }
    if (!std::isfinite(g.origin[k]) || !std::isfinite(g.anatomyOrigin[k]))
    {
      itkGenericExceptionMacro(<< "Phantom origin is not finite");
    }
  }
  for (int a = 0; a < 3; ++a)
  {
    for (int b = 0; b < 3; ++b)
    {
      double dot = 0.0;
      for (int r = 0; r < 3; ++r)
      {
        dot += g.direction[3 * r + a] * g.direction[3 * r + b];
      }
      if (!(std::abs(dot - (a == b ? 1.0 : 0.0)) < 1.0e-6))
      {
        itkGenericExceptionMacro(<< "Phantom direction is not orthonormal (columns " << a << " and " << b
                                 << " have dot product " << dot << ")");
      }
    }
  }
  if (!(g.sliceThickness > 0.0 && g.sliceThickness <= 50.0))
  {
    itkGenericExceptionMacro(<< "Phantom slice thickness " << g.sliceThickness << " is outside (0, 50] mm");
  }
  if (!(scanner.psfSigma >= 0.0 && scanner.psfSigma <= 10.0))
  {
    itkGenericExceptionMacro(<< "Phantom PSF sigma " << scanner.psfSigma << " is outside [0, 10] mm");
  }
  if (!(scanner.noiseSigma >= 0.0 && scanner.noiseSigma <= 500.0))
  {
    itkGenericExceptionMacro(<< "Phantom noise sigma " << scanner.noiseSigma << " is outside [0, 500] HU");
  }
  if (scanner.noiseSigma > 0.0 &&
      !(scanner.noiseGrain > 0.0 && scanner.noiseGrain <= 10.0 && scanner.noiseCoarseRatio >= 1.0 &&
        scanner.noiseCoarseRatio <= 10.0 && scanner.noiseCoarseWeight >= 0.0 && scanner.noiseCoarseWeight < 1.0))
  {
    itkGenericExceptionMacro(<< "Phantom noise texture (grain " << scanner.noiseGrain << " mm, coarse ratio "
                             << scanner.noiseCoarseRatio << ", coarse weight " << scanner.noiseCoarseWeight
                             << ") is invalid");
  }
  if (!(body.halfWidth >= 60.0 && body.halfWidth <= 300.0 && body.halfDepth >= 50.0 &&
        body.halfDepth <= body.halfWidth && body.squareness >= 1.5 && body.squareness <= 6.0))
  {
    itkGenericExceptionMacro(<< "Phantom body size " << body.halfWidth << " x " << body.halfDepth << " mm (squareness "
                             << body.squareness << ") is invalid");
  }
  if (!(body.subcutaneousFat >= 0.0 && body.muscleThickness > 0.0 && body.skinThickness > 0.0 &&
        body.skinThickness + body.subcutaneousFat + body.muscleThickness < 0.7 * body.halfDepth))
  {
    itkGenericExceptionMacro(<< "Phantom body wall (skin " << body.skinThickness << ", fat " << body.subcutaneousFat
                             << ", muscle " << body.muscleThickness << " mm) is invalid");
  }
  if (!(liver.scale >= 0.5 && liver.scale <= 1.6))
  {
    itkGenericExceptionMacro(<< "Phantom liver scale " << liver.scale << " is outside [0.5, 1.6]");
  }
  for (const float hu : tissueHU)
  {
    if (!std::isfinite(hu) || hu < -1024.0f || hu > 3071.0f)
    {
      itkGenericExceptionMacro(<< "Phantom tissue HU " << hu << " is outside [-1024, 3071]");
    }
  }
  for (std::size_t i = 0; i < tumours.size(); ++i)
  {
    const PhantomTumour & t = tumours[i];
    if (!(t.radius >= 0.5 && t.radius <= 60.0))
    {
      itkGenericExceptionMacro(<< "Phantom tumour " << i << " radius " << t.radius << " is outside [0.5, 60] mm");
    }
    if (!(t.rimThickness >= 0.0 && t.rimThickness < t.radius && t.necrosis >= 0.0 && t.necrosis < 1.0 &&
          t.irregularity >= 0.0 && t.irregularity <= 0.5))
    {
      itkGenericExceptionMacro(<< "Phantom tumour " << i << " rim/necrosis/irregularity is invalid");
    }
    for (const double e : t.elongation)
    {
      if (!(e >= 0.3 && e <= 3.0))
      {
        itkGenericExceptionMacro(<< "Phantom tumour " << i << " elongation " << e << " is outside [0.3, 3]");
      }
    }
  }
}

void
PhantomParameters::Print(std::ostream & os, itk::Indent indent) const
{
  const PhantomGeometry & g = geometry;
  os << indent << "Seed: " << seed << ", case " << caseIndex << std::endl;
  os << indent << "Size: " << g.size[0] << " x " << g.size[1] << " x " << g.size[2] << std::endl;
  os << indent << "Spacing: " << g.spacing[0] << ", " << g.spacing[1] << ", " << g.spacing[2] << " mm; slice thickness "
     << g.sliceThickness << " mm" << std::endl;
  os << indent << "Origin: " << g.origin[0] << ", " << g.origin[1] << ", " << g.origin[2] << std::endl;
  os << indent << "Direction:";
  for (const double d : g.direction)
  {
    os << ' ' << d;
  }
  os << " (" << ToString(g.orientation) << ")" << std::endl;
  os << indent << "AnatomyOrigin: " << g.anatomyOrigin[0] << ", " << g.anatomyOrigin[1] << ", " << g.anatomyOrigin[2]
     << std::endl;
  os << indent << "Phase: " << ToString(phase) << std::endl;
  os << indent << "Scanner: PSF sigma " << scanner.psfSigma << " mm, noise sigma " << scanner.noiseSigma
     << " HU, grain " << scanner.noiseGrain << " mm, coarse ratio " << scanner.noiseCoarseRatio << ", weight "
     << scanner.noiseCoarseWeight << ", seed " << scanner.noiseSeed << std::endl;
  os << indent << "Body: " << body.halfWidth << " x " << body.halfDepth << " mm, squareness " << body.squareness
     << ", skin " << body.skinThickness << ", fat " << body.subcutaneousFat << ", muscle " << body.muscleThickness
     << ", left dome drop " << body.leftDomeDrop << ", bone density " << body.boneDensity << ", seed " << body.shapeSeed
     << std::endl;
  os << indent << "Liver: scale " << liver.scale << ", offset " << liver.offset[0] << ", " << liver.offset[1] << ", "
     << liver.offset[2] << ", left lobe " << liver.leftLobe << ", Riedel lobe " << liver.riedelLobe << ", irregularity "
     << liver.irregularity << ", vessels " << liver.vesselScale << ", steatosis " << liver.steatosis
     << ", heterogeneity " << liver.heterogeneity << ", seed " << liver.shapeSeed << std::endl;
  os << indent << "Organs: gallbladder " << organs.gallbladder << ", gallstones " << organs.gallstones
     << ", stomach size " << organs.stomachSize << ", gas " << organs.stomachGas << ", contents "
     << organs.stomachContents << ", oral contrast " << organs.oralContrast << ", kidneys " << organs.kidneyScale
     << ", renal cyst " << organs.renalCyst << ", spleen " << organs.spleenScale << ", aortic calcification "
     << organs.aorticCalcification << ", seed " << organs.shapeSeed << std::endl;
  os << indent << "TissueHU:";
  for (unsigned int t = 0; t < NumberOfPhantomTissues; ++t)
  {
    os << (t ? ", " : " ") << GetTissueName(static_cast<PhantomTissue>(t)) << " " << tissueHU[t];
  }
  os << std::endl;
  os << indent << "Tumours: " << tumours.size() << std::endl;
  for (const PhantomTumour & t : tumours)
  {
    os << indent.GetNextIndent() << ToString(t.kind) << " radius " << t.radius << " mm, elongation " << t.elongation[0]
       << "/" << t.elongation[1] << "/" << t.elongation[2] << ", irregularity " << t.irregularity << ", rim "
       << t.rimThickness << " mm, necrosis " << t.necrosis << ", core " << t.coreHU << " HU, rim " << t.rimHU << " HU, "
       << (t.autoPlace ? "placed at " : "centre ") << t.center[0] << ", " << t.center[1] << ", " << t.center[2]
       << ", seed " << t.shapeSeed << std::endl;
  }
}

} // namespace torchseg
