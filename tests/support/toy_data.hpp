#pragma once
// Small seeded interaction matrices for tests: hand-written rows, and a generator with latent
// cluster structure (so that a collaborative model beats popularity on it).
#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/eval/detail/split_random.hpp>

namespace recdiff::test {

/// A users x items matrix whose row u lists rows[u] in order (users = rows.size()).
inline InteractionMatrix matrix_from_rows(const std::vector<std::vector<index_t>>& rows,
                                          index_t items) {
  InteractionBuilder builder;
  for (std::size_t u = 0; u < rows.size(); ++u)
    for (const index_t i : rows[u]) builder.add(static_cast<index_t>(u), i);
  return builder.build(static_cast<index_t>(rows.size()), items);
}

/// Settings of make_toy_data().
struct ToyDataOptions {
  index_t users = 300;
  index_t items = 120;
  /// Users and items belong to cluster id % clusters.
  index_t clusters = 6;
  index_t min_items = 12;
  index_t max_items = 30;
  /// Probability that an interaction is drawn from the user's own cluster (else from all items).
  double in_cluster = 0.85;
  std::uint64_t seed = 1;
};

/// Draws distinct items per user: with probability in_cluster from the user's cluster, else from
/// the whole catalogue, in both cases with Zipf-like weights 1 / (1 + item / clusters) so that some
/// items are globally popular. Each interaction gets rating 1 and a random timestamp in [0, 1000)
/// (so many ties). Depends only on the seed.
inline InteractionMatrix make_toy_data(const ToyDataOptions& o = {}) {
  std::mt19937_64 rng(o.seed);
  const auto uniform01 = [&] { return static_cast<double>(rng() >> 11) * 0x1.0p-53; };
  std::vector<double> weight(static_cast<std::size_t>(o.items));
  for (index_t i = 0; i < o.items; ++i)
    weight[static_cast<std::size_t>(i)] = 1.0 / (1.0 + static_cast<double>(i / o.clusters));
  // Draws an item with probability proportional to its weight among the items accepted by `keep`;
  // -1 when none is.
  const auto draw = [&](auto keep) -> index_t {
    double total = 0;
    for (index_t i = 0; i < o.items; ++i)
      if (keep(i)) total += weight[static_cast<std::size_t>(i)];
    if (total == 0) return -1;
    double r = uniform01() * total;
    index_t last = 0;
    for (index_t i = 0; i < o.items; ++i) {
      if (!keep(i)) continue;
      last = i;
      r -= weight[static_cast<std::size_t>(i)];
      if (r < 0) return i;
    }
    return last;
  };
  InteractionBuilder builder;
  std::vector<std::uint8_t> taken(static_cast<std::size_t>(o.items));
  for (index_t u = 0; u < o.users; ++u) {
    const index_t cluster = u % o.clusters;
    const auto n =
        o.min_items + static_cast<index_t>(recdiff::detail::uniform_below(
                          rng, static_cast<std::uint64_t>(o.max_items - o.min_items + 1)));
    std::fill(taken.begin(), taken.end(), 0);
    for (index_t k = 0; k < n; ++k) {
      const bool own = uniform01() < o.in_cluster;
      index_t item = draw([&](index_t i) {
        return !taken[static_cast<std::size_t>(i)] && (!own || i % o.clusters == cluster);
      });
      if (item < 0)  // own cluster exhausted
        item = draw([&](index_t i) { return !taken[static_cast<std::size_t>(i)]; });
      taken[static_cast<std::size_t>(item)] = 1;
      builder.add(u, item, 1.0f,
                  static_cast<std::int64_t>(recdiff::detail::uniform_below(rng, 1000)));
    }
  }
  return builder.build(o.users, o.items);
}

}  // namespace recdiff::test
