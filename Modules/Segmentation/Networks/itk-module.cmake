set(DOCUMENTATION "LibTorch segmentation networks (FCN, DeepLab v3/v3+, PSPNet, SegNet, DeconvNet, U-Net; 2D and 3D), their factory, and the model file format with its preprocessing metadata.")

itk_module(TorchSegNetworks
  DEPENDS
    TorchSegCommon
    TorchSegTensorBridge
  TEST_DEPENDS
    ITKTestKernel
  DESCRIPTION
    "${DOCUMENTATION}"
  EXCLUDE_FROM_DEFAULT
)
