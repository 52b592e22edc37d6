#pragma once
/// @file
/// CODIGEM (Walker, Zhong, Zhang, Gao and Zhou, "Recommendation via Collaborative Diffusion
/// Generative Model", KSEM 2022): one network per step of a Gaussian chain, trained on the released
/// code's ELBO terms, recommending through its decoder; and RecFusion's port of it (Bénédict et al.
/// 2023). docs/models.md describes both and where they differ from the paper.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/denoiser/prelu_mlp.hpp>
#include <recdiff/error.hpp>
#include <recdiff/eval/score_matrix.hpp>
#include <recdiff/io/checkpoint.hpp>
#include <recdiff/io/model_state.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/noise/gaussian.hpp>
#include <recdiff/objective/detail/chain_kernels.hpp>
#include <recdiff/optim/adam.hpp>
#include <recdiff/optim/adamax.hpp>
#include <recdiff/schedule/constant.hpp>

namespace recdiff {

/// Every hyper-parameter of a CODIGEM run. Defaults: the official code (T = 3, beta = 1e-4,
/// six-layer PReLU networks of width 200, Adamax 1e-3, batch 200, <= 100 epochs).
struct CodigemConfig {
  int steps = 3;            ///< T: latents z_1..z_T, T - 1 reverse networks and the decoder
  double beta = 1e-4;       ///< the constant beta of every step
  int hidden = 200;         ///< width of every hidden layer
  int depth = 4;            ///< hidden Linear + PReLU pairs between the first and the last layer
  double lr = 1e-3;         ///< Adamax (official) or Adam (port)
  int batch_size = 200;
  int epochs = 100;
  std::uint64_t seed = 1;
  /// RecFusion's port (its Sec. 4.5 of the spec in docs/models.md): shared hidden layers, step
  /// network j on latent z_j paired with z_j, Adam, a noise-free prediction.
  bool recfusion_port = false;
  /// Score with d(sqrt(1 - beta) x + sqrt(beta) eps) as the released code does (fresh noise keyed
  /// by the user); false: the noise-free d(x). The port always scores d(x).
  bool noisy_prediction = true;
  /// Train the decoder only (the reverse networks never reach the scores, so the recommendations
  /// are the same up to the random draws).
  bool decoder_only = false;
  /// Map the binary rows to {-1, 1} (x -> 2x - 1) for the inputs and the reconstruction target, as
  /// the paper describes ("normalised to [-1, 1]", where the tanh head can reach both values); the
  /// released code keeps {0, 1}.
  bool signed_input = false;

  /// Checks every value; throws std::invalid_argument naming the first bad one.
  void validate() const {
    auto fail = [](const std::string& what) {
      throw std::invalid_argument("recdiff::CodigemConfig: " + what);
    };
    if (steps < 2) fail("steps must be >= 2 (one reverse network at least), got " + std::to_string(steps));
    if (!(beta > 0 && beta < 1)) fail("beta must be in (0, 1), got " + std::to_string(beta));
    if (hidden < 1) fail("hidden must be >= 1");
    if (depth < 0) fail("depth must be >= 0");
    if (!(lr > 0)) fail("lr must be > 0");
    if (batch_size < 1) fail("batch_size must be >= 1");
    if (epochs < 1) fail("epochs must be >= 1");
  }

