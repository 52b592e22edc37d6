// L-DiffRec / LT-DiffRec: the released code's shapes and parameter count, the joint gradient of the
// composite (VAE + latent diffusion + decoder) by finite differences, the anneals, checkpoints and
// end-to-end learning on clustered toy data.

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <numeric>
#include <vector>

#include "support/shared_data.hpp"
#include "support/toy_data.hpp"
#include "support/toy_recall.hpp"
#include <recdiff/backend/cpu.hpp>
#include <recdiff/error.hpp>
#include <recdiff/models/ldiffrec.hpp>
#include <recdiff/sampler/uniform.hpp>

using recdiff::CpuBackend;
using recdiff::index_t;
using recdiff::ItemClusters;
using recdiff::LDiffRecConfig;

namespace {

// Items 0 .. first-1 in cluster 0, the rest in cluster 1.
ItemClusters two_blocks(int items, int first) {
  std::vector<index_t> labels(static_cast<std::size_t>(items), 1);
  for (int i = 0; i < first; ++i) labels[static_cast<std::size_t>(i)] = 0;
  return ItemClusters(labels, 2);
}

// Items alternate between the clusters, so the permutation is not the identity.
ItemClusters interleaved(int items, int clusters) {
  std::vector<index_t> labels(static_cast<std::size_t>(items));
  for (int i = 0; i < items; ++i) labels[static_cast<std::size_t>(i)] = (i * 7 + 3) % clusters;
  return ItemClusters(labels, clusters);
}

LDiffRecConfig tiny_config() {
  LDiffRecConfig c;
  c.latent = 6;
  c.mlp_dims = {5};
  c.emb_size = 4;
  c.steps = 5;
  c.noise_scale = 0.1;
  c.noise_min = 1e-2;
  c.noise_max = 5e-2;
  c.lambda = 0.5;             // a diffusion term that shows in the loss
  c.kl_anneal_batches = 0;    // beta = kl_cap from the first batch: the KL's gradient is checked
  c.vae_dropout = 0.2;
  c.mlp_dropout = 0.3;
  return c;
}

// Central differences of loss_and_gradients over a few entries of every parameter, against the
// analytic gradient: mlpack's ||g - g_fd|| / ||g + g_fd|| per tensor.
template <class Model>
void check_joint_gradient(Model& model, const recdiff::InteractionMatrix& train,
                          const std::vector<index_t>& users) {
  constexpr double h = 1e-6;
  constexpr std::uint32_t step = 3;
  model.loss_and_gradients(train, users, step);
  const auto& params = model.parameters();
  std::vector<CpuBackend::Matrix<double>> grads;
  for (const auto& p : params) grads.push_back(p.tensor->gradient());
  for (std::size_t t = 0; t < params.size(); ++t) {
    auto& value = params[t].value();
    double diff = 0, sum = 0;
    const std::int64_t n = value.size();
    for (std::int64_t k = 0; k < n; k += std::max<std::int64_t>(1, n / 7)) {
      const double saved = value.data()[k];
      value.data()[k] = saved + h;
      const double up = model.loss_and_gradients(train, users, step);
      value.data()[k] = saved - h;
      const double down = model.loss_and_gradients(train, users, step);
      value.data()[k] = saved;
      const double fd = (up - down) / (2 * h);
      const double g = grads[t].data()[k];
      diff += (g - fd) * (g - fd);
      sum += (g + fd) * (g + fd);
    }
    INFO(params[t].name << ": |g - fd| = " << std::sqrt(diff) << ", |g + fd| = " << std::sqrt(sum));
    CHECK(std::sqrt(sum) > 0);
    CHECK(std::sqrt(diff) <= 1e-5 * std::sqrt(sum) + 1e-9);
  }
}

}  // namespace

TEST_CASE("L-DiffRec splits the latent space by cluster size as the released code", "[ldiffrec]") {
  const std::vector<index_t> ml1m{1850, 960};
  CHECK(recdiff::ldiffrec_latent_sizes(ml1m, 300) == std::vector<int>{197, 103});
  const std::vector<index_t> tiny_first{1, 999, 1000};
  CHECK(recdiff::ldiffrec_latent_sizes(tiny_first, 300) == std::vector<int>{1, 149, 150});
  const std::vector<index_t> one{2810};
  CHECK(recdiff::ldiffrec_latent_sizes(one, 300) == std::vector<int>{300});
  const std::vector<index_t> many{1, 1, 1};
  CHECK_THROWS_AS(recdiff::ldiffrec_latent_sizes(many, 2), std::invalid_argument);
}

