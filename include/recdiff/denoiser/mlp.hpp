#pragma once
/// @file
/// Mlp: DiffRec's denoiser ("DNN", docs/algorithms/diffrec.md 3): step embedding, optional input
/// normalisation, input dropout, and a stack of linear layers with a hand-written backward pass.

#include <cmath>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <recdiff/backend/op.hpp>
#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/nn/dropout.hpp>
#include <recdiff/nn/init.hpp>
#include <recdiff/nn/linear.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/row_l2_norm.hpp>
#include <recdiff/nn/scale_rows.hpp>
#include <recdiff/nn/step_embedding.hpp>

namespace recdiff {

/// Hyper-parameters of Mlp (docs/algorithms/diffrec.md 3 and 10); the same type for every
/// backend, scalar and activation.
struct MlpConfig {
  int items = 0;          ///< I: input and output width (items, or latent size for L-DiffRec)
  std::vector<int> dims;  ///< hidden sizes from the bottleneck outwards, e.g. {200, 600}
  int emb_size = 10;      ///< E: step-embedding size
  double dropout = 0.5;   ///< input dropout probability (training only)
  bool norm = false;      ///< L2-normalise each input row first
  nn::Init init = nn::Init::diffrec;  ///< initialisation policy
};

/// DiffRec's denoiser f(x, k) (Wang et al., "Diffusion Recommender Model", SIGIR 2023; layout of the
/// authors' code, docs/algorithms/diffrec.md 3.1-3.3).
///
/// With dims = [d_1, ..., d_m] (bottleneck first) and I items the layers are
/// (I + E) -> d_m -> ... -> d_1 -> d_2 -> ... -> d_m -> I, the activation after every layer but the
/// last, and the step embedding emb = emb_layer(sinusoidal(k)) (E -> E, no activation) concatenated
/// after the items. For dims = [200, 600], I = 2810, E = 10: 2820 -> 600 -> 200 -> 600 -> 2810.
///
/// **First layer.** Its weight W1 (h x (I + E)) is stored as two contiguous blocks: the item block
/// transposed, W1[:, :I]^T (I x h), and the embedding block W1[:, I:] (h x E). The forward pass is two
/// GEMMs into one output, x W1[:, :I]^T + emb W1[:, I:]^T, so [x, emb] is never copied; the item block
/// is stored transposed so that a raw interaction row multiplies it as a sparse x dense product
/// (forward_sparse) with no cached copy to keep in sync. Initialisation draws the logical W1, so the
/// numbers do not depend on this storage.
///
/// **Buffers** (activations, gradients, embeddings) are members, resized only when the batch size
/// changes. backward() needs the buffers of the last forward(), and, when that pass used neither
/// dropout nor normalisation, the caller's x (it is read, not copied): keep x alive until backward().
///
/// **Parameters** (parameters(), fixed order; the names follow the reference code's state dict):
/// emb_layer.weight (E x E), emb_layer.bias (1 x E), in_layers.0.weight.items_t (I x h1, the
/// TRANSPOSED item block of in_layers.0.weight), in_layers.0.weight.emb (h1 x E), in_layers.0.bias,
/// then in_layers.1.weight, in_layers.1.bias, ..., out_layers.0.weight, ... in forward order.
/// The reference's in_layers.0.weight is [items_t^T, emb] (column concatenation).
///
/// @tparam BackendType a backend (recdiff::CpuBackend)
/// @tparam T float, or double for finite-difference checks
/// @tparam ActivationType hidden activation (math/activations.hpp), Tanh in DiffRec
template <class BackendType, class T, class ActivationType = Tanh>
class Mlp {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context
  using Layer = nn::Linear<BackendType, T>;                 ///< a linear layer
  using Parameter = nn::Parameter<BackendType, T>;          ///< a trainable tensor

  using Config = MlpConfig;  ///< hyper-parameters

