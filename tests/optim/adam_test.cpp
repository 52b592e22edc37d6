#include <catch2/catch.hpp>

#include <cmath>
#include <string_view>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/optimizer.hpp>
#include <recdiff/optim/adam.hpp>

#include "optim_support.hpp"
#include "support/shared_data.hpp"

using recdiff::CpuBackend;
using recdiff::test::tensor_of;
using recdiff::test::write_grad;
using Matrix = CpuBackend::Matrix<double>;
using Tensor = recdiff::nn::Tensor<CpuBackend, double>;
using ParameterList = recdiff::nn::ParameterList<CpuBackend, double>;

static_assert(recdiff::Optimizer<recdiff::Adam<CpuBackend, float>, CpuBackend>);
static_assert(recdiff::Optimizer<recdiff::Adam<CpuBackend, double>, CpuBackend>);
static_assert(recdiff::Optimizer<recdiff::AdamW<CpuBackend, float>, CpuBackend>);
static_assert(recdiff::Optimizer<recdiff::AdamW<CpuBackend, double>, CpuBackend>);
static_assert(std::string_view(recdiff::Adam<CpuBackend, float>::name) == "adam");
static_assert(std::string_view(recdiff::AdamW<CpuBackend, float>::name) == "adamw");

namespace {

// The scalar update of Kingma & Ba (2015), Algorithm 1, with torch's weight-decay variants, written
// out independently of AdamUpdate.
struct Reference {
  double theta, m = 0, v = 0;
  int n = 0;
  void step(double g, double lr, double wd, bool decoupled) {
    ++n;
    if (decoupled)
      theta *= 1 - lr * wd;
    else
      g += wd * theta;
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    const double m_hat = m / (1 - std::pow(0.9, n));
    const double v_hat = v / (1 - std::pow(0.999, n));
    theta -= lr * m_hat / (std::sqrt(v_hat) + 1e-8);
  }
};

Matrix row(std::initializer_list<double> values) {
  Matrix m(1, static_cast<Eigen::Index>(values.size()));
  Eigen::Index k = 0;
  for (double v : values) m(0, k++) = v;
  return m;
}

}  // namespace

TEST_CASE("AdamW: first step moves each weight by about lr against its gradient", "[optim]") {
  CpuBackend::Context ctx(1);
  Tensor w = tensor_of(row({1.0, -2.0, 0.5}));
  write_grad(w, row({0.5, -0.2, 0.0}));
  recdiff::AdamW<CpuBackend, double> opt({{"w", &w}}, {.lr = 0.1});
  opt.step(ctx);
  // n = 1: m = 0.1 g, v = 0.001 g^2, m_hat = g, v_hat = g^2, so theta -= 0.1 g / (|g| + 1e-8).
  CHECK(w.value(0, 0) == Approx(1.0 - 0.1 * 0.5 / (0.5 + 1e-8)).epsilon(1e-14));
  CHECK(w.value(0, 1) == Approx(-2.0 + 0.1 * 0.2 / (0.2 + 1e-8)).epsilon(1e-14));
  CHECK(w.value(0, 2) == 0.5);  // zero gradient, zero moments: no move
  CHECK(opt.state()[0].step == 1);
  CHECK(opt.state()[0].m(0, 0) == Approx(0.05));
  CHECK(opt.state()[0].v(0, 0) == Approx(0.00025));
}

TEST_CASE("AdamW: second step with bias correction, by hand", "[optim]") {
  CpuBackend::Context ctx(1);
  Tensor w = tensor_of(row({1.0}));
  recdiff::AdamW<CpuBackend, double> opt({{"w", &w}}, {.lr = 0.01});
  write_grad(w, row({0.5}));
  opt.step(ctx);
  opt.zero_grad();
  write_grad(w, row({-1.0}));
  opt.step(ctx);
  // m = 0.9 * 0.05 - 0.1 = -0.055; v = 0.999 * 0.00025 + 0.001 = 0.00124975;
  // m_hat = -0.055 / 0.19; v_hat = 0.00124975 / 0.001999.
  const double first = 1.0 - 0.01 * 0.5 / (0.5 + 1e-8);
  const double m_hat = -0.055 / 0.19, v_hat = 0.00124975 / 0.001999;
  CHECK(w.value(0, 0) == Approx(first - 0.01 * m_hat / (std::sqrt(v_hat) + 1e-8)).epsilon(1e-13));
  CHECK(opt.state()[0].m(0, 0) == Approx(-0.055).epsilon(1e-14));
  CHECK(opt.state()[0].v(0, 0) == Approx(0.00124975).epsilon(1e-14));
}

