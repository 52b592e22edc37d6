#pragma once
/// @file
/// ImportanceSampler: DiffRec's loss-aware step sampler (DiffRec's released code, after Nichol & Dhariwal, ICML 2021).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <recdiff/concepts/step_sampler.hpp>
#include <recdiff/error.hpp>
#include <recdiff/sampler/detail/draw.hpp>

namespace recdiff {

/// Importance sampling of the diffusion step, as DiffRec's code does it (always on there):
/// - state: for each step k the last `history` recorded losses H[k][0..h-1] and a count c[k] <= h;
/// - warm-up: while any c[k] < h, k_b is uniform on {0..T-1} and p_b = 1;
/// - then r_k = sqrt(mean_j H[k][j]^2), P_k = (1 - mix) r_k / sum_j r_j + mix / T, k_b ~ P by
/// inverse
///   CDF, and p_b = P[k_b] T (1 for uniform P, so both phases share a scale);
/// - update, per row in batch order: while c[k] < h append L_b, else drop the oldest value (FIFO).
/// The state persists across epochs; evaluation never touches it.
class ImportanceSampler {
 public:
  /// Throws std::invalid_argument unless steps >= 1, history >= 1 and uniform_mix is in [0, 1].
  explicit ImportanceSampler(int steps, int history = 10, double uniform_mix = 0.001)
      : m_steps(steps), m_history(history), m_mix(uniform_mix) {
    constexpr const char* where = "recdiff::ImportanceSampler";
    if (steps <= 0)
      throw std::invalid_argument(std::string(where) +
                                  ": the number of steps must be positive, got " +
                                  std::to_string(steps));
    if (history <= 0)
      throw std::invalid_argument(std::string(where) +
                                  ": the history length must be positive, got " +
                                  std::to_string(history));
    if (!(uniform_mix >= 0.0 && uniform_mix <= 1.0))
      throw std::invalid_argument(std::string(where) + ": uniform_mix must be in [0, 1], got " +
                                  std::to_string(uniform_mix));
    m_counts.assign(static_cast<std::size_t>(steps), 0);
    m_values.assign(static_cast<std::size_t>(steps) * static_cast<std::size_t>(history), 0.0);
  }

  /// Number of diffusion steps T.
  int num_steps() const noexcept { return m_steps; }
  /// History length h per step.
  int history() const noexcept { return m_history; }
  /// Weight of the uniform component of P.
  double uniform_mix() const noexcept { return m_mix; }
  /// True once every step holds `history` losses.
  bool warmed_up() const noexcept {
    return std::all_of(m_counts.begin(), m_counts.end(), [&](int c) { return c >= m_history; });
  }

  /// P_k for k = 0..T-1: uniform (1/T) during warm-up, else the mixture above.
  /// Throws recdiff::NumericalError when every recorded loss is zero (P undefined).
  std::vector<double> probabilities() const {
    const auto n = static_cast<std::size_t>(m_steps);
    std::vector<double> prob(n, 1.0 / m_steps);
    if (!warmed_up()) return prob;
    double total = 0.0;
    for (std::size_t k = 0; k < n; ++k) {
      double sq = 0.0;
      for (int j = 0; j < m_history; ++j) {
        const double v =
            m_values[k * static_cast<std::size_t>(m_history) + static_cast<std::size_t>(j)];
        sq += v * v;
      }
      prob[k] = std::sqrt(sq / m_history);
      total += prob[k];
    }
    if (!(total > 0.0))
      throw NumericalError(
          "recdiff::ImportanceSampler: every recorded loss is zero, the step distribution is "
          "undefined");
    for (double& v : prob) v = (1.0 - m_mix) * v / total + m_mix / m_steps;
    return prob;
  }

