set(DOCUMENTATION "DICOM Segmentation objects (DCMTK dcmseg): label maps written as binary or fractional DICOM SEG that reference their source CT series, with coded anatomy per segment, and read back.")

itk_module(TorchSegDICOMSegmentation
  DEPENDS
    TorchSegImageIO
    TorchSegCommon
    ITKCommon
  TEST_DEPENDS
    ITKTestKernel
  DESCRIPTION
    "${DOCUMENTATION}"
  EXCLUDE_FROM_DEFAULT
)
