// End-to-end DiffRec on ml-1m_clean (preset ml-1m_clean, CPU): training epochs, full evaluation
// passes, the SGEMM peak at the training shapes measured in the same run, peak RSS, and the ratios
// to the authors' PyTorch code (docs/benchmarks.md, reference figures). Not a Google Benchmark program: one epoch is a
// second, an evaluation pass several, and the quantities of interest are medians over a handful of
// them.
//
//   diffrec_e2e [--json FILE] [--epochs N] [--evals N] [--threads N] [--eval-batch N]
//
// Data: $RECDIFF_DATA_DIR/ml-1m_clean, else the folder configured by CMake (bench_data.hpp). When
// it is absent the program says "skipped: data not found", writes {"skipped": true, ...} to --json
// and exits 0.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <omp.h>
#include <span>
#include <string>
#include <sys/resource.h>
#include <time.h>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/data/diffrec_split.hpp>
#include <recdiff/eval/diffrec_protocol.hpp>
#include <recdiff/io/json_writer.hpp>
#include <recdiff/models/diffrec.hpp>
#include <recdiff/train/epoch_order.hpp>
#include <recdiff/version.hpp>

#include "bench_data.hpp"
#include "e2e_common.hpp"
#include "cpu/gemm_peak.hpp"

namespace {

using recdiff::bench::Clock;
using recdiff::bench::array_of;
using recdiff::bench::median;
using recdiff::bench::peak_rss_mb;
using recdiff::bench::seconds_since;

// The authors' PyTorch DiffRec on the same kind of machine, 2 threads (docs/benchmarks.md, reference figures).
constexpr double torch_epoch_seconds = 1.99;            // DataLoader with 4 workers, as shipped
constexpr double torch_epoch_seconds_0_workers = 1.36;  // DataLoader with 0 workers
constexpr double torch_eval_pass_seconds = 14.9;        // one pass: 40-step chain + top-100
constexpr double torch_eval_round_seconds = 30.0;       // valid + test: two passes there
constexpr double torch_peak_rss_mb = 1060.0;

struct Options {
  std::string json;
  int epochs = 3;
  int evals = 2;
  int threads = 0;
  int eval_batch = 1024;
};

Options parse(int argc, char** argv) {
  recdiff::examples::ArgParser args("diffrec_e2e",
                           "DiffRec on ml-1m_clean end to end: seconds per epoch and per evaluation "
                           "pass, training GEMM rate against the SGEMM peak, peak RSS.");
  args.option("json", "FILE", "write the report as JSON");
  args.option("epochs", "N", "training epochs to time (default 3)");
  args.option("evals", "N", "evaluation passes to time (default 2)");
  args.option("threads", "N", "threads (default: all cores)");
  args.option("eval-batch", "N", "users per scoring batch (default 1024)");
  if (!args.parse(argc, argv)) std::exit(0);
  Options o;
  o.json = args.text("json").value_or("");
  o.epochs = recdiff::bench::int_option(args, "epochs", o.epochs, 1);
  o.evals = recdiff::bench::int_option(args, "evals", o.evals, 0);
  o.threads = recdiff::bench::int_option(args, "threads", o.threads, 0);
  o.eval_batch = recdiff::bench::int_option(args, "eval-batch", o.eval_batch, 1);
  return o;
}

// CPU seconds of the whole process (all threads). With one thread this is the run time the work
// would have on an idle machine, whatever the load of the others sharing it; with more threads it
// also counts OpenMP's spin-waiting.
double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// 1-minute load average: on a shared machine, the context every timing needs.
double load_average() {
  double load[1] = {0};
  return getloadavg(load, 1) == 1 ? load[0] : -1.0;
}

void write_json(const Options& o, const recdiff::JsonValue& doc) {
  if (!o.json.empty()) doc.save(o.json);
}

int run(const Options& o) {
  const auto dir = recdiff::bench::data_path("ml-1m_clean");
  recdiff::JsonValue doc = recdiff::JsonValue::object();
  doc["benchmark"] = "diffrec_e2e";
  doc["dataset"] = "ml-1m_clean";
  doc["data_dir"] = dir.string();
  if (!std::filesystem::exists(dir / "train_list.npy")) {
    std::printf("diffrec_e2e: skipped: data not found (%s; set RECDIFF_DATA_DIR)\n",
                (dir / "train_list.npy").string().c_str());
    doc["skipped"] = true;
    doc["reason"] = "data not found: " + (dir / "train_list.npy").string();
    write_json(o, doc);
    return 0;
  }
  doc["skipped"] = false;

  const int threads = o.threads > 0 ? o.threads : omp_get_max_threads();
  // The evaluator's top-K work uses OpenMP's default team: keep it at the requested count too.
  omp_set_num_threads(threads);

  auto t0 = Clock::now();
  const auto split = recdiff::load_diffrec_split(dir);
  const double load_seconds = seconds_since(t0);
  const recdiff::index_t users = split.train.num_users(), items = split.train.num_items();
  std::printf("ml-1m_clean: %d users, %d items, %lld train interactions (loaded in %.2f s)\n",
              users, items, static_cast<long long>(split.train.nnz()), load_seconds);

  const auto config = recdiff::diffrec_preset("ml-1m_clean");
  auto model =
      recdiff::make_diffrec<recdiff::CpuBackend>(config, items, recdiff::BinaryInput{}, threads);
  const auto& net = model.diffusion().denoiser();

  // GEMM arithmetic of one epoch, from the layer shapes (linear in the batch size, so per user).
  const auto step_gemms =
      recdiff::bench::diffrec_training_gemms(config.batch_size, net.widths(), config.emb_size);
  const double flops_per_user = recdiff::bench::total_flops(step_gemms) / config.batch_size;
  const double epoch_flops = flops_per_user * users;

  // SGEMM peak in this run: the reference shape, and the exact GEMM sequence of one training step,
  // measured before training and again after the evaluation passes; the larger is the peak
  // (on a shared machine one of the two may have caught a busy moment).
  const auto reference = recdiff::bench::diffrec_reference_gemm();
  const double peak_before = recdiff::bench::sgemm_peak_gflops(reference, threads);
  const double step_rate_before = recdiff::bench::sgemm_gflops(step_gemms, threads);
  std::printf(
      "SGEMM %s: %.1f GFLOP/s; training-step GEMM sequence alone: %.1f GFLOP/s (%d threads)\n",
      reference.label().c_str(), peak_before, step_rate_before, threads);
  const double load_before = load_average();

  std::vector<recdiff::index_t> order(static_cast<std::size_t>(users));
  const recdiff::index_t batch = config.batch_size;
  const recdiff::index_t batches = (users + batch - 1) / batch;
  std::vector<double> epoch_seconds, epoch_cpu_seconds, epoch_loss;
  std::uint32_t step = 0;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    recdiff::epoch_order(order, 1, static_cast<std::uint32_t>(epoch));
    t0 = Clock::now();
    const double cpu0 = process_cpu_seconds();
    double loss = 0;
    for (recdiff::index_t b = 0; b < batches; ++b) {
      const recdiff::index_t begin = b * batch, end = std::min(users, begin + batch);
      loss += model.train_batch(split.train,
                                std::span<const recdiff::index_t>(
                                    order.data() + begin, static_cast<std::size_t>(end - begin)),
                                step++);
    }
    epoch_seconds.push_back(seconds_since(t0));
    epoch_cpu_seconds.push_back(process_cpu_seconds() - cpu0);
    epoch_loss.push_back(loss / batches);
    std::printf("epoch %d: %.3f s (CPU %.3f s), loss %.6g\n", epoch, epoch_seconds.back(),
                epoch_cpu_seconds.back(), epoch_loss.back());
  }

