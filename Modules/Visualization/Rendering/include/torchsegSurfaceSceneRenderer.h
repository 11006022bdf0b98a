#ifndef torchsegSurfaceSceneRenderer_h
#define torchsegSurfaceSceneRenderer_h

#include "torchsegLabelSurfaceExtractor.h"
#include "torchsegRGBCanvas.h"
#include "torchsegRenderingProcessObject.h"
#include "torchsegVTKImageBridge.h"

#include <string>
#include <vector>

namespace torchseg
{

/** True when VTK can open an offscreen OpenGL render window here (an X display with GLX, e.g. under xvfb-run).
 * Otherwise false, with the reason in \a reason. Never aborts: VTK 9.1's X render window calls abort() when no
 * display can be opened, so the display is probed first. */
bool
CanRenderOffscreen(std::string * reason = nullptr);

/** \class SurfaceSceneRenderer
 * \brief A 3D picture of label surfaces, rendered offscreen with VTK/OpenGL into an RGB picture.
 *
 * The surfaces (world coordinates, from LabelSurfaceExtractor) are drawn in their label colours; a label whose
 * bounding box contains another label's (an organ around its tumour) is translucent, the others opaque (depth
 * peeling keeps translucency correct). An optional CT gives faint context: the bone iso-surface (the default) and/or
 * the body outline (its largest connected piece, so not the table), extracted from the CT block-averaged to
 * ContextSpacing. Camera presets follow the radiological
 * convention: in the anterior view the patient faces the viewer (patient's right on the picture's left). A legend
 * lists each label with its volume.
 *
 * Needs an OpenGL display (xvfb-run on servers): Update() throws a one-line itk::ExceptionObject when
 * CanRenderOffscreen() is false, before any OpenGL call.
 * \ingroup TorchSegRendering
 */
class SurfaceSceneRenderer : public RenderingProcessObject
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(SurfaceSceneRenderer);

  using Self = SurfaceSceneRenderer;
  using Superclass = RenderingProcessObject;
  using Pointer = itk::SmartPointer<Self>;
  using ConstPointer = itk::SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(SurfaceSceneRenderer, RenderingProcessObject);

  enum class Camera
  {
    Anterior,
    Posterior,
    Left, //!< from the patient's left side
    Right //!< from the patient's right side
  };

  enum class Context
  {
    None,
    Body,
    Bone,
    BodyAndBone
  };

  /** The CT for the context surfaces (optional). */
  void
  SetCTImage(const CTImageType * image);
  const CTImageType *
  GetCTImage() const;

  void
  SetSurfaces(const std::vector<LabelSurface> & surfaces);
  const std::vector<LabelSurface> &
  GetSurfaces() const
  {
    return m_Surfaces;
  }

  itkSetEnumMacro(Camera, Camera);
  itkGetEnumMacro(Camera, Camera);
  itkSetEnumMacro(Context, Context);
  itkGetEnumMacro(Context, Context);

  itkSetClampMacro(Width, unsigned int, 64, 4096);
  itkGetConstMacro(Width, unsigned int);
  itkSetClampMacro(Height, unsigned int, 64, 4096);
  itkGetConstMacro(Height, unsigned int);

  /** HU thresholds of the context surfaces. */
  itkSetMacro(BodyThreshold, double);
  itkGetConstMacro(BodyThreshold, double);
  itkSetMacro(BoneThreshold, double);
  itkGetConstMacro(BoneThreshold, double);
  /** Voxel size (mm) the CT is block-averaged to before its context surfaces are extracted. */
  itkSetClampMacro(ContextSpacing, double, 0.5, 20.0);
  itkGetConstMacro(ContextSpacing, double);

  /** Opacity of a label that contains another one (the others are opaque). */
  itkSetClampMacro(ContainerOpacity, double, 0.05, 1.0);
  itkGetConstMacro(ContainerOpacity, double);

  itkSetMacro(ShowLegend, bool);
  itkGetConstMacro(ShowLegend, bool);
  itkBooleanMacro(ShowLegend);
  itkSetStringMacro(Title);
  itkGetStringMacro(Title);

  /** The opacity a surface is drawn with (ContainerOpacity or 1). */
  double
  GetSurfaceOpacity(std::size_t index) const;

  const RGBCanvas &
  GetPicture() const
  {
    return m_Picture;
  }
  void
  WritePNG(const std::string & path) const;

  /** The lower-case name of a camera preset ("anterior", ...) and its inverse (throws on an unknown name). */
  static std::string
  CameraName(Camera camera);
  static Camera
  CameraFromName(const std::string & name);
  static std::string
  ContextName(Context context);
  static Context
  ContextFromName(const std::string & name);

protected:
  SurfaceSceneRenderer();
  ~SurfaceSceneRenderer() override = default;

  void
  VerifyPreconditions() ITKv5_CONST override;

  /** Whole-scene work: context extraction (threaded block averaging), then one offscreen render. */
  void
  GenerateData() override;

  void
  PrintSelf(std::ostream & os, itk::Indent indent) const override;

private:
  std::vector<LabelSurface> m_Surfaces;
  Camera                    m_Camera = Camera::Anterior;
  Context                   m_Context = Context::Bone;
  unsigned int              m_Width = 1024;
  unsigned int              m_Height = 1024;
  double                    m_BodyThreshold = -300.0;
  double                    m_BoneThreshold = 250.0;
  double                    m_ContextSpacing = 2.5;
  double                    m_ContainerOpacity = 0.5;
  bool                      m_ShowLegend = true;
  std::string               m_Title;
  RGBCanvas                 m_Picture;
};

} // namespace torchseg

#endif
