#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/optimizer.hpp>
#include <recdiff/optim/adam.hpp>

using recdiff::CpuBackend;
using Matrix = CpuBackend::Matrix<double>;
using Parameter = recdiff::nn::Parameter<CpuBackend, double>;

static_assert(recdiff::Optimizer<recdiff::Adam<CpuBackend, float>, CpuBackend>);
static_assert(recdiff::Optimizer<recdiff::AdamW<CpuBackend, double>, CpuBackend>);

namespace {

// The scalar update of docs/algorithms/diffrec.md 6, written out independently of AdamUpdate.
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

}  // namespace

TEST_CASE("AdamW: first step moves each weight by about lr against its gradient", "[optim]") {
  CpuBackend::Context ctx(1);
  Matrix w(1, 3), g(1, 3);
  w << 1.0, -2.0, 0.5;
  g << 0.5, -0.2, 0.0;
  recdiff::AdamW<CpuBackend, double> opt({{"w", &w, &g}}, {.lr = 0.1});
  opt.step(ctx);
  // n = 1: m = 0.1 g, v = 0.001 g^2, m_hat = g, v_hat = g^2, so theta -= 0.1 g / (|g| + 1e-8).
  CHECK(w(0, 0) == Approx(1.0 - 0.1 * 0.5 / (0.5 + 1e-8)).epsilon(1e-14));
  CHECK(w(0, 1) == Approx(-2.0 + 0.1 * 0.2 / (0.2 + 1e-8)).epsilon(1e-14));
  CHECK(w(0, 2) == 0.5);  // zero gradient, zero moments: no move
  CHECK(opt.state()[0].step == 1);
  CHECK(opt.state()[0].m(0, 0) == Approx(0.05));
  CHECK(opt.state()[0].v(0, 0) == Approx(0.00025));
}

TEST_CASE("AdamW: second step with bias correction, by hand", "[optim]") {
  CpuBackend::Context ctx(1);
  Matrix w(1, 1), g(1, 1);
  w << 1.0;
  g << 0.5;
  recdiff::AdamW<CpuBackend, double> opt({{"w", &w, &g}}, {.lr = 0.01});
  opt.step(ctx);
  g << -1.0;
  opt.step(ctx);
  // m = 0.9 * 0.05 - 0.1 = -0.055; v = 0.999 * 0.00025 + 0.001 = 0.00124975;
  // m_hat = -0.055 / 0.19; v_hat = 0.00124975 / 0.001999.
  const double first = 1.0 - 0.01 * 0.5 / (0.5 + 1e-8);
  const double m_hat = -0.055 / 0.19, v_hat = 0.00124975 / 0.001999;
  CHECK(w(0, 0) == Approx(first - 0.01 * m_hat / (std::sqrt(v_hat) + 1e-8)).epsilon(1e-13));
  CHECK(opt.state()[0].m(0, 0) == Approx(-0.055).epsilon(1e-14));
  CHECK(opt.state()[0].v(0, 0) == Approx(0.00124975).epsilon(1e-14));
}

TEST_CASE("Adam and AdamW: many steps follow the scalar reference, weight decay included",
          "[optim]") {
  const bool decoupled = GENERATE(true, false);
  const double wd = GENERATE(0.0, 0.05);
  CAPTURE(decoupled, wd);
  CpuBackend::Context ctx(2);
  Matrix w(3, 20), g(3, 20), b(1, 4), gb(1, 4);
  w.setRandom();
  b.setRandom();
  std::vector<Reference> ref_w, ref_b;
  for (Eigen::Index k = 0; k < w.size(); ++k) ref_w.push_back({w.data()[k]});
  for (Eigen::Index k = 0; k < b.size(); ++k) ref_b.push_back({b.data()[k]});
  std::vector<Parameter> params{{"w", &w, &g}, {"b", &b, &gb}};
  const recdiff::AdamConfig config{.lr = 0.003, .weight_decay = wd};
  recdiff::Adam<CpuBackend, double> adam(params, config);
  recdiff::AdamW<CpuBackend, double> adamw(params, config);
  for (int n = 1; n <= 7; ++n) {
    for (Eigen::Index k = 0; k < g.size(); ++k) g.data()[k] = std::sin(0.7 * k + n) + 0.3 * w.data()[k];
    for (Eigen::Index k = 0; k < gb.size(); ++k) gb.data()[k] = std::cos(1.3 * k - n);
    for (Eigen::Index k = 0; k < g.size(); ++k) ref_w[k].step(g.data()[k], 0.003, wd, decoupled);
    for (Eigen::Index k = 0; k < gb.size(); ++k) ref_b[k].step(gb.data()[k], 0.003, wd, decoupled);
    if (decoupled)
      adamw.step(ctx);
    else
      adam.step(ctx);
  }
  for (Eigen::Index k = 0; k < w.size(); ++k) CHECK(w.data()[k] == Approx(ref_w[k].theta).epsilon(1e-12));
  for (Eigen::Index k = 0; k < b.size(); ++k) CHECK(b.data()[k] == Approx(ref_b[k].theta).epsilon(1e-12));
  const auto& state = decoupled ? adamw.state() : adam.state();
  CHECK(state[0].step == 7);
  CHECK(state[1].step == 7);
  CHECK(state[0].v(1, 2) == Approx(ref_w[22].v).epsilon(1e-12));
}

