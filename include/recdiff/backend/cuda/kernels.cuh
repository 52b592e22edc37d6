#pragma once
/// @file
/// The CUDA backend's generic kernels, templated on the functors of the core (the same
/// RECDIFF_HOST_DEVICE functors CpuBackend calls in loops), and their launchers. Geometry comes from
/// plan/launch.hpp; every loop is grid-stride.

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <recdiff/backend/cuda/check.cuh>
#include <recdiff/backend/cuda/context.cuh>
#include <recdiff/backend/cuda/plan/launch.hpp>
#include <recdiff/config.hpp>

namespace recdiff::cuda {

/// f(row, col) for every element of rows x cols, one thread per element (consecutive threads take
/// consecutive columns of a row: coalesced for row-major data).
template <class F>
__global__ void for_each_kernel(std::int64_t rows, std::int64_t cols, F f) {
  const std::int64_t total = rows * cols;
  const GridStride g = grid_stride(blockIdx.x, gridDim.x, blockDim.x, threadIdx.x);
  for (std::int64_t i = g.first; i < total; i += g.stride) f(i / cols, i % cols);
}

/// f(row) for every row in [0, rows), one thread per row.
template <class F>
__global__ void for_each_row_kernel(std::int64_t rows, F f) {
  const GridStride g = grid_stride(blockIdx.x, gridDim.x, blockDim.x, threadIdx.x);
  for (std::int64_t i = g.first; i < rows; i += g.stride) f(i);
}

/// out[r, item] = value(position, length) for the CSR entries of users[r]; one warp per row, the
/// lanes over the row's entries. `out` was zeroed before.
template <class T, class V>
__global__ void densify_kernel(DeviceCsr csr, const index_t* users, std::int64_t rows,
                               std::int64_t items, T* out, V value) {
  const int lane = static_cast<int>(threadIdx.x) % kWarp;
  const GridStride g =
      grid_stride(blockIdx.x, gridDim.x, blockDim.x / kWarp, threadIdx.x / kWarp);
  for (std::int64_t r = g.first; r < rows; r += g.stride) {
    const index_t u = users[r];
    const offset_t begin = csr.offsets[u];
    const auto length = static_cast<std::size_t>(csr.offsets[u + 1] - begin);
    T* row = out + r * items;
    for (std::size_t p = static_cast<std::size_t>(lane); p < length; p += kWarp)
      row[csr.indices[begin + static_cast<offset_t>(p)]] = static_cast<T>(value(p, length));
  }
}

/// c[r, :] = beta c[r, :] + sum_p value(p, length) R[item_p, :] for the CSR row of users[r]; one
/// block per row, the threads over R's columns (coalesced), entries added in row order as on the CPU.
template <class T, class V>
__global__ void sparse_times_kernel(DeviceCsr csr, const index_t* users, std::int64_t rows,
                                    std::int64_t n, const T* r_mat, T beta, T* c, V value) {
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const index_t u = users[r];
    const offset_t begin = csr.offsets[u];
    const auto length = static_cast<std::size_t>(csr.offsets[u + 1] - begin);
    T* out = c + r * n;
    for (std::int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      T acc = beta == T(0) ? T(0) : beta * out[j];
      for (std::size_t p = 0; p < length; ++p) {
        const index_t item = csr.indices[begin + static_cast<offset_t>(p)];
        acc += static_cast<T>(value(p, length)) * r_mat[static_cast<std::int64_t>(item) * n + j];
      }
      out[j] = acc;
    }
  }
}

/// out[i, :] = beta out[i, :] + sum_k values[k] D[rows[k], :] over k in [offsets[i], offsets[i+1])
/// (the columns of a CSR batch: out = beta out + X^T D); one block per output row (item), the
/// threads over the columns (coalesced), entries added in k order: no atomics, so the bits do not
/// depend on the launch. With beta = 1 the rows of empty columns are not written.
template <class T>
__global__ void sparse_transpose_times_kernel(const offset_t* offsets, const index_t* rows,
                                              const T* values, std::int64_t items, std::int64_t n,
                                              const T* d, T beta, T* out) {
  for (std::int64_t i = blockIdx.x; i < items; i += gridDim.x) {
    const offset_t begin = offsets[i];
    const offset_t end = offsets[i + 1];
    if (beta == T(1) && begin == end) continue;
    T* o = out + i * n;
    for (std::int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      T acc = beta == T(0) ? T(0) : beta * o[j];
      for (offset_t k = begin; k < end; ++k)
        acc += values[k] * d[static_cast<std::int64_t>(rows[k]) * n + j];
      o[j] = acc;
    }
  }
}

