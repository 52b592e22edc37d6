#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/optimizer.hpp>
#include <recdiff/optim/adamax.hpp>

#include "optim_support.hpp"

using recdiff::CpuBackend;
using recdiff::test::pseudo_grad;
using recdiff::test::tensor_of;
using recdiff::test::write_grad;
using Matrix = CpuBackend::Matrix<double>;
using Tensor = recdiff::nn::Tensor<CpuBackend, double>;

static_assert(recdiff::Optimizer<recdiff::Adamax<CpuBackend, float>, CpuBackend>);
static_assert(recdiff::Optimizer<recdiff::Adamax<CpuBackend, double>, CpuBackend>);
static_assert(std::string_view(recdiff::Adamax<CpuBackend, double>::name) == "adamax");

namespace {

// Adamax as torch.optim.Adamax documents it (Kingma & Ba 2015, Algorithm 2, eps added to |g|),
// written out per scalar independently of AdamaxUpdate.
struct Reference {
  double theta, lr, beta1, beta2, eps, wd;
  double m = 0, u = 0;
  int n = 0;
  void step(double g) {
    ++n;
    if (wd != 0) g = g + wd * theta;
    m = beta1 * m + (1 - beta1) * g;
    u = std::max(beta2 * u, std::fabs(g) + eps);
    const double clr = lr / (1 - std::pow(beta1, n));
    theta = theta - clr * m / u;
  }
};

}  // namespace

TEST_CASE("Adamax: default hyper-parameters are torch's", "[optim]") {
  const recdiff::AdamaxConfig c;
  CHECK(c.lr == 2e-3);
  CHECK(c.beta1 == 0.9);
  CHECK(c.beta2 == 0.999);
  CHECK(c.eps == 1e-8);
  CHECK(c.weight_decay == 0.0);
}

TEST_CASE("Adamax: the first two steps by hand", "[optim]") {
  CpuBackend::Context ctx(1);
  Matrix w0(1, 3), g(1, 3);
  w0 << 1.0, -2.0, 0.5;
  Tensor w = tensor_of(w0);
  recdiff::Adamax<CpuBackend, double> opt({{"w", &w}}, {.lr = 0.1});
  g << 0.5, -0.2, 0.0;
  write_grad(w, g);
  opt.step(ctx);
  // n = 1: m = 0.1 g, u = |g| + eps, step size lr / 0.1: theta -= lr g / (|g| + eps).
  CHECK(w.value(0, 0) == Approx(1.0 - 0.1 * 0.5 / (0.5 + 1e-8)).epsilon(1e-14));
  CHECK(w.value(0, 1) == Approx(-2.0 + 0.1 * 0.2 / (0.2 + 1e-8)).epsilon(1e-14));
  CHECK(w.value(0, 2) == 0.5);
  CHECK(opt.state()[0].u(0, 2) == 1e-8);  // |0| + eps
  CHECK(opt.state()[0].m(0, 0) == Approx(0.05).epsilon(1e-15));
  // n = 2 with a smaller gradient on element 0: u keeps the decayed maximum 0.999 * (0.5 + eps).
  opt.zero_grad();
  g << 0.1, -1.0, 0.0;
  write_grad(w, g);
  const double w1 = w.value(0, 0);
  opt.step(ctx);
  const double m = 0.9 * 0.05 + 0.1 * 0.1, u = 0.999 * (0.5 + 1e-8);
  CHECK(opt.state()[0].u(0, 0) == Approx(u).epsilon(1e-15));
  CHECK(opt.state()[0].u(0, 1) == Approx(1.0 + 1e-8).epsilon(1e-15));  // the new |g| wins
  CHECK(w.value(0, 0) == Approx(w1 - 0.1 / (1 - 0.81) * m / u).epsilon(1e-14));
  CHECK(opt.state()[0].step == 2);
}

