#pragma once
/// @file
/// Noisy training data for DiffRec's robustness experiments (Wang et al., "Diffusion Recommender
/// Model", SIGIR 2023, section 4.2.2 and the "noisy training" setting of section 4.1):
/// with_random_noise() adds random false positives to a split's training matrix, and
/// natural_noise_split() builds a split whose training matrix keeps the low ratings as natural
/// false positives while validation and test hold only positives.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/data/train_valid_test.hpp>
#include <recdiff/eval/temporal_split.hpp>
#include <recdiff/math/philox.hpp>

namespace recdiff {

/// Philox step key of with_random_noise()'s draws (stream philox::Stream::shuffle): keeps them
/// apart from the epoch permutations and the Random baseline, which use the same stream and often
/// the same seed.
inline constexpr std::uint32_t random_noise_philox_step = 0x4E4F4953u;  // "NOIS"

namespace noisy_detail {

// Uniform integer in [0, n), n >= 1, from the candidate stream: 64-bit words from Philox blocks
// (seed, Stream::shuffle, step, counter >> 32, counter & 0xffffffff), one block per draw, the top
// partial multiple of n rejected (no modulo bias). `counter` is advanced past the blocks used.
inline std::uint64_t uniform_below(std::uint64_t seed, std::uint32_t step, std::uint64_t& counter,
                                   std::uint64_t n) {
  const std::uint64_t limit = UINT64_MAX - (UINT64_MAX % n + 1) % n;
  for (;;) {
    const philox::Block b = philox::random_block(seed, philox::Stream::shuffle, step,
                                                 static_cast<std::uint32_t>(counter >> 32),
                                                 static_cast<std::uint32_t>(counter & 0xFFFFFFFFu));
    ++counter;
    const std::uint64_t r = (static_cast<std::uint64_t>(b.v[0]) << 32) | b.v[1];
    if (r <= limit) return r % n;
  }
}

inline void check_same_shape(const char* who, const TrainValidTest& data) {
  for (const InteractionMatrix* m : {&data.valid, &data.test})
    if (m->num_users() != data.train.num_users() || m->num_items() != data.train.num_items())
      throw std::invalid_argument(
          std::string(who) + ": train is " + std::to_string(data.train.num_users()) + " x " +
          std::to_string(data.train.num_items()) + " but valid or test is " +
          std::to_string(m->num_users()) + " x " + std::to_string(m->num_items()) +
          "; all three must have the same shape");
}

}  // namespace noisy_detail

/// DiffRec's random noise (Wang et al., SIGIR 2023, section 4.2.2, "robustness to noisy
/// training": 10% to 50% of random false positives): returns `data` with
/// round(fraction * nnz(train)) random (user, item) pairs added to the **training** matrix only.
///
/// * The pairs are uniform over the free pairs of the users x items grid: never a pair of train,
///   valid or test, never twice. Draws are Philox (seed, Stream::shuffle, step
///   random_noise_philox_step, one block per candidate), made in one sequential pass, so the result
///   depends only on the inputs and the seed (not on any thread count). When the pairs asked for
///   are more than half of the free ones, the free pairs are enumerated (user-major) and a partial
///   Fisher-Yates shuffle on the same stream picks them, so the time stays bounded; otherwise
///   candidates are drawn and rejected.
/// * Each user's noise is **appended at the end of its training row**, in draw order. Row order
///   is time order for T-DiffRec's weights (core/input_weighting.hpp, TimeLinearInput), so
///   T-DiffRec and every time-weighted model treat the noise as the user's latest interactions,
///   the weight-1 end.
/// * When train has timestamps, an added entry carries the user's latest training timestamp (0
///   for a user without training interactions), so a stable sort by time keeps it last; when train
///   has ratings, it carries rating 0 (no rating, below any positive threshold).
/// * valid and test are returned unchanged.
///
/// @throws std::invalid_argument unless 0 < fraction <= 1 (finite), when the three matrices have
///         different shapes, or when the grid has fewer free pairs than asked for
inline TrainValidTest with_random_noise(const TrainValidTest& data, double fraction,
                                        std::uint64_t seed) {
  static constexpr const char* who = "recdiff::with_random_noise";
  if (!(fraction > 0 && fraction <= 1))
    throw std::invalid_argument(std::string(who) +
                                ": fraction must be in (0, 1] (the paper uses 0.1 to 0.5), got " +
                                std::to_string(fraction));
  noisy_detail::check_same_shape(who, data);
  const InteractionMatrix& train = data.train;
  const index_t users = train.num_users();
  const index_t items = train.num_items();
  const auto wanted =
      static_cast<std::uint64_t>(std::llround(fraction * static_cast<double>(train.nnz())));
  if (wanted == 0) return data;

  const std::uint64_t grid = static_cast<std::uint64_t>(users) * static_cast<std::uint64_t>(items);
  const auto key = [items](index_t u, index_t i) {
    return static_cast<std::uint64_t>(u) * static_cast<std::uint64_t>(items) +
           static_cast<std::uint64_t>(i);
  };
  std::unordered_set<std::uint64_t> taken;
  taken.reserve(static_cast<std::size_t>(train.nnz() + data.valid.nnz() + data.test.nnz()) +
                static_cast<std::size_t>(wanted));
  for (const InteractionMatrix* m : {&data.train, &data.valid, &data.test})
    for (index_t u = 0; u < users; ++u)
      for (const index_t i : m->items_of(u)) taken.insert(key(u, i));
  const std::uint64_t free = grid - taken.size();
  if (wanted > free)
    throw std::invalid_argument(std::string(who) + ": " + std::to_string(wanted) +
                                " noise pairs asked for (fraction " + std::to_string(fraction) +
                                " of " + std::to_string(train.nnz()) +
                                " training interactions) but only " + std::to_string(free) +
                                " of the " + std::to_string(users) + " x " + std::to_string(items) +
                                " pairs are in none of train, valid and test");

  std::vector<std::uint64_t> chosen;  // grid keys, in draw order
  chosen.reserve(static_cast<std::size_t>(wanted));
  std::uint64_t counter = 0;
  if (2 * wanted <= free) {
    // Rejection: every accepted candidate is uniform over the pairs still free.
    while (chosen.size() < wanted) {
      const std::uint64_t k =
          noisy_detail::uniform_below(seed, random_noise_philox_step, counter, grid);
      if (taken.insert(k).second) chosen.push_back(k);
    }
  } else {
    // Dense case: at most 2 * wanted free pairs, listed user-major, then a partial shuffle.
    std::vector<std::uint64_t> pool;
    pool.reserve(static_cast<std::size_t>(free));
    for (index_t u = 0; u < users; ++u)
      for (index_t i = 0; i < items; ++i)
        if (taken.count(key(u, i)) == 0) pool.push_back(key(u, i));
    for (std::uint64_t j = 0; j < wanted; ++j) {
      const std::uint64_t pick =
          j + noisy_detail::uniform_below(seed, random_noise_philox_step, counter, free - j);
      std::swap(pool[static_cast<std::size_t>(j)], pool[static_cast<std::size_t>(pick)]);
      chosen.push_back(pool[static_cast<std::size_t>(j)]);
    }
  }

  // Noise of each user, in draw order.
  std::vector<offset_t> noise_offsets(static_cast<std::size_t>(users) + 1, 0);
  for (const std::uint64_t k : chosen) ++noise_offsets[static_cast<std::size_t>(k / items) + 1];
  std::partial_sum(noise_offsets.begin(), noise_offsets.end(), noise_offsets.begin());
  std::vector<index_t> noise_items(chosen.size());
  {
    std::vector<offset_t> next(noise_offsets.begin(), noise_offsets.end() - 1);
    for (const std::uint64_t k : chosen)
      noise_items[static_cast<std::size_t>(next[static_cast<std::size_t>(k / items)]++)] =
          static_cast<index_t>(k % items);
  }

  const bool ratings = train.has_ratings();
  const bool times = train.has_timestamps();
  const std::size_t total = static_cast<std::size_t>(train.nnz()) + chosen.size();
  std::vector<offset_t> offsets{0};
  offsets.reserve(static_cast<std::size_t>(users) + 1);
  std::vector<index_t> indices;
  indices.reserve(total);
  std::vector<float> rating_values;
  std::vector<std::int64_t> stamps;
  if (ratings) rating_values.reserve(total);
  if (times) stamps.reserve(total);
  for (index_t u = 0; u < users; ++u) {
    const auto row = train.items_of(u);
    indices.insert(indices.end(), row.begin(), row.end());
    if (ratings) {
      const auto r = train.ratings_of(u);
      rating_values.insert(rating_values.end(), r.begin(), r.end());
    }
    std::int64_t latest = 0;
    if (times) {
      const auto t = train.timestamps_of(u);
      stamps.insert(stamps.end(), t.begin(), t.end());
      if (!t.empty()) latest = *std::max_element(t.begin(), t.end());
    }
    const auto lo = static_cast<std::size_t>(noise_offsets[static_cast<std::size_t>(u)]);
    const auto hi = static_cast<std::size_t>(noise_offsets[static_cast<std::size_t>(u) + 1]);
    for (std::size_t k = lo; k < hi; ++k) {
      indices.push_back(noise_items[k]);
      if (ratings) rating_values.push_back(0.0f);
      if (times) stamps.push_back(latest);
    }
    offsets.push_back(static_cast<offset_t>(indices.size()));
  }
  TrainValidTest out;
  out.train = InteractionMatrix(users, items, std::move(offsets), std::move(indices),
                                std::move(rating_values), std::move(stamps));
  out.valid = data.valid;
  out.test = data.test;
  return out;
}

/// The construction of DiffRec's "noisy training" splits (Wang et al., SIGIR 2023, section 4.1:
/// natural false positives, the interactions rated below 4, kept in training), for data with
/// ratings and timestamps such as ML-100K's u.data. (The released ml-1m_noisy files are not
/// available here; this builds the same kind of split from raw ratings.)
///
/// 1. The positives (rating >= threshold; DiffRec's convention is 4) are split per user by time
///    exactly as temporal_split(positives, options) does: train = the earliest, then test, then
///    valid (the latest slice), in DiffRec's released layout.
/// 2. Every rating below the threshold whose timestamp is not later than the user's last training
///    positive is added to train as a false positive. The training row stays in time order: the
///    positives in temporal_split's order merged with these negatives (stably sorted by time; at
///    equal timestamps the positives come first). Ratings later than that are dropped, so neither
///    the held-out period nor a user without training positives gains anything.
///
/// valid and test hold only positives. Every part keeps the shape of `ratings` and carries its
/// ratings and timestamps (so the false positives of train are those rated below the threshold).
/// @throws std::invalid_argument when `ratings` has no ratings or no timestamps, the threshold is
///         NaN, or the split options are bad (temporal_split's checks)
inline TrainValidTest natural_noise_split(const InteractionMatrix& ratings, float threshold,
                                          const TemporalSplitOptions& options = {}) {
  static constexpr const char* who = "recdiff::natural_noise_split";
  if (!ratings.has_ratings())
    throw std::invalid_argument(std::string(who) +
                                ": the interaction matrix has no ratings, expected one per "
                                "interaction to tell positives (>= threshold) from false ones");
  if (!ratings.has_timestamps())
    throw std::invalid_argument(std::string(who) +
                                ": the interaction matrix has no timestamps, expected one per "
                                "interaction for the temporal split");
  if (std::isnan(threshold)) throw std::invalid_argument(std::string(who) + ": threshold is NaN");

  const index_t users = ratings.num_users();
  const index_t items = ratings.num_items();
  // The positives, rows in input order with their ratings and timestamps.
  std::vector<offset_t> offsets{0};
  std::vector<index_t> indices;
  std::vector<float> rates;
  std::vector<std::int64_t> stamps;
  for (index_t u = 0; u < users; ++u) {
    const auto row = ratings.items_of(u);
    const auto r = ratings.ratings_of(u);
    const auto t = ratings.timestamps_of(u);
    for (std::size_t k = 0; k < row.size(); ++k)
      if (r[k] >= threshold) {
        indices.push_back(row[k]);
        rates.push_back(r[k]);
        stamps.push_back(t[k]);
      }
    offsets.push_back(static_cast<offset_t>(indices.size()));
  }
  TrainValidTest split =
      temporal_split(InteractionMatrix(users, items, std::move(offsets), std::move(indices),
                                       std::move(rates), std::move(stamps)),
                     options);

  // Train = positives merged with the earlier negatives.
  std::vector<offset_t> train_offsets{0};
  std::vector<index_t> train_items;
  std::vector<float> train_rates;
  std::vector<std::int64_t> train_stamps;
  train_items.reserve(static_cast<std::size_t>(ratings.nnz()));
  train_rates.reserve(static_cast<std::size_t>(ratings.nnz()));
  train_stamps.reserve(static_cast<std::size_t>(ratings.nnz()));
  std::vector<std::size_t> negatives;
  for (index_t u = 0; u < users; ++u) {
    const auto pos_items = split.train.items_of(u);
    const auto pos_rates = split.train.ratings_of(u);
    const auto pos_times = split.train.timestamps_of(u);
    negatives.clear();
    if (!pos_times.empty()) {
      const std::int64_t last = *std::max_element(pos_times.begin(), pos_times.end());
      const auto r = ratings.ratings_of(u);
      const auto t = ratings.timestamps_of(u);
      for (std::size_t k = 0; k < r.size(); ++k)
        if (!(r[k] >= threshold) && t[k] <= last) negatives.push_back(k);
      std::stable_sort(negatives.begin(), negatives.end(),
                       [&](std::size_t a, std::size_t b) { return t[a] < t[b]; });
    }
    const auto all_items = ratings.items_of(u);
    const auto all_rates = ratings.ratings_of(u);
    const auto all_times = ratings.timestamps_of(u);
    std::size_t p = 0, n = 0;
    while (p < pos_items.size() || n < negatives.size()) {
      const bool take_positive = n == negatives.size() ||
                                 (p < pos_items.size() && pos_times[p] <= all_times[negatives[n]]);
      if (take_positive) {
        train_items.push_back(pos_items[p]);
        train_rates.push_back(pos_rates[p]);
        train_stamps.push_back(pos_times[p]);
        ++p;
      } else {
        const std::size_t k = negatives[n++];
        train_items.push_back(all_items[k]);
        train_rates.push_back(all_rates[k]);
        train_stamps.push_back(all_times[k]);
      }
    }
    train_offsets.push_back(static_cast<offset_t>(train_items.size()));
  }
  split.train = InteractionMatrix(users, items, std::move(train_offsets), std::move(train_items),
                                  std::move(train_rates), std::move(train_stamps));
  return split;
}

}  // namespace recdiff
