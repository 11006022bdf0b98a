#include "torchsegLabelSurfaceExtractor.h"

#include "torchsegAtomicOutput.h"

#include "itkMultiThreaderBase.h"

#include <vtkCellArray.h>
#include <vtkCellArrayIterator.h>
#include <vtkDiscreteFlyingEdges3D.h>
#include <vtkFieldData.h>
#include <vtkIntArray.h>
#include <vtkMassProperties.h>
#include <vtkPointData.h>
#include <vtkPolyDataNormals.h>
#include <vtkQuadricDecimation.h>
#include <vtkReverseSense.h>
#include <vtkSTLWriter.h>
#include <vtkStringArray.h>
#include <vtkTransform.h>
#include <vtkTransformPolyDataFilter.h>
#include <vtkUnsignedCharArray.h>
#include <vtkWindowedSincPolyDataFilter.h>
#include <vtkXMLPolyDataWriter.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <mutex>

namespace torchseg
{

namespace
{

/** Voxel count and index bounding box of every label value, from one threaded pass. */
struct LabelStatistics
{
  std::array<std::size_t, 256>   count{};
  std::array<itk::Index<3>, 256> lower;
  std::array<itk::Index<3>, 256> upper;

  LabelStatistics()
  {
    for (auto & i : lower)
    {
      i.Fill(itk::NumericTraits<itk::IndexValueType>::max());
    }
    for (auto & i : upper)
    {
      i.Fill(itk::NumericTraits<itk::IndexValueType>::NonpositiveMin());
    }
  }

