#include "torchsegPhantomRandom.h"

#include "itkMacro.h"

#include <cmath>
#include <limits>

namespace torchseg
{

PhantomRandom::PhantomRandom(uint64_t seed)
  : m_Engine(seed)
{}

uint64_t
PhantomRandom::Mix(uint64_t a, uint64_t b)
{
  // SplitMix64 finalizer over both words: different pairs give unrelated streams.
  uint64_t z = a + 0x9E3779B97F4A7C15ULL * (b + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  z += 0x9E3779B97F4A7C15ULL * (a ^ 0xD1B54A32D192ED03ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t
PhantomRandom::Next()
{
  return m_Engine();
}

double
PhantomRandom::Uniform()
{
  return static_cast<double>(m_Engine() >> 11) * 0x1.0p-53;
}

double
PhantomRandom::Uniform(double low, double high)
{
  return low + (high - low) * this->Uniform();
}

double
PhantomRandom::LogUniform(double low, double high)
{
  return std::exp(this->Uniform(std::log(low), std::log(high)));
}

double
PhantomRandom::Normal(double mean, double sigma)
{
  if (m_HasSpareNormal)
  {
    m_HasSpareNormal = false;
    return mean + sigma * m_SpareNormal;
  }
  // 1 - Uniform() lies in (0, 1], so the logarithm is finite.
  const double u1 = 1.0 - this->Uniform();
  const double u2 = this->Uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * 3.14159265358979323846 * u2;
  m_SpareNormal = r * std::sin(angle);
  m_HasSpareNormal = true;
  return mean + sigma * r * std::cos(angle);
}

double
PhantomRandom::ClampedNormal(double mean, double sigma, double low, double high)
{
  const double v = this->Normal(mean, sigma);
  return v < low ? low : (v > high ? high : v);
}

double
PhantomRandom::Triangular(double low, double mode, double high)
{
  const double u = this->Uniform();
  const double split = (mode - low) / (high - low);
  if (u < split)
  {
    return low + std::sqrt(u * (high - low) * (mode - low));
  }
  return high - std::sqrt((1.0 - u) * (high - low) * (high - mode));
}

int64_t
PhantomRandom::Integer(int64_t low, int64_t high)
{
  if (high < low)
  {
    itkGenericExceptionMacro(<< "PhantomRandom::Integer: empty range [" << low << ", " << high << "]");
  }
  const uint64_t range = static_cast<uint64_t>(high - low) + 1;
  if (range == 0)
  {
    return static_cast<int64_t>(m_Engine());
  }
  // Rejection of the incomplete last block removes the modulo bias.
  const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % range;
  uint64_t       v = m_Engine();
  while (v >= limit)
  {
    v = m_Engine();
  }
  return low + static_cast<int64_t>(v % range);
}

bool
PhantomRandom::Bernoulli(double p)
{
  return this->Uniform() < p;
}

std::size_t
PhantomRandom::Choice(const std::vector<double> & weights)
{
  double total = 0.0;
  for (const double w : weights)
  {
    if (!(w >= 0.0))
    {
      itkGenericExceptionMacro(<< "PhantomRandom::Choice: negative weight " << w);
    }
    total += w;
  }
  if (!(total > 0.0))
  {
    itkGenericExceptionMacro(<< "PhantomRandom::Choice: the weights sum to zero");
  }
  double u = this->Uniform() * total;
  for (std::size_t i = 0; i < weights.size(); ++i)
  {
    if (u < weights[i])
    {
      return i;
    }
    u -= weights[i];
  }
  // Rounding can leave u just above the last partial sum.
  std::size_t last = weights.size() - 1;
  while (weights[last] == 0.0)
  {
    --last;
  }
  return last;
}

double
PhantomRandom::Sign()
{
  return (m_Engine() >> 63) ? 1.0 : -1.0;
}

} // namespace torchseg
