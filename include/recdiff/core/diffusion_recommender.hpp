#pragma once
/// @file
/// DiffusionRecommender: a Diffusion together with its optimiser, step sampler and input weighting,
/// as a trainable, scorable, savable recommender (satisfies TrainableModel and Scorer).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <recdiff/core/input_weighting.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/error.hpp>
#include <recdiff/eval/score_matrix.hpp>
#include <recdiff/io/checkpoint.hpp>
#include <recdiff/io/model_state.hpp>
#include <recdiff/nn/parameter.hpp>

namespace recdiff {

/// Trains and serves a diffusion recommender.
///
/// Checkpoints hold components by name: the text entries "model", "config" and "optimizer" (the
/// optimiser's name), every denoiser parameter under its own name, the optimiser's state under
/// "optimizer." and the sampler's under "sampler.state". Checkpoints written before the
/// "optimizer" entry existed (format 1 of recdiff 0.1: AdamW state under the same names) load
/// unchanged.
///
/// @tparam DiffusionType a Diffusion<...> instantiation
/// @tparam OptimizerType an Optimizer, constructible from the denoiser's parameter list and its
///                       config type
/// @tparam SamplerType   a StepSampler (ImportanceSampler, UniformSampler, or WholeChain: every
///                       training step of every user, the batch's rows repeated once per step)
/// @tparam InputType     the input weighting (BinaryInput, TimeLinearInput)
template <class DiffusionType, class OptimizerType, class SamplerType, class InputType>
class DiffusionRecommender {
 public:
  using diffusion_type = DiffusionType;                     ///< the Diffusion
  using optimizer_type = OptimizerType;                     ///< the optimiser
  using BackendOf = typename DiffusionType::backend_type;   ///< the backend
  using scalar_type = typename DiffusionType::scalar_type;  ///< the scalar type
  using Matrix = typename DiffusionType::Matrix;            ///< storage
  using Context = typename DiffusionType::Context;          ///< execution context
  /// The optimiser's hyper-parameters.
  using OptimizerConfig =
      std::remove_cvref_t<decltype(std::declval<const OptimizerType&>().config())>;
  /// Copies of every parameter tensor, in parameter order.
  using Snapshot = std::vector<Matrix>;

  /// `context_arg` constructs the backend's Context: the thread count on the CPU (0 = all cores),
  /// the device index with CudaBackend.
  DiffusionRecommender(DiffusionType diffusion, OptimizerConfig optimizer, SamplerType sampler,
                       InputType input = {}, int context_arg = 0)
      : m_state(std::make_unique<State>(std::move(diffusion), optimizer, std::move(sampler),
                                        std::move(input), context_arg)) {}

  /// One optimisation step on the users `users` of `train`; `step` is the global batch index that
  /// keys the batch's random draws. Returns the batch loss.
  double train_batch(const InteractionMatrix& train, std::span<const index_t> users,
                     std::uint32_t step) {
    State& s = *m_state;
    std::span<const index_t> rows = users;
    if constexpr (requires { s.sampler.steps_per_row(); }) {
      // Every training step for every user (WholeChain): the batch's rows, once per step.
      const auto per_row = static_cast<std::size_t>(s.sampler.steps_per_row());
      s.tiled_users.clear();
      for (std::size_t r = 0; r < per_row; ++r)
        s.tiled_users.insert(s.tiled_users.end(), users.begin(), users.end());
      rows = s.tiled_users;
    }
    BackendOf::densify(s.ctx, train, rows, s.x0, s.input);
    s.optimizer.zero_grad();
    double loss = 0;
    if constexpr (DiffusionType::sparse_training_available &&
                  std::is_same_v<InputType, BinaryInput>) {
      loss = s.diffusion.options().sparse_training
                 ? s.diffusion.loss_and_gradients_sparse(s.ctx, s.x0, train, rows, s.sampler, step)
                 : s.diffusion.loss_and_gradients(s.ctx, s.x0, s.sampler, step);
    } else {
      loss = s.diffusion.loss_and_gradients(s.ctx, s.x0, s.sampler, step);
    }
    s.optimizer.step(s.ctx);
    ++s.updates;
    return loss;
  }

  /// Scores (users.size() x items): the reverse chain from the users' rows of `input`, or the
  /// one-pass x0 prediction when the diffusion's options set predict_step.
  void score(const InteractionMatrix& input, std::span<const index_t> users, ScoreMatrix& out) {
    State& s = *m_state;
    if (const int k = s.diffusion.options().predict_step; k >= 0)
      s.diffusion.predict_x0(s.ctx, input, users, s.input, k, s.scores);
    else
      s.diffusion.reverse_chain(s.ctx, input, users, s.input, s.scores);
    if constexpr (std::is_same_v<Matrix, ScoreMatrix>) {
      out.swap(s.scores);
    } else {
      out.resize(s.scores.rows(), s.scores.cols());
      BackendOf::download(s.ctx, s.scores,
                          std::span<float>(out.data(), static_cast<std::size_t>(out.size())));
    }
  }

