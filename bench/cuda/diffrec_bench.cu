// DiffRec on CudaBackend (ml-1m_clean preset, B = 400 users, I = 2810 items): one training step
// (densify, step sampling, q_sample, forward, loss, backward, AdamW), one reverse step (denoiser at
// eval + posterior mean) and the whole 40-step reverse chain of a batch. Manual timing with CUDA
// events on the model's stream; FLOP/s counts the dense-equivalent GEMM arithmetic and is also
// given as a fraction of the cuBLAS SGEMM peak measured at start-up in the same run.
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include <recdiff/data/synthetic.hpp>
#include <recdiff/denoiser/mlp.hpp>
#include <recdiff/eval/score_matrix.hpp>
#include <recdiff/math/philox.hpp>
#include <recdiff/models/diffrec.hpp>
#include <recdiff/nn/pass.hpp>
#include <recdiff/noise/gaussian.hpp>
#include <recdiff/noise/noise_draw.hpp>
#include <recdiff/schedule/diffrec_linear_var.hpp>

#include "cuda/cuda_bench.hpp"

namespace {

using recdiff::CudaBackend;
using recdiff::index_t;
using Matrix = CudaBackend::Matrix<float>;
using Net = recdiff::Mlp<CudaBackend, float, recdiff::Tanh>;

double g_peak_gflops = 0;

const recdiff::DiffRecConfig& preset() {
  static const recdiff::DiffRecConfig c = recdiff::diffrec_preset("ml-1m_clean");
  return c;
}

recdiff::InteractionMatrix synthetic_train(index_t users, index_t items) {
  recdiff::SyntheticConfig c;
  c.users = users;
  c.items = items;
  c.mean_items_per_user = 68.0;  // ml-1m_clean's mean
  return recdiff::make_synthetic(c);
}

// Dense-equivalent GEMM flops of a training step and of one forward pass for B users.
double training_flops(std::int64_t b, const Net& net) {
  return recdiff::bench::total_flops(
      recdiff::bench::diffrec_training_gemms(b, net.widths(), preset().emb_size));
}
double forward_flops(std::int64_t b, const Net& net) {
  const auto g = recdiff::bench::diffrec_training_gemms(b, net.widths(), preset().emb_size);
  return recdiff::bench::total_flops(std::span(g).first(net.widths().size()));
}

void set_counters(benchmark::State& state, double flops_per_iteration, double users_per_iteration,
                  double gpu_seconds) {
  const auto n = static_cast<double>(state.iterations());
  const double gflops = flops_per_iteration * n / gpu_seconds * 1e-9;
  state.counters["GFLOP/s"] = gflops;
  state.counters["users/s"] = users_per_iteration * n / gpu_seconds;
  state.counters["fraction_of_cublas_peak"] = gflops / g_peak_gflops;
}

void BM_TrainStep(benchmark::State& state) {
  const std::int64_t b = state.range(0);
  const auto items = static_cast<index_t>(state.range(1));
  const auto train = synthetic_train(static_cast<index_t>(b), items);
  auto model = recdiff::make_diffrec<CudaBackend>(preset(), items, recdiff::BinaryInput{}, 0);
  std::vector<index_t> users(static_cast<std::size_t>(b));
  std::iota(users.begin(), users.end(), index_t{0});
  std::uint32_t step = 0;
  model.train_batch(train, users, step++);  // warm-up: CSR mirror, allocator, cuBLAS workspace
  recdiff::bench::EventTimer timer(model.context().stream());
  double total = 0;
  for (auto _ : state) {
    timer.start();
    double loss = model.train_batch(train, users, step++);
    const double seconds = timer.stop_seconds();
    benchmark::DoNotOptimize(loss);
    total += seconds;
    state.SetIterationTime(seconds);
  }
  set_counters(state, training_flops(b, model.diffusion().denoiser()), static_cast<double>(b),
               total);
}
BENCHMARK(BM_TrainStep)
    ->ArgNames({"B", "I"})
    ->Args({400, 2810})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// One reverse step at k = 20: the denoiser at eval (dense input, no dropout), then the posterior
// mean through Gaussian::reverse_step without sampling noise.
void BM_ReverseStep(benchmark::State& state) {
  const CudaBackend::Context ctx(0);
  const std::int64_t b = state.range(0), items = state.range(1);
  Net::Config config;
  config.items = static_cast<int>(items);
  config.dims = preset().dims;
  config.emb_size = preset().emb_size;
  config.dropout = preset().dropout;
  Net net(config, preset().seed);
  const recdiff::Gaussian noise(recdiff::DiffRecLinearVar(
      preset().steps, preset().noise_scale, preset().noise_min, preset().noise_max, true));
  std::vector<float> host(static_cast<std::size_t>(b * items));
  const double density = 68.0 / static_cast<double>(items);
  for (std::size_t i = 0; i < host.size(); ++i)
    host[i] = recdiff::philox::uniform(3, recdiff::philox::Stream::user, 0,
                                       static_cast<std::uint32_t>(i / items),
                                       static_cast<std::uint32_t>(i % items)) < density
                  ? 1.0f
                  : 0.0f;
  Matrix x, next;
  CudaBackend::upload(ctx, std::span<const float>(host), b, items, x);
  const std::vector<int> steps(static_cast<std::size_t>(b), 20);
  const recdiff::nn::Pass pass{false, 1, 0, steps};
  const recdiff::NoiseDraw draw{1, recdiff::philox::Stream::inference, 20, nullptr};
  recdiff::Gaussian::Workspace<CudaBackend, float> ws;
  auto reverse_step = [&] {
    const Matrix& out = net.forward(ctx, x, pass);
    noise.reverse_step<CudaBackend, float>(ctx, out, x, steps, draw, false, ws, next);
  };
  reverse_step();  // warm-up
  recdiff::bench::EventTimer timer(ctx.stream());
  double total = 0;
  for (auto _ : state) {
    timer.start();
    reverse_step();
    const double seconds = timer.stop_seconds();
    total += seconds;
    state.SetIterationTime(seconds);
  }
  set_counters(state, forward_flops(b, net), static_cast<double>(b), total);
}
BENCHMARK(BM_ReverseStep)
    ->ArgNames({"B", "I"})
    ->Args({400, 2810})
    ->Args({1024, 2810})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// The whole reverse chain (40 steps, T' = 0) for a batch through model.score, including the
// download of the scores (what the evaluator pays per batch).
void BM_ReverseChain(benchmark::State& state) {
  const std::int64_t b = state.range(0);
  const auto items = static_cast<index_t>(state.range(1));
  const auto train = synthetic_train(static_cast<index_t>(b), items);
  auto model = recdiff::make_diffrec<CudaBackend>(preset(), items, recdiff::BinaryInput{}, 0);
  std::vector<index_t> users(static_cast<std::size_t>(b));
  std::iota(users.begin(), users.end(), index_t{0});
  recdiff::ScoreMatrix scores;
  model.score(train, users, scores);  // warm-up
  recdiff::bench::EventTimer timer(model.context().stream());
  double total = 0;
  for (auto _ : state) {
    timer.start();
    model.score(train, users, scores);
    const double seconds = timer.stop_seconds();
    benchmark::DoNotOptimize(scores.data());
    total += seconds;
    state.SetIterationTime(seconds);
  }
  set_counters(state, preset().steps * forward_flops(b, model.diffusion().denoiser()),
               static_cast<double>(b), total);
}
BENCHMARK(BM_ReverseChain)
    ->ArgNames({"B", "I"})
    ->Args({1024, 2810})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  if (!recdiff::bench::cuda_device_available()) {
    std::printf("skipped: no CUDA device\n");
    return recdiff::bench::no_device_exit_code;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  g_peak_gflops = recdiff::bench::cublas_sgemm_peak_gflops(CudaBackend::Context(0));
  benchmark::AddCustomContext("device", recdiff::bench::device_description());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
