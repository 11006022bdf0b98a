set(DOCUMENTATION "The one model file format: network weights plus the metadata record that carries the preprocessing (architecture, classes, spacing, normalisation, patch size, orientation, provenance); also loads TorchScript files with MONAI-style metadata.")

itk_module(TorchSegModel
  DEPENDS
    TorchSegNetworks
    TorchSegTensorBridge
    TorchSegCommon
  TEST_DEPENDS
    ITKTestKernel
  DESCRIPTION
    "${DOCUMENTATION}"
  EXCLUDE_FROM_DEFAULT
)
