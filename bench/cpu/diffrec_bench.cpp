// DiffRec's hot paths at the ml-1m_clean preset shapes (B = 400 users, I = 2810 items, dims {200,
// 600}, E = 10): the raw GEMM of the first layer as a baseline, the denoiser's forward + backward,
// q_sample, one full training step, one reverse step and the whole reverse chain. FLOP counts
// follow docs/benchmarks.md's reference figures (forward 7.24 MFLOP/user, training step 7.24 + 11.1 MFLOP/user), computed
// from the layer shapes so that other B and I work too. "peak_fraction" divides each benchmark's
// GEMM rate by the Eigen SGEMM rate at 400x2820x600 measured at start-up in the same process.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/data/synthetic.hpp>
#include <recdiff/denoiser/mlp.hpp>
#include <recdiff/eval/score_matrix.hpp>
#include <recdiff/models/diffrec.hpp>
#include <recdiff/nn/dropout.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>
#include <recdiff/noise/gaussian.hpp>
#include <recdiff/noise/noise_draw.hpp>
#include <recdiff/objective/predict_x0.hpp>
#include <recdiff/schedule/diffrec_linear_var.hpp>
#include <recdiff/version.hpp>

#include "cpu/gemm_peak.hpp"

namespace {

using recdiff::CpuBackend;
using recdiff::index_t;
using Matrix = CpuBackend::Matrix<float>;
using Net = recdiff::Mlp<CpuBackend, float, recdiff::Tanh>;
using Workspace = recdiff::Gaussian::Workspace<CpuBackend, float>;
using recdiff::nn::Pass;

// Set by main() before any benchmark runs.
double g_peak_gflops = 0;

const recdiff::DiffRecConfig& preset() {
  static const recdiff::DiffRecConfig c = recdiff::diffrec_preset("ml-1m_clean");
  return c;
}

Net make_net(int items) {
  Net::Config c;
  c.items = items;
  c.dims = preset().dims;
  c.emb_size = preset().emb_size;
  c.dropout = preset().dropout;
  return Net(c, preset().seed);
}

// The preset's noise kernel (Gaussian, DiffRec's variance schedule).
recdiff::Gaussian make_noise() {
  const auto& c = preset();
  return recdiff::Gaussian(
      recdiff::DiffRecLinearVar(c.steps, c.noise_scale, c.noise_min, c.noise_max, true));
}

// The training noise draw of batch `counter` (Diffusion::noise keys it the same way).
recdiff::NoiseDraw training_draw(std::uint32_t counter) {
  return recdiff::NoiseDraw{1, recdiff::philox::Stream::noise, counter, nullptr};
}

// GEMM flops of one forward pass and of one training step (forward + backward) for B users.
double forward_flops(std::int64_t batch, const Net& net) {
  const auto g = recdiff::bench::diffrec_training_gemms(batch, net.widths(), preset().emb_size);
  // The forward GEMMs come first: the first layer's two blocks plus one per further layer.
  return recdiff::bench::total_flops(std::span(g).first(net.widths().size()));
}
double training_flops(std::int64_t batch, const Net& net) {
  return recdiff::bench::total_flops(
      recdiff::bench::diffrec_training_gemms(batch, net.widths(), preset().emb_size));
}

// A binary input batch with about 68 distinct items per user (ml-1m_clean's train rows average 68).
Matrix random_binary_rows(std::int64_t rows, std::int64_t items) {
  Matrix x = Matrix::Zero(rows, items);
  const double density = 68.0 / static_cast<double>(items);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < items; ++c)
      if (recdiff::philox::uniform(3, recdiff::philox::Stream::user, 0,
                                   static_cast<std::uint32_t>(r),
                                   static_cast<std::uint32_t>(c)) < density)
        x(r, c) = 1.0f;
  return x;
}

recdiff::InteractionMatrix synthetic_train(index_t users, index_t items) {
  recdiff::SyntheticConfig c;
  c.users = users;
  c.items = items;
  c.mean_items_per_user = 68.0;
  return recdiff::make_synthetic(c);
}

std::vector<int> steps_of(std::int64_t batch) {
  std::vector<int> k(static_cast<std::size_t>(batch));
  for (std::size_t b = 0; b < k.size(); ++b) k[b] = static_cast<int>(b % 40);
  return k;
}

