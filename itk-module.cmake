# The whole toolkit as one ITK module, so TorchSeg can also be built as a remote module inside an ITK build tree.
# Inside this project each group of Modules/ carries its own manifest; this one lists what the toolkit as a whole needs.
set(DOCUMENTATION "TorchSeg: LibTorch segmentation networks (FCN, DeepLab, PSPNet, SegNet, DeconvNet, U-Net), training,
inference filters that return label images on the input grid, evaluation filters (Dice, IoU, surface distances) and
VTK pictures, for CT volumes in ITK pipelines.")

itk_module(TorchSeg
  DEPENDS
    ITKCommon
    ITKImageGrid
    ITKImageIntensity
    ITKImageFunction
    ITKSmoothing
    ITKDistanceMap
    ITKConnectedComponents
    ITKLabelMap
    ITKImageStatistics
    ITKIOImageBase
    ITKIOGDCM
    ITKIONIFTI
    ITKIONRRD
    ITKIOMeta
  TEST_DEPENDS
    ITKTestKernel
  DESCRIPTION
    "${DOCUMENTATION}"
  EXCLUDE_FROM_DEFAULT
)
