#pragma once
/// @file
/// What Mult-DAE and Mult-VAE (Liang, Krishnan, Hoffman and Jebara, "Variational Autoencoders for
/// Collaborative Filtering", WWW 2018) share: feed-forward chains with tanh on the hidden layers,
/// the first of them reading item rows (dense or CSR), and AutoencoderCore, which trains such a
/// network under the multinomial likelihood on L2-normalised, dropped-out rows with Adam, scores
/// users, and keeps, saves and loads its parameters. The rows are binary, or carry T-DiffRec's
/// time-aware weights (core/input_weighting.hpp).

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/core/input_weighting.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/error.hpp>
#include <recdiff/eval/score_matrix.hpp>
#include <recdiff/io/checkpoint.hpp>
#include <recdiff/io/model_state.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/nn/dropout.hpp>
#include <recdiff/nn/init.hpp>
#include <recdiff/nn/input_linear.hpp>
#include <recdiff/nn/linear.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>
#include <recdiff/nn/row_l2_norm.hpp>
#include <recdiff/nn/sequence.hpp>
#include <recdiff/objective/multinomial.hpp>
#include <recdiff/optim/adam.hpp>

namespace recdiff {

/// tanh on a hidden layer, the identity on an output layer, chosen per layer at run time (the
/// activation functor of the chains below, whose last layer is linear). An activation functor in
/// the sense of math/activations.hpp.
struct TanhOrIdentity {
  bool tanh = true;  ///< apply tanh (else the identity)