// Rate counters shared by every benchmark: FLOP/s, users/s and the fraction of the SGEMM peak
// (the loop is timed by hand for the latter, as a counter cannot see the elapsed time).
void set_counters(benchmark::State& state, double flops_per_iteration, double users_per_iteration,
                  double loop_seconds) {
  state.counters["FLOP/s"] =
      benchmark::Counter(flops_per_iteration, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["users/s"] =
      benchmark::Counter(users_per_iteration, benchmark::Counter::kIsIterationInvariantRate);
  if (g_peak_gflops > 0 && loop_seconds > 0)
    state.counters["peak_fraction"] = flops_per_iteration *
                                      static_cast<double>(state.iterations()) / loop_seconds *
                                      1e-9 / g_peak_gflops;
}

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

// Baseline: the raw GEMM of the first layer, (B x (I + E)) (I + E x 600), through CpuBackend::gemm.
static void BM_GemmFirstLayer(benchmark::State& state) {
  const CpuBackend::Context ctx;
  const std::int64_t b = state.range(0), k = state.range(1) + preset().emb_size;
  const std::int64_t n = preset().dims.back();
  const Matrix a = Matrix::Constant(b, k, 0.01f), w = Matrix::Constant(k, n, 0.02f);
  Matrix c = Matrix::Zero(b, n);
  const auto t0 = Clock::now();
  for (auto _ : state) {
    CpuBackend::gemm(ctx, 1.0f, a, recdiff::Op::none, w, recdiff::Op::none, 0.0f, c);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 2.0 * static_cast<double>(b * k * n), static_cast<double>(b), since(t0));
}
BENCHMARK(BM_GemmFirstLayer)
    ->ArgNames({"B", "I"})
    ->Args({400, 2810})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Mlp forward (train mode: dropout on) + backward on a binary batch, the gradients cleared first
// as a training step does (zero_grad: the first write of each gradient overwrites it).
static void BM_MlpForwardBackward(benchmark::State& state) {
  const CpuBackend::Context ctx;
  const std::int64_t b = state.range(0);
  Net net = make_net(static_cast<int>(state.range(1)));
  const auto params = recdiff::nn::parameters_of(net);
  const Matrix x = random_binary_rows(b, state.range(1));
  const auto steps = steps_of(b);
  const Matrix grad = Matrix::Constant(b, state.range(1), 1e-3f);
  std::uint32_t counter = 0;
  const auto t0 = Clock::now();
  for (auto _ : state) {
    recdiff::nn::zero_grad(params);
    const Matrix& out = net.forward(ctx, x, Pass{true, 1, counter++, steps});
    net.backward(ctx, grad);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, training_flops(b, net), static_cast<double>(b), since(t0));
}
BENCHMARK(BM_MlpForwardBackward)
    ->ArgNames({"B", "I"})
    ->Args({400, 2810})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Gaussian q_sample: x_k = sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) eps with Philox normals, the
// per-row coefficients gathered from the tables at the rows' steps (as in every training step). No
// GEMM: FLOP/s is left out, users/s and the bandwidth (x0 read, x_k and eps written) are reported.
static void BM_QSample(benchmark::State& state) {
  const CpuBackend::Context ctx;
  const std::int64_t b = state.range(0), items = state.range(1);
  const auto noise = make_noise();
  const Matrix x0 = random_binary_rows(b, items);
  const auto steps = steps_of(b);
  Workspace ws;
  Matrix x_t;
  std::uint32_t counter = 0;
  for (auto _ : state) {
    noise.q_sample<CpuBackend, float>(ctx, x0, steps, training_draw(counter++), ws, x_t);
    benchmark::DoNotOptimize(x_t.data());
    benchmark::ClobberMemory();
  }
  state.counters["users/s"] =
      benchmark::Counter(static_cast<double>(b), benchmark::Counter::kIsIterationInvariantRate);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * 3 * b * items *
                          static_cast<std::int64_t>(sizeof(float)));
}
BENCHMARK(BM_QSample)
    ->ArgNames({"B", "I"})
    ->Args({400, 2810})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// One full training step: densify, step sampling, q_sample, forward, loss, backward, AdamW.
