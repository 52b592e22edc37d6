// Mult-VAE and Mult-DAE: the Gaussian latent layer, finite-difference checks of the whole training
// loss in double, end-to-end training on clustered toy data, checkpoints, configuration errors.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "nn/gradcheck.hpp"
#include "nn/module_check.hpp"
#include "nn/module_test_util.hpp"
#include "support/shared_data.hpp"
#include "support/toy_data.hpp"
#include "support/toy_recall.hpp"
#include <recdiff/backend/cpu.hpp>
#include <recdiff/baseline/popularity.hpp>
#include <recdiff/concepts/module.hpp>
#include <recdiff/error.hpp>
#include <recdiff/eval/diffrec_protocol.hpp>
#include <recdiff/eval/temporal_split.hpp>
#include <recdiff/models/mult_dae.hpp>
#include <recdiff/models/mult_vae.hpp>
#include <recdiff/nn/gaussian_latent.hpp>
#include <recdiff/train/trainer.hpp>

using recdiff::CpuBackend;
using recdiff::index_t;
using recdiff::ScoreMatrix;
using recdiff::test::Mat;
using recdiff::test::random_matrix;
template <class T>
using Latent = recdiff::nn::GaussianLatent<CpuBackend, T>;

static_assert(recdiff::Module<Latent<double>, CpuBackend>);
static_assert(recdiff::Module<recdiff::ItemFeedForward<CpuBackend, double>, CpuBackend>);
static_assert(recdiff::Module<recdiff::MultVAENetwork<CpuBackend, double>, CpuBackend>);
static_assert(recdiff::TrainableModel<recdiff::MultVAE<CpuBackend>>);
static_assert(recdiff::TrainableModel<recdiff::MultDAE<CpuBackend>>);

namespace {

std::vector<index_t> iota_users(index_t n) {
  std::vector<index_t> users(static_cast<std::size_t>(n));
  std::iota(users.begin(), users.end(), 0);
  return users;
}

// Ten items, five users (one without interactions).
recdiff::InteractionMatrix tiny_train() {
  return recdiff::test::matrix_from_rows({{0, 3, 4}, {1, 2}, {}, {5, 6, 7, 9}, {0, 8}}, 10);
}

recdiff::MultVAEConfig small_vae() {
  recdiff::MultVAEConfig c;
  c.dims = {6, 3};
  c.beta_cap = 0.8;
  c.anneal_steps = 0;  // beta = 0.8 from the start
  c.weight_decay = 0.03;
  c.seed = 11;
  c.threads = 1;
  return c;
}

recdiff::MultDAEConfig small_dae() {
  recdiff::MultDAEConfig c;
  c.dims = {6, 3};
  c.weight_decay = 0.03;
  c.seed = 11;
  c.threads = 1;
  return c;
}

// Compares the gradient the model leaves in every parameter with central differences of its loss.
template <class Model>
void check_whole_loss(Model& model) {
  const auto train = tiny_train();
  const auto users = iota_users(train.num_users());
  const std::uint32_t step = 5;
  model.loss_and_gradients(train, users, step);
  const auto& params = model.core().parameters();
  std::vector<Mat<double>> analytic;
  for (const auto& p : params) analytic.push_back(p.tensor->gradient());
  for (std::size_t k = 0; k < params.size(); ++k) {
    const double error = recdiff::test::gradient_error(params[k].value(), analytic[k], [&] {
      return model.loss_and_gradients(train, users, step);
    });
    INFO("parameter " << params[k].name << ": relative error " << error);
    CHECK(error < recdiff::test::gradcheck_tolerance);
    CHECK(!analytic[k].isZero());
  }
}

ScoreMatrix all_scores(auto& model, const recdiff::InteractionMatrix& input) {
  const auto users = iota_users(input.num_users());
  ScoreMatrix out;
  model.score(input, users, out);
  return out;
}

}  // namespace

