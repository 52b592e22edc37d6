// The baselines: Popularity, EASE, Random (closed form) and Mult-DAE, Mult-VAE (trained), under
// DiffRec's protocol or RecPack's strong generalisation.
//
//   baselines                                  built-in synthetic data, Popularity + EASE + Random
//   baselines --data ../shared/data/ml-1m_clean --model ease --lambda 1000 --json ease.json
//   baselines --data ../shared/data/ml-1m_clean --model multvae --threads 2
//   baselines --data ../shared/data/ml-100k/u.data --format ml-100k --protocol strong --model
//   multdae
//   baselines --data ../shared/data/ml-1m_clean --model ease --w-min 0.1 --w-max 1
//       (T-DiffRec's time-weighted input for EASE, Mult-DAE and Mult-VAE)
//   baselines --data ../shared/data/ml-1m_clean --model multvae --random-noise 0.2

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "../common/cli.hpp"
#include "../common/dataset.hpp"
#include "../common/report.hpp"
#include "../common/runners.hpp"
#include <recdiff/backend/cpu.hpp>
#include <recdiff/baseline/baseline.hpp>
#include <recdiff/core/input_weighting.hpp>
#include <recdiff/eval/eval.hpp>
#include <recdiff/io/json_writer.hpp>
#include <recdiff/models/mult_dae.hpp>
#include <recdiff/models/mult_vae.hpp>
#include <recdiff/train/train.hpp>

using namespace recdiff;
using examples::ArgParser;
using examples::UsageError;
using examples::Outcome;
using examples::TrainFlags;
using examples::fit_matrix;
using examples::run_ease;
using examples::run_popularity;
using examples::run_random;
using examples::run_trained;

namespace {

// "600,200".
std::string dims_text(const std::vector<int>& dims) {
  std::string out;
  for (const int d : dims) {
    if (!out.empty()) out += ',';
    out += std::to_string(d);
  }
  return out;
}

// Flags that only some models read; naming one for another model is a mistake.
void require_only_for(const ArgParser& args, const std::string& model,
                      const std::vector<std::string>& flags,
                      const std::vector<std::string>& models) {
  for (const auto& flag : flags) {
    if (!args.has(flag)) continue;
    bool applies = false;
    std::string list;
    for (const auto& m : models) {
      applies = applies || m == model;
      if (!list.empty()) list += ", ";
      list += m;
    }
    if (!applies)
      throw UsageError("--" + flag + " applies to " + list + " only (--model " + model + ")");
  }
}

}  // namespace

