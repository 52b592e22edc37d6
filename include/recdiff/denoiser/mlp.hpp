#pragma once
/// @file
/// Mlp: DiffRec's denoiser ("DNN" of the released code), a composition of nn modules: optional input
/// normalisation, input dropout, a step-conditioned first layer, hidden layers and a linear readout.

#include <cmath>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/nn/dropout.hpp>
#include <recdiff/nn/init.hpp>
#include <recdiff/nn/input_linear.hpp>
#include <recdiff/nn/linear.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>
#include <recdiff/nn/row_l2_norm.hpp>
#include <recdiff/nn/sequence.hpp>

namespace recdiff {

/// Hyper-parameters of Mlp (DiffRec, Wang et al., SIGIR 2023, section 4.4; docs/models.md); the
/// same type for every backend, scalar and activation.
struct MlpConfig {
  int items = 0;          ///< I: input and output width (items, or latent size for L-DiffRec)
  std::vector<int> dims;  ///< hidden sizes from the bottleneck outwards, e.g. {200, 600}
  int emb_size = 10;      ///< E: step-embedding size
  double dropout = 0.5;   ///< input dropout probability (training only)
  bool norm = false;      ///< L2-normalise each input row first
  nn::Init init = nn::Init::diffrec;  ///< initialisation policy
};

/// DiffRec's denoiser f(x, k), laid out as the authors' code.
///
/// With dims = [d_1, ..., d_m] (bottleneck first) and I items the layers are
/// (I + E) -> d_m -> ... -> d_1 -> d_2 -> ... -> d_m -> I, the activation after every layer but the
/// last, and the step embedding emb = emb_layer(sinusoidal(k)) (E -> E, no activation) concatenated
/// after the items. For dims = [200, 600], I = 2810, E = 10: 2820 -> 600 -> 200 -> 600 -> 2810.
///
/// The network is the type `Network`, a Sequence of Optional<RowL2Norm>, Dropout, InputLinear (the
/// step-conditioned first layer, item block stored transposed so that a CSR row multiplies it
/// directly), Stack<Linear<Act>> and the Linear readout. Mlp adds DiffRec's entry points on top:
/// the CSR forward pass, the pieces the latent reverse chain needs, the reference code's parameter
/// names and its initialisation keys.
///
/// **Parameters** (collect_parameters; the names follow the reference code's state dict):
/// in_layers.0.weight.items_t (I x h1, the TRANSPOSED item block of in_layers.0.weight),
/// in_layers.0.weight.emb (h1 x E), in_layers.0.bias, emb_layer.weight (E x E), emb_layer.bias,
/// then in_layers.1.weight, in_layers.1.bias, ..., out_layers.0.weight, ... in forward order.
///
/// @tparam BackendType a Backend (CpuBackend, CudaBackend)
/// @tparam T float, or double for finite-difference checks
/// @tparam ActivationType hidden activation (math/activations.hpp), Tanh in DiffRec
template <class BackendType, class T, class ActivationType = Tanh>
class Mlp {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context
  using Config = MlpConfig;                                 ///< hyper-parameters
  using FirstLayer = nn::InputLinear<BackendType, T, ActivationType>;  ///< step-conditioned input
  using HiddenLayer = nn::Linear<BackendType, T, ActivationType>;      ///< hidden layer
  using Readout = nn::Linear<BackendType, T>;                          ///< linear readout
  /// The whole network as a type.
  using Network = nn::Sequence<nn::Optional<nn::RowL2Norm<BackendType, T>>, nn::Dropout<BackendType, T>,
                               FirstLayer, nn::Stack<HiddenLayer>, Readout>;

  /// Builds the layers of `config` and initialises them from `seed` (see initialize()).
  /// @throws std::invalid_argument when items, emb_size or a dim is not positive, dims is empty,
  ///         or dropout is outside [0, 1)
  explicit Mlp(Config config, std::uint64_t seed = 1, ActivationType act = {})
      : m_config(checked(std::move(config))), m_net(build(m_config, act)) {
    const auto& d = m_config.dims;
    m_widths.push_back(m_config.items + m_config.emb_size);
    for (auto it = d.rbegin(); it != d.rend(); ++it) m_widths.push_back(*it);
    for (std::size_t i = 1; i < d.size(); ++i) m_widths.push_back(d[i]);
    m_widths.push_back(m_config.items);
    initialize(Context{}, seed);
  }

