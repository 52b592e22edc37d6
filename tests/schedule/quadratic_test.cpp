#include <cmath>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

#include <recdiff/concepts/noise_schedule.hpp>
#include <recdiff/schedule/schedule.hpp>

using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;
using recdiff::Quadratic;

static_assert(recdiff::NoiseSchedule<Quadratic>);

TEST_CASE("Quadratic: RecFusion's defaults give [1e-4, 0.026606, 0.1] for T = 3", "[schedule]") {
  const Quadratic s(3);
  REQUIRE(s.num_steps() == 3);
  REQUIRE(s.betas().size() == 3);
  CHECK(s.betas()[0] == 1e-4);
  CHECK(s.betas()[2] == 0.1);
  // By hand: the middle root is the mean of sqrt(1e-4) = 0.01 and sqrt(0.1) = 0.316227766...
  CHECK_THAT(s.betas()[1], WithinRel(((0.01 + 0.316227766) / 2) * ((0.01 + 0.316227766) / 2), 1e-9));
  CHECK_THAT(s.betas()[1], WithinAbs(0.026606, 5e-7));
  // The defaults are RecFusion's, and T = 2 (the released final runs) is [1e-4, 0.1].
  CHECK(Quadratic(3, 1e-4, 0.1).betas() == s.betas());
  CHECK(Quadratic(2).betas() == std::vector<double>{1e-4, 0.1});
  CHECK(Quadratic(1).betas() == std::vector<double>{1e-4});
  CHECK(Quadratic(1, 0.3, 0.7).betas() == std::vector<double>{0.3});
}

TEST_CASE("Quadratic: square roots are evenly spaced, betas increase", "[schedule]") {
  const int T = 7;
  const Quadratic s(T, 0.01, 0.64);  // roots 0.1 .. 0.8, spacing 0.7 / 6
  for (int k = 0; k < T; ++k) {
    const double root = 0.1 + k * 0.7 / 6;
    CHECK_THAT(s.betas()[static_cast<std::size_t>(k)], WithinRel(root * root, 1e-14));
  }
  for (int k = 1; k < T; ++k)
    CHECK(s.betas()[static_cast<std::size_t>(k)] > s.betas()[static_cast<std::size_t>(k - 1)]);
  // Decreasing schedules are allowed (the rule does not care about the order of the end points).
  const Quadratic down(3, 0.64, 0.01);
  CHECK_THAT(down.betas()[1], WithinRel(0.45 * 0.45, 1e-14));
  // Equal end points give a constant schedule.
  const Quadratic flat(4, 0.2, 0.2);
  for (const double beta : flat.betas()) CHECK_THAT(beta, WithinRel(0.2, 1e-15));
}

TEST_CASE("Quadratic: invalid arguments throw readable messages", "[schedule]") {
  REQUIRE_THROWS_AS(Quadratic(0), std::invalid_argument);
  REQUIRE_THROWS_WITH(Quadratic(0), Catch::Contains("recdiff::Quadratic") &&
                                        Catch::Contains("number of steps must be positive") &&
                                        Catch::Contains("got 0"));
  REQUIRE_THROWS_AS(Quadratic(3, 0.0, 0.1), std::invalid_argument);
  REQUIRE_THROWS_WITH(Quadratic(3, 0.0, 0.1),
                      Catch::Contains("recdiff::Quadratic: beta_start is outside (0, 1], got 0"));
  REQUIRE_THROWS_WITH(Quadratic(3, -1e-4, 0.1), Catch::Contains("beta_start is outside (0, 1]"));
  REQUIRE_THROWS_WITH(Quadratic(3, 1e-4, 1.5),
                      Catch::Contains("recdiff::Quadratic: beta_end is outside (0, 1], got 1.5"));
  REQUIRE_THROWS_WITH(Quadratic(3, 1e-4, std::nan("")), Catch::Contains("beta_end is outside"));
}
