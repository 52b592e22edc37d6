#pragma once
/// @file
/// SgdUpdate: the fused element-wise update of stochastic gradient descent with optional momentum
/// (one pass per parameter tensor).

#include <cstdint>

#include <recdiff/config.hpp>

namespace recdiff {

/// One SGD step for element (i, j) of a row-major tensor, with the semantics of torch.optim.SGD
/// (momentum in the form of Sutskever et al., ICML 2013, as torch writes it):
///   g' = g + l2 * theta                                  (coupled weight decay; 0 without)
///   without momentum (buf == nullptr):  d = g'
///   with momentum: buf = g' on the first step, buf = momentum buf + (1 - dampening) g' afterwards;
///                  d = g' + momentum buf (nesterov) or d = buf
///   theta -= lr * d
template <class T>
struct SgdUpdate {
  T* theta;           ///< parameter (updated)
  const T* grad;      ///< gradient
  T* buf;             ///< momentum buffer (updated), nullptr without momentum
  std::int64_t cols;  ///< row stride of all three
  T lr;               ///< learning rate
  T l2;               ///< coupled weight decay wd (0 without)
  T momentum;         ///< momentum factor mu
  T keep;             ///< 1 - dampening
  bool first;         ///< first step of this tensor: the buffer is set to g'
  bool nesterov;      ///< Nesterov momentum

  /// Updates element (i, j).
  RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t j) const {
    const std::int64_t k = i * cols + j;
    const T g = grad[k] + l2 * theta[k];
    T d = g;
    if (buf != nullptr) {
      const T b = first ? g : momentum * buf[k] + keep * g;
      buf[k] = b;
      d = nesterov ? g + momentum * b : b;
    }
    theta[k] = theta[k] - lr * d;
  }
};

}  // namespace recdiff
