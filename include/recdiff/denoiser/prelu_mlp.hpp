#pragma once
/// @file
/// PReluMlp: the PReLU networks of RecFusion and CODIGEM, items -> hidden -> ... -> out, with a
/// shared or a distinct hidden layer per depth, an output head, and an optional step offset.

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/nn/init.hpp>
#include <recdiff/nn/input_linear.hpp>
#include <recdiff/nn/linear.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>
#include <recdiff/nn/prelu.hpp>
#include <recdiff/nn/repeat.hpp>
#include <recdiff/nn/sequence.hpp>
#include <recdiff/nn/step_offset.hpp>

namespace recdiff {

/// Where a PReluMlp adds its learned per-step offset e_k (RecFusionT; Bénédict et al. 2023,
/// Sec. 2.3.1): nowhere, to the input (the paper's f(x + Z_t)) or to the output (the released
/// code's default).
enum class StepOffsetAt { none, input, output };

/// Hidden layers: one Linear(M, M) + PReLU applied `depth` times with the same weights (RecFusion's
/// denoiser and its CODIGEM port, which replicate one module by reference).
struct SharedHidden {};
/// Hidden layers: `depth` distinct Linear(M, M) + PReLU pairs (CODIGEM's released networks).
struct DistinctHidden {};

/// Shape of a PReluMlp.
struct PReluMlpConfig {
  int items = 0;        ///< I (input width)
  int hidden = 200;     ///< M
  int depth = 4;        ///< hidden applications (RecFusion's p_dnns_depth; CODIGEM: 4)
  int outputs = 0;      ///< output width; 0 means I (2 I for a mean and a log-variance head)
  StepOffsetAt step_offset = StepOffsetAt::none;  ///< RecFusionT's step embedding
  /// Standard deviation of a N(0, s^2) draw of the first layer's weight and bias (CODIGEM's reverse
  /// networks: 1e-4); 0 keeps PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  double first_layer_std = 0.0;

  /// Throws std::invalid_argument naming the bad field.
  void validate() const {
    auto fail = [](const std::string& what) {
      throw std::invalid_argument("recdiff::PReluMlpConfig: " + what);
    };
    if (items < 1) fail("items must be >= 1, got " + std::to_string(items));
    if (hidden < 1) fail("hidden must be >= 1, got " + std::to_string(hidden));
    if (depth < 0) fail("depth must be >= 0, got " + std::to_string(depth));
    if (outputs < 0) fail("outputs must be >= 0 (0: items), got " + std::to_string(outputs));
    if (!(first_layer_std >= 0)) fail("first_layer_std must be >= 0");
    if (step_offset == StepOffsetAt::output && outputs != 0 && outputs != items)
      fail("a step offset at the output needs outputs == items, got " + std::to_string(outputs));
  }
};

/// y = head(W_L prelu(... prelu(W_1 prelu(x W_0^T + b_0)) ...) + b_L), the denoiser of RecFusion
/// (Bénédict et al. 2023, Sec. 2.3; tanh head, shared hidden layer: 1,410,218 parameters for
/// I = 3,416, M = 200, the paper's Table 5) and the networks of CODIGEM (Walker et al., KSEM 2022,
/// Sec. 4; distinct hidden layers, a 2 I mean/log-variance head for the reverse networks, tanh for
/// the decoder). Every PReLU has its own single slope, 0.25 at the start.
///
/// It is the Sequence
/// `Optional<StepOffset>, InputLinear, PRelu, Hidden, Linear<Head>, Optional<StepOffset>`, so the
/// first layer reads CSR rows (forward_sparse, at inference and, when the input needs no offset, in
/// training too), and the parameters are named "<i>." + the module's names.
///
/// A Denoiser and a SparseInputDenoiser.
/// @tparam BackendType a Backend; @tparam T the scalar type
/// @tparam Head the output activation (Tanh, Identity)
/// @tparam HiddenKind SharedHidden or DistinctHidden
template <class BackendType, class T, class Head, class HiddenKind = SharedHidden>
class PReluMlp {
  using Layer = nn::Sequence<nn::Linear<BackendType, T>, nn::PRelu<BackendType, T>>;
  using Hidden = std::conditional_t<std::is_same_v<HiddenKind, SharedHidden>, nn::Repeat<Layer>,
                                    nn::Stack<Layer>>;
  using Offset = nn::Optional<nn::StepOffset<BackendType, T>>;
  using Net = nn::Sequence<Offset, nn::InputLinear<BackendType, T>, nn::PRelu<BackendType, T>, Hidden,
                           nn::Linear<BackendType, T, Head>, Offset>;

 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  PReluMlp() = default;
  /// The network of `config` with zero weights (call initialize()).
  /// @throws std::invalid_argument for a bad configuration
  explicit PReluMlp(const PReluMlpConfig& config)
      : m_config(checked(config)),
        m_net(Offset(config.step_offset == StepOffsetAt::input,
                     nn::StepOffset<BackendType, T>(config.items)),
              nn::InputLinear<BackendType, T>(config.items, config.hidden),
              nn::PRelu<BackendType, T>(),
              make_hidden(config),
              nn::Linear<BackendType, T, Head>(config.hidden, outputs()),
              Offset(config.step_offset == StepOffsetAt::output,
                     nn::StepOffset<BackendType, T>(config.items))) {}

