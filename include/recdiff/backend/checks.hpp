#pragma once
/// @file
/// Argument checks shared by every backend, so that a shape mistake reads the same on the CPU and on
/// a device. Host-only, no Eigen and no CUDA.

#include <cstdint>
#include <stdexcept>
#include <string>

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
