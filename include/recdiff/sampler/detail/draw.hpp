#pragma once
/// @file
/// Host helpers shared by the step samplers: one uniform double per batch row from Philox, and the
/// argument checks of update().

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

#include <recdiff/error.hpp>
#include <recdiff/math/philox.hpp>

namespace recdiff::sampler_detail {

/// A uniform double in [0, 1) with 53 random bits for batch row `row`: words 0 and 1 of the Philox
/// block (seed, Stream::step_sampler, step_counter, row, group 0).
inline double unit_double(std::uint64_t seed, std::uint32_t step_counter, std::uint32_t row) {
  const philox::Block b =
      philox::random_block(seed, philox::Stream::step_sampler, step_counter, row, 0);
  const std::uint64_t bits = (static_cast<std::uint64_t>(b.v[0] >> 5) << 26) | (b.v[1] >> 6);
  return static_cast<double>(bits) * 0x1.0p-53;
}

/// floor(u T) clamped to T - 1: a uniform step from u in [0, 1).
inline int uniform_step(double u, int num_steps) {
  const int k = static_cast<int>(u * num_steps);
  return k < num_steps ? k : num_steps - 1;
}

/// Throws unless steps and losses have the same size, every step is in [0, T) (std::out_of_range)
/// and every loss is finite (recdiff::NumericalError, so a diverged batch is never recorded).
inline void check_update(const char* where, std::span<const int> steps,
                         std::span<const double> losses, int num_steps) {
  if (steps.size() != losses.size())
    throw std::invalid_argument(std::string(where) + ": steps has " + std::to_string(steps.size()) +
                                " entries but losses has " + std::to_string(losses.size()) +
                                ", expected the same size");
  for (std::size_t b = 0; b < steps.size(); ++b) {
    if (steps[b] < 0 || steps[b] >= num_steps)
      throw std::out_of_range(std::string(where) + ": steps[" + std::to_string(b) +
                              "] = " + std::to_string(steps[b]) + " is outside [0, " +
                              std::to_string(num_steps) + ")");
    if (!std::isfinite(losses[b]))
      throw NumericalError(std::string(where) + ": losses[" + std::to_string(b) +
                           "] is not finite, got " + std::to_string(losses[b]));
  }
}

}  // namespace recdiff::sampler_detail