  /// tanh(x) or x.
  template <class T>
  RECDIFF_HOST_DEVICE T operator()(T x) const {
    return tanh ? Tanh{}(x) : x;
  }
  /// 1 - y^2 or 1, from the output y.
  template <class T>
  RECDIFF_HOST_DEVICE T derivative(T y) const {
    return tanh ? T(1) - y * y : T(1);
  }
};

/// A chain of fully connected layers widths[0] -> widths[1] -> ... -> widths.back(), tanh after
/// every layer but the last (the decoder of Mult-VAE). Parameters "<l>.weight", "<l>.bias" for
/// layer l.
template <class BackendType, class T>
using FeedForward = nn::Stack<nn::Linear<BackendType, T, TanhOrIdentity>>;

namespace autoencoder_detail {
// "600,200" (appended piece by piece: GCC 12 warns falsely on "," + std::string temporaries).
inline std::string join(const std::vector<int>& values) {
  std::string out;
  for (const int v : values) {
    if (!out.empty()) out += ',';
    out += std::to_string(v);
  }
  return out;
}

[[noreturn]] inline void bad_widths(const char* who, const std::vector<int>& widths) {
  throw std::invalid_argument(
      std::string(who) + ": need at least two layer widths, all > 0, got [" + join(widths) + "]");
}
inline void check_widths(const char* who, const std::vector<int>& widths) {
  if (widths.size() < 2) bad_widths(who, widths);
  for (const int w : widths)
    if (w <= 0) bad_widths(who, widths);
}

// The checks every autoencoder configuration shares; `who` names the config type.
inline void validate_common(const std::string& who, const std::vector<int>& dims, double dropout,
                            double lr, double weight_decay, int threads) {
  auto fail = [&](const std::string& what) { throw std::invalid_argument(who + ": " + what); };
  if (dims.empty()) fail("dims must list at least one layer width, got none");
  for (const int d : dims)
    if (d <= 0) fail("every entry of dims must be > 0, got [" + join(dims) + "]");
  if (!(dropout >= 0 && dropout < 1))
    fail("dropout must be in [0, 1), got " + std::to_string(dropout));
  if (!(lr > 0) || !std::isfinite(lr)) fail("lr must be > 0, got " + std::to_string(lr));
  if (!(weight_decay >= 0) || !std::isfinite(weight_decay))
    fail("weight_decay must be >= 0, got " + std::to_string(weight_decay));
  if (threads < 0) fail("threads must be >= 0 (0: all cores), got " + std::to_string(threads));
}

// The check of an optional time weighting (its fields are public, so re-checked here).
inline void validate_time_weights(const std::string& who,
                                  const std::optional<TimeLinearInput>& weights) {
  if (!weights) return;
  if (!(weights->w_min > 0 && weights->w_min <= weights->w_max && weights->w_max <= 1))
    throw std::invalid_argument(who + ": time_weights need 0 < w_min <= w_max <= 1, got w_min " +
                                std::to_string(weights->w_min) + ", w_max " +
                                std::to_string(weights->w_max));
}

// The shortest text that reads back as exactly `value`.
inline std::string exact(double value) {
  char buffer[32];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
  return std::string(buffer, end);
}

// "key=value" lines of the fields every autoencoder configuration has (numbers exact).
inline std::string common_text(const std::vector<int>& dims, double dropout, double lr,
                               double weight_decay, std::uint64_t seed) {
  return "dims=" + join(dims) + "\ndropout=" + exact(dropout) + "\nlr=" + exact(lr) +
         "\nweight_decay=" + exact(weight_decay) + "\nseed=" + std::to_string(seed) + "\n";
}

// "input=time-linear", "w_min=", "w_max=" lines of a time weighting; nothing for binary input (so
// a binary configuration's text is what it was before weightings existed).
inline std::string time_weights_text(const std::optional<TimeLinearInput>& weights) {
  if (!weights) return {};
  return std::string("input=") + TimeLinearInput::name + "\nw_min=" + exact(weights->w_min) +
         "\nw_max=" + exact(weights->w_max) + "\n";
}
}  // namespace autoencoder_detail

/// The FeedForward chain of `widths` (>= 2 entries, all > 0) with zero parameters.
/// @throws std::invalid_argument on bad widths
template <class BackendType, class T>
FeedForward<BackendType, T> make_feed_forward(const std::vector<int>& widths) {
  autoencoder_detail::check_widths("recdiff::make_feed_forward", widths);
  std::vector<nn::Linear<BackendType, T, TanhOrIdentity>> layers;
  for (std::size_t l = 0; l + 1 < widths.size(); ++l)
    layers.emplace_back(widths[l], widths[l + 1], TanhOrIdentity{l + 2 < widths.size()});
  return FeedForward<BackendType, T>(std::move(layers));
}

/// Draws every layer of a FeedForward chain under `init`, layer l with Philox layer index
/// first_layer_index + l (nn/init.hpp).
template <class BackendType, class T>
void initialize_layers(const typename BackendType::Context& ctx, FeedForward<BackendType, T>& chain,
                       nn::Init init, std::uint64_t seed, std::uint32_t first_layer_index) {
  for (std::size_t l = 0; l < chain.size(); ++l)
    chain.modules()[l].initialize(ctx, init, seed,
                                  first_layer_index + static_cast<std::uint32_t>(l));
}

/// A FeedForward chain whose first layer reads a user's item vector, so that it also runs on the
/// CSR rows of an interaction matrix (forward_sparse: cost O(nnz x widths[1]) instead of
/// O(B x items x widths[1])). widths[0] is the number of items. Layer 0 is an nn::InputLinear
/// (parameters "0.weight.items_t", "0.bias"), layer l >= 1 an nn::Linear ("<l>.weight",
/// "<l>.bias"); tanh after every layer but the last. A Module.
template <class BackendType, class T>
class ItemFeedForward {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  /// An empty chain (assign a constructed one before use).
  ItemFeedForward() = default;
  /// The chain of `widths` (>= 2 entries, all > 0; widths[0] = items) with zero parameters.
  /// @throws std::invalid_argument on bad widths
  explicit ItemFeedForward(const std::vector<int>& widths)
      : m_first(checked(widths)[0], widths[1], 0, TanhOrIdentity{widths.size() > 2}),
        m_rest(rest_of(widths)) {}

  /// Draws every layer under `init`, layer l with Philox layer index first_layer_index + l.
  void initialize(const Context& ctx, nn::Init init, std::uint64_t seed,
                  std::uint32_t first_layer_index) {
    m_first.initialize(ctx, init, seed, first_layer_index, 0);
    initialize_layers<BackendType, T>(ctx, m_rest, init, seed, first_layer_index + 1);
  }

