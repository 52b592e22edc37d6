#include <catch2/catch.hpp>

#include <recdiff/baseline/ease.hpp>
#include <recdiff/baseline/popularity.hpp>
#include <recdiff/eval/scorer.hpp>

namespace {

struct ConstScorer {
  void score(const recdiff::InteractionMatrix&, std::span<const recdiff::index_t>,
             recdiff::ScoreMatrix&) const {}
};
struct WrongSignature {
  void score(const recdiff::InteractionMatrix&, recdiff::ScoreMatrix&) {}
};
struct NoScore {};

}  // namespace

TEST_CASE("Scorer: accepts score(input, users, out) and rejects other shapes", "[eval][concept]") {
  STATIC_REQUIRE(recdiff::Scorer<ConstScorer>);
  STATIC_REQUIRE(recdiff::Scorer<const ConstScorer>);
  STATIC_REQUIRE(recdiff::Scorer<recdiff::Popularity>);
  STATIC_REQUIRE(recdiff::Scorer<recdiff::Ease>);
  STATIC_REQUIRE_FALSE(recdiff::Scorer<WrongSignature>);
  STATIC_REQUIRE_FALSE(recdiff::Scorer<NoScore>);
  STATIC_REQUIRE_FALSE(recdiff::Scorer<int>);
}