  /// key=value lines (checkpoints and JSON reports).
  std::string to_string() const {
    std::ostringstream os;
    os.precision(17);
    os << "steps=" << steps << "\nbeta=" << beta << "\nhidden=" << hidden << "\ndepth=" << depth
       << "\nlr=" << lr << "\nbatch_size=" << batch_size << "\nepochs=" << epochs
       << "\nseed=" << seed << "\nrecfusion_port=" << recfusion_port
       << "\nnoisy_prediction=" << noisy_prediction << "\ndecoder_only=" << decoder_only
       << "\nsigned_input=" << signed_input << "\n";
    return os.str();
  }
};

/// Presets: "codigem" (the official code) and "codigem-recfusion" (RecFusion's port: Adam 1e-4,
/// 200 epochs, shared hidden layers).
/// @throws std::invalid_argument for an unknown name
inline CodigemConfig codigem_preset(const std::string& name) {
  CodigemConfig c;
  if (name == "codigem") return c;
  if (name == "codigem-recfusion") {
    c.recfusion_port = true;
    c.lr = 1e-4;
    c.epochs = 200;
    c.noisy_prediction = false;
    return c;
  }
  throw std::invalid_argument("recdiff::codigem_preset: unknown preset '" + name +
                              "' (codigem, codigem-recfusion)");
}

/// CODIGEM as a trainable recommender (a TrainableModel and a Scorer).
///
/// **Chain.** z_1 = sqrt(1 - beta) x + sqrt(beta) eps_1, z_{k+1} = sqrt(1 - beta) z_k +
/// sqrt(beta) eps_{k+1}, drawn step by step with one step of a Gaussian kernel (fresh Philox noise
/// per step, keyed by the batch counter and the step).
///
/// **Networks.** Reverse networks p_1..p_{T-1}: Linear(I, M), PReLU, depth x [Linear(M, M), PReLU],
/// Linear(M, 2I) -> (mean m, log-variance s); their first layer is drawn N(0, 1e-4^2). Decoder d:
/// the same with Linear(M, I) and tanh. The official networks have distinct hidden layers
/// (HiddenKind = DistinctHidden); RecFusion's port shares one (SharedHidden).
///
/// **Loss, as the official code computes it** (per user, up to terms without parameters):
/// 1/2 ||x - d(z_1)||^2 + sum_{j=0}^{T-2} sum_i [s_i / 2 + e^{-s_i} (z_{j+1,i} - m_i)^2 / 2] with
/// (m, s) = p_{T-1-j}(z_{T-j}): z_1 is paired with the top network's output on z_T, an index
/// mismatch the code inherits. The port pairs step network j (0-based) with its own input z_j and
/// decodes z_0 (its latents are z_0..z_{T-2}). Only the first term reaches the decoder, and only
/// the decoder makes recommendations.
///
/// **Scores.** tanh(d(sqrt(1 - beta) x + sqrt(beta) eps)) (noise keyed by the user id, Philox
/// stream `inference`), or d(x) (noisy_prediction = false, and always for the port).
/// @tparam BackendType a Backend
/// @tparam HiddenKind DistinctHidden (official) or SharedHidden (RecFusion's port)
/// @tparam OptimizerType Adamax (official) or Adam (port), over float
template <class BackendType, class HiddenKind, class OptimizerType>
class CodigemModel {
 public:
  using Matrix = typename BackendType::template Matrix<float>;  ///< storage
  using Context = typename BackendType::Context;               ///< execution context
  using Snapshot = std::vector<Matrix>;                          ///< copies of the parameters
  /// A reverse (step) network: mean and log-variance head.
  using StepNetwork = PReluMlp<BackendType, float, Identity, HiddenKind>;
  /// The decoder: tanh head.
  using Decoder = PReluMlp<BackendType, float, Tanh, HiddenKind>;
  /// The optimiser's hyper-parameters.
  using OptimizerConfig =
      std::remove_cvref_t<decltype(std::declval<const OptimizerType&>().config())>;

  /// Name in checkpoints.
  static constexpr const char* model_name = "codigem";

  /// A model for `items` items. `context_arg`: threads on the CPU (0 = all cores), the device index
  /// with CudaBackend.
  /// @throws std::invalid_argument for a bad configuration or items < 1
  CodigemModel(const CodigemConfig& config, index_t items, OptimizerConfig optimizer,
               int context_arg = 0)
      : m_state(std::make_unique<State>(checked(config, items), items, optimizer, context_arg)) {}

  /// One optimiser step on the rows `users` of `train`; `step` (the global batch index) keys the
  /// chain's noise. Returns the batch loss (mean over users, without parameter-free terms).
  double train_batch(const InteractionMatrix& train, std::span<const index_t> users,
                     std::uint32_t step) {
    const double loss = loss_and_gradients(train, users, step);
    m_state->optimizer.step(m_state->ctx);
    ++m_state->updates;
    return loss;
  }

