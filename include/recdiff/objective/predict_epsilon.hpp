#pragma once
/// @file
/// PredictEpsilon: the denoiser predicts the noise eps (DiffRec's mean_type "eps", Table 5
/// ablation).

#include <cstdint>
#include <span>

#include <recdiff/concepts/noise_kernel.hpp>
#include <recdiff/noise/detail/checks.hpp>
#include <recdiff/objective/detail/loss_kernels.hpp>
#include <recdiff/objective/row_terms.hpp>
#include <recdiff/noise/gaussian_tables.hpp>

namespace recdiff {

/// The eps objective, as DiffRec's code defines it (DiffRec, Wang et al., SIGIR 2023, section 3 and the released code's mean_type "eps"). For a
/// batch with model output `out` (B x I), row b at step k_b, sampled with factor p_b:
///
///     k_b >= 1: l_b = mean_i (eps - out)^2
///     k_b  = 0: l_b = mean_i (x0 - x0_hat)^2 / 2,  x0_hat = sqrt_recip_alpha_bar_0 x_t
///                                                         - sqrt_recipm1_alpha_bar_0 out
///     L_b = w_b l_b,  loss = (1/B) sum_b L_b / p_b,
///     w_b = (1 - alpha_bar_k) / ((1 - alpha_bar_prev_k)^2 alpha_k) for k >= 1, 1 for k = 0
///
/// (the code's weight, not the textbook DDPM one; 1 for every k without reweighting). Needs a
/// GaussianNoise kernel (its tables and the eps of the last q_sample). Stateless; static functions
/// templated on the backend and T, like PredictX0.
struct PredictEpsilon {
  /// The backend's dense matrix of T.
  template <class BackendType, class T>
  using Matrix = typename BackendType::template Matrix<T>;

  static constexpr const char* name = "PredictEpsilon";  ///< name in messages
  /// False: x0_hat must be reconstructed from the output.
  static constexpr bool output_is_x0 = false;
  /// RowTerm columns, then sqrt_recip_alpha_bar_k and sqrt_recipm1_alpha_bar_k.
  static constexpr int row_term_count = objective_detail::kEpsilonColumns;

  /// w_k = (1 - alpha_bar_k) / ((1 - alpha_bar_prev_k)^2 alpha_k) for k >= 1 and 1 for k = 0 when
  /// `reweight`; 1 when not, and 1 for a noiseless kernel. Throws std::out_of_range unless
  /// 0 <= k < T.
  template <GaussianNoise NoiseType>
  static double weight(const NoiseType& noise, int k, bool reweight) {
    const GaussianTables& tables = noise.tables();
    const int steps[1] = {k};
    policy_detail::check_steps("recdiff::PredictEpsilon::weight", steps, tables.num_steps());
    if (!reweight || k == 0 || tables.is_noiseless()) return 1.0;
    const auto kk = static_cast<std::size_t>(k);
    const double one_minus_prev = 1.0 - tables.alpha_bar_prev()[kk];
    return (1.0 - tables.alpha_bar()[kk]) / (one_minus_prev * one_minus_prev * tables.alphas()[kk]);
  }

  /// Fills the per-row terms (B x row_term_count) for steps k_b and sampler factors p_b (empty p:
  /// all 1). Same errors as PredictX0::row_terms.
  template <class BackendType, GaussianNoise NoiseType>
  static void row_terms(const typename BackendType::Context& ctx, const NoiseType& noise,
                        std::span<const int> steps, std::span<const double> p, bool reweight,
                        Matrix<BackendType, double>& rows) {
    const GaussianTables& tables = noise.tables();
    objective_detail::fill_row_terms<BackendType>(
        ctx, "recdiff::PredictEpsilon::row_terms", noise.num_steps(), row_term_count, steps, p,
        [&](int k) { return weight(noise, k, reweight); },
        [&](int k, double* extra) {
          const auto kk = static_cast<std::size_t>(k);
          extra[0] = tables.sqrt_recip_alpha_bar()[kk];
          extra[1] = tables.sqrt_recipm1_alpha_bar()[kk];
        },
        rows);
  }

  /// Fused, one pass per row: row_loss_b = L_b (B x 1, double) and grad = d loss / d out (B x I):
  /// (w_b / p_b) (2 / (B I)) (out - eps) for k_b >= 1 and
  /// (w_b / p_b) (sqrt_recipm1_alpha_bar_0 / (B I)) (x0 - x0_hat) for k_b = 0, with eps the noise
  /// of the kernel's last q_sample (ws.eps). Throws std::invalid_argument on a shape mismatch.
  template <class BackendType, class T, GaussianNoise NoiseType>
  static void loss_and_gradient(const typename BackendType::Context& ctx, const NoiseType&,
                                typename NoiseType::template Workspace<BackendType, T>& ws,
                                const Matrix<BackendType, T>& out, const Matrix<BackendType, T>& x0,
                                const Matrix<BackendType, T>& x_t,
                                const Matrix<BackendType, double>& rows,
                                Matrix<BackendType, double>& row_loss,
                                Matrix<BackendType, T>& grad) {
    constexpr const char* where = "recdiff::PredictEpsilon::loss_and_gradient";
    const std::int64_t b = out.rows(), n = out.cols();
    const Matrix<BackendType, T>& eps = ws.eps;
    policy_detail::check_shape(where, "x0", x0, b, n);
    policy_detail::check_shape(where, "x_t", x_t, b, n);
    policy_detail::check_shape(where, "eps", eps, b, n);
    policy_detail::check_shape(where, "rows", rows, b, row_term_count);
    row_loss.resize(b, 1);
    grad.resize(b, n);
    const objective_detail::EpsilonRowKernel<T> kernel{
        out.data(),  x0.data(),   x_t.data(),
        eps.data(),  rows.data(), row_loss.data(),
        grad.data(), n,           b > 0 ? 1.0 / static_cast<double>(b) : 0.0};
    BackendType::for_each_row(ctx, b, kernel);
  }

  /// x0_hat = sqrt_recip_alpha_bar_k x_t - sqrt_recipm1_alpha_bar_k out, row by row (coefficients
  /// from the row terms, cast to T). x0_hat_out may alias out or x_t. Throws std::invalid_argument
  /// on a shape mismatch.
  template <class BackendType, class T, GaussianNoise NoiseType>
  static void x0_hat(const typename BackendType::Context& ctx, const NoiseType&,
                     const Matrix<BackendType, T>& out, const Matrix<BackendType, T>& x_t,
                     const Matrix<BackendType, double>& rows, Matrix<BackendType, T>& x0_hat_out) {
    constexpr const char* where = "recdiff::PredictEpsilon::x0_hat";
    const std::int64_t b = out.rows(), n = out.cols();
    policy_detail::check_shape(where, "x_t", x_t, b, n);
    policy_detail::check_shape(where, "rows", rows, b, row_term_count);
    x0_hat_out.resize(b, n);
    const objective_detail::X0FromEpsKernel<T> kernel{out.data(), x_t.data(), rows.data(),
                                                      x0_hat_out.data(), n};
    BackendType::for_each(ctx, b, n, kernel);
  }
};

}  // namespace recdiff
