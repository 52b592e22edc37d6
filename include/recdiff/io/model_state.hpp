#pragma once
/// @file
/// Saving and loading a model's components by name: parameter lists, and any component with
/// save_state / stage_state (optimisers, step samplers). Loading stages every component first and
/// installs them only when all were read, so a bad file never leaves a model half loaded.

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <recdiff/io/checkpoint.hpp>
#include <recdiff/nn/parameter.hpp>

namespace recdiff {

/// Actions that install staged state; run by commit() once everything is staged.
using StagedLoad = std::vector<std::function<void()>>;

/// Writes every parameter's value as a tensor named prefix + parameter name.
template <class BackendType, class T>
void save_parameters(const typename BackendType::Context& ctx, CheckpointWriter& writer,
                     const nn::ParameterList<BackendType, T>& params, const std::string& prefix) {
  std::vector<T> host;
  for (const auto& p : params) {
    const auto& m = p.value();
    host.resize(static_cast<std::size_t>(m.rows() * m.cols()));
    BackendType::download(ctx, m, std::span<T>(host));
    writer.add_tensor(prefix + p.name, static_cast<std::uint64_t>(m.rows()),
                      static_cast<std::uint64_t>(m.cols()), host.data());
  }
}

/// Reads (and checks the shape of) every parameter written by save_parameters without touching the
/// model, and returns the action that uploads them. Throws IoError naming the first missing or
/// mis-shaped tensor.
template <class BackendType, class T>
std::function<void()> stage_parameters(const typename BackendType::Context& ctx,
                                       const CheckpointReader& reader,
                                       const nn::ParameterList<BackendType, T>& params,
                                       const std::string& prefix) {
  std::vector<std::vector<T>> values;
  values.reserve(params.size());
  for (const auto& p : params)
    values.push_back(reader.tensor<T>(prefix + p.name, static_cast<std::uint64_t>(p.value().rows()),
                                      static_cast<std::uint64_t>(p.value().cols())));
  return [&ctx, params, values = std::move(values)] {
    for (std::size_t i = 0; i < params.size(); ++i) {
      auto& m = params[i].value();
      BackendType::upload(ctx, std::span<const T>(values[i]), m.rows(), m.cols(), m);
    }
  };
}

/// Runs every staged action, in order.
inline void commit(StagedLoad& staged) {
  for (auto& action : staged) action();
  staged.clear();
}

}  // namespace recdiff
