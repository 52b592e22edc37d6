#pragma once
/// @file
/// Trainer: the epoch loop shared by every trainable model — seeded shuffling of the protocol's
/// training users, mini-batches, periodic evaluation under any EvaluationProtocol, early stopping by
/// a StoppingRule, best parameters kept.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/data/train_valid_test.hpp>
#include <recdiff/error.hpp>
#include <recdiff/eval/diffrec_protocol.hpp>
#include <recdiff/eval/evaluator.hpp>
#include <recdiff/eval/protocol.hpp>
#include <recdiff/eval/scorer.hpp>
#include <recdiff/train/epoch_order.hpp>
#include <recdiff/train/progress.hpp>
#include <recdiff/train/stopping_rule.hpp>

namespace recdiff {

/// What the Trainer needs of a model: one optimisation step on a batch of users (returning the batch
/// loss), scoring (the Scorer concept), and a copy of its parameters to keep the best epoch's.
template <class M>
concept TrainableModel = Scorer<M> && requires(M& model, const M& cmodel,
                                                 const InteractionMatrix& train,
                                                 std::span<const index_t> users, std::uint32_t step) {
  { model.train_batch(train, users, step) } -> std::convertible_to<double>;
  { cmodel.snapshot() };
  model.restore(cmodel.snapshot());
};

/// Settings of the epoch loop. The defaults are DiffRec's (DiffRec's released main loop).
struct TrainerOptions {
  /// Upper bound on the number of epochs; >= 1.
  int max_epochs = 1000;
  /// Users per optimisation step; >= 1.
  index_t batch_size = 400;
  /// Seeds the epoch permutations (the model has its own seed for noise and dropout).
  std::uint64_t seed = 1;
  /// Options of the evaluation passes (cut-offs, batch size, threads), handed to the protocol.
  EvalOptions eval;
  /// When to evaluate, what selects the epoch, when to stop.
  StoppingRule stopping = StoppingRule::diffrec();
  /// Metrics the progress line shows, validation and test value each. The selection metric
  /// (stopping.metric) is always shown, first unless listed here.
  std::vector<std::string> progress_metrics{"recall@20", "ndcg@20"};
};

/// One line of the training history.
struct EpochRecord {
  int epoch = 0;
  double loss = 0;           ///< mean of the batch losses
  double train_seconds = 0;  ///< wall time of the epoch's optimisation
  double eval_seconds = 0;   ///< wall time of its evaluation (0 when not evaluated)
  bool evaluated = false;    ///< whether the protocol evaluated the model after this epoch
  bool improved = false;     ///< whether this evaluation became the best so far
  double score = 0;          ///< validation value of the selection metric (when evaluated)
  ProtocolResult metrics;    ///< valid and test metrics when evaluated
};

/// Result of Trainer::fit: the best epoch's metrics (its parameters are restored into the model).
struct TrainResult {
  /// Epoch of the best evaluation; 0 when no evaluation happened (the model then keeps the last
  /// epoch's parameters).
  int best_epoch = 0;
  /// The protocol's metrics at best_epoch.
  ProtocolResult best;
  /// Name of the selection metric (the stopping rule's).
  std::string selection_metric;
  /// Its validation value at best_epoch; NaN when no evaluation happened.
  double best_score = std::numeric_limits<double>::quiet_NaN();
  /// Whether the stopping rule ended the run before max_epochs.
  bool stopped_early = false;
  std::vector<EpochRecord> history;
  /// Mean seconds per training epoch and per evaluation round over the run.
  double train_seconds_per_epoch = 0;
  double eval_seconds_per_pass = 0;
  /// Epochs trained and evaluation rounds run.
  int epochs_run = 0;
  int evaluations = 0;
};

/// Runs the epoch loop of DiffRec's released code on any TrainableModel, with the evaluation
/// protocol and the stopping rule as parameters.
///
/// Per epoch e = 1, 2, ...: stop if the rule says so (EarlyStopping::should_stop); permute the
/// protocol's training users with epoch_order(seed, e); call model.train_batch() on consecutive
/// batches of batch_size users (a running step counter across epochs); call model.end_epoch() when
/// the model has one (state that counts epochs, e.g. an annealed loss weight); if the rule evaluates after
/// e, run protocol.evaluate() and record the validation score of the selection metric, keeping a
/// snapshot of the parameters when it is the new best; report one progress line.
template <class ModelType>
  requires TrainableModel<ModelType>
class Trainer {
 public:
  /// Throws std::invalid_argument for max_epochs or batch_size < 1 and for a bad stopping rule
  /// (StoppingRule::validate). Metric names are checked against the protocol by fit().
  explicit Trainer(TrainerOptions options, Progress progress = Progress::stderr_sink())
      : m_options(std::move(options)), m_progress(std::move(progress)) {
    if (m_options.max_epochs < 1 || m_options.batch_size < 1)
      throw std::invalid_argument("recdiff::Trainer: max_epochs and batch_size must be >= 1, got " +
                                  std::to_string(m_options.max_epochs) + " and " +
                                  std::to_string(m_options.batch_size));
    m_options.stopping.validate();
  }

