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
/// out is resized only when its shape differs.
/// @throws std::invalid_argument unless dim >= 2
template <class BackendType, class MatrixType>
void sinusoidal_embedding(const typename BackendType::Context& ctx, std::span<const int> steps,
                          int dim, MatrixType& out) {
  if (dim < 2)
    throw std::invalid_argument("recdiff::nn::sinusoidal_embedding: dim must be >= 2, got " +
                                std::to_string(dim));
  using T = typename MatrixType::Scalar;
  out.resize(static_cast<std::int64_t>(steps.size()), dim);
  BackendType::for_each(ctx, out.rows(), dim, SinusoidalEmbedding<T>{steps.data(), out.data(), dim});
}

}  // namespace recdiff::nn
