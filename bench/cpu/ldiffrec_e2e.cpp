// Resources of L-DiffRec against DiffRec (Wang et al., SIGIR 2023, Table 6: "about half the
// parameters, less memory"): parameter count, peak RSS, seconds per training epoch and per
// evaluation round, one model per process (peak RSS is a process's), reported as JSON.
//
//   ldiffrec_e2e --model ldiffrec|diffrec [--json FILE] [--epochs N] [--evals N] [--threads N]
//   ldiffrec_e2e --model ldiffrec --synthetic [--users 100000] [--items 200000] [--per-user 40]
//                [--batches N] [--eval-users N]
//
// ml-1m_clean (default; presets ml-1m_clean; $RECDIFF_DATA_DIR/ml-1m_clean, else the folder
// configured by CMake): whole epochs and whole evaluation rounds (validation + test, DiffRec's
// protocol). --synthetic: a Zipf-popular random matrix of the given size, made here; an epoch is
// timed on --batches batches and scaled to the whole epoch, a round on --eval-users users (scores
// and top-100) scaled to all users, because whole epochs of the 200K-item DiffRec would take
// hours on 2 cores. The JSON says which figures are scaled. When ml-1m_clean is absent the program
// says "skipped: data not found", writes {"skipped": true} and exits 0.
//
// scripts/ldiffrec-bench.sh runs every combination and the PyTorch port (bench/pytorch).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/cluster/cluster.hpp>
#include <recdiff/data/diffrec_split.hpp>
#include <recdiff/eval/diffrec_protocol.hpp>
#include <recdiff/eval/top_k.hpp>
#include <recdiff/io/json_writer.hpp>
#include <recdiff/math/philox.hpp>
#include <recdiff/models/diffrec.hpp>
#include <recdiff/models/ldiffrec.hpp>
#include <recdiff/train/epoch_order.hpp>

#include "bench_data.hpp"
#include "e2e_common.hpp"