TEST_CASE("Adam and AdamW: many steps follow the scalar reference, weight decay included",
          "[optim]") {
  const bool decoupled = GENERATE(true, false);
  const double wd = GENERATE(0.0, 0.05);
  CAPTURE(decoupled, wd);
  CpuBackend::Context ctx(2);
  Matrix w0(3, 20), b0(1, 4);
  w0.setRandom();
  b0.setRandom();
  Tensor w = tensor_of(w0), b = tensor_of(b0);
  std::vector<Reference> ref_w, ref_b;
  for (Eigen::Index k = 0; k < w0.size(); ++k) ref_w.push_back({w0.data()[k]});
  for (Eigen::Index k = 0; k < b0.size(); ++k) ref_b.push_back({b0.data()[k]});
  const ParameterList params{{"w", &w}, {"b", &b}};
  const recdiff::AdamConfig config{.lr = 0.003, .weight_decay = wd};
  recdiff::Adam<CpuBackend, double> adam(params, config);
  recdiff::AdamW<CpuBackend, double> adamw(params, config);
  Matrix g(3, 20), gb(1, 4);
  for (int n = 1; n <= 7; ++n) {
    for (Eigen::Index k = 0; k < g.size(); ++k)
      g.data()[k] = std::sin(0.7 * static_cast<double>(k) + n) + 0.3 * w.value.data()[k];
    for (Eigen::Index k = 0; k < gb.size(); ++k) gb.data()[k] = std::cos(1.3 * static_cast<double>(k) - n);
    for (Eigen::Index k = 0; k < g.size(); ++k) ref_w[k].step(g.data()[k], 0.003, wd, decoupled);
    for (Eigen::Index k = 0; k < gb.size(); ++k) ref_b[k].step(gb.data()[k], 0.003, wd, decoupled);
    recdiff::nn::zero_grad(params);
    write_grad(w, g);
    write_grad(b, gb);
    if (decoupled)
      adamw.step(ctx);
    else
      adam.step(ctx);
  }
  for (Eigen::Index k = 0; k < w0.size(); ++k)
    CHECK(w.value.data()[k] == Approx(ref_w[k].theta).epsilon(1e-12));
  for (Eigen::Index k = 0; k < b0.size(); ++k)
    CHECK(b.value.data()[k] == Approx(ref_b[k].theta).epsilon(1e-12));
  const auto& state = decoupled ? adamw.state() : adam.state();
  CHECK(state[0].step == 7);
  CHECK(state[1].step == 7);
  CHECK(state[0].v(1, 2) == Approx(ref_w[22].v).epsilon(1e-12));
}

TEST_CASE("AdamW in float follows the double reference to float precision", "[optim]") {
  using FloatMatrix = CpuBackend::Matrix<float>;
  FloatMatrix w0(4, 37), g(4, 37);
  std::vector<Reference> ref;
  for (Eigen::Index k = 0; k < w0.size(); ++k) {
    w0.data()[k] = 0.05f * static_cast<float>(k % 23) - 0.5f;
    ref.push_back({static_cast<double>(w0.data()[k])});
  }
  auto w = tensor_of(w0);
  recdiff::AdamW<CpuBackend, float> adamw({{"w", &w}}, recdiff::AdamConfig{.lr = 0.01, .weight_decay = 0.1});
  for (int n = 1; n <= 5; ++n) {
    for (Eigen::Index k = 0; k < g.size(); ++k) {
      // Gradients from 1e-3 to 1 in size, so that sqrt(v) spans several binades.
      g.data()[k] = static_cast<float>(std::sin(0.37 * static_cast<double>(k) + n) *
                                       std::pow(10.0, -static_cast<double>(k % 4)));
      ref[static_cast<std::size_t>(k)].step(g.data()[k], 0.01, 0.1, true);
    }
    adamw.zero_grad();
    write_grad(w, g);
    adamw.step(CpuBackend::Context(2));
  }
  for (Eigen::Index k = 0; k < w0.size(); ++k)
    REQUIRE(w.value.data()[k] ==
            Approx(ref[static_cast<std::size_t>(k)].theta).epsilon(1e-5).margin(1e-6));
}

