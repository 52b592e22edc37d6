#pragma once
/// @file
/// Mult-DAE (Liang, Krishnan, Hoffman and Jebara, "Variational Autoencoders for Collaborative
/// Filtering", WWW 2018, section 2.3): a denoising autoencoder over a user's item row with the
/// multinomial likelihood.

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
#include <recdiff/nn/init.hpp>

namespace recdiff {

/// Hyper-parameters of MultDAE (defaults: Liang et al.'s, I -> 200 -> I).
struct MultDAEConfig {
  /// Widths of the encoder's layers; the decoder mirrors them: {200} is I -> 200 -> I, {600, 200}
  /// is I -> 600 -> 200 -> 600 -> I. tanh after every layer but the last.
  std::vector<int> dims{200};
  /// Dropout probability on the L2-normalised input (training only).
  double dropout = 0.5;
  /// Adam's learning rate.
  double lr = 1e-3;
  /// lambda of the penalty lambda * sum ||W||^2 over the weight matrices (not the biases), added to
  /// the batch loss. Liang et al.'s reference uses 0.01 / batch size; the default is that for
  /// their batch of 500.
  double weight_decay = 0.01 / 500.0;
  /// Seeds the initialisation, the dropout masks.
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
    autoencoder_detail::validate_common("recdiff::MultDAEConfig", dims, dropout, lr, weight_decay,
                                        threads);
    autoencoder_detail::validate_time_weights("recdiff::MultDAEConfig", time_weights);
  }

  /// key=value lines (the checkpoint's "config" entry).
  std::string to_string() const {
    return autoencoder_detail::common_text(dims, dropout, lr, weight_decay, seed) +
           autoencoder_detail::time_weights_text(time_weights);
  }

  /// The network's layer widths for `items` items: items, dims..., dims reversed without the
  /// last, items.
  std::vector<int> widths(int items) const {
    std::vector<int> w{items};
    w.insert(w.end(), dims.begin(), dims.end());
    for (std::size_t l = dims.size() - 1; l-- > 0;) w.push_back(dims[l]);
    w.push_back(items);
    return w;
  }
};

/// Mult-DAE: logits = f(dropout(x / ||x||)) with f an ItemFeedForward chain I -> dims -> mirrored
/// dims -> I (tanh hidden, linear output), trained with Adam on the multinomial negative
/// log-likelihood plus lambda * sum ||W||^2 (Liang et al., WWW 2018, eq. 2 and section 2.3).
/// Scores are the logits of the clean, normalised row (no dropout). Weights are drawn
/// Xavier-normal, biases N(0, 0.001^2) (nn::Init::diffrec). Satisfies TrainableModel; the
/// interface is AutoencoderModel's.
///
/// Parameters: "0.weight.items_t" (I x h1), "0.bias", then "<l>.weight", "<l>.bias".
/// @tparam BackendType a Backend; @tparam T the scalar type (float; double for gradient checks)
template <class BackendType, class T = float>
class MultDAE : public AutoencoderModel<MultDAE<BackendType, T>, BackendType, T,
                                        ItemFeedForward<BackendType, T>, MultDAEConfig> {
  using Base = AutoencoderModel<MultDAE<BackendType, T>, BackendType, T,
                                ItemFeedForward<BackendType, T>, MultDAEConfig>;
  friend Base;

 public:
  using typename Base::Context;
  using typename Base::Network;

  /// The checkpoint's "model" entry.
  static constexpr const char* model_name = "multdae";
  /// The name in error messages.
  static constexpr const char* class_name = "MultDAE";

  /// A freshly initialised model over `items` items.
  /// @throws std::invalid_argument on a bad configuration or items < 1
  MultDAE(const MultDAEConfig& config, index_t items)
      : Base(config, items, make_network(config, items)) {}

 private:
  static Network make_network(const MultDAEConfig& config, index_t items) {
    Base::validated(config, items);
    Network net(config.widths(static_cast<int>(items)));
    const Context ctx(config.threads);
    net.initialize(ctx, nn::Init::diffrec, config.seed, 0);
    return net;
  }
  // Nothing besides the likelihood and the L2 penalty.
  auto loss_hook() const {
    return [](Network&, const Context&, std::int64_t) { return 0.0; };
  }
};

}  // namespace recdiff
