#pragma once
/// @file
/// plan_top_k: the tiling of the device top-K. Pure host code (no CUDA header), tested on the CPU.
///
/// Each score row is cut into tiles of `tile` items; one block sorts a tile's keys (plan/top_k_key.hpp)
/// and keeps the best k, giving `tiles` partial lists of k keys per row. Merge passes then sort groups
/// of `group` = tile / k lists (group * k <= tile keys, again one block each) down to one list per
/// row, `passes` times.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace recdiff::cuda {

/// Keys one block sorts (a power of two; 2048 8-byte keys = 16 KiB of shared memory).
inline constexpr std::int64_t kTopKTile = 2048;

/// The tiling of a top-k over a rows x items score matrix.
struct TopKPlan {
  std::int64_t rows = 0;   ///< score rows
  std::int64_t items = 0;  ///< scores per row
  std::int64_t k = 0;      ///< list length (every partial list holds k keys, padded with key 0)
  std::int64_t tile = kTopKTile;  ///< keys per block
  std::int64_t tiles = 0;  ///< tiles per row = partial lists per row after the first pass
  std::int64_t group = 0;  ///< lists merged by one block in a merge pass (tile / k)
  int passes = 0;          ///< merge passes after the tile pass

  /// Lists per row after merge pass `pass` (0: after the tile pass).
  std::int64_t lists_after(int pass) const {
    std::int64_t n = tiles;
    for (int p = 0; p < pass; ++p) n = (n + group - 1) / group;
    return n;
  }
  /// True when there is no kernel to run (no row, no item or k == 0): every output slot is padding.
  bool empty() const noexcept { return tiles == 0 || rows == 0; }
};

/// The tiling for rows x items scores and lists of k. `tile` must be a power of two >= 2.
/// @throws std::invalid_argument on negative sizes, a bad tile, or k > tile / 2 (a merge must
///         combine at least two lists)
inline TopKPlan plan_top_k(std::int64_t rows, std::int64_t items, std::int64_t k,
                           std::int64_t tile = kTopKTile) {
  if (tile < 2 || (tile & (tile - 1)) != 0)
    throw std::invalid_argument("recdiff::cuda::plan_top_k: tile must be a power of two >= 2, got " +
                                std::to_string(tile));
  if (rows < 0 || items < 0 || k < 0)
    throw std::invalid_argument("recdiff::cuda::plan_top_k: sizes must be >= 0, got rows " +
                                std::to_string(rows) + ", items " + std::to_string(items) +
                                ", k " + std::to_string(k));
  if (k > tile / 2)
    throw std::invalid_argument("recdiff::cuda::plan_top_k: k must be at most " +
                                std::to_string(tile / 2) + ", got " + std::to_string(k));
  TopKPlan p;
  p.rows = rows;
  p.items = items;
  p.k = k;
  p.tile = tile;
  if (k == 0 || items == 0) return p;
  p.tiles = (items + tile - 1) / tile;
  p.group = tile / k;
  for (std::int64_t n = p.tiles; n > 1; n = (n + p.group - 1) / p.group) ++p.passes;
  return p;
}

}  // namespace recdiff::cuda