TEST_CASE("AdamW: decoupled decay shrinks weights without a gradient, Adam L2 does not",
          "[optim]") {
  CpuBackend::Context ctx(1);
  Tensor w1 = tensor_of(row({2.0})), w2 = tensor_of(row({2.0}));
  // Both gradients are lazily zero: nothing was written since construction.
  recdiff::AdamW<CpuBackend, double> adamw({{"w", &w1}}, {.lr = 0.1, .weight_decay = 0.5});
  recdiff::Adam<CpuBackend, double> adam({{"w", &w2}}, {.lr = 0.1, .weight_decay = 0.5});
  adamw.step(ctx);
  adam.step(ctx);
  // AdamW: theta = 2 (1 - 0.05) = 1.9, and the zero gradient leaves the moments at zero.
  CHECK(w1.value(0, 0) == Approx(1.9).epsilon(1e-15));
  CHECK(adamw.state()[0].m(0, 0) == 0.0);
  // Adam: g' = 0.5 * 2 = 1 enters the moments, so the first step is the usual ~lr: 2 - 0.1.
  CHECK(w2.value(0, 0) == Approx(2.0 - 0.1 / (1.0 + 1e-8)).epsilon(1e-14));
  CHECK(adam.state()[0].m(0, 0) == Approx(0.1));
}

TEST_CASE("AdamW: reset, learning rate, parameters and config", "[optim]") {
  CpuBackend::Context ctx(1);
  Tensor w = tensor_of(Matrix::Constant(2, 2, 1.0));
  recdiff::AdamW<CpuBackend, double> opt({{"w", &w}}, {.lr = 0.02, .weight_decay = 0.1});
  write_grad(w, Matrix::Constant(2, 2, 0.25));
  opt.step(ctx);
  opt.step(ctx);
  CHECK(opt.state()[0].step == 2);
  opt.reset();
  CHECK(opt.state()[0].step == 0);
  CHECK(opt.state()[0].m.isZero());
  CHECK(opt.state()[0].v.isZero());
  opt.set_learning_rate(0.5);
  CHECK(opt.learning_rate() == 0.5);
  CHECK(opt.config().lr == 0.5);
  CHECK(opt.config().weight_decay == 0.1);
  REQUIRE(opt.parameters().size() == 1);
  CHECK(opt.parameters()[0].name == "w");
  CHECK(opt.parameters()[0].tensor == &w);
}

TEST_CASE("Adam: checkpoint entries keep the historical DiffRec names", "[optim]") {
  CpuBackend::Context ctx(1);
  Tensor w = tensor_of(row({1.0, 2.0}));
  recdiff::AdamW<CpuBackend, double> opt({{"in_layers.0.bias", &w}});
  write_grad(w, row({0.5, -0.5}));
  opt.step(ctx);
  recdiff::CheckpointWriter writer;
  opt.save_state(ctx, writer, "optimizer.");
  const recdiff::test::TempDir dir;
  writer.write(dir / "c.bin");
  const recdiff::CheckpointReader r(dir / "c.bin");
  CHECK(r.shape("optimizer.m.in_layers.0.bias") == std::pair<std::uint64_t, std::uint64_t>{1, 2});
  CHECK(r.shape("optimizer.v.in_layers.0.bias") == std::pair<std::uint64_t, std::uint64_t>{1, 2});
  CHECK(r.tensor<double>("optimizer.step.in_layers.0.bias", 1, 1) == std::vector<double>{1.0});
  const auto m = r.tensor<double>("optimizer.m.in_layers.0.bias", 1, 2);
  CHECK(m[0] == opt.state()[0].m(0, 0));
  CHECK(m[1] == Approx(-0.05).epsilon(1e-14));
}