  /// The batch loss and its gradient in every parameter (overwritten), without an update.
  /// @throws std::invalid_argument for an empty batch or another item count
  double loss_and_gradients(const InteractionMatrix& train, std::span<const index_t> users,
                            std::uint32_t step) {
    State& s = *m_state;
    check_items("train_batch", train);
    if (users.empty()) throw std::invalid_argument("recdiff::CodigemModel::train_batch: empty batch");
    const auto rows = static_cast<std::int64_t>(users.size());
    BackendType::densify(s.ctx, train, users, s.x);
    if (s.config.signed_input) to_signed(s.x);
    sample_chain(rows, step);
    s.optimizer.zero_grad();
    const bool port = s.config.recfusion_port;
    // Reconstruction through the decoder: d(z_1) (official) or d(z_0) (port: latents[1] too, as
    // latents[k] holds k + 1 noise steps).
    const Matrix& zd = s.latents[1];
    const nn::Pass pass{true, s.config.seed, step, {}};
    double loss = term(s.decoder, zd, s.x, s.x, 1.0, 0.0, pass);
    if (!s.config.decoder_only) {
      const int nets = static_cast<int>(s.step_nets.size());  // T - 1
      for (int j = 0; j < nets; ++j) {
        if (port) {
          // Step network j on latent z_j (code indexing, j + 1 noise steps), paired with itself.
          const Matrix& z = s.latents[static_cast<std::size_t>(j + 1)];
          loss += term(s.step_nets[static_cast<std::size_t>(j)], z, s.x, z, 0.0, 1.0, pass);
        } else {
          // p_{T-1-j}(z_{T-j}) paired with z_{j+1}; p_i is step_nets[i - 1].
          const Matrix& input = s.latents[static_cast<std::size_t>(nets + 1 - j)];
          const Matrix& target = s.latents[static_cast<std::size_t>(j + 1)];
          loss += term(s.step_nets[static_cast<std::size_t>(nets - 1 - j)], input, s.x, target, 0.0,
                       1.0, pass);
        }
      }
    }
    return loss;
  }

  /// Scores (users.size() x items) through the decoder (see the class comment).
  /// @throws std::invalid_argument for another item count
  void score(const InteractionMatrix& input, std::span<const index_t> users, ScoreMatrix& out) {
    State& s = *m_state;
    check_items("score", input);
    const auto rows = static_cast<std::int64_t>(users.size());
    out.resize(rows, s.items);
    if (rows == 0) return;
    const nn::Pass pass{};
    const Matrix* y = nullptr;
    if (s.config.signed_input || (s.config.noisy_prediction && !s.config.recfusion_port)) {
      BackendType::densify(s.ctx, input, users, s.x);
      if (s.config.signed_input) to_signed(s.x);
    }
    if (s.config.noisy_prediction && !s.config.recfusion_port) {
      BackendType::upload(s.ctx, users, rows, 1, s.row_keys);
      s.steps.assign(users.size(), 0);
      s.one_step.template q_sample<BackendType, float>(
          s.ctx, s.x, s.steps,
          NoiseDraw{s.config.seed, philox::Stream::inference, 0, s.row_keys.data()}, s.ws, s.x);
      y = &s.decoder.forward(s.ctx, s.x, pass);
    } else if (s.config.signed_input) {
      y = &s.decoder.forward(s.ctx, s.x, pass);
    } else {
      y = &s.decoder.forward_sparse(s.ctx, input, users, UnitValue{}, pass);
    }
    if constexpr (std::is_same_v<Matrix, ScoreMatrix>) {
      out = *y;
    } else {
      BackendType::download(s.ctx, *y, std::span<float>(out.data(), static_cast<std::size_t>(out.size())));
    }
  }

  /// A copy of the parameters.
  Snapshot snapshot() const { return nn::snapshot_values(m_state->params); }
  /// Restores snapshot().
  /// @throws std::invalid_argument for a snapshot of another architecture
  void restore(const Snapshot& snap) {
    nn::restore_values(m_state->params, snap, "recdiff::CodigemModel::restore");
  }

  /// Writes the configuration, every parameter and the optimiser state to `path` atomically.
  void save(const std::filesystem::path& path) const {
    const State& s = *m_state;
    save_model_state<BackendType, float>(path, model_name, s.config.to_string(), OptimizerType::name,
                                         s.ctx, s.params, s.optimizer);
  }
  /// Loads what save() wrote into this model (same architecture); IoError otherwise, and then the
  /// model is unchanged.
  void load(const std::filesystem::path& path) {
    State& s = *m_state;
    load_model_state<BackendType, float>(path, model_name, OptimizerType::name, s.ctx, s.params,
                                         s.optimizer);
  }

