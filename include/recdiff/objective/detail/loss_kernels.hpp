#pragma once
/// @file
/// Per-row fused loss-and-gradient kernels and the x0-from-eps element kernel of the objectives, as
/// functors holding raw pointers (one call per row, or per element), so a CPU loop and a CUDA
/// kernel run the same code. Each row is read once: the squared error is accumulated in double
/// while the gradient is written.

#include <cstdint>

#include <recdiff/config.hpp>
#include <recdiff/math/gaussian_diffusion.hpp>
#include <recdiff/objective/row_terms.hpp>

namespace recdiff::objective_detail {

/// For one row b of a (B x cols) batch: l_b = mean_i (out - target)^2, row_loss_b = w_b l_b and
/// grad = d/d out of (1/B) sum_b (w_b / p_b) l_b = (w_b / p_b) (2 / (B cols)) (out - target).
template <class T>
struct MseRowKernel {
  const T* out;
  const T* target;
  const double* rows;  ///< B x stride (RowTerm columns first)
  double* row_loss;    ///< B
  T* grad;
  std::int64_t cols;
  double inv_batch;  ///< 1 / B
  std::int64_t stride;  ///< columns of the row-term matrix

  /// Processes row `row`.
  RECDIFF_HOST_DEVICE void operator()(std::int64_t row) const {
    const double* r = rows + row * stride;
    const double scale = r[RowTerm::weight] / r[RowTerm::probability];
    const T g = static_cast<T>(scale * 2.0 * inv_batch / static_cast<double>(cols));
    const std::int64_t base = row * cols;
    double sum = 0.0;
    for (std::int64_t i = 0; i < cols; ++i) {
      const T d = out[base + i] - target[base + i];
      sum += static_cast<double>(d) * static_cast<double>(d);
      grad[base + i] = g * d;
    }
    row_loss[row] = r[RowTerm::weight] * (sum / static_cast<double>(cols));
  }
};

/// Column of PredictEpsilon's row terms after the RowTerm columns: sqrt_recip_alpha_bar_k (r).
inline constexpr int kRecip = RowTerm::count;
/// ... and sqrt_recipm1_alpha_bar_k (m): x0_hat = r x_t - m eps_hat.
inline constexpr int kRecipM1 = RowTerm::count + 1;
/// Columns of PredictEpsilon's row terms.
inline constexpr int kEpsilonColumns = RowTerm::count + 2;

/// PredictEpsilon's row: rows with k_b >= 1 are MseRowKernel against eps; a row with k_b = 0 uses
/// l_b = mean_i (x0 - x0_hat)^2 / 2 with x0_hat = r x_t - m out (r, m cast to T), whose gradient is
/// (w_b / p_b) (m / (B cols)) (x0 - x0_hat).
template <class T>
struct EpsilonRowKernel {
  const T* out;
  const T* x0;
  const T* x_t;
  const T* eps;
  const double* rows;  ///< B x kEpsilonColumns
  double* row_loss;    ///< B
  T* grad;
  std::int64_t cols;
  double inv_batch;  ///< 1 / B

  /// Processes row `row`.
  RECDIFF_HOST_DEVICE void operator()(std::int64_t row) const {
    const double* r = rows + row * kEpsilonColumns;
    if (r[RowTerm::step] != 0.0) {
      MseRowKernel<T>{out, eps, rows, row_loss, grad, cols, inv_batch, kEpsilonColumns}(row);
      return;
    }
    const double scale = r[RowTerm::weight] / r[RowTerm::probability];
    const T rc = static_cast<T>(r[kRecip]);
    const T mc = static_cast<T>(r[kRecipM1]);
    const T g =
        static_cast<T>(scale * static_cast<double>(mc) * inv_batch / static_cast<double>(cols));
    const std::int64_t base = row * cols;
    double sum = 0.0;
    for (std::int64_t i = 0; i < cols; ++i) {
      const T d = x0[base + i] - math::x0_from_eps(rc, x_t[base + i], mc, out[base + i]);
      sum += static_cast<double>(d) * static_cast<double>(d);
      grad[base + i] = g * d;
    }
    row_loss[row] = r[RowTerm::weight] * (sum / (2.0 * static_cast<double>(cols)));
  }
};

/// x0_hat = r_b x_t - m_b out element-wise (r, m from the row terms, cast to T).
template <class T>
struct X0FromEpsKernel {
  const T* out;
  const T* x_t;
  const double* rows;  ///< B x kEpsilonColumns
  T* x0_hat;
  std::int64_t cols;

  /// Processes element (row, col).
  RECDIFF_HOST_DEVICE void operator()(std::int64_t row, std::int64_t col) const {
    const double* r = rows + row * kEpsilonColumns;
    const std::int64_t idx = row * cols + col;
    x0_hat[idx] = math::x0_from_eps(static_cast<T>(r[kRecip]), x_t[idx],
                                    static_cast<T>(r[kRecipM1]), out[idx]);
  }
};

/// grad_x0 -= grad_out element-wise: the x0 objective's target path (d/dx0 of (out - x0)^2 is the
/// negative of d/dout).
template <class T>
struct SubtractKernel {
  const T* grad_out;
  T* grad_x0;
  std::int64_t cols;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t row, std::int64_t col) const {
    grad_x0[row * cols + col] -= grad_out[row * cols + col];
  }
};

}  // namespace recdiff::objective_detail
