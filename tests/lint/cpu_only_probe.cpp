// Preprocessed by the host compiler with -M (cpu_only_headers.cmake): the umbrella header and the
// CUDA entry point's guard must pull in no CUDA header when nvcc is not the compiler.
#include <recdiff/recdiff.hpp>
