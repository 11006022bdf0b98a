set(DOCUMENTATION "Fully connected CRF post-processing (Kraehenbuehl and Koltun 2011, as used by DeepLab v1/v2): mean-field inference with Gaussian appearance and smoothness kernels on a permutohedral lattice, for 2D and 3D images with physical spacing.")

itk_module(TorchSegDenseCRF
  DEPENDS
    TorchSegCommon
    ITKCommon
  TEST_DEPENDS
    ITKTestKernel
  DESCRIPTION
    "${DOCUMENTATION}"
  EXCLUDE_FROM_DEFAULT
)
