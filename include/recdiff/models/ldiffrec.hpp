#pragma once
/// @file
/// L-DiffRec and LT-DiffRec (Wang et al., SIGIR 2023, section 3.4 and 3.5; docs/models.md): a
/// variational autoencoder that compresses each cluster of items into its own latent block, with
/// DiffRec's Gaussian diffusion run in the concatenated latent space. The composite is built from
/// the core's parts: the same Diffusion (noise kernel, schedule, Mlp denoiser, objective), step
/// sampler and optimiser as DiffRec, plus nn::Linear encoders and decoder and nn::GaussianLatent.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <recdiff/cluster/kmeans.hpp>
#include <recdiff/core/diffusion.hpp>
#include <recdiff/core/input_weighting.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/denoiser/mlp.hpp>
#include <recdiff/error.hpp>
#include <recdiff/eval/score_matrix.hpp>
#include <recdiff/io/checkpoint.hpp>
#include <recdiff/io/model_state.hpp>
#include <recdiff/math/philox.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/nn/dropout.hpp>
#include <recdiff/nn/gaussian_latent.hpp>
#include <recdiff/nn/input_linear.hpp>
#include <recdiff/nn/kernels.hpp>
#include <recdiff/nn/linear.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/noise/gaussian.hpp>
#include <recdiff/objective/multinomial.hpp>
#include <recdiff/objective/predict_x0.hpp>
#include <recdiff/optim/adam.hpp>
#include <recdiff/sampler/importance.hpp>
#include <recdiff/schedule/diffrec_linear_var.hpp>

namespace recdiff {

/// Every hyper-parameter of an L-DiffRec (or LT-DiffRec) run. Defaults are the ml-1m_clean preset
/// of the released code (spec values: docs/models.md).
struct LDiffRecConfig {
  double lr1 = 1e-3;            ///< AdamW learning rate of the autoencoder
  double lr2 = 5e-4;            ///< AdamW learning rate of the denoiser MLP
  double weight_decay1 = 0.0;   ///< AdamW weight decay of the autoencoder
  double weight_decay2 = 0.0;   ///< AdamW weight decay of the MLP
  int batch_size = 400;         ///< users per batch
  int epochs = 1000;            ///< epoch limit
  int clusters = 2;             ///< C: item clusters, one encoder each (1: no clustering)
  int latent = 300;             ///< D: size of the concatenated latent space
  std::vector<int> mlp_dims{300};  ///< the MLP's hidden sizes (Mlp dims: D + E -> 300 -> D)
  int emb_size = 10;            ///< step-embedding size
  double vae_dropout = 0.1;     ///< dropout on the autoencoder's input
  double mlp_dropout = 0.5;     ///< dropout on the MLP's input
  bool reparameterize = true;   ///< sample z0 = mu + sigma n in training (else z0 = mu)
  double lambda = 0.03;         ///< initial weight of the diffusion loss
  double lambda_floor = 0.005;  ///< its floor ("anneal_cap")
  int lambda_anneal_epochs = 500;  ///< epochs over which lambda falls linearly (0: constant)
  double kl_cap = 0.3;          ///< largest KL weight ("vae_anneal_cap")
  int kl_anneal_batches = 200;  ///< batches over which the KL weight rises to kl_cap (0: constant)
  int steps = 40;               ///< T
  double noise_scale = 5e-3;    ///< s
  double noise_min = 5e-3;      ///< a_min
  double noise_max = 2e-2;      ///< a_max
  bool reweight = true;         ///< SNR reweighting of the diffusion loss
  std::uint64_t seed = 1;       ///< initialisation, noise and dropout draws
  /// LT-DiffRec's time weights; both 0 = L-DiffRec (binary input).
  double w_min = 0.0;
  double w_max = 0.0;

  /// Checks every value; throws std::invalid_argument naming the first bad one.
  void validate() const {
    auto fail = [](const std::string& what) {
      throw std::invalid_argument("recdiff::LDiffRecConfig: " + what);
    };
    if (!(lr1 > 0) || !(lr2 > 0)) fail("lr1 and lr2 must be > 0");
    if (!(weight_decay1 >= 0) || !(weight_decay2 >= 0)) fail("weight decays must be >= 0");
    if (batch_size < 1) fail("batch_size must be >= 1");
    if (epochs < 1) fail("epochs must be >= 1");
    if (clusters < 1) fail("clusters must be >= 1, got " + std::to_string(clusters));
    if (latent < clusters)
      fail("latent (" + std::to_string(latent) + ") must be >= clusters (" +
           std::to_string(clusters) + "): every cluster needs a latent dimension");
    if (mlp_dims.empty()) fail("mlp_dims must list at least one hidden size");
    for (const int d : mlp_dims)
      if (d < 1) fail("every entry of mlp_dims must be >= 1");
    if (emb_size < 2) fail("emb_size must be >= 2");
    if (!(vae_dropout >= 0 && vae_dropout < 1) || !(mlp_dropout >= 0 && mlp_dropout < 1))
      fail("dropouts must be in [0, 1)");
    if (!(lambda > 0) || !(lambda_floor > 0)) fail("lambda and lambda_floor must be > 0");
    if (lambda_anneal_epochs < 0 || kl_anneal_batches < 0) fail("anneal lengths must be >= 0");
    if (!(kl_cap >= 0)) fail("kl_cap must be >= 0");
    if (steps < 1) fail("steps must be >= 1");
    if (!(noise_scale > 0)) fail("noise_scale must be > 0");
    if (!(noise_min > 0 && noise_min < noise_max))
      fail("need 0 < noise_min < noise_max, got " + std::to_string(noise_min) + " and " +
           std::to_string(noise_max));
    if (w_min != 0 || w_max != 0)
      if (!(w_min > 0 && w_min <= w_max && w_max <= 1))
        fail("time weights need 0 < w_min <= w_max <= 1, got w_min = " + std::to_string(w_min) +
             " and w_max = " + std::to_string(w_max));
  }

