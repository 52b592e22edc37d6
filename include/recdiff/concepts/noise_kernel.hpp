#pragma once
/// @file
/// NoiseKernel: what the diffusion core needs from a noise policy on a given backend.

#include <concepts>
#include <cstdint>
#include <span>

#include <recdiff/schedule/diffusion_tables.hpp>

namespace recdiff {

/// A noise policy N usable on backend B: stateless static functions templated on <B, T>, checked
/// here for T = float. `M` below is `B::Matrix<float>`; per-row coefficients are (rows x 1).
///
/// - `N::forward_coefficients<B, T>(ctx, tables, steps, coef_a, coef_b)` and
///   `N::posterior_coefficients<B, T>(ctx, tables, steps, coef1, coef2, noise_std)` read the double
///   tables at each row's step and cast to T;
/// - `N::q_sample<B, T>(ctx, x0, coef_a, coef_b, seed, step_counter, x_t, eps)` draws x_t from
///   q(x_k | x_0) and stores the noise;
/// - `N::posterior_mean<B, T>(ctx, x0_hat, x_t, coef1, coef2, out)` and
///   `N::reverse_step<B, T>(ctx, x0_hat, x_t, coef1, coef2, noise_std, seed, step_counter, out)`.
///
/// Laws the compiler cannot check: the noise is a pure function of (seed, step_counter, row,
/// column), so results do not depend on the thread count; for fixed x0, q_sample has mean coef_a x0
/// and variance coef_b^2 per element; posterior_mean is exactly the noise-free reverse_step.
template <class N, class B>
concept NoiseKernel = requires(const DiffusionTables& tables, std::span<const int> steps,
                               const typename B::Context& ctx,
                               const typename B::template Matrix<float>& in,
                               typename B::template Matrix<float>& out, std::uint64_t seed,
                               std::uint32_t step_counter) {
  { N::linear_posterior_mean } -> std::convertible_to<bool>;
  N::template forward_coefficients<B, float>(ctx, tables, steps, out, out);
  N::template posterior_coefficients<B, float>(ctx, tables, steps, out, out, out);
  N::template q_sample<B, float>(ctx, in, in, in, seed, step_counter, out, out);
  N::template posterior_mean<B, float>(ctx, in, in, in, in, out);
  N::template reverse_step<B, float>(ctx, in, in, in, in, in, seed, step_counter, out);
};

}  // namespace recdiff
