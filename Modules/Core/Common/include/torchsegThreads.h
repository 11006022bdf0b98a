#ifndef torchsegThreads_h
#define torchsegThreads_h

namespace torchseg
{

/** The number of threads to use: \a requested when positive, otherwise all hardware threads. */
int
ResolveNumberOfThreads(int requested);

/** Sets ITK's global default thread count (and work units) to ResolveNumberOfThreads(requested); returns it.
 * LibTorch's own pools are set by SetTorchNumberOfThreads() in TorchSegTensorBridge. */
int
SetITKNumberOfThreads(int requested);

} // namespace torchseg

#endif
