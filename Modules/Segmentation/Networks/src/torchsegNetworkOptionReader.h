#ifndef torchsegNetworkOptionReader_h
#define torchsegNetworkOptionReader_h

#include "torchsegSegmentationNetwork.h"

#include <string>
#include <vector>

namespace torchseg
{

/** \brief Reads the architecture options of a NetworkOptions: each read names a key, its default and its allowed
 * values; Finish() rejects any key nobody read and stores the options back with every default filled in, so that a
 * model file records everything. Errors are itk::ExceptionObject naming the architecture, the key and the value.
 * \ingroup TorchSegNetworks
 */
class NetworkOptionReader
{
public:
  explicit NetworkOptionReader(NetworkOptions & options);

  int
  Integer(const std::string & key, int defaultValue, int minimum, int maximum);
  /** An integer from a fixed set (e.g. outputStride 8 or 16). */
  int
  IntegerChoice(const std::string & key, int defaultValue, const std::vector<int> & allowed);
  double
  Real(const std::string & key, double defaultValue, double minimum, double maximum);
  bool
  Boolean(const std::string & key, bool defaultValue);
  std::string
  Choice(const std::string & key, const std::string & defaultValue, const std::vector<std::string> & allowed);

  /** Throws for the first key that was not read; writes the filled options back. */
  void
  Finish();

  /** Throws "<architecture>: option <key> = <value> <reason>". */
  [[noreturn]] void
  Fail(const std::string & key, const std::string & reason) const;

private:
  const nlohmann::json *
  Find(const std::string & key);

  NetworkOptions &         m_Options;
  nlohmann::json           m_Given;
  nlohmann::json           m_Filled = nlohmann::json::object();
  std::vector<std::string> m_Read;
};

struct BackboneOptions;

/** Reads the keys "backbone", "width" and "outputStride" shared by the networks built on a backbone. */
BackboneOptions
ReadBackboneOptions(NetworkOptionReader & reader, const NetworkOptions & options, const std::string & defaultName,
                    const std::vector<std::string> & allowedNames, int defaultStride,
                    const std::vector<int> & allowedStrides);

} // namespace torchseg

#endif
