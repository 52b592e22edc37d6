#pragma once
/// @file
/// Element-wise activation functors and the two fused kernels every layer runs through them:
/// bias + activation after a GEMM, and the activation's derivative applied to an incoming gradient.
///
/// An activation is a small copyable functor with
///   - `T operator()(T x) const`: the value a(x);
///   - `T derivative(T y) const`: a'(x) written as a function of the OUTPUT y = a(x).
/// Expressing the derivative through the output means a layer keeps only its activations (which the
/// next layer needs anyway), never the pre-activations. A functor may carry parameters as members
/// (LeakyRelu's slope), which is the shape a trainable PReLU slope would take.
///
/// Activations that are not invertible from their output (Silu, Gelu: both have a minimum, so one y
/// comes from two x) instead provide `T input_derivative(T x) const`, a'(x) of the INPUT, and no
/// `derivative`: the fused Linear<B, T, Act> (which keeps only the output) then refuses them at
/// compile time, and nn::Activation keeps its input for them (InputDerivativeActivation).

#include <cmath>
#include <concepts>
#include <cstdint>
#include <type_traits>

#include <recdiff/config.hpp>
#include <recdiff/math/fast_math.hpp>

namespace recdiff {

/// a(x) = x (the linear output layer).
struct Identity {
  template <class T>
  RECDIFF_HOST_DEVICE T operator()(T x) const {
    return x;
  }
  /// a' = 1.
  template <class T>
  RECDIFF_HOST_DEVICE T derivative(T) const {
    return T(1);
  }
};

/// a(x) = tanh(x) (DiffRec's hidden activation). In float it is math::fast_tanh (a few ulp, no
/// libm call, so the bias + activation pass vectorises and a device computes the same bits); in
/// double (the gradient checks) it is std::tanh.
struct Tanh {
  template <class T>
  RECDIFF_HOST_DEVICE T operator()(T x) const {
    if constexpr (std::is_same_v<T, float>)
      return math::fast_tanh(x);
    else
      return std::tanh(x);
  }
  /// tanh' = 1 - y^2.
  template <class T>
  RECDIFF_HOST_DEVICE T derivative(T y) const {
    return T(1) - y * y;
  }
};

/// a(x) = 1 / (1 + exp(-x)).
struct Sigmoid {
  template <class T>
  RECDIFF_HOST_DEVICE T operator()(T x) const {
    return T(1) / (T(1) + std::exp(-x));
  }
  /// sigmoid' = y (1 - y).
  template <class T>
  RECDIFF_HOST_DEVICE T derivative(T y) const {
    return y * (T(1) - y);
  }
};

/// a(x) = max(x, 0).
struct Relu {
  template <class T>
  RECDIFF_HOST_DEVICE T operator()(T x) const {
    return x > T(0) ? x : T(0);
  }
  /// 1 where y > 0, else 0 (the subgradient 0 is taken at x = 0).
  template <class T>
  RECDIFF_HOST_DEVICE T derivative(T y) const {
    return y > T(0) ? T(1) : T(0);
  }
};

/// a(x) = x for x > 0, slope * x otherwise. slope must be > 0 for the derivative to be readable off
/// the output (the sign of y equals the sign of x); slope = 0 is Relu.
struct LeakyRelu {
  double slope = 0.01;  ///< negative-side slope (a PReLU would learn it)

