#pragma once
/// @file
/// Adam and AdamW (Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015;
/// Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019): one class template, the
/// two differing only in how weight decay enters (torch.optim.Adam / torch.optim.AdamW semantics).

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/io/checkpoint.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/optim/adam_update.hpp>
#include <recdiff/optim/state_io.hpp>

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
/// holds the same entries for both).
template <class BackendType, class T>
struct AdamState {
  typename BackendType::template Matrix<T> m;  ///< first moment, the tensor's shape
  typename BackendType::template Matrix<T> v;  ///< second moment, the tensor's shape
  std::int64_t step = 0;                       ///< updates applied so far
};

/// Adam with bias correction (no amsgrad) over a fixed list of parameter tensors. Each tensor has
/// its own state (first and second moments, step count). step() applies one fused AdamUpdate pass
/// per tensor, reading the gradient through nn::Tensor::gradient() (a gradient left lazily zero by
/// zero_grad() counts as zero). With weight_decay = 0 both modes are the same algorithm.
///
/// Checkpoint entries (save_state / stage_state), for every parameter p:
/// prefix + "m." + p.name and prefix + "v." + p.name (T tensors of p's shape) and
/// prefix + "step." + p.name (1x1 float64 counter). The hyper-parameters are not part of the state.
/// @tparam BackendType a backend (recdiff::CpuBackend, recdiff::CudaBackend)
/// @tparam T the scalar type
/// @tparam Mode WeightDecay::coupled (Adam) or WeightDecay::decoupled (AdamW)
template <class BackendType, class T, WeightDecay Mode>
class AdamOptimizer {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context
  using Parameter = nn::Parameter<BackendType, T>;          ///< a trainable tensor
  using ParameterList = nn::ParameterList<BackendType, T>;  ///< the optimised tensors
  using ConfigType = AdamConfig;                            ///< hyper-parameters
  using State = AdamState<BackendType, T>;                  ///< per-tensor state

  /// Name of the algorithm: "adam" (coupled decay) or "adamw" (decoupled decay).
  static constexpr const char* name = Mode == WeightDecay::coupled ? "adam" : "adamw";

  /// Optimises `parameters` (e.g. a module's nn::parameters_of; the module must outlive the
  /// optimiser and not move). Moments start at zero, shaped as the values are now.
  /// @throws std::invalid_argument on lr <= 0, betas outside [0, 1), eps <= 0, weight_decay < 0 (or
  ///         a non-finite value), a parameter without tensor, an empty or a repeated name
  explicit AdamOptimizer(ParameterList parameters, AdamConfig config = {})
      : m_parameters(std::move(parameters)), m_config(config) {
    optim_detail::require_positive(who(), "lr", config.lr);
    optim_detail::require_unit_interval(who(), "beta1", config.beta1);
    optim_detail::require_unit_interval(who(), "beta2", config.beta2);
    optim_detail::require_positive(who(), "eps", config.eps);
    optim_detail::require_non_negative(who(), "weight_decay", config.weight_decay);
    optim_detail::check_parameters(who(), m_parameters);
    m_state.reserve(m_parameters.size());
    for (const auto& p : m_parameters) {
      const auto rows = p.value().rows(), cols = p.value().cols();
      m_state.push_back(State{zeros<Matrix>(rows, cols), zeros<Matrix>(rows, cols), 0});
    }
  }