TEST_CASE("GaussianLatent: KL of a hand-computed row, z = mean outside training",
          "[models][latent]") {
  CpuBackend::Context ctx(1);
  Latent<double> latent(2);
  Mat<double> h(1, 4);
  h << 0.5, -1, 0, std::log(2.0);  // m = (0.5, -1), s = (0, ln 2)
  const Mat<double> z = latent.forward(ctx, h);
  CHECK(z(0, 0) == 0.5);
  CHECK(z(0, 1) == -1);
  // (1/2) [(-0 + 1 + 0.25 - 1) + (-ln 2 + 2 + 1 - 1)] = (2.25 - ln 2) / 2.
  CHECK(latent.kl_sum(ctx) == Approx((2.25 - std::log(2.0)) / 2).epsilon(1e-14));
  CHECK(latent.row_kl()(0, 0) == Approx(0.778426409720027).epsilon(1e-12));
  REQUIRE_THROWS_AS(latent.forward(ctx, Mat<double>::Zero(1, 3)), std::invalid_argument);
  REQUIRE_THROWS_AS(latent.set_kl_weight(-1), std::invalid_argument);
  REQUIRE_THROWS_AS(Latent<double>(0), std::invalid_argument);
}

TEST_CASE("GaussianLatent: reparameterised samples are N(m, e^s), keyed by the counter",
          "[models][latent]") {
  CpuBackend::Context one(1), two(2);
  const std::int64_t rows = 400, k = 50;
  Mat<float> h(rows, 2 * k);
  h.leftCols(k).setConstant(1.5f);
  h.rightCols(k).setConstant(std::log(4.0f));  // standard deviation 2
  Latent<float> a(static_cast<int>(k)), b(static_cast<int>(k));
  const auto pass = recdiff::test::training_pass(9, 3);
  const Mat<float> za = a.forward(one, h, pass);
  const Mat<float> zb = b.forward(two, h, pass);
  CHECK(za == zb);
  const Eigen::ArrayXXd eps = (za.cast<double>().array() - 1.5) / 2.0;
  const double mean = eps.mean();
  const double var = (eps - mean).square().mean();
  CHECK(std::abs(mean) < 0.02);
  CHECK(var == Approx(1.0).margin(0.03));
  auto other = pass;
  other.counter = 10;
  CHECK(b.forward(one, h, other) != za);
}

TEST_CASE("GaussianLatent: backward is the exact derivative, KL term included (double)",
          "[models][latent][gradcheck]") {
  Latent<double> latent(5);
  const Mat<double> h = random_matrix<double>(4, 10, 21);
  // Without the KL term, in a training pass (fixed noise) and in an evaluation pass.
  recdiff::test::require_gradients<double>(
      recdiff::test::check_module(latent, h, recdiff::test::training_pass()), 0);
  recdiff::test::require_gradients<double>(recdiff::test::check_module(latent, h), 0);
  // loss = sum(z .* r) + w sum_b KL_b.
  CpuBackend::Context ctx(2);
  const double w = 0.37;
  latent.set_kl_weight(w);
  const auto pass = recdiff::test::training_pass(4);
  const Mat<double> r = random_matrix<double>(4, 5, 22);
  Mat<double> x = h;
  latent.forward(ctx, x, pass);
  const Mat<double> analytic = *latent.backward(ctx, r, true);
  const double error = recdiff::test::gradient_error(x, analytic, [&] {
    const Mat<double>& z = latent.forward(ctx, x, pass);
    return z.cwiseProduct(r).sum() + w * latent.kl_sum(ctx);
  });
  CHECK(error < recdiff::test::gradcheck_tolerance);
}

TEST_CASE(
    "MultVAE: gradient of the whole loss (multinomial + beta KL + L2) w.r.t. every "
    "parameter, double",
    "[models][multvae][gradcheck]") {
  recdiff::MultVAE<CpuBackend, double> model(small_vae(), 10);
  REQUIRE(model.core().parameters().size() == 8);
  CHECK(model.core().parameters()[0].name == "encoder.0.weight.items_t");
  CHECK(model.core().parameters()[7].name == "decoder.1.bias");
  check_whole_loss(model);
  // A one-layer encoder (I -> 2 x latent, linear) and decoder (latent -> I).
  auto config = small_vae();
  config.dims = {4};
  recdiff::MultVAE<CpuBackend, double> flat(config, 10);
  check_whole_loss(flat);
}