  /// The denoiser's parameters (names and tensors).
  const nn::ParameterList<BackendOf, scalar_type>& parameters() const noexcept {
    return m_state->params;
  }

  /// A copy of the parameters (to keep the best epoch's).
  Snapshot snapshot() const { return nn::snapshot_values(m_state->params); }
  /// Restores parameters from snapshot().
  /// @throws std::invalid_argument for a snapshot of another architecture
  void restore(const Snapshot& snap) {
    nn::restore_values(m_state->params, snap, "recdiff::DiffusionRecommender::restore");
  }

  /// Writes the parameters, the optimiser and sampler state and `config` (free text describing the
  /// configuration, read back by the caller to rebuild the model) atomically to `path`.
  void save(const std::filesystem::path& path, const std::string& model_name,
            const std::string& config) const {
    const State& s = *m_state;
    CheckpointWriter w;
    w.add_text("model", model_name);
    w.add_text("config", config);
    w.add_text("optimizer", OptimizerType::name);
    save_parameters<BackendOf, scalar_type>(s.ctx, w, s.params, "");
    s.optimizer.save_state(s.ctx, w, "optimizer.");
    const std::vector<double> sampler = s.sampler.state();
    w.add_tensor("sampler.state", 1, sampler.size(), sampler.data());
    w.write(path);
  }

  /// Reads what save() wrote into this model, which must have the same architecture. Any
  /// mismatch (another model, another optimiser, other shapes) or a corrupt file raises IoError
  /// saying what to do; on error the model is left unchanged (every component is read before any
  /// is installed).
  void load(const std::filesystem::path& path, const std::string& model_name) {
    const CheckpointReader r(path);
    if (r.text("model") != model_name)
      throw IoError(path, "holds a '" + r.text("model") + "' model, expected '" + model_name +
                              "': load it into a model of that type");
    const std::string optimizer = r.has("optimizer") ? r.text("optimizer") : "adamw";
    if (optimizer != OptimizerType::name)
      throw IoError(path, "was trained with the '" + optimizer + "' optimiser, this model uses '" +
                              std::string(OptimizerType::name) +
                              "': build the model with that optimiser to resume training");
    State& s = *m_state;
    StagedLoad staged;
    staged.push_back(stage_parameters<BackendOf, scalar_type>(s.ctx, r, s.params, ""));
    staged.push_back(s.optimizer.stage_state(s.ctx, r, "optimizer."));
    const auto sampler_shape = r.shape("sampler.state");
    SamplerType sampler = s.sampler;
    sampler.set_state(r.tensor<double>("sampler.state", 1, sampler_shape.second));
    staged.push_back([&s, sampler = std::move(sampler)]() mutable { s.sampler = std::move(sampler); });
    commit(staged);
  }

  DiffusionType& diffusion() noexcept { return m_state->diffusion; }              ///< the model
  const DiffusionType& diffusion() const noexcept { return m_state->diffusion; }  ///< the model
  OptimizerType& optimizer() noexcept { return m_state->optimizer; }              ///< optimiser
  SamplerType& sampler() noexcept { return m_state->sampler; }                    ///< step sampler
  const InputType& input_weighting() const noexcept { return m_state->input; }    ///< x0 values
  const Context& context() const noexcept { return m_state->ctx; }                ///< context
  /// Optimisation steps taken so far.
  std::int64_t updates() const noexcept { return m_state->updates; }

 private:
  // Everything lives behind one pointer: the optimiser and the parameter list hold pointers into
  // the denoiser, so the denoiser must never move once they exist.
  struct State {
    State(DiffusionType d, const OptimizerConfig& opt, SamplerType smp, InputType in,
          int context_arg)
        : ctx(context_arg),
          diffusion(std::move(d)),
          params(nn::parameters_of(diffusion.denoiser())),
          optimizer(params, opt),
          sampler(std::move(smp)),
          input(std::move(in)) {}
    Context ctx;
    DiffusionType diffusion;
    nn::ParameterList<BackendOf, scalar_type> params;
    OptimizerType optimizer;
    SamplerType sampler;
    InputType input;
    Matrix x0, scores;
    std::vector<index_t> tiled_users;  // a WholeChain batch: the users once per training step
    std::int64_t updates = 0;
  };

  std::unique_ptr<State> m_state;
};

}  // namespace recdiff