  /// Whether the time weights are set (LT-DiffRec).
  bool time_weighted() const noexcept { return w_min != 0 || w_max != 0; }

  /// lambda after `epochs_done` finished epochs: max((1 - e / anneal) lambda, floor).
  double lambda_at(std::int64_t epochs_done) const {
    const double ramp = lambda_anneal_epochs > 0
                            ? 1.0 - static_cast<double>(epochs_done) / lambda_anneal_epochs
                            : 1.0;
    return std::max(ramp * lambda, lambda_floor);
  }
  /// The KL weight after `batches_done` batches: min(kl_cap, n / anneal).
  double kl_weight_at(std::int64_t batches_done) const {
    if (kl_anneal_batches == 0) return kl_cap;
    return std::min(kl_cap, static_cast<double>(batches_done) / kl_anneal_batches);
  }

  /// key=value lines (checkpoints, JSON reports); from_string() reads them back.
  std::string to_string() const {
    std::ostringstream os;
    os.precision(17);
    for (const auto& [key, field] : fields()) {
      os << key << '=';
      field.print(os, *this);
      os << '\n';
    }
    return os.str();
  }

  /// Parses to_string()'s output (keys in any order, missing keys keep their defaults).
  /// @throws std::invalid_argument on an unknown key, a bad value or an invalid result
  static LDiffRecConfig from_string(const std::string& text) {
    LDiffRecConfig c;
    std::istringstream in(text);
    std::string line;
    const auto table = fields();
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      const auto eq = line.find('=');
      if (eq == std::string::npos)
        throw std::invalid_argument("recdiff::LDiffRecConfig: bad line '" + line + "'");
      const auto it = table.find(line.substr(0, eq));
      if (it == table.end())
        throw std::invalid_argument("recdiff::LDiffRecConfig: unknown key '" + line.substr(0, eq) +
                                    "'");
      if (!it->second.parse(line.substr(eq + 1), c))
        throw std::invalid_argument("recdiff::LDiffRecConfig: bad value in '" + line + "'");
    }
    c.validate();
    return c;
  }

 private:
  struct Field {
    void (*print)(std::ostream&, const LDiffRecConfig&);
    bool (*parse)(const std::string&, LDiffRecConfig&);
  };
  // One entry per field: its printer and parser (a scalar read with >>, or the dims list).
  template <auto Member>
  static Field scalar() {
    return Field{[](std::ostream& os, const LDiffRecConfig& c) { os << c.*Member; },
                 [](const std::string& v, LDiffRecConfig& c) {
                   std::istringstream vs(v);
                   vs >> c.*Member;
                   return !vs.fail() && vs.eof();
                 }};
  }
  static std::map<std::string, Field> fields() {
    using C = LDiffRecConfig;
    return {{"lr1", scalar<&C::lr1>()},
            {"lr2", scalar<&C::lr2>()},
            {"weight_decay1", scalar<&C::weight_decay1>()},
            {"weight_decay2", scalar<&C::weight_decay2>()},
            {"batch_size", scalar<&C::batch_size>()},
            {"epochs", scalar<&C::epochs>()},
            {"clusters", scalar<&C::clusters>()},
            {"latent", scalar<&C::latent>()},
            {"mlp_dims",
             Field{[](std::ostream& os, const C& c) {
                     for (std::size_t i = 0; i < c.mlp_dims.size(); ++i)
                       os << (i ? "," : "") << c.mlp_dims[i];
                   },
                   [](const std::string& v, C& c) {
                     c.mlp_dims.clear();
                     std::istringstream vs(v);
                     std::string part;
                     while (std::getline(vs, part, ',')) {
                       std::istringstream ps(part);
                       int d = 0;
                       ps >> d;
                       if (ps.fail() || !ps.eof()) return false;
                       c.mlp_dims.push_back(d);
                     }
                     return true;
                   }}},
            {"emb_size", scalar<&C::emb_size>()},
            {"vae_dropout", scalar<&C::vae_dropout>()},
            {"mlp_dropout", scalar<&C::mlp_dropout>()},
            {"reparameterize", scalar<&C::reparameterize>()},
            {"lambda", scalar<&C::lambda>()},
            {"lambda_floor", scalar<&C::lambda_floor>()},
            {"lambda_anneal_epochs", scalar<&C::lambda_anneal_epochs>()},
            {"kl_cap", scalar<&C::kl_cap>()},
            {"kl_anneal_batches", scalar<&C::kl_anneal_batches>()},
            {"steps", scalar<&C::steps>()},
            {"noise_scale", scalar<&C::noise_scale>()},
            {"noise_min", scalar<&C::noise_min>()},
            {"noise_max", scalar<&C::noise_max>()},
            {"reweight", scalar<&C::reweight>()},
            {"seed", scalar<&C::seed>()},
            {"w_min", scalar<&C::w_min>()},
            {"w_max", scalar<&C::w_max>()}};
  }
};

