#pragma once
/// @file
/// Evaluation protocols: the policy that tells the Trainer what to train on and how to measure a
/// model during training. The `EvaluationProtocol` concept, the result type `ProtocolResult`, and
/// the metric names a protocol can report (checked before training starts).
///
/// A protocol is a small value type with four members:
///
///   const InteractionMatrix& train_matrix() const;          // the rows train_batch() reads
///   std::span<const index_t> train_users() const;           // the users the epoch loop shuffles
///   ProtocolResult evaluate(S& scorer, EvalOptions) const;  // one evaluation round
///   std::vector<index_t> cutoffs(const EvalOptions&) const; // the K of every reported metric
///
/// Every metric of `evaluate` is named "<base>@<K>", with a base from evaluator_metric_bases() and
/// K from cutoffs(). Implementations: `DiffRecProtocol` (eval/diffrec_protocol.hpp) and
/// `StrongGeneralizationProtocol` (eval/strong_generalization_protocol.hpp).
///
/// ## Planned: LeaveOneOutProtocol (sequential models; not implemented yet)
///
/// For the sequential recommenders of a later issue (leave-one-out evaluation as in SASRec-style
/// papers). Design at declaration level:
/// - holds, per user, the chronologically ordered item sequence (a time-sorted InteractionMatrix or
///   a CSR of sequences), built once from the full data;
/// - the last item of each sequence is the test target, the second last the validation target; the
///   prefix without those two items is the user's training sequence;
/// - train_matrix() = the training prefixes, train_users() = users whose prefix is non-empty;
/// - evaluate(): validation feeds the scorer the training prefix, masks it and targets the second
///   last item; test feeds the prefix + validation item, masks those, targets the last item; full
///   ranking over all items (no sampled negatives), averaging over users with a target
///   (Averaging::users_with_targets), so that HR@K / NDCG@K are those of one held-out item;
/// - cutoffs() = the options' ks, like the other protocols.
/// The scorer then needs the order of a row, which InteractionMatrix keeps (rows are never sorted).

#include <charconv>
#include <concepts>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/eval/evaluator.hpp>
#include <recdiff/eval/metric_set.hpp>
#include <recdiff/eval/score_matrix.hpp>
#include <recdiff/eval/scorer.hpp>

namespace recdiff {

/// Validation and test metrics of one evaluation round.
struct ProtocolResult {
  MetricSet valid;  ///< measured on the validation targets (selects the epoch)
  MetricSet test;   ///< measured on the test targets (reported)
};

namespace detail {

// The smallest Scorer: gives every item the score 0.
struct ScorerArchetype {
  void score(const InteractionMatrix& input, std::span<const index_t> users, ScoreMatrix& out) {
    out.resize(static_cast<Eigen::Index>(users.size()), input.num_items());
    out.setZero();
  }
};

}  // namespace detail

/// The base names of the metrics an Evaluator reports ("recall", "calibrated_recall", "ndcg",
/// "precision", "mrr", "hit_rate", "coverage"), in the evaluator's order. They are read once off
/// the result of an Evaluator run over zero users, so this list is the evaluator's own and cannot
/// drift from it.
inline const std::vector<std::string>& evaluator_metric_bases() {
  static const std::vector<std::string> bases = [] {
    EvalOptions options;
    options.ks = {1};
    options.num_threads = 1;
    const InteractionMatrix empty(0, 1, std::vector<offset_t>{0}, {});
    detail::ScorerArchetype scorer;
    const EvalTask task{{}, empty, Averaging::all_users};
    const MetricSet metrics = Evaluator(options).evaluate(scorer, empty, task);
    std::vector<std::string> names;
    for (const auto& [name, value] : metrics.values()) {
      (void)value;
      names.push_back(name.substr(0, name.rfind('@')));
    }
    return names;
  }();
  return bases;
}

/// Every metric name a protocol reports with cut-offs `ks`: each base of evaluator_metric_bases()
/// at each K ("recall@10", "recall@20", ..., "coverage@100").
inline std::vector<std::string> metric_names(std::span<const index_t> ks) {
  std::vector<std::string> names;
  for (const auto& base : evaluator_metric_bases())
    for (const index_t k : ks) names.push_back(base + "@" + std::to_string(k));
  return names;
}

/// Throws std::invalid_argument unless `name` is "<base>@<K>" with a base of
/// evaluator_metric_bases() and K one of `ks`. The message starts with `who`, names the metric and
/// lists the bases and cut-offs available.
inline void require_metric(std::string_view name, std::span<const index_t> ks,
                           std::string_view who) {
  const auto& bases = evaluator_metric_bases();
  std::string available = "available: ";
  for (std::size_t j = 0; j < bases.size(); ++j) available += (j ? ", " : "") + bases[j];
  available += " at K =";
  for (std::size_t j = 0; j < ks.size(); ++j)
    available += (j ? ", " : " ") + std::to_string(ks[j]);
  const auto fail = [&](const std::string& why) {
    throw std::invalid_argument(std::string(who) + ": metric \"" + std::string(name) + "\" " +
                                why + " (" + available + ")");
  };
  const auto at = name.rfind('@');
  if (at == std::string_view::npos) fail("has no \"@K\" cut-off");
  const std::string_view base = name.substr(0, at);
  const std::string_view digits = name.substr(at + 1);
  index_t k = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), k);
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() || k < 1)
    fail("has no valid cut-off after '@'");
  bool known = false;
  for (const auto& b : bases) known = known || b == base;
  if (!known) fail("is unknown: no metric \"" + std::string(base) + "\"");
  bool computed = false;
  for (const index_t c : ks) computed = computed || c == k;
  if (!computed) fail("is not computed: the protocol's cut-offs do not include " +
                      std::to_string(k));
}

/// An evaluation protocol usable with scorer type S: see the file comment for the four members.
/// `evaluate` must return a ProtocolResult whose valid and test sets hold every
/// metric_names(cutoffs(options)).
template <class P, class S>
concept EvaluationProtocolFor =
    Scorer<S> && requires(const P& protocol, S& scorer, EvalOptions options) {
      { protocol.train_matrix() } -> std::convertible_to<const InteractionMatrix&>;
      { protocol.train_users() } -> std::convertible_to<std::span<const index_t>>;
      { protocol.evaluate(scorer, options) } -> std::same_as<ProtocolResult>;
      { protocol.cutoffs(options) } -> std::convertible_to<std::vector<index_t>>;
    };

/// An evaluation protocol for any Scorer (checked with the smallest one).
template <class P>
concept EvaluationProtocol = EvaluationProtocolFor<P, detail::ScorerArchetype>;

}  // namespace recdiff
