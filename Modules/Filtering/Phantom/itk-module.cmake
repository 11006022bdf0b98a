set(DOCUMENTATION "Synthetic abdominal CT phantoms with liver and tumour reference labels, deterministic from a seed.")

itk_module(TorchSegPhantom
  DEPENDS
    TorchSegCommon
    ITKCommon
  TEST_DEPENDS
    TorchSegImageIO
    ITKTestKernel
    ITKIOPNG
  DESCRIPTION
    "${DOCUMENTATION}"
  EXCLUDE_FROM_DEFAULT
)