/// The presets of the released L-DiffRec runs, by dataset name: ml-1m_clean, ml-1m_noisy,
/// yelp_clean, yelp_noisy, amazon-book_clean, amazon-book_noisy; LT-DiffRec's released presets are
/// lt-amazon-book_clean and lt-yelp_clean. All use C = 2, D = 300, MLP [300], batch 400 (200 for
/// lt-yelp_clean) and the anneals of the code's defaults.
inline LDiffRecConfig ldiffrec_preset(const std::string& name) {
  LDiffRecConfig c;
  auto set = [&](double lr1, double lr2, double lambda, int steps, double s, double lo, double hi) {
    c.lr1 = lr1;
    c.lr2 = lr2;
    c.lambda = lambda;
    c.steps = steps;
    c.noise_scale = s;
    c.noise_min = lo;
    c.noise_max = hi;
  };
  if (name == "ml-1m_clean") set(1e-3, 5e-4, 0.03, 40, 5e-3, 5e-3, 2e-2);
  else if (name == "ml-1m_noisy") set(1e-3, 5e-4, 0.03, 100, 5e-3, 5e-3, 2e-2);
  else if (name == "yelp_clean") set(5e-4, 1e-4, 0.03, 5, 0.01, 5e-3, 1e-2);
  else if (name == "yelp_noisy") set(5e-4, 1e-4, 0.03, 5, 0.01, 5e-3, 1e-2);
  else if (name == "amazon-book_clean") set(5e-4, 1e-4, 0.05, 5, 0.5, 1e-3, 5e-3);
  else if (name == "amazon-book_noisy") set(5e-4, 1e-4, 0.07, 5, 0.5, 1e-3, 5e-3);
  else if (name == "lt-amazon-book_clean") {
    set(5e-4, 1e-4, 0.03, 5, 0.7, 1e-3, 5e-3);
    c.w_min = 0.1;
    c.w_max = 1.0;
  } else if (name == "lt-yelp_clean") {
    set(5e-4, 5e-5, 0.03, 5, 0.01, 5e-3, 1e-2);
    c.batch_size = 200;
    c.w_min = 0.5;
    c.w_max = 1.0;
  } else {
    throw std::invalid_argument(
        "recdiff::ldiffrec_preset: unknown preset '" + name +
        "' (ml-1m_clean, ml-1m_noisy, yelp_clean, yelp_noisy, amazon-book_clean, "
        "amazon-book_noisy, lt-amazon-book_clean, lt-yelp_clean)");
  }
  return c;
}

/// Latent block sizes of the clusters (released code): l_c = floor(n_c / I * D), at least 1, for
/// every cluster but the last, which gets D minus the others. ml-1m_clean, C = 2: [197, 103].
/// @throws std::invalid_argument when the blocks do not fit in D
inline std::vector<int> ldiffrec_latent_sizes(std::span<const index_t> cluster_sizes, int latent) {
  index_t items = 0;
  for (const index_t n : cluster_sizes) items += n;
  std::vector<int> sizes;
  int used = 0;
  for (std::size_t c = 0; c + 1 < cluster_sizes.size(); ++c) {
    // The released code's float arithmetic: int(n_c / I * D).
    const int l = static_cast<int>(static_cast<double>(cluster_sizes[c]) /
                                   static_cast<double>(items) * latent);
    sizes.push_back(l > 0 ? l : 1);
    used += sizes.back();
  }
  if (latent - used < 1)
    throw std::invalid_argument("recdiff::ldiffrec_latent_sizes: " + std::to_string(latent) +
                                " latent dimensions leave none for the last cluster");
  sizes.push_back(latent - used);
  return sizes;
}

/// A value functor (input_weighting.hpp's interface) giving every stored entry the same value: a
/// binary row after inverted dropout, whose kept entries are all 1 / (1 - p).
struct ConstantValue {
  float value = 1.0f;  ///< every entry's value
  RECDIFF_HOST_DEVICE float operator()(std::size_t, std::size_t) const { return value; }
};

/// L-DiffRec (InputType = BinaryInput) and LT-DiffRec (TimeLinearInput) as a trainable,
/// scorable, savable recommender (TrainableModel, Scorer).
///
/// Items are reordered by cluster (ItemClusters: position p of the permuted space is item
/// perm[p]). A training step on a batch X0 (spec of the released code, docs/models.md):
///  1. Xp = dropout(X0 permuted), p = vae_dropout.
///  2. Encoder c, Linear(n_c -> 2 l_c) + tanh on cluster c's columns, gives [mu_c, logvar_c];
///     mu and logvar are concatenated in cluster order; z0 = mu + exp(logvar / 2) n in training;
///     KL = mean_b KL(N(mu, e^logvar) || N(0, I)).
///  3. The diffusion loss of DiffRec on z0 (the Diffusion's step sampler, SNR weights, 1/p):
///     elbo. z0 is not detached: the encoder learns through the target and x_t.
///  4. The one-step x0 prediction is decoded, Linear(D -> I), into logits R; rec is the
///     multinomial NLL of Xp under softmax(R).
///  5. loss = lambda_e elbo + rec + beta_n KL, lambda_e annealed per finished epoch (end_epoch()),
///     beta_n per batch; one backward pass; an AdamW step on the autoencoder (lr1) and one on the
///     MLP (lr2).
/// Scoring: the encoder means (no dropout), the reverse chain in latent space, the decoder's
/// logits, mapped back to item order.
///
/// Memory is O(nnz) for the data plus O(B x I) per batch and O(I x D) of parameters; no users x
/// items matrix is formed. With binary input the encoders read the batch's (dropped-out) entries
/// as CSR rows, in O(nnz x 2 l_c) instead of O(B x n_c x 2 l_c) (forward and weight gradient);
/// weighted input (LT-DiffRec) takes the dense column blocks.
/// @tparam BackendType   CpuBackend or CudaBackend
/// @tparam ObjectiveType an objective whose network output is the x0 prediction (PredictX0): the
///                       decoder reads it directly
/// @tparam InputType     BinaryInput (L-DiffRec) or TimeLinearInput (LT-DiffRec)
/// @tparam SamplerType   the diffusion step sampler (ImportanceSampler as released; UniformSampler
///                       for the paper's ablation)
/// @tparam T             the scalar type (float; double for finite-difference checks)
template <class BackendType, class ObjectiveType = PredictX0, class InputType = BinaryInput,
          class SamplerType = ImportanceSampler, class T = float>
