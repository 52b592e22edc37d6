#pragma once
/// @file
/// RowL2Norm: row-wise L2 normalisation x / max(||x||_2, 1e-12) as a Module.

#include <string>

#include <recdiff/nn/kernels.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff::nn {

/// Row-wise L2 normalisation y_i = x_i / max(||x_i||_2, 1e-12) (DiffRec's optional input `norm`,
/// MultVAE's and MultDAE's input; torch.nn.functional.normalize). Keeps the per-row divisors.
/// @tparam BackendType a Backend; @tparam T the scalar type
template <class BackendType, class T>
class RowL2Norm {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  /// Lower bound of the divisor, torch.nn.functional.normalize's default eps.
  static constexpr double floor = 1e-12;

  /// y = normalised x.
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& = {}) {
    m_y.resize(x.rows(), x.cols());
    m_divisor.resize(x.rows(), 1);
    BackendType::for_each_row(ctx, x.rows(),
                              RowL2NormForward<T>{x.data(), m_y.data(), m_divisor.data(), x.cols(),
                                                  static_cast<T>(floor)});
    return m_y;
  }

  /// dx = (dy - y (y . dy)) / ||x|| per row (dy / floor where the norm is below the floor).
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    if (!need_input_grad) return nullptr;
    m_dx.resize(dy.rows(), dy.cols());
    BackendType::for_each_row(ctx, dy.rows(),
                              RowL2NormBackward<T>{m_y.data(), dy.data(), m_divisor.data(),
                                                   m_dx.data(), dy.cols(), static_cast<T>(floor)});
    return &m_dx;
  }

  /// max(||x_i||, floor) per row of the last forward pass (B x 1).
  const Matrix& divisors() const noexcept { return m_divisor; }

  void collect_parameters(const std::string&, ParameterList<BackendType, T>&) {}
  std::size_t num_parameters() const noexcept { return 0; }

 private:
  Matrix m_y, m_divisor, m_dx;
};

}  // namespace recdiff::nn
