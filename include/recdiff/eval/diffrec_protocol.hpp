#pragma once
/// @file
/// DiffRec's evaluation protocol (validation and test from one scoring pass of the train rows).

#include <utility>
#include <vector>

#include <recdiff/data/train_valid_test.hpp>
#include <recdiff/eval/evaluator.hpp>
#include <recdiff/eval/metric_set.hpp>
#include <recdiff/eval/scorer.hpp>

namespace recdiff {

/// Validation and test metrics of one evaluation round.
struct ProtocolResult {
  MetricSet valid;
  MetricSet test;
};

/// DiffRec's protocol (evaluate_utils.computeTopNAccuracy, diffrec.md section 7) on `data`:
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

}  // namespace recdiff