class LatentDiffRec {
  static_assert(ObjectiveType::output_is_x0,
                "L-DiffRec decodes the denoiser's output as the x0 prediction: use PredictX0");

 public:
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context
  using Denoiser = Mlp<BackendType, T, Tanh>;               ///< the latent denoiser
  /// The latent diffusion.
  using DiffusionType = Diffusion<BackendType, Gaussian, DiffRecLinearVar, Denoiser, ObjectiveType>;
  using Snapshot = std::vector<Matrix>;  ///< copies of every parameter, autoencoder first

  /// The checkpoint's "model" entry.
  static constexpr const char* model_name = "ldiffrec";

  /// A freshly initialised model for the item clusters `clusters` (their item count is I).
  /// `context_arg` constructs the backend's Context (CPU threads, 0 = all; CUDA device).
  /// @throws std::invalid_argument on a bad configuration, when clusters.num_clusters() differs
  ///         from config.clusters, when a cluster is empty, or when the input weighting disagrees with w_min / w_max
  LatentDiffRec(const LDiffRecConfig& config, ItemClusters clusters, InputType input = {},
                int context_arg = 0)
      : m_state(std::make_unique<State>(checked(config, clusters, input), std::move(clusters),
                                        std::move(input), context_arg)) {}

  /// One optimisation step on the users `users` of `train`; `step` (the global batch index) keys
  /// the dropout masks, the latent noise, the steps and the diffusion noise. Returns the batch
  /// loss lambda elbo + rec + beta KL.
  /// @throws std::invalid_argument for an empty batch or a matrix with another item count
  double train_batch(const InteractionMatrix& train, std::span<const index_t> users,
                     std::uint32_t step) {
    const double loss = loss_and_gradients(train, users, step);
    State& s = *m_state;
    s.vae_optimizer.step(s.ctx);
    s.mlp_optimizer.step(s.ctx);
    ++s.batches_done;
    return loss;
  }

  /// The batch loss of train_batch() and its gradient with respect to every parameter (left in the
  /// parameters' gradients), without an update; the step sampler records the batch's losses.
  double loss_and_gradients(const InteractionMatrix& train, std::span<const index_t> users,
                            std::uint32_t step) {
    State& s = *m_state;
    check_items("train_batch", train);
    if (users.empty()) throw std::invalid_argument("recdiff::LatentDiffRec::train_batch: empty batch");
    const auto rows = static_cast<std::int64_t>(users.size());
    const nn::Pass pass{true, s.config.seed, step, {}};
    s.vae_optimizer.zero_grad();
    s.mlp_optimizer.zero_grad();

    // 1-2: the dropped, permuted input and its latent.
    const nn::Pass latent_pass{s.config.reparameterize, s.config.seed, step, {}};
    const Matrix* xp_ptr = nullptr;
    if constexpr (kSparseInput) {
      sparse_input(s, train, users, s.config.vae_dropout, step + kVaeDropoutSalt);
      xp_ptr = &s.xp;
    } else {
      permuted_input(s, train, users);
      xp_ptr = &s.input_dropout.forward(s.ctx, s.xp, pass);
    }
    const Matrix& xp = *xp_ptr;
    const Matrix& z0 = encode(s, xp, latent_pass, pass);

    // 3: the diffusion loss on z0, its gradient scaled by lambda.
    const double lambda = s.config.lambda_at(s.epochs_done);
    const auto steps = s.diffusion.sample_steps(s.sampler, users.size(), step);
    const Matrix& z_t = s.diffusion.noise(s.ctx, z0, steps, step);
    const Matrix& z0_hat = s.diffusion.denoise(s.ctx, z_t, steps, step);
    const auto p = s.diffusion.step_probabilities();
    const auto row_loss = s.diffusion.loss_terms(s.ctx, steps, p, lambda);
    const double elbo = mean_batch_loss(row_loss, p);
    s.sampler.update(steps, row_loss);

    // 4: decode the one-step prediction; its gradient joins the diffusion's at the MLP output.
    const Matrix& logits = s.decoder.forward(s.ctx, z0_hat, pass);
    const double rec = s.likelihood.loss_and_gradient(s.ctx, logits, xp);
    s.diffusion.add_output_gradient(s.ctx, *s.decoder.backward(s.ctx, s.likelihood.gradient(), true));

    // 5: back through the diffusion to z0, the latent layer (with the KL) and the encoders.
    const double beta = s.config.kl_weight_at(s.batches_done);
    s.latent.set_kl_weight(beta / static_cast<double>(rows));
    const Matrix& dz0 = s.diffusion.backward_to_x0(s.ctx);
    const double kl = s.latent.kl_sum(s.ctx) / static_cast<double>(rows);
    encoders_backward(s, *s.latent.backward(s.ctx, dz0, true));
    return lambda * elbo + rec + beta * kl;
  }