TEST_CASE("MultDAE: gradient of the whole loss (multinomial + L2) w.r.t. every parameter, double",
          "[models][multdae][gradcheck]") {
  recdiff::MultDAE<CpuBackend, double> model(small_dae(), 10);
  REQUIRE(model.core().parameters().size() == 8);  // 10 -> 6 -> 3 -> 6 -> 10
  check_whole_loss(model);
  auto config = small_dae();
  config.dims = {4};
  recdiff::MultDAE<CpuBackend, double> shallow(config, 10);
  REQUIRE(shallow.core().parameters().size() == 4);
  check_whole_loss(shallow);
}

TEST_CASE("MultVAE: the loss is NLL + beta mean KL + lambda sum W^2", "[models][multvae]") {
  const auto train = tiny_train();
  const auto users = iota_users(train.num_users());
  auto plain = small_vae();
  plain.beta_cap = 0;
  plain.weight_decay = 0;
  recdiff::MultVAE<CpuBackend, double> base(plain, 10), kl(small_vae(), 10);
  const double nll = base.loss_and_gradients(train, users, 2);
  const double mean_kl = base.core().network().latent().kl_sum(base.core().context()) / 5.0;
  double squares = 0;
  for (const auto& p : base.core().parameters())
    if (p.name.find("bias") == std::string::npos) squares += p.value().squaredNorm();
  CHECK(kl.loss_and_gradients(train, users, 2) ==
        Approx(nll + 0.8 * mean_kl + 0.03 * squares).epsilon(1e-12));
}

TEST_CASE("MultVAE: beta anneals linearly to the cap", "[models][multvae]") {
  recdiff::MultVAEConfig config;
  config.beta_cap = 0.3;
  config.anneal_steps = 10;
  CHECK(config.beta(0) == 0);
  CHECK(config.beta(2) == Approx(0.2));
  CHECK(config.beta(3) == Approx(0.3));
  CHECK(config.beta(1000) == 0.3);
  config.anneal_steps = 0;
  CHECK(config.beta(0) == 0.3);
  recdiff::MultVAEConfig liang;
  CHECK(liang.beta(100000) == Approx(0.2));  // 0.2 reached only after 40,000 updates
  CHECK(liang.beta(20000) == Approx(0.1));

  config.dims = {8, 4};
  config.anneal_steps = 4;
  config.threads = 1;
  recdiff::MultVAE<CpuBackend> model(config, 10);
  const auto train = tiny_train();
  const auto users = iota_users(5);
  for (std::uint32_t s = 0; s < 3; ++s) model.train_batch(train, users, s);
  CHECK(model.updates() == 3);
  CHECK(model.beta() == Approx(0.3));
}

TEST_CASE("MultVAE and MultDAE: sparse scoring equals the dense evaluation pass",
          "[models][multvae][multdae]") {
  const auto data = recdiff::test::make_toy_data();
  const auto users = iota_users(40);
  CpuBackend::Context ctx(2);
  Mat<float> x;
  CpuBackend::densify(ctx, data, users, x);
  recdiff::nn::RowL2Norm<CpuBackend, float> norm;
  const Mat<float> xn = norm.forward(ctx, x);
  auto check = [&](auto& model) {
    ScoreMatrix scores;
    model.score(data, users, scores);
    const Mat<float> dense = model.core().network().forward(ctx, xn, recdiff::nn::Pass{});
    REQUIRE(scores.rows() == 40);
    CHECK((scores - dense).cwiseAbs().maxCoeff() < 1e-4f);
  };
  recdiff::MultVAEConfig vc;
  vc.dims = {32, 8};
  vc.threads = 1;
  recdiff::MultVAE<CpuBackend> vae(vc, data.num_items());
  check(vae);
  recdiff::MultDAEConfig dc;
  dc.dims = {16};
  dc.threads = 1;
  recdiff::MultDAE<CpuBackend> dae(dc, data.num_items());
  check(dae);
}

