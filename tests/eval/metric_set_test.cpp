#include <sstream>

#include <catch2/catch.hpp>

#include <recdiff/eval/metric_set.hpp>

TEST_CASE("MetricSet: values by name, overwrite, table", "[eval][metrics]") {
  recdiff::MetricSet m;
  m.set("recall@10", 0.1);
  m.set("recall@20", 0.2);
  m.set("ndcg@10", 0.05);
  m.set("loss", 3.5);
  m.set("recall@20", 0.25);
  REQUIRE(m.size() == 4);
  REQUIRE(m.at("recall@20") == 0.25);
  REQUIRE(m.contains("ndcg@10"));
  REQUIRE_FALSE(m.contains("ndcg@20"));
  m.set_num_users(7);
  REQUIRE(m.num_users() == 7);
  const std::string table = m.table(3);
  REQUIRE(table ==
          "metric        -      @10      @20\n"
          "recall             0.100    0.250\n"
          "ndcg               0.050         \n"
          "loss      3.500                  \n");
  std::ostringstream os;
  os << m;
  REQUIRE(os.str() == m.table());
}

TEST_CASE("MetricSet: at() of an unknown name lists the known ones", "[eval][metrics]") {
  recdiff::MetricSet m;
  REQUIRE_THROWS_AS(m.at("recall@20"), std::out_of_range);
  REQUIRE_THROWS_WITH(m.at("recall@20"), Catch::Contains("have: none"));
  m.set("ndcg@10", 1);
  REQUIRE_THROWS_WITH(m.at("recall@20"), Catch::Contains("no metric \"recall@20\", have: ndcg@10"));
}
