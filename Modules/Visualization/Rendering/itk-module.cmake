set(DOCUMENTATION "ITK-to-VTK image bridge, label surfaces, offscreen 3D pictures, slice overlays, comparison pictures and training curves.")

itk_module(TorchSegRendering
  DEPENDS
    TorchSegCommon
    ITKCommon
    ITKImageGrid
  TEST_DEPENDS
    TorchSegImageIO
    ITKTestKernel
  DESCRIPTION
    "${DOCUMENTATION}"
  EXCLUDE_FROM_DEFAULT
)
