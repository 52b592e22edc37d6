#pragma once
/// @file
/// Row partitioning of the CPU backend. Rows are split into contiguous chunks that start at multiples of
/// an alignment (8 by default): a row slice of a single-threaded Eigen product reproduces the bits of the
/// full product exactly when it starts at such a boundary, which makes results independent of the number
/// of threads.

#include <algorithm>
#include <cstdint>

namespace recdiff::cpu {

/// Half-open row range [begin, end).
struct RowRange {
  std::int64_t begin;
  std::int64_t end;
};

/// The chunk of `rows` owned by thread `t` of `threads`. Chunk boundaries are multiples of `align`
/// (the last chunk ends at `rows`); chunks may be empty when there are fewer aligned blocks than threads.
constexpr RowRange aligned_chunk(std::int64_t rows, int threads, int t, std::int64_t align = 8) {
  const std::int64_t blocks = (rows + align - 1) / align;
  const std::int64_t per = blocks / threads;
  const std::int64_t extra = blocks % threads;
  const std::int64_t first = t * per + std::min<std::int64_t>(t, extra);
  const std::int64_t count = per + (t < extra ? 1 : 0);
  return {std::min(rows, first * align), std::min(rows, (first + count) * align)};
}

}  // namespace recdiff::cpu
