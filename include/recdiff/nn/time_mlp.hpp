#pragma once
/// @file
/// TimeMlp: the step embedding of RecFusion's U-Nets (Bénédict et al. 2023; docs/models.md):
/// sinusoidal features of width 4, Linear(4, 4), GELU, Linear(4, 4).

#include <cmath>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/nn/activation.hpp>
#include <recdiff/nn/linear.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>
#include <recdiff/nn/sequence.hpp>
#include <recdiff/nn/torch_init.hpp>

namespace recdiff::nn {

/// Row i of the U-Nets' sinusoidal step features, t = steps[i]: [sin t, sin(1e-4 t), cos t,
/// cos(1e-4 t)] (frequencies exp(-j ln(10000)) for j = 0, 1), computed in T.
template <class T>
struct TimeFeatures {
  const int* steps;  ///< one 0-based step per row
  T* out;            ///< rows x 4
  RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t j) const {
    const T t = static_cast<T>(steps[i]);
    const T arg = (j % 2 == 0) ? t : t * T(1e-4);
    out[i * 4 + j] = j < 2 ? std::sin(arg) : std::cos(arg);
  }
};

/// temb = Linear(4, 4)(GELU(Linear(4, 4)(features(k)))) for the per-row steps k of the pass,
/// features as TimeFeatures, as a Module. Its input x only fixes the row count (the output does
/// not depend on x, so its input gradient is zero); embed() takes the steps directly (the 2-D U-Net
/// embeds one step for its one image).
///
/// Parameters: prefix + "1.weight", "1.bias" (first linear layer), prefix + "3.weight", "3.bias"
/// (second), the positions in the reference code's Sequential (sinusoidal features, Linear, GELU,
/// Linear). initialize() draws them from PyTorch's default (nn/torch_init.hpp).
/// @tparam BackendType a Backend; @tparam T the scalar type
template <class BackendType, class T>
class TimeMlp {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context
  /// The layers after the sinusoidal features.
  using Network = Sequence<Linear<BackendType, T>, Activation<BackendType, T, Gelu>,
                           Linear<BackendType, T>>;

  /// Width of the features and of the embedding.
  static constexpr int width = 4;

  /// The two 4 x 4 layers with zero parameters; call initialize().
  TimeMlp()
      : m_net(Linear<BackendType, T>(width, width), Activation<BackendType, T, Gelu>(),
              Linear<BackendType, T>(width, width)) {}

  /// Draws both layers from PyTorch's default, Philox layer indices first_layer and first_layer + 1.
  void initialize(const Context& ctx, std::uint64_t seed, std::uint32_t first_layer) {
    torch_default_init<BackendType>(ctx, m_net.template get<0>(), seed, first_layer);
    torch_default_init<BackendType>(ctx, m_net.template get<2>(), seed, first_layer + 1);
  }

  /// The layers.
  Network& network() noexcept { return m_net; }
  const Network& network() const noexcept { return m_net; }
  /// The sinusoidal features of the last pass (rows x 4).
  const Matrix& features() const noexcept { return m_features; }

  /// The embedding of pass.steps (one step per row of x), rows x 4.
  /// @throws std::invalid_argument when pass.steps does not hold one non-negative step per row
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& pass) {
    const Matrix& out = embed(ctx, pass.steps, x.rows());
    m_input_cols = x.cols();
    return out;
  }

  /// The embedding of `steps` (rows = steps.size()).
  /// @throws std::invalid_argument when steps.size() != rows or a step is negative
  const Matrix& embed(const Context& ctx, std::span<const int> steps, std::int64_t rows) {
    if (static_cast<std::int64_t>(steps.size()) != rows)
      throw std::invalid_argument("recdiff::nn::TimeMlp: " + std::to_string(steps.size()) +
                                  " steps for " + std::to_string(rows) +
                                  " rows, expected one step per row");
    for (const int k : steps)
      if (k < 0)
        throw std::invalid_argument("recdiff::nn::TimeMlp: step indices are 0-based, got " +
                                    std::to_string(k));
    BackendType::upload(ctx, steps, rows, 1, m_steps);
    m_features.resize(rows, width);
    BackendType::for_each(ctx, rows, width, TimeFeatures<T>{m_steps.data(), m_features.data()});
    m_input_cols = 0;
    return m_net.forward(ctx, m_features, Pass{});
  }

  /// Accumulates the layers' gradients for dy = dLoss/dtemb; the input gradient (when asked) is
  /// zero, of the last forward()'s input shape.
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    m_net.backward(ctx, dy, false);
    if (!need_input_grad) return nullptr;
    m_dx.setZero(dy.rows(), m_input_cols);
    return &m_dx;
  }

  /// Appends the first layer under prefix + "1." and the second under prefix + "3.".
  void collect_parameters(const std::string& prefix, ParameterList<BackendType, T>& out) {
    m_net.template get<0>().collect_parameters(prefix + "1.", out);
    m_net.template get<2>().collect_parameters(prefix + "3.", out);
  }
  /// 2 (4 x 4 + 4) = 40.
  std::size_t num_parameters() const noexcept { return m_net.num_parameters(); }

 private:
  Network m_net;
  Matrix m_features, m_dx;
  std::int64_t m_input_cols = 0;
  typename BackendType::template Matrix<int> m_steps;
};

}  // namespace recdiff::nn
