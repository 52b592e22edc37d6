// One full evaluation pass: top-K over all items for every user, train items masked, from a given
// score block (the scorer returns precomputed random scores, so only ranking and metrics are timed).
#include <benchmark/benchmark.h>

#include <recdiff/data/data.hpp>
#include <recdiff/eval/eval.hpp>
#include <recdiff/math/philox.hpp>

#include "bench_data.hpp"

namespace {

// Scores are a fixed function of (user, item), generated on the fly: no users x items matrix.
struct HashScorer {
  void score(const recdiff::InteractionMatrix& input, std::span<const recdiff::index_t> users,
             recdiff::ScoreMatrix& out) const {
    out.resize(static_cast<Eigen::Index>(users.size()), input.num_items());
    for (Eigen::Index r = 0; r < out.rows(); ++r)
      for (Eigen::Index c = 0; c < out.cols(); ++c)
        out(r, c) = recdiff::philox::uniform(1, recdiff::philox::Stream::user, 0,
                                             static_cast<std::uint32_t>(users[r]),
                                             static_cast<std::uint32_t>(c));
  }
};

// Returns a block computed once (the pass then measures ranking only).
struct FixedScorer {
  recdiff::ScoreMatrix block;
  void score(const recdiff::InteractionMatrix&, std::span<const recdiff::index_t> users,
             recdiff::ScoreMatrix& out) const {
    out = block.topRows(static_cast<Eigen::Index>(users.size()));
  }
};

void run(benchmark::State& state, const recdiff::TrainValidTest& split, std::vector<recdiff::index_t> ks) {
  recdiff::EvalOptions options;
  options.ks = std::move(ks);
  options.batch_size = 1024;
  FixedScorer scorer;
  HashScorer().score(split.train,
                     std::vector<recdiff::index_t>(static_cast<std::size_t>(options.batch_size), 0),
                     scorer.block);
  const recdiff::EvalTask task{{split.train}, split.test, recdiff::Averaging::all_users};
  const recdiff::Evaluator evaluator(options);
  for (auto _ : state) {
    auto metrics = evaluator.evaluate(scorer, split.train, task);
    benchmark::DoNotOptimize(metrics);
  }
  state.counters["users/s"] = benchmark::Counter(static_cast<double>(split.train.num_users()),
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

static void BM_EvalPassMl1m(benchmark::State& state) {
  const auto dir = recdiff::bench::data_path("ml-1m_clean");
  if (!std::filesystem::exists(dir / "train_list.npy")) {
    state.SkipWithError("ml-1m_clean not found (set RECDIFF_DATA_DIR)");
    return;
  }
  const auto split = recdiff::load_diffrec_split(dir);
  run(state, split, {static_cast<recdiff::index_t>(state.range(0))});
}
BENCHMARK(BM_EvalPassMl1m)->ArgName("K")->Arg(20)->Arg(100)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_EvalPassSynthetic(benchmark::State& state) {
  recdiff::SyntheticConfig config;
  config.users = 6000;
  config.items = 3000;
  config.timestamps = true;
  const auto split = recdiff::temporal_split(recdiff::make_synthetic(config));
  run(state, split, {20});
}
BENCHMARK(BM_EvalPassSynthetic)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
