#pragma once
/// @file
/// StoppingRule: when the Trainer evaluates, which validation metric selects the epoch, what counts
/// as better, and when training stops; named factories for the rules of DiffRec, RecPack and
/// CODIGEM. EarlyStopping: the state of one rule over a run.

#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace recdiff {

/// What a StoppingRule's `patience` counts.
enum class PatienceUnit {
  /// Epochs since the best one: training stops at the start of epoch e when
  /// e - best_epoch >= patience (DiffRec's released main loop). Evaluations that are not better do
  /// not count as such; with eval_every = 5 and patience = 20 the run ends 4 evaluations after the
  /// best.
  epochs_since_best,
  /// Consecutive evaluations that are not better: training stops right after the evaluation that
  /// brings the count to `patience`; a better evaluation resets it to 0 (RecPack's
  /// StoppingCriterion `max_iter_no_change`, CODIGEM's patience).
  evaluations_without_improvement,
};

/// The early-stopping and model-selection rule of a training run. A plain value type; the named
/// factories give the published rules and any field may be changed afterwards.
///
/// - Evaluation happens after every epoch e (1-based) with e % eval_every == 0.
/// - The score of an evaluation is the validation value of `metric` ("<base>@<K>", see
///   recdiff::evaluator_metric_bases()); larger is better.
/// - The first evaluation is always the best so far. A later score s beats the best b when
///   * min_improvement > 0: s - b > min_improvement (RecPack's "s >= b and |s - b| >
///     min_improvement", for which the strictness no longer matters);
///   * min_improvement = 0: s > b when strictly_greater, else s >= b (a tie then moves the best
///     epoch to the later one).
/// - The Trainer keeps the parameters of the best evaluation and restores them at the end.
/// - `patience` is counted in `patience_unit` (see PatienceUnit).
struct StoppingRule {
  /// Validation metric that selects the epoch, e.g. "recall@20".
  std::string metric = "recall@20";
  /// Evaluate after every eval_every-th epoch; >= 1.
  int eval_every = 5;
  /// How long to wait for a better evaluation, in patience_unit; >= 1.
  int patience = 20;
  /// What `patience` counts.
  PatienceUnit patience_unit = PatienceUnit::epochs_since_best;
  /// Absolute improvement a new best must exceed; >= 0 (0: any improvement).
  double min_improvement = 0;
  /// With min_improvement = 0: whether a tie with the best is not better (true) or better (false).
  bool strictly_greater = true;

  /// DiffRec's released main loop: evaluate every 5 epochs, select on
  /// validation recall@20, a new best must be strictly greater, stop at the start of epoch e when
  /// e - best_epoch >= 20.
  static StoppingRule diffrec() { return {}; }

  /// RecPack's TorchMLAlgorithm early stopping as RecFusion runs it: evaluate every epoch, select
  /// on validation ndcg@50, better = at least the best and more than 0.01 above it, stop after 5
  /// consecutive evaluations that are not better.
  static StoppingRule recpack() {
    StoppingRule rule;
    rule.metric = "ndcg@50";
    rule.eval_every = 1;
    rule.patience = 5;
    rule.patience_unit = PatienceUnit::evaluations_without_improvement;
    rule.min_improvement = 0.01;
    rule.strictly_greater = false;
    return rule;
  }

  /// CODIGEM's training loop: evaluate every epoch, select on validation calibrated_recall@50
  /// (CODIGEM's "Recall" is the calibrated recall of Liang et al.'s Mult-VAE code), a new best must
  /// be strictly greater, stop after 10 consecutive evaluations that are not better.
  static StoppingRule codigem() {
    StoppingRule rule;
    rule.metric = "calibrated_recall@50";
    rule.eval_every = 1;
    rule.patience = 10;
    rule.patience_unit = PatienceUnit::evaluations_without_improvement;
    return rule;
  }

  /// Throws std::invalid_argument naming the first bad field (empty metric, eval_every or
  /// patience < 1, min_improvement negative or not finite). The metric's name is checked against
  /// a protocol by the Trainer (recdiff::require_metric).
  void validate() const {
    const auto fail = [](const std::string& what) {
      throw std::invalid_argument("recdiff::StoppingRule: " + what);
    };
    if (metric.empty()) fail("metric must not be empty");
    if (eval_every < 1) fail("eval_every must be >= 1, got " + std::to_string(eval_every));
    if (patience < 1) fail("patience must be >= 1, got " + std::to_string(patience));
    if (!(std::isfinite(min_improvement) && min_improvement >= 0))
      fail("min_improvement must be finite and >= 0, got " + std::to_string(min_improvement));
  }

  /// Whether the Trainer evaluates after epoch `epoch` (1-based).
  bool evaluates_after(int epoch) const noexcept { return epoch % eval_every == 0; }

  /// Whether `score` beats the best score so far `best` (see the struct's comment).
  bool is_better(double score, double best) const noexcept {
    if (min_improvement > 0) return score >= best && std::abs(score - best) > min_improvement;
    return strictly_greater ? score > best : score >= best;
  }
};

/// The state of a StoppingRule over one run: the best evaluation so far and the count that
/// `patience` is compared with. The Trainer calls should_stop() at the start of every epoch and
/// record() after every evaluation.
class EarlyStopping {
 public:
  /// Validates `rule` (StoppingRule::validate).
  explicit EarlyStopping(StoppingRule rule) : m_rule(std::move(rule)) { m_rule.validate(); }

  /// The rule.
  const StoppingRule& rule() const noexcept { return m_rule; }

  /// Records the score of the evaluation after epoch `epoch`; returns whether it is the new best.
  bool record(int epoch, double score) {
    const bool better = !m_have_best || m_rule.is_better(score, m_best_score);
    if (better) {
      m_have_best = true;
      m_best_score = score;
      m_best_epoch = epoch;
      m_not_better = 0;
    } else {
      ++m_not_better;
    }
    return better;
  }

  /// Whether training stops before epoch `epoch` (1-based) starts.
  bool should_stop(int epoch) const noexcept {
    if (!m_have_best) return false;
    switch (m_rule.patience_unit) {
      case PatienceUnit::epochs_since_best:
        return epoch - m_best_epoch >= m_rule.patience;
      case PatienceUnit::evaluations_without_improvement:
        return m_not_better >= m_rule.patience;
    }
    return false;
  }

  /// Whether an evaluation has been recorded.
  bool has_best() const noexcept { return m_have_best; }
  /// Epoch of the best evaluation (0 before the first).
  int best_epoch() const noexcept { return m_best_epoch; }
  /// Score of the best evaluation (NaN before the first).
  double best_score() const noexcept { return m_best_score; }
  /// Evaluations since the best one that were not better.
  int evaluations_since_best() const noexcept { return m_not_better; }

 private:
  StoppingRule m_rule;
  bool m_have_best = false;
  int m_best_epoch = 0;
  double m_best_score = std::nan("");
  int m_not_better = 0;
};

}  // namespace recdiff
