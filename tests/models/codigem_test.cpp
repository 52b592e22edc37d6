// CODIGEM and RecFusion's port: parameter counts (RecFusion's Table 5), the routing of latents to
// networks in the loss (recomputed by hand from the same chain draws), the decoder-only switch,
// scoring, checkpoints, and end-to-end learning against Popularity on clustered toy data.

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <numeric>
#include <vector>

#include <catch2/catch.hpp>

#include "support/toy_data.hpp"
#include "support/toy_recall.hpp"
#include <recdiff/backend/cpu.hpp>
#include <recdiff/baseline/popularity.hpp>
#include <recdiff/error.hpp>
#include <recdiff/eval/diffrec_protocol.hpp>
#include <recdiff/eval/temporal_split.hpp>
#include <recdiff/models/codigem.hpp>
#include <recdiff/train/trainer.hpp>

using recdiff::CpuBackend;
using recdiff::index_t;
using recdiff::ScoreMatrix;
using Mat = CpuBackend::Matrix<float>;

static_assert(recdiff::TrainableModel<recdiff::Codigem<CpuBackend>>);
static_assert(recdiff::TrainableModel<recdiff::CodigemRecFusionPort<CpuBackend>>);

namespace {

std::vector<index_t> iota_users(index_t n) {
  std::vector<index_t> users(static_cast<std::size_t>(n));
  std::iota(users.begin(), users.end(), 0);
  return users;
}

recdiff::CodigemConfig small(bool port) {
  recdiff::CodigemConfig c = recdiff::codigem_preset(port ? "codigem-recfusion" : "codigem");
  c.hidden = 6;
  c.depth = 2;
  c.seed = 3;
  return c;
}

// sum_i s/2 + e^{-s} (z - m)^2 / 2 for out = [m, s], summed over rows, divided by rows.
double nll(const Mat& out, const Mat& z) {
  const auto items = z.cols();
  double sum = 0;
  for (Eigen::Index b = 0; b < z.rows(); ++b)
    for (Eigen::Index i = 0; i < items; ++i) {
      const double m = out(b, i), s = out(b, items + i), d = z(b, i) - m;
      sum += 0.5 * s + 0.5 * std::exp(-s) * d * d;
    }
  return sum / static_cast<double>(z.rows());
}

double reconstruction(const Mat& y, const Mat& x) {
  return 0.5 * (x - y).cast<double>().squaredNorm() / static_cast<double>(x.rows());
}

// The chain latents[0..T] of train_batch(step), drawn with the same kernel and keys.
std::vector<Mat> chain(const recdiff::CodigemConfig& c, const Mat& x, std::uint32_t step) {
  const recdiff::Gaussian one(recdiff::Constant(1, c.beta));
  recdiff::Gaussian::Workspace<CpuBackend, float> ws;
  const CpuBackend::Context ctx(1);
  std::vector<Mat> z{x};
  const std::vector<int> steps(static_cast<std::size_t>(x.rows()), 0);
  const auto count = static_cast<std::uint32_t>(c.steps + 1);
  for (std::uint32_t k = 1; k < count; ++k) {
    Mat next;
    one.q_sample<CpuBackend, float>(
        ctx, z.back(), steps,
        recdiff::NoiseDraw{c.seed, recdiff::philox::Stream::noise, step * count + k, nullptr}, ws,
        next);
    z.push_back(next);
  }
  return z;
}

}  // namespace

TEST_CASE("CODIGEM: parameter counts (RecFusion's Table 5 for the port)", "[codigem]") {
  recdiff::CodigemConfig c = recdiff::codigem_preset("codigem-recfusion");
  CHECK(recdiff::make_codigem_recfusion_port<CpuBackend>(c, 3416, 1).num_parameters() == 5603886);
  // Official: two reverse networks of 683,400 + 1 + 4 x 40,201 + 1,373,232 and a decoder of
  // 683,400 + 1 + 4 x 40,201 + 686,616.
  c = recdiff::codigem_preset("codigem");
  CHECK(recdiff::make_codigem<CpuBackend>(c, 3416, 1).num_parameters() ==
        2 * 2217437 + 1530821);
}

TEST_CASE("CODIGEM: each latent goes to its network and is paired with its target, as coded",
          "[codigem]") {
  const auto train = recdiff::test::matrix_from_rows({{0, 3, 4}, {1, 2}, {5, 6, 7}}, 9);
  const auto users = iota_users(3);
  const std::uint32_t step = 7;
  for (const bool port : {false, true}) {
    INFO("port " << port);
    const recdiff::CodigemConfig c = small(port);
    auto run = [&](auto model) {
      const double loss = model.loss_and_gradients(train, users, step);
      Mat x;
      CpuBackend::densify(model.context(), train, users, x);
      const auto z = chain(c, x, step);
      REQUIRE(z.size() == 4);
      const CpuBackend::Context& ctx = model.context();
      auto& nets = model.step_networks();
      double expected = reconstruction(model.decoder().forward(ctx, z[1]), x);
      if (port) {
        // Step network j on z_j (latents[j + 1]), paired with itself.
        expected += nll(nets[0].forward(ctx, z[1]), z[1]);
        expected += nll(nets[1].forward(ctx, z[2]), z[2]);
      } else {
        // p_2(z_3) paired with z_1, p_1(z_2) paired with z_2.
        expected += nll(nets[1].forward(ctx, z[3]), z[1]);
        expected += nll(nets[0].forward(ctx, z[2]), z[2]);
        // ... and not the "natural" pairing p_2(z_3) with z_3.
        const double natural = reconstruction(model.decoder().forward(ctx, z[1]), x) +
                               nll(nets[1].forward(ctx, z[3]), z[3]) +
                               nll(nets[0].forward(ctx, z[2]), z[2]);
        CHECK(std::abs(natural - expected) > 1e-3);
      }
      CHECK(loss == Approx(expected).epsilon(1e-5));
    };
    if (port)
      run(recdiff::make_codigem_recfusion_port<CpuBackend>(c, 9, 1));
    else
      run(recdiff::make_codigem<CpuBackend>(c, 9, 1));
  }
}

