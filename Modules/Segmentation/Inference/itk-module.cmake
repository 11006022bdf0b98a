set(DOCUMENTATION "ITK filters that run a trained network on a CT volume and return a label image on exactly the input grid.")

itk_module(TorchSegInference
  DEPENDS
    TorchSegModel
    TorchSegNetworks
    TorchSegTensorBridge
    TorchSegDenseCRF
    ITKImageGrid
    ITKImageFunction
    ITKConnectedComponents
    ITKLabelMap
    ITKImageIntensity
  TEST_DEPENDS
    TorchSegImageIO
    TorchSegPhantom
    ITKTestKernel
  DESCRIPTION
    "${DOCUMENTATION}"
  EXCLUDE_FROM_DEFAULT
)