  /// Builds the layers of `config` and initialises them from `seed` (see initialize()).
  /// @throws std::invalid_argument when items, emb_size or a dim is not positive, dims is empty,
  ///         or dropout is outside [0, 1)
  explicit Mlp(Config config, std::uint64_t seed = 1, ActivationType act = {})
      : m_config(std::move(config)), m_act(act), m_dropout(checked_dropout(m_config)) {
    const int items = m_config.items, e = m_config.emb_size;
    const auto& d = m_config.dims;
    m_widths.push_back(items + e);
    for (auto it = d.rbegin(); it != d.rend(); ++it) m_widths.push_back(*it);
    for (std::size_t i = 1; i < d.size(); ++i) m_widths.push_back(d[i]);
    m_widths.push_back(items);
    const int h1 = m_widths[1];
    m_emb_layer = Layer(e, e);
    m_w1_items_t = zeros<Matrix>(items, h1);
    m_w1_emb = zeros<Matrix>(h1, e);
    m_b1 = zeros<Matrix>(1, h1);
    m_w1_items_t_grad = zeros<Matrix>(items, h1);
    m_w1_emb_grad = zeros<Matrix>(h1, e);
    m_b1_grad = zeros<Matrix>(1, h1);
    for (std::size_t l = 1; l + 1 < m_widths.size(); ++l)
      m_layers.emplace_back(m_widths[l], m_widths[l + 1]);
    m_hidden.resize(m_layers.size());
    m_grad_hidden.resize(m_layers.size());
    initialize(Context{}, seed);
  }

  /// Draws every parameter under config().init from `seed`. Philox layer indices: emb_layer 0, the
  /// first layer 1 (its logical (h x (I + E)) weight), the following layers 2, 3, ... in order.
  void initialize(const Context& ctx, std::uint64_t seed) {
    m_emb_layer.initialize(ctx, m_config.init, seed, 0);
    const std::uint32_t key = nn::weight_key(1);
    const double w_std = nn::weight_stddev(m_widths[0], m_widths[1]);
    nn::fill_normal<BackendType>(ctx, m_w1_items_t, w_std, seed, key, 0, true);
    nn::fill_normal<BackendType>(ctx, m_w1_emb, w_std, seed, key, m_config.items, false);
    if (nn::bias_stddev(m_config.init) > 0)
      nn::fill_normal<BackendType>(ctx, m_b1, nn::bias_stddev(m_config.init), seed, key + 1);
    else
      m_b1.setZero();
    for (std::size_t l = 0; l < m_layers.size(); ++l)
      m_layers[l].initialize(ctx, m_config.init, seed, static_cast<std::uint32_t>(l + 2));
  }

  /// The configuration.
  const Config& config() const noexcept { return m_config; }
  /// I: input and output width.
  int items() const noexcept { return m_config.items; }
  /// Layer widths in forward order, e.g. {2820, 600, 200, 600, 2810}.
  const std::vector<int>& widths() const noexcept { return m_widths; }
  /// The hidden activation.
  const ActivationType& activation() const noexcept { return m_act; }

  /// out (B x I) = f(x, k). Keeps what backward() needs.
  /// @param x B x I input rows (read again by backward() when neither dropout nor norm applies)
  /// @param steps B step indices k (0-based)
  /// @param train apply input dropout (mask keyed by seed and step_counter)
  /// @param out resized to B x I only when its shape differs
  /// @throws std::invalid_argument on mismatching shapes or a negative step
  void forward(const Context& ctx, const Matrix& x, std::span<const int> steps, bool train,
               std::uint64_t seed, std::uint32_t step_counter, Matrix& out) {
    if (x.cols() != m_config.items)
      throw std::invalid_argument("recdiff::Mlp::forward: x has " + std::to_string(x.cols()) +
                                  " columns, expected items = " + std::to_string(m_config.items));
    check_steps("forward", steps, x.rows());
    embed(ctx, steps);
    const Matrix* input = &x;
    if (m_config.norm) {
      m_norm.forward(ctx, x, m_input);
      input = &m_input;
    }
    if (train && m_dropout.p() > 0) {
      m_dropout.forward(ctx, *input, m_input, seed, step_counter);
      input = &m_input;
    }
    Matrix& h = m_hidden[0];
    h.resize(x.rows(), m_widths[1]);
    BackendType::gemm(ctx, T(1), *input, Op::none, m_w1_items_t, Op::none, T(0), h);
    finish_forward(ctx, out);
    m_first_input = input;
  }

