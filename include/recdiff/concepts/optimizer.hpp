#pragma once
/// @file
/// Optimizer: what a trainer needs from a first-order optimiser.

#include <concepts>

namespace recdiff {

/// An optimiser bound, at construction, to a fixed list of parameter tensors and their gradients.
///
/// Laws: step(ctx) applies one update to every bound tensor from the gradients currently stored
/// (written by the model's backward()); its result does not depend on ctx's thread count; reset()
/// returns the optimiser state to that of a freshly built optimiser.
/// @tparam O the optimiser
/// @tparam BackendType the backend whose Context it runs on
template <class O, class BackendType>
concept Optimizer = requires(O& o, const O& co, const typename BackendType::Context& ctx,
                             double lr) {
  { o.step(ctx) } -> std::same_as<void>;
  { co.learning_rate() } -> std::convertible_to<double>;
  { o.set_learning_rate(lr) } -> std::same_as<void>;
  { o.reset() } -> std::same_as<void>;
};

}  // namespace recdiff
