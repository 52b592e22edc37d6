#include <catch2/catch.hpp>

#include <cmath>
#include <string_view>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/optimizer.hpp>
#include <recdiff/optim/sgd.hpp>

#include "optim_support.hpp"

using recdiff::CpuBackend;
using recdiff::test::pseudo_grad;
using recdiff::test::tensor_of;
using recdiff::test::write_grad;
using Matrix = CpuBackend::Matrix<double>;
using Tensor = recdiff::nn::Tensor<CpuBackend, double>;

static_assert(recdiff::Optimizer<recdiff::Sgd<CpuBackend, float>, CpuBackend>);
static_assert(recdiff::Optimizer<recdiff::Sgd<CpuBackend, double>, CpuBackend>);
static_assert(std::string_view(recdiff::Sgd<CpuBackend, double>::name) == "sgd");

namespace {

// torch.optim.SGD's documented algorithm, per scalar, written independently of SgdUpdate: the
// momentum buffer does not exist before the first step and is then set to the gradient.
struct Reference {
  double theta, lr, momentum, dampening, wd;
  bool nesterov;
  double buf = 0;
  bool has_buf = false;
  void step(double g) {
    if (wd != 0) g = g + wd * theta;
    if (momentum != 0) {
      if (!has_buf) {
        buf = g;
        has_buf = true;
      } else {
        buf = momentum * buf + (1 - dampening) * g;
      }
      g = nesterov ? g + momentum * buf : buf;
    }
    theta = theta - lr * g;
  }
};

Matrix scalar(double x) { return Matrix::Constant(1, 1, x); }

}  // namespace

TEST_CASE("SGD: plain steps by hand, and no state", "[optim]") {
  CpuBackend::Context ctx(1);
  Tensor w = tensor_of(scalar(1.0));
  recdiff::Sgd<CpuBackend, double> opt({{"w", &w}}, {.lr = 0.1});
  CHECK(opt.state().empty());
  write_grad(w, scalar(2.0));
  opt.step(ctx);
  CHECK(w.value(0, 0) == Approx(0.8).epsilon(1e-15));
  opt.zero_grad();
  write_grad(w, scalar(-1.0));
  opt.step(ctx);
  CHECK(w.value(0, 0) == Approx(0.9).epsilon(1e-15));
  CHECK(opt.state().empty());
}

