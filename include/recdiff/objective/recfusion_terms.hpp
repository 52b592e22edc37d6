#pragma once
/// @file
/// RecFusionTerms: the per-step losses of RecFusion's models (Bénédict et al. 2023, Sec. 2.3 and
/// the released code; docs/models.md), as an objective whose rows each carry one step of the
/// chain, so that a batch holding every step of every user sums the loss over the whole chain.

#include <cmath>
#include <cstdint>
#include <span>
#include <string>

#include <recdiff/concepts/noise_kernel.hpp>
#include <recdiff/noise/detail/checks.hpp>
#include <recdiff/objective/detail/chain_kernels.hpp>
#include <recdiff/objective/row_terms.hpp>

namespace recdiff {

/// Which of RecFusion's losses (all per user, summed over items, up to additive constants; beta_k
/// the noise kernel's betas, z_k the row's latent x_t, y the output, T the number of steps,
/// c_k = (1 - sqrt(1 - beta_k))^2 / beta_k):
enum class RecFusionLoss {
  /// RecFusion (MLP) as released: 1/2 ||x - y||^2 at the reconstruction step,
  /// (1 - c_0)/2 ||y||^2 at step T-1, and e^{-beta_k}/2 ||z_k - y||^2 at every step (the code's
  /// "KL" with beta_k read as a log-variance: each latent is reproduced).
  latent_identity,
  /// RecFusionT and the U-Nets: the reconstruction, (1 - c_0)/2 ||y||^2 at step T-1 and
  /// (1 - c_k)/2 ||y||^2 at the steps strictly between the reconstruction step and T-1.
  magnitude,
  /// RecFusionVar: out = [mu, s]; 1/2 ||x - mu||^2 at the reconstruction step and the Gaussian NLL
  /// sum_i s_i/2 + e^{-s_i} (z_k,i - mu_i)^2 / 2 at every step.
  learned_variance,
  /// RecFusionBin: out = logits; sum_i BCE(x_i, sigmoid(a_i)) from the logits at the reconstruction
  /// step (the paper's Eq. 8 with its arguments the right way round).
  bce,
  /// RecFusionBin with the released code's Gaussian terms added on pi = sigmoid(a):
  /// (1 - c_0)/2 ||pi||^2 at step T-1 and e^{-beta_k}/2 ||z_k - pi||^2 at every step.
  bce_with_gaussian_terms
};

/// The objective of RecFusion's `Loss` variant whose reconstruction term is taken at step
/// `ReconstructionStep` (0 for the MLP models; 1 for the U-Nets, which train on z_1..z_{T-1}).
/// Row b at step k_b contributes L_b = sum of the terms above that apply at k_b; with the rows of
/// every training step of each user and p_b = 1 / (steps per user), the batch loss
/// (1/B) sum_b L_b / p_b is the mean over users of the loss summed over the chain.
///
/// Needs only the kernel's betas (BetaScheduleNoise), so one objective serves Gaussian and
/// Bernoulli chains. Stateless; every function is static.
template <RecFusionLoss Loss, int ReconstructionStep = 0>
struct RecFusionTerms {
  /// The backend's dense matrix of T.
  template <class BackendType, class T>
  using Matrix = typename BackendType::template Matrix<T>;

  static constexpr const char* name = "RecFusionTerms";  ///< name in messages
  /// The output is x0_hat itself only for the plain value forms.
  static constexpr bool output_is_x0 =
      Loss == RecFusionLoss::latent_identity || Loss == RecFusionLoss::magnitude;
  /// Whether the loss reads the latent x_t (the BCE alone does not, so a sparse training path
  /// need not densify it).
  static constexpr bool reads_x_t = Loss != RecFusionLoss::bce;
  /// RowTerm columns, then the reconstruction, magnitude and latent coefficients.
  static constexpr int row_term_count = objective_detail::kChainColumns;
  /// How the kernel reads the output.
  static constexpr objective_detail::ChainOutput output_form =
      Loss == RecFusionLoss::learned_variance ? objective_detail::ChainOutput::mean_and_log_variance
      : (Loss == RecFusionLoss::bce || Loss == RecFusionLoss::bce_with_gaussian_terms)
          ? objective_detail::ChainOutput::logits
          : objective_detail::ChainOutput::value;

  /// 1: the chain's terms carry their own coefficients (the noise kernel's betas).
  template <BetaScheduleNoise NoiseType>
  static double weight(const NoiseType& noise, int k, bool) {
    const int steps[1] = {k};
    policy_detail::check_steps("recdiff::RecFusionTerms::weight", steps, noise.num_steps());
    return 1.0;
  }