  /// Number of items (input width).
  int items() const noexcept { return m_first.items(); }
  /// Output width.
  int out_features() const noexcept {
    return m_rest.size() == 0 ? m_first.hidden() : m_rest.modules().back().out_features();
  }
  /// Number of layers.
  std::size_t num_layers() const noexcept { return 1 + m_rest.size(); }
  /// The first layer.
  nn::InputLinear<BackendType, T, TanhOrIdentity>& first() noexcept { return m_first; }
  /// Layers 1 .. n-1.
  FeedForward<BackendType, T>& rest() noexcept { return m_rest; }

  /// The chain's output for dense rows x (B x items).
  const Matrix& forward(const Context& ctx, const Matrix& x, const nn::Pass& pass = {}) {
    return m_rest.forward(ctx, m_first.forward(ctx, x, pass), pass);
  }

  /// The chain's output for the CSR rows `users` of `input` (entries 1), each row's first-layer
  /// product scaled by row_scale (B x 1, backend storage; nullptr: unscaled), i.e. the output for
  /// the dense rows x_b * row_scale_b. Leaves nothing to differentiate.
  const Matrix& forward_sparse(const Context& ctx, const InteractionMatrix& input,
                               std::span<const index_t> users, const Matrix* row_scale,
                               const nn::Pass& pass = {}) {
    return forward_sparse(ctx, input, users, UnitValue{}, row_scale, pass);
  }

  /// As above with the entry at position p of a row of length n valued value(p, n) (an input
  /// weighting such as TimeLinearInput): the output for the dense weighted rows times row_scale.
  template <class ValueFn>
  const Matrix& forward_sparse(const Context& ctx, const InteractionMatrix& input,
                               std::span<const index_t> users, ValueFn value,
                               const Matrix* row_scale, const nn::Pass& pass = {}) {
    return m_rest.forward(ctx, m_first.forward_sparse(ctx, input, users, value, pass, row_scale),
                          pass);
  }

  /// Backward through every layer (after a dense forward()).
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    const Matrix* g = m_rest.backward(ctx, dy, true);
    return m_first.backward(ctx, *g, need_input_grad);
  }

  /// Appends "0.weight.items_t", "0.bias", then "<l>.weight", "<l>.bias" for l >= 1.
  void collect_parameters(const std::string& prefix, nn::ParameterList<BackendType, T>& out) {
    m_first.collect_parameters(prefix + "0.", out);
    for (std::size_t l = 0; l < m_rest.size(); ++l)
      m_rest.modules()[l].collect_parameters(prefix + std::to_string(l + 1) + ".", out);
  }

  /// Number of scalars.
  std::size_t num_parameters() const noexcept {
    return m_first.num_parameters() + m_rest.num_parameters();
  }

 private:
  static const std::vector<int>& checked(const std::vector<int>& widths) {
    autoencoder_detail::check_widths("recdiff::ItemFeedForward", widths);
    return widths;
  }
  static FeedForward<BackendType, T> rest_of(const std::vector<int>& widths) {
    if (widths.size() < 3) return FeedForward<BackendType, T>{};
    return make_feed_forward<BackendType, T>(std::vector<int>(widths.begin() + 1, widths.end()));
  }

  nn::InputLinear<BackendType, T, TanhOrIdentity> m_first;
  FeedForward<BackendType, T> m_rest;
};

/// Training settings shared by Mult-DAE and Mult-VAE.
struct AutoencoderSettings {
  /// Dropout probability on the normalised input rows (training only).
  double dropout = 0.5;
  /// lambda of the L2 penalty lambda * sum ||W||^2 over the weight matrices (not the biases),
  /// added to the loss (Liang et al.'s regulariser; their Mult-DAE uses lambda = 0.01 / batch
  /// size, their Mult-VAE 0).
  double weight_decay = 0.0;
  /// Adam's settings (its own weight decay must be 0: the penalty above replaces it).
  AdamConfig adam;
  /// Seeds dropout masks and latent noise (initialisation is the network's).
  std::uint64_t seed = 1;
  /// Threads of the backend context (0: all cores).
  int threads = 0;
  /// T-DiffRec's time-aware weights of the input rows (Wang et al., SIGIR 2023, section 3.5;
  /// core/input_weighting.hpp); std::nullopt (the default): binary rows.
  std::optional<TimeLinearInput> time_weights;
};

