#pragma once
/// @file
/// UniformSampler: steps drawn uniformly, every factor 1.

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/concepts/step_sampler.hpp>
#include <recdiff/sampler/detail/draw.hpp>

namespace recdiff {

/// Uniform step sampler (the paper's Eq. 13): k_b uniform on {0..T-1}, p_b = 1. Stateless.
class UniformSampler {
 public:
  /// Throws std::invalid_argument unless steps >= 1.
  explicit UniformSampler(int steps) : m_steps(steps) {
    if (steps <= 0)
      throw std::invalid_argument(
          "recdiff::UniformSampler: the number of steps must be positive, got " +
          std::to_string(steps));
  }

  /// Number of diffusion steps T.
  int num_steps() const noexcept { return m_steps; }

  /// steps[b] = floor(u_b T) with u_b = Philox uniform (seed, Stream::step_sampler, step_counter,
  /// b) (53 bits), p[b] = 1, for b < batch.
  void sample(std::size_t batch, std::uint64_t seed, std::uint32_t step_counter,
              std::vector<int>& steps, std::vector<double>& p) const {
    steps.resize(batch);
    p.assign(batch, 1.0);
    for (std::size_t b = 0; b < batch; ++b)
      steps[b] = sampler_detail::uniform_step(
          sampler_detail::unit_double(seed, step_counter, static_cast<std::uint32_t>(b)), m_steps);
  }

  /// Checks the arguments like ImportanceSampler::update and records nothing.
  void update(std::span<const int> steps, std::span<const double> losses) const {
    sampler_detail::check_update("recdiff::UniformSampler::update", steps, losses, m_steps);
  }

  /// The state: empty (there is none).
  std::vector<double> state() const { return {}; }

  /// Accepts only an empty state; throws std::invalid_argument otherwise.
  void set_state(std::span<const double> state) const {
    if (!state.empty())
      throw std::invalid_argument("recdiff::UniformSampler::set_state: the state has " +
                                  std::to_string(state.size()) + " values, expected 0");
  }

 private:
  int m_steps;
};


}  // namespace recdiff
