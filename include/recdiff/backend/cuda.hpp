#pragma once
/// @file
/// CudaBackend: the CUDA backend policy (the only entry point to include/recdiff/backend/cuda/).
/// Device storage with a caching allocator, one stream and cuBLAS handle per Context, cuBLAS GEMMs
/// (FP32 by default, TF32 opt-in), the core's functors launched as generic kernels, CSR batches
/// densified and multiplied on the device (and their transposed product, the weight gradient of a
/// sparse first layer), and a device top-K for evaluation.

#if !defined(__CUDACC__)
#error "recdiff/backend/cuda.hpp needs nvcc: compile this translation unit as CUDA (.cu) or use recdiff::CpuBackend"
#endif

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>

#include <recdiff/backend/cuda/allocator.cuh>
#include <recdiff/backend/cuda/blas.cuh>
#include <recdiff/backend/cuda/check.cuh>
#include <recdiff/backend/cuda/context.cuh>
#include <recdiff/backend/cuda/device_matrix.cuh>
#include <recdiff/backend/cuda/kernels.cuh>
#include <recdiff/backend/cuda/plan/gemm_plan.hpp>
#include <recdiff/backend/cuda/plan/top_k_plan.hpp>
#include <recdiff/backend/cuda/top_k.cuh>
#include <recdiff/backend/checks.hpp>
#include <recdiff/backend/op.hpp>
#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>

namespace recdiff {

/// The CUDA backend policy.
///
/// Storage is cuda::DeviceMatrix<T> (row-major, device memory). Every operation taking a Context is
/// enqueued on that context's stream and returns without waiting, except download(), which waits
/// for the copy. Results are those of CpuBackend up to float rounding (GEMM summation order, fused
/// multiply-adds); random draws are bit-identical (same Philox functions).
struct CudaBackend {
  static constexpr const char* name = "cuda";

  /// Dense row-major device storage of the backend.
  template <class T>
  using Matrix = cuda::DeviceMatrix<T>;

  /// Execution context: device, stream, cuBLAS handle, CSR mirrors, staging.
  using Context = cuda::Context;

  /// C = alpha * op(A) * op(B) + beta * C through cuBLAS. C must already have the result's shape.
  /// @throws std::invalid_argument when the shapes do not match (both shapes named)
  template <class T>
  static void gemm(const Context& ctx, T alpha, const Matrix<T>& a, Op op_a, const Matrix<T>& b,
                   Op op_b, T beta, Matrix<T>& c) {
    const auto plan = cuda::plan_gemm("recdiff::CudaBackend::gemm", a.rows(), a.cols(), op_a,
                                      b.rows(), b.cols(), op_b, c.rows(), c.cols());
    cuda::run_gemm(ctx, plan, alpha, a.data(), b.data(), beta, c.data());
  }

  /// Calls `f(row, col)` on the device for every element of a rows x cols index space. `f` must be
  /// trivially copyable with a RECDIFF_HOST_DEVICE call operator (raw device pointers and sizes,
  /// values such as a NoiseDraw), and its type must not be a private or protected member of a
  /// class: nvcc cannot instantiate a kernel template with such a type (declare kernels' functors
  /// public or at namespace scope).
  template <class F>
  static void for_each(const Context& ctx, std::int64_t rows, std::int64_t cols, F f) {
    cuda::launch_for_each(ctx, rows, cols, f);
  }

  /// Calls `f(row)` on the device for every row in [0, rows); `f` as for for_each().
  template <class F>
  static void for_each_row(const Context& ctx, std::int64_t rows, F f) {
    cuda::launch_for_each_row(ctx, rows, f);
  }

