set(DOCUMENTATION "Segmentation losses, the CT data pipeline (normalisation, sampling, augmentation, background loading) and the trainer.")

itk_module(TorchSegTraining
  DEPENDS
    TorchSegModel
    TorchSegNetworks
    TorchSegImageIO
    ITKImageGrid
    ITKImageIntensity
    ITKImageFunction
  TEST_DEPENDS
    TorchSegPhantom
    ITKTestKernel
  DESCRIPTION
    "${DOCUMENTATION}"
  EXCLUDE_FROM_DEFAULT
)
