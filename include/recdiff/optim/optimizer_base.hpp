#pragma once
/// @file
/// OptimizerBase: the bookkeeping every recdiff optimiser shares (the bound parameter list, the
/// hyper-parameters, the per-parameter state made of named tensor slots and a step counter, and
/// its reset / checkpoint transfer), as a CRTP base without virtual functions. An optimiser
/// derives from it and declares only its slots, its configuration checks and its fused update.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/io/checkpoint.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/optim/state_io.hpp>

namespace recdiff {

namespace optim_detail {

/// One tensor of an optimiser's per-parameter state (e.g. Adam's first moment): the member of the
/// state struct that holds it and the segment that names it in checkpoints.
/// @tparam State the per-parameter state struct
/// @tparam Matrix the backend matrix type of the slot
template <class State, class Matrix>
struct TensorSlot {
  /// Pointer to a Matrix member of State (an alias, which nvcc's host code output keeps warning-free).
  using Member = Matrix State::*;

  const char* key;    ///< checkpoint name segment: entries are prefix + key + parameter name
  Member member;      ///< the slot's tensor within State
  bool non_negative;  ///< stage_state rejects a value < 0 (second moments, infinity norms)
};

}  // namespace optim_detail

/// The shared part of an optimiser over a fixed list of parameter tensors. It owns the parameter
/// list, the hyper-parameters and one State per parameter (when the optimiser keeps state), and
/// implements the whole optimiser interface (recdiff::Optimizer) but the update rule itself:
/// step, zero_grad, the accessors, set_learning_rate, reset, save_state and stage_state.
///
/// Derived provides, as static members (they may be private when Derived befriends the base):
/// - `who` (const char*): the class name that prefixes std::invalid_argument messages;
/// - `slots`: a std::array of optim_detail::TensorSlot<State, Matrix>, in checkpoint order;
/// - `check_config(const Config&)`: throws std::invalid_argument on a bad hyper-parameter other
///   than the learning rate, which the base checks first;
/// - `fused_update(const Config&, Matrix& theta, const Matrix& grad, State* state)`: advances
///   `state` (nullptr when there is none) by one step and returns the element functor
///   (i, j) -> void that updates theta in place; step() runs it with BackendType::for_each;
/// - optionally `keeps_state(const Config&)`: false when the configuration needs no state at all
///   (then state() is empty and nothing is saved or staged); without it there is always state.
///
/// State must be default-constructible and copyable, with the slot members and a
/// `std::int64_t step` counter, saved as prefix + "step." + parameter name (1x1 float64).
/// @tparam Derived the optimiser (CRTP)
/// @tparam BackendType a backend (recdiff::CpuBackend, recdiff::CudaBackend)
/// @tparam T the scalar type
/// @tparam Config the hyper-parameters (a struct with a `double lr` member)
/// @tparam StateType the per-parameter state
template <class Derived, class BackendType, class T, class Config, class StateType>
class OptimizerBase {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context
  using Parameter = nn::Parameter<BackendType, T>;          ///< a trainable tensor
  using ParameterList = nn::ParameterList<BackendType, T>;  ///< the optimised tensors
  using ConfigType = Config;                                ///< hyper-parameters
  using State = StateType;                                  ///< per-tensor state

  /// One update of every tensor from its current gradient, in parameter order: one pass of the
  /// fused element functor Derived::fused_update returns, over the tensor's elements with
  /// BackendType::for_each. The result does not depend on ctx's thread count.
  /// @throws std::invalid_argument, before changing anything, when a value or gradient no longer has
  ///         the shape the optimiser was built for
  void step(const Context& ctx) {
    optim_detail::prepare_step(Derived::who, m_parameters,
                               [this](std::size_t t) { return m_shapes[t]; });
    for (std::size_t t = 0; t < m_parameters.size(); ++t) {
      Matrix& theta = m_parameters[t].tensor->value;
      const Matrix& grad = m_parameters[t].tensor->gradient();
      State* state = m_state.empty() ? nullptr : &m_state[t];
      BackendType::for_each(ctx, theta.rows(), theta.cols(),
                            Derived::fused_update(m_config, theta, grad, state));
    }
  }

  /// Marks every optimised gradient as zero (nn::zero_grad).
  void zero_grad() noexcept { nn::zero_grad(m_parameters); }