namespace {

using recdiff::index_t;
using recdiff::bench::Clock;
using recdiff::bench::median;
using recdiff::bench::peak_rss_mb;
using recdiff::bench::seconds_since;

struct Options {
  std::string model = "ldiffrec";
  std::string json;
  bool synthetic = false;
  int users = 100000, items = 200000, per_user = 40;
  int epochs = 3, evals = 2, batches = 10, eval_users = 2000, threads = 0;
};

Options parse(int argc, char** argv) {
  recdiff::examples::ArgParser args(
      "ldiffrec_e2e", "L-DiffRec or DiffRec end to end: parameters, peak RSS, seconds per epoch "
                      "and per evaluation round.");
  args.option("model", "ldiffrec|diffrec", "the model (default ldiffrec)");
  args.option("json", "FILE", "write the report as JSON");
  args.flag("synthetic", "a synthetic matrix of --users x --items instead of ml-1m_clean");
  args.option("users", "N", "synthetic users (default 100000)");
  args.option("items", "N", "synthetic items (default 200000)");
  args.option("per-user", "N", "synthetic interactions per user (default 40)");
  args.option("epochs", "N", "ml-1m_clean: epochs to time (default 3)");
  args.option("evals", "N", "ml-1m_clean: evaluation rounds to time (default 2)");
  args.option("batches", "N", "synthetic: batches per timed epoch (default 10)");
  args.option("eval-users", "N", "synthetic: users per timed round (default 2000)");
  args.option("threads", "N", "threads (default: all cores)");
  if (!args.parse(argc, argv)) std::exit(0);
  Options o;
  o.model = args.text("model").value_or(o.model);
  if (o.model != "ldiffrec" && o.model != "diffrec")
    throw recdiff::examples::UsageError("--model: expected ldiffrec or diffrec, got '" + o.model + "'");
  o.json = args.text("json").value_or("");
  o.synthetic = args.has("synthetic");
  using recdiff::bench::int_option;
  o.users = int_option(args, "users", o.users, 1);
  o.items = int_option(args, "items", o.items, 2);
  o.per_user = int_option(args, "per-user", o.per_user, 1);
  o.epochs = int_option(args, "epochs", o.epochs, 1);
  o.evals = int_option(args, "evals", o.evals, 1);
  o.batches = int_option(args, "batches", o.batches, 1);
  o.eval_users = int_option(args, "eval-users", o.eval_users, 1);
  o.threads = int_option(args, "threads", o.threads, 0);
  return o;
}

// per_user distinct items per user, item i drawn with weight (i + 1)^-0.8 (inverse CDF by binary
// search), Philox-keyed by (user, draw): O(nnz log I) time, O(nnz + I) memory.
recdiff::InteractionMatrix synthetic_matrix(const Options& o) {
  std::vector<double> cdf(static_cast<std::size_t>(o.items));
  double total = 0;
  for (int i = 0; i < o.items; ++i) cdf[static_cast<std::size_t>(i)] = total += std::pow(i + 1.0, -0.8);
  recdiff::InteractionBuilder b;
  b.reserve(static_cast<std::size_t>(o.users) * static_cast<std::size_t>(o.per_user));
  std::vector<index_t> row;
  for (int u = 0; u < o.users; ++u) {
    row.clear();
    for (std::uint32_t draw = 0; static_cast<int>(row.size()) < o.per_user; ++draw) {
      const double r = static_cast<double>(recdiff::philox::uniform(
                           1, recdiff::philox::Stream::init, 0x53594e54u,
                           static_cast<std::uint32_t>(u), draw)) * total;
      const auto i = static_cast<index_t>(std::lower_bound(cdf.begin(), cdf.end(), r) - cdf.begin());
      const index_t item = std::min<index_t>(i, o.items - 1);
      if (std::find(row.begin(), row.end(), item) == row.end()) row.push_back(item);
    }
    for (const index_t i : row) b.add(u, i);
  }
  return b.build(o.users, o.items);
}

// Times training and evaluation of `model` and writes the figures into `r`.
template <class Model>
void measure(Model& model, const recdiff::TrainValidTest& split, const Options& o,
             std::size_t parameters, int batch, recdiff::JsonValue& r) {
  const index_t users = split.train.num_users();
  const index_t batches = (users + batch - 1) / batch;
  const index_t timed_batches = o.synthetic ? std::min<index_t>(batches, o.batches) : batches;
  std::vector<index_t> order(static_cast<std::size_t>(users));
  std::vector<double> epoch_seconds;
  std::uint32_t step = 0;
  const int epochs = o.synthetic ? 1 : o.epochs;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    recdiff::epoch_order(order, 1, static_cast<std::uint32_t>(epoch));
    const auto t0 = Clock::now();
    for (index_t b = 0; b < timed_batches; ++b) {
      const index_t begin = b * batch, end = std::min(users, begin + batch);
      model.train_batch(split.train,
                        std::span<const index_t>(order.data() + begin,
                                                 static_cast<std::size_t>(end - begin)),
                        step++);
    }
    if constexpr (requires { model.end_epoch(); }) model.end_epoch();
    const double s = seconds_since(t0) * static_cast<double>(batches) / static_cast<double>(timed_batches);
    epoch_seconds.push_back(s);
    std::printf("epoch %d: %.3f s%s\n", epoch, s, o.synthetic ? " (scaled from the timed batches)" : "");
    std::fflush(stdout);
  }
  std::vector<double> eval_seconds;
  recdiff::EvalOptions eval;
  eval.num_threads = o.threads;
  if (!o.synthetic) {
    for (int e = 0; e < o.evals; ++e) {
      const auto t0 = Clock::now();
      const auto result = recdiff::evaluate_diffrec_protocol(model, split, eval);
      eval_seconds.push_back(seconds_since(t0));
      std::printf("evaluation round %d (valid + test): %.3f s, test recall@20 %.4f\n", e + 1,
                  eval_seconds.back(), result.test.at("recall@20"));
    }
  } else {
    // Scores and the top 100 of --eval-users users, in the evaluator's batches of 1024.
    const index_t n = std::min<index_t>(users, o.eval_users);
    recdiff::ScoreMatrix scores;
    const auto t0 = Clock::now();
    for (index_t begin = 0; begin < n; begin += 1024) {
      std::vector<index_t> ids(static_cast<std::size_t>(std::min<index_t>(n, begin + 1024) - begin));
      for (std::size_t k = 0; k < ids.size(); ++k) ids[k] = begin + static_cast<index_t>(k);
      model.score(split.train, ids, scores);
      for (index_t row = 0; row < scores.rows(); ++row) {
        const auto best = recdiff::top_k(
            std::span<const float>(scores.data() + row * scores.cols(),
                                   static_cast<std::size_t>(scores.cols())),
            100);
        if (best.size() != 100) throw std::logic_error("ldiffrec_e2e: top-100 came back short");
      }
    }
    eval_seconds.push_back(seconds_since(t0) * static_cast<double>(users) / static_cast<double>(n));
    std::printf("evaluation round: %.3f s (scaled from %d users)\n", eval_seconds.back(), n);
  }
  r["parameters"] = static_cast<double>(parameters);
  r["peak_rss_mb"] = peak_rss_mb();
  r["seconds_per_epoch"] = median(epoch_seconds);
  r["seconds_per_eval_round"] = median(eval_seconds);
  r["epoch_seconds"] = recdiff::bench::array_of(epoch_seconds);
  r["eval_round_seconds"] = recdiff::bench::array_of(eval_seconds);
  r["scaled"] = o.synthetic;
  std::printf("%s: %zu parameters, peak RSS %.0f MB, %.3f s per epoch, %.3f s per round\n",
              o.model.c_str(), parameters, peak_rss_mb(), median(epoch_seconds),
              median(eval_seconds));
}

}  // namespace

