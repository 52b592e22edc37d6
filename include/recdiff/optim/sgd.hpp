#pragma once
/// @file
/// Stochastic gradient descent with optional (Nesterov) momentum and coupled weight decay, with the
/// semantics of torch.optim.SGD (momentum as in Sutskever et al., "On the importance of
/// initialization and momentum in deep learning", ICML 2013, in torch's formulation).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/io/checkpoint.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/optim/sgd_update.hpp>
#include <recdiff/optim/state_io.hpp>

namespace recdiff {

/// Hyper-parameters of SGD (defaults: torch.optim.SGD's).
struct SgdConfig {
  double lr = 1e-3;           ///< learning rate
  double momentum = 0.0;      ///< momentum factor mu (0: plain SGD, no state)
  double dampening = 0.0;     ///< the gradient enters the buffer with weight 1 - dampening
  double weight_decay = 0.0;  ///< coupled L2 weight decay (g += wd * theta)
  bool nesterov = false;      ///< Nesterov momentum (needs momentum > 0 and dampening 0)
};

/// The state SGD with momentum keeps for one parameter tensor.
template <class BackendType, class T>
struct SgdState {
  typename BackendType::template Matrix<T> buf;  ///< momentum buffer, the tensor's shape
  std::int64_t step = 0;  ///< updates applied so far (0: the buffer does not exist yet, as in torch)
};

/// SGD over a fixed list of parameter tensors, one fused SgdUpdate pass per tensor:
///   g' = g + wd theta;
///   momentum 0:  theta -= lr g'
///   momentum mu: buf = g' on the tensor's first step (torch creates the buffer then), afterwards
///                buf = mu buf + (1 - dampening) g';  theta -= lr (nesterov ? g' + mu buf : buf).
/// The gradient is read through nn::Tensor::gradient().
///
/// Checkpoint entries (save_state / stage_state): with momentum, for every parameter p,
/// prefix + "momentum_buffer." + p.name (T tensor of p's shape) and prefix + "step." + p.name
/// (1x1 float64); without momentum there is no state and nothing is written or read.
/// @tparam BackendType a backend; @tparam T the scalar type
template <class BackendType, class T>
class Sgd {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context
  using Parameter = nn::Parameter<BackendType, T>;          ///< a trainable tensor
  using ParameterList = nn::ParameterList<BackendType, T>;  ///< the optimised tensors
  using ConfigType = SgdConfig;                             ///< hyper-parameters
  using State = SgdState<BackendType, T>;                   ///< per-tensor state (with momentum)

  /// Name of the algorithm.
  static constexpr const char* name = "sgd";

  /// Optimises `parameters` (the module must outlive the optimiser and not move). With momentum the
  /// buffers are allocated now and take their first value, g', on the first step.
  /// @throws std::invalid_argument on lr <= 0, momentum < 0, dampening outside [0, 1],
  ///         weight_decay < 0 (or a non-finite value), nesterov without momentum or with dampening,
  ///         a parameter without tensor, an empty or a repeated name
  explicit Sgd(ParameterList parameters, SgdConfig config = {})
      : m_parameters(std::move(parameters)), m_config(config) {
    optim_detail::require_positive(who, "lr", config.lr);
    optim_detail::require_non_negative(who, "momentum", config.momentum);
    if (!(config.dampening >= 0 && config.dampening <= 1))
      optim_detail::fail(who, "dampening must be in [0, 1], got " + std::to_string(config.dampening));
    optim_detail::require_non_negative(who, "weight_decay", config.weight_decay);
    if (config.nesterov && !(config.momentum > 0 && config.dampening == 0))
      optim_detail::fail(who, "nesterov needs momentum > 0 and dampening 0, got momentum " +
                                  std::to_string(config.momentum) + " and dampening " +
                                  std::to_string(config.dampening));
    optim_detail::check_parameters(who, m_parameters);
    m_shapes.reserve(m_parameters.size());
    for (const auto& p : m_parameters) m_shapes.emplace_back(p.value().rows(), p.value().cols());
    if (has_momentum()) {
      m_state.reserve(m_parameters.size());
      for (const auto& [rows, cols] : m_shapes) m_state.push_back(State{zeros<Matrix>(rows, cols), 0});
    }
  }

