// One training step of a first layer over item vectors (nn::InputLinear, float, no step input:
// RecFusionBin's first layer, hidden 200, ML-1M's 3,416 items, batch 200): forward + backward with
// the gradients cleared first, on
//   - the dense path: the batch's CSR rows densified (B x I), forward() and backward(), i.e. the
//     GEMMs x W_x^T (B x I x h) and X^T dY (I x B x h);
//   - the sparse path: forward_sparse() in a training pass (sparse_times, plus the batch's columns
//     built on the host) and backward() (sparse_transpose_times), O(nnz h).
// Densities 0.047 (ML-1M's mean activity), 0.01 and 0.1 (Bernoulli rows, fixed seed), 1 and 2
// threads. Each step also computes the bias gradient; no input gradient is asked for (the first
// layer's input is data). Ratio = dense time / sparse time at the same density and thread count.
// BM_Densify times the densification alone, which the dense step includes (a training step that
// densifies pays it; subtract it for the GEMMs alone).
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/nn/init.hpp>
#include <recdiff/nn/input_linear.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>
#include <recdiff/version.hpp>

namespace {

using recdiff::CpuBackend;
using recdiff::index_t;
using Matrix = CpuBackend::Matrix<float>;
using Layer = recdiff::nn::InputLinear<CpuBackend, float, recdiff::Identity>;

constexpr int kItems = 3416;
constexpr int kHidden = 200;
constexpr index_t kBatch = 200;

// A batch-local matrix: row b is batch row b, each item kept with probability `density`.
recdiff::InteractionMatrix batch_rows(double density, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::bernoulli_distribution keep(density);
  std::vector<recdiff::offset_t> offsets{0};
  std::vector<index_t> indices;
  for (index_t b = 0; b < kBatch; ++b) {
    for (index_t i = 0; i < kItems; ++i)
      if (keep(rng)) indices.push_back(i);
    offsets.push_back(static_cast<recdiff::offset_t>(indices.size()));
  }
  return recdiff::InteractionMatrix(kBatch, kItems, std::move(offsets), std::move(indices));
}

struct Setup {
  CpuBackend::Context ctx;
  recdiff::InteractionMatrix rows;
  std::vector<index_t> users;
  Layer layer{kItems, kHidden};
  Matrix dy;

  explicit Setup(const benchmark::State& state)
      : ctx(static_cast<int>(state.range(1))),
        rows(batch_rows(static_cast<double>(state.range(0)) / 1000.0, 7)),
        users(static_cast<std::size_t>(kBatch)) {
    for (index_t b = 0; b < kBatch; ++b) users[static_cast<std::size_t>(b)] = b;
    layer.initialize(ctx, recdiff::nn::Init::xavier_zero_bias, 1, 0, 1);
    dy = Matrix::Constant(kBatch, kHidden, 1e-3f);
  }
};

void set_counters(benchmark::State& state, const Setup& s) {
  state.counters["nnz_per_row"] =
      static_cast<double>(s.rows.nnz()) / static_cast<double>(kBatch);
  state.counters["rows_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * kBatch, benchmark::Counter::kIsRate);
}

}  // namespace

// Dense path: densify the CSR batch, forward(), backward().
static void BM_FirstLayerStepDense(benchmark::State& state) {
  Setup s(state);
  const auto params = recdiff::nn::parameters_of(s.layer);
  const recdiff::nn::Pass pass{true, 1, 0, {}};
  Matrix x;
  for (auto _ : state) {
    recdiff::nn::zero_grad(params);
    CpuBackend::densify(s.ctx, s.rows, s.users, x);
    const Matrix& y = s.layer.forward(s.ctx, x, pass);
    s.layer.backward(s.ctx, s.dy, false);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, s);
}

// Sparse path: forward_sparse() in a training pass, backward().
static void BM_FirstLayerStepSparse(benchmark::State& state) {
  Setup s(state);
  const auto params = recdiff::nn::parameters_of(s.layer);
  const recdiff::nn::Pass pass{true, 1, 0, {}};
  for (auto _ : state) {
    recdiff::nn::zero_grad(params);
    const Matrix& y = s.layer.forward_sparse(s.ctx, s.rows, s.users, recdiff::UnitValue{}, pass);
    s.layer.backward(s.ctx, s.dy, false);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, s);
}

// The densification alone (part of the dense step).
static void BM_Densify(benchmark::State& state) {
  Setup s(state);
  Matrix x;
  for (auto _ : state) {
    CpuBackend::densify(s.ctx, s.rows, s.users, x);
    benchmark::DoNotOptimize(x.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, s);
}

// density in thousandths: 47 (ML-1M's mean activity 0.047), 10, 100; threads 1 and 2.
#define RECDIFF_SPARSE_INPUT_ARGS(bm)                                                       \
  BENCHMARK(bm)                                                                             \
      ->ArgNames({"density_permille", "threads"})                                           \
      ->ArgsProduct({{10, 47, 100}, {1, 2}})                                                \
      ->UseRealTime()                                                                       \
      ->Unit(benchmark::kMicrosecond)

RECDIFF_SPARSE_INPUT_ARGS(BM_FirstLayerStepDense);
RECDIFF_SPARSE_INPUT_ARGS(BM_FirstLayerStepSparse);
RECDIFF_SPARSE_INPUT_ARGS(BM_Densify);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("recdiff_version", recdiff::version_string);
  benchmark::AddCustomContext("backend", CpuBackend::name);
  benchmark::AddCustomContext("scalar", "float");
  benchmark::AddCustomContext("shape", "B 200, I 3416, hidden 200, no step input");
  const char* wait_policy = std::getenv("OMP_WAIT_POLICY");
  benchmark::AddCustomContext("omp_wait_policy", wait_policy ? wait_policy : "unset");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
