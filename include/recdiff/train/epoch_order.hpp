#pragma once
/// @file
/// epoch_order: the seeded permutation of the users that the Trainer walks in each epoch.

#include <cstdint>
#include <utility>
#include <vector>

#include <recdiff/config.hpp>
#include <recdiff/math/philox.hpp>

namespace recdiff {

/// Fills `order` (its size is the number of users) with a permutation of 0..n-1: a Fisher-Yates
/// shuffle driven by Philox draws keyed by (seed, epoch), so the same seed gives the same batches on
/// every machine, thread count and backend. Trainer::fit uses it; benchmarks that time epochs by hand
/// call it to see the same batches.
inline void epoch_order(std::vector<index_t>& order, std::uint64_t seed, std::uint32_t epoch) {
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<index_t>(i);
  for (std::size_t i = order.size(); i > 1; --i) {
    const philox::Block r =
        philox::random_block(seed, philox::Stream::shuffle, epoch, 0, static_cast<std::uint32_t>(i));
    const std::uint64_t wide = (static_cast<std::uint64_t>(r.v[0]) << 32) | r.v[1];
    std::swap(order[i - 1], order[static_cast<std::size_t>(wide % i)]);
  }
}

}  // namespace recdiff
