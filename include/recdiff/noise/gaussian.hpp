#pragma once
/// @file
/// Gaussian: the Gaussian noise kernel of DDPM and DiffRec (forward sampling q(x_k | x_0), posterior
/// mean and reverse step), owning its GaussianTables.

#include <cmath>
#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>

#include <recdiff/concepts/noise_schedule.hpp>
#include <recdiff/noise/detail/checks.hpp>
#include <recdiff/noise/detail/gaussian_kernels.hpp>
#include <recdiff/noise/gaussian_tables.hpp>
#include <recdiff/noise/noise_draw.hpp>

namespace recdiff {

/// Gaussian noise (Ho et al., NeurIPS 2020; DiffRec, Wang et al., SIGIR 2023, Eq. 2-8):
/// x_k = sqrt(alpha_bar_k) x0 + sqrt(1 - alpha_bar_k) eps with eps ~ N(0, I), and the reverse step
/// x_{k-1} = coef1_k x0_hat + coef2_k x_k (+ exp(log_var_k / 2) z for k > 0).
///
/// Built from a schedule, whose betas it turns into GaussianTables once (double). Per-row
/// coefficients are gathered from the tables at each row's step, cast to T (the reference casts to
/// float32) and uploaded into the Workspace. Satisfies NoiseKernel, DifferentiableNoise and
/// GaussianNoise.
class Gaussian {
 public:
  /// Name used in messages and checkpoints.
  static constexpr const char* name = "Gaussian";

  /// Work buffers of one batch shape: per-row coefficients (B x 1) and the noise eps (B x I) of the
  /// last q_sample (PredictEpsilon's target).
  template <class BackendType, class T>
  struct Workspace {
    typename BackendType::template Matrix<T> coef_a, coef_b, coef1, coef2, noise_std, eps;
  };

  /// The tables of `schedule`.
  template <class ScheduleType>
    requires(!std::is_same_v<ScheduleType, Gaussian>) && NoiseSchedule<ScheduleType>
  explicit Gaussian(const ScheduleType& schedule) : m_tables(schedule) {}

  /// T.
  int num_steps() const noexcept { return m_tables.num_steps(); }
  /// True for a schedule without betas (x_k = x_0).
  bool is_noiseless() const noexcept { return m_tables.is_noiseless(); }
  /// The per-step buffers.
  const GaussianTables& tables() const noexcept { return m_tables; }
  /// beta_0..beta_{T-1} of the tables (zeros for a noiseless schedule), as BetaScheduleNoise asks.
  std::span<const double> betas() const noexcept { return m_tables.betas(); }
  /// (coef1_k, coef2_k) of the posterior mean coef1 x0 + coef2 x_k.
  std::pair<double, double> posterior_mean_coefficients(int k) const {
    const int one[1] = {k};
    policy_detail::check_steps("recdiff::Gaussian::posterior_mean_coefficients", one, num_steps());
    const auto kk = static_cast<std::size_t>(k);
    return {m_tables.posterior_mean_coef1()[kk], m_tables.posterior_mean_coef2()[kk]};
  }

  /// x_t = sqrt_alpha_bar[k_b] x0 + sqrt_one_minus_alpha_bar[k_b] eps with eps_{b,i} the draw's
  /// Philox normal (stored in ws.eps). x_t may alias x0. Throws std::out_of_range for a step
  /// outside [0, T) and std::invalid_argument when steps does not hold one step per row.
  template <class BackendType, class T>
  void q_sample(const typename BackendType::Context& ctx,
                const typename BackendType::template Matrix<T>& x0, std::span<const int> steps,
                const NoiseDraw& draw, Workspace<BackendType, T>& ws,
                typename BackendType::template Matrix<T>& x_t) const {
    constexpr const char* where = "recdiff::Gaussian::q_sample";
    const std::int64_t rows = x0.rows(), cols = x0.cols();
    check_rows(where, steps, rows);
    policy_detail::check_steps(where, steps, num_steps());
    policy_detail::gather<BackendType, T>(ctx, m_tables.sqrt_alpha_bar(), steps, ws.coef_a);
    policy_detail::gather<BackendType, T>(ctx, m_tables.sqrt_one_minus_alpha_bar(), steps,
                                          ws.coef_b);
    if (&x_t != &x0) x_t.resize(rows, cols);
    ws.eps.resize(rows, cols);
    const noise_detail::QSampleKernel<T> kernel{x0.data(),  ws.coef_a.data(), ws.coef_b.data(),
                                                x_t.data(), ws.eps.data(),    cols, draw};
    BackendType::for_each(ctx, rows, noise_detail::column_groups(cols), kernel);
  }

