#pragma once
/// @file
/// Adamax (Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, section 7.1): Adam
/// with the second moment replaced by an exponentially weighted infinity norm, with the semantics of
/// torch.optim.Adamax (eps added to |g|, coupled weight decay). CODIGEM trains with Adamax, lr 1e-3.

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
#include <recdiff/optim/adamax_update.hpp>
#include <recdiff/optim/state_io.hpp>

namespace recdiff {

/// Hyper-parameters of Adamax (defaults: torch.optim.Adamax's).
struct AdamaxConfig {
  double lr = 2e-3;           ///< learning rate
  double beta1 = 0.9;         ///< first-moment decay
  double beta2 = 0.999;       ///< infinity-norm decay
  double eps = 1e-8;          ///< added to |g| in the infinity norm
  double weight_decay = 0.0;  ///< coupled L2 weight decay (g += wd * theta)
};

/// The state Adamax keeps for one parameter tensor.
template <class BackendType, class T>
struct AdamaxState {
  typename BackendType::template Matrix<T> m;  ///< first moment, the tensor's shape
  typename BackendType::template Matrix<T> u;  ///< weighted infinity norm, the tensor's shape
  std::int64_t step = 0;                       ///< updates applied so far
};

/// Adamax over a fixed list of parameter tensors:
///   g' = g + wd theta;  m = beta1 m + (1 - beta1) g';  u = max(beta2 u, |g'| + eps);
///   theta -= lr / (1 - beta1^n) * m / u,
/// one fused AdamaxUpdate pass per tensor, reading the gradient through nn::Tensor::gradient().
///
/// Checkpoint entries (save_state / stage_state), for every parameter p: prefix + "m." + p.name and
/// prefix + "u." + p.name (T tensors of p's shape), prefix + "step." + p.name (1x1 float64).
/// @tparam BackendType a backend; @tparam T the scalar type
template <class BackendType, class T>
class Adamax {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context
  using Parameter = nn::Parameter<BackendType, T>;          ///< a trainable tensor
  using ParameterList = nn::ParameterList<BackendType, T>;  ///< the optimised tensors
  using ConfigType = AdamaxConfig;                          ///< hyper-parameters
  using State = AdamaxState<BackendType, T>;                ///< per-tensor state

  /// Name of the algorithm.
  static constexpr const char* name = "adamax";

  /// Optimises `parameters` (the module must outlive the optimiser and not move). m and u start at
  /// zero, shaped as the values are now.
  /// @throws std::invalid_argument on lr <= 0, betas outside [0, 1), eps <= 0, weight_decay < 0 (or
  ///         a non-finite value), a parameter without tensor, an empty or a repeated name
  explicit Adamax(ParameterList parameters, AdamaxConfig config = {})
      : m_parameters(std::move(parameters)), m_config(config) {
    optim_detail::require_positive(who, "lr", config.lr);
    optim_detail::require_unit_interval(who, "beta1", config.beta1);
    optim_detail::require_unit_interval(who, "beta2", config.beta2);
    optim_detail::require_positive(who, "eps", config.eps);
    optim_detail::require_non_negative(who, "weight_decay", config.weight_decay);
    optim_detail::check_parameters(who, m_parameters);
    m_state.reserve(m_parameters.size());
    for (const auto& p : m_parameters) {
      const auto rows = p.value().rows(), cols = p.value().cols();
      m_state.push_back(State{zeros<Matrix>(rows, cols), zeros<Matrix>(rows, cols), 0});
    }
  }

  /// One update of every tensor from its current gradient; independent of ctx's thread count.
  /// @throws std::invalid_argument, before changing anything, when a value or gradient no longer has
  ///         the shape the optimiser was built for
  void step(const Context& ctx) {
    optim_detail::prepare_step(who, m_parameters, [this](std::size_t t) {
      return std::pair<std::int64_t, std::int64_t>(m_state[t].m.rows(), m_state[t].m.cols());
    });
    for (std::size_t t = 0; t < m_parameters.size(); ++t) {
      Matrix& theta = m_parameters[t].tensor->value;
      const Matrix& grad = m_parameters[t].tensor->gradient();
      State& s = m_state[t];
      const auto n = static_cast<double>(++s.step);
      const AdamaxUpdate<T> update{theta.data(),
                                   grad.data(),
                                   s.m.data(),
                                   s.u.data(),
                                   theta.cols(),
                                   static_cast<T>(m_config.beta1),
                                   static_cast<T>(m_config.beta2),
                                   static_cast<T>(m_config.eps),
                                   static_cast<T>(m_config.lr / (1.0 - std::pow(m_config.beta1, n))),
                                   static_cast<T>(m_config.weight_decay)};
      BackendType::for_each(ctx, theta.rows(), theta.cols(), update);
    }
  }

  /// Marks every optimised gradient as zero (nn::zero_grad).
  void zero_grad() noexcept { nn::zero_grad(m_parameters); }

  /// The hyper-parameters (with the current learning rate).
  const AdamaxConfig& config() const noexcept { return m_config; }
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
  /// Per-tensor state, aligned with parameters() (read-only).
  const std::vector<State>& state() const noexcept { return m_state; }

  /// Zeroes m, u and the step counts (a fresh optimiser over the same tensors).
  void reset() {
    for (auto& s : m_state) {
      s.m.setZero();
      s.u.setZero();
      s.step = 0;
    }
  }

  /// Adds the whole state to `w`: prefix + "m." / "u." + name (tensors) and prefix + "step." + name
  /// (1x1 float64), for every parameter.
  void save_state(const Context& ctx, CheckpointWriter& w, const std::string& prefix) const {
    for (std::size_t t = 0; t < m_parameters.size(); ++t) {
      const std::string& p = m_parameters[t].name;
      optim_detail::save_matrix<BackendType>(ctx, w, prefix + "m." + p, m_state[t].m);
      optim_detail::save_matrix<BackendType>(ctx, w, prefix + "u." + p, m_state[t].u);
      optim_detail::save_counter(w, prefix + "step." + p, m_state[t].step);
    }
  }

  /// Reads and checks the state save_state wrote under `prefix`, without changing this optimiser,
  /// and returns the action that installs it (call it while this optimiser is alive and unmoved).
  /// @throws IoError on a missing entry, another element type or shape, a negative infinity norm or
  ///         a step count that is not a whole number >= 0
  [[nodiscard]] std::function<void()> stage_state(const Context& ctx, const CheckpointReader& r,
                                                  const std::string& prefix) {
    auto staged = std::make_shared<std::vector<State>>();
    staged->reserve(m_parameters.size());
    for (std::size_t t = 0; t < m_parameters.size(); ++t) {
      const std::string& p = m_parameters[t].name;
      const std::int64_t rows = m_state[t].m.rows(), cols = m_state[t].m.cols();
      State s;
      s.m = optim_detail::stage_matrix<BackendType, T>(ctx, r, prefix + "m." + p, rows, cols, false);
      s.u = optim_detail::stage_matrix<BackendType, T>(ctx, r, prefix + "u." + p, rows, cols, true);
      s.step = optim_detail::stage_counter(r, prefix + "step." + p);
      staged->push_back(std::move(s));
    }
    return [this, staged] {
      for (std::size_t t = 0; t < m_state.size(); ++t) m_state[t] = (*staged)[t];
    };
  }

 private:
  static constexpr const char* who = "recdiff::Adamax";

  ParameterList m_parameters;
  AdamaxConfig m_config;
  std::vector<State> m_state;
};

}  // namespace recdiff
