#include <cmath>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

#include <recdiff/error.hpp>
#include <recdiff/sampler/sampler.hpp>

using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;
using recdiff::ImportanceSampler;
using recdiff::UniformSampler;

namespace {

// Pearson's chi-square of observed counts against expected probabilities.
double chi_square(const std::vector<int>& steps, const std::vector<double>& prob) {
  std::vector<double> counts(prob.size(), 0.0);
  for (int k : steps) counts[static_cast<std::size_t>(k)] += 1;
  double chi = 0;
  for (std::size_t k = 0; k < prob.size(); ++k) {
    const double e = prob[k] * static_cast<double>(steps.size());
    chi += (counts[k] - e) * (counts[k] - e) / e;
  }
  return chi;
}

// Chi-square critical values at p = 1e-6 are ~28 for 2 and ~33 for 4 degrees of freedom; 35 leaves
// a false-alarm rate below 1e-6 for every test below (the draws are deterministic for a fixed
// seed).
constexpr double kChiLimit = 35.0;

// Fills step k's history with h copies of r[k], so that its root-mean-square is r[k].
ImportanceSampler warmed(const std::vector<double>& r, int history = 10) {
  ImportanceSampler s(static_cast<int>(r.size()), history);
  for (int j = 0; j < history; ++j)
    for (std::size_t k = 0; k < r.size(); ++k) {
      const int step[1] = {static_cast<int>(k)};
      const double loss[1] = {r[k]};
      s.update(step, loss);
    }
  return s;
}

}  // namespace

TEST_CASE("UniformSampler: uniform draws with factor 1", "[sampler]") {
  const UniformSampler s(5);
  std::vector<int> steps;
  std::vector<double> p;
  s.sample(50000, 42, 3, steps, p);
  REQUIRE(steps.size() == 50000);
  for (std::size_t b = 0; b < steps.size(); ++b) {
    REQUIRE(steps[b] >= 0);
    REQUIRE(steps[b] < 5);
    REQUIRE(p[b] == 1.0);
  }
  CHECK(chi_square(steps, std::vector<double>(5, 0.2)) < kChiLimit);
  std::vector<int> again;
  s.sample(50000, 42, 3, again, p);
  CHECK(again == steps);  // a pure function of (seed, step_counter, row)
  s.sample(50000, 42, 4, again, p);
  CHECK(again != steps);
  CHECK(s.state().empty());
  REQUIRE_THROWS_AS(s.set_state(std::vector<double>{1.0}), std::invalid_argument);
  REQUIRE_THROWS_WITH(
      s.set_state(std::vector<double>{1.0}),
      Catch::Contains("recdiff::UniformSampler::set_state") && Catch::Contains("expected 0"));
  REQUIRE_THROWS_AS(UniformSampler(0), std::invalid_argument);
  REQUIRE_THROWS_WITH(UniformSampler(0), Catch::Contains("must be positive, got 0"));
}

TEST_CASE("ImportanceSampler: warm-up is uniform with p = 1 until every step has 10 losses",
          "[sampler]") {
  ImportanceSampler s(5);
  std::vector<int> steps;
  std::vector<double> p;
  // Fill every step but the last to 10 and step 4 to 9: still warming up.
  for (int j = 0; j < 10; ++j)
    for (int k = 0; k < 5; ++k) {
      if (k == 4 && j == 9) continue;
      const int step[1] = {k};
      const double loss[1] = {1.0 + k};
      s.update(step, loss);
    }
  REQUIRE_FALSE(s.warmed_up());
  s.sample(50000, 7, 1, steps, p);
  for (double v : p) REQUIRE(v == 1.0);
  CHECK(chi_square(steps, std::vector<double>(5, 0.2)) < kChiLimit);
  // The same draws as the uniform sampler.
  std::vector<int> uniform_steps;
  UniformSampler(5).sample(50000, 7, 1, uniform_steps, p);
  CHECK(uniform_steps == steps);
  const int step[1] = {4};
  const double loss[1] = {5.0};
  s.update(step, loss);
  CHECK(s.warmed_up());
}

TEST_CASE("ImportanceSampler: worked example T = 3, r = (1, 2, 3)", "[sampler]") {
  const ImportanceSampler s = warmed({1.0, 2.0, 3.0});
  REQUIRE(s.warmed_up());
  const std::vector<double> prob = s.probabilities();
  // P_k = 0.999 r_k / 6 + 0.001 / 3.
  CHECK_THAT(prob[0], WithinRel(0.999 / 6 + 0.001 / 3, 1e-14));
  CHECK_THAT(prob[0], WithinAbs(0.1668333, 5e-8));
  CHECK_THAT(prob[1], WithinAbs(0.3333333, 5e-8));
  CHECK_THAT(prob[2], WithinAbs(0.4998333, 5e-8));
  std::vector<int> steps;
  std::vector<double> p;
  s.sample(30000, 11, 2, steps, p);
  for (std::size_t b = 0; b < steps.size(); ++b) {
    REQUIRE(p[b] == prob[static_cast<std::size_t>(steps[b])] * 3);
    if (steps[b] == 2) REQUIRE_THAT(p[b], WithinRel(1.4995, 1e-12));
  }
  CHECK(chi_square(steps, prob) < kChiLimit);
}