  /// The options.
  const TrainerOptions& options() const noexcept { return m_options; }

  /// Trains `model` on protocol.train_matrix() (batches of protocol.train_users()), evaluating
  /// with `protocol` as options.stopping says; afterwards the model holds the parameters of the
  /// best evaluation (or of the last epoch when no evaluation happened).
  ///
  /// Before the first epoch: throws std::invalid_argument when options.eval is invalid, when the
  /// selection metric or a progress metric is not one the protocol computes (unknown base name or
  /// a cut-off outside protocol.cutoffs(options.eval); the message lists what is available), when
  /// the protocol has no training users, and std::out_of_range for a training user outside the
  /// training matrix. Throws NumericalError on a non-finite batch loss.
  template <class Protocol>
    requires EvaluationProtocolFor<Protocol, ModelType>
  TrainResult fit(ModelType& model, const Protocol& protocol) {
    using clock = std::chrono::steady_clock;
    const StoppingRule& rule = m_options.stopping;
    const std::vector<std::string> shown = checked_metrics(protocol);
    const InteractionMatrix& train = protocol.train_matrix();
    const std::span<const index_t> train_users = protocol.train_users();
    if (train_users.empty())
      throw std::invalid_argument("recdiff::Trainer::fit: the protocol has no training users");
    for (const index_t u : train_users)
      if (u < 0 || u >= train.num_users())
        throw std::out_of_range("recdiff::Trainer::fit: training user " + std::to_string(u) +
                                " outside [0, " + std::to_string(train.num_users()) + ")");

    TrainResult result;
    result.selection_metric = rule.metric;
    EarlyStopping stopping(rule);
    const auto users = static_cast<index_t>(train_users.size());
    std::vector<index_t> order(static_cast<std::size_t>(users));
    std::vector<index_t> batch_users(
        static_cast<std::size_t>(std::min<index_t>(users, m_options.batch_size)));
    const index_t batches = (users + m_options.batch_size - 1) / m_options.batch_size;
    std::uint32_t step = 0;
    decltype(model.snapshot()) best_params = model.snapshot();
    double train_total = 0, eval_total = 0;
    for (int epoch = 1; epoch <= m_options.max_epochs; ++epoch) {
      if (stopping.should_stop(epoch)) {
        result.stopped_early = true;
        break;
      }
      EpochRecord rec;
      rec.epoch = epoch;
      epoch_order(order, m_options.seed, static_cast<std::uint32_t>(epoch));
      const auto t0 = clock::now();
      double loss_sum = 0;
      for (index_t b = 0; b < batches; ++b) {
        const index_t begin = b * m_options.batch_size;
        const index_t end = std::min(users, begin + m_options.batch_size);
        for (index_t j = begin; j < end; ++j)
          batch_users[static_cast<std::size_t>(j - begin)] =
              train_users[static_cast<std::size_t>(order[static_cast<std::size_t>(j)])];
        const std::span<const index_t> batch(batch_users.data(),
                                             static_cast<std::size_t>(end - begin));
        const double loss = model.train_batch(train, batch, step);
        if (!std::isfinite(loss))
          throw NumericalError("recdiff::Trainer: non-finite loss " + std::to_string(loss) +
                               " at epoch " + std::to_string(epoch) + ", batch " +
                               std::to_string(b) + " (global step " + std::to_string(step) +
                               ", trainer seed " + std::to_string(m_options.seed) + ")");
        loss_sum += loss;
        ++step;
        m_progress.update("epoch " + std::to_string(epoch), b + 1, batches);
      }
      // A model with per-epoch state (L-DiffRec's annealed lambda counts finished epochs).
      if constexpr (requires { model.end_epoch(); }) model.end_epoch();
      rec.train_seconds = std::chrono::duration<double>(clock::now() - t0).count();
      rec.loss = loss_sum / batches;
      train_total += rec.train_seconds;
      result.epochs_run = epoch;
      if (rule.evaluates_after(epoch)) {
        const auto t1 = clock::now();
        EvalOptions eval = m_options.eval;
        eval.progress = [this](index_t done, index_t total) {
          m_progress.update("evaluating", done, total);
        };
        rec.metrics = protocol.evaluate(model, std::move(eval));
        rec.eval_seconds = std::chrono::duration<double>(clock::now() - t1).count();
        rec.evaluated = true;
        eval_total += rec.eval_seconds;
        ++result.evaluations;
        rec.score = rec.metrics.valid.at(rule.metric);
        rec.improved = stopping.record(epoch, rec.score);
        if (rec.improved) {
          result.best_epoch = epoch;
          result.best_score = rec.score;
          result.best = rec.metrics;
          best_params = model.snapshot();
        }
      }
      m_progress.line(progress_line(rec, shown));
      result.history.push_back(std::move(rec));
    }
    if (stopping.has_best()) model.restore(best_params);
    result.train_seconds_per_epoch = train_total / std::max(1, result.epochs_run);
    result.eval_seconds_per_pass = result.evaluations ? eval_total / result.evaluations : 0.0;
    return result;
  }

