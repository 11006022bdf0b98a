#ifndef torchsegAbdominalCTPhantomSource_h
#define torchsegAbdominalCTPhantomSource_h

#include "torchsegPhantomParameters.h"

#include "itkImage.h"
#include "itkImageSource.h"

#include <memory>

namespace torchseg
{

namespace phantom
{
class Anatomy;
}

/** \class AbdominalCTPhantomSource
 * \brief Generates a synthetic abdominal CT volume (int16 HU) with its liver/tumour label image and tissue map.
 *
 * Outputs, all on the same grid: 0 the CT in Hounsfield units clamped to [-1024, 3071]; 1 the label image
 * (0 background, 1 liver, 2 tumour, the LiTS convention); 2 the tissue map (PhantomTissue values), the ground truth
 * the label is derived from.
 *
 * The case is either drawn by SamplePhantomParameters() from Seed, CaseIndex and SamplingOptions (the default) or
 * given whole with SetParameters(). The anatomy (body wall, ribs, spine, lung bases, heart, aorta, vena cava,
 * kidneys, spleen, pancreas, stomach, bowel, gallbladder, a lobed liver with portal and hepatic veins, tumours) is a
 * painter's list of implicit shapes evaluated in patient coordinates, only inside each shape's bounding box. The
 * scanner model then applies the slice profile (sub-slice sampling), a Gaussian point spread function and band-pass
 * filtered (CT-like) noise.
 *
 * Execution model: GenerateData rather than DynamicThreadedGenerateData, because blur and noise filtering need the
 * whole painted volume; each stage runs on all threads over slices, with dynamic load balancing. Every voxel's
 * value depends only on its position and the parameters (noise streams are per slice), so the output is identical
 * for any number of threads. The whole largest possible region is always generated.
 * \ingroup TorchSegPhantom
 */
class AbdominalCTPhantomSource : public itk::ImageSource<itk::Image<int16_t, 3>>
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(AbdominalCTPhantomSource);

  using Self = AbdominalCTPhantomSource;
  using Superclass = itk::ImageSource<itk::Image<int16_t, 3>>;
  using Pointer = itk::SmartPointer<Self>;
  using ConstPointer = itk::SmartPointer<const Self>;

  using CTImageType = itk::Image<int16_t, 3>;
  using LabelImageType = itk::Image<uint8_t, 3>;
  using TissueImageType = itk::Image<uint8_t, 3>;

  itkNewMacro(Self);
  itkTypeMacro(AbdominalCTPhantomSource, ImageSource);

  /** Series seed and case index of the sampled case. */
  itkSetMacro(Seed, uint64_t);
  itkGetConstMacro(Seed, uint64_t);
  itkSetMacro(CaseIndex, uint64_t);
  itkGetConstMacro(CaseIndex, uint64_t);

  /** What the sampler may vary (size, slice count, phase, orientations). */
  void
  SetSamplingOptions(const PhantomSamplingOptions & options);
  const PhantomSamplingOptions &
  GetSamplingOptions() const
  {
    return m_SamplingOptions;
  }

  /** Uses these parameters instead of sampling them (tumours with autoPlace are still placed by the source). */
  void
  SetParameters(const PhantomParameters & parameters);
  /** Returns to sampling the parameters from Seed, CaseIndex and SamplingOptions. */
  void
  UseSampledParameters();
  itkGetConstMacro(UseExplicitParameters, bool);

  /** The parameters of the generated case (valid after UpdateOutputInformation(); tumour centres placed). */
  const PhantomParameters &
  GetParameters() const
  {
    return m_Parameters;
  }

  CTImageType *
  GetCTOutput();
  LabelImageType *
  GetLabelOutput();
  TissueImageType *
  GetTissueOutput();

protected:
  AbdominalCTPhantomSource();
  ~AbdominalCTPhantomSource() override;

  void
  PrintSelf(std::ostream & os, itk::Indent indent) const override;

  itk::DataObject::Pointer
  MakeOutput(itk::ProcessObject::DataObjectPointerArraySizeType idx) override;
  using Superclass::MakeOutput;

  void
  GenerateOutputInformation() override;

  void
  EnlargeOutputRequestedRegion(itk::DataObject * output) override;

  void
  GenerateData() override;

private:
  /** Calls \a function(slice) for every slice on all work units, taking slices from a shared counter; reports
   * \a progressWeight of the total progress and stops early when aborted. */
  template <typename TFunction>
  void
  ForEachSlice(unsigned int numberOfSlices, float progressWeight, TFunction && function);

  void
  Paint(itk::Image<float, 3> * hu);
  void
  Blur(itk::Image<float, 3> * hu);
  void
  AddNoiseAndQuantize(const itk::Image<float, 3> * hu);

  uint64_t                          m_Seed = 0;
  uint64_t                          m_CaseIndex = 0;
  PhantomSamplingOptions            m_SamplingOptions;
  PhantomParameters                 m_ExplicitParameters;
  bool                              m_UseExplicitParameters = false;
  PhantomParameters                 m_Parameters;
  std::shared_ptr<phantom::Anatomy> m_Anatomy;
};

} // namespace torchseg

#endif
