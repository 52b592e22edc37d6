#pragma once
/// @file
/// Linear: a fully connected layer y = act(x W^T + b) with a hand-written backward pass.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/backend/op.hpp>
#include <recdiff/concepts/backend.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/nn/init.hpp>
#include <recdiff/nn/kernels.hpp>
#include <recdiff/nn/parameter.hpp>

namespace recdiff::nn {

/// A fully connected layer: W is out x in (row-major), b is 1 x out, and the forward pass computes
/// y = act(x W^T + b) for a batch x (B x in). The layer keeps no activations: the model that owns
/// it stores the inputs and outputs its backward pass needs, so one buffer per tensor suffices.
///
/// The gradients dW and db are overwritten (not accumulated) by backward().
/// @tparam BackendType a backend (recdiff::CpuBackend): `Matrix<T>`, `Context`, gemm, for_each
/// @tparam T float, or double for finite-difference checks
template <class BackendType, class T>
class Linear {
 public:
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  /// An empty 0 -> 0 layer.
  Linear() = default;

  /// A layer in_features -> out_features with zero parameters; call initialize() to draw them.
  /// @throws std::invalid_argument unless both sizes are positive
  Linear(int in_features, int out_features) {
    if (in_features <= 0 || out_features <= 0)
      throw std::invalid_argument("recdiff::nn::Linear: sizes must be positive, got " +
                                  std::to_string(in_features) + " -> " +
                                  std::to_string(out_features));
    m_weight = zeros<Matrix>(out_features, in_features);
    m_bias = zeros<Matrix>(1, out_features);
    m_weight_grad = zeros<Matrix>(out_features, in_features);
    m_bias_grad = zeros<Matrix>(1, out_features);
  }

  /// Draws W and b under `init` (nn/init.hpp) with Philox keys weight_key(layer_index) for W and
  /// weight_key(layer_index) + 1 for b; distinct layers of a model use distinct layer indices.
  void initialize(const Context& ctx, Init init, std::uint64_t seed, std::uint32_t layer_index) {
    fill_normal<BackendType>(ctx, m_weight, weight_stddev(in_features(), out_features()), seed,
                             weight_key(layer_index));
    if (bias_stddev(init) > 0)
      fill_normal<BackendType>(ctx, m_bias, bias_stddev(init), seed, weight_key(layer_index) + 1);
    else
      m_bias.setZero();
  }

  /// Input width.
  int in_features() const noexcept { return static_cast<int>(m_weight.cols()); }
  /// Output width.
  int out_features() const noexcept { return static_cast<int>(m_weight.rows()); }
  /// Number of scalars in W and b.
  std::size_t num_parameters() const noexcept {
    return static_cast<std::size_t>(m_weight.size() + m_bias.size());
  }

  /// W (out x in).
  Matrix& weight() noexcept { return m_weight; }
  const Matrix& weight() const noexcept { return m_weight; }
  /// b (1 x out).
  Matrix& bias() noexcept { return m_bias; }
  const Matrix& bias() const noexcept { return m_bias; }
  /// dLoss/dW from the last backward().
  const Matrix& weight_grad() const noexcept { return m_weight_grad; }
  /// dLoss/db from the last backward().
  const Matrix& bias_grad() const noexcept { return m_bias_grad; }

  /// {prefix + "weight", prefix + "bias"}, in that order.
  std::vector<Parameter<BackendType, T>> parameters(const std::string& prefix) {
    return {{prefix + "weight", &m_weight, &m_weight_grad}, {prefix + "bias", &m_bias, &m_bias_grad}};
  }

  /// y = act(x W^T + b): one GEMM, then bias and activation fused in one pass.
  /// @param x B x in
  /// @param y resized to B x out only when its shape differs (no allocation at a fixed batch size)
  /// @throws std::invalid_argument when x has the wrong width
  template <class ActivationType = Identity>
  void forward(const Context& ctx, const Matrix& x, Matrix& y, ActivationType act = {}) const {
    if (x.cols() != m_weight.cols())
      throw std::invalid_argument("recdiff::nn::Linear::forward: input has " +
                                  std::to_string(x.cols()) + " columns, expected " +
                                  std::to_string(m_weight.cols()));
    y.resize(x.rows(), m_weight.rows());
    BackendType::gemm(ctx, T(1), x, Op::none, m_weight, Op::transpose, T(0), y);
    apply_bias_activation(ctx, y, m_bias, act);
  }

  /// Parameter gradients for the gradient dy (B x out) of the pre-activation output:
  /// dW = dy^T x, db = column sums of dy. No input gradient (a first layer never needs one).
  /// @throws std::invalid_argument on mismatching shapes
  void backward(const Context& ctx, const Matrix& x, const Matrix& dy) {
    check_backward(x, dy);
    BackendType::gemm(ctx, T(1), dy, Op::transpose, x, Op::none, T(0), m_weight_grad);
    column_sums(ctx, dy, m_bias_grad);
  }

  /// As backward(ctx, x, dy), and also the input gradient dx = dy W (resized to B x in if needed).
  void backward(const Context& ctx, const Matrix& x, const Matrix& dy, Matrix& dx) {
    backward(ctx, x, dy);
    dx.resize(dy.rows(), m_weight.cols());
    BackendType::gemm(ctx, T(1), dy, Op::none, m_weight, Op::none, T(0), dx);
  }

  /// y(i, j) = act(y(i, j) + bias(j)) in one pass (the tail of every layer's forward pass).
  template <class ActivationType>
  static void apply_bias_activation(const Context& ctx, Matrix& y, const Matrix& bias,
                                    ActivationType act) {
    BackendType::for_each(ctx, y.rows(), y.cols(),
                          BiasActivation<T, ActivationType>{y.data(), bias.data(), y.cols(), act});
  }

  /// dy(i, j) *= act'(y(i, j)), where y is the activation output of the forward pass.
  template <class ActivationType>
  static void apply_activation_gradient(const Context& ctx, Matrix& dy, const Matrix& y,
                                        ActivationType act) {
    BackendType::for_each(ctx, dy.rows(), dy.cols(),
                          ActivationGradient<T, ActivationType>{dy.data(), y.data(), dy.cols(), act});
  }

  /// sums (1 x cols) = column sums of x, each column summed in row order (thread-count independent).
  static void column_sums(const Context& ctx, const Matrix& x, Matrix& sums) {
    sums.resize(1, x.cols());
    BackendType::for_each_row(ctx, ColumnSums<T>::blocks(x.cols()),
                              ColumnSums<T>{x.data(), sums.data(), x.rows(), x.cols()});
  }

 private:
  void check_backward(const Matrix& x, const Matrix& dy) const {
    if (x.cols() != m_weight.cols() || dy.cols() != m_weight.rows() || x.rows() != dy.rows())
      throw std::invalid_argument(
          "recdiff::nn::Linear::backward: shapes do not match: x " + std::to_string(x.rows()) +
          "x" + std::to_string(x.cols()) + ", dy " + std::to_string(dy.rows()) + "x" +
          std::to_string(dy.cols()) + ", layer " + std::to_string(m_weight.cols()) + " -> " +
          std::to_string(m_weight.rows()));
  }

  Matrix m_weight;
  Matrix m_bias;
  Matrix m_weight_grad;
  Matrix m_bias_grad;
};

}  // namespace recdiff::nn
