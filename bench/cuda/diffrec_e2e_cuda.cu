// End-to-end DiffRec on CudaBackend (preset ml-1m_clean): seconds per training epoch and per full
// evaluation pass (valid + test, DiffRec's protocol), the training GEMMs as a fraction of the
// cuBLAS SGEMM peak measured in the same run, and device memory, on
//   - ml-1m_clean (the .npy split of $RECDIFF_DATA_DIR, as bench/cpu/diffrec_e2e), and
//   - a synthetic Netflix-sized dataset: 480K users x 17,770 items, ~100M interactions from
//     recdiff::make_synthetic (timestamped) split by recdiff::temporal_split. Batches are densified
//     on the device from the CSR mirror, so device memory is bounded by nnz + batch, never
//     users x items.
// Writes one JSON document (--json FILE) that scripts/gpu-bench.sh merges with PyTorch's numbers.
//
//   diffrec_e2e_cuda [--json FILE] [--dataset ml-1m_clean|netflix|both] [--epochs N] [--evals N]
//                    [--eval-batch N] [--netflix-users N] [--tf32] [--device N]
//
// Exits 77 ("skipped") without a CUDA device. A missing ml-1m_clean folder is reported in the JSON
// ({"skipped": true}) and the other dataset still runs.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <recdiff/data/diffrec_split.hpp>
#include <recdiff/data/synthetic.hpp>
#include <recdiff/eval/diffrec_protocol.hpp>
#include <recdiff/eval/temporal_split.hpp>
#include <recdiff/io/json_writer.hpp>
#include <recdiff/models/diffrec.hpp>
#include <recdiff/train/epoch_order.hpp>
#include <recdiff/version.hpp>

#include "bench_data.hpp"
#include "e2e_common.hpp"
#include "cuda/cuda_bench.hpp"

namespace {

using recdiff::bench::array_of;
using recdiff::bench::Clock;
using recdiff::bench::median;
using recdiff::bench::seconds_since;
using recdiff::CudaBackend;
using recdiff::index_t;
using recdiff::JsonValue;

struct Options {
  std::string json;
  std::string dataset = "both";
  int epochs = 3;
  int evals = 1;
  int eval_batch = 4096;
  int netflix_users = 480000;
  int device = 0;
  bool tf32 = false;
};

Options parse(int argc, char** argv) {
  recdiff::examples::ArgParser args(
      "diffrec_e2e_cuda",
      "DiffRec on the GPU end to end: seconds per epoch and per evaluation pass, GEMM rate against "
      "the cuBLAS peak, device memory, on ml-1m_clean and Netflix-sized synthetic data.");
  args.option("json", "FILE", "write the report as JSON");
  args.option("dataset", "NAME", "ml-1m_clean | netflix | both (default both)");
  args.option("epochs", "N", "training epochs to time (default 3)");
  args.option("evals", "N", "evaluation passes to time (default 1)");
  args.option("eval-batch", "N", "users per scoring batch (default 4096)");
  args.option("netflix-users", "N", "users of the synthetic Netflix-sized data (default 480000)");
  args.option("device", "N", "CUDA device (default 0)");
  args.flag("tf32", "allow TF32 tensor-core GEMMs (default FP32)");
  if (!args.parse(argc, argv)) std::exit(0);
  Options o;
  o.json = args.text("json").value_or("");
  o.dataset = args.text("dataset").value_or(o.dataset);
  if (o.dataset != "ml-1m_clean" && o.dataset != "netflix" && o.dataset != "both")
    throw recdiff::examples::UsageError("--dataset must be ml-1m_clean, netflix or both, got '" +
                                        o.dataset + "'");
  o.epochs = recdiff::bench::int_option(args, "epochs", o.epochs, 1);
  o.evals = recdiff::bench::int_option(args, "evals", o.evals, 0);
  o.eval_batch = recdiff::bench::int_option(args, "eval-batch", o.eval_batch, 1);
  o.netflix_users = recdiff::bench::int_option(args, "netflix-users", o.netflix_users, 100);
  o.device = recdiff::bench::int_option(args, "device", o.device, 0);
  o.tf32 = args.has("tf32");
  return o;
}

// Netflix-sized synthetic data: 480K users x 17,770 items, ~208 interactions per user (~100M),
// timestamped so that DiffRec's temporal split applies.
recdiff::TrainValidTest netflix_sized(int users) {
  recdiff::SyntheticConfig c;
  c.users = users;
  c.items = 17770;
  c.mean_items_per_user = 100480507.0 / 480189.0;  // the Netflix Prize matrix's mean
  c.timestamps = true;
  c.seed = 2006;
  return recdiff::temporal_split(recdiff::make_synthetic(c));
}

// Trains and evaluates one dataset; fills `doc` with the measurements.
void run_dataset(const Options& o, const recdiff::TrainValidTest& split, double peak_gflops,
                 JsonValue& doc) {
  const index_t users = split.train.num_users(), items = split.train.num_items();
  std::printf("%d users, %d items, %lld train interactions\n", users, items,
              static_cast<long long>(split.train.nnz()));
  const auto config = recdiff::diffrec_preset("ml-1m_clean");
  auto model = recdiff::make_diffrec<CudaBackend>(config, items, recdiff::BinaryInput{}, o.device);
  model.context().enable_tf32(o.tf32);
  const auto& net = model.diffusion().denoiser();

  const auto step_gemms =
      recdiff::bench::diffrec_training_gemms(config.batch_size, net.widths(), config.emb_size);
  const double epoch_flops =
      recdiff::bench::total_flops(step_gemms) / config.batch_size * static_cast<double>(users);
  // The GEMM sequence of one training step alone, through CudaBackend::gemm.
  double step_gemm_seconds = 0;
  for (const auto& g : step_gemms)
    step_gemm_seconds += recdiff::bench::backend_gemm_seconds(model.context(), g);
  const double step_gemm_gflops = recdiff::bench::total_flops(step_gemms) / step_gemm_seconds * 1e-9;

  std::vector<index_t> order(static_cast<std::size_t>(users));
  const index_t batch = config.batch_size;
  const index_t batches = (users + batch - 1) / batch;
  std::vector<double> epoch_seconds, epoch_loss;
  double device_mib_max = recdiff::bench::device_memory_used_mib();
  std::uint32_t step = 0;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    recdiff::epoch_order(order, 1, static_cast<std::uint32_t>(epoch));
    const auto t0 = Clock::now();
    double loss = 0;
    for (index_t b = 0; b < batches; ++b) {
      const index_t begin = b * batch, end = std::min(users, begin + batch);
      loss += model.train_batch(
          split.train,
          std::span<const index_t>(order.data() + begin, static_cast<std::size_t>(end - begin)),
          step++);
    }
    model.context().synchronize();
    epoch_seconds.push_back(seconds_since(t0));
    epoch_loss.push_back(loss / batches);
    device_mib_max = std::max(device_mib_max, recdiff::bench::device_memory_used_mib());
    std::printf("epoch %d: %.3f s, loss %.6g\n", epoch, epoch_seconds.back(), epoch_loss.back());
  }

