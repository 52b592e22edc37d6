// DiffRec assembled from its policies: determinism, the reverse chain, save/load, and learning.
#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>

#include <recdiff/baseline/popularity.hpp>
#include <recdiff/data/synthetic.hpp>
#include <recdiff/eval/diffrec_protocol.hpp>
#include <recdiff/eval/temporal_split.hpp>
#include <recdiff/models/diffrec.hpp>
#include <recdiff/train/trainer.hpp>

#include "support/shared_data.hpp"

using namespace recdiff;

namespace {

TrainValidTest small_data(index_t users = 300, index_t items = 120) {
  SyntheticConfig c;
  c.users = users;
  c.items = items;
  c.mean_items_per_user = 15;
  c.timestamps = true;
  c.seed = 7;
  return temporal_split(make_synthetic(c));
}

DiffRecConfig small_config() {
  DiffRecConfig c;
  c.dims = {32};
  c.steps = 5;
  c.batch_size = 64;
  c.seed = 3;
  return c;
}

std::vector<double> loss_trajectory(const TrainValidTest& data, int threads, int batches) {
  auto model = make_diffrec<CpuBackend>(small_config(), data.train.num_items(), BinaryInput{}, threads);
  std::vector<index_t> users(64);
  std::vector<double> losses;
  for (int b = 0; b < batches; ++b) {
    for (std::size_t i = 0; i < users.size(); ++i)
      users[i] = static_cast<index_t>((b * 64 + static_cast<int>(i)) % data.train.num_users());
    losses.push_back(model.train_batch(data.train, users, static_cast<std::uint32_t>(b)));
  }
  return losses;
}

}  // namespace

TEST_CASE("same seed gives a bit-identical loss trajectory at 1 and 2 threads", "[core]") {
  const auto data = small_data();
  const auto one = loss_trajectory(data, 1, 30);
  const auto two = loss_trajectory(data, 2, 30);
  REQUIRE(one.size() == 30);
  REQUIRE(std::memcmp(one.data(), two.data(), one.size() * sizeof(double)) == 0);
  // Training makes progress: later losses are lower than the first ones.
  REQUIRE(one.back() < one.front());
}

TEST_CASE("the reverse chain with T' = 0 equals the network at k = 0 after the earlier steps",
          "[core]") {
  // coef1_0 = 1 and coef2_0 = 0 (diffrec.md 5.4), so with T = 1 the score is f(x0, 0) itself.
  const auto data = small_data(40, 30);
  DiffRecConfig c = small_config();
  c.steps = 1;
  c.noise_min = 1e-3;
  c.noise_max = 2e-3;
  auto model = make_diffrec<CpuBackend>(c, data.train.num_items());
  const std::vector<index_t> users{0, 5, 9};
  ScoreMatrix scores;
  model.score(data.train, users, scores);
  CpuBackend::Matrix<float> x0, direct;
  const CpuBackend::Context ctx(1);
  CpuBackend::densify(ctx, data.train, users, x0);
  const std::vector<int> steps(users.size(), 0);
  model.diffusion().denoiser().forward(ctx, x0, steps, false, 0, 0, direct);
  REQUIRE((scores - direct).cwiseAbs().maxCoeff() < 1e-5f);
}

