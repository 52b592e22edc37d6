#pragma once
/// @file
/// RecPack's strong-generalisation protocol as a Trainer policy: train on the validation-training
/// users, select the epoch on the validation users' held-out items, report the test users'.

#include <span>
#include <utility>
#include <vector>

#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/eval/evaluator.hpp>
#include <recdiff/eval/protocol.hpp>
#include <recdiff/eval/scorer.hpp>
#include <recdiff/eval/strong_generalization.hpp>

namespace recdiff {

/// Settings of StrongGeneralizationProtocol.
struct StrongGeneralizationProtocolOptions {
  /// Mask the validation users' fold-in items when ranking. false (the default) is RecPack's
  /// TorchMLAlgorithm validation during training, which predicts for the validation fold-in rows
  /// without removing the fold-in items (recfusion spec: "compute NDCG@50"); true measures
  /// validation like test.
  bool mask_validation_fold_in = false;
};

/// The strong-generalisation protocol (RecPack StrongGeneralization, recfusion spec 1.2-1.4) on a
/// StrongGeneralizationSplit, as an EvaluationProtocol:
/// - training matrix = split.val_train, training users = split.val_train_users (the validation and
///   test users are never trained on);
/// - validation = evaluate_strong_generalization(scorer, split, EvaluatedUsers::validation, ...),
///   fold-in items unmasked unless options.mask_validation_fold_in;
/// - test = evaluate_strong_generalization(scorer, split, EvaluatedUsers::test, ...), fold-in items
///   masked.
/// Two scoring passes per round (the inputs differ: validation and test fold-in rows).
///
/// Holds a reference: `split` must outlive the protocol.
class StrongGeneralizationProtocol {
 public:
  /// Wraps `split`.
  explicit StrongGeneralizationProtocol(const StrongGeneralizationSplit& split,
                                        StrongGeneralizationProtocolOptions options = {})
      : m_split(&split), m_options(options) {}
  /// A temporary would dangle.
  explicit StrongGeneralizationProtocol(StrongGeneralizationSplit&&,
                                        StrongGeneralizationProtocolOptions = {}) = delete;

  /// The wrapped split.
  const StrongGeneralizationSplit& split() const noexcept { return *m_split; }
  /// The protocol's settings.
  const StrongGeneralizationProtocolOptions& options() const noexcept { return m_options; }
  /// split().val_train.
  const InteractionMatrix& train_matrix() const noexcept { return m_split->val_train; }
  /// split().val_train_users (sorted).
  std::span<const index_t> train_users() const noexcept { return m_split->val_train_users; }

  /// One round: validation then test, each one evaluator pass with `options`.
  template <class S>
  requires Scorer<S> ProtocolResult evaluate(S& scorer, EvalOptions options) const {
    ProtocolResult result;
    result.valid = evaluate_strong_generalization(
        scorer, *m_split, EvaluatedUsers::validation, options,
        m_options.mask_validation_fold_in ? FoldInMasking::masked : FoldInMasking::unmasked);
    result.test = evaluate_strong_generalization(scorer, *m_split, EvaluatedUsers::test,
                                                 std::move(options), FoldInMasking::masked);
    return result;
  }

  /// The cut-offs of every reported metric: options.ks.
  std::vector<index_t> cutoffs(const EvalOptions& options) const { return options.ks; }

 private:
  const StrongGeneralizationSplit* m_split;
  StrongGeneralizationProtocolOptions m_options;
};

}  // namespace recdiff
