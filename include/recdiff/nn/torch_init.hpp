#pragma once
/// @file
/// PyTorch's default initialisation of a linear layer, W and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
/// (torch.nn.Linear.reset_parameters), applied to any layer with weight() and bias(), through the
/// Philox fills of nn/init.hpp (the same numbers on every backend and at any thread count).
/// RecFusion's U-Nets initialise every layer this way; nn::Conv applies the same rule with
/// fan_in = in_channels x kernel size.

#include <cstdint>

#include <recdiff/nn/init.hpp>

namespace recdiff::nn {

/// Draws W (out x in) and b (1 x out) of `layer` from U(-1/sqrt(in), 1/sqrt(in)), Philox keys
/// weight_key(layer_index) and weight_key(layer_index) + 1 (nn/init.hpp).
template <class BackendType, class LayerType>
void torch_default_init(const typename BackendType::Context& ctx, LayerType& layer,
                        std::uint64_t seed, std::uint32_t layer_index) {
  const double bound = torch_default_bound(layer.weight().cols());
  fill_uniform<BackendType>(ctx, layer.weight(), bound, seed, weight_key(layer_index));
  fill_uniform<BackendType>(ctx, layer.bias(), bound, seed, weight_key(layer_index) + 1);
}

}  // namespace recdiff::nn
