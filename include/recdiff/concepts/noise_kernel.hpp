#pragma once
/// @file
/// NoiseKernel and its capabilities: what the diffusion core needs from a noise policy.

#include <concepts>
#include <cstdint>
#include <span>
#include <utility>

#include <recdiff/config.hpp>
#include <recdiff/noise/noise_draw.hpp>

namespace recdiff {

class GaussianTables;
class InteractionMatrix;

/// A noise policy N on backend B: a copyable value that owns its per-step tables (built from a
/// schedule at construction) and the arithmetic that reads them. Work buffers live in a
/// `N::Workspace<B, T>` that the caller keeps (one per batch shape, reused), because N itself is not
/// tied to a backend. Checked here for T = float; `M` is `B::Matrix<float>`, `steps` holds each
/// row's 0-based step k.
///
/// - `n.num_steps()`, `n.is_noiseless()` (a schedule without betas: x_k = x_0 in training, and the
///   reverse chain applies the denoiser T times);
/// - `n.q_sample<B, T>(ctx, x0, steps, draw, ws, x_t)`: draws x_t ~ q(x_k | x_0) row by row, keeping
///   in ws what the objective and the backward pass need (the Gaussian noise eps, the coefficients);
///   x_t may alias x0;
/// - `n.reverse_step<B, T>(ctx, x0_hat, x_t, steps, draw, sample, ws, out)`: x_{k-1} from the
///   posterior q(x_{k-1} | x_k, x_0 = x0_hat): its mean (or mode) when `sample` is false, a draw
///   keyed by `draw` when it is true; out may alias x_t.
///
/// Laws the compiler cannot check: every draw is a pure function of (draw, row key, column), so
/// results do not depend on the thread count or the backend; the moments of q_sample match the
/// kernel's closed-form marginal (Monte Carlo tests); reverse_step(sample = false) is the exact
/// posterior mean.
template <class N, class B>
concept NoiseKernel =
    std::copyable<N> &&
    requires {
      { N::name } -> std::convertible_to<const char*>;
      typename N::template Workspace<B, float>;
    } &&
    requires(const N& n, const typename B::Context& ctx, std::span<const int> steps,
             const typename B::template Matrix<float>& in, typename B::template Matrix<float>& out,
             const NoiseDraw& draw, bool sample, typename N::template Workspace<B, float>& ws) {
      { n.num_steps() } -> std::same_as<int>;
      { n.is_noiseless() } -> std::convertible_to<bool>;
      n.template q_sample<B, float>(ctx, in, steps, draw, ws, out);
      n.template reverse_step<B, float>(ctx, in, in, steps, draw, sample, ws, out);
    };

/// Capability: x_t is differentiable in x0, and `q_sample_backward<B, T>(ctx, ws, grad_x_t,
/// accumulate, grad_x0)` writes (or adds) d loss / d x0 through the last q_sample, so that an
/// encoder producing x0 (L-DiffRec) learns through the diffusion loss.
template <class N, class B>
concept DifferentiableNoise =
    NoiseKernel<N, B> &&
    requires(const N& n, const typename B::Context& ctx,
             const typename B::template Matrix<float>& in, typename B::template Matrix<float>& out,
             typename N::template Workspace<B, float>& ws, bool accumulate) {
      n.template q_sample_backward<B, float>(ctx, ws, in, accumulate, out);
    };

/// Capability: the kernel exposes the schedule's betas it was built from, as
/// `n.betas() -> std::span<const double>` (beta_0..beta_{T-1}; a kernel built from a noiseless
/// schedule may return an empty span or zeros, see its documentation). Gaussian and Bernoulli both
/// satisfy it, so code that needs only the betas (e.g. a composite's per-step loss weights) does
/// not depend on the kind of kernel.
template <class N>
concept BetaScheduleNoise = requires(const N& n) {
  { n.betas() } -> std::same_as<std::span<const double>>;
};

/// Capability: a kernel over binary states {0, 1} (noise/bernoulli.hpp), which objectives such as
/// BernoulliBce constrain on. `N::process_type` is the chain's tag (`process_type::one_way` true
/// when 0 is absorbing); `n.marginal(k, x0)` is P(x_k = 1 | x_0) and `n.posterior(k, x_t, x0)` is
/// q(x_{k-1} = 1 | x_k = x_t, x_0) for binary x_t and x0, both in closed form, in double. Such a
/// kernel is neither DifferentiableNoise (x_t is a draw of x0, not a smooth function of it) nor
/// GaussianNoise.
template <class N>
concept BernoulliNoise =
    BetaScheduleNoise<N> && requires(const N& n, int k, int x_t, int x0_bit, double x0) {
      typename N::process_type;
      { N::process_type::one_way } -> std::convertible_to<bool>;
      { n.marginal(k, x0) } -> std::same_as<double>;
      { n.posterior(k, x_t, x0_bit) } -> std::same_as<double>;
    };

/// Capability: every draw of x_t keeps a subset of x0's entries (the one-way Bernoulli process), and
/// `n.q_sample_sparse(x, users, steps, draw)` draws it directly as CSR rows (an InteractionMatrix
/// whose row b holds the survivors of user users[b]), with the draws of q_sample on the densified
/// rows. A denoiser that reads CSR rows can then train without densifying its input.
template <class N>
concept SparseNoise = requires(const N& n, const InteractionMatrix& x, std::span<const index_t> users,
                               std::span<const int> steps, const NoiseDraw& draw) {
  { n.q_sample_sparse(x, users, steps, draw) } -> std::same_as<InteractionMatrix>;
};

/// Capability: a Gaussian kernel with DDPM tables (snr, x0-from-eps and posterior coefficients),
/// whose posterior mean is linear, coef1_k x0_hat + coef2_k x_k. The Gaussian objectives need the
/// tables; the exact latent reverse chain needs the linearity.
template <class N>
concept GaussianNoise = requires(const N& n, int k) {
  { n.tables() } -> std::same_as<const GaussianTables&>;
  { n.posterior_mean_coefficients(k) } -> std::same_as<std::pair<double, double>>;
};

}  // namespace recdiff