TEST_CASE("MultVAE and MultDAE: training is bit-identical at 1 and 2 threads",
          "[models][multvae][multdae]") {
  const auto data = recdiff::test::make_toy_data();
  const auto users = iota_users(64);
  auto run = [&](auto model) {
    std::vector<double> losses;
    for (std::uint32_t s = 0; s < 4; ++s) losses.push_back(model.train_batch(data, users, s));
    return std::make_pair(losses, all_scores(model, data));
  };
  recdiff::MultVAEConfig v1;
  v1.dims = {32, 8};
  v1.anneal_steps = 2;
  v1.threads = 1;
  auto v2 = v1;
  v2.threads = 2;
  const auto a = run(recdiff::MultVAE<CpuBackend>(v1, data.num_items()));
  const auto b = run(recdiff::MultVAE<CpuBackend>(v2, data.num_items()));
  CHECK(a.first == b.first);
  CHECK(a.second == b.second);
  recdiff::MultDAEConfig d1;
  d1.dims = {24};
  d1.threads = 1;
  auto d2 = d1;
  d2.threads = 2;
  const auto c = run(recdiff::MultDAE<CpuBackend>(d1, data.num_items()));
  const auto d = run(recdiff::MultDAE<CpuBackend>(d2, data.num_items()));
  CHECK(c.first == d.first);
  CHECK(c.second == d.second);
  CHECK(c.first.back() < c.first.front());  // the loss goes down
}

TEST_CASE("MultVAE: beats Popularity on clustered toy data (DiffRec protocol)",
          "[models][multvae]") {
  recdiff::MultVAEConfig config;
  config.dims = {32, 8};
  config.lr = 1e-2;
  config.anneal_steps = 100;
  config.threads = 1;
  recdiff::MultVAE<CpuBackend> model(config, 120);
  const auto [pop, vae] = recdiff::test::toy_recall(model, 20);
  INFO("Popularity test recall@20 " << pop << ", MultVAE " << vae);
  CHECK(vae > 1.5 * pop);
}

TEST_CASE("MultDAE: beats Popularity on clustered toy data (DiffRec protocol)",
          "[models][multdae]") {
  recdiff::MultDAEConfig config;
  config.dims = {32};
  config.lr = 1e-2;
  config.threads = 1;
  recdiff::MultDAE<CpuBackend> model(config, 120);
  const auto [pop, dae] = recdiff::test::toy_recall(model, 20);
  INFO("Popularity test recall@20 " << pop << ", MultDAE " << dae);
  CHECK(dae > 1.5 * pop);
}

