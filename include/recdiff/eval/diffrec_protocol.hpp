#pragma once
/// @file
/// DiffRec's evaluation protocol (validation and test from one scoring pass of the train rows):
/// the function evaluate_diffrec_protocol() and the Trainer policy DiffRecProtocol.

#include <span>
#include <utility>
#include <vector>

#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/data/train_valid_test.hpp>
#include <recdiff/eval/evaluator.hpp>
#include <recdiff/eval/metric_set.hpp>
#include <recdiff/eval/protocol.hpp>
#include <recdiff/eval/scorer.hpp>

namespace recdiff {

/// DiffRec's protocol (the released evaluate_utils.computeTopNAccuracy) on `data`:
/// - the scorer's input is the train row of every user, for validation and for test alike;
/// - validation masks the train items and measures against `data.valid` (test items stay ranked);
/// - test masks train + valid items and measures against `data.test`;
/// - averages divide by all users of the matrix (users without targets count as 0).
/// Both come from one scoring pass. `options` sets the cut-offs, batch size and threads.
template <class S>
requires Scorer<S> ProtocolResult evaluate_diffrec_protocol(S& scorer, const TrainValidTest& data,
                                                            EvalOptions options = {}) {
  const std::vector<EvalTask> tasks{
      EvalTask{{data.train}, data.valid, Averaging::all_users},
      EvalTask{{data.train, data.valid}, data.test, Averaging::all_users},
  };
  auto results = Evaluator(std::move(options)).evaluate(scorer, data.train, tasks);
  return {std::move(results[0]), std::move(results[1])};
}

/// DiffRec's protocol as a Trainer policy (EvaluationProtocol): the epoch loop shuffles every user
/// of `data.train` (users without interactions included, as DiffRec's released data loader does),
/// and each evaluation round is one evaluate_diffrec_protocol() pass.
///
/// Holds a reference: `data` must outlive the protocol.
class DiffRecProtocol {
 public:
  /// Wraps `data`; the training users are 0 .. data.train.num_users() - 1 in order, so the
  /// Trainer's batches are those of its permutation of all users.
  explicit DiffRecProtocol(const TrainValidTest& data) : m_data(&data) {
    m_users.resize(static_cast<std::size_t>(data.train.num_users()));
    for (index_t u = 0; u < data.train.num_users(); ++u) m_users[static_cast<std::size_t>(u)] = u;
  }
  /// A temporary would dangle.
  explicit DiffRecProtocol(TrainValidTest&&) = delete;

  /// The wrapped split.
  const TrainValidTest& data() const noexcept { return *m_data; }
  /// data().train: what the model trains on.
  const InteractionMatrix& train_matrix() const noexcept { return m_data->train; }
  /// All users of data().train, in id order.
  std::span<const index_t> train_users() const noexcept { return m_users; }

  /// One round: evaluate_diffrec_protocol(scorer, data(), options).
  template <class S>
  requires Scorer<S> ProtocolResult evaluate(S& scorer, EvalOptions options) const {
    return evaluate_diffrec_protocol(scorer, *m_data, std::move(options));
  }

  /// The cut-offs of every reported metric: options.ks.
  std::vector<index_t> cutoffs(const EvalOptions& options) const { return options.ks; }

 private:
  const TrainValidTest* m_data;
  std::vector<index_t> m_users;
};

}  // namespace recdiff
