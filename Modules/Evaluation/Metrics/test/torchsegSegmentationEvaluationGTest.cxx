#include "torchsegMetricsTestHelpers.h"
#include "torchsegSegmentationEvaluation.h"

#include <nlohmann/json.hpp>

#include "gtest/gtest.h"

#include <sstream>

namespace
{

using Label3D = itk::Image<std::uint8_t, 3>;
using torchseg::LabelStatus;
using torchseg::testing::FillByIndex;
using torchseg::testing::InBox;
using torchseg::testing::MakeImage;

/** Label 1: the cubes of metrics.md; label 2: a 4^3 cube in the reference only. */
void
MakePair(Label3D::Pointer & reference, Label3D::Pointer & prediction)
{
  reference = MakeImage<Label3D>({ 50, 50, 50 }, { 1, 1, 1 });
  prediction = MakeImage<Label3D>({ 50, 50, 50 }, { 1, 1, 1 });
  FillByIndex(reference.GetPointer(),
              [](const Label3D::IndexType & i) { return InBox(i, 10, 29) ? 1 : (InBox(i, 40, 43) ? 2 : 0); });
  FillByIndex(prediction.GetPointer(), [](const Label3D::IndexType & i) { return InBox(i, 20, 34) ? 1 : 0; });
}

std::vector<std::vector<std::string>>
ParseCSV(const std::string & text)
{
  std::vector<std::vector<std::string>> rows;
  std::stringstream                     lines(text);
  std::string                           line;
  while (std::getline(lines, line))
  {
    std::vector<std::string> fields;
    std::string              field;
    std::stringstream        cells(line);
    while (std::getline(cells, field, ','))
    {
      fields.push_back(field);
    }
    if (!line.empty() && line.back() == ',')
    {
      fields.emplace_back();
    }
    rows.push_back(fields);
  }
  return rows;
}

} // namespace

TEST(SegmentationEvaluation, GathersOverlapAndSurfaceMeasures)
{
  Label3D::Pointer reference, prediction;
  MakePair(reference, prediction);
  torchseg::EvaluationOptions options;
  options.labelNames = { { 1, "liver" } };
  options.referenceName = "ref.nii.gz";
  options.predictionName = "pred.nii.gz";
  std::vector<double> begins;
  const auto          e = torchseg::EvaluateSegmentation<Label3D>(
    reference, prediction, options, [&](itk::ProcessObject *, double begin, double) { begins.push_back(begin); });
  EXPECT_EQ(begins, std::vector<double>({ 0.0, 0.1 }));
  EXPECT_EQ(e.reference, "ref.nii.gz");
  ASSERT_EQ(e.labels.size(), 2u);
  EXPECT_EQ(e.labels[0].label, 1);
  EXPECT_EQ(e.labels[0].name, "liver");
  EXPECT_EQ(e.labels[0].status, LabelStatus::Ok);
  EXPECT_DOUBLE_EQ(e.labels[0].overlap.dice, 2000.0 / 11375.0);
  EXPECT_NEAR(e.labels[0].surface.hausdorffPercentile, 13.9476, 5e-5);
  EXPECT_EQ(e.labels[1].label, 2);
  EXPECT_EQ(e.labels[1].name, "label 2");
  EXPECT_EQ(e.labels[1].status, LabelStatus::PredictionEmpty);
  EXPECT_TRUE(std::isinf(e.labels[1].surface.hausdorff));
  EXPECT_DOUBLE_EQ(e.meanDice, (2000.0 / 11375.0 + 0.0) / 2.0);
  EXPECT_EQ(e.numberOfPixels, 125000u);

  // Requested labels: one absent, one the pixel type cannot hold (also absent).
  options.labels = { 1, 3, 300 };
  const auto f = torchseg::EvaluateSegmentation<Label3D>(reference, prediction, options);
  ASSERT_EQ(f.labels.size(), 3u);
  EXPECT_EQ(f.labels[1].label, 3);
  EXPECT_EQ(f.labels[1].status, LabelStatus::Absent);
  EXPECT_EQ(f.labels[2].label, 300);
  EXPECT_EQ(f.labels[2].status, LabelStatus::Absent);
  EXPECT_TRUE(std::isnan(f.labels[2].overlap.dice));
  EXPECT_DOUBLE_EQ(f.meanDice, 2000.0 / 11375.0); // absent labels are left out
}

