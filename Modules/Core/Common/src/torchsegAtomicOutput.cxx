#include "torchsegAtomicOutput.h"

#include "itkMacro.h"

#include <atomic>
#include <system_error>
#include <unistd.h>

namespace fs = std::filesystem;

namespace torchseg
{

std::string
GetFullExtension(const fs::path & path)
{
  const std::string         name = path.filename().string();
  static const char * const compound[] = { ".seg.nrrd", ".nii.gz", ".tar.gz" };
  for (const char * ext : compound)
  {
    const std::string e(ext);
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0)
    {
      return e;
    }
  }
  return path.extension().string();
}

AtomicOutput::AtomicOutput(fs::path target, bool isDirectory)
  : m_Target(std::move(target))
  , m_IsDirectory(isDirectory)
{
  if (m_Target.empty())
  {
    itkGenericExceptionMacro(<< "An output path is empty");
  }
  fs::path parent = m_Target.parent_path();
  if (parent.empty())
  {
    parent = ".";
  }
  std::error_code ec;
  if (!fs::is_directory(parent, ec))
  {
    itkGenericExceptionMacro(<< "Cannot write " << m_Target.string() << ": the directory " << parent.string()
                             << " does not exist");
  }
  if (fs::is_directory(m_Target, ec) && !m_IsDirectory)
  {
    itkGenericExceptionMacro(<< "Cannot write the file " << m_Target.string() << ": a directory has that name");
  }
  if (fs::exists(m_Target, ec) && !fs::is_directory(m_Target, ec) && m_IsDirectory)
  {
    itkGenericExceptionMacro(<< "Cannot write the directory " << m_Target.string() << ": a file has that name");
  }
  static std::atomic<unsigned long> counter{ 0 };
  const std::string                 ext = m_IsDirectory ? std::string() : GetFullExtension(m_Target);
  std::string                       stem = m_Target.filename().string();
  stem = stem.substr(0, stem.size() - ext.size());
  m_Temporary = parent / ("." + stem + ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ext);
  if (m_IsDirectory)
  {
    fs::create_directory(m_Temporary, ec);
    if (ec)
    {
      itkGenericExceptionMacro(<< "Cannot create the temporary directory " << m_Temporary.string() << ": "
                               << ec.message());
    }
  }
}

AtomicOutput::~AtomicOutput()
{
  if (!m_Committed)
  {
    std::error_code ec;
    fs::remove_all(m_Temporary, ec);
  }
}

void
AtomicOutput::Commit()
{
  std::error_code ec;
  if (!fs::exists(m_Temporary, ec))
  {
    itkGenericExceptionMacro(<< "Nothing was written for " << m_Target.string() << " (no " << m_Temporary.string()
                             << ")");
  }
  if (m_IsDirectory && fs::exists(m_Target, ec))
  {
    // A directory cannot be renamed over a non-empty one: move the old one aside first, restore it on failure.
    const fs::path old = m_Temporary.string() + ".old";
    fs::rename(m_Target, old, ec);
    if (ec)
    {
      itkGenericExceptionMacro(<< "Cannot replace " << m_Target.string() << ": " << ec.message());
    }
    fs::rename(m_Temporary, m_Target, ec);
    if (ec)
    {
      std::error_code ignored;
      fs::rename(old, m_Target, ignored);
      itkGenericExceptionMacro(<< "Cannot move " << m_Temporary.string() << " to " << m_Target.string() << ": "
                               << ec.message());
    }
    fs::remove_all(old, ec);
  }
  else
  {
    fs::rename(m_Temporary, m_Target, ec);
    if (ec)
    {
      itkGenericExceptionMacro(<< "Cannot move " << m_Temporary.string() << " to " << m_Target.string() << ": "
                               << ec.message());
    }
  }
  m_Committed = true;
}

} // namespace torchseg
