#include "torchsegDistributedContext.h"

#include "torchsegTensorBridge.h"
#include "torchsegThreads.h"

#include "itkMacro.h"

#include <torch/torch.h>

#ifdef TORCHSEG_WITH_GLOO
#  include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#  include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#  include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>

namespace torchseg
{

namespace
{

// An integer environment variable, or \a fallback when it is not set.
int
IntegerFromEnvironment(const char * name, int fallback)
{
  const char * text = std::getenv(name);
  if (!text || !*text)
  {
    return fallback;
  }
  char *     end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < 0 || value > 1000000)
  {
    itkGenericExceptionMacro(<< "Environment variable " << name << "=\"" << text << "\" is not a non-negative integer");
  }
  return static_cast<int>(value);
}

std::string
StringFromEnvironment(const char * name, const std::string & fallback)
{
  const char * text = std::getenv(name);
  return text && *text ? std::string(text) : fallback;
}

bool
IsLoopback(const std::string & host)
{
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

} // namespace

DistributedOptions
DistributedOptions::FromEnvironment()
{
  DistributedOptions o;
  o.masterAddress = StringFromEnvironment("MASTER_ADDR", o.masterAddress);
  o.masterPort = IntegerFromEnvironment("MASTER_PORT", o.masterPort);
  o.worldSize = IntegerFromEnvironment("WORLD_SIZE", o.worldSize);
  o.rank = IntegerFromEnvironment("RANK", o.rank);
  o.localRank = IntegerFromEnvironment("LOCAL_RANK", o.localRank);
  o.localWorldSize = IntegerFromEnvironment("LOCAL_WORLD_SIZE", o.localWorldSize);
  o.socketInterface = StringFromEnvironment("GLOO_SOCKET_IFNAME", o.socketInterface);
  o.useLauncherStore = StringFromEnvironment("TORCHELASTIC_USE_AGENT_STORE", "") == "True";
  o.storePrefix += "/attempt_" + std::to_string(IntegerFromEnvironment("TORCHELASTIC_RESTART_COUNT", 0));
  return o;
}

int
DistributedOptions::GetDefaultNumberOfThreads() const
{
  const int hardware = ResolveNumberOfThreads(0);
  return localWorldSize > 1 ? std::max(1, hardware / localWorldSize) : hardware;
}

void
DistributedOptions::Validate() const
{
  if (worldSize < 1 || worldSize > 65536)
  {
    itkGenericExceptionMacro(<< "World size " << worldSize << " is not in 1..65536");
  }
  if (rank < 0 || rank >= worldSize)
  {
    itkGenericExceptionMacro(<< "Rank " << rank << " is not in 0.." << worldSize - 1 << " (world size " << worldSize
                             << ")");
  }
  if (localRank < 0 || localRank >= worldSize)
  {
    itkGenericExceptionMacro(<< "Local rank " << localRank << " is not in 0.." << worldSize - 1);
  }
  if (IsDistributed())
  {
    if (masterAddress.empty())
    {
      itkGenericExceptionMacro(<< "No master address given (MASTER_ADDR or --masterAddress)");
    }
    if (masterPort < 1 || masterPort > 65535)
    {
      itkGenericExceptionMacro(<< "Master port " << masterPort << " is not in 1..65535");
    }
  }
  if (!(timeoutSeconds > 0.0) || !std::isfinite(timeoutSeconds) || timeoutSeconds > 7.0 * 24 * 3600)
  {
    itkGenericExceptionMacro(<< "Distributed timeout " << timeoutSeconds << " s is not positive (at most a week)");
  }
}

std::ostream &
operator<<(std::ostream & os, const DistributedOptions & o)
{
  return os << "rank " << o.rank << " of " << o.worldSize << " (local rank " << o.localRank << "), master "
            << o.masterAddress << ":" << o.masterPort << ", timeout " << o.timeoutSeconds << " s"
            << (o.socketInterface.empty() ? std::string() : ", interface " + o.socketInterface)
            << (o.useLauncherStore ? ", the launcher's store" : "");
}

struct DistributedContext::Impl
{
  DistributedOptions options;
  std::size_t        bucketBytes = 4u << 20;
#ifdef TORCHSEG_WITH_GLOO
  c10::intrusive_ptr<c10d::Store>        store;
  c10::intrusive_ptr<c10d::ProcessGroup> group;
#endif