  /// Counts a finished epoch (lambda's anneal); the Trainer calls it after every epoch.
  void end_epoch() noexcept { ++m_state->epochs_done; }

  /// Scores (users.size() x I, in item order): encoder means of the users' rows of `input`, the
  /// reverse chain in latent space, the decoder's logits.
  /// @throws std::invalid_argument when input has another item count
  void score(const InteractionMatrix& input, std::span<const index_t> users, ScoreMatrix& out) {
    State& s = *m_state;
    check_items("score", input);
    const auto rows = static_cast<std::int64_t>(users.size());
    out.resize(rows, s.clusters.num_items());
    if (rows == 0) return;
    if constexpr (kSparseInput)
      sparse_input(s, input, users, 0.0, 0);
    else
      permuted_input(s, input, users);
    const Matrix& mu = encode(s, s.xp, nn::Pass{}, nn::Pass{});
    s.diffusion.reverse_chain_dense(s.ctx, mu, users, s.z_chain);
    const Matrix& logits = s.decoder.forward(s.ctx, s.z_chain, nn::Pass{});
    s.scores.resize(rows, s.clusters.num_items());
    BackendType::for_each(s.ctx, rows, s.scores.cols(),
                          nn::GatherColumns<T, index_t>{logits.data(), logits.cols(),
                                                        s.inverse_index.data(), s.scores.data(),
                                                        s.scores.cols()});
    if constexpr (std::is_same_v<Matrix, ScoreMatrix>) {
      out.swap(s.scores);
    } else if constexpr (std::is_same_v<T, float>) {
      BackendType::download(s.ctx, s.scores,
                            std::span<float>(out.data(), static_cast<std::size_t>(out.size())));
    } else {
      std::vector<T> host(static_cast<std::size_t>(out.size()));
      BackendType::download(s.ctx, s.scores, std::span<T>(host));
      for (std::size_t k = 0; k < host.size(); ++k) out.data()[k] = static_cast<float>(host[k]);
    }
  }

  /// A copy of every parameter (autoencoder, then MLP).
  Snapshot snapshot() const { return nn::snapshot_values(m_state->all_params); }
  /// Restores snapshot().
  /// @throws std::invalid_argument for a snapshot of another architecture
  void restore(const Snapshot& snap) {
    nn::restore_values(m_state->all_params, snap, "recdiff::LatentDiffRec::restore");
  }

  /// Writes the model atomically: configuration, clusters, parameters ("vae.", "mlp."), both
  /// optimisers' states, the sampler's state and the anneal counters.
  void save(const std::filesystem::path& path) const {
    const State& s = *m_state;
    CheckpointWriter w;
    w.add_text("model", model_name);
    w.add_text("config", s.config.to_string());
    w.add_text("counters", std::to_string(s.epochs_done) + " " + std::to_string(s.batches_done));
    const std::vector<double> perm(s.clusters.perm.begin(), s.clusters.perm.end());
    w.add_tensor("clusters.permutation", 1, perm.size(), perm.data());
    const std::vector<double> sizes(s.clusters.sizes.begin(), s.clusters.sizes.end());
    w.add_tensor("clusters.sizes", 1, sizes.size(), sizes.data());
    save_parameters<BackendType, T>(s.ctx, w, s.all_params, "");
    s.vae_optimizer.save_state(s.ctx, w, "optimizer.vae.");
    s.mlp_optimizer.save_state(s.ctx, w, "optimizer.mlp.");
    const std::vector<double> sampler = s.sampler.state();
    w.add_tensor("sampler.state", 1, sampler.size(), sampler.data());
    w.write(path);
  }

  /// Reads what save() wrote into this model, which must have the same architecture and the same
  /// clusters; IoError otherwise (and then the model is unchanged).
  void load(const std::filesystem::path& path) {
    State& s = *m_state;
    const CheckpointReader r(path);
    if (r.text("model") != model_name)
      throw IoError(path, "holds a '" + r.text("model") + "' model, expected '" + model_name + "'");
    const auto perm_shape = r.shape("clusters.permutation");
    const std::vector<double> perm = r.tensor<double>("clusters.permutation", 1, perm_shape.second);
    const auto& mine = s.clusters.perm;
    bool same = perm.size() == mine.size();
    for (std::size_t p = 0; same && p < perm.size(); ++p) same = perm[p] == static_cast<double>(mine[p]);
    if (!same)
      throw IoError(path, "was trained on other item clusters: build the model from the clusters "
                          "it was trained with");
    std::istringstream counters(r.text("counters"));
    std::int64_t epochs = 0, batches = 0;
    counters >> epochs >> batches;
    if (counters.fail() || epochs < 0 || batches < 0)
      throw IoError(path, "entry 'counters' is not two non-negative integers");
    StagedLoad staged;
    staged.push_back(stage_parameters<BackendType, T>(s.ctx, r, s.all_params, ""));
    staged.push_back(s.vae_optimizer.stage_state(s.ctx, r, "optimizer.vae."));
    staged.push_back(s.mlp_optimizer.stage_state(s.ctx, r, "optimizer.mlp."));
    SamplerType sampler = s.sampler;
    const auto sampler_shape = r.shape("sampler.state");
    sampler.set_state(r.tensor<double>("sampler.state", 1, sampler_shape.second));
    staged.push_back([&s, sampler = std::move(sampler)]() mutable { s.sampler = std::move(sampler); });
    staged.push_back([&s, epochs, batches] {
      s.epochs_done = epochs;
      s.batches_done = batches;
    });
    commit(staged);
  }

