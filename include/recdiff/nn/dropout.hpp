#pragma once
/// @file
/// Dropout: inverted dropout with counter-based Philox masks (no mask is stored), as a Module.

#include <cstdint>
#include <stdexcept>
#include <string>

#include <recdiff/nn/kernels.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff::nn {

/// Inverted dropout: in a training pass, element (i, j) is zeroed with probability p and survivors
/// are scaled by 1 / (1 - p); otherwise (or with p = 0) the module returns its input unchanged.
///
/// The mask is a pure function of (pass.seed, Stream::dropout, pass.counter, row, column), so the
/// backward pass recomputes it instead of storing it, and the same pass reproduces the same mask on
/// any backend and thread count. Two dropout modules in one network see the same mask for the same
/// pass: give each its own `salt`, which offsets the counter.
/// @tparam BackendType a Backend; @tparam T the scalar type
template <class BackendType, class T>
class Dropout {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  /// @throws std::invalid_argument unless 0 <= p < 1
  explicit Dropout(double p = 0.0, std::uint32_t salt = 0) : m_p(p), m_salt(salt) {
    if (!(p >= 0.0 && p < 1.0))
      throw std::invalid_argument("recdiff::nn::Dropout: p must be in [0, 1), got " +
                                  std::to_string(p));
  }

  /// Drop probability.
  double p() const noexcept { return m_p; }

  /// dropout(x) in a training pass with p > 0, else x itself.
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& pass = {}) {
    m_active = pass.train && m_p > 0;
    if (!m_active) return x;
    m_seed = pass.seed;
    m_counter = pass.counter + m_salt;
    apply(ctx, x, m_y, m_seed, m_counter);
    return m_y;
  }

  /// dx = dy masked and scaled exactly as the last forward() did (dy itself when inactive).
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    if (!need_input_grad) return nullptr;
    if (!m_active) return &dy;
    apply(ctx, dy, m_dx, m_seed, m_counter);
    return &m_dx;
  }

  /// out = dropout(in) with the mask of (seed, counter) (out may alias in).
  void apply(const Context& ctx, const Matrix& in, Matrix& out, std::uint64_t seed,
             std::uint32_t counter) const {
    if (&out != &in) out.resize(in.rows(), in.cols());
    const auto p = static_cast<float>(m_p);
    const T scale = T(1) / (T(1) - static_cast<T>(m_p));
    BackendType::for_each(ctx, in.rows(), DropoutKernel<T>::groups(in.cols()),
                          DropoutKernel<T>{in.data(), out.data(), in.cols(), seed, counter, p, scale});
  }

  void collect_parameters(const std::string&, ParameterList<BackendType, T>&) {}
  std::size_t num_parameters() const noexcept { return 0; }

 private:
  double m_p;
  std::uint32_t m_salt;
  bool m_active = false;
  std::uint64_t m_seed = 0;
  std::uint32_t m_counter = 0;
  Matrix m_y, m_dx;
};

}  // namespace recdiff::nn
