#ifndef torchsegDenseCRFImageFilter_h
#define torchsegDenseCRFImageFilter_h

#include "torchsegDenseCRFMeanField.h"

#include "itkImage.h"
#include "itkImageToImageFilter.h"
#include "itkVectorImage.h"

#include <type_traits>

namespace torchseg
{

/** \class DenseCRFImageFilter
 * \brief Refines class probabilities with the fully connected CRF of Kraehenbuehl and Koltun (NIPS 2011), as
 * DeepLab v1/v2 use it after the network: mean-field inference with Gaussian appearance and smoothness kernels.
 *
 * Inputs: the intensity image (CT in Hounsfield units; SetInput) and the class probabilities
 * (SetProbabilityImage: a VectorImage whose component c is the probability of label c, e.g. a network's softmax).
 * Both must have the same size, origin, spacing and direction. Outputs: the refined label image (GetOutput(), the
 * most probable class of each voxel, label c for component c) and the refined probabilities
 * (GetProbabilityOutput(), same layout as the input probabilities).
 *
 * The energy of a labelling x is sum_i -log P_i(x_i) + sum_{i<j} [x_i != x_j] (w1 exp(-|p_i - p_j|^2 /
 * (2 thetaAlpha^2) - (I_i - I_j)^2 / (2 thetaBeta^2)) + w2 exp(-|p_i - p_j|^2 / (2 thetaGamma^2))): p_i is the
 * position of voxel i in mm (index times spacing; the direction is orthonormal, so distances are physical), I_i its
 * intensity in the input's own units, unnormalised (Hounsfield units for CT, so thetaBeta is in HU). Probabilities
 * are normalised per voxel (sums further than ProbabilitySumTolerance from 1, negative or non-finite values are
 * refused, naming the voxel) and clamped to MinimumProbability before the logarithm. NumberOfIterations mean-field
 * updates follow, starting from Q = P; the appearance kernel is filtered on a permutohedral lattice (linear time),
 * the smoothness kernel by separable exact convolution (see DenseCRFMeanField).
 *
 * Execution model: GenerateData on the whole image (the CRF couples every voxel with every other, so both inputs
 * and outputs are requested whole); the passes inside are multi-threaded over the filter's work units. Progress is
 * reported after the lattice and after each iteration; AbortGenerateData stops at the next of these points.
 *
 * \sa DenseCRFMeanField, PermutohedralLattice
 * \ingroup TorchSegDenseCRF
 */
template <typename TInputImage, typename TProbabilityImage = itk::VectorImage<float, TInputImage::ImageDimension>,
          typename TLabelImage = itk::Image<unsigned char, TInputImage::ImageDimension>>
class ITK_TEMPLATE_EXPORT DenseCRFImageFilter : public itk::ImageToImageFilter<TInputImage, TLabelImage>
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(DenseCRFImageFilter);

  using Self = DenseCRFImageFilter;
  using Superclass = itk::ImageToImageFilter<TInputImage, TLabelImage>;
  using Pointer = itk::SmartPointer<Self>;
  using ConstPointer = itk::SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(DenseCRFImageFilter, ImageToImageFilter);

  static constexpr unsigned int ImageDimension = TInputImage::ImageDimension;

  using InputImageType = TInputImage;
  using ProbabilityImageType = TProbabilityImage;
  using LabelImageType = TLabelImage;
  using LabelType = typename TLabelImage::PixelType;
  using DataObjectPointerArraySizeType = itk::ProcessObject::DataObjectPointerArraySizeType;

  static_assert(TProbabilityImage::ImageDimension == ImageDimension && TLabelImage::ImageDimension == ImageDimension,
                "DenseCRFImageFilter: the three images must have the same dimension");
  static_assert(ImageDimension >= 1 && ImageDimension <= 4, "DenseCRFImageFilter: 1 to 4 dimensions");
  static_assert(std::is_same<typename TProbabilityImage::InternalPixelType, float>::value,
                "DenseCRFImageFilter: the probabilities must be a VectorImage of float");
  static_assert(std::is_integral<LabelType>::value, "DenseCRFImageFilter: the label pixel type must be integral");

  /** The class probabilities (component c: label c). */
  itkSetInputMacro(ProbabilityImage, TProbabilityImage);
  itkGetInputMacro(ProbabilityImage, TProbabilityImage);

  /** The refined probabilities: output 1. */
  TProbabilityImage *
  GetProbabilityOutput();
  const TProbabilityImage *
  GetProbabilityOutput() const;