TEST_CASE("Adamax: many steps follow the scalar reference, weight decay included", "[optim]") {
  const double wd = GENERATE(0.0, 0.03);
  const double beta2 = GENERATE(0.999, 0.5);
  CAPTURE(wd, beta2);
  CpuBackend::Context ctx(2);
  Matrix w0(5, 17);
  w0.setRandom();
  Tensor w = tensor_of(w0);
  const recdiff::AdamaxConfig config{.lr = 1e-3, .beta2 = beta2, .weight_decay = wd};
  std::vector<Reference> ref;
  for (Eigen::Index k = 0; k < w0.size(); ++k)
    ref.push_back({w0.data()[k], config.lr, config.beta1, config.beta2, config.eps, wd});
  recdiff::Adamax<CpuBackend, double> opt({{"w", &w}}, config);
  Matrix g(5, 17);
  for (int n = 1; n <= 9; ++n) {
    for (Eigen::Index k = 0; k < g.size(); ++k) {
      // Every third step leaves element 0 without gradient, so u decays there.
      g.data()[k] = (k == 0 && n % 3 == 0) ? 0.0 : pseudo_grad(k, n, w.value.data()[k]);
      ref[static_cast<std::size_t>(k)].step(g.data()[k]);
    }
    opt.zero_grad();
    write_grad(w, g);
    opt.step(ctx);
  }
  for (Eigen::Index k = 0; k < w0.size(); ++k) {
    const auto& r = ref[static_cast<std::size_t>(k)];
    CHECK(w.value.data()[k] == Approx(r.theta).epsilon(1e-13));
    CHECK(opt.state()[0].m.data()[k] == Approx(r.m).epsilon(1e-12).margin(1e-300));
    CHECK(opt.state()[0].u.data()[k] == Approx(r.u).epsilon(1e-13));
  }
  CHECK(opt.state()[0].step == 9);
}

TEST_CASE("Adamax in float follows the double reference to float precision", "[optim]") {
  using FloatMatrix = CpuBackend::Matrix<float>;
  FloatMatrix w0(3, 41), g(3, 41);
  std::vector<Reference> ref;
  for (Eigen::Index k = 0; k < w0.size(); ++k) {
    w0.data()[k] = 0.04f * static_cast<float>(k % 19) - 0.4f;
    ref.push_back({static_cast<double>(w0.data()[k]), 1e-2, 0.9, 0.999, 1e-8, 0.01});
  }
  auto w = tensor_of(w0);
  recdiff::Adamax<CpuBackend, float> opt({{"w", &w}}, {.lr = 1e-2, .weight_decay = 0.01});
  for (int n = 1; n <= 6; ++n) {
    for (Eigen::Index k = 0; k < g.size(); ++k) {
      g.data()[k] = static_cast<float>(pseudo_grad(k, n, 0.0));
      ref[static_cast<std::size_t>(k)].step(g.data()[k]);
    }
    opt.zero_grad();
    write_grad(w, g);
    opt.step(CpuBackend::Context(2));
  }
  for (Eigen::Index k = 0; k < w0.size(); ++k)
    REQUIRE(w.value.data()[k] ==
            Approx(ref[static_cast<std::size_t>(k)].theta).epsilon(1e-5).margin(1e-6));
}

TEST_CASE("Adamax: a NaN gradient propagates into u and theta", "[optim]") {
  CpuBackend::Context ctx(1);
  Tensor w = tensor_of(Matrix::Constant(1, 2, 1.0));
  recdiff::Adamax<CpuBackend, double> opt({{"w", &w}});
  Matrix g(1, 2);
  g << std::numeric_limits<double>::quiet_NaN(), 1.0;
  write_grad(w, g);
  opt.step(ctx);
  CHECK(std::isnan(opt.state()[0].u(0, 0)));
  CHECK(std::isnan(w.value(0, 0)));
  CHECK(std::isfinite(w.value(0, 1)));
}

TEST_CASE("Adamax: bad hyper-parameters throw", "[optim]") {
  Tensor w(2, 2);
  using Opt = recdiff::Adamax<CpuBackend, double>;
  auto make = [&](recdiff::AdamaxConfig c) { return Opt({{"w", &w}}, c); };
  REQUIRE_THROWS_WITH(make({.lr = 0.0}), Catch::Contains("recdiff::Adamax: lr must be > 0"));
  REQUIRE_THROWS_WITH(make({.beta1 = -0.5}), Catch::Contains("beta1 must be in [0, 1)"));
  REQUIRE_THROWS_WITH(make({.beta2 = 1.0}), Catch::Contains("beta2 must be in [0, 1)"));
  REQUIRE_THROWS_WITH(make({.eps = -1.0}), Catch::Contains("eps must be > 0"));
  REQUIRE_THROWS_WITH(make({.weight_decay = NAN}), Catch::Contains("weight_decay must be >= 0"));
  Opt ok({{"w", &w}});
  REQUIRE_THROWS_WITH(ok.set_learning_rate(-1.0), Catch::Contains("lr must be > 0"));
  ok.set_learning_rate(1e-3);  // CODIGEM's learning rate
  CHECK(ok.learning_rate() == 1e-3);
}
