#pragma once
// A minimal harness for the device tests (.cu, own main, no Catch2): checks that count failures, and
// the skip rule (exit 77, which CTest reports as skipped) when no CUDA device is present.

#include <cuda_runtime.h>

#include <cstdio>

namespace recdiff::test {

inline int gpu_failures = 0;

/// True when a CUDA device can be used; prints the skip message otherwise.
inline bool cuda_device_present() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    std::printf("SKIPPED: no CUDA device (%s)\n",
                status != cudaSuccess ? cudaGetErrorString(status) : "0 devices");
    return false;
  }
  return true;
}

/// The exit code of a test main: 0 when every check passed, 1 otherwise.
inline int gpu_result(const char* test) {
  if (gpu_failures == 0) std::printf("%s: all checks passed\n", test);
  else std::printf("%s: %d check(s) FAILED\n", test, gpu_failures);
  return gpu_failures == 0 ? 0 : 1;
}

}  // namespace recdiff::test

/// Records a failure (with the expression and line) when `cond` is false.
#define GPU_CHECK(cond)                                                             \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      ++::recdiff::test::gpu_failures;                                              \
      std::printf("%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);          \
    }                                                                               \
  } while (0)
