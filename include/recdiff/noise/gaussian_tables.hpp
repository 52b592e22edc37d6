#pragma once
/// @file
/// GaussianTables: every per-step buffer of a Gaussian diffusion, built once in double from a
/// schedule's betas (Ho et al., NeurIPS 2020, Eq. 4-7; DiffRec, Wang et al., SIGIR 2023, section 3).

#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <recdiff/concepts/noise_schedule.hpp>
#include <recdiff/schedule/detail/check.hpp>

namespace recdiff {

/// The derived buffers of a Gaussian diffusion, all in double and of length T (k = 0..T-1):
///
///     alphas_k                  = 1 - beta_k
///     alpha_bar_k               = prod_{j<=k} alphas_j
///     alpha_bar_prev_k          = 1 for k = 0, else alpha_bar_{k-1}
///     sqrt_alpha_bar_k          = sqrt(alpha_bar_k)
///     sqrt_one_minus_alpha_bar_k= sqrt(1 - alpha_bar_k)
///     sqrt_recip_alpha_bar_k    = sqrt(1 / alpha_bar_k)
///     sqrt_recipm1_alpha_bar_k  = sqrt(1 / alpha_bar_k - 1)
///     posterior_variance_k      = beta_k (1 - alpha_bar_prev_k) / (1 - alpha_bar_k)   (0 at k = 0)
///     posterior_log_variance_clipped_k = log(posterior_variance_max(k, 1))
///     posterior_mean_coef1_k    = beta_k sqrt(alpha_bar_prev_k) / (1 - alpha_bar_k)       (on x0)
///     posterior_mean_coef2_k    = (1 - alpha_bar_prev_k) sqrt(alphas_k) / (1 - alpha_bar_k) (x_k)
///     snr_k                     = alpha_bar_k / (1 - alpha_bar_k)
///
/// Each is evaluated in the reference code's order of operations. With T = 1 there is no
/// posterior_variance_1; posterior_log_variance_clipped_0 is then log(0) = -inf (the reverse step
/// adds noise only for k > 0, so it is never used).
///
/// **Noiseless tables** (a schedule with empty betas, DiffRec's noise_scale == 0): is_noiseless()
/// is true, num_steps() is T and every buffer still has T entries, filled with the values of "no
/// noise": betas 0, alphas, alpha_bar(_prev), sqrt_alpha_bar, sqrt_recip_alpha_bar and coef1 equal
/// to 1; sqrt_one_minus_alpha_bar, sqrt_recipm1_alpha_bar, posterior_variance and coef2 equal to 0;
/// posterior_log_variance_clipped -inf and snr +inf. So q_sample gives x_k = x_0 and the posterior
/// mean gives x0_hat, exactly DiffRec's s == 0 behaviour, with no special case in the kernels; a
/// core may still test is_noiseless() to skip drawing noise. Objectives use weight 1 for noiseless
/// tables.
class GaussianTables {
 public:
  /// Tables for `num_steps` steps from `betas`. Empty betas give noiseless tables; otherwise betas
  /// must have num_steps entries, each in (0, 1]. Throws std::invalid_argument otherwise.
  GaussianTables(int num_steps, std::span<const double> betas) : m_steps(num_steps) {
    constexpr const char* where = "recdiff::GaussianTables";
    schedule_detail::check_steps(where, num_steps);
    const auto n = static_cast<std::size_t>(num_steps);
    if (!betas.empty() && betas.size() != n)
      schedule_detail::fail(where, "betas has the wrong length", static_cast<double>(betas.size()),
                            ("num_steps = " + std::to_string(num_steps) + " or 0").c_str());
    m_betas.assign(betas.begin(), betas.end());
    schedule_detail::check_betas(where, m_betas);
    if (m_betas.empty())
      build_noiseless(n);
    else
      build(n);
  }

  /// Tables of a schedule: GaussianTables(schedule.num_steps(), schedule.betas()).
  /// (Constrained so that copying GaussianTables never asks whether it is itself a schedule.)
  template <class S>
    requires(!std::is_same_v<S, GaussianTables>) && NoiseSchedule<S>
  explicit GaussianTables(const S& schedule)
      : GaussianTables(schedule.num_steps(), std::span<const double>(schedule.betas())) {}

  /// Number of diffusion steps T.
  int num_steps() const noexcept { return m_steps; }
  /// True for a schedule without noise (see the class comment).
  bool is_noiseless() const noexcept { return m_noiseless; }