int main(int argc, char** argv) {
  return examples::guarded_main("baselines", [&]() -> int {
    ArgParser args("baselines",
                   "Popularity, EASE, Random, Mult-DAE and Mult-VAE on a recommendation dataset.");
    examples::declare_data_options(args);
    args.option("model", "NAME",
                "popularity | ease | random | multdae | multvae | all (default all: popularity, "
                "ease and random)");
    args.option("lambda", "L", "EASE's L2 weight (default: chosen on validation from a grid)");
    args.option("k", "N", "Random: items scored per user (default 200)");
    args.option("dims", "LIST",
                "multdae: encoder widths, mirrored by the decoder (default 200: I-200-I); multvae: "
                "hidden widths then the latent size (default 600,200)");
    args.option("dropout", "P", "input dropout (default 0.5)");
    args.option("lr", "LR", "Adam's learning rate (default 1e-3)");
    args.option("batch-size", "N", "users per update (default 500)");
    args.option("epochs", "N", "maximum number of epochs (default 200)");
    args.option("weight-decay", "W",
                "lambda of lambda * sum ||W||^2 over the weight matrices (default: multdae 0.01 / "
                "batch size, multvae 0)");
    args.option("beta-cap", "B", "multvae: largest KL weight (default 0.2)");
    args.option("anneal-steps", "N",
                "multvae: beta = min(cap, updates / N), 0: beta = cap (default 200000)");
    args.option("w-min", "W",
                "ease, multdae, multvae: T-DiffRec's time-weighted input, weight of a user's "
                "earliest training interaction (default 0.1 once --w-min or --w-max is given)");
    args.option("w-max", "W",
                "... and of the latest (default 1); the weights rise linearly in row order. "
                "Without either option the input is binary");
    args.option("patience", "N",
                "early stopping (default: diffrec 20 epochs since the best, strong 5 evaluations)");
    args.option("eval-every", "N", "evaluate every N epochs (default 1)");
    args.option("save", "FILE", "multdae / multvae: write the best model's checkpoint");
    args.option("threads", "N", "threads (default: all cores)");
    args.option("json", "FILE", "write the results as JSON");
    if (!args.parse(argc, argv)) return 0;

    const std::string which = args.text("model").value_or("all");
    const std::vector<std::string> known{"popularity", "ease",    "random",
                                         "multdae",    "multvae", "all"};
    if (std::find(known.begin(), known.end(), which) == known.end())
      throw UsageError(
          "--model: expected popularity, ease, random, multdae, multvae or all, got '" + which +
          "'");
    require_only_for(args, which, {"lambda"}, {"ease", "all"});
    require_only_for(args, which, {"k"}, {"random", "all"});
    require_only_for(args, which,
                     {"dims", "dropout", "lr", "batch-size", "epochs", "weight-decay", "patience",
                      "eval-every", "save"},
                     {"multdae", "multvae"});
    require_only_for(args, which, {"beta-cap", "anneal-steps"}, {"multvae"});
    require_only_for(args, which, {"w-min", "w-max"}, {"ease", "multdae", "multvae", "all"});

    // T-DiffRec's time weights (Wang et al., SIGIR 2023, section 3.5) for the models that read a
    // user's row: EASE, Mult-DAE, Mult-VAE. Popularity and Random read no input row.
    std::optional<TimeLinearInput> time_weights;
    if (args.has("w-min") || args.has("w-max")) {
      try {
        time_weights = TimeLinearInput(args.number<double>("w-min", 0.1),
                                       args.number<double>("w-max", 1.0));
      } catch (const std::invalid_argument& e) {
        throw UsageError(std::string("--w-min / --w-max: ") + e.what());
      }
      if (which == "all")
        std::fprintf(stderr,
                     "baselines: --w-min/--w-max weight EASE's input; popularity and random read "
                     "no input rows and are unaffected\n");
    }
    const auto weighting_json = [&](JsonValue& config) {
      config["input"] = time_weights ? TimeLinearInput::name : BinaryInput::name;
      if (time_weights) {
        config["w_min"] = time_weights->w_min;
        config["w_max"] = time_weights->w_max;
      }
    };

    std::optional<double> lambda;
    if (args.has("lambda")) {
      lambda = args.number<double>("lambda", 0);
      if (!(*lambda > 0)) throw UsageError("--lambda must be > 0");
    }
    const auto k = args.number<index_t>("k", 200);
    if (k < 1) throw UsageError("--k must be >= 1");
    const int threads = args.number<int>("threads", 0);
    if (threads < 0) throw UsageError("--threads must be >= 0");
    const auto seed = args.number<std::uint64_t>("seed", 1);

    const auto t0 = std::chrono::steady_clock::now();
    const examples::PreparedData data = examples::prepare_data(args);
    const double load_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("data: %s (loaded in %.2f s), protocol: %s\n", data.description.c_str(),
                load_seconds, data.strong ? "strong generalisation" : "diffrec");
    std::fflush(stdout);

    EvalOptions eval;
    eval.num_threads = threads;
    eval.ks = {10, 20, 50, 100};

    // The Trainer's settings for the neural models: DiffRec's rule (valid recall@20, patience 20
    // epochs since the best) or RecPack's (valid ndcg@50, +0.01, 5 evaluations), evaluated after
    // every epoch unless --eval-every says otherwise.
    TrainFlags train;
    train.options.max_epochs = args.number<int>("epochs", 200);
    train.options.batch_size = args.number<index_t>("batch-size", 500);
    train.options.seed = seed;
    train.options.eval = eval;
    train.options.stopping = data.strong ? StoppingRule::recpack() : StoppingRule::diffrec();
    train.options.stopping.eval_every = args.number<int>("eval-every", 1);
    if (args.has("patience")) train.options.stopping.patience = args.number<int>("patience", 0);
    if (data.strong) train.options.progress_metrics = {"ndcg@50", "recall@20"};
    train.save = args.text("save");
    if (train.options.max_epochs < 1) throw UsageError("--epochs must be >= 1");
    if (train.options.batch_size < 1) throw UsageError("--batch-size must be >= 1");
    if (train.options.stopping.eval_every < 1) throw UsageError("--eval-every must be >= 1");
    if (train.options.stopping.patience < 1) throw UsageError("--patience must be >= 1");
    const index_t items = fit_matrix(data).num_items();

    JsonValue report = JsonValue::array();
    const std::vector<std::string> models =
        which == "all" ? std::vector<std::string>{"popularity", "ease", "random"}
                       : std::vector<std::string>{which};
    for (const std::string& model : models) {
      const auto t1 = std::chrono::steady_clock::now();
      Outcome out;
      JsonValue config = JsonValue::object();
      if (model == "popularity") {
        out = run_popularity(data, eval);
      } else if (model == "ease") {
        out = run_ease(data, eval, lambda, time_weights);
        config["lambda"] = out.lambda;
        weighting_json(config);
      } else if (model == "random") {
        out = run_random(data, eval, k, seed);
        config["k"] = static_cast<double>(k);
      } else if (model == "multdae") {
        MultDAEConfig c;
        if (args.has("dims")) c.dims = ArgParser::parse_list<int>("dims", *args.text("dims"));
        c.dropout = args.number<double>("dropout", c.dropout);
        c.lr = args.number<double>("lr", c.lr);
        c.weight_decay = args.number<double>("weight-decay",
                                             0.01 / static_cast<double>(train.options.batch_size));
        c.seed = seed;
        c.threads = threads;
        c.time_weights = time_weights;
        MultDAE<CpuBackend> m(c, items);
        std::printf("multdae: %s", c.to_string().c_str());
        std::fflush(stdout);
        out = run_trained(m, data, train);
        config["dims"] = dims_text(c.dims);
        config["weight_decay"] = c.weight_decay;
        config["dropout"] = c.dropout;
        config["lr"] = c.lr;
        weighting_json(config);
      } else {
        MultVAEConfig c;
        if (args.has("dims")) c.dims = ArgParser::parse_list<int>("dims", *args.text("dims"));
        c.dropout = args.number<double>("dropout", c.dropout);
        c.lr = args.number<double>("lr", c.lr);
        c.weight_decay = args.number<double>("weight-decay", c.weight_decay);
        c.beta_cap = args.number<double>("beta-cap", c.beta_cap);
        c.anneal_steps = args.number<std::int64_t>("anneal-steps", c.anneal_steps);
        c.seed = seed;
        c.threads = threads;
        c.time_weights = time_weights;
        MultVAE<CpuBackend> m(c, items);
        std::printf("multvae: %s", c.to_string().c_str());
        std::fflush(stdout);
        out = run_trained(m, data, train);
        config["dims"] = dims_text(c.dims);
        config["weight_decay"] = c.weight_decay;
        config["dropout"] = c.dropout;
        config["lr"] = c.lr;
        weighting_json(config);
        config["beta_cap"] = c.beta_cap;
        config["anneal_steps"] = static_cast<double>(c.anneal_steps);
        config["final_beta"] = m.beta();
      }
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
      const bool trained = model == "multdae" || model == "multvae";
      std::printf("\n%s%s%s (%.2f s", model.c_str(),
                  model == "ease" ? (" lambda " + std::to_string(out.lambda)).c_str() : "",
                  time_weights && model != "popularity" && model != "random"
                      ? (", time weights " + std::to_string(time_weights->w_min) + ".." +
                         std::to_string(time_weights->w_max))
                            .c_str()
                      : "",
                  seconds);
      if (trained)
        std::printf(", best epoch %d of %d, %.2f s per epoch, %.2f s per evaluation",
                    out.best_epoch, out.epochs_run, out.seconds_per_epoch, out.seconds_per_eval);
      std::printf(")\n");
      std::printf("validation:\n%s", out.valid.table().c_str());
      std::printf("test:\n%s", out.test.table().c_str());
      std::fflush(stdout);
      JsonValue entry;
      entry["model"] = model;
      entry["config"] = config;
      if (model == "ease") entry["lambda"] = out.lambda;
      entry["protocol"] = data.strong ? "strong" : "diffrec";
      entry["data"] = data.description;
      if (data.random_noise) entry["random_noise"] = *data.random_noise;
      entry["natural_noise"] = data.natural_noise;
      entry["valid"] = examples::metrics_json(out.valid);
      entry["test"] = examples::metrics_json(out.test);
      entry["seconds"] = seconds;
      if (trained) {
        entry["batch_size"] = static_cast<double>(train.options.batch_size);
        entry["best_epoch"] = out.best_epoch;
        entry["epochs_run"] = out.epochs_run;
        entry["seconds_per_epoch"] = out.seconds_per_epoch;
        entry["seconds_per_eval"] = out.seconds_per_eval;
      }
      report.push_back(entry);
    }
    if (const auto path = args.text("json")) report.save(*path);
    return 0;
  });
}
