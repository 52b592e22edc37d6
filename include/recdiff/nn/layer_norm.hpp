#pragma once
/// @file
/// LayerNorm: layer normalisation (Ba, Kiros and Hinton 2016, "Layer Normalization") over the last
/// dimension, with a learnable gain and bias (torch.nn.LayerNorm(H)), as a Module.

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/nn/kernels.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff::nn {

/// Per row of x (N x H): y = (x - mean) / sqrt(var + eps) * gamma + beta, with the row's mean and
/// BIASED variance (divided by H, as torch), gamma and beta 1 x H.
///
/// A batch of sequences (B, L, H) stored row-major IS the (B * L) x H matrix whose row b * L + l is
/// position l of sequence b; since every position is normalised on its own, LayerNorm of the
/// flattened matrix is LayerNorm of the batch (what the Transformer blocks of SASRec and BERT4Rec
/// apply after attention and after the feed-forward layer).
///
/// Backward, exact: with xhat = (x - mean) rstd and g = dy * gamma per row,
/// dx = rstd (g - mean(g) - xhat mean(g * xhat)); dgamma += column sums of dy * xhat; dbeta += column
/// sums of dy. The layer keeps xhat and rstd of the last forward pass; every sum runs in a fixed
/// order (thread-count independent).
///
/// Parameters: prefix + "weight" (gamma, initially 1) and prefix + "bias" (beta, initially 0).
/// @tparam BackendType a Backend; @tparam T the scalar type
template <class BackendType, class T>
class LayerNorm {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  /// torch.nn.LayerNorm's default eps.
  static constexpr double torch_eps = 1e-5;
  /// The eps of the reference BERT4Rec and SASRec codes (and of BERT).
  static constexpr double bert_eps = 1e-12;

  /// An empty layer over 0 features.
  LayerNorm() = default;

  /// A layer over rows of `features` values with variance floor `eps`, gamma = 1 and beta = 0 on
  /// every backend (written by initialize() on a default Context, as Mlp initialises; on
  /// CudaBackend that needs a device).
  /// @throws std::invalid_argument unless features >= 1 and eps >= 0
  explicit LayerNorm(int features, double eps = torch_eps)
      : m_gamma(1, checked(features, eps)), m_beta(1, features), m_eps(eps) {
    initialize(Context{});
  }

  /// (Re)sets gamma = 1 and beta = 0 on the backend.
  void initialize(const Context& ctx) {
    BackendType::for_each(ctx, 1, features(), Fill{m_gamma.value.data(), T(1)});
    m_beta.value.setZero();
  }

  /// H, the width of a row.
  int features() const noexcept { return static_cast<int>(m_gamma.value.cols()); }
  /// The variance floor.
  double eps() const noexcept { return m_eps; }
  /// Number of scalars in gamma and beta.
  std::size_t num_parameters() const noexcept { return m_gamma.size() + m_beta.size(); }

  /// gamma (1 x H).
  Matrix& weight() noexcept { return m_gamma.value; }
  /// gamma (1 x H).
  const Matrix& weight() const noexcept { return m_gamma.value; }
  /// beta (1 x H).
  Matrix& bias() noexcept { return m_beta.value; }
  /// beta (1 x H).
  const Matrix& bias() const noexcept { return m_beta.value; }
  /// dLoss/dgamma accumulated since the last zero_grad().
  const Matrix& weight_grad() { return m_gamma.gradient(); }
  /// dLoss/dbeta accumulated since the last zero_grad().
  const Matrix& bias_grad() { return m_beta.gradient(); }
  /// 1 / sqrt(var + eps) per row of the last forward pass (N x 1).
  const Matrix& inverse_std() const noexcept { return m_rstd; }

  /// Appends {prefix + "weight", prefix + "bias"}.
  void collect_parameters(const std::string& prefix, ParameterList<BackendType, T>& out) {
    out.push_back({prefix + "weight", &m_gamma});
    out.push_back({prefix + "bias", &m_beta});
  }

  /// y = LayerNorm(x) (N x H), kept in the layer.
  /// @throws std::invalid_argument when x is not H wide
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& = {}) {
    if (x.cols() != features())
      throw std::invalid_argument("recdiff::nn::LayerNorm::forward: input has " +
                                  std::to_string(x.cols()) + " columns, expected " +
                                  std::to_string(features()));
    m_y.resize(x.rows(), x.cols());
    m_xhat.resize(x.rows(), x.cols());
    m_rstd.resize(x.rows(), 1);
    BackendType::for_each_row(ctx, x.rows(),
                              Forward{x.data(), m_y.data(), m_xhat.data(), m_rstd.data(),
                                      m_gamma.value.data(), m_beta.value.data(), x.cols(),
                                      static_cast<T>(m_eps)});
    m_forward_done = true;
    return m_y;
  }

  /// Accumulates dgamma and dbeta for dy = dLoss/dy of the last forward() and returns dx when
  /// `need_input_grad` (else nullptr).
  /// @throws std::logic_error without a forward(); std::invalid_argument on a shape mismatch
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    if (!m_forward_done)
      throw std::logic_error("recdiff::nn::LayerNorm::backward: no forward() pass to differentiate");
    if (dy.rows() != m_y.rows() || dy.cols() != m_y.cols())
      throw std::invalid_argument("recdiff::nn::LayerNorm::backward: dy is " +
                                  std::to_string(dy.rows()) + "x" + std::to_string(dy.cols()) +
                                  ", expected the output's " + std::to_string(m_y.rows()) + "x" +
                                  std::to_string(m_y.cols()));
    const std::int64_t rows = dy.rows(), cols = dy.cols();
    {
      const bool accumulate = m_gamma.grad_beta() != T(0);
      m_gamma.grad.resize(1, cols);
      BackendType::for_each_row(ctx, ProductColumnSums::blocks(cols),
                                ProductColumnSums{dy.data(), m_xhat.data(), m_gamma.grad.data(), rows,
                                                  cols, accumulate});
    }
    {
      const bool accumulate = m_beta.grad_beta() != T(0);
      m_beta.grad.resize(1, cols);
      BackendType::for_each_row(ctx, ColumnSums<T>::blocks(cols),
                                ColumnSums<T>{dy.data(), m_beta.grad.data(), rows, cols, accumulate});
    }
    if (!need_input_grad) return nullptr;
    m_dx.resize(rows, cols);
    BackendType::for_each_row(ctx, rows,
                              InputGradient{dy.data(), m_xhat.data(), m_rstd.data(),
                                            m_gamma.value.data(), m_dx.data(), cols});
    return &m_dx;
  }

  // Kernel functors, public: nvcc refuses a private nested type as a kernel's template argument.
  /// a(0, j) = value.
  struct Fill {
    T* a;
    T value;
    RECDIFF_HOST_DEVICE void operator()(std::int64_t, std::int64_t j) const { a[j] = value; }
  };

  /// Row i: mean, biased variance (two passes), xhat, y.
  struct Forward {
    const T* x;
    T* y;
    T* xhat;
    T* rstd;
    const T* gamma;
    const T* beta;
    std::int64_t cols;
    T eps;
    RECDIFF_HOST_DEVICE void operator()(std::int64_t i) const {
      const T* xr = x + i * cols;
      T sum = T(0);
      for (std::int64_t j = 0; j < cols; ++j) sum += xr[j];
      const T mean = sum / static_cast<T>(cols);
      T ss = T(0);
      for (std::int64_t j = 0; j < cols; ++j) {
        const T d = xr[j] - mean;
        ss += d * d;
      }
      const T r = T(1) / std::sqrt(ss / static_cast<T>(cols) + eps);
      rstd[i] = r;
      T* hr = xhat + i * cols;
      T* yr = y + i * cols;
      for (std::int64_t j = 0; j < cols; ++j) {
        const T h = (xr[j] - mean) * r;
        hr[j] = h;
        yr[j] = h * gamma[j] + beta[j];
      }
    }
  };

  /// Row i: dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy gamma.
  struct InputGradient {
    const T* dy;
    const T* xhat;
    const T* rstd;
    const T* gamma;
    T* dx;
    std::int64_t cols;
    RECDIFF_HOST_DEVICE void operator()(std::int64_t i) const {
      const T* dyr = dy + i * cols;
      const T* hr = xhat + i * cols;
      T sg = T(0), sgh = T(0);
      for (std::int64_t j = 0; j < cols; ++j) {
        const T g = dyr[j] * gamma[j];
        sg += g;
        sgh += g * hr[j];
      }
      const T n = static_cast<T>(cols);
      const T mg = sg / n, mgh = sgh / n, r = rstd[i];
      T* dxr = dx + i * cols;
      for (std::int64_t j = 0; j < cols; ++j) dxr[j] = r * (dyr[j] * gamma[j] - mg - hr[j] * mgh);
    }
  };

  /// sums(j) (+)= sum over rows, in row order, of a(r, j) b(r, j), for the columns of block b.
  struct ProductColumnSums {
    static constexpr std::int64_t kColumns = 64;
    const T* a;
    const T* b;
    T* sums;
    std::int64_t rows;
    std::int64_t cols;
    bool accumulate;
    static constexpr std::int64_t blocks(std::int64_t columns) {
      return (columns + kColumns - 1) / kColumns;
    }
    RECDIFF_HOST_DEVICE void operator()(std::int64_t block) const {
      const std::int64_t begin = block * kColumns;
      const std::int64_t end = begin + kColumns < cols ? begin + kColumns : cols;
      T local[kColumns];
      for (std::int64_t j = begin; j < end; ++j) local[j - begin] = T(0);
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = begin; j < end; ++j) local[j - begin] += a[r * cols + j] * b[r * cols + j];
      for (std::int64_t j = begin; j < end; ++j)
        sums[j] = accumulate ? sums[j] + local[j - begin] : local[j - begin];
    }
  };

 private:
  static int checked(int features, double eps) {
    if (features < 1 || !(eps >= 0))
      throw std::invalid_argument("recdiff::nn::LayerNorm: need features >= 1 and eps >= 0, got " +
                                  std::to_string(features) + " and " + std::to_string(eps));
    return features;
  }

  Tensor<BackendType, T> m_gamma;  // 1 x H
  Tensor<BackendType, T> m_beta;   // 1 x H
  double m_eps = torch_eps;
  Matrix m_y, m_xhat, m_rstd, m_dx;
  bool m_forward_done = false;
};

}  // namespace recdiff::nn
