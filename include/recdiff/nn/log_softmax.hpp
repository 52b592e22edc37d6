#pragma once
/// @file
/// LogSoftmax: the row-wise log-softmax y_i = x_i - log sum_j exp(x_j) as a Module, and the
/// numerically stable row log-sum-exp it is made of (shared with the multinomial likelihood,
/// objective/multinomial.hpp).

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <recdiff/config.hpp>
#include <recdiff/math/fast_math.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff::nn {

/// exp(y) for y <= 0 (the shifted logits of a softmax). In float it is math::fast_expm1 + 1 with y
/// clamped to -87, where exp(y) < 2e-38 rounds the sum it enters to itself (the result is then
/// exactly 0); no libm call, so loops over it vectorise and a device computes the same bits. In
/// double (the gradient checks) it is std::exp.
template <class T>
RECDIFF_HOST_DEVICE T exp_nonpositive(T y) {
  if constexpr (std::is_same_v<T, float>) {
    const float c = y > -87.0f ? y : -87.0f;
    return math::fast_expm1(c) + 1.0f;
  } else {
    return std::exp(y);
  }
}

/// The largest of the n >= 1 values x[0 .. n).
template <class T>
RECDIFF_HOST_DEVICE T row_max(const T* x, std::int64_t n) {
  T m = x[0];
  for (std::int64_t j = 1; j < n; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

/// sum_j exp(x_j - shift) over x[0 .. n), accumulated in double in column order (shift = the row
/// maximum, so every term is in (0, 1] and the sum in [1, n]).
template <class T>
RECDIFF_HOST_DEVICE double row_sum_exp(const T* x, std::int64_t n, T shift) {
  double s = 0.0;
  for (std::int64_t j = 0; j < n; ++j) s += static_cast<double>(exp_nonpositive<T>(x[j] - shift));
  return s;
}

/// log sum_j exp(x_j) of the n >= 1 values x[0 .. n), computed as max + log sum_j exp(x_j - max)
/// (never overflows; the maximum's term is exactly 1).
template <class T>
RECDIFF_HOST_DEVICE double row_log_sum_exp(const T* x, std::int64_t n) {
  const T m = row_max(x, n);
  return static_cast<double>(m) + std::log(row_sum_exp(x, n, m));
}

/// Forward kernel of LogSoftmax for row i: y_ij = x_ij - lse_i (y may equal x).
template <class T>
struct LogSoftmaxForward {
  const T* x;         ///< rows x cols, row-major
  T* y;               ///< same shape
  std::int64_t cols;  ///< columns (and row stride)

  /// Processes row i.
  RECDIFF_HOST_DEVICE void operator()(std::int64_t i) const {
    const T* xr = x + i * cols;
    T* yr = y + i * cols;
    const T m = row_max(xr, cols);
    // The shift in T: x - m is exact for the maximum, so log sum exp(x - m) >= 0 is all that is
    // rounded.
    const T log_sum = static_cast<T>(std::log(row_sum_exp(xr, cols, m)));
    for (std::int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] - m) - log_sum;
  }
};

/// Backward kernel of LogSoftmax for row i: dx_ij = dy_ij - softmax_ij sum_k dy_ik with
/// softmax = exp(y) read off the stored output (dx may equal dy).
template <class T>
struct LogSoftmaxBackward {
  const T* y;         ///< the forward output (log-probabilities)
  const T* dy;        ///< gradient w.r.t. y
  T* dx;              ///< gradient w.r.t. x
  std::int64_t cols;  ///< columns (and row stride)

  /// Processes row i.
  RECDIFF_HOST_DEVICE void operator()(std::int64_t i) const {
    const T* yr = y + i * cols;
    const T* dyr = dy + i * cols;
    T* dxr = dx + i * cols;
    double s = 0.0;
    for (std::int64_t j = 0; j < cols; ++j) s += static_cast<double>(dyr[j]);
    const T total = static_cast<T>(s);
    for (std::int64_t j = 0; j < cols; ++j) dxr[j] = dyr[j] - exp_nonpositive<T>(yr[j]) * total;
  }
};

/// Row-wise log-softmax, y_i = x_i - log sum_j exp(x_ij) for every row i of a batch, as a
/// parameter-free Module. The forward pass subtracts the row maximum before exponentiating (no
/// overflow for any finite input); backward is the exact derivative dx = dy - softmax(x) sum(dy),
/// with softmax(x) = exp(y) taken from the stored output.
/// @tparam BackendType a Backend; @tparam T the scalar type
template <class BackendType, class T>
class LogSoftmax {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  /// y = log_softmax(x) row by row (x needs at least one column).
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& = {}) {
    m_y.resize(x.rows(), x.cols());
    if (x.cols() > 0)
      BackendType::for_each_row(ctx, x.rows(),
                                LogSoftmaxForward<T>{x.data(), m_y.data(), x.cols()});
    return m_y;
  }

  /// dx = dy - exp(y) * (row sums of dy) when asked (there are no parameters).
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    if (dy.rows() != m_y.rows() || dy.cols() != m_y.cols())
      throw std::invalid_argument("recdiff::nn::LogSoftmax::backward: dy is " +
                                  std::to_string(dy.rows()) + "x" + std::to_string(dy.cols()) +
                                  ", expected the output's " + std::to_string(m_y.rows()) + "x" +
                                  std::to_string(m_y.cols()));
    if (!need_input_grad) return nullptr;
    m_dx.resize(dy.rows(), dy.cols());
    if (dy.cols() > 0)
      BackendType::for_each_row(
          ctx, dy.rows(), LogSoftmaxBackward<T>{m_y.data(), dy.data(), m_dx.data(), dy.cols()});
    return &m_dx;
  }

  /// No parameters.
  void collect_parameters(const std::string&, ParameterList<BackendType, T>&) {}
  /// 0.
  std::size_t num_parameters() const noexcept { return 0; }

 private:
  Matrix m_y, m_dx;
};

}  // namespace recdiff::nn