  /// beta_k (0 in noiseless tables).
  const std::vector<double>& betas() const noexcept { return m_betas; }
  /// 1 - beta_k.
  const std::vector<double>& alphas() const noexcept { return m_alphas; }
  /// prod_{j<=k} (1 - beta_j).
  const std::vector<double>& alpha_bar() const noexcept { return m_alpha_bar; }
  /// 1 at k = 0, else alpha_bar_{k-1}.
  const std::vector<double>& alpha_bar_prev() const noexcept { return m_alpha_bar_prev; }
  /// sqrt(alpha_bar_k): the x0 coefficient of q(x_k | x_0).
  const std::vector<double>& sqrt_alpha_bar() const noexcept { return m_sqrt_alpha_bar; }
  /// sqrt(1 - alpha_bar_k): the noise coefficient of q(x_k | x_0).
  const std::vector<double>& sqrt_one_minus_alpha_bar() const noexcept {
    return m_sqrt_one_minus_alpha_bar;
  }
  /// sqrt(1 / alpha_bar_k): the x_k coefficient of x0 from eps.
  const std::vector<double>& sqrt_recip_alpha_bar() const noexcept {
    return m_sqrt_recip_alpha_bar;
  }
  /// sqrt(1 / alpha_bar_k - 1): the eps coefficient of x0 from eps (subtracted).
  const std::vector<double>& sqrt_recipm1_alpha_bar() const noexcept {
    return m_sqrt_recipm1_alpha_bar;
  }
  /// Variance of q(x_{k-1} | x_k, x_0); 0 at k = 0.
  const std::vector<double>& posterior_variance() const noexcept { return m_posterior_variance; }
  /// log of the posterior variance, with entry 0 replaced by entry 1 (log 0 avoided).
  const std::vector<double>& posterior_log_variance_clipped() const noexcept {
    return m_posterior_log_variance_clipped;
  }
  /// Coefficient of x0 in the posterior mean.
  const std::vector<double>& posterior_mean_coef1() const noexcept { return m_coef1; }
  /// Coefficient of x_k in the posterior mean.
  const std::vector<double>& posterior_mean_coef2() const noexcept { return m_coef2; }
  /// Signal-to-noise ratio alpha_bar_k / (1 - alpha_bar_k) (+inf in noiseless tables).
  const std::vector<double>& snr() const noexcept { return m_snr; }

 private:
  void build(std::size_t n) {
    resize_all(n);
    double prod = 1.0;
    for (std::size_t k = 0; k < n; ++k) {
      m_alphas[k] = 1.0 - m_betas[k];
      m_alpha_bar_prev[k] = prod;
      prod *= m_alphas[k];
      m_alpha_bar[k] = prod;
    }
    for (std::size_t k = 0; k < n; ++k) {
      const double ab = m_alpha_bar[k], prev = m_alpha_bar_prev[k], beta = m_betas[k];
      m_sqrt_alpha_bar[k] = std::sqrt(ab);
      m_sqrt_one_minus_alpha_bar[k] = std::sqrt(1.0 - ab);
      m_sqrt_recip_alpha_bar[k] = std::sqrt(1.0 / ab);
      m_sqrt_recipm1_alpha_bar[k] = std::sqrt(1.0 / ab - 1.0);
      m_posterior_variance[k] = beta * (1.0 - prev) / (1.0 - ab);
      m_coef1[k] = beta * std::sqrt(prev) / (1.0 - ab);
      m_coef2[k] = (1.0 - prev) * std::sqrt(m_alphas[k]) / (1.0 - ab);
      m_snr[k] = ab / (1.0 - ab);
    }
    for (std::size_t k = 0; k < n; ++k)
      m_posterior_log_variance_clipped[k] =
          std::log(k == 0 && n > 1 ? m_posterior_variance[1] : m_posterior_variance[k]);
  }

  void build_noiseless(std::size_t n) {
    m_noiseless = true;
    m_betas.assign(n, 0.0);
    m_alphas.assign(n, 1.0);
    m_alpha_bar.assign(n, 1.0);
    m_alpha_bar_prev.assign(n, 1.0);
    m_sqrt_alpha_bar.assign(n, 1.0);
    m_sqrt_one_minus_alpha_bar.assign(n, 0.0);
    m_sqrt_recip_alpha_bar.assign(n, 1.0);
    m_sqrt_recipm1_alpha_bar.assign(n, 0.0);
    m_posterior_variance.assign(n, 0.0);
    m_posterior_log_variance_clipped.assign(n, -std::numeric_limits<double>::infinity());
    m_coef1.assign(n, 1.0);
    m_coef2.assign(n, 0.0);
    m_snr.assign(n, std::numeric_limits<double>::infinity());
  }

  void resize_all(std::size_t n) {
    for (auto* v :
         {&m_alphas, &m_alpha_bar, &m_alpha_bar_prev, &m_sqrt_alpha_bar,
          &m_sqrt_one_minus_alpha_bar, &m_sqrt_recip_alpha_bar, &m_sqrt_recipm1_alpha_bar,
          &m_posterior_variance, &m_posterior_log_variance_clipped, &m_coef1, &m_coef2, &m_snr})
      v->resize(n);
  }

  int m_steps;
  bool m_noiseless = false;
  std::vector<double> m_betas, m_alphas, m_alpha_bar, m_alpha_bar_prev, m_sqrt_alpha_bar,
      m_sqrt_one_minus_alpha_bar, m_sqrt_recip_alpha_bar, m_sqrt_recipm1_alpha_bar,
      m_posterior_variance, m_posterior_log_variance_clipped, m_coef1, m_coef2, m_snr;
};

}  // namespace recdiff