TEST_CASE("L-DiffRec has the paper's 1,956,780 parameters on ml-1m_clean's shapes", "[ldiffrec]") {
  recdiff::LDiffRec<CpuBackend> model(recdiff::ldiffrec_preset("ml-1m_clean"), two_blocks(2810, 1850),
                                      {}, 1);
  CHECK(model.latent_sizes() == std::vector<int>{197, 103});
  // Encoders 1850 -> 394 and 960 -> 206, decoder 300 -> 2810; MLP 310 -> 300 -> 300, emb 10 -> 10.
  CHECK(recdiff::nn::count_scalars(model.vae_parameters()) ==
        (1850 * 394 + 394) + (960 * 206 + 206) + (300 * 2810 + 2810));
  CHECK(recdiff::nn::count_scalars(model.mlp_parameters()) == 310 * 300 + 300 + 300 * 300 + 300 + 110);
  CHECK(model.num_parameters() == 1956780);
}

TEST_CASE("L-DiffRec's joint gradient matches finite differences", "[ldiffrec][gradcheck]") {
  const auto train = recdiff::test::make_toy_data();
  const std::vector<index_t> users{0, 5, 17, 42};
  const ItemClusters clusters = interleaved(static_cast<int>(train.num_items()), 2);
  SECTION("binary input (L-DiffRec)") {
    recdiff::LatentDiffRec<CpuBackend, recdiff::PredictX0, recdiff::BinaryInput,
                           recdiff::UniformSampler, double>
        model(tiny_config(), clusters, {}, 2);
    check_joint_gradient(model, train, users);
  }
  SECTION("time-weighted input (LT-DiffRec), three clusters") {
    LDiffRecConfig c = tiny_config();
    c.clusters = 3;
    c.w_min = 0.2;
    c.w_max = 1.0;
    recdiff::LatentDiffRec<CpuBackend, recdiff::PredictX0, recdiff::TimeLinearInput,
                           recdiff::UniformSampler, double>
        model(c, interleaved(static_cast<int>(train.num_items()), 3),
              recdiff::TimeLinearInput(0.2, 1.0), 2);
    check_joint_gradient(model, train, users);
  }
}

TEST_CASE("L-DiffRec anneals lambda per epoch and the KL weight per batch", "[ldiffrec]") {
  LDiffRecConfig c = recdiff::ldiffrec_preset("ml-1m_clean");
  CHECK(c.lambda_at(0) == Approx(0.03));
  CHECK(c.lambda_at(100) == Approx(0.8 * 0.03));
  CHECK(c.lambda_at(499) == Approx(0.005));  // (1 - 499/500) 0.03 = 6e-5 < the floor
  CHECK(c.kl_weight_at(0) == 0.0);
  CHECK(c.kl_weight_at(30) == Approx(0.15));
  CHECK(c.kl_weight_at(1000) == Approx(0.3));

  const auto train = recdiff::test::make_toy_data();
  LDiffRecConfig t = tiny_config();
  t.kl_anneal_batches = 200;
  recdiff::LDiffRec<CpuBackend> model(t, interleaved(static_cast<int>(train.num_items()), 2), {}, 1);
  std::vector<index_t> users(20);
  std::iota(users.begin(), users.end(), 0);
  model.train_batch(train, users, 0);
  model.train_batch(train, users, 1);
  CHECK(model.updates() == 2);
  CHECK(model.kl_weight() == Approx(2.0 / 200));
  model.end_epoch();
  CHECK(model.lambda() == Approx((1 - 1.0 / 500) * 0.5));
}

TEST_CASE("L-DiffRec rejects mismatched settings", "[ldiffrec]") {
  const ItemClusters clusters = two_blocks(20, 8);
  LDiffRecConfig c = tiny_config();
  c.clusters = 3;
  CHECK_THROWS_AS(recdiff::LDiffRec<CpuBackend>(c, clusters), std::invalid_argument);
  c = tiny_config();
  c.w_min = 0.1;
  c.w_max = 1;
  CHECK_THROWS_AS(recdiff::LDiffRec<CpuBackend>(c, clusters), std::invalid_argument);
  CHECK_THROWS_AS(recdiff::LTDiffRec<CpuBackend>(c, clusters, recdiff::TimeLinearInput(0.2, 1)),
                  std::invalid_argument);
  c = tiny_config();
  c.latent = 1;
  CHECK_THROWS_AS(c.validate(), std::invalid_argument);
  c = tiny_config();
  c.noise_min = c.noise_max;
  CHECK_THROWS_AS(c.validate(), std::invalid_argument);
  CHECK_THROWS_AS(recdiff::ldiffrec_preset("ml-10m"), std::invalid_argument);
  recdiff::LDiffRec<CpuBackend> model(tiny_config(), clusters, {}, 1);
  const auto other = recdiff::test::make_toy_data();  // 120 items, not 20
  const std::vector<index_t> users{0, 1};
  CHECK_THROWS_AS(model.train_batch(other, users, 0), std::invalid_argument);
}

