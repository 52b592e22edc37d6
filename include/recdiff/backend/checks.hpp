#pragma once
/// @file
/// Argument checks shared by every backend, so that a shape mistake reads the same on the CPU and on
/// a device. Host-only, no Eigen and no CUDA.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

#include <recdiff/config.hpp>

namespace recdiff::backend_checks {

/// sparse_times: R must cover the items, C must be (users x R's columns).
inline void sparse_times(const char* where, std::int64_t items, std::int64_t users,
                         std::int64_t r_rows, std::int64_t r_cols, std::int64_t c_rows,
                         std::int64_t c_cols) {
  if (r_rows < items || c_rows != users || c_cols != r_cols)
    throw std::invalid_argument(std::string(where) + ": shapes do not match: R " +
                                std::to_string(r_rows) + "x" + std::to_string(r_cols) + ", C " +
                                std::to_string(c_rows) + "x" + std::to_string(c_cols) + ", items " +
                                std::to_string(items));
}

/// sparse_transpose_times: out (out_rows x out_cols) gets one CSC column of D (d_rows x d_cols) per
/// row, so out_cols must equal d_cols; col_offsets must have out_rows + 1 non-decreasing entries
/// from 0 to nnz = col_rows.size(), there must be nnz values, and every entry of col_rows must be a
/// row of D. O(out_rows + nnz).
/// @throws std::invalid_argument naming `where` and the bad value when one of these fails
inline void sparse_columns(const char* where, std::span<const offset_t> col_offsets,
                           std::span<const index_t> col_rows, std::size_t values,
                           std::int64_t d_rows, std::int64_t d_cols, std::int64_t out_rows,
                           std::int64_t out_cols) {
  const std::string who(where);
  if (out_cols != d_cols)
    throw std::invalid_argument(who + ": shapes do not match: D " + std::to_string(d_rows) + "x" +
                                std::to_string(d_cols) + ", out " + std::to_string(out_rows) +
                                "x" + std::to_string(out_cols));
  if (static_cast<std::int64_t>(col_offsets.size()) != out_rows + 1)
    throw std::invalid_argument(who + ": col_offsets has " + std::to_string(col_offsets.size()) +
                                " entries, expected out.rows() + 1 = " +
                                std::to_string(out_rows + 1));
  const auto nnz = static_cast<offset_t>(col_rows.size());
  if (col_offsets.front() != 0 || col_offsets.back() != nnz ||
      values != static_cast<std::size_t>(nnz))
    throw std::invalid_argument(who + ": col_offsets must run from 0 to nnz = " +
                                std::to_string(nnz) + " (got " +
                                std::to_string(col_offsets.front()) + " to " +
                                std::to_string(col_offsets.back()) + ") and col_values must have " +
                                "nnz entries (got " + std::to_string(values) + ")");
  if (!std::is_sorted(col_offsets.begin(), col_offsets.end()))
    throw std::invalid_argument(who + ": col_offsets must be non-decreasing");
  for (const index_t r : col_rows)
    if (r < 0 || r >= d_rows)
      throw std::invalid_argument(who + ": row " + std::to_string(r) + " outside D's " +
                                  std::to_string(d_rows) + " rows");
}

/// upload: rows * cols host values.
inline void upload(const char* where, std::size_t values, std::int64_t rows, std::int64_t cols) {
  if (rows < 0 || cols < 0 || static_cast<std::int64_t>(values) != rows * cols)
    throw std::invalid_argument(std::string(where) + ": " + std::to_string(values) +
                                " values for a " + std::to_string(rows) + "x" +
                                std::to_string(cols) + " matrix");
}

/// download: a host buffer of exactly rows * cols values.
inline void download(const char* where, std::size_t values, std::int64_t rows, std::int64_t cols) {
  if (static_cast<std::int64_t>(values) != rows * cols)
    throw std::invalid_argument(std::string(where) + ": buffer of " + std::to_string(values) +
                                " values for a " + std::to_string(rows) + "x" +
                                std::to_string(cols) + " matrix");
}

}  // namespace recdiff::backend_checks
