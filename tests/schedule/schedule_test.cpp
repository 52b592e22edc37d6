#include <cmath>
#include <numbers>
#include <stdexcept>

#include <catch2/catch.hpp>

#include <recdiff/schedule/schedule.hpp>

using Catch::Matchers::WithinRel;
using recdiff::Constant;
using recdiff::Cosine;
using recdiff::DiffRecLinearVar;
using recdiff::Linear;

namespace {
// The worked values (computed with the released code) are printed with 16-17 significant digits; the schedule is
// evaluated in the same order as the reference, so only the last printed digit may differ.
constexpr double rel = 1e-12;
}  // namespace

TEST_CASE("DiffRecLinearVar: ml-1m_clean DiffRec preset matches the released code's betas", "[schedule]") {
  const DiffRecLinearVar s(40, 0.005, 0.005, 0.01);
  REQUIRE(s.num_steps() == 40);
  REQUIRE(s.betas().size() == 40);
  REQUIRE(s.betas()[0] == 1e-5);  // the fixed first beta is stored exactly
  CHECK_THAT(s.betas()[1], WithinRel(6.410416670821206e-07, rel));
  CHECK_THAT(s.betas()[2], WithinRel(6.41042077975662e-07, rel));
  CHECK_THAT(s.betas()[39], WithinRel(6.410572829240735e-07, rel));

  const DiffRecLinearVar unfixed(40, 0.005, 0.005, 0.01, false);
  CHECK_THAT(unfixed.betas()[0], WithinRel(2.5000000000052758e-05, rel));
  CHECK(unfixed.betas()[1] == s.betas()[1]);
}

TEST_CASE("DiffRecLinearVar: L-DiffRec ml-1m_clean preset matches the released code's betas", "[schedule]") {
  const DiffRecLinearVar s(40, 0.005, 0.005, 0.02, false);
  CHECK_THAT(s.betas()[0], WithinRel(2.5000000000052758e-05, rel));
  CHECK_THAT(s.betas()[1], WithinRel(1.9231250011353396e-06, rel));
  CHECK_THAT(s.betas()[2], WithinRel(1.9231286996213015e-06, rel));
}

TEST_CASE("DiffRecLinearVar: betas follow the linear variances and the clip", "[schedule]") {
  // Without the override 1 - alpha_bar_k telescopes back to v_k = start + k (end - start) / (T -
  // 1).
  const int T = 7;
  const DiffRecLinearVar s(T, 0.1, 0.2, 0.9, false);
  double alpha_bar = 1.0;
  for (int k = 0; k < T; ++k) {
    alpha_bar *= 1.0 - s.betas()[static_cast<std::size_t>(k)];
    const double v = 0.1 * 0.2 + k * (0.1 * 0.9 - 0.1 * 0.2) / (T - 1);
    CHECK_THAT(1.0 - alpha_bar, WithinRel(v, 1e-12));
  }
  // A variance jump to 0.9999 of the whole signal in one step needs beta > 0.999: clipped.
  const DiffRecLinearVar clipped(2, 1.0, 0.5, 0.9999995, false);
  CHECK(clipped.betas()[1] == DiffRecLinearVar::max_beta);
  // T = 1 gives v_0 = start.
  const DiffRecLinearVar one(1, 0.5, 0.1, 0.2, false);
  CHECK_THAT(one.betas()[0], WithinRel(0.05, 1e-14));
}

TEST_CASE("DiffRecLinearVar: noise_scale 0 gives num_steps with no betas", "[schedule]") {
  const DiffRecLinearVar s(40, 0.0, 0.005, 0.01);
  CHECK(s.num_steps() == 40);
  CHECK(s.betas().empty());
}

TEST_CASE("DiffRecLinearVar: invalid hyper-parameters throw readable messages", "[schedule]") {
  REQUIRE_THROWS_AS(DiffRecLinearVar(40, 0.005, 0.01, 0.005), std::invalid_argument);
  REQUIRE_THROWS_WITH(DiffRecLinearVar(40, 0.005, 0.01, 0.005),
                      Catch::Contains("recdiff::DiffRecLinearVar") &&
                          Catch::Contains("noise_min must be smaller than noise_max"));
  REQUIRE_THROWS_AS(DiffRecLinearVar(0, 0.005, 0.005, 0.01), std::invalid_argument);
  REQUIRE_THROWS_WITH(
      DiffRecLinearVar(0, 0.005, 0.005, 0.01),
      Catch::Contains("number of steps must be positive") && Catch::Contains("got 0"));
  REQUIRE_THROWS_AS(DiffRecLinearVar(40, -1.0, 0.005, 0.01), std::invalid_argument);
  REQUIRE_THROWS_WITH(DiffRecLinearVar(40, -1.0, 0.005, 0.01),
                      Catch::Contains("noise_scale must be non-negative"));
  // Variances above 1 make 1 - v negative: the first beta exceeds 1 (no override) and is rejected.
  REQUIRE_THROWS_AS(DiffRecLinearVar(5, 2.0, 0.6, 0.9, false), std::invalid_argument);
  REQUIRE_THROWS_WITH(DiffRecLinearVar(5, 2.0, 0.6, 0.9, false),
                      Catch::Contains("beta_0 is outside (0, 1]") && Catch::Contains("got 1.2"));
  // noise_min = 0 without the override gives beta_0 = 0.
  REQUIRE_THROWS_WITH(DiffRecLinearVar(5, 0.1, 0.0, 0.5, false),
                      Catch::Contains("beta_0 is outside (0, 1]"));
}

