#pragma once
/// @file
/// Adam and AdamW (Kingma & Ba, ICLR 2015; Loshchilov & Hutter, ICLR 2019): one class template,
/// the two differing only in how weight decay enters.

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/optim/adam_update.hpp>

namespace recdiff {

/// How an Adam-family optimiser applies weight decay wd.
enum class WeightDecay {
  coupled,   ///< Adam: L2 added to the gradient (g += wd * theta), so it passes through the moments
  decoupled  ///< AdamW: theta *= 1 - lr * wd before the Adam step, independent of the moments
};

/// Hyper-parameters of Adam / AdamW (defaults: torch's, and DiffRec's lr 1e-3 with wd 0).
struct AdamConfig {
  double lr = 1e-3;            ///< learning rate
  double beta1 = 0.9;          ///< first-moment decay
  double beta2 = 0.999;        ///< second-moment decay
  double eps = 1e-8;           ///< denominator guard
  double weight_decay = 0.0;   ///< wd (see WeightDecay)
};

/// The state Adam keeps for one parameter tensor (the same type for Adam and AdamW, so a checkpoint
/// reader handles both).
template <class BackendType, class T>
struct AdamState {
  typename BackendType::template Matrix<T> m;  ///< first moment, the tensor's shape
  typename BackendType::template Matrix<T> v;  ///< second moment, the tensor's shape
  std::int64_t step = 0;                       ///< updates applied so far
};

/// Adam with bias correction (no amsgrad) over a fixed list of parameter tensors. Each tensor has
/// its own state (first and second moments, step count), which state() exposes for checkpoints.
/// step() applies one fused AdamUpdate pass per tensor, reading the gradients the model's backward()
/// wrote. With weight_decay = 0 both modes are the same algorithm.
/// @tparam BackendType a backend (recdiff::CpuBackend)
/// @tparam T the scalar type
/// @tparam Mode WeightDecay::coupled (Adam) or WeightDecay::decoupled (AdamW)
template <class BackendType, class T, WeightDecay Mode>
class AdamOptimizer {
 public:
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context
  using Parameter = nn::Parameter<BackendType, T>;          ///< a trainable tensor

  using State = AdamState<BackendType, T>;                  ///< per-tensor state

  /// Optimises `parameters` (e.g. model.parameters(); the model must outlive the optimiser and not
  /// move). Moments start at zero.
  /// @throws std::invalid_argument on lr <= 0, betas outside [0, 1), eps <= 0, weight_decay < 0, or
  ///         a parameter whose gradient shape differs from its value's
  AdamOptimizer(std::vector<Parameter> parameters, AdamConfig config = {})
      : m_parameters(std::move(parameters)), m_config(config) {
    auto fail = [](const std::string& what) {
      throw std::invalid_argument("recdiff::AdamOptimizer: " + what);
    };
    if (!(config.lr > 0)) fail("lr must be > 0, got " + std::to_string(config.lr));
    if (!(config.beta1 >= 0 && config.beta1 < 1))
      fail("beta1 must be in [0, 1), got " + std::to_string(config.beta1));
    if (!(config.beta2 >= 0 && config.beta2 < 1))
      fail("beta2 must be in [0, 1), got " + std::to_string(config.beta2));
    if (!(config.eps > 0)) fail("eps must be > 0, got " + std::to_string(config.eps));
    if (!(config.weight_decay >= 0))
      fail("weight_decay must be >= 0, got " + std::to_string(config.weight_decay));
    m_state.reserve(m_parameters.size());
    for (const auto& p : m_parameters) {
      if (p.grad->rows() != p.value->rows() || p.grad->cols() != p.value->cols())
        fail("gradient of " + p.name + " is " + std::to_string(p.grad->rows()) + "x" +
             std::to_string(p.grad->cols()) + ", expected " + std::to_string(p.value->rows()) +
             "x" + std::to_string(p.value->cols()));
      m_state.push_back(State{zeros<Matrix>(p.value->rows(), p.value->cols()),
                              zeros<Matrix>(p.value->rows(), p.value->cols()), 0});
    }
  }

  /// One update of every tensor from its current gradient.
  void step(const Context& ctx) {
    const double lr = m_config.lr, wd = m_config.weight_decay;
    const bool decoupled = Mode == WeightDecay::decoupled;
    for (std::size_t t = 0; t < m_parameters.size(); ++t) {
      Matrix& theta = *m_parameters[t].value;
      State& s = m_state[t];
      const auto n = static_cast<double>(++s.step);
      const AdamUpdate<T> update{theta.data(),
                                 m_parameters[t].grad->data(),
                                 s.m.data(),
                                 s.v.data(),
                                 theta.cols(),
                                 static_cast<T>(m_config.beta1),
                                 static_cast<T>(m_config.beta2),
                                 static_cast<T>(m_config.eps),
                                 static_cast<T>(lr / (1.0 - std::pow(m_config.beta1, n))),
                                 static_cast<T>(std::sqrt(1.0 - std::pow(m_config.beta2, n))),
                                 static_cast<T>(decoupled ? 1.0 - lr * wd : 1.0),
                                 static_cast<T>(decoupled ? 0.0 : wd)};
      BackendType::for_each(ctx, theta.rows(), theta.cols(), update);
    }
  }

  /// The hyper-parameters.
  const AdamConfig& config() const noexcept { return m_config; }
  /// Current learning rate.
  double learning_rate() const noexcept { return m_config.lr; }
  /// Changes the learning rate for the following steps (schedules).
  /// @throws std::invalid_argument unless lr > 0
  void set_learning_rate(double lr) {
    if (!(lr > 0))
      throw std::invalid_argument("recdiff::AdamOptimizer::set_learning_rate: lr must be > 0, got " +
                                  std::to_string(lr));
    m_config.lr = lr;
  }

  /// The optimised tensors, in the order given to the constructor.
  const std::vector<Parameter>& parameters() const noexcept { return m_parameters; }
  /// Per-tensor state, aligned with parameters(): read to save, write to restore a checkpoint.
  std::vector<State>& state() noexcept { return m_state; }
  const std::vector<State>& state() const noexcept { return m_state; }
  /// Zeroes every moment and step count (a fresh optimiser over the same tensors).
  void reset() {
    for (auto& s : m_state) {
      s.m.setZero();
      s.v.setZero();
      s.step = 0;
    }
  }

 private:
  std::vector<Parameter> m_parameters;
  AdamConfig m_config;
  std::vector<State> m_state;
};

/// Adam with coupled L2 weight decay (torch.optim.Adam).
template <class BackendType, class T>
using Adam = AdamOptimizer<BackendType, T, WeightDecay::coupled>;

/// Adam with decoupled weight decay (torch.optim.AdamW), DiffRec's optimiser.
template <class BackendType, class T>
using AdamW = AdamOptimizer<BackendType, T, WeightDecay::decoupled>;

}  // namespace recdiff
