#pragma once
/// @file
/// Scalar maths of a Gaussian diffusion, shared by the noise kernel and the objectives. Host/device
/// functions of plain arithmetic only (no Eigen, no CUDA headers), so a CPU loop and a CUDA kernel
/// evaluate every element with the same expression.

#include <recdiff/config.hpp>

namespace recdiff::math {

/// x_k = a x0 + b eps: a sample of q(x_k | x_0) with a = sqrt(alpha_bar_k), b = sqrt(1 -
/// alpha_bar_k).
template <class Real>
RECDIFF_HOST_DEVICE Real forward_sample(Real a, Real x0, Real b, Real eps) {
  return a * x0 + b * eps;
}

/// mu = c1 x0 + c2 x_k: the mean of q(x_{k-1} | x_k, x_0) (posterior_mean_coef1/2 of the tables).
template <class Real>
RECDIFF_HOST_DEVICE Real posterior_mean(Real c1, Real x0, Real c2, Real x_k) {
  return c1 * x0 + c2 * x_k;
}

/// x0 = r x_k - m eps with r = sqrt(1 / alpha_bar_k), m = sqrt(1 / alpha_bar_k - 1): x0 read off a
/// noise prediction.
template <class Real>
RECDIFF_HOST_DEVICE Real x0_from_eps(Real r, Real x_k, Real m, Real eps) {
  return r * x_k - m * eps;
}

}  // namespace recdiff::math
