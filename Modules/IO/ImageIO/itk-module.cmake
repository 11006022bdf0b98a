set(DOCUMENTATION "Reading CT volumes (NIfTI, NRRD, MetaImage, DICOM series) and writing label images (including Slicer .seg.nrrd) and DICOM CT series, atomically.")

itk_module(TorchSegImageIO
  DEPENDS
    TorchSegCommon
    ITKCommon
    ITKIOImageBase
    ITKIOGDCM
    ITKIONIFTI
    ITKIONRRD
    ITKIOMeta
    ITKImageIntensity
  TEST_DEPENDS
    ITKTestKernel
  DESCRIPTION
    "${DOCUMENTATION}"
  EXCLUDE_FROM_DEFAULT
)
