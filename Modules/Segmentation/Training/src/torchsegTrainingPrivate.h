#ifndef torchsegTrainingPrivate_h
#define torchsegTrainingPrivate_h

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cstdint>
#include <random>
#include <string>

#ifdef _OPENMP
#  include <omp.h>
#endif

namespace torchseg
{
namespace detail
{

/** Makes LibTorch operators called from the current (helper) thread run on that thread alone, so background data
 * workers do not spawn OpenMP teams that compete with the training thread. For threads this library starts only: on
 * a caller's thread use ScopedOneTorchThread. With the OpenMP backend the thread count
 * is a per-thread setting; LibTorch initialises it lazily from its global count on a thread's first parallel call,
 * hence the explicit initialisation first. */
inline void
UseOneTorchThreadHere()
{
  at::init_num_threads();
#ifdef _OPENMP
  omp_set_num_threads(1);
#endif
}

/** Runs the LibTorch operators of the current thread on that thread alone while it lives, then gives the thread its
 * own count back. For work a thread does between its own parallel work (the training thread making a batch or loading
 * a case): an OpenMP thread count is a per-thread setting that would otherwise stay at one, and results of parallel
 * reductions depend on the thread count. */
class ScopedOneTorchThread
{
public:
  ScopedOneTorchThread()
    : m_Previous(at::get_num_threads()) // also LibTorch's lazy per-thread initialisation, which would undo ours later
  {
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
  }
  ~ScopedOneTorchThread()
  {
#ifdef _OPENMP
    omp_set_num_threads(m_Previous);
#endif
  }
  ScopedOneTorchThread(const ScopedOneTorchThread &) = delete;
  ScopedOneTorchThread &
  operator=(const ScopedOneTorchThread &) = delete;

private:
  int m_Previous;
};

/** FNV-1a: a hash of a string that is the same on every run (std::hash need not be). */
inline uint64_t
StableHash(const std::string & text)
{
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text)
  {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

/** A random engine seeded from several integers (seed, epoch, sample index, purpose), independent of thread
 * scheduling. */
inline std::mt19937_64
MakeEngine(std::initializer_list<uint64_t> keys)
{
  std::vector<uint32_t> words;
  for (uint64_t k : keys)
  {
    words.push_back(static_cast<uint32_t>(k));
    words.push_back(static_cast<uint32_t>(k >> 32));
  }
  std::seed_seq sequence(words.begin(), words.end());
  return std::mt19937_64(sequence);
}

/** A LibTorch generator for the random tensors of one sample (never the global one, which threads would share). */
inline at::Generator
MakeTorchGenerator(uint64_t seed)
{
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

} // namespace detail
} // namespace torchseg

#endif