TEST(SegmentationEvaluation, GeometryErrorsNameTheFiles)
{
  Label3D::Pointer reference, prediction;
  MakePair(reference, prediction);
  Label3D::Pointer            other = MakeImage<Label3D>({ 50, 50, 50 }, { 1, 1, 2 });
  torchseg::EvaluationOptions options;
  options.referenceName = "ref.nii.gz";
  options.predictionName = "pred.nii.gz";
  try
  {
    torchseg::EvaluateSegmentation<Label3D>(reference, other, options);
    FAIL();
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_EQ(std::string(e.GetDescription()),
              "prediction pred.nii.gz does not have the geometry of reference ref.nii.gz: spacing (1, 1, 2) instead of "
              "(1, 1, 1) (relative tolerance 1e-06)");
  }
}

TEST(SegmentationEvaluation, JSONFollowsTheContract)
{
  Label3D::Pointer reference, prediction;
  MakePair(reference, prediction);
  torchseg::EvaluationOptions options;
  options.labels = { 1, 2, 3 };
  options.labelNames = { { 1, "liver" }, { 2, "tumour" } };
  options.referenceName = "ref.nii.gz";
  options.predictionName = "pred.nii.gz";
  const auto e = torchseg::EvaluateSegmentation<Label3D>(reference, prediction, options);

  const auto json = nlohmann::json::parse(torchseg::FormatEvaluationJSON({ e }));
  ASSERT_TRUE(json.is_object());
  EXPECT_EQ(json["reference"], "ref.nii.gz");
  EXPECT_EQ(json["prediction"], "pred.nii.gz");
  EXPECT_DOUBLE_EQ(json["pixelAccuracy"].get<double>(), e.pixelAccuracy);
  EXPECT_DOUBLE_EQ(json["meanDice"].get<double>(), (2000.0 / 11375.0) / 2.0);
  EXPECT_DOUBLE_EQ(json["meanIoU"].get<double>(), (1000.0 / 10375.0) / 2.0);
  const auto & labels = json["labels"];
  ASSERT_EQ(labels.size(), 3u);
  const auto & liver = labels[0];
  EXPECT_EQ(liver["label"], 1);
  EXPECT_EQ(liver["name"], "liver");
  EXPECT_EQ(liver["status"], "ok");
  for (const char * key : { "dice",
                            "iou",
                            "precision",
                            "recall",
                            "specificity",
                            "hd",
                            "hd95",
                            "assd",
                            "masd",
                            "nsd",
                            "referenceVolumeMl",
                            "predictionVolumeMl" })
  {
    EXPECT_TRUE(liver[key].is_number()) << key;
  }
  EXPECT_DOUBLE_EQ(liver["dice"].get<double>(), 2000.0 / 11375.0);
  EXPECT_DOUBLE_EQ(liver["hd"].get<double>(), 10.0 * std::sqrt(3.0));
  EXPECT_NEAR(liver["hd95"].get<double>(), 13.9476, 5e-5);
  EXPECT_NEAR(liver["assd"].get<double>(), 6.9092, 5e-5);
  EXPECT_NEAR(liver["masd"].get<double>(), 6.2918, 5e-5);
  EXPECT_NEAR(liver["nsd"].get<double>(), 0.1560, 5e-5);
  EXPECT_DOUBLE_EQ(liver["referenceVolumeMl"].get<double>(), 8.0);
  EXPECT_DOUBLE_EQ(liver["predictionVolumeMl"].get<double>(), 3.375);

  const auto & tumour = labels[1];
  EXPECT_EQ(tumour["status"], "predictionEmpty");
  EXPECT_EQ(tumour["dice"], 0.0);
  EXPECT_EQ(tumour["nsd"], 0.0);
  EXPECT_TRUE(tumour["hd"].is_null());        // +inf
  EXPECT_TRUE(tumour["precision"].is_null()); // 0/0
  const auto & absent = labels[2];
  EXPECT_EQ(absent["status"], "absent");
  EXPECT_EQ(absent["name"], "label 3");
  EXPECT_TRUE(absent["dice"].is_null());
  EXPECT_TRUE(absent["hd95"].is_null());

  // Several predictions: an array of such objects.
  const auto several = nlohmann::json::parse(torchseg::FormatEvaluationJSON({ e, e }));
  ASSERT_TRUE(several.is_array());
  ASSERT_EQ(several.size(), 2u);
  EXPECT_EQ(several[1]["labels"][0]["name"], "liver");
}

