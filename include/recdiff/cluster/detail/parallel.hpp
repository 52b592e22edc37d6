#pragma once
/// @file
/// Thread-count resolution and a static parallel loop for the clustering code (host only).
///
/// Every use in cluster/ gives each index of the loop a self-contained piece of work (one point, one
/// row, one column), so what an index computes never depends on which thread runs it or how many
/// threads there are.

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace recdiff::cluster_detail {

/// `threads` > 0 as given, 0 = all of OpenMP's threads (1 without OpenMP). Throws
/// std::invalid_argument naming `function` for a negative value.
inline int resolve_threads(const char* function, int threads) {
  if (threads < 0)
    throw std::invalid_argument(std::string(function) + ": threads must be >= 0 (0 = all), got " +
                                std::to_string(threads));
#if defined(_OPENMP)
  return threads > 0 ? threads : std::max(1, omp_get_max_threads());
#else
  return threads > 0 ? threads : 1;
#endif
}

/// Calls `f(k)` for every k in [0, count), split statically over at most `threads` threads (a
/// single thread runs the loop in order when `count` is smaller than `min_per_thread` per thread).
template <class F>
void parallel_for(int threads, std::int64_t count, F&& f, std::int64_t min_per_thread = 1) {
  const std::int64_t useful = std::max<std::int64_t>(1, count / std::max<std::int64_t>(1, min_per_thread));
  const int nt = static_cast<int>(std::clamp<std::int64_t>(threads, 1, useful));
  if (nt <= 1) {
    for (std::int64_t k = 0; k < count; ++k) f(k);
    return;
  }
#pragma omp parallel for num_threads(nt) schedule(static)
  for (std::int64_t k = 0; k < count; ++k) f(k);
}

}  // namespace recdiff::cluster_detail
