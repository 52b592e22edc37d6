#pragma once
/// @file
/// RecFusion's strong-generalisation protocol (RecPack StrongGeneralization): a seeded user split
/// into training / validation / test users, fold-in and held-out parts per evaluated user, and the
/// evaluation of a scorer on it.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/eval/detail/split_random.hpp>
#include <recdiff/eval/evaluator.hpp>
#include <recdiff/eval/metric_set.hpp>
#include <recdiff/eval/scorer.hpp>

namespace recdiff {

/// Settings of strong_generalization_split().
struct StrongGeneralizationOptions {
  /// Share of users held out as test users.
  double test_fraction = 0.1;
  /// Share of all users held out as validation users (taken from the full-training users).
  double validation_fraction = 0.1;
  /// A validation or test user's fold-in part is ceil(fold_in_fraction * n) random interactions.
  double fold_in_fraction = 0.8;
  /// Shuffles tried per user split until the first group holds its share of interactions.
  int max_attempts = 5;
  /// Accepted distance between that interaction share and the user share.
  double share_tolerance = 0.01;
  std::uint64_t seed = 0;
};

/// The parts of a strong-generalisation split. Every matrix has the users x items shape of the
/// input; a user's row is empty in every matrix of a part the user does not belong to. Row order
/// within each part is the input's row order.
struct StrongGeneralizationSplit {
  /// Complete histories of the full-training users (= val_train_users + valid_users).
  InteractionMatrix full_train;
  /// Complete histories of the validation-training users.
  InteractionMatrix val_train;
  InteractionMatrix valid_fold_in;
  InteractionMatrix valid_held_out;
  InteractionMatrix test_fold_in;
  InteractionMatrix test_held_out;
  /// Sorted user ids of each part. valid_users / test_users hold only the users evaluated
  /// (non-empty fold-in and held-out); the dropped ones appear in no list.
  std::vector<index_t> full_train_users;
  std::vector<index_t> val_train_users;
  std::vector<index_t> valid_users;
  std::vector<index_t> test_users;
};

namespace detail {

// Collects whole or partial rows into CSR arrays, users visited in increasing order.
class RowCollector {
 public:
  explicit RowCollector(const InteractionMatrix& source)
      : m_source(source), m_offsets(static_cast<std::size_t>(source.num_users()) + 1, 0) {}

  // Appends entry k (0-based within the row) of user u's source row.
  void add(index_t u, std::size_t k) {
    const auto pos = static_cast<std::size_t>(m_source.offsets()[static_cast<std::size_t>(u)]) + k;
    m_indices.push_back(m_source.indices()[pos]);
    if (m_source.has_ratings()) m_ratings.push_back(m_source.ratings()[pos]);
    if (m_source.has_timestamps()) m_timestamps.push_back(m_source.timestamps()[pos]);
    ++m_offsets[static_cast<std::size_t>(u) + 1];
  }

  InteractionMatrix build() {
    for (std::size_t u = 1; u < m_offsets.size(); ++u) m_offsets[u] += m_offsets[u - 1];
    return InteractionMatrix(m_source.num_users(), m_source.num_items(), std::move(m_offsets),
                             std::move(m_indices), std::move(m_ratings), std::move(m_timestamps));
  }

