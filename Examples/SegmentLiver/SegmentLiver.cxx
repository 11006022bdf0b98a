// SegmentLiver CT MODEL LABELS: the README's example of the segmentation filter in an ITK pipeline.
#include "torchsegImageIO.h"
#include "torchsegInference.h"
#include "torchsegSegmentationFilter.h"

#include <iostream>

int
main(int argc, char * argv[])
{
  if (argc != 4)
  {
    std::cerr << "Usage: SegmentLiver ct.nii.gz|dicom-dir model.pt labels.nii.gz" << std::endl;
    return EXIT_FAILURE;
  }
  try
  {
    using CT = itk::Image<float, 3>;
    using Labels = itk::Image<uint8_t, 3>;
    auto model = torchseg::LoadModel(argv[2]); // weights plus the preprocessing they were trained with
    auto segment = torchseg::SegmentationFilter<CT, Labels>::New();
    segment->SetInput(torchseg::ReadCTImage(argv[1])); // a file or a DICOM series directory
    segment->SetModel(model);
    segment->Update(); // labels on exactly the input's grid
    torchseg::WriteLabelImage(segment->GetOutput(), argv[3], torchseg::GetClassTable(*model));
  }
  catch (const std::exception & e)
  {
    std::cerr << "SegmentLiver: " << e.what() << std::endl;
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