  /// forward(train = false) for the rows `users` of a CSR matrix, entry values `value(position,
  /// row_length)` (a host/device functor such as UnitValue): the first layer is a sparse x dense product over the stored entries only
  /// (cost O(nnz x h1) instead of O(B x I x h1)). No dropout; norm uses the rows' value norms.
  /// Leaves no state for backward().
  /// @throws std::invalid_argument on mismatching shapes or a negative step
  template <class ValueFn>
  void forward_sparse(const Context& ctx, const InteractionMatrix& input,
                      std::span<const index_t> users, ValueFn value, std::span<const int> steps,
                      Matrix& out) {
    if (input.num_items() != m_config.items)
      throw std::invalid_argument("recdiff::Mlp::forward_sparse: input has " +
                                  std::to_string(input.num_items()) + " items, expected " +
                                  std::to_string(m_config.items));
    const auto rows = static_cast<std::int64_t>(users.size());
    check_steps("forward_sparse", steps, rows);
    embed(ctx, steps);
    Matrix& h = m_hidden[0];
    h.resize(rows, m_widths[1]);
    BackendType::sparse_times(ctx, input, users, value, m_w1_items_t, T(0), h);
    if (m_config.norm) {
      // (x / n) W = (x W) / n: scale the product's rows by the inverse norms of the input rows,
      // computed on the host from the CSR values (O(nnz of the batch)) and uploaded.
      m_row_scale_host.resize(static_cast<std::size_t>(rows));
      for (std::int64_t i = 0; i < rows; ++i) {
        const auto n = static_cast<std::size_t>(input.row_size(users[static_cast<std::size_t>(i)]));
        T sum = T(0);
        for (std::size_t p = 0; p < n; ++p) {
          const T v = static_cast<T>(value(p, n));
          sum += v * v;
        }
        const T norm = std::sqrt(sum);
        const T floor = T(nn::RowL2Norm<BackendType, T>::floor);
        m_row_scale_host[static_cast<std::size_t>(i)] = T(1) / (norm > floor ? norm : floor);
      }
      BackendType::upload(ctx, std::span<const T>(m_row_scale_host), rows, 1, m_row_scale);
      BackendType::for_each(ctx, rows, h.cols(), nn::ScaleRows<T>{h.data(), m_row_scale.data(), h.cols()});
    }
    finish_forward(ctx, out);
    m_first_input = nullptr;
  }

  /// forward_sparse with every stored entry valued 1 (the raw binary train row).
  void forward_sparse(const Context& ctx, const InteractionMatrix& input,
                      std::span<const index_t> users, std::span<const int> steps, Matrix& out) {
    forward_sparse(ctx, input, users, UnitValue{}, steps, out);
  }

  /// True when the first layer is linear in the input (no input normalisation), which the latent
  /// reverse chain requires.
  bool input_is_linear() const noexcept { return !m_config.norm; }

  /// The network after the first layer's item product, without the linear readout: given
  /// z = x W1[:, :I]^T (B x h1), adds the step embedding's contribution and the bias, applies the
  /// activation and the hidden layers, and writes the activations entering the last layer to
  /// `last_input` (B x h_L). forward_sparse() is then `last_layer().forward(last_input)` of this with
  /// z = sparse_times(x). Used by the exact latent reverse chain; needs norm off (the input norm is
  /// not linear in x). Leaves no state for backward().
  /// @throws std::invalid_argument when norm is on or z has the wrong shape
  void hidden_from_item_product(const Context& ctx, const Matrix& z, std::span<const int> steps,
                                Matrix& last_input) {
    if (m_config.norm)
      throw std::invalid_argument(
          "recdiff::Mlp::hidden_from_item_product: not available with input normalisation");
    if (z.cols() != m_widths[1])
      throw std::invalid_argument("recdiff::Mlp::hidden_from_item_product: z has " +
                                  std::to_string(z.cols()) + " columns, expected " +
                                  std::to_string(m_widths[1]));
    check_steps("hidden_from_item_product", steps, z.rows());
    embed(ctx, steps);
    Matrix& h = m_hidden[0];
    h = z;
    BackendType::gemm(ctx, T(1), m_emb, Op::none, m_w1_emb, Op::transpose, T(1), h);
    Layer::apply_bias_activation(ctx, h, m_b1, m_act);
    const std::size_t last = m_layers.size() - 1;
    for (std::size_t l = 0; l < last; ++l)
      m_layers[l].forward(ctx, m_hidden[l], m_hidden[l + 1], m_act);
    last_input = m_hidden[last];
    m_first_input = nullptr;
  }

