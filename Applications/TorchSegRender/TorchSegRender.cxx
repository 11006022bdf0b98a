// TorchSegRender: pictures of a segmentation (slice overlays, prediction-versus-reference comparisons, offscreen 3D
// surfaces) and of a training run (loss and Dice curves). Library: Modules/Visualization/Rendering;
// documentation: docs/visualization.md.
#include "TorchSegRenderXML.h"

#include "torchsegApplication.h"
#include "torchsegAtomicOutput.h"
#include "torchsegImageIO.h"
#include "torchsegLabelSurfaceExtractor.h"
#include "torchsegSlicePictureRenderer.h"
#include "torchsegSurfaceSceneRenderer.h"
#include "torchsegTrainingCurvePlotter.h"

#include <cmath>
#include <filesystem>
#include <sstream>

namespace
{

using torchseg::cli::UsageError;

torchseg::LabelTable
MakeLabelTable(const torchseg::cli::ParsedArguments & args)
{
  torchseg::LabelTable           table = torchseg::LabelTable::LiverTumour();
  const std::vector<std::string> names = args.GetStringVector("labelNames");
  for (std::size_t i = 0; i < names.size(); ++i)
  {
    if (names[i].empty())
    {
      throw UsageError("--labelNames: name " + std::to_string(i + 1) + " is empty");
    }
    torchseg::LabelInfo info;
    info.value = static_cast<unsigned int>(i + 1);
    info.name = names[i];
    info.color = table.GetColor(info.value);
    table.Set(info);
  }
  return table;
}

std::string
FormatVolumes(const std::vector<std::pair<std::string, double>> & volumes)
{
  std::ostringstream out;
  for (const auto & [name, mm3] : volumes)
  {
    out << (out.tellp() > 0 ? "," : "") << name << "=" << torchseg::FormatNumber(mm3 / 1000.0, 1);
  }
  return out.str();
}

double
RequireInRange(const torchseg::cli::ParsedArguments & args, const std::string & name, double low, double high)
{
  const double value = args.GetDouble(name);
  if (!(value >= low && value <= high))
  {
    throw UsageError("--" + name + ": " + args.GetString(name) + " is outside [" + torchseg::FormatNumber(low) + ", " +
                     torchseg::FormatNumber(high) + "]");
  }
  return value;
}

unsigned int
PictureSize(const torchseg::cli::ParsedArguments & args, const std::string & name, unsigned int fallback)
{
  const int value = args.GetInt(name);
  if (value == 0)
  {
    return fallback;
  }
  if (value < 64 || value > 4096)
  {
    throw UsageError("--" + name + ": " + std::to_string(value) + " pixels is outside [64, 4096]");
  }
  return static_cast<unsigned int>(value);
}

} // namespace

