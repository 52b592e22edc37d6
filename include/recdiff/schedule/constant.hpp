#pragma once
/// @file
/// Constant: the same beta at every step.

#include <vector>

#include <recdiff/concepts/noise_schedule.hpp>
#include <recdiff/schedule/beta_schedule.hpp>
#include <recdiff/schedule/detail/check.hpp>

namespace recdiff {

/// Constant beta schedule: beta_k = beta for k = 0..T-1, so alpha_bar_k = (1 - beta)^(k+1).
class Constant : public BetaSchedule {
 public:
  /// Throws std::invalid_argument unless steps >= 1 and beta is in (0, 1].
  Constant(int steps, double beta) : BetaSchedule(steps) {
    constexpr const char* where = "recdiff::Constant";
    schedule_detail::check_steps(where, steps);
    m_betas.assign(static_cast<std::size_t>(steps), beta);
    schedule_detail::check_betas(where, m_betas);
  }
};


}  // namespace recdiff
