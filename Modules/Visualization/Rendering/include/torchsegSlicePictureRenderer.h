#ifndef torchsegSlicePictureRenderer_h
#define torchsegSlicePictureRenderer_h

#include "torchsegLabelTable.h"
#include "torchsegRGBCanvas.h"
#include "torchsegRenderingProcessObject.h"
#include "torchsegVTKImageBridge.h"

#include "itkPoint.h"
#include "itkVector.h"

#include <string>
#include <vector>

namespace torchseg
{

/** \class SlicePictureRenderer
 * \brief Axial, coronal and sagittal views of a CT volume with labels drawn over it, as one RGB picture, without
 * OpenGL.
 *
 * Each view is a plane of the patient's coordinate system (LPS) through the focus point (by default the centroid of
 * the labels), resampled to square pixels so that anisotropic voxels keep their physical aspect ratio, in the
 * radiological display convention: the patient's right on the picture's left in axial and coronal views, anterior
 * up in axial views, superior up in coronal and sagittal views (anterior on the left). Oblique volumes are resampled
 * onto these planes. The CT is linearly interpolated and windowed (abdomen window W400/L40 by default); labels are
 * sampled by nearest neighbour.
 *
 * Overlay mode: each label is a translucent fill of its colour (Opacity) with a fully opaque contour.
 * Compare mode: the label image is a prediction and the reference image the truth; agreement, false positives
 * (prediction only), false negatives (reference only) and class confusions (both labelled, differently) get four
 * distinct colours, drawn the same way.
 *
 * Whole-image work (the views sample the volume anywhere), so a sink: call Update(), then GetPicture() or
 * WritePNG(). Rows are resampled in parallel.
 * \ingroup TorchSegRendering
 */
class SlicePictureRenderer : public RenderingProcessObject
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(SlicePictureRenderer);

  using Self = SlicePictureRenderer;
  using Superclass = RenderingProcessObject;
  using Pointer = itk::SmartPointer<Self>;
  using ConstPointer = itk::SmartPointer<const Self>;
  using PointType = itk::Point<double, 3>;
  using VectorType = itk::Vector<double, 3>;
  using Color = RGBCanvas::Color;

  itkNewMacro(Self);
  itkTypeMacro(SlicePictureRenderer, RenderingProcessObject);

  enum class Mode
  {
    Overlay,
    Compare
  };

  /** Categories of compare mode (also the order of the legend). */
  enum class Agreement : uint8_t
  {
    None = 0,
    Agreement,
    FalsePositive,
    FalseNegative,
    Confusion
  };

  /** One view of the picture: pixel (i, j) of the view shows the world point
   * Origin + (i + 0.5) * PixelSpacing * Right + (j + 0.5) * PixelSpacing * Down. */
  struct View
  {
    std::string  name;
    VectorType   right;  //!< world direction of increasing picture column
    VectorType   down;   //!< world direction of increasing picture row
    PointType    origin; //!< world corner of the view (pixel (0, 0)'s outer corner)
    double       pixelSpacing = 1.0;
    unsigned int width = 0;
    unsigned int height = 0;
    int          x = 0; //!< column of the view's pixel (0, 0) in the picture
    int          y = 0; //!< row of the view's pixel (0, 0) in the picture

    /** The world point at the centre of view pixel (i, j). */
    PointType
    PixelToWorld(double i, double j) const;
    /** The picture pixel (column, row) that shows \a point projected onto the view; false when outside the view. */
    bool
    WorldToPicture(const PointType & point, int & column, int & row) const;
  };

  void
  SetCTImage(const CTImageType * image);
  const CTImageType *
  GetCTImage() const;
  /** The labels to draw (overlay mode) or the prediction (compare mode); optional in overlay mode. */
  void
  SetLabelImage(const LabelImageType * image);
  const LabelImageType *
  GetLabelImage() const;
  /** The reference labels of compare mode. */
  void
  SetReferenceImage(const LabelImageType * image);
  const LabelImageType *
  GetReferenceImage() const;

  itkSetEnumMacro(Mode, Mode);
  itkGetEnumMacro(Mode, Mode);

  /** Label names and colours. Default: liver and tumour. */
  void
  SetLabelTable(const LabelTable & table);
  const LabelTable &
  GetLabelTable() const
  {
    return m_LabelTable;
  }

