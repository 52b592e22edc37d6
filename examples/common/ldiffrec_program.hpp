#pragma once
// The L-DiffRec / LT-DiffRec program (examples/ldiffrec, and examples/tdiffrec --latent): a preset
// and a flag per hyper-parameter, the item clusters, training under DiffRec's protocol, a report.

#include <cstdio>
#include <optional>
#include <sstream>
#include <string>

#include <recdiff/models/ldiffrec.hpp>
#include <recdiff/recdiff.hpp>

#include "cli.hpp"
#include "dataset.hpp"
#include "item_clusters.hpp"
#include "report.hpp"
#include "runners.hpp"

namespace recdiff::examples {

/// Declares the options only the L-DiffRec program has (not DiffRec's).
inline void declare_ldiffrec_only_options(ArgParser& args) {
  args.option("lr1", "X", "AdamW learning rate of the autoencoder");
  args.option("lr2", "X", "AdamW learning rate of the denoiser MLP");
  args.option("wd1", "X", "AdamW weight decay of the autoencoder");
  args.option("wd2", "X", "AdamW weight decay of the MLP");
  args.option("clusters", "C", "item clusters, one encoder each (1: no clustering)");
  args.option("latent-dim", "D", "size of the concatenated latent space");
  args.option("mlp-dims", "A,B", "hidden sizes of the denoiser MLP");
  args.option("vae-dropout", "X", "dropout on the autoencoder's input");
  args.option("mlp-dropout", "X", "dropout on the MLP's input");
  args.option("reparam", "0|1", "sample the latent in training (1) or use the mean (0)");
  args.option("lambda", "X", "initial weight of the diffusion loss");
  args.option("lambda-floor", "X", "its floor (anneal cap)");
  args.option("lambda-anneal", "N", "epochs over which lambda falls to the floor");
  args.option("kl-cap", "X", "largest KL weight");
  args.option("kl-anneal", "N", "batches over which the KL weight rises to its cap");
  args.option("embeddings", "FILE|svd", "item embeddings (.npy, items x d) for the clustering, or "
                                        "svd for an SVD of the training matrix (default: the "
                                        "split's item_emb.npy, else the SVD)");
  args.option("svd-dim", "N", "rank of the SVD embeddings when there is no file (default 64)");
  args.option("kmeans-init", "numpy|plusplus", "k-means start: the released code's draw (default) "
                                               "or k-means++");
  args.option("kmeans-seed", "N", "seed of the k-means start (default: --seed; the released code "
                                  "seeds numpy with the run's seed before clustering)");
}

/// Declares every option of the L-DiffRec program.
inline void declare_ldiffrec_options(ArgParser& args) {
  args.option("preset", "NAME", "hyper-parameters of a released run, e.g. ml-1m_clean");
  args.option("batch-size", "N", "users per batch");
  args.option("epochs", "N", "maximum number of epochs");
  args.option("emb-size", "N", "step-embedding size");
  args.option("steps", "N", "diffusion steps T");
  args.option("noise-scale", "X", "noise scale s");
  args.option("noise-min", "X", "noise lower bound");
  args.option("noise-max", "X", "noise upper bound");
  args.option("reweight", "0|1", "SNR reweighting of the diffusion loss");
  args.option("w-min", "X", "LT-DiffRec: weight of a user's earliest interaction");
  args.option("w-max", "X", "LT-DiffRec: weight of a user's latest interaction");
  args.option("eval-every", "N", "evaluate every N epochs (default 5)");
  args.option("patience", "N", "stop N epochs after the best one (default 20)");
  args.option("threads", "N", "threads (default: all cores)");
  args.option("save", "FILE", "save the best model");
  args.option("json", "FILE", "write the results as JSON");
  declare_ldiffrec_only_options(args);
}

/// The configuration: the preset (or a small synthetic default), then every flag.
inline LDiffRecConfig configure_ldiffrec(const ArgParser& args, bool synthetic) {
  LDiffRecConfig c;
  if (const auto preset = args.text("preset")) {
    try {
      c = ldiffrec_preset(*preset);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--preset: ") + e.what());
    }
  } else if (synthetic) {
    c.latent = 64;
    c.mlp_dims = {64};
    c.steps = 10;
    c.epochs = 20;
    c.batch_size = 200;
  }
  c.lr1 = args.number("lr1", c.lr1);
  c.lr2 = args.number("lr2", c.lr2);
  c.weight_decay1 = args.number("wd1", c.weight_decay1);
  c.weight_decay2 = args.number("wd2", c.weight_decay2);
  c.batch_size = args.number("batch-size", c.batch_size);
  c.epochs = args.number("epochs", c.epochs);
  c.clusters = args.number("clusters", c.clusters);
  c.latent = args.number("latent-dim", c.latent);
  if (const auto d = args.text("mlp-dims")) c.mlp_dims = ArgParser::parse_list<int>("mlp-dims", *d);
  c.emb_size = args.number("emb-size", c.emb_size);
  c.vae_dropout = args.number("vae-dropout", c.vae_dropout);
  c.mlp_dropout = args.number("mlp-dropout", c.mlp_dropout);
  if (args.has("reparam")) c.reparameterize = args.number<int>("reparam", 1) != 0;
  c.lambda = args.number("lambda", c.lambda);
  c.lambda_floor = args.number("lambda-floor", c.lambda_floor);
  c.lambda_anneal_epochs = args.number("lambda-anneal", c.lambda_anneal_epochs);
  c.kl_cap = args.number("kl-cap", c.kl_cap);
  c.kl_anneal_batches = args.number("kl-anneal", c.kl_anneal_batches);
  c.steps = args.number("steps", c.steps);
  c.noise_scale = args.number("noise-scale", c.noise_scale);
  c.noise_min = args.number("noise-min", c.noise_min);
  c.noise_max = args.number("noise-max", c.noise_max);
  if (args.has("reweight")) c.reweight = args.number<int>("reweight", 1) != 0;
  c.seed = args.number<std::uint64_t>("seed", c.seed);
  c.w_min = args.number("w-min", c.w_min);
  c.w_max = args.number("w-max", c.w_max);
  try {
    c.validate();
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  return c;
}

/// The clustering the options ask for.
inline ClusterSettings cluster_settings(const ArgParser& args, const LDiffRecConfig& config) {
  ClusterSettings s;
  s.clusters = config.clusters;
  const auto file = args.text("embeddings");
  if (!file)
    s.embeddings = split_embeddings(args.text("data"));
  else if (*file != "svd")
    s.embeddings = std::filesystem::path(*file);
  s.svd_dim = args.number("svd-dim", s.svd_dim);
  const std::string init = args.text("kmeans-init").value_or("numpy");
  if (init == "plusplus") s.init = KMeansInit::plusplus;
  else if (init != "numpy") throw UsageError("--kmeans-init: expected numpy or plusplus, got '" + init + "'");
  s.seed = args.number<std::uint64_t>("kmeans-seed", config.seed);
  s.threads = args.number<int>("threads", 0);
  return s;
}

namespace ldiffrec_detail {
template <class Model>
int train_and_report(const ArgParser& args, Model& model, const LDiffRecConfig& config,
                     const PreparedData& data, const std::string& name) {
  const int threads = args.number<int>("threads", 0);
  std::printf("%s: %zu parameters (latent blocks", name.c_str(), model.num_parameters());
  for (const int l : model.latent_sizes()) std::printf(" %d", l);
  std::printf("), %d users x %d items, %lld train interactions\n", data.split.train.num_users(),
              data.split.train.num_items(), static_cast<long long>(data.split.train.nnz()));
  std::fflush(stdout);
  TrainFlags flags;
  flags.options.max_epochs = config.epochs;
  flags.options.batch_size = config.batch_size;
  flags.options.seed = config.seed;
  flags.options.stopping = StoppingRule::diffrec();
  flags.options.stopping.eval_every = args.number("eval-every", flags.options.stopping.eval_every);
  flags.options.stopping.patience = args.number("patience", flags.options.stopping.patience);
  flags.options.eval.num_threads = threads;
  if (flags.options.stopping.eval_every < 1 || flags.options.stopping.patience < 1)
    throw UsageError("--eval-every and --patience must be >= 1");
  if (const auto save = args.text("save")) flags.save = *save;
  const Outcome out = run_trained(model, data, flags);
  report_trained(name, data, out, std::nullopt);
  if (const auto path = args.text("json")) {
    JsonValue report = JsonValue::object();
    report["model"] = name;
    report["data"] = data.description;
    report["parameters"] = static_cast<double>(model.num_parameters());
    report["best_epoch"] = out.best_epoch;
    report["epochs_run"] = out.epochs_run;
    report["train_seconds_per_epoch"] = out.seconds_per_epoch;
    report["eval_seconds_per_pass"] = out.seconds_per_eval;
    report["valid"] = metrics_json(out.valid);
    report["test"] = metrics_json(out.test);
    JsonValue sizes = JsonValue::array();
    for (const index_t n : model.clusters().sizes) sizes.push_back(static_cast<double>(n));
    report["cluster_sizes"] = sizes;
    report["config"] = config_json(config.to_string());
    report.save(*path);
  }
  return 0;
}
}  // namespace ldiffrec_detail

/// Runs L-DiffRec (or LT-DiffRec when the configuration sets time weights) as the options say.
inline int run_ldiffrec_program(const ArgParser& args, LDiffRecConfig config) {
  if (args.has("protocol") && *args.text("protocol") != "diffrec")
    throw UsageError("L-DiffRec runs DiffRec's protocol only (--protocol diffrec)");
  const PreparedData data = prepare_data(args);
  std::printf("data: %s\n", data.description.c_str());
  const ItemClusters clusters = cluster_items(data.split.train, cluster_settings(args, config));
  const int threads = args.number<int>("threads", 0);
  if (config.time_weighted()) {
    LTDiffRec<CpuBackend> model(config, clusters, TimeLinearInput(config.w_min, config.w_max),
                                threads);
    return ldiffrec_detail::train_and_report(args, model, config, data, "LT-DiffRec");
  }
  LDiffRec<CpuBackend> model(config, clusters, BinaryInput{}, threads);
  return ldiffrec_detail::train_and_report(args, model, config, data, "L-DiffRec");
}

}  // namespace recdiff::examples
