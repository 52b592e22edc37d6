#pragma once
/// @file
/// Seeded per-user temporal split into train / test / valid in DiffRec's released layout.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/data/train_valid_test.hpp>
#include <recdiff/eval/detail/split_random.hpp>

namespace recdiff {

/// How interactions with exactly equal timestamps are ordered before the cut.
enum class TimestampTies {
  /// Keep their order in the input row (a stable sort); the seed is unused.
  input_order,
  /// Shuffle each run of equal timestamps with a generator seeded by (seed, user), e.g. to average
  /// over the arbitrary order of ML-1M's many same-second ratings.
  shuffle,
};

/// Settings of temporal_split().
struct TemporalSplitOptions {
  /// A user with n interactions keeps the earliest floor(train_fraction * n) + 1 in train.
  double train_fraction = 0.7;
  /// ... and the earliest floor(train_test_fraction * n) + 1 in train + test; the rest is valid.
  double train_test_fraction = 0.8;
  TimestampTies ties = TimestampTies::input_order;
  /// Only used with TimestampTies::shuffle.
  std::uint64_t seed = 0;
};

/// Splits every user's interactions by time, reproducing DiffRec's released ml-1m_clean files
/// (data README, "Notes I measured" 2): per user, sorted by timestamp (ties per options.ties),
/// train = the earliest floor(0.7 n) + 1, test = the following ones up to floor(0.8 n) + 1 in all,
/// valid = the rest, i.e. the **latest** slice (the file named valid is the later, larger one).
/// Counts are capped at n. Every part keeps the user and item space of `data` (users without
/// interactions get empty rows), rows are in chronological order, and ratings/timestamps are kept.
/// Throws std::invalid_argument when `data` has no timestamps or the fractions are not
/// 0 <= train_fraction <= train_test_fraction < 1.
inline TrainValidTest temporal_split(const InteractionMatrix& data,
                                     const TemporalSplitOptions& options = {}) {
  if (!data.has_timestamps())
    throw std::invalid_argument(
        "recdiff::temporal_split: the interaction matrix has no timestamps, expected one per "
        "interaction");
  if (!(options.train_fraction >= 0 && options.train_fraction <= options.train_test_fraction &&
        options.train_test_fraction < 1))
    throw std::invalid_argument(
        "recdiff::temporal_split: fractions must satisfy 0 <= train <= train+test < 1, got " +
        std::to_string(options.train_fraction) + " and " +
        std::to_string(options.train_test_fraction));

  const index_t users = data.num_users();
  const bool ratings = data.has_ratings();
  struct Part {
    std::vector<offset_t> offsets{0};
    std::vector<index_t> indices;
    std::vector<float> ratings;
    std::vector<std::int64_t> timestamps;
  };
  Part parts[3];  // train, test, valid
  std::vector<std::size_t> order;
  for (index_t u = 0; u < users; ++u) {
    const auto times = data.timestamps_of(u);
    const std::size_t n = times.size();
    order.resize(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return times[a] < times[b]; });
    if (options.ties == TimestampTies::shuffle) {
      std::mt19937_64 rng(options.seed ^
                          (0x9E3779B97F4A7C15ULL * (static_cast<std::uint64_t>(u) + 1)));
      for (std::size_t lo = 0; lo < n;) {
        std::size_t hi = lo + 1;
        while (hi < n && times[order[hi]] == times[order[lo]]) ++hi;
        detail::shuffle(std::span<std::size_t>(order.data() + lo, hi - lo), rng);
        lo = hi;
      }
    }
    const auto cut = [n](double fraction) {
      return std::min(n,
                      static_cast<std::size_t>(std::floor(fraction * static_cast<double>(n))) + 1);
    };
    const std::size_t ends[3] = {n == 0 ? 0 : cut(options.train_fraction),
                                 n == 0 ? 0 : cut(options.train_test_fraction), n};
    const auto items = data.items_of(u);
    const auto rates = data.ratings_of(u);
    std::size_t j = 0;
    for (int p = 0; p < 3; ++p) {
      for (; j < ends[p]; ++j) {
        const std::size_t k = order[j];
        parts[p].indices.push_back(items[k]);
        parts[p].timestamps.push_back(times[k]);
        if (ratings) parts[p].ratings.push_back(rates[k]);
      }
      parts[p].offsets.push_back(static_cast<offset_t>(parts[p].indices.size()));
    }
  }
  const auto make = [&](Part& p) {
    return InteractionMatrix(users, data.num_items(), std::move(p.offsets), std::move(p.indices),
                             std::move(p.ratings), std::move(p.timestamps));
  };
  TrainValidTest split;
  split.train = make(parts[0]);
  split.test = make(parts[1]);
  split.valid = make(parts[2]);
  return split;
}

}  // namespace recdiff
