#pragma once
/// @file
/// Replicas: copies of one module that share its parameters, each keeping its own activations, so
/// that a module can be applied several times in one pass (nn::Repeat, nn::ImageBatches).

#include <cstddef>
#include <deque>

#include <recdiff/nn/kernels.hpp>
#include <recdiff/nn/parameter.hpp>

namespace recdiff::nn::detail {

/// replica(0) owns the parameters; replicas 1.. receive its values before a pass (sync_values) and
/// their gradients are added into its own afterwards (add_gradients). Copies cost O(parameters)
/// per pass. Adding replicas never moves existing ones.
template <class ModuleType>
class Replicas {
 public:
  using backend_type = typename ModuleType::backend_type;
  using scalar_type = typename ModuleType::scalar_type;
  using Matrix = typename backend_type::template Matrix<scalar_type>;
  using Context = typename backend_type::Context;

  Replicas() = default;
  /// One replica: `module` itself.
  explicit Replicas(ModuleType module) { m_replicas.push_back(std::move(module)); }

  /// Replica r (0: the owner).
  ModuleType& operator[](std::size_t r) noexcept { return m_replicas[r]; }
  const ModuleType& owner() const noexcept { return m_replicas.front(); }
  ModuleType& owner() noexcept { return m_replicas.front(); }

  /// Makes at least n replicas, the new ones copies of the owner.
  void reserve(std::size_t n) {
    while (m_replicas.size() < n) m_replicas.push_back(m_replicas.front());
  }

  /// Replicas 1 .. n-1 take the owner's current values (the optimiser updates only the owner).
  void sync_values(std::size_t n) {
    const auto owner_params = parameters_of(m_replicas.front());
    for (std::size_t r = 1; r < n; ++r) {
      const auto copy = parameters_of(m_replicas[r]);
      for (std::size_t i = 0; i < owner_params.size(); ++i) copy[i].value() = owner_params[i].value();
    }
  }

  /// Marks replica r's gradients zero (before its backward pass; not for the owner, whose
  /// gradients accumulate across calls like every module's).
  void zero_grad(std::size_t r) {
    for (const auto& p : parameters_of(m_replicas[r])) p.tensor->zero_grad();
  }

  /// owner.grad += replica.grad for replicas 1 .. n-1 (after their backward passes; the owner's own
  /// gradient must have been written since its last zero_grad()).
  void add_gradients(const Context& ctx, std::size_t n) {
    const auto owner_params = parameters_of(m_replicas.front());
    for (std::size_t r = 1; r < n; ++r) {
      const auto copy = parameters_of(m_replicas[r]);
      for (std::size_t i = 0; i < owner_params.size(); ++i) {
        Matrix& total = owner_params[i].tensor->gradient();
        const Matrix& part = copy[i].tensor->gradient();
        backend_type::for_each(ctx, total.rows(), total.cols(),
                               AddKernel<scalar_type>{total.data(), part.data(), total.data(),
                                                      total.cols()});
      }
    }
  }

 private:
  // A deque: adding replicas never moves the owner, whose tensors optimisers point into.
  std::deque<ModuleType> m_replicas;
};

}  // namespace recdiff::nn::detail
