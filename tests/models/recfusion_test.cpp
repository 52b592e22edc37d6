// The RecFusion family: the shared-weight network (gradients, the paper's parameter count), the
// chain objectives (coefficients by hand, gradients by finite differences), the whole-chain batch,
// one-pass inference, and end-to-end learning against Popularity on clustered toy data.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include <catch2/catch.hpp>

#include "nn/gradcheck.hpp"
#include "nn/module_check.hpp"
#include "nn/module_test_util.hpp"
#include "support/toy_data.hpp"
#include "support/toy_recall.hpp"
#include <recdiff/backend/cpu.hpp>
#include <recdiff/baseline/popularity.hpp>
#include <recdiff/eval/diffrec_protocol.hpp>
#include <recdiff/eval/temporal_split.hpp>
#include <recdiff/models/recfusion.hpp>
#include <recdiff/train/trainer.hpp>

using recdiff::CpuBackend;
using recdiff::index_t;
using recdiff::RecFusionLoss;
using recdiff::ScoreMatrix;
using recdiff::test::Mat;
using recdiff::test::random_matrix;

static_assert(recdiff::SparseInputDenoiser<recdiff::PReluMlp<CpuBackend, float, recdiff::Tanh>,
                                           CpuBackend>);
static_assert(recdiff::TrainableModel<recdiff::RecFusion<CpuBackend>>);
static_assert(recdiff::TrainableModel<recdiff::RecFusionBin<CpuBackend>>);
static_assert(recdiff::CompatibleObjective<recdiff::RecFusionTerms<RecFusionLoss::bce>,
                                           recdiff::Bernoulli<recdiff::OneWay>, CpuBackend>);
static_assert(recdiff::CompatibleObjective<recdiff::RecFusionTerms<RecFusionLoss::latent_identity>,
                                           recdiff::Gaussian, CpuBackend>);

namespace {

template <class T, class Head, class Hidden>
recdiff::PReluMlp<CpuBackend, T, Head, Hidden> small_net(int depth, int outputs = 0,
                                                         recdiff::StepOffsetAt offset =
                                                             recdiff::StepOffsetAt::none) {
  recdiff::PReluMlpConfig c;
  c.items = 7;
  c.hidden = 5;
  c.depth = depth;
  c.outputs = outputs;
  c.step_offset = offset;
  recdiff::PReluMlp<CpuBackend, T, Head, Hidden> net(c);
  net.initialize(CpuBackend::Context(1), 3);
  return net;
}

std::vector<index_t> iota_users(index_t n) {
  std::vector<index_t> users(static_cast<std::size_t>(n));
  std::iota(users.begin(), users.end(), 0);
  return users;
}

}  // namespace

// Double only: with three PReLU kinks in a row, float's finite-difference step (1e-2) crosses
// kinks and the check measures the step, not the gradient.
TEST_CASE("PReluMlp: backward is exact with a shared hidden layer applied 3 times (double)",
          "[recfusion][gradcheck]") {
  using T = double;
  auto shared = small_net<T, recdiff::Tanh, recdiff::SharedHidden>(3);
  // Shared: input layer (W, b), PReLU, one hidden (W, b, slope), output (W, b).
  recdiff::test::require_gradients<T>(
      recdiff::test::check_module(shared, random_matrix<T>(4, 7, 1, 0.05)), 8);
  auto distinct = small_net<T, recdiff::Identity, recdiff::DistinctHidden>(2, 14);
  recdiff::test::require_gradients<T>(
      recdiff::test::check_module(distinct, random_matrix<T>(4, 7, 2, 0.05)), 11);
  const std::vector<int> steps{0, 1, 2, 1};
  const recdiff::nn::Pass pass{false, 1, 0, steps};
  for (const auto at : {recdiff::StepOffsetAt::input, recdiff::StepOffsetAt::output}) {
    auto offset = small_net<T, recdiff::Tanh, recdiff::SharedHidden>(2, 0, at);
    recdiff::test::require_gradients<T>(
        recdiff::test::check_module(offset, random_matrix<T>(4, 7, 3, 0.05), pass), 10);
  }
}