  /// Draws every parameter under config().init from `seed`. Philox layer indices: emb_layer 0, the
  /// first layer 1 (its logical (h x (I + E)) weight), the following layers 2, 3, ... in order.
  void initialize(const Context& ctx, std::uint64_t seed) {
    first().initialize(ctx, m_config.init, seed, 1, 0);
    auto& hidden = m_net.template get<3>().modules();
    for (std::size_t l = 0; l < hidden.size(); ++l)
      hidden[l].initialize(ctx, m_config.init, seed, static_cast<std::uint32_t>(l + 2));
    readout().initialize(ctx, m_config.init, seed, static_cast<std::uint32_t>(hidden.size() + 2));
  }

  /// The configuration.
  const Config& config() const noexcept { return m_config; }
  /// I: input and output width.
  int items() const noexcept { return m_config.items; }
  /// Layer widths in forward order, e.g. {2820, 600, 200, 600, 2810}.
  const std::vector<int>& widths() const noexcept { return m_widths; }
  /// The network.
  Network& network() noexcept { return m_net; }
  const Network& network() const noexcept { return m_net; }

  /// f(x, k) (B x I) for dense rows x and the steps in pass.steps; dropout when pass.train. x must
  /// stay alive until backward().
  /// @throws std::invalid_argument on mismatching shapes or a bad step
  const Matrix& forward(const Context& ctx, const Matrix& x, const nn::Pass& pass) {
    if (x.cols() != m_config.items)
      throw std::invalid_argument("recdiff::Mlp::forward: x has " + std::to_string(x.cols()) +
                                  " columns, expected items = " + std::to_string(m_config.items));
    return m_net.forward(ctx, x, pass);
  }

  /// forward() in evaluation mode for the CSR rows `users` of `input`, entry values value(position,
  /// row length): the first layer is a sparse x dense product over the stored entries only
  /// (O(nnz h1) instead of O(B I h1)); with norm the product's rows are scaled by the rows' inverse
  /// norms ((x / n) W = (x W) / n), computed on the host from the CSR values. No dropout. Leaves no
  /// state for backward().
  /// @throws std::invalid_argument on mismatching shapes or a bad step
  template <class ValueFn>
  const Matrix& forward_sparse(const Context& ctx, const InteractionMatrix& input,
                               std::span<const index_t> users, ValueFn value,
                               const nn::Pass& pass) {
    if (input.num_items() != m_config.items)
      throw std::invalid_argument("recdiff::Mlp::forward_sparse: input has " +
                                  std::to_string(input.num_items()) + " items, expected " +
                                  std::to_string(m_config.items));
    const Matrix* scale = nullptr;
    if (m_config.norm) {
      const auto rows = static_cast<std::int64_t>(users.size());
      m_row_scale_host.resize(users.size());
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
      scale = &m_row_scale;
    }
    const Matrix& h = first().forward_sparse(ctx, input, users, value, pass, scale);
    return readout().forward(ctx, m_net.template get<3>().forward(ctx, h, pass), pass);
  }

  /// True when the first layer is linear in the input (no input normalisation), which the latent
  /// reverse chain requires.
  bool input_is_linear() const noexcept { return !m_config.norm; }

  /// The network after the first layer's item product, without the linear readout: given
  /// z = x W1[:, :I]^T (B x h1), adds the step embedding's contribution and the bias, applies the
  /// activation and the hidden layers, and returns the activations entering the readout (B x h_L).
  /// Used by the exact latent reverse chain; needs norm off. Leaves no state for backward().
  /// @throws std::invalid_argument when norm is on or z has the wrong shape
  const Matrix& hidden_from_item_product(const Context& ctx, const Matrix& z, const nn::Pass& pass) {
    if (m_config.norm)
      throw std::invalid_argument(
          "recdiff::Mlp::hidden_from_item_product: not available with input normalisation");
    return m_net.template get<3>().forward(ctx, first().forward_from_item_product(ctx, z, pass), pass);
  }

  /// Adds dLoss/dtheta for grad_out = dLoss/dout (B x I) of the last forward() to every parameter
  /// gradient; returns dLoss/dx when need_input_grad (through the first layer, dropout and norm),
  /// else nullptr — then only the step-embedding columns of the first layer are back-propagated.
  /// @throws std::logic_error when the last pass was not forward(); std::invalid_argument when
  ///         grad_out's shape is not that pass's output shape
  const Matrix* backward(const Context& ctx, const Matrix& grad_out, bool need_input_grad = false) {
    return m_net.backward(ctx, grad_out, need_input_grad);
  }

