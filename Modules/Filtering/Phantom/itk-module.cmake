set(DOCUMENTATION "Synthetic abdominal CT phantoms with liver and tumour reference labels, deterministic from a seed.")

itk_module(TorchSegPhantom
  DEPENDS
    TorchSegCommon
    ITKCommon
    ITKImageGrid
    ITKSmoothing
    ITKImageIntensity
  TEST_DEPENDS
    TorchSegImageIO
    ITKTestKernel
  DESCRIPTION
    "${DOCUMENTATION}"
  EXCLUDE_FROM_DEFAULT
)
