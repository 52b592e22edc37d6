#pragma once
// The skip rule of the device tests: a test case that needs a CUDA device and finds none prints why
// and exits with 77, which CTest reports as skipped (as tests/support/shared_data.hpp does for data).

#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

namespace recdiff::test {

/// Returns when a CUDA device can be used; otherwise prints "SKIPPED: no CUDA device" and exits 77.
inline void require_cuda_device() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    std::printf("SKIPPED: no CUDA device (%s)\n",
                status != cudaSuccess ? cudaGetErrorString(status) : "0 devices");
    std::fflush(stdout);
    std::exit(77);
  }
}

}  // namespace recdiff::test