  recdiff::EvalOptions eval;
  eval.batch_size = o.eval_batch;
  std::vector<double> eval_seconds;
  double recall20 = 0, ndcg20 = 0;
  for (int e = 0; e < o.evals; ++e) {
    const auto t0 = Clock::now();
    const auto result = recdiff::evaluate_diffrec_protocol(model, split, eval);
    eval_seconds.push_back(seconds_since(t0));
    device_mib_max = std::max(device_mib_max, recdiff::bench::device_memory_used_mib());
    recall20 = result.test.at("recall@20");
    ndcg20 = result.test.at("ndcg@20");
    std::printf("evaluation pass %d (valid + test): %.3f s, test recall@20 %.4f ndcg@20 %.4f\n",
                e + 1, eval_seconds.back(), recall20, ndcg20);
  }

  const double epoch_median = median(epoch_seconds);
  const double train_gflops = epoch_flops / epoch_median * 1e-9;
  const auto& allocator = recdiff::cuda::CachingAllocator::instance();
  doc["users"] = static_cast<long long>(users);
  doc["items"] = static_cast<long long>(items);
  doc["train_interactions"] = static_cast<long long>(split.train.nnz());
  doc["batch_size"] = static_cast<long long>(batch);
  doc["eval_batch_size"] = o.eval_batch;
  doc["epoch_seconds"] = array_of(epoch_seconds);
  doc["epoch_loss"] = array_of(epoch_loss);
  doc["seconds_per_epoch"] = epoch_median;
  doc["eval_pass_seconds"] = array_of(eval_seconds);
  doc["seconds_per_eval_pass"] = median(eval_seconds);
  doc["test_recall@20_last_pass"] = recall20;
  doc["test_ndcg@20_last_pass"] = ndcg20;
  doc["train_gemm_gflop_per_epoch"] = epoch_flops * 1e-9;
  doc["train_gflops"] = train_gflops;
  doc["train_gemm_fraction_of_cublas_peak"] = train_gflops / peak_gflops;
  doc["train_step_gemm_sequence_gflops"] = step_gemm_gflops;
  doc["train_step_gemm_sequence_fraction_of_cublas_peak"] = step_gemm_gflops / peak_gflops;
  doc["device_memory_used_mib_max"] = device_mib_max;
  doc["allocator_live_mib"] = static_cast<double>(allocator.live_bytes()) / (1024.0 * 1024.0);
  doc["allocator_cached_mib"] = static_cast<double>(allocator.cached_bytes()) / (1024.0 * 1024.0);
  // CSR mirror (offsets + indices) + one dense batch in and out: the bound the design promises.
  doc["csr_plus_batch_mib"] =
      (static_cast<double>(split.train.nnz()) * sizeof(index_t) +
       static_cast<double>(users + 1) * sizeof(std::int64_t) +
       2.0 * static_cast<double>(std::max<index_t>(batch, o.eval_batch)) * items * sizeof(float)) /
      (1024.0 * 1024.0);
  std::printf("seconds/epoch %.3f, seconds/eval pass %.3f, training GEMMs %.0f GFLOP/s = %.1f%% "
              "of cuBLAS peak, device memory max %.0f MiB\n",
              epoch_median, median(eval_seconds), train_gflops, 100.0 * train_gflops / peak_gflops,
              device_mib_max);
}

