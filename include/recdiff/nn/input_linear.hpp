#pragma once
/// @file
/// InputLinear: a first layer over interaction rows, y = act(x W + emb(k) W_e^T + b), that reads
/// dense or CSR input and optionally conditions on the diffusion step.

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

#include <recdiff/backend/op.hpp>
#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/nn/init.hpp>
#include <recdiff/nn/linear.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>
#include <recdiff/nn/scale_rows.hpp>
#include <recdiff/nn/step_embedding.hpp>

namespace recdiff::nn {

/// The first layer of a network whose input is a user's item vector x (B x I), optionally with the
/// step embedding concatenated after it: y = act([x, emb(k)] W^T + b) with W = [W_x, W_e]
/// (h x (I + E)), computed as two GEMMs into one output, so [x, emb] is never copied.
///
/// The item block is stored transposed, W_x^T (I x h): a raw CSR row then multiplies it as a
/// sparse x dense product (forward_sparse, cost O(nnz h) instead of O(B I h)), and the dense
/// product needs no transposition either. Initialisation draws the logical W (Philox layer key),
/// so the numbers do not depend on this storage.
///
/// Parameters: prefix + "weight.items_t" (I x h), prefix + "weight.emb" (h x E, with steps),
/// prefix + "bias" (1 x h), then the step embedding's under prefix + "emb_layer.".
/// @tparam BackendType a Backend; @tparam T the scalar type; @tparam ActivationType the activation
template <class BackendType, class T, class ActivationType = Identity>
class InputLinear {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  InputLinear() = default;
  /// items -> hidden, conditioned on a step embedding of size emb_size (0: no step input).
  /// @throws std::invalid_argument unless items and hidden are positive and emb_size is 0 or >= 2
  InputLinear(int items, int hidden, int emb_size = 0, ActivationType act = {})
      : m_items_t(checked(items, hidden, emb_size), hidden), m_bias(1, hidden), m_act(act) {
    if (emb_size > 0) {
      m_emb_weight = Tensor<BackendType, T>(hidden, emb_size);
      m_step = StepEmbedding<BackendType, T>(emb_size);
    }
  }

  /// Draws the logical W (h x (I + E)) with key weight_key(layer_index) and the bias with the key
  /// after it; the step embedding uses `step_layer_index`.
  void initialize(const Context& ctx, Init init, std::uint64_t seed, std::uint32_t layer_index,
                  std::uint32_t step_layer_index) {
    if (has_steps()) m_step.initialize(ctx, init, seed, step_layer_index);
    const std::uint32_t key = weight_key(layer_index);
    const double w_std = weight_stddev(items() + emb_size(), hidden());
    fill_normal<BackendType>(ctx, m_items_t.value, w_std, seed, key, 0, true);
    if (has_steps()) fill_normal<BackendType>(ctx, m_emb_weight.value, w_std, seed, key, items(), false);
    if (bias_stddev(init) > 0)
      fill_normal<BackendType>(ctx, m_bias.value, bias_stddev(init), seed, key + 1);
    else
      m_bias.value.setZero();
  }

  int items() const noexcept { return static_cast<int>(m_items_t.value.rows()); }
  int hidden() const noexcept { return static_cast<int>(m_items_t.value.cols()); }
  int emb_size() const noexcept { return has_steps() ? m_step.dim() : 0; }
  bool has_steps() const noexcept { return m_emb_weight.value.size() > 0; }

  /// W_x^T (I x h).
  const Matrix& weight_items_t() const noexcept { return m_items_t.value; }
  Matrix& weight_items_t() noexcept { return m_items_t.value; }
  /// W_e (h x E).
  const Matrix& weight_emb() const noexcept { return m_emb_weight.value; }
  /// b (1 x h).
  const Matrix& bias() const noexcept { return m_bias.value; }
  /// The step embedding (meaningful when has_steps()).
  const StepEmbedding<BackendType, T>& step_embedding() const noexcept { return m_step; }

  /// y = act(x W_x^T... ) for dense x (B x I). Keeps x for backward().
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& pass = {}) {
    if (x.cols() != items()) detail::linear_shape_error("forward", x.cols(), items());
    embed(ctx, pass, x.rows());
    m_y.resize(x.rows(), hidden());
    BackendType::gemm(ctx, T(1), x, Op::none, m_items_t.value, Op::none, T(0), m_y);
    finish(ctx);
    m_input = &x;
    return m_y;
  }

  /// The same for the CSR rows `users` of `input`, entry values value(position, row length); with
  /// `row_scale` (B x 1, backend storage) each row's item product is scaled first (an input
  /// normalisation: (x / n) W = (x W) / n). Leaves no input for backward().
  template <class ValueFn>
  const Matrix& forward_sparse(const Context& ctx, const InteractionMatrix& input,
                               std::span<const index_t> users, ValueFn value, const Pass& pass,
                               const Matrix* row_scale = nullptr) {
    if (input.num_items() != items())
      detail::linear_shape_error("forward_sparse", input.num_items(), items());
    const auto rows = static_cast<std::int64_t>(users.size());
    embed(ctx, pass, rows);
    m_y.resize(rows, hidden());
    BackendType::sparse_times(ctx, input, users, value, m_items_t.value, T(0), m_y);
    if (row_scale != nullptr)
      BackendType::for_each(ctx, rows, m_y.cols(), ScaleRows<T>{m_y.data(), row_scale->data(), m_y.cols()});
    finish(ctx);
    m_input = nullptr;
    return m_y;
  }

