// DiffRec / T-DiffRec: train on a dataset, select the epoch on validation, report test metrics.
//
//   diffrec                                     built-in synthetic data, a small model, < 1 minute
//   diffrec --data ../shared/data/ml-1m_clean --preset ml-1m_clean --json run.json
//   diffrec --data DIR --preset ml-1m_clean --save model.bin     then   --load model.bin
//   diffrec_cuda --backend cuda ...             the same on a GPU (this file compiled by nvcc)

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <type_traits>

#include <recdiff/models/diffrec.hpp>
#include <recdiff/recdiff.hpp>
#if defined(RECDIFF_EXAMPLE_CUDA)
#include <cuda_runtime.h>

#include <recdiff/backend/cuda.hpp>
#endif

#include "../common/cli.hpp"
#include "../common/dataset.hpp"
#include "../common/report.hpp"

using namespace recdiff;
using examples::ArgParser;
using examples::UsageError;

namespace {

// The configuration: the preset (or the synthetic default), then every flag that overrides it.
DiffRecConfig configure(const ArgParser& args, bool synthetic) {
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
  c.w_min = args.number("w-min", c.w_min);
  c.w_max = args.number("w-max", c.w_max);
  if (args.has("plain-chain")) c.latent_chain = false;
  try {
    c.validate();
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  return c;
}

template <class BackendType, class ObjectiveType, class InputType>
int run(const ArgParser& args, const DiffRecConfig& config, const TrainValidTest& data,
        InputType input) {
  const int threads = args.number<int>("threads", 0);
  const std::string model_name =
      std::string(config.w_max > 0 ? "T-DiffRec" : "DiffRec") + "/" + config.mean_type;
  // The last argument of make_diffrec builds the backend's Context: a thread count on the CPU, a
  // device ordinal on CUDA.
  int context_arg = threads;
  if constexpr (!std::is_same_v<BackendType, CpuBackend>) context_arg = args.number<int>("device", 0);
  auto model = make_diffrec<BackendType, ObjectiveType, InputType>(config, data.train.num_items(),
                                                                   input, context_arg);
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
    report["valid"] = examples::metrics_json(final_metrics.valid);
    report["test"] = examples::metrics_json(final_metrics.test);
    JsonValue cfg = JsonValue::object();
    std::istringstream lines(config.to_string());
    std::string line;
    while (std::getline(lines, line)) {
      const auto eq = line.find('=');
      cfg[line.substr(0, eq)] = line.substr(eq + 1);
    }
    report["config"] = cfg;
    report.save(*path);
  }
  return 0;
}

// The backend named by --backend, then the objective and input weighting of the configuration.
template <class BackendType>
int run_on(const ArgParser& args, const DiffRecConfig& config, const TrainValidTest& data) {
  const bool timed = config.w_max > 0;
  if (config.mean_type == "eps") {
    return timed ? run<BackendType, PredictEpsilon>(args, config, data,
                                                    TimeLinearInput(config.w_min, config.w_max))
                 : run<BackendType, PredictEpsilon>(args, config, data, BinaryInput{});
  }
  return timed ? run<BackendType, PredictX0>(args, config, data,
                                             TimeLinearInput(config.w_min, config.w_max))
               : run<BackendType, PredictX0>(args, config, data, BinaryInput{});
}

}  // namespace

int main(int argc, char** argv) {
  return examples::guarded_main("diffrec", [&]() -> int {
    ArgParser args("diffrec", "DiffRec / T-DiffRec (Wang et al., SIGIR 2023) under DiffRec's protocol.");
    examples::declare_data_options(args);
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
    if (!args.parse(argc, argv)) return 0;
    if (args.has("protocol") && *args.text("protocol") != "diffrec")
      throw UsageError("diffrec runs DiffRec's protocol only (--protocol diffrec)");
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
      config = configure(args, !args.has("data"));
    }
    const examples::PreparedData prepared = examples::prepare_data(args);
    std::printf("data: %s\n", prepared.description.c_str());
#if defined(RECDIFF_EXAMPLE_CUDA)
    if (backend == "cuda") {
      // 77: "skipped" to CTest, whose smoke test runs this on machines without a GPU too.
      int devices = 0;
      if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        std::fprintf(stderr, "diffrec_cuda: no CUDA device available (use --backend cpu)\n");
        return 77;
      }
      return run_on<CudaBackend>(args, config, prepared.split);
    }
#endif
    return run_on<CpuBackend>(args, config, prepared.split);
  });
}
