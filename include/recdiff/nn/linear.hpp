#pragma once
/// @file
/// Linear: the fully connected layer y = act(x W^T + b) as a Module, with the activation fused into
/// the bias pass. (A first layer that reads CSR rows is nn::InputLinear.)

#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <recdiff/backend/op.hpp>
#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/nn/init.hpp>
#include <recdiff/nn/kernels.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff::nn {

namespace detail {
[[noreturn]] inline void linear_shape_error(const char* method, std::int64_t got,
                                            std::int64_t expected) {
  throw std::invalid_argument(std::string("recdiff::nn::Linear::") + method + ": input has " +
                              std::to_string(got) + " columns, expected " +
                              std::to_string(expected));
}
}  // namespace detail

/// A fully connected layer, W out x in (row-major), b 1 x out: y = act(x W^T + b) for a batch x
/// (B x in). One GEMM, then bias and activation in one fused pass; backward first turns dy into the
/// pre-activation gradient with act' read off the stored output (one pass), then dW += d^T x,
/// db += column sums of d and, when asked, dx = d W.
///
/// Keeps a pointer to the input of the last forward() (it must stay alive until backward()) and its
/// own output.
/// @tparam BackendType a Backend; @tparam T float, or double for finite-difference checks
/// @tparam ActivationType an activation functor (math/activations.hpp); Identity for a readout
template <class BackendType, class T, class ActivationType = Identity>
class Linear {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  /// An empty 0 -> 0 layer.
  Linear() = default;

  /// A layer in_features -> out_features with zero parameters; call initialize() to draw them.
  /// @throws std::invalid_argument unless both sizes are positive
  Linear(int in_features, int out_features, ActivationType act = {})
      : m_weight(checked(in_features, out_features), in_features), m_bias(1, out_features),
        m_act(act) {}

  /// Draws W and b under `init` (nn/init.hpp) with Philox keys weight_key(layer_index) for W and
  /// weight_key(layer_index) + 1 for b; distinct layers of a model use distinct layer indices.
  void initialize(const Context& ctx, Init init, std::uint64_t seed, std::uint32_t layer_index) {
    fill_normal<BackendType>(ctx, m_weight.value, weight_stddev(in_features(), out_features()), seed,
                             weight_key(layer_index));
    if (bias_stddev(init) > 0)
      fill_normal<BackendType>(ctx, m_bias.value, bias_stddev(init), seed,
                               weight_key(layer_index) + 1);
    else
      m_bias.value.setZero();
  }

  /// Input width.
  int in_features() const noexcept { return static_cast<int>(m_weight.value.cols()); }
  /// Output width.
  int out_features() const noexcept { return static_cast<int>(m_weight.value.rows()); }
  /// Number of scalars in W and b.
  std::size_t num_parameters() const noexcept { return m_weight.size() + m_bias.size(); }
  /// The activation.
  const ActivationType& activation() const noexcept { return m_act; }

  /// W (out x in).
  Matrix& weight() noexcept { return m_weight.value; }
  const Matrix& weight() const noexcept { return m_weight.value; }
  /// b (1 x out).
  Matrix& bias() noexcept { return m_bias.value; }
  const Matrix& bias() const noexcept { return m_bias.value; }
  /// dLoss/dW accumulated since the last zero_grad().
  const Matrix& weight_grad() noexcept { return m_weight.gradient(); }
  /// dLoss/db accumulated since the last zero_grad().
  const Matrix& bias_grad() noexcept { return m_bias.gradient(); }

  /// Appends {prefix + "weight", prefix + "bias"}.
  void collect_parameters(const std::string& prefix, ParameterList<BackendType, T>& out) {
    out.push_back({prefix + "weight", &m_weight});
    out.push_back({prefix + "bias", &m_bias});
  }

