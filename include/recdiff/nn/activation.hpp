#pragma once
/// @file
/// Activation: an element-wise activation functor (Tanh, Sigmoid, Relu, LeakyRelu, Silu, Gelu, ...)
/// as a parameter-free Module.

#include <cstdint>
#include <stdexcept>
#include <string>

#include <recdiff/math/activations.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff::nn {

/// y = act(x) element-wise; backward dx = dy * act'(x), read off the stored output, or, for an
/// InputDerivativeActivation (Silu, Gelu), computed from the input: the module then keeps a pointer
/// to x, which must stay alive until backward(). Prefer the fused Linear<B, T, Act> after a linear
/// layer; this module is for activations that stand alone (after a normalisation, a convolution, a
/// sum) and for those whose derivative needs the input.
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
    m_input = &x;
    return m_y;
  }

  /// dx = dy * act'(x) when asked (there are no parameters).
  /// @throws std::logic_error without a forward(); std::invalid_argument when dy does not have the
  ///         output's shape
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    if (!need_input_grad) return nullptr;
    if (m_input == nullptr)
      throw std::logic_error("recdiff::nn::Activation::backward: no forward() pass to differentiate");
    if (dy.rows() != m_y.rows() || dy.cols() != m_y.cols())
      throw std::invalid_argument("recdiff::nn::Activation::backward: dy is " +
                                  std::to_string(dy.rows()) + "x" + std::to_string(dy.cols()) +
                                  ", expected the output's " + std::to_string(m_y.rows()) + "x" +
                                  std::to_string(m_y.cols()));
    m_dx.resize(dy.rows(), dy.cols());
    if constexpr (InputDerivativeActivation<ActivationType, T>)
      BackendType::for_each(ctx, dy.rows(), dy.cols(),
                            ActivationInputGradientTo<T, ActivationType>{
                                m_dx.data(), dy.data(), m_input->data(), dy.cols(), m_act});
    else
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
  const Matrix* m_input = nullptr;  // x of the last forward()
};

}  // namespace recdiff::nn