/// Trains and serves a network that maps a user's item row to item logits, Mult-DAE / Mult-VAE
/// style (Liang et al., WWW 2018): the batch's rows are L2-normalised, dropped out (p =
/// settings.dropout, training only) and fed to the network; the loss is the multinomial negative
/// log-likelihood of the batch (MultinomialLikelihood) plus what the caller's hook adds (the
/// VAE's weighted KL term) plus the L2 penalty; Adam updates every parameter. Scores are the
/// logits, computed from the CSR rows with the first layer's sparse product.
///
/// With settings.time_weights the row x of a user is T-DiffRec's weighted row (entry p of a row of
/// length n: w(p, n), the x0 of T-DiffRec) everywhere the binary row would be: it is normalised by
/// its own L2 norm sqrt(sum w^2), it is the likelihood's target (the counts x_bi of
/// MultinomialLikelihood become the weights), and score() reads the weighted CSR rows. Which items
/// the evaluation masks does not change. Without it every step is the binary one, bit for bit.
///
/// The state lives behind one pointer (the optimiser points into the network), so the core is
/// movable.
/// @tparam Net a Module with forward / backward on dense rows and forward_sparse(ctx, input, users,
///         row_scale, pass) and forward_sparse(ctx, input, users, value, row_scale, pass) on CSR
///         rows (ItemFeedForward, MultVAE's network)
template <class BackendType, class T, class Net>
class AutoencoderCore {
 public:
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context
  /// Copies of every parameter tensor, in parameter order.
  using Snapshot = std::vector<Matrix>;

  /// Takes an initialised network.
  /// @throws std::invalid_argument on bad settings
  AutoencoderCore(Net net, int items, const AutoencoderSettings& settings)
      : m_state(std::make_unique<State>(std::move(net), items, settings)) {}

  /// The batch loss of the rows `users` of `train` and its gradient w.r.t. every parameter (left in
  /// the parameters' gradients, overwritten), without an update: the training pass of
  /// train_batch(). `step` keys the pass's random draws (dropout and whatever the network draws).
  /// `hook(net, ctx, rows)` runs between the forward and the backward pass and returns the loss it
  /// adds (its gradient must come out of the network's backward pass).
  /// @throws std::invalid_argument when `users` is empty or train has another item count
  template <class Hook>
  double loss_and_gradients(const InteractionMatrix& train, std::span<const index_t> users,
                            std::uint32_t step, Hook&& hook) {
    State& s = *m_state;
    check_input("train_batch", train);
    if (users.empty())
      throw std::invalid_argument("recdiff::AutoencoderCore::train_batch: empty batch");
    if (s.settings.time_weights)
      BackendType::densify(s.ctx, train, users, s.x, *s.settings.time_weights);
    else
      BackendType::densify(s.ctx, train, users, s.x);
    const nn::Pass pass{true, s.settings.seed, step, {}};
    const Matrix& normalised = s.norm.forward(s.ctx, s.x, pass);
    const Matrix& dropped = s.dropout.forward(s.ctx, normalised, pass);
    const Matrix& logits = s.net.forward(s.ctx, dropped, pass);
    double loss = s.likelihood.loss_and_gradient(s.ctx, logits, s.x);
    loss += hook(s.net, s.ctx, static_cast<std::int64_t>(users.size()));
    s.optimizer.zero_grad();
    s.net.backward(s.ctx, s.likelihood.gradient(), false);
    if (s.settings.weight_decay > 0) loss += add_weight_decay(s);
    return loss;
  }

  /// One Adam step: loss_and_gradients(), then the update. Returns the batch loss (before the
  /// update).
  template <class Hook>
  double train_batch(const InteractionMatrix& train, std::span<const index_t> users,
                     std::uint32_t step, Hook&& hook) {
    const double loss = loss_and_gradients(train, users, step, std::forward<Hook>(hook));
    m_state->optimizer.step(m_state->ctx);
    ++m_state->updates;
    return loss;
  }