  /** w1, the weight of the appearance kernel (default 4, as DeepLab v2; 0 disables it). */
  itkSetMacro(AppearanceWeight, double);
  itkGetConstMacro(AppearanceWeight, double);
  /** theta_alpha, the spatial standard deviation of the appearance kernel in mm (default 5). */
  itkSetMacro(AppearanceSpatialSigma, double);
  itkGetConstMacro(AppearanceSpatialSigma, double);
  /** theta_beta, the intensity standard deviation of the appearance kernel in the input's units (default 12 HU). */
  itkSetMacro(AppearanceIntensitySigma, double);
  itkGetConstMacro(AppearanceIntensitySigma, double);
  /** w2, the weight of the smoothness kernel (default 3; 0 disables it). */
  itkSetMacro(SmoothnessWeight, double);
  itkGetConstMacro(SmoothnessWeight, double);
  /** theta_gamma, the standard deviation of the smoothness kernel in mm (default 1). */
  itkSetMacro(SmoothnessSigma, double);
  itkGetConstMacro(SmoothnessSigma, double);
  /** Mean-field iterations (default 5, as DeepLab; 0 gives the argmax of the normalised input). */
  itkSetMacro(NumberOfIterations, unsigned int);
  itkGetConstMacro(NumberOfIterations, unsigned int);
  /** The floor of the probabilities in the unary -log P (default 1e-5). */
  itkSetMacro(MinimumProbability, double);
  itkGetConstMacro(MinimumProbability, double);
  /** How far from 1 a voxel's probability sum may be before it is refused rather than normalised (default 0.01). */
  itkSetMacro(ProbabilitySumTolerance, double);
  itkGetConstMacro(ProbabilitySumTolerance, double);
  /** The smoothness kernel is truncated at this many standard deviations (default 4: 6e-5 of its mass is lost). */
  itkSetMacro(SmoothnessTruncation, double);
  itkGetConstMacro(SmoothnessTruncation, double);

  /** How the kernels are scaled: Symmetric (default, densecrf 2.x: messages are weighted averages) or None (the
   * NIPS 2011 energy as written: messages are sums, thousands of voxels strong in 3D). */
  itkSetEnumMacro(Normalization, DenseCRFNormalization);
  itkGetEnumMacro(Normalization, DenseCRFNormalization);

  /** Iterate only on the bounding box of the voxels that are not certain background (component 0 more probable than
   * every other class by a factor exp(w1 + w2)), grown by the kernels' reach; elsewhere the refined probabilities are
   * the input's and the labels background. On by default; only with the symmetric normalisation. See
   * DenseCRFParameters::RestrictToUncertainRegion. */
  itkSetMacro(RestrictToUncertainRegion, bool);
  itkGetConstMacro(RestrictToUncertainRegion, bool);
  itkBooleanMacro(RestrictToUncertainRegion);

  /** All parameters at once (the members above). */
  void
  SetParameters(const DenseCRFParameters & parameters);
  DenseCRFParameters
  GetParameters() const;

  /** The vertices of the appearance lattice in the last update (0 when w1 is 0). */
  itkGetConstMacro(NumberOfLatticePoints, itk::SizeValueType);

  using RegionType = typename TInputImage::RegionType;
  /** The region the last update iterated on: the whole image, the box of the uncertain voxels, or an empty region
   * when every voxel was certain background. */
  itkGetConstReferenceMacro(IteratedRegion, RegionType);

  using Superclass::MakeOutput;
  itk::DataObject::Pointer
  MakeOutput(DataObjectPointerArraySizeType index) override;

protected:
  DenseCRFImageFilter();
  ~DenseCRFImageFilter() override = default;

  void
  PrintSelf(std::ostream & os, itk::Indent indent) const override;

  void
  VerifyPreconditions() ITKv5_CONST override;

  void
  VerifyInputInformation() ITKv5_CONST override;

  void
  GenerateOutputInformation() override;

  void
  GenerateInputRequestedRegion() override;

  void
  EnlargeOutputRequestedRegion(itk::DataObject * output) override;

  void
  GenerateData() override;

private:
  double                m_AppearanceWeight{ DenseCRFParameters().AppearanceWeight };
  double                m_AppearanceSpatialSigma{ DenseCRFParameters().AppearanceSpatialSigma };
  double                m_AppearanceIntensitySigma{ DenseCRFParameters().AppearanceIntensitySigma };
  double                m_SmoothnessWeight{ DenseCRFParameters().SmoothnessWeight };
  double                m_SmoothnessSigma{ DenseCRFParameters().SmoothnessSigma };
  unsigned int          m_NumberOfIterations{ DenseCRFParameters().NumberOfIterations };
  double                m_MinimumProbability{ DenseCRFParameters().MinimumProbability };
  double                m_ProbabilitySumTolerance{ DenseCRFParameters().ProbabilitySumTolerance };
  double                m_SmoothnessTruncation{ DenseCRFParameters().SmoothnessTruncation };
  DenseCRFNormalization m_Normalization{ DenseCRFParameters().Normalization };
  bool                  m_RestrictToUncertainRegion{ DenseCRFParameters().RestrictToUncertainRegion };
  itk::SizeValueType    m_NumberOfLatticePoints{ 0 };
  RegionType            m_IteratedRegion;
};

} // namespace torchseg

#ifndef ITK_MANUAL_INSTANTIATION
#  include "torchsegDenseCRFImageFilter.hxx"
#endif

#endif