  [[noreturn]] void
  Fail(const std::string & operation, const std::exception & error) const
  {
    std::ostringstream context;
    context << "Distributed training, rank " << options.rank << " of " << options.worldSize << ": " << operation
            << " failed (another process died, hung for the " << options.timeoutSeconds
            << " s timeout, or cannot be reached)";
    ThrowTorchError(error, context.str());
  }

#ifdef TORCHSEG_WITH_GLOO
  void
  Wait(const c10::intrusive_ptr<c10d::Work> & work, const std::string & operation) const
  {
    try
    {
      work->wait();
    }
    catch (const std::exception & e)
    {
      this->Fail(operation, e);
    }
  }
#endif
};

DistributedContext::DistributedContext(const DistributedOptions & options)
  : m_Impl(std::make_unique<Impl>())
{
  options.Validate();
  m_Impl->options = options;
  if (!options.IsDistributed())
  {
    return; // every operation is the identity
  }
#ifdef TORCHSEG_WITH_GLOO
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(std::ceil(options.timeoutSeconds * 1000.0)));
  try
  {
    c10d::TCPStoreOptions storeOptions;
    storeOptions.port = static_cast<std::uint16_t>(options.masterPort);
    storeOptions.isServer = options.rank == 0 && !options.useLauncherStore;
    storeOptions.numWorkers = static_cast<std::size_t>(options.worldSize);
    storeOptions.waitWorkers = !options.useLauncherStore;
    storeOptions.timeout = timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(options.masterAddress, storeOptions);
    m_Impl->store = c10::make_intrusive<c10d::PrefixStore>(options.storePrefix, tcp);

    auto glooOptions = c10d::ProcessGroupGloo::Options::create(timeout);
    if (!options.socketInterface.empty())
    {
      glooOptions->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(options.socketInterface));
    }
    else if (IsLoopback(options.masterAddress))
    {
      glooOptions->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    }
    else
    {
      glooOptions->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    glooOptions->threads = 2;
    m_Impl->group =
      c10::make_intrusive<c10d::ProcessGroupGloo>(m_Impl->store, options.rank, options.worldSize, glooOptions);
  }
  catch (const itk::ExceptionObject &)
  {
    throw;
  }
  catch (const std::exception & e)
  {
    std::ostringstream context;
    context << "Distributed training, rank " << options.rank << " of " << options.worldSize
            << ": cannot join the other processes through " << options.masterAddress << ":" << options.masterPort
            << " within " << options.timeoutSeconds << " s";
    ThrowTorchError(e, context.str());
  }
#else
  itkGenericExceptionMacro(<< "Distributed training (world size " << options.worldSize
                           << ") needs LibTorch's Gloo backend: this build found no gloo headers (Debian package "
                              "libgloo-dev); install it and configure again");
#endif
}

DistributedContext::~DistributedContext() = default;

bool
DistributedContext::IsAvailable()
{
#ifdef TORCHSEG_WITH_GLOO
  return true;
#else
  return false;
#endif
}

const DistributedOptions &
DistributedContext::GetOptions() const
{
  return m_Impl->options;
}

int
DistributedContext::GetRank() const
{
  return m_Impl->options.rank;
}

int
DistributedContext::GetWorldSize() const
{
  return m_Impl->options.worldSize;
}

void
DistributedContext::SetBucketBytes(std::size_t bytes)
{
  m_Impl->bucketBytes = std::max<std::size_t>(bytes, 1);
}

std::size_t
DistributedContext::GetBucketBytes() const
{
  return m_Impl->bucketBytes;
}

