#ifndef torchsegTrainingCurvePlotter_h
#define torchsegTrainingCurvePlotter_h

#include "torchsegLabelTable.h"
#include "torchsegRGBCanvas.h"

#include "itkObject.h"
#include "itkObjectFactory.h"

#include <string>
#include <utility>
#include <vector>

namespace torchseg
{

/** \brief The per-epoch columns of a training log CSV (TorchSegTrain --logFile):
 * `epoch,trainLoss,learningRate,validationMeanDice,validationDice_<className>...,epochSeconds,samplesPerSecond,
 * dataWaitFraction`. Missing values (empty, "nan", "null") are NaN; a run without validation has NaN Dice. */
struct TrainingLog
{
  std::vector<double>                                      epoch;
  std::vector<double>                                      trainLoss;
  std::vector<double>                                      learningRate;
  std::vector<double>                                      validationMeanDice;
  std::vector<std::pair<std::string, std::vector<double>>> validationDice; //!< per class, in column order
  std::vector<double>                                      epochSeconds;
};

/** Reads a training log; throws itk::ExceptionObject naming the path (and line) when the file is missing, lacks the
 * epoch or trainLoss column, or holds a malformed number. Unknown columns are ignored. */
TrainingLog
ReadTrainingLog(const std::string & path);

/** \class TrainingCurvePlotter
 * \brief Plots training loss and validation Dice per epoch as a PNG picture, drawn on the CPU (no display).
 *
 * Left: training loss. Right: validation mean Dice (thick) and per-class Dice (class colours from the label table,
 * matched by name), on a fixed [0, 1] axis, with the best mean Dice marked. Each data point is a marker centred on
 * DataToPixel() of its axes, so tests and scripts can locate it.
 * \ingroup TorchSegRendering
 */
class TrainingCurvePlotter : public itk::Object
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(TrainingCurvePlotter);

  using Self = TrainingCurvePlotter;
  using Superclass = itk::Object;
  using Pointer = itk::SmartPointer<Self>;
  using ConstPointer = itk::SmartPointer<const Self>;
  using Color = RGBCanvas::Color;

  itkNewMacro(Self);
  itkTypeMacro(TrainingCurvePlotter, Object);

  /** A plot area and the data range it shows. */
  struct Axes
  {
    int    left = 0;
    int    top = 0;
    int    width = 0;
    int    height = 0;
    double xMinimum = 0.0;
    double xMaximum = 1.0;
    double yMinimum = 0.0;
    double yMaximum = 1.0;

    /** Picture coordinates (column, row) of a data point. */
    std::array<double, 2>
    DataToPixel(double x, double y) const;
  };

  void
  SetLog(const TrainingLog & log);
  const TrainingLog &
  GetLog() const
  {
    return m_Log;
  }

  /** Class colours by name; default: liver and tumour. */
  void
  SetLabelTable(const LabelTable & table);

  itkSetClampMacro(Width, unsigned int, 320, 8192);
  itkGetConstMacro(Width, unsigned int);
  itkSetClampMacro(Height, unsigned int, 200, 8192);
  itkGetConstMacro(Height, unsigned int);
  itkSetStringMacro(Title);
  itkGetStringMacro(Title);

  /** Draws the picture; throws when the log has no epoch with a finite loss. */
  void
  Update();

  const RGBCanvas &
  GetPicture() const
  {
    return m_Picture;
  }
  const Axes &
  GetLossAxes() const
  {
    return m_LossAxes;
  }
  const Axes &
  GetDiceAxes() const
  {
    return m_DiceAxes;
  }
  /** Colours of the curves. */
  static Color
  GetLossColor();
  static Color
  GetMeanDiceColor();
  Color
  GetClassColor(const std::string & className) const;

  void
  WritePNG(const std::string & path) const;

protected:
  TrainingCurvePlotter();
  ~TrainingCurvePlotter() override = default;

  void
  PrintSelf(std::ostream & os, itk::Indent indent) const override;

private:
  TrainingLog  m_Log;
  LabelTable   m_LabelTable;
  unsigned int m_Width = 1280;
  unsigned int m_Height = 480;
  std::string  m_Title;
  RGBCanvas    m_Picture;
  Axes         m_LossAxes;
  Axes         m_DiceAxes;
};

} // namespace torchseg

#endif