TEST_CASE("CODIGEM: decoder-only training leaves the reverse networks without gradient",
          "[codigem]") {
  const auto train = recdiff::test::matrix_from_rows({{0, 3, 4}, {1, 2}, {5, 6, 7}}, 9);
  const auto users = iota_users(3);
  recdiff::CodigemConfig c = small(false);
  c.decoder_only = true;
  auto model = recdiff::make_codigem<CpuBackend>(c, 9, 1);
  model.loss_and_gradients(train, users, 1);
  for (const auto& p : model.parameters()) {
    INFO(p.name);
    const bool decoder = p.name.rfind("decoder.", 0) == 0;
    CHECK(p.tensor->gradient().isZero() != decoder);
  }
}

TEST_CASE("CODIGEM: scores are the decoder on the noised (or clean) fold-in row", "[codigem]") {
  const auto input = recdiff::test::matrix_from_rows({{0, 3}, {1, 2, 8}}, 9);
  const std::vector<index_t> users{1, 0};
  recdiff::CodigemConfig c = small(false);
  c.noisy_prediction = false;
  auto clean = recdiff::make_codigem<CpuBackend>(c, 9, 1);
  ScoreMatrix scores;
  clean.score(input, users, scores);
  Mat x;
  CpuBackend::densify(clean.context(), input, users, x);
  CHECK((scores - Mat(clean.decoder().forward(clean.context(), x))).cwiseAbs().maxCoeff() < 1e-6);
  c.noisy_prediction = true;
  auto noisy = recdiff::make_codigem<CpuBackend>(c, 9, 1);
  ScoreMatrix a, b, single;
  noisy.score(input, users, a);
  noisy.score(input, users, b);
  CHECK(a == b);  // the noise is keyed by the user, not drawn afresh
  const std::vector<index_t> one{0};
  noisy.score(input, one, single);
  CHECK(single.row(0) == a.row(1));  // ... and independent of the batch
  CHECK((a - scores).cwiseAbs().maxCoeff() > 0);
  CHECK((a - scores).cwiseAbs().maxCoeff() < 0.1);  // noise std 0.01
}

TEST_CASE("CODIGEM: checkpoints round-trip; another optimiser is refused", "[codigem][io]") {
  const auto train = recdiff::test::matrix_from_rows({{0, 3, 4}, {1, 2}, {5, 6, 7}}, 9);
  const auto users = iota_users(3);
  const auto path = std::filesystem::temp_directory_path() / "recdiff_codigem_test.ckpt";
  auto a = recdiff::make_codigem<CpuBackend>(small(false), 9, 1);
  a.train_batch(train, users, 0);
  a.save(path);
  auto b = recdiff::make_codigem<CpuBackend>(small(false), 9, 1);  // untrained
  b.load(path);  // ... now a's parameters and Adamax moments after one step
  CHECK(a.train_batch(train, users, 1) == b.train_batch(train, users, 1));
  auto port = recdiff::make_codigem_recfusion_port<CpuBackend>(small(true), 9, 1);
  REQUIRE_THROWS_AS(port.load(path), recdiff::IoError);
  std::filesystem::remove(path);
}

TEST_CASE("CODIGEM learns the clusters: test recall@20 beats Popularity", "[codigem][e2e]") {
  recdiff::CodigemConfig c = recdiff::codigem_preset("codigem");
  c.hidden = 32;
  c.depth = 2;
  c.lr = 3e-3;
  auto model = recdiff::make_codigem<CpuBackend>(c, recdiff::test::make_toy_data().num_items(), 1);
  const auto [pop, rc] = recdiff::test::toy_recall(model, 30);
  INFO("popularity " << pop << ", CODIGEM " << rc);
  CHECK(rc > pop * 1.2);
}

TEST_CASE("CODIGEM: signed inputs map x to 2x - 1 for the chain, the target and the scores",
          "[codigem]") {
  const auto train = recdiff::test::matrix_from_rows({{0, 3, 4}, {1, 2}, {5, 6, 7}}, 9);
  const auto users = iota_users(3);
  recdiff::CodigemConfig c = small(false);
  c.signed_input = true;
  c.decoder_only = true;
  c.noisy_prediction = false;
  auto model = recdiff::make_codigem<CpuBackend>(c, 9, 1);
  const double loss = model.loss_and_gradients(train, users, 4);
  Mat x;
  CpuBackend::densify(model.context(), train, users, x);
  x = (2.0f * x.array() - 1.0f).matrix();
  const auto z = chain(c, x, 4);
  CHECK(loss == Approx(reconstruction(model.decoder().forward(model.context(), z[1]), x)).epsilon(1e-5));
  ScoreMatrix scores;
  model.score(train, users, scores);
  CHECK((scores - Mat(model.decoder().forward(model.context(), x))).cwiseAbs().maxCoeff() < 1e-6);
}