TEST_CASE("PReluMlp: the shared layer makes the count independent of depth (paper Table 5)",
          "[recfusion]") {
  recdiff::PReluMlpConfig c;
  c.items = 3416;
  c.hidden = 200;
  for (const int depth : {1, 2, 4}) {
    c.depth = depth;
    CHECK(recdiff::PReluMlp<CpuBackend, float, recdiff::Tanh>(c).num_parameters() == 1410218);
  }
  c.depth = 0;  // no hidden layer at all: 683,400 + 1 + 686,616
  CHECK(recdiff::PReluMlp<CpuBackend, float, recdiff::Tanh>(c).num_parameters() == 1370017);
  c.depth = 2;
  CHECK(recdiff::PReluMlp<CpuBackend, float, recdiff::Tanh, recdiff::DistinctHidden>(c)
            .num_parameters() == 1410218 + 40201);
}

TEST_CASE("PReluMlp: depth applications of one layer equal a stack of copies of it",
          "[recfusion]") {
  auto shared = small_net<double, recdiff::Tanh, recdiff::SharedHidden>(3);
  recdiff::PReluMlpConfig c = shared.config();
  recdiff::PReluMlp<CpuBackend, double, recdiff::Tanh, recdiff::DistinctHidden> stack(c);
  // Copy the shared parameters into every copy of the stack.
  const auto from = recdiff::nn::parameters_of(shared);
  const auto to = recdiff::nn::parameters_of(stack);
  // Order: first layer (W, b), its PReLU, then (W, b, slope) per hidden layer, then the output.
  REQUIRE(from.size() == 8);
  REQUIRE(to.size() == 14);
  for (std::size_t k = 0; k < 3; ++k) to[k].value() = from[k].value();
  for (std::size_t d = 0; d < 3; ++d)
    for (std::size_t j = 0; j < 3; ++j) to[3 + 3 * d + j].value() = from[3 + j].value();
  to[12].value() = from[6].value();
  to[13].value() = from[7].value();
  const CpuBackend::Context ctx(1);
  const Mat<double> x = random_matrix<double>(3, 7, 9);
  const Mat<double> a = shared.forward(ctx, x);
  const Mat<double> b = stack.forward(ctx, x);
  CHECK((a - b).cwiseAbs().maxCoeff() < 1e-14);
}

TEST_CASE("RecFusionTerms: the coefficients of each step, by hand", "[recfusion]") {
  const std::vector<double> betas{1e-4, 0.026606, 0.1};
  const double one_minus_c0 = 1 - std::pow(1 - std::sqrt(1 - 1e-4), 2) / 1e-4;
  CHECK(one_minus_c0 == Approx(1 - 2.50012e-5).epsilon(1e-9));
  double k0[3], k1[3], k2[3];
  using Identity = recdiff::RecFusionTerms<RecFusionLoss::latent_identity>;
  Identity::coefficients(betas, 0, k0);
  Identity::coefficients(betas, 1, k1);
  Identity::coefficients(betas, 2, k2);
  CHECK(k0[0] == 1);
  CHECK(k0[1] == 0);
  CHECK(k0[2] == Approx(std::exp(-1e-4)).epsilon(1e-15));
  CHECK(k1[0] == 0);
  CHECK(k1[1] == 0);
  CHECK(k2[1] == Approx(one_minus_c0).epsilon(1e-15));
  CHECK(k2[2] == Approx(std::exp(-0.1)).epsilon(1e-15));
  // Magnitude form with T = 4 and reconstruction at step 1 (the U-Nets): step 2 gets (1 - c_2).
  const std::vector<double> four{1e-4, 0.01, 0.05, 0.1};
  using UNetLoss = recdiff::RecFusionTerms<RecFusionLoss::magnitude, 1>;
  double m0[3], m1[3], m2[3], m3[3];
  UNetLoss::coefficients(four, 0, m0);
  UNetLoss::coefficients(four, 1, m1);
  UNetLoss::coefficients(four, 2, m2);
  UNetLoss::coefficients(four, 3, m3);
  CHECK((m0[0] == 0 && m0[1] == 0 && m0[2] == 0));
  CHECK((m1[0] == 1 && m1[1] == 0));
  CHECK(m2[1] == Approx(1 - std::pow(1 - std::sqrt(0.95), 2) / 0.05).epsilon(1e-15));
  CHECK(m3[1] == Approx(one_minus_c0).epsilon(1e-15));
  CHECK(m3[2] == 0);
}

