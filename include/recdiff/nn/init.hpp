#pragma once
/// @file
/// Parameter initialisation: the two policies of DiffRec's released code (DiffRec/T-DiffRec and L-DiffRec) and the reproducible
/// Gaussian fill they are made of. Every draw is a Philox function of (seed, Stream::init, key, row,
/// column), so a model initialises to the same numbers on every backend and at any thread count.

#include <cmath>
#include <cstdint>

#include <recdiff/math/philox.hpp>
#include <recdiff/nn/kernels.hpp>

namespace recdiff::nn {

/// How a linear layer's weight W (out x in) and bias b are drawn.
enum class Init {
  diffrec,          ///< W ~ N(0, sqrt(2 / (fan_in + fan_out))), b ~ N(0, 0.001) (DiffRec, T-DiffRec)
  xavier_zero_bias  ///< W Xavier-normal (same std), b = 0 (L-DiffRec, LT-DiffRec)
};

/// Standard deviation of a weight of a fan_in -> fan_out layer: sqrt(2 / (fan_in + fan_out)).
inline double weight_stddev(std::int64_t fan_in, std::int64_t fan_out) {
  return std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
}

/// Standard deviation of a bias under `init` (0 means the bias is zeroed).
inline double bias_stddev(Init init) { return init == Init::diffrec ? 0.001 : 0.0; }

/// Philox key of the weight of layer `layer_index` (biases use weight_key + 1).
constexpr std::uint32_t weight_key(std::uint32_t layer_index) { return 2 * layer_index; }

/// Fills `m` with stddev * N(0, 1), where `m` holds the columns [col_offset, col_offset + n) of a
/// logical matrix (n = m.cols(), or m.rows() when `transposed`: m then stores that block transposed).
/// Storage element positions map to logical (row, column) as in NormalFill, so a block or a
/// transposed copy of a layer receives exactly the numbers of the plain layer.
template <class BackendType, class MatrixType>
void fill_normal(const typename BackendType::Context& ctx, MatrixType& m, double stddev,
                 std::uint64_t seed, std::uint32_t key, std::int64_t col_offset = 0,
                 bool transposed = false) {
  using T = typename MatrixType::Scalar;
  const std::int64_t logical_rows = transposed ? m.cols() : m.rows();
  const std::int64_t logical_cols = transposed ? m.rows() : m.cols();
  const std::int64_t first_group = col_offset / 4;
  const std::int64_t end_group = (col_offset + logical_cols + 3) / 4;
  BackendType::for_each(ctx, logical_rows, end_group - first_group,
                        NormalFill<T>{m.data(), static_cast<std::int64_t>(m.cols()),
                                      logical_cols, col_offset, transposed, seed, key, stddev,
                                      first_group, false});
}

/// Fills `m` with U(-bound, bound) draws, element positions mapped to the logical matrix exactly as
/// in fill_normal (same Philox blocks, so a transposed copy receives the plain layer's numbers).
template <class BackendType, class MatrixType>
void fill_uniform(const typename BackendType::Context& ctx, MatrixType& m, double bound,
                  std::uint64_t seed, std::uint32_t key, bool transposed = false) {
  using T = typename MatrixType::Scalar;
  const std::int64_t logical_rows = transposed ? m.cols() : m.rows();
  const std::int64_t logical_cols = transposed ? m.rows() : m.cols();
  BackendType::for_each(ctx, logical_rows, (logical_cols + 3) / 4,
                        NormalFill<T>{m.data(), static_cast<std::int64_t>(m.cols()),
                                      logical_cols, 0, transposed, seed, key, bound, 0, true});
}

/// PyTorch's default initialisation of a Linear(fan_in, .) layer (torch.nn.Linear.reset_parameters:
/// weight and bias both U(-1/sqrt(fan_in), 1/sqrt(fan_in))): the bound.
inline double torch_default_bound(std::int64_t fan_in) {
  return 1.0 / std::sqrt(static_cast<double>(fan_in));
}

}  // namespace recdiff::nn