  /// grad_x0 = (or +=, when `accumulate`) sqrt_alpha_bar[k_b] grad_x_t: the gradient through the
  /// last q_sample with respect to its x0.
  template <class BackendType, class T>
  void q_sample_backward(const typename BackendType::Context& ctx, Workspace<BackendType, T>& ws,
                         const typename BackendType::template Matrix<T>& grad_x_t, bool accumulate,
                         typename BackendType::template Matrix<T>& grad_x0) const {
    policy_detail::check_shape("recdiff::Gaussian::q_sample_backward", "coef_a", ws.coef_a,
                               grad_x_t.rows(), 1);
    if (!accumulate) grad_x0.resize(grad_x_t.rows(), grad_x_t.cols());
    policy_detail::check_shape("recdiff::Gaussian::q_sample_backward", "grad_x0", grad_x0,
                               grad_x_t.rows(), grad_x_t.cols());
    BackendType::for_each(ctx, grad_x_t.rows(), grad_x_t.cols(),
                          noise_detail::QSampleBackwardKernel<T>{grad_x_t.data(), ws.coef_a.data(),
                                                                 grad_x0.data(), grad_x_t.cols(),
                                                                 accumulate});
  }

  /// out = coef1[k_b] x0_hat + coef2[k_b] x_t, plus, when `sample`, exp(0.5
  /// posterior_log_variance_clipped[k_b]) z for rows with k_b > 0 (z the draw's Philox normal; the
  /// last step adds no noise). out may alias x_t or x0_hat. Throws std::invalid_argument on a shape
  /// mismatch, std::out_of_range for a bad step.
  template <class BackendType, class T>
  void reverse_step(const typename BackendType::Context& ctx,
                    const typename BackendType::template Matrix<T>& x0_hat,
                    const typename BackendType::template Matrix<T>& x_t,
                    std::span<const int> steps, const NoiseDraw& draw, bool sample,
                    Workspace<BackendType, T>& ws,
                    typename BackendType::template Matrix<T>& out) const {
    constexpr const char* where = "recdiff::Gaussian::reverse_step";
    const std::int64_t rows = x_t.rows(), cols = x_t.cols();
    policy_detail::check_shape(where, "x0_hat", x0_hat, rows, cols);
    check_rows(where, steps, rows);
    policy_detail::check_steps(where, steps, num_steps());
    policy_detail::gather<BackendType, T>(ctx, m_tables.posterior_mean_coef1(), steps, ws.coef1);
    policy_detail::gather<BackendType, T>(ctx, m_tables.posterior_mean_coef2(), steps, ws.coef2);
    if (sample)
      policy_detail::gather<BackendType, T>(
          ctx, m_tables.posterior_log_variance_clipped(), steps, ws.noise_std,
          [](int k, double log_var) { return k > 0 ? std::exp(0.5 * log_var) : 0.0; });
    if (&out != &x_t && &out != &x0_hat) out.resize(rows, cols);
    const noise_detail::ReverseStepKernel<T> kernel{x0_hat.data(),
                                                    x_t.data(),
                                                    ws.coef1.data(),
                                                    ws.coef2.data(),
                                                    sample ? ws.noise_std.data() : nullptr,
                                                    out.data(),
                                                    cols,
                                                    draw};
    BackendType::for_each(ctx, rows, noise_detail::column_groups(cols), kernel);
  }

 private:
  static void check_rows(const char* where, std::span<const int> steps, std::int64_t rows) {
    if (static_cast<std::int64_t>(steps.size()) != rows)
      policy_detail::shape_mismatch(where, "steps", static_cast<std::int64_t>(steps.size()), 1, rows,
                                    1);
  }

  GaussianTables m_tables;
};

}  // namespace recdiff
