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

/// What a backend provides; T is the scalar type of the storage being checked (float and double are
/// both required by the models).
template <class B, class T = float>
concept Backend =
    BackendMatrix<typename B::template Matrix<T>> &&
    requires(const typename B::Context& ctx, typename B::template Matrix<T>& m,
             const typename B::template Matrix<T>& cm, T scalar, std::int64_t n,
             std::span<const T> host_in, std::span<T> host_out, const InteractionMatrix& csr,
             std::span<const index_t> users) {
      { B::name } -> std::convertible_to<const char*>;
      B::gemm(ctx, scalar, cm, Op::none, cm, Op::transpose, scalar, m);
      B::upload(ctx, host_in, n, n, m);
      B::download(ctx, cm, host_out);
      B::densify(ctx, csr, users, m, UnitValue{});
      B::sparse_times(ctx, csr, users, UnitValue{}, cm, scalar, m);
    };

}  // namespace recdiff
