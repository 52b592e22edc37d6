// EASE's closed-form fit (Gram matrix from CSR, Cholesky inverse) on ml-1m_clean.
#include <benchmark/benchmark.h>

#include <recdiff/baseline/baseline.hpp>
#include <recdiff/data/data.hpp>

#include "bench_data.hpp"

static void BM_EaseFitMl1m(benchmark::State& state) {
  const auto dir = recdiff::bench::data_path("ml-1m_clean");
  if (!std::filesystem::exists(dir / "train_list.npy")) {
    state.SkipWithError("ml-1m_clean not found (set RECDIFF_DATA_DIR)");
    return;
  }
  const auto split = recdiff::load_diffrec_split(dir);
  for (auto _ : state) {
    recdiff::Ease ease;
    ease.fit(split.train, 1000.0);
    benchmark::DoNotOptimize(ease);
  }
  state.counters["items"] = static_cast<double>(split.train.num_items());
}
BENCHMARK(BM_EaseFitMl1m)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
