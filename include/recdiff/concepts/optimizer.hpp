#pragma once
/// @file
/// Optimizer: what a model and the trainer need from a first-order optimiser.

#include <concepts>
#include <functional>
#include <string>

#include <recdiff/nn/parameter.hpp>

namespace recdiff {

class CheckpointWriter;
class CheckpointReader;

/// An optimiser bound, at construction, to a fixed list of parameter tensors (nn::ParameterList),
/// owning its state (moments, buffers, counters) and able to checkpoint it. O provides
/// `O::scalar_type`, `O::ConfigType` (its hyper-parameters) and `O::name` (e.g. "adamw"), and:
///
/// - `step(ctx)`: one update of every bound tensor from the gradient nn::Tensor::gradient() returns
///   (a gradient left lazily zero by zero_grad() counts as zero);
/// - `zero_grad()` (noexcept): marks every bound gradient as zero;
/// - `learning_rate()` (noexcept) / `set_learning_rate(lr)`: the learning rate of the next steps;
/// - `reset()`: the state of a freshly built optimiser;
/// - `config()`, `parameters()`: the hyper-parameters and the bound tensors, in construction order;
/// - `save_state(ctx, writer, prefix)`: adds the whole state to the checkpoint, tensors named
///   prefix + slot + "." + parameter name, counters as 1x1 float64 tensors;
/// - `stage_state(ctx, reader, prefix)`: reads and validates that state and returns an action
///   (convertible to std::function<void()>) that installs it.
///
/// Laws the compiler cannot check:
/// 1. step's result is bit-identical at every thread count of ctx;
/// 2. stage_state never modifies the optimiser: it either throws (IoError on a missing entry, a
///    wrong element type or shape, or an invalid value) or returns the action, and only running the
///    action changes the state; the action may fail only on allocation;
/// 3. save_state, then stage_state and the returned action on an optimiser of the same type and
///    configuration over equally shaped tensors of the same names, gives an optimiser equal to the
///    saved one: its following steps are bit-identical. The hyper-parameters are not part of the
///    state (the model saves its configuration).
/// @tparam O the optimiser
/// @tparam BackendType the backend whose Context it runs on
template <class O, class BackendType>
concept Optimizer =
    requires {
      typename O::scalar_type;
      typename O::ConfigType;
      { O::name } -> std::convertible_to<const char*>;
    } &&
    requires(O& o, const O& co, const typename BackendType::Context& ctx, double lr,
             CheckpointWriter& writer, const CheckpointReader& reader, const std::string& prefix) {
      { o.step(ctx) } -> std::same_as<void>;
      { o.zero_grad() } noexcept -> std::same_as<void>;
      { co.learning_rate() } noexcept -> std::convertible_to<double>;
      { o.set_learning_rate(lr) } -> std::same_as<void>;
      { o.reset() } -> std::same_as<void>;
      { co.config() } -> std::same_as<const typename O::ConfigType&>;
      {
        co.parameters()
      } -> std::same_as<const nn::ParameterList<BackendType, typename O::scalar_type>&>;
      { co.save_state(ctx, writer, prefix) } -> std::same_as<void>;
      { o.stage_state(ctx, reader, prefix) } -> std::convertible_to<std::function<void()>>;
    };

}  // namespace recdiff
