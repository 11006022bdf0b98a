// Draws a few axial slices and one coronal slice of several phantom cases, CT abdomen window (W400/L40) with the
// liver (green) and tumour (red) outlines, into one PNG: docs/images/phantom-slices.png.
//
//   torchsegPhantomSlices OUTPUT.png [--seed S] [--cases N] [--first F] [--list i,j,...] [--size N] [--slices N]
//                                    [--tile T] [--levels z1,z2,z3] [--window W] [--level L]
//
// Slices are taken in world coordinates (radiological display: patient right on the left, anterior up), so
// flipped and oblique cases are shown the same way as axial ones.

#include "torchsegAbdominalCTPhantomSource.h"

#include "itkImageFileWriter.h"
#include "itkPNGImageIO.h"
#include "itkRGBPixel.h"

#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace
{

using RGBImageType = itk::Image<itk::RGBPixel<uint8_t>, 2>;
using CTImageType = torchseg::AbdominalCTPhantomSource::CTImageType;
using LabelImageType = torchseg::AbdominalCTPhantomSource::LabelImageType;

struct Plane
{
  // World point of display pixel (u, v) = origin + u * du + v * dv.
  itk::Point<double, 3>  origin;
  itk::Vector<double, 3> du;
  itk::Vector<double, 3> dv;
};

void
DrawTile(RGBImageType * canvas, int x0, int y0, int tile, const Plane & plane, const CTImageType * ct,
         const LabelImageType * labels, double window, double level)
{
  std::vector<int> tileLabels(tile * tile, -1);
  std::vector<int> tileGray(tile * tile, 0);
  const auto       region = ct->GetLargestPossibleRegion();
  for (int v = 0; v < tile; ++v)
  {
    for (int u = 0; u < tile; ++u)
    {
      const itk::Point<double, 3> p =
        plane.origin + plane.du * static_cast<double>(u) + plane.dv * static_cast<double>(v);
      itk::ContinuousIndex<double, 3> ci;
      ct->TransformPhysicalPointToContinuousIndex(p, ci);
      bool inside = true;
      for (int k = 0; k < 3; ++k)
      {
        inside = inside && ci[k] >= -0.5 && ci[k] <= region.GetSize(k) - 0.5;
      }
      if (!inside)
      {
        continue;
      }
      // Trilinear interpolation of the CT, nearest neighbour for the labels.
      double value = 0.0;
      int    base[3];
      double frac[3];
      for (int k = 0; k < 3; ++k)
      {
        const double c = std::min(std::max(ci[k], 0.0), region.GetSize(k) - 1.0);
        base[k] = std::min(static_cast<int>(std::floor(c)), static_cast<int>(region.GetSize(k)) - 2);
        base[k] = std::max(base[k], 0);
        frac[k] = region.GetSize(k) > 1 ? c - base[k] : 0.0;
      }
      for (int corner = 0; corner < 8; ++corner)
      {
        double                 w = 1.0;
        CTImageType::IndexType idx;
        for (int k = 0; k < 3; ++k)
        {
          const int bit = (corner >> k) & 1;
          idx[k] = std::min<long>(base[k] + bit, region.GetSize(k) - 1);
          w *= bit ? frac[k] : 1.0 - frac[k];
        }
        if (w > 0.0)
        {
          value += w * ct->GetPixel(idx);
        }
      }
      CTImageType::IndexType nearest;
      for (int k = 0; k < 3; ++k)
      {
        nearest[k] = std::min<long>(std::max<long>(std::lround(ci[k]), 0), region.GetSize(k) - 1);
      }
      tileLabels[v * tile + u] = labels->GetPixel(nearest);
      const double g = (value - (level - 0.5 * window)) / window;
      tileGray[v * tile + u] = static_cast<int>(std::min(std::max(g, 0.0), 1.0) * 255.0 + 0.5);
    }
  }
  for (int v = 0; v < tile; ++v)
  {
    for (int u = 0; u < tile; ++u)
    {
      const int              l = tileLabels[v * tile + u];
      itk::RGBPixel<uint8_t> px;
      const uint8_t          gray = static_cast<uint8_t>(l < 0 ? 0 : tileGray[v * tile + u]);
      px.Set(gray, gray, gray);
      if (l > 0)
      {
        bool edge = false;
        for (const auto & d : { std::pair<int, int>{ 1, 0 }, { -1, 0 }, { 0, 1 }, { 0, -1 } })
        {
          const int uu = u + d.first, vv = v + d.second;
          if (uu < 0 || vv < 0 || uu >= tile || vv >= tile || tileLabels[vv * tile + uu] != l)
          {
            edge = true;
          }
        }
        if (edge)
        {
          if (l == 1)
          {
            px.Set(40, 220, 60);
          }
          else
          {
            px.Set(255, 60, 40);
          }
        }
      }
      RGBImageType::IndexType idx = { { x0 + u, y0 + v } };
      canvas->SetPixel(idx, px);
    }
  }
}

} // namespace