static void BM_TrainStep(benchmark::State& state) {
  const std::int64_t b = state.range(0);
  const auto items = static_cast<index_t>(state.range(1));
  const auto train = synthetic_train(static_cast<index_t>(b), items);
  auto model = recdiff::make_diffrec<CpuBackend>(preset(), items, recdiff::BinaryInput{}, 0);
  std::vector<index_t> users(static_cast<std::size_t>(b));
  std::iota(users.begin(), users.end(), index_t{0});
  const Net& net = model.diffusion().denoiser();
  std::uint32_t step = 0;
  const auto t0 = Clock::now();
  for (auto _ : state) {
    double loss = model.train_batch(train, users, step++);
    benchmark::DoNotOptimize(loss);
  }
  set_counters(state, training_flops(b, net), static_cast<double>(b), since(t0));
}
BENCHMARK(BM_TrainStep)
    ->ArgNames({"B", "I"})
    ->Args({400, 2810})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// One reverse step at k = 20: the denoiser at eval (dense input, no dropout), then the posterior
// mean through Gaussian::reverse_step without sampling noise (the x0 objective's x0_hat is the
// network output itself).
static void BM_ReverseStep(benchmark::State& state) {
  const CpuBackend::Context ctx;
  const std::int64_t b = state.range(0);
  Net net = make_net(static_cast<int>(state.range(1)));
  const auto noise = make_noise();
  const Matrix x = random_binary_rows(b, state.range(1));
  const std::vector<int> steps(static_cast<std::size_t>(b), 20);
  const recdiff::NoiseDraw draw{1, recdiff::philox::Stream::inference, 20, nullptr};
  Workspace ws;
  Matrix next;
  const auto t0 = Clock::now();
  for (auto _ : state) {
    const Matrix& out = net.forward(ctx, x, Pass{false, 1, 0, steps});
    noise.reverse_step<CpuBackend, float>(ctx, out, x, steps, draw, false, ws, next);
    benchmark::DoNotOptimize(next.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, forward_flops(b, net), static_cast<double>(b), since(t0));
}
BENCHMARK(BM_ReverseStep)
    ->ArgNames({"B", "I"})
    ->Args({400, 2810})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The whole reverse chain (40 steps, T' = 0) for a batch of users through model.score. FLOP/s
// counts the plain chain, 40 dense forward passes (the reference figures' 1.72 TFLOP per ml-1m pass); the
// sparse first layer of the first step makes the real count about 1% lower.
static void BM_ReverseChain(benchmark::State& state) {
  const std::int64_t b = state.range(0);
  const auto items = static_cast<index_t>(state.range(1));
  const auto train = synthetic_train(static_cast<index_t>(b), items);
  auto model = recdiff::make_diffrec<CpuBackend>(preset(), items, recdiff::BinaryInput{}, 0);
  std::vector<index_t> users(static_cast<std::size_t>(b));
  std::iota(users.begin(), users.end(), index_t{0});
  const Net& net = model.diffusion().denoiser();
  recdiff::ScoreMatrix scores;
  const auto t0 = Clock::now();
  for (auto _ : state) {
    model.score(train, users, scores);
    benchmark::DoNotOptimize(scores.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, preset().steps * forward_flops(b, net), static_cast<double>(b), since(t0));
}
BENCHMARK(BM_ReverseChain)
    ->ArgNames({"B", "I"})
    ->Args({400, 2810})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// --- the parts of a training step, to see where BM_TrainStep's time goes
// ---------------------------

// The raw GEMMs of one training step through CpuBackend::gemm: range(2) selects forward (0),
// backward (1) or both (2). The forward GEMMs are the first widths().size() entries of
// diffrec_training_gemms.
static void BM_TrainStepGemms(benchmark::State& state) {
  const CpuBackend::Context ctx;
  const Net net = make_net(static_cast<int>(state.range(1)));
  auto shapes =
      recdiff::bench::diffrec_training_gemms(state.range(0), net.widths(), preset().emb_size);
  const auto forward = static_cast<std::ptrdiff_t>(net.widths().size());
  if (state.range(2) == 0) shapes.erase(shapes.begin() + forward, shapes.end());
  if (state.range(2) == 1) shapes.erase(shapes.begin(), shapes.begin() + forward);
  std::vector<Matrix> a, b, c;
  for (const auto& g : shapes) {
    a.push_back(g.op_a == recdiff::Op::none ? Matrix::Constant(g.m, g.k, 0.01f)
                                            : Matrix::Constant(g.k, g.m, 0.01f));
    b.push_back(g.op_b == recdiff::Op::none ? Matrix::Constant(g.k, g.n, 0.02f)
                                            : Matrix::Constant(g.n, g.k, 0.02f));
    c.push_back(Matrix::Zero(g.m, g.n));
  }
  const auto t0 = Clock::now();
  for (auto _ : state) {
    for (std::size_t i = 0; i < shapes.size(); ++i)
      CpuBackend::gemm(ctx, 1.0f, a[i], shapes[i].op_a, b[i], shapes[i].op_b, 0.0f, c[i]);
    benchmark::ClobberMemory();
  }
  set_counters(state, recdiff::bench::total_flops(shapes), static_cast<double>(state.range(0)),
               since(t0));
}
BENCHMARK(BM_TrainStepGemms)
    ->ArgNames({"B", "I", "part"})
    ->Args({400, 2810, 0})
    ->Args({400, 2810, 1})
    ->Args({400, 2810, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Mlp forward alone (train mode: dropout, embedding, GEMMs, bias + tanh).
static void BM_MlpForward(benchmark::State& state) {
  const CpuBackend::Context ctx;
  const std::int64_t b = state.range(0);
  Net net = make_net(static_cast<int>(state.range(1)));
  const Matrix x = random_binary_rows(b, state.range(1));
  const auto steps = steps_of(b);
  std::uint32_t counter = 0;
  const auto t0 = Clock::now();
  for (auto _ : state) {
    const Matrix& out = net.forward(ctx, x, Pass{true, 1, counter++, steps});
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, forward_flops(b, net), static_cast<double>(b), since(t0));
}
BENCHMARK(BM_MlpForward)
    ->ArgNames({"B", "I"})
    ->Args({400, 2810})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Mlp backward alone (the forward pass that it needs and zero_grad run with the timer paused).
static void BM_MlpBackward(benchmark::State& state) {
  const CpuBackend::Context ctx;
  const std::int64_t b = state.range(0);
  Net net = make_net(static_cast<int>(state.range(1)));
  const auto params = recdiff::nn::parameters_of(net);
  const Matrix x = random_binary_rows(b, state.range(1));
  const auto steps = steps_of(b);
  const Matrix grad = Matrix::Constant(b, state.range(1), 1e-3f);
  const double flops = training_flops(b, net) - forward_flops(b, net);
  double seconds = 0;
  for (auto _ : state) {
    state.PauseTiming();
    recdiff::nn::zero_grad(params);
    net.forward(ctx, x, Pass{true, 1, 0, steps});
    state.ResumeTiming();
    const auto t0 = Clock::now();
    net.backward(ctx, grad);
    seconds += since(t0);
    benchmark::ClobberMemory();
  }
  set_counters(state, flops, static_cast<double>(b), seconds);
}
BENCHMARK(BM_MlpBackward)
    ->ArgNames({"B", "I"})
    ->Args({400, 2810})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The batch's CSR rows written into the dense B x I input (DiffusionRecommender::train_batch).
static void BM_Densify(benchmark::State& state) {
  const CpuBackend::Context ctx;
  const std::int64_t b = state.range(0);
  const auto train = synthetic_train(static_cast<index_t>(b), static_cast<index_t>(state.range(1)));
  std::vector<index_t> users(static_cast<std::size_t>(b));
  std::iota(users.begin(), users.end(), index_t{0});
  Matrix x0;
  for (auto _ : state) {
    CpuBackend::densify<float>(ctx, train, users, x0);
    benchmark::DoNotOptimize(x0.data());
    benchmark::ClobberMemory();
  }
  state.counters["users/s"] =
      benchmark::Counter(static_cast<double>(b), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Densify)
    ->ArgNames({"B", "I"})
    ->Args({400, 2810})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Input dropout (p = 0.5, Philox mask) on the B x I noised input, as inside Mlp::forward.
static void BM_Dropout(benchmark::State& state) {
  const CpuBackend::Context ctx;
  const std::int64_t b = state.range(0);
  recdiff::nn::Dropout<CpuBackend, float> dropout(preset().dropout);
  const Matrix x = random_binary_rows(b, state.range(1));
  std::uint32_t counter = 0;
  for (auto _ : state) {
    const Matrix& out = dropout.forward(ctx, x, Pass{true, 1, counter++, {}});
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.counters["users/s"] =
      benchmark::Counter(static_cast<double>(b), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Dropout)
    ->ArgNames({"B", "I"})
    ->Args({400, 2810})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// PredictX0's per-row terms and its fused loss + output gradient.
static void BM_Loss(benchmark::State& state) {
  const CpuBackend::Context ctx;
  const std::int64_t b = state.range(0);
  const auto noise = make_noise();
  const Matrix x0 = random_binary_rows(b, state.range(1));
  const Matrix out = Matrix::Constant(b, state.range(1), 0.1f);
  const auto steps = steps_of(b);
  const std::vector<double> p(static_cast<std::size_t>(b), 1.0);
  CpuBackend::Matrix<double> rows, row_loss;
  Workspace ws;
  Matrix grad;
  for (auto _ : state) {
    recdiff::PredictX0::row_terms<CpuBackend>(ctx, noise, steps, p, true, rows);
    recdiff::PredictX0::loss_and_gradient<CpuBackend, float>(ctx, noise, ws, out, x0, x0, rows,
                                                             row_loss, grad);
    benchmark::DoNotOptimize(grad.data());
    benchmark::ClobberMemory();
  }
  state.counters["users/s"] =
      benchmark::Counter(static_cast<double>(b), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Loss)
    ->ArgNames({"B", "I"})
    ->Args({400, 2810})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// One AdamW update of the model's 3.6 M parameters (gradients as left by a training step).
static void BM_AdamW(benchmark::State& state) {
  const auto items = static_cast<index_t>(state.range(1));
  const auto train = synthetic_train(static_cast<index_t>(state.range(0)), items);
  auto model = recdiff::make_diffrec<CpuBackend>(preset(), items, recdiff::BinaryInput{}, 0);
  std::vector<index_t> users(static_cast<std::size_t>(state.range(0)));
  std::iota(users.begin(), users.end(), index_t{0});
  model.train_batch(train, users, 0);
  const auto params = static_cast<double>(model.diffusion().denoiser().num_parameters());
  for (auto _ : state) {
    model.optimizer().step(model.context());
    benchmark::ClobberMemory();
  }
  // theta, grad, m and v read; theta, m and v written.
  state.SetBytesProcessed(static_cast<std::int64_t>(static_cast<double>(state.iterations()) *
                                                    params * 7 * sizeof(float)));
}
BENCHMARK(BM_AdamW)
    ->ArgNames({"B", "I"})
    ->Args({400, 2810})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const CpuBackend::Context ctx;
  g_peak_gflops =
      recdiff::bench::sgemm_peak_gflops(recdiff::bench::diffrec_reference_gemm(), ctx.threads());
  benchmark::AddCustomContext("recdiff_version", recdiff::version_string);
  benchmark::AddCustomContext("backend", CpuBackend::name);
  benchmark::AddCustomContext("scalar", "float");
  benchmark::AddCustomContext("threads", std::to_string(ctx.threads()));
  // Spinning (the default) or sleeping OpenMP workers: on a shared machine this changes timings
  // several-fold (docs/benchmarks.md).
  const char* wait_policy = std::getenv("OMP_WAIT_POLICY");
  benchmark::AddCustomContext("omp_wait_policy", wait_policy ? wait_policy : "unset");
  benchmark::AddCustomContext("eigen_version", std::to_string(EIGEN_WORLD_VERSION) + "." +
                                                   std::to_string(EIGEN_MAJOR_VERSION) + "." +
                                                   std::to_string(EIGEN_MINOR_VERSION));
  benchmark::AddCustomContext("git_hash_at_configure", RECDIFF_BENCH_GIT_HASH);
  benchmark::AddCustomContext("sgemm_peak_gflops",
                              std::to_string(g_peak_gflops) + " (" +
                                  recdiff::bench::diffrec_reference_gemm().label() +
                                  ", best of 3 medians of 9)");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
