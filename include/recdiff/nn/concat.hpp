#pragma once
/// @file
/// Concat: two modules applied to the same input, their outputs placed side by side.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include <recdiff/config.hpp>
#include <recdiff/nn/kernels.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff::nn {

/// y = [A(x), B(x)] (N x (a + b)): the column concatenation of two modules' outputs on the same
/// input x, e.g. two feature branches of one input, or an input next to a transform of itself.
/// Backward splits dy into its two column blocks, runs each module's backward on its block and
/// returns the sum of the two input gradients.
///
/// Both modules receive the same Pass: two dropout modules inside would draw the same mask unless
/// they are given different salts. Parameters: A's under prefix + "0.", B's under prefix + "1."
/// (as torch.nn.ModuleList would name them).
/// @tparam ModuleA, ModuleB Modules over one backend and scalar type
template <class ModuleA, class ModuleB>
class Concat {
 public:
  using backend_type = typename ModuleA::backend_type;                 ///< the backend
  using scalar_type = typename ModuleA::scalar_type;                   ///< the scalar type
  using Matrix = typename backend_type::template Matrix<scalar_type>;  ///< storage
  using Context = typename backend_type::Context;                      ///< execution context
  static_assert(std::is_same_v<typename ModuleB::backend_type, backend_type> &&
                    std::is_same_v<typename ModuleB::scalar_type, scalar_type>,
                "recdiff::nn::Concat: both modules need the same backend and scalar type");

  /// The concatenation of `a` and `b`.
  explicit Concat(ModuleA a = ModuleA(), ModuleB b = ModuleB()) : m_a(std::move(a)), m_b(std::move(b)) {}

  /// The first module (left block).
  ModuleA& first() noexcept { return m_a; }
  /// The first module (left block).
  const ModuleA& first() const noexcept { return m_a; }
  /// The second module (right block).
  ModuleB& second() noexcept { return m_b; }
  /// The second module (right block).
  const ModuleB& second() const noexcept { return m_b; }

  /// y = [A(x), B(x)], kept in the module.
  /// @throws std::invalid_argument when the two outputs have different row counts
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& pass = {}) {
    const Matrix& ya = m_a.forward(ctx, x, pass);
    const Matrix& yb = m_b.forward(ctx, x, pass);
    if (ya.rows() != yb.rows())
      throw std::invalid_argument("recdiff::nn::Concat::forward: the modules return " +
                                  std::to_string(ya.rows()) + " and " + std::to_string(yb.rows()) +
                                  " rows");
    m_cols_a = ya.cols();
    m_cols_b = yb.cols();
    m_y.resize(ya.rows(), m_cols_a + m_cols_b);
    backend_type::for_each(ctx, m_y.rows(), m_y.cols(),
                           Join{ya.data(), yb.data(), m_y.data(), m_cols_a, m_cols_b});
    return m_y;
  }

  /// Backward through both modules on their blocks of dy; returns dA/dx + dB/dx when
  /// `need_input_grad`.
  /// @throws std::invalid_argument when dy does not have the output's width; std::logic_error when a
  /// module breaks the Module contract (no input gradient, or one of another shape)
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    if (dy.cols() != m_cols_a + m_cols_b)
      throw std::invalid_argument("recdiff::nn::Concat::backward: dy has " +
                                  std::to_string(dy.cols()) + " columns, expected " +
                                  std::to_string(m_cols_a + m_cols_b));
    m_dya.resize(dy.rows(), m_cols_a);
    m_dyb.resize(dy.rows(), m_cols_b);
    backend_type::for_each(ctx, dy.rows(), dy.cols(),
                           Split{dy.data(), m_dya.data(), m_dyb.data(), m_cols_a, m_cols_b});
    const Matrix* ga = m_a.backward(ctx, m_dya, need_input_grad);
    const Matrix* gb = m_b.backward(ctx, m_dyb, need_input_grad);
    if (!need_input_grad) return nullptr;
    if (ga == nullptr || gb == nullptr)
      throw std::logic_error("recdiff::nn::Concat::backward: a module returned no input gradient");
    if (ga->rows() != gb->rows() || ga->cols() != gb->cols())
      throw std::logic_error("recdiff::nn::Concat::backward: the modules' input gradients differ in shape");
    m_dx.resize(ga->rows(), ga->cols());
    backend_type::for_each(ctx, m_dx.rows(), m_dx.cols(),
                           AddKernel<scalar_type>{ga->data(), gb->data(), m_dx.data(), m_dx.cols()});
    return &m_dx;
  }

  /// Appends A's parameters under prefix + "0." and B's under prefix + "1.".
  void collect_parameters(const std::string& prefix, ParameterList<backend_type, scalar_type>& out) {
    m_a.collect_parameters(prefix + "0.", out);
    m_b.collect_parameters(prefix + "1.", out);
  }
  /// A's and B's parameter counts together.
  std::size_t num_parameters() const noexcept { return m_a.num_parameters() + m_b.num_parameters(); }

  // Kernel functors, public: nvcc refuses a private nested type as a kernel's template argument.
  /// y(i, j) = a(i, j) for j < ca, else b(i, j - ca).
  struct Join {
    const scalar_type* a;
    const scalar_type* b;
    scalar_type* y;
    std::int64_t ca;
    std::int64_t cb;
    RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t j) const {
      y[i * (ca + cb) + j] = j < ca ? a[i * ca + j] : b[i * cb + (j - ca)];
    }
  };
  /// The inverse of Join.
  struct Split {
    const scalar_type* dy;
    scalar_type* da;
    scalar_type* db;
    std::int64_t ca;
    std::int64_t cb;
    RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t j) const {
      const scalar_type v = dy[i * (ca + cb) + j];
      if (j < ca)
        da[i * ca + j] = v;
      else
        db[i * cb + (j - ca)] = v;
    }
  };

 private:
  ModuleA m_a;
  ModuleB m_b;
  Matrix m_y, m_dya, m_dyb, m_dx;
  std::int64_t m_cols_a = 0, m_cols_b = 0;
};

}  // namespace recdiff::nn
