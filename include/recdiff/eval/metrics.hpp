#pragma once
/// @file
/// Per-user ranking metrics (Recall, calibrated Recall, NDCG, Precision, MRR, HitRate) and
/// catalogue coverage, from a ranked list and a target set.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/config.hpp>

namespace recdiff {

/// The metrics of one user's ranked list at one cut-off K. All are 0 when the target set is empty.
struct RankingMetrics {
  /// hits / n_u (DiffRec's and RecPack's RecallK).
  double recall = 0;
  /// hits / min(K, n_u) (RecFusion's, Liang's and CODIGEM's "Recall").
  double calibrated_recall = 0;
  /// DCG / IDCG with binary gains, discount 1 / log2(rank + 1) for 1-based rank, IDCG over
  /// min(n_u, K) hits.
  double ndcg = 0;
  /// hits / K (K, not the list length, even when fewer than K items were ranked).
  double precision = 0;
  /// 1 / (1-based rank of the first hit within the top K), 0 without a hit.
  double mrr = 0;
  /// 1 when the top K holds at least one target, else 0.
  double hit_rate = 0;
};

/// Hit flags of a ranked list: result[j] = 1 when ranked[j] is one of `targets`. Linear in
/// ranked.size() * targets.size(); the evaluator uses an O(1) marker instead.
inline std::vector<std::uint8_t> hit_flags(std::span<const index_t> ranked,
                                           std::span<const index_t> targets) {
  std::vector<std::uint8_t> hits(ranked.size(), 0);
  for (std::size_t j = 0; j < ranked.size(); ++j)
    hits[j] = std::find(targets.begin(), targets.end(), ranked[j]) != targets.end() ? 1 : 0;
  return hits;
}

/// 1 / log2(rank0 + 2): the NDCG discount of 0-based rank `rank0`.
inline double rank_discount(std::size_t rank0) {
  return 1.0 / std::log2(static_cast<double>(rank0) + 2.0);
}

/// Metrics at cut-off `k` of a ranked list given by its hit flags (hits[j] for 0-based rank j;
/// ranks past hits.size() count as misses) for a user with `num_targets` distinct targets. `k`
/// >= 1.
inline RankingMetrics ranking_metrics(std::span<const std::uint8_t> hits, index_t num_targets,
                                      index_t k) {
  if (k < 1)
    throw std::invalid_argument("recdiff::ranking_metrics: k must be >= 1, got " +
                                std::to_string(k));
  if (num_targets < 0)
    throw std::invalid_argument("recdiff::ranking_metrics: num_targets must be >= 0, got " +
                                std::to_string(num_targets));
  RankingMetrics m;
  if (num_targets == 0) return m;
  const std::size_t depth = std::min(hits.size(), static_cast<std::size_t>(k));
  std::size_t n_hits = 0;
  double dcg = 0;
  for (std::size_t j = 0; j < depth; ++j) {
    if (!hits[j]) continue;
    if (n_hits == 0) m.mrr = 1.0 / static_cast<double>(j + 1);
    ++n_hits;
    dcg += rank_discount(j);
  }
  const auto ideal = static_cast<std::size_t>(std::min(num_targets, k));
  double idcg = 0;
  for (std::size_t j = 0; j < ideal; ++j) idcg += rank_discount(j);
  const auto h = static_cast<double>(n_hits);
  m.recall = h / num_targets;
  m.calibrated_recall = h / static_cast<double>(ideal);
  m.ndcg = dcg / idcg;
  m.precision = h / k;
  m.hit_rate = n_hits > 0 ? 1.0 : 0.0;
  return m;
}

/// Metrics at cut-off `k` of `ranked` (best first) against the distinct items `targets`.
inline RankingMetrics ranking_metrics(std::span<const index_t> ranked,
                                      std::span<const index_t> targets, index_t k) {
  const auto hits = hit_flags(ranked, targets);
  return ranking_metrics(hits, static_cast<index_t>(targets.size()), k);
}

/// Catalogue coverage@k: the fraction of the `num_items` items that appear in the first k entries
/// of at least one of `lists` (each a ranked list, best first).
inline double catalogue_coverage(std::span<const std::vector<index_t>> lists, index_t num_items,
                                 index_t k) {
  if (num_items < 1 || k < 1)
    throw std::invalid_argument("recdiff::catalogue_coverage: num_items and k must be >= 1, got " +
                                std::to_string(num_items) + " and " + std::to_string(k));
  std::vector<std::uint8_t> seen(static_cast<std::size_t>(num_items), 0);
  std::size_t distinct = 0;
  for (const auto& list : lists) {
    const std::size_t depth = std::min(list.size(), static_cast<std::size_t>(k));
    for (std::size_t j = 0; j < depth; ++j) {
      const auto item = list[j];
      if (item < 0 || item >= num_items)
        throw std::out_of_range("recdiff::catalogue_coverage: item " + std::to_string(item) +
                                " outside [0, " + std::to_string(num_items) + ")");
      auto& s = seen[static_cast<std::size_t>(item)];
      distinct += s == 0 ? 1 : 0;
      s = 1;
    }
  }
  return static_cast<double>(distinct) / num_items;
}

}  // namespace recdiff
