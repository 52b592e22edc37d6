// Must NOT compile: recdiff/backend/cuda.hpp included by the host compiler stops with its #error
// ("recdiff/backend/cuda.hpp needs nvcc") instead of failing somewhere inside CUDA headers.
#include <recdiff/backend/cuda.hpp>

int main() { return 0; }
