#ifndef torchsegProgressReporter_h
#define torchsegProgressReporter_h

#include "itkCommand.h"
#include "itkProcessObject.h"

#include <chrono>
#include <functional>
#include <ostream>
#include <string>

namespace torchseg
{
namespace cli
{

/** \class ProgressReporter
 * \brief Reports the progress of an application: a bar on stderr when it is a terminal, Slicer's
 * <filter-progress> tags on stdout when run by Slicer. Also the place where an interruption (SIGINT, SIGTERM)
 * is noticed: observed ITK filters are aborted and CheckAbort() throws.
 * \ingroup TorchSegCommandLine
 */
class ProgressReporter
{
public:
  ProgressReporter() = default;
  ProgressReporter(bool terminalBar, bool slicerTags, std::ostream * barStream, std::ostream * tagStream);

  /** Starts a stage of work called \a name, with an optional comment. */
  void
  Start(const std::string & name, const std::string & comment = std::string());

  /** Overall fraction of the work done, in [0, 1], with an optional short status (e.g. "loss 0.12"). */
  void
  Report(double fraction, const std::string & status = std::string());

  /** Ends the current stage. */
  void
  End();

  /** Observes \a process: its progress maps to [begin, end] of the overall fraction, and an interruption aborts it.
   * Returns the observer tag (for RemoveObserver). */
  unsigned long
  Observe(itk::ProcessObject * process, double begin = 0.0, double end = 1.0);

  /** Throws itk::ProcessAborted when the user interrupted the application. */
  void
  CheckAbort() const;

  /** True after SIGINT or SIGTERM. */
  static bool
  IsInterrupted();

  /** Installs the SIGINT/SIGTERM handlers that set the interruption flag. */
  static void
  InstallInterruptHandlers();

  /** True while a terminal bar is on screen (an error message then starts on a new line). */
  bool
  IsDrawingBar() const
  {
    return m_TerminalBar && m_Started;
  }

  double
  GetLastFraction() const
  {
    return m_LastFraction;
  }

private:
  void
  DrawBar(double fraction, const std::string & status, bool force);

  bool                                  m_TerminalBar = false;
  bool                                  m_SlicerTags = false;
  std::ostream *                        m_BarStream = nullptr;
  std::ostream *                        m_TagStream = nullptr;
  std::string                           m_Name;
  bool                                  m_Started = false;
  double                                m_LastFraction = 0.0;
  double                                m_LastTagFraction = -1.0;
  std::chrono::steady_clock::time_point m_StartTime;
  std::chrono::steady_clock::time_point m_LastDraw;
};

} // namespace cli
} // namespace torchseg

#endif