  /** CT display window width and level in HU (abdomen: 400 / 40). */
  itkSetMacro(Window, double);
  itkGetConstMacro(Window, double);
  itkSetMacro(Level, double);
  itkGetConstMacro(Level, double);

  /** Weight of a label's colour in its fill. */
  itkSetClampMacro(Opacity, double, 0.0, 1.0);
  itkGetConstMacro(Opacity, double);

  /** Draw contours (boundary pixels in full colour). */
  itkSetMacro(DrawContours, bool);
  itkGetConstMacro(DrawContours, bool);
  itkBooleanMacro(DrawContours);

  /** The point the three planes pass through. By default (or after ClearFocusPoint()) the centroid of FocusLabel's
   * voxels (of every foreground voxel when FocusLabel is 0; in compare mode of both images), or the volume's centre
   * when there are none. */
  void
  SetFocusPoint(const PointType & point);
  void
  ClearFocusPoint();
  itkSetMacro(FocusLabel, unsigned int);
  itkGetConstMacro(FocusLabel, unsigned int);

  /** Side of a picture pixel in mm; 0 (the default) picks the smallest voxel side, enlarged if needed so that no
   * view exceeds MaximumViewSize pixels. */
  itkSetMacro(PixelSpacing, double);
  itkGetConstMacro(PixelSpacing, double);
  itkSetClampMacro(MaximumViewSize, unsigned int, 16, 8192);
  itkGetConstMacro(MaximumViewSize, unsigned int);

  /** Side in mm of square views centred on the focus point (a zoom on the labels); 0 (the default) shows the whole
   * volume. With automatic pixel spacing a zoomed view is MaximumViewSize pixels wide. */
  itkSetClampMacro(FieldOfView, double, 0.0, 10000.0);
  itkGetConstMacro(FieldOfView, double);

  itkSetMacro(ShowLegend, bool);
  itkGetConstMacro(ShowLegend, bool);
  itkBooleanMacro(ShowLegend);

  /** A title over the views (e.g. the case name); empty for none. */
  itkSetStringMacro(Title);
  itkGetStringMacro(Title);

  /** The colour of a compare-mode category. */
  static Color
  GetAgreementColor(Agreement category);
  static const char *
  GetAgreementName(Agreement category);

  /** The grey level of \a hu under the current window: clamp(round(255 * (hu - level + window / 2) / window)). */
  uint8_t
  WindowIntensity(double hu) const;

  /** Results of the last Update(). */
  const RGBCanvas &
  GetPicture() const
  {
    return m_Picture;
  }
  const std::vector<View> &
  GetViews() const
  {
    return m_Views;
  }
  const PointType &
  GetUsedFocusPoint() const
  {
    return m_UsedFocusPoint;
  }

  /** Writes the picture of the last Update() as PNG, atomically. */
  void
  WritePNG(const std::string & path) const;

protected:
  SlicePictureRenderer();
  ~SlicePictureRenderer() override = default;

  void
  VerifyPreconditions() ITKv5_CONST override;

  void
  GenerateData() override;

  void
  PrintSelf(std::ostream & os, itk::Indent indent) const override;

private:
  PointType
  ComputeFocusPoint() const;
  RGBCanvas
  RenderView(const View & view) const;

  Mode              m_Mode = Mode::Overlay;
  LabelTable        m_LabelTable;
  double            m_Window = 400.0;
  double            m_Level = 40.0;
  double            m_Opacity = 0.4;
  bool              m_DrawContours = true;
  bool              m_HasFocusPoint = false;
  PointType         m_FocusPoint;
  unsigned int      m_FocusLabel = 0;
  double            m_PixelSpacing = 0.0;
  unsigned int      m_MaximumViewSize = 512;
  double            m_FieldOfView = 0.0;
  bool              m_ShowLegend = true;
  std::string       m_Title;
  RGBCanvas         m_Picture;
  std::vector<View> m_Views;
  PointType         m_UsedFocusPoint;
};

/** The volume (voxel count times voxel volume, mm^3) of every non-zero label value present, in value order. */
std::vector<std::pair<unsigned int, double>>
ComputeLabelVolumes(const LabelImageType * labels);

} // namespace torchseg

#endif
