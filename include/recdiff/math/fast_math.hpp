#pragma once
/// @file
/// Float elementary functions written with +, -, *, / and bit manipulation only: no libm call, no
/// branch that the compiler cannot turn into a select. They serve the hot element-wise kernels
/// (Box-Muller normals, tanh, Adam's square root) because
///   - loops over them auto-vectorise on the CPU (a libm call or std::sqrt's errno path does not);
///   - a CUDA kernel evaluates the very same operations, so host and device draw the same bits
///     without depending on either side's libm.
/// Each is accurate to a few units in the last place over its documented domain (tests/math).

#include <bit>
#include <cstdint>

#include <recdiff/config.hpp>

namespace recdiff::math {

namespace fast_detail {
// ln 2 split so that k * ln2_hi is exact for |k| < 2^9: ln2_hi has 15 significant bits.
inline constexpr float ln2_hi = 0.693145751953125f;
inline constexpr float ln2_lo = 1.4286068202862268e-06f;
inline constexpr float inv_ln2 = 1.4426950408889634f;

/// x rounded to the nearest integer (ties to even) for |x| < 2^22: adding 1.5 * 2^23 leaves no
/// fraction bits. Arithmetic instead of a sign test keeps the callers' loops branch-free (GCC
/// threads a select on the sign into control flow, which stops vectorisation).
RECDIFF_HOST_DEVICE float round_nearest(float x) {
  constexpr float shifter = 12582912.0f;
  return (x + shifter) - shifter;
}

/// |x| by clearing the sign bit.
RECDIFF_HOST_DEVICE float abs_bits(float x) {
  return std::bit_cast<float>(std::bit_cast<std::uint32_t>(x) & 0x7FFFFFFFu);
}

/// 2^k for an integer k in [-126, 127], built from its exponent field.
RECDIFF_HOST_DEVICE float pow2i(std::int32_t k) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(k + 127) << 23);
}
}  // namespace fast_detail

/// Natural logarithm of a positive, normal, finite float (not 0, denormals, inf or NaN).
/// x = 2^e m with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172,
/// by its odd series up to s^11 (truncation error below 3e-10 relative). Error: about 1 ulp.
RECDIFF_HOST_DEVICE float fast_log(float x) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
  const std::uint32_t mantissa = bits & 0x007FFFFFu;
  // Mantissas above sqrt(2) (0x3FB504F3 as a float in [1, 2)) are halved, so |s| stays small.
  const std::uint32_t halve = mantissa > 0x003504F3u ? 1u : 0u;
  const float m = std::bit_cast<float>(mantissa | ((127u - halve) << 23));
  const auto e = static_cast<float>(static_cast<std::int32_t>(bits >> 23) - 127 +
                                    static_cast<std::int32_t>(halve));
  const float s = (m - 1.0f) / (m + 1.0f);
  const float s2 = s * s;
  const float tail =
      s * s2 *
      (2.0f / 3.0f +
       s2 * (2.0f / 5.0f + s2 * (2.0f / 7.0f + s2 * (2.0f / 9.0f + s2 * (2.0f / 11.0f)))));
  return e * fast_detail::ln2_hi + (2.0f * s + (e * fast_detail::ln2_lo + tail));
}

/// sin(2 pi u) and cos(2 pi u) for u in [0, 1) (any |u| < 2^19 works; the reduction is exact).
/// 4u = q + r with q the nearest integer and |r| <= 1/2, so the angle is q quarter turns plus
/// (pi/2) r with |(pi/2) r| <= pi/4, where the Taylor series to degree 9 (sin) and 10 (cos) is
/// accurate to 2e-9. The quadrant q mod 4 swaps and negates. Absolute error below 1e-7.
RECDIFF_HOST_DEVICE void sincos_2pi(float u, float& sin_out, float& cos_out) {
  const float t = 4.0f * u;
  const float qf = fast_detail::round_nearest(t);
  const auto q = static_cast<std::int32_t>(qf);
  const float r = t - qf;
  const float r2 = r * r;
  // (pi/2)^n / n! with alternating signs: the Taylor coefficients of sin and cos at (pi/2) r.
  const float sin_r =
      r * (1.5707963267948966f +
           r2 * (-0.6459640975062462f +
                 r2 * (0.07969262624616703f +
                       r2 * (-0.004681754135318687f + r2 * 0.00016044118478735975f))));
  const float cos_r =
      1.0f + r2 * (-1.2337005501361697f +
                   r2 * (0.253669507901048f +
                         r2 * (-0.020863480763352957f +
                               r2 * (0.0009192602748394263f + r2 * -2.5202042373060596e-05f))));
  const bool swap = (q & 1) != 0;
  const float s = swap ? cos_r : sin_r;
  const float c = swap ? sin_r : cos_r;
  sin_out = (q & 2) != 0 ? -s : s;
  cos_out = ((q + 1) & 2) != 0 ? -c : c;
}

/// sqrt(x) for a finite x >= 0 (sqrt(0) = 0): reciprocal square root from the exponent-halving
/// bit trick, four Newton steps (the starting error of at most 12% squares each step), times x.
/// Error: about 1 ulp; not correctly rounded, but the same on every target.
RECDIFF_HOST_DEVICE float fast_sqrt(float x) {
  float y = std::bit_cast<float>(0x5F400000u - (std::bit_cast<std::uint32_t>(x) >> 1));
  const float half_x = 0.5f * x;
  for (int i = 0; i < 4; ++i) y = y * (1.5f - half_x * y * y);
  return x * y;
}

/// exp(y) - 1 for y in [-87, 88], accurate also near 0 (no cancellation): y = k ln 2 + r with
/// |r| <= ln(2)/2, e^r - 1 = r + r^2/2 + ... + r^7/7! (truncation 1.5e-8 relative), and
/// expm1(y) = (2^k - 1) + 2^k (e^r - 1), where 2^k - 1 is exact. Error: about 1-2 ulp.
RECDIFF_HOST_DEVICE float fast_expm1(float y) {
  const float kf = fast_detail::round_nearest(y * fast_detail::inv_ln2);
  const float r = (y - kf * fast_detail::ln2_hi) - kf * fast_detail::ln2_lo;
  const float em1_r =
      r + r * r *
              (0.5f + r * (1.0f / 6.0f +
                           r * (1.0f / 24.0f +
                                r * (1.0f / 120.0f + r * (1.0f / 720.0f + r * (1.0f / 5040.0f))))));
  const float p = fast_detail::pow2i(static_cast<std::int32_t>(kf));
  return (p - 1.0f) + p * em1_r;
}

/// tanh(x) = sign(x) e / (e + 2) with e = expm1(2 |x|), |x| clamped to 9 (where tanh rounds to 1
/// in float). Accurate near 0 because expm1 is. Error: a few ulp; NaN is not propagated.
RECDIFF_HOST_DEVICE float fast_tanh(float x) {
  const float a = fast_detail::abs_bits(x);
  const float e = fast_expm1(2.0f * (a < 9.0f ? a : 9.0f));
  const float t = e / (e + 2.0f);
  return std::bit_cast<float>(std::bit_cast<std::uint32_t>(t) |
                              (std::bit_cast<std::uint32_t>(x) & 0x80000000u));
}

}  // namespace recdiff::math