  void
  Merge(const LabelStatistics & other)
  {
    for (unsigned int v = 0; v < 256; ++v)
    {
      count[v] += other.count[v];
      for (unsigned int d = 0; d < 3; ++d)
      {
        lower[v][d] = std::min(lower[v][d], other.lower[v][d]);
        upper[v][d] = std::max(upper[v][d], other.upper[v][d]);
      }
    }
  }
};

LabelStatistics
ComputeLabelStatistics(const LabelImageType * image)
{
  const auto      region = image->GetBufferedRegion();
  const auto      size = region.GetSize();
  const auto      start = region.GetIndex();
  const uint8_t * buffer = image->GetBufferPointer();
  LabelStatistics total;
  std::mutex      mutex;
  itk::MultiThreaderBase::New()->ParallelizeArray(
    0,
    size[2],
    [&](itk::SizeValueType z) {
      LabelStatistics local;
      for (itk::SizeValueType y = 0; y < size[1]; ++y)
      {
        const uint8_t * row = buffer + (z * size[1] + y) * size[0];
        for (itk::SizeValueType x = 0; x < size[0]; ++x)
        {
          const uint8_t v = row[x];
          if (v == 0)
          {
            continue;
          }
          ++local.count[v];
          const itk::IndexValueType idx[3] = { start[0] + static_cast<itk::IndexValueType>(x),
                                               start[1] + static_cast<itk::IndexValueType>(y),
                                               start[2] + static_cast<itk::IndexValueType>(z) };
          for (unsigned int d = 0; d < 3; ++d)
          {
            local.lower[v][d] = std::min(local.lower[v][d], idx[d]);
            local.upper[v][d] = std::max(local.upper[v][d], idx[d]);
          }
        }
      }
      std::lock_guard<std::mutex> lock(mutex);
      total.Merge(local);
    },
    nullptr);
  return total;
}

/** A binary mask (1 inside the label) of the label's bounding box plus a one-voxel margin of zeros, in index space:
 * extent in ITK index coordinates, origin 0, spacing 1, so that contour points are continuous indices. */
vtkSmartPointer<vtkImageData>
MakePaddedMask(const LabelImageType * image, uint8_t label, const itk::Index<3> & lower, const itk::Index<3> & upper)
{
  auto mask = vtkSmartPointer<vtkImageData>::New();
  mask->SetExtent(static_cast<int>(lower[0]) - 1,
                  static_cast<int>(upper[0]) + 1,
                  static_cast<int>(lower[1]) - 1,
                  static_cast<int>(upper[1]) + 1,
                  static_cast<int>(lower[2]) - 1,
                  static_cast<int>(upper[2]) + 1);
  mask->SetOrigin(0.0, 0.0, 0.0);
  mask->SetSpacing(1.0, 1.0, 1.0);
  mask->AllocateScalars(VTK_UNSIGNED_CHAR, 1);
  int dims[3];
  mask->GetDimensions(dims);
  auto * out = static_cast<uint8_t *>(mask->GetScalarPointer());
  std::memset(out, 0, static_cast<std::size_t>(dims[0]) * dims[1] * dims[2]);

  const auto      region = image->GetBufferedRegion();
  const auto      size = region.GetSize();
  const auto      start = region.GetIndex();
  const uint8_t * in = image->GetBufferPointer();
  const auto      nx = static_cast<itk::SizeValueType>(upper[0] - lower[0] + 1);
  itk::MultiThreaderBase::New()->ParallelizeArray(
    lower[2],
    upper[2] + 1,
    [&](itk::SizeValueType zz) {
      const auto z = static_cast<itk::IndexValueType>(zz);
      for (itk::IndexValueType y = lower[1]; y <= upper[1]; ++y)
      {
        const uint8_t * src = in +
                              ((z - start[2]) * static_cast<itk::OffsetValueType>(size[1]) + (y - start[1])) *
                                static_cast<itk::OffsetValueType>(size[0]) +
                              (lower[0] - start[0]);
        uint8_t * dst = out + ((z - lower[2] + 1) * dims[1] + (y - lower[1] + 1)) * dims[0] + 1;
        for (itk::SizeValueType x = 0; x < nx; ++x)
        {
          dst[x] = src[x] == label ? 1 : 0;
        }
      }
    },
    nullptr);
  return mask;
}

/** Fills the cavities of a padded binary mask: background voxels that cannot be reached from the (all-background)
 * border through face-connected background. */
void
FillCavities(vtkImageData * mask)
{
  int dims[3];
  mask->GetDimensions(dims);
  auto *                 m = static_cast<uint8_t *>(mask->GetScalarPointer());
  const vtkIdType        nx = dims[0], ny = dims[1], nz = dims[2];
  const vtkIdType        total = nx * ny * nz;
  std::vector<vtkIdType> stack;
  stack.reserve(static_cast<std::size_t>(2 * (nx * ny + ny * nz + nx * nz)));
  m[0] = 2; // the padded corner is background
  stack.push_back(0);
  while (!stack.empty())
  {
    const vtkIdType i = stack.back();
    stack.pop_back();
    const vtkIdType x = i % nx;
    const vtkIdType y = (i / nx) % ny;
    const vtkIdType z = i / (nx * ny);
    const vtkIdType neighbours[6] = {
      x > 0 ? i - 1 : -1,       x + 1 < nx ? i + 1 : -1,  y > 0 ? i - nx : -1,
      y + 1 < ny ? i + nx : -1, z > 0 ? i - nx * ny : -1, z + 1 < nz ? i + nx * ny : -1
    };
    for (const vtkIdType n : neighbours)
    {
      if (n >= 0 && m[n] == 0)
      {
        m[n] = 2;
        stack.push_back(n);
      }
    }
  }
  for (vtkIdType i = 0; i < total; ++i)
  {
    m[i] = m[i] == 2 ? 0 : 1;
  }
}

/** Six times the signed volume enclosed by the triangles (positive when they are oriented outwards). */
double
SignedVolumeTimesSix(vtkPolyData * mesh)
{
  double            sum = 0.0;
  vtkPoints *       points = mesh->GetPoints();
  auto              iter = vtk::TakeSmartPointer(mesh->GetPolys()->NewIterator());
  vtkIdType         n = 0;
  const vtkIdType * ids = nullptr;
  for (iter->GoToFirstCell(); !iter->IsDoneWithTraversal(); iter->GoToNextCell())
  {
    iter->GetCurrentCell(n, ids);
    if (n < 3)
    {
      continue;
    }
    double a[3], b[3], c[3];
    points->GetPoint(ids[0], a);
    for (vtkIdType k = 1; k + 1 < n; ++k)
    {
      points->GetPoint(ids[k], b);
      points->GetPoint(ids[k + 1], c);
      sum +=
        a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) + a[2] * (b[0] * c[1] - b[1] * c[0]);
    }
  }
  return sum;
}

} // namespace

LabelSurfaceExtractor::LabelSurfaceExtractor()
  : m_LabelTable(LabelTable::LiverTumour())
{
  this->SetNumberOfRequiredInputs(1);
}

void
LabelSurfaceExtractor::SetInput(const LabelImageType * labels)
{
  this->SetNthInput(0, const_cast<LabelImageType *>(labels));
}

const LabelImageType *
LabelSurfaceExtractor::GetInput() const
{
  return static_cast<const LabelImageType *>(this->GetPrimaryInput());
}

void
LabelSurfaceExtractor::SetLabelTable(const LabelTable & table)
{
  m_LabelTable = table;
  this->Modified();
}

void
LabelSurfaceExtractor::SetLabels(const std::vector<unsigned int> & labels)
{
  for (const unsigned int v : labels)
  {
    if (v == 0 || v > 255)
    {
      itkExceptionMacro(<< "Label value " << v << " cannot be meshed: label values lie in [1, 255]");
    }
  }
  m_Labels = labels;
  this->Modified();
}

