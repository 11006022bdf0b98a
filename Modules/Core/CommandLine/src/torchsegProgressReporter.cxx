#include "torchsegProgressReporter.h"

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <iomanip>
#include <sstream>

namespace torchseg
{
namespace cli
{

namespace
{
std::atomic<bool> g_Interrupted{ false };

extern "C" void
TorchSegInterruptHandler(int)
{
  g_Interrupted = true;
}

std::string
FormatSeconds(double seconds)
{
  if (!std::isfinite(seconds) || seconds < 0)
  {
    return "--:--";
  }
  const long         s = std::lround(seconds);
  std::ostringstream out;
  if (s >= 3600)
  {
    out << s / 3600 << ':' << std::setw(2) << std::setfill('0') << (s % 3600) / 60 << ':' << std::setw(2) << s % 60;
  }
  else
  {
    out << std::setw(2) << std::setfill('0') << s / 60 << ':' << std::setw(2) << s % 60;
  }
  return out.str();
}

std::string
XMLEscape(const std::string & text)
{
  std::string out;
  for (char c : text)
  {
    switch (c)
    {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      default:
        out += c;
    }
  }
  return out;
}
} // namespace

ProgressReporter::ProgressReporter(bool terminalBar, bool slicerTags, std::ostream * barStream,
                                   std::ostream * tagStream)
  : m_TerminalBar(terminalBar && barStream)
  , m_SlicerTags(slicerTags && tagStream)
  , m_BarStream(barStream)
  , m_TagStream(tagStream)
{}

void
ProgressReporter::Start(const std::string & name, const std::string & comment)
{
  if (m_Started)
  {
    this->End();
  }
  m_Name = name;
  m_Started = true;
  m_LastFraction = 0.0;
  m_LastTagFraction = -1.0;
  m_StartTime = std::chrono::steady_clock::now();
  m_LastDraw = m_StartTime - std::chrono::seconds(1);
  if (m_SlicerTags)
  {
    *m_TagStream << "<filter-start>\n<filter-name>" << XMLEscape(name) << "</filter-name>\n<filter-comment>"
                 << XMLEscape(comment.empty() ? name : comment) << "</filter-comment>\n</filter-start>" << std::endl;
  }
  this->DrawBar(0.0, std::string(), true);
}

void
ProgressReporter::Report(double fraction, const std::string & status)
{
  fraction = std::min(1.0, std::max(0.0, fraction));
  m_LastFraction = fraction;
  if (m_SlicerTags && (fraction - m_LastTagFraction >= 0.01 || fraction >= 1.0) && fraction != m_LastTagFraction)
  {
    m_LastTagFraction = fraction;
    *m_TagStream << "<filter-progress>" << std::setprecision(4) << fraction << "</filter-progress>" << std::endl;
  }
  this->DrawBar(fraction, status, false);
}

void
ProgressReporter::End()
{
  if (!m_Started)
  {
    return;
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_StartTime).count();
  if (m_TerminalBar)
  {
    this->DrawBar(1.0, std::string(), true);
    *m_BarStream << std::endl;
  }
  if (m_SlicerTags)
  {
    *m_TagStream << "<filter-end>\n<filter-name>" << XMLEscape(m_Name) << "</filter-name>\n<filter-time>" << elapsed
                 << "</filter-time>\n</filter-end>" << std::endl;
  }
  m_Started = false;
}

void
ProgressReporter::DrawBar(double fraction, const std::string & status, bool force)
{
  if (!m_TerminalBar)
  {
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - m_LastDraw < std::chrono::milliseconds(100))
  {
    return;
  }
  m_LastDraw = now;
  const double  elapsed = std::chrono::duration<double>(now - m_StartTime).count();
  const double  remaining = fraction > 0.0 ? elapsed * (1.0 - fraction) / fraction : -1.0;
  constexpr int width = 30;
  const int     filled = static_cast<int>(std::lround(fraction * width));
  std::string   bar(static_cast<std::size_t>(filled), '#');
  bar.append(static_cast<std::size_t>(width - filled), '.');
  std::ostringstream line;
  line << '\r' << m_Name << " [" << bar << "] " << std::setw(3) << std::lround(fraction * 100) << "% "
       << FormatSeconds(elapsed) << " elapsed, " << FormatSeconds(remaining) << " left";
  if (!status.empty())
  {
    line << "  " << status;
  }
  line << "\033[K";
  *m_BarStream << line.str() << std::flush;
}

unsigned long
ProgressReporter::Observe(itk::ProcessObject * process, double begin, double end)
{
  auto command = itk::CStyleCommand::New();
  // A lambda cannot be a C callback with state, so the state travels in a small heap object owned by the command.
  struct State
  {
    ProgressReporter * reporter;
    double             begin;
    double             end;
  };
  auto * state = new State{ this, begin, end };
  command->SetClientData(state);
  command->SetClientDataDeleteCallback([](void * data) { delete static_cast<State *>(data); });
  command->SetCallback([](itk::Object * caller, const itk::EventObject &, void * data) {
    auto * s = static_cast<State *>(data);
    auto * p = static_cast<itk::ProcessObject *>(caller);
    if (IsInterrupted())
    {
      p->AbortGenerateDataOn();
    }
    s->reporter->Report(s->begin + (s->end - s->begin) * p->GetProgress());
  });
  return process->AddObserver(itk::ProgressEvent(), command);
}

void
ProgressReporter::CheckAbort() const
{
  if (IsInterrupted())
  {
    itk::ProcessAborted e(__FILE__, __LINE__);
    e.SetDescription("Interrupted by the user");
    throw e;
  }
}

bool
ProgressReporter::IsInterrupted()
{
  return g_Interrupted.load();
}

void
ProgressReporter::InstallInterruptHandlers()
{
  std::signal(SIGINT, TorchSegInterruptHandler);
  std::signal(SIGTERM, TorchSegInterruptHandler);
}

} // namespace cli
} // namespace torchseg
