#pragma once
/// @file
/// cuBLAS GEMM calls of the CUDA backend, driven by plan/gemm_plan.hpp.

#include <cublas_v2.h>

#include <recdiff/backend/cuda/check.cuh>
#include <recdiff/backend/cuda/context.cuh>
#include <recdiff/backend/cuda/kernels.cuh>
#include <recdiff/backend/cuda/plan/gemm_plan.hpp>

namespace recdiff::cuda {

namespace blas_detail {
inline cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                           int n, int k, const float* alpha, const float* a, int lda,
                           const float* b, int ldb, const float* beta, float* c, int ldc) {
  return cublasSgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                           int n, int k, const double* alpha, const double* a, int lda,
                           const double* b, int ldb, const double* beta, double* c, int ldc) {
  return cublasDgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
}  // namespace blas_detail

/// Row-major C = alpha op(A) op(B) + beta C as planned by plan_gemm (`a`, `b` our operands' storage).
/// alpha and beta are passed by host pointer (the handle's default pointer mode).
template <class T>
void run_gemm(const Context& ctx, const GemmPlan& p, T alpha, const T* a, const T* b, T beta,
              T* c) {
  if (p.kind == GemmKind::empty) return;
  if (p.kind == GemmKind::scale) {
    launch_scale(ctx, c, p.m * p.n, beta);
    return;
  }
  ctx.activate();
  RECDIFF_CUBLAS_CHECK(blas_detail::gemm(
      ctx.cublas(), p.transa ? CUBLAS_OP_T : CUBLAS_OP_N, p.transb ? CUBLAS_OP_T : CUBLAS_OP_N,
      static_cast<int>(p.m), static_cast<int>(p.n), static_cast<int>(p.k), &alpha, b,
      static_cast<int>(p.lda), a, static_cast<int>(p.ldb), &beta, c, static_cast<int>(p.ldc)));
}

}  // namespace recdiff::cuda
