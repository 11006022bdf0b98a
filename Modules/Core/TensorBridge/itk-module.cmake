set(DOCUMENTATION "The one bridge between ITK images and LibTorch tensors (the only code that touches raw tensor memory), LibTorch thread and device configuration, and LibTorch error translation.")

itk_module(TorchSegTensorBridge
  DEPENDS
    TorchSegCommon
    ITKCommon
  TEST_DEPENDS
    ITKTestKernel
  DESCRIPTION
    "${DOCUMENTATION}"
  EXCLUDE_FROM_DEFAULT
)
