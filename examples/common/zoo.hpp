#pragma once
// Every model of the library by name, with the settings its paper (or the released code) uses
// under each protocol, so that one program can run any of them on the same data, split and
// metrics (compare, and the per-family programs).

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/models/codigem.hpp>
#include <recdiff/models/diffrec.hpp>
#include <recdiff/models/ldiffrec.hpp>
#include <recdiff/models/mult_dae.hpp>
#include <recdiff/models/mult_vae.hpp>
#include <recdiff/models/recfusion.hpp>

#include "cli.hpp"
#include "item_clusters.hpp"
#include "runners.hpp"

namespace recdiff::examples {

/// The names `run_model` knows, in the order of a results table.
inline const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names{
      "popularity", "random",        "ease",          "multdae",         "multvae",
      "diffrec",    "t-diffrec",     "l-diffrec",     "lt-diffrec",      "codigem",
      "codigem-recfusion", "recfusion",
      "recfusion-t", "recfusion-var", "recfusion-bin", "recfusion-unet1d", "recfusion-unet2d"};
  return names;
}

/// Settings every model of a comparison shares.
struct ZooSettings {
  std::uint64_t seed = 1;
  int threads = 0;
  EvalOptions eval;
  /// Upper bound on any model's epochs (0: the model's own maximum).
  int max_epochs = 0;
  /// Print the Trainer's progress lines.
  bool progress = true;
  /// Overrides every neural model's patience (0: the protocol's rule as it is).
  int patience = 0;
  /// Strong generalisation: mask the validation users' fold-in items (RecPack does not).
  bool mask_validation = false;
  /// Overrides for the RecFusion family and CODIGEM (the defaults: recfusion_preset("recfusion")
  /// for RecFusion, "recfusion-default" for its ablations, codigem_preset for CODIGEM).
  std::function<void(RecFusionConfig&)> recfusion_overrides;
  std::function<void(CodigemConfig&)> codigem_overrides;
  /// L-DiffRec's item embeddings (a split's item_emb.npy; none: an SVD of the training matrix).
  std::optional<std::filesystem::path> item_embeddings;
};

namespace zoo_detail {

// The Trainer's settings of a neural model: its batch size and epoch limit, and the stopping rule
// of the protocol (DiffRec's valid recall@20, or RecPack's ndcg@50 + 0.01 with patience 5).
inline TrainFlags train_flags(const PreparedData& data, const ZooSettings& z, index_t batch,
                              int epochs, int patience_diffrec) {
  TrainFlags f;
  f.options.batch_size = batch;
  f.options.max_epochs = z.max_epochs > 0 ? std::min(epochs, z.max_epochs) : epochs;
  f.options.seed = z.seed;
  f.options.eval = z.eval;
  if (data.strong) {
    f.options.stopping = StoppingRule::recpack();
    f.options.progress_metrics = {"ndcg@50", "calibrated_recall@20"};
  } else {
    f.options.stopping = StoppingRule::diffrec();
    f.options.stopping.eval_every = 1;
    f.options.stopping.patience = patience_diffrec;
  }
  if (z.patience > 0) f.options.stopping.patience = z.patience;
  f.protocol.mask_validation_fold_in = z.mask_validation;
  return f;
}

// Runs the Trainer; a run shorter than the evaluation period is still evaluated at its end.
template <class Model>
Outcome train(Model& model, const PreparedData& data, TrainFlags flags, bool progress) {
  auto& every = flags.options.stopping.eval_every;
  every = std::min(every, flags.options.max_epochs);
  return run_trained(model, data, flags, progress ? Progress::stderr_sink() : Progress::silent());
}

inline RecFusionConfig recfusion_config(const std::string& name, const ZooSettings& z) {
  RecFusionConfig c = recfusion_preset(name == "recfusion" ? "recfusion" : "recfusion-default");
  c.seed = z.seed;
  if (z.recfusion_overrides) z.recfusion_overrides(c);
  c.validate();
  return c;
}

inline CodigemConfig codigem_config(const std::string& name, const ZooSettings& z) {
  CodigemConfig c = codigem_preset(name);
  c.seed = z.seed;
  if (z.codigem_overrides) z.codigem_overrides(c);
  c.validate();
  return c;
}

}  // namespace zoo_detail

