#ifndef torchsegDefaultInitAllocator_h
#define torchsegDefaultInitAllocator_h

#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace torchseg
{
namespace crf
{

/** A std::allocator whose construct() default-initialises: std::vector::resize() then leaves plain numbers unwritten,
 * so that the work units that fill a large array (per-voxel lattice data, messages) are the first to touch its pages,
 * and nothing writes it twice. (A page fault costs about a microsecond on the development VM, more than writing the
 * page: the arrays of a 512 x 512 x 100 volume take half a million of them.) */
template <typename T>
class DefaultInitAllocator : public std::allocator<T>
{
public:
  template <typename U>
  struct rebind
  {
    using other = DefaultInitAllocator<U>;
  };

  DefaultInitAllocator() = default;
  template <typename U>
  DefaultInitAllocator(const DefaultInitAllocator<U> & other) noexcept
    : std::allocator<T>(other)
  {}

  template <typename U>
  void
  construct(U * p) noexcept(std::is_nothrow_default_constructible<U>::value)
  {
    ::new (static_cast<void *>(p)) U;
  }
  template <typename U, typename... TArgs>
  void
  construct(U * p, TArgs &&... args)
  {
    ::new (static_cast<void *>(p)) U(std::forward<TArgs>(args)...);
  }
};

/** The large arrays of the dense CRF: resize() does not initialise them (assign() and the constructor with a value
 * do). */
template <typename T>
using LargeVector = std::vector<T, DefaultInitAllocator<T>>;

} // namespace crf
} // namespace torchseg

#endif