namespace {

// Loss and gradient of RecFusionTerms<L> on fixed inputs with steps {0, 1, 2, 0} of a T = 3 chain
// and p = 1/3, compared with central differences (double).
template <RecFusionLoss L>
void check_chain_gradient() {
  using Objective = recdiff::RecFusionTerms<L>;
  const recdiff::Gaussian noise(recdiff::Quadratic(3));
  const CpuBackend::Context ctx(1);
  const std::int64_t b = 4, items = 5;
  Mat<double> out = random_matrix<double>(b, Objective::output_width(items), 4);
  Mat<double> x0 = (random_matrix<double>(b, items, 5).array() > 0).template cast<double>();
  const Mat<double> x_t = random_matrix<double>(b, items, 6);
  const std::vector<int> steps{0, 1, 2, 0};
  const std::vector<double> p(4, 1.0 / 3);
  Mat<double> rows, row_loss, grad;
  recdiff::Gaussian::Workspace<CpuBackend, double> ws;
  Objective::template row_terms<CpuBackend>(ctx, noise, steps, p, false, rows);
  auto loss = [&] {
    Mat<double> g;
    Objective::template loss_and_gradient<CpuBackend, double>(ctx, noise, ws, out, x0, x_t, rows,
                                                               row_loss, g);
    std::vector<double> host(row_loss.data(), row_loss.data() + row_loss.size());
    return recdiff::mean_batch_loss(host, p);
  };
  Objective::template loss_and_gradient<CpuBackend, double>(ctx, noise, ws, out, x0, x_t, rows,
                                                             row_loss, grad);
  const Mat<double> analytic = grad;
  const double error = recdiff::test::gradient_error(out, analytic, loss);
  INFO("relative error " << error);
  CHECK(error < recdiff::test::gradcheck_tolerance);
  CHECK(std::isfinite(loss()));
}

}  // namespace

TEST_CASE("RecFusionTerms: d loss / d out by finite differences, every loss (double)",
          "[recfusion][gradcheck]") {
  check_chain_gradient<RecFusionLoss::latent_identity>();
  check_chain_gradient<RecFusionLoss::magnitude>();
  check_chain_gradient<RecFusionLoss::learned_variance>();
  check_chain_gradient<RecFusionLoss::bce>();
  check_chain_gradient<RecFusionLoss::bce_with_gaussian_terms>();
}

