#include "torchsegTrainingCurvePlotter.h"

#include "torchsegText.h"

#include "itkMacro.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

namespace torchseg
{

namespace
{

const double kNaN = std::numeric_limits<double>::quiet_NaN();

bool
ParseValue(const std::string & text, double & value)
{
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower.empty() || lower == "nan" || lower == "-nan" || lower == "null" || lower == "none" || lower == "na")
  {
    value = kNaN;
    return true;
  }
  try
  {
    std::size_t used = 0;
    value = std::stod(text, &used);
    return used == text.size();
  }
  catch (const std::exception &)
  {
    return false;
  }
}

/** Round tick positions covering [low, high] with about \a target intervals; widens low and high to ticks. */
std::vector<double>
NiceTicks(double & low, double & high, int target, double minimumStep = 0.0)
{
  if (!(high > low))
  {
    high = low + 1.0;
  }
  const double rough = (high - low) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(rough)));
  const double residual = rough / magnitude;
  double       step = (residual < 1.5 ? 1.0 : residual < 3.0 ? 2.0 : residual < 7.0 ? 5.0 : 10.0) * magnitude;
  step = std::max(step, minimumStep);
  low = std::floor(low / step + 1e-9) * step;
  high = std::ceil(high / step - 1e-9) * step;
  std::vector<double> ticks;
  for (double t = low; t <= high + 0.5 * step; t += step)
  {
    ticks.push_back(std::abs(t) < 1e-12 * step ? 0.0 : t);
  }
  return ticks;
}

const RGBCanvas::Color kWhite{ { 255, 255, 255 } };
const RGBCanvas::Color kFrame{ { 120, 124, 132 } };
const RGBCanvas::Color kGrid{ { 228, 230, 235 } };
const RGBCanvas::Color kInk{ { 40, 42, 48 } };
const RGBCanvas::Color kMuted{ { 100, 104, 112 } };

void
DrawAxesFrame(RGBCanvas & canvas, const TrainingCurvePlotter::Axes & axes, const std::vector<double> & xTicks,
              const std::vector<double> & yTicks, const std::string & title, const std::string & yTitle)
{
  using H = RGBCanvas::HorizontalAlignment;
  using V = RGBCanvas::VerticalAlignment;
  for (const double x : xTicks)
  {
    const double column = axes.DataToPixel(x, axes.yMinimum)[0];
    canvas.DrawLine(column, axes.top, column, axes.top + axes.height - 1, kGrid, 1.0);
    canvas.DrawText(static_cast<int>(std::lround(column)),
                    axes.top + axes.height + 6,
                    FormatNumber(x),
                    13,
                    kMuted,
                    H::Centre,
                    V::Top);
  }
  for (const double y : yTicks)
  {
    const double row = axes.DataToPixel(axes.xMinimum, y)[1];
    canvas.DrawLine(axes.left, row, axes.left + axes.width - 1, row, kGrid, 1.0);
    canvas.DrawText(
      axes.left - 7, static_cast<int>(std::lround(row)), FormatNumber(y), 13, kMuted, H::Right, V::Centre);
  }
  canvas.DrawRectangle(axes.left - 1, axes.top - 1, axes.width + 2, axes.height + 2, kFrame);
  canvas.DrawText(axes.left, axes.top - 8, title, 15, kInk, H::Left, V::Bottom, true);
  canvas.DrawText(axes.left + axes.width / 2, axes.top + axes.height + 26, "epoch", 13, kInk, H::Centre, V::Top);
  canvas.DrawText(axes.left - 52, axes.top + axes.height / 2, yTitle, 13, kInk, H::Centre, V::Centre, false, 90.0);
}

/** A polyline through the finite points (gaps at NaN), with markers when there are few points. */
void
DrawCurve(RGBCanvas & canvas, const TrainingCurvePlotter::Axes & axes, const std::vector<double> & x,
          const std::vector<double> & y, const RGBCanvas::Color & color, double width, bool markers)
{
  bool                  previous = false;
  std::array<double, 2> last{};
  for (std::size_t i = 0; i < x.size() && i < y.size(); ++i)
  {
    if (!std::isfinite(x[i]) || !std::isfinite(y[i]))
    {
      previous = false;
      continue;
    }
    const auto p = axes.DataToPixel(x[i], y[i]);
    if (previous)
    {
      canvas.DrawLine(last[0], last[1], p[0], p[1], color, width);
    }
    last = p;
    previous = true;
  }
  if (markers)
  {
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i)
    {
      if (std::isfinite(x[i]) && std::isfinite(y[i]))
      {
        const auto p = axes.DataToPixel(x[i], y[i]);
        canvas.FillDisc(p[0], p[1], width + 1.6, color);
      }
    }
  }
}

} // namespace

