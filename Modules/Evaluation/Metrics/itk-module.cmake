set(DOCUMENTATION "Overlap (Dice, IoU, ...) and surface-distance (HD, HD95, ASSD, MASD, NSD) evaluation filters with explicit conventions.")

itk_module(TorchSegMetrics
  DEPENDS
    TorchSegCommon
    ITKCommon
  TEST_DEPENDS
    ITKImageStatistics
    ITKDistanceMap
    ITKTestKernel
  DESCRIPTION
    "${DOCUMENTATION}"
  EXCLUDE_FROM_DEFAULT
)
