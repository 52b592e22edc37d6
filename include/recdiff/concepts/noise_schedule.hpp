#pragma once
/// @file
/// NoiseSchedule: what the diffusion core needs from a beta schedule.

#include <concepts>
#include <vector>

namespace recdiff {

/// A beta schedule: a copyable value type that exposes T and the betas, in double.
///
/// Laws the compiler cannot check:
/// - num_steps() >= 1, and the step index k is 0-based (k = 0..T-1; the paper's t is k + 1);
/// - betas() has num_steps() elements, each in (0, 1], so alpha_bar_k = prod_{j<=k} (1 - beta_j) is
///   non-increasing; the constructor throws std::invalid_argument otherwise;
/// - or betas() is EMPTY, meaning "no noise" (DiffRec's noise_scale == 0): x_k = x_0 in training,
///   and inference applies the denoiser num_steps() times (GaussianTables::is_noiseless()).
template <class S>
concept NoiseSchedule = std::copyable<S> && requires(const S& s) {
  { s.num_steps() } -> std::same_as<int>;
  { s.betas() } -> std::same_as<const std::vector<double>&>;
};

}  // namespace recdiff