  /// Scores (users.size() x items): the logits for the users' rows of `input` (weighted by
  /// settings.time_weights when set).
  /// @throws std::invalid_argument when input has another item count
  void score(const InteractionMatrix& input, std::span<const index_t> users, ScoreMatrix& out) {
    State& s = *m_state;
    check_input("score", input);
    const auto rows = static_cast<std::int64_t>(users.size());
    out.resize(rows, s.items);
    if (rows == 0) return;
    const auto& weights = s.settings.time_weights;
    std::vector<T> scale(users.size());
    for (std::size_t b = 0; b < users.size(); ++b) {
      const auto n = static_cast<std::size_t>(input.row_size(users[b]));
      double squares = static_cast<double>(n);  // binary: ||x||^2 = n
      if (weights) {
        // The norm of the weighted row, from the values densify() would store.
        squares = 0.0;
        for (std::size_t p = 0; p < n; ++p) {
          const auto v = static_cast<double>(static_cast<T>((*weights)(p, n)));
          squares += v * v;
        }
      }
      const double norm = std::sqrt(squares);
      scale[b] = static_cast<T>(1.0 / std::max(norm, nn::RowL2Norm<BackendType, T>::floor));
    }
    BackendType::upload(s.ctx, std::span<const T>(scale), rows, 1, s.scale);
    const Matrix& logits =
        weights ? s.net.forward_sparse(s.ctx, input, users, *weights, &s.scale, nn::Pass{})
                : s.net.forward_sparse(s.ctx, input, users, &s.scale, nn::Pass{});
    if constexpr (std::is_same_v<T, float>) {
      BackendType::download(s.ctx, logits,
                            std::span<float>(out.data(), static_cast<std::size_t>(out.size())));
    } else {
      std::vector<T> host(static_cast<std::size_t>(out.size()));
      BackendType::download(s.ctx, logits, std::span<T>(host));
      for (std::size_t k = 0; k < host.size(); ++k) out.data()[k] = static_cast<float>(host[k]);
    }
  }

  /// A copy of the parameters (to keep the best epoch's).
  Snapshot snapshot() const { return nn::snapshot_values(m_state->params); }

  /// Restores parameters from snapshot() (the optimiser state is left as it is).
  /// @throws std::invalid_argument for a snapshot of another architecture
  void restore(const Snapshot& snap) {
    nn::restore_values(m_state->params, snap, "recdiff::AutoencoderCore::restore");
  }

  /// Writes a checkpoint: text "model" = model_name, text "config" = config, text "updates", every
  /// parameter (prefix "") and the optimiser state (prefix "optimizer."), atomically.
  void save(const std::filesystem::path& path, const std::string& model_name,
            const std::string& config) const {
    const State& s = *m_state;
    CheckpointWriter w;
    w.add_text("model", model_name);
    w.add_text("config", config);
    w.add_text("updates", std::to_string(s.updates));
    save_parameters<BackendType, T>(s.ctx, w, s.params, "");
    s.optimizer.save_state(s.ctx, w, "optimizer.");
    w.write(path);
  }

  /// Reads what save() wrote into this model, which must have the same architecture: everything is
  /// read and checked first and installed only then, so on any error (IoError: a corrupt file,
  /// another model, other shapes) the model is unchanged.
  void load(const std::filesystem::path& path, const std::string& model_name) {
    State& s = *m_state;
    const CheckpointReader r(path);
    if (r.text("model") != model_name)
      throw IoError(path, "holds a '" + r.text("model") + "' model, expected '" + model_name + "'");
    const std::string updates_text = r.text("updates");
    std::int64_t updates = 0;
    try {
      std::size_t used = 0;
      updates = std::stoll(updates_text, &used);
      if (used != updates_text.size() || updates < 0) throw std::invalid_argument("bad");
    } catch (const std::exception&) {
      throw IoError(path, "entry 'updates' is not a non-negative integer: '" + updates_text + "'");
    }
    StagedLoad staged;
    staged.push_back(stage_parameters<BackendType, T>(s.ctx, r, s.params, ""));
    staged.push_back(s.optimizer.stage_state(s.ctx, r, "optimizer."));
    staged.push_back([&s, updates] { s.updates = updates; });
    commit(staged);
  }