  /// The configuration.
  const LDiffRecConfig& config() const noexcept { return m_state->config; }
  /// The item clusters.
  const ItemClusters& clusters() const noexcept { return m_state->clusters; }
  /// Latent block size of each cluster.
  const std::vector<int>& latent_sizes() const noexcept { return m_state->latent_sizes; }
  /// The autoencoder's parameters ("vae.encoder.<c>.", "vae.decoder.") and the MLP's ("mlp.").
  const nn::ParameterList<BackendType, T>& vae_parameters() const noexcept { return m_state->vae_params; }
  const nn::ParameterList<BackendType, T>& mlp_parameters() const noexcept { return m_state->mlp_params; }
  /// Every parameter, autoencoder first.
  const nn::ParameterList<BackendType, T>& parameters() const noexcept { return m_state->all_params; }
  /// Number of scalars (ml-1m_clean, C = 2: 1,956,780).
  std::size_t num_parameters() const noexcept { return nn::count_scalars(m_state->all_params); }
  /// The latent diffusion.
  DiffusionType& diffusion() noexcept { return m_state->diffusion; }
  /// The step sampler.
  SamplerType& sampler() noexcept { return m_state->sampler; }
  /// The backend context.
  const Context& context() const noexcept { return m_state->ctx; }
  /// lambda and the KL weight of the next batch.
  double lambda() const { return m_state->config.lambda_at(m_state->epochs_done); }
  double kl_weight() const { return m_state->config.kl_weight_at(m_state->batches_done); }
  /// Epochs finished, and optimisation steps (batches) taken so far.
  std::int64_t epochs_done() const noexcept { return m_state->epochs_done; }
  std::int64_t updates() const noexcept { return m_state->batches_done; }

 private:
  // The VAE input dropout's counter offset: its masks never coincide with the MLP's.
  static constexpr std::uint32_t kVaeDropoutSalt = 0x40000000u;
  // Philox layer indices of the autoencoder (the MLP uses the low ones).
  static constexpr std::uint32_t kVaeFirstLayer = 64;
  // Binary rows: the encoders read CSR batches (all kept entries valued 1 / (1 - p)).
  static constexpr bool kSparseInput = std::is_same_v<InputType, BinaryInput>;

  struct State {
    State(const LDiffRecConfig& c, ItemClusters cl, InputType in, int context_arg)
        : config(c),
          clusters(std::move(cl)),
          input(std::move(in)),
          ctx(context_arg),
          latent_sizes(ldiffrec_latent_sizes(clusters.sizes, c.latent)),
          diffusion(DiffRecLinearVar(c.steps, c.noise_scale, c.noise_min, c.noise_max,
                                     /*fix_first_beta=*/false),
                    Denoiser(mlp_config(c), c.seed), diffusion_options(c)),
          sampler(c.steps),
          input_dropout(c.vae_dropout, kVaeDropoutSalt),
          latent(c.latent),
          decoder(c.latent, static_cast<int>(clusters.num_items())),
          vae_optimizer(vae_parameters_of(), adam(c.lr1, c.weight_decay1)),
          mlp_optimizer(nn::parameters_of(diffusion.denoiser(), "mlp."), adam(c.lr2, c.weight_decay2)) {
      vae_params = vae_parameters_of();
      encoder_in.resize(encoders.size());
      encoder_grad.resize(encoders.size());
      mlp_params = nn::parameters_of(diffusion.denoiser(), "mlp.");
      all_params = vae_params;
      all_params.insert(all_params.end(), mlp_params.begin(), mlp_params.end());
      const auto items = static_cast<std::int64_t>(clusters.num_items());
      BackendType::upload(ctx, std::span<const index_t>(clusters.perm), 1, items, perm_index);
      BackendType::upload(ctx, std::span<const index_t>(clusters.inverse), 1, items, inverse_index);
    }

    // Encoders are built here, before the optimiser takes their parameters.
    nn::ParameterList<BackendType, T> vae_parameters_of() {
      if (encoders.empty()) {
        const auto& sizes = clusters.sizes;
        for (std::size_t c = 0; c < sizes.size(); ++c) {
          encoders.emplace_back(static_cast<int>(sizes[c]), 2 * latent_sizes[c]);
          encoders.back().initialize(ctx, nn::Init::xavier_zero_bias, config.seed,
                                     kVaeFirstLayer + static_cast<std::uint32_t>(c), 0);
        }
        decoder.initialize(ctx, nn::Init::xavier_zero_bias, config.seed,
                           kVaeFirstLayer + static_cast<std::uint32_t>(sizes.size()));
      }
      nn::ParameterList<BackendType, T> out;
      for (std::size_t c = 0; c < encoders.size(); ++c)
        encoders[c].collect_parameters("vae.encoder." + std::to_string(c) + ".", out);
      decoder.collect_parameters("vae.decoder.", out);
      return out;
    }

