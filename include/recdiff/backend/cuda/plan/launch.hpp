#pragma once
/// @file
/// Launch geometry of the CUDA backend's generic kernels. Pure host code (no CUDA header), tested on
/// the CPU. Every kernel walks its work with a grid-stride loop, so a grid capped at `max_grid`
/// blocks still covers any amount of work; a grid of 0 blocks means "launch nothing".

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include <recdiff/config.hpp>

namespace recdiff::cuda {

/// A 1-D launch: `grid` blocks of `block` threads (grid == 0: nothing to launch).
struct Launch {
  std::int64_t grid = 0;
  int block = 0;
};

/// Threads per block of the element-wise kernels.
inline constexpr int kElementBlock = 256;
/// Threads of a warp.
inline constexpr int kWarp = 32;

namespace launch_detail {
inline void check(const char* who, std::int64_t count, std::int64_t max_grid, int block) {
  if (count < 0 || max_grid < 1 || block < kWarp || block % kWarp != 0 || block > 1024)
    throw std::invalid_argument(std::string("recdiff::cuda::") + who +
                                ": need count >= 0, max_grid >= 1 and a block of 32..1024 threads "
                                "in whole warps, got count " + std::to_string(count) +
                                ", max_grid " + std::to_string(max_grid) + ", block " +
                                std::to_string(block));
}
inline std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }
}  // namespace launch_detail

/// One thread per work item (`count` items, e.g. rows x cols elements or rows).
inline Launch plan_elementwise(std::int64_t count, std::int64_t max_grid, int block = kElementBlock) {
  launch_detail::check("plan_elementwise", count, max_grid, block);
  return {std::min(launch_detail::ceil_div(count, block), max_grid), block};
}

/// One warp per row (`rows` rows, block / 32 rows per block): CSR scatters, where a row's entries are
/// few and a warp's lanes walk them.
inline Launch plan_warp_per_row(std::int64_t rows, std::int64_t max_grid, int block = kElementBlock) {
  launch_detail::check("plan_warp_per_row", rows, max_grid, block);
  return {std::min(launch_detail::ceil_div(rows, block / kWarp), max_grid), block};
}

/// One block per row of `cols` columns, the threads striding over the columns (coalesced row
/// accesses): as many whole warps as the columns need, at most kElementBlock threads.
inline Launch plan_block_per_row(std::int64_t rows, std::int64_t cols, std::int64_t max_grid) {
  launch_detail::check("plan_block_per_row", rows, max_grid, kElementBlock);
  if (cols < 0)
    throw std::invalid_argument("recdiff::cuda::plan_block_per_row: cols must be >= 0, got " +
                                std::to_string(cols));
  const auto warps = std::clamp<std::int64_t>(launch_detail::ceil_div(cols, kWarp), 1,
                                              kElementBlock / kWarp);
  return {cols == 0 ? 0 : std::min(rows, max_grid), static_cast<int>(warps * kWarp)};
}

/// The first work item of thread `thread` of block `block_index` in a grid-stride loop, and the
/// stride: the items it handles are first, first + stride, ... below the count. Shared by the
/// kernels and the host tests of the geometry.
struct GridStride {
  std::int64_t first;
  std::int64_t stride;
};

/// Grid-stride position of a thread (`units_per_block` work units per block, `unit` the thread's
/// unit in its block; for one thread per item units_per_block = block size).
RECDIFF_HOST_DEVICE GridStride grid_stride(std::int64_t block_index, std::int64_t grid,
                                           std::int64_t units_per_block, std::int64_t unit) {
  return {block_index * units_per_block + unit, grid * units_per_block};
}

}  // namespace recdiff::cuda