TEST_CASE("Linear: betas are an exact-endpoint linspace", "[schedule]") {
  const Linear s(5, 1e-4, 2e-2);
  REQUIRE(s.num_steps() == 5);
  for (int k = 0; k < 5; ++k)
    CHECK_THAT(s.betas()[static_cast<std::size_t>(k)],
               WithinRel(1e-4 + k * (2e-2 - 1e-4) / 4, 1e-15));
  CHECK(s.betas()[4] == 2e-2);
  CHECK(Linear(1, 0.3, 0.7).betas() == std::vector<double>{0.3});
  REQUIRE_THROWS_AS(Linear(3, 0.0, 0.5), std::invalid_argument);
  REQUIRE_THROWS_WITH(Linear(3, 0.0, 0.5), Catch::Contains("recdiff::Linear: beta_0"));
  REQUIRE_THROWS_WITH(Linear(3, 0.5, 1.5), Catch::Contains("beta_2 is outside (0, 1]"));
  REQUIRE_THROWS_AS(Linear(-1, 0.1, 0.2), std::invalid_argument);
  REQUIRE_THROWS_WITH(Linear(-1, 0.1, 0.2), Catch::Contains("got -1"));
}

TEST_CASE("Constant: alpha_bar is (1 - beta)^(k+1)", "[schedule]") {
  const Constant s(6, 0.2);
  const recdiff::GaussianTables t(s);
  for (int k = 0; k < 6; ++k) {
    CHECK(s.betas()[static_cast<std::size_t>(k)] == 0.2);
    CHECK_THAT(t.alpha_bar()[static_cast<std::size_t>(k)], WithinRel(std::pow(0.8, k + 1), 1e-14));
  }
  REQUIRE_THROWS_AS(Constant(4, 1.5), std::invalid_argument);
  REQUIRE_THROWS_WITH(Constant(4, 1.5),
                      Catch::Contains("recdiff::Constant") && Catch::Contains("1.5"));
  REQUIRE_THROWS_WITH(Constant(4, -0.1), Catch::Contains("outside (0, 1]"));
  REQUIRE_THROWS_WITH(Constant(0, 0.1), Catch::Contains("number of steps"));
}

TEST_CASE("Cosine: alpha_bar follows the squared cosine until the clip", "[schedule]") {
  const int T = 20;
  const double off = 0.008;
  const Cosine s(T, off);
  const recdiff::GaussianTables t(s);
  const auto f = [&](double u) {
    const double c = std::cos((u + off) / (1 + off) * std::numbers::pi / 2);
    return c * c;
  };
  for (int k = 0; k < T - 1; ++k)
    CHECK_THAT(t.alpha_bar()[static_cast<std::size_t>(k)],
               WithinRel(f(double(k + 1) / T) / f(0.0), 1e-12));
  // f(1) = cos(pi/2)^2 ~ 0, so the last beta is ~1 and is clipped to max_beta.
  CHECK(s.betas()[T - 1] == 0.999);
  for (int k = 1; k < T; ++k)
    CHECK(t.alpha_bar()[static_cast<std::size_t>(k)] <
          t.alpha_bar()[static_cast<std::size_t>(k - 1)]);
  CHECK(Cosine(T, off, 0.5).betas()[T - 1] == 0.5);
  REQUIRE_THROWS_AS(Cosine(T, -0.1), std::invalid_argument);
  REQUIRE_THROWS_WITH(Cosine(T, -0.1), Catch::Contains("recdiff::Cosine: the offset s"));
  REQUIRE_THROWS_WITH(Cosine(T, off, 1.5), Catch::Contains("max_beta is outside (0, 1]"));
  REQUIRE_THROWS_WITH(Cosine(0), Catch::Contains("number of steps"));
}