int
main(int argc, char * argv[])
{
  if (argc < 2)
  {
    std::cerr << "usage: torchsegPhantomSlices OUTPUT.png [--seed S] [--cases N] [--first F] [--list i,j,...] "
                 "[--size N] [--slices N] [--tile T] [--levels z1,z2,z3] [--window W] [--level L]"
              << std::endl;
    return 2;
  }
  std::string         output = argv[1];
  uint64_t            seed = 2024;
  int                 cases = 4;
  int                 first = 0;
  unsigned int        size = 512;
  unsigned int        slices = 0;
  int                 tile = 256;
  double              window = 400.0, level = 40.0;
  std::vector<double> levels = { -35.0, -85.0, -125.0 };
  std::vector<int>    list;
  for (int i = 2; i + 1 < argc; i += 2)
  {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--seed")
      seed = std::stoull(value);
    else if (flag == "--cases")
      cases = std::stoi(value);
    else if (flag == "--first")
      first = std::stoi(value);
    else if (flag == "--size")
      size = static_cast<unsigned int>(std::stoul(value));
    else if (flag == "--slices")
      slices = static_cast<unsigned int>(std::stoul(value));
    else if (flag == "--tile")
      tile = std::stoi(value);
    else if (flag == "--window")
      window = std::stod(value);
    else if (flag == "--level")
      level = std::stod(value);
    else if (flag == "--list")
    {
      std::stringstream ss(value);
      std::string       item;
      while (std::getline(ss, item, ','))
      {
        list.push_back(std::stoi(item));
      }
    }
    else if (flag == "--levels")
    {
      levels.clear();
      std::stringstream ss(value);
      std::string       item;
      while (std::getline(ss, item, ','))
      {
        levels.push_back(std::stod(item));
      }
    }
    else
    {
      std::cerr << "unknown flag " << flag << std::endl;
      return 2;
    }
  }
  if (list.empty())
  {
    for (int c = 0; c < cases; ++c)
    {
      list.push_back(first + c);
    }
  }
  cases = static_cast<int>(list.size());
  try
  {
    const int columns = static_cast<int>(levels.size()) + 1;
    auto      canvas = RGBImageType::New();
    canvas->SetRegions(RGBImageType::SizeType{ { static_cast<itk::SizeValueType>(columns * tile + (columns - 1) * 4),
                                                 static_cast<itk::SizeValueType>(cases * tile + (cases - 1) * 4) } });
    canvas->Allocate();
    itk::RGBPixel<uint8_t> white;
    white.Set(255, 255, 255);
    canvas->FillBuffer(white);
    for (int c = 0; c < cases; ++c)
    {
      auto source = torchseg::AbdominalCTPhantomSource::New();
      source->SetSeed(seed);
      source->SetCaseIndex(list[c]);
      torchseg::PhantomSamplingOptions options;
      options.size = size;
      options.numberOfSlices = slices;
      source->SetSamplingOptions(options);
      source->Update();
      const auto & p = source->GetParameters();
      const auto & g = p.geometry;
      std::cout << "case " << list[c] << ": " << torchseg::ToString(p.phase) << ", " << g.size[0] << "x" << g.size[1]
                << "x" << g.size[2] << ", spacing " << g.spacing[0] << "/" << g.spacing[2] << " mm, "
                << torchseg::ToString(g.orientation) << ", " << p.tumours.size() << " tumours, noise "
                << p.scanner.noiseSigma << " HU" << std::endl;
      // Display planes around the anatomy's axis; the field of view of the scan.
      const double fov = g.size[0] * g.spacing[0];
      const double px = fov / tile;
      const auto & a = g.anatomyOrigin;
      // The field of view's centre in the world.
      double centre[3];
      for (int r = 0; r < 3; ++r)
      {
        centre[r] = g.origin[r];
        for (int k = 0; k < 3; ++k)
        {
          centre[r] += g.direction[3 * r + k] * g.spacing[k] * 0.5 * (g.size[k] - 1.0);
        }
      }
      // The first axial slice and the coronal one pass through the largest tumour, when there is one.
      const torchseg::PhantomTumour * largest = nullptr;
      for (const auto & t : p.tumours)
      {
        if (!largest || t.radius > largest->radius)
        {
          largest = &t;
        }
      }
      for (std::size_t l = 0; l < levels.size(); ++l)
      {
        Plane plane;
        plane.origin[0] = centre[0] - 0.5 * fov;
        plane.origin[1] = centre[1] - 0.5 * fov;
        plane.origin[2] = a[2] + (l == 0 && largest ? largest->center[2] : levels[l]);
        plane.du.Fill(0.0);
        plane.dv.Fill(0.0);
        plane.du[0] = px;
        plane.dv[1] = px;
        DrawTile(canvas,
                 static_cast<int>(l) * (tile + 4),
                 c * (tile + 4),
                 tile,
                 plane,
                 source->GetCTOutput(),
                 source->GetLabelOutput(),
                 window,
                 level);
      }
      // Coronal through the liver: superior up, patient right on the left.
      Plane        coronal;
      const double zTop = a[2] + 60.0;
      const double height = std::max(fov, 300.0);
      coronal.origin[0] = centre[0] - 0.5 * fov;
      coronal.origin[1] = a[1] + (largest ? largest->center[1] : -20.0);
      coronal.origin[2] = zTop;
      coronal.du.Fill(0.0);
      coronal.dv.Fill(0.0);
      coronal.du[0] = px;
      coronal.dv[2] = -height / tile;
      DrawTile(canvas,
               static_cast<int>(levels.size()) * (tile + 4),
               c * (tile + 4),
               tile,
               coronal,
               source->GetCTOutput(),
               source->GetLabelOutput(),
               window,
               level);
    }
    auto writer = itk::ImageFileWriter<RGBImageType>::New();
    writer->SetImageIO(itk::PNGImageIO::New());
    writer->SetFileName(output);
    writer->SetInput(canvas);
    writer->Update();
  }
  catch (const std::exception & e)
  {
    std::cerr << e.what() << std::endl;
    return 1;
  }
  return 0;
}
