#pragma once
/// @file
/// sinusoidal_embedding: DiffRec's step embedding (docs/algorithms/diffrec.md 3.2).

#include <span>
#include <stdexcept>
#include <string>

#include <recdiff/nn/kernels.hpp>

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

}  // namespace recdiff::nn
