#pragma once
/// @file
/// Cosine: the squared-cosine alpha_bar schedule of Nichol & Dhariwal (2021).

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include <recdiff/concepts/noise_schedule.hpp>
#include <recdiff/schedule/beta_schedule.hpp>
#include <recdiff/schedule/detail/check.hpp>

namespace recdiff {

/// Cosine schedule. With f(u) = cos^2( (u + s) / (1 + s) * pi / 2 ) for u in [0, 1],
/// beta_k = min( 1 - f((k + 1) / T) / f(k / T), max_beta ) for k = 0..T-1, so that alpha_bar_k is
/// f((k + 1) / T) / f(0) until the clip is reached.
class Cosine : public BetaSchedule {
 public:
  /// Throws std::invalid_argument unless steps >= 1, s >= 0 and max_beta is in (0, 1].
  explicit Cosine(int steps, double s = 0.008, double max_beta = 0.999)
      : BetaSchedule(steps), m_s(s), m_max_beta(max_beta) {
    constexpr const char* where = "recdiff::Cosine";
    schedule_detail::check_steps(where, steps);
    if (!(s >= 0.0)) schedule_detail::fail(where, "the offset s must be non-negative", s, "s >= 0");
    if (!(max_beta > 0.0 && max_beta <= 1.0))
      schedule_detail::fail(where, "max_beta is outside (0, 1]", max_beta, "max_beta in (0, 1]");
    const auto f = [&](double u) {
      const double c = std::cos((u + s) / (1.0 + s) * std::numbers::pi / 2.0);
      return c * c;
    };
    m_betas.resize(static_cast<std::size_t>(steps));
    for (int k = 0; k < steps; ++k)
      m_betas[static_cast<std::size_t>(k)] =
          std::min(1.0 - f(double(k + 1) / steps) / f(double(k) / steps), max_beta);
    schedule_detail::check_betas(where, m_betas);
  }

  /// The offset s.
  double offset() const noexcept { return m_s; }
  /// The clip applied to every beta.
  double max_beta() const noexcept { return m_max_beta; }

 private:
  double m_s;
  double m_max_beta;
};


}  // namespace recdiff
