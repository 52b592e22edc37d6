#pragma once
/// @file
/// BernoulliBce: the denoiser outputs logits of P(x0 = 1), scored by the binary cross-entropy
/// against x0 (RecFusionBin's reconstruction loss in its corrected form: RecFusion, Bénédict et al.
/// 2023, Eq. 8, with the prediction, not the data, inside the log). Pairs with the Bernoulli noise
/// kernels.

#include <cstdint>
#include <span>

#include <recdiff/concepts/noise_kernel.hpp>
#include <recdiff/config.hpp>
#include <recdiff/math/bce.hpp>
#include <recdiff/noise/detail/checks.hpp>
#include <recdiff/objective/row_terms.hpp>

namespace recdiff {

namespace objective_detail {

/// For one row b of a (B x cols) batch of logits a and targets x: row_loss_b = w_b sum_i
/// bce(x_i, a_i) (summed in double) and grad = d/d a of (1/B) sum_b (w_b / p_b) l_b =
/// (w_b / p_b) (1 / B) (sigmoid(a) - x).
template <class T>
struct BceRowKernel {
  const T* logits;
  const T* target;
  const double* rows;  ///< B x stride (RowTerm columns first)
  double* row_loss;    ///< B
  T* grad;             ///< B x cols (may alias logits)
  std::int64_t cols;
  double inv_batch;     ///< 1 / B
  std::int64_t stride;  ///< columns of the row-term matrix

  /// Processes row `row`.
  RECDIFF_HOST_DEVICE void operator()(std::int64_t row) const {
    const double* r = rows + row * stride;
    const T g = static_cast<T>(r[RowTerm::weight] / r[RowTerm::probability] * inv_batch);
    const std::int64_t base = row * cols;
    double sum = 0.0;
    for (std::int64_t i = 0; i < cols; ++i) {
      const T a = logits[base + i], x = target[base + i];
      sum += static_cast<double>(math::bce_from_logits(x, a));
      grad[base + i] = g * math::bce_from_logits_derivative(x, a);
    }
    row_loss[row] = r[RowTerm::weight] * sum;
  }
};

/// out = sigmoid(in) element-wise (out may alias in).
template <class T>
struct SigmoidKernel {
  const T* in;
  T* out;
  std::int64_t cols;
  /// Processes element (row, col).
  RECDIFF_HOST_DEVICE void operator()(std::int64_t row, std::int64_t col) const {
    out[row * cols + col] = math::sigmoid(in[row * cols + col]);
  }
};

}  // namespace objective_detail

/// The Bernoulli cross-entropy objective. The denoiser output `out` (B x I) holds logits a; for
/// row b at step k_b, sampled with factor p_b, against the clean binary row x0:
///
///     l_b = sum_i bce(x0_i, a_i) = sum_i [x0_i softplus(-a_i) + (1 - x0_i) softplus(a_i)],
///     L_b = w_b l_b (w = 1),   loss = (1/B) sum_b L_b / p_b,
///     d loss / d a_i = (w_b / p_b) (1 / B) (sigmoid(a_i) - x0_i),
///
/// a sum over items and a mean over users, as RecFusion's losses are; computed from the logits
/// (math/bce.hpp), so it is finite for any logit. x0_hat = sigmoid(out), the probability Bernoulli::reverse_step takes.
///
/// Needs a BernoulliNoise kernel; CompatibleObjective<BernoulliBce, Bernoulli<P>, B> holds for
/// every process P, and the Gaussian objectives refuse Bernoulli kernels (and this one refuses
/// Gaussian). Stateless; every function is static, templated on the backend and the scalar type T
/// (not deducible: `BernoulliBce::loss_and_gradient<CpuBackend, float>(...)`).
struct BernoulliBce {
  /// The backend's dense matrix of T.
  template <class BackendType, class T>
  using Matrix = typename BackendType::template Matrix<T>;

