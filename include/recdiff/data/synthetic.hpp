#pragma once
/// @file
/// make_synthetic(): a seeded generator of implicit-feedback data with power-law item popularity and
/// latent user tastes, for tests, examples and benchmarks that must not depend on real datasets.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>

namespace recdiff {

/// Parameters of make_synthetic(). The defaults are the library's built-in dataset: 2000 users x
/// 1000 items with about 40 items per user (~80K interactions), generated in well under a second.
struct SyntheticConfig {
  index_t users = 2000;
  index_t items = 1000;
  /// Mean number of items per user; individual counts vary log-normally around it (at least 1).
  double mean_items_per_user = 40.0;
  /// Item of popularity rank r (1-based) has base weight r^-popularity_exponent (Zipf-like).
  double popularity_exponent = 1.0;
  /// Dimension of the unit-length user and item taste vectors.
  int latent_dim = 6;
  /// Scale of the taste term: weight = base * exp(taste_strength * <u, v>), so a perfect match is
  /// favoured by exp(2 * taste_strength) over a perfect mismatch. 0 gives pure popularity.
  double taste_strength = 5.0;
  /// Give every interaction a timestamp, strictly increasing along each user's row.
  bool timestamps = false;
  std::uint64_t seed = 42;
};

namespace detail {

// Distributions written out by hand: std's are implementation-defined, and the generated data must
// be the same with every standard library. mt19937_64's output sequence is fixed by the standard.
class SyntheticRandom {
 public:
  explicit SyntheticRandom(std::uint64_t seed) : m_engine(seed) {}
  // Uniform in the open interval (0, 1), 53-bit resolution.
  double uniform() { return (static_cast<double>(m_engine() >> 11) + 0.5) * 0x1.0p-53; }
  // Uniform integer in [0, n), n > 0, without modulo bias.
  std::uint64_t below(std::uint64_t n) {
    const std::uint64_t limit = std::uint64_t(-1) - std::uint64_t(-1) % n;
    std::uint64_t x;
    do x = m_engine();
    while (x >= limit);
    return x % n;
  }
  // Standard normal by Box-Muller (one value per call; simplicity over speed).
  double normal() {
    constexpr double two_pi = 6.283185307179586476925286766559;
    return std::sqrt(-2.0 * std::log(uniform())) * std::cos(two_pi * uniform());
  }
  // Standard Gumbel: adding it to log-weights and keeping the largest n draws n items without
  // replacement with probability proportional to the weights, in draw order.
  double gumbel() { return -std::log(-std::log(uniform())); }

