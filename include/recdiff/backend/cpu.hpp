#pragma once
/// @file
/// CpuBackend: the Eigen backend. Row-major float/double storage, GEMMs partitioned over threads at
/// aligned row boundaries (bit-identical results at any thread count), element-wise functors applied by
/// plain loops, CSR batches densified on the fly, a CSR x dense product for sparse inputs and the
/// transposed product of a CSR batch for their weight gradient.

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <Eigen/Core>

#include <recdiff/backend/cpu/partition.hpp>
#include <recdiff/backend/checks.hpp>
#include <recdiff/backend/op.hpp>
#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>

namespace recdiff {

/// The CPU backend policy (Eigen 3.4 + OpenMP).
///
/// Storage is a row-major Eigen matrix (`Matrix<T>`); a vector is a 1 x n matrix. All work is split
/// over the context's threads by rows, in chunks aligned to 8 rows, and every chunk computes exactly
/// what a single thread would compute for those rows, so results do not depend on the thread count.
struct CpuBackend {
  static constexpr const char* name = "cpu";

  /// Dense row-major storage of the backend.
  template <class T>
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

  /// Execution context: how many threads the backend's kernels use. One per trainer or evaluator.
  class Context {
   public:
    /// `threads` <= 0 means all of OpenMP's threads (omp_get_max_threads()).
    explicit Context(int threads = 0) : m_threads(threads > 0 ? threads : omp_get_max_threads()) {}
    int threads() const noexcept { return m_threads; }

   private:
    int m_threads;
  };

  /// Runs `f(RowRange)` once per thread on the thread's aligned chunk of [0, rows).
  template <class F>
  static void parallel_rows(const Context& ctx, std::int64_t rows, F&& f) {
    const int nt = static_cast<int>(std::clamp<std::int64_t>(ctx.threads(), 1, (rows + 7) / 8));
    if (nt <= 1) {
      f(cpu::RowRange{0, rows});
      return;
    }
#pragma omp parallel num_threads(nt)
    {
      const auto range = cpu::aligned_chunk(rows, nt, omp_get_thread_num());
      if (range.end > range.begin) f(range);
    }
  }

  /// Rows per GEMM panel. Eigen's GEMM kernel computes every row of a full 8-row panel with the
  /// same micro-kernel and the same depth blocking (which depends on the depth only), whatever the
  /// panel's position; ragged tails use other micro-kernels, and Eigen's product dispatch switches
  /// to GEMV for one row and to a coefficient-wise product for tiny shapes.
  static constexpr std::int64_t gemm_panel_rows = 8;

  /// C = alpha * op(A) * op(B) + beta * C. C must already have the result's shape.
  ///
  /// Every output row is computed by the full-panel GEMM kernel, called directly (sequential, no
  /// dispatch to GEMV or coefficient-wise products): rows are split over threads at panel
  /// boundaries, and a ragged tail of fewer than 8 rows is multiplied as an 8-row panel padded with
  /// zero rows. A row's bits therefore depend only on its own data — not on the thread count, the
  /// batch size or the row's position in the batch: a user scores the same alone or in a batch.
  /// Eigen's own GEMM threading is never used, so a program's other Eigen code keeps its own
  /// settings.
  template <class T>
  static void gemm(const Context& ctx, T alpha, const Matrix<T>& a, Op op_a, const Matrix<T>& b,
                   Op op_b, T beta, Matrix<T>& c) {
    const auto m = op_a == Op::none ? a.rows() : a.cols();
    const auto k = op_a == Op::none ? a.cols() : a.rows();
    const auto kb = op_b == Op::none ? b.rows() : b.cols();
    const auto n = op_b == Op::none ? b.cols() : b.rows();
    if (k != kb || c.rows() != m || c.cols() != n)
      throw std::invalid_argument("recdiff::CpuBackend::gemm: shapes do not match: op(A) " +
                                  std::to_string(m) + "x" + std::to_string(k) + ", op(B) " +
                                  std::to_string(kb) + "x" + std::to_string(n) + ", C " +
                                  std::to_string(c.rows()) + "x" + std::to_string(c.cols()));
    if (m == 0 || n == 0) return;
    parallel_rows(ctx, m, [&](cpu::RowRange r) {
      const auto len = r.end - r.begin;
      const auto full = len / gemm_panel_rows * gemm_panel_rows;
      T* out = c.data() + r.begin * n;
      if (full > 0) {
        // Row i of op(A) starts at a + i * a.cols() (row-major) or a + i (the transpose of a
        // row-major matrix is column-major with the same stride).
        const T* lhs = op_a == Op::none ? a.data() + r.begin * a.cols() : a.data() + r.begin;
        scale(out, full * n, beta);
        panel_product(full, n, k, lhs, op_a, a.cols(), b, op_b, out, alpha);
      }
      const auto tail = len - full;
      if (tail > 0) {
        Matrix<T> lhs = Matrix<T>::Zero(gemm_panel_rows, k);
        if (op_a == Op::none)
          lhs.topRows(tail) = a.middleRows(r.begin + full, tail);
        else
          lhs.topRows(tail) = a.transpose().middleRows(r.begin + full, tail);
        Matrix<T> panel = Matrix<T>::Zero(gemm_panel_rows, n);
        if (beta != T(0)) panel.topRows(tail) = beta * c.middleRows(r.begin + full, tail);
        panel_product(gemm_panel_rows, n, k, lhs.data(), Op::none, k, b, op_b, panel.data(), alpha);
        c.middleRows(r.begin + full, tail) = panel.topRows(tail);
      }
    });
  }

