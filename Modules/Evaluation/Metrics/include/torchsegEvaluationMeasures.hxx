#ifndef torchsegEvaluationMeasures_hxx
#define torchsegEvaluationMeasures_hxx

#include "torchsegEvaluationMeasures.h"

#include <algorithm>

namespace torchseg
{

namespace detail
{

template <typename TVector>
std::string
FormatTuple(const TVector & v, unsigned int n)
{
  std::ostringstream out;
  out.precision(10);
  out << "(";
  for (unsigned int i = 0; i < n; ++i)
  {
    out << (i ? ", " : "") << v[i];
  }
  out << ")";
  return out.str();
}

} // namespace detail

template <unsigned int VDimension>
void
VerifySameGeometry(const itk::ImageBase<VDimension> * reference, const itk::ImageBase<VDimension> * prediction,
                   const std::string & referenceName, const std::string & predictionName, double tolerance)
{
  if (reference == nullptr || prediction == nullptr)
  {
    throw itk::ExceptionObject(
      __FILE__, __LINE__, (reference == nullptr ? referenceName : predictionName) + " is not set", ITK_LOCATION);
  }
  std::ostringstream differences;
  auto               add = [&](const std::string & what, const std::string & p, const std::string & r) {
    differences << (differences.tellp() > 0 ? "; " : "") << what << " " << p << " instead of " << r;
  };

  const auto & rs = reference->GetLargestPossibleRegion().GetSize();
  const auto & ps = prediction->GetLargestPossibleRegion().GetSize();
  if (rs != ps)
  {
    add("size", detail::FormatTuple(ps, VDimension), detail::FormatTuple(rs, VDimension));
  }
  const auto & ri = reference->GetLargestPossibleRegion().GetIndex();
  const auto & pi = prediction->GetLargestPossibleRegion().GetIndex();
  if (ri != pi)
  {
    add("start index", detail::FormatTuple(pi, VDimension), detail::FormatTuple(ri, VDimension));
  }

  const auto & rsp = reference->GetSpacing();
  const auto & psp = prediction->GetSpacing();
  double       largestSpacing = 0.0;
  bool         spacingDiffers = false;
  for (unsigned int d = 0; d < VDimension; ++d)
  {
    const double scale = std::max(std::abs(rsp[d]), std::abs(psp[d]));
    largestSpacing = std::max(largestSpacing, scale);
    spacingDiffers = spacingDiffers || std::abs(rsp[d] - psp[d]) > tolerance * scale;
  }
  if (spacingDiffers)
  {
    add("spacing", detail::FormatTuple(psp, VDimension), detail::FormatTuple(rsp, VDimension));
  }

  const auto & ro = reference->GetOrigin();
  const auto & po = prediction->GetOrigin();
  bool         originDiffers = false;
  for (unsigned int d = 0; d < VDimension; ++d)
  {
    const double scale = std::max({ std::abs(ro[d]), std::abs(po[d]), largestSpacing });
    originDiffers = originDiffers || std::abs(ro[d] - po[d]) > tolerance * scale;
  }
  if (originDiffers)
  {
    add("origin", detail::FormatTuple(po, VDimension), detail::FormatTuple(ro, VDimension));
  }

  const auto & rd = reference->GetDirection();
  const auto & pd = prediction->GetDirection();
  bool         directionDiffers = false;
  for (unsigned int i = 0; i < VDimension; ++i)
  {
    for (unsigned int j = 0; j < VDimension; ++j)
    {
      directionDiffers = directionDiffers || std::abs(rd(i, j) - pd(i, j)) > tolerance;
    }
  }
  if (directionDiffers)
  {
    std::ostringstream p, r;
    p.precision(10);
    r.precision(10);
    for (unsigned int i = 0; i < VDimension; ++i)
    {
      p << (i ? ", " : "") << detail::FormatTuple(pd[i], VDimension);
      r << (i ? ", " : "") << detail::FormatTuple(rd[i], VDimension);
    }
    add("direction", "[" + p.str() + "]", "[" + r.str() + "]");
  }

  if (differences.tellp() > 0)
  {
    std::ostringstream message;
    message << predictionName << " does not have the geometry of " << referenceName << ": " << differences.str()
            << " (relative tolerance " << tolerance << ")";
    throw itk::ExceptionObject(__FILE__, __LINE__, message.str(), ITK_LOCATION);
  }
}

} // namespace torchseg

#endif
