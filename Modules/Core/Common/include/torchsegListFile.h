#ifndef torchsegListFile_h
#define torchsegListFile_h

#include <string>
#include <vector>

namespace torchseg
{

/** One line of a two-column list file: the fields resolved to paths, and the line number (1-based) for messages. */
struct ListFileEntry
{
  std::string first;
  std::string second;
  int         line = 0;
};

/** \brief Reads a list file of path pairs: a CSV with a two-field header (e.g. "image,label") and one pair per line.
 *
 * The one reader of TorchSegTrain's case lists and TorchSegPredict's prediction lists. Blank lines and lines starting
 * with '#' are skipped, a UTF-8 byte order mark (spreadsheets write one) is ignored, fields are trimmed and may be
 * double-quoted (commas inside quotes, "" for a quote). Relative paths are relative to the list file's directory;
 * every path is lexically normalised. Files are not opened.
 *
 * Errors throw itk::ExceptionObject naming \a what ("case list", "prediction list"), the file and the line: a missing
 * or unreadable file, a wrong header, a line without two non-empty fields, a list without any pair.
 * \ingroup TorchSegCommon
 */
std::vector<ListFileEntry>
ReadListFile(const std::string & listFile, const std::string & what, const std::string & firstColumn,
             const std::string & secondColumn);

} // namespace torchseg

#endif
