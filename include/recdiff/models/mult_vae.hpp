#pragma once
/// @file
/// Mult-VAE (Liang, Krishnan, Hoffman and Jebara, "Variational Autoencoders for Collaborative
/// Filtering", WWW 2018, section 2.2): a variational autoencoder over a user's item row with the
/// multinomial likelihood and a KL term annealed from 0 to a cap.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <recdiff/config.hpp>
#include <recdiff/core/input_weighting.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/eval/score_matrix.hpp>
#include <recdiff/models/autoencoder.hpp>
#include <recdiff/nn/gaussian_latent.hpp>
#include <recdiff/nn/init.hpp>
#include <recdiff/nn/sequence.hpp>

namespace recdiff {

/// Hyper-parameters of MultVAE (defaults: Liang et al.'s, I -> 600 -> 200 -> 600 -> I, beta
/// annealed to 0.2 over 200,000 updates).
struct MultVAEConfig {
  /// Widths of the encoder's hidden layers, then the latent size: {600, 200} is the encoder
  /// I -> 600 -> 2 x 200 (mean and log-variance) and the decoder 200 -> 600 -> I; {200} is
  /// I -> 2 x 200 and 200 -> I. tanh after every hidden layer.
  std::vector<int> dims{600, 200};
  /// Dropout probability on the L2-normalised input (training only).
  double dropout = 0.5;
  /// Adam's learning rate.
  double lr = 1e-3;
  /// lambda of an L2 penalty lambda * sum ||W||^2 over the weight matrices (Liang et al.: 0).
  double weight_decay = 0.0;
  /// Largest KL weight beta.
  double beta_cap = 0.2;
  /// beta = min(beta_cap, updates / anneal_steps); 0 means beta = beta_cap from the first update.
  std::int64_t anneal_steps = 200000;
  /// Seeds the initialisation, the dropout masks and the latent noise.
  std::uint64_t seed = 1;
  /// Threads (0: all cores).
  int threads = 0;
  /// T-DiffRec's time-aware input weights (Wang et al., SIGIR 2023, section 3.5): the m-th of a
  /// user's M training interactions, in row order, weighs w_min + m (w_max - w_min) / (M - 1) in
  /// the input, its L2 norm and the likelihood's target (AutoencoderCore). std::nullopt (the
  /// default): binary rows, as in Liang et al.
  std::optional<TimeLinearInput> time_weights;

  /// @throws std::invalid_argument naming the first bad field
  void validate() const {
    autoencoder_detail::validate_common("recdiff::MultVAEConfig", dims, dropout, lr, weight_decay,
                                        threads);
    autoencoder_detail::validate_time_weights("recdiff::MultVAEConfig", time_weights);
    if (!(beta_cap >= 0) || !std::isfinite(beta_cap))
      throw std::invalid_argument("recdiff::MultVAEConfig: beta_cap must be >= 0, got " +
                                  std::to_string(beta_cap));
    if (anneal_steps < 0)
      throw std::invalid_argument(
          "recdiff::MultVAEConfig: anneal_steps must be >= 0 (0: no annealing), got " +
          std::to_string(anneal_steps));
  }

  /// key=value lines (the checkpoint's "config" entry).
  std::string to_string() const {
    return autoencoder_detail::common_text(dims, dropout, lr, weight_decay, seed) +
           "beta_cap=" + autoencoder_detail::exact(beta_cap) +
           "\nanneal_steps=" + std::to_string(anneal_steps) + "\n" +
           autoencoder_detail::time_weights_text(time_weights);
  }

  /// The KL weight after `updates` optimisation steps.
  double beta(std::int64_t updates) const {
    if (anneal_steps == 0) return beta_cap;
    return std::min(beta_cap, static_cast<double>(updates) / static_cast<double>(anneal_steps));
  }

  /// Latent size (the last entry of dims).
  int latent() const { return dims.back(); }
  /// Encoder widths: items, the hidden dims, 2 x latent.
  std::vector<int> encoder_widths(int items) const {
    std::vector<int> w{items};
    w.insert(w.end(), dims.begin(), dims.end() - 1);
    w.push_back(2 * latent());
    return w;
  }
  /// Decoder widths: latent, the hidden dims reversed, items.
  std::vector<int> decoder_widths(int items) const {
    std::vector<int> w(dims.rbegin(), dims.rend());
    w.push_back(items);
    return w;
  }
};

/// Mult-VAE's network as a Module: the encoder (an ItemFeedForward chain to [mean, log-variance]),
/// the Gaussian latent layer (sampling in training, the mean otherwise; KL term) and the decoder
/// (a FeedForward chain to the logits), run as one nn::Sequence. Parameters "encoder.<l>...",
/// "decoder.<l>...".
template <class BackendType, class T>
class MultVAENetwork {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context
  /// encoder, latent, decoder.
  using Chain = nn::Sequence<ItemFeedForward<BackendType, T>, nn::GaussianLatent<BackendType, T>,
                             FeedForward<BackendType, T>>;