  // out[0..count) *= beta (0: set to zero, exactly as Eigen's product assignment does first).
  template <class T>
  static void scale(T* out, std::int64_t count, T beta) {
    if (beta == T(0))
      std::fill(out, out + count, T(0));
    else if (beta != T(1))
      for (std::int64_t i = 0; i < count; ++i) out[i] *= beta;
  }

  // out (rows x n, row-major, stride n) += alpha * op(A rows) * op(B) through Eigen's sequential
  // GEMM kernel (Goto blocking; the depth blocking depends on k only).
  template <class T>
  static void panel_product(std::int64_t rows, std::int64_t n, std::int64_t k, const T* lhs, Op op_a,
                            std::int64_t lhs_stride, const Matrix<T>& b, Op op_b, T* out, T alpha) {
    using Index = Eigen::Index;
    Eigen::internal::gemm_blocking_space<Eigen::RowMajor, T, T, Eigen::Dynamic, Eigen::Dynamic,
                                         Eigen::Dynamic, 1, false>
        blocking(rows, n, k, 1, true);
    auto run = [&](auto lhs_order, auto rhs_order) {
      Eigen::internal::general_matrix_matrix_product<Index, T, decltype(lhs_order)::value, false, T,
                                                     decltype(rhs_order)::value, false,
                                                     Eigen::RowMajor, 1>::run(rows, n, k, lhs,
                                                                              lhs_stride, b.data(),
                                                                              b.cols(), out, 1, n,
                                                                              alpha, blocking,
                                                                              nullptr);
    };
    using RowMajorTag = std::integral_constant<int, Eigen::RowMajor>;
    using ColMajorTag = std::integral_constant<int, Eigen::ColMajor>;
    if (op_a == Op::none) {
      if (op_b == Op::none) run(RowMajorTag{}, RowMajorTag{});
      else run(RowMajorTag{}, ColMajorTag{});
    } else {
      if (op_b == Op::none) run(ColMajorTag{}, RowMajorTag{});
      else run(ColMajorTag{}, ColMajorTag{});
    }
  }

  /// Calls `f(row, col)` for every element of a rows x cols index space (rows split over threads).
  template <class F>
  static void for_each(const Context& ctx, std::int64_t rows, std::int64_t cols, F f) {
    parallel_rows(ctx, rows, [&](cpu::RowRange r) {
      for (std::int64_t i = r.begin; i < r.end; ++i)
        for (std::int64_t j = 0; j < cols; ++j) f(i, j);
    });
  }

  /// Calls `f(row)` for every row in [0, rows) (rows split over threads).
  template <class F>
  static void for_each_row(const Context& ctx, std::int64_t rows, F f) {
    parallel_rows(ctx, rows, [&](cpu::RowRange r) {
      for (std::int64_t i = r.begin; i < r.end; ++i) f(i);
    });
  }

  /// out (users.size() x items) = the CSR rows of `users`, the entry at `position` of a row of
  /// `length` entries written as `value(position, length)` (UnitValue: 1 for implicit feedback).
  template <class T, class ValueFn>
  static void densify(const Context& ctx, const InteractionMatrix& x, std::span<const index_t> users,
                      Matrix<T>& out, ValueFn value) {
    out.resize(static_cast<Eigen::Index>(users.size()), x.num_items());
    for_each_row(ctx, out.rows(), [&](std::int64_t r) {
      auto row = out.row(r);
      row.setZero();
      const index_t u = users[static_cast<std::size_t>(r)];
      const auto items = x.items_of(u);
      for (std::size_t p = 0; p < items.size(); ++p)
        row(items[p]) = static_cast<T>(value(p, items.size()));
    });
  }

