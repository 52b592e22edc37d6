#pragma once
// End-to-end learning check shared by the model tests: Popularity's and a trained model's test
// recall@20 under DiffRec's protocol on the clustered toy data (a collaborative model must beat
// popularity there).

#include <utility>

#include <recdiff/baseline/popularity.hpp>
#include <recdiff/eval/diffrec_protocol.hpp>
#include <recdiff/eval/temporal_split.hpp>
#include <recdiff/train/trainer.hpp>

#include "support/toy_data.hpp"

namespace recdiff::test {

/// (Popularity's, the model's) test recall@20 after training `model` for at most `epochs` epochs in
/// batches of 50 users, evaluated every 5 epochs, the best evaluation kept.
template <class Model>
std::pair<double, double> toy_recall(Model& model, int epochs) {
  const auto split = temporal_split(make_toy_data());
  Popularity popularity;
  popularity.fit(split.train);
  EvalOptions eval;
  eval.ks = {20};
  const double pop = evaluate_diffrec_protocol(popularity, split, eval).test.at("recall@20");
  TrainerOptions options;
  options.max_epochs = epochs;
  options.batch_size = 50;
  options.eval = eval;
  options.stopping.eval_every = 5;
  options.progress_metrics = {"recall@20"};
  Trainer<Model> trainer(options, Progress::silent());
  const auto result = trainer.fit(model, split);
  return {pop, result.best.test.at("recall@20")};
}

}  // namespace recdiff::test
