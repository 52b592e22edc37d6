#pragma once
// The DiffRec / T-DiffRec program (examples/diffrec, examples/tdiffrec): a preset and a flag per
// hyper-parameter, training under DiffRec's protocol on the CPU or (compiled by nvcc) on CUDA,
// checkpoints, a report. tdiffrec --latent hands over to the LT-DiffRec program.

#include <chrono>
#include <cstdio>
#include <exception>
#include <sstream>
#include <string>
#include <type_traits>

#include <recdiff/models/diffrec.hpp>
#include <recdiff/recdiff.hpp>
#if defined(RECDIFF_EXAMPLE_CUDA)
#include <cuda_runtime.h>

#include <recdiff/backend/cuda.hpp>
#endif

#include "cli.hpp"
#include "dataset.hpp"
#include "ldiffrec_program.hpp"
#include "report.hpp"

namespace recdiff::examples {

/// Which paper model the program runs by default.
enum class DiffRecVariant {
  diffrec,  ///< binary input unless --w-min / --w-max are given
  tdiffrec  ///< time weights (default w_min 0.1, w_max 1); --latent runs LT-DiffRec
};

namespace diffrec_detail {


// The configuration: the preset (or the synthetic default), then every flag that overrides it.
inline DiffRecConfig configure(const ArgParser& args, bool synthetic, DiffRecVariant variant) {
  DiffRecConfig c;
  if (const auto preset = args.text("preset")) {
    try {
      c = diffrec_preset(*preset);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--preset: ") + e.what());
    }
  } else if (synthetic) {
    // Small enough to train in well under a minute on 2 cores.
    c.dims = {200};
    c.steps = 10;
    c.epochs = 20;
    c.batch_size = 200;
  }
  c.lr = args.number("lr", c.lr);
  c.weight_decay = args.number("weight-decay", c.weight_decay);
  c.batch_size = args.number("batch-size", c.batch_size);
  c.epochs = args.number("epochs", c.epochs);
  if (const auto d = args.text("dims")) c.dims = ArgParser::parse_list<int>("dims", *d);
  c.emb_size = args.number("emb-size", c.emb_size);
  if (const auto m = args.text("mean-type")) c.mean_type = *m;
  c.steps = args.number("steps", c.steps);
  c.noise_scale = args.number("noise-scale", c.noise_scale);
  c.noise_min = args.number("noise-min", c.noise_min);
  c.noise_max = args.number("noise-max", c.noise_max);
  c.sampling_steps = args.number("sampling-steps", c.sampling_steps);
  if (args.has("reweight")) c.reweight = args.number<int>("reweight", 1) != 0;
  c.seed = args.number<std::uint64_t>("seed", c.seed);
  if (variant == DiffRecVariant::tdiffrec && c.w_max == 0) {
    c.w_min = 0.1;  // the paper's smallest w_min with w_max = 1 (no released ML-1M preset)
    c.w_max = 1.0;
  }
  c.w_min = args.number("w-min", c.w_min);
  c.w_max = args.number("w-max", c.w_max);
  if (const auto sampler = args.text("sampler")) c.sampler = *sampler;
  if (args.has("plain-chain")) c.latent_chain = false;
  try {
    c.validate();
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  return c;
}

template <class BackendType, class ObjectiveType, class InputType,
          class SamplerType = ImportanceSampler>
inline int run(const ArgParser& args, const DiffRecConfig& config, const TrainValidTest& data,
        InputType input) {
  const int threads = args.number<int>("threads", 0);
  const std::string model_name =
      std::string(config.w_max > 0 ? "T-DiffRec" : "DiffRec") + "/" + config.mean_type;
  // The last argument of make_diffrec builds the backend's Context: a thread count on the CPU, a
  // device ordinal on CUDA.
  int context_arg = threads;
  if constexpr (!std::is_same_v<BackendType, CpuBackend>) context_arg = args.number<int>("device", 0);
  auto model = make_diffrec<BackendType, ObjectiveType, InputType, SamplerType>(
      config, data.train.num_items(), input, context_arg);
  std::printf("%s on %s: %zu parameters, %d users x %d items, %lld train interactions\n",
              model_name.c_str(), BackendType::name, model.diffusion().denoiser().num_parameters(),
              data.train.num_users(), data.train.num_items(),
              static_cast<long long>(data.train.nnz()));
  std::fflush(stdout);  // before the trainer's progress lines on stderr
  TrainerOptions options;
  options.max_epochs = config.epochs;
  options.batch_size = config.batch_size;
  options.seed = config.seed;
  options.stopping = StoppingRule::diffrec();
  options.stopping.eval_every = args.number("eval-every", options.stopping.eval_every);
  options.stopping.patience = args.number("patience", options.stopping.patience);
  options.eval.num_threads = threads;
  if (options.stopping.eval_every < 1 || options.stopping.patience < 1)
    throw UsageError("--eval-every and --patience must be >= 1");

  JsonValue report;
  ProtocolResult final_metrics;
  if (const auto path = args.text("load")) {
    model.load(*path, model_name);
    const auto t0 = std::chrono::steady_clock::now();
    final_metrics = evaluate_diffrec_protocol(model, data, options.eval);
    report["eval_seconds_per_pass"] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("loaded %s\n", path->c_str());
  } else {
    Trainer<decltype(model)> trainer(options);
    const TrainResult result = trainer.fit(model, data);
    final_metrics = result.best;
    report["best_epoch"] = result.best_epoch;
    report["epochs_run"] = result.epochs_run;
    report["train_seconds_per_epoch"] = result.train_seconds_per_epoch;
    report["eval_seconds_per_pass"] = result.eval_seconds_per_pass;
    std::printf("best epoch %d\n", result.best_epoch);
    if (const auto save = args.text("save")) {
      model.save(*save, model_name, config.to_string());
      std::printf("saved %s\n", save->c_str());
    }
  }
  std::printf("validation:\n%stest:\n%s", final_metrics.valid.table().c_str(),
              final_metrics.test.table().c_str());
  if (const auto path = args.text("json")) {
    report["model"] = model_name;
    report["backend"] = BackendType::name;
    report["valid"] = metrics_json(final_metrics.valid);
    report["test"] = metrics_json(final_metrics.test);
    report["config"] = config_json(config.to_string());
    report.save(*path);
  }
  return 0;
}

// The backend named by --backend, then the objective and input weighting of the configuration.
template <class BackendType>
inline int run_on(const ArgParser& args, const DiffRecConfig& config, const TrainValidTest& data) {
  const bool timed = config.w_max > 0;
  if (config.mean_type == "eps") {
    if (config.sampler != "importance")
      throw UsageError("--sampler uniform is offered with --mean-type x0 (the paper's Fig. 5)");
    return timed ? run<BackendType, PredictEpsilon>(args, config, data,
                                                    TimeLinearInput(config.w_min, config.w_max))
                 : run<BackendType, PredictEpsilon>(args, config, data, BinaryInput{});
  }
  if (config.sampler == "uniform")
    return timed ? run<BackendType, PredictX0, TimeLinearInput, UniformSampler>(
                       args, config, data, TimeLinearInput(config.w_min, config.w_max))
                 : run<BackendType, PredictX0, BinaryInput, UniformSampler>(args, config, data,
                                                                            BinaryInput{});
  return timed ? run<BackendType, PredictX0>(args, config, data,
                                             TimeLinearInput(config.w_min, config.w_max))
               : run<BackendType, PredictX0>(args, config, data, BinaryInput{});
}

}  // namespace diffrec_detail

/// The whole program: options, data, model, training or evaluation of a saved model, report.
inline int diffrec_program(int argc, char** argv, const char* program, const char* description,
                           DiffRecVariant variant) {
  return guarded_main(program, [&]() -> int {
    ArgParser args(program, description);
    declare_data_options(args);
    args.option("preset", "NAME", "hyper-parameters of a released run, e.g. ml-1m_clean");
    args.option("lr", "X", "learning rate");
    args.option("weight-decay", "X", "AdamW weight decay");
    args.option("batch-size", "N", "users per batch");
    args.option("epochs", "N", "maximum number of epochs");
    args.option("dims", "A,B", "hidden sizes, bottleneck first (e.g. 200,600)");
    args.option("emb-size", "N", "step-embedding size");
    args.option("mean-type", "x0|eps", "what the network predicts");
    args.option("steps", "N", "diffusion steps T");
    args.option("noise-scale", "X", "noise scale s");
    args.option("noise-min", "X", "noise lower bound");
    args.option("noise-max", "X", "noise upper bound");
    args.option("sampling-steps", "N", "T' of inference (0 = start from the clean input)");
    args.option("reweight", "0|1", "SNR reweighting of the loss");
    args.option("w-min", "X", "T-DiffRec: weight of a user's earliest interaction");
    args.option("w-max", "X", "T-DiffRec: weight of a user's latest interaction");
    args.option("sampler", "importance|uniform", "step sampler (default importance, as released)");
    args.flag("plain-chain", "run inference as T full denoiser passes (default: exact latent chain)");
    args.option("eval-every", "N", "evaluate every N epochs (default 5)");
    args.option("patience", "N", "stop N epochs after the best one (default 20)");
    args.option("threads", "N", "threads (default: all cores)");
#if defined(RECDIFF_EXAMPLE_CUDA)
    args.option("backend", "cpu|cuda", "where the model runs (default cuda)");
    args.option("device", "N", "CUDA device ordinal (default 0)");
#else
    args.option("backend", "cpu|cuda", "where the model runs (default cpu; cuda needs diffrec_cuda)");
#endif
    args.option("save", "FILE", "save the best model");
    args.option("load", "FILE", "evaluate a saved model instead of training");
    args.option("json", "FILE", "write the results as JSON");
    if (variant == DiffRecVariant::tdiffrec) {
      args.flag("latent", "run LT-DiffRec (L-DiffRec with the time weights) instead of T-DiffRec");
      declare_ldiffrec_only_options(args);
    }
    if (!args.parse(argc, argv)) return 0;
    if (args.has("latent")) {
      LDiffRecConfig latent = configure_ldiffrec(args, !args.has("data"));
      if (!latent.time_weighted()) {
        latent.w_min = 0.1;
        latent.w_max = 1.0;
      }
      latent.w_min = args.number("w-min", latent.w_min);
      latent.w_max = args.number("w-max", latent.w_max);
      return run_ldiffrec_program(args, latent);
    }
    if (args.has("protocol") && *args.text("protocol") != "diffrec")
      throw UsageError(std::string(program) + " runs DiffRec's protocol only (--protocol diffrec)");
#if defined(RECDIFF_EXAMPLE_CUDA)
    const std::string backend = args.text("backend").value_or("cuda");
#else
    const std::string backend = args.text("backend").value_or("cpu");
    if (backend == "cuda")
      throw UsageError(
          "--backend cuda: this program was compiled for the CPU only; run diffrec_cuda (built "
          "when CMake finds nvcc, RECDIFF_CUDA=AUTO|ON)");
#endif
    if (backend != "cpu" && backend != "cuda")
      throw UsageError("--backend must be cpu or cuda, got '" + backend + "'");

    DiffRecConfig config;
    if (const auto path = args.text("load")) {
      config = DiffRecConfig::from_string(CheckpointReader(*path).text("config"));
    } else {
      config = diffrec_detail::configure(args, !args.has("data"), variant);
    }
    const PreparedData prepared = prepare_data(args);
    std::printf("data: %s\n", prepared.description.c_str());
#if defined(RECDIFF_EXAMPLE_CUDA)
    if (backend == "cuda") {
      // 77: "skipped" to CTest, whose smoke test runs this on machines without a GPU too.
      int devices = 0;
      if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        std::fprintf(stderr, "%s: no CUDA device available (use --backend cpu)\n", program);
        return 77;
      }
      return diffrec_detail::run_on<CudaBackend>(args, config, prepared.split);
    }
#endif
    return diffrec_detail::run_on<CpuBackend>(args, config, prepared.split);
  });
}

}  // namespace recdiff::examples
