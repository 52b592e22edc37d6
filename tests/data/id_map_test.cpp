#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <recdiff/data/id_map.hpp>

using Catch::Contains;
using recdiff::IdMap;

TEST_CASE("IdMap assigns dense indices in order of first appearance", "[data][idmap]") {
  IdMap m;
  REQUIRE(m.empty());
  REQUIRE(m.insert("196") == 0);
  REQUIRE(m.insert("A2SUAM") == 1);
  REQUIRE(m.insert("196") == 0);
  REQUIRE(m.insert("7") == 2);
  REQUIRE(m.size() == 3);
  REQUIRE(m.find("A2SUAM") == 1);
  REQUIRE_FALSE(m.find("8").has_value());
  REQUIRE(m.contains("7"));
  REQUIRE(m.external(2) == "7");
  REQUIRE(m.ids() == std::vector<std::string>{"196", "A2SUAM", "7"});
  REQUIRE_THROWS_AS(m.external(3), std::out_of_range);
  REQUIRE_THROWS_WITH(m.external(-1), Contains("index -1 outside [0, 3)"));
}

TEST_CASE("IdMap::select follows a re-indexing", "[data][idmap]") {
  IdMap m;
  for (const char* id : {"a", "b", "c", "d"}) m.insert(id);
  const std::vector<recdiff::index_t> kept{1, 3};
  const IdMap s = m.select(kept);
  REQUIRE(s.size() == 2);
  REQUIRE(s.external(0) == "b");
  REQUIRE(s.external(1) == "d");
  REQUIRE(s.find("d") == 1);
  REQUIRE_FALSE(s.contains("a"));
  const std::vector<recdiff::index_t> repeated{1, 1};
  REQUIRE_THROWS_AS(m.select(repeated), std::invalid_argument);
  REQUIRE_THROWS_WITH(m.select(repeated), Contains("index 1 listed twice"));
  const std::vector<recdiff::index_t> outside{4};
  REQUIRE_THROWS_AS(m.select(outside), std::out_of_range);
  REQUIRE(m.select({}) == IdMap{});
}