  /// The configuration.
  const CodigemConfig& config() const noexcept { return m_state->config; }
  /// Every parameter: "decoder." then "step<j>." for each step network.
  const nn::ParameterList<BackendType, float>& parameters() const noexcept {
    return m_state->params;
  }
  /// Number of scalars (CODIGEM's port: 5,603,886 for I = 3,416, RecFusion's Table 5).
  std::size_t num_parameters() const noexcept { return nn::count_scalars(m_state->params); }
  /// The decoder and the step networks.
  Decoder& decoder() noexcept { return m_state->decoder; }
  std::vector<StepNetwork>& step_networks() noexcept { return m_state->step_nets; }
  /// The backend context.
  const Context& context() const noexcept { return m_state->ctx; }
  /// Optimiser steps so far.
  std::int64_t updates() const noexcept { return m_state->updates; }

  /// x = 2 x - 1 (public: nvcc refuses private nested kernel types).
  struct SignedKernel {
    float* x;
    std::int64_t cols;
    RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t j) const {
      x[i * cols + j] = 2.0f * x[i * cols + j] - 1.0f;
    }
  };

 private:
  struct State {
    State(const CodigemConfig& c, index_t n_items, const OptimizerConfig& opt, int context_arg)
        : config(c),
          items(n_items),
          ctx(context_arg),
          one_step(Constant(1, c.beta)),
          decoder(net_config(c, n_items, false)),
          step_nets(static_cast<std::size_t>(c.steps - 1), StepNetwork(net_config(c, n_items, true))),
          params(collect(decoder, step_nets)),
          optimizer(params, opt) {
      // Distinct Philox layer keys per network: 64 per network is far above any depth used.
      decoder.initialize(ctx, c.seed, 0);
      for (std::size_t j = 0; j < step_nets.size(); ++j)
        step_nets[j].initialize(ctx, c.seed, static_cast<std::uint32_t>(64 * (j + 1)));
    }
    CodigemConfig config;
    index_t items;
    Context ctx;
    Gaussian one_step;  // one step of the chain: z' = sqrt(1 - beta) z + sqrt(beta) eps
    typename Gaussian::template Workspace<BackendType, float> ws;
    Decoder decoder;
    std::vector<StepNetwork> step_nets;
    nn::ParameterList<BackendType, float> params;
    OptimizerType optimizer;
    Matrix x, grad;
    std::vector<Matrix> latents;  // latents[k]: k noise steps applied (latents[0] = x)
    std::vector<int> steps;
    typename BackendType::template Matrix<index_t> row_keys;
    typename BackendType::template Matrix<double> rows, row_loss;
    std::vector<double> row_loss_host;
    std::int64_t updates = 0;
  };

  static const CodigemConfig& checked(const CodigemConfig& c, index_t items) {
    c.validate();
    if (items < 1)
      throw std::invalid_argument("recdiff::CodigemModel: items must be >= 1, got " +
                                  std::to_string(items));
    return c;
  }

  static PReluMlpConfig net_config(const CodigemConfig& c, index_t items, bool step_net) {
    PReluMlpConfig n;
    n.items = static_cast<int>(items);
    n.hidden = c.hidden;
    n.depth = c.depth;
    n.outputs = step_net ? 2 * static_cast<int>(items) : 0;
    // The official code draws the first layer of each reverse network from N(0, 1e-4^2).
    n.first_layer_std = step_net && !c.recfusion_port ? 1e-4 : 0.0;
    return n;
  }
  static nn::ParameterList<BackendType, float> collect(Decoder& decoder,
                                                       std::vector<StepNetwork>& step_nets) {
    nn::ParameterList<BackendType, float> params;
    decoder.collect_parameters("decoder.", params);
    for (std::size_t j = 0; j < step_nets.size(); ++j)
      step_nets[j].collect_parameters("step" + std::to_string(j + 1) + ".", params);
    return params;
  }

  void to_signed(Matrix& x) const {
    BackendType::for_each(m_state->ctx, x.rows(), x.cols(), SignedKernel{x.data(), x.cols()});
  }

  void check_items(const char* method, const InteractionMatrix& m) const {
    if (m.num_items() != m_state->items)
      throw std::invalid_argument(std::string("recdiff::CodigemModel::") + method +
                                  ": the matrix has " + std::to_string(m.num_items()) +
                                  " items, the model " + std::to_string(m_state->items));
  }