  /// out (users.size() x items) = the CSR rows of `users`, the entry at `position` of a row of
  /// `length` entries written as `value(position, length)` (a host/device functor).
  /// @throws std::invalid_argument when a user is outside the matrix
  template <class T, class ValueFn>
  static void densify(const Context& ctx, const InteractionMatrix& x, std::span<const index_t> users,
                      Matrix<T>& out, ValueFn value) {
    const auto rows = static_cast<std::int64_t>(users.size());
    out.resize(rows, x.num_items());
    const auto& mirror = ctx.mirror(x);
    const index_t* d_users = ctx.upload_users("recdiff::CudaBackend::densify", users, x.num_users());
    cuda::launch_densify(ctx, mirror.view(), d_users, rows, out.cols(), out.data(), value);
  }

  /// Densifies with value 1 for every stored entry.
  template <class T>
  static void densify(const Context& ctx, const InteractionMatrix& x, std::span<const index_t> users,
                      Matrix<T>& out) {
    densify(ctx, x, users, out, UnitValue{});
  }

  /// C = beta * C + X * R: the CSR rows of `users` (entries valued by `value(position, length)`)
  /// times the first x.num_items() rows of R. One block per row of C, threads over R's columns.
  /// @throws std::invalid_argument on mismatching shapes or a user outside the matrix
  template <class T, class ValueFn>
  static void sparse_times(const Context& ctx, const InteractionMatrix& x,
                           std::span<const index_t> users, ValueFn value, const Matrix<T>& r, T beta,
                           Matrix<T>& c) {
    backend_checks::sparse_times("recdiff::CudaBackend::sparse_times", x.num_items(),
                                 static_cast<std::int64_t>(users.size()), r.rows(), r.cols(),
                                 c.rows(), c.cols());
    const auto& mirror = ctx.mirror(x);
    const index_t* d_users =
        ctx.upload_users("recdiff::CudaBackend::sparse_times", users, x.num_users());
    cuda::launch_sparse_times(ctx, mirror.view(), d_users, c.rows(), c.cols(), r.data(), beta,
                              c.data(), value);
  }

  /// out = beta * out + X^T D for a CSR batch X given by its columns (host arrays, as for
  /// CpuBackend::sparse_transpose_times, with the same checks and messages): row i of out becomes
  /// beta * out[i, :] + sum_k col_values[k] * D[col_rows[k], :] over k in [col_offsets[i],
  /// col_offsets[i + 1]), summed in k order. The three arrays are uploaded (stream order; they may
  /// be reused as soon as this returns); one block per item, threads over D's columns, no atomics,
  /// so the result is deterministic. Cost O(nnz x n) plus O(items x n) when beta != 1.
  /// @throws std::invalid_argument on inconsistent columns, a row outside D or mismatching shapes
  template <class T>
  static void sparse_transpose_times(const Context& ctx, std::span<const offset_t> col_offsets,
                                     std::span<const index_t> col_rows,
                                     std::span<const T> col_values, const Matrix<T>& d, T beta,
                                     Matrix<T>& out) {
    backend_checks::sparse_columns("recdiff::CudaBackend::sparse_transpose_times", col_offsets,
                                   col_rows, col_values.size(), d.rows(), d.cols(), out.rows(),
                                   out.cols());
    if (out.rows() == 0 || out.cols() == 0) return;
    ctx.activate();
    cuda::DeviceMatrix<offset_t> offsets(static_cast<std::int64_t>(col_offsets.size()), 1);
    cuda::DeviceMatrix<index_t> rows(static_cast<std::int64_t>(col_rows.size()), 1);
    cuda::DeviceMatrix<T> values(static_cast<std::int64_t>(col_values.size()), 1);
    ctx.copy_to_device(col_offsets.data(), col_offsets.size(), offsets.data());
    ctx.copy_to_device(col_rows.data(), col_rows.size(), rows.data());
    ctx.copy_to_device(col_values.data(), col_values.size(), values.data());
    // The temporaries go back to the caching allocator after the launch; a freed block is handed
    // out again only once the work issued before the free (this kernel) has finished.
    cuda::launch_sparse_transpose_times(ctx, offsets.data(), rows.data(), values.data(),
                                        out.rows(), out.cols(), d.data(), beta, out.data());
  }