TEST_CASE("MultVAE and MultDAE: save/load round trip, bad files leave the model unchanged",
          "[models][multvae][multdae][io]") {
  const auto data = recdiff::test::make_toy_data();
  const auto users = iota_users(100);
  recdiff::test::TempDir dir;
  auto round_trip = [&](auto& trained, auto& fresh, auto& other_arch) {
    for (std::uint32_t s = 0; s < 3; ++s) trained.train_batch(data, users, s);
    const auto path = dir.path() / "model.ckpt";
    trained.save(path);
    const ScoreMatrix fresh_before = all_scores(fresh, data);
    fresh.load(path);
    CHECK(fresh.updates() == 3);
    CHECK(all_scores(fresh, data) == all_scores(trained, data));
    // Training continues identically (Adam moments and the update count were restored).
    CHECK(fresh.train_batch(data, users, 3) == trained.train_batch(data, users, 3));
    CHECK(all_scores(fresh, data) == all_scores(trained, data));

    // A corrupt file: one flipped byte in the middle.
    std::string bytes;
    {
      std::ifstream in(path, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x5A);
    const auto bad = dir.path() / "bad.ckpt";
    {
      std::ofstream out(bad, std::ios::binary);
      out << bytes;
    }
    const ScoreMatrix before = all_scores(fresh, data);
    const auto updates = fresh.updates();
    REQUIRE_THROWS_AS(fresh.load(bad), recdiff::IoError);
    CHECK(all_scores(fresh, data) == before);
    CHECK(fresh.updates() == updates);
    // A missing file, and a checkpoint of another architecture.
    REQUIRE_THROWS_AS(fresh.load(dir.path() / "absent.ckpt"), recdiff::IoError);
    const auto other_path = dir.path() / "other.ckpt";
    other_arch.save(other_path);
    REQUIRE_THROWS_AS(fresh.load(other_path), recdiff::IoError);
    CHECK(all_scores(fresh, data) == before);
    CHECK(fresh_before != before);
  };
  // The fresh models share the configuration (the seed keys the dropout masks and the latent
  // noise of later steps) but have not trained.
  recdiff::MultVAEConfig vc;
  vc.dims = {32, 8};
  vc.anneal_steps = 5;
  vc.threads = 1;
  auto vc2 = vc;
  auto vc3 = vc;
  vc3.dims = {32, 6};
  recdiff::MultVAE<CpuBackend> vae(vc, data.num_items()), vae_fresh(vc2, data.num_items()),
      vae_other(vc3, data.num_items());
  round_trip(vae, vae_fresh, vae_other);

  recdiff::MultDAEConfig dc;
  dc.dims = {20};
  dc.threads = 1;
  auto dc2 = dc;
  recdiff::MultDAE<CpuBackend> dae(dc, data.num_items()), dae_fresh(dc2, data.num_items());
  // A Mult-VAE checkpoint is not a Mult-DAE one.
  recdiff::MultVAE<CpuBackend> not_dae(vc, data.num_items());
  round_trip(dae, dae_fresh, not_dae);
}

TEST_CASE("MultVAE and MultDAE: configuration errors name the field",
          "[models][multvae][multdae]") {
  using V = recdiff::MultVAE<CpuBackend>;
  using D = recdiff::MultDAE<CpuBackend>;
  auto vae_error = [](auto change, const std::string& text) {
    recdiff::MultVAEConfig c;
    change(c);
    INFO(text);
    REQUIRE_THROWS_AS(V(c, 10), std::invalid_argument);
    REQUIRE_THROWS_WITH(V(c, 10), Catch::Contains(text));
  };
  vae_error([](auto& c) { c.dims = {}; }, "dims must list at least one");
  vae_error([](auto& c) { c.dims = {600, 0}; }, "every entry of dims must be > 0, got [600,0]");
  vae_error([](auto& c) { c.dropout = 1.0; }, "dropout must be in [0, 1)");
  vae_error([](auto& c) { c.lr = 0; }, "lr must be > 0");
  vae_error([](auto& c) { c.weight_decay = -1; }, "weight_decay must be >= 0");
  vae_error([](auto& c) { c.beta_cap = -0.1; }, "beta_cap must be >= 0");
  vae_error([](auto& c) { c.anneal_steps = -1; }, "anneal_steps must be >= 0");
  vae_error([](auto& c) { c.threads = -2; }, "threads must be >= 0");
  REQUIRE_THROWS_WITH(V(recdiff::MultVAEConfig{}, 0), Catch::Contains("items must be >= 1"));
  recdiff::MultDAEConfig d;
  d.dropout = -0.5;
  REQUIRE_THROWS_WITH(D(d, 10), Catch::Contains("recdiff::MultDAEConfig: dropout"));

  // Misuse at run time.
  D dae(recdiff::MultDAEConfig{}, 10);
  const auto train = tiny_train();
  const std::vector<index_t> none;
  REQUIRE_THROWS_WITH(dae.train_batch(train, none, 0), Catch::Contains("empty batch"));
  const auto wide = recdiff::test::matrix_from_rows({{0, 11}}, 12);
  const std::vector<index_t> first{0};
  REQUIRE_THROWS_WITH(dae.train_batch(wide, first, 0), Catch::Contains("12 items, the model 10"));
  ScoreMatrix out;
  REQUIRE_THROWS_AS(dae.score(wide, first, out), std::invalid_argument);
  auto snap = dae.snapshot();
  snap.pop_back();
  REQUIRE_THROWS_AS(dae.restore(snap), std::invalid_argument);
}

namespace {

// T-DiffRec's weights of tiny_train()'s rows under TimeLinearInput(0.2, 1.0), as a dense matrix.
Mat<double> weighted_tiny_rows() {
  const auto train = tiny_train();
  const recdiff::TimeLinearInput w(0.2, 1.0);
  Mat<double> x = Mat<double>::Zero(train.num_users(), 10);
  for (index_t u = 0; u < train.num_users(); ++u) {
    const auto items = train.items_of(u);
    for (std::size_t p = 0; p < items.size(); ++p)
      x(u, items[p]) = static_cast<double>(w(p, items.size()));
  }
  return x;
}

}  // namespace

TEST_CASE("MultDAE with time weights: the loss is the multinomial NLL of the weighted dense rows",
          "[models][multdae][weighting]") {
  const auto train = tiny_train();
  const auto users = iota_users(train.num_users());
  auto config = small_dae();
  config.dropout = 0;  // deterministic input: the loss is a plain function of x_w
  config.weight_decay = 0;
  config.time_weights = recdiff::TimeLinearInput(0.2, 1.0);
  recdiff::MultDAE<CpuBackend, double> model(config, 10);
  const double loss = model.loss_and_gradients(train, users, 3);

  // By hand: x_w (row {0, 3, 4} weighs 0.2, 0.6, 1; {1, 2} 0.2, 1; ...), rows divided by their
  // own L2 norms (the empty row stays 0), the network's logits f, then
  // (1/B) sum_b [(sum_i x_bi) lse(f_b) - sum_i x_bi f_bi].
  const Mat<double> x = weighted_tiny_rows();
  CHECK(x(0, 3) == Approx(0.6).epsilon(1e-7));
  CHECK(x(3, 9) == 1.0);
  Mat<double> xn = x;
  for (index_t b = 0; b < x.rows(); ++b)
    if (x.row(b).norm() > 0) xn.row(b) /= x.row(b).norm();
  CpuBackend::Context ctx(1);
  const Mat<double> f = model.core().network().forward(ctx, xn, recdiff::nn::Pass{});
  double expected = 0;
  for (index_t b = 0; b < x.rows(); ++b) {
    const double m = f.row(b).maxCoeff();
    const double lse = m + std::log((f.row(b).array() - m).exp().sum());
    expected += x.row(b).sum() * lse - x.row(b).dot(f.row(b));
  }
  expected /= static_cast<double>(x.rows());
  CHECK(loss == Approx(expected).epsilon(1e-12));

  // The binary model (same parameters) gives another loss.
  auto binary_config = config;
  binary_config.time_weights.reset();
  recdiff::MultDAE<CpuBackend, double> binary(binary_config, 10);
  CHECK(std::abs(binary.loss_and_gradients(train, users, 3) - loss) > 1e-3);
}

TEST_CASE("MultVAE and MultDAE with time weights: gradients of the whole loss, double",
          "[models][multvae][multdae][weighting][gradcheck]") {
  auto vae = small_vae();
  vae.time_weights = recdiff::TimeLinearInput(0.3, 1.0);
  recdiff::MultVAE<CpuBackend, double> v(vae, 10);
  check_whole_loss(v);
  auto dae = small_dae();
  dae.time_weights = recdiff::TimeLinearInput(0.1, 0.9);
  recdiff::MultDAE<CpuBackend, double> d(dae, 10);
  check_whole_loss(d);
}

TEST_CASE(
    "MultVAE and MultDAE with time weights: sparse scoring equals the dense pass on the "
    "normalised weighted rows",
    "[models][multvae][multdae][weighting]") {
  const auto data = recdiff::test::make_toy_data();
  const auto users = iota_users(40);
  const recdiff::TimeLinearInput w(0.1, 1.0);
  CpuBackend::Context ctx(2);
  Mat<float> x;
  CpuBackend::densify(ctx, data, users, x, w);
  recdiff::nn::RowL2Norm<CpuBackend, float> norm;
  const Mat<float> xn = norm.forward(ctx, x);
  Mat<float> xb;
  CpuBackend::densify(ctx, data, users, xb);
  const Mat<float> xbn = recdiff::nn::RowL2Norm<CpuBackend, float>().forward(ctx, xb);
  auto check = [&](auto& model) {
    ScoreMatrix scores;
    model.score(data, users, scores);
    const Mat<float> dense = model.core().network().forward(ctx, xn, recdiff::nn::Pass{});
    const Mat<float> binary = model.core().network().forward(ctx, xbn, recdiff::nn::Pass{});
    REQUIRE(scores.rows() == 40);
    CHECK((scores - dense).cwiseAbs().maxCoeff() < 1e-4f);
    CHECK((scores - binary).cwiseAbs().maxCoeff() > 1e-3f);
  };
  recdiff::MultVAEConfig vc;
  vc.dims = {32, 8};
  vc.threads = 1;
  vc.time_weights = w;
  recdiff::MultVAE<CpuBackend> vae(vc, data.num_items());
  check(vae);
  recdiff::MultDAEConfig dc;
  dc.dims = {16};
  dc.threads = 1;
  dc.time_weights = w;
  recdiff::MultDAE<CpuBackend> dae(dc, data.num_items());
  check(dae);
}

TEST_CASE("MultVAE and MultDAE: weights of 1 train and score bit for bit as binary rows",
          "[models][multvae][multdae][weighting]") {
  const auto data = recdiff::test::make_toy_data();
  const auto users = iota_users(64);
  auto run = [&](auto model) {
    std::vector<double> losses;
    for (std::uint32_t s = 0; s < 3; ++s) losses.push_back(model.train_batch(data, users, s));
    return std::make_pair(losses, all_scores(model, data));
  };
  recdiff::MultVAEConfig v;
  v.dims = {32, 8};
  v.anneal_steps = 2;
  v.threads = 1;
  auto v1 = v;
  v1.time_weights = recdiff::TimeLinearInput(1.0, 1.0);
  auto vt = v;
  vt.time_weights = recdiff::TimeLinearInput(0.2, 1.0);
  const auto a = run(recdiff::MultVAE<CpuBackend>(v, data.num_items()));
  const auto b = run(recdiff::MultVAE<CpuBackend>(v1, data.num_items()));
  const auto c = run(recdiff::MultVAE<CpuBackend>(vt, data.num_items()));
  CHECK(a.first == b.first);
  CHECK(a.second == b.second);
  CHECK(a.first != c.first);
  recdiff::MultDAEConfig d;
  d.dims = {24};
  d.threads = 1;
  auto d1 = d;
  d1.time_weights = recdiff::TimeLinearInput(1.0, 1.0);
  const auto e = run(recdiff::MultDAE<CpuBackend>(d, data.num_items()));
  const auto g = run(recdiff::MultDAE<CpuBackend>(d1, data.num_items()));
  CHECK(e.first == g.first);
  CHECK(e.second == g.second);
}

TEST_CASE("MultVAE and MultDAE: time weights in the configuration text and its checks",
          "[models][multvae][multdae][weighting]") {
  recdiff::MultDAEConfig d;
  const std::string binary_text = d.to_string();
  CHECK(binary_text.find("input=") == std::string::npos);
  d.time_weights = recdiff::TimeLinearInput(0.25, 1.0);
  CHECK(d.to_string() == binary_text + "input=time-linear\nw_min=0.25\nw_max=1\n");
  recdiff::MultVAEConfig v;
  v.time_weights = recdiff::TimeLinearInput(0.5, 0.75);
  CHECK(v.to_string().find("input=time-linear\nw_min=0.5\nw_max=0.75\n") != std::string::npos);
  // The fields are public: a bad pair set directly is refused when the model is built.
  v.time_weights->w_min = 0;
  REQUIRE_THROWS_WITH(recdiff::MultVAE<CpuBackend>(v, 10),
                      Catch::Contains("recdiff::MultVAEConfig: time_weights need 0 < w_min <= "
                                      "w_max <= 1, got w_min 0.000000, w_max 0.750000"));
  d.time_weights->w_max = 1.5;
  REQUIRE_THROWS_WITH(recdiff::MultDAE<CpuBackend>(d, 10),
                      Catch::Contains("recdiff::MultDAEConfig: time_weights need"));
  recdiff::AutoencoderSettings s;
  s.time_weights = recdiff::TimeLinearInput{};
  s.time_weights->w_max = 0.05;  // below w_min = 0.1
  recdiff::MultDAEConfig ok;
  ok.dims = {4};
  REQUIRE_THROWS_WITH(
      (recdiff::AutoencoderCore<CpuBackend, float, recdiff::ItemFeedForward<CpuBackend, float>>(
          recdiff::ItemFeedForward<CpuBackend, float>(ok.widths(10)), 10, s)),
      Catch::Contains("recdiff::AutoencoderCore: time_weights need"));
}
