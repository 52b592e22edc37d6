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

#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/error.hpp>
#include <recdiff/eval/score_matrix.hpp>
#include <recdiff/io/checkpoint.hpp>

namespace recdiff {

/// Trains and serves a diffusion recommender.
///
/// @tparam DiffusionType a Diffusion<...> instantiation
/// @tparam OptimizerType constructible from the denoiser's parameters() and an OptimizerConfig
/// @tparam SamplerType   a StepSampler (ImportanceSampler, UniformSampler)
/// @tparam InputType     the input weighting (BinaryInput, TimeLinearInput)
template <class DiffusionType, class OptimizerType, class SamplerType, class InputType>
class DiffusionRecommender {
 public:
  using scalar_type = typename DiffusionType::scalar_type;
  using Matrix = typename DiffusionType::Matrix;
  using Context = typename DiffusionType::Context;
  using OptimizerConfig =
      std::remove_cvref_t<decltype(std::declval<const OptimizerType&>().config())>;
  /// Copies of every parameter tensor, in parameters() order.
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
    BackendOf::densify(s.ctx, train, users, s.x0, s.input);
    const double loss = s.diffusion.loss_and_gradients(s.ctx, s.x0, s.sampler, step);
    s.optimizer.step(s.ctx);
    ++s.updates;
    return loss;
  }

  /// Scores (users.size() x items): the reverse chain from the users' rows of `input`.
  void score(const InteractionMatrix& input, std::span<const index_t> users, ScoreMatrix& out) {
    State& s = *m_state;
    s.diffusion.reverse_chain(s.ctx, input, users, s.input, 0xFFFFFFF0u, s.scores);
    if constexpr (std::is_same_v<Matrix, ScoreMatrix>) {
      out.swap(s.scores);
    } else {
      out.resize(s.scores.rows(), s.scores.cols());
      BackendOf::download(s.ctx, s.scores, std::span<float>(out.data(), static_cast<std::size_t>(out.size())));
    }
  }

  /// A copy of the parameters (to keep the best epoch's).
  Snapshot snapshot() const {
    Snapshot snap;
    for (const auto& p : m_state->diffusion.denoiser().parameters()) snap.push_back(*p.value);
    return snap;
  }
  /// Restores parameters from snapshot().
  void restore(const Snapshot& snap) {
    auto params = m_state->diffusion.denoiser().parameters();
    if (snap.size() != params.size())
      throw std::invalid_argument("recdiff::DiffusionRecommender::restore: snapshot of another model");
    for (std::size_t i = 0; i < params.size(); ++i) *params[i].value = snap[i];
  }

  /// Writes the parameters, the optimiser and sampler state and `config` (free text describing the
  /// configuration, read back by the caller to rebuild the model) atomically to `path`.
  void save(const std::filesystem::path& path, const std::string& model_name,
            const std::string& config) const {
    const State& s = *m_state;
    CheckpointWriter w;
    w.add_text("model", model_name);
    w.add_text("config", config);
    auto params = const_cast<DiffusionType&>(s.diffusion).denoiser().parameters();
    const auto& opt = s.optimizer.state();
    std::vector<scalar_type> host;
    auto add = [&](const std::string& name, const Matrix& m) {
      host.resize(static_cast<std::size_t>(m.rows() * m.cols()));
      BackendOf::download(s.ctx, m, std::span<scalar_type>(host));
      w.add_tensor(name, static_cast<std::uint64_t>(m.rows()), static_cast<std::uint64_t>(m.cols()),
                   host.data());
    };
    for (std::size_t i = 0; i < params.size(); ++i) {
      add(params[i].name, *params[i].value);
      add("optimizer.m." + params[i].name, opt[i].m);
      add("optimizer.v." + params[i].name, opt[i].v);
      const double step = static_cast<double>(opt[i].step);
      w.add_tensor("optimizer.step." + params[i].name, 1, 1, &step);
    }
    const std::vector<double> sampler = s.sampler.state();
    w.add_tensor("sampler.state", 1, sampler.size(), sampler.data());
    w.write(path);
  }

  /// Reads what save() wrote into this model, which must have the same architecture. Any
  /// mismatch (another model, other shapes) or a corrupt file raises IoError; on error the model
  /// is left unchanged.
  void load(const std::filesystem::path& path, const std::string& model_name) {
    const CheckpointReader r(path);
    if (r.text("model") != model_name)
      throw IoError(path, "holds a '" + r.text("model") + "' model, expected '" + model_name + "'");
    State& s = *m_state;
    auto params = s.diffusion.denoiser().parameters();
    // Read everything first, so that a failure leaves the model untouched.
    std::vector<std::vector<scalar_type>> values, ms, vs;
    std::vector<std::int64_t> steps;
    for (const auto& p : params) {
      const auto rows = static_cast<std::uint64_t>(p.value->rows());
      const auto cols = static_cast<std::uint64_t>(p.value->cols());
      values.push_back(r.tensor<scalar_type>(p.name, rows, cols));
      ms.push_back(r.tensor<scalar_type>("optimizer.m." + p.name, rows, cols));
      vs.push_back(r.tensor<scalar_type>("optimizer.v." + p.name, rows, cols));
      steps.push_back(static_cast<std::int64_t>(r.tensor<double>("optimizer.step." + p.name, 1, 1)[0]));
    }
    const auto sampler_shape = r.shape("sampler.state");
    const auto sampler_state = r.tensor<double>("sampler.state", 1, sampler_shape.second);
    SamplerType sampler = s.sampler;
    sampler.set_state(sampler_state);
    auto& opt = s.optimizer.state();
    for (std::size_t i = 0; i < params.size(); ++i) {
      const auto rows = params[i].value->rows(), cols = params[i].value->cols();
      BackendOf::upload(s.ctx, std::span<const scalar_type>(values[i]), rows, cols, *params[i].value);
      BackendOf::upload(s.ctx, std::span<const scalar_type>(ms[i]), rows, cols, opt[i].m);
      BackendOf::upload(s.ctx, std::span<const scalar_type>(vs[i]), rows, cols, opt[i].v);
      opt[i].step = steps[i];
    }
    s.sampler = std::move(sampler);
  }

  DiffusionType& diffusion() noexcept { return m_state->diffusion; }
  const DiffusionType& diffusion() const noexcept { return m_state->diffusion; }
  OptimizerType& optimizer() noexcept { return m_state->optimizer; }
  SamplerType& sampler() noexcept { return m_state->sampler; }
  const InputType& input_weighting() const noexcept { return m_state->input; }
  const Context& context() const noexcept { return m_state->ctx; }
  /// Optimisation steps taken so far.
  std::int64_t updates() const noexcept { return m_state->updates; }

 private:
  using BackendOf = typename DiffusionType::backend_type;

  // Everything lives behind one pointer: the optimiser holds pointers into the denoiser, so the
  // denoiser must never move once the optimiser exists.
  struct State {
    State(DiffusionType d, const OptimizerConfig& opt, SamplerType smp, InputType in,
          int context_arg)
        : ctx(context_arg),
          diffusion(std::move(d)),
          optimizer(diffusion.denoiser().parameters(), opt),
          sampler(std::move(smp)),
          input(std::move(in)) {}
    Context ctx;
    DiffusionType diffusion;
    OptimizerType optimizer;
    SamplerType sampler;
    InputType input;
    Matrix x0, scores;
    std::int64_t updates = 0;
  };


  std::unique_ptr<State> m_state;
};

}  // namespace recdiff
