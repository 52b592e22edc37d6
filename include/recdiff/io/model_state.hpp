#pragma once
/// @file
/// Saving and loading a model's components by name: parameter lists, and any component with
/// save_state / stage_state (optimisers, step samplers). Loading stages every component first and
/// installs them only when all were read, so a bad file never leaves a model half loaded.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <recdiff/error.hpp>
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

/// Writes a trained model atomically: the text entries "model", "config" (free text the caller
/// reads back to rebuild the model) and "optimizer" (its name), every parameter (no prefix) and the
/// optimiser's state (prefix "optimizer.").
template <class BackendType, class T, class OptimizerType>
void save_model_state(const std::filesystem::path& path, const std::string& model_name,
                      const std::string& config, const std::string& optimizer_name,
                      const typename BackendType::Context& ctx,
                      const nn::ParameterList<BackendType, T>& params,
                      const OptimizerType& optimizer) {
  CheckpointWriter w;
  w.add_text("model", model_name);
  w.add_text("config", config);
  w.add_text("optimizer", optimizer_name);
  save_parameters<BackendType, T>(ctx, w, params, "");
  optimizer.save_state(ctx, w, "optimizer.");
  w.write(path);
}

/// Reads what save_model_state wrote into a model of the same architecture: IoError (naming the
/// file and what to do) for another model, another optimiser, other shapes or a corrupt file; on
/// any error nothing has changed, since every component is read before any is installed.
template <class BackendType, class T, class OptimizerType>
void load_model_state(const std::filesystem::path& path, const std::string& model_name,
                      const std::string& optimizer_name, const typename BackendType::Context& ctx,
                      const nn::ParameterList<BackendType, T>& params, OptimizerType& optimizer) {
  const CheckpointReader r(path);
  if (r.text("model") != model_name)
    throw IoError(path, "holds a '" + r.text("model") + "' model, expected '" + model_name +
                            "': load it into a model of that type");
  if (r.text("optimizer") != optimizer_name)
    throw IoError(path, "was trained with the '" + r.text("optimizer") +
                            "' optimiser, this model uses '" + optimizer_name +
                            "': build the model with that optimiser to resume training");
  StagedLoad staged;
  staged.push_back(stage_parameters<BackendType, T>(ctx, r, params, ""));
  staged.push_back(optimizer.stage_state(ctx, r, "optimizer."));
  commit(staged);
}

}  // namespace recdiff
