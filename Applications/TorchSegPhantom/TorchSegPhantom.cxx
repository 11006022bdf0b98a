// TorchSegPhantom: writes synthetic abdominal CT cases (int16 HU) with their liver/tumour label images, drawn from a
// seed by the TorchSegPhantom library (docs/phantom.md).
#include "TorchSegPhantomXML.h"

#include "torchsegAbdominalCTPhantomSource.h"
#include "torchsegApplication.h"
#include "torchsegAtomicOutput.h"
#include "torchsegImageIO.h"
#include "torchsegLabelTable.h"
#include "torchsegPhantomRandom.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

namespace
{

namespace fs = std::filesystem;
using torchseg::cli::UsageError;

std::string
CaseName(int64_t index)
{
  char text[32];
  std::snprintf(text, sizeof(text), "case%03lld", static_cast<long long>(index));
  return text;
}

/** The directory the cases go to: an existing directory, or a new one whose parent exists. */
class OutputDirectory
{
public:
  explicit OutputDirectory(const std::string & text)
  {
    if (text.empty())
    {
      throw UsageError("--outputDirectory is empty");
    }
    m_Path = fs::path(text);
    while (!m_Path.empty() && !m_Path.has_filename() && m_Path != m_Path.root_path())
    {
      m_Path = m_Path.parent_path(); // "out/" is "out"
    }
    std::error_code ec;
    const auto      status = fs::status(m_Path, ec);
    if (fs::exists(status))
    {
      if (!fs::is_directory(status))
      {
        itkGenericExceptionMacro(<< "Output directory " << text << " exists and is not a directory");
      }
    }
    else
    {
      const fs::path parent = m_Path.has_parent_path() ? m_Path.parent_path() : fs::path(".");
      if (!fs::is_directory(parent, ec))
      {
        itkGenericExceptionMacro(<< "Cannot create output directory " << text << ": its parent " << parent.string()
                                 << " does not exist");
      }
      if (!fs::create_directory(m_Path, ec) || ec)
      {
        itkGenericExceptionMacro(<< "Cannot create output directory " << text << ": " << ec.message());
      }
      m_Created = true;
    }
    if (::access(m_Path.c_str(), W_OK | X_OK) != 0)
    {
      this->RemoveIfCreatedAndEmpty();
      itkGenericExceptionMacro(<< "Output directory " << text << " is not writable");
    }
  }

  /** A failed run leaves no directory it created and left empty. */
  ~OutputDirectory()
  {
    if (!m_Kept)
    {
      this->RemoveIfCreatedAndEmpty();
    }
  }

  void
  Keep()
  {
    m_Kept = true;
  }

  const fs::path &
  GetPath() const
  {
    return m_Path;
  }

private:
  void
  RemoveIfCreatedAndEmpty()
  {
    std::error_code ec;
    if (m_Created && fs::is_empty(m_Path, ec) && !ec)
    {
      fs::remove(m_Path, ec);
    }
  }

  fs::path m_Path;
  bool     m_Created = false;
  bool     m_Kept = false;
};

void
WriteText(torchseg::AtomicOutput & output, const std::string & text)
{
  std::ofstream file(output.GetTemporaryPath(), std::ios::binary);
  file << text;
  file.close();
  if (!file)
  {
    itkGenericExceptionMacro(<< "Cannot write " << output.GetTargetPath().string());
  }
}

int
RequireRange(const torchseg::cli::ParsedArguments & args, const std::string & name, int low, int high,
             const std::string & what)
{
  const int value = args.GetInt(name);
  if (value < low || value > high)
  {
    throw UsageError("--" + name + " " + args.GetString(name) + " is outside [" + std::to_string(low) + ", " +
                     std::to_string(high) + "] (" + what + ")");
  }
  return value;
}

} // namespace