  /// The layer's output from a given item product z = x W_x^T (B x h): adds the step part and the
  /// bias and applies the activation (the latent reverse chain computes z itself). Leaves no input
  /// for backward().
  const Matrix& forward_from_item_product(const Context& ctx, const Matrix& z, const Pass& pass) {
    if (z.cols() != hidden()) detail::linear_shape_error("forward_from_item_product", z.cols(), hidden());
    embed(ctx, pass, z.rows());
    m_y = z;
    finish(ctx);
    m_input = nullptr;
    return m_y;
  }

  /// Accumulates the gradients of W_x, W_e, b and the step embedding; returns dx (B x I) when asked.
  /// @throws std::logic_error when the last pass was not a dense forward()
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    if (m_input == nullptr)
      throw std::logic_error(
          "recdiff::nn::InputLinear::backward: no dense forward() pass to differentiate (the last "
          "pass read CSR rows or a given product)");
    if (dy.rows() != m_y.rows() || dy.cols() != m_y.cols())
      throw std::invalid_argument("recdiff::nn::InputLinear::backward: dy is " +
                                  std::to_string(dy.rows()) + "x" + std::to_string(dy.cols()) +
                                  ", expected " + std::to_string(m_y.rows()) + "x" +
                                  std::to_string(m_y.cols()));
    m_dpre.resize(dy.rows(), dy.cols());
    BackendType::for_each(ctx, dy.rows(), dy.cols(),
                          ActivationGradientTo<T, ActivationType>{m_dpre.data(), dy.data(),
                                                                  m_y.data(), dy.cols(), m_act});
    const Matrix& d = m_dpre;
    BackendType::gemm(ctx, T(1), *m_input, Op::transpose, d, Op::none, m_items_t.grad_beta(),
                      m_items_t.grad);
    if (has_steps()) {
      BackendType::gemm(ctx, T(1), d, Op::transpose, *m_emb, Op::none, m_emb_weight.grad_beta(),
                        m_emb_weight.grad);
    }
    Linear<BackendType, T>::column_sums(ctx, d, m_bias);
    if (has_steps()) {
      m_grad_emb.resize(d.rows(), emb_size());
      BackendType::gemm(ctx, T(1), d, Op::none, m_emb_weight.value, Op::none, T(0), m_grad_emb);
      m_step.backward(ctx, m_grad_emb, false);
    }
    if (!need_input_grad) return nullptr;
    m_dx.resize(d.rows(), items());
    BackendType::gemm(ctx, T(1), d, Op::none, m_items_t.value, Op::transpose, T(0), m_dx);
    return &m_dx;
  }

  void collect_parameters(const std::string& prefix, ParameterList<BackendType, T>& out) {
    out.push_back({prefix + "weight.items_t", &m_items_t});
    if (has_steps()) out.push_back({prefix + "weight.emb", &m_emb_weight});
    out.push_back({prefix + "bias", &m_bias});
    if (has_steps()) m_step.collect_parameters(prefix + "emb_layer.", out);
  }

  std::size_t num_parameters() const noexcept {
    return m_items_t.size() + m_emb_weight.size() + m_bias.size() +
           (has_steps() ? m_step.num_parameters() : 0);
  }

 private:
  static int checked(int items, int hidden, int emb_size) {
    if (items <= 0 || hidden <= 0 || emb_size < 0 || emb_size == 1)
      throw std::invalid_argument("recdiff::nn::InputLinear: need items > 0, hidden > 0 and "
                                  "emb_size 0 or >= 2, got " + std::to_string(items) + ", " +
                                  std::to_string(hidden) + ", " + std::to_string(emb_size));
    return items;
  }

  void embed(const Context& ctx, const Pass& pass, std::int64_t rows) {
    if (has_steps()) m_emb = &m_step.embed(ctx, pass.steps, rows);
  }

  // m_y holds the item product: adds the step block, then bias and activation in one pass.
  void finish(const Context& ctx) {
    if (has_steps())
      BackendType::gemm(ctx, T(1), *m_emb, Op::none, m_emb_weight.value, Op::transpose, T(1), m_y);
    Linear<BackendType, T, ActivationType>::apply_bias_activation(ctx, m_y, m_bias.value, m_act);
  }

  Tensor<BackendType, T> m_items_t;     // I x h
  Tensor<BackendType, T> m_emb_weight;  // h x E (empty without steps)
  Tensor<BackendType, T> m_bias;        // 1 x h
  StepEmbedding<BackendType, T> m_step;
  ActivationType m_act{};
  Matrix m_y, m_dpre, m_dx, m_grad_emb;
  const Matrix* m_emb = nullptr;
  const Matrix* m_input = nullptr;
};

}  // namespace recdiff::nn