    LDiffRecConfig config;
    ItemClusters clusters;
    InputType input;
    Context ctx;
    std::vector<int> latent_sizes;
    DiffusionType diffusion;
    SamplerType sampler;
    nn::Dropout<BackendType, T> input_dropout;
    std::vector<nn::InputLinear<BackendType, T, Tanh>> encoders;
    nn::GaussianLatent<BackendType, T> latent;
    nn::Linear<BackendType, T> decoder;
    MultinomialLikelihood<BackendType, T> likelihood;
    AdamW<BackendType, T> vae_optimizer;
    AdamW<BackendType, T> mlp_optimizer;
    nn::ParameterList<BackendType, T> vae_params, mlp_params, all_params;
    typename BackendType::template Matrix<index_t> perm_index, inverse_index;
    Matrix x, xp, h, dh, z_chain, scores;
    std::vector<Matrix> encoder_in, encoder_grad;
    // Binary input: the batch's entries, in permuted item space and per cluster (local ids).
    InteractionMatrix permuted_rows;
    std::vector<InteractionMatrix> cluster_rows;
    std::vector<index_t> batch_rows;  // 0 .. B-1
    float entry_value = 1.0f;         // value of every kept entry
    std::int64_t epochs_done = 0;
    std::int64_t batches_done = 0;
  };

  static MlpConfig mlp_config(const LDiffRecConfig& c) {
    MlpConfig m;
    m.items = c.latent;
    m.dims = c.mlp_dims;
    m.emb_size = c.emb_size;
    m.dropout = c.mlp_dropout;
    m.init = nn::Init::xavier_zero_bias;
    return m;
  }
  static DiffusionOptions diffusion_options(const LDiffRecConfig& c) {
    DiffusionOptions o;
    o.reweight = c.reweight;
    o.seed = c.seed;
    return o;
  }
  static AdamConfig adam(double lr, double weight_decay) {
    AdamConfig a;
    a.lr = lr;
    a.weight_decay = weight_decay;
    return a;
  }

  static const LDiffRecConfig& checked(const LDiffRecConfig& c, const ItemClusters& clusters,
                                       const InputType& input) {
    c.validate();
    if (clusters.num_clusters() != c.clusters)
      throw std::invalid_argument("recdiff::LatentDiffRec: the configuration asks for " +
                                  std::to_string(c.clusters) + " clusters, the item clusters have " +
                                  std::to_string(clusters.num_clusters()));
    for (int k = 0; k < clusters.num_clusters(); ++k)
      if (clusters.sizes[static_cast<std::size_t>(k)] == 0)
        throw std::invalid_argument("recdiff::LatentDiffRec: item cluster " + std::to_string(k) +
                                    " is empty; cluster with fewer clusters");
    if constexpr (std::is_same_v<InputType, TimeLinearInput>) {
      if (!c.time_weighted() || input.w_min != c.w_min || input.w_max != c.w_max)
        throw std::invalid_argument(
            "recdiff::LatentDiffRec: LT-DiffRec's input weights must equal the configuration's "
            "w_min / w_max (set both)");
    } else if (c.time_weighted()) {
      throw std::invalid_argument(
          "recdiff::LatentDiffRec: the configuration sets time weights; build LT-DiffRec "
          "(TimeLinearInput) to use them");
    }
    return c;
  }

  void check_items(const char* method, const InteractionMatrix& m) const {
    if (m.num_items() != m_state->clusters.num_items())
      throw std::invalid_argument(std::string("recdiff::LatentDiffRec::") + method +
                                  ": the matrix has " + std::to_string(m.num_items()) +
                                  " items, the model " + std::to_string(m_state->clusters.num_items()));
  }

  // s.xp = the users' rows (valued by the input weighting) with columns in cluster order.
  static void permuted_input(State& s, const InteractionMatrix& m, std::span<const index_t> users) {
    BackendType::densify(s.ctx, m, users, s.x, s.input);
    s.xp.resize(s.x.rows(), s.x.cols());
    BackendType::for_each(s.ctx, s.x.rows(), s.x.cols(),
                          nn::GatherColumns<T, index_t>{s.x.data(), s.x.cols(), s.perm_index.data(),
                                                        s.xp.data(), s.xp.cols()});
  }

