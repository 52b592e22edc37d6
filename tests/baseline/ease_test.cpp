#include <string>
#include <vector>

#include <Eigen/Dense>
#include <catch2/catch.hpp>

#include "support/toy_data.hpp"
#include <recdiff/baseline/ease.hpp>
#include <recdiff/baseline/popularity.hpp>
#include <recdiff/eval/diffrec_protocol.hpp>
#include <recdiff/eval/temporal_split.hpp>

using Catch::WithinAbs;
using recdiff::Ease;
using recdiff::index_t;
using recdiff::ScoreMatrix;

namespace {

const std::vector<std::vector<index_t>> kRows{{0, 1, 2}, {1, 2}, {0, 3}, {2, 3, 4}, {0, 1, 4}, {4}};

}  // namespace

TEST_CASE("Ease: B matches a direct dense solve", "[baseline][ease]") {
  const auto train = recdiff::test::matrix_from_rows(kRows, 5);
  const double lambda = 2.5;
  Ease ease;
  ease.fit(train, lambda);
  // Straightforward dense computation of the same closed form.
  Eigen::MatrixXd x = Eigen::MatrixXd::Zero(6, 5);
  for (std::size_t u = 0; u < kRows.size(); ++u)
    for (const index_t i : kRows[u]) x(static_cast<Eigen::Index>(u), i) = 1.0;
  const Eigen::MatrixXd g = x.transpose() * x;
  const Eigen::MatrixXd p = (g + lambda * Eigen::MatrixXd::Identity(5, 5)).inverse();
  Eigen::MatrixXd b(5, 5);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) b(i, j) = i == j ? 0.0 : -p(i, j) / p(j, j);
  REQUIRE(ease.num_items() == 5);
  REQUIRE(ease.lambda() == lambda);
  // B is stored in float: entries are O(0.3), float rounding is ~3e-8.
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) REQUIRE_THAT(ease.weights()(i, j), WithinAbs(b(i, j), 1e-6));

  const std::vector<index_t> users{3, 0};
  ScoreMatrix out;
  ease.score(train, users, out);
  const Eigen::MatrixXd expected = x({3, 0}, Eigen::all) * b;
  REQUIRE(out.rows() == 2);
  for (int r = 0; r < 2; ++r)
    for (int i = 0; i < 5; ++i) REQUIRE_THAT(out(r, i), WithinAbs(expected(r, i), 1e-6));
}

TEST_CASE("Ease: identical at 1 and 2 threads", "[baseline][ease]") {
  const auto data = recdiff::test::make_toy_data();
  recdiff::EaseOptions one;
  one.num_threads = 1;
  recdiff::EaseOptions two;
  two.num_threads = 2;
  Ease a(one);
  Ease b(two);
  a.fit(data, 10.0);
  b.fit(data, 10.0);
  REQUIRE(a.weights() == b.weights());
  std::vector<index_t> users(static_cast<std::size_t>(data.num_users()));
  for (index_t u = 0; u < data.num_users(); ++u) users[static_cast<std::size_t>(u)] = u;
  ScoreMatrix sa;
  ScoreMatrix sb;
  a.score(data, users, sa);
  b.score(data, users, sb);
  REQUIRE(sa == sb);
}

TEST_CASE("Ease: clearly beats Popularity on data with latent clusters", "[baseline][ease]") {
  const auto split = recdiff::temporal_split(recdiff::test::make_toy_data());
  recdiff::Popularity popularity;
  popularity.fit(split.train);
  Ease ease;
  ease.fit(split.train, 20.0);
  recdiff::EvalOptions options;
  options.ks = {20};
  const auto pop = recdiff::evaluate_diffrec_protocol(popularity, split, options);
  const auto lin = recdiff::evaluate_diffrec_protocol(ease, split, options);
  INFO("Popularity test recall@20 " << pop.test.at("recall@20") << ", EASE "
                                    << lin.test.at("recall@20"));
  REQUIRE(pop.test.at("recall@20") > 0.0);
  REQUIRE(lin.test.at("recall@20") >= 1.3 * pop.test.at("recall@20"));
  REQUIRE(lin.valid.at("recall@20") >= 1.3 * pop.valid.at("recall@20"));
}

