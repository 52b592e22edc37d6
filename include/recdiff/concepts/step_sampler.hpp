#pragma once
/// @file
/// StepSampler: how the trainer draws the diffusion step of each batch row.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace recdiff {

/// A host-side step sampler: a copyable value type with
/// - `num_steps()` -> int: T;
/// - `sample(batch, seed, step_counter, steps, p)`: resizes `steps` and `p` to `batch` and draws
///   k_b in [0, T) with factor p_b (the loss of row b is divided by p_b; 1 for uniform draws), as a
///   pure function of (state, seed, step_counter, b) through Philox Stream::step_sampler;
/// - `update(steps, losses)`: records the per-row losses L_b (before the division by p_b), in batch
///   order;
/// - `state()` -> std::vector<double> and `set_state(span)`: the whole mutable state, for
/// checkpoints
///   (set_state(state()) restores an equal sampler; a malformed state throws
///   std::invalid_argument).
template <class S>
concept StepSampler = std::copyable<S> &&
    requires(S& s, const S& cs, std::size_t batch, std::uint64_t seed, std::uint32_t step_counter,
             std::vector<int>& steps, std::vector<double>& p, std::span<const int> drawn,
             std::span<const double> losses) {
  { cs.num_steps() } -> std::same_as<int>;
  s.sample(batch, seed, step_counter, steps, p);
  s.update(drawn, losses);
  { cs.state() } -> std::same_as<std::vector<double>>;
  s.set_state(losses);
};

}  // namespace recdiff