  /// Appends every trainable tensor under the reference names (see the class comment).
  void collect_parameters(const std::string& prefix, nn::ParameterList<BackendType, T>& out) {
    const std::size_t begin = out.size();
    first().collect_parameters(prefix + "in_layers.0.", out);
    const std::string nested = prefix + "in_layers.0.emb_layer.";
    for (std::size_t i = begin; i < out.size(); ++i)
      if (out[i].name.rfind(nested, 0) == 0)
        out[i].name = prefix + "emb_layer." + out[i].name.substr(nested.size());
    auto& hidden = m_net.template get<3>().modules();
    for (std::size_t l = 0; l < hidden.size(); ++l)
      hidden[l].collect_parameters(prefix + layer_prefix(l), out);
    readout().collect_parameters(prefix + layer_prefix(hidden.size()), out);
  }

  /// Number of trainable scalars (3,622,320 for ml-1m_clean's dims {200, 600}).
  std::size_t num_parameters() const noexcept { return m_net.num_parameters(); }

  // --- read-only structure, for fast paths such as the latent-space reverse chain -----------------

  /// The step-conditioned first layer.
  const FirstLayer& first_layer() const noexcept { return m_net.template get<2>(); }
  /// W1[:, :I]^T (I x h1): the first layer's item block, transposed.
  const Matrix& first_weight_items_t() const noexcept { return first_layer().weight_items_t(); }
  /// The layers between the first and the readout, each followed by the activation.
  const std::vector<HiddenLayer>& hidden_layers() const noexcept {
    return m_net.template get<3>().modules();
  }
  /// The linear readout (h -> I).
  const Readout& last_layer() const noexcept { return m_net.template get<4>(); }

 private:
  FirstLayer& first() noexcept { return m_net.template get<2>(); }
  Readout& readout() noexcept { return m_net.template get<4>(); }

  // Layer l after the first: in_layers.(l+1) while inside the encoder half, then out_layers.
  std::string layer_prefix(std::size_t l) const {
    const std::size_t in_count = m_config.dims.size();  // in_layers: the first layer + in_count - 1
    return l + 1 < in_count ? "in_layers." + std::to_string(l + 1) + "."
                            : "out_layers." + std::to_string(l + 1 - in_count) + ".";
  }

  static Config checked(Config c) {
    auto fail = [](const std::string& what) { throw std::invalid_argument("recdiff::Mlp: " + what); };
    if (c.items <= 0) fail("items must be positive, got " + std::to_string(c.items));
    if (c.emb_size <= 1) fail("emb_size must be >= 2, got " + std::to_string(c.emb_size));
    if (c.dims.empty()) fail("dims must name at least one hidden size, got none");
    for (const int d : c.dims)
      if (d <= 0) fail("every entry of dims must be positive, got " + std::to_string(d));
    if (!(c.dropout >= 0.0 && c.dropout < 1.0))
      fail("dropout must be in [0, 1), got " + std::to_string(c.dropout));
    return c;
  }

  static Network build(const Config& c, ActivationType act) {
    std::vector<int> w;
    for (auto it = c.dims.rbegin(); it != c.dims.rend(); ++it) w.push_back(*it);
    for (std::size_t i = 1; i < c.dims.size(); ++i) w.push_back(c.dims[i]);
    std::vector<HiddenLayer> hidden;
    for (std::size_t l = 0; l + 1 < w.size(); ++l) hidden.emplace_back(w[l], w[l + 1], act);
    return Network(nn::Optional<nn::RowL2Norm<BackendType, T>>(c.norm), nn::Dropout<BackendType, T>(c.dropout),
                   FirstLayer(c.items, w.front(), c.emb_size, act),
                   nn::Stack<HiddenLayer>(std::move(hidden)), Readout(w.back(), c.items));
  }

  Config m_config;
  Network m_net;
  std::vector<int> m_widths;
  Matrix m_row_scale;  // forward_sparse with norm: 1 / max(||x_b||, floor) per row, uploaded
  std::vector<T> m_row_scale_host;
};

}  // namespace recdiff
