#pragma once
/// @file
/// The element kernels of the Gaussian noise policy, as functors over (row, group of kGroupColumns
/// columns) holding raw pointers, so that a CPU loop and a CUDA kernel run the same code. A group
/// draws the normals of its kGroupColumns / 4 Philox blocks lane-wise (philox::normals), which the
/// compiler vectorises; the last group of a row may be ragged. Element (row, col) is always
/// philox::normal(draw.seed, draw.stream, draw.counter, draw.row(row), col), whatever the group
/// width.

#include <cstdint>

#include <recdiff/config.hpp>
#include <recdiff/math/gaussian_diffusion.hpp>
#include <recdiff/math/philox.hpp>
#include <recdiff/noise/noise_draw.hpp>

namespace recdiff::noise_detail {

/// Columns per kernel invocation: 16 Philox blocks, enough lanes for 512-bit vectors.
inline constexpr std::int64_t kGroupColumns = 64;
/// Philox blocks (of four columns) per invocation.
inline constexpr int kGroupBlocks = static_cast<int>(kGroupColumns / 4);

/// Number of kGroupColumns-column groups covering `cols` columns.
RECDIFF_HOST_DEVICE std::int64_t column_groups(std::int64_t cols) {
  return (cols + kGroupColumns - 1) / kGroupColumns;
}

/// x_t = a_row x0 + b_row eps, eps = the draw's Philox normal of (row, col); stores eps. Matrices
/// are dense row-major with `cols` columns; a and b hold one coefficient per row.
template <class T>
struct QSampleKernel {
  const T* x0;
  const T* a;
  const T* b;
  T* x_t;
  T* eps;
  std::int64_t cols;
  NoiseDraw draw;

  /// Processes columns kGroupColumns group .. kGroupColumns (group + 1) - 1 of `row`.
  RECDIFF_HOST_DEVICE void operator()(std::int64_t row, std::int64_t group) const {
    float z[kGroupColumns];
    philox::normals<kGroupBlocks>(draw.seed, draw.stream, draw.counter, draw.row(row),
                                  static_cast<std::uint32_t>(kGroupBlocks * group), z);
    const std::int64_t first = kGroupColumns * group;
    const std::int64_t n = cols - first < kGroupColumns ? cols - first : kGroupColumns;
    const T ar = a[row], br = b[row];
    for (std::int64_t l = 0; l < n; ++l) {
      const std::int64_t idx = row * cols + first + l;
      const T e = static_cast<T>(z[l]);
      eps[idx] = e;
      x_t[idx] = math::forward_sample(ar, x0[idx], br, e);
    }
  }
};

/// out = c1_row x0_hat + c2_row x_t (+ std_row z when `noise_std` is non-null and std_row != 0,
/// with z = the draw's Philox normal of (row, col)). `out` may alias x_t or x0_hat.
template <class T>
struct ReverseStepKernel {
  const T* x0_hat;
  const T* x_t;
  const T* c1;
  const T* c2;
  const T* noise_std;  ///< null: no noise (the posterior mean)
  T* out;
  std::int64_t cols;
  NoiseDraw draw;

  /// Processes columns kGroupColumns group .. kGroupColumns (group + 1) - 1 of `row`.
  RECDIFF_HOST_DEVICE void operator()(std::int64_t row, std::int64_t group) const {
    const std::int64_t first = kGroupColumns * group;
    const std::int64_t n = cols - first < kGroupColumns ? cols - first : kGroupColumns;
    const T c1r = c1[row], c2r = c2[row];
    const T sr = noise_std != nullptr ? noise_std[row] : T(0);
    float z[kGroupColumns] = {};
    if (sr != T(0))
      philox::normals<kGroupBlocks>(draw.seed, draw.stream, draw.counter, draw.row(row),
                                    static_cast<std::uint32_t>(kGroupBlocks * group), z);
    for (std::int64_t l = 0; l < n; ++l) {
      const std::int64_t idx = row * cols + first + l;
      const T mean = math::posterior_mean(c1r, x0_hat[idx], c2r, x_t[idx]);
      out[idx] = sr != T(0) ? mean + sr * static_cast<T>(z[l]) : mean;
    }
  }
};

/// grad_x0 (+)= a_row grad_x_t: the gradient of x_t = a_row x0 + b_row eps with respect to x0.
template <class T>
struct QSampleBackwardKernel {
  const T* grad_x_t;
  const T* a;
  T* grad_x0;
  std::int64_t cols;
  bool accumulate;

  RECDIFF_HOST_DEVICE void operator()(std::int64_t row, std::int64_t col) const {
    const std::int64_t idx = row * cols + col;
    const T g = a[row] * grad_x_t[idx];
    grad_x0[idx] = accumulate ? grad_x0[idx] + g : g;
  }
};

}  // namespace recdiff::noise_detail