 private:
  std::mt19937_64 m_engine;
};

// A random unit vector of length dim, appended to `out`.
inline void append_unit_vector(SyntheticRandom& rng, int dim, std::vector<double>& out) {
  const std::size_t start = out.size();
  double norm2 = 0;
  for (int d = 0; d < dim; ++d) {
    out.push_back(rng.normal());
    norm2 += out.back() * out.back();
  }
  const double inv = norm2 > 0 ? 1.0 / std::sqrt(norm2) : 0.0;
  for (std::size_t k = start; k < out.size(); ++k) out[k] *= inv;
}

}  // namespace detail

/// Generates a users x items implicit-feedback matrix, deterministically from config.seed.
///
/// Each item gets a popularity rank (a random permutation, so popular items are spread over the id
/// range) and a unit taste vector v; each user a unit taste vector u and an item count n (log-normal
/// around mean_items_per_user, clamped to [1, items]). The user then draws n distinct items, each
/// draw with probability proportional to rank^-popularity_exponent * exp(taste_strength * <u, v>)
/// among the items not drawn yet; the row lists them in draw order. With `timestamps`, the row's
/// timestamps strictly increase. Because tastes shape each row, collaborative models (EASE, the
/// diffusion models) beat popularity on this data. Memory is O(nnz + (users + items) * latent_dim).
/// Throws std::invalid_argument for a non-positive size, mean or latent_dim, a mean above `items`,
/// or a negative or non-finite exponent or taste strength.
inline InteractionMatrix make_synthetic(const SyntheticConfig& config) {
  auto fail = [](const std::string& what) {
    throw std::invalid_argument("recdiff::make_synthetic: " + what);
  };
  if (config.users <= 0 || config.items <= 0)
    fail("users and items must be > 0, got " + std::to_string(config.users) + " x " +
         std::to_string(config.items));
  if (!(config.mean_items_per_user >= 1.0 && config.mean_items_per_user <= config.items))
    fail("mean_items_per_user must be in [1, items = " + std::to_string(config.items) + "], got " +
         std::to_string(config.mean_items_per_user));
  if (config.latent_dim <= 0) fail("latent_dim must be > 0, got " + std::to_string(config.latent_dim));
  if (!(config.popularity_exponent >= 0.0) || !std::isfinite(config.popularity_exponent))
    fail("popularity_exponent must be finite and >= 0, got " + std::to_string(config.popularity_exponent));
  if (!(config.taste_strength >= 0.0) || !std::isfinite(config.taste_strength))
    fail("taste_strength must be finite and >= 0, got " + std::to_string(config.taste_strength));

  detail::SyntheticRandom rng(config.seed);
  const auto items = static_cast<std::size_t>(config.items);
  const auto dim = static_cast<std::size_t>(config.latent_dim);

  // Popularity ranks: Fisher-Yates shuffle of 1..items.
  std::vector<double> log_popularity(items);
  std::vector<std::size_t> rank(items);
  std::iota(rank.begin(), rank.end(), std::size_t{1});
  for (std::size_t k = items; k > 1; --k) std::swap(rank[k - 1], rank[rng.below(k)]);
  for (std::size_t i = 0; i < items; ++i)
    log_popularity[i] = -config.popularity_exponent * std::log(static_cast<double>(rank[i]));

  std::vector<double> item_vectors;
  item_vectors.reserve(items * dim);
  for (std::size_t i = 0; i < items; ++i) detail::append_unit_vector(rng, config.latent_dim, item_vectors);

  // Log-normal counts with mean mean_items_per_user before rounding and clamping.
  constexpr double sigma = 0.5;
  const double log_mean = std::log(config.mean_items_per_user) - 0.5 * sigma * sigma;

  std::vector<offset_t> offsets(1, 0);
  offsets.reserve(static_cast<std::size_t>(config.users) + 1);
  std::vector<index_t> indices;
  std::vector<std::int64_t> timestamps;
  indices.reserve(static_cast<std::size_t>(config.users * config.mean_items_per_user * 1.1));
  std::vector<double> user_vector;
  std::vector<double> key(items);
  std::vector<index_t> order(items);
  for (index_t u = 0; u < config.users; ++u) {
    user_vector.clear();
    detail::append_unit_vector(rng, config.latent_dim, user_vector);
    const double drawn = std::round(std::exp(log_mean + sigma * rng.normal()));
    const auto n = static_cast<std::size_t>(std::clamp(drawn, 1.0, static_cast<double>(items)));
    for (std::size_t i = 0; i < items; ++i) {
      double dot = 0;
      for (std::size_t d = 0; d < dim; ++d) dot += user_vector[d] * item_vectors[i * dim + d];
      key[i] = log_popularity[i] + config.taste_strength * dot + rng.gumbel();
    }
    std::iota(order.begin(), order.end(), index_t{0});
    const auto by_key = [&](index_t a, index_t b) {
      const double ka = key[static_cast<std::size_t>(a)], kb = key[static_cast<std::size_t>(b)];
      return ka > kb || (ka == kb && a < b);
    };
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n), order.end(), by_key);
    indices.insert(indices.end(), order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n));
    offsets.push_back(static_cast<offset_t>(indices.size()));
    if (config.timestamps) {
      // Users start within ~a year of 2001-01-01 and act at most a day apart.
      auto t = static_cast<std::int64_t>(978307200 + rng.below(365 * 86400));
      for (std::size_t k = 0; k < n; ++k) {
        t += 1 + static_cast<std::int64_t>(rng.below(86400));
        timestamps.push_back(t);
      }
    }
  }
  return InteractionMatrix(config.users, config.items, std::move(offsets), std::move(indices), {},
                           std::move(timestamps));
}

}  // namespace recdiff