  recdiff::EvalOptions eval;
  eval.batch_size = o.eval_batch;
  eval.num_threads = threads;
  std::vector<double> eval_seconds, eval_cpu_seconds;
  double recall20 = 0, ndcg20 = 0;
  for (int e = 0; e < o.evals; ++e) {
    t0 = Clock::now();
    const double cpu0 = process_cpu_seconds();
    const auto result = recdiff::evaluate_diffrec_protocol(model, split, eval);
    eval_seconds.push_back(seconds_since(t0));
    eval_cpu_seconds.push_back(process_cpu_seconds() - cpu0);
    recall20 = result.test.at("recall@20");
    ndcg20 = result.test.at("ndcg@20");
    std::printf(
        "evaluation pass %d (valid + test): %.3f s (CPU %.3f s), test recall@20 %.4f ndcg@20 "
        "%.4f\n",
        e + 1, eval_seconds.back(), eval_cpu_seconds.back(), recall20, ndcg20);
  }

  const double peak_after = recdiff::bench::sgemm_peak_gflops(reference, threads);
  const double step_rate_after = recdiff::bench::sgemm_gflops(step_gemms, threads);
  const double peak = std::max(peak_before, peak_after);
  const double step_gemm_rate = std::max(step_rate_before, step_rate_after);
  std::printf("SGEMM %s again: %.1f GFLOP/s; training-step GEMM sequence: %.1f GFLOP/s\n",
              reference.label().c_str(), peak_after, step_rate_after);
  const double epoch_median = median(epoch_seconds);
  const double eval_median = median(eval_seconds);
  const double train_gflops = epoch_flops / epoch_median * 1e-9;
  const double rss = peak_rss_mb();
  // Plain-chain arithmetic of a pass (dense-equivalent, the reference figures' 1.72 TFLOP).
  const double eval_flops =
      config.steps * recdiff::bench::total_flops(std::span(step_gemms).first(net.widths().size())) /
      config.batch_size * users;

