#pragma once
/// @file
/// Objective and CompatibleObjective: what the diffusion core needs from a training objective, and
/// the rule that an objective must understand the noise kernel it is paired with.

#include <concepts>
#include <span>

#include <recdiff/concepts/noise_kernel.hpp>

namespace recdiff {

/// The part of an objective that does not depend on the noise kernel: `O::output_is_x0` (whether
/// the denoiser output is x0_hat itself, which the latent reverse chain relies on) and
/// `O::row_term_count` (columns of its per-row term matrix).
template <class O>
concept Objective = requires {
  { O::output_is_x0 } -> std::convertible_to<bool>;
  { O::row_term_count } -> std::convertible_to<int>;
  { O::name } -> std::convertible_to<const char*>;
};

/// An objective O usable with noise kernel N on backend B (checked for T = float; `M` is
/// `B::Matrix<float>`, `D` is `B::Matrix<double>`, `ws` the kernel's Workspace):
///
/// - `O::weight(n, k, reweight)` -> double: the per-step loss weight w_k;
/// - `O::row_terms<B>(ctx, n, steps, p, reweight, rows)`: the per-row terms D (B x row_term_count)
///   from the steps and the sampler's factors p_b (objective_detail::RowTerm's first columns);
/// - `O::loss_and_gradient<B, T>(ctx, n, ws, out, x0, x_t, rows, row_loss, grad)`: per-row losses
///   L_b = w_b l_b (D, B x 1; what the step sampler records) and grad = d loss / d out with
///   loss = (1/B) sum_b L_b / p_b;
/// - `O::x0_hat<B, T>(ctx, n, out, x_t, rows, x0_hat)`: the x0 prediction read off the output.
///
/// A pair that does not fit (an epsilon objective with a kernel that has no Gaussian tables) fails
/// here, with both types named in the one error. Laws: grad is the exact derivative of the loss
/// (finite differences in double); w_k > 0.
template <class O, class N, class B>
concept CompatibleObjective =
    Objective<O> && NoiseKernel<N, B> &&
    requires(const N& n, int k, bool reweight, std::span<const int> steps,
             std::span<const double> p, const typename B::Context& ctx,
             typename N::template Workspace<B, float>& ws,
             const typename B::template Matrix<float>& in, typename B::template Matrix<float>& out,
             const typename B::template Matrix<double>& rows_in,
             typename B::template Matrix<double>& rows_out) {
      { O::weight(n, k, reweight) } -> std::same_as<double>;
      O::template row_terms<B>(ctx, n, steps, p, reweight, rows_out);
      O::template loss_and_gradient<B, float>(ctx, n, ws, in, in, in, rows_in, rows_out, out);
      O::template x0_hat<B, float>(ctx, n, in, in, rows_in, out);
    };

/// Capability: the loss depends on x0 differentiably beyond the noise path (the x0 objective's
/// target), and `add_target_gradient<B, T>(ctx, grad_out, grad_x0)` adds d loss / d x0 through the
/// target to grad_x0 (already holding the noise path's share).
template <class O, class B>
concept TargetDifferentiableObjective =
    requires(const typename B::Context& ctx, const typename B::template Matrix<float>& in,
             typename B::template Matrix<float>& out) {
      O::template add_target_gradient<B, float>(ctx, in, out);
    };

}  // namespace recdiff
