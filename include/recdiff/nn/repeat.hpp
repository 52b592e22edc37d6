#pragma once
/// @file
/// Repeat: one module applied several times in a row with the same parameters (weight sharing
/// across depth), e.g. RecFusion's hidden layer.

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/nn/kernels.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff::nn {

/// y = m(m(...m(x))) with `times` applications of one module m (times >= 0; 0 is the identity).
/// RecFusion (Bénédict et al. 2023, Sec. 2.3; docs/models.md) builds its denoiser's hidden part as
/// one Linear(M, M) + PReLU replicated by reference `p_dnns_depth` times, so the depth changes the
/// computation but not the parameter count.
///
/// Every application keeps its own activations for the backward pass, so the module is held as
/// `times` replicas: replica 0 owns the parameters (the only ones listed by collect_parameters),
/// the others receive a copy of its values before each forward pass and their gradients are added
/// into replica 0's after the backward pass. The copies cost O(parameters) per pass, negligible
/// next to the batch GEMMs for the layer sizes this is used with.
///
/// Parameters: those of the module, named prefix + the module's names.
/// @tparam ModuleType a Module (copyable)
template <class ModuleType>
class Repeat {
 public:
  using backend_type = typename ModuleType::backend_type;              ///< the backend
  using scalar_type = typename ModuleType::scalar_type;                ///< the scalar type
  using Matrix = typename backend_type::template Matrix<scalar_type>;  ///< storage
  using Context = typename backend_type::Context;                      ///< execution context

  Repeat() = default;
  /// `module` applied `times` times (>= 0).
  /// @throws std::invalid_argument for times < 0
  Repeat(ModuleType module, int times) : m_times(checked(times)) {
    m_replicas.assign(times > 0 ? static_cast<std::size_t>(times) : 1u, module);
  }

  /// Number of applications.
  int times() const noexcept { return m_times; }
  /// The module that owns the parameters.
  ModuleType& module() noexcept { return m_replicas.front(); }
  const ModuleType& module() const noexcept { return m_replicas.front(); }

  /// The output after times() applications (x itself when times() == 0).
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& pass = {}) {
    sync_values();
    const Matrix* h = &x;
    for (int r = 0; r < m_times; ++r) h = &m_replicas[static_cast<std::size_t>(r)].forward(ctx, *h, pass);
    return *h;
  }

  /// Backward through every application, last first; the parameter gradients of all applications
  /// are summed into the owner's (accumulating, as every module does).
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    if (m_times == 0) return need_input_grad ? &dy : nullptr;
    const Matrix* g = &dy;
    for (int r = m_times; r-- > 1;) {
      auto& replica = m_replicas[static_cast<std::size_t>(r)];
      for (const auto& p : parameters_of(replica)) p.tensor->zero_grad();
      g = replica.backward(ctx, *g, true);
    }
    const Matrix* dx = m_replicas.front().backward(ctx, *g, need_input_grad);
    add_replica_gradients(ctx);
    return dx;
  }

  /// The owner's parameters.
  /// (None when times() == 0: the module is then never applied.)
  void collect_parameters(const std::string& prefix, ParameterList<backend_type, scalar_type>& out) {
    if (m_times > 0) m_replicas.front().collect_parameters(prefix, out);
  }

  /// Number of scalars (those of one module for any times() > 0; 0 for times() == 0).
  std::size_t num_parameters() const noexcept {
    return m_times > 0 ? m_replicas.front().num_parameters() : 0;
  }

 private:
  static int checked(int times) {
    if (times < 0)
      throw std::invalid_argument("recdiff::nn::Repeat: times must be >= 0, got " +
                                  std::to_string(times));
    return times;
  }

  // Replicas 1.. get the owner's current values (the optimiser updates only the owner).
  void sync_values() {
    if (m_times < 2) return;
    const auto owner = parameters_of(m_replicas.front());
    for (int r = 1; r < m_times; ++r) {
      const auto copy = parameters_of(m_replicas[static_cast<std::size_t>(r)]);
      for (std::size_t i = 0; i < owner.size(); ++i) copy[i].value() = owner[i].value();
    }
  }

  // owner.grad += replica.grad for every replica 1.. (after the owner's own backward, so the
  // owner's gradient has been written since its last zero_grad()).
  void add_replica_gradients(const Context& ctx) {
    if (m_times < 2) return;
    const auto owner = parameters_of(m_replicas.front());
    for (int r = 1; r < m_times; ++r) {
      const auto copy = parameters_of(m_replicas[static_cast<std::size_t>(r)]);
      for (std::size_t i = 0; i < owner.size(); ++i) {
        Matrix& total = owner[i].tensor->gradient();
        const Matrix& part = copy[i].tensor->gradient();
        backend_type::for_each(ctx, total.rows(), total.cols(),
                               AddKernel<scalar_type>{total.data(), part.data(), total.data(),
                                                      total.cols()});
      }
    }
  }

  int m_times = 0;
  std::vector<ModuleType> m_replicas;
};

}  // namespace recdiff::nn
