#pragma once
/// @file
/// Objective: what the diffusion core needs from a training objective on a given backend.

#include <concepts>
#include <span>

#include <recdiff/schedule/diffusion_tables.hpp>

namespace recdiff {

/// A training objective O usable on backend B: stateless static functions, checked here for
/// T = float. `M` is `B::Matrix<float>`, `D` is `B::Matrix<double>`.
///
/// - `O::output_is_x0`: whether the denoiser output is x0_hat itself;
/// - `O::weight(tables, k, reweight)` -> double: the per-step loss weight w_k;
/// - `O::row_terms<B>(ctx, tables, steps, p, reweight, rows)`: fills the per-row terms D (B x
///   RowTerm::count) from the steps and the sampler's factors p_b;
/// - `O::loss_and_gradient<B, T>(ctx, out, x0, x_t, eps, rows, row_loss, grad)`: the per-row losses
///   L_b = w_b l_b (D, B x 1; what the step sampler records) and grad = d loss / d out with
///   loss = (1/B) sum_b L_b / p_b;
/// - `O::x0_hat<B, T>(ctx, out, x_t, rows, x0_hat)`: the x0 prediction read off the output.
///
/// Laws the compiler cannot check: grad is the exact derivative of the loss above (verified by
/// finite differences in double); w_k > 0; the kernels read each element once.
template <class O, class B>
concept Objective = requires(const DiffusionTables& tables, int k, bool reweight,
                             std::span<const int> steps, std::span<const double> p,
                             const typename B::Context& ctx,
                             const typename B::template Matrix<float>& in,
                             typename B::template Matrix<float>& out,
                             const typename B::template Matrix<double>& rows_in,
                             typename B::template Matrix<double>& rows_out) {
  { O::output_is_x0 } -> std::convertible_to<bool>;
  { O::weight(tables, k, reweight) } -> std::same_as<double>;
  O::template row_terms<B>(ctx, tables, steps, p, reweight, rows_out);
  O::template loss_and_gradient<B, float>(ctx, in, in, in, in, rows_in, rows_out, out);
  O::template x0_hat<B, float>(ctx, in, in, rows_in, out);
};

}  // namespace recdiff