  doc["recdiff_version"] = recdiff::version_string;
  doc["git_hash_at_configure"] = RECDIFF_BENCH_GIT_HASH;
  doc["backend"] = recdiff::CpuBackend::name;
  doc["eigen_version"] = std::to_string(EIGEN_WORLD_VERSION) + "." +
                         std::to_string(EIGEN_MAJOR_VERSION) + "." +
                         std::to_string(EIGEN_MINOR_VERSION);
  doc["threads"] = threads;
  // Spinning (the default) or sleeping OpenMP workers: on a shared machine this changes timings
  // several-fold (docs/benchmarks.md).
  const char* wait_policy = std::getenv("OMP_WAIT_POLICY");
  doc["omp_wait_policy"] = wait_policy ? wait_policy : "unset";
  doc["load_average_1min_before_after"] = array_of({load_before, load_average()});
  doc["users"] = static_cast<long long>(users);
  doc["items"] = static_cast<long long>(items);
  doc["batch_size"] = static_cast<long long>(batch);
  doc["eval_batch_size"] = o.eval_batch;
  doc["load_seconds"] = load_seconds;
  doc["epochs"] = o.epochs;
  doc["epoch_seconds"] = array_of(epoch_seconds);
  doc["epoch_loss"] = array_of(epoch_loss);
  doc["seconds_per_epoch"] = epoch_median;
  doc["epoch_cpu_seconds"] = array_of(epoch_cpu_seconds);
  doc["cpu_seconds_per_epoch"] = median(epoch_cpu_seconds);
  doc["seconds_per_epoch_min"] = *std::min_element(epoch_seconds.begin(), epoch_seconds.end());
  doc["evals"] = o.evals;
  doc["eval_pass_seconds"] = array_of(eval_seconds);
  doc["seconds_per_eval_pass"] = eval_median;
  doc["eval_pass_cpu_seconds"] = array_of(eval_cpu_seconds);
  doc["cpu_seconds_per_eval_pass"] = median(eval_cpu_seconds);
  if (!eval_seconds.empty())
    doc["seconds_per_eval_pass_min"] = *std::min_element(eval_seconds.begin(), eval_seconds.end());
  doc["test_recall@20_last_pass"] = recall20;
  doc["test_ndcg@20_last_pass"] = ndcg20;
  doc["peak_rss_mb"] = rss;
  doc["train_gemm_gflop_per_epoch"] = epoch_flops * 1e-9;
  doc["train_gflops"] = train_gflops;
  doc["sgemm_peak_shape"] = recdiff::bench::diffrec_reference_gemm().label();
  doc["sgemm_peak_gflops"] = peak;
  doc["sgemm_peak_gflops_before_after"] = array_of({peak_before, peak_after});
  doc["train_step_gemm_sequence_gflops"] = step_gemm_rate;
  doc["train_step_gemm_sequence_fraction_of_peak"] = step_gemm_rate / peak;
  doc["train_gemm_fraction_of_peak"] = train_gflops / peak;
  doc["eval_plain_chain_tflop_per_pass"] = eval_flops * 1e-12;
  doc["eval_gflops_plain_chain_equivalent"] =
      eval_median > 0 ? eval_flops / eval_median * 1e-9 : 0.0;