TEST_CASE("L-DiffRec's configuration round-trips through text", "[ldiffrec]") {
  LDiffRecConfig c = recdiff::ldiffrec_preset("lt-yelp_clean");
  c.mlp_dims = {300, 200};
  c.kl_cap = 0.25;
  const LDiffRecConfig back = LDiffRecConfig::from_string(c.to_string());
  CHECK(back.to_string() == c.to_string());
  CHECK(back.batch_size == 200);
  CHECK(back.w_min == 0.5);
  CHECK(back.mlp_dims == std::vector<int>{300, 200});
  CHECK_THROWS_AS(LDiffRecConfig::from_string("colour=blue\n"), std::invalid_argument);
  CHECK_THROWS_AS(LDiffRecConfig::from_string("lr1=fast\n"), std::invalid_argument);
}

TEST_CASE("L-DiffRec checkpoints restore the scores and refuse other clusters", "[ldiffrec]") {
  const auto train = recdiff::test::make_toy_data();
  const int items = static_cast<int>(train.num_items());
  std::vector<index_t> users(40);
  std::iota(users.begin(), users.end(), 0);
  recdiff::LDiffRec<CpuBackend> model(tiny_config(), interleaved(items, 2), {}, 1);
  for (std::uint32_t s = 0; s < 3; ++s) model.train_batch(train, users, s);
  model.end_epoch();
  recdiff::ScoreMatrix before;
  model.score(train, users, before);
  const recdiff::test::TempDir dir;
  const auto path = dir.path() / "ldiffrec.ckpt";
  model.save(path);

  recdiff::LDiffRec<CpuBackend> fresh(tiny_config(), interleaved(items, 2), {}, 1);
  fresh.load(path);
  recdiff::ScoreMatrix after;
  fresh.score(train, users, after);
  CHECK(after == before);
  CHECK(fresh.epochs_done() == 1);
  CHECK(fresh.updates() == 3);

  recdiff::LDiffRec<CpuBackend> other(tiny_config(), two_blocks(items, 60), {}, 1);
  recdiff::ScoreMatrix other_before, other_after;
  other.score(train, users, other_before);
  CHECK_THROWS_AS(other.load(path), recdiff::IoError);
  other.score(train, users, other_after);
  CHECK(other_after == other_before);
}

TEST_CASE("L-DiffRec learns the toy clusters beyond popularity", "[ldiffrec][learning]") {
  const auto train = recdiff::test::make_toy_data();
  LDiffRecConfig c;
  c.latent = 32;
  c.mlp_dims = {32};
  c.steps = 10;
  c.lr1 = 1e-2;
  c.lr2 = 1e-2;
  recdiff::LDiffRec<CpuBackend> model(c, interleaved(static_cast<int>(train.num_items()), 2), {}, 2);
  const auto [pop, ldiffrec] = recdiff::test::toy_recall(model, 20);
  INFO("popularity " << pop << ", L-DiffRec " << ldiffrec);
  CHECK(ldiffrec > pop * 1.2);
}

TEST_CASE("L-DiffRec's CSR encoder path equals the dense one", "[ldiffrec]") {
  // Binary rows take the CSR path; time weights w_min = w_max = 1 give the same rows through the
  // dense column blocks and nn::Dropout. Same seeds: the same losses and scores up to rounding.
  const auto train = recdiff::test::make_toy_data();
  const ItemClusters clusters = interleaved(static_cast<int>(train.num_items()), 2);
  LDiffRecConfig c = tiny_config();
  recdiff::LDiffRec<CpuBackend> sparse(c, clusters, {}, 1);
  c.w_min = 1.0;
  c.w_max = 1.0;
  recdiff::LTDiffRec<CpuBackend> dense(c, clusters, recdiff::TimeLinearInput(1.0, 1.0), 1);
  std::vector<index_t> users(30);
  std::iota(users.begin(), users.end(), 5);
  for (std::uint32_t s = 0; s < 3; ++s) {
    const double a = sparse.train_batch(train, users, s);
    const double b = dense.train_batch(train, users, s);
    INFO("step " << s << ": CSR path " << a << ", dense path " << b);
    CHECK(a == Approx(b).epsilon(1e-5));
  }
  recdiff::ScoreMatrix x, y;
  sparse.score(train, users, x);
  dense.score(train, users, y);
  CHECK((x - y).cwiseAbs().maxCoeff() <= 1e-4f * y.cwiseAbs().maxCoeff());
}