TEST_CASE("RecFusionTerms: a row's loss by hand", "[recfusion]") {
  const std::vector<double> betas_host{0.1, 0.2};
  const recdiff::Gaussian noise(recdiff::Constant(2, 0.1));
  const CpuBackend::Context ctx(1);
  Mat<double> out(1, 2), x0(1, 2), z(1, 2), rows, row_loss, grad;
  out << 0.5, -0.25;
  x0 << 1, 0;
  z << 0.75, 0.5;
  recdiff::Gaussian::Workspace<CpuBackend, double> ws;
  using Identity = recdiff::RecFusionTerms<RecFusionLoss::latent_identity>;
  const std::vector<int> first{0}, last{1};
  Identity::row_terms<CpuBackend>(ctx, noise, first, {}, false, rows);
  Identity::loss_and_gradient<CpuBackend, double>(ctx, noise, ws, out, x0, z, rows, row_loss, grad);
  const double se_x = 0.25 + 0.0625, se_z = 0.0625 + 0.5625;
  CHECK(row_loss(0, 0) == Approx(0.5 * se_x + 0.5 * std::exp(-0.1) * se_z).epsilon(1e-14));
  Identity::row_terms<CpuBackend>(ctx, noise, last, {}, false, rows);
  Identity::loss_and_gradient<CpuBackend, double>(ctx, noise, ws, out, x0, z, rows, row_loss, grad);
  const double one_minus_c = 1 - std::pow(1 - std::sqrt(0.9), 2) / 0.1;
  CHECK(row_loss(0, 0) ==
        Approx(0.5 * one_minus_c * (0.25 + 0.0625) + 0.5 * std::exp(-0.1) * se_z).epsilon(1e-14));
  // BCE of logits (2, -1) against (1, 0): softplus(-2) + softplus(-1).
  using Bce = recdiff::RecFusionTerms<RecFusionLoss::bce>;
  const recdiff::Bernoulli<recdiff::OneWay> bernoulli(recdiff::Constant(2, 0.1));
  recdiff::Bernoulli<recdiff::OneWay>::Workspace<CpuBackend, double> bws;
  out << 2, -1;
  Bce::row_terms<CpuBackend>(ctx, bernoulli, first, {}, false, rows);
  Bce::loss_and_gradient<CpuBackend, double>(ctx, bernoulli, bws, out, x0, z, rows, row_loss, grad);
  CHECK(row_loss(0, 0) == Approx(std::log1p(std::exp(-2.0)) + std::log1p(std::exp(-1.0))).epsilon(1e-14));
}

TEST_CASE("WholeChain: every training step once per user, p = 1 / steps", "[recfusion]") {
  const recdiff::WholeChain chain(3, 1);
  std::vector<int> steps;
  std::vector<double> p;
  chain.sample(6, 1, 0, steps, p);
  CHECK(steps == std::vector<int>{1, 1, 1, 2, 2, 2});
  CHECK(p == std::vector<double>(6, 0.5));
  REQUIRE_THROWS_AS(chain.sample(5, 1, 0, steps, p), std::invalid_argument);
  REQUIRE_THROWS_AS(recdiff::WholeChain(3, 3), std::invalid_argument);
}

TEST_CASE("RecFusion models: scores are the one-pass x0 prediction on the clean rows",
          "[recfusion]") {
  const auto train = recdiff::test::matrix_from_rows({{0, 3, 4}, {1, 2}, {}, {5, 6}}, 8);
  const auto users = iota_users(4);
  recdiff::RecFusionConfig c;
  c.hidden = 6;
  c.depth = 2;
  auto check = [&](auto& model, auto reference) {
    ScoreMatrix scores;
    model.score(train, users, scores);
    Mat<float> x;
    CpuBackend::densify(model.context(), train, users, x);
    const Mat<float> expected = reference(model, x);
    CHECK((scores - expected).cwiseAbs().maxCoeff() < 1e-6);
  };
  auto plain = recdiff::make_recfusion<CpuBackend>(c, 8, 1);
  check(plain, [](auto& m, const Mat<float>& x) -> Mat<float> {
    const std::vector<int> k(4, 0);
    return m.diffusion().denoiser().forward(m.context(), x, {false, 1, 0, k});
  });
  auto var = recdiff::make_recfusion_var<CpuBackend>(c, 8, 1);
  check(var, [](auto& m, const Mat<float>& x) -> Mat<float> {
    const std::vector<int> k(4, 0);
    return m.diffusion().denoiser().forward(m.context(), x, {false, 1, 0, k}).leftCols(8);
  });
  auto bin = recdiff::make_recfusion_bin<CpuBackend>(c, 8, 1);
  check(bin, [](auto& m, const Mat<float>& x) -> Mat<float> {
    const std::vector<int> k(4, 0);
    const Mat<float> a = m.diffusion().denoiser().forward(m.context(), x, {false, 1, 0, k});
    return (1.0f / (1.0f + (-a.array()).exp())).matrix();
  });
  auto timed = recdiff::make_recfusion_t<CpuBackend>(c, 8, 1);  // inference at step 1
  check(timed, [](auto& m, const Mat<float>& x) -> Mat<float> {
    const std::vector<int> k(4, 1);
    return m.diffusion().denoiser().forward(m.context(), x, {false, 1, 0, k});
  });
}