void
LabelSurfaceExtractor::VerifyPreconditions() ITKv5_CONST
{
  Superclass::VerifyPreconditions();
  const LabelImageType * input = this->GetInput();
  if (input->GetBufferedRegion() != input->GetLargestPossibleRegion())
  {
    itkExceptionMacro(<< "The label image must be buffered whole (buffered region " << input->GetBufferedRegion()
                      << ")");
  }
}

void
LabelSurfaceExtractor::GenerateData()
{
  const LabelImageType * input = this->GetInput();
  m_Surfaces.clear();
  this->UpdateProgress(0.0f);

  const LabelStatistics     statistics = ComputeLabelStatistics(input);
  std::vector<unsigned int> labels = m_Labels;
  if (labels.empty())
  {
    for (unsigned int v = 1; v < 256; ++v)
    {
      if (statistics.count[v] > 0)
      {
        labels.push_back(v);
      }
    }
  }
  std::sort(labels.begin(), labels.end());
  labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
  this->UpdateProgress(0.1f);

  vtkSmartPointer<vtkMatrix4x4> indexToWorld = MakeIndexToWorldMatrix(input);
  auto                          transform = vtkSmartPointer<vtkTransform>::New();
  transform->SetMatrix(indexToWorld);
  const double voxelVolume = std::abs(input->GetSpacing()[0] * input->GetSpacing()[1] * input->GetSpacing()[2]);

  std::size_t done = 0;
  for (const unsigned int label : labels)
  {
    if (this->GetAbortGenerateData())
    {
      itk::ProcessAborted e(__FILE__, __LINE__);
      e.SetDescription("LabelSurfaceExtractor aborted");
      throw e;
    }
    if (statistics.count[label] == 0)
    {
      continue;
    }
    LabelSurface surface;
    surface.label = label;
    surface.name = m_LabelTable.GetName(label);
    surface.color = m_LabelTable.GetColor(label);
    surface.numberOfVoxels = statistics.count[label];
    surface.voxelVolumeMm3 = voxelVolume * static_cast<double>(statistics.count[label]);
    itk::ImageRegion<3> box;
    box.SetIndex(statistics.lower[label]);
    for (unsigned int d = 0; d < 3; ++d)
    {
      box.SetSize(d, static_cast<itk::SizeValueType>(statistics.upper[label][d] - statistics.lower[label][d] + 1));
    }
    surface.voxelBounds = GetWorldBounds(input, box);

    auto mask = MakePaddedMask(input, static_cast<uint8_t>(label), statistics.lower[label], statistics.upper[label]);
    if (m_FillCavities)
    {
      FillCavities(mask);
    }
    auto contour = vtkSmartPointer<vtkDiscreteFlyingEdges3D>::New();
    contour->SetInputData(mask);
    contour->SetValue(0, 1.0);
    contour->ComputeNormalsOff();
    contour->ComputeGradientsOff();
    contour->ComputeScalarsOff();

    // Affine map of index space to world space; smoothing happens in world space so that it treats anisotropic
    // voxels physically.
    auto toWorld = vtkSmartPointer<vtkTransformPolyDataFilter>::New();
    toWorld->SetInputConnection(contour->GetOutputPort());
    toWorld->SetTransform(transform);
    toWorld->Update();
    vtkSmartPointer<vtkPolyData> mesh = toWorld->GetOutput();

    if (m_SmoothingFactor > 0.0)
    {
      auto smoother = vtkSmartPointer<vtkWindowedSincPolyDataFilter>::New();
      smoother->SetInputData(mesh);
      smoother->SetNumberOfIterations(static_cast<int>(m_SmoothingIterations));
      smoother->SetPassBand(std::pow(10.0, -4.0 * m_SmoothingFactor));
      smoother->BoundarySmoothingOff();
      smoother->FeatureEdgeSmoothingOff();
      smoother->NonManifoldSmoothingOn();
      smoother->NormalizeCoordinatesOn();
      smoother->Update();
      mesh = smoother->GetOutput();
    }
    if (m_DecimationTargetReduction > 0.0 && mesh->GetNumberOfPolys() > 0)
    {
      auto decimate = vtkSmartPointer<vtkQuadricDecimation>::New();
      decimate->SetInputData(mesh);
      decimate->SetTargetReduction(m_DecimationTargetReduction);
      decimate->VolumePreservationOn();
      decimate->Update();
      mesh = decimate->GetOutput();
    }

    // Discrete flying edges orients every closed component consistently; the index-to-world map reverses that
    // orientation when det(direction) < 0.
    surface.mesh = ComputeOutwardNormals(mesh);

    auto mass = vtkSmartPointer<vtkMassProperties>::New();
    mass->SetInputData(surface.mesh);
    mass->Update();
    surface.areaMm2 = mass->GetSurfaceArea();
    surface.volumeMm3 = std::abs(mass->GetVolume());

    auto labelArray = vtkSmartPointer<vtkIntArray>::New();
    labelArray->SetName("Label");
    labelArray->InsertNextValue(static_cast<int>(label));
    auto nameArray = vtkSmartPointer<vtkStringArray>::New();
    nameArray->SetName("Name");
    nameArray->InsertNextValue(surface.name);
    auto colorArray = vtkSmartPointer<vtkUnsignedCharArray>::New();
    colorArray->SetName("Color");
    colorArray->SetNumberOfComponents(3);
    colorArray->InsertNextTypedTuple(surface.color.data());
    surface.mesh->GetFieldData()->AddArray(labelArray);
    surface.mesh->GetFieldData()->AddArray(nameArray);
    surface.mesh->GetFieldData()->AddArray(colorArray);

    m_Surfaces.push_back(std::move(surface));
    ++done;
    this->UpdateProgress(0.1f + 0.9f * static_cast<float>(done) / static_cast<float>(labels.size()));
  }
  this->UpdateProgress(1.0f);
}