TEST_CASE("SGD: momentum and Nesterov by hand (buffer = g on the first step)", "[optim]") {
  CpuBackend::Context ctx(1);
  Tensor a = tensor_of(scalar(0.0)), b = tensor_of(scalar(0.0)), c = tensor_of(scalar(0.0));
  recdiff::Sgd<CpuBackend, double> heavy({{"w", &a}}, {.lr = 0.1, .momentum = 0.9});
  recdiff::Sgd<CpuBackend, double> nesterov({{"w", &b}},
                                            {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  recdiff::Sgd<CpuBackend, double> damped({{"w", &c}},
                                          {.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
  auto step_all = [&](double g) {
    for (Tensor* t : {&a, &b, &c}) {
      t->zero_grad();
      write_grad(*t, scalar(g));
    }
    heavy.step(ctx);
    nesterov.step(ctx);
    damped.step(ctx);
  };
  step_all(1.0);
  // Step 1: buf = 1 for all three (no dampening on the first step, as torch).
  CHECK(heavy.state()[0].buf(0, 0) == 1.0);
  CHECK(damped.state()[0].buf(0, 0) == 1.0);
  CHECK(a.value(0, 0) == Approx(-0.1).epsilon(1e-15));
  CHECK(b.value(0, 0) == Approx(-0.19).epsilon(1e-15));  // d = 1 + 0.9 * 1
  CHECK(c.value(0, 0) == Approx(-0.1).epsilon(1e-15));
  step_all(2.0);
  // Step 2: buf = 0.9 + 2 = 2.9 (damped: 0.9 + 0.5 * 2 = 1.9); nesterov d = 2 + 0.9 * 2.9 = 4.61.
  CHECK(heavy.state()[0].buf(0, 0) == Approx(2.9).epsilon(1e-15));
  CHECK(damped.state()[0].buf(0, 0) == Approx(1.9).epsilon(1e-15));
  CHECK(a.value(0, 0) == Approx(-0.1 - 0.29).epsilon(1e-15));
  CHECK(b.value(0, 0) == Approx(-0.19 - 0.461).epsilon(1e-15));
  CHECK(c.value(0, 0) == Approx(-0.1 - 0.19).epsilon(1e-15));
  CHECK(heavy.state()[0].step == 2);
}

TEST_CASE("SGD: many steps follow the scalar reference in every variant", "[optim]") {
  const double momentum = GENERATE(0.0, 0.9);
  const bool nesterov = GENERATE(false, true);
  const double dampening = GENERATE(0.0, 0.3);
  const double wd = GENERATE(0.0, 0.01);
  if (nesterov && (momentum == 0 || dampening != 0)) return;  // refused by the constructor
  CAPTURE(momentum, nesterov, dampening, wd);
  const recdiff::SgdConfig config{.lr = 0.05,
                                  .momentum = momentum,
                                  .dampening = dampening,
                                  .weight_decay = wd,
                                  .nesterov = nesterov};
  Matrix w0(6, 11), b0(1, 3);
  w0.setRandom();
  b0.setRandom();
  Tensor w = tensor_of(w0), b = tensor_of(b0);
  std::vector<Reference> ref_w, ref_b;
  for (Eigen::Index k = 0; k < w0.size(); ++k)
    ref_w.push_back({w0.data()[k], 0.05, momentum, dampening, wd, nesterov});
  for (Eigen::Index k = 0; k < b0.size(); ++k)
    ref_b.push_back({b0.data()[k], 0.05, momentum, dampening, wd, nesterov});
  recdiff::Sgd<CpuBackend, double> opt({{"w", &w}, {"b", &b}}, config);
  Matrix g(6, 11), gb(1, 3);
  for (int n = 1; n <= 8; ++n) {
    for (Eigen::Index k = 0; k < g.size(); ++k) {
      g.data()[k] = pseudo_grad(k, n, w.value.data()[k]);
      ref_w[static_cast<std::size_t>(k)].step(g.data()[k]);
    }
    opt.zero_grad();
    write_grad(w, g);
    // The bias gets a gradient only on odd steps; on even steps it stays lazily zero.
    if (n % 2 == 1) {
      for (Eigen::Index k = 0; k < gb.size(); ++k) gb.data()[k] = pseudo_grad(k + 5, n, 0.0);
      write_grad(b, gb);
    }
    for (Eigen::Index k = 0; k < gb.size(); ++k)
      ref_b[static_cast<std::size_t>(k)].step(n % 2 == 1 ? gb.data()[k] : 0.0);
    opt.step(CpuBackend::Context(2));
  }
  for (Eigen::Index k = 0; k < w0.size(); ++k)
    CHECK(w.value.data()[k] == Approx(ref_w[static_cast<std::size_t>(k)].theta).epsilon(1e-13));
  for (Eigen::Index k = 0; k < b0.size(); ++k)
    CHECK(b.value.data()[k] == Approx(ref_b[static_cast<std::size_t>(k)].theta).epsilon(1e-13));
  if (momentum > 0) {
    REQUIRE(opt.state().size() == 2);
    CHECK(opt.state()[0].step == 8);
    CHECK(opt.state()[0].buf(2, 3) == Approx(ref_w[2 * 11 + 3].buf).epsilon(1e-12));
  } else {
    CHECK(opt.state().empty());
  }
}

TEST_CASE("SGD in float follows the double reference to float precision", "[optim]") {
  using FloatMatrix = CpuBackend::Matrix<float>;
  FloatMatrix w0(2, 33), g(2, 33);
  std::vector<Reference> ref;
  for (Eigen::Index k = 0; k < w0.size(); ++k) {
    w0.data()[k] = 0.03f * static_cast<float>(k % 17) - 0.25f;
    ref.push_back({static_cast<double>(w0.data()[k]), 0.1, 0.9, 0.0, 0.01, true});
  }
  auto w = tensor_of(w0);
  recdiff::Sgd<CpuBackend, float> opt({{"w", &w}},
                                      {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
  for (int n = 1; n <= 6; ++n) {
    for (Eigen::Index k = 0; k < g.size(); ++k) {
      g.data()[k] = static_cast<float>(pseudo_grad(k, n, 0.0));
      ref[static_cast<std::size_t>(k)].step(g.data()[k]);
    }
    opt.zero_grad();
    write_grad(w, g);
    opt.step(CpuBackend::Context(1));
  }
  for (Eigen::Index k = 0; k < w0.size(); ++k)
    REQUIRE(w.value.data()[k] ==
            Approx(ref[static_cast<std::size_t>(k)].theta).epsilon(1e-5).margin(1e-6));
}

TEST_CASE("SGD: reset forgets the momentum buffer (the next step sets it to g again)", "[optim]") {
  CpuBackend::Context ctx(1);
  Tensor w = tensor_of(scalar(0.0));
  recdiff::Sgd<CpuBackend, double> opt({{"w", &w}}, {.lr = 1.0, .momentum = 0.5});
  write_grad(w, scalar(1.0));
  opt.step(ctx);
  opt.step(ctx);
  CHECK(opt.state()[0].buf(0, 0) == 1.5);
  opt.reset();
  CHECK(opt.state()[0].step == 0);
  opt.step(ctx);
  CHECK(opt.state()[0].buf(0, 0) == 1.0);
  CHECK(w.value(0, 0) == -1.0 - 1.5 - 1.0);
}

TEST_CASE("SGD: bad hyper-parameters throw", "[optim]") {
  Tensor w(2, 2);
  using Opt = recdiff::Sgd<CpuBackend, double>;
  auto make = [&](recdiff::SgdConfig c) { return Opt({{"w", &w}}, c); };
  REQUIRE_THROWS_WITH(make({.lr = 0.0}), Catch::Contains("recdiff::Sgd: lr must be > 0"));
  REQUIRE_THROWS_WITH(make({.momentum = -0.1}), Catch::Contains("momentum must be >= 0"));
  REQUIRE_THROWS_WITH(make({.dampening = 1.5}), Catch::Contains("dampening must be in [0, 1]"));
  REQUIRE_THROWS_WITH(make({.weight_decay = -1.0}), Catch::Contains("weight_decay must be >= 0"));
  REQUIRE_THROWS_WITH(make({.nesterov = true}), Catch::Contains("nesterov needs momentum > 0"));
  REQUIRE_THROWS_WITH(make({.momentum = 0.9, .dampening = 0.1, .nesterov = true}),
                      Catch::Contains("dampening 0"));
  Opt ok({{"w", &w}}, {.lr = 0.1});
  REQUIRE_THROWS_WITH(ok.set_learning_rate(0.0), Catch::Contains("lr must be > 0"));
}