/// x[i] = beta x[i] (0 when beta is 0, whatever x held) for i in [0, count).
template <class T>
__global__ void scale_kernel(T* x, std::int64_t count, T beta) {
  const GridStride g = grid_stride(blockIdx.x, gridDim.x, blockDim.x, threadIdx.x);
  for (std::int64_t i = g.first; i < count; i += g.stride) x[i] = beta == T(0) ? T(0) : beta * x[i];
}

/// Launches for_each_kernel on the context's stream.
template <class F>
void launch_for_each(const Context& ctx, std::int64_t rows, std::int64_t cols, const F& f) {
  static_assert(std::is_trivially_copyable_v<F>,
                "recdiff::CudaBackend::for_each: the functor is copied to the device and must be "
                "trivially copyable (raw pointers and sizes only)");
  const Launch l = plan_elementwise(rows * cols, ctx.max_grid());
  if (l.grid == 0) return;
  ctx.activate();
  for_each_kernel<<<static_cast<unsigned>(l.grid), l.block, 0, ctx.stream()>>>(rows, cols, f);
  RECDIFF_CUDA_CHECK_LAUNCH(ctx.stream(), "for_each_kernel");
}

/// Launches for_each_row_kernel on the context's stream.
template <class F>
void launch_for_each_row(const Context& ctx, std::int64_t rows, const F& f) {
  static_assert(std::is_trivially_copyable_v<F>,
                "recdiff::CudaBackend::for_each_row: the functor is copied to the device and must "
                "be trivially copyable (raw pointers and sizes only)");
  const Launch l = plan_elementwise(rows, ctx.max_grid());
  if (l.grid == 0) return;
  ctx.activate();
  for_each_row_kernel<<<static_cast<unsigned>(l.grid), l.block, 0, ctx.stream()>>>(rows, f);
  RECDIFF_CUDA_CHECK_LAUNCH(ctx.stream(), "for_each_row_kernel");
}

/// Zeroes out (rows x items) and scatters the rows' entries into it.
template <class T, class V>
void launch_densify(const Context& ctx, DeviceCsr csr, const index_t* users, std::int64_t rows,
                    std::int64_t items, T* out, const V& value) {
  const std::size_t bytes = static_cast<std::size_t>(rows * items) * sizeof(T);
  if (bytes == 0) return;
  ctx.activate();
  RECDIFF_CUDA_CHECK(cudaMemsetAsync(out, 0, bytes, ctx.stream()));
  const Launch l = plan_warp_per_row(rows, ctx.max_grid());
  densify_kernel<<<static_cast<unsigned>(l.grid), l.block, 0, ctx.stream()>>>(csr, users, rows,
                                                                               items, out, value);
  RECDIFF_CUDA_CHECK_LAUNCH(ctx.stream(), "densify_kernel");
}

/// Launches sparse_times_kernel on the context's stream.
template <class T, class V>
void launch_sparse_times(const Context& ctx, DeviceCsr csr, const index_t* users,
                         std::int64_t rows, std::int64_t n, const T* r_mat, T beta, T* c,
                         const V& value) {
  const Launch l = plan_block_per_row(rows, n, ctx.max_grid());
  if (l.grid == 0) return;
  ctx.activate();
  sparse_times_kernel<<<static_cast<unsigned>(l.grid), l.block, 0, ctx.stream()>>>(
      csr, users, rows, n, r_mat, beta, c, value);
  RECDIFF_CUDA_CHECK_LAUNCH(ctx.stream(), "sparse_times_kernel");
}

/// Launches sparse_transpose_times_kernel on the context's stream (`items` output rows of `n`
/// columns; offsets, rows and values in device memory).
template <class T>
void launch_sparse_transpose_times(const Context& ctx, const offset_t* offsets, const index_t* rows,
                                   const T* values, std::int64_t items, std::int64_t n, const T* d,
                                   T beta, T* out) {
  const Launch l = plan_block_per_row(items, n, ctx.max_grid());
  if (l.grid == 0) return;
  ctx.activate();
  sparse_transpose_times_kernel<<<static_cast<unsigned>(l.grid), l.block, 0, ctx.stream()>>>(
      offsets, rows, values, items, n, d, beta, out);
  RECDIFF_CUDA_CHECK_LAUNCH(ctx.stream(), "sparse_transpose_times_kernel");
}

/// Launches scale_kernel on the context's stream.
template <class T>
void launch_scale(const Context& ctx, T* x, std::int64_t count, T beta) {
  const Launch l = plan_elementwise(count, ctx.max_grid());
  if (l.grid == 0) return;
  ctx.activate();
  scale_kernel<<<static_cast<unsigned>(l.grid), l.block, 0, ctx.stream()>>>(x, count, beta);
  RECDIFF_CUDA_CHECK_LAUNCH(ctx.stream(), "scale_kernel");
}

}  // namespace recdiff::cuda
