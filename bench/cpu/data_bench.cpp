// Loading DiffRec's ml-1m_clean split (.npy through the streaming reader) and MovieLens-100K text.
#include <benchmark/benchmark.h>

#include <recdiff/data/data.hpp>

#include "bench_data.hpp"

static void BM_LoadDiffRecSplit(benchmark::State& state) {
  const auto dir = recdiff::bench::data_path("ml-1m_clean");
  if (!std::filesystem::exists(dir / "train_list.npy")) {
    state.SkipWithError("ml-1m_clean not found (set RECDIFF_DATA_DIR)");
    return;
  }
  std::int64_t nnz = 0;
  for (auto _ : state) {
    const auto split = recdiff::load_diffrec_split(dir);
    nnz = split.train.nnz() + split.valid.nnz() + split.test.nnz();
    benchmark::DoNotOptimize(nnz);
  }
  state.counters["interactions/s"] =
      benchmark::Counter(static_cast<double>(nnz), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_LoadDiffRecSplit)->Unit(benchmark::kMillisecond);

static void BM_LoadMl100k(benchmark::State& state) {
  const auto file = recdiff::bench::data_path("ml-100k/u.data");
  if (!std::filesystem::exists(file)) {
    state.SkipWithError("ml-100k/u.data not found (set RECDIFF_DATA_DIR)");
    return;
  }
  for (auto _ : state) {
    auto data = recdiff::load_ratings(file, recdiff::Format::ml100k);
    benchmark::DoNotOptimize(data.matrix.nnz());
  }
  state.counters["lines/s"] =
      benchmark::Counter(100000.0, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_LoadMl100k)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