  /// DiffRec's protocol on `data`: fit(model, DiffRecProtocol(data)).
  TrainResult fit(ModelType& model, const TrainValidTest& data) {
    return fit(model, DiffRecProtocol(data));
  }

 private:
  // Validates the evaluation options and every requested metric against the protocol; returns the
  // metrics of the progress line (selection metric first unless listed, no duplicates).
  template <class Protocol>
  std::vector<std::string> checked_metrics(const Protocol& protocol) const {
    const Evaluator check_options(m_options.eval);  // throws for bad ks, batch size, threads
    (void)check_options;
    const std::vector<index_t> ks = protocol.cutoffs(m_options.eval);
    require_metric(m_options.stopping.metric, ks, "recdiff::Trainer: stopping.metric");
    std::vector<std::string> shown;
    for (const auto& name : m_options.progress_metrics) {
      require_metric(name, ks, "recdiff::Trainer: progress_metrics");
      if (std::find(shown.begin(), shown.end(), name) == shown.end()) shown.push_back(name);
    }
    if (std::find(shown.begin(), shown.end(), m_options.stopping.metric) == shown.end())
      shown.insert(shown.begin(), m_options.stopping.metric);
    return shown;
  }

  // "epoch    5 | loss 0.123 | train 1.23 s | eval 0.45 s | valid recall@20 0.1234 ndcg@20 0.0567
  //  | test recall@20 0.1111 ndcg@20 0.0444 *" (the star marks a new best).
  static std::string progress_line(const EpochRecord& rec, const std::vector<std::string>& shown) {
    char buffer[128];
    std::snprintf(buffer, sizeof buffer, "epoch %4d | loss %.6g | train %.2f s", rec.epoch,
                  rec.loss, rec.train_seconds);
    std::string text = buffer;
    if (!rec.evaluated) return text;
    std::snprintf(buffer, sizeof buffer, " | eval %.2f s", rec.eval_seconds);
    text += buffer;
    const auto values = [&](const char* label, const MetricSet& metrics) {
      text += " | ";
      text += label;
      for (const auto& name : shown) {
        std::snprintf(buffer, sizeof buffer, " %.4f", metrics.at(name));
        text += " " + name + buffer;
      }
    };
    values("valid", rec.metrics.valid);
    values("test", rec.metrics.test);
    if (rec.improved) text += " *";
    return text;
  }

  TrainerOptions m_options;
  Progress m_progress;
};

}  // namespace recdiff
