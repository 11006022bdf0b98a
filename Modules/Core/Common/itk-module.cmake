set(DOCUMENTATION "Shared vocabulary of the toolkit: label tables with names, colours and terminology, atomic output files, thread configuration, version.")

itk_module(TorchSegCommon
  DEPENDS
    ITKCommon
  TEST_DEPENDS
    ITKTestKernel
  DESCRIPTION
    "${DOCUMENTATION}"
  EXCLUDE_FROM_DEFAULT
)
