// diffrec_cuda: examples/diffrec/main.cpp compiled by nvcc with RECDIFF_EXAMPLE_CUDA defined, so that
// `--backend cuda` (the default here) runs the same program on CudaBackend.
#include "main.cpp"
