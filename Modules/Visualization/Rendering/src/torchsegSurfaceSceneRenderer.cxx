#include "torchsegSurfaceSceneRenderer.h"

#include "torchsegDisplayProbe.h"

#include "itkMultiThreaderBase.h"

#include <vtkActor.h>
#include <vtkCamera.h>
#include <vtkFlyingEdges3D.h>
#include <vtkLightKit.h>
#include <vtkLogger.h>
#include <vtkOutputWindow.h>
#include <vtkPointData.h>
#include <vtkPolyDataConnectivityFilter.h>
#include <vtkPolyDataMapper.h>
#include <vtkProperty.h>
#include <vtkRenderWindow.h>
#include <vtkRenderer.h>
#include <vtkStringOutputWindow.h>
#include <vtkTransform.h>
#include <vtkTransformPolyDataFilter.h>
#include <vtkWindowToImageFilter.h>
#include <vtkWindowedSincPolyDataFilter.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace torchseg
{

namespace
{

/** Collects VTK's warnings and errors while alive instead of printing them, so that a failure surfaces as one
 * exception line rather than VTK's multi-line log. */
class VTKMessageCapture
{
public:
  VTKMessageCapture()
    : m_Previous(vtkOutputWindow::GetInstance())
  {
    m_Window = vtkSmartPointer<vtkStringOutputWindow>::New();
    vtkOutputWindow::SetInstance(m_Window);
    vtkLogger::SetStderrVerbosity(vtkLogger::VERBOSITY_OFF);
  }
  ~VTKMessageCapture()
  {
    vtkOutputWindow::SetInstance(m_Previous);
    vtkLogger::SetStderrVerbosity(vtkLogger::VERBOSITY_WARNING);
  }
  VTKMessageCapture(const VTKMessageCapture &) = delete;
  VTKMessageCapture &
  operator=(const VTKMessageCapture &) = delete;

  /** The first non-empty line VTK reported, without its "ERROR: In file, line" preamble. */
  std::string
  FirstMessage() const
  {
    std::istringstream stream(m_Window->GetOutput());
    std::string        line;
    while (std::getline(stream, line))
    {
      const auto colon = line.find("): ");
      if (colon != std::string::npos)
      {
        line = line.substr(colon + 3);
      }
      if (!line.empty() && line.rfind("ERROR", 0) != 0 && line.rfind("Warning", 0) != 0 &&
          line.rfind("Generic Warning", 0) != 0)
      {
        return line;
      }
    }
    return std::string();
  }

private:
  vtkSmartPointer<vtkOutputWindow>       m_Previous;
  vtkSmartPointer<vtkStringOutputWindow> m_Window;
};

/** The CT block-averaged by integer factors to about \a spacing mm, in the averaged grid's index space; \a indexMap
 * maps that space to the CT's continuous index. */
vtkSmartPointer<vtkImageData>
BlockAverage(const CTImageType * ct, double spacing, vtkMatrix4x4 * indexMap)
{
  const auto          region = ct->GetBufferedRegion();
  const auto          size = region.GetSize();
  std::array<long, 3> factor{};
  std::array<long, 3> reduced{};
  for (unsigned int d = 0; d < 3; ++d)
  {
    factor[d] = std::max(1L, std::lround(spacing / ct->GetSpacing()[d]));
    reduced[d] = (static_cast<long>(size[d]) + factor[d] - 1) / factor[d];
  }
  auto image = vtkSmartPointer<vtkImageData>::New();
  // Not padded: where the body meets the volume's border its surface stays open rather than capped by a wall.
  image->SetExtent(
    0, static_cast<int>(reduced[0]) - 1, 0, static_cast<int>(reduced[1]) - 1, 0, static_cast<int>(reduced[2]) - 1);
  image->AllocateScalars(VTK_FLOAT, 1);
  auto *    out = static_cast<float *>(image->GetScalarPointer());
  const int nx = static_cast<int>(reduced[0]);
  const int ny = static_cast<int>(reduced[1]);
  const int nz = static_cast<int>(reduced[2]);
  std::fill(out, out + static_cast<std::size_t>(nx) * ny * nz, -1024.0f);
  const float * in = ct->GetBufferPointer();
  itk::MultiThreaderBase::New()->ParallelizeArray(
    0,
    reduced[2],
    [&](itk::SizeValueType k) {
      for (long j = 0; j < reduced[1]; ++j)
      {
        for (long i = 0; i < reduced[0]; ++i)
        {
          double sum = 0.0;
          long   count = 0;
          for (long z = static_cast<long>(k) * factor[2]; z < std::min<long>((k + 1) * factor[2], size[2]); ++z)
          {
            for (long y = j * factor[1]; y < std::min<long>((j + 1) * factor[1], size[1]); ++y)
            {
              const float * row = in + (z * static_cast<long>(size[1]) + y) * static_cast<long>(size[0]);
              for (long x = i * factor[0]; x < std::min<long>((i + 1) * factor[0], size[0]); ++x)
              {
                sum += row[x];
                ++count;
              }
            }
          }
          out[(static_cast<long>(k) * ny + j) * nx + i] = static_cast<float>(sum / std::max(1L, count));
        }
      }
    },
    nullptr);
  // Block b covers CT indices [b f, b f + f - 1]: its centre is the continuous index b f + (f - 1) / 2.
  indexMap->Identity();
  for (unsigned int d = 0; d < 3; ++d)
  {
    indexMap->SetElement(d, d, static_cast<double>(factor[d]));
    indexMap->SetElement(d, 3, 0.5 * (factor[d] - 1) + static_cast<double>(region.GetIndex(d)));
  }
  return image;
}

vtkSmartPointer<vtkPolyData>
ExtractContextSurface(vtkImageData * averaged, vtkMatrix4x4 * toWorld, double threshold, bool largestOnly)
{
  auto contour = vtkSmartPointer<vtkFlyingEdges3D>::New();
  contour->SetInputData(averaged);
  contour->SetValue(0, threshold);
  contour->ComputeNormalsOff();
  contour->ComputeGradientsOff();
  contour->ComputeScalarsOff();
  vtkSmartPointer<vtkAlgorithm> last = contour;
  if (largestOnly)
  {
    // The body without the table, blankets or other objects beside it.
    auto connectivity = vtkSmartPointer<vtkPolyDataConnectivityFilter>::New();
    connectivity->SetInputConnection(contour->GetOutputPort());
    connectivity->SetExtractionModeToLargestRegion();
    last = connectivity;
  }
  auto transform = vtkSmartPointer<vtkTransform>::New();
  transform->SetMatrix(toWorld);
  auto map = vtkSmartPointer<vtkTransformPolyDataFilter>::New();
  map->SetInputConnection(last->GetOutputPort());
  map->SetTransform(transform);
  auto smoother = vtkSmartPointer<vtkWindowedSincPolyDataFilter>::New();
  smoother->SetInputConnection(map->GetOutputPort());
  smoother->SetNumberOfIterations(12);
  smoother->SetPassBand(0.05);
  smoother->NormalizeCoordinatesOn();
  smoother->NonManifoldSmoothingOn();
  smoother->Update();
  if (smoother->GetOutput()->GetNumberOfPolys() == 0)
  {
    return nullptr;
  }
  return ComputeOutwardNormals(smoother->GetOutput());
}

bool
Contains(const double outer[6], const double inner[6])
{
  for (unsigned int d = 0; d < 3; ++d)
  {
    if (inner[2 * d] < outer[2 * d] || inner[2 * d + 1] > outer[2 * d + 1])
    {
      return false;
    }
  }
  return true;
}

void
DrawHaloText(RGBCanvas & canvas, int x, int y, const std::string & text, int size, const RGBCanvas::Color & color,
             RGBCanvas::HorizontalAlignment h, RGBCanvas::VerticalAlignment v, bool bold)
{
  for (const auto & o : { std::array<int, 2>{ { -1, 0 } },
                          std::array<int, 2>{ { 1, 0 } },
                          std::array<int, 2>{ { 0, -1 } },
                          std::array<int, 2>{ { 0, 1 } } })
  {
    canvas.DrawText(x + o[0], y + o[1], text, size, RGBCanvas::Color{ { 0, 0, 0 } }, h, v, bold);
  }
  canvas.DrawText(x, y, text, size, color, h, v, bold);
}

} // namespace

namespace
{

/** An offscreen render window bound to the shared display connection; nullptr with \a reason when none opens. */
vtkSmartPointer<vtkRenderWindow>
MakeOffscreenWindow(std::string & reason)
{
  auto window = vtkSmartPointer<vtkRenderWindow>::New();
  if (std::string(window->GetClassName()) == "vtkXOpenGLRenderWindow")
  {
    const char * display = std::getenv("DISPLAY");
    if (display == nullptr || *display == '\0')
    {
      reason = "no X display for OpenGL rendering: DISPLAY is not set (run under xvfb-run -a)";
      return nullptr;
    }
    void * connection = detail::GetXDisplayConnection(display);
    if (connection == nullptr)
    {
      reason =
        std::string("cannot open the X display \"") + display + "\" for OpenGL rendering (run under xvfb-run -a)";
      return nullptr;
    }
    window->SetDisplayId(connection);
  }
  window->SetOffScreenRendering(1);
  return window;
}

} // namespace

bool
CanRenderOffscreen(std::string * reason)
{
  VTKMessageCapture capture;
  std::string       why;
  auto              window = MakeOffscreenWindow(why);
  if (window && !window->SupportsOpenGL())
  {
    const std::string message = capture.FirstMessage();
    why =
      "the display offers no usable OpenGL (3.2 or later) context" + (message.empty() ? std::string() : ": " + message);
    window = nullptr;
  }
  if (!window && reason)
  {
    *reason = why;
  }
  return window != nullptr;
}

SurfaceSceneRenderer::SurfaceSceneRenderer()
{
  this->SetNumberOfRequiredInputs(0);
}

void
SurfaceSceneRenderer::SetCTImage(const CTImageType * image)
{
  this->SetNthInput(0, const_cast<CTImageType *>(image));
}

const CTImageType *
SurfaceSceneRenderer::GetCTImage() const
{
  return this->GetNumberOfIndexedInputs() > 0 ? dynamic_cast<const CTImageType *>(this->GetInput(0)) : nullptr;
}

void
SurfaceSceneRenderer::SetSurfaces(const std::vector<LabelSurface> & surfaces)
{
  m_Surfaces = surfaces;
  this->Modified();
}

double
SurfaceSceneRenderer::GetSurfaceOpacity(std::size_t index) const
{
  if (index >= m_Surfaces.size() || !m_Surfaces[index].mesh)
  {
    return 1.0;
  }
  double outer[6];
  m_Surfaces[index].mesh->GetBounds(outer);
  for (std::size_t other = 0; other < m_Surfaces.size(); ++other)
  {
    if (other == index || !m_Surfaces[other].mesh || m_Surfaces[other].mesh->GetNumberOfPoints() == 0)
    {
      continue;
    }
    double inner[6];
    m_Surfaces[other].mesh->GetBounds(inner);
    if (Contains(outer, inner))
    {
      return m_ContainerOpacity;
    }
  }
  return 1.0;
}

std::string
SurfaceSceneRenderer::CameraName(Camera camera)
{
  switch (camera)
  {
    case Camera::Posterior:
      return "posterior";
    case Camera::Left:
      return "left";
    case Camera::Right:
      return "right";
    default:
      return "anterior";
  }
}

SurfaceSceneRenderer::Camera
SurfaceSceneRenderer::CameraFromName(const std::string & name)
{
  for (const Camera c : { Camera::Anterior, Camera::Posterior, Camera::Left, Camera::Right })
  {
    if (CameraName(c) == name)
    {
      return c;
    }
  }
  itkGenericExceptionMacro(<< "Unknown camera preset \"" << name << "\" (anterior, posterior, left, right)");
}

std::string
SurfaceSceneRenderer::ContextName(Context context)
{
  switch (context)
  {
    case Context::None:
      return "none";
    case Context::Body:
      return "body";
    case Context::Bone:
      return "bone";
    default:
      return "both";
  }
}

SurfaceSceneRenderer::Context
SurfaceSceneRenderer::ContextFromName(const std::string & name)
{
  for (const Context c : { Context::None, Context::Body, Context::Bone, Context::BodyAndBone })
  {
    if (ContextName(c) == name)
    {
      return c;
    }
  }
  itkGenericExceptionMacro(<< "Unknown context \"" << name << "\" (none, body, bone, both)");
}

void
SurfaceSceneRenderer::VerifyPreconditions() ITKv5_CONST
{
  Superclass::VerifyPreconditions();
  bool anything = this->GetCTImage() != nullptr && m_Context != Context::None;
  for (const auto & surface : m_Surfaces)
  {
    anything = anything || (surface.mesh && surface.mesh->GetNumberOfPolys() > 0);
  }
  if (!anything)
  {
    itkExceptionMacro(<< "Nothing to render: no label surface and no CT context");
  }
}

void
SurfaceSceneRenderer::GenerateData()
{
  std::string why;
  if (!CanRenderOffscreen(&why))
  {
    itkExceptionMacro(<< "Cannot render the 3D picture: " << why);
  }
  this->UpdateProgress(0.05f);
  VTKMessageCapture capture;

  auto renderer = vtkSmartPointer<vtkRenderer>::New();
  renderer->GradientBackgroundOn();
  renderer->SetBackground(0.06, 0.06, 0.08);
  renderer->SetBackground2(0.20, 0.21, 0.25);
  renderer->SetUseDepthPeeling(1);
  renderer->SetMaximumNumberOfPeels(4);
  renderer->SetOcclusionRatio(0.0);
  renderer->SetUseFXAA(true);

  // Label surfaces.
  double labelBounds[6] = { 1e300, -1e300, 1e300, -1e300, 1e300, -1e300 };
  bool   haveLabels = false;
  for (std::size_t i = 0; i < m_Surfaces.size(); ++i)
  {
    const auto & surface = m_Surfaces[i];
    if (!surface.mesh || surface.mesh->GetNumberOfPolys() == 0)
    {
      continue;
    }
    auto mapper = vtkSmartPointer<vtkPolyDataMapper>::New();
    mapper->SetInputData(surface.mesh);
    mapper->ScalarVisibilityOff();
    auto actor = vtkSmartPointer<vtkActor>::New();
    actor->SetMapper(mapper);
    actor->GetProperty()->SetColor(surface.color[0] / 255.0, surface.color[1] / 255.0, surface.color[2] / 255.0);
    actor->GetProperty()->SetOpacity(this->GetSurfaceOpacity(i));
    actor->GetProperty()->SetSpecular(0.25);
    actor->GetProperty()->SetSpecularPower(30.0);
    actor->GetProperty()->SetDiffuse(0.85);
    actor->GetProperty()->SetAmbient(0.22);
    renderer->AddActor(actor);
    double b[6];
    surface.mesh->GetBounds(b);
    for (unsigned int d = 0; d < 3; ++d)
    {
      labelBounds[2 * d] = std::min(labelBounds[2 * d], b[2 * d]);
      labelBounds[2 * d + 1] = std::max(labelBounds[2 * d + 1], b[2 * d + 1]);
    }
    haveLabels = true;
  }
  this->UpdateProgress(0.1f);

  // CT context: faint body outline, bone.
  double contextBounds[6] = { 0, 0, 0, 0, 0, 0 };
  bool   haveContext = false;
  if (const CTImageType * ct = this->GetCTImage(); ct != nullptr && m_Context != Context::None)
  {
    auto       indexMap = vtkSmartPointer<vtkMatrix4x4>::New();
    auto       averaged = BlockAverage(ct, m_ContextSpacing, indexMap);
    auto       toWorld = vtkSmartPointer<vtkMatrix4x4>::New();
    const auto indexToWorld = MakeIndexToWorldMatrix(ct);
    vtkMatrix4x4::Multiply4x4(indexToWorld, indexMap, toWorld);
    struct Layer
    {
      bool   wanted;
      double threshold;
      double color[3];
      double opacity;
    };
    const Layer layers[2] = {
      { m_Context == Context::Body || m_Context == Context::BodyAndBone, m_BodyThreshold, { 0.85, 0.78, 0.72 }, 0.10 },
      { m_Context == Context::Bone || m_Context == Context::BodyAndBone, m_BoneThreshold, { 0.90, 0.88, 0.80 }, 0.35 }
    };
    for (const auto & layer : layers)
    {
      if (!layer.wanted)
      {
        continue;
      }
      auto mesh = ExtractContextSurface(averaged, toWorld, layer.threshold, &layer == &layers[0]);
      this->UpdateProgress(0.3f + (&layer == &layers[0] ? 0.0f : 0.25f));
      if (!mesh)
      {
        continue;
      }
      auto mapper = vtkSmartPointer<vtkPolyDataMapper>::New();
      mapper->SetInputData(mesh);
      mapper->ScalarVisibilityOff();
      auto actor = vtkSmartPointer<vtkActor>::New();
      actor->SetMapper(mapper);
      actor->GetProperty()->SetColor(layer.color[0], layer.color[1], layer.color[2]);
      actor->GetProperty()->SetOpacity(layer.opacity);
      actor->GetProperty()->SetSpecular(0.1);
      actor->PickableOff();
      renderer->AddActor(actor);
      mesh->GetBounds(contextBounds);
      haveContext = true;
    }
  }
  if (this->GetAbortGenerateData())
  {
    itk::ProcessAborted e(__FILE__, __LINE__);
    e.SetDescription("SurfaceSceneRenderer aborted");
    throw e;
  }

  // Camera: the radiological presets around the labels (or the context).
  double bounds[6];
  std::copy_n(haveLabels ? labelBounds : contextBounds, 6, bounds);
  if (!haveLabels && !haveContext)
  {
    itkExceptionMacro(<< "Nothing to render: the CT gave no context surface and there is no label surface");
  }
  double focal[3];
  double radius = 0.0;
  for (unsigned int d = 0; d < 3; ++d)
  {
    focal[d] = 0.5 * (bounds[2 * d] + bounds[2 * d + 1]);
    radius += 0.25 * (bounds[2 * d + 1] - bounds[2 * d]) * (bounds[2 * d + 1] - bounds[2 * d]);
  }
  radius = std::max(std::sqrt(radius), 1.0);
  double toCamera[3] = { 0.0, -1.0, 0.0 }; // LPS: anterior is -y
  if (m_Camera == Camera::Posterior)
  {
    toCamera[1] = 1.0;
  }
  else if (m_Camera == Camera::Left)
  {
    toCamera[0] = 1.0; // the patient's left is +x
    toCamera[1] = 0.0;
  }
  else if (m_Camera == Camera::Right)
  {
    toCamera[0] = -1.0;
    toCamera[1] = 0.0;
  }
  vtkCamera * camera = renderer->GetActiveCamera();
  camera->SetViewAngle(20.0);
  camera->SetFocalPoint(focal);
  const double distance = 1.1 * radius / std::sin(0.5 * 20.0 * M_PI / 180.0);
  camera->SetPosition(
    focal[0] + distance * toCamera[0], focal[1] + distance * toCamera[1], focal[2] + distance * toCamera[2]);
  camera->SetViewUp(0.0, 0.0, 1.0); // superior up
  renderer->ResetCameraClippingRange();

  auto lights = vtkSmartPointer<vtkLightKit>::New();
  lights->SetKeyLightIntensity(1.0);
  lights->AddLightsToRenderer(renderer);

  auto window = MakeOffscreenWindow(why);
  if (!window)
  {
    itkExceptionMacro(<< "Cannot render the 3D picture: " << why);
  }
  window->SetMultiSamples(0);
  window->SetAlphaBitPlanes(1);
  window->SetSize(static_cast<int>(m_Width), static_cast<int>(m_Height));
  window->AddRenderer(renderer);
  window->Render();
  this->UpdateProgress(0.9f);

  auto grab = vtkSmartPointer<vtkWindowToImageFilter>::New();
  grab->SetInput(window);
  grab->SetInputBufferTypeToRGB();
  grab->ReadFrontBufferOff();
  grab->ShouldRerenderOff(); // the window was just rendered: a second render would double the time
  grab->Update();
  vtkImageData * image = grab->GetOutput();
  int            dims[3] = { 0, 0, 0 };
  image->GetDimensions(dims);
  if (dims[0] != static_cast<int>(m_Width) || dims[1] != static_cast<int>(m_Height))
  {
    const std::string message = capture.FirstMessage();
    itkExceptionMacro(<< "OpenGL rendering failed" << (message.empty() ? std::string() : ": " + message));
  }
  RGBCanvas picture = RGBCanvas::FromVTKImageData(image);
  window->Finalize();

  // Annotations drawn on the CPU, like every other picture of the module.
  using H = RGBCanvas::HorizontalAlignment;
  using V = RGBCanvas::VerticalAlignment;
  const RGBCanvas::Color text{ { 235, 235, 235 } };
  const RGBCanvas::Color muted{ { 170, 172, 180 } };
  const int              margin = 16;
  int                    y = margin;
  if (!m_Title.empty())
  {
    y += picture.DrawText(margin, y, m_Title, 22, text, H::Left, V::Top, true)[1] + 10;
  }
  if (m_ShowLegend)
  {
    for (std::size_t i = 0; i < m_Surfaces.size(); ++i)
    {
      const auto & surface = m_Surfaces[i];
      if (!surface.mesh || surface.mesh->GetNumberOfPolys() == 0)
      {
        continue;
      }
      const int line = 24;
      picture.FillRectangle(margin, y + 3, 16, 16, surface.color);
      picture.DrawRectangle(margin, y + 3, 16, 16, RGBCanvas::Color{ { 240, 240, 240 } });
      picture.DrawText(margin + 24,
                       y + 11,
                       surface.name + "  " + FormatNumber(surface.voxelVolumeMm3 / 1000.0, 1) + " mL",
                       16,
                       text,
                       H::Left,
                       V::Centre);
      y += line;
    }
  }
  const char * letters[4][4] = {
    { "R", "L", "S", "I" }, { "L", "R", "S", "I" }, { "A", "P", "S", "I" }, { "P", "A", "S", "I" }
  };
  const auto &           l = letters[static_cast<int>(m_Camera)];
  const int              w = static_cast<int>(m_Width);
  const int              h = static_cast<int>(m_Height);
  const RGBCanvas::Color letter{ { 255, 236, 140 } };
  DrawHaloText(picture, 10, h / 2, l[0], 18, letter, H::Left, V::Centre, true);
  DrawHaloText(picture, w - 10, h / 2, l[1], 18, letter, H::Right, V::Centre, true);
  DrawHaloText(picture, w / 2, 10, l[2], 18, letter, H::Centre, V::Top, true);
  DrawHaloText(picture, w / 2, h - 10, l[3], 18, letter, H::Centre, V::Bottom, true);
  picture.DrawText(w - margin, h - margin, CameraName(m_Camera) + " view", 14, muted, H::Right, V::Bottom);
  m_Picture = std::move(picture);
  this->UpdateProgress(1.0f);
}

void
SurfaceSceneRenderer::WritePNG(const std::string & path) const
{
  if (m_Picture.IsEmpty())
  {
    itkExceptionMacro(<< "Cannot write " << path << ": Update() has not rendered a picture yet");
  }
  m_Picture.WritePNG(path);
}

void
SurfaceSceneRenderer::PrintSelf(std::ostream & os, itk::Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "Surfaces: " << m_Surfaces.size() << std::endl;
  os << indent << "Camera: " << CameraName(m_Camera) << std::endl;
  os << indent << "Context: " << ContextName(m_Context) << std::endl;
  os << indent << "Width: " << m_Width << std::endl;
  os << indent << "Height: " << m_Height << std::endl;
  os << indent << "BodyThreshold: " << m_BodyThreshold << std::endl;
  os << indent << "BoneThreshold: " << m_BoneThreshold << std::endl;
  os << indent << "ContextSpacing: " << m_ContextSpacing << std::endl;
  os << indent << "ContainerOpacity: " << m_ContainerOpacity << std::endl;
  os << indent << "ShowLegend: " << m_ShowLegend << std::endl;
  os << indent << "Title: " << m_Title << std::endl;
  os << indent << "Picture: " << m_Picture.GetWidth() << "x" << m_Picture.GetHeight() << std::endl;
}

} // namespace torchseg
