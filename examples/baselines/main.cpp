// Popularity and EASE under DiffRec's protocol or RecFusion's strong generalisation.
//
//   baselines                                  built-in synthetic data, both models, metrics table
//   baselines --data ../shared/data/ml-1m_clean --model ease --lambda 1000 --json ease.json
//   baselines --data ../shared/data/ml-100k/u.data --format ml-100k --protocol strong

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <recdiff/recdiff.hpp>

#include "../common/cli.hpp"
#include "../common/dataset.hpp"
#include "../common/report.hpp"

using namespace recdiff;
using examples::ArgParser;
using examples::UsageError;

namespace {

struct Outcome {
  MetricSet valid;
  MetricSet test;
  double lambda = 0;
};

// Validation metric that selects EASE's lambda, per protocol.
const char* selection_metric(bool strong) { return strong ? "ndcg@100" : "recall@20"; }

template <class Model>
Outcome evaluate(Model& model, const examples::PreparedData& data, const EvalOptions& eval) {
  Outcome out;
  if (data.strong) {
    out.valid = evaluate_strong_generalization(model, data.strong_split, EvaluatedUsers::validation, eval);
    out.test = evaluate_strong_generalization(model, data.strong_split, EvaluatedUsers::test, eval);
  } else {
    auto r = evaluate_diffrec_protocol(model, data.split, eval);
    out.valid = std::move(r.valid);
    out.test = std::move(r.test);
  }
  return out;
}

Outcome run_popularity(const examples::PreparedData& data, const EvalOptions& eval) {
  Popularity model;
  model.fit(data.strong ? data.strong_split.full_train : data.split.train);
  return evaluate(model, data, eval);
}

Outcome run_ease(const examples::PreparedData& data, const EvalOptions& eval,
                 std::optional<double> lambda) {
  Ease model;
  const char* metric = selection_metric(data.strong);
  if (!lambda) {
    // Grid search on validation. Under strong generalisation the model is fitted on the
    // validation-training users for the search and refitted on all training users afterwards.
    double best = -1;
    for (const double l : {50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0}) {
      model.fit(data.strong ? data.strong_split.val_train : data.split.train, l);
      const double v = evaluate(model, data, eval).valid.at(metric);
      std::fprintf(stderr, "  EASE lambda %-6g valid %s %.4f\n", l, metric, v);
      if (v > best) {
        best = v;
        lambda = l;
      }
    }
  }
  model.fit(data.strong ? data.strong_split.full_train : data.split.train, *lambda);
  Outcome out = evaluate(model, data, eval);
  out.lambda = *lambda;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    ArgParser args("baselines", "Popularity and EASE on a recommendation dataset.");
    examples::declare_data_options(args);
    args.option("model", "NAME", "popularity | ease | all (default all)");
    args.option("lambda", "L", "EASE's L2 weight (default: chosen on validation from a grid)");
    args.option("threads", "N", "threads (default: all cores)");
    args.option("json", "FILE", "write the results as JSON");
    if (!args.parse(argc, argv)) return 0;

    const std::string which = args.text("model").value_or("all");
    if (which != "popularity" && which != "ease" && which != "all")
      throw UsageError("--model: expected popularity, ease or all, got '" + which + "'");
    std::optional<double> lambda;
    if (args.has("lambda")) {
      lambda = args.number<double>("lambda", 0);
      if (!(*lambda > 0)) throw UsageError("--lambda must be > 0");
    }
    const int threads = args.number<int>("threads", 0);
    if (threads < 0) throw UsageError("--threads must be >= 0");

    const auto t0 = std::chrono::steady_clock::now();
    const examples::PreparedData data = examples::prepare_data(args);
    const double load_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("data: %s (loaded in %.2f s), protocol: %s\n", data.description.c_str(),
                load_seconds, data.strong ? "strong generalisation" : "diffrec");

    EvalOptions eval;
    eval.num_threads = threads;
    eval.ks = data.strong ? std::vector<index_t>{10, 20, 50, 100}
                          : std::vector<index_t>{10, 20, 50, 100};
    JsonValue report = JsonValue::array();
    for (const char* model_name : {"popularity", "ease"}) {
      const std::string model = model_name;
      if (which != "all" && which != model) continue;
      const auto t1 = std::chrono::steady_clock::now();
      const Outcome out = model == "popularity" ? run_popularity(data, eval)
                                                : run_ease(data, eval, lambda);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
      std::printf("\n%s%s (%.2f s)\n", model.c_str(),
                  model == "ease" ? (" lambda " + std::to_string(out.lambda)).c_str() : "",
                  seconds);
      std::printf("validation:\n%s", out.valid.table().c_str());
      std::printf("test:\n%s", out.test.table().c_str());
      JsonValue entry;
      entry["model"] = model;
      if (model == "ease") entry["lambda"] = out.lambda;
      entry["protocol"] = data.strong ? "strong" : "diffrec";
      entry["data"] = data.description;
      entry["valid"] = examples::metrics_json(out.valid);
      entry["test"] = examples::metrics_json(out.test);
      entry["seconds"] = seconds;
      report.push_back(entry);
    }
    if (const auto path = args.text("json")) report.save(*path);
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "baselines: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "baselines: error: %s\n", e.what());
    return 1;
  }
}
