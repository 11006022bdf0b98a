#ifndef torchsegPhantomRandom_h
#define torchsegPhantomRandom_h

#include <cstdint>
#include <random>
#include <vector>

namespace torchseg
{

/** \class PhantomRandom
 * \brief A random generator whose sequences are the same with every standard library and on every machine.
 *
 * The engine is std::mt19937_64, whose output the C++ standard fixes. The std:: distributions are not fixed (each
 * library implements them its own way), so every distribution here is explicit code on the engine's raw 64-bit
 * outputs: the phantom of a (seed, case) pair is the same wherever it is generated.
 * \ingroup TorchSegPhantom
 */
class PhantomRandom
{
public:
  explicit PhantomRandom(uint64_t seed);

  /** A well-mixed 64-bit value of two inputs (SplitMix64 finalizer), to derive independent streams:
   * PhantomRandom(PhantomRandom::Mix(seed, caseIndex)). */
  static uint64_t
  Mix(uint64_t a, uint64_t b);

  /** The engine's next raw output. */
  uint64_t
  Next();

  /** Uniform in [0, 1), 53 random bits. */
  double
  Uniform();

  /** Uniform in [low, high). */
  double
  Uniform(double low, double high);

  /** exp(Uniform(log low, log high)): scale parameters such as radii. */
  double
  LogUniform(double low, double high);

  /** Normal deviate (Box-Muller; the second value of each pair is kept for the next call). */
  double
  Normal(double mean = 0.0, double sigma = 1.0);

  /** Normal deviate clamped to [low, high]. */
  double
  ClampedNormal(double mean, double sigma, double low, double high);

  /** Triangular distribution on [low, high] with the given mode. */
  double
  Triangular(double low, double mode, double high);

  /** Uniform integer in [low, high] (inclusive), without modulo bias. */
  int64_t
  Integer(int64_t low, int64_t high);

  /** True with probability p. */
  bool
  Bernoulli(double p);

  /** An index drawn with probability proportional to \a weights (non-negative, not all zero). */
  std::size_t
  Choice(const std::vector<double> & weights);

  /** +1 or -1 with equal probability. */
  double
  Sign();

private:
  std::mt19937_64 m_Engine;
  double          m_SpareNormal = 0.0;
  bool            m_HasSpareNormal = false;
};

} // namespace torchseg

#endif
