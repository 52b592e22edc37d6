#pragma once
/// @file
/// Quadratic: betas whose square roots are spaced linearly, RecFusion's default schedule.

#include <cmath>
#include <vector>

#include <recdiff/concepts/noise_schedule.hpp>
#include <recdiff/schedule/beta_schedule.hpp>
#include <recdiff/schedule/detail/check.hpp>

namespace recdiff {

/// Quadratic beta schedule (RecFusion, Bénédict et al. 2023; the released code's default
/// "quadratic" schedule):
///
///     beta_k = ( sqrt(beta_start) + k (sqrt(beta_end) - sqrt(beta_start)) / (T - 1) )^2,
///
/// k = 0..T-1, i.e. numpy's linspace of the square roots with the endpoint, then squared;
/// evaluated in double, with beta_0 = beta_start and beta_{T-1} = beta_end stored exactly (not as
/// a squared square root). T = 1 gives [beta_start]. With the defaults 1e-4 -> 0.1, T = 3 gives
/// [1e-4, 0.026606..., 0.1] and T = 2 gives [1e-4, 0.1] (RecFusion's released final runs).
class Quadratic : public BetaSchedule {
 public:
  /// RecFusion's default first beta.
  static constexpr double default_beta_start = 1e-4;
  /// RecFusion's default last beta.
  static constexpr double default_beta_end = 0.1;

  /// Throws std::invalid_argument unless steps >= 1 and beta_start and beta_end are in (0, 1]
  /// (every beta then is: its root lies between the two end roots).
  explicit Quadratic(int steps, double beta_start = default_beta_start,
                     double beta_end = default_beta_end)
      : BetaSchedule(steps) {
    constexpr const char* where = "recdiff::Quadratic";
    schedule_detail::check_steps(where, steps);
    if (!(beta_start > 0.0 && beta_start <= 1.0))
      schedule_detail::fail(where, "beta_start is outside (0, 1]", beta_start,
                            "beta_start in (0, 1]");
    if (!(beta_end > 0.0 && beta_end <= 1.0))
      schedule_detail::fail(where, "beta_end is outside (0, 1]", beta_end, "beta_end in (0, 1]");
    const double root_start = std::sqrt(beta_start), root_end = std::sqrt(beta_end);
    const double step = steps > 1 ? (root_end - root_start) / (steps - 1) : 0.0;
    m_betas.resize(static_cast<std::size_t>(steps));
    for (int k = 0; k < steps; ++k) {
      const double root = root_start + k * step;
      m_betas[static_cast<std::size_t>(k)] = root * root;
    }
    // The end points are the given values exactly (a square root squared may be off by an ulp).
    m_betas.front() = beta_start;
    if (steps > 1) m_betas.back() = beta_end;
    schedule_detail::check_betas(where, m_betas);
  }
};

}  // namespace recdiff
