#pragma once
/// @file
/// Popularity: the same item-popularity scores for every user.

#include <algorithm>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/eval/score_matrix.hpp>

namespace recdiff {

/// Most-popular baseline (recfusion spec 5.1): score of item j = count_j / max_j count_j, where
/// count_j is the number of training interactions with j (users, for duplicate-free rows). Every
/// user gets the same scores; the evaluator's "lower id first" rule breaks ties in counts.
/// Satisfies Scorer.
class Popularity {
 public:
  /// Counts the items of `train`. Items never seen score 0; an empty matrix gives all zeros.
  void fit(const InteractionMatrix& train) {
    const auto counts = train.item_counts();
    const std::int64_t max_count =
        counts.empty() ? 0 : *std::max_element(counts.begin(), counts.end());
    m_scores.assign(counts.size(), 0.0f);
    if (max_count > 0)
      for (std::size_t j = 0; j < counts.size(); ++j)
        m_scores[j] =
            static_cast<float>(static_cast<double>(counts[j]) / static_cast<double>(max_count));
    m_fitted = true;
  }

  /// Fills row b of `out` with the item scores for every users[b]; `out` is resized to
  /// users.size() x items. The input rows are not used, only the item count must match fit().
  void score(const InteractionMatrix& input, std::span<const index_t> users,
             ScoreMatrix& out) const {
    if (!m_fitted) throw std::logic_error("recdiff::Popularity::score: called before fit()");
    if (input.num_items() != num_items())
      throw std::invalid_argument("recdiff::Popularity::score: input has " +
                                  std::to_string(input.num_items()) + " items, fitted on " +
                                  std::to_string(num_items()));
    out.resize(static_cast<Eigen::Index>(users.size()), num_items());
    const Eigen::Map<const Eigen::RowVectorXf> scores(m_scores.data(), num_items());
    for (Eigen::Index b = 0; b < out.rows(); ++b) out.row(b) = scores;
  }

  index_t num_items() const noexcept { return static_cast<index_t>(m_scores.size()); }
  /// The per-item scores (empty before fit()).
  const std::vector<float>& item_scores() const noexcept { return m_scores; }

 private:
  std::vector<float> m_scores;
  bool m_fitted = false;
};

}  // namespace recdiff
