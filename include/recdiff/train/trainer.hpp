#pragma once
/// @file
/// Trainer: the epoch loop shared by every trainable model — seeded shuffling, mini-batches, periodic
/// evaluation under DiffRec's protocol, early stopping with patience, best parameters kept.

#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/data/train_valid_test.hpp>
#include <recdiff/error.hpp>
#include <recdiff/eval/diffrec_protocol.hpp>
#include <recdiff/eval/scorer.hpp>
#include <recdiff/train/epoch_order.hpp>
#include <recdiff/train/progress.hpp>

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

/// Settings of the epoch loop. Defaults are DiffRec's (diffrec.md section 6).
struct TrainerOptions {
  int max_epochs = 1000;
  index_t batch_size = 400;
  /// Evaluate after every `eval_every`-th epoch (epochs are 1-based).
  int eval_every = 5;
  /// Stop at the start of epoch e when e - best_epoch >= patience.
  int patience = 20;
  /// Metric of the validation task that selects the epoch; a new best must be strictly greater.
  std::string selection_metric = "recall@20";
  /// Seeds the epoch permutations (the model has its own seed for noise and dropout).
  std::uint64_t seed = 1;
  /// Options of the evaluation passes (cut-offs, batch size, threads).
  EvalOptions eval;
};

/// One line of the training history.
struct EpochRecord {
  int epoch = 0;
  double loss = 0;           ///< mean of the batch losses
  double train_seconds = 0;  ///< wall time of the epoch's optimisation
  double eval_seconds = 0;   ///< wall time of its evaluation (0 when not evaluated)
  bool evaluated = false;
  ProtocolResult metrics;    ///< valid and test metrics when evaluated
};

/// Result of Trainer::fit: the best epoch's metrics (its parameters are restored into the model).
struct TrainResult {
  int best_epoch = 0;
  ProtocolResult best;
  std::vector<EpochRecord> history;
  /// Mean seconds per training epoch and per evaluation pass over the run.
  double train_seconds_per_epoch = 0;
  double eval_seconds_per_pass = 0;
  int epochs_run = 0;
};

/// Runs the epoch loop of DiffRec's released code on any TrainableModel.
template <class ModelType>
  requires TrainableModel<ModelType>
class Trainer {
 public:
  explicit Trainer(TrainerOptions options, Progress progress = Progress::stderr_sink())
      : m_options(std::move(options)), m_progress(std::move(progress)) {
    if (m_options.max_epochs < 1 || m_options.batch_size < 1 || m_options.eval_every < 1 ||
        m_options.patience < 1)
      throw std::invalid_argument(
          "recdiff::Trainer: max_epochs, batch_size, eval_every and patience must all be >= 1");
  }

  /// Trains `model` on data.train, evaluating validation and test every eval_every epochs;
  /// afterwards the model holds the parameters of the best epoch (or of the last epoch when no
  /// evaluation happened).
  TrainResult fit(ModelType& model, const TrainValidTest& data) {
    using clock = std::chrono::steady_clock;
    TrainResult result;
    const index_t users = data.train.num_users();
    std::vector<index_t> order(static_cast<std::size_t>(users));
    const index_t batches = (users + m_options.batch_size - 1) / m_options.batch_size;
    std::uint32_t step = 0;
    double best_score = -1;
    bool have_best = false;
    decltype(model.snapshot()) best_params = model.snapshot();
    double train_total = 0, eval_total = 0;
    int evals = 0;
    for (int epoch = 1; epoch <= m_options.max_epochs; ++epoch) {
      if (have_best && epoch - result.best_epoch >= m_options.patience) break;
      EpochRecord rec;
      rec.epoch = epoch;
      epoch_order(order, m_options.seed, static_cast<std::uint32_t>(epoch));
      const auto t0 = clock::now();
      double loss_sum = 0;
      for (index_t b = 0; b < batches; ++b) {
        const index_t begin = b * m_options.batch_size;
        const index_t end = std::min(users, begin + m_options.batch_size);
        const std::span<const index_t> batch(order.data() + begin,
                                             static_cast<std::size_t>(end - begin));
        const double loss = model.train_batch(data.train, batch, step);
        if (!std::isfinite(loss))
          throw NumericalError("recdiff::Trainer: non-finite loss " + std::to_string(loss) +
                               " at epoch " + std::to_string(epoch) + ", batch " +
                               std::to_string(b) + " (global step " + std::to_string(step) +
                               ", trainer seed " + std::to_string(m_options.seed) + ")");
        loss_sum += loss;
        ++step;
        m_progress.update("epoch " + std::to_string(epoch), b + 1, batches);
      }
      rec.train_seconds = std::chrono::duration<double>(clock::now() - t0).count();
      rec.loss = loss_sum / batches;
      train_total += rec.train_seconds;
      result.epochs_run = epoch;
      char line[256];
      std::snprintf(line, sizeof line, "epoch %4d | loss %.6g | train %.2f s", epoch, rec.loss,
                    rec.train_seconds);
      std::string text = line;
      if (epoch % m_options.eval_every == 0) {
        const auto t1 = clock::now();
        EvalOptions eval = m_options.eval;
        eval.progress = [this](index_t done, index_t total) {
          m_progress.update("evaluating", done, total);
        };
        rec.metrics = evaluate_diffrec_protocol(model, data, eval);
        rec.eval_seconds = std::chrono::duration<double>(clock::now() - t1).count();
        rec.evaluated = true;
        eval_total += rec.eval_seconds;
        ++evals;
        const double score = rec.metrics.valid.at(m_options.selection_metric);
        std::snprintf(line, sizeof line,
                      " | eval %.2f s | valid R@20 %.4f N@20 %.4f | test R@20 %.4f N@20 %.4f",
                      rec.eval_seconds, score, rec.metrics.valid.at("ndcg@20"),
                      rec.metrics.test.at("recall@20"), rec.metrics.test.at("ndcg@20"));
        text += line;
        if (score > best_score) {
          best_score = score;
          have_best = true;
          result.best_epoch = epoch;
          result.best = rec.metrics;
          best_params = model.snapshot();
          text += " *";
        }
      }
      m_progress.line(text);
      result.history.push_back(std::move(rec));
    }
    if (have_best) model.restore(best_params);
    result.train_seconds_per_epoch = train_total / std::max(1, result.epochs_run);
    result.eval_seconds_per_pass = evals ? eval_total / evals : 0.0;
    return result;
  }

 private:
  TrainerOptions m_options;
  Progress m_progress;
};

}  // namespace recdiff