  // Binary input as CSR batches: the users' entries moved to permuted positions, each dropped when
  // the uniform draw (seed, Stream::dropout, counter, b, p) is below `drop` (the draw nn::Dropout
  // makes for element (b, p) of the dense batch), into s.permuted_rows and, with cluster-local
  // ids, s.cluster_rows; s.xp is the dense dropped batch (the likelihood's target).
  static void sparse_input(State& s, const InteractionMatrix& m, std::span<const index_t> users,
                           double drop, std::uint32_t counter) {
    const auto rows = static_cast<index_t>(users.size());
    const std::size_t clusters = s.clusters.sizes.size();
    s.entry_value = static_cast<float>(1.0 / (1.0 - drop));
    s.batch_rows.resize(users.size());
    for (std::size_t b = 0; b < users.size(); ++b) s.batch_rows[b] = static_cast<index_t>(b);
    std::vector<InteractionBuilder> per_cluster(clusters);
    InteractionBuilder all;
    const float p = static_cast<float>(drop);
    for (index_t b = 0; b < rows; ++b) {
      if (users[static_cast<std::size_t>(b)] < 0 || users[static_cast<std::size_t>(b)] >= m.num_users())
        throw std::out_of_range("recdiff::LatentDiffRec: user " +
                                std::to_string(users[static_cast<std::size_t>(b)]) +
                                " outside the matrix");
      for (const index_t item : m.items_of(users[static_cast<std::size_t>(b)])) {
        const index_t pos = s.clusters.inverse[static_cast<std::size_t>(item)];
        if (p > 0) {
          const auto block = philox::random_block(s.config.seed, philox::Stream::dropout, counter,
                                                  static_cast<std::uint32_t>(b),
                                                  static_cast<std::uint32_t>(pos / 4));
          if (philox::to_unit(block.v[pos % 4]) < p) continue;
        }
        all.add(b, pos);
        // The cluster of position pos: offsets are ascending.
        std::size_t c = 0;
        while (pos >= s.clusters.offsets[c + 1]) ++c;
        per_cluster[c].add(b, pos - s.clusters.offsets[c]);
      }
    }
    // A backend that mirrors CSR matrices on the device keys them by id: drop the last batch's.
    if constexpr (requires { s.ctx.release_mirror(s.permuted_rows.id()); }) {
      s.ctx.release_mirror(s.permuted_rows.id());
      for (const auto& r : s.cluster_rows) s.ctx.release_mirror(r.id());
    }
    s.permuted_rows = all.build(rows, s.clusters.num_items());
    s.cluster_rows.resize(clusters);
    for (std::size_t c = 0; c < clusters; ++c)
      s.cluster_rows[c] = per_cluster[c].build(rows, s.clusters.sizes[c]);
    BackendType::densify(s.ctx, s.permuted_rows, s.batch_rows, s.xp, ConstantValue{s.entry_value});
  }

  // The latent of permuted rows xp: each cluster's encoder on its columns, [mu, logvar] assembled
  // in cluster order, then the Gaussian latent layer (sampling when latent_pass.train).
  static const Matrix& encode(State& s, const Matrix& xp, const nn::Pass& latent_pass,
                              const nn::Pass& pass) {
    const std::int64_t rows = xp.rows(), d = s.config.latent;
    s.h.resize(rows, 2 * d);
    std::int64_t item_offset = 0, latent_offset = 0;
    for (std::size_t c = 0; c < s.encoders.size(); ++c) {
      const std::int64_t n = s.clusters.sizes[c], l = s.latent_sizes[c];
      const Matrix* hc_ptr = nullptr;
      if constexpr (kSparseInput) {
        hc_ptr = &s.encoders[c].forward_sparse(s.ctx, s.cluster_rows[c], s.batch_rows,
                                               ConstantValue{s.entry_value}, pass);
      } else {
        Matrix& in = s.encoder_in[c];
        in.resize(rows, n);
        BackendType::for_each(s.ctx, rows, n,
                              nn::CopyColumnBlock<T>{xp.data(), xp.cols(), item_offset, in.data(), n, 0});
        hc_ptr = &s.encoders[c].forward(s.ctx, in, pass);
      }
      const Matrix& hc = *hc_ptr;
      BackendType::for_each(s.ctx, rows, l,
                            nn::CopyColumnBlock<T>{hc.data(), 2 * l, 0, s.h.data(), 2 * d, latent_offset});
      BackendType::for_each(s.ctx, rows, l,
                            nn::CopyColumnBlock<T>{hc.data(), 2 * l, l, s.h.data(), 2 * d, d + latent_offset});
      item_offset += n;
      latent_offset += l;
    }
    return s.latent.forward(s.ctx, s.h, latent_pass);
  }

  // dh (B x 2D) split back into each encoder's [d mu_c, d logvar_c] and run through it.
  static void encoders_backward(State& s, const Matrix& dh) {
    const std::int64_t rows = dh.rows(), d = s.config.latent;
    std::int64_t latent_offset = 0;
    for (std::size_t c = 0; c < s.encoders.size(); ++c) {
      const std::int64_t l = s.latent_sizes[c];
      Matrix& g = s.encoder_grad[c];
      g.resize(rows, 2 * l);
      BackendType::for_each(s.ctx, rows, l,
                            nn::CopyColumnBlock<T>{dh.data(), 2 * d, latent_offset, g.data(), 2 * l, 0});
      BackendType::for_each(s.ctx, rows, l,
                            nn::CopyColumnBlock<T>{dh.data(), 2 * d, d + latent_offset, g.data(), 2 * l, l});
      s.encoders[c].backward(s.ctx, g, false);
      latent_offset += l;
    }
  }

  std::unique_ptr<State> m_state;
};

/// L-DiffRec: binary input.
template <class BackendType, class ObjectiveType = PredictX0>
using LDiffRec = LatentDiffRec<BackendType, ObjectiveType, BinaryInput>;
/// LT-DiffRec: T-DiffRec's time-weighted input.
template <class BackendType, class ObjectiveType = PredictX0>
using LTDiffRec = LatentDiffRec<BackendType, ObjectiveType, TimeLinearInput>;

}  // namespace recdiff
