#pragma once
/// @file
/// DiffRecLinearVar: DiffRec's "linear-var" schedule (linear 1 - alpha_bar, clipped betas, fixed
/// first beta), exactly as the released code builds it (DiffRec, SIGIR 2023, Eq. 4, and the released get_betas).

#include <algorithm>
#include <string>
#include <vector>

#include <recdiff/concepts/noise_schedule.hpp>
#include <recdiff/schedule/beta_schedule.hpp>
#include <recdiff/schedule/detail/check.hpp>

namespace recdiff {

/// DiffRec's linear-variance schedule, in float64, step for step as the reference code computes it:
/// 1. start = noise_scale * noise_min, end = noise_scale * noise_max (multiply first);
/// 2. v_k = start + k (end - start) / (T - 1), with v_{T-1} = end exactly (v_0 = start when T = 1);
/// 3. beta_0 = 1 - (1 - v_0), beta_k = min(1 - (1 - v_k) / (1 - v_{k-1}), 0.999) for k >= 1;
/// 4. when fix_first_beta (DiffRec, T-DiffRec; not the L-variants), beta_0 := 1e-5.
///
/// noise_scale == 0 is DiffRec's "no noise" model: num_steps() is still T (inference applies the
/// denoiser T times) but betas() is EMPTY. GaussianTables turns that into noiseless tables
/// (GaussianTables::is_noiseless()).
class DiffRecLinearVar : public BetaSchedule {
 public:
  /// The clip applied to every beta from step 3 on.
  static constexpr double max_beta = 0.999;
  /// The value beta_0 is overwritten with when fix_first_beta is set.
  static constexpr double fixed_first_beta = 1e-5;

  /// Throws std::invalid_argument unless steps >= 1, noise_scale >= 0, noise_min < noise_max and
  /// (for noise_scale > 0) every resulting beta is in (0, 1].
  DiffRecLinearVar(int steps, double noise_scale, double noise_min, double noise_max,
                   bool fix_first_beta = true)
      : BetaSchedule(steps),
        m_noise_scale(noise_scale),
        m_noise_min(noise_min),
        m_noise_max(noise_max),
        m_fix_first_beta(fix_first_beta) {
    constexpr const char* where = "recdiff::DiffRecLinearVar";
    schedule_detail::check_steps(where, steps);
    if (!(noise_scale >= 0.0))
      schedule_detail::fail(where, "noise_scale must be non-negative", noise_scale,
                            "noise_scale >= 0");
    if (!(noise_min < noise_max))
      schedule_detail::fail(
          where,
          "noise_min must be smaller than noise_max = " + schedule_detail::to_text(noise_max),
          noise_min, "noise_min < noise_max");
    if (noise_scale == 0.0) return;  // no noise: no betas (see the class comment)

    const double start = noise_scale * noise_min;
    const double end = noise_scale * noise_max;
    const auto n = static_cast<std::size_t>(steps);
    std::vector<double> one_minus_v(n);  // the reference's alpha_bar = 1 - variance
    const double step = steps > 1 ? (end - start) / (steps - 1) : 0.0;
    for (std::size_t k = 0; k < n; ++k) {
      const double v = (steps > 1 && k + 1 == n) ? end : start + static_cast<double>(k) * step;
      one_minus_v[k] = 1.0 - v;
    }
    m_betas.resize(n);
    m_betas[0] = 1.0 - one_minus_v[0];
    for (std::size_t k = 1; k < n; ++k)
      m_betas[k] = std::min(1.0 - one_minus_v[k] / one_minus_v[k - 1], max_beta);
    if (fix_first_beta) m_betas[0] = fixed_first_beta;
    schedule_detail::check_betas(where, m_betas,
                                 "beta in (0, 1] (is noise_scale * noise_max below 1?)");
  }

  /// The noise scale s.
  double noise_scale() const noexcept { return m_noise_scale; }
  /// a_min: the variance at the first step, before scaling.
  double noise_min() const noexcept { return m_noise_min; }
  /// a_max: the variance at the last step, before scaling.
  double noise_max() const noexcept { return m_noise_max; }
  /// Whether beta_0 was overwritten with 1e-5.
  bool fix_first_beta() const noexcept { return m_fix_first_beta; }

 private:
  double m_noise_scale;
  double m_noise_min;
  double m_noise_max;
  bool m_fix_first_beta;
};


}  // namespace recdiff
