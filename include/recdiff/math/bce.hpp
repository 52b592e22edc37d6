#pragma once
/// @file
/// Binary cross-entropy from logits, numerically stable, as host/device scalar functions: the
/// softplus, the logistic sigmoid, the loss and its derivative. The loss is computed from the
/// logit a, never as log(pi) of a probability, and never takes the log of the data (RecFusion,
/// Bénédict et al. 2023, Eq. 8, and its released code swap the arguments of the BCE and take the
/// log of the binary data). Plain arithmetic and std:: functions only, so a CPU loop and a CUDA kernel
/// evaluate the same expressions (up to each side's libm).

#include <cmath>

#include <recdiff/config.hpp>
#include <recdiff/math/fast_math.hpp>

namespace recdiff::math {

/// softplus(a) = log(1 + e^a), evaluated as max(a, 0) + log1p(e^{-|a|}): finite for every finite
/// a (no overflow of e^a for large a, no loss of the tiny value e^a for very negative a:
/// softplus(-80) = e^{-80} to full precision). Always > 0 (0 only once e^a underflows).
template <class Real>
RECDIFF_HOST_DEVICE Real softplus(Real a) {
  const Real positive = a > Real(0) ? a : Real(0);
  const Real magnitude = a > Real(0) ? a : -a;
  return positive + std::log1p(std::exp(-magnitude));
}

/// sigmoid(a) = 1 / (1 + e^{-a}), evaluated without overflow: 1 / (1 + e^{-a}) for a >= 0 and
/// e^a / (1 + e^a) for a < 0 (the exponent is never positive). In [0, 1].
template <class Real>
RECDIFF_HOST_DEVICE Real sigmoid(Real a) {
  if (a >= Real(0)) return Real(1) / (Real(1) + std::exp(-a));
  const Real e = std::exp(a);
  return e / (Real(1) + e);
}

/// The binary cross-entropy of a target x in [0, 1] (binary data: {0, 1}) against the probability
/// sigmoid(a), from the logit a:
///     bce(x, a) = -x log sigmoid(a) - (1 - x) log(1 - sigmoid(a))
///               = x softplus(-a) + (1 - x) softplus(a)
///               = max(a, 0) - x a + log1p(e^{-|a|})       (the form evaluated).
/// Finite for all finite a (bce(1, -80) = 80 + e^{-80}, bce(0, 80) = 80, bce(1, 80) = e^{-80});
/// for binary x its minimum over a is 0 (approached as a -> +-inf), for x in (0, 1) it is the
/// entropy of x.
template <class Real>
RECDIFF_HOST_DEVICE Real bce_from_logits(Real x, Real a) {
  const Real positive = a > Real(0) ? a : Real(0);
  const Real magnitude = a > Real(0) ? a : -a;
  return positive - x * a + std::log1p(std::exp(-magnitude));
}

/// d bce(x, a) / d a = sigmoid(a) - x: bounded by 1 in magnitude for x in [0, 1], finite for all a.
template <class Real>
RECDIFF_HOST_DEVICE Real bce_from_logits_derivative(Real x, Real a) {
  return sigmoid(a) - x;
}

/// bce_from_logits(x, a) and sigmoid(a) together in float, from one exponential, with the
/// library's libm-free functions (math/fast_math.hpp) so that a loop over a row vectorises and a
/// CUDA kernel computes the same bits: e = exp(-|a|) (|a| clamped to 87, where e is still a normal
/// float; beyond it log1p(e) < 2e-38), sigmoid = 1 / (1 + e) for a >= 0 and e / (1 + e) below, and
/// the loss max(a, 0) - x a + log(1 + e). Error: a few ulp of the loss, and below 1e-7 absolute in
/// log(1 + e) where e is tiny (1 + e rounds).
RECDIFF_HOST_DEVICE float fast_bce_from_logits(float x, float a, float& sigmoid_out) {
  const float magnitude = fast_detail::abs_bits(a);
  const float clamped = magnitude < 87.0f ? magnitude : 87.0f;
  const float e = fast_expm1(-clamped) + 1.0f;
  const float inv = 1.0f / (1.0f + e);
  sigmoid_out = a >= 0.0f ? inv : e * inv;
  const float positive = a > 0.0f ? a : 0.0f;
  return positive - x * a + fast_log(1.0f + e);
}

}  // namespace recdiff::math
