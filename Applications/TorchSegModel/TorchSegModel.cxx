// TorchSegModel: shows what a model file holds (network, classes, preprocessing, post-processing, provenance) and
// writes a copy that recommends a label clean-up. See docs/inference.md ("Post-processing recorded in the model").
#include "TorchSegModelXML.h"

#include "torchsegApplication.h"
#include "torchsegAtomicOutput.h"
#include "torchsegModel.h"
#include "torchsegNetworkLayers.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace
{

namespace fs = std::filesystem;
using json = nlohmann::json;
using torchseg::cli::UsageError;

/** The network's parameter count; -1 for TorchScript models (no native network). */
int64_t
ParameterCount(const torchseg::Model & model)
{
  return model.IsTorchScript() ? -1 : torchseg::layers::CountParameters(*model.GetNetwork());
}

std::string
Spacing(const std::array<double, 3> & spacing)
{
  std::ostringstream out;
  const char *       axes = "xyz";
  for (int d = 0; d < 3; ++d)
  {
    out << (d ? ", " : "") << axes[d] << " ";
    if (spacing[d] > 0.0)
    {
      out << spacing[d] << " mm";
    }
    else
    {
      out << "as the input";
    }
  }
  return out.str();
}

std::string
DescribePostProcessing(const std::optional<torchseg::LabelPostProcessingOptions> & p)
{
  if (!p || !p->IsActive())
  {
    return "none recommended";
  }
  std::ostringstream out;
  out << "organ label " << p->organLabel;
  if (p->keepLargestOrganComponent)
  {
    out << ", keep its largest component";
  }
  if (p->tumourLabel != 0)
  {
    out << "; tumour label " << p->tumourLabel;
    if (p->removeTumourOutsideOrgan)
    {
      out << ", remove tumour components outside the organ";
    }
    if (p->minimumTumourVolume > 0.0)
    {
      out << ", remove tumour components under " << p->minimumTumourVolume << " mm^3";
    }
  }
  return out.str();
}

void
PrintSummary(const torchseg::Model & model, const std::string & path, std::ostream & out)
{
  const torchseg::ModelMetadata & m = model.GetMetadata();
  out << "Model:          " << path << (model.IsTorchScript() ? " (TorchScript)" : " (TorchSeg model file)") << "\n";
  out << "Network:        " << m.network.architecture << ", " << m.network.spatialDimensions << "D, "
      << m.network.inputChannels << " input channel(s), " << m.network.numberOfClasses << " classes";
  const int64_t parameters = ParameterCount(model);
  if (parameters >= 0)
  {
    out << ", " << parameters << " parameters";
  }
  out << "\n";
  if (!m.network.options.empty())
  {
    out << "Options:        " << m.network.options.dump() << "\n";
  }
  out << "Classes:        0 background";
  for (const auto & label : m.classes.GetLabels())
  {
    out << ", " << label.value << " " << label.name;
  }
  out << "\n";
  out << "Orientation:    " << m.orientation << " (tensor axes " << m.axisOrder << ")\n";
  out << "Spacing:        " << Spacing(m.targetSpacing) << "\n";
  out << "Patch:          ";
  if (m.patchSize.empty() || (m.network.spatialDimensions == 2 && m.patchSize[0] == 0))
  {
    out << "whole slice";
  }
  else
  {
    for (std::size_t i = 0; i < m.patchSize.size(); ++i)
    {
      out << (i ? " x " : "") << m.patchSize[i];
    }
  }
  if (m.network.spatialDimensions == 2)
  {
    out << "; slice context " << m.sliceContext;
  }
  out << "\n";
  const torchseg::IntensityNormalization & n = m.normalization;
  out << "Intensities:    " << n.method;
  if (n.method != "none")
  {
    out << ", clip [" << n.clipLow << ", " << n.clipHigh << "] HU";
  }
  if (n.method == "zscore")
  {
    out << ", mean " << n.mean << ", std " << n.std;
  }
  out << "\n";
  out << "Post-processing: " << DescribePostProcessing(m.postProcessing) << "\n";
  const json & p = m.provenance;
  if (p.is_object() && !p.empty())
  {
    out << "Provenance:     ";
    bool first = true;
    for (const char * key : { "createdBy",
                              "toolkitVersion",
                              "date",
                              "epochsTrained",
                              "modelEpoch",
                              "modelSelection",
                              "validationDice",
                              "bestEpoch",
                              "bestValidationDice" })
    {
      if (p.contains(key))
      {
        out << (first ? "" : ", ") << key << " " << (p[key].is_string() ? p[key].get<std::string>() : p[key].dump());
        first = false;
      }
    }
    out << "\n";
  }
}

/** The metadata with the --postProcessing and --patchSize values in place, checked as a model file's metadata is. */
torchseg::ModelMetadata
WithChanges(const torchseg::ModelMetadata & metadata, const torchseg::cli::ParsedArguments & args,
            const std::string & path)
{
  json j = metadata;
  if (args.IsSet("patchSize"))
  {
    j["patchSize"] = args.GetIntVector("patchSize");
  }
  const std::string text = args.GetString("postProcessing");
  if (text == "none")
  {
    j.erase("postProcessing");
  }
  else if (args.IsSet("postProcessing"))
  {
    json value;
    try
    {
      value = json::parse(text);
    }
    catch (const json::exception & e)
    {
      throw UsageError("--postProcessing: '" + text + "' is not JSON (" + e.what() + ")");
    }
    if (!value.is_object())
    {
      throw UsageError("--postProcessing: '" + text + "' is not a JSON object (or \"none\")");
    }
    j["postProcessing"] = value;
  }
  try
  {
    return torchseg::ParseModelMetadata(j, "the changed metadata of " + path);
  }
  catch (const itk::ExceptionObject & e)
  {
    throw UsageError(e.GetDescription());
  }
}

} // namespace