  /// Overwrites every parameter gradient with dLoss/dtheta for grad_out = dLoss/dout (B x I) of the
  /// last forward(). No gradient w.r.t. x is computed; only the embedding columns of the first
  /// layer are back-propagated (into emb_layer).
  /// @throws std::logic_error when the last pass was not forward(); std::invalid_argument when
  ///         grad_out's shape is not that pass's output shape
  void backward(const Context& ctx, const Matrix& grad_out) {
    if (m_first_input == nullptr)
      throw std::logic_error("recdiff::Mlp::backward: no forward() pass to differentiate (the last "
                             "pass was forward_sparse() or none), expected forward() first");
    if (grad_out.rows() != m_hidden[0].rows() || grad_out.cols() != m_config.items)
      throw std::invalid_argument("recdiff::Mlp::backward: grad_out is " +
                                  std::to_string(grad_out.rows()) + "x" +
                                  std::to_string(grad_out.cols()) + ", expected " +
                                  std::to_string(m_hidden[0].rows()) + "x" +
                                  std::to_string(m_config.items));
    const Matrix* d = &grad_out;
    for (std::size_t l = m_layers.size(); l-- > 0;) {
      m_layers[l].backward(ctx, m_hidden[l], *d, m_grad_hidden[l]);
      Layer::apply_activation_gradient(ctx, m_grad_hidden[l], m_hidden[l], m_act);
      d = &m_grad_hidden[l];
    }
    BackendType::gemm(ctx, T(1), *m_first_input, Op::transpose, *d, Op::none, T(0),
                      m_w1_items_t_grad);
    BackendType::gemm(ctx, T(1), *d, Op::transpose, m_emb, Op::none, T(0), m_w1_emb_grad);
    Layer::column_sums(ctx, *d, m_b1_grad);
    m_grad_emb.resize(d->rows(), m_config.emb_size);
    BackendType::gemm(ctx, T(1), *d, Op::none, m_w1_emb, Op::none, T(0), m_grad_emb);
    m_emb_layer.backward(ctx, m_te, m_grad_emb);
  }

  /// Every trainable tensor with its gradient, in the documented order (see the class comment).
  std::vector<Parameter> parameters() {
    std::vector<Parameter> p = m_emb_layer.parameters("emb_layer.");
    p.push_back({"in_layers.0.weight.items_t", &m_w1_items_t, &m_w1_items_t_grad});
    p.push_back({"in_layers.0.weight.emb", &m_w1_emb, &m_w1_emb_grad});
    p.push_back({"in_layers.0.bias", &m_b1, &m_b1_grad});
    const std::size_t in_count = m_config.dims.size();  // in_layers: the first layer + in_count - 1
    for (std::size_t l = 0; l < m_layers.size(); ++l) {
      const std::string prefix = l + 1 < in_count
                                     ? "in_layers." + std::to_string(l + 1) + "."
                                     : "out_layers." + std::to_string(l + 1 - in_count) + ".";
      for (auto& q : m_layers[l].parameters(prefix)) p.push_back(std::move(q));
    }
    return p;
  }

  /// Number of trainable scalars (3,622,320 for ml-1m_clean's dims {200, 600}).
  std::size_t num_parameters() const noexcept {
    std::size_t n = m_emb_layer.num_parameters() +
                    static_cast<std::size_t>(m_w1_items_t.size() + m_w1_emb.size() + m_b1.size());
    for (const auto& layer : m_layers) n += layer.num_parameters();
    return n;
  }

  // --- read-only structure, for fast paths such as the latent-space reverse chain -----------------

