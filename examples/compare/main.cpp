// Every model of the library on one dataset, split and set of metrics, over several seeds: the
// table of RecFusion's Table 4 (strong generalisation, median over seeds) or of DiffRec's Table 2.
//
//   compare                                            built-in synthetic data, fast models
//   compare --data ../shared/data/ml-1m_clean --protocol diffrec --models popularity,ease,codigem
//   compare --data ../shared/data/diffurec_ml-1m --protocol strong --seeds 5
//           --models popularity,ease,multvae,recfusion,codigem-recfusion --json table.json

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <recdiff/io/atomic_file.hpp>
#include <recdiff/io/json_writer.hpp>

#include "../common/cli.hpp"
#include "../common/dataset.hpp"
#include "../common/report.hpp"
#include "../common/runners.hpp"
#include "../common/zoo.hpp"

using namespace recdiff;
using examples::ArgParser;
using examples::UsageError;

namespace {

// The table's columns: RecFusion's (calibrated recall, x 100) or DiffRec's (plain recall).
struct Column {
  std::string metric;
  std::string title;
  double scale;
};

std::vector<Column> columns(bool strong) {
  if (strong)
    return {{"calibrated_recall@20", "Recall@20", 100},
            {"calibrated_recall@50", "Recall@50", 100},
            {"ndcg@100", "NDCG@100", 100}};
  return {{"recall@10", "R@10", 1}, {"recall@20", "R@20", 1}, {"ndcg@10", "N@10", 1},
          {"ndcg@20", "N@20", 1}};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// One model's runs over the seeds.
struct Runs {
  std::vector<examples::Outcome> outcomes;
  std::vector<double> seconds;
};

// {metric: median over the runs} of the valid or test metrics.
JsonValue medians(const Runs& runs, bool test) {
  JsonValue j = JsonValue::object();
  std::map<std::string, std::vector<double>> values;
  for (const auto& o : runs.outcomes)
    for (const auto& [name, v] : (test ? o.test : o.valid).values()) values[name].push_back(v);
  for (const auto& [name, v] : values) j[name] = median(v);
  return j;
}

double median_of(const Runs& runs, const std::string& metric) {
  std::vector<double> v;
  for (const auto& o : runs.outcomes) v.push_back(o.test.at(metric));
  return median(v);
}

std::string markdown(const std::vector<std::string>& models, const std::map<std::string, Runs>& all,
                     bool strong, int seeds) {
  const auto cols = columns(strong);
  std::string out = "| model |";
  for (const auto& c : cols) out += " " + c.title + " |";
  out += " seconds |\n|---|";
  for (std::size_t i = 0; i < cols.size(); ++i) out += "---|";
  out += "---|\n";
  char buffer[64];
  for (const auto& m : models) {
    const Runs& r = all.at(m);
    out += "| " + m + " |";
    for (const auto& c : cols) {
      std::snprintf(buffer, sizeof buffer, strong ? " %.2f |" : " %.4f |",
                    c.scale * median_of(r, c.metric));
      out += buffer;
    }
    std::snprintf(buffer, sizeof buffer, " %.1f |\n", median(r.seconds));
    out += buffer;
  }
  out += std::string("\n") + (strong ? "Test users, calibrated recall and NDCG x 100" : "Test set") +
         ", median over " + std::to_string(seeds) + (seeds == 1 ? " seed" : " seeds") +
         "; seconds: one whole run (fit or training with its validation passes, and the test pass).\n";
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  return examples::guarded_main("compare", [&]() -> int {
    ArgParser args("compare",
                   "Every named model on one dataset, split and set of metrics; a results table.");
    examples::declare_data_options(args);
    std::string known;
    for (const auto& n : examples::model_names()) known += (known.empty() ? "" : ",") + n;
    args.option("models", "LIST", "comma-separated models (default popularity,random,ease,multdae,"
                                  "recfusion,codigem); known: " + known);
    args.option("seeds", "N", "runs per model with seeds 1..N; under --protocol strong each seed "
                              "also draws its own user split (default 1)");
    args.option("max-epochs", "N", "cap every neural model's epochs (default: each model's own)");
    args.option("patience", "N",
                "every neural model's patience (default: the protocol's rule; RecPack's is 5 "
                "evaluations without a gain of 0.01 in ndcg@50)");
    args.option("threads", "N", "threads (default: all cores)");
    args.option("json", "FILE", "write {model: {valid, test, seconds, runs}} as JSON");
    args.option("markdown", "FILE", "write the table as Markdown");
    args.flag("mask-validation",
              "strong: mask the validation users' fold-in items when selecting the epoch "
              "(RecPack ranks them, so a model that reproduces its input scores worse)");
    args.flag("quiet", "no per-epoch progress lines");
    if (!args.parse(argc, argv)) return 0;
    if (args.has("seed")) throw UsageError("--seed: compare runs seeds 1..N, set with --seeds");

    std::vector<std::string> models{"popularity", "random", "ease", "multdae", "recfusion",
                                    "codigem"};
    if (const auto list = args.text("models")) {
      models.clear();
      std::stringstream ss(*list);
      std::string part;
      while (std::getline(ss, part, ','))
        if (!part.empty()) models.push_back(part);
      if (models.empty()) throw UsageError("--models: expected a comma-separated list");
    }
    for (const auto& m : models)
      if (std::find(examples::model_names().begin(), examples::model_names().end(), m) ==
          examples::model_names().end())
        throw UsageError("--models: unknown model '" + m + "' (known: " + known + ")");
    const int seeds = args.number<int>("seeds", 1);
    if (seeds < 1) throw UsageError("--seeds must be >= 1");
    examples::ZooSettings zoo;
    zoo.threads = args.number<int>("threads", 0);
    zoo.max_epochs = args.number<int>("max-epochs", 0);
    zoo.patience = args.number<int>("patience", 0);
    zoo.mask_validation = args.has("mask-validation");
    if (zoo.patience < 0) throw UsageError("--patience must be >= 1");
    zoo.progress = !args.has("quiet");
    zoo.eval.num_threads = zoo.threads;
    zoo.item_embeddings = examples::split_embeddings(args.text("data"));
    zoo.eval.ks = {10, 20, 50, 100};
    if (zoo.max_epochs < 0) throw UsageError("--max-epochs must be >= 0");

    std::map<std::string, Runs> all;
    bool strong = false;
    std::string description;
    for (int s = 1; s <= seeds; ++s) {
      const examples::PreparedData data =
          examples::prepare_data(args, static_cast<std::uint64_t>(s));
      strong = data.strong;
      description = data.description;
      zoo.seed = static_cast<std::uint64_t>(s);
      std::printf("seed %d: %s, protocol %s\n", s, data.description.c_str(),
                  strong ? "strong generalisation" : "diffrec");
      std::fflush(stdout);
      for (const auto& m : models) {
        const auto t0 = std::chrono::steady_clock::now();
        examples::Outcome o = examples::run_model(m, data, zoo);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const auto cols = columns(strong);
        std::printf("  %-18s", m.c_str());
        for (const auto& c : cols) std::printf(" %s %.4f", c.title.c_str(), o.test.at(c.metric));
        std::printf("  (%.1f s%s)\n", seconds,
                    o.epochs_run > 0 ? (", best epoch " + std::to_string(o.best_epoch) + " of " +
                                        std::to_string(o.epochs_run))
                                           .c_str()
                                     : "");
        std::fflush(stdout);
        all[m].outcomes.push_back(std::move(o));
        all[m].seconds.push_back(seconds);
      }
    }

    const std::string table = markdown(models, all, strong, seeds);
    std::printf("\n%s: %s\n\n%s", strong ? "strong generalisation" : "diffrec protocol",
                description.c_str(), table.c_str());
    if (const auto path = args.text("markdown"))
      write_file_atomically(*path, [&](std::ostream& out) {
        out << "Data: " << description << "\n\n" << table;
      });
    if (const auto path = args.text("json")) {
      JsonValue report = JsonValue::object();
      for (const auto& m : models) {
        const Runs& r = all.at(m);
        JsonValue entry = JsonValue::object();
        entry["valid"] = medians(r, false);
        entry["test"] = medians(r, true);
        entry["seconds"] = median(r.seconds);
        JsonValue runs = JsonValue::array();
        for (std::size_t i = 0; i < r.outcomes.size(); ++i) {
          JsonValue run = JsonValue::object();
          run["seed"] = static_cast<double>(i + 1);
          run["valid"] = examples::metrics_json(r.outcomes[i].valid);
          run["test"] = examples::metrics_json(r.outcomes[i].test);
          run["seconds"] = r.seconds[i];
          run["best_epoch"] = r.outcomes[i].best_epoch;
          run["epochs_run"] = r.outcomes[i].epochs_run;
          runs.push_back(run);
        }
        entry["runs"] = runs;
        report[m] = entry;
      }
      report.save(*path);
    }
    return 0;
  });
}
