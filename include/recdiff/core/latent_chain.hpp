#pragma once
/// @file
/// LatentReverseChain: DiffRec's reverse chain computed exactly in the denoiser's first hidden space
/// (docs/architecture.md, "Diffusion as a part others can own").
///
/// With T' = 0, no sampling noise and an x0-predicting network whose first layer is linear in x and
/// whose readout is linear (out = h W_L^T + b_L), every iterate of the chain is
///   X = alpha x0 + G W_L^T + beta b_L            (G: B x h_L, alpha and beta scalars)
/// and the next step's first-layer item product z = X W1_items is
///   z' = c1 (h M + v) + c2 z,  with M = W_L^T W1_items (h_L x h1) and v = b_L W1_items,
/// both computed once per chain. The T denoiser passes then cost B (h_L h1 + hidden) each instead of
/// B (2 I h1 + hidden), and the I-dimensional scores are formed once at the end. The result equals
/// the plain chain up to float rounding (tested against it).

#include <cstdint>
#include <span>
#include <vector>

#include <recdiff/backend/op.hpp>
#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff {

namespace latent_detail {

// y[r, c] = a * y[r, c] + b * v[c]: adds a scaled row vector to every row of a scaled matrix.
template <class T>
struct ScaleAddRow {
  T* y;
  const T* v;
  std::int64_t cols;
  T a;
  T b;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t c) const {
    T& e = y[r * cols + c];
    e = a * e + b * v[c];
  }
};

// y[r, c] = a * y[r, c] + b * x[r, c].
template <class T>
struct Axpby {
  T* y;
  const T* x;
  std::int64_t cols;
  T a;
  T b;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t c) const {
    T& e = y[r * cols + c];
    e = a * e + b * x[r * cols + c];
  }
};

}  // namespace latent_detail

/// The exact latent-space reverse chain for a LatentChainDenoiser (Mlp) under a GaussianNoise
/// kernel, whose posterior mean coefficients it reads.
template <class BackendType, class DenoiserType>
class LatentReverseChain {
 public:
  using T = typename DenoiserType::scalar_type;
  using Matrix = typename BackendType::template Matrix<T>;
  using Context = typename BackendType::Context;

  /// Runs the chain k = T-1..0 from the users' rows of `input` (entries valued by
  /// `value(position, length)`) and
  /// writes the final iterate (B x I) to `out`. The denoiser's weights are read as they are now.
  template <class NoiseType, class ValueFn>
  void run(const Context& ctx, DenoiserType& net, const NoiseType& noise,
           const InteractionMatrix& input, std::span<const index_t> users, ValueFn value,
           Matrix& out) {
    const auto& w1t = net.first_weight_items_t();  // I x h1
    m_z.resize(static_cast<std::int64_t>(users.size()), w1t.cols());
    BackendType::sparse_times(ctx, input, users, value, w1t, T(0), m_z);
    chain(ctx, net, noise, out, [&](Matrix& x0) { BackendType::densify(ctx, input, users, x0, value); });
  }

  /// The same chain from dense rows x0 (B x I, e.g. latent vectors).
  template <class NoiseType>
  void run_dense(const Context& ctx, DenoiserType& net, const NoiseType& noise, const Matrix& x0,
                 Matrix& out) {
    const auto& w1t = net.first_weight_items_t();
    m_z.resize(x0.rows(), w1t.cols());
    BackendType::gemm(ctx, T(1), x0, Op::none, w1t, Op::none, T(0), m_z);
    chain(ctx, net, noise, out, [&](Matrix& copy) { copy = x0; });
  }

 private:
  // The chain from m_z = x0 W1_items; start(m) writes x0 into m when its share alpha is not 0.
  template <class NoiseType, class Start>
  void chain(const Context& ctx, DenoiserType& net, const NoiseType& noise, Matrix& out, Start start) {
    const auto& w1t = net.first_weight_items_t();  // I x h1
    const auto& last = net.last_layer();           // h_L -> I
    const std::int64_t rows = m_z.rows();
    // M = W_L^T W1_items and v = b_L W1_items, once per chain.
    m_m.resize(last.weight().cols(), w1t.cols());
    BackendType::gemm(ctx, T(1), last.weight(), Op::transpose, w1t, Op::none, T(0), m_m);
    m_v.resize(1, w1t.cols());
    BackendType::gemm(ctx, T(1), last.bias(), Op::none, w1t, Op::none, T(0), m_v);
    m_g.setZero(rows, last.weight().cols());
    double alpha = 1.0, beta = 0.0;
    for (int k = noise.num_steps() - 1; k >= 0; --k) {
      m_steps.assign(static_cast<std::size_t>(rows), k);
      const Matrix& h = net.hidden_from_item_product(ctx, m_z, nn::Pass{false, 0, 0, m_steps});
      // The plain chain applies the coefficients as T values; do the same.
      const auto [coef1, coef2] = noise.posterior_mean_coefficients(k);
      const T c1 = static_cast<T>(coef1);
      const T c2 = static_cast<T>(coef2);
      if (k > 0) {
        // z <- c2 z + c1 (h M + v)
        BackendType::gemm(ctx, c1, h, Op::none, m_m, Op::none, c2, m_z);
        BackendType::for_each(ctx, rows, m_z.cols(),
                              latent_detail::ScaleAddRow<T>{m_z.data(), m_v.data(), m_z.cols(),
                                                            T(1), c1});
      }
      // G <- c2 G + c1 h
      BackendType::for_each(ctx, rows, m_g.cols(),
                            latent_detail::Axpby<T>{m_g.data(), h.data(), m_g.cols(), c2, c1});
      alpha *= static_cast<double>(c2);
      beta = static_cast<double>(c1) + static_cast<double>(c2) * beta;
    }
    // X = G W_L^T + beta b_L + alpha x0
    out.resize(rows, last.weight().rows());
    BackendType::gemm(ctx, T(1), m_g, Op::none, last.weight(), Op::transpose, T(0), out);
    BackendType::for_each(ctx, rows, out.cols(),
                          latent_detail::ScaleAddRow<T>{out.data(), last.bias().data(), out.cols(),
                                                        T(1), static_cast<T>(beta)});
    if (alpha != 0.0) {
      // The (rarely non-zero) share of the start point: add alpha x0.
      start(m_x0);
      BackendType::for_each(ctx, rows, out.cols(),
                            latent_detail::Axpby<T>{out.data(), m_x0.data(), out.cols(), T(1),
                                                    static_cast<T>(alpha)});
    }
  }

  Matrix m_m, m_v, m_z, m_g, m_x0;
  std::vector<int> m_steps;
};

}  // namespace recdiff
