#pragma once
/// @file
/// Static compositions of modules: Sequence (a fixed list of module types), Stack (a run-time number
/// of modules of one type) and Optional (a module switched on or off at construction). A network is
/// then a type made of layers; every call is resolved at compile time (no virtual dispatch).

#include <cstddef>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff::nn {

namespace detail {
// Whether module i of a chain must return its input gradient: when the caller asked for the chain's
// input gradient, or when an earlier module has parameters (their gradients need it).
inline std::vector<char> input_grad_needed(const std::vector<std::size_t>& params_before,
                                           bool need_input_grad) {
  std::vector<char> need(params_before.size());
  for (std::size_t i = 0; i < need.size(); ++i)
    need[i] = static_cast<char>(need_input_grad || params_before[i] > 0);
  return need;
}
}  // namespace detail

/// y = M_n(... M_2(M_1(x))): the modules applied in order. Parameters are named prefix + "<i>." +
/// the module's own names, i the module's position (as torch.nn.Sequential names them).
/// Modules without parameters before the first trainable one are not asked for input gradients
/// unless the caller asks for the sequence's.
/// @tparam ModuleTypes Module types over one backend and scalar type
template <class First, class... Rest>
class Sequence {
 public:
  using backend_type = typename First::backend_type;                 ///< the backend
  using scalar_type = typename First::scalar_type;                   ///< the scalar type
  using Matrix = typename backend_type::template Matrix<scalar_type>;  ///< storage
  using Context = typename backend_type::Context;                    ///< execution context
  static constexpr std::size_t size = 1 + sizeof...(Rest);           ///< number of modules

  Sequence() = default;
  explicit Sequence(First first, Rest... rest) : m_modules(std::move(first), std::move(rest)...) {}

  /// Module i.
  template <std::size_t I>
  auto& get() noexcept { return std::get<I>(m_modules); }
  template <std::size_t I>
  const auto& get() const noexcept { return std::get<I>(m_modules); }

  /// The modules' outputs in turn; returns the last module's output.
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& pass = {}) {
    const Matrix* h = &x;
    std::apply([&](auto&... m) { ((h = &m.forward(ctx, *h, pass)), ...); }, m_modules);
    return *h;
  }

  /// Backward through the modules in reverse order.
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    const auto need = detail::input_grad_needed(params_before(), need_input_grad);
    const Matrix* g = &dy;
    backward_from<size - 1>(ctx, g, need);
    return need_input_grad ? g : nullptr;
  }

  /// Appends every module's parameters, module i under prefix + "<i>.".
  void collect_parameters(const std::string& prefix, ParameterList<backend_type, scalar_type>& out) {
    std::size_t i = 0;
    std::apply([&](auto&... m) { ((m.collect_parameters(prefix + std::to_string(i++) + ".", out)), ...); },
               m_modules);
  }

  std::size_t num_parameters() const noexcept {
    return std::apply([](const auto&... m) { return (std::size_t{0} + ... + m.num_parameters()); },
                      m_modules);
  }

 private:
  std::vector<std::size_t> params_before() const {
    std::vector<std::size_t> before;
    std::size_t sum = 0;
    std::apply([&](const auto&... m) { ((before.push_back(sum), sum += m.num_parameters()), ...); },
               m_modules);
    return before;
  }

  template <std::size_t I>
  void backward_from(const Context& ctx, const Matrix*& g, const std::vector<char>& need) {
    const Matrix* next = std::get<I>(m_modules).backward(ctx, *g, need[I] != 0);
    if (need[I] == 0) return;  // nothing before module I needs a gradient
    g = next;
    if constexpr (I > 0) backward_from<I - 1>(ctx, g, need);
  }

  std::tuple<First, Rest...> m_modules;
};

/// A run-time number of modules of one type applied in order (the hidden layers of an MLP whose
/// depth is a hyper-parameter). Parameters are named prefix + "<i>." + the module's names.
template <class ModuleType>
class Stack {
 public:
  using backend_type = typename ModuleType::backend_type;              ///< the backend
  using scalar_type = typename ModuleType::scalar_type;                ///< the scalar type
  using Matrix = typename backend_type::template Matrix<scalar_type>;  ///< storage
  using Context = typename backend_type::Context;                      ///< execution context

  Stack() = default;
  explicit Stack(std::vector<ModuleType> modules) : m_modules(std::move(modules)) {}

  /// The modules, in order.
  std::vector<ModuleType>& modules() noexcept { return m_modules; }
  const std::vector<ModuleType>& modules() const noexcept { return m_modules; }
  std::size_t size() const noexcept { return m_modules.size(); }

  /// The modules' outputs in turn (x itself when the stack is empty).
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& pass = {}) {
    const Matrix* h = &x;
    for (auto& m : m_modules) h = &m.forward(ctx, *h, pass);
    return *h;
  }

  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    std::vector<std::size_t> before;
    std::size_t sum = 0;
    for (const auto& m : m_modules) {
      before.push_back(sum);
      sum += m.num_parameters();
    }
    const auto need = detail::input_grad_needed(before, need_input_grad);
    const Matrix* g = &dy;
    for (std::size_t i = m_modules.size(); i-- > 0;) {
      const Matrix* next = m_modules[i].backward(ctx, *g, need[i] != 0);
      if (need[i] == 0) return nullptr;
      g = next;
    }
    return need_input_grad ? g : nullptr;
  }

  void collect_parameters(const std::string& prefix, ParameterList<backend_type, scalar_type>& out) {
    for (std::size_t i = 0; i < m_modules.size(); ++i)
      m_modules[i].collect_parameters(prefix + std::to_string(i) + ".", out);
  }

  std::size_t num_parameters() const noexcept {
    std::size_t n = 0;
    for (const auto& m : m_modules) n += m.num_parameters();
    return n;
  }

 private:
  std::vector<ModuleType> m_modules;
};

/// A module that is either applied or skipped (the identity, returning its input), as chosen at
/// construction: DiffRec's optional input normalisation. A disabled module lists no parameters.
template <class ModuleType>
class Optional {
 public:
  using backend_type = typename ModuleType::backend_type;              ///< the backend
  using scalar_type = typename ModuleType::scalar_type;                ///< the scalar type
  using Matrix = typename backend_type::template Matrix<scalar_type>;  ///< storage
  using Context = typename backend_type::Context;                      ///< execution context

  explicit Optional(bool enabled = false, ModuleType module = ModuleType())
      : m_module(std::move(module)), m_enabled(enabled) {}

  bool enabled() const noexcept { return m_enabled; }
  ModuleType& module() noexcept { return m_module; }
  const ModuleType& module() const noexcept { return m_module; }

  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& pass = {}) {
    return m_enabled ? m_module.forward(ctx, x, pass) : x;
  }
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    if (m_enabled) return m_module.backward(ctx, dy, need_input_grad);
    return need_input_grad ? &dy : nullptr;
  }
  void collect_parameters(const std::string& prefix, ParameterList<backend_type, scalar_type>& out) {
    if (m_enabled) m_module.collect_parameters(prefix, out);
  }
  std::size_t num_parameters() const noexcept { return m_enabled ? m_module.num_parameters() : 0; }

 private:
  ModuleType m_module;
  bool m_enabled;
};

}  // namespace recdiff::nn
