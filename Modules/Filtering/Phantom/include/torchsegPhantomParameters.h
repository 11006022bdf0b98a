#ifndef torchsegPhantomParameters_h
#define torchsegPhantomParameters_h

#include "itkIndent.h"

#include <array>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace torchseg
{

/** Contrast phase of a CT acquisition. */
enum class ContrastPhase : uint8_t
{
  Native = 0,      //!< no intravenous contrast
  Arterial = 1,    //!< late arterial (~35 s): aorta and arterially fed tissue bright, hepatic veins dark
  PortalVenous = 2 //!< portal venous (~70 s): liver, portal and hepatic veins bright
};

/** "native", "arterial", "portal venous". */
std::string
ToString(ContrastPhase phase);

/** Parses "native", "arterial", "portal", "portalvenous" or "portal venous"; throws itk::ExceptionObject naming
 * the text otherwise. */
ContrastPhase
ContrastPhaseFromString(const std::string & text);

/** How the image axes relate to the patient. */
enum class PhantomOrientation : uint8_t
{
  Axial = 0,   //!< axial LPS, identity direction
  Flipped = 1, //!< one or more image axes reversed
  Oblique = 2  //!< rotated by a few degrees (gantry tilt, patient roll)
};

std::string
ToString(PhantomOrientation orientation);

/** Kinds of liver tumour, by their appearance after contrast. */
enum class TumourKind : uint8_t
{
  Hypodense = 0,    //!< hypovascular (e.g. colorectal metastasis): darker than liver, most in portal phase
  RimEnhancing = 1, //!< hypodense core with an enhancing rim
  Cystic = 2,       //!< fluid density, sharp margin, no enhancement
  Hyperdense = 3,   //!< hypervascular (e.g. HCC): bright in arterial phase, washout in portal phase
  Isodense = 4      //!< close to liver in every phase
};

std::string
ToString(TumourKind kind);

/** The tissue classes of the phantom (its third output): the ground truth of every voxel, from which the
 * liver/tumour label is derived. */
enum class PhantomTissue : uint8_t
{
  Air = 0,
  Skin,
  SubcutaneousFat,
  Muscle,
  VisceralFat,
  Lung,
  CorticalBone,
  CancellousBone,
  IntervertebralDisc,
  SpinalCanal,
  CostalCartilage,
  Myocardium,
  BloodPool,
  Artery,
  VenaCava,
  PortalVein,
  HepaticVein,
  Liver,
  Tumour,
  TumourRim,
  TumourNecrosis,
  Gallbladder,
  Spleen,
  KidneyCortex,
  KidneyMedulla,
  Urine,
  Pancreas,
  BowelWall,
  LumenFluid,
  LumenGas,
  Stool,
  OralContrast,
  Cyst,
  Calcification,
  Table,
  Count
};

constexpr unsigned int NumberOfPhantomTissues = static_cast<unsigned int>(PhantomTissue::Count);

/** "subcutaneous fat", "liver", ... */
const char *
GetTissueName(PhantomTissue tissue);

/** The interval the sampler draws a tissue's mean HU from, for a phase (livers without steatosis; tumours have
 * their own values relative to the liver). */
std::pair<double, double>
GetTissueHURange(PhantomTissue tissue, ContrastPhase phase);

/** Image grid of one case: the two outputs share it exactly. */
struct PhantomGeometry
{
  std::array<unsigned int, 3> size{ { 512, 512, 120 } };
  std::array<double, 3>       spacing{ { 0.8, 0.8, 2.5 } };
  std::array<double, 3>       origin{ { 0.0, 0.0, 0.0 } };
  /** Row-major 3x3 ITK direction: column k is the LPS direction of image axis k. */
  std::array<double, 9> direction{ { 1, 0, 0, 0, 1, 0, 0, 0, 1 } };
  PhantomOrientation    orientation = PhantomOrientation::Axial;
  double                sliceThickness = 2.5; //!< mm, the width of the slice sensitivity profile
  /** World (LPS, mm) position of the anatomy frame: the body's axis at the height of the right diaphragm dome.
   * Anatomy-frame coordinates are world coordinates minus this point (x patient left, y posterior, z superior). */
  std::array<double, 3> anatomyOrigin{ { 0.0, 0.0, 0.0 } };
};

/** Scanner model: point spread function and noise. */
struct PhantomScanner
{
  double   psfSigma = 0.5;          //!< mm, in-plane Gaussian point spread function; 0 = none
  double   noiseSigma = 12.0;       //!< HU, standard deviation of the noise; 0 = none
  double   noiseGrain = 0.7;        //!< mm, sigma of the fine Gaussian of the noise's band-pass filter
  double   noiseCoarseRatio = 2.5;  //!< sigma of the coarse Gaussian / noiseGrain
  double   noiseCoarseWeight = 0.6; //!< weight of the coarse Gaussian subtracted from the fine one (0 = low-pass)
  uint64_t noiseSeed = 0;
};

/** The patient's build. Distances in mm. */
struct PhantomBody
{
  double   halfWidth = 160.0;      //!< lateral semi-axis of the body outline
  double   halfDepth = 115.0;      //!< anterior-posterior semi-axis
  double   squareness = 2.4;       //!< superellipse exponent of the outline (2 = ellipse)
  double   skinThickness = 2.0;    //!< skin
  double   subcutaneousFat = 20.0; //!< mean subcutaneous fat thickness
  double   muscleThickness = 12.0; //!< abdominal wall muscle thickness
  double   leftDomeDrop = 15.0;    //!< how much lower the left diaphragm dome lies than the right
  double   boneDensity = 1.0;      //!< 0.6-1.2: where cancellous bone HU lies in its range (age); sampler only
  uint64_t shapeSeed = 0;
};

/** The liver's shape. */
struct PhantomLiver
{
  double                scale = 1.0;           //!< overall size factor
  std::array<double, 3> offset{ { 0, 0, 0 } }; //!< mm, displacement of the lobes in the anatomy frame
  double                leftLobe = 1.0;        //!< size factor of the left lateral lobe
  double                riedelLobe = 0.0;      //!< 0..1, tongue-like inferior extension of the right lobe
  double                irregularity = 6.0;    //!< mm, amplitude of the low-frequency surface deformation
  double                vesselScale = 1.0;     //!< scale of the hepatic and portal vessel radii
  double                steatosis = 0.0;       //!< HU by which fatty infiltration lowers the parenchyma
  double                heterogeneity = 4.0;   //!< HU, amplitude of the parenchymal texture
  uint64_t              shapeSeed = 0;
};

/** One liver tumour. Distances in mm. */
struct PhantomTumour
{
  TumourKind            kind = TumourKind::Hypodense;
  double                radius = 10.0;             //!< equivalent-sphere radius (diameters 3-50 mm)
  std::array<double, 3> elongation{ { 1, 1, 1 } }; //!< semi-axis factors
  double                irregularity = 0.1;        //!< surface deformation relative to the radius
  double                rimThickness = 0.0;        //!< enhancing rim, 0 = none
  double                necrosis = 0.0;            //!< radius fraction of the fluid core, 0 = none
  double                coreHU = 60.0;             //!< mean HU of the tumour in this case's phase
  double                rimHU = 60.0;              //!< mean HU of the rim
  bool                  autoPlace = true;          //!< place inside the liver from shapeSeed
  std::array<double, 3> center{ { 0, 0, 0 } };     //!< anatomy frame; filled in when placed automatically
  uint64_t              shapeSeed = 0;
};

/** Discrete anatomical variants and the other organs' sizes. */
struct PhantomOrgans
{
  bool     gallbladder = true;
  bool     gallstones = false;
  double   stomachSize = 1.0;    //!< size factor (collapsed to distended)
  double   stomachGas = 0.3;     //!< fraction of the stomach's anterior-posterior extent filled with gas
  int      stomachContents = 0;  //!< 0 fluid, 1 food, 2 positive oral contrast
  bool     oralContrast = false; //!< positive oral contrast in the small bowel
  double   kidneyScale = 1.0;
  bool     renalCyst = false;
  double   spleenScale = 1.0;
  bool     aorticCalcification = false;
  uint64_t shapeSeed = 0;
};

/** Everything that defines one phantom case; SamplePhantomParameters() draws it from (seed, case index), or it
 * can be filled in by hand. */
struct PhantomParameters
{
  uint64_t                                  seed = 0;
  uint64_t                                  caseIndex = 0;
  PhantomGeometry                           geometry;
  PhantomScanner                            scanner;
  ContrastPhase                             phase = ContrastPhase::PortalVenous;
  PhantomBody                               body;
  PhantomLiver                              liver;
  PhantomOrgans                             organs;
  std::array<float, NumberOfPhantomTissues> tissueHU{}; //!< mean HU of each tissue in this case
  std::vector<PhantomTumour>                tumours;

  /** The mean HU of a tissue. */
  float
  HU(PhantomTissue tissue) const
  {
    return tissueHU[static_cast<unsigned int>(tissue)];
  }

  /** Throws itk::ExceptionObject naming the first invalid value (size, spacing, direction, radii, ...). */
  void
  Validate() const;

  void
  Print(std::ostream & os, itk::Indent indent = itk::Indent()) const;
};

/** What the sampler may vary. */
struct PhantomSamplingOptions
{
  unsigned int                 size = 512;         //!< in-plane voxels (the field of view adapts to the body)
  unsigned int                 numberOfSlices = 0; //!< 0 = drawn per case (tens to hundreds)
  std::optional<ContrastPhase> phase;              //!< fixed phase, or drawn per case
  bool                         axialOnly = false;  //!< never flipped or oblique
};

/** The parameters of case \a caseIndex of the series \a seed: a pure function of its arguments, the same on every
 * machine (PhantomRandom streams derived from (seed, caseIndex); the case does not depend on the other cases). */
PhantomParameters
SamplePhantomParameters(uint64_t seed, uint64_t caseIndex, const PhantomSamplingOptions & options = {});

/** World (LPS, mm) position of a tumour's centre (its centre is kept in the anatomy frame of \a parameters). */
std::array<double, 3>
GetTumourWorldCentre(const PhantomParameters & parameters, const PhantomTumour & tumour);

/** The HU of every tissue at the middle of its range for \a phase, for hand-built parameters. */
std::array<float, NumberOfPhantomTissues>
GetTypicalTissueHU(ContrastPhase phase);

/** A tumour's core and rim HU for a kind, phase and liver HU, at the middle of the sampled ranges. */
std::pair<double, double>
GetTypicalTumourHU(TumourKind kind, ContrastPhase phase, double liverHU);

} // namespace torchseg

#endif
