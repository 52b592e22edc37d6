#pragma once
/// @file
/// Shape and step checks shared by the noise and objective policies, with the messages built out of
/// line. Run once per call at the API boundary, never inside a kernel.

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace recdiff::policy_detail {

/// Throws std::invalid_argument("<where>: <name> is RxC, expected rxc").
[[noreturn]] inline void shape_mismatch(const char* where, const char* name, std::int64_t rows,
                                        std::int64_t cols, std::int64_t want_rows,
                                        std::int64_t want_cols) {
  throw std::invalid_argument(std::string(where) + ": " + name + " is " + std::to_string(rows) +
                              "x" + std::to_string(cols) + ", expected " +
                              std::to_string(want_rows) + "x" + std::to_string(want_cols));
}

/// Throws unless `m` is rows x cols.
template <class MatrixType>
void check_shape(const char* where, const char* name, const MatrixType& m, std::int64_t rows,
                 std::int64_t cols) {
  if (m.rows() != rows || m.cols() != cols)
    shape_mismatch(where, name, m.rows(), m.cols(), rows, cols);
}

/// Throws std::out_of_range("<where>: steps[i] = k is outside [0, T)").
[[noreturn]] inline void step_out_of_range(const char* where, std::size_t i, int k, int steps) {
  throw std::out_of_range(std::string(where) + ": steps[" + std::to_string(i) + "] = " +
                          std::to_string(k) + " is outside [0, " + std::to_string(steps) + ")");
}

/// Throws std::invalid_argument("<where>: <name>[i] must be positive, got v").
[[noreturn]] inline void not_positive(const char* where, const char* name, std::size_t i,
                                      double value) {
  throw std::invalid_argument(std::string(where) + ": " + name + "[" + std::to_string(i) +
                              "] must be positive, got " + std::to_string(value));
}

/// Throws unless every step is in [0, num_steps).
inline void check_steps(const char* where, std::span<const int> steps, int num_steps) {
  for (std::size_t i = 0; i < steps.size(); ++i)
    if (steps[i] < 0 || steps[i] >= num_steps) step_out_of_range(where, i, steps[i], num_steps);
}

/// out (B x 1) = T(f(table[steps[b]])): a double table entry per row, mapped by `f` and cast to the
/// kernel's scalar type (as the reference code casts to float32), assembled on the host and uploaded
/// into backend storage.
template <class BackendType, class T, class MatrixType, class Map>
void gather(const typename BackendType::Context& ctx, const std::vector<double>& table,
            std::span<const int> steps, MatrixType& out, Map f) {
  thread_local std::vector<T> host;
  host.resize(steps.size());
  for (std::size_t b = 0; b < steps.size(); ++b)
    host[b] = static_cast<T>(f(steps[b], table[static_cast<std::size_t>(steps[b])]));
  BackendType::upload(ctx, std::span<const T>(host), static_cast<std::int64_t>(steps.size()), 1,
                      out);
}

/// gather() without a mapping.
template <class BackendType, class T, class MatrixType>
void gather(const typename BackendType::Context& ctx, const std::vector<double>& table,
            std::span<const int> steps, MatrixType& out) {
  gather<BackendType, T>(ctx, table, steps, out, [](int, double v) { return v; });
}

}  // namespace recdiff::policy_detail