  /// dst (rows x cols) = the row-major host values `host` (rows * cols of them), copied in stream
  /// order; `host` may be reused as soon as this returns.
  /// @throws std::invalid_argument when the count does not match
  template <class T>
  static void upload(const Context& ctx, std::span<const T> host, std::int64_t rows,
                     std::int64_t cols, Matrix<T>& dst) {
    backend_checks::upload("recdiff::CudaBackend::upload", host.size(), rows, cols);
    dst.resize(rows, cols);
    ctx.activate();
    ctx.copy_to_device(host.data(), host.size(), dst.data());
  }

  /// host (src.rows() * src.cols() values, row-major) = src, after the context's earlier work;
  /// waits for the copy.
  /// @throws std::invalid_argument when the buffer size does not match
  template <class T>
  static void download(const Context& ctx, const Matrix<T>& src, std::span<T> host) {
    backend_checks::download("recdiff::CudaBackend::download", host.size(), src.rows(), src.cols());
    if (host.empty()) return;
    ctx.activate();
    RECDIFF_CUDA_CHECK(cudaMemcpyAsync(host.data(), src.data(), host.size() * sizeof(T),
                                       cudaMemcpyDeviceToHost, ctx.stream()));
    ctx.synchronize();
  }

  /// Device top-K of every row of `scores` (B x I): out_items (B x k) gets the k best items of a
  /// row, best first, and out_scores their scores, with the rules of recdiff::top_k (higher score
  /// first, ties by lower item id, -inf and NaN never selected). Items in the CSR rows `users` of
  /// any matrix in `excluded` (e.g. the training interactions) are skipped. Slots left when fewer
  /// than k items are eligible hold item -1 and score -inf.
  /// @param users one user per score row (may be empty when `excluded` is)
  /// @throws std::invalid_argument for k outside [0, 1024], more than 4 exclusion matrices, a users
  ///         list of the wrong length, an exclusion matrix of another item count, or a user outside
  ///         an exclusion matrix
  static void top_k(const Context& ctx, const Matrix<float>& scores,
                    std::span<const InteractionMatrix* const> excluded,
                    std::span<const index_t> users, index_t k, Matrix<index_t>& out_items,
                    Matrix<float>& out_scores) {
    const char* who = "recdiff::CudaBackend::top_k";
    const auto plan = cuda::plan_top_k(scores.rows(), scores.cols(), k);
    if (excluded.size() > static_cast<std::size_t>(cuda::kTopKMaxMasks))
      throw std::invalid_argument(std::string(who) + ": at most " +
                                  std::to_string(cuda::kTopKMaxMasks) +
                                  " exclusion matrices, got " + std::to_string(excluded.size()));
    if (!excluded.empty() && static_cast<std::int64_t>(users.size()) != scores.rows())
      throw std::invalid_argument(std::string(who) + ": " + std::to_string(users.size()) +
                                  " users for " + std::to_string(scores.rows()) +
                                  " score rows, expected one user per row");
    cuda::TopKMasks masks;
    index_t min_users = std::numeric_limits<index_t>::max();
    for (const InteractionMatrix* m : excluded) {
      if (m->num_items() != scores.cols())
        throw std::invalid_argument(std::string(who) + ": exclusion matrix has " +
                                    std::to_string(m->num_items()) + " items, scores have " +
                                    std::to_string(scores.cols()));
      masks.csr[masks.count++] = ctx.mirror(*m).view();
      min_users = std::min(min_users, m->num_users());
    }
    if (!excluded.empty()) masks.users = ctx.upload_users(who, users, min_users);
    out_items.resize(scores.rows(), k);
    out_scores.resize(scores.rows(), k);
    cuda::run_top_k(ctx, plan, scores.data(), masks, out_items.data(), out_scores.data());
  }

  /// Returns the process-wide allocator's idle blocks to the driver.
  static void release_cached_memory() { cuda::CachingAllocator::instance().release(); }
};

}  // namespace recdiff