int
main(int argc, char * argv[])
{
  torchseg::cli::Application application(TorchSegModelXMLDescription, "TorchSegModel");
  return application.Run(argc, argv, [](const torchseg::cli::ParsedArguments & args, torchseg::cli::Application &) {
    const std::string path = args.Require("model");
    const bool        change = args.IsSet("postProcessing") || args.IsSet("patchSize");
    const std::string outputPath = args.GetString("outputModel");
    if (change != !outputPath.empty())
    {
      throw UsageError(change ? std::string(args.IsSet("postProcessing") ? "--postProcessing" : "--patchSize") +
                                  " needs --outputModel (the copy to write)"
                              : "--outputModel needs --postProcessing or --patchSize (the change to make)");
    }
    std::error_code ec;
    if (change)
    {
      if (fs::exists(outputPath, ec) && fs::equivalent(path, outputPath, ec))
      {
        throw UsageError("--outputModel " + outputPath + " is the input model; write the copy elsewhere");
      }
      if (fs::exists(outputPath, ec) && !args.GetBool("overwrite"))
      {
        throw UsageError("--outputModel " + outputPath + " exists; give --overwrite to replace it");
      }
    }
    std::unique_ptr<torchseg::AtomicOutput> jsonOutput;
    if (args.IsSet("json"))
    {
      jsonOutput = std::make_unique<torchseg::AtomicOutput>(args.GetString("json"));
    }

    torchseg::Model model = torchseg::Model::Load(path);
    if (change)
    {
      if (model.IsTorchScript())
      {
        throw UsageError(path + " is a TorchScript model: its metadata lives in its metadata.json (extra file or "
                                "sidecar); change it there (inside the \"torchseg\" object for MONAI metadata)");
      }
      torchseg::ModelMetadata metadata = WithChanges(model.GetMetadata(), args, path);
      model = torchseg::Model(model.GetNetwork(), metadata);
      model.Save(outputPath);
    }
    if (jsonOutput)
    {
      json j = model.GetMetadata();
      j["parameters"] = ParameterCount(model);
      {
        std::ofstream file(jsonOutput->GetTemporaryPath(), std::ios::binary);
        file << j.dump(2) << "\n";
        if (!file)
        {
          itkGenericExceptionMacro(<< "Cannot write " << jsonOutput->GetTargetPath().string());
        }
      }
      jsonOutput->Commit();
    }
    PrintSummary(model, change ? outputPath : path, std::cout);
    if (change)
    {
      std::cout << "Wrote " << outputPath << " (weights of " << path << ")\n";
    }
    std::cout << std::flush;
  });
}