  // latents[0] = x, latents[k] = one chain step from latents[k - 1], k = 1..T (the port uses
  // latents[1..T-1], its z_0..z_{T-2}).
  void sample_chain(std::int64_t rows, std::uint32_t step) {
    State& s = *m_state;
    const auto count = static_cast<std::size_t>(s.config.steps) + 1;
    s.latents.resize(count);
    s.latents[0] = s.x;
    s.steps.assign(static_cast<std::size_t>(rows), 0);
    for (std::size_t k = 1; k < count; ++k) {
      const std::uint32_t counter = step * static_cast<std::uint32_t>(count) +
                                    static_cast<std::uint32_t>(k);
      s.one_step.template q_sample<BackendType, float>(
          s.ctx, s.latents[k - 1], s.steps,
          NoiseDraw{s.config.seed, philox::Stream::noise, counter, nullptr}, s.ws, s.latents[k]);
    }
  }

  // One network's term: forward on `input`, the chain kernel (reconstruction of x0 with weight
  // `rec`, the Gaussian NLL of `target` with weight `lat`), backward. Returns the mean over rows.
  template <class Net>
  double term(Net& net, const Matrix& input, const Matrix& x0, const Matrix& target, double rec,
              double lat, const nn::Pass& pass) {
    State& s = *m_state;
    const Matrix& out = net.forward(s.ctx, input, pass);
    const std::int64_t rows = input.rows(), items = input.cols();
    std::vector<double> host(static_cast<std::size_t>(rows * objective_detail::kChainColumns), 0.0);
    for (std::int64_t b = 0; b < rows; ++b) {
      double* r = host.data() + b * objective_detail::kChainColumns;
      r[RowTerm::weight] = 1.0;
      r[RowTerm::probability] = 1.0;
      r[objective_detail::kReconstruction] = rec;
      r[objective_detail::kLatent] = lat;
    }
    BackendType::upload(s.ctx, std::span<const double>(host), rows, objective_detail::kChainColumns,
                        s.rows);
    s.row_loss.resize(rows, 1);
    s.grad.resize(out.rows(), out.cols());
    const double inv_batch = 1.0 / static_cast<double>(rows);
    if (lat > 0) {
      BackendType::for_each_row(
          s.ctx, rows,
          objective_detail::ChainRowKernel<float, objective_detail::ChainOutput::mean_and_log_variance>{
              out.data(), x0.data(), target.data(), s.rows.data(), s.row_loss.data(),
              s.grad.data(), items, inv_batch});
    } else {
      BackendType::for_each_row(
          s.ctx, rows,
          objective_detail::ChainRowKernel<float, objective_detail::ChainOutput::value>{
              out.data(), x0.data(), target.data(), s.rows.data(), s.row_loss.data(),
              s.grad.data(), items, inv_batch});
    }
    net.backward(s.ctx, s.grad, false);
    s.row_loss_host.resize(static_cast<std::size_t>(rows));
    BackendType::download(s.ctx, s.row_loss, std::span<double>(s.row_loss_host));
    return mean_batch_loss(s.row_loss_host, {});
  }

  std::unique_ptr<State> m_state;
};

/// CODIGEM as released: distinct hidden layers, Adamax.
template <class BackendType>
using Codigem = CodigemModel<BackendType, DistinctHidden, Adamax<BackendType, float>>;
/// RecFusion's port of CODIGEM: shared hidden layers, Adam.
template <class BackendType>
using CodigemRecFusionPort = CodigemModel<BackendType, SharedHidden, Adam<BackendType, float>>;

/// Builds the official CODIGEM from a configuration (Adamax with lr = c.lr).
template <class BackendType>
Codigem<BackendType> make_codigem(const CodigemConfig& c, index_t items, int context_arg = 0) {
  AdamaxConfig opt;
  opt.lr = c.lr;
  return Codigem<BackendType>(c, items, opt, context_arg);
}

/// Builds RecFusion's port (Adam with lr = c.lr); c.recfusion_port must be set.
/// @throws std::invalid_argument when it is not
template <class BackendType>
CodigemRecFusionPort<BackendType> make_codigem_recfusion_port(const CodigemConfig& c, index_t items,
                                                              int context_arg = 0) {
  if (!c.recfusion_port)
    throw std::invalid_argument(
        "recdiff::make_codigem_recfusion_port: the configuration does not set recfusion_port "
        "(use codigem_preset(\"codigem-recfusion\"))");
  AdamConfig opt;
  opt.lr = c.lr;
  return CodigemRecFusionPort<BackendType>(c, items, opt, context_arg);
}

}  // namespace recdiff
