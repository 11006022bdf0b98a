#include "torchsegTensorBridge.h"
#include "torchsegTestingSupport.h"

#include <torch/torch.h>

#include "gtest/gtest.h"

using torchseg::testing::Orientation;

TEST(TensorBridge, AxesAreReversedAndValuesMatchIndices)
{
  using ImageType = itk::Image<int16_t, 3>;
  auto image = torchseg::testing::MakeImage<ImageType>({ { 5, 4, 3 } }, { { 1.0, 1.0, 1.0 } });
  for (itk::IndexValueType z = 0; z < 3; ++z)
    for (itk::IndexValueType y = 0; y < 4; ++y)
      for (itk::IndexValueType x = 0; x < 5; ++x)
        image->SetPixel({ { x, y, z } }, static_cast<int16_t>(100 * z + 10 * y + x));
  const torch::Tensor t = torchseg::ImageToTensor(image.GetPointer());
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{ 3, 4, 5 }));
  EXPECT_EQ(t.dtype(), torch::kFloat32);
  EXPECT_FLOAT_EQ(t[2][3][4].item<float>(), 234.0f);
  EXPECT_FLOAT_EQ(t[1][0][2].item<float>(), 102.0f);
}

TEST(TensorBridge, FloatViewSharesMemoryAndOutlivesTheImagePointer)
{
  using ImageType = itk::Image<float, 2>;
  auto image = torchseg::testing::MakeImage<ImageType>({ { 3, 2 } }, { { 1.0, 1.0 } });
  image->FillBuffer(1.5f);
  const float * buffer = image->GetBufferPointer();
  torch::Tensor view = torchseg::ImageToTensorView(image.GetPointer());
  EXPECT_EQ(view.data_ptr<float>(), buffer);
  image = nullptr; // the tensor keeps the buffer alive
  EXPECT_FLOAT_EQ(view.sum().item<float>(), 9.0f);
}

TEST(TensorBridge, RoundTripKeepsValuesAndReferenceGeometry)
{
  using ImageType = itk::Image<float, 3>;
  auto reference = torchseg::testing::MakeImage<ImageType>(
    { { 7, 5, 3 } }, { { 0.7, 0.8, 2.5 } }, { { -10.0, 20.0, 5.0 } }, Orientation::Oblique);
  const torch::Tensor values = torch::arange(105, torch::kFloat32).reshape({ 3, 5, 7 });
  auto                image = torchseg::TensorToImage<ImageType>(values, reference.GetPointer());
  EXPECT_EQ(image->GetOrigin(), reference->GetOrigin());
  EXPECT_EQ(image->GetSpacing(), reference->GetSpacing());
  EXPECT_EQ(image->GetDirection(), reference->GetDirection());
  EXPECT_FLOAT_EQ(image->GetPixel({ { 6, 4, 2 } }), 104.0f);
  EXPECT_FLOAT_EQ(image->GetPixel({ { 1, 2, 0 } }), 15.0f);
  EXPECT_TRUE(torch::equal(torchseg::ImageToTensor(image.GetPointer()), values));
  using LabelType = itk::Image<uint8_t, 3>;
  auto labels = torchseg::TensorToImage<LabelType>(values.remainder(3).to(torch::kInt64), reference.GetPointer());
  EXPECT_EQ(labels->GetPixel({ { 6, 4, 2 } }), 104 % 3);
}

TEST(TensorBridge, ShapeMismatchIsAClearError)
{
  using ImageType = itk::Image<float, 3>;
  auto reference = torchseg::testing::MakeImage<ImageType>({ { 7, 5, 3 } }, { { 1.0, 1.0, 1.0 } });
  EXPECT_THROW(torchseg::TensorToImage<ImageType>(torch::zeros({ 3, 5, 6 }), reference.GetPointer()),
               itk::ExceptionObject);
  EXPECT_THROW(torchseg::TensorToImage<ImageType>(torch::zeros({ 5, 7 }), nullptr), itk::ExceptionObject);
}

TEST(TensorBridge, ThreadCountIsApplied)
{
  EXPECT_EQ(torchseg::SetTorchNumberOfThreads(2), 2);
  EXPECT_EQ(at::get_num_threads(), 2);
}

TEST(TensorBridge, DeviceParsing)
{
  EXPECT_EQ(torchseg::ParseDevice("cpu").type(), torch::kCPU);
  EXPECT_THROW(torchseg::ParseDevice("gpu"), itk::ExceptionObject);
  EXPECT_THROW(torchseg::ParseDevice("cuda:x"), itk::ExceptionObject);
  if (!torch::cuda::is_available())
  {
    try
    {
      torchseg::ParseDevice("cuda:1");
      FAIL() << "no error for a missing GPU";
    }
    catch (const itk::ExceptionObject & e)
    {
      EXPECT_NE(std::string(e.GetDescription()).find("cuda:1"), std::string::npos);
    }
  }
}

TEST(TensorBridge, TorchErrorsBecomeITKErrorsWithContext)
{
  try
  {
    try
    {
      torch::zeros({ 2, 3 }).view({ 7 });
    }
    catch (const std::exception & e)
    {
      torchseg::ThrowTorchError(e, "model.pt, input [2, 3]");
    }
    FAIL() << "no exception";
  }
  catch (const itk::ExceptionObject & e)
  {
    const std::string d = e.GetDescription();
    EXPECT_NE(d.find("model.pt, input [2, 3]: shape '[7]' is invalid"), std::string::npos) << d;
    EXPECT_EQ(d.find('\n'), std::string::npos);
  }
}
