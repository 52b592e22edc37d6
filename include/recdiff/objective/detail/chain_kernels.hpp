#pragma once
/// @file
/// The per-row kernel of the RecFusion chain objectives (objective/recfusion_terms.hpp): one fused
/// pass per row that sums the row's reconstruction, magnitude and latent terms over the items and
/// writes d loss / d out.

#include <cmath>
#include <cstdint>
#include <type_traits>

#include <recdiff/config.hpp>
#include <recdiff/math/bce.hpp>
#include <recdiff/objective/row_terms.hpp>

namespace recdiff::objective_detail {

/// Columns of a chain objective's row terms after the RowTerm ones: the coefficients of the row's
/// reconstruction term (1 or 0), magnitude term and latent term (docs/models.md, RecFusion).
inline constexpr int kReconstruction = RowTerm::count;
inline constexpr int kMagnitude = RowTerm::count + 1;
inline constexpr int kLatent = RowTerm::count + 2;
inline constexpr int kChainColumns = RowTerm::count + 3;

/// How a chain objective reads the network output of a row.
enum class ChainOutput {
  /// y = out (I columns): r/2 (x0 - y)^2 + m/2 y^2 + l/2 (x_t - y)^2 per item.
  value,
  /// out = [mu, s] (2 I columns): r/2 (x0 - mu)^2 + l (s/2 + e^{-s} (x_t - mu)^2 / 2) per item
  /// (the Gaussian NLL of x_t under N(mu, e^s), up to a constant).
  mean_and_log_variance,
  /// out = logits a (I columns), pi = sigmoid(a): r bce(x0, a) + m/2 pi^2 + l/2 (x_t - pi)^2.
  logits
};

/// One row b: L_b = w_b sum_i terms_i (double) and grad = (w_b / p_b) (1 / B) d terms / d out.
template <class T, ChainOutput Output>
struct ChainRowKernel {
  const T* out;
  const T* x0;
  const T* x_t;
  const double* rows;  ///< B x kChainColumns
  double* row_loss;    ///< B
  T* grad;
  std::int64_t items;  ///< I (out has 2 I columns for mean_and_log_variance)
  double inv_batch;    ///< 1 / B

  /// Processes row `row`.
  RECDIFF_HOST_DEVICE void operator()(std::int64_t row) const {
    const double* r = rows + row * kChainColumns;
    const double w = r[RowTerm::weight];
    const double scale = w / r[RowTerm::probability] * inv_batch;
    const double rec = r[kReconstruction], mag = r[kMagnitude], lat = r[kLatent];
    const std::int64_t in_base = row * items;
    double sum = 0.0;
    if constexpr (Output == ChainOutput::mean_and_log_variance) {
      const std::int64_t base = row * 2 * items;
      for (std::int64_t i = 0; i < items; ++i) {
        const double mu = out[base + i], s = out[base + items + i];
        const double d0 = static_cast<double>(x0[in_base + i]) - mu;
        const double dz = static_cast<double>(x_t[in_base + i]) - mu;
        const double precision = std::exp(-s);
        sum += 0.5 * rec * d0 * d0 + lat * (0.5 * s + 0.5 * precision * dz * dz);
        grad[base + i] = static_cast<T>(scale * (-rec * d0 - lat * precision * dz));
        grad[base + items + i] = static_cast<T>(scale * lat * 0.5 * (1.0 - precision * dz * dz));
      }
    } else {
      for (std::int64_t i = 0; i < items; ++i) {
        const double a = out[in_base + i];
        const double x = x0[in_base + i];
        const double z = lat != 0 ? static_cast<double>(x_t[in_base + i]) : 0.0;
        double y = a, g = 0.0;
        if constexpr (Output == ChainOutput::logits) {
          if constexpr (std::is_same_v<T, float>) {
            float pi = 0.0f;  // the libm-free form: this loop is the model's costliest pass
            sum += rec * static_cast<double>(
                             math::fast_bce_from_logits(static_cast<float>(x), out[in_base + i], pi));
            y = pi;
          } else {
            y = math::sigmoid(a);
            sum += rec * math::bce_from_logits(x, a);
          }
          g = rec * (y - x);
        } else {
          sum += 0.5 * rec * (x - y) * (x - y);
          g = rec * (y - x);
        }
        sum += 0.5 * mag * y * y + 0.5 * lat * (z - y) * (z - y);
        double g_y = mag * y - lat * (z - y);
        if constexpr (Output == ChainOutput::logits) g_y *= y * (1.0 - y);
        grad[in_base + i] = static_cast<T>(scale * (g + g_y));
      }
    }
    row_loss[row] = w * sum;
  }
};

}  // namespace recdiff::objective_detail