  /// The network of `config` over `items` items, parameters drawn under nn::Init::diffrec with
  /// config.seed (encoder layers first, then decoder layers, in Philox layer order).
  MultVAENetwork(const MultVAEConfig& config, int items)
      : m_chain(ItemFeedForward<BackendType, T>(config.encoder_widths(items)),
                nn::GaussianLatent<BackendType, T>(config.latent()),
                make_feed_forward<BackendType, T>(config.decoder_widths(items))) {
    const Context ctx(config.threads);
    encoder().initialize(ctx, nn::Init::diffrec, config.seed, 0);
    initialize_layers<BackendType, T>(ctx, decoder(), nn::Init::diffrec, config.seed,
                                      static_cast<std::uint32_t>(encoder().num_layers()));
  }

  /// The encoder.
  ItemFeedForward<BackendType, T>& encoder() noexcept { return m_chain.template get<0>(); }
  /// The latent layer (its KL weight is set before each backward pass).
  nn::GaussianLatent<BackendType, T>& latent() noexcept { return m_chain.template get<1>(); }
  /// The decoder.
  FeedForward<BackendType, T>& decoder() noexcept { return m_chain.template get<2>(); }

  /// Logits for dense rows x (B x items).
  const Matrix& forward(const Context& ctx, const Matrix& x, const nn::Pass& pass = {}) {
    return m_chain.forward(ctx, x, pass);
  }
  /// Logits for CSR rows (see ItemFeedForward::forward_sparse).
  const Matrix& forward_sparse(const Context& ctx, const InteractionMatrix& input,
                               std::span<const index_t> users, const Matrix* row_scale,
                               const nn::Pass& pass = {}) {
    const Matrix& h = encoder().forward_sparse(ctx, input, users, row_scale, pass);
    return decoder().forward(ctx, latent().forward(ctx, h, pass), pass);
  }
  /// Logits for CSR rows whose entries are valued value(position, length) (an input weighting).
  template <class ValueFn>
  const Matrix& forward_sparse(const Context& ctx, const InteractionMatrix& input,
                               std::span<const index_t> users, ValueFn value,
                               const Matrix* row_scale, const nn::Pass& pass = {}) {
    const Matrix& h = encoder().forward_sparse(ctx, input, users, value, row_scale, pass);
    return decoder().forward(ctx, latent().forward(ctx, h, pass), pass);
  }
  /// Backward through decoder, latent layer (with its KL term) and encoder.
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    return m_chain.backward(ctx, dy, need_input_grad);
  }
  /// Appends the encoder's parameters under prefix + "encoder.", then the decoder's under
  /// prefix + "decoder.".
  void collect_parameters(const std::string& prefix, nn::ParameterList<BackendType, T>& out) {
    encoder().collect_parameters(prefix + "encoder.", out);
    decoder().collect_parameters(prefix + "decoder.", out);
  }
  /// Number of scalars.
  std::size_t num_parameters() const noexcept { return m_chain.num_parameters(); }

 private:
  Chain m_chain;
};

/// Mult-VAE (Liang et al., WWW 2018): encoder q(z | x) = N(m, diag e^s) with [m, s] = g(dropout(x /
/// ||x||)), z = m + e^{s/2} eps in training, logits = f(z); the loss of a batch is the multinomial
/// negative log-likelihood of its rows plus beta times the batch-mean KL(q || N(0, I)), beta =
/// config.beta(updates so far) (eq. 6 with the annealing of section 2.2.2). Scores are the logits
/// of z = m for the clean normalised row. Weights Xavier-normal, biases N(0, 0.001^2)
/// (nn::Init::diffrec); the latent noise is Philox Stream::latent keyed by (seed, step, row,
/// column). Satisfies TrainableModel; the interface is AutoencoderModel's.
/// @tparam BackendType a Backend; @tparam T the scalar type (float; double for gradient checks)
template <class BackendType, class T = float>
class MultVAE : public AutoencoderModel<MultVAE<BackendType, T>, BackendType, T,
                                        MultVAENetwork<BackendType, T>, MultVAEConfig> {
  using Base = AutoencoderModel<MultVAE<BackendType, T>, BackendType, T,
                                MultVAENetwork<BackendType, T>, MultVAEConfig>;
  friend Base;

 public:
  using typename Base::Context;
  using typename Base::Network;

  /// The checkpoint's "model" entry.
  static constexpr const char* model_name = "multvae";
  /// The name in error messages.
  static constexpr const char* class_name = "MultVAE";

  /// A freshly initialised model over `items` items.
  /// @throws std::invalid_argument on a bad configuration or items < 1
  MultVAE(const MultVAEConfig& config, index_t items)
      : Base(config, items, make_network(config, items)) {}

  /// The KL weight of the next update, config().beta(updates()).
  double beta() const { return this->config().beta(this->updates()); }

 private:
  static Network make_network(const MultVAEConfig& config, index_t items) {
    Base::validated(config, items);
    return Network(config, static_cast<int>(items));
  }
  // Sets the latent layer's KL weight to beta / B and returns beta times the batch-mean KL.
  auto loss_hook() const {
    const double b = beta();
    return [b](Network& net, const Context& ctx, std::int64_t rows) {
      net.latent().set_kl_weight(b / static_cast<double>(rows));
      if (b == 0) return 0.0;
      return b * net.latent().kl_sum(ctx) / static_cast<double>(rows);
    };
  }
};

}  // namespace recdiff
