#pragma once
// Running any model of the library under either protocol: fit or train it, select on validation,
// and collect its validation and test metrics (shared by baselines, recfusion, codigem, compare).

#include <cstdio>
#include <optional>
#include <string>
#include <utility>

#include <recdiff/baseline/baseline.hpp>
#include <recdiff/core/input_weighting.hpp>
#include <recdiff/eval/eval.hpp>
#include <recdiff/train/train.hpp>

#include "dataset.hpp"
#include "report.hpp"

namespace recdiff::examples {

/// What a run of one model gives.
struct Outcome {
  MetricSet valid;
  MetricSet test;
  double lambda = 0;   // EASE
  int best_epoch = 0;  // trained models
  int epochs_run = 0;
  double seconds_per_epoch = 0;
  double seconds_per_eval = 0;
};

/// Validation metric that selects EASE's lambda, per protocol.
inline const char* selection_metric(bool strong) { return strong ? "ndcg@100" : "recall@20"; }

/// The matrix a closed-form model is fitted on (the full training users under strong
/// generalisation, as RecPack fits its non-neural models).
inline const InteractionMatrix& fit_matrix(const PreparedData& data) {
  return data.strong ? data.strong_split.full_train : data.split.train;
}

/// Validation and test metrics of a fitted or trained model under the data's protocol.
template <class Model>
Outcome evaluate(Model& model, const PreparedData& data, const EvalOptions& eval) {
  Outcome out;
  if (data.strong) {
    out.valid =
        evaluate_strong_generalization(model, data.strong_split, EvaluatedUsers::validation, eval);
    out.test = evaluate_strong_generalization(model, data.strong_split, EvaluatedUsers::test, eval);
  } else {
    auto r = evaluate_diffrec_protocol(model, data.split, eval);
    out.valid = std::move(r.valid);
    out.test = std::move(r.test);
  }
  return out;
}

/// Popularity fitted on fit_matrix().
inline Outcome run_popularity(const PreparedData& data, const EvalOptions& eval) {
  Popularity model;
  model.fit(fit_matrix(data));
  return evaluate(model, data, eval);
}

/// Random (k items per user) fitted on fit_matrix().
inline Outcome run_random(const PreparedData& data, const EvalOptions& eval, index_t k,
                   std::uint64_t seed) {
  Random model(k, seed);
  model.fit(fit_matrix(data));
  return evaluate(model, data, eval);
}

/// EASE with `lambda`, or lambda chosen on validation from a grid when none is given; fitted on
/// (and scoring) T-DiffRec's time-weighted rows when `time_weights` is set, binary rows otherwise.
inline Outcome run_ease(const PreparedData& data, const EvalOptions& eval,
                        std::optional<double> lambda,
                        const std::optional<TimeLinearInput>& time_weights = std::nullopt) {
  Ease model;
  const char* metric = selection_metric(data.strong);
  const auto fit = [&](const InteractionMatrix& train, double l) {
    if (time_weights)
      model.fit(train, l, *time_weights);
    else
      model.fit(train, l);
  };
  if (!lambda) {
    // Grid search on validation. Under strong generalisation the model is fitted on the
    // validation-training users for the search and refitted on all training users afterwards.
    double best = -1;
    for (const double l : {50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0}) {
      fit(data.strong ? data.strong_split.val_train : data.split.train, l);
      const double v = evaluate(model, data, eval).valid.at(metric);
      std::fprintf(stderr, "  EASE lambda %-6g valid %s %.4f\n", l, metric, v);
      if (v > best) {
        best = v;
        lambda = l;
      }
    }
  }
  fit(fit_matrix(data), *lambda);
  Outcome out = evaluate(model, data, eval);
  out.lambda = *lambda;
  return out;
}

/// Settings of the Trainer run of a neural model.
struct TrainFlags {
  TrainerOptions options;
  /// Under strong generalisation: how validation is measured (RecPack's: fold-in unmasked).
  StrongGeneralizationProtocolOptions protocol;
  std::optional<std::string> save;
};

/// Trains `model` with the Trainer under the protocol of `data`; the model ends at its best
/// evaluation, whose metrics are returned. flags.save, when set, writes the best model (models
/// with a one-argument save(path)).
template <class Model>
Outcome run_trained(Model& model, const PreparedData& data, const TrainFlags& flags,
                    Progress progress = Progress::stderr_sink()) {
  Trainer<Model> trainer(flags.options, std::move(progress));
  const TrainResult result =
      data.strong ? trainer.fit(model, StrongGeneralizationProtocol(data.strong_split, flags.protocol))
                  : trainer.fit(model, DiffRecProtocol(data.split));
  if (flags.save) {
    if constexpr (requires { model.save(*flags.save); })
      model.save(*flags.save);
    else
      throw UsageError("this program cannot save this model");
  }
  Outcome out;
  out.valid = result.best.valid;
  out.test = result.best.test;
  out.best_epoch = result.best_epoch;
  out.epochs_run = result.epochs_run;
  out.seconds_per_epoch = result.train_seconds_per_epoch;
  out.seconds_per_eval = result.eval_seconds_per_pass;
  return out;
}

/// Prints a trained model's outcome (best epoch, timings, validation and test metrics) and, when
/// `json` names a file, writes it there as JSON.
inline void report_trained(const std::string& model, const PreparedData& data, const Outcome& out,
                           const std::optional<std::string>& json) {
  std::printf("\n%s: best epoch %d of %d, %.2f s per epoch, %.2f s per evaluation\n",
              model.c_str(), out.best_epoch, out.epochs_run, out.seconds_per_epoch,
              out.seconds_per_eval);
  std::printf("validation:\n%s", out.valid.table().c_str());
  std::printf("test:\n%s", out.test.table().c_str());
  std::fflush(stdout);
  if (!json) return;
  JsonValue entry = JsonValue::object();
  entry["model"] = model;
  entry["data"] = data.description;
  entry["protocol"] = data.strong ? "strong" : "diffrec";
  entry["valid"] = metrics_json(out.valid);
  entry["test"] = metrics_json(out.test);
  entry["best_epoch"] = out.best_epoch;
  entry["epochs_run"] = out.epochs_run;
  entry["seconds_per_epoch"] = out.seconds_per_epoch;
  entry["seconds_per_eval"] = out.seconds_per_eval;
  entry.save(*json);
}

}  // namespace recdiff::examples
