#pragma once
/// @file
/// InputLinear: a first layer over interaction rows, y = act(x W + emb(k) W_e^T + b), that reads
/// dense or CSR input (forward and backward) and optionally conditions on the diffusion step.

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

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

/// The columns of a batch of CSR rows: the transpose of the batch X (B x I) in item-major form, the
/// operand of Backend::sparse_transpose_times (grad W_x^T += X^T dY). Column i lists the batch rows
/// r holding item i, in increasing r, with their values: rows[k] and values[k] for k in
/// [offsets[i], offsets[i + 1]). Built on the host by a counting sort over the items, O(nnz + I);
/// the batch x items matrix is never formed.
/// @tparam T the scalar type of the values
template <class T>
struct SparseBatchColumns {
  std::vector<offset_t> offsets;  ///< items + 1 column offsets
  std::vector<index_t> rows;      ///< batch row of each entry (nnz)
  std::vector<T> values;          ///< value of each entry (nnz)

  /// Number of entries.
  offset_t nnz() const noexcept { return static_cast<offset_t>(rows.size()); }

  /// Fills the columns of the batch whose row b is the CSR row `users[b]` of `input`, the entry at
  /// `position` of a row of `length` entries valued `value(position, length)` (as sparse_times
  /// values it). A user may appear more than once; a repeated item of a row appears once per entry.
  /// @throws std::invalid_argument when a user is outside [0, input.num_users())
  template <class ValueFn>
  void assign(const InteractionMatrix& input, std::span<const index_t> users, ValueFn value) {
    const auto items = static_cast<std::size_t>(input.num_items());
    offsets.assign(items + 1, 0);
    offset_t total = 0;
    for (const index_t u : users) {
      if (u < 0 || u >= input.num_users())
        throw std::invalid_argument("recdiff::nn::SparseBatchColumns::assign: user " +
                                    std::to_string(u) + " outside the matrix's " +
                                    std::to_string(input.num_users()) + " users");
      for (const index_t i : input.items_of(u)) ++offsets[static_cast<std::size_t>(i) + 1];
      total += input.row_size(u);
    }
    for (std::size_t i = 0; i < items; ++i) offsets[i + 1] += offsets[i];
    rows.resize(static_cast<std::size_t>(total));
    values.resize(static_cast<std::size_t>(total));
    // Rows in increasing order: every column lists its rows in increasing order.
    std::vector<offset_t>& cursor = m_cursor;
    cursor.assign(offsets.begin(), offsets.end() - 1);
    for (std::size_t b = 0; b < users.size(); ++b) {
      const auto row = input.items_of(users[b]);
      for (std::size_t p = 0; p < row.size(); ++p) {
        const auto at = static_cast<std::size_t>(cursor[static_cast<std::size_t>(row[p])]++);
        rows[at] = static_cast<index_t>(b);
        values[at] = static_cast<T>(value(p, row.size()));
      }
    }
  }

 private:
  std::vector<offset_t> m_cursor;  // fill position of each column (reused between batches)
};