int run(const Options& o) {
  JsonValue doc = JsonValue::object();
  doc["benchmark"] = "diffrec_e2e_cuda";
  doc["recdiff_version"] = recdiff::version_string;
  doc["git_hash_at_configure"] = RECDIFF_BENCH_GIT_HASH;
  doc["backend"] = CudaBackend::name;
  doc["preset"] = "ml-1m_clean";
  if (!recdiff::bench::cuda_device_available()) {
    std::printf("diffrec_e2e_cuda: skipped: no CUDA device\n");
    doc["skipped"] = true;
    doc["reason"] = "no CUDA device";
    if (!o.json.empty()) doc.save(o.json);
    return recdiff::bench::no_device_exit_code;
  }
  doc["skipped"] = false;
  const std::string device = recdiff::bench::device_description(o.device);
  doc["device"] = device;
  doc["math"] = o.tf32 ? "tf32" : "fp32";
  RECDIFF_CUDA_CHECK(cudaSetDevice(o.device));
  double peak = 0;
  {
    CudaBackend::Context ctx(o.device);
    ctx.enable_tf32(o.tf32);
    peak = recdiff::bench::cublas_sgemm_peak_gflops(ctx);
  }
  recdiff::CudaBackend::release_cached_memory();
  doc["cublas_sgemm_peak_gflops"] = peak;
  std::printf("%s: cuBLAS SGEMM peak %.0f GFLOP/s (%s)\n", device.c_str(), peak,
              o.tf32 ? "TF32" : "FP32");

  auto& datasets = doc["datasets"];
  datasets = JsonValue::object();
  if (o.dataset != "netflix") {
    auto& d = datasets["ml-1m_clean"];
    d = JsonValue::object();
    const auto dir = recdiff::bench::data_path("ml-1m_clean");
    d["data_dir"] = dir.string();
    if (!std::filesystem::exists(dir / "train_list.npy")) {
      std::printf("ml-1m_clean: skipped: data not found (%s; set RECDIFF_DATA_DIR)\n",
                  dir.string().c_str());
      d["skipped"] = true;
    } else {
      d["skipped"] = false;
      std::printf("ml-1m_clean: ");
      run_dataset(o, recdiff::load_diffrec_split(dir), peak, d);
    }
  }
  if (o.dataset != "ml-1m_clean") {
    auto& d = datasets["netflix_synthetic"];
    d = JsonValue::object();
    const auto t0 = Clock::now();
    const auto split = netflix_sized(o.netflix_users);
    d["generate_seconds"] = seconds_since(t0);
    d["skipped"] = false;
    std::printf("netflix_synthetic (generated in %.1f s): ", seconds_since(t0));
    run_dataset(o, split, peak, d);
  }
  if (!o.json.empty()) doc.save(o.json);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const recdiff::examples::UsageError& e) {
    std::fprintf(stderr, "diffrec_e2e_cuda: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "diffrec_e2e_cuda: %s\n", e.what());
    return 1;
  }
}
