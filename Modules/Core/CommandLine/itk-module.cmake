set(DOCUMENTATION "Command-line applications driven by their Slicer Execution Model XML: argument parsing, --xml, return parameter files, terminal progress bars and Slicer progress tags.")

itk_module(TorchSegCommandLine
  DEPENDS
    TorchSegCommon
    ITKCommon
  TEST_DEPENDS
    ITKTestKernel
  DESCRIPTION
    "${DOCUMENTATION}"
  EXCLUDE_FROM_DEFAULT
)
