#pragma once
/// @file
/// plan_gemm: the cuBLAS arguments of a row-major GEMM. Pure host code (no CUDA header), tested on the
/// CPU against a column-major reference GEMM with cuBLAS argument semantics.
///
/// A row-major r x c matrix with row stride c is, read column-major, its transpose (c x r, leading
/// dimension c). So row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLAS's first
/// operand is the storage of B, its second the storage of A, and each is transposed for cuBLAS exactly
/// when it is transposed for us.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include <recdiff/backend/op.hpp>

namespace recdiff::cuda {

/// What a GEMM call has to do.
enum class GemmKind {
  empty,  ///< C has no element: nothing to do
  scale,  ///< the inner dimension is 0: C = beta C (cuBLAS is not called)
  gemm    ///< a cuBLAS call with the arguments of GemmPlan
};

/// The arguments of cublas<t>gemm(handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C,
/// ldc) for row-major C = alpha op(A) op(B) + beta C. cuBLAS's A is OUR B's storage and cuBLAS's B is
/// OUR A's storage (see the file comment).
struct GemmPlan {
  GemmKind kind = GemmKind::empty;
  bool transa = false;  ///< cuBLAS transa (applies to our B's storage)
  bool transb = false;  ///< cuBLAS transb (applies to our A's storage)
  std::int64_t m = 0;   ///< cuBLAS m = columns of our C
  std::int64_t n = 0;   ///< cuBLAS n = rows of our C
  std::int64_t k = 0;   ///< the inner dimension
  std::int64_t lda = 1;  ///< leading dimension of cuBLAS A = row stride of our B (at least 1)
  std::int64_t ldb = 1;  ///< leading dimension of cuBLAS B = row stride of our A (at least 1)
  std::int64_t ldc = 1;  ///< leading dimension of C = row stride of our C (at least 1)
};

/// The cuBLAS call for row-major C (c_rows x c_cols) = alpha op(A) op(B) + beta C with A a_rows x
/// a_cols and B b_rows x b_cols, all dense row-major.
/// @throws std::invalid_argument when the shapes do not match (message as CpuBackend::gemm's, with
///         `who` as the function name) or a dimension exceeds cuBLAS's 32-bit int
inline GemmPlan plan_gemm(const char* who, std::int64_t a_rows, std::int64_t a_cols, Op op_a,
                          std::int64_t b_rows, std::int64_t b_cols, Op op_b, std::int64_t c_rows,
                          std::int64_t c_cols) {
  const auto m = op_a == Op::none ? a_rows : a_cols;
  const auto k = op_a == Op::none ? a_cols : a_rows;
  const auto kb = op_b == Op::none ? b_rows : b_cols;
  const auto n = op_b == Op::none ? b_cols : b_rows;
  if (k != kb || c_rows != m || c_cols != n)
    throw std::invalid_argument(std::string(who) + ": shapes do not match: op(A) " +
                                std::to_string(m) + "x" + std::to_string(k) + ", op(B) " +
                                std::to_string(kb) + "x" + std::to_string(n) + ", C " +
                                std::to_string(c_rows) + "x" + std::to_string(c_cols));
  constexpr std::int64_t int_max = std::numeric_limits<int>::max();
  for (const std::int64_t d : {a_rows, a_cols, b_rows, b_cols, c_rows, c_cols})
    if (d > int_max)
      throw std::invalid_argument(std::string(who) + ": dimension " + std::to_string(d) +
                                  " exceeds cuBLAS's int range, expected at most " +
                                  std::to_string(int_max));
  GemmPlan p;
  p.m = n;
  p.n = m;
  p.k = k;
  p.transa = op_b == Op::transpose;
  p.transb = op_a == Op::transpose;
  p.lda = std::max<std::int64_t>(1, b_cols);
  p.ldb = std::max<std::int64_t>(1, a_cols);
  p.ldc = std::max<std::int64_t>(1, c_cols);
  p.kind = (m == 0 || n == 0) ? GemmKind::empty : (k == 0 ? GemmKind::scale : GemmKind::gemm);
  return p;
}

}  // namespace recdiff::cuda