void
LabelSurfaceExtractor::PrintSelf(std::ostream & os, itk::Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "LabelTable: " << m_LabelTable.size() << " entries" << std::endl;
  os << indent << "Labels:";
  for (const unsigned int v : m_Labels)
  {
    os << ' ' << v;
  }
  os << (m_Labels.empty() ? " (all present)" : "") << std::endl;
  os << indent << "SmoothingFactor: " << m_SmoothingFactor << std::endl;
  os << indent << "SmoothingIterations: " << m_SmoothingIterations << std::endl;
  os << indent << "DecimationTargetReduction: " << m_DecimationTargetReduction << std::endl;
  os << indent << "FillCavities: " << m_FillCavities << std::endl;
  os << indent << "Surfaces: " << m_Surfaces.size() << std::endl;
}

vtkSmartPointer<vtkPolyData>
ComputeOutwardNormals(vtkPolyData * mesh)
{
  vtkSmartPointer<vtkPolyData> oriented = mesh;
  if (SignedVolumeTimesSix(mesh) < 0.0)
  {
    auto reverse = vtkSmartPointer<vtkReverseSense>::New();
    reverse->SetInputData(mesh);
    reverse->ReverseCellsOn();
    reverse->ReverseNormalsOff();
    reverse->Update();
    oriented = reverse->GetOutput();
  }
  auto normals = vtkSmartPointer<vtkPolyDataNormals>::New();
  normals->SetInputData(oriented);
  normals->ConsistencyOff();
  normals->AutoOrientNormalsOff();
  normals->SplittingOff();
  normals->ComputePointNormalsOn();
  normals->ComputeCellNormalsOff();
  normals->Update();
  return normals->GetOutput();
}

void
WriteSurface(vtkPolyData * mesh, const std::string & path)
{
  if (mesh == nullptr)
  {
    itkGenericExceptionMacro(<< "Cannot write " << path << ": the surface is null");
  }
  const std::string extension = GetFullExtension(path);
  AtomicOutput      output(path);
  const std::string temporary = output.GetTemporaryPath().string();
  int               ok = 0;
  if (extension == ".vtp")
  {
    auto writer = vtkSmartPointer<vtkXMLPolyDataWriter>::New();
    writer->SetInputData(mesh);
    writer->SetFileName(temporary.c_str());
    writer->SetDataModeToAppended();
    writer->SetCompressorTypeToZLib();
    ok = writer->Write();
  }
  else if (extension == ".stl")
  {
    auto writer = vtkSmartPointer<vtkSTLWriter>::New();
    writer->SetInputData(mesh);
    writer->SetFileName(temporary.c_str());
    writer->SetFileTypeToBinary();
    ok = writer->Write();
  }
  else
  {
    itkGenericExceptionMacro(<< "Cannot write surface " << path << ": unsupported extension \"" << extension
                             << "\" (use .vtp or .stl)");
  }
  if (ok != 1 || !std::filesystem::exists(output.GetTemporaryPath()))
  {
    itkGenericExceptionMacro(<< "Failed to write surface " << path);
  }
  output.Commit();
}

std::vector<std::string>
WriteLabelSurfaces(const std::vector<LabelSurface> & surfaces, const std::string & directory)
{
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (!std::filesystem::is_directory(directory))
  {
    itkGenericExceptionMacro(<< "Cannot create the surface directory " << directory
                             << (ec ? ": " + ec.message() : std::string()));
  }
  std::vector<std::string> written;
  for (const auto & surface : surfaces)
  {
    std::string stem = std::to_string(surface.label) + "_" + surface.name;
    for (char & c : stem)
    {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-')
      {
        c = '_';
      }
    }
    for (const char * extension : { ".vtp", ".stl" })
    {
      const std::string path = (std::filesystem::path(directory) / (stem + extension)).string();
      WriteSurface(surface.mesh, path);
      written.push_back(path);
    }
  }
  return written;
}

} // namespace torchseg