  auto& torch = doc["pytorch_reference"];
  torch["source"] = "docs/benchmarks.md reference figures: YiyanXu/DiffRec d35a6c6, 2-vCPU EPYC Zen 4, 2 threads";
  torch["seconds_per_epoch_as_shipped"] = torch_epoch_seconds;
  torch["seconds_per_epoch_0_workers"] = torch_epoch_seconds_0_workers;
  torch["seconds_per_eval_pass"] = torch_eval_pass_seconds;
  torch["seconds_per_valid_test_round"] = torch_eval_round_seconds;
  torch["peak_rss_mb"] = torch_peak_rss_mb;
  auto& speedup = doc["speedup_vs_pytorch"];
  speedup["epoch_vs_as_shipped"] = torch_epoch_seconds / epoch_median;
  speedup["epoch_vs_0_workers"] = torch_epoch_seconds_0_workers / epoch_median;
  if (eval_median > 0) {
    // One recdiff pass serves validation and test; the reference needs two passes for that.
    speedup["eval_pass"] = torch_eval_pass_seconds / eval_median;
    speedup["valid_test_round"] = torch_eval_round_seconds / eval_median;
  }
  speedup["peak_rss_ratio"] = rss / torch_peak_rss_mb;

  std::printf(
      "\nseconds/epoch (median of %d): %.3f  [PyTorch 1.99 as shipped: %.2fx, 1.36 with 0 workers: "
      "%.2fx]\n",
      o.epochs, epoch_median, torch_epoch_seconds / epoch_median,
      torch_epoch_seconds_0_workers / epoch_median);
  std::printf(
      "training GEMMs: %.1f GFLOP/epoch, %.1f GFLOP/s = %.0f%% of the %.1f GFLOP/s SGEMM peak\n",
      epoch_flops * 1e-9, train_gflops, 100.0 * train_gflops / peak, peak);
  if (eval_median > 0)
    std::printf(
        "seconds/eval pass (median of %d): %.3f  [PyTorch 14.9 per pass: %.2fx, 30 per round: "
        "%.2fx]\n",
        o.evals, eval_median, torch_eval_pass_seconds / eval_median,
        torch_eval_round_seconds / eval_median);
  std::printf("peak RSS: %.0f MB (PyTorch ~1060 MB: %.2f of it)\n", rss, rss / torch_peak_rss_mb);
  write_json(o, doc);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const recdiff::examples::UsageError& e) {
    std::fprintf(stderr, "diffrec_e2e: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "diffrec_e2e: %s\n", e.what());
    return 1;
  }
}