  /// One update of every tensor from its current gradient (Kingma & Ba 2015, Algorithm 1, with the
  /// order of operations of torch.optim.Adam / AdamW). The result does not depend on ctx's threads.
  /// @throws std::invalid_argument, before changing anything, when a value or gradient no longer has
  ///         the shape the optimiser was built for
  void step(const Context& ctx) {
    optim_detail::prepare_step(who(), m_parameters, [this](std::size_t t) {
      return std::pair<std::int64_t, std::int64_t>(m_state[t].m.rows(), m_state[t].m.cols());
    });
    const double lr = m_config.lr, wd = m_config.weight_decay;
    const bool decoupled = Mode == WeightDecay::decoupled;
    for (std::size_t t = 0; t < m_parameters.size(); ++t) {
      Matrix& theta = m_parameters[t].tensor->value;
      const Matrix& grad = m_parameters[t].tensor->gradient();
      State& s = m_state[t];
      const auto n = static_cast<double>(++s.step);
      const AdamUpdate<T> update{theta.data(),
                                 grad.data(),
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

  /// Marks every optimised gradient as zero (nn::zero_grad).
  void zero_grad() noexcept { nn::zero_grad(m_parameters); }

  /// The hyper-parameters (with the current learning rate).
  const AdamConfig& config() const noexcept { return m_config; }
  /// Current learning rate.
  double learning_rate() const noexcept { return m_config.lr; }
  /// Changes the learning rate for the following steps (schedules).
  /// @throws std::invalid_argument unless lr is finite and > 0
  void set_learning_rate(double lr) {
    optim_detail::require_positive(who() + "::set_learning_rate", "lr", lr);
    m_config.lr = lr;
  }

  /// The optimised tensors, in the order given to the constructor.
  const ParameterList& parameters() const noexcept { return m_parameters; }
  /// Per-tensor state, aligned with parameters() (read-only; checkpoints go through save_state and
  /// stage_state).
  const std::vector<State>& state() const noexcept { return m_state; }

  /// Zeroes every moment and step count (a fresh optimiser over the same tensors).
  void reset() {
    for (auto& s : m_state) {
      s.m.setZero();
      s.v.setZero();
      s.step = 0;
    }
  }

  /// Adds the whole state to `w`: prefix + "m." / "v." + name (tensors), prefix + "step." + name
  /// (1x1 float64), for every parameter. With prefix "optimizer." these are the names DiffRec
  /// checkpoints have always used.
  void save_state(const Context& ctx, CheckpointWriter& w, const std::string& prefix) const {
    for (std::size_t t = 0; t < m_parameters.size(); ++t) {
      const std::string& p = m_parameters[t].name;
      optim_detail::save_matrix<BackendType>(ctx, w, prefix + "m." + p, m_state[t].m);
      optim_detail::save_matrix<BackendType>(ctx, w, prefix + "v." + p, m_state[t].v);
      optim_detail::save_counter(w, prefix + "step." + p, m_state[t].step);
    }
  }

  /// Reads and checks the state save_state wrote under `prefix`, without changing this optimiser,
  /// and returns the action that installs it (it copies into same-shaped storage; call it while this
  /// optimiser is alive and has not moved).
  /// @throws IoError on a missing entry, another element type or shape, a negative second moment
  ///         or a step count that is not a whole number >= 0
  [[nodiscard]] std::function<void()> stage_state(const Context& ctx, const CheckpointReader& r,
                                                  const std::string& prefix) {
    auto staged = std::make_shared<std::vector<State>>();
    staged->reserve(m_parameters.size());
    for (std::size_t t = 0; t < m_parameters.size(); ++t) {
      const std::string& p = m_parameters[t].name;
      const std::int64_t rows = m_state[t].m.rows(), cols = m_state[t].m.cols();
      State s;
      s.m = optim_detail::stage_matrix<BackendType, T>(ctx, r, prefix + "m." + p, rows, cols, false);
      s.v = optim_detail::stage_matrix<BackendType, T>(ctx, r, prefix + "v." + p, rows, cols, true);
      s.step = optim_detail::stage_counter(r, prefix + "step." + p);
      staged->push_back(std::move(s));
    }
    return [this, staged] {
      for (std::size_t t = 0; t < m_state.size(); ++t) m_state[t] = (*staged)[t];
    };
  }

 private:
  static std::string who() {
    return Mode == WeightDecay::coupled ? "recdiff::Adam" : "recdiff::AdamW";
  }

  ParameterList m_parameters;
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