  static constexpr const char* name = "BernoulliBce";  ///< name in messages
  /// False: the output is a logit; x0_hat() turns it into a probability.
  static constexpr bool output_is_x0 = false;
  /// Only the shared RowTerm columns.
  static constexpr int row_term_count = RowTerm::count;

  /// w_k = 1 for every step (the argument `reweight` has no effect). Throws std::out_of_range
  /// unless 0 <= k < T.
  template <BernoulliNoise NoiseType>
  static double weight(const NoiseType& noise, int k, bool reweight) {
    (void)reweight;
    const int steps[1] = {k};
    policy_detail::check_steps("recdiff::BernoulliBce::weight", steps, noise.num_steps());
    return 1.0;
  }

  /// Fills the per-row terms (B x RowTerm::count) for steps k_b and sampler factors p_b (empty p:
  /// all 1). Throws std::out_of_range for a step outside [0, T) and std::invalid_argument when p
  /// has the wrong size or a non-positive entry.
  template <class BackendType, BernoulliNoise NoiseType>
  static void row_terms(const typename BackendType::Context& ctx, const NoiseType& noise,
                        std::span<const int> steps, std::span<const double> p, bool reweight,
                        Matrix<BackendType, double>& rows) {
    (void)reweight;
    objective_detail::fill_row_terms<BackendType>(
        ctx, "recdiff::BernoulliBce::row_terms", noise.num_steps(), row_term_count, steps, p,
        [](int) { return 1.0; }, [](int, double*) {}, rows);
  }

  /// Fused, one pass per row: row_loss_b = L_b = w_b sum_i bce(x0, out) (B x 1, double, summed in
  /// double) and grad = d loss / d out = (w_b / p_b) (1 / B) (sigmoid(out) - x0) (B x I, T). x_t
  /// and the workspace are not used (same signature as every objective). Throws
  /// std::invalid_argument on a shape mismatch.
  template <class BackendType, class T, BernoulliNoise NoiseType>
  static void loss_and_gradient(const typename BackendType::Context& ctx, const NoiseType&,
                                typename NoiseType::template Workspace<BackendType, T>&,
                                const Matrix<BackendType, T>& out, const Matrix<BackendType, T>& x0,
                                const Matrix<BackendType, T>&,
                                const Matrix<BackendType, double>& rows,
                                Matrix<BackendType, double>& row_loss,
                                Matrix<BackendType, T>& grad) {
    constexpr const char* where = "recdiff::BernoulliBce::loss_and_gradient";
    const std::int64_t b = out.rows(), n = out.cols();
    policy_detail::check_shape(where, "x0", x0, b, n);
    policy_detail::check_shape(where, "rows", rows, b, row_term_count);
    row_loss.resize(b, 1);
    grad.resize(b, n);
    const objective_detail::BceRowKernel<T> kernel{out.data(),
                                                   x0.data(),
                                                   rows.data(),
                                                   row_loss.data(),
                                                   grad.data(),
                                                   n,
                                                   b > 0 ? 1.0 / static_cast<double>(b) : 0.0,
                                                   row_term_count};
    BackendType::for_each_row(ctx, b, kernel);
  }

  /// x0_hat = sigmoid(out): the model's P(x0 = 1) per item (x0_hat may alias out).
  template <class BackendType, class T, BernoulliNoise NoiseType>
  static void x0_hat(const typename BackendType::Context& ctx, const NoiseType&,
                     const Matrix<BackendType, T>& out, const Matrix<BackendType, T>&,
                     const Matrix<BackendType, double>&, Matrix<BackendType, T>& x0_hat_out) {
    if (&x0_hat_out != &out) x0_hat_out.resize(out.rows(), out.cols());
    BackendType::for_each(ctx, out.rows(), out.cols(),
                          objective_detail::SigmoidKernel<T>{out.data(), x0_hat_out.data(),
                                                             out.cols()});
  }
};

}  // namespace recdiff