  /// Resizes steps and p to `batch` and draws row b from u_b = Philox uniform (seed,
  /// Stream::step_sampler, step_counter, b) (53 bits): uniformly with p_b = 1 during warm-up, else
  /// k_b = the first k with u_b C_{T-1} < C_k (C the running sum of P) and p_b = P[k_b] T.
  void sample(std::size_t batch, std::uint64_t seed, std::uint32_t step_counter,
              std::vector<int>& steps, std::vector<double>& p) const {
    steps.resize(batch);
    p.resize(batch);
    if (!warmed_up()) {
      for (std::size_t b = 0; b < batch; ++b) {
        steps[b] = sampler_detail::uniform_step(
            sampler_detail::unit_double(seed, step_counter, static_cast<std::uint32_t>(b)),
            m_steps);
        p[b] = 1.0;
      }
      return;
    }
    const std::vector<double> prob = probabilities();
    std::vector<double> cdf(prob.size());
    double run = 0.0;
    for (std::size_t k = 0; k < prob.size(); ++k) cdf[k] = run += prob[k];
    for (std::size_t b = 0; b < batch; ++b) {
      // Scaling u by the last running sum keeps the target below it despite rounding.
      const double u =
          sampler_detail::unit_double(seed, step_counter, static_cast<std::uint32_t>(b)) *
          cdf.back();
      const auto k =
          static_cast<std::size_t>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
      steps[b] = static_cast<int>(k);
      p[b] = prob[k] * m_steps;
    }
  }

  /// Records L_b for step k_b, row by row in batch order (FIFO of the last `history` values).
  /// Throws std::invalid_argument on a size mismatch, std::out_of_range for a step outside [0, T)
  /// and recdiff::NumericalError for a non-finite loss; nothing is recorded then.
  void update(std::span<const int> steps, std::span<const double> losses) {
    sampler_detail::check_update("recdiff::ImportanceSampler::update", steps, losses, m_steps);
    const auto h = static_cast<std::size_t>(m_history);
    for (std::size_t b = 0; b < steps.size(); ++b) {
      const auto k = static_cast<std::size_t>(steps[b]);
      double* row = m_values.data() + k * h;
      if (m_counts[k] < m_history) {
        row[m_counts[k]++] = losses[b];
      } else {
        std::copy(row + 1, row + h, row);
        row[h - 1] = losses[b];
      }
    }
  }

  /// The whole state as doubles (all integers are exact): [T, h, c_0..c_{T-1}, H[0][0..h-1], ...,
  /// H[T-1][0..h-1]], of size 2 + T + T h. The mixing weight is a constructor argument, not state.
  std::vector<double> state() const {
    std::vector<double> s;
    s.reserve(2 + m_counts.size() + m_values.size());
    s.push_back(m_steps);
    s.push_back(m_history);
    for (int c : m_counts) s.push_back(c);
    s.insert(s.end(), m_values.begin(), m_values.end());
    return s;
  }

  /// Restores a state() of a sampler with the same T and h. Throws std::invalid_argument when the
  /// size or the header differs or a count is not an integer in [0, h]; the sampler is then
  /// unchanged.
  void set_state(std::span<const double> state) {
    constexpr const char* where = "recdiff::ImportanceSampler::set_state: ";
    const std::size_t n = static_cast<std::size_t>(m_steps);
    const std::size_t want = 2 + n + m_values.size();
    if (state.size() != want)
      throw std::invalid_argument(std::string(where) + "the state has " +
                                  std::to_string(state.size()) + " values, expected " +
                                  std::to_string(want));
    if (state[0] != m_steps || state[1] != m_history)
      throw std::invalid_argument(
          std::string(where) + "the state is for T = " + std::to_string(state[0]) +
          ", history = " + std::to_string(state[1]) + ", expected T = " + std::to_string(m_steps) +
          ", history = " + std::to_string(m_history));
    std::vector<int> counts(n);
    for (std::size_t k = 0; k < n; ++k) {
      const double c = state[2 + k];
      if (!(c >= 0 && c <= m_history && c == std::floor(c)))
        throw std::invalid_argument(std::string(where) + "count " + std::to_string(k) + " is " +
                                    std::to_string(c) + ", expected an integer in [0, " +
                                    std::to_string(m_history) + "]");
      counts[k] = static_cast<int>(c);
    }
    m_counts = std::move(counts);
    std::copy(state.begin() + static_cast<std::ptrdiff_t>(2 + n), state.end(), m_values.begin());
  }

 private:
  int m_steps;
  int m_history;
  double m_mix;
  std::vector<int> m_counts;     // c[k]
  std::vector<double> m_values;  // H[k][j] at k h + j
};


}  // namespace recdiff
