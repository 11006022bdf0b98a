#ifndef torchsegDenseCRFVectorize_h
#define torchsegDenseCRFVectorize_h

// The hot loops of the dense CRF are compiled twice, for x86-64-v3 (AVX2, FMA) and for the baseline, and the loader
// picks the clone the processor runs (GCC function multi-versioning): the build stays portable while the 8-wide
// loops run where they can. Private to the module's sources.
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__) && !defined(__clang__)
#  define TORCHSEG_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#  define TORCHSEG_VECTOR_CLONES
#endif

#endif