  /// One update of every tensor from its current gradient; independent of ctx's thread count.
  /// @throws std::invalid_argument, before changing anything, when a value or gradient no longer has
  ///         the shape the optimiser was built for
  void step(const Context& ctx) {
    optim_detail::prepare_step(who, m_parameters, [this](std::size_t t) { return m_shapes[t]; });
    const bool momentum = has_momentum();
    for (std::size_t t = 0; t < m_parameters.size(); ++t) {
      Matrix& theta = m_parameters[t].tensor->value;
      const Matrix& grad = m_parameters[t].tensor->gradient();
      T* buf = nullptr;
      bool first = false;
      if (momentum) {
        State& s = m_state[t];
        first = s.step == 0;
        ++s.step;
        buf = s.buf.data();
      }
      const SgdUpdate<T> update{theta.data(),
                                grad.data(),
                                buf,
                                theta.cols(),
                                static_cast<T>(m_config.lr),
                                static_cast<T>(m_config.weight_decay),
                                static_cast<T>(m_config.momentum),
                                static_cast<T>(1.0 - m_config.dampening),
                                first,
                                m_config.nesterov};
      BackendType::for_each(ctx, theta.rows(), theta.cols(), update);
    }
  }

  /// Marks every optimised gradient as zero (nn::zero_grad).
  void zero_grad() noexcept { nn::zero_grad(m_parameters); }

  /// The hyper-parameters (with the current learning rate).
  const SgdConfig& config() const noexcept { return m_config; }
  /// Current learning rate.
  double learning_rate() const noexcept { return m_config.lr; }
  /// Changes the learning rate for the following steps.
  /// @throws std::invalid_argument unless lr is finite and > 0
  void set_learning_rate(double lr) {
    optim_detail::require_positive(std::string(who) + "::set_learning_rate", "lr", lr);
    m_config.lr = lr;
  }

  /// The optimised tensors, in the order given to the constructor.
  const ParameterList& parameters() const noexcept { return m_parameters; }
  /// Per-tensor state, aligned with parameters() with momentum, empty without (read-only).
  const std::vector<State>& state() const noexcept { return m_state; }

  /// Forgets the momentum buffers (a fresh optimiser over the same tensors).
  void reset() {
    for (auto& s : m_state) {
      s.buf.setZero();
      s.step = 0;
    }
  }

  /// Adds the whole state to `w`: with momentum, prefix + "momentum_buffer." + name (tensor) and
  /// prefix + "step." + name (1x1 float64) for every parameter; nothing without momentum.
  void save_state(const Context& ctx, CheckpointWriter& w, const std::string& prefix) const {
    for (std::size_t t = 0; t < m_state.size(); ++t) {
      const std::string& p = m_parameters[t].name;
      optim_detail::save_matrix<BackendType>(ctx, w, prefix + "momentum_buffer." + p, m_state[t].buf);
      optim_detail::save_counter(w, prefix + "step." + p, m_state[t].step);
    }
  }

  /// Reads and checks the state save_state wrote under `prefix`, without changing this optimiser,
  /// and returns the action that installs it (call it while this optimiser is alive and unmoved).
  /// Without momentum nothing is read and the action does nothing.
  /// @throws IoError on a missing entry, another element type or shape, or a step count that is not a
  ///         whole number >= 0
  [[nodiscard]] std::function<void()> stage_state(const Context& ctx, const CheckpointReader& r,
                                                  const std::string& prefix) {
    auto staged = std::make_shared<std::vector<State>>();
    staged->reserve(m_state.size());
    for (std::size_t t = 0; t < m_state.size(); ++t) {
      const std::string& p = m_parameters[t].name;
      const auto [rows, cols] = m_shapes[t];
      State s;
      s.buf = optim_detail::stage_matrix<BackendType, T>(ctx, r, prefix + "momentum_buffer." + p,
                                                         rows, cols, false);
      s.step = optim_detail::stage_counter(r, prefix + "step." + p);
      staged->push_back(std::move(s));
    }
    return [this, staged] {
      for (std::size_t t = 0; t < m_state.size(); ++t) m_state[t] = (*staged)[t];
    };
  }

 private:
  static constexpr const char* who = "recdiff::Sgd";

  bool has_momentum() const noexcept { return m_config.momentum > 0; }

  ParameterList m_parameters;
  SgdConfig m_config;
  std::vector<std::pair<std::int64_t, std::int64_t>> m_shapes;
  std::vector<State> m_state;
};

}  // namespace recdiff