TEST_CASE("save then load gives identical scores; bad files are clear errors", "[core]") {
  const auto data = small_data();
  auto model = make_diffrec<CpuBackend>(small_config(), data.train.num_items());
  const std::vector<index_t> users{0, 1, 2};
  for (std::uint32_t b = 0; b < 5; ++b) model.train_batch(data.train, users, b);
  ScoreMatrix before, after;
  model.score(data.train, users, before);

  test::TempDir dir;
  model.save(dir / "m.bin", "DiffRec/x0", small_config().to_string());
  auto restored = make_diffrec<CpuBackend>(
      DiffRecConfig::from_string(CheckpointReader(dir / "m.bin").text("config")),
      data.train.num_items());
  restored.load(dir / "m.bin", "DiffRec/x0");
  restored.score(data.train, users, after);
  REQUIRE(before == after);
  // Training continues from the same optimiser and sampler state.
  REQUIRE(model.train_batch(data.train, users, 5) == restored.train_batch(data.train, users, 5));

  REQUIRE_THROWS_WITH(restored.load(dir / "m.bin", "T-DiffRec/x0"),
                      Catch::Contains("expected 'T-DiffRec/x0'"));
  DiffRecConfig wider = small_config();
  wider.dims = {48};
  auto other = make_diffrec<CpuBackend>(wider, data.train.num_items());
  REQUIRE_THROWS_WITH(other.load(dir / "m.bin", "DiffRec/x0"), Catch::Contains("has shape"));
  {
    std::fstream f(dir / "m.bin", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x7f');
  }
  REQUIRE_THROWS_AS(restored.load(dir / "m.bin", "DiffRec/x0"), IoError);
  // The failed load left the model as it was: it still scores like the original.
  model.score(data.train, users, before);
  restored.score(data.train, users, after);
  REQUIRE(after == before);
}

TEST_CASE("configuration validation names the bad value", "[core]") {
  DiffRecConfig c;
  c.noise_min = 0.1;
  c.noise_max = 0.01;
  REQUIRE_THROWS_WITH(c.validate(), Catch::Contains("noise_min"));
  c = DiffRecConfig{};
  c.steps = -1;
  REQUIRE_THROWS_WITH(c.validate(), Catch::Contains("steps"));
  REQUIRE_THROWS_WITH(diffrec_preset("ml-2m"), Catch::Contains("unknown preset"));
  const DiffRecConfig p = diffrec_preset("amazon-book_noisy");
  REQUIRE(DiffRecConfig::from_string(p.to_string()).to_string() == p.to_string());
}

TEST_CASE("DiffRec trained on synthetic data beats Popularity by a clear margin", "[core]") {
  SyntheticConfig sc;
  sc.users = 800;
  sc.items = 300;
  sc.mean_items_per_user = 25;
  sc.timestamps = true;
  const auto data = temporal_split(make_synthetic(sc));
  DiffRecConfig c;
  c.dims = {64};
  c.steps = 5;
  c.batch_size = 100;
  c.epochs = 15;
  auto model = make_diffrec<CpuBackend>(c, data.train.num_items());
  TrainerOptions options;
  options.max_epochs = c.epochs;
  options.batch_size = c.batch_size;
  options.eval_every = 5;
  const TrainResult result = Trainer<decltype(model)>(options, Progress::silent()).fit(model, data);
  Popularity pop;
  pop.fit(data.train);
  const auto pop_metrics = evaluate_diffrec_protocol(pop, data);
  INFO("DiffRec test recall@20 " << result.best.test.at("recall@20") << ", Popularity "
                                 << pop_metrics.test.at("recall@20"));
  REQUIRE(result.best_epoch > 0);
  REQUIRE(result.best.test.at("recall@20") > 1.3 * pop_metrics.test.at("recall@20"));
  REQUIRE(result.best.test.at("ndcg@20") > 1.3 * pop_metrics.test.at("ndcg@20"));
}

TEST_CASE("the latent-space reverse chain reproduces the plain chain", "[core]") {
  const auto data = small_data(200, 150);
  for (const bool t_weights : {false, true}) {
    DiffRecConfig c = small_config();
    c.dims = {24, 40};
    c.steps = 8;
    c.noise_scale = 0.1;
    c.noise_min = 0.01;
    c.noise_max = 0.05;
    DiffRecConfig plain_config = c;
    plain_config.latent_chain = false;
    auto run = [&](const DiffRecConfig& config) {
      auto model = make_diffrec<CpuBackend, PredictX0, TimeLinearInput>(
          config, data.train.num_items(),
          t_weights ? TimeLinearInput(0.3, 1.0) : TimeLinearInput(1.0, 1.0), 2);
      std::vector<index_t> users(64);
      for (std::uint32_t b = 0; b < 20; ++b) {
        for (std::size_t i = 0; i < users.size(); ++i)
          users[i] = static_cast<index_t>((b * 64 + i) % static_cast<std::size_t>(data.train.num_users()));
        model.train_batch(data.train, users, b);
      }
      std::vector<index_t> all(static_cast<std::size_t>(data.train.num_users()));
      for (std::size_t u = 0; u < all.size(); ++u) all[u] = static_cast<index_t>(u);
      ScoreMatrix scores;
      model.score(data.train, all, scores);
      return scores;
    };
    const ScoreMatrix latent = run(c);
    const ScoreMatrix plain = run(plain_config);
    REQUIRE(latent.rows() == plain.rows());
    const float scale = plain.cwiseAbs().maxCoeff();
    REQUIRE((latent - plain).cwiseAbs().maxCoeff() < 1e-4f * scale);
  }
}
