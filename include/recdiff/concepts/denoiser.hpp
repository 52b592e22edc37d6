#pragma once
/// @file
/// Denoiser and its optional capabilities: what the diffusion core calls on a denoising network.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/concepts/module.hpp>
#include <recdiff/config.hpp>

namespace recdiff {

class InteractionMatrix;

/// A network out = f(x, k) (B x items -> B x items): a Module whose forward pass reads the per-row
/// steps from pass.steps, plus `items()`.
///
/// Laws the compiler cannot check: those of Module (pure forward, exact accumulating backward,
/// fixed parameter order); with pass.train the randomness (dropout) is keyed by (pass.seed,
/// pass.counter) only.
template <class D, class B>
concept Denoiser = Module<D, B> && requires(const D& cd) {
  { cd.items() } -> std::convertible_to<int>;
};

/// Capability: the evaluation-mode forward pass runs directly on CSR rows,
/// forward_sparse(ctx, X, users, value, pass), equal to forward(train = false) on the densified rows
/// up to rounding, at a cost proportional to their stored entries. Diffusion uses it for the first
/// reverse step when the chain starts at the clean input; without it, the rows are densified.
template <class D, class B>
concept SparseInputDenoiser =
    Denoiser<D, B> &&
    requires(D& d, const typename B::Context& ctx, const InteractionMatrix& input,
             std::span<const index_t> users, const nn::Pass& pass) {
      {
        d.forward_sparse(ctx, input, users, UnitValue{}, pass)
      } -> std::same_as<const typename B::template Matrix<typename D::scalar_type>&>;
    };

/// Capability: a first layer linear in x and a linear readout, exposing what the exact latent
/// reverse chain needs (core/latent_chain.hpp): the transposed item block of the first layer, the
/// readout's weight and bias, and the network from the first layer's item product to the readout's
/// input.
template <class D, class B>
concept LatentChainDenoiser =
    Denoiser<D, B> &&
    requires(D& d, const D& cd, const typename B::Context& ctx,
             const typename B::template Matrix<typename D::scalar_type>& z, const nn::Pass& pass) {
      { cd.input_is_linear() } -> std::convertible_to<bool>;
      cd.first_weight_items_t();
      cd.last_layer().weight();
      cd.last_layer().bias();
      {
        d.hidden_from_item_product(ctx, z, pass)
      } -> std::same_as<const typename B::template Matrix<typename D::scalar_type>&>;
    };

}  // namespace recdiff
