#pragma once
/// @file
/// Stochastic gradient descent with optional (Nesterov) momentum and coupled weight decay, with the
/// semantics of torch.optim.SGD (momentum as in Sutskever et al., "On the importance of
/// initialization and momentum in deep learning", ICML 2013, in torch's formulation).

#include <array>
#include <cstdint>
#include <string>
#include <utility>

#include <recdiff/optim/optimizer_base.hpp>
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
class Sgd
    : public OptimizerBase<Sgd<BackendType, T>, BackendType, T, SgdConfig, SgdState<BackendType, T>> {
 public:
  /// The shared part: types, step, accessors, reset, save_state, stage_state; state() is aligned
  /// with parameters() with momentum and empty without.
  using Base = OptimizerBase<Sgd, BackendType, T, SgdConfig, SgdState<BackendType, T>>;

  /// Name of the algorithm.
  static constexpr const char* name = "sgd";

  /// Optimises `parameters` (the module must outlive the optimiser and not move). With momentum the
  /// buffers are allocated now and take their first value, g', on the first step.
  /// @throws std::invalid_argument on lr <= 0, momentum < 0, dampening outside [0, 1],
  ///         weight_decay < 0 (or a non-finite value), nesterov without momentum or with dampening,
  ///         a parameter without tensor, an empty or a repeated name
  explicit Sgd(typename Base::ParameterList parameters, SgdConfig config = {})
      : Base(std::move(parameters), config) {}

 private:
  friend Base;
  using Slot = optim_detail::TensorSlot<SgdState<BackendType, T>, typename Base::Matrix>;

  static constexpr const char* who = "recdiff::Sgd";
  // Checkpoint order: the momentum buffer, then the step count.
  static constexpr std::array slots{Slot{"momentum_buffer.", &Base::State::buf, false}};

  // Plain SGD (momentum 0) keeps no state.
  static bool keeps_state(const SgdConfig& config) noexcept { return config.momentum > 0; }

  static void check_config(const SgdConfig& config) {
    optim_detail::require_non_negative(who, "momentum", config.momentum);
    if (!(config.dampening >= 0 && config.dampening <= 1))
      optim_detail::fail(who, "dampening must be in [0, 1], got " + std::to_string(config.dampening));
    optim_detail::require_non_negative(who, "weight_decay", config.weight_decay);
    if (config.nesterov && !(config.momentum > 0 && config.dampening == 0))
      optim_detail::fail(who, "nesterov needs momentum > 0 and dampening 0, got momentum " +
                                  std::to_string(config.momentum) + " and dampening " +
                                  std::to_string(config.dampening));
  }

  // s is nullptr without momentum; with momentum the buffer takes g' on the tensor's first step.
  static SgdUpdate<T> fused_update(const SgdConfig& c, typename Base::Matrix& theta,
                                   const typename Base::Matrix& grad, typename Base::State* s) {
    const bool first = s != nullptr && s->step++ == 0;
    return SgdUpdate<T>{theta.data(),
                        grad.data(),
                        s != nullptr ? s->buf.data() : nullptr,
                        theta.cols(),
                        static_cast<T>(c.lr),
                        static_cast<T>(c.weight_decay),
                        static_cast<T>(c.momentum),
                        static_cast<T>(1.0 - c.dampening),
                        first,
                        c.nesterov};
  }
};

}  // namespace recdiff