TEST_CASE("RecFusion and RecFusionBin learn the clusters: test recall@20 beats Popularity",
          "[recfusion][e2e]") {
  recdiff::RecFusionConfig c = recdiff::recfusion_preset("recfusion");
  c.hidden = 32;
  c.lr = 3e-3;
  c.seed = 5;
  auto plain = recdiff::make_recfusion<CpuBackend>(c, 120, 1);
  const auto [pop, rf] = recdiff::test::toy_recall(plain, 40);
  INFO("popularity " << pop << ", RecFusion " << rf);
  CHECK(rf > pop * 1.2);
  recdiff::RecFusionConfig b = recdiff::recfusion_preset("recfusion-bin");
  b.hidden = 32;
  b.lr = 3e-3;
  b.seed = 5;
  auto bin = recdiff::make_recfusion_bin<CpuBackend>(b, 120, 1);
  const auto [pop2, rb] = recdiff::test::toy_recall(bin, 40);
  INFO("popularity " << pop2 << ", RecFusionBin " << rb);
  CHECK(rb > pop2 * 1.2);
}

TEST_CASE("RecFusion: a checkpoint round-trips and refuses another variant", "[recfusion][io]") {
  const auto train = recdiff::test::matrix_from_rows({{0, 3, 4}, {1, 2}, {5, 6}}, 8);
  const auto users = iota_users(3);
  recdiff::RecFusionConfig c;
  c.hidden = 6;
  auto a = recdiff::make_recfusion<CpuBackend>(c, 8, 1);
  a.train_batch(train, users, 0);
  const auto path = std::filesystem::temp_directory_path() / "recdiff_recfusion_test.ckpt";
  a.save(path, "recfusion", c.to_string());
  c.seed = 99;
  auto b = recdiff::make_recfusion<CpuBackend>(c, 8, 1);
  b.load(path, "recfusion");
  ScoreMatrix sa, sb;
  a.score(train, users, sa);
  b.score(train, users, sb);
  CHECK(sa == sb);
  REQUIRE_THROWS_AS(b.load(path, "recfusion-var"), recdiff::IoError);
  std::filesystem::remove(path);
}

TEST_CASE("RecFusionBin (one-way): the sparse training path equals the dense one", "[recfusion]") {
  static_assert(recdiff::RecFusionBin<CpuBackend>::diffusion_type::sparse_training_available);
  static_assert(!recdiff::RecFusion<CpuBackend>::diffusion_type::sparse_training_available);
  const auto train = recdiff::test::make_toy_data();
  std::vector<index_t> users(64);
  std::iota(users.begin(), users.end(), 10);
  recdiff::RecFusionConfig c = recdiff::recfusion_preset("recfusion-bin");
  c.hidden = 16;
  c.depth = 2;
  c.beta_end = 0.5;  // many deletions, so the sparse input differs from x0
  for (const bool gaussian : {false, true}) {
    c.gaussian_terms = gaussian;
    c.sparse_training = true;
    recdiff::visit_recfusion_bin<CpuBackend>(c, train.num_items(), 1, [&](auto& sparse) {
      recdiff::RecFusionConfig d = c;
      d.sparse_training = false;
      recdiff::visit_recfusion_bin<CpuBackend>(d, train.num_items(), 1, [&](auto& dense) {
        for (std::uint32_t step = 0; step < 3; ++step) {
          const double a = sparse.train_batch(train, users, step);
          const double b = dense.train_batch(train, users, step);
          CHECK(a == Approx(b).epsilon(1e-5));
        }
        const auto& pa = sparse.parameters();
        const auto& pb = dense.parameters();
        for (std::size_t k = 0; k < pa.size(); ++k) {
          INFO(pa[k].name);
          CHECK((pa[k].value() - pb[k].value()).cwiseAbs().maxCoeff() < 1e-5);
        }
      });
    });
  }
}

