#pragma once
/// @file
/// WholeChain: not a draw but every training step of the chain for every user, so that the loss
/// is summed over the chain (RecFusion, CODIGEM) instead of estimated from one sampled step.

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/sampler/detail/draw.hpp>

namespace recdiff {

/// The steps first_step .. T-1 of a T-step chain, each for every user of the batch. A StepSampler
/// whose `sample(batch, ...)` expects the batch's x0 rows repeated steps_per_row() times (block s
/// holds every user at step first_step + s; DiffusionRecommender repeats them) and gives each row
/// the factor p = 1 / steps_per_row(), so (1/rows) sum_b L_b / p_b is the mean over users of the
/// loss summed over the chain (RecFusion, Bénédict et al. 2023, Sec. 2.3: the ELBO over every step;
/// docs/architecture.md). Stateless.
class WholeChain {
 public:
  /// Steps first_step .. num_steps - 1 (RecFusion's MLP models: from 0; its U-Nets: from 1).
  /// @throws std::invalid_argument unless 0 <= first_step < num_steps
  explicit WholeChain(int num_steps, int first_step = 0) : m_steps(num_steps), m_first(first_step) {
    if (num_steps < 1 || first_step < 0 || first_step >= num_steps)
      throw std::invalid_argument("recdiff::WholeChain: need 0 <= first_step < num_steps, got " +
                                  std::to_string(first_step) + " and " + std::to_string(num_steps));
  }

  /// T.
  int num_steps() const noexcept { return m_steps; }
  /// The first training step.
  int first_step() const noexcept { return m_first; }
  /// How many rows each user's x0 fills in a training batch.
  int steps_per_row() const noexcept { return m_steps - m_first; }

  /// steps[b] = first_step + b / (batch / steps_per_row()), p[b] = 1 / steps_per_row().
  /// @throws std::invalid_argument when batch is not a multiple of steps_per_row()
  void sample(std::size_t batch, std::uint64_t, std::uint32_t, std::vector<int>& steps,
              std::vector<double>& p) const {
    const auto per_row = static_cast<std::size_t>(steps_per_row());
    if (batch % per_row != 0)
      throw std::invalid_argument("recdiff::WholeChain::sample: " + std::to_string(batch) +
                                  " rows is not a multiple of the " + std::to_string(per_row) +
                                  " steps per user");
    const std::size_t users = batch / per_row;
    steps.resize(batch);
    p.assign(batch, 1.0 / static_cast<double>(per_row));
    for (std::size_t b = 0; b < batch; ++b)
      steps[b] = m_first + static_cast<int>(users == 0 ? 0 : b / users);
  }

  /// Checks the arguments and records nothing.
  void update(std::span<const int> steps, std::span<const double> losses) const {
    sampler_detail::check_update("recdiff::WholeChain::update", steps, losses, m_steps);
  }

  /// The state: empty.
  std::vector<double> state() const { return {}; }
  /// Accepts only an empty state.
  void set_state(std::span<const double> state) const {
    if (!state.empty())
      throw std::invalid_argument("recdiff::WholeChain::set_state: the state has " +
                                  std::to_string(state.size()) + " values, expected 0");
  }

 private:
  int m_steps;
  int m_first;
};

}  // namespace recdiff
