#ifndef torchsegPredictionList_h
#define torchsegPredictionList_h

#include <cstddef>
#include <string>
#include <vector>

namespace torchseg
{

/** \brief One case of a batch prediction: the CT to segment (a file or a DICOM series directory) and where its labels
 * go, with the line of the list that named them.
 * \ingroup TorchSegInference
 */
struct PredictionCase
{
  std::string input;
  std::string output;
  int         line = 0;
};

/** Reads a prediction list: a CSV file with the header "input,output" and one case per line, as the training lists
 * ("image,label"): paths relative to the list file's directory unless absolute, blank lines and lines starting with
 * '#' skipped, fields trimmed, double quotes around a field that holds a comma, a UTF-8 byte order mark tolerated.
 * Errors (a missing or unreadable file, a wrong header, a line without two non-empty fields, an output named twice,
 * an empty list) throw itk::ExceptionObject naming the file and line. The images are not opened. */
std::vector<PredictionCase>
ReadPredictionList(const std::string & listFile);

/** \brief Part i of n of a list (0 <= i < n), as a cluster scheduler hands it out (a Slurm array task, a Kubernetes
 * indexed job).
 * \ingroup TorchSegInference
 */
struct Shard
{
  unsigned int index = 0;
  unsigned int count = 1;
};

/** Parses "i/n" (decimal, 0 <= i < n); throws std::invalid_argument saying what is wrong. */
Shard
ParseShard(const std::string & text);

/** The positions of the cases of \a shard among \a numberOfCases, in list order: round-robin, case k belongs to shard
 * k mod n (as nnU-Net's -part_id/-num_parts), so that shards differ by at most one case and together hold every case
 * once. */
std::vector<std::size_t>
SelectShard(std::size_t numberOfCases, const Shard & shard);

} // namespace torchseg

#endif