int
main(int argc, char * argv[])
{
  torchseg::cli::Application application(TorchSegPhantomXMLDescription, "TorchSegPhantom");
  return application.Run(argc, argv, [](const torchseg::cli::ParsedArguments & args, torchseg::cli::Application & app) {
    const std::string                directoryText = args.Require("outputDirectory");
    const int                        cases = RequireRange(args, "cases", 1, 1000000, "the number of cases");
    const int                        firstCase = RequireRange(args, "firstCase", 0, 1000000000, "a case index");
    const int                        seed = RequireRange(args, "seed", 0, 2147483647, "a non-negative seed");
    torchseg::PhantomSamplingOptions options;
    options.size = static_cast<unsigned int>(RequireRange(args, "size", 16, 2048, "voxels per row"));
    options.numberOfSlices = static_cast<unsigned int>(RequireRange(args, "slices", 0, 2000, "0 draws it per case"));
    options.axialOnly = args.GetBool("axialOnly");
    const std::string phase = args.GetString("phase");
    if (phase != "random")
    {
      options.phase = torchseg::ContrastPhaseFromString(phase);
    }
    const std::string format = args.GetString("format");
    const bool        dicom = format == "dicom";
    const std::string imageExtension = dicom ? ".nii.gz" : "." + format;
    const std::string labelExtension = args.GetBool("slicerSegmentation") ? ".seg.nrrd" : imageExtension;
    const bool        tissueMap = args.GetBool("tissueMap");

    OutputDirectory directory(directoryText);
    // List and summary files are checked before the work and written after it.
    std::unique_ptr<torchseg::AtomicOutput> listFile, summaryFile, tumourFile;
    if (args.IsSet("listFile"))
    {
      listFile = std::make_unique<torchseg::AtomicOutput>(args.GetString("listFile"));
    }
    if (args.IsSet("summaryFile"))
    {
      summaryFile = std::make_unique<torchseg::AtomicOutput>(args.GetString("summaryFile"));
    }
    if (args.IsSet("tumourFile"))
    {
      tumourFile = std::make_unique<torchseg::AtomicOutput>(args.GetString("tumourFile"));
    }

    std::ostringstream list, summary, tumourTable, report;
    list << "image,label\n";
    summary << "case,ct,label,phase,sizeX,sizeY,sizeZ,spacingX,spacingY,spacingZ,orientation,tumours,"
               "tumourDiametersMm,liverVolumeMl,tumourVolumeMl,noiseHU\n";
    tumourTable << std::setprecision(10); // ten significant digits: world centres to a micrometre
    tumourTable << "case,tumour,kind,diameterMm,centerX,centerY,centerZ,centerInImage,coreHU,rimHU,liverHU,contrastHU,"
                   "rimContrastHU,noiseHU\n";
    const fs::path listDirectory = listFile ? fs::absolute(listFile->GetTargetPath()).parent_path() : fs::path();
    const torchseg::LabelTable labels = torchseg::LabelTable::LiverTumour();

    auto & progress = app.GetProgress();
    progress.Start("Generating phantoms", std::to_string(cases) + " case(s) into " + directoryText);
    int tumours = 0;
    for (int i = 0; i < cases; ++i)
    {
      progress.CheckAbort();
      const int64_t index = static_cast<int64_t>(firstCase) + i;
      auto          source = torchseg::AbdominalCTPhantomSource::New();
      source->SetSeed(static_cast<uint64_t>(seed));
      source->SetCaseIndex(static_cast<uint64_t>(index));
      source->SetSamplingOptions(options);
      const unsigned long tag = progress.Observe(source, static_cast<double>(i) / cases, (i + 0.8) / cases);
      source->Update();
      source->RemoveObserver(tag);
      const torchseg::PhantomParameters & p = source->GetParameters();

      const std::string name = CaseName(index);
      const fs::path    ctPath = directory.GetPath() / (name + (dicom ? std::string("_ct") : "_ct" + imageExtension));
      const fs::path    labelPath = directory.GetPath() / (name + "_label" + labelExtension);
      if (dicom)
      {
        torchseg::DICOMWriteOptions dicomOptions;
        dicomOptions.patientID = "TSP" + std::to_string(seed) + "-" + std::to_string(index);
        dicomOptions.seriesDescription = "TorchSeg phantom CT, " + torchseg::ToString(p.phase);
        dicomOptions.contrastPhase = torchseg::ToString(p.phase);
        dicomOptions.uidSeed = static_cast<unsigned long>(torchseg::PhantomRandom::Mix(seed, index) | 1u);
        torchseg::WriteDICOMCTSeries(source->GetCTOutput(), ctPath.string(), dicomOptions);
      }
      else
      {
        torchseg::WriteImageFile(source->GetCTOutput(), ctPath.string());
      }
      torchseg::WriteLabelImage(source->GetLabelOutput(), labelPath.string(), labels);
      if (tissueMap)
      {
        torchseg::WriteImageFile(source->GetTissueOutput(),
                                 (directory.GetPath() / (name + "_tissue" + imageExtension)).string());
      }

      // Book-keeping: list, summary, and a line for a person at a terminal.
      const auto &      g = p.geometry;
      const uint8_t *   l = source->GetLabelOutput()->GetBufferPointer();
      const std::size_t n = source->GetLabelOutput()->GetBufferedRegion().GetNumberOfPixels();
      const double      voxelMl = g.spacing[0] * g.spacing[1] * g.spacing[2] / 1000.0;
      const double      liverMl = std::count(l, l + n, uint8_t{ 1 }) * voxelMl;
      const double      tumourMl = std::count(l, l + n, uint8_t{ 2 }) * voxelMl;
      tumours += static_cast<int>(p.tumours.size());
      if (listFile)
      {
        list << fs::relative(fs::absolute(ctPath), listDirectory).generic_string() << ','
             << fs::relative(fs::absolute(labelPath), listDirectory).generic_string() << '\n';
      }
      std::ostringstream diameters;
      for (std::size_t t = 0; t < p.tumours.size(); ++t)
      {
        diameters << (t ? ";" : "") << std::round(20.0 * p.tumours[t].radius) / 10.0;
      }
      const double liverHU = p.tissueHU[static_cast<unsigned int>(torchseg::PhantomTissue::Liver)];
      for (std::size_t t = 0; t < p.tumours.size(); ++t)
      {
        const torchseg::PhantomTumour & tumour = p.tumours[t];
        const auto                      centre = torchseg::GetTumourWorldCentre(p, tumour);
        itk::Point<double, 3>           point;
        std::copy(centre.begin(), centre.end(), point.Begin());
        itk::ContinuousIndex<double, 3> continuousIndex;
        const bool inImage = source->GetLabelOutput()->TransformPhysicalPointToContinuousIndex(point, continuousIndex);
        tumourTable << name << ',' << t + 1 << ',' << torchseg::ToString(tumour.kind) << ',' << 2.0 * tumour.radius
                    << ',' << centre[0] << ',' << centre[1] << ',' << centre[2] << ',' << inImage << ','
                    << tumour.coreHU << ',' << tumour.rimHU << ',' << liverHU << ',' << tumour.coreHU - liverHU << ','
                    << tumour.rimHU - liverHU << ',' << p.scanner.noiseSigma << '\n';
      }
      summary << name << ',' << ctPath.filename().string() << ',' << labelPath.filename().string() << ','
              << torchseg::ToString(p.phase) << ',' << g.size[0] << ',' << g.size[1] << ',' << g.size[2] << ','
              << g.spacing[0] << ',' << g.spacing[1] << ',' << g.spacing[2] << ',' << torchseg::ToString(g.orientation)
              << ',' << p.tumours.size() << ',' << diameters.str() << ',' << liverMl << ',' << tumourMl << ','
              << p.scanner.noiseSigma << '\n';
      if (!app.IsSlicerMode())
      {
        report << name << ": " << torchseg::ToString(p.phase) << ", " << g.size[0] << "x" << g.size[1] << "x"
               << g.size[2] << " voxels of " << g.spacing[0] << "x" << g.spacing[1] << "x" << g.spacing[2] << " mm, "
               << torchseg::ToString(g.orientation) << ", " << p.tumours.size() << " tumour(s), liver "
               << std::round(liverMl) << " ml -> " << ctPath.string() << '\n';
      }
      progress.Report(static_cast<double>(i + 1) / cases, name);
    }
    progress.End();
    std::cout << report.str() << std::flush; // after the progress bar, which shares the terminal
    if (listFile)
    {
      WriteText(*listFile, list.str());
      listFile->Commit();
    }
    if (summaryFile)
    {
      WriteText(*summaryFile, summary.str());
      summaryFile->Commit();
    }
    if (tumourFile)
    {
      WriteText(*tumourFile, tumourTable.str());
      tumourFile->Commit();
    }
    directory.Keep();
    app.SetReturnValue("casesWritten", std::to_string(cases));
    app.SetReturnValue("tumoursWritten", std::to_string(tumours));
  });
}