void
DistributedContext::Broadcast(const std::vector<torch::Tensor> & tensors)
{
  if (this->GetWorldSize() == 1)
  {
    return;
  }
#ifdef TORCHSEG_WITH_GLOO
  torch::NoGradGuard noGrad;
  // One message per type: the tensors of that type flattened.
  std::map<torch::ScalarType, std::vector<torch::Tensor>> byType;
  for (const auto & t : tensors)
  {
    byType[t.scalar_type()].push_back(t);
  }
  for (auto & [type, members] : byType)
  {
    std::vector<torch::Tensor> flat;
    for (const auto & t : members)
    {
      flat.push_back(t.detach().reshape(-1));
    }
    std::vector<torch::Tensor> message{ torch::cat(flat) };
    try
    {
      m_Impl->Wait(m_Impl->group->broadcast(message), "broadcast from rank 0");
    }
    catch (const itk::ExceptionObject &)
    {
      throw;
    }
    catch (const std::exception & e)
    {
      m_Impl->Fail("broadcast from rank 0", e);
    }
    int64_t offset = 0;
    for (auto & t : members)
    {
      t.detach().copy_(message[0].narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
#endif
}

void
DistributedContext::AverageGradients(const std::vector<torch::Tensor> & parameters)
{
  if (this->GetWorldSize() == 1)
  {
    return;
  }
#ifdef TORCHSEG_WITH_GLOO
  torch::NoGradGuard noGrad;
  struct Bucket
  {
    std::vector<std::size_t>       members;
    torch::Tensor                  flat;
    c10::intrusive_ptr<c10d::Work> work;
    std::vector<torch::Tensor>     message;
  };
  // Buckets of consecutive parameters of one type, from the last parameter back: the order in which backward
  // produces the gradients, so that the layout matches PyTorch's (and a later overlap with backward keeps it).
  std::vector<Bucket> buckets;
  std::size_t         bytes = 0;
  for (std::size_t k = parameters.size(); k-- > 0;)
  {
    const torch::Tensor & p = parameters[k];
    const std::size_t     size = static_cast<std::size_t>(p.numel()) * p.element_size();
    if (buckets.empty() || bytes + size > m_Impl->bucketBytes ||
        parameters[buckets.back().members.front()].scalar_type() != p.scalar_type())
    {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().members.push_back(k);
    bytes += size;
  }
  try
  {
    // Every bucket in flight at once: Gloo's threads reduce one while the next is sent.
    for (auto & b : buckets)
    {
      std::vector<torch::Tensor> flat;
      for (std::size_t k : b.members)
      {
        const torch::Tensor & p = parameters[k];
        flat.push_back(p.grad().defined() ? p.grad().reshape(-1) : torch::zeros({ p.numel() }, p.options()));
      }
      b.message = { torch::cat(flat) };
      b.work = m_Impl->group->allreduce(b.message);
    }
  }
  catch (const std::exception & e)
  {
    m_Impl->Fail("all-reduce of the gradients", e);
  }
  const double scale = 1.0 / static_cast<double>(this->GetWorldSize());
  for (auto & b : buckets)
  {
    m_Impl->Wait(b.work, "all-reduce of the gradients");
    torch::Tensor & sum = b.message[0];
    sum.mul_(scale);
    int64_t offset = 0;
    for (std::size_t k : b.members)
    {
      const torch::Tensor & p = parameters[k];
      if (p.grad().defined())
      {
        p.grad().copy_(sum.narrow(0, offset, p.numel()).view(p.grad().sizes()));
      }
      offset += p.numel();
    }
  }
#endif
}

void
DistributedContext::Sum(torch::Tensor & tensor)
{
  if (this->GetWorldSize() == 1)
  {
    return;
  }
#ifdef TORCHSEG_WITH_GLOO
  std::vector<torch::Tensor> message{ tensor.contiguous() };
  try
  {
    m_Impl->Wait(m_Impl->group->allreduce(message), "all-reduce (sum)");
  }
  catch (const itk::ExceptionObject &)
  {
    throw;
  }
  catch (const std::exception & e)
  {
    m_Impl->Fail("all-reduce (sum)", e);
  }
  if (!message[0].is_same(tensor))
  {
    tensor.copy_(message[0]);
  }
#endif
}

std::vector<torch::Tensor>
DistributedContext::AllGather(const torch::Tensor & tensor)
{
  if (this->GetWorldSize() == 1)
  {
    return { tensor.clone() };
  }
  std::vector<torch::Tensor> result;
#ifdef TORCHSEG_WITH_GLOO
  std::vector<std::vector<torch::Tensor>> outputs(1);
  for (int r = 0; r < this->GetWorldSize(); ++r)
  {
    outputs[0].push_back(torch::empty_like(tensor, torch::MemoryFormat::Contiguous));
  }
  std::vector<torch::Tensor> input{ tensor.contiguous() };
  try
  {
    m_Impl->Wait(m_Impl->group->allgather(outputs, input), "all-gather");
  }
  catch (const itk::ExceptionObject &)
  {
    throw;
  }
  catch (const std::exception & e)
  {
    m_Impl->Fail("all-gather", e);
  }
  result = outputs[0];
#endif
  return result;
}

std::string
DistributedContext::BroadcastBytes(const std::string & bytes)
{
  if (this->GetWorldSize() == 1)
  {
    return bytes;
  }
  torch::Tensor size = torch::tensor({ static_cast<int64_t>(this->GetRank() == 0 ? bytes.size() : 0) }, torch::kLong);
  this->Broadcast({ size });
  torch::Tensor data = torch::empty({ size.item<int64_t>() }, torch::kUInt8);
  if (this->GetRank() == 0 && !bytes.empty())
  {
    std::memcpy(data.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  }
  if (data.numel() > 0)
  {
    this->Broadcast({ data });
  }
  return std::string(reinterpret_cast<const char *>(data.data_ptr<uint8_t>()), static_cast<std::size_t>(data.numel()));
}

void
DistributedContext::CheckSameOnEveryRank(uint64_t value, const std::string & what)
{
  int64_t signedValue = 0;
  std::memcpy(&signedValue, &value, sizeof(value));
  const std::vector<torch::Tensor> all = this->AllGather(torch::tensor({ signedValue }, torch::kLong));
  std::ostringstream               differing;
  int                              count = 0;
  for (std::size_t r = 1; r < all.size(); ++r)
  {
    if (all[r].item<int64_t>() != all[0].item<int64_t>())
    {
      differing << (count++ ? ", " : "") << r;
    }
  }
  if (count > 0)
  {
    itkGenericExceptionMacro(<< "Distributed training, rank " << this->GetRank() << " of " << this->GetWorldSize()
                             << ": the " << what << " of rank" << (count > 1 ? "s " : " ") << differing.str()
                             << " differ from rank 0's; start every process with the same settings and data");
  }
}

void
DistributedContext::Barrier()
{
  if (this->GetWorldSize() == 1)
  {
    return;
  }
#ifdef TORCHSEG_WITH_GLOO
  try
  {
    m_Impl->Wait(m_Impl->group->barrier(), "barrier");
  }
  catch (const itk::ExceptionObject &)
  {
    throw;
  }
  catch (const std::exception & e)
  {
    m_Impl->Fail("barrier", e);
  }
#endif
}

} // namespace torchseg