int main(int argc, char** argv) {
  return recdiff::examples::guarded_main("ldiffrec_e2e", [&]() -> int {
    const Options o = parse(argc, argv);
    recdiff::JsonValue report = recdiff::JsonValue::object();
    report["model"] = o.model;
    recdiff::TrainValidTest split;
    if (o.synthetic) {
      const auto t0 = Clock::now();
      split.train = synthetic_matrix(o);
      split.valid = recdiff::InteractionBuilder().build(o.users, o.items);
      split.test = split.valid;
      std::printf("synthetic: %d users x %d items, %lld interactions (%.1f s)\n", o.users, o.items,
                  static_cast<long long>(split.train.nnz()), seconds_since(t0));
      report["data"] = "synthetic " + std::to_string(o.users) + " users x " +
                       std::to_string(o.items) + " items, " + std::to_string(split.train.nnz()) +
                       " interactions";
    } else {
      const auto dir = recdiff::bench::data_path("ml-1m_clean");
      if (!std::filesystem::exists(dir / "train_list.npy")) {
        std::printf("skipped: data not found (%s)\n", dir.string().c_str());
        if (!o.json.empty()) {
          report["skipped"] = true;
          report.save(o.json);
        }
        return 0;
      }
      split = recdiff::load_diffrec_split(dir);
      report["data"] = "ml-1m_clean";
    }
    report["users"] = static_cast<double>(split.train.num_users());
    report["items"] = static_cast<double>(split.train.num_items());
    report["interactions"] = static_cast<double>(split.train.nnz());
    report["threads"] = o.threads;
    // The dense users x items float matrix that the models never form, for scale.
    report["dense_matrix_mb"] = static_cast<double>(split.train.num_users()) *
                                static_cast<double>(split.train.num_items()) * 4.0 / (1 << 20);
    if (o.model == "diffrec") {
      const auto c = recdiff::diffrec_preset("ml-1m_clean");
      auto model = recdiff::make_diffrec<recdiff::CpuBackend>(c, split.train.num_items(),
                                                              recdiff::BinaryInput{}, o.threads);
      measure(model, split, o, model.diffusion().denoiser().num_parameters(), c.batch_size, report);
    } else {
      const auto c = recdiff::ldiffrec_preset("ml-1m_clean");
      const auto t0 = Clock::now();
      recdiff::KMeansOptions km;
      km.threads = o.threads;
      recdiff::ItemEmbeddings emb;
      if (o.synthetic) {
        emb = recdiff::svd_item_embeddings(split.train, 64, 1, 2, 10, o.threads);
        recdiff::normalize_rows(emb);
      } else {
        emb = recdiff::load_item_embeddings(recdiff::bench::data_path("ml-1m_clean") / "item_emb.npy",
                                            split.train.num_items());
      }
      const recdiff::ItemClusters clusters(recdiff::kmeans(emb, c.clusters, km).labels, c.clusters);
      const double cluster_seconds = seconds_since(t0);
      std::printf("clusters:");
      for (const index_t n : clusters.sizes) std::printf(" %lld", static_cast<long long>(n));
      std::printf(" (%.1f s%s)\n", cluster_seconds, o.synthetic ? ", SVD embeddings" : "");
      recdiff::LDiffRec<recdiff::CpuBackend> model(c, clusters, {}, o.threads);
      report["clustering_seconds"] = cluster_seconds;
      measure(model, split, o, model.num_parameters(), c.batch_size, report);
    }
    if (!o.json.empty()) report.save(o.json);
    return 0;
  });
}
