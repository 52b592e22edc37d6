#pragma once
/// @file
/// StepOffset: y = x + e_k, a learned item-space offset per diffusion step (RecFusionT's time
/// embedding).

#include <cmath>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

#include <recdiff/config.hpp>
#include <recdiff/nn/kernels.hpp>
#include <recdiff/nn/linear.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff::nn {

/// RecFusion's step features (Bénédict et al. 2023, Sec. 2.3.1; docs/models.md): for a 0-based step
/// k and half = dim / 2, feature j < half is sin(k w_j) and feature half + j is cos(k w_j), with
/// w_j = exp(-j ln(10000) / (half - 1)). (DiffRec's embedding orders cos before sin and divides by
/// half; the two are different functions, so each model keeps its own.)
template <class T>
struct RecFusionStepFeatures {
  const int* steps;
  T* out;
  std::int64_t dim;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t j) const {
    const std::int64_t half = dim / 2;
    const std::int64_t f = j < half ? j : j - half;
    const double w = half > 1 ? std::exp(-static_cast<double>(f) * std::log(10000.0) /
                                         static_cast<double>(half - 1))
                              : 1.0;
    const double arg = static_cast<double>(steps[i]) * w;
    out[i * dim + j] = static_cast<T>(j < half ? std::sin(arg) : std::cos(arg));
  }
};

/// y = x + Linear(dim, width)(features(k_b)) for the per-row steps of the pass (RecFusionT adds it
/// to the denoiser's input, "f(x + Z_t)" in the paper, or to its output, as the released code does
/// by default). A Module; the input gradient is dy itself.
///
/// Parameters: prefix + "weight" (width x dim), prefix + "bias" (1 x width).
/// @tparam BackendType a Backend; @tparam T the scalar type
template <class BackendType, class T>
class StepOffset {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  /// RecFusion's feature size.
  static constexpr int default_dim = 128;

  StepOffset() = default;
  /// Offsets of `width` columns from `dim` (even, >= 2) step features.
  /// @throws std::invalid_argument for width < 1 or a bad dim
  explicit StepOffset(int width, int dim = default_dim) : m_layer(checked(dim), checked_width(width)) {}

  /// Output width.
  int width() const noexcept { return m_layer.out_features(); }
  /// Number of step features.
  int dim() const noexcept { return m_layer.in_features(); }
  /// The linear map of the features.
  Linear<BackendType, T>& layer() noexcept { return m_layer; }

  /// x + e_k row by row (x: B x width, pass.steps: one 0-based step per row).
  /// @throws std::invalid_argument on a width mismatch or a missing / negative step
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& pass) {
    if (x.cols() != width())
      throw std::invalid_argument("recdiff::nn::StepOffset::forward: input has " +
                                  std::to_string(x.cols()) + " columns, expected " +
                                  std::to_string(width()));
    if (static_cast<std::int64_t>(pass.steps.size()) != x.rows())
      throw std::invalid_argument("recdiff::nn::StepOffset::forward: " +
                                  std::to_string(pass.steps.size()) + " steps for " +
                                  std::to_string(x.rows()) + " rows, expected one step per row");
    for (const int k : pass.steps)
      if (k < 0)
        throw std::invalid_argument("recdiff::nn::StepOffset::forward: steps are 0-based, got " +
                                    std::to_string(k));
    BackendType::upload(ctx, pass.steps, x.rows(), 1, m_steps);
    m_features.resize(x.rows(), dim());
    BackendType::for_each(ctx, x.rows(), dim(),
                          RecFusionStepFeatures<T>{m_steps.data(), m_features.data(), dim()});
    const Matrix& e = m_layer.forward(ctx, m_features);
    m_y.resize(x.rows(), x.cols());
    BackendType::for_each(ctx, x.rows(), x.cols(),
                          AddKernel<T>{x.data(), e.data(), m_y.data(), x.cols()});
    return m_y;
  }

  /// Accumulates the layer's gradients; dx = dy.
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    m_layer.backward(ctx, dy, false);
    return need_input_grad ? &dy : nullptr;
  }

  /// Appends prefix + "weight", prefix + "bias".
  void collect_parameters(const std::string& prefix, ParameterList<BackendType, T>& out) {
    m_layer.collect_parameters(prefix, out);
  }
  /// Number of scalars.
  std::size_t num_parameters() const noexcept { return m_layer.num_parameters(); }

 private:
  static int checked(int dim) {
    if (dim < 2 || dim % 2 != 0)
      throw std::invalid_argument("recdiff::nn::StepOffset: dim must be even and >= 2, got " +
                                  std::to_string(dim));
    return dim;
  }
  static int checked_width(int width) {
    if (width < 1)
      throw std::invalid_argument("recdiff::nn::StepOffset: width must be >= 1, got " +
                                  std::to_string(width));
    return width;
  }

  Linear<BackendType, T> m_layer;
  Matrix m_features, m_y;
  typename BackendType::template Matrix<int> m_steps;
};

}  // namespace recdiff::nn