 private:
  const InteractionMatrix& m_source;
  std::vector<offset_t> m_offsets;
  std::vector<index_t> m_indices;
  std::vector<float> m_ratings;
  std::vector<std::int64_t> m_timestamps;
};

// Shuffles `pool` until the first floor(fraction * size) users hold fraction +- tolerance of the
// pool's interactions, at most `attempts` times (the last shuffle is kept). Returns that count.
inline std::size_t shuffle_user_split(std::vector<index_t>& pool, double fraction,
                                      const InteractionMatrix& data, int attempts, double tolerance,
                                      std::mt19937_64& rng) {
  // The epsilon keeps e.g. 5436 * (0.8 / 0.9) = 4831.9999... at 4832.
  const auto first =
      static_cast<std::size_t>(std::floor(static_cast<double>(pool.size()) * fraction + 1e-9));
  offset_t total = 0;
  for (const index_t u : pool) total += data.row_size(u);
  for (int attempt = 0; attempt < attempts; ++attempt) {
    shuffle(std::span<index_t>(pool), rng);
    offset_t in_first = 0;
    for (std::size_t j = 0; j < first; ++j) in_first += data.row_size(pool[j]);
    if (total == 0 || std::abs(static_cast<double>(in_first) / static_cast<double>(total) -
                               fraction) <= tolerance)
      break;
  }
  return first;
}

}  // namespace detail

/// Splits the users of `data` as RecPack's StrongGeneralization does (recfusion spec 1.2), with
/// this library's RNG (std::mt19937_64 and its own uniform/shuffle code, so the split depends only
/// on the seed):
/// 1. the users with >= 1 interaction, shuffled with mt19937_64(seed): the first
///    floor(n (1 - test_fraction)) are the full-training users, the rest test users; the shuffle is
///    repeated (up to max_attempts in all) until the first group holds (1 - test_fraction) +-
///    share_tolerance of the interactions;
/// 2. the full-training users, split the same way (same generator) with fraction
///    (1 - test - validation) / (1 - test): validation-training users, then validation users;
/// 3. each validation and test user u's interactions are shuffled with mt19937_64(seed + u): the
/// first
///    ceil(fold_in_fraction n_u) are the fold-in part, the rest the held-out part. Users with an
///    empty fold-in or held-out part are dropped from that set.
inline StrongGeneralizationSplit strong_generalization_split(
    const InteractionMatrix& data, const StrongGeneralizationOptions& options = {}) {
  const double t = options.test_fraction;
  const double v = options.validation_fraction;
  if (!(t > 0 && v > 0 && t + v < 1))
    throw std::invalid_argument(
        "recdiff::strong_generalization_split: fractions must satisfy test > 0, validation > 0, "
        "test + validation < 1, got " +
        std::to_string(t) + " and " + std::to_string(v));
  if (!(options.fold_in_fraction > 0 && options.fold_in_fraction < 1))
    throw std::invalid_argument(
        "recdiff::strong_generalization_split: fold_in_fraction must be in (0, 1), got " +
        std::to_string(options.fold_in_fraction));
  if (options.max_attempts < 1 || !(options.share_tolerance >= 0))
    throw std::invalid_argument(
        "recdiff::strong_generalization_split: max_attempts must be >= 1 and share_tolerance >= 0, "
        "got " +
        std::to_string(options.max_attempts) + " and " + std::to_string(options.share_tolerance));

  std::vector<index_t> pool;
  for (index_t u = 0; u < data.num_users(); ++u)
    if (data.row_size(u) > 0) pool.push_back(u);
  std::mt19937_64 rng(options.seed);
  const std::size_t n_full = detail::shuffle_user_split(pool, 1 - t, data, options.max_attempts,
                                                        options.share_tolerance, rng);
  std::vector<index_t> full(pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(n_full));
  std::vector<index_t> test(pool.begin() + static_cast<std::ptrdiff_t>(n_full), pool.end());
  const std::size_t n_val_train = detail::shuffle_user_split(
      full, (1 - t - v) / (1 - t), data, options.max_attempts, options.share_tolerance, rng);
  std::vector<index_t> val_train(full.begin(),
                                 full.begin() + static_cast<std::ptrdiff_t>(n_val_train));
  std::vector<index_t> valid(full.begin() + static_cast<std::ptrdiff_t>(n_val_train), full.end());
  for (auto* users : {&full, &test, &val_train, &valid}) std::sort(users->begin(), users->end());

  const auto whole_rows = [&](const std::vector<index_t>& users) {
    detail::RowCollector rows(data);
    for (const index_t u : users)
      for (std::size_t k = 0; k < static_cast<std::size_t>(data.row_size(u)); ++k) rows.add(u, k);
    return rows.build();
  };
  // Fold-in / held-out per user; returns the users kept.
  const auto fold = [&](const std::vector<index_t>& users, InteractionMatrix& fold_in,
                        InteractionMatrix& held_out) {
    detail::RowCollector in_rows(data);
    detail::RowCollector out_rows(data);
    std::vector<index_t> kept;
    std::vector<std::size_t> perm;
    std::vector<std::uint8_t> in_fold;
    for (const index_t u : users) {
      const auto n = static_cast<std::size_t>(data.row_size(u));
      const auto n_in =
          static_cast<std::size_t>(std::ceil(options.fold_in_fraction * static_cast<double>(n)));
      if (n_in == 0 || n_in >= n) continue;
      perm.resize(n);
      for (std::size_t k = 0; k < n; ++k) perm[k] = k;
      std::mt19937_64 user_rng(options.seed + static_cast<std::uint64_t>(u));
      detail::shuffle(std::span<std::size_t>(perm), user_rng);
      in_fold.assign(n, 0);
      for (std::size_t k = 0; k < n_in; ++k) in_fold[perm[k]] = 1;
      for (std::size_t k = 0; k < n; ++k) (in_fold[k] ? in_rows : out_rows).add(u, k);
      kept.push_back(u);
    }
    fold_in = in_rows.build();
    held_out = out_rows.build();
    return kept;
  };

  StrongGeneralizationSplit split;
  split.full_train = whole_rows(full);
  split.val_train = whole_rows(val_train);
  split.valid_users = fold(valid, split.valid_fold_in, split.valid_held_out);
  split.test_users = fold(test, split.test_fold_in, split.test_held_out);
  split.full_train_users = std::move(full);
  split.val_train_users = std::move(val_train);
  return split;
}

/// RecFusion's reporting cut-offs: K = 20, 50, 100 (calibrated Recall@20/@50, NDCG@100).
inline EvalOptions strong_generalization_eval_options() {
  EvalOptions options;
  options.ks = {20, 50, 100};
  return options;
}

/// Which evaluated set of a StrongGeneralizationSplit to measure.
enum class EvaluatedUsers { validation, test };

/// Whether an evaluated user's fold-in items are removed from the ranking.
enum class FoldInMasking {
  /// Fold-in items are masked: RecFusion's test protocol (spec 1.3-1.4).
  masked,
  /// Fold-in items stay ranked: RecPack's validation during training ("predict for validation
  /// fold-in rows without removing fold-in items"), where a fold-in item in the top K is a miss.
  unmasked,
};

/// RecFusion's evaluation (spec 1.3-1.4) of `scorer` on the validation or test users of `split`:
/// input = their fold-in rows, fold-in items masked (unless `masking` is
/// FoldInMasking::unmasked), targets = held-out items, mean over those users (all have a non-empty
/// held-out part). The reported numbers are calibrated_recall@20/@50 and ndcg@100; recall@K
/// (plain) is there too.
template <class S>
requires Scorer<S> MetricSet evaluate_strong_generalization(
    S& scorer, const StrongGeneralizationSplit& split, EvaluatedUsers which = EvaluatedUsers::test,
    EvalOptions options = strong_generalization_eval_options(),
    FoldInMasking masking = FoldInMasking::masked) {
  const bool test = which == EvaluatedUsers::test;
  const InteractionMatrix& fold_in = test ? split.test_fold_in : split.valid_fold_in;
  const InteractionMatrix& held_out = test ? split.test_held_out : split.valid_held_out;
  const std::vector<index_t>& users = test ? split.test_users : split.valid_users;
  EvalTask task{{}, held_out, Averaging::users_with_targets};
  if (masking == FoldInMasking::masked) task.masks.emplace_back(fold_in);
  return Evaluator(std::move(options))
      .evaluate(scorer, fold_in, task, std::span<const index_t>(users));
}

}  // namespace recdiff