  /// The network.
  Net& network() noexcept { return m_state->net; }
  const Net& network() const noexcept { return m_state->net; }
  /// Its parameters (names as in checkpoints).
  const nn::ParameterList<BackendType, T>& parameters() const noexcept { return m_state->params; }
  /// The backend context.
  const Context& context() const noexcept { return m_state->ctx; }
  /// Optimisation steps taken so far.
  std::int64_t updates() const noexcept { return m_state->updates; }
  /// The settings.
  const AutoencoderSettings& settings() const noexcept { return m_state->settings; }
  /// Number of items.
  int items() const noexcept { return m_state->items; }

  /// g += 2 lambda W and row_sq[r] = sum_j W(r, j)^2 for row r of a weight matrix. (Public: nvcc
  /// refuses private nested types as kernel template arguments.)
  struct WeightDecayRow {
    const T* w;
    T* g;
    double* row_sq;
    std::int64_t cols;
    T two_lambda;
    RECDIFF_HOST_DEVICE void operator()(std::int64_t r) const {
      double s = 0.0;
      for (std::int64_t j = 0; j < cols; ++j) {
        const T v = w[r * cols + j];
        s += static_cast<double>(v) * static_cast<double>(v);
        g[r * cols + j] += two_lambda * v;
      }
      row_sq[r] = s;
    }
  };

 private:
  using DoubleMatrix = typename BackendType::template Matrix<double>;

  struct State {
    State(Net n, int item_count, const AutoencoderSettings& s)
        : settings(checked(s)),
          ctx(s.threads),
          net(std::move(n)),
          dropout(s.dropout),
          params(nn::parameters_of(net)),
          optimizer(params, s.adam),
          items(item_count) {
      for (const auto& p : params)
        if (!(p.name.size() >= 4 && p.name.compare(p.name.size() - 4, 4, "bias") == 0))
          weights.push_back(p);
    }
    AutoencoderSettings settings;
    Context ctx;
    Net net;
    nn::RowL2Norm<BackendType, T> norm;
    nn::Dropout<BackendType, T> dropout;
    nn::ParameterList<BackendType, T> params;
    nn::ParameterList<BackendType, T> weights;  // every parameter but the biases
    Adam<BackendType, T> optimizer;
    MultinomialLikelihood<BackendType, T> likelihood;
    int items;
    Matrix x, scale;
    DoubleMatrix row_sq;
    std::vector<double> host;
    std::int64_t updates = 0;
  };

  static const AutoencoderSettings& checked(const AutoencoderSettings& s) {
    if (!(s.dropout >= 0 && s.dropout < 1))
      throw std::invalid_argument("recdiff::AutoencoderCore: dropout must be in [0, 1), got " +
                                  std::to_string(s.dropout));
    if (!(s.weight_decay >= 0) || !std::isfinite(s.weight_decay))
      throw std::invalid_argument("recdiff::AutoencoderCore: weight_decay must be >= 0, got " +
                                  std::to_string(s.weight_decay));
    autoencoder_detail::validate_time_weights("recdiff::AutoencoderCore", s.time_weights);
    if (s.adam.weight_decay != 0)
      throw std::invalid_argument(
          "recdiff::AutoencoderCore: Adam's own weight decay must be 0 (the L2 penalty on the "
          "weights is AutoencoderSettings::weight_decay), got " +
          std::to_string(s.adam.weight_decay));
    return s;
  }

  void check_input(const char* method, const InteractionMatrix& m) const {
    if (m.num_items() != m_state->items)
      throw std::invalid_argument(std::string("recdiff::AutoencoderCore::") + method +
                                  ": the matrix has " + std::to_string(m.num_items()) +
                                  " items, the model " + std::to_string(m_state->items));
  }

  // Adds the penalty's gradient to every weight's and returns its value lambda sum ||W||^2.
  static double add_weight_decay(State& s) {
    const double lambda = s.settings.weight_decay;
    double penalty = 0.0;
    for (const auto& p : s.weights) {
      Matrix& w = p.value();
      Matrix& g = p.tensor->gradient();
      s.row_sq.resize(w.rows(), 1);
      BackendType::for_each_row(s.ctx, w.rows(),
                                WeightDecayRow{w.data(), g.data(), s.row_sq.data(), w.cols(),
                                               static_cast<T>(2 * lambda)});
      s.host.assign(static_cast<std::size_t>(w.rows()), 0.0);
      BackendType::download(s.ctx, s.row_sq, std::span<double>(s.host));
      for (const double v : s.host) penalty += v;
    }
    return lambda * penalty;
  }

