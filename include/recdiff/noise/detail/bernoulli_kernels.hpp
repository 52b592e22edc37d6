#pragma once
/// @file
/// The element kernels of the Bernoulli noise policy, as functors over (row, group of
/// kGroupColumns columns) holding raw pointers, so that a CPU loop and a CUDA kernel run the same
/// code; and the scalar rules they share with the host-side sparse path. Element (row, col) always
/// draws the uniform philox::uniform(draw.seed, draw.stream, draw.counter, draw.row(row), col),
/// whatever the group width, exactly as the Gaussian kernels key their normals.
///
/// Every probability is a per-row coefficient computed in double on the host and cast to T, then
/// selected (binary inputs) or combined with std::fma (non-binary inputs), so no rounding depends
/// on whether a compiler contracts a multiply-add: a CPU and a GPU give the same bits.

#include <cmath>
#include <cstdint>

#include <recdiff/config.hpp>
#include <recdiff/math/philox.hpp>
#include <recdiff/noise/detail/gaussian_kernels.hpp>
#include <recdiff/noise/noise_draw.hpp>

namespace recdiff::noise_detail {

/// Columns of Bernoulli's per-row reverse coefficients: x_{k-1} = 1 has probability a0 + h b0 for
/// x_k = 0 and a1 + h b1 for x_k = 1 (h = x0_hat), and the row draws a sample when `draws` is 1.
struct BernoulliReverseColumn {
  static constexpr int a0 = 0;     ///< q(x_{k-1} = 1 | x_k = 0, x_0 = 0)
  static constexpr int b0 = 1;     ///< q(.. | x_k = 0, x_0 = 1) - q(.. | x_k = 0, x_0 = 0)
  static constexpr int a1 = 2;     ///< q(x_{k-1} = 1 | x_k = 1, x_0 = 0)
  static constexpr int b1 = 3;     ///< q(.. | x_k = 1, x_0 = 1) - q(.. | x_k = 1, x_0 = 0)
  static constexpr int draws = 4;  ///< 1 when a sampled step draws (k > 0 and not noiseless)
  static constexpr int count = 5;  ///< number of columns
};

/// The uniforms of the kGroupColumns columns of `group` in `row`: out[l] is
/// philox::uniform(..., kGroupColumns group + l), computed lane-wise (philox::random_blocks).
RECDIFF_HOST_DEVICE void bernoulli_uniforms(const NoiseDraw& draw, std::int64_t row,
                                            std::int64_t group, float (&out)[kGroupColumns]) {
  std::uint32_t words[4][kGroupBlocks];
  philox::random_blocks<kGroupBlocks>(draw.seed, draw.stream, draw.counter, draw.row(row),
                                      static_cast<std::uint32_t>(kGroupBlocks * group), words);
  for (int l = 0; l < kGroupBlocks; ++l)
    for (int c = 0; c < 4; ++c) out[4 * l + c] = philox::to_unit(words[c][l]);
}

/// The value at x of the affine function through (0, at_zero) and (1, at_one): exactly at_zero or
/// at_one for x in {0, 1}, fma(x, at_one - at_zero, at_zero) otherwise.
template <class T>
RECDIFF_HOST_DEVICE T bernoulli_affine(T x, T at_zero, T at_one) {
  if (x == T(1)) return at_one;
  if (x == T(0)) return at_zero;
  return std::fma(x, at_one - at_zero, at_zero);
}

/// 1 when the uniform u in [0, 1) falls below the probability p, else 0: a Bernoulli(p) draw
/// (p <= 0 never gives 1, p >= 1 always does).
template <class T>
RECDIFF_HOST_DEVICE T bernoulli_bit(float u, T p) {
  return static_cast<T>(u) < p ? T(1) : T(0);
}

/// P(x_{k-1} = 1 | x_k = x, x_0 ~ Bernoulli(h)) from a row's reverse coefficients `c`
/// (BernoulliReverseColumn): a0 + h b0 for x = 0, a1 + h b1 for x = 1, and their affine
/// interpolation for a non-binary x (the mixture over x_k with weight x).
template <class T>
RECDIFF_HOST_DEVICE T bernoulli_reverse_probability(T h, T x, const T* c) {
  using C = BernoulliReverseColumn;
  const T at_zero = x == T(1) ? T(0) : std::fma(h, c[C::b0], c[C::a0]);
  const T at_one = x == T(0) ? T(0) : std::fma(h, c[C::b1], c[C::a1]);
  return bernoulli_affine(x, at_zero, at_one);
}

/// x_t = Bernoulli(p) with p = p0 + x0 (p1 - p0) (exactly p0 or p1 for a binary x0), the draw's
/// uniform of (row, col). `marginal` holds (p0, p1) per row (B x 2). x_t may alias x0.
template <class T>
struct BernoulliQSampleKernel {
  const T* x0;
  const T* marginal;  ///< B x 2: P(x_k = 1 | x_0 = 0), P(x_k = 1 | x_0 = 1)
  T* x_t;
  std::int64_t cols;
  NoiseDraw draw;

  /// Processes columns kGroupColumns group .. kGroupColumns (group + 1) - 1 of `row`.
  RECDIFF_HOST_DEVICE void operator()(std::int64_t row, std::int64_t group) const {
    float u[kGroupColumns];
    bernoulli_uniforms(draw, row, group, u);
    const std::int64_t first = kGroupColumns * group;
    const std::int64_t n = cols - first < kGroupColumns ? cols - first : kGroupColumns;
    const T p0 = marginal[2 * row], p1 = marginal[2 * row + 1];
    for (std::int64_t l = 0; l < n; ++l) {
      const std::int64_t idx = row * cols + first + l;
      x_t[idx] = bernoulli_bit(u[l], bernoulli_affine(x0[idx], p0, p1));
    }
  }
};

/// out = P(x_{k-1} = 1 | x_k = x_t, x0_hat) (bernoulli_reverse_probability), or, when `sample`
/// and the row draws (k > 0), a Bernoulli draw of it with the draw's uniform of (row, col). `out`
/// may alias x_t or x0_hat.
template <class T>
struct BernoulliReverseKernel {
  const T* x0_hat;
  const T* x_t;
  const T* coef;  ///< B x BernoulliReverseColumn::count
  T* out;
  std::int64_t cols;
  NoiseDraw draw;
  bool sample;

  /// Processes columns kGroupColumns group .. kGroupColumns (group + 1) - 1 of `row`.
  RECDIFF_HOST_DEVICE void operator()(std::int64_t row, std::int64_t group) const {
    const T* c = coef + row * BernoulliReverseColumn::count;
    const bool draws = sample && c[BernoulliReverseColumn::draws] != T(0);
    float u[kGroupColumns] = {};
    if (draws) bernoulli_uniforms(draw, row, group, u);
    const std::int64_t first = kGroupColumns * group;
    const std::int64_t n = cols - first < kGroupColumns ? cols - first : kGroupColumns;
    for (std::int64_t l = 0; l < n; ++l) {
      const std::int64_t idx = row * cols + first + l;
      const T p = bernoulli_reverse_probability(x0_hat[idx], x_t[idx], c);
      out[idx] = draws ? bernoulli_bit(u[l], p) : p;
    }
  }
};

}  // namespace recdiff::noise_detail
