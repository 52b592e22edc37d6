#pragma once
/// @file
/// AdamUpdate: the fused element-wise update of Adam / AdamW (one pass per parameter tensor).

#include <cmath>
#include <cstdint>
#include <type_traits>

#include <recdiff/config.hpp>
#include <recdiff/math/fast_math.hpp>

namespace recdiff {

/// One Adam step for element (i, j) of a row-major tensor, in one pass over theta, g, m and v:
///   g' = g + l2 * theta                       (coupled L2, Adam's weight_decay; 0 for AdamW)
///   theta = decay * theta                     (decoupled decay 1 - lr * wd, AdamW; 1 for Adam)
///   m = beta1 m + (1 - beta1) g';   v = beta2 v + (1 - beta2) g'^2
///   theta -= step_size * m / (sqrt(v) / sqrt_bias2 + eps)
/// with step_size = lr / (1 - beta1^n) and sqrt_bias2 = sqrt(1 - beta2^n), n the 1-based step count
/// (the order of operations of torch.optim.AdamW, DiffRec's optimiser).
template <class T>
struct AdamUpdate {
  T* theta;           ///< parameter (updated)
  const T* grad;      ///< gradient
  T* m;               ///< first moment (updated)
  T* v;               ///< second moment (updated)
  std::int64_t cols;  ///< row stride of all four
  T beta1;            ///< first-moment decay
  T beta2;            ///< second-moment decay
  T eps;              ///< denominator guard
  T step_size;        ///< lr / (1 - beta1^n)
  T sqrt_bias2;       ///< sqrt(1 - beta2^n)
  T decay;            ///< decoupled multiplicative decay 1 - lr * wd (1 without)
  T l2;               ///< coupled L2 coefficient wd (0 without)

  RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t j) const {
    const std::int64_t k = i * cols + j;
    const T g = grad[k] + l2 * theta[k];
    const T mk = beta1 * m[k] + (T(1) - beta1) * g;
    const T vk = beta2 * v[k] + (T(1) - beta2) * g * g;
    m[k] = mk;
    v[k] = vk;
    theta[k] = decay * theta[k] - step_size * mk / (root(vk) / sqrt_bias2 + eps);
  }

 private:
  // math::fast_sqrt in float: std::sqrt's errno path keeps the loop from vectorising.
  RECDIFF_HOST_DEVICE static T root(T x) {
    if constexpr (std::is_same_v<T, float>)
      return math::fast_sqrt(x);
    else
      return std::sqrt(x);
  }
};

}  // namespace recdiff
