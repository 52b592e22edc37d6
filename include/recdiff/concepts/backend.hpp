#pragma once
/// @file
/// The Backend concept: storage and kernels a compute backend provides (CpuBackend, CudaBackend).
///
/// Model code is written once against this concept. Element-wise and per-row work is expressed as
/// functors over an explicit index with a RECDIFF_HOST_DEVICE call operator, so that every backend can
/// run the same functor; host data (per-row coefficients, step indices, losses) crosses into backend
/// storage only through upload() and back only through download().

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

#include <recdiff/backend/op.hpp>
#include <recdiff/config.hpp>

namespace recdiff {

class InteractionMatrix;

/// The value given to the entry at `position` of a CSR row of `length` entries when a row is
/// densified: 1 for plain implicit feedback, a time weight for T-DiffRec.
struct UnitValue {
  RECDIFF_HOST_DEVICE float operator()(std::size_t, std::size_t) const { return 1.0f; }
};

/// Storage of a backend: a row-major rows x cols matrix that owns its memory.
template <class M>
concept BackendMatrix = std::copyable<M> && requires(M& m, const M& cm, std::int64_t n) {
  { cm.rows() } -> std::convertible_to<std::int64_t>;
  { cm.cols() } -> std::convertible_to<std::int64_t>;
  cm.data();
  m.data();
  m.resize(n, n);
  m.setZero(n, n);
  m.swap(m);
};

/// A rows x cols backend matrix filled with zeros (works for every BackendMatrix, unlike Eigen's
/// static Matrix::Zero).
template <BackendMatrix M>
M zeros(std::int64_t rows, std::int64_t cols) {
  M m;
  m.setZero(rows, cols);
  return m;
}

/// A functor over one index, the shape of every per-row kernel (for_each_row).
struct RowFunctorArchetype {
  RECDIFF_HOST_DEVICE void operator()(std::int64_t) const {}
};
/// A functor over (row, column), the shape of every element kernel (for_each).
struct ElementFunctorArchetype {
  RECDIFF_HOST_DEVICE void operator()(std::int64_t, std::int64_t) const {}
};

/// What a backend provides: every member the library's policies, modules and models call. T is
/// the scalar type of the storage being checked (float and double are both required by the
/// models; index_t storage holds steps and row keys).
///
/// - `B::Matrix<T>` (a BackendMatrix) and `B::Context` (constructible from an int: threads on the
///   CPU, a device index on a GPU);
/// - `gemm(ctx, alpha, A, op_a, B, op_b, beta, C)`: row-major C = alpha op(A) op(B) + beta C;
/// - `for_each(ctx, rows, cols, f)` calls f(row, col) over a rows x cols index space and
///   `for_each_row(ctx, rows, f)` calls f(row), both with functors whose call operator is
///   RECDIFF_HOST_DEVICE;
/// - `upload(ctx, host, rows, cols, m)` / `download(ctx, m, host)`: the only ways host data enters
///   or leaves backend storage;
/// - `densify(ctx, csr, users, m, value)` and `sparse_times(ctx, csr, users, value, R, beta, C)`;
/// - `sparse_transpose_times(ctx, col_offsets, col_rows, col_values, D, beta, out)`: out = beta out
///   + X^T D for a CSR batch X given by its columns (host arrays), the weight gradient of a first
///   layer that read CSR rows.
template <class B, class T = float>
concept Backend =
    BackendMatrix<typename B::template Matrix<T>> &&
    BackendMatrix<typename B::template Matrix<index_t>> &&
    std::constructible_from<typename B::Context, int> &&
    requires(const typename B::Context& ctx, typename B::template Matrix<T>& m,
             const typename B::template Matrix<T>& cm, T scalar, std::int64_t n,
             std::span<const T> host_in, std::span<T> host_out, const InteractionMatrix& csr,
             std::span<const index_t> users, std::span<const offset_t> col_offsets) {
      { B::name } -> std::convertible_to<const char*>;
      B::gemm(ctx, scalar, cm, Op::none, cm, Op::transpose, scalar, m);
      B::for_each(ctx, n, n, ElementFunctorArchetype{});
      B::for_each_row(ctx, n, RowFunctorArchetype{});
      B::upload(ctx, host_in, n, n, m);
      B::download(ctx, cm, host_out);
      B::densify(ctx, csr, users, m, UnitValue{});
      B::sparse_times(ctx, csr, users, UnitValue{}, cm, scalar, m);
      B::sparse_transpose_times(ctx, col_offsets, users, host_in, cm, scalar, m);
    };

}  // namespace recdiff
