#ifndef torchsegRenderingProcessObject_h
#define torchsegRenderingProcessObject_h

#include "itkProcessObject.h"

namespace torchseg
{

/** \class RenderingProcessObject
 * \brief Base of the module's sinks: process objects whose results are meshes, pictures or numbers rather than ITK
 * data objects.
 *
 * Update() brings every input image up to date over its largest possible region and runs GenerateData(), so the
 * sinks report progress, honour AbortGenerateData and can be observed like any ITK filter (ImageSink does the
 * same for images).
 * \ingroup TorchSegRendering
 */
class RenderingProcessObject : public itk::ProcessObject
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(RenderingProcessObject);

  using Self = RenderingProcessObject;
  using Superclass = itk::ProcessObject;
  using Pointer = itk::SmartPointer<Self>;
  using ConstPointer = itk::SmartPointer<const Self>;

  itkTypeMacro(RenderingProcessObject, ProcessObject);

  void
  Update() override;

  void
  UpdateLargestPossibleRegion() override
  {
    this->Update();
  }

protected:
  RenderingProcessObject() = default;
  ~RenderingProcessObject() override = default;
};

} // namespace torchseg

#endif
