#pragma once
/// @file
/// BetaSchedule: the storage and accessors every schedule shares (the number of steps and the betas);
/// a concrete schedule only computes its betas.

#include <vector>

namespace recdiff {

/// Base of the schedules: T and beta_0..beta_{T-1}, in double.
class BetaSchedule {
 public:
  /// Number of diffusion steps T.
  int num_steps() const noexcept { return m_steps; }
  /// beta_k for k = 0..T-1 (empty for a noiseless schedule, see DiffRecLinearVar).
  const std::vector<double>& betas() const noexcept { return m_betas; }

 protected:
  explicit BetaSchedule(int steps) : m_steps(steps) {}

  int m_steps;
  std::vector<double> m_betas;
};

}  // namespace recdiff