TEST(SegmentationEvaluation, CSVHasOneRowPerPredictionAndLabel)
{
  Label3D::Pointer reference, prediction;
  MakePair(reference, prediction);
  torchseg::EvaluationOptions options;
  options.referenceName = "ref.nii.gz";
  options.predictionName = "a,b.nii.gz"; // a comma: the field is quoted
  const auto e1 = torchseg::EvaluateSegmentation<Label3D>(reference, prediction, options);
  options.predictionName = "same.nii.gz";
  const auto e2 = torchseg::EvaluateSegmentation<Label3D>(reference, reference, options);

  const auto rows = ParseCSV(torchseg::FormatEvaluationCSV({ e1, e2 }));
  ASSERT_EQ(rows.size(), 5u);
  const auto & header = rows[0];
  auto         column = [&](const std::string & name) {
    const auto it = std::find(header.begin(), header.end(), name);
    EXPECT_NE(it, header.end()) << name;
    return static_cast<std::size_t>(it - header.begin());
  };
  EXPECT_EQ(header[0], "reference");
  // Row 1: prediction "a,b.nii.gz" (quoted, so the naive split sees one more field).
  EXPECT_EQ(rows[1][1], "\"a");
  EXPECT_EQ(rows[3][1], "same.nii.gz");
  EXPECT_EQ(rows[3].size(), header.size());
  EXPECT_EQ(rows[3][column("label")], "1");
  EXPECT_EQ(rows[3][column("status")], "ok");
  EXPECT_EQ(rows[3][column("dice")], "1");
  EXPECT_EQ(rows[3][column("hd")], "0");
  EXPECT_EQ(rows[4][column("name")], "label 2");
  // Row 2 of the first prediction is label 2, prediction empty: HD is +inf, written empty.
  EXPECT_EQ(rows[2].size(), header.size() + 1);
  EXPECT_EQ(rows[2][column("status") + 1], "predictionEmpty");
  EXPECT_EQ(rows[2][column("hd") + 1], "");
  EXPECT_EQ(rows[2][column("dice") + 1], "0");
  EXPECT_DOUBLE_EQ(std::stod(rows[1][column("dice") + 1]), 2000.0 / 11375.0);
}

TEST(SegmentationEvaluation, HarmonizedPredictionsShareTheirLabels)
{
  Label3D::Pointer reference, prediction;
  MakePair(reference, prediction);
  Label3D::Pointer empty = MakeImage<Label3D>({ 50, 50, 50 }, { 1, 1, 1 });
  Label3D::Pointer three = MakeImage<Label3D>({ 50, 50, 50 }, { 1, 1, 1 });
  FillByIndex(three.GetPointer(), [](const Label3D::IndexType & i) { return InBox(i, 0, 3) ? 3 : 0; });
  std::vector<torchseg::SegmentationEvaluation> all;
  all.push_back(torchseg::EvaluateSegmentation<Label3D>(reference, prediction));
  all.push_back(torchseg::EvaluateSegmentation<Label3D>(empty, three));
  torchseg::HarmonizeLabels(all, { { 3, "three" } });
  for (const auto & e : all)
  {
    ASSERT_EQ(e.labels.size(), 3u);
    EXPECT_EQ(e.labels[0].label, 1);
    EXPECT_EQ(e.labels[2].label, 3);
  }
  EXPECT_EQ(all[0].labels[2].status, LabelStatus::Absent);
  EXPECT_EQ(all[0].labels[2].name, "three");
  EXPECT_EQ(all[1].labels[2].status, LabelStatus::ReferenceEmpty);
  EXPECT_EQ(all[1].labels[0].status, LabelStatus::Absent);
  EXPECT_TRUE(std::isnan(all[1].labels[0].overlap.dice));
  // The table names both predictions and says n/a and inf.
  const std::string table = torchseg::FormatEvaluationTable(all);
  EXPECT_NE(table.find("n/a"), std::string::npos) << table;
  EXPECT_NE(table.find("inf"), std::string::npos) << table;
  EXPECT_NE(table.find("mean Dice"), std::string::npos) << table;
}

