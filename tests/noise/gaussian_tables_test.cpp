#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

#include <recdiff/noise/gaussian_tables.hpp>
#include <recdiff/schedule/schedule.hpp>

using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;
using recdiff::GaussianTables;

namespace {
constexpr double rel = 1e-12;  // see schedule_test.cpp

// q(x_{k-1} | x_k, x_0) for scalars, derived by completing the square in
// N(x_k; sqrt(alpha_k) x_{k-1}, beta_k) * N(x_{k-1}; sqrt(ab_{k-1}) x_0, 1 - ab_{k-1}):
// precision = alpha_k / beta_k + 1 / (1 - ab_{k-1}),
// mean = var * (sqrt(alpha_k) / beta_k * x_k + sqrt(ab_{k-1}) / (1 - ab_{k-1}) * x_0).
struct Posterior {
  double variance, coef_x0, coef_xk;
};
Posterior bayes(double beta, double alpha_bar_prev) {
  const double alpha = 1.0 - beta;
  const double var = 1.0 / (alpha / beta + 1.0 / (1.0 - alpha_bar_prev));
  return {var, var * std::sqrt(alpha_bar_prev) / (1.0 - alpha_bar_prev),
          var * std::sqrt(alpha) / beta};
}
}  // namespace

TEST_CASE("GaussianTables: ml-1m_clean DiffRec preset matches the released code's tables", "[noise]") {
  const GaussianTables t(recdiff::DiffRecLinearVar(40, 0.005, 0.005, 0.01));
  REQUIRE(t.num_steps() == 40);
  REQUIRE_FALSE(t.is_noiseless());
  struct Row {
    std::size_t k;
    double alpha_bar, one_minus, coef1, coef2;
  };
  for (const Row& r :
       {Row{0, 0.99999, 9.99999999995449e-06, 1.000000000004551, 0.0},
        Row{1, 0.9999893589647434, 1.0641035256608866e-05, 0.060242114268688286,
            0.9397578857315511},
        Row{2, 0.9999887179294867, 1.1282070513263243e-05, 0.056819239565761, 0.9431807604307213},
        Row{39, 0.9999649996249911, 3.500037500892006e-05, 0.01831541146383728,
            0.9816845885324013}}) {
    INFO("k = " << r.k);
    CHECK_THAT(t.alpha_bar()[r.k], WithinRel(r.alpha_bar, rel));
    // 1 - alpha_bar loses ~5 digits to cancellation; the reference computes it the same way.
    CHECK_THAT(1.0 - t.alpha_bar()[r.k], WithinRel(r.one_minus, 1e-9));
    CHECK_THAT(t.posterior_mean_coef1()[r.k], WithinRel(r.coef1, rel));
    CHECK_THAT(t.posterior_mean_coef2()[r.k], WithinAbs(r.coef2, 0.0) || WithinRel(r.coef2, rel));
  }
  CHECK(t.posterior_variance()[0] == 0.0);
  CHECK_THAT(t.posterior_variance()[1], WithinRel(6.024241548124456e-07, rel));
  CHECK_THAT(t.posterior_log_variance_clipped()[0], WithinRel(-14.322304063634395, rel));
  CHECK(t.posterior_log_variance_clipped()[1] == t.posterior_log_variance_clipped()[0]);
  CHECK(t.alpha_bar_prev()[0] == 1.0);
  CHECK(t.alpha_bar_prev()[5] == t.alpha_bar()[4]);

  const GaussianTables unfixed(recdiff::DiffRecLinearVar(40, 0.005, 0.005, 0.01, false));
  CHECK_THAT(unfixed.alpha_bar()[0], WithinRel(0.999975, rel));
  CHECK_THAT(unfixed.alpha_bar()[1], WithinRel(0.9999743589743589, rel));
  CHECK_THAT(unfixed.alpha_bar()[2], WithinRel(0.9999737179487179, rel));
}

TEST_CASE("GaussianTables: L-DiffRec ml-1m_clean preset matches the released code's tables", "[noise]") {
  const GaussianTables t(recdiff::DiffRecLinearVar(40, 0.005, 0.005, 0.02, false));
  CHECK_THAT(t.alpha_bar()[0], WithinRel(0.999975, rel));
  CHECK_THAT(t.alpha_bar()[1], WithinRel(0.9999730769230769, rel));
  CHECK_THAT(t.alpha_bar()[2], WithinRel(0.9999711538461539, rel));
  CHECK_THAT(t.alpha_bar()[39], WithinRel(0.9999, rel));
  CHECK_THAT(t.snr()[0] - t.snr()[1], WithinRel(2857.142857077917, 1e-9));
}

