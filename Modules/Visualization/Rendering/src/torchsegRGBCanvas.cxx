#include "torchsegRGBCanvas.h"

#include "torchsegAtomicOutput.h"

#include "itkMacro.h"

#include <vtkFreeTypeTools.h>
#include <vtkPNGReader.h>
#include <vtkPNGWriter.h>
#include <vtkPointData.h>
#include <vtkTextProperty.h>
#include <vtkUnsignedCharArray.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

namespace torchseg
{

namespace
{

uint8_t
Mix(uint8_t a, uint8_t b, double alpha)
{
  const double v = (1.0 - alpha) * a + alpha * b;
  return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
}

vtkSmartPointer<vtkTextProperty>
MakeTextProperty(int fontSize, bool bold, double rotation)
{
  auto property = vtkSmartPointer<vtkTextProperty>::New();
  property->SetFontFamilyToArial();
  property->SetFontSize(fontSize);
  property->SetBold(bold);
  property->SetItalic(false);
  property->SetShadow(false);
  property->SetColor(1.0, 1.0, 1.0);
  property->SetOpacity(1.0);
  property->SetOrientation(rotation);
  property->SetJustificationToLeft();
  property->SetVerticalJustificationToBottom();
  return property;
}

/** The text as an RGBA image (row 0 at the bottom); alpha is the glyph coverage. */
vtkSmartPointer<vtkImageData>
RasteriseText(const std::string & text, int fontSize, bool bold, double rotation)
{
  auto               image = vtkSmartPointer<vtkImageData>::New();
  vtkFreeTypeTools * freeType = vtkFreeTypeTools::GetInstance();
  freeType->ScaleToPowerTwoOff();
  auto property = MakeTextProperty(fontSize, bold, rotation);
  int  dims[2] = { 0, 0 };
  if (text.empty() || !freeType->RenderString(property, text, 72, image, dims))
  {
    return nullptr;
  }
  return image;
}

} // namespace

RGBCanvas::RGBCanvas(unsigned int width, unsigned int height, const Color & background)
  : m_Width(width)
  , m_Height(height)
  , m_Pixels(static_cast<std::size_t>(width) * height * 3)
{
  this->Fill(background);
}

RGBCanvas::Color
RGBCanvas::GetPixel(unsigned int x, unsigned int y) const
{
  if (x >= m_Width || y >= m_Height)
  {
    itkGenericExceptionMacro(<< "Pixel (" << x << ", " << y << ") lies outside the " << m_Width << "x" << m_Height
                             << " picture");
  }
  const uint8_t * p = &m_Pixels[(static_cast<std::size_t>(y) * m_Width + x) * 3];
  return Color{ { p[0], p[1], p[2] } };
}

void
RGBCanvas::SetPixel(int x, int y, const Color & color)
{
  if (x < 0 || y < 0 || x >= static_cast<int>(m_Width) || y >= static_cast<int>(m_Height))
  {
    return;
  }
  uint8_t * p = &m_Pixels[(static_cast<std::size_t>(y) * m_Width + x) * 3];
  p[0] = color[0];
  p[1] = color[1];
  p[2] = color[2];
}

void
RGBCanvas::BlendPixel(int x, int y, const Color & color, double alpha)
{
  if (x < 0 || y < 0 || x >= static_cast<int>(m_Width) || y >= static_cast<int>(m_Height) || alpha <= 0.0)
  {
    return;
  }
  alpha = std::min(alpha, 1.0);
  uint8_t * p = &m_Pixels[(static_cast<std::size_t>(y) * m_Width + x) * 3];
  for (unsigned int c = 0; c < 3; ++c)
  {
    p[c] = Mix(p[c], color[c], alpha);
  }
}

void
RGBCanvas::Fill(const Color & color)
{
  for (std::size_t i = 0; i < m_Pixels.size(); i += 3)
  {
    m_Pixels[i] = color[0];
    m_Pixels[i + 1] = color[1];
    m_Pixels[i + 2] = color[2];
  }
}

void
RGBCanvas::FillRectangle(int x, int y, int width, int height, const Color & color, double alpha)
{
  const int x0 = std::max(x, 0);
  const int y0 = std::max(y, 0);
  const int x1 = std::min(x + width, static_cast<int>(m_Width));
  const int y1 = std::min(y + height, static_cast<int>(m_Height));
  for (int yy = y0; yy < y1; ++yy)
  {
    for (int xx = x0; xx < x1; ++xx)
    {
      if (alpha >= 1.0)
      {
        this->SetPixel(xx, yy, color);
      }
      else
      {
        this->BlendPixel(xx, yy, color, alpha);
      }
    }
  }
}

void
RGBCanvas::DrawRectangle(int x, int y, int width, int height, const Color & color, int thickness)
{
  this->FillRectangle(x, y, width, thickness, color);
  this->FillRectangle(x, y + height - thickness, width, thickness, color);
  this->FillRectangle(x, y, thickness, height, color);
  this->FillRectangle(x + width - thickness, y, thickness, height, color);
}

void
RGBCanvas::DrawLine(double x0, double y0, double x1, double y1, const Color & color, double width, double alpha)
{
  const double half = 0.5 * width;
  const double dx = x1 - x0;
  const double dy = y1 - y0;
  const double length2 = dx * dx + dy * dy;
  const int    xmin = static_cast<int>(std::floor(std::min(x0, x1) - half - 1.0));
  const int    xmax = static_cast<int>(std::ceil(std::max(x0, x1) + half + 1.0));
  const int    ymin = static_cast<int>(std::floor(std::min(y0, y1) - half - 1.0));
  const int    ymax = static_cast<int>(std::ceil(std::max(y0, y1) + half + 1.0));
  for (int y = std::max(ymin, 0); y <= std::min(ymax, static_cast<int>(m_Height) - 1); ++y)
  {
    for (int x = std::max(xmin, 0); x <= std::min(xmax, static_cast<int>(m_Width) - 1); ++x)
    {
      double t = length2 > 0.0 ? ((x - x0) * dx + (y - y0) * dy) / length2 : 0.0;
      t = std::clamp(t, 0.0, 1.0);
      const double ex = x - (x0 + t * dx);
      const double ey = y - (y0 + t * dy);
      const double distance = std::sqrt(ex * ex + ey * ey);
      // Coverage of the pixel by the stroke, approximated by a one-pixel ramp at the stroke's edge.
      const double coverage = std::clamp(half + 0.5 - distance, 0.0, 1.0);
      if (coverage > 0.0)
      {
        this->BlendPixel(x, y, color, coverage * alpha);
      }
    }
  }
}

void
RGBCanvas::DrawDashedLine(double x0, double y0, double x1, double y1, const Color & color, double width, double dash,
                          double gap, double alpha)
{
  const double length = std::hypot(x1 - x0, y1 - y0);
  if (length <= 0.0 || dash <= 0.0)
  {
    return;
  }
  const double ux = (x1 - x0) / length;
  const double uy = (y1 - y0) / length;
  for (double s = 0.0; s < length; s += dash + gap)
  {
    const double e = std::min(s + dash, length);
    this->DrawLine(x0 + ux * s, y0 + uy * s, x0 + ux * e, y0 + uy * e, color, width, alpha);
  }
}

void
RGBCanvas::FillDisc(double cx, double cy, double radius, const Color & color, double alpha)
{
  for (int y = static_cast<int>(std::floor(cy - radius - 1)); y <= static_cast<int>(std::ceil(cy + radius + 1)); ++y)
  {
    for (int x = static_cast<int>(std::floor(cx - radius - 1)); x <= static_cast<int>(std::ceil(cx + radius + 1)); ++x)
    {
      const double coverage = std::clamp(radius + 0.5 - std::hypot(x - cx, y - cy), 0.0, 1.0);
      this->BlendPixel(x, y, color, coverage * alpha);
    }
  }
}

std::array<int, 2>
RGBCanvas::MeasureText(const std::string & text, int fontSize, bool bold, double rotation)
{
  auto image = RasteriseText(text, fontSize, bold, rotation);
  if (!image)
  {
    return { { 0, 0 } };
  }
  int dims[3];
  image->GetDimensions(dims);
  return { { dims[0], dims[1] } };
}

std::array<int, 2>
RGBCanvas::DrawText(int x, int y, const std::string & text, int fontSize, const Color & color,
                    HorizontalAlignment horizontal, VerticalAlignment vertical, bool bold, double rotation)
{
  auto image = RasteriseText(text, fontSize, bold, rotation);
  if (!image)
  {
    return { { 0, 0 } };
  }
  int dims[3];
  image->GetDimensions(dims);
  int left = x;
  if (horizontal == HorizontalAlignment::Centre)
  {
    left = x - dims[0] / 2;
  }
  else if (horizontal == HorizontalAlignment::Right)
  {
    left = x - dims[0];
  }
  int top = y;
  if (vertical == VerticalAlignment::Centre)
  {
    top = y - dims[1] / 2;
  }
  else if (vertical == VerticalAlignment::Bottom)
  {
    top = y - dims[1];
  }
  const int       components = image->GetNumberOfScalarComponents();
  const uint8_t * pixels = static_cast<const uint8_t *>(image->GetScalarPointer());
  for (int row = 0; row < dims[1]; ++row)
  {
    // VTK's row 0 is the bottom one.
    const uint8_t * source = pixels + static_cast<std::size_t>(dims[1] - 1 - row) * dims[0] * components;
    for (int column = 0; column < dims[0]; ++column)
    {
      const uint8_t coverage = source[column * components + components - 1];
      if (coverage > 0)
      {
        this->BlendPixel(left + column, top + row, color, coverage / 255.0);
      }
    }
  }
  return { { dims[0], dims[1] } };
}

void
RGBCanvas::Paste(const RGBCanvas & other, int x, int y)
{
  for (unsigned int row = 0; row < other.m_Height; ++row)
  {
    const int ty = y + static_cast<int>(row);
    if (ty < 0 || ty >= static_cast<int>(m_Height))
    {
      continue;
    }
    for (unsigned int column = 0; column < other.m_Width; ++column)
    {
      const uint8_t * p = &other.m_Pixels[(static_cast<std::size_t>(row) * other.m_Width + column) * 3];
      this->SetPixel(x + static_cast<int>(column), ty, Color{ { p[0], p[1], p[2] } });
    }
  }
}

vtkSmartPointer<vtkImageData>
RGBCanvas::ToVTKImageData() const
{
  auto image = vtkSmartPointer<vtkImageData>::New();
  image->SetDimensions(static_cast<int>(m_Width), static_cast<int>(m_Height), 1);
  image->AllocateScalars(VTK_UNSIGNED_CHAR, 3);
  auto *            out = static_cast<uint8_t *>(image->GetScalarPointer());
  const std::size_t rowBytes = static_cast<std::size_t>(m_Width) * 3;
  for (unsigned int row = 0; row < m_Height; ++row)
  {
    std::copy_n(&m_Pixels[row * rowBytes], rowBytes, out + (m_Height - 1 - row) * rowBytes);
  }
  return image;
}

RGBCanvas
RGBCanvas::FromVTKImageData(vtkImageData * image)
{
  if (image == nullptr || image->GetScalarType() != VTK_UNSIGNED_CHAR || image->GetNumberOfScalarComponents() < 3)
  {
    itkGenericExceptionMacro(<< "An RGB picture needs an unsigned char image with 3 or 4 components");
  }
  int dims[3];
  image->GetDimensions(dims);
  RGBCanvas       canvas(static_cast<unsigned int>(dims[0]), static_cast<unsigned int>(dims[1]));
  const int       components = image->GetNumberOfScalarComponents();
  const uint8_t * in = static_cast<const uint8_t *>(image->GetScalarPointer());
  for (int row = 0; row < dims[1]; ++row)
  {
    for (int column = 0; column < dims[0]; ++column)
    {
      const uint8_t * p = in + (static_cast<std::size_t>(dims[1] - 1 - row) * dims[0] + column) * components;
      canvas.SetPixel(column, row, Color{ { p[0], p[1], p[2] } });
    }
  }
  return canvas;
}

void
RGBCanvas::WritePNG(const std::string & path) const
{
  if (this->IsEmpty())
  {
    itkGenericExceptionMacro(<< "Cannot write " << path << ": the picture is empty");
  }
  const std::string extension = GetFullExtension(path);
  if (extension != ".png" && extension != ".PNG")
  {
    itkGenericExceptionMacro(<< "Cannot write picture " << path << ": the file name must end in .png");
  }
  AtomicOutput output(path);
  auto         writer = vtkSmartPointer<vtkPNGWriter>::New();
  writer->SetInputData(this->ToVTKImageData());
  const std::string temporary = output.GetTemporaryPath().string();
  writer->SetFileName(temporary.c_str());
  writer->Write();
  std::error_code ec;
  if (writer->GetErrorCode() != 0 || std::filesystem::file_size(output.GetTemporaryPath(), ec) == 0 || ec)
  {
    itkGenericExceptionMacro(<< "Failed to write picture " << path);
  }
  output.Commit();
}

RGBCanvas
RGBCanvas::ReadPNG(const std::string & path)
{
  auto reader = vtkSmartPointer<vtkPNGReader>::New();
  if (!std::filesystem::is_regular_file(path) || !reader->CanReadFile(path.c_str()))
  {
    itkGenericExceptionMacro(<< "Cannot read picture " << path << ": not a PNG file");
  }
  reader->SetFileName(path.c_str());
  reader->Update();
  return FromVTKImageData(reader->GetOutput());
}

std::string
FormatNumber(double value, int precision)
{
  if (!std::isfinite(value))
  {
    return "n/a";
  }
  if (value == 0.0)
  {
    return "0";
  }
  const double magnitude = std::abs(value);
  char         buffer[64];
  if (magnitude >= 1e5 || magnitude < 1e-3)
  {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    return buffer;
  }
  std::snprintf(buffer, sizeof(buffer), "%.*f", precision, value);
  std::string text = buffer;
  if (text.find('.') != std::string::npos)
  {
    while (!text.empty() && text.back() == '0')
    {
      text.pop_back();
    }
    if (!text.empty() && text.back() == '.')
    {
      text.pop_back();
    }
  }
  return text == "-0" ? "0" : text;
}

} // namespace torchseg