TEST_CASE("ImportanceSampler: r is the root mean square of the history", "[sampler]") {
  ImportanceSampler s(2, 2, 0.0);
  const int steps[4] = {0, 0, 1, 1};
  const double losses[4] = {3.0, 4.0, 1.0, 1.0};
  s.update(steps, losses);
  // r_0 = sqrt((9 + 16) / 2) = sqrt(12.5), r_1 = 1.
  const double r0 = std::sqrt(12.5);
  CHECK_THAT(s.probabilities()[0], WithinRel(r0 / (r0 + 1.0), 1e-15));
  CHECK_THAT(s.probabilities()[1], WithinRel(1.0 / (r0 + 1.0), 1e-15));
}

TEST_CASE("ImportanceSampler: history is a FIFO updated in batch order", "[sampler]") {
  ImportanceSampler s(2, 3);
  const int steps[5] = {1, 0, 1, 1, 1};
  const double losses[5] = {10, 20, 11, 12, 13};
  s.update(steps, losses);
  // Layout [T, h, c_0, c_1, H[0][0..2], H[1][0..2]]: step 1 got 10, 11, 12, then 13 pushed 10 out.
  CHECK(s.state() == std::vector<double>{2, 3, 1, 3, 20, 0, 0, 11, 12, 13});
  const int more_steps[2] = {1, 1};
  const double more[2] = {14, 15};
  s.update(more_steps, more);
  CHECK(s.state() == std::vector<double>{2, 3, 1, 3, 20, 0, 0, 13, 14, 15});
}

TEST_CASE("ImportanceSampler: state round trip and invalid states", "[sampler]") {
  const ImportanceSampler a = warmed({0.5, 1.5, 2.0, 4.0});
  ImportanceSampler b(4);
  b.set_state(a.state());
  CHECK(b.state() == a.state());
  std::vector<int> sa, sb;
  std::vector<double> pa, pb;
  a.sample(100, 5, 9, sa, pa);
  b.sample(100, 5, 9, sb, pb);
  CHECK(sa == sb);
  CHECK(pa == pb);

  ImportanceSampler c(4);
  std::vector<double> state = a.state();
  REQUIRE_THROWS_AS(c.set_state(std::span<const double>(state).first(5)), std::invalid_argument);
  REQUIRE_THROWS_WITH(c.set_state(std::span<const double>(state).first(5)),
                      Catch::Contains("recdiff::ImportanceSampler::set_state: the state has 5 "
                                      "values, expected 46"));
  state[3] = 2.5;
  REQUIRE_THROWS_AS(c.set_state(state), std::invalid_argument);
  REQUIRE_THROWS_WITH(c.set_state(state), Catch::Contains("count 1 is 2.5"));
  ImportanceSampler other(4, 5);
  REQUIRE_THROWS_AS(other.set_state(a.state()), std::invalid_argument);
  REQUIRE_THROWS_WITH(other.set_state(a.state()), Catch::Contains("the state has 46 values"));
  std::vector<double> header = a.state();
  header[1] = 9;
  REQUIRE_THROWS_WITH(c.set_state(header), Catch::Contains("expected T = 4, history = 10"));
  CHECK(c.state() == ImportanceSampler(4).state());  // unchanged after the failures
}

TEST_CASE("ImportanceSampler: invalid arguments throw", "[sampler]") {
  REQUIRE_THROWS_AS(ImportanceSampler(0), std::invalid_argument);
  REQUIRE_THROWS_WITH(ImportanceSampler(0), Catch::Contains("number of steps must be positive"));
  REQUIRE_THROWS_AS(ImportanceSampler(3, 0), std::invalid_argument);
  REQUIRE_THROWS_WITH(ImportanceSampler(3, 0), Catch::Contains("history length must be positive"));
  REQUIRE_THROWS_AS(ImportanceSampler(3, 10, 1.5), std::invalid_argument);
  REQUIRE_THROWS_WITH(ImportanceSampler(3, 10, 1.5),
                      Catch::Contains("uniform_mix must be in [0, 1]"));

  ImportanceSampler s(3);
  const int steps[2] = {0, 3};
  const double losses[2] = {1.0, 1.0};
  REQUIRE_THROWS_AS(s.update(steps, losses), std::out_of_range);
  REQUIRE_THROWS_WITH(s.update(steps, losses), Catch::Contains("steps[1] = 3 is outside [0, 3)"));
  const int good[2] = {0, 1};
  const double bad[2] = {1.0, std::nan("")};
  REQUIRE_THROWS_AS(s.update(good, bad), recdiff::NumericalError);
  REQUIRE_THROWS_WITH(s.update(good, bad), Catch::Contains("losses[1] is not finite"));
  REQUIRE_THROWS_AS(s.update(std::span<const int>(good).first(1), losses), std::invalid_argument);
  REQUIRE_THROWS_WITH(s.update(std::span<const int>(good).first(1), losses),
                      Catch::Contains("steps has 1 entries but losses has 2"));
  CHECK(s.state() == ImportanceSampler(3).state());  // nothing recorded by failed updates

  const ImportanceSampler zero = warmed({0.0, 0.0, 0.0});
  REQUIRE_THROWS_AS(zero.probabilities(), recdiff::NumericalError);
  REQUIRE_THROWS_WITH(zero.probabilities(), Catch::Contains("every recorded loss is zero"));
}
