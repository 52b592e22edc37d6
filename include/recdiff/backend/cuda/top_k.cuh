#pragma once
/// @file
/// Device top-K of score rows for evaluation: tile pass, merge passes (plan/top_k_plan.hpp) and the
/// key rule of plan/top_k_key.hpp, so the result equals recdiff::top_k row by row.

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

#include <recdiff/backend/cuda/check.cuh>
#include <recdiff/backend/cuda/context.cuh>
#include <recdiff/backend/cuda/plan/launch.hpp>
#include <recdiff/backend/cuda/plan/top_k_key.hpp>
#include <recdiff/backend/cuda/plan/top_k_plan.hpp>
#include <recdiff/config.hpp>

namespace recdiff::cuda {

/// Threads of a top-K block (kTopKTile / 2 / kTopKThreads = 2 compare-exchanges each per step).
inline constexpr int kTopKThreads = 512;
/// Exclusion matrices one top-K call accepts.
inline constexpr int kTopKMaxMasks = 4;

/// Excluded items per score row: the CSR rows users[r] of up to kTopKMaxMasks matrices.
struct TopKMasks {
  DeviceCsr csr[kTopKMaxMasks];
  int count = 0;
  const index_t* users = nullptr;
};

/// Sorts kTopKTile keys in shared memory into descending order (all threads of the block call it).
__device__ inline void block_sort_descending(std::uint64_t* keys) {
  for (std::int64_t size = 2; size <= kTopKTile; size <<= 1)
    for (std::int64_t stride = size / 2; stride > 0; stride >>= 1) {
      for (std::int64_t pair = threadIdx.x; pair < kTopKTile / 2; pair += blockDim.x)
        bitonic_step(keys, size, stride, pair);
      __syncthreads();
    }
}

/// Tile pass: for every (row, tile) unit, the best k keys of the tile's scores, excluded items
/// removed, into out[(row * tiles + tile) * k + j].
__global__ void top_k_tile_kernel(const float* scores, std::int64_t rows, std::int64_t items,
                                  std::int64_t tiles, std::int64_t k, TopKMasks masks,
                                  std::uint64_t* out) {
  __shared__ std::uint64_t keys[kTopKTile];
  for (std::int64_t unit = blockIdx.x; unit < rows * tiles; unit += gridDim.x) {
    const std::int64_t r = unit / tiles;
    const std::int64_t begin = (unit % tiles) * kTopKTile;
    for (std::int64_t i = threadIdx.x; i < kTopKTile; i += blockDim.x) {
      const std::int64_t item = begin + i;
      keys[i] = item < items ? top_k_key(scores[r * items + item], static_cast<index_t>(item))
                             : kNoKey;
    }
    __syncthreads();
    for (int m = 0; m < masks.count; ++m) {
      const DeviceCsr csr = masks.csr[m];
      const index_t u = masks.users[r];
      for (offset_t p = csr.offsets[u] + threadIdx.x; p < csr.offsets[u + 1]; p += blockDim.x) {
        const std::int64_t item = csr.indices[p];
        if (item >= begin && item < begin + kTopKTile) keys[item - begin] = kNoKey;
      }
    }
    __syncthreads();
    block_sort_descending(keys);
    for (std::int64_t j = threadIdx.x; j < k; j += blockDim.x) out[unit * k + j] = keys[j];
    __syncthreads();  // the next unit overwrites keys
  }
}

/// Merge pass: per row, groups of `group` consecutive lists of k keys (of lists_in) -> one list each.
__global__ void top_k_merge_kernel(const std::uint64_t* in, std::int64_t rows,
                                   std::int64_t lists_in, std::int64_t lists_out,
                                   std::int64_t group, std::int64_t k, std::uint64_t* out) {
  __shared__ std::uint64_t keys[kTopKTile];
  for (std::int64_t unit = blockIdx.x; unit < rows * lists_out; unit += gridDim.x) {
    const std::int64_t r = unit / lists_out;
    const std::int64_t first = (unit % lists_out) * group;
    const std::int64_t count = (lists_in - first < group ? lists_in - first : group) * k;
    const std::uint64_t* src = in + (r * lists_in + first) * k;
    for (std::int64_t i = threadIdx.x; i < kTopKTile; i += blockDim.x)
      keys[i] = i < count ? src[i] : kNoKey;
    __syncthreads();
    block_sort_descending(keys);
    for (std::int64_t j = threadIdx.x; j < k; j += blockDim.x) out[unit * k + j] = keys[j];
    __syncthreads();
  }
}

/// items[i] / scores[i] from keys[i] for i < count: -1 and -inf for kNoKey (or when keys is null).
__global__ void top_k_decode_kernel(const std::uint64_t* keys, std::int64_t count, index_t* items,
                                    float* scores) {
  const GridStride g = grid_stride(blockIdx.x, gridDim.x, blockDim.x, threadIdx.x);
  for (std::int64_t i = g.first; i < count; i += g.stride) {
    const std::uint64_t key = keys != nullptr ? keys[i] : kNoKey;
    items[i] = key == kNoKey ? index_t(-1) : top_k_key_item(key);
    scores[i] = key == kNoKey ? -std::numeric_limits<float>::infinity() : top_k_key_score(key);
  }
}

/// Runs the passes of `plan` on rows x items `scores`, writing rows x k items and scores.
inline void run_top_k(const Context& ctx, const TopKPlan& plan, const float* scores,
                      const TopKMasks& masks, index_t* out_items, float* out_scores) {
  const std::int64_t outputs = plan.rows * plan.k;
  if (outputs == 0) return;
  ctx.activate();
  const std::uint64_t* final_keys = nullptr;
  if (!plan.empty()) {
    std::uint64_t* cur = ctx.scratch(0, plan.rows * plan.tiles * plan.k);
    const auto tile_units = plan.rows * plan.tiles;
    top_k_tile_kernel<<<static_cast<unsigned>(std::min(tile_units, ctx.max_grid())), kTopKThreads,
                        0, ctx.stream()>>>(scores, plan.rows, plan.items, plan.tiles, plan.k,
                                           masks, cur);
    RECDIFF_CUDA_CHECK_LAUNCH(ctx.stream(), "top_k_tile_kernel");
    std::uint64_t* next = ctx.scratch(1, plan.rows * plan.lists_after(1) * plan.k);
    for (int pass = 1; pass <= plan.passes; ++pass) {
      const auto lists_in = plan.lists_after(pass - 1), lists_out = plan.lists_after(pass);
      top_k_merge_kernel<<<static_cast<unsigned>(std::min(plan.rows * lists_out, ctx.max_grid())),
                           kTopKThreads, 0, ctx.stream()>>>(cur, plan.rows, lists_in, lists_out,
                                                            plan.group, plan.k, next);
      RECDIFF_CUDA_CHECK_LAUNCH(ctx.stream(), "top_k_merge_kernel");
      std::swap(cur, next);
    }
    final_keys = cur;
  }
  const Launch l = plan_elementwise(outputs, ctx.max_grid());
  top_k_decode_kernel<<<static_cast<unsigned>(l.grid), l.block, 0, ctx.stream()>>>(
      final_keys, outputs, out_items, out_scores);
  RECDIFF_CUDA_CHECK_LAUNCH(ctx.stream(), "top_k_decode_kernel");
}

}  // namespace recdiff::cuda