/// The first layer of a network whose input is a user's item vector x (B x I), optionally with the
/// step embedding concatenated after it: y = act([x, emb(k)] W^T + b) with W = [W_x, W_e]
/// (h x (I + E)), computed as two GEMMs into one output, so [x, emb] is never copied.
///
/// The item block is stored transposed, W_x^T (I x h): a raw CSR row then multiplies it as a
/// sparse x dense product (forward_sparse, cost O(nnz h) instead of O(B I h)), and the dense
/// product needs no transposition either. A training pass over CSR rows is differentiable too: its
/// backward adds X^T dY to the gradient of W_x^T through the batch's columns (O(nnz h)), so a
/// network whose inputs are subsets of the users' items (the one-way "to zeros" binomial latents
/// of RecFusion, Bénédict et al. 2023, Sec. 2.3.2 (c)) trains without the B x I matrix.
/// Initialisation draws the logical W (Philox layer key), so the numbers do not depend on this
/// storage.
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
    m_sparse = false;
    return m_y;
  }

  /// The same for the CSR rows `users` of `input` (any matrix: a batch-local one whose rows are the
  /// batch, or the users' rows of the training matrix), entry values value(position, row length);
  /// with `row_scale` (B x 1, backend storage) each row's item product is scaled first (an input
  /// normalisation: (x / n) W = (x W) / n).
  ///
  /// A training pass (pass.train) keeps the batch's columns (SparseBatchColumns, built on the host
  /// in O(nnz + I)) and a copy of row_scale, so backward() can follow without `input`, `users` or
  /// `row_scale` staying alive; backward() then gives the parameter gradients but no input
  /// gradient. An evaluation pass keeps nothing for backward(). The output is the same either way.
  /// @throws std::invalid_argument when input has another item count, row_scale is not B x 1, or
  ///         (training pass) a user is outside the matrix
  template <class ValueFn>
  const Matrix& forward_sparse(const Context& ctx, const InteractionMatrix& input,
                               std::span<const index_t> users, ValueFn value, const Pass& pass,
                               const Matrix* row_scale = nullptr) {
    if (input.num_items() != items())
      detail::linear_shape_error("forward_sparse", input.num_items(), items());
    const auto rows = static_cast<std::int64_t>(users.size());
    if (row_scale != nullptr && (row_scale->rows() != rows || row_scale->cols() != 1))
      throw std::invalid_argument("recdiff::nn::InputLinear::forward_sparse: row_scale is " +
                                  std::to_string(row_scale->rows()) + "x" +
                                  std::to_string(row_scale->cols()) + ", expected " +
                                  std::to_string(rows) + "x1");
    m_sparse = false;
    m_input = nullptr;
    if (pass.train) {
      m_columns.assign(input, users, value);
      m_scaled = row_scale != nullptr;
      if (m_scaled) m_row_scale = *row_scale;
    }
    embed(ctx, pass, rows);
    m_y.resize(rows, hidden());
    BackendType::sparse_times(ctx, input, users, value, m_items_t.value, T(0), m_y);
    if (row_scale != nullptr)
      BackendType::for_each(ctx, rows, m_y.cols(), ScaleRows<T>{m_y.data(), row_scale->data(), m_y.cols()});
    finish(ctx);
    m_sparse = pass.train;
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
    m_sparse = false;
    return m_y;
  }

  /// Accumulates the gradients of W_x, W_e, b and the step embedding; returns dx (B x I) when asked.
  /// After a training forward_sparse() the item block's gradient is X^T dY' (dY' = the
  /// pre-activation gradient, rows scaled by row_scale) through sparse_transpose_times, cost
  /// O(nnz h); every other gradient is computed as after forward().
  /// @throws std::logic_error when the last pass was neither a dense forward() nor a training
  ///         forward_sparse(), or when need_input_grad follows a forward_sparse();
  ///         std::invalid_argument when dy is not the output's shape
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    if (m_input == nullptr && !m_sparse)
      throw std::logic_error(
          "recdiff::nn::InputLinear::backward: no dense forward() pass to differentiate (the last "
          "pass read CSR rows in evaluation mode or a given product)");
    if (m_sparse && need_input_grad)
      throw std::logic_error(
          "recdiff::nn::InputLinear::backward: need_input_grad = true after a forward_sparse() "
          "pass: the input gradient of CSR rows is not supported (run forward() on the dense rows "
          "to differentiate the input)");
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
    if (m_sparse) {
      const Matrix* d_items = &d;
      if (m_scaled) {  // (diag(s) X)^T d = X^T (diag(s) d)
        m_dscaled = d;
        BackendType::for_each(ctx, m_dscaled.rows(), m_dscaled.cols(),
                              ScaleRows<T>{m_dscaled.data(), m_row_scale.data(), m_dscaled.cols()});
        d_items = &m_dscaled;
      }
      BackendType::sparse_transpose_times(ctx, std::span<const offset_t>(m_columns.offsets),
                                          std::span<const index_t>(m_columns.rows),
                                          std::span<const T>(m_columns.values), *d_items,
                                          m_items_t.grad_beta(), m_items_t.grad);
    } else {
      BackendType::gemm(ctx, T(1), *m_input, Op::transpose, d, Op::none, m_items_t.grad_beta(),
                        m_items_t.grad);
    }
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
  // The last pass was a training forward_sparse(): its batch's columns and (m_scaled) row scale.
  bool m_sparse = false;
  bool m_scaled = false;
  SparseBatchColumns<T> m_columns;
  Matrix m_row_scale, m_dscaled;
};

}  // namespace recdiff::nn