  /// The hyper-parameters (with the current learning rate).
  const Config& config() const noexcept { return m_config; }
  /// Current learning rate.
  double learning_rate() const noexcept { return m_config.lr; }
  /// Changes the learning rate for the following steps (schedules).
  /// @throws std::invalid_argument unless lr is finite and > 0
  void set_learning_rate(double lr) {
    optim_detail::require_positive(std::string(Derived::who) + "::set_learning_rate", "lr", lr);
    m_config.lr = lr;
  }

  /// The optimised tensors, in the order given to the constructor.
  const ParameterList& parameters() const noexcept { return m_parameters; }
  /// Per-tensor state, aligned with parameters(), or empty when the configuration keeps no state
  /// (read-only; checkpoints go through save_state and stage_state).
  const std::vector<State>& state() const noexcept { return m_state; }

  /// Zeroes every state tensor and step count (a fresh optimiser over the same tensors).
  void reset() {
    for (auto& s : m_state) {
      for (const auto& slot : Derived::slots) (s.*slot.member).setZero();
      s.step = 0;
    }
  }

  /// Adds the whole state to `w`: for every parameter p (in order), prefix + key + p.name for each
  /// slot (tensors of p's shape) and prefix + "step." + p.name (1x1 float64); nothing when the
  /// optimiser keeps no state.
  void save_state(const Context& ctx, CheckpointWriter& w, const std::string& prefix) const {
    for (std::size_t t = 0; t < m_state.size(); ++t) {
      const std::string& p = m_parameters[t].name;
      for (const auto& slot : Derived::slots)
        optim_detail::save_matrix<BackendType>(ctx, w, prefix + slot.key + p,
                                               m_state[t].*slot.member);
      optim_detail::save_counter(w, prefix + "step." + p, m_state[t].step);
    }
  }

  /// Reads and checks the state save_state wrote under `prefix`, without changing this optimiser,
  /// and returns the action that installs it (it copies into same-shaped storage; call it while this
  /// optimiser is alive and has not moved). Without state nothing is read and the action does
  /// nothing.
  /// @throws IoError on a missing entry, another element type or shape, a negative value in a
  ///         non-negative slot or a step count that is not a whole number >= 0
  [[nodiscard]] std::function<void()> stage_state(const Context& ctx, const CheckpointReader& r,
                                                  const std::string& prefix) {
    auto staged = std::make_shared<std::vector<State>>();
    staged->reserve(m_state.size());
    for (std::size_t t = 0; t < m_state.size(); ++t) {
      const std::string& p = m_parameters[t].name;
      const auto [rows, cols] = m_shapes[t];
      State s;
      for (const auto& slot : Derived::slots)
        s.*slot.member = optim_detail::stage_matrix<BackendType, T>(ctx, r, prefix + slot.key + p,
                                                                    rows, cols, slot.non_negative);
      s.step = optim_detail::stage_counter(r, prefix + "step." + p);
      staged->push_back(std::move(s));
    }
    return [this, staged] {
      for (std::size_t t = 0; t < m_state.size(); ++t) m_state[t] = (*staged)[t];
    };
  }

 protected:
  /// Binds the optimiser to `parameters`, recording their shapes; the state slots start at zero
  /// with step 0, shaped as the values are now.
  /// @throws std::invalid_argument on a bad lr, whatever Derived::check_config throws, a parameter
  ///         without tensor, an empty or a repeated name (in that order)
  OptimizerBase(ParameterList parameters, Config config)
      : m_parameters(std::move(parameters)), m_config(config) {
    optim_detail::require_positive(Derived::who, "lr", config.lr);
    Derived::check_config(config);
    optim_detail::check_parameters(Derived::who, m_parameters);
    m_shapes.reserve(m_parameters.size());
    for (const auto& p : m_parameters) m_shapes.emplace_back(p.value().rows(), p.value().cols());
    if (!wants_state(config)) return;
    m_state.reserve(m_parameters.size());
    for (const auto& [rows, cols] : m_shapes) {
      State s;
      for (const auto& slot : Derived::slots) s.*slot.member = zeros<Matrix>(rows, cols);
      s.step = 0;
      m_state.push_back(std::move(s));
    }
  }

 private:
  static bool wants_state(const Config& config) {
    if constexpr (requires { Derived::keeps_state(config); })
      return Derived::keeps_state(config);
    else
      return true;
  }

  ParameterList m_parameters;
  Config m_config;
  std::vector<std::pair<std::int64_t, std::int64_t>> m_shapes;
  std::vector<State> m_state;
};

}  // namespace recdiff
