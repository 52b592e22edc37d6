#pragma once
/// @file
/// Denoiser and SparseInputDenoiser: what the diffusion core needs from a denoising network.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <ranges>
#include <span>

#include <recdiff/config.hpp>

namespace recdiff {

class InteractionMatrix;

/// A network out = f(x, k) (B x items -> B x items) with a hand-written backward pass.
///
/// Laws the compiler cannot check:
/// - forward(ctx, x, steps, train, seed, counter, out) is a pure function of its arguments and the
///   parameters: same inputs, same bits, at any thread count of ctx; with train = true the
///   randomness (dropout) is keyed by (seed, counter) only.
/// - backward(ctx, grad_out) OVERWRITES the gradient of every tensor in parameters() with
///   d(sum(out .* grad_out))/dtheta for the last forward() (finite-difference consistent).
/// - parameters() lists the same tensors in the same order on every call; num_parameters() is the
///   total number of scalars in them.
/// @tparam D the denoiser; D::scalar_type is its scalar type
/// @tparam BackendType the backend whose Context and Matrix<T> it works on
template <class D, class BackendType>
concept Denoiser =
    requires { typename D::scalar_type; } &&
    requires(D& d, const D& cd, const typename BackendType::Context& ctx,
             const typename BackendType::template Matrix<typename D::scalar_type>& x,
             typename BackendType::template Matrix<typename D::scalar_type>& out,
             std::span<const int> steps, bool train, std::uint64_t seed, std::uint32_t counter) {
      { cd.items() } -> std::convertible_to<int>;
      { d.forward(ctx, x, steps, train, seed, counter, out) } -> std::same_as<void>;
      { d.backward(ctx, x) } -> std::same_as<void>;
      { d.parameters() } -> std::ranges::range;
      { cd.num_parameters() } -> std::convertible_to<std::size_t>;
    };

/// A Denoiser that can also run its evaluation-mode forward pass directly on CSR rows (binary
/// values): forward_sparse(ctx, X, users, steps, out) equals forward(train = false) on the densified
/// rows up to rounding, at a cost proportional to their stored entries (DESIGN.md, speed item 2).
template <class D, class BackendType>
concept SparseInputDenoiser =
    Denoiser<D, BackendType> &&
    requires(D& d, const typename BackendType::Context& ctx, const InteractionMatrix& input,
             std::span<const index_t> users, std::span<const int> steps,
             typename BackendType::template Matrix<typename D::scalar_type>& out) {
      { d.forward_sparse(ctx, input, users, steps, out) } -> std::same_as<void>;
    };

}  // namespace recdiff