  template <class T>
  RECDIFF_HOST_DEVICE T operator()(T x) const {
    return x > T(0) ? x : static_cast<T>(slope) * x;
  }
  /// 1 where y > 0, else slope.
  template <class T>
  RECDIFF_HOST_DEVICE T derivative(T y) const {
    return y > T(0) ? T(1) : static_cast<T>(slope);
  }
};

/// a(x) = x sigmoid(x) = x / (1 + exp(-x)) (SiLU, "swish"; Elfwing et al. 2018), the activation of
/// the blocks of RecFusion's U-Net ablations (Bénédict et al. 2023; denoiser/unet.hpp).
struct Silu {
  template <class T>
  RECDIFF_HOST_DEVICE T operator()(T x) const {
    return x / (T(1) + std::exp(-x));
  }
  /// a'(x) = s (1 + x (1 - s)) with s = sigmoid(x), from the input x.
  template <class T>
  RECDIFF_HOST_DEVICE T input_derivative(T x) const {
    const T s = T(1) / (T(1) + std::exp(-x));
    return s * (T(1) + x * (T(1) - s));
  }
};

/// a(x) = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2, the exact (erf) form of GELU (Hendrycks and
/// Gimpel 2016; torch.nn.GELU's default), used in the U-Nets' time MLP. Phi is evaluated as
/// erfc(-x / sqrt 2) / 2, which equals (1 + erf(x / sqrt 2)) / 2 without its cancellation for
/// negative x.
struct Gelu {
  template <class T>
  RECDIFF_HOST_DEVICE T operator()(T x) const {
    return T(0.5) * x * std::erfc(-x * T(0.70710678118654752440));
  }
  /// a'(x) = Phi(x) + x phi(x), phi the standard normal density, from the input x.
  template <class T>
  RECDIFF_HOST_DEVICE T input_derivative(T x) const {
    const T cdf = T(0.5) * std::erfc(-x * T(0.70710678118654752440));
    return cdf + x * T(0.39894228040143267794) * std::exp(T(-0.5) * x * x);
  }
};

/// An activation whose derivative is a function of its input (`input_derivative(x)`), such as
/// Silu and Gelu; the others (`derivative(y)`) are read off the output.
template <class A, class T>
concept InputDerivativeActivation = requires(const A& a, T x) {
  { a.input_derivative(x) } -> std::convertible_to<T>;
};

/// Fused kernel over a row-major rows x cols matrix: y(i, j) = act(y(i, j) + bias(j)), in place.
/// Runs once after each layer's GEMM, so bias and activation cost one pass over the output.
template <class T, class ActivationType>
struct BiasActivation {
  T* y;               ///< rows x cols, row-major (the GEMM output, overwritten)
  const T* bias;      ///< cols entries
  std::int64_t cols;  ///< row stride of y
  ActivationType act;

  RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t j) const {
    T& e = y[i * cols + j];
    e = act(e + bias[j]);
  }
};

/// Fused kernel: dy(i, j) *= act'(x) computed from the layer's output y(i, j). Turns the gradient
/// w.r.t. a layer's activations into the gradient w.r.t. its pre-activations, in place.
template <class T, class ActivationType>
struct ActivationGradient {
  T* dy;              ///< rows x cols, row-major (overwritten)
  const T* y;         ///< the activation output of the forward pass, same shape
  std::int64_t cols;  ///< row stride of both
  ActivationType act;

  RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t j) const {
    const std::int64_t k = i * cols + j;
    dy[k] *= act.derivative(y[k]);
  }
};

/// Fused kernel: dx(i, j) = dy(i, j) act'(x) computed from the output y(i, j), out of place (dx
/// may equal dy). The gradient w.r.t. a layer's activations becomes the gradient w.r.t. its
/// pre-activations in one pass.
template <class T, class ActivationType>
struct ActivationGradientTo {
  T* dx;              ///< rows x cols, row-major (written)
  const T* dy;        ///< incoming gradient, same shape
  const T* y;         ///< the activation output of the forward pass, same shape
  std::int64_t cols;  ///< row stride of all three
  ActivationType act;

  RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t j) const {
    const std::int64_t k = i * cols + j;
    dx[k] = dy[k] * act.derivative(y[k]);
  }
};

/// Fused kernel: dx(i, j) = dy(i, j) act'(x(i, j)) for an InputDerivativeActivation, computed from
/// the activation's INPUT x, out of place (dx may equal dy).
template <class T, class ActivationType>
struct ActivationInputGradientTo {
  T* dx;              ///< rows x cols, row-major (written)
  const T* dy;        ///< incoming gradient, same shape
  const T* x;         ///< the activation input of the forward pass, same shape
  std::int64_t cols;  ///< row stride of all three
  ActivationType act;

  RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t j) const {
    const std::int64_t k = i * cols + j;
    dx[k] = dy[k] * act.input_derivative(x[k]);
  }
};

}  // namespace recdiff
