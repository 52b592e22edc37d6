#pragma once
/// @file
/// sinusoidal_embedding and StepEmbedding: DiffRec's step embedding (Wang et al., SIGIR 2023,
/// section 3.2 of docs/models.md's DiffRec notes: sinusoidal features, then a linear layer).

#include <span>
#include <stdexcept>
#include <string>

#include <recdiff/nn/kernels.hpp>
#include <recdiff/nn/linear.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff::nn {

/// out (B x dim) = the sinusoidal embedding of the 0-based steps (B entries): cosines of
/// k * freq_j in the first dim / 2 columns, sines in the next dim / 2, a zero column when dim is odd,
/// with freq_j = exp(-ln(10000) j / (dim / 2)), all in float32 as in the reference code.
/// The host step indices are uploaded into `steps_buffer` (backend storage, reused across calls).
/// out is resized only when its shape differs.
/// @throws std::invalid_argument unless dim >= 2
template <class BackendType, class MatrixType>
void sinusoidal_embedding(const typename BackendType::Context& ctx, std::span<const int> steps,
                          int dim, MatrixType& out,
                          typename BackendType::template Matrix<int>& steps_buffer) {
  if (dim < 2)
    throw std::invalid_argument("recdiff::nn::sinusoidal_embedding: dim must be >= 2, got " +
                                std::to_string(dim));
  using T = typename MatrixType::Scalar;
  const auto rows = static_cast<std::int64_t>(steps.size());
  BackendType::upload(ctx, steps, rows, 1, steps_buffer);
  out.resize(rows, dim);
  BackendType::for_each(ctx, rows, dim,
                        SinusoidalEmbedding<T>{steps_buffer.data(), out.data(), dim});
}

/// sinusoidal_embedding() with a temporary steps buffer.
template <class BackendType, class MatrixType>
void sinusoidal_embedding(const typename BackendType::Context& ctx, std::span<const int> steps,
                          int dim, MatrixType& out) {
  typename BackendType::template Matrix<int> steps_buffer;
  sinusoidal_embedding<BackendType>(ctx, steps, dim, out, steps_buffer);
}

/// emb = sinusoidal(k) W^T + b (B x E, no activation) for the per-row steps of the pass, as a
/// Module. Its input x only fixes the row count: the output does not depend on x, so its input
/// gradient is zero. Parameters: prefix + "weight" (E x E), prefix + "bias".
/// @tparam BackendType a Backend; @tparam T the scalar type
template <class BackendType, class T>
class StepEmbedding {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  StepEmbedding() = default;
  /// An embedding of size `dim` (>= 2).
  /// @throws std::invalid_argument unless dim >= 2
  explicit StepEmbedding(int dim) : m_layer(checked(dim), dim) {}

  /// E.
  int dim() const noexcept { return m_layer.in_features(); }
  /// The linear layer after the sinusoidal features.
  Linear<BackendType, T>& layer() noexcept { return m_layer; }
  const Linear<BackendType, T>& layer() const noexcept { return m_layer; }

  /// Draws the layer's parameters (Linear::initialize).
  void initialize(const Context& ctx, Init init, std::uint64_t seed, std::uint32_t layer_index) {
    m_layer.initialize(ctx, init, seed, layer_index);
  }

  /// The embedding of pass.steps (one step per row of x).
  /// @throws std::invalid_argument when pass.steps does not hold one step per row
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& pass) {
    m_input_cols = x.cols();
    return embed(ctx, pass.steps, x.rows());
  }

  /// The embedding of `steps` (rows = steps.size()).
  const Matrix& embed(const Context& ctx, std::span<const int> steps, std::int64_t rows) {
    if (static_cast<std::int64_t>(steps.size()) != rows)
      throw std::invalid_argument("recdiff::nn::StepEmbedding: " + std::to_string(steps.size()) +
                                  " steps for " + std::to_string(rows) +
                                  " rows, expected one step per row");
    for (const int k : steps)
      if (k < 0)
        throw std::invalid_argument(
            "recdiff::nn::StepEmbedding: step indices are 0-based, got " + std::to_string(k));
    sinusoidal_embedding<BackendType>(ctx, steps, dim(), m_te, m_steps_buffer);
    return m_layer.forward(ctx, m_te);
  }

  /// Accumulates the layer's gradients; the input gradient (when asked) is zero.
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    m_layer.backward(ctx, dy, false);
    if (!need_input_grad) return nullptr;
    m_dx.setZero(dy.rows(), m_input_cols);
    return &m_dx;
  }

  void collect_parameters(const std::string& prefix, ParameterList<BackendType, T>& out) {
    m_layer.collect_parameters(prefix, out);
  }
  std::size_t num_parameters() const noexcept { return m_layer.num_parameters(); }

 private:
  static int checked(int dim) {
    if (dim < 2)
      throw std::invalid_argument("recdiff::nn::StepEmbedding: dim must be >= 2, got " +
                                  std::to_string(dim));
    return dim;
  }

  Linear<BackendType, T> m_layer;
  Matrix m_te, m_dx;
  std::int64_t m_input_cols = 0;  // width of the last forward()'s x
  typename BackendType::template Matrix<int> m_steps_buffer;
};

}  // namespace recdiff::nn
