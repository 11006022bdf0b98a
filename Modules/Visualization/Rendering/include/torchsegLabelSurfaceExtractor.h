#ifndef torchsegLabelSurfaceExtractor_h
#define torchsegLabelSurfaceExtractor_h

#include "torchsegLabelTable.h"
#include "torchsegRenderingProcessObject.h"
#include "torchsegVTKImageBridge.h"

#include <vtkPolyData.h>
#include <vtkSmartPointer.h>

#include <array>
#include <string>
#include <vector>

namespace torchseg
{

/** \brief The closed surface of one label, in world coordinates (LPS millimetres), with its measurements. */
struct LabelSurface
{
  unsigned int           label = 0;
  std::string            name;
  std::array<uint8_t, 3> color{ { 128, 128, 128 } };
  /** Triangles in world coordinates with outward point normals ("Normals"); field data "Label", "Name", "Color". */
  vtkSmartPointer<vtkPolyData> mesh;
  double                       areaMm2 = 0.0;   //!< area of the mesh (vtkMassProperties)
  double                       volumeMm3 = 0.0; //!< volume enclosed by the mesh (vtkMassProperties)
  std::size_t                  numberOfVoxels = 0;
  double                       voxelVolumeMm3 = 0.0; //!< numberOfVoxels times the voxel volume
  /** World bounding box of the label's voxel centres: xmin, xmax, ymin, ymax, zmin, zmax. */
  std::array<double, 6> voxelBounds{};
};

/** \class LabelSurfaceExtractor
 * \brief Extracts one closed, smoothed surface per label of a label image, in world coordinates.
 *
 * Per label: the label's bounding box is cropped with a one-voxel margin of zeros (so that surfaces close where
 * the label touches the image border), vtkDiscreteFlyingEdges3D contours it in index space, the points are mapped
 * to world coordinates through origin, spacing and direction (triangles are reversed when the direction has a
 * negative determinant, so normals point outwards in every geometry), vtkWindowedSincPolyDataFilter smooths it in
 * world space, vtkQuadricDecimation optionally decimates it, and vtkMassProperties measures area and volume.
 *
 * A sink (no ITK output) because its results are meshes: call Update(), then GetSurfaces().
 * \ingroup TorchSegRendering
 */
class LabelSurfaceExtractor : public RenderingProcessObject
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(LabelSurfaceExtractor);

  using Self = LabelSurfaceExtractor;
  using Superclass = RenderingProcessObject;
  using Pointer = itk::SmartPointer<Self>;
  using ConstPointer = itk::SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(LabelSurfaceExtractor, RenderingProcessObject);

  void
  SetInput(const LabelImageType * labels);
  const LabelImageType *
  GetInput() const;

  /** Names and colours of the surfaces; labels without an entry get generic ones. Default: liver and tumour. */
  void
  SetLabelTable(const LabelTable & table);
  const LabelTable &
  GetLabelTable() const
  {
    return m_LabelTable;
  }

  /** The label values to extract; empty (the default) means every non-zero value present in the image. */
  void
  SetLabels(const std::vector<unsigned int> & labels);
  const std::vector<unsigned int> &
  GetLabels() const
  {
    return m_Labels;
  }

  /** Smoothing strength in [0, 1] (Slicer's convention): the windowed-sinc pass band is 10^(-4 * factor);
   * 0 switches smoothing off. */
  itkSetClampMacro(SmoothingFactor, double, 0.0, 1.0);
  itkGetConstMacro(SmoothingFactor, double);

  itkSetClampMacro(SmoothingIterations, unsigned int, 1, 1000);
  itkGetConstMacro(SmoothingIterations, unsigned int);

  /** Fraction of triangles to remove with quadric decimation (volume preserving); 0 (the default) keeps all. */
  itkSetClampMacro(DecimationTargetReduction, double, 0.0, 0.99);
  itkGetConstMacro(DecimationTargetReduction, double);

  /** Mesh only the outer boundary of each label: cavities (such as a tumour inside its liver) are filled before
   * contouring, so the mesh and its area and volume include them (numberOfVoxels and voxelVolumeMm3 do not). Off by
   * default; on for pictures of an organ around its lesions, and for solid models (3D printing). */
  itkSetMacro(FillCavities, bool);
  itkGetConstMacro(FillCavities, bool);
  itkBooleanMacro(FillCavities);

  /** The surfaces of the last Update(), in label-value order (labels absent from the image are skipped). */
  const std::vector<LabelSurface> &
  GetSurfaces() const
  {
    return m_Surfaces;
  }

protected:
  LabelSurfaceExtractor();
  ~LabelSurfaceExtractor() override = default;

  void
  VerifyPreconditions() ITKv5_CONST override;

  /** Whole-image work: one threaded pass collects voxel counts and bounding boxes, then each label is meshed. */
  void
  GenerateData() override;

  void
  PrintSelf(std::ostream & os, itk::Indent indent) const override;

private:
  LabelTable                m_LabelTable;
  std::vector<unsigned int> m_Labels;
  double                    m_SmoothingFactor = 0.5;
  unsigned int              m_SmoothingIterations = 20;
  double                    m_DecimationTargetReduction = 0.0;
  bool                      m_FillCavities = false;
  std::vector<LabelSurface> m_Surfaces;
};

/** Point normals for a closed, consistently oriented triangle mesh, pointing outwards: the triangles are reversed
 * first when they enclose a negative volume (as after a map with a negative determinant). */
vtkSmartPointer<vtkPolyData>
ComputeOutwardNormals(vtkPolyData * mesh);

/** Writes a mesh as VTK XML PolyData (.vtp) or binary STL (.stl), chosen by the extension, atomically. Throws
 * itk::ExceptionObject naming the path on another extension or a failed write. */
void
WriteSurface(vtkPolyData * mesh, const std::string & path);

/** Writes "<directory>/<label>_<name>.vtp" and ".stl" for each surface; returns the paths written. */
std::vector<std::string>
WriteLabelSurfaces(const std::vector<LabelSurface> & surfaces, const std::string & directory);

} // namespace torchseg

#endif