  /// (reconstruction, magnitude, latent) coefficients of step k of a T-step chain with `betas`.
  static void coefficients(std::span<const double> betas, int k, double* out) {
    const int last = static_cast<int>(betas.size()) - 1;
    const auto beta = [&](int j) { return betas[static_cast<std::size_t>(j)]; };
    const auto one_minus_c = [&](int j) {
      const double b = beta(j);
      if (!(b > 0)) return 0.0;
      const double s = 1.0 - std::sqrt(1.0 - b);
      return 1.0 - s * s / b;
    };
    double rec = k == ReconstructionStep ? 1.0 : 0.0, mag = 0.0, lat = 0.0;
    switch (Loss) {
      case RecFusionLoss::latent_identity:
      case RecFusionLoss::bce_with_gaussian_terms:
        if (k == last) mag = one_minus_c(0);
        lat = std::exp(-beta(k));
        break;
      case RecFusionLoss::magnitude:
        if (k == last) mag = one_minus_c(0);
        else if (k > ReconstructionStep) mag = one_minus_c(k);
        break;
      case RecFusionLoss::learned_variance:
        lat = 1.0;
        break;
      case RecFusionLoss::bce:
        break;
    }
    out[0] = rec;
    out[1] = mag;
    out[2] = lat;
  }

  /// Fills the per-row terms (B x row_term_count) for steps k_b and factors p_b (empty: all 1).
  /// Throws std::out_of_range for a step outside [0, T), std::invalid_argument for a bad p.
  template <class BackendType, BetaScheduleNoise NoiseType>
  static void row_terms(const typename BackendType::Context& ctx, const NoiseType& noise,
                        std::span<const int> steps, std::span<const double> p, bool,
                        Matrix<BackendType, double>& rows) {
    const std::span<const double> betas = noise.betas();
    objective_detail::fill_row_terms<BackendType>(
        ctx, "recdiff::RecFusionTerms::row_terms", noise.num_steps(), row_term_count, steps, p,
        [](int) { return 1.0; }, [&](int k, double* extra) { coefficients(betas, k, extra); },
        rows);
  }

  /// Per-row losses L_b (B x 1, double) and grad = d loss / d out for
  /// loss = (1/B) sum_b L_b / p_b. x_t is the row's latent z_k. Throws std::invalid_argument on a
  /// shape mismatch.
  template <class BackendType, class T, BetaScheduleNoise NoiseType>
  static void loss_and_gradient(const typename BackendType::Context& ctx, const NoiseType&,
                                typename NoiseType::template Workspace<BackendType, T>&,
                                const Matrix<BackendType, T>& out, const Matrix<BackendType, T>& x0,
                                const Matrix<BackendType, T>& x_t,
                                const Matrix<BackendType, double>& rows,
                                Matrix<BackendType, double>& row_loss,
                                Matrix<BackendType, T>& grad) {
    constexpr const char* where = "recdiff::RecFusionTerms::loss_and_gradient";
    const std::int64_t b = x0.rows(), items = x0.cols();
    policy_detail::check_shape(where, "out", out, b, output_width(items));
    policy_detail::check_shape(where, "x_t", x_t, b, items);
    policy_detail::check_shape(where, "rows", rows, b, row_term_count);
    row_loss.resize(b, 1);
    grad.resize(b, output_width(items));
    BackendType::for_each_row(
        ctx, b,
        objective_detail::ChainRowKernel<T, output_form>{
            out.data(), x0.data(), x_t.data(), rows.data(), row_loss.data(), grad.data(), items,
            b > 0 ? 1.0 / static_cast<double>(b) : 0.0});
  }

  /// x0_hat: the output itself (value forms), its mean half (learned variance) or sigmoid(logits).
  template <class BackendType, class T, BetaScheduleNoise NoiseType>
  static void x0_hat(const typename BackendType::Context& ctx, const NoiseType&,
                     const Matrix<BackendType, T>& out, const Matrix<BackendType, T>& x_t,
                     const Matrix<BackendType, double>&, Matrix<BackendType, T>& x0_hat_out) {
    if constexpr (output_form == objective_detail::ChainOutput::value) {
      x0_hat_out = out;
    } else {
      const std::int64_t items = x_t.cols();
      x0_hat_out.resize(out.rows(), items);
      BackendType::for_each(ctx, out.rows(), items,
                            X0HatKernel<T>{out.data(), x0_hat_out.data(), out.cols(), items});
    }
  }

  /// Output width for I items.
  static constexpr std::int64_t output_width(std::int64_t items) {
    return output_form == objective_detail::ChainOutput::mean_and_log_variance ? 2 * items : items;
  }

  /// x0_hat(i, j) from the output row (public: nvcc refuses private nested kernel types).
  template <class T>
  struct X0HatKernel {
    const T* out;
    T* x0_hat;
    std::int64_t out_cols;
    std::int64_t items;
    RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t j) const {
      const T a = out[i * out_cols + j];
      if constexpr (output_form == objective_detail::ChainOutput::logits) {
        x0_hat[i * items + j] = static_cast<T>(math::sigmoid(static_cast<double>(a)));
      } else {
        x0_hat[i * items + j] = a;
      }
    }
  };
};

}  // namespace recdiff