TEST_CASE("AdamW in float follows the double reference to float precision", "[optim]") {
  using FloatMatrix = CpuBackend::Matrix<float>;
  FloatMatrix w(4, 37), g(4, 37);
  std::vector<Reference> ref;
  for (Eigen::Index k = 0; k < w.size(); ++k) {
    w.data()[k] = 0.05f * static_cast<float>(k % 23) - 0.5f;
    ref.push_back({static_cast<double>(w.data()[k])});
  }
  std::vector<recdiff::nn::Parameter<CpuBackend, float>> params{{"w", &w, &g}};
  recdiff::AdamW<CpuBackend, float> adamw(params, recdiff::AdamConfig{.lr = 0.01, .weight_decay = 0.1});
  for (int n = 1; n <= 5; ++n) {
    for (Eigen::Index k = 0; k < g.size(); ++k) {
      // Gradients from 1e-3 to 1 in size, so that sqrt(v) spans several binades.
      g.data()[k] = static_cast<float>(std::sin(0.37 * static_cast<double>(k) + n) *
                                       std::pow(10.0, -static_cast<double>(k % 4)));
      ref[static_cast<std::size_t>(k)].step(g.data()[k], 0.01, 0.1, true);
    }
    adamw.step(CpuBackend::Context(2));
  }
  for (Eigen::Index k = 0; k < w.size(); ++k)
    REQUIRE(w.data()[k] == Approx(ref[static_cast<std::size_t>(k)].theta).epsilon(1e-5).margin(1e-6));
}

TEST_CASE("AdamW: decoupled decay shrinks weights without a gradient, Adam L2 does not",
          "[optim]") {
  CpuBackend::Context ctx(1);
  Matrix w1(1, 1), w2(1, 1), g(1, 1);
  w1 << 2.0;
  w2 << 2.0;
  g << 0.0;
  recdiff::AdamW<CpuBackend, double> adamw({{"w", &w1, &g}}, {.lr = 0.1, .weight_decay = 0.5});
  recdiff::Adam<CpuBackend, double> adam({{"w", &w2, &g}}, {.lr = 0.1, .weight_decay = 0.5});
  adamw.step(ctx);
  adam.step(ctx);
  // AdamW: theta = 2 (1 - 0.05) = 1.9, and the zero gradient leaves the moments at zero.
  CHECK(w1(0, 0) == Approx(1.9).epsilon(1e-15));
  CHECK(adamw.state()[0].m(0, 0) == 0.0);
  // Adam: g' = 0.5 * 2 = 1 enters the moments, so the first step is the usual ~lr: 2 - 0.1.
  CHECK(w2(0, 0) == Approx(2.0 - 0.1 / (1.0 + 1e-8)).epsilon(1e-14));
  CHECK(adam.state()[0].m(0, 0) == Approx(0.1));
}

TEST_CASE("AdamW: state is exposed for checkpoints, reset and learning rate", "[optim]") {
  CpuBackend::Context ctx(1);
  Matrix w = Matrix::Constant(2, 2, 1.0), g = Matrix::Constant(2, 2, 0.25);
  Matrix w_copy = w;
  recdiff::AdamW<CpuBackend, double> a({{"w", &w, &g}});
  recdiff::AdamW<CpuBackend, double> b({{"w", &w_copy, &g}});
  a.step(ctx);
  a.step(ctx);
  b.step(ctx);
  b.step(ctx);
  // Restoring a's state into a fresh optimiser continues identically.
  recdiff::AdamW<CpuBackend, double> restored({{"w", &w_copy, &g}});
  restored.state() = b.state();
  a.step(ctx);
  restored.step(ctx);
  CHECK(w == w_copy);
  CHECK(restored.state()[0].step == 3);
  restored.reset();
  CHECK(restored.state()[0].step == 0);
  CHECK(restored.state()[0].m.isZero());
  restored.set_learning_rate(0.5);
  CHECK(restored.learning_rate() == 0.5);
  CHECK(restored.parameters()[0].name == "w");
}

TEST_CASE("AdamW: bad hyper-parameters and shapes throw", "[optim]") {
  Matrix w(2, 2), g(2, 2), bad(1, 2);
  using Opt = recdiff::AdamW<CpuBackend, double>;
  auto make = [&](recdiff::AdamConfig c) { return Opt({{"w", &w, &g}}, c); };
  REQUIRE_THROWS_AS(make({.lr = 0.0}), std::invalid_argument);
  REQUIRE_THROWS_WITH(make({.lr = -1.0}), Catch::Contains("lr must be > 0"));
  REQUIRE_THROWS_WITH(make({.beta1 = 1.0}), Catch::Contains("beta1 must be in [0, 1)"));
  REQUIRE_THROWS_WITH(make({.beta2 = -0.1}), Catch::Contains("beta2 must be in [0, 1)"));
  REQUIRE_THROWS_WITH(make({.eps = 0.0}), Catch::Contains("eps must be > 0"));
  REQUIRE_THROWS_WITH(make({.weight_decay = -1.0}), Catch::Contains("weight_decay must be >= 0"));
  REQUIRE_THROWS_AS(Opt({{"w", &w, &bad}}), std::invalid_argument);
  REQUIRE_THROWS_WITH(Opt({{"w", &w, &bad}}), Catch::Contains("gradient of w is 1x2"));
  Opt ok({{"w", &w, &g}});
  REQUIRE_THROWS_AS(ok.set_learning_rate(0.0), std::invalid_argument);
  REQUIRE_THROWS_WITH(ok.set_learning_rate(-2.0), Catch::Contains("lr must be > 0"));
}