/// Fits or trains the model `name` (one of model_names()) on `data` and returns its metrics.
/// Closed-form models are fitted on fit_matrix(data); EASE's lambda is chosen on validation.
/// Neural models are selected on validation as their papers do: DiffRec's protocol uses valid
/// recall@20 (patience 20 epochs, 10 for CODIGEM); strong generalisation uses RecPack's rule
/// (ndcg@50, + 0.01, patience 5), except official CODIGEM, which keeps its own (calibrated
/// recall@50, patience 10).
/// @throws UsageError for an unknown name
inline Outcome run_model(const std::string& name, const PreparedData& data, const ZooSettings& z) {
  using B = CpuBackend;
  const index_t items = fit_matrix(data).num_items();
  if (name == "popularity") return run_popularity(data, z.eval);
  if (name == "random") return run_random(data, z.eval, 200, z.seed);
  if (name == "ease") return run_ease(data, z.eval, std::nullopt);
  if (name == "multdae") {
    MultDAEConfig c;
    c.seed = z.seed;
    c.threads = z.threads;
    c.weight_decay = 0.01 / 500.0;
    MultDAE<B> m(c, items);
    return zoo_detail::train(m, data, zoo_detail::train_flags(data, z, 500, 200, 20), z.progress);
  }
  if (name == "multvae") {
    MultVAEConfig c;
    c.seed = z.seed;
    c.threads = z.threads;
    if (data.strong) c.lr = 1e-4;  // RecPack's setting for RecFusion's runs (spec 5.4)
    MultVAE<B> m(c, items);
    return zoo_detail::train(m, data, zoo_detail::train_flags(data, z, 500, 200, 20), z.progress);
  }
  if (name == "diffrec" || name == "t-diffrec") {
    DiffRecConfig c = diffrec_preset("ml-1m_clean");
    c.seed = z.seed;
    TrainFlags f = zoo_detail::train_flags(data, z, c.batch_size, c.epochs, 20);
    if (!data.strong) f.options.stopping.eval_every = 5;  // the released loop
    if (name == "diffrec") {
      auto m = make_diffrec<B>(c, items, BinaryInput{}, z.threads);
      return zoo_detail::train(m, data, f, z.progress);
    }
    auto m = make_diffrec<B, PredictX0, TimeLinearInput>(c, items, TimeLinearInput(0.1, 1.0),
                                                         z.threads);
    return zoo_detail::train(m, data, f, z.progress);
  }
  if (name == "l-diffrec" || name == "lt-diffrec") {
    LDiffRecConfig c = ldiffrec_preset("ml-1m_clean");
    c.seed = z.seed;
    TrainFlags f = zoo_detail::train_flags(data, z, c.batch_size, c.epochs, 20);
    if (!data.strong) f.options.stopping.eval_every = 5;  // the released loop
    ClusterSettings cs;
    cs.clusters = c.clusters;
    cs.embeddings = z.item_embeddings;
    cs.seed = z.seed;  // the released code seeds numpy, hence the k-means start, with the run's seed
    cs.threads = z.threads;
    const ItemClusters clusters = cluster_items(fit_matrix(data), cs);
    if (name == "l-diffrec") {
      LDiffRec<B> m(c, clusters, BinaryInput{}, z.threads);
      return zoo_detail::train(m, data, f, z.progress);
    }
    c.w_min = 0.1;
    c.w_max = 1.0;
    LTDiffRec<B> m(c, clusters, TimeLinearInput(0.1, 1.0), z.threads);
    return zoo_detail::train(m, data, f, z.progress);
  }
  if (name == "codigem" || name == "codigem-recfusion") {
    const CodigemConfig c = zoo_detail::codigem_config(name, z);
    TrainFlags f = zoo_detail::train_flags(data, z, c.batch_size, c.epochs, 10);
    if (name == "codigem") {
      if (data.strong) {
        f.options.stopping = StoppingRule::codigem();
        if (z.patience > 0) f.options.stopping.patience = z.patience;
      }
      auto m = make_codigem<B>(c, items, z.threads);
      return zoo_detail::train(m, data, f, z.progress);
    }
    auto m = make_codigem_recfusion_port<B>(c, items, z.threads);
    return zoo_detail::train(m, data, f, z.progress);
  }
  if (name.rfind("recfusion", 0) == 0) {
    const RecFusionConfig c = zoo_detail::recfusion_config(name, z);
    const TrainFlags f = zoo_detail::train_flags(data, z, c.batch_size, c.epochs, 20);
    if (name == "recfusion") {
      auto m = make_recfusion<B>(c, items, z.threads);
      return zoo_detail::train(m, data, f, z.progress);
    }
    if (name == "recfusion-t") {
      auto m = make_recfusion_t<B>(c, items, z.threads);
      return zoo_detail::train(m, data, f, z.progress);
    }
    if (name == "recfusion-var") {
      auto m = make_recfusion_var<B>(c, items, z.threads);
      return zoo_detail::train(m, data, f, z.progress);
    }
    if (name == "recfusion-unet1d") {
      auto m = make_recfusion_unet1d<B>(c, items, z.threads);
      return zoo_detail::train(m, data, f, z.progress);
    }
    if (name == "recfusion-unet2d") {
      auto m = make_recfusion_unet2d<B>(c, items, z.threads);
      return zoo_detail::train(m, data, f, z.progress);
    }
    if (name == "recfusion-bin")
      return visit_recfusion_bin<B>(c, items, z.threads, [&](auto& m) {
        return zoo_detail::train(m, data, f, z.progress);
      });
  }
  std::string known;
  for (const auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  throw UsageError("unknown model '" + name + "' (known: " + known + ")");
}

/// A single-model program's configuration, checked (a bad value is a UsageError) and printed.
template <class Config>
void accept_config(const std::string& model, const Config& c) {
  try {
    c.validate();
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  std::printf("%s:\n%s", model.c_str(), c.to_string().c_str());
}

/// The body of a single-model program: loads the data the options name, runs `model` under the
/// settings and reports it (--json when given). Returns the exit code 0.
inline int run_one(const ArgParser& args, const std::string& model, const ZooSettings& zoo) {
  const PreparedData data = prepare_data(args);
  std::printf("data: %s, protocol: %s\n", data.description.c_str(),
              data.strong ? "strong generalisation" : "diffrec");
  const Outcome out = run_model(model, data, zoo);
  report_trained(model, data, out, args.text("json"));
  return 0;
}

}  // namespace recdiff::examples
