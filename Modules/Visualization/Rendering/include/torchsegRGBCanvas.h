#ifndef torchsegRGBCanvas_h
#define torchsegRGBCanvas_h

#include <vtkImageData.h>
#include <vtkSmartPointer.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace torchseg
{

/** \class RGBCanvas
 * \brief An 8-bit RGB picture drawn on the CPU: the surface of every 2D picture of the module (slice views,
 * comparisons, plots, legends), so that none of them needs OpenGL or a display.
 *
 * Row 0 is the top row. Drawing is clipped to the canvas. Lines and discs are anti-aliased by coverage; text is
 * rasterised with FreeType (VTK's embedded fonts) and alpha-blended.
 * \ingroup TorchSegRendering
 */
class RGBCanvas
{
public:
  using Color = std::array<uint8_t, 3>;

  enum class HorizontalAlignment
  {
    Left,
    Centre,
    Right
  };
  enum class VerticalAlignment
  {
    Top,
    Centre,
    Bottom
  };

  RGBCanvas() = default;
  RGBCanvas(unsigned int width, unsigned int height, const Color & background = Color{ { 0, 0, 0 } });

  unsigned int
  GetWidth() const
  {
    return m_Width;
  }
  unsigned int
  GetHeight() const
  {
    return m_Height;
  }
  bool
  IsEmpty() const
  {
    return m_Width == 0 || m_Height == 0;
  }
  uint8_t *
  GetBufferPointer()
  {
    return m_Pixels.data();
  }
  const uint8_t *
  GetBufferPointer() const
  {
    return m_Pixels.data();
  }

  /** The pixel at column \a x, row \a y (both must lie inside the canvas). */
  Color
  GetPixel(unsigned int x, unsigned int y) const;
  void
  SetPixel(int x, int y, const Color & color);
  /** Mixes \a color into the pixel with weight \a alpha in [0, 1]: (1 - alpha) * old + alpha * color, rounded. */
  void
  BlendPixel(int x, int y, const Color & color, double alpha);

  void
  Fill(const Color & color);
  void
  FillRectangle(int x, int y, int width, int height, const Color & color, double alpha = 1.0);
  /** A rectangle outline \a thickness pixels wide, inside the given box. */
  void
  DrawRectangle(int x, int y, int width, int height, const Color & color, int thickness = 1);
  /** An anti-aliased segment of the given width, with round caps; coordinates are pixel centres. */
  void
  DrawLine(double x0, double y0, double x1, double y1, const Color & color, double width = 1.0, double alpha = 1.0);
  /** A dashed anti-aliased segment. */
  void
  DrawDashedLine(double x0, double y0, double x1, double y1, const Color & color, double width, double dash, double gap,
                 double alpha = 1.0);
  void
  FillDisc(double cx, double cy, double radius, const Color & color, double alpha = 1.0);

  /** Draws \a text with its anchor at (x, y), in \a fontSize pixels; \a rotation 90 writes upwards (axis titles).
   * Returns the width and height of the text box. */
  std::array<int, 2>
  DrawText(int x, int y, const std::string & text, int fontSize, const Color & color,
           HorizontalAlignment horizontal = HorizontalAlignment::Left,
           VerticalAlignment vertical = VerticalAlignment::Top, bool bold = false, double rotation = 0.0);
  /** The width and height of the box DrawText() would fill. */
  static std::array<int, 2>
  MeasureText(const std::string & text, int fontSize, bool bold = false, double rotation = 0.0);

  /** Copies \a other with its top-left corner at (x, y). */
  void
  Paste(const RGBCanvas & other, int x, int y);

  /** A copy as vtkImageData (3 unsigned char components, row 0 at the bottom as VTK expects). */
  vtkSmartPointer<vtkImageData>
  ToVTKImageData() const;
  static RGBCanvas
  FromVTKImageData(vtkImageData * image);

  /** Writes a PNG atomically; throws itk::ExceptionObject naming the path on failure. */
  void
  WritePNG(const std::string & path) const;
  /** Reads an RGB or RGBA PNG (alpha dropped); throws itk::ExceptionObject naming the path on failure. */
  static RGBCanvas
  ReadPNG(const std::string & path);

private:
  unsigned int         m_Width = 0;
  unsigned int         m_Height = 0;
  std::vector<uint8_t> m_Pixels;
};

/** Formats a number for axis ticks and legends with at most \a precision significant decimals, trailing zeros
 * removed ("0.25", "1200", "3e-05"). */
std::string
FormatNumber(double value, int precision = 3);

} // namespace torchseg

#endif