int
main(int argc, char * argv[])
{
  torchseg::cli::Application application(TorchSegRenderXMLDescription, "TorchSegRender");
  return application.Run(argc, argv, [](const torchseg::cli::ParsedArguments & args, torchseg::cli::Application & app) {
    const std::string mode = args.GetString("mode");
    const std::string outputPath = args.Require("output");
    if (torchseg::GetFullExtension(outputPath) != ".png")
    {
      throw UsageError("--output " + outputPath + ": the picture is written as PNG, its name must end in .png");
    }
    if (!std::filesystem::is_directory(std::filesystem::absolute(outputPath).parent_path()))
    {
      itkGenericExceptionMacro(<< "Cannot write " << outputPath << ": its directory does not exist");
    }
    const torchseg::LabelTable table = MakeLabelTable(args);
    auto &                     progress = app.GetProgress();

    if (mode == "curves")
    {
      const std::string logPath = args.Require("log");
      progress.Start("Plotting", logPath);
      auto plotter = torchseg::TrainingCurvePlotter::New();
      plotter->SetLog(torchseg::ReadTrainingLog(logPath));
      plotter->SetLabelTable(table);
      plotter->SetWidth(PictureSize(args, "width", 1280));
      plotter->SetHeight(PictureSize(args, "height", 480));
      plotter->SetTitle(args.GetString("title"));
      plotter->Update();
      plotter->WritePNG(outputPath);
      progress.End();
      return;
    }

    const bool surfaceMode = mode == "surface";
    const bool compareMode = mode == "compare";
    // Fail before any reading when the 3D picture cannot be drawn.
    std::string why;
    if (surfaceMode && !torchseg::CanRenderOffscreen(&why))
    {
      itkGenericExceptionMacro(<< "Cannot render the 3D picture: " << why);
    }
    if (!surfaceMode && !args.IsSet("image"))
    {
      throw UsageError("--mode " + mode + " needs the CT volume (--image)");
    }
    if ((surfaceMode || compareMode) && !args.IsSet("labels"))
    {
      throw UsageError("--mode " + mode + " needs a label image (--labels)");
    }
    if (compareMode && !args.IsSet("reference"))
    {
      throw UsageError("--mode compare needs the reference labels (--reference)");
    }
    const double opacity = RequireInRange(args, "opacity", 0.0, 1.0);
    const double smoothing = RequireInRange(args, "smoothing", 0.0, 1.0);
    const double decimation = RequireInRange(args, "decimation", 0.0, 0.99);
    const double window = args.GetDouble("window");
    if (!(window > 0.0) || !std::isfinite(window))
    {
      throw UsageError("--window: " + args.GetString("window") + " is not a positive window width in HU");
    }
    const int focusLabel = args.GetInt("focusLabel");
    if (focusLabel < 0 || focusLabel > 255)
    {
      throw UsageError("--focusLabel: " + std::to_string(focusLabel) + " is not a label value in [0, 255]");
    }
    const std::vector<double> focusPoint = args.GetDoubleVector("focusPoint");
    if (!focusPoint.empty() && focusPoint.size() != 3)
    {
      throw UsageError("--focusPoint: " + args.GetString("focusPoint") + " is not three coordinates x,y,z");
    }
    const double pixelSpacing = args.GetDouble("pixelSpacing");
    if (!(pixelSpacing >= 0.0) || !std::isfinite(pixelSpacing))
    {
      throw UsageError("--pixelSpacing: " + args.GetString("pixelSpacing") + " is not a size in mm (0 for automatic)");
    }
    const double fieldOfView = args.GetDouble("fieldOfView");
    if (!(fieldOfView >= 0.0 && fieldOfView <= 10000.0))
    {
      throw UsageError("--fieldOfView: " + args.GetString("fieldOfView") + " is not a size in mm in [0, 10000]");
    }
    const auto camera = torchseg::SurfaceSceneRenderer::CameraFromName(args.GetString("camera"));
    const auto context = torchseg::SurfaceSceneRenderer::ContextFromName(args.GetString("context"));

    progress.Start("Rendering", mode);
    torchseg::CTImageType::Pointer    ct;
    torchseg::LabelImageType::Pointer labels;
    torchseg::LabelImageType::Pointer reference;
    if (args.IsSet("image") && !(surfaceMode && context == torchseg::SurfaceSceneRenderer::Context::None))
    {
      ct = torchseg::ReadCTImage(args.GetString("image"));
    }
    if (args.IsSet("labels"))
    {
      labels = torchseg::ReadLabelImage(args.GetString("labels"));
    }
    if (compareMode)
    {
      reference = torchseg::ReadLabelImage(args.GetString("reference"));
    }
    progress.Report(0.2);
    progress.CheckAbort();

    std::vector<torchseg::LabelSurface> surfaces;
    if (labels && (surfaceMode || args.IsSet("surfaces")))
    {
      auto extractor = torchseg::LabelSurfaceExtractor::New();
      extractor->SetInput(labels);
      extractor->SetLabelTable(table);
      extractor->SetSmoothingFactor(smoothing);
      extractor->SetDecimationTargetReduction(decimation);
      // Outer boundaries: an organ's surface encloses its lesions instead of wrapping a cavity around each.
      extractor->FillCavitiesOn();
      progress.Observe(extractor, 0.2, surfaceMode ? 0.5 : 0.6);
      extractor->Update();
      surfaces = extractor->GetSurfaces();
      if (surfaceMode && surfaces.empty())
      {
        itkGenericExceptionMacro(<< "The label image " << args.GetString("labels") << " has no label to draw");
      }
    }

    std::vector<std::pair<std::string, double>> volumes;
    torchseg::RGBCanvas                         picture;
    if (surfaceMode)
    {
      auto renderer = torchseg::SurfaceSceneRenderer::New();
      renderer->SetSurfaces(surfaces);
      if (ct)
      {
        renderer->SetCTImage(ct);
      }
      renderer->SetCamera(camera);
      renderer->SetContext(context);
      renderer->SetWidth(PictureSize(args, "width", 1024));
      renderer->SetHeight(PictureSize(args, "height", 1024));
      renderer->SetTitle(args.GetString("title"));
      progress.Observe(renderer, 0.5, 0.95);
      renderer->Update();
      picture = renderer->GetPicture();
      for (const auto & surface : surfaces)
      {
        volumes.emplace_back(surface.name, surface.voxelVolumeMm3);
      }
    }
    else
    {
      auto renderer = torchseg::SlicePictureRenderer::New();
      renderer->SetMode(compareMode ? torchseg::SlicePictureRenderer::Mode::Compare
                                    : torchseg::SlicePictureRenderer::Mode::Overlay);
      renderer->SetCTImage(ct);
      if (labels)
      {
        renderer->SetLabelImage(labels);
      }
      if (reference)
      {
        renderer->SetReferenceImage(reference);
      }
      renderer->SetLabelTable(table);
      renderer->SetWindow(window);
      renderer->SetLevel(args.GetDouble("level"));
      renderer->SetOpacity(opacity);
      renderer->SetFocusLabel(static_cast<unsigned int>(focusLabel));
      if (!focusPoint.empty())
      {
        torchseg::SlicePictureRenderer::PointType point;
        for (unsigned int d = 0; d < 3; ++d)
        {
          point[d] = focusPoint[d];
        }
        renderer->SetFocusPoint(point);
      }
      renderer->SetPixelSpacing(pixelSpacing);
      renderer->SetFieldOfView(fieldOfView);
      renderer->SetTitle(args.GetString("title"));
      progress.Observe(renderer, 0.6, 0.95);
      renderer->Update();
      picture = renderer->GetPicture();
      if (labels)
      {
        for (const auto & [value, mm3] : torchseg::ComputeLabelVolumes(labels))
        {
          volumes.emplace_back(table.GetName(value), mm3);
        }
      }
    }
    progress.CheckAbort();

    if (!surfaces.empty() && args.IsSet("surfaces"))
    {
      torchseg::WriteLabelSurfaces(surfaces, args.GetString("surfaces"));
    }
    picture.WritePNG(outputPath);
    progress.End();
    app.SetReturnValue("volumes", FormatVolumes(volumes));
  });
}
