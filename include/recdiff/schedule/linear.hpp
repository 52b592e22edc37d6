#pragma once
/// @file
/// Linear: betas spaced linearly from beta_start to beta_end.

#include <vector>

#include <recdiff/concepts/noise_schedule.hpp>
#include <recdiff/schedule/beta_schedule.hpp>
#include <recdiff/schedule/detail/check.hpp>

namespace recdiff {

/// Linear beta schedule: beta_k = beta_start + k (beta_end - beta_start) / (T - 1), k = 0..T-1,
/// with beta_{T-1} set to exactly beta_end (numpy's linspace with the endpoint; T = 1 gives
/// beta_start). This is DiffRec's "linear" schedule when beta_start = s a_min and beta_end = s
/// a_max.
class Linear : public BetaSchedule {
 public:
  /// Throws std::invalid_argument unless steps >= 1 and every beta is in (0, 1].
  Linear(int steps, double beta_start, double beta_end) : BetaSchedule(steps) {
    constexpr const char* where = "recdiff::Linear";
    schedule_detail::check_steps(where, steps);
    m_betas.resize(static_cast<std::size_t>(steps));
    const double step = steps > 1 ? (beta_end - beta_start) / (steps - 1) : 0.0;
    for (int k = 0; k < steps; ++k) m_betas[static_cast<std::size_t>(k)] = beta_start + k * step;
    if (steps > 1) m_betas.back() = beta_end;
    schedule_detail::check_betas(where, m_betas);
  }
};


}  // namespace recdiff