TrainingLog
ReadTrainingLog(const std::string & path)
{
  std::ifstream stream(path);
  if (!stream)
  {
    itkGenericExceptionMacro(<< "Cannot read the training log " << path);
  }
  std::string line;
  if (!std::getline(stream, line))
  {
    itkGenericExceptionMacro(<< "The training log " << path << " is empty");
  }
  const std::vector<std::string>     header = SplitCSVLine(line);
  std::map<std::string, std::size_t> column;
  for (std::size_t i = 0; i < header.size(); ++i)
  {
    column[header[i]] = i;
  }
  for (const char * required : { "epoch", "trainLoss" })
  {
    if (!column.count(required))
    {
      itkGenericExceptionMacro(<< "The training log " << path << " has no \"" << required << "\" column");
    }
  }
  TrainingLog              log;
  std::vector<std::size_t> diceColumns;
  const std::string        prefix = "validationDice_";
  for (std::size_t i = 0; i < header.size(); ++i)
  {
    if (header[i].rfind(prefix, 0) == 0 && header[i].size() > prefix.size())
    {
      log.validationDice.emplace_back(header[i].substr(prefix.size()), std::vector<double>());
      diceColumns.push_back(i);
    }
  }
  auto field = [&](const std::vector<std::string> & fields, const char * name, std::size_t lineNumber) {
    const auto it = column.find(name);
    if (it == column.end() || it->second >= fields.size())
    {
      return kNaN;
    }
    double value = kNaN;
    if (!ParseValue(fields[it->second], value))
    {
      itkGenericExceptionMacro(<< "The training log " << path << " line " << lineNumber << ": \"" << fields[it->second]
                               << "\" is not a number (column " << name << ")");
    }
    return value;
  };
  std::size_t lineNumber = 1;
  while (std::getline(stream, line))
  {
    ++lineNumber;
    if (Trim(line).empty())
    {
      continue;
    }
    const std::vector<std::string> fields = SplitCSVLine(line);
    log.epoch.push_back(field(fields, "epoch", lineNumber));
    log.trainLoss.push_back(field(fields, "trainLoss", lineNumber));
    log.learningRate.push_back(field(fields, "learningRate", lineNumber));
    log.validationMeanDice.push_back(field(fields, "validationMeanDice", lineNumber));
    log.epochSeconds.push_back(field(fields, "epochSeconds", lineNumber));
    for (std::size_t c = 0; c < diceColumns.size(); ++c)
    {
      double value = kNaN;
      if (diceColumns[c] < fields.size() && !ParseValue(fields[diceColumns[c]], value))
      {
        itkGenericExceptionMacro(<< "The training log " << path << " line " << lineNumber << ": \""
                                 << fields[diceColumns[c]] << "\" is not a number (column " << header[diceColumns[c]]
                                 << ")");
      }
      log.validationDice[c].second.push_back(value);
    }
  }
  return log;
}

std::array<double, 2>
TrainingCurvePlotter::Axes::DataToPixel(double x, double y) const
{
  const double u = (x - xMinimum) / (xMaximum - xMinimum);
  const double v = (y - yMinimum) / (yMaximum - yMinimum);
  return { { left + u * (width - 1), top + (1.0 - v) * (height - 1) } };
}

TrainingCurvePlotter::TrainingCurvePlotter()
  : m_LabelTable(LabelTable::LiverTumour())
{}

void
TrainingCurvePlotter::SetLog(const TrainingLog & log)
{
  m_Log = log;
  this->Modified();
}

void
TrainingCurvePlotter::SetLabelTable(const LabelTable & table)
{
  m_LabelTable = table;
  this->Modified();
}

TrainingCurvePlotter::Color
TrainingCurvePlotter::GetLossColor()
{
  return Color{ { 31, 119, 180 } };
}

TrainingCurvePlotter::Color
TrainingCurvePlotter::GetMeanDiceColor()
{
  return Color{ { 30, 30, 36 } };
}

TrainingCurvePlotter::Color
TrainingCurvePlotter::GetClassColor(const std::string & className) const
{
  for (const auto & label : m_LabelTable.GetLabels())
  {
    if (label.name == className)
    {
      // Darkened a little: label colours are chosen for fills on dark CT, curves sit on white.
      Color c = label.color;
      for (auto & channel : c)
      {
        channel = static_cast<uint8_t>(channel * 0.8);
      }
      return c;
    }
  }
  std::size_t index = 0;
  for (; index < m_Log.validationDice.size() && m_Log.validationDice[index].first != className; ++index)
  {}
  return GenericLabelColor(static_cast<unsigned int>(index + 1));
}