TEST(SegmentationEvaluation, LesionLabelsAddLesionMeasuresAndOutputs)
{
  Label3D::Pointer reference, prediction;
  MakePair(reference, prediction);
  torchseg::EvaluationOptions options;
  options.labelNames = { { 1, "liver" }, { 2, "tumour" } };
  options.referenceName = "ref.nii.gz";
  options.predictionName = "pred.nii.gz";
  const auto plain = torchseg::EvaluateSegmentation<Label3D>(reference, prediction, options);
  EXPECT_TRUE(plain.lesions.empty());

  options.lesionLabels = { 2, 1, 300 };
  options.lesionMinimumDiameter = 12.0;
  std::vector<double> begins;
  const auto          e = torchseg::EvaluateSegmentation<Label3D>(
    reference, prediction, options, [&](itk::ProcessObject *, double begin, double) { begins.push_back(begin); });
  ASSERT_EQ(begins.size(), 4u); // overlap, surfaces, two lesion labels (300 is in neither image)
  EXPECT_DOUBLE_EQ(begins[1], 0.1);
  EXPECT_DOUBLE_EQ(begins[2], 0.8);
  EXPECT_NEAR(begins[3], 0.8 + 0.2 / 3.0, 1e-12);
  ASSERT_EQ(e.lesions.size(), 3u);
  EXPECT_EQ(e.lesions[0].label, 1);
  EXPECT_EQ(e.lesions[0].name, "liver");
  const auto & cube = e.lesions[0].measures;
  EXPECT_EQ(cube.all.status, LabelStatus::Ok);
  EXPECT_EQ(cube.all.detectedLesions, 1u);
  ASSERT_EQ(cube.referenceLesions.size(), 1u);
  EXPECT_DOUBLE_EQ(cube.referenceLesions[0].dice, 2000.0 / 11375.0); // one component each: the label's Dice
  EXPECT_DOUBLE_EQ(cube.minimumDiameterMm, 12.0);
  // 20^3 voxels: 24.8 mm; 15^3: 18.6 mm; both above 12 mm.
  EXPECT_EQ(cube.aboveMinimumDiameter.referenceLesions, 1u);
  EXPECT_EQ(cube.aboveMinimumDiameter.predictedComponents, 1u);
  const auto & tumour = e.lesions[1].measures;
  EXPECT_EQ(tumour.all.status, LabelStatus::PredictionEmpty);
  EXPECT_EQ(tumour.all.detectionRate, 0.0);
  EXPECT_EQ(e.lesions[2].label, 300);
  EXPECT_EQ(e.lesions[2].measures.all.status, LabelStatus::Absent);
  // The other measures do not change.
  ASSERT_EQ(e.labels.size(), plain.labels.size());
  EXPECT_EQ(e.labels[0].overlap.dice, plain.labels[0].overlap.dice);

  // JSON: the documented layout first, then "lesions".
  const auto json = nlohmann::ordered_json::parse(torchseg::FormatEvaluationJSON({ e }));
  auto       withoutLesions = json;
  withoutLesions.erase("lesions");
  EXPECT_EQ(withoutLesions, nlohmann::ordered_json::parse(torchseg::FormatEvaluationJSON({ plain })));
  EXPECT_EQ(nlohmann::ordered_json::parse(torchseg::FormatEvaluationJSON({ plain })).count("lesions"), 0u);
  const auto & lesions = json["lesions"];
  ASSERT_EQ(lesions.size(), 3u);
  const auto & liver = lesions[0];
  EXPECT_EQ(liver["label"], 1);
  EXPECT_EQ(liver["name"], "liver");
  EXPECT_EQ(liver["status"], "ok");
  EXPECT_EQ(liver["connectivity"], "full");
  EXPECT_EQ(liver["minimumOverlapVoxels"], 1);
  EXPECT_EQ(liver["minimumDiameterMm"], 12.0);
  EXPECT_EQ(liver["referenceLesions"], 1);
  EXPECT_EQ(liver["detectedLesions"], 1);
  EXPECT_EQ(liver["detectionRate"], 1.0);
  EXPECT_EQ(liver["predictedComponents"], 1);
  EXPECT_EQ(liver["falsePositiveComponents"], 0);
  EXPECT_EQ(liver["precision"], 1.0);
  EXPECT_EQ(liver["aboveMinimumDiameter"]["detectionRate"], 1.0);
  const auto & lesion = liver["referenceLesionList"][0];
  EXPECT_EQ(lesion["id"], 1);
  EXPECT_EQ(lesion["voxels"], 8000);
  EXPECT_EQ(lesion["volumeMl"], 8.0);
  EXPECT_DOUBLE_EQ(lesion["equivalentDiameterMm"].get<double>(), std::cbrt(6.0 * 8000.0 / M_PI));
  EXPECT_EQ(lesion["maximumExtentMm"], 20.0);
  EXPECT_EQ(lesion["centroid"], nlohmann::ordered_json::array({ 19.5, 19.5, 19.5 }));
  EXPECT_EQ(lesion["boundingBoxLower"], nlohmann::ordered_json::array({ 10, 10, 10 }));
  EXPECT_EQ(lesion["detected"], true);
  EXPECT_DOUBLE_EQ(lesion["dice"].get<double>(), 2000.0 / 11375.0);
  EXPECT_EQ(lesion["matchedComponents"], nlohmann::ordered_json::array({ 1 }));
  EXPECT_EQ(lesion["overlapVoxels"], 1000);
  const auto & component = liver["predictedComponentList"][0];
  EXPECT_EQ(component["falsePositive"], false);
  EXPECT_EQ(component["matchedLesions"], nlohmann::ordered_json::array({ 1 }));
  EXPECT_EQ(component.count("dice"), 0u);
  EXPECT_EQ(lesions[1]["status"], "predictionEmpty");
  EXPECT_TRUE(lesions[1]["precision"].is_null());
  EXPECT_EQ(lesions[1]["referenceLesionList"][0]["detected"], false);
  EXPECT_EQ(lesions[2]["status"], "absent");
  EXPECT_TRUE(lesions[2]["detectionRate"].is_null());
  EXPECT_TRUE(lesions[2]["referenceLesionList"].empty());

  // The table: one row per lesion, the summaries.
  const std::string table = torchseg::FormatEvaluationTable({ e });
  EXPECT_NE(table.find("Lesions (connected components, face, edge and vertex neighbours"), std::string::npos) << table;
  EXPECT_NE(table.find("liver: 1 of 1 lesions detected (rate 1.0000), 0 of 1 predicted components false positive"),
            std::string::npos)
    << table;
  EXPECT_NE(table.find("tumour: 0 of 1 lesions detected (rate 0.0000)"), std::string::npos) << table;
  EXPECT_NE(table.find("diameter >= 12 mm"), std::string::npos) << table;
  EXPECT_NE(table.find("label 300: absent"), std::string::npos) << table;
  EXPECT_EQ(torchseg::FormatEvaluationTable({ plain }).find("Lesions"), std::string::npos);

  // The lesion CSV: the reference lesions, then the predicted components.
  const auto rows = ParseCSV(torchseg::FormatLesionCSV({ e }));
  ASSERT_EQ(rows.size(), 1u + 2u + 1u); // liver: a lesion and a component; tumour: a lesion
  const auto & header = rows[0];
  auto         column = [&](const std::string & name) {
    const auto it = std::find(header.begin(), header.end(), name);
    EXPECT_NE(it, header.end()) << name;
    return static_cast<std::size_t>(it - header.begin());
  };
  EXPECT_EQ(rows[1][column("kind")], "reference");
  EXPECT_EQ(rows[1][column("voxels")], "8000");
  EXPECT_EQ(rows[1][column("detected")], "1");
  EXPECT_EQ(rows[1][column("falsePositive")], "");
  EXPECT_EQ(rows[1][column("centroidZ")], "19.5");
  EXPECT_EQ(rows[1][column("aboveMinimumDiameter")], "1");
  EXPECT_EQ(rows[2][column("kind")], "prediction");
  EXPECT_EQ(rows[2][column("falsePositive")], "0");
  EXPECT_EQ(rows[2][column("dice")], "");
  EXPECT_EQ(rows[3][column("name")], "tumour");
  EXPECT_EQ(rows[3][column("detected")], "0");
  EXPECT_EQ(rows[3][column("dice")], "0");
  EXPECT_EQ(rows[3][column("aboveMinimumDiameter")], "0"); // 4^3 voxels: 4.96 mm
  EXPECT_EQ(rows[3].size(), header.size());
}