TEST_CASE("GaussianTables: posterior equals the direct Bayesian computation", "[noise]") {
  for (const auto& betas :
       {recdiff::Linear(12, 1e-3, 0.3).betas(), recdiff::Constant(8, 0.1).betas(),
        recdiff::Cosine(10).betas(), recdiff::DiffRecLinearVar(40, 0.005, 0.005, 0.01).betas()}) {
    const GaussianTables t(static_cast<int>(betas.size()), betas);
    for (std::size_t k = 1; k < betas.size(); ++k) {
      INFO("T = " << betas.size() << ", k = " << k);
      const Posterior p = bayes(betas[k], t.alpha_bar()[k - 1]);
      // Closed forms and the completed square differ in rounding by a few ulps times the
      // conditioning 1 / (1 - alpha_bar), which is at most ~1e5 for the DiffRec preset.
      CHECK_THAT(t.posterior_variance()[k], WithinRel(p.variance, 1e-10));
      CHECK_THAT(t.posterior_mean_coef1()[k], WithinRel(p.coef_x0, 1e-10));
      CHECK_THAT(t.posterior_mean_coef2()[k], WithinRel(p.coef_xk, 1e-10));
      CHECK_THAT(t.posterior_log_variance_clipped()[k], WithinRel(std::log(p.variance), 1e-10));
    }
    // k = 0: the posterior collapses onto x0.
    CHECK_THAT(t.posterior_mean_coef1()[0], WithinRel(1.0, 1e-9));
    CHECK(t.posterior_mean_coef2()[0] == 0.0);
    CHECK(t.posterior_variance()[0] == 0.0);
  }
}

TEST_CASE("GaussianTables: derived buffers satisfy their identities", "[noise]") {
  const GaussianTables t(recdiff::Linear(30, 1e-4, 0.05));
  for (std::size_t k = 0; k < 30; ++k) {
    INFO("k = " << k);
    const double ab = t.alpha_bar()[k];
    CHECK_THAT(t.alphas()[k], WithinRel(1.0 - t.betas()[k], 1e-15));
    CHECK_THAT(t.sqrt_alpha_bar()[k] * t.sqrt_alpha_bar()[k] +
                   t.sqrt_one_minus_alpha_bar()[k] * t.sqrt_one_minus_alpha_bar()[k],
               WithinRel(1.0, 1e-14));
    CHECK_THAT(t.sqrt_recip_alpha_bar()[k] * t.sqrt_alpha_bar()[k], WithinRel(1.0, 1e-14));
    // sqrt(1/ab - 1) = sqrt(1 - ab) / sqrt(ab): x0 = (x_k - sqrt(1-ab) eps) / sqrt(ab).
    CHECK_THAT(t.sqrt_recipm1_alpha_bar()[k],
               WithinRel(t.sqrt_one_minus_alpha_bar()[k] / t.sqrt_alpha_bar()[k], 1e-12));
    CHECK_THAT(t.snr()[k], WithinRel(ab / (1.0 - ab), 1e-15));
    if (k > 0) CHECK(t.snr()[k] < t.snr()[k - 1]);
  }
}

TEST_CASE("GaussianTables: noiseless tables for noise_scale 0", "[noise]") {
  const GaussianTables t(recdiff::DiffRecLinearVar(5, 0.0, 0.005, 0.01));
  REQUIRE(t.is_noiseless());
  REQUIRE(t.num_steps() == 5);
  for (std::size_t k = 0; k < 5; ++k) {
    CHECK(t.betas()[k] == 0.0);
    CHECK(t.sqrt_alpha_bar()[k] == 1.0);
    CHECK(t.sqrt_one_minus_alpha_bar()[k] == 0.0);
    CHECK(t.sqrt_recip_alpha_bar()[k] == 1.0);
    CHECK(t.sqrt_recipm1_alpha_bar()[k] == 0.0);
    CHECK(t.posterior_mean_coef1()[k] == 1.0);
    CHECK(t.posterior_mean_coef2()[k] == 0.0);
    CHECK(t.posterior_variance()[k] == 0.0);
    CHECK(std::exp(0.5 * t.posterior_log_variance_clipped()[k]) == 0.0);
    CHECK(t.snr()[k] == std::numeric_limits<double>::infinity());
  }
}

TEST_CASE("GaussianTables: T = 1 has no clipped log variance", "[noise]") {
  const GaussianTables t(recdiff::Constant(1, 0.3));
  CHECK(t.posterior_variance()[0] == 0.0);
  CHECK(t.posterior_log_variance_clipped()[0] == -std::numeric_limits<double>::infinity());
  CHECK_THAT(t.posterior_mean_coef1()[0], WithinRel(1.0, 1e-15));
}

TEST_CASE("GaussianTables: invalid betas throw", "[noise]") {
  const std::vector<double> three{0.1, 0.2, 0.3};
  REQUIRE_THROWS_AS(GaussianTables(4, three), std::invalid_argument);
  REQUIRE_THROWS_WITH(GaussianTables(4, three),
                      Catch::Contains("recdiff::GaussianTables: betas has the wrong length") &&
                          Catch::Contains("got 3") && Catch::Contains("num_steps = 4"));
  const std::vector<double> bad{0.1, 0.0, 0.3};
  REQUIRE_THROWS_AS(GaussianTables(3, bad), std::invalid_argument);
  REQUIRE_THROWS_WITH(GaussianTables(3, bad), Catch::Contains("beta_1 is outside (0, 1]"));
  REQUIRE_THROWS_WITH(GaussianTables(0, std::vector<double>{}),
                      Catch::Contains("number of steps must be positive"));
}
