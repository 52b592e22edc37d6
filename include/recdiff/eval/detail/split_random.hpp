#pragma once
/// @file
/// Uniform integers and shuffles on std::mt19937_64, written out here so that seeded splits give
/// the same result with every standard library (std::uniform_int_distribution and std::shuffle are
/// implementation-defined).

#include <cstdint>
#include <random>
#include <span>
#include <utility>

namespace recdiff::detail {

/// Uniform integer in [0, n) for n >= 1, by rejection of the top partial block (no modulo bias).
inline std::uint64_t uniform_below(std::mt19937_64& rng, std::uint64_t n) {
  // Largest multiple of n that fits in 2^64, minus one, is the last accepted draw.
  const std::uint64_t limit = UINT64_MAX - (UINT64_MAX % n + 1) % n;
  std::uint64_t x = rng();
  while (x > limit) x = rng();
  return x % n;
}

/// Fisher-Yates shuffle from the back: position k swaps with a uniform position in [0, k].
template <class T>
void shuffle(std::span<T> values, std::mt19937_64& rng) {
  for (std::size_t k = values.size(); k > 1; --k) {
    const auto j = static_cast<std::size_t>(uniform_below(rng, k));
    std::swap(values[k - 1], values[j]);
  }
}

}  // namespace recdiff::detail