TEST_CASE("Ease: bad lambda, memory limit and misuse throw", "[baseline][ease]") {
  const auto train = recdiff::test::matrix_from_rows(kRows, 5);
  Ease ease;
  REQUIRE_THROWS_AS(ease.fit(train, 0.0), std::invalid_argument);
  REQUIRE_THROWS_WITH(ease.fit(train, 0.0), Catch::Contains("lambda must be finite and > 0"));
  REQUIRE_THROWS_AS(ease.fit(train, -1.0), std::invalid_argument);

  // 5 items need 2 * 8 * 25 = 400 bytes.
  REQUIRE(Ease::fit_bytes(5) == 400);
  REQUIRE(Ease::fit_bytes(94949) == 2ull * 8 * 94949 * 94949);
  recdiff::EaseOptions small;
  small.max_bytes = 399;
  Ease limited(small);
  REQUIRE_THROWS_AS(limited.fit(train, 1.0), recdiff::NumericalError);
  REQUIRE_THROWS_WITH(limited.fit(train, 1.0), Catch::Contains("5 items need 400 bytes") &&
                                                   Catch::Contains("above the limit of 399 bytes"));
  small.max_bytes = 400;
  Ease enough(small);
  REQUIRE_NOTHROW(enough.fit(train, 1.0));

  const std::vector<index_t> users{0};
  ScoreMatrix out;
  REQUIRE_THROWS_AS(ease.score(train, users, out), std::logic_error);
  REQUIRE_THROWS_WITH(ease.score(train, users, out), Catch::Contains("before fit()"));
  ease.fit(train, 1.0);
  const auto wide = recdiff::test::matrix_from_rows(kRows, 6);
  REQUIRE_THROWS_AS(ease.score(wide, users, out), std::invalid_argument);
  REQUIRE_THROWS_WITH(ease.score(wide, users, out),
                      Catch::Contains("input has 6 items, fitted on 5"));
}

TEST_CASE("Ease: time-weighted X matches a dense solve on the weighted matrix",
          "[baseline][ease][weighting]") {
  const auto train = recdiff::test::matrix_from_rows(kRows, 5);
  const double lambda = 1.5;
  const recdiff::TimeLinearInput weights(0.2, 1.0);
  Ease ease;
  ease.fit(train, lambda, weights);
  REQUIRE(std::string(ease.input_weighting()) == "time-linear");
  // X_w by hand: row {a, b, c} weighs 0.2, 0.6, 1.0; {a, b} 0.2, 1.0; a single item 0.2.
  Eigen::MatrixXd x = Eigen::MatrixXd::Zero(6, 5);
  const std::vector<std::vector<double>> w{{0.2, 0.6, 1.0}, {0.2, 1.0},      {0.2, 1.0},
                                           {0.2, 0.6, 1.0}, {0.2, 0.6, 1.0}, {0.2}};
  for (std::size_t u = 0; u < kRows.size(); ++u)
    for (std::size_t p = 0; p < kRows[u].size(); ++p)
      x(static_cast<Eigen::Index>(u), kRows[u][p]) = w[u][p];
  const Eigen::MatrixXd g = x.transpose() * x;
  const Eigen::MatrixXd p = (g + lambda * Eigen::MatrixXd::Identity(5, 5)).inverse();
  Eigen::MatrixXd b(5, 5);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) b(i, j) = i == j ? 0.0 : -p(i, j) / p(j, j);
  // The weights are float (0.2f, 0.6f: relative rounding ~3e-8) and B is stored in float.
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) REQUIRE_THAT(ease.weights()(i, j), WithinAbs(b(i, j), 2e-6));
  // The weighting changes B (the binary fit differs clearly).
  Ease binary;
  binary.fit(train, lambda);
  REQUIRE(std::string(binary.input_weighting()) == "binary");
  REQUIRE((binary.weights() - ease.weights()).cwiseAbs().maxCoeff() > 0.01f);

  // Scores are x_w B, the weighted rows of the scored users.
  const std::vector<index_t> users{3, 0, 5};
  ScoreMatrix out;
  ease.score(train, users, out);
  const Eigen::MatrixXd expected = x({3, 0, 5}, Eigen::all) * b;
  REQUIRE(out.rows() == 3);
  for (int r = 0; r < 3; ++r)
    for (int i = 0; i < 5; ++i) REQUIRE_THAT(out(r, i), WithinAbs(expected(r, i), 2e-6));
}

TEST_CASE("Ease: weights of 1 give the binary fit's bits, weighted fits are thread-independent",
          "[baseline][ease][weighting]") {
  const auto data = recdiff::test::make_toy_data();
  std::vector<index_t> users(static_cast<std::size_t>(data.num_users()));
  for (index_t u = 0; u < data.num_users(); ++u) users[static_cast<std::size_t>(u)] = u;
  recdiff::EaseOptions one;
  one.num_threads = 1;
  recdiff::EaseOptions two;
  two.num_threads = 2;
  Ease binary(two), ones(one);
  binary.fit(data, 10.0);
  ones.fit(data, 10.0, recdiff::TimeLinearInput(1.0, 1.0));
  REQUIRE(binary.weights() == ones.weights());
  ScoreMatrix sb, so;
  binary.score(data, users, sb);
  ones.score(data, users, so);
  REQUIRE(sb == so);

  Ease a(one), b(two);
  a.fit(data, 10.0, recdiff::TimeLinearInput(0.3, 1.0));
  b.fit(data, 10.0, recdiff::TimeLinearInput(0.3, 1.0));
  REQUIRE(a.weights() == b.weights());
  ScoreMatrix sa, sb2;
  a.score(data, users, sa);
  b.score(data, users, sb2);
  REQUIRE(sa == sb2);
  REQUIRE(sa != sb);
  // Refitting without weights returns to binary scoring.
  a.fit(data, 10.0);
  a.score(data, users, sa);
  REQUIRE(sa == sb);
}
