// DiffRec assembled from its policies: determinism, the reverse chain, save/load, and learning.
#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/baseline/popularity.hpp>
#include <recdiff/data/synthetic.hpp>
#include <recdiff/eval/diffrec_protocol.hpp>
#include <recdiff/eval/temporal_split.hpp>
#include <recdiff/models/diffrec.hpp>
#include <recdiff/train/trainer.hpp>

#include "nn/gradcheck.hpp"

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
  // coef1_0 = 1 and coef2_0 = 0 (the posterior at the last step), so with T = 1 the score is f(x0, 0) itself.
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
  direct = model.diffusion().denoiser().forward(ctx, x0, nn::Pass{false, 0, 0, steps});
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
  // Equal bounds are caught here, with the values, not later by the schedule.
  c.noise_min = c.noise_max = 0.01;
  REQUIRE_THROWS_WITH(c.validate(), Catch::Contains("noise_min must be smaller than noise_max"));
  c = DiffRecConfig{};
  c.w_min = 0.5;
  c.w_max = 1.5;
  REQUIRE_THROWS_WITH(c.validate(), Catch::Contains("w_max <= 1"));
  REQUIRE_THROWS_WITH(TimeLinearInput(0.5, 1.5), Catch::Contains("w_max <= 1"));
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
  options.stopping.eval_every = 5;
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

TEST_CASE("inference noise is keyed by user: scores do not depend on the batch", "[core]") {
  // T' > 0 and posterior noise: every draw of the chain is keyed by the user id, so a user's
  // scores are the same whichever batch (size 1, 7 or 1024) it is scored in.
  const auto data = small_data(1100, 40);
  DiffRecConfig c = small_config();
  c.sampling_steps = 3;
  c.sampling_noise = true;
  c.noise_scale = 0.1;
  auto model = make_diffrec<CpuBackend>(c, data.train.num_items(), BinaryInput{}, 2);
  const index_t users = data.train.num_users();
  auto scores_in_batches = [&](auto& m, index_t batch) {
    ScoreMatrix all(users, data.train.num_items()), part;
    std::vector<index_t> ids;
    for (index_t begin = 0; begin < users; begin += batch) {
      ids.clear();
      for (index_t u = begin; u < std::min(users, begin + batch); ++u) ids.push_back(u);
      m.score(data.train, ids, part);
      all.middleRows(begin, static_cast<Eigen::Index>(ids.size())) = part;
    }
    return all;
  };
  const ScoreMatrix one = scores_in_batches(model, 1);
  const ScoreMatrix seven = scores_in_batches(model, 7);
  const ScoreMatrix big = scores_in_batches(model, 1024);
  REQUIRE(seven == one);
  REQUIRE(big == one);
  // The start point is noised: the scores differ from those of a clean start.
  DiffRecConfig clean = c;
  clean.sampling_steps = 0;
  clean.sampling_noise = false;
  auto clean_model = make_diffrec<CpuBackend>(clean, data.train.num_items(), BinaryInput{}, 2);
  REQUIRE((scores_in_batches(clean_model, 1024) - one).cwiseAbs().maxCoeff() > 1e-4f);
}

TEST_CASE("the diffusion loss is differentiable in x0 (backward_to_x0 vs finite differences)",
          "[core][gradcheck]") {
  // L-DiffRec's encoders learn through this gradient: the noise path (x_t = a x0 + b eps) plus
  // the x0 objective's target. Double precision, dropout on with a fixed counter.
  using Net = Mlp<CpuBackend, double, Tanh>;
  MlpConfig net;
  net.items = 7;
  net.dims = {5};
  net.emb_size = 4;
  net.dropout = 0.3;
  Diffusion<CpuBackend, Gaussian, DiffRecLinearVar, Net, PredictX0> diffusion(
      DiffRecLinearVar(6, 0.5, 0.01, 0.1), Net(net, 5));
  const CpuBackend::Context ctx(2);
  CpuBackend::Matrix<double> x0 = CpuBackend::Matrix<double>::Random(4, 7);
  const std::vector<int> steps{0, 2, 5, 3};
  const std::vector<double> p{1.0, 0.5, 2.0, 1.0};
  auto loss = [&] {
    diffusion.denoise(ctx, diffusion.noise(ctx, x0, steps, 9), steps, 9);
    return mean_batch_loss(diffusion.loss_terms(ctx, steps, p), p);
  };
  loss();
  const CpuBackend::Matrix<double> grad = diffusion.backward_to_x0(ctx);
  REQUIRE(grad.rows() == 4);
  REQUIRE(test::gradient_error(x0, grad, loss) < test::gradcheck_tolerance);
}

