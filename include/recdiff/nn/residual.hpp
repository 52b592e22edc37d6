#pragma once
/// @file
/// Residual: the skip connection y = x + M(x) of He et al. 2016 ("Deep Residual Learning for Image
/// Recognition"), around any width-preserving Module.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include <recdiff/config.hpp>
#include <recdiff/nn/kernels.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff::nn {

/// y = x + M(x) for a module M whose output has the shape of its input (a Transformer sub-layer, a
/// residual MLP block). Backward: dx = dy + dM/dx, with M's parameter gradients accumulated as M
/// does; when the input gradient is not asked for, M is not asked for it either.
///
/// Parameters: M's, named with the prefix unchanged (the wrapper adds no level, like Optional).
/// @tparam ModuleType a Module
template <class ModuleType>
class Residual {
 public:
  using backend_type = typename ModuleType::backend_type;              ///< the backend
  using scalar_type = typename ModuleType::scalar_type;                ///< the scalar type
  using Matrix = typename backend_type::template Matrix<scalar_type>;  ///< storage
  using Context = typename backend_type::Context;                      ///< execution context

  /// The skip connection around `module`.
  explicit Residual(ModuleType module = ModuleType()) : m_module(std::move(module)) {}

  /// The wrapped module.
  ModuleType& module() noexcept { return m_module; }
  /// The wrapped module.
  const ModuleType& module() const noexcept { return m_module; }

  /// y = x + M(x), kept in the wrapper.
  /// @throws std::invalid_argument when M changes the shape
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& pass = {}) {
    const Matrix& h = m_module.forward(ctx, x, pass);
    if (h.rows() != x.rows() || h.cols() != x.cols())
      throw std::invalid_argument("recdiff::nn::Residual::forward: the module maps " +
                                  std::to_string(x.rows()) + "x" + std::to_string(x.cols()) +
                                  " to " + std::to_string(h.rows()) + "x" +
                                  std::to_string(h.cols()) + ", a skip connection needs the same shape");
    m_y.resize(x.rows(), x.cols());
    backend_type::for_each(ctx, x.rows(), x.cols(), AddKernel<scalar_type>{x.data(), h.data(), m_y.data(), x.cols()});
    return m_y;
  }

  /// Accumulates M's parameter gradients and returns dx = dy + dM/dx when `need_input_grad`.
  /// @throws std::logic_error when M breaks the Module contract by returning no input gradient
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    const Matrix* dm = m_module.backward(ctx, dy, need_input_grad);
    if (!need_input_grad) return nullptr;
    if (dm == nullptr)
      throw std::logic_error("recdiff::nn::Residual::backward: the module returned no input gradient");
    m_dx.resize(dy.rows(), dy.cols());
    backend_type::for_each(ctx, dy.rows(), dy.cols(), AddKernel<scalar_type>{dy.data(), dm->data(), m_dx.data(), dy.cols()});
    return &m_dx;
  }

  /// Appends M's parameters under `prefix`.
  void collect_parameters(const std::string& prefix, ParameterList<backend_type, scalar_type>& out) {
    m_module.collect_parameters(prefix, out);
  }
  /// M's parameter count.
  std::size_t num_parameters() const noexcept { return m_module.num_parameters(); }


 private:
  ModuleType m_module;
  Matrix m_y, m_dx;
};

}  // namespace recdiff::nn
