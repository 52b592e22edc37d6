#pragma once
/// @file
/// RowL2Norm: row-wise L2 normalisation x / max(||x||_2, 1e-12) with its backward pass.

#include <recdiff/nn/kernels.hpp>

namespace recdiff::nn {

/// Row-wise L2 normalisation y_i = x_i / max(||x_i||_2, 1e-12) (DiffRec's optional input `norm`,
/// torch.nn.functional.normalize). Keeps the per-row divisors of the last forward pass.
/// @tparam BackendType a backend (recdiff::CpuBackend)
/// @tparam T the scalar type
template <class BackendType, class T>
class RowL2Norm {
 public:
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  /// Lower bound of the divisor, torch.nn.functional.normalize's default eps.
  static constexpr double floor = 1e-12;

  /// y = normalised x (y resized only when its shape differs; y may alias x).
  void forward(const Context& ctx, const Matrix& x, Matrix& y) {
    if (&y != &x) y.resize(x.rows(), x.cols());
    m_divisor.resize(x.rows(), 1);
    BackendType::for_each_row(ctx, x.rows(),
                              RowL2NormForward<T>{x.data(), y.data(), m_divisor.data(), x.cols(),
                                                  static_cast<T>(floor)});
  }

  /// dx from dy, given the output y of the last forward pass (dx may alias dy).
  void backward(const Context& ctx, const Matrix& y, const Matrix& dy, Matrix& dx) const {
    if (&dx != &dy) dx.resize(dy.rows(), dy.cols());
    BackendType::for_each_row(ctx, dy.rows(),
                              RowL2NormBackward<T>{y.data(), dy.data(), m_divisor.data(),
                                                   dx.data(), dy.cols(), static_cast<T>(floor)});
  }

  /// max(||x_i||, floor) per row of the last forward pass (B x 1).
  const Matrix& divisors() const noexcept { return m_divisor; }

 private:
  Matrix m_divisor;
};

}  // namespace recdiff::nn
