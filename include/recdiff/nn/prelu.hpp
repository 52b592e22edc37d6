#pragma once
/// @file
/// PRelu: the parametric rectifier of He et al. 2015 ("Delving Deep into Rectifiers"), y = x for
/// x > 0 and a x otherwise, with a learnable slope a shared by all columns or one per column
/// (torch.nn.PReLU); CODIGEM's denoising networks use it.

#include <cstdint>
#include <stdexcept>
#include <string>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff::nn {

/// y(i, j) = x(i, j) where x(i, j) > 0, else a_j x(i, j), for a batch x (B x C); a is one slope
/// shared by every column (num_slopes() == 1) or one slope per column (num_slopes() == C), as
/// torch.nn.PReLU(num_parameters) with its default initial value 0.25.
///
/// Backward: dx = dy where x > 0, else a_j dy; da_j += sum_i dy(i, j) x(i, j) over the rows with
/// x(i, j) <= 0 (summed over all columns, in column order, for a shared slope). Every sum runs in a
/// fixed order, so the gradient is the same at any thread count. The slope need not stay positive,
/// so the layer keeps a pointer to its input (it must stay alive until backward()).
///
/// Parameter: prefix + "weight" (1 x num_slopes()).
/// @tparam BackendType a Backend; @tparam T the scalar type
template <class BackendType, class T>
class PRelu {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  /// torch.nn.PReLU's initial slope.
  static constexpr double default_init = 0.25;

  /// `num_slopes` = 1 (one slope for every column) or the input width (one per column), each set to
  /// `init` on every backend (written by initialize() on a default Context, as Mlp initialises; on
  /// CudaBackend that needs a device).
  /// @throws std::invalid_argument unless num_slopes >= 1
  explicit PRelu(int num_slopes = 1, double init = default_init)
      : m_weight(1, checked(num_slopes)), m_init(init) {
    initialize(Context{});
  }

  /// (Re)sets every slope to the constructor's initial value, on the backend.
  void initialize(const Context& ctx) {
    BackendType::for_each(ctx, 1, num_slopes(),
                          Fill{m_weight.value.data(), static_cast<T>(m_init)});
  }

  /// The initial slope.
  double initial_slope() const noexcept { return m_init; }

  /// Number of slopes (1: shared).
  int num_slopes() const noexcept { return static_cast<int>(m_weight.value.cols()); }
  /// Number of scalars in the slope vector.
  std::size_t num_parameters() const noexcept { return m_weight.size(); }

  /// The slopes (1 x num_slopes()).
  Matrix& weight() noexcept { return m_weight.value; }
  /// The slopes (1 x num_slopes()).
  const Matrix& weight() const noexcept { return m_weight.value; }
  /// dLoss/da accumulated since the last zero_grad().
  const Matrix& weight_grad() { return m_weight.gradient(); }

  /// Appends {prefix + "weight"}.
  void collect_parameters(const std::string& prefix, ParameterList<BackendType, T>& out) {
    out.push_back({prefix + "weight", &m_weight});
  }