TEST_CASE("ImageBatches: one image per run of equal steps, odd images padded; exact gradients",
          "[recfusion][gradcheck]") {
  using Net = recdiff::UNet2D<CpuBackend, double>;
  recdiff::nn::ImageBatches<Net> images(Net(8, 3, 0.0), 2);
  const std::vector<int> steps{1, 1, 1, 2, 2};  // images rows {0, 1}, {2} (padded), {3, 4}
  const recdiff::nn::Pass pass{false, 1, 0, steps};
  const Mat<double> x = random_matrix<double>(5, 8, 4);
  const CpuBackend::Context ctx(1);
  const Mat<double> y = images.forward(ctx, x, pass);
  // The same network on each image by hand.
  Net direct(8, 3, 0.0);
  const std::vector<int> s1{1, 1}, s2{2, 2};
  const Mat<double> a = direct.forward(ctx, x.topRows(2), {false, 1, 0, s1});
  Mat<double> padded = Mat<double>::Zero(2, 8);
  padded.row(0) = x.row(2);
  const Mat<double> b = direct.forward(ctx, padded, {false, 1, 0, s1});
  const Mat<double> c = direct.forward(ctx, x.bottomRows(2), {false, 1, 0, s2});
  CHECK((y.topRows(2) - a).cwiseAbs().maxCoeff() < 1e-12);
  CHECK((y.row(2) - b.row(0)).cwiseAbs().maxCoeff() < 1e-12);
  CHECK((y.bottomRows(2) - c).cwiseAbs().maxCoeff() < 1e-12);
  const auto check = recdiff::test::check_module(images, x, pass);
  for (const auto& [name, error] : check.parameters) {
    INFO(name << ": " << error);
    // Conv biases before a one-group GroupNorm have an exactly zero gradient (the normalisation
    // removes a constant): skip those, as the U-Net's own tests do.
    if (name.find("proj.bias") == std::string::npos) CHECK(error < 1e-6);
  }
  CHECK(check.input < 1e-6);
}

TEST_CASE("RecFusion U-Nets train on z_1..z_{T-1} and score any batch", "[recfusion]") {
  const auto train = recdiff::test::make_toy_data();
  std::vector<index_t> users(40);
  std::iota(users.begin(), users.end(), 0);
  recdiff::RecFusionConfig c = recdiff::recfusion_preset("recfusion-default");
  c.batch_size = 20;
  c.lr = 1e-3;
  auto run = [&](auto model) {
    double first = 0, last = 0;
    for (std::uint32_t step = 0; step < 8; ++step) {
      const double loss = model.train_batch(train, users, step);
      REQUIRE(std::isfinite(loss));
      if (step == 0) first = loss;
      last = loss;
    }
    CHECK(last < first);
    const std::vector<index_t> odd{3, 7, 11};  // an odd evaluation batch
    ScoreMatrix scores;
    model.score(train, odd, scores);
    CHECK(scores.rows() == 3);
    CHECK(scores.allFinite());
  };
  run(recdiff::make_recfusion_unet1d<CpuBackend>(c, train.num_items(), 1));
  run(recdiff::make_recfusion_unet2d<CpuBackend>(c, train.num_items(), 1));
  REQUIRE_THROWS_AS(recdiff::make_recfusion_unet1d<CpuBackend>(c, 7, 1), std::invalid_argument);
}
