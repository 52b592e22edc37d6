#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>

#include <recdiff/io/json_writer.hpp>

#include "support/shared_data.hpp"

TEST_CASE("JsonValue serialises nested objects, arrays and escapes", "[io]") {
  recdiff::JsonValue doc;
  doc["model"] = "Diff\"Rec";
  doc["valid"]["recall@20"] = 0.125;
  doc["valid"]["ndcg@20"] = 0.5;
  doc["epochs"] = 12;
  doc["ok"] = true;
  doc["nan"] = std::nan("");
  auto dims = recdiff::JsonValue::array();
  dims.push_back(200);
  dims.push_back(600);
  doc["dims"] = dims;
  REQUIRE(doc.dump() ==
          "{\n  \"model\": \"Diff\\\"Rec\",\n  \"valid\": {\n    \"recall@20\": 0.125,\n"
          "    \"ndcg@20\": 0.5\n  },\n  \"epochs\": 12,\n  \"ok\": true,\n  \"nan\": null,\n"
          "  \"dims\": [200, 600]\n}");
  recdiff::test::TempDir dir;
  doc.save(dir / "r.json");
  std::ifstream in(dir / "r.json");
  std::string first;
  std::getline(in, first);
  REQUIRE(first == "{");
}