TEST_CASE("checkpoints of the earlier layout load; another optimiser is refused clearly", "[core]") {
  const auto data = small_data();
  auto model = make_diffrec<CpuBackend>(small_config(), data.train.num_items());
  const std::vector<index_t> users{0, 1, 2};
  for (std::uint32_t b = 0; b < 3; ++b) model.train_batch(data.train, users, b);
  ScoreMatrix before, after;
  model.score(data.train, users, before);
  test::TempDir dir;
  {
    // recdiff 0.1's layout: no "optimizer" entry, AdamW state as optimizer.{m,v,step}.<name>.
    CheckpointWriter w;
    w.add_text("model", "DiffRec/x0");
    w.add_text("config", small_config().to_string());
    for (const auto& p : model.parameters()) {
      const auto& v = p.value();
      const auto rows = static_cast<std::uint64_t>(v.rows()), cols = static_cast<std::uint64_t>(v.cols());
      const std::vector<float> zero(rows * cols, 0.0f);
      const double step = 0.0;
      w.add_tensor(p.name, rows, cols, v.data());
      w.add_tensor("optimizer.m." + p.name, rows, cols, zero.data());
      w.add_tensor("optimizer.v." + p.name, rows, cols, zero.data());
      w.add_tensor("optimizer.step." + p.name, 1, 1, &step);
    }
    const std::vector<double> sampler = model.sampler().state();
    w.add_tensor("sampler.state", 1, sampler.size(), sampler.data());
    w.write(dir / "v1.bin");
  }
  auto restored = make_diffrec<CpuBackend>(small_config(), data.train.num_items());
  restored.load(dir / "v1.bin", "DiffRec/x0");
  restored.score(data.train, users, after);
  REQUIRE(after == before);
  {
    CheckpointWriter w;
    w.add_text("model", "DiffRec/x0");
    w.add_text("optimizer", "sgd");
    w.write(dir / "sgd.bin");
  }
  REQUIRE_THROWS_WITH(restored.load(dir / "sgd.bin", "DiffRec/x0"),
                      Catch::Contains("trained with the 'sgd' optimiser") &&
                          Catch::Contains("build the model with that optimiser"));
  restored.score(data.train, users, after);
  REQUIRE(after == before);
}

TEST_CASE("the reverse chain runs on a dense batch as on CSR rows", "[core]") {
  // reverse_chain_dense (a latent matrix in L-DiffRec) on the densified rows equals the CSR chain
  // (plain chain: the CSR path only reads the first step sparsely), up to float rounding.
  const auto data = small_data(60, 50);
  DiffRecConfig c = small_config();
  c.latent_chain = false;
  auto model = make_diffrec<CpuBackend>(c, data.train.num_items(), BinaryInput{}, 1);
  const std::vector<index_t> users{3, 0, 17, 42, 8};
  for (std::uint32_t b = 0; b < 5; ++b) model.train_batch(data.train, users, b);
  const CpuBackend::Context ctx(1);
  CpuBackend::Matrix<float> x0, dense, sparse;
  CpuBackend::densify(ctx, data.train, users, x0);
  model.diffusion().reverse_chain(ctx, data.train, users, UnitValue{}, sparse);
  model.diffusion().reverse_chain_dense(ctx, x0, users, dense);
  REQUIRE(dense.rows() == 5);
  REQUIRE((dense - sparse).cwiseAbs().maxCoeff() <= 1e-5f * sparse.cwiseAbs().maxCoeff());
  REQUIRE_THROWS_WITH(model.diffusion().reverse_chain_dense(ctx, x0, std::vector<index_t>{1}, dense),
                      Catch::Contains("1 row ids for 5 rows"));
}

TEST_CASE("the dense reverse chain runs in the latent space as the plain chain", "[core]") {
  // reverse_chain_dense through LatentReverseChain::run_dense equals the plain dense chain.
  const auto data = small_data(60, 50);
  DiffRecConfig c = small_config();
  auto latent = make_diffrec<CpuBackend>(c, data.train.num_items(), BinaryInput{}, 1);
  c.latent_chain = false;
  auto plain = make_diffrec<CpuBackend>(c, data.train.num_items(), BinaryInput{}, 1);
  const std::vector<index_t> users{3, 0, 17, 42, 8};
  for (std::uint32_t b = 0; b < 5; ++b) {
    latent.train_batch(data.train, users, b);
    plain.train_batch(data.train, users, b);
  }
  const CpuBackend::Context ctx(1);
  CpuBackend::Matrix<float> x0, fast, slow;
  CpuBackend::densify(ctx, data.train, users, x0);
  latent.diffusion().reverse_chain_dense(ctx, x0, users, fast);
  plain.diffusion().reverse_chain_dense(ctx, x0, users, slow);
  REQUIRE(fast.rows() == 5);
  REQUIRE(slow.cwiseAbs().maxCoeff() > 0);
  REQUIRE((fast - slow).cwiseAbs().maxCoeff() <= 1e-5f * slow.cwiseAbs().maxCoeff());
}