  /// Densifies with value 1 for every stored entry.
  template <class T>
  static void densify(const Context& ctx, const InteractionMatrix& x, std::span<const index_t> users,
                      Matrix<T>& out) {
    densify(ctx, x, users, out, UnitValue{});
  }

  /// C = beta * C + X * R: the CSR rows of `users` (entries valued by `value(position, length)`) times
  /// the first x.num_items() rows of the dense R (items.. x n). Cost O(nnz of the batch x n): this is
  /// the first layer of a network whose input is a raw interaction row.
  template <class T, class ValueFn>
  static void sparse_times(const Context& ctx, const InteractionMatrix& x,
                           std::span<const index_t> users, ValueFn value, const Matrix<T>& r, T beta,
                           Matrix<T>& c) {
    backend_checks::sparse_times("recdiff::CpuBackend::sparse_times", x.num_items(),
                                 static_cast<std::int64_t>(users.size()), r.rows(), r.cols(),
                                 c.rows(), c.cols());
    for_each_row(ctx, c.rows(), [&](std::int64_t i) {
      auto out = c.row(i);
      if (beta == T(0))
        out.setZero();
      else
        out *= beta;
      const index_t u = users[static_cast<std::size_t>(i)];
      const auto items = x.items_of(u);
      for (std::size_t p = 0; p < items.size(); ++p)
        out += static_cast<T>(value(p, items.size())) * r.row(items[p]);
    });
  }

  /// out = beta * out + X^T D for a sparse X (D.rows() x out.rows()) given by its columns, i.e. the
  /// transpose of a CSR batch in item-major form: column i lists the rows `col_rows[k]` of D and the
  /// values `col_values[k]` for k in [col_offsets[i], col_offsets[i + 1]). Row i of out becomes
  /// beta * out[i, :] + sum_k col_values[k] * D[col_rows[k], :], summed in k order. This is the
  /// weight gradient of a first layer that read CSR rows (grad W_x^T += X^T dY), cost O(nnz x n)
  /// plus O(items x n) when beta != 1; the dense batch x items matrix is never formed.
  ///
  /// Items are split over threads and each output row is written by one thread only, so the bits
  /// do not depend on the thread count. beta = 0 overwrites (whatever out held); with beta = 1 the
  /// rows of empty columns are not touched.
  /// @throws std::invalid_argument when col_offsets does not have out.rows() + 1 non-decreasing
  ///         entries from 0 to nnz, col_rows and col_values do not both have nnz entries, a row is
  ///         outside [0, D.rows()) or out and D have different column counts
  template <class T>
  static void sparse_transpose_times(const Context& ctx, std::span<const offset_t> col_offsets,
                                     std::span<const index_t> col_rows,
                                     std::span<const T> col_values, const Matrix<T>& d, T beta,
                                     Matrix<T>& out) {
    backend_checks::sparse_columns("recdiff::CpuBackend::sparse_transpose_times", col_offsets,
                                   col_rows, col_values.size(), d.rows(), d.cols(), out.rows(),
                                   out.cols());
    for_each_row(ctx, out.rows(), [&](std::int64_t i) {
      const auto begin = col_offsets[static_cast<std::size_t>(i)];
      const auto end = col_offsets[static_cast<std::size_t>(i) + 1];
      if (beta == T(1) && begin == end) return;
      auto o = out.row(i);
      if (beta == T(0))
        o.setZero();
      else if (beta != T(1))
        o *= beta;
      for (auto k = begin; k < end; ++k) {
        const auto at = static_cast<std::size_t>(k);
        o += col_values[at] * d.row(col_rows[at]);
      }
    });
  }

  /// dst (rows x cols) = the row-major host values `host` (rows * cols of them).
  template <class T>
  static void upload(const Context&, std::span<const T> host, std::int64_t rows, std::int64_t cols,
                     Matrix<T>& dst) {
    backend_checks::upload("recdiff::CpuBackend::upload", host.size(), rows, cols);
    dst.resize(rows, cols);
    std::copy(host.begin(), host.end(), dst.data());
  }

  /// host (src.rows() * src.cols() values, row-major) = src.
  template <class T>
  static void download(const Context&, const Matrix<T>& src, std::span<T> host) {
    backend_checks::download("recdiff::CpuBackend::download", host.size(), src.rows(), src.cols());
    std::copy(src.data(), src.data() + src.size(), host.begin());
  }
};


}  // namespace recdiff
