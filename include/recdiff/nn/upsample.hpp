#pragma once
/// @file
/// UpsampleNearest: nearest-neighbour upsampling by 2 along every spatial axis
/// (torch.nn.Upsample(scale_factor = 2, mode = "nearest")) of feature maps laid out as in
/// nn/feature_map.hpp, as a Module; the U-Nets' decoder uses it.

#include <cstdint>
#include <stdexcept>
#include <string>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff::nn {

/// y(r', w') = x(r' / 2, w' / 2) (integer division) for the lines of the maps: every line of
/// `width` positions becomes 2 width positions and, for images, every line is emitted twice
/// (`rows_too`). Over output lines r' and output columns w'.
template <class T>
struct UpsampleForward {
  const T* x;
  T* y;
  std::int64_t width;  ///< positions per input line
  bool rows_too;       ///< 2-D: double the lines as well
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t w) const {
    const std::int64_t src = rows_too ? r / 2 : r;
    y[r * 2 * width + w] = x[src * width + w / 2];
  }
};

/// dx(r, w) = the sum of dy over the 2 (1-D) or 2 x 2 (2-D) output positions copied from (r, w).
template <class T>
struct UpsampleBackward {
  const T* dy;
  T* dx;
  std::int64_t width;  ///< positions per input line
  bool rows_too;       ///< 2-D
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t w) const {
    const std::int64_t out_width = 2 * width;
    if (rows_too) {
      const T* a = dy + (2 * r) * out_width + 2 * w;
      const T* b = a + out_width;
      dx[r * width + w] = (a[0] + a[1]) + (b[0] + b[1]);
    } else {
      const T* a = dy + r * out_width + 2 * w;
      dx[r * width + w] = a[0] + a[1];
    }
  }
};

/// Nearest-neighbour x2 upsampling of every spatial axis:
///   Dims = 1: (N, C, L) stored N x (C L) -> (N, C, 2L) stored N x (2 C L): y(n, c, l') =
///             x(n, c, l' / 2) (the channel count is not needed: each element is repeated twice);
///   Dims = 2: (N, C, H, W) stored N x (C H W), W given at construction -> (N, C, 2H, 2W):
///             y(n, c, h', w') = x(n, c, h' / 2, w' / 2).
/// Backward adds the gradients of the copies. No parameters.
/// @tparam BackendType a Backend; @tparam T the scalar type; @tparam Dims 1 or 2
template <class BackendType, class T, int Dims>
class UpsampleNearest {
  static_assert(Dims == 1 || Dims == 2, "recdiff::nn::UpsampleNearest: Dims must be 1 or 2");

 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  /// The 1-D upsampler.
  UpsampleNearest()
    requires(Dims == 1)
  = default;

  /// The 2-D upsampler of images `width` positions wide.
  /// @throws std::invalid_argument unless width >= 1
  explicit UpsampleNearest(int width)
    requires(Dims == 2)
      : m_width(width) {
    if (width < 1)
      throw std::invalid_argument("recdiff::nn::UpsampleNearest: width must be >= 1, got " +
                                  std::to_string(width));
  }

  /// Input width W (Dims = 2; 0 for Dims = 1).
  int width() const noexcept { return m_width; }

  /// y = upsample(x) (N x 2^Dims x.cols()), kept in the module.
  /// @throws std::invalid_argument when a 2-D input's width is not a multiple of W
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& = {}) {
    std::int64_t lines = x.rows(), line = x.cols();
    if constexpr (Dims == 2) {
      if (x.cols() <= 0 || x.cols() % m_width != 0)
        throw std::invalid_argument("recdiff::nn::UpsampleNearest::forward: input has " +
                                    std::to_string(x.cols()) +
                                    " columns, expected a positive multiple of width = " +
                                    std::to_string(m_width));
      line = m_width;
      lines = x.rows() * (x.cols() / m_width);
    }
    m_rows = x.rows();
    m_cols = x.cols();
    m_y.resize(x.rows(), x.cols() * (Dims == 2 ? 4 : 2));
    BackendType::for_each(ctx, lines * (Dims == 2 ? 2 : 1), 2 * line,
                          UpsampleForward<T>{x.data(), m_y.data(), line, Dims == 2});
    m_forward_done = true;
    return m_y;
  }

  /// dx (the input's shape) = the sum of dy over each element's copies, when asked.
  /// @throws std::logic_error without a forward(); std::invalid_argument on a shape mismatch
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    if (!need_input_grad) return nullptr;
    if (!m_forward_done)
      throw std::logic_error(
          "recdiff::nn::UpsampleNearest::backward: no forward() pass to differentiate");
    if (dy.rows() != m_y.rows() || dy.cols() != m_y.cols())
      throw std::invalid_argument("recdiff::nn::UpsampleNearest::backward: dy is " +
                                  std::to_string(dy.rows()) + "x" + std::to_string(dy.cols()) +
                                  ", expected the output's " + std::to_string(m_y.rows()) + "x" +
                                  std::to_string(m_y.cols()));
    const std::int64_t line = Dims == 2 ? m_width : m_cols;
    const std::int64_t lines = Dims == 2 ? m_rows * (m_cols / m_width) : m_rows;
    m_dx.resize(m_rows, m_cols);
    BackendType::for_each(ctx, lines, line,
                          UpsampleBackward<T>{dy.data(), m_dx.data(), line, Dims == 2});
    return &m_dx;
  }

  void collect_parameters(const std::string&, ParameterList<BackendType, T>&) {}
  std::size_t num_parameters() const noexcept { return 0; }

 private:
  int m_width = 0;
  std::int64_t m_rows = 0, m_cols = 0;
  Matrix m_y, m_dx;
  bool m_forward_done = false;
};

}  // namespace recdiff::nn
