#pragma once
/// @file
/// Parameter: a named view of one trainable tensor and its gradient, as handed to an optimiser.

#include <string>

namespace recdiff::nn {

/// One trainable tensor of a model: its name, its value and its gradient (same shape as the value).
/// The pointers refer to members of the model, so they stay valid as long as the model is neither
/// destroyed nor moved.
/// @tparam BackendType the backend whose `Matrix<T>` stores the tensor
/// @tparam T the scalar type
template <class BackendType, class T>
struct Parameter {
  /// Storage of the tensor.
  using Matrix = typename BackendType::template Matrix<T>;

  std::string name;  ///< stable name, e.g. "in_layers.1.weight" (used by checkpoints)
  Matrix* value;     ///< the tensor
  Matrix* grad;      ///< its gradient, overwritten by every backward pass
};

}  // namespace recdiff::nn
