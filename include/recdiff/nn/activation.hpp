#pragma once
/// @file
/// Activation: an element-wise activation functor (Tanh, Sigmoid, Relu, LeakyRelu, ...) as a
/// parameter-free Module.

#include <cstdint>
#include <string>

#include <recdiff/math/activations.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff::nn {

/// y = act(x) element-wise; backward dx = dy * act'(x), read off the stored output. Prefer the fused
/// Linear<B, T, Act> after a linear layer; this module is for activations that stand alone (after a
/// normalisation, a convolution, a sum).
/// @tparam BackendType a Backend; @tparam T the scalar type
/// @tparam ActivationType an activation functor (math/activations.hpp)
template <class BackendType, class T, class ActivationType>
class Activation {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  explicit Activation(ActivationType act = {}) : m_act(act) {}

  /// y = act(x).
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& = {}) {
    m_y.resize(x.rows(), x.cols());
    BackendType::for_each(ctx, x.rows(), x.cols(),
                          Apply{x.data(), m_y.data(), x.cols(), m_act});
    return m_y;
  }

  /// dx = dy * act'(x) when asked (there are no parameters).
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    if (!need_input_grad) return nullptr;
    m_dx.resize(dy.rows(), dy.cols());
    BackendType::for_each(ctx, dy.rows(), dy.cols(),
                          ActivationGradientTo<T, ActivationType>{m_dx.data(), dy.data(),
                                                                  m_y.data(), dy.cols(), m_act});
    return &m_dx;
  }

  void collect_parameters(const std::string&, ParameterList<BackendType, T>&) {}
  std::size_t num_parameters() const noexcept { return 0; }
  /// The functor.
  const ActivationType& activation() const noexcept { return m_act; }

  // Kernel functor, public: nvcc refuses a private nested type as a kernel's template argument.
  /// y(i, j) = act(x(i, j)).
  struct Apply {
    const T* x;
    T* y;
    std::int64_t cols;
    ActivationType act;
    RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t j) const {
      y[i * cols + j] = act(x[i * cols + j]);
    }
  };

 private:
  ActivationType m_act;
  Matrix m_y, m_dx;
};

}  // namespace recdiff::nn
