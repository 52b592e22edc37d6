#pragma once
/// @file
/// Tensor and Parameter: a module's trainable tensors (value, gradient, lazily zeroed gradient) and
/// the named views of them that optimisers and checkpoints work on.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <recdiff/concepts/backend.hpp>

namespace recdiff::nn {

/// One trainable tensor owned by a module: its value and its gradient, same shape.
///
/// Gradients accumulate: every backward pass ADDS its contribution. zero_grad() does not touch the
/// memory; it marks the gradient as zero, and the next writer overwrites it instead of adding
/// (grad_beta() returns 0 once, then 1). A product written with that beta has the bits of a plain
/// overwrite, and clearing costs nothing per step. Readers that need the value (optimisers) call
/// gradient(), which materialises the zero when no pass wrote since zero_grad().
/// @tparam BackendType a Backend; @tparam T the scalar type
template <class BackendType, class T>
struct Tensor {
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage

  Matrix value;          ///< the tensor
  Matrix grad;           ///< its gradient; meaningful only through gradient() or after a write
  bool grad_zero = true; ///< the gradient is logically zero (set by zero_grad())

  Tensor() = default;
  /// A rows x cols tensor of zeros with a zero gradient.
  Tensor(std::int64_t rows, std::int64_t cols)
      : value(zeros<Matrix>(rows, cols)), grad(zeros<Matrix>(rows, cols)) {}

  /// Marks the gradient as zero (the next write overwrites).
  void zero_grad() noexcept { grad_zero = true; }
  /// The GEMM beta / accumulate flag for the next write into grad: 0 right after zero_grad(), then 1.
  T grad_beta() noexcept {
    const T beta = grad_zero ? T(0) : T(1);
    grad_zero = false;
    return beta;
  }
  /// The gradient's value (zeroed first when nothing was written since zero_grad()).
  Matrix& gradient() {
    if (grad_zero) {
      grad.setZero(value.rows(), value.cols());
      grad_zero = false;
    }
    return grad;
  }
  /// Number of scalars.
  std::size_t size() const noexcept { return static_cast<std::size_t>(value.rows() * value.cols()); }
};

/// A named view of one trainable tensor, as handed to optimisers and checkpoints. The pointer refers
/// to a member of the module, so it stays valid as long as the module is neither destroyed nor moved.
template <class BackendType, class T>
struct Parameter {
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage

  std::string name;                  ///< stable name, e.g. "in_layers.1.weight" (checkpoints)
  Tensor<BackendType, T>* tensor;    ///< the tensor and its gradient

  /// The tensor's value.
  Matrix& value() const noexcept { return tensor->value; }
};

/// A list of parameters (what Module::collect_parameters appends to).
template <class BackendType, class T>
using ParameterList = std::vector<Parameter<BackendType, T>>;

/// Marks every gradient of `params` as zero.
template <class BackendType, class T>
void zero_grad(const ParameterList<BackendType, T>& params) noexcept {
  for (const auto& p : params) p.tensor->zero_grad();
}

/// Total number of scalars in `params`.
template <class BackendType, class T>
std::size_t count_scalars(const ParameterList<BackendType, T>& params) noexcept {
  std::size_t n = 0;
  for (const auto& p : params) n += p.tensor->size();
  return n;
}

/// Copies of every parameter's value, in list order (to keep the best epoch's parameters).
template <class BackendType, class T>
std::vector<typename BackendType::template Matrix<T>> snapshot_values(
    const ParameterList<BackendType, T>& params) {
  std::vector<typename BackendType::template Matrix<T>> snap;
  snap.reserve(params.size());
  for (const auto& p : params) snap.push_back(p.value());
  return snap;
}

/// Writes a snapshot_values() copy back, after checking that it has one tensor of the right shape
/// per parameter (nothing is written otherwise).
/// @throws std::invalid_argument naming `who` for a snapshot of another architecture
template <class BackendType, class T>
void restore_values(const ParameterList<BackendType, T>& params,
                    const std::vector<typename BackendType::template Matrix<T>>& snap,
                    const std::string& who) {
  if (snap.size() != params.size())
    throw std::invalid_argument(who + ": snapshot of another model (" + std::to_string(snap.size()) +
                                " tensors, expected " + std::to_string(params.size()) + ")");
  for (std::size_t i = 0; i < params.size(); ++i)
    if (snap[i].rows() != params[i].value().rows() || snap[i].cols() != params[i].value().cols())
      throw std::invalid_argument(who + ": tensor " + params[i].name +
                                  " has another shape in the snapshot");
  for (std::size_t i = 0; i < params.size(); ++i) params[i].value() = snap[i];
}

/// The parameters of module `m`, named with `prefix` (Module::collect_parameters into a fresh
/// list). (Not named `module`: nvcc warns (#3189) about a line starting with that C++20 keyword.)
template <class ModuleType>
auto parameters_of(ModuleType& m, const std::string& prefix = "") {
  ParameterList<typename ModuleType::backend_type, typename ModuleType::scalar_type> out;
  m.collect_parameters(prefix, out);
  return out;
}

}  // namespace recdiff::nn
