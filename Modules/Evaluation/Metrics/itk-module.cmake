set(DOCUMENTATION "Overlap (Dice, IoU, ...), surface-distance (HD, HD95, ASSD, MASD, NSD) and lesion-wise detection evaluation filters with explicit conventions.")

itk_module(TorchSegMetrics
  DEPENDS
    TorchSegCommon
    ITKCommon
  TEST_DEPENDS
    ITKConnectedComponents
    ITKImageStatistics
    ITKDistanceMap
    ITKTestKernel
  DESCRIPTION
    "${DOCUMENTATION}"
  EXCLUDE_FROM_DEFAULT
)
