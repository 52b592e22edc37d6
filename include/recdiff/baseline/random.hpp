#pragma once
/// @file
/// Random: the random-recommendation baseline (RecPack's Random algorithm): every user gets K
/// random items of the training catalogue in a random order.

#include <algorithm>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/eval/score_matrix.hpp>
#include <recdiff/math/philox.hpp>

namespace recdiff {

/// Random scores: for user u and item i the score is a uniform draw in (0, 1] that is a pure
/// Philox function of (seed, u, i) (Stream::shuffle, step Random::philox_step, row u, lane i of
/// block i / 4). Only the items with at least one interaction in the fitted matrix are candidates;
/// each user keeps the k candidates with the largest draws (all of them when there are fewer) and
/// every other item scores 0, so it is never ranked before a kept one. The scores depend neither on
/// the batch nor on the thread count, and the same seed gives the same scores everywhere.
/// Satisfies Scorer.
class Random {
 public:
  /// Philox step key of the draws (keeps them apart from the epoch permutations of the same
  /// stream).
  static constexpr std::uint32_t philox_step = 0x52414E44u;

  /// k items per user (RecPack's default 200) under `seed`.
  /// @throws std::invalid_argument unless k >= 1
  explicit Random(index_t k = 200, std::uint64_t seed = 1) : m_k(k), m_seed(seed) {
    if (k < 1)
      throw std::invalid_argument("recdiff::Random: k must be >= 1, got " + std::to_string(k));
  }

  /// Takes the candidate items: those with at least one interaction in `train`.
  void fit(const InteractionMatrix& train) {
    const auto counts = train.item_counts();
    m_candidates.clear();
    for (std::size_t i = 0; i < counts.size(); ++i)
      if (counts[i] > 0) m_candidates.push_back(static_cast<index_t>(i));
    m_items = train.num_items();
    m_fitted = true;
  }

  /// Fills row b of `out` (resized to users.size() x items) with the scores of users[b]. The input
  /// rows are not read; only the item count must match fit().
  /// @throws std::logic_error before fit(); std::invalid_argument on another item count
  void score(const InteractionMatrix& input, std::span<const index_t> users,
             ScoreMatrix& out) const {
    if (!m_fitted) throw std::logic_error("recdiff::Random::score: called before fit()");
    if (input.num_items() != m_items)
      throw std::invalid_argument("recdiff::Random::score: input has " +
                                  std::to_string(input.num_items()) + " items, fitted on " +
                                  std::to_string(m_items));
    out.setZero(static_cast<Eigen::Index>(users.size()), m_items);
    const std::size_t keep = std::min(static_cast<std::size_t>(m_k), m_candidates.size());
    std::vector<std::pair<std::uint32_t, index_t>> draws(m_candidates.size());
    // Larger draw first, lower item id on equal draws.
    const auto before = [](const std::pair<std::uint32_t, index_t>& a,
                           const std::pair<std::uint32_t, index_t>& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    };
    for (std::size_t b = 0; b < users.size(); ++b) {
      const auto u = static_cast<std::uint32_t>(users[b]);
      std::uint32_t group = 0xFFFFFFFFu;
      philox::Block block{};
      for (std::size_t c = 0; c < m_candidates.size(); ++c) {
        const auto item = static_cast<std::uint32_t>(m_candidates[c]);
        if (item / 4 != group) {
          group = item / 4;
          block = philox::random_block(m_seed, philox::Stream::shuffle, philox_step, u, group);
        }
        draws[c] = {block.v[item % 4], m_candidates[c]};
      }
      if (keep < draws.size())
        std::nth_element(draws.begin(), draws.begin() + static_cast<std::ptrdiff_t>(keep),
                         draws.end(), before);
      for (std::size_t c = 0; c < keep; ++c)
        out(static_cast<Eigen::Index>(b), draws[c].second) =
            philox::to_unit_open_zero(draws[c].first);
    }
  }

  /// Items kept per user.
  index_t k() const noexcept { return m_k; }
  /// The seed.
  std::uint64_t seed() const noexcept { return m_seed; }
  /// Number of items (after fit()).
  index_t num_items() const noexcept { return m_items; }
  /// The candidate items, increasing (after fit()).
  const std::vector<index_t>& candidates() const noexcept { return m_candidates; }

 private:
  index_t m_k;
  std::uint64_t m_seed;
  index_t m_items = 0;
  std::vector<index_t> m_candidates;
  bool m_fitted = false;
};

}  // namespace recdiff