void
TrainingCurvePlotter::Update()
{
  std::size_t finiteLoss = 0;
  double      lossMin = std::numeric_limits<double>::max();
  double      lossMax = std::numeric_limits<double>::lowest();
  double      epochMin = std::numeric_limits<double>::max();
  double      epochMax = std::numeric_limits<double>::lowest();
  for (std::size_t i = 0; i < m_Log.epoch.size(); ++i)
  {
    if (!std::isfinite(m_Log.epoch[i]))
    {
      continue;
    }
    epochMin = std::min(epochMin, m_Log.epoch[i]);
    epochMax = std::max(epochMax, m_Log.epoch[i]);
    if (i < m_Log.trainLoss.size() && std::isfinite(m_Log.trainLoss[i]))
    {
      ++finiteLoss;
      lossMin = std::min(lossMin, m_Log.trainLoss[i]);
      lossMax = std::max(lossMax, m_Log.trainLoss[i]);
    }
  }
  if (finiteLoss == 0)
  {
    itkExceptionMacro(<< "The training log has no epoch with a finite training loss");
  }

  const int width = static_cast<int>(m_Width);
  const int height = static_cast<int>(m_Height);
  RGBCanvas picture(m_Width, m_Height, kWhite);
  const int titleHeight = 40;
  const int gap = 40;
  const int leftMargin = 72;
  const int rightMargin = 20;
  const int topMargin = titleHeight + 28;
  const int bottomMargin = 52;
  const int panelWidth = (width - gap) / 2;

  double xLow = epochMin;
  double xHigh = epochMax;
  if (!(xHigh > xLow))
  {
    xLow -= 1.0;
    xHigh += 1.0;
  }
  const std::vector<double> xTicks = NiceTicks(xLow, xHigh, 8, 1.0);

  double       yLow = lossMin;
  double       yHigh = lossMax;
  const double range = std::max(lossMax - lossMin, 1e-6 * std::max(1.0, std::abs(lossMax)));
  yLow = (lossMin >= 0.0 && lossMin <= 0.25 * lossMax) ? 0.0 : lossMin - 0.05 * range;
  yHigh = lossMax + 0.05 * range;
  const std::vector<double> lossTicks = NiceTicks(yLow, yHigh, 5);

  m_LossAxes = Axes();
  m_LossAxes.left = leftMargin;
  m_LossAxes.top = topMargin;
  m_LossAxes.width = panelWidth - leftMargin - rightMargin;
  m_LossAxes.height = height - topMargin - bottomMargin;
  m_LossAxes.xMinimum = xLow;
  m_LossAxes.xMaximum = xHigh;
  m_LossAxes.yMinimum = yLow;
  m_LossAxes.yMaximum = yHigh;

  m_DiceAxes = m_LossAxes;
  m_DiceAxes.left = panelWidth + gap + leftMargin;
  m_DiceAxes.yMinimum = 0.0;
  m_DiceAxes.yMaximum = 1.0;
  const std::vector<double> diceTicks{ 0.0, 0.2, 0.4, 0.6, 0.8, 1.0 };

  using H = RGBCanvas::HorizontalAlignment;
  using V = RGBCanvas::VerticalAlignment;
  const std::string title = m_Title.empty() ? std::string("Training") : m_Title;
  picture.DrawText(leftMargin, 12, title, 20, kInk, H::Left, V::Top, true);
  const std::size_t epochs = m_Log.epoch.size();
  std::string       summary = std::to_string(epochs) + (epochs == 1 ? " epoch" : " epochs");
  double            seconds = 0.0;
  for (const double s : m_Log.epochSeconds)
  {
    seconds += std::isfinite(s) ? s : 0.0;
  }
  if (seconds > 0.0)
  {
    summary += ", " + FormatNumber(seconds / 60.0, 1) + " min";
  }
  picture.DrawText(width - rightMargin, 16, summary, 14, kMuted, H::Right, V::Top);

  DrawAxesFrame(picture, m_LossAxes, xTicks, lossTicks, "Training loss", "loss");
  DrawAxesFrame(picture, m_DiceAxes, xTicks, diceTicks, "Validation Dice", "Dice");
  const bool markers = epochs <= 80;
  DrawCurve(picture, m_LossAxes, m_Log.epoch, m_Log.trainLoss, GetLossColor(), 2.2, markers);

  struct Entry
  {
    Color       color;
    std::string text;
  };
  std::vector<Entry> entries;
  for (const auto & [name, values] : m_Log.validationDice)
  {
    DrawCurve(picture, m_DiceAxes, m_Log.epoch, values, this->GetClassColor(name), 1.8, markers);
    entries.push_back({ this->GetClassColor(name), name });
  }
  DrawCurve(picture, m_DiceAxes, m_Log.epoch, m_Log.validationMeanDice, GetMeanDiceColor(), 2.6, markers);
  entries.push_back({ GetMeanDiceColor(), "mean" });

  // The best mean Dice, ringed and labelled.
  std::size_t best = epochs;
  for (std::size_t i = 0; i < epochs && i < m_Log.validationMeanDice.size(); ++i)
  {
    if (std::isfinite(m_Log.validationMeanDice[i]) && std::isfinite(m_Log.epoch[i]) &&
        (best == epochs || m_Log.validationMeanDice[i] > m_Log.validationMeanDice[best]))
    {
      best = i;
    }
  }
  if (best < epochs)
  {
    const auto p = m_DiceAxes.DataToPixel(m_Log.epoch[best], m_Log.validationMeanDice[best]);
    for (double a = 0.0; a < 2.0 * M_PI; a += M_PI / 24.0)
    {
      const double b = a + M_PI / 24.0;
      picture.DrawLine(p[0] + 8.0 * std::cos(a),
                       p[1] + 8.0 * std::sin(a),
                       p[0] + 8.0 * std::cos(b),
                       p[1] + 8.0 * std::sin(b),
                       GetMeanDiceColor(),
                       1.4);
    }
    picture.DrawText(m_DiceAxes.left + m_DiceAxes.width,
                     m_DiceAxes.top - 8,
                     "best mean " + FormatNumber(m_Log.validationMeanDice[best], 3) + " at epoch " +
                       FormatNumber(m_Log.epoch[best], 0),
                     13,
                     kMuted,
                     H::Right,
                     V::Bottom);
  }
  else
  {
    picture.DrawText(m_DiceAxes.left + m_DiceAxes.width / 2,
                     m_DiceAxes.top + m_DiceAxes.height / 2,
                     "no validation results",
                     15,
                     kMuted,
                     H::Centre,
                     V::Centre);
  }

  // Legend in the Dice panel's lower right corner, on white.
  int legendWidth = 0;
  for (const auto & e : entries)
  {
    legendWidth = std::max(legendWidth, RGBCanvas::MeasureText(e.text, 13)[0]);
  }
  legendWidth += 40;
  const int lineHeight = 19;
  const int legendHeight = static_cast<int>(entries.size()) * lineHeight + 10;
  const int lx = m_DiceAxes.left + m_DiceAxes.width - legendWidth - 10;
  const int ly = m_DiceAxes.top + m_DiceAxes.height - legendHeight - 10;
  picture.FillRectangle(lx, ly, legendWidth, legendHeight, kWhite, 0.9);
  picture.DrawRectangle(lx, ly, legendWidth, legendHeight, kGrid);
  for (std::size_t i = 0; i < entries.size(); ++i)
  {
    const int y = ly + 5 + static_cast<int>(i) * lineHeight + lineHeight / 2;
    picture.DrawLine(lx + 8, y, lx + 26, y, entries[i].color, 2.4);
    picture.DrawText(lx + 32, y, entries[i].text, 13, kInk, H::Left, V::Centre);
  }
  m_Picture = std::move(picture);
}

void
TrainingCurvePlotter::WritePNG(const std::string & path) const
{
  if (m_Picture.IsEmpty())
  {
    itkExceptionMacro(<< "Cannot write " << path << ": Update() has not drawn a plot yet");
  }
  m_Picture.WritePNG(path);
}

void
TrainingCurvePlotter::PrintSelf(std::ostream & os, itk::Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "Log: " << m_Log.epoch.size() << " epochs, " << m_Log.validationDice.size() << " classes"
     << std::endl;
  os << indent << "LabelTable: " << m_LabelTable.size() << " entries" << std::endl;
  os << indent << "Width: " << m_Width << std::endl;
  os << indent << "Height: " << m_Height << std::endl;
  os << indent << "Title: " << m_Title << std::endl;
  os << indent << "Picture: " << m_Picture.GetWidth() << "x" << m_Picture.GetHeight() << std::endl;
  os << indent << "LossAxes: [" << m_LossAxes.yMinimum << ", " << m_LossAxes.yMaximum << "]" << std::endl;
  os << indent << "DiceAxes: [" << m_DiceAxes.yMinimum << ", " << m_DiceAxes.yMaximum << "]" << std::endl;
}

} // namespace torchseg
