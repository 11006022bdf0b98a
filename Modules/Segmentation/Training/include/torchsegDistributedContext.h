#ifndef torchsegDistributedContext_h
#define torchsegDistributedContext_h

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace torchseg
{

/** \brief Where a process stands in a data-parallel training and how it reaches the others, in PyTorch's terms
 * (torchrun, Slurm and Kubernetes launchers set the same environment variables).
 * \ingroup TorchSegTraining */
struct DistributedOptions
{
  int         worldSize = 1; //!< processes in all; 1: a single-process training
  int         rank = 0;      //!< this process, 0 .. worldSize-1; rank 0 hosts the rendezvous and writes the outputs
  int         localRank = 0; //!< this process among those of its machine (reported; a CUDA build would pick its GPU)
  int         localWorldSize = 0;          //!< processes on this machine (torchrun's LOCAL_WORLD_SIZE); 0: unknown
  std::string masterAddress = "127.0.0.1"; //!< host of rank 0, where the rendezvous store listens
  int         masterPort = 29500;          //!< port of the rendezvous store (free on rank 0's host)
  /** Seconds any collective operation (and the rendezvous) may wait for the other processes before this one stops
   * with an error: longer than the longest pause of one process (loading the cases, validating). A peer that dies
   * closes its connections, which stops the others at once. */
  double timeoutSeconds = 1800.0;
  /** Network interface Gloo sends through (GLOO_SOCKET_IFNAME, e.g. "eth0"); empty: the loopback interface when the
   * master address is a loopback address, else the interface of this host's name. */
  std::string socketInterface;
  /** The store at the master address is hosted by the launcher (torchrun's static rendezvous sets
   * TORCHELASTIC_USE_AGENT_STORE=True): rank 0 connects to it rather than hosting it. */
  bool useLauncherStore = false;
  /** Keys of this run in the store; a restarted launcher attempt (TORCHELASTIC_RESTART_COUNT) gets fresh ones. */
  std::string storePrefix = "torchseg";

  bool
  IsDistributed() const
  {
    return worldSize > 1;
  }

  /** The defaults, overridden by the environment variables MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK,
   * LOCAL_WORLD_SIZE, GLOO_SOCKET_IFNAME, TORCHELASTIC_USE_AGENT_STORE and TORCHELASTIC_RESTART_COUNT where they are
   * set. Throws itk::ExceptionObject naming a malformed variable. */
  static DistributedOptions
  FromEnvironment();

  /** Threads for this process when none were asked for: the hardware threads shared among the processes of this
   * machine when localWorldSize is known, else all of them. */
  int
  GetDefaultNumberOfThreads() const;

  /** Throws itk::ExceptionObject naming the value at fault (rank outside the world, port, timeout). */
  void
  Validate() const;
};

std::ostream &
operator<<(std::ostream & os, const DistributedOptions & o);

/** \class DistributedContext
 * \brief The process group of a data-parallel training: LibTorch's c10d Gloo backend over TCP, with rendezvous
 * through a c10d TCPStore hosted by rank 0. It broadcasts rank 0's tensors, averages gradients with bucketed
 * all-reduces, sums and gathers small tensors; every operation waits at most the timeout.
 *
 * Every failure (a peer that died, hung past the timeout, or cannot be reached; ranks started with other settings)
 * is an itk::ExceptionObject naming this rank, the operation and the timeout. Every rank must call the same
 * operations in the same order, as with any collective library. Tensors are on the CPU.
 * \ingroup TorchSegTraining
 */
class DistributedContext
{
public:
  /** Joins the other processes: returns once all worldSize processes have connected to rank 0's store and to each
   * other, or throws after the timeout. With a world size of 1 it connects to nothing and every operation below is
   * the identity. */
  explicit DistributedContext(const DistributedOptions & options);
  ~DistributedContext();
  DistributedContext(const DistributedContext &) = delete;
  DistributedContext &
  operator=(const DistributedContext &) = delete;

  /** True when this build has LibTorch's Gloo backend (the gloo headers were found). */
  static bool
  IsAvailable();

  const DistributedOptions &
  GetOptions() const;
  int
  GetRank() const;
  int
  GetWorldSize() const;

  /** Gradients are all-reduced in buckets of about this many bytes (default 4 MiB), all in flight at once. */
  void
  SetBucketBytes(std::size_t bytes);
  std::size_t
  GetBucketBytes() const;

  /** Copies rank 0's values into the tensors of every rank, in place (same shapes and types everywhere; flattened
   * into one message per type). */
  void
  Broadcast(const std::vector<torch::Tensor> & tensors);

  /** Replaces the gradient of every parameter by its mean over the ranks: gradients flattened into buckets of about
   * GetBucketBytes() (in reverse order, as PyTorch's DistributedDataParallel), each bucket summed by an all-reduce,
   * divided by the world size and copied back. A parameter without a gradient contributes zeros and keeps none. */
  void
  AverageGradients(const std::vector<torch::Tensor> & parameters);

  /** Element-wise sum over the ranks, in place. */
  void
  Sum(torch::Tensor & tensor);

  /** Every rank's tensor (the same shape on every rank), in rank order. */
  std::vector<torch::Tensor>
  AllGather(const torch::Tensor & tensor);

  /** Rank 0's bytes, on every rank (other ranks pass anything). */
  std::string
  BroadcastBytes(const std::string & bytes);

  /** Throws on every rank, naming the ranks whose \a value differs from rank 0's, unless all ranks pass the same
   * \a value (e.g. a hash of their settings); \a what says what was compared. */
  void
  CheckSameOnEveryRank(uint64_t value, const std::string & what);

  /** Returns once every rank has called it. */
  void
  Barrier();

private:
  struct Impl;
  std::unique_ptr<Impl> m_Impl;
};

} // namespace torchseg

#endif