TEST_CASE("AdamW: bad hyper-parameters, parameter lists and shapes throw", "[optim]") {
  Tensor w(2, 2);
  using Opt = recdiff::AdamW<CpuBackend, double>;
  auto make = [&](recdiff::AdamConfig c) { return Opt({{"w", &w}}, c); };
  REQUIRE_THROWS_AS(make({.lr = 0.0}), std::invalid_argument);
  REQUIRE_THROWS_WITH(make({.lr = -1.0}), Catch::Contains("lr must be > 0"));
  REQUIRE_THROWS_WITH(make({.lr = INFINITY}), Catch::Contains("lr must be > 0 and finite"));
  REQUIRE_THROWS_WITH(make({.beta1 = 1.0}), Catch::Contains("beta1 must be in [0, 1)"));
  REQUIRE_THROWS_WITH(make({.beta2 = -0.1}), Catch::Contains("beta2 must be in [0, 1)"));
  REQUIRE_THROWS_WITH(make({.eps = 0.0}), Catch::Contains("eps must be > 0"));
  REQUIRE_THROWS_WITH(make({.weight_decay = -1.0}), Catch::Contains("weight_decay must be >= 0"));
  REQUIRE_THROWS_WITH(Opt({{"w", &w}, {"w", &w}}), Catch::Contains("two parameters are named w"));
  REQUIRE_THROWS_WITH(Opt({{"w", nullptr}}), Catch::Contains("parameter w has no tensor"));
  REQUIRE_THROWS_WITH(Opt({{"", &w}}), Catch::Contains("empty name"));
  Opt ok({{"w", &w}});
  REQUIRE_THROWS_AS(ok.set_learning_rate(0.0), std::invalid_argument);
  REQUIRE_THROWS_WITH(ok.set_learning_rate(-2.0), Catch::Contains("lr must be > 0"));
  // A gradient of another shape is refused before anything changes.
  w.value.setConstant(1.0);
  w.grad_beta();
  w.grad = Matrix::Constant(1, 2, 0.5);
  REQUIRE_THROWS_WITH(ok.step(CpuBackend::Context(1)), Catch::Contains("gradient of w is 1x2, expected 2x2"));
  CHECK(ok.state()[0].step == 0);
  CHECK(w.value == Matrix::Constant(2, 2, 1.0));
  // So is a value that changed shape after construction.
  w.value.resize(3, 2);
  REQUIRE_THROWS_WITH(ok.step(CpuBackend::Context(1)),
                      Catch::Contains("value of w is 3x2, the optimiser was built for 2x2"));
}

TEST_CASE("Adam: stage_state refuses invalid values and leaves the optimiser unchanged", "[optim]") {
  CpuBackend::Context ctx(1);
  const recdiff::test::TempDir dir;
  Tensor w = tensor_of(row({1.0, 2.0}));
  recdiff::Adam<CpuBackend, double> opt({{"w", &w}});
  const double m[2] = {0.1, 0.2}, good_v[2] = {0.01, 0.02}, bad_v[2] = {0.01, -0.02};
  auto write = [&](const std::string& file, const double* v, double step) {
    recdiff::CheckpointWriter writer;
    writer.add_tensor("opt.m.w", 1, 2, m);
    writer.add_tensor("opt.v.w", 1, 2, v);
    writer.add_tensor("opt.step.w", 1, 1, &step);
    writer.write(dir / file);
    return recdiff::CheckpointReader(dir / file);
  };
  REQUIRE_THROWS_WITH((void)opt.stage_state(ctx, write("neg_v.bin", bad_v, 3.0), "opt."),
                      Catch::Contains("'opt.v.w' holds -0.02") && Catch::Contains("expected values >= 0"));
  REQUIRE_THROWS_WITH((void)opt.stage_state(ctx, write("neg_step.bin", good_v, -1.0), "opt."),
                      Catch::Contains("counter 'opt.step.w'"));
  REQUIRE_THROWS_AS((void)opt.stage_state(ctx, write("frac_step.bin", good_v, 2.5), "opt."),
                    recdiff::IoError);
  CHECK(opt.state()[0].step == 0);
  CHECK(opt.state()[0].m.isZero());
  opt.stage_state(ctx, write("good.bin", good_v, 3.0), "opt.")();
  CHECK(opt.state()[0].step == 3);
  CHECK(opt.state()[0].m(0, 1) == 0.2);
  CHECK(opt.state()[0].v(0, 1) == 0.02);
}
