#pragma once
/// @file
/// RECDIFF_CUDA_CHECK / RECDIFF_CUBLAS_CHECK: every CUDA runtime and cuBLAS status of the backend goes
/// through these and a failure throws recdiff::CudaError naming the call, file:line and the reason.

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <recdiff/backend/cuda/plan/error_message.hpp>
#include <recdiff/error.hpp>

namespace recdiff::cuda {

/// Throws CudaError unless `status` is cudaSuccess.
inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess)
    throw CudaError(cuda_error_message("CUDA", call, file, line, cudaGetErrorName(status),
                                       cudaGetErrorString(status)));
}

/// Throws CudaError unless `status` is CUBLAS_STATUS_SUCCESS.
inline void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw CudaError(cuda_error_message("cuBLAS", call, file, line, cublasGetStatusName(status),
                                       cublasGetStatusString(status)));
}

/// After a kernel launch: the launch error, and in debug builds (RECDIFF_CUDA_SYNC_CHECKS, on unless
/// NDEBUG) the kernel's own error, by synchronising `stream`.
inline void check_launch(cudaStream_t stream, const char* kernel, const char* file, int line) {
  check_cuda(cudaGetLastError(), kernel, file, line);
#if defined(RECDIFF_CUDA_SYNC_CHECKS) || !defined(NDEBUG)
  check_cuda(cudaStreamSynchronize(stream), kernel, file, line);
#else
  (void)stream;
#endif
}

}  // namespace recdiff::cuda

/// Evaluates a CUDA runtime call; throws recdiff::CudaError with its text, file:line and reason.
#define RECDIFF_CUDA_CHECK(call) ::recdiff::cuda::check_cuda((call), #call, __FILE__, __LINE__)
/// Evaluates a cuBLAS call; throws recdiff::CudaError with its text, file:line and reason.
#define RECDIFF_CUBLAS_CHECK(call) ::recdiff::cuda::check_cublas((call), #call, __FILE__, __LINE__)
/// Checks the kernel launch just made on `stream` (see check_launch).
#define RECDIFF_CUDA_CHECK_LAUNCH(stream, kernel) \
  ::recdiff::cuda::check_launch((stream), kernel, __FILE__, __LINE__)