  /// emb_layer (E -> E, no activation).
  const Layer& emb_layer() const noexcept { return m_emb_layer; }
  /// W1[:, :I]^T (I x h1): the first layer's item block, transposed.
  const Matrix& first_weight_items_t() const noexcept { return m_w1_items_t; }
  /// W1[:, I:] (h1 x E): the first layer's embedding block.
  const Matrix& first_weight_emb() const noexcept { return m_w1_emb; }
  /// b1 (1 x h1).
  const Matrix& first_bias() const noexcept { return m_b1; }
  /// The layers after the first, in forward order; all but the last are followed by the activation.
  std::span<const Layer> layers() const noexcept { return m_layers; }
  /// The linear readout (h -> I).
  const Layer& last_layer() const noexcept { return m_layers.back(); }

 private:
  static nn::Dropout<BackendType, T> checked_dropout(const Config& c) {
    auto fail = [](const std::string& what) {
      throw std::invalid_argument("recdiff::Mlp: " + what);
    };
    if (c.items <= 0) fail("items must be positive, got " + std::to_string(c.items));
    if (c.emb_size <= 1) fail("emb_size must be >= 2, got " + std::to_string(c.emb_size));
    if (c.dims.empty()) fail("dims must name at least one hidden size, got none");
    for (const int d : c.dims)
      if (d <= 0) fail("every entry of dims must be positive, got " + std::to_string(d));
    if (!(c.dropout >= 0.0 && c.dropout < 1.0))
      fail("dropout must be in [0, 1), got " + std::to_string(c.dropout));
    return nn::Dropout<BackendType, T>(c.dropout);
  }

  static void check_steps(const char* method, std::span<const int> steps, std::int64_t rows) {
    if (static_cast<std::int64_t>(steps.size()) != rows)
      throw std::invalid_argument(std::string("recdiff::Mlp::") + method + ": " +
                                  std::to_string(steps.size()) + " steps for " +
                                  std::to_string(rows) + " rows, expected one step per row");
    for (const int k : steps)
      if (k < 0)
        throw std::invalid_argument(std::string("recdiff::Mlp::") + method +
                                    ": step indices are 0-based, got " + std::to_string(k));
  }

  // m_te = sinusoidal(steps), m_emb = emb_layer(m_te).
  void embed(const Context& ctx, std::span<const int> steps) {
    nn::sinusoidal_embedding<BackendType>(ctx, steps, m_config.emb_size, m_te, m_steps_buffer);
    m_emb_layer.forward(ctx, m_te, m_emb);
  }

  // m_hidden[0] holds x W1_items^T: adds the embedding block, bias and activation, then runs the
  // remaining layers into out.
  void finish_forward(const Context& ctx, Matrix& out) {
    Matrix& h = m_hidden[0];
    BackendType::gemm(ctx, T(1), m_emb, Op::none, m_w1_emb, Op::transpose, T(1), h);
    Layer::apply_bias_activation(ctx, h, m_b1, m_act);
    const std::size_t last = m_layers.size() - 1;
    for (std::size_t l = 0; l < last; ++l) m_layers[l].forward(ctx, m_hidden[l], m_hidden[l + 1], m_act);
    m_layers[last].forward(ctx, m_hidden[last], out);
  }

  Config m_config;
  ActivationType m_act;
  nn::Dropout<BackendType, T> m_dropout;
  nn::RowL2Norm<BackendType, T> m_norm;
  std::vector<int> m_widths;

  Layer m_emb_layer;
  Matrix m_w1_items_t, m_w1_emb, m_b1;
  Matrix m_w1_items_t_grad, m_w1_emb_grad, m_b1_grad;
  std::vector<Layer> m_layers;  // every layer after the first; the last is the linear readout

  Matrix m_te;                        // B x E sinusoidal embedding
  Matrix m_emb;                       // B x E emb_layer output
  Matrix m_input;                     // B x I normalised and/or dropped input
  std::vector<Matrix> m_hidden;       // activations: m_hidden[l] is the input of m_layers[l]
  std::vector<Matrix> m_grad_hidden;  // gradients w.r.t. the pre-activations of m_hidden[l]
  Matrix m_grad_emb;                  // B x E
  typename BackendType::template Matrix<int> m_steps_buffer;  // the batch's steps, uploaded
  Matrix m_row_scale;  // forward_sparse with norm: 1 / max(||x_b||, floor) per row, uploaded
  std::vector<T> m_row_scale_host;
  const Matrix* m_first_input = nullptr;  // the first layer's input of the last forward()
};

}  // namespace recdiff
