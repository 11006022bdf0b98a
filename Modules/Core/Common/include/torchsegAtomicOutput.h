#ifndef torchsegAtomicOutput_h
#define torchsegAtomicOutput_h

#include <filesystem>
#include <string>

namespace torchseg
{

/** The extension of a file name including compound ones: ".nii.gz", ".seg.nrrd", ".mha"; "" when there is none. */
std::string
GetFullExtension(const std::filesystem::path & path);

/** \class AtomicOutput
 * \brief Writes an output file (or directory) under a temporary name beside its target, then renames it into place.
 *
 * A failed or interrupted run therefore never leaves a partial output, and the target is replaced in one step.
 * The temporary name keeps the target's extension so that ITK picks the same ImageIO for it.
 * The destructor removes the temporary unless Commit() was called.
 * \ingroup TorchSegCommon
 */
class AtomicOutput
{
public:
  /** Throws itk::ExceptionObject, naming the path, when the target's directory does not exist. */
  explicit AtomicOutput(std::filesystem::path target, bool isDirectory = false);
  ~AtomicOutput();
  AtomicOutput(const AtomicOutput &) = delete;
  AtomicOutput &
  operator=(const AtomicOutput &) = delete;

  const std::filesystem::path &
  GetTemporaryPath() const
  {
    return m_Temporary;
  }
  const std::filesystem::path &
  GetTargetPath() const
  {
    return m_Target;
  }

  /** Moves the temporary into place, replacing an existing target. */
  void
  Commit();

private:
  std::filesystem::path m_Target;
  std::filesystem::path m_Temporary;
  bool                  m_IsDirectory = false;
  bool                  m_Committed = false;
};

} // namespace torchseg

#endif
