#ifndef torchsegImageIOPrivate_h
#define torchsegImageIOPrivate_h

#include "torchsegImageIO.h"

#include <cstddef>
#include <functional>
#include <string>

namespace torchseg
{
namespace detail
{

/** Calls \a body(i) for i in [0, count) on ITK's global default number of threads. Plain std::threads rather than
 * ITK's pool, so that a reader or writer called from inside a pool task (a pipeline, a parallel loop over cases)
 * cannot wait on work queued behind itself. */
void
ParallelFor(std::size_t count, const std::function<void(std::size_t)> & body);

/** Collapses a (multi-line) message into one line: newlines and runs of blanks become one space. */
std::string
OneLine(const std::string & text);

/** The lower-case full extension of a path (".nii.gz", ".seg.nrrd", ".mha"). */
std::string
LowerCaseExtension(const std::string & path);

/** True when \a path starts like a DICOM Part 10 file (the "DICM" magic after the 128-byte preamble). */
bool
LooksLikeDICOMFile(const std::string & path);

/** The SeriesInstanceUID of one DICOM file, or "" when it is not a DICOM file with one. */
std::string
ReadDICOMFileSeriesInstanceUID(const std::string & path);

/** Reads the CT series \a seriesInstanceUID (or the largest CT series) of \a directory; see ReadCTImage(). */
CTImageType::Pointer
ReadDICOMSeriesDirectory(const std::string & directory, const std::string & seriesInstanceUID);

/** Silences DCMTK's console logger (the toolkit reports DICOM problems as exceptions) and checks that its data
 * dictionary is loaded; idempotent and thread-safe. */
void
InitializeDCMTK();

} // namespace detail
} // namespace torchseg

#endif
