#ifndef torchsegDisplayProbe_h
#define torchsegDisplayProbe_h

namespace torchseg
{
namespace detail
{

/** A connection to the X display \a name that stays open for the life of the process (nullptr when it cannot be
 * opened after a few tries), to be handed to VTK's render windows with SetDisplayId().
 *
 * Why one shared connection: an X server resets when its last client disconnects, and connections attempted during
 * the reset fail; VTK 9.1 then calls abort(). Keeping one connection open avoids the reset between our own windows,
 * and the retries cover a reset left by a previous process (ctest starts one per test). Kept in its own
 * translation unit: Xlib's macros clash with C++ names such as None and Status. */
void *
GetXDisplayConnection(const char * name);

} // namespace detail
} // namespace torchseg

#endif