  /// y = act(x W^T + b) (B x out), kept in the layer.
  /// @throws std::invalid_argument when x has the wrong width
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& = {}) {
    if (x.cols() != m_weight.value.cols())
      detail::linear_shape_error("forward", x.cols(), m_weight.value.cols());
    m_y.resize(x.rows(), m_weight.value.rows());
    BackendType::gemm(ctx, T(1), x, Op::none, m_weight.value, Op::transpose, T(0), m_y);
    apply_bias_activation(ctx, m_y, m_bias.value, m_act);
    m_input = &x;
    return m_y;
  }

  /// Accumulates dW and db for dy = dLoss/dy of the last forward() and returns dx = dLoss/dx when
  /// `need_input_grad` (else nullptr, skipping that GEMM).
  /// @throws std::logic_error without a dense forward(); std::invalid_argument on a shape mismatch
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    if (m_input == nullptr)
      throw std::logic_error("recdiff::nn::Linear::backward: no forward() pass to differentiate");
    if (dy.rows() != m_y.rows() || dy.cols() != m_y.cols())
      throw std::invalid_argument("recdiff::nn::Linear::backward: dy is " +
                                  std::to_string(dy.rows()) + "x" + std::to_string(dy.cols()) +
                                  ", expected the output's " + std::to_string(m_y.rows()) + "x" +
                                  std::to_string(m_y.cols()));
    const Matrix& d = pre_activation_gradient(ctx, dy);
    BackendType::gemm(ctx, T(1), d, Op::transpose, *m_input, Op::none, m_weight.grad_beta(),
                      m_weight.grad);
    column_sums(ctx, d, m_bias);
    if (!need_input_grad) return nullptr;
    m_dx.resize(d.rows(), m_weight.value.cols());
    BackendType::gemm(ctx, T(1), d, Op::none, m_weight.value, Op::none, T(0), m_dx);
    return &m_dx;
  }

  /// dLoss/d(pre-activation) for dy = dLoss/dy of the last forward pass: dy itself for Identity,
  /// else dy * act'(y) in a layer buffer.
  const Matrix& pre_activation_gradient(const Context& ctx, const Matrix& dy) {
    if constexpr (std::is_same_v<ActivationType, Identity>) {
      return dy;
    } else {
      m_dpre.resize(dy.rows(), dy.cols());
      BackendType::for_each(ctx, dy.rows(), dy.cols(),
                            ActivationGradientTo<T, ActivationType>{m_dpre.data(), dy.data(),
                                                                    m_y.data(), dy.cols(), m_act});
      return m_dpre;
    }
  }

  /// y(i, j) = act(y(i, j) + bias(j)) in one pass (the tail of every layer's forward pass).
  template <class Act>
  static void apply_bias_activation(const Context& ctx, Matrix& y, const Matrix& bias, Act act) {
    BackendType::for_each(ctx, y.rows(), y.cols(),
                          BiasActivation<T, Act>{y.data(), bias.data(), y.cols(), act});
  }

  /// sums (1 x cols) = column sums of x, each column summed in row order (thread-count independent).
  static void column_sums(const Context& ctx, const Matrix& x, Matrix& sums) {
    sums.resize(1, x.cols());
    BackendType::for_each_row(ctx, ColumnSums<T>::blocks(x.cols()),
                              ColumnSums<T>{x.data(), sums.data(), x.rows(), x.cols(), false});
  }

  /// tensor.grad (+)= column sums of x, under the tensor's lazy-zero rule.
  static void column_sums(const Context& ctx, const Matrix& x, Tensor<BackendType, T>& tensor) {
    const bool accumulate = tensor.grad_beta() != T(0);
    tensor.grad.resize(1, x.cols());
    BackendType::for_each_row(ctx, ColumnSums<T>::blocks(x.cols()),
                              ColumnSums<T>{x.data(), tensor.grad.data(), x.rows(), x.cols(),
                                            accumulate});
  }

 private:
  static int checked(int in_features, int out_features) {
    if (in_features <= 0 || out_features <= 0)
      throw std::invalid_argument("recdiff::nn::Linear: sizes must be positive, got " +
                                  std::to_string(in_features) + " -> " +
                                  std::to_string(out_features));
    return out_features;
  }

  Tensor<BackendType, T> m_weight;
  Tensor<BackendType, T> m_bias;
  ActivationType m_act{};
  Matrix m_y, m_dpre, m_dx;
  const Matrix* m_input = nullptr;
};

}  // namespace recdiff::nn