  /// Draws every layer: PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and
  /// biases (the first layer N(0, first_layer_std^2) when that is set), Philox keys from `seed` and
  /// layer indices first_layer_index, first_layer_index + 1, ...; PReLU slopes back to 0.25.
  void initialize(const Context& ctx, std::uint64_t seed, std::uint32_t first_layer_index = 0) {
    std::uint32_t index = first_layer_index;
    auto uniform = [&](Matrix& m, std::int64_t fan_in, bool transposed) {
      nn::fill_uniform<BackendType>(ctx, m, nn::torch_default_bound(fan_in), seed,
                                    nn::weight_key(index), transposed);
    };
    auto linear = [&](auto& layer) {
      uniform(layer.weight(), layer.in_features(), false);
      nn::fill_uniform<BackendType>(ctx, layer.bias(), nn::torch_default_bound(layer.in_features()),
                                    seed, nn::weight_key(index) + 1);
      ++index;
    };
    // The first layer: its item block is stored transposed (items x hidden).
    auto& first = m_net.template get<1>();
    const auto first_params = nn::parameters_of(first);  // "weight.items_t", "bias"
    if (m_config.first_layer_std > 0) {
      nn::fill_normal<BackendType>(ctx, first_params[0].value(), m_config.first_layer_std, seed,
                                   nn::weight_key(index), 0, true);
      nn::fill_normal<BackendType>(ctx, first_params[1].value(), m_config.first_layer_std, seed,
                                   nn::weight_key(index) + 1);
    } else {
      uniform(first_params[0].value(), items(), true);
      nn::fill_uniform<BackendType>(ctx, first_params[1].value(), nn::torch_default_bound(items()),
                                    seed, nn::weight_key(index) + 1);
    }
    ++index;
    m_net.template get<2>().initialize(ctx);
    for_each_hidden([&](Layer& layer) {
      linear(layer.template get<0>());
      layer.template get<1>().initialize(ctx);
    });
    linear(m_net.template get<4>());
    for (Offset* offset : {&m_net.template get<0>(), &m_net.template get<5>()})
      if (offset->enabled()) linear(offset->module().layer());
  }

  /// I.
  int items() const noexcept { return m_config.items; }
  /// Output width (I, or 2 I for a mean / log-variance head).
  int outputs() const noexcept { return m_config.outputs == 0 ? m_config.items : m_config.outputs; }
  /// The configuration.
  const PReluMlpConfig& config() const noexcept { return m_config; }

  /// The output for dense rows x (B x I); pass.steps feeds the step offset.
  const Matrix& forward(const Context& ctx, const Matrix& x, const nn::Pass& pass = {}) {
    return m_net.forward(ctx, x, pass);
  }

  /// The output for the CSR rows `users` of `input` (entry values from `value`), equal to forward()
  /// on the densified rows up to rounding. The first layer reads the rows sparsely unless the input
  /// carries a step offset (then the rows are densified first).
  template <class ValueFn>
  const Matrix& forward_sparse(const Context& ctx, const InteractionMatrix& input,
                               std::span<const index_t> users, ValueFn value,
                               const nn::Pass& pass = {}) {
    if (m_config.step_offset == StepOffsetAt::input) {
      BackendType::densify(ctx, input, users, m_dense, value);
      return forward(ctx, m_dense, pass);
    }
    const Matrix* h = &m_net.template get<1>().forward_sparse(ctx, input, users, value, pass);
    h = &m_net.template get<2>().forward(ctx, *h, pass);
    h = &m_net.template get<3>().forward(ctx, *h, pass);
    h = &m_net.template get<4>().forward(ctx, *h, pass);
    return m_net.template get<5>().forward(ctx, *h, pass);
  }

  /// Backward through the whole network after forward().
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    return m_net.backward(ctx, dy, need_input_grad);
  }

  /// Appends every parameter ("1.weight.items_t", "1.bias", "2.weight", "3.0.weight", ...).
  void collect_parameters(const std::string& prefix, nn::ParameterList<BackendType, T>& out) {
    m_net.collect_parameters(prefix, out);
  }
  /// Number of scalars.
  std::size_t num_parameters() const noexcept { return m_net.num_parameters(); }

 private:
  static const PReluMlpConfig& checked(const PReluMlpConfig& c) {
    c.validate();
    return c;
  }

  static Hidden make_hidden(const PReluMlpConfig& c) {
    const Layer layer(nn::Linear<BackendType, T>(c.hidden, c.hidden), nn::PRelu<BackendType, T>());
    if constexpr (std::is_same_v<HiddenKind, SharedHidden>) {
      return Hidden(layer, c.depth);
    } else {
      return Hidden(std::vector<Layer>(static_cast<std::size_t>(c.depth), layer));
    }
  }

  template <class Fn>
  void for_each_hidden(Fn fn) {
    auto& hidden = m_net.template get<3>();
    if constexpr (std::is_same_v<HiddenKind, SharedHidden>) {
      fn(hidden.module());
    } else {
      for (Layer& layer : hidden.modules()) fn(layer);
    }
  }

  PReluMlpConfig m_config;
  Net m_net;
  Matrix m_dense;
};

}  // namespace recdiff
