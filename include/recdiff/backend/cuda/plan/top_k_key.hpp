#pragma once
/// @file
/// The selection rule of the device top-K as host/device functions (no CUDA header), tested on the CPU
/// against recdiff::top_k.
///
/// A (score, item) pair becomes one 64-bit key whose unsigned order is the ranking of recdiff::TopK:
/// the high word is the score mapped to an order-preserving unsigned integer (-0 folded onto +0), the
/// low word is ~item, so that on equal scores the lower item is the larger key. Ineligible entries
/// (excluded, -inf or NaN) get key 0, below every eligible key, and are never output. Selecting the
/// top k is then: sort keys in descending order, keep the first k non-zero ones.

#include <cfloat>
#include <cstdint>
#include <cstring>

#include <recdiff/config.hpp>

namespace recdiff::cuda {

/// The key of an excluded or unrankable entry.
inline constexpr std::uint64_t kNoKey = 0;

/// The ranking key of `item` scored `score` (kNoKey for -inf and NaN).
RECDIFF_HOST_DEVICE std::uint64_t top_k_key(float score, index_t item) {
  if (!(score >= -FLT_MAX)) return kNoKey;  // -inf and NaN
  const float s = score == 0.0f ? 0.0f : score;           // -0 == +0 for the ranking
  std::uint32_t bits;
  std::memcpy(&bits, &s, sizeof bits);
  const std::uint32_t ordered = (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
  return (static_cast<std::uint64_t>(ordered) << 32) |
         static_cast<std::uint32_t>(~static_cast<std::uint32_t>(item));
}

/// The item of a key made by top_k_key.
RECDIFF_HOST_DEVICE index_t top_k_key_item(std::uint64_t key) {
  return static_cast<index_t>(~static_cast<std::uint32_t>(key));
}

/// The score of a key made by top_k_key (exact; -0 comes back as +0).
RECDIFF_HOST_DEVICE float top_k_key_score(std::uint64_t key) {
  const auto ordered = static_cast<std::uint32_t>(key >> 32);
  const std::uint32_t bits = (ordered & 0x80000000u) != 0 ? ordered & 0x7FFFFFFFu : ~ordered;
  float s;
  std::memcpy(&s, &bits, sizeof s);
  return s;
}

/// One compare-exchange of a bitonic sort into DESCENDING order of n keys (n a power of two) at
/// stage `size` (2, 4, ..., n) and `stride` (size / 2, ..., 1); `pair` in [0, n / 2). The pairs of
/// one (size, stride) step are independent: a block runs them in parallel, the host tests in a loop.
RECDIFF_HOST_DEVICE void bitonic_step(std::uint64_t* keys, std::int64_t size, std::int64_t stride,
                                      std::int64_t pair) {
  const std::int64_t lo = 2 * stride * (pair / stride) + pair % stride;
  const std::int64_t hi = lo + stride;
  const bool descending = (lo & size) == 0;
  const std::uint64_t a = keys[lo], b = keys[hi];
  if (descending ? a < b : a > b) {
    keys[lo] = b;
    keys[hi] = a;
  }
}

}  // namespace recdiff::cuda
