#pragma once
/// @file
/// Repeat: one module applied several times in a row with the same parameters (weight sharing
/// across depth), e.g. RecFusion's hidden layer.

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/nn/detail/replicas.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff::nn {

/// y = m(m(...m(x))) with `times` applications of one module m (times >= 0; 0 is the identity).
/// RecFusion (Bénédict et al. 2023, Sec. 2.3; docs/models.md) builds its denoiser's hidden part as
/// one Linear(M, M) + PReLU replicated by reference `p_dnns_depth` times, so the depth changes the
/// computation but not the parameter count.
///
/// Every application keeps its own activations for the backward pass, so the module is held as
/// `times` replicas sharing the owner's parameters (nn/detail/replicas.hpp); the copies cost
/// O(parameters) per pass, negligible next to the batch GEMMs for the layer sizes this is used with.
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
  Repeat(ModuleType module, int times) : m_times(checked(times)), m_replicas(std::move(module)) {
    m_replicas.reserve(static_cast<std::size_t>(times > 0 ? times : 1));
  }

  /// Number of applications.
  int times() const noexcept { return m_times; }
  /// The module that owns the parameters.
  ModuleType& module() noexcept { return m_replicas.owner(); }
  const ModuleType& module() const noexcept { return m_replicas.owner(); }

  /// The output after times() applications (x itself when times() == 0).
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& pass = {}) {
    m_replicas.sync_values(count());
    const Matrix* h = &x;
    for (std::size_t r = 0; r < count(); ++r) h = &m_replicas[r].forward(ctx, *h, pass);
    return *h;
  }

  /// Backward through every application, last first; the parameter gradients of all applications
  /// are summed into the owner's (accumulating, as every module does).
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    if (m_times == 0) return need_input_grad ? &dy : nullptr;
    const Matrix* g = &dy;
    for (std::size_t r = count(); r-- > 1;) {
      m_replicas.zero_grad(r);
      g = m_replicas[r].backward(ctx, *g, true);
    }
    const Matrix* dx = m_replicas.owner().backward(ctx, *g, need_input_grad);
    m_replicas.add_gradients(ctx, count());
    return dx;
  }

  /// The owner's parameters (none when times() == 0: the module is then never applied).
  void collect_parameters(const std::string& prefix, ParameterList<backend_type, scalar_type>& out) {
    if (m_times > 0) m_replicas.owner().collect_parameters(prefix, out);
  }

  /// Number of scalars (those of one module for any times() > 0; 0 for times() == 0).
  std::size_t num_parameters() const noexcept {
    return m_times > 0 ? m_replicas.owner().num_parameters() : 0;
  }

 private:
  static int checked(int times) {
    if (times < 0)
      throw std::invalid_argument("recdiff::nn::Repeat: times must be >= 0, got " +
                                  std::to_string(times));
    return times;
  }
  std::size_t count() const noexcept { return static_cast<std::size_t>(m_times); }

  int m_times = 0;
  detail::Replicas<ModuleType> m_replicas;
};

}  // namespace recdiff::nn