  /// y = prelu(x) (B x C), kept in the layer; x is kept for backward().
  /// @throws std::invalid_argument when the layer has one slope per column and x has another width
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& = {}) {
    if (num_slopes() > 1 && x.cols() != num_slopes())
      throw std::invalid_argument("recdiff::nn::PRelu::forward: input has " +
                                  std::to_string(x.cols()) + " columns, expected " +
                                  std::to_string(num_slopes()) + " (one slope per column)");
    m_y.resize(x.rows(), x.cols());
    BackendType::for_each(ctx, x.rows(), x.cols(),
                          Forward{x.data(), m_y.data(), m_weight.value.data(), x.cols(),
                                  slope_stride()});
    m_input = &x;
    return m_y;
  }

  /// Accumulates da for dy = dLoss/dy of the last forward() and returns dx when `need_input_grad`
  /// (else nullptr).
  /// @throws std::logic_error without a forward(); std::invalid_argument on a shape mismatch
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    if (m_input == nullptr)
      throw std::logic_error("recdiff::nn::PRelu::backward: no forward() pass to differentiate");
    if (dy.rows() != m_y.rows() || dy.cols() != m_y.cols())
      throw std::invalid_argument("recdiff::nn::PRelu::backward: dy is " +
                                  std::to_string(dy.rows()) + "x" + std::to_string(dy.cols()) +
                                  ", expected the output's " + std::to_string(m_y.rows()) + "x" +
                                  std::to_string(m_y.cols()));
    const Matrix& x = *m_input;
    const bool accumulate = m_weight.grad_beta() != T(0);
    m_weight.grad.resize(1, num_slopes());
    if (num_slopes() > 1) {
      BackendType::for_each_row(ctx, SlopeSums::blocks(x.cols()),
                                SlopeSums{x.data(), dy.data(), m_weight.grad.data(), x.rows(),
                                          x.cols(), accumulate});
    } else {
      // Per-column partial sums first (parallel over column blocks), then their sum in column order.
      m_partial.resize(1, x.cols());
      BackendType::for_each_row(ctx, SlopeSums::blocks(x.cols()),
                                SlopeSums{x.data(), dy.data(), m_partial.data(), x.rows(), x.cols(),
                                          false});
      BackendType::for_each_row(ctx, 1,
                                SumInto{m_partial.data(), m_weight.grad.data(), x.cols(), accumulate});
    }
    if (!need_input_grad) return nullptr;
    m_dx.resize(dy.rows(), dy.cols());
    BackendType::for_each(ctx, dy.rows(), dy.cols(),
                          InputGradient{x.data(), dy.data(), m_dx.data(), m_weight.value.data(),
                                        dy.cols(), slope_stride()});
    return &m_dx;
  }

  // Kernel functors, public: nvcc refuses a private nested type as a kernel's template argument.
  /// a(0, j) = value.
  struct Fill {
    T* a;
    T value;
    RECDIFF_HOST_DEVICE void operator()(std::int64_t, std::int64_t j) const { a[j] = value; }
  };

  /// y(i, j) = x > 0 ? x : a[j * stride] x (stride 0: one shared slope).
  struct Forward {
    const T* x;
    T* y;
    const T* a;
    std::int64_t cols;
    std::int64_t stride;
    RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t j) const {
      const T v = x[i * cols + j];
      y[i * cols + j] = v > T(0) ? v : a[j * stride] * v;
    }
  };

  /// dx(i, j) = dy * (x > 0 ? 1 : a_j).
  struct InputGradient {
    const T* x;
    const T* dy;
    T* dx;
    const T* a;
    std::int64_t cols;
    std::int64_t stride;
    RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t j) const {
      const std::int64_t k = i * cols + j;
      dx[k] = x[k] > T(0) ? dy[k] : a[j * stride] * dy[k];
    }
  };

  /// sums(j) (+)= sum over rows, in row order, of dy(r, j) x(r, j) where x(r, j) <= 0, for the
  /// kColumns columns of block b.
  struct SlopeSums {
    static constexpr std::int64_t kColumns = 64;
    const T* x;
    const T* dy;
    T* sums;
    std::int64_t rows;
    std::int64_t cols;
    bool accumulate;
    static constexpr std::int64_t blocks(std::int64_t columns) {
      return (columns + kColumns - 1) / kColumns;
    }
    RECDIFF_HOST_DEVICE void operator()(std::int64_t b) const {
      const std::int64_t begin = b * kColumns;
      const std::int64_t end = begin + kColumns < cols ? begin + kColumns : cols;
      T local[kColumns];
      for (std::int64_t j = begin; j < end; ++j) local[j - begin] = T(0);
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = begin; j < end; ++j) {
          const T v = x[r * cols + j];
          if (!(v > T(0))) local[j - begin] += dy[r * cols + j] * v;
        }
      for (std::int64_t j = begin; j < end; ++j)
        sums[j] = accumulate ? sums[j] + local[j - begin] : local[j - begin];
    }
  };

  /// out[0] (+)= sum of the n partial sums, in order.
  struct SumInto {
    const T* partial;
    T* out;
    std::int64_t n;
    bool accumulate;
    RECDIFF_HOST_DEVICE void operator()(std::int64_t) const {
      T s = T(0);
      for (std::int64_t j = 0; j < n; ++j) s += partial[j];
      out[0] = accumulate ? out[0] + s : s;
    }
  };

 private:
  static int checked(int num_slopes) {
    if (num_slopes < 1)
      throw std::invalid_argument("recdiff::nn::PRelu: num_slopes must be >= 1, got " +
                                  std::to_string(num_slopes));
    return num_slopes;
  }

  std::int64_t slope_stride() const noexcept { return num_slopes() > 1 ? 1 : 0; }

  Tensor<BackendType, T> m_weight;  // 1 x num_slopes
  double m_init;
  Matrix m_y, m_dx, m_partial;
  const Matrix* m_input = nullptr;
};

}  // namespace recdiff::nn