  std::unique_ptr<State> m_state;
};

/// The AutoencoderSettings of a model configuration with the fields dropout, weight_decay, lr,
/// seed, threads and time_weights (MultDAEConfig, MultVAEConfig).
template <class Config>
AutoencoderSettings autoencoder_settings(const Config& config) {
  AutoencoderSettings s;
  s.dropout = config.dropout;
  s.weight_decay = config.weight_decay;
  s.adam.lr = config.lr;
  s.seed = config.seed;
  s.threads = config.threads;
  s.time_weights = config.time_weights;
  return s;
}

/// The TrainableModel interface that MultDAE and MultVAE share, over an AutoencoderCore: training
/// steps, scoring, snapshots and checkpoints. `Derived` (CRTP) provides `model_name` (the
/// checkpoint's "model" entry) and `loss_hook()` (the hook of AutoencoderCore::train_batch for the
/// next step); `Config` has the fields autoencoder_settings() reads, validate() and to_string().
template <class Derived, class BackendType, class T, class Net, class Config>
class AutoencoderModel {
 public:
  using Network = Net;                                ///< the network
  using Core = AutoencoderCore<BackendType, T, Net>;  ///< the training core
  using Snapshot = typename Core::Snapshot;           ///< copies of the parameters
  using Context = typename BackendType::Context;      ///< execution context

  /// One Adam step on the rows `users` of `train`; `step` (the global batch index) keys the
  /// pass's random draws (dropout mask, latent noise). Returns the batch loss.
  double train_batch(const InteractionMatrix& train, std::span<const index_t> users,
                     std::uint32_t step) {
    return m_core.train_batch(train, users, step, self().loss_hook());
  }

  /// The batch loss of train_batch() and its gradients (in the parameters' gradients), without
  /// an update (gradient checks, custom optimisers).
  double loss_and_gradients(const InteractionMatrix& train, std::span<const index_t> users,
                            std::uint32_t step) {
    return m_core.loss_and_gradients(train, users, step, self().loss_hook());
  }

  /// Scores (users.size() x items): the logits for the users' rows of `input`.
  void score(const InteractionMatrix& input, std::span<const index_t> users, ScoreMatrix& out) {
    m_core.score(input, users, out);
  }

  /// A copy of the parameters.
  Snapshot snapshot() const { return m_core.snapshot(); }
  /// Restores snapshot().
  void restore(const Snapshot& snap) { m_core.restore(snap); }

  /// Writes the model (configuration text, parameters, Adam state, update count) to `path`
  /// atomically. The configuration's seed is not read back: load into a model built from the
  /// same configuration to continue training exactly.
  void save(const std::filesystem::path& path) const {
    m_core.save(path, Derived::model_name, m_config.to_string());
  }
  /// Loads what save() wrote into this model (same architecture); IoError on any problem, and
  /// then the model is unchanged.
  void load(const std::filesystem::path& path) { m_core.load(path, Derived::model_name); }

  /// The configuration.
  const Config& config() const noexcept { return m_config; }
  /// The training core (network, parameters, context).
  Core& core() noexcept { return m_core; }
  const Core& core() const noexcept { return m_core; }
  /// Optimisation steps taken so far.
  std::int64_t updates() const noexcept { return m_core.updates(); }

 protected:
  /// Takes a validated configuration and the initialised network built from it.
  AutoencoderModel(const Config& config, index_t items, Net net)
      : m_config(config), m_core(std::move(net), items, autoencoder_settings(config)) {}

  /// Throws std::invalid_argument for a bad configuration (Config::validate) or items < 1; returns
  /// `config`.
  static const Config& validated(const Config& config, index_t items) {
    config.validate();
    if (items < 1)
      throw std::invalid_argument(std::string("recdiff::") + Derived::class_name +
                                  ": items must be >= 1, got " + std::to_string(items));
    return config;
  }

 private:
  const Derived& self() const noexcept { return static_cast<const Derived&>(*this); }

  Config m_config;
  Core m_core;
};

}  // namespace recdiff
