#pragma once
/// @file
/// AdamaxUpdate: the fused element-wise update of Adamax (one pass per parameter tensor).

#include <cstdint>

#include <recdiff/config.hpp>

namespace recdiff {

/// One Adamax step (Kingma & Ba, ICLR 2015, Algorithm 2, with the eps of torch.optim.Adamax) for
/// element (i, j) of a row-major tensor, in one pass over theta, g, m and u:
///   g' = g + l2 * theta                         (coupled L2 weight decay; 0 without)
///   m = beta1 m + (1 - beta1) g';   u = max(beta2 u, |g'| + eps)
///   theta -= step_size * (m / u)
/// with step_size = lr / (1 - beta1^n), n the 1-based step count. A NaN in u or g' propagates into u
/// (as torch's amax does), so a diverged run stays visible.
template <class T>
struct AdamaxUpdate {
  T* theta;           ///< parameter (updated)
  const T* grad;      ///< gradient
  T* m;               ///< first moment (updated)
  T* u;               ///< exponentially weighted infinity norm (updated)
  std::int64_t cols;  ///< row stride of all four
  T beta1;            ///< first-moment decay
  T beta2;            ///< infinity-norm decay
  T eps;              ///< added to |g'|, keeps u > 0
  T step_size;        ///< lr / (1 - beta1^n)
  T l2;               ///< coupled L2 coefficient wd (0 without)

  /// Updates element (i, j).
  RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t j) const {
    const std::int64_t k = i * cols + j;
    const T g = grad[k] + l2 * theta[k];
    const T mk = beta1 * m[k] + (T(1) - beta1) * g;
    const T decayed = beta2 * u[k];
    const T fresh = (g < T(0) ? -g : g) + eps;
    const T uk = (decayed > fresh || decayed != decayed) ? decayed : fresh;
    m[k] = mk;
    u[k] = uk;
    theta[k] = theta[k] - step_size * (mk / uk);
  }
};

}  // namespace recdiff
