#include <catch2/catch.hpp>

#include <fstream>

#include <recdiff/io/checkpoint.hpp>

#include "support/shared_data.hpp"

using recdiff::CheckpointReader;
using recdiff::CheckpointWriter;
using recdiff::IoError;

namespace {
std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void spit(const std::filesystem::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(s.data(), static_cast<long>(s.size()));
}
void write_sample(const std::filesystem::path& p) {
  CheckpointWriter w;
  const float a[6] = {1, 2, 3, 4, 5, 6};
  const double b[2] = {0.5, -1.25};
  w.add_text("model", "DiffRec");
  w.add_tensor("a", 2, 3, a);
  w.add_tensor("b", 1, 2, b);
  w.write(p);
}
}  // namespace

TEST_CASE("checkpoint round trip", "[io]") {
  recdiff::test::TempDir dir;
  write_sample(dir / "m.bin");
  REQUIRE_FALSE(std::filesystem::exists(dir / "m.bin.tmp"));
  const CheckpointReader r(dir / "m.bin");
  REQUIRE(r.text("model") == "DiffRec");
  REQUIRE(r.tensor<float>("a", 2, 3) == std::vector<float>{1, 2, 3, 4, 5, 6});
  REQUIRE(r.tensor<double>("b", 1, 2) == std::vector<double>{0.5, -1.25});
  REQUIRE(r.shape("a") == std::pair<std::uint64_t, std::uint64_t>{2, 3});
  REQUIRE_THROWS_WITH(r.tensor<float>("a", 3, 2), Catch::Contains("has shape 2x3"));
  REQUIRE_THROWS_WITH(r.tensor<float>("c", 1, 1), Catch::Contains("missing entry 'c'"));
  REQUIRE_THROWS_WITH(r.tensor<float>("b", 1, 2), Catch::Contains("wrong type"));
}

TEST_CASE("corrupt, truncated and foreign checkpoints are clear errors", "[io]") {
  recdiff::test::TempDir dir;
  const auto p = dir / "m.bin";
  write_sample(p);
  const std::string good = slurp(p);

  REQUIRE_THROWS_WITH(CheckpointReader(dir / "absent.bin"), Catch::Contains("missing file"));

  spit(p, good.substr(0, good.size() - 5));
  REQUIRE_THROWS_AS(CheckpointReader(p), IoError);
  REQUIRE_THROWS_WITH(CheckpointReader(p), Catch::Contains("truncated"));

  std::string flipped = good;
  flipped[40] ^= 0x10;
  spit(p, flipped);
  REQUIRE_THROWS_WITH(CheckpointReader(p), Catch::Contains("checksum mismatch"));

  std::string foreign = good;
  foreign[0] = 'X';
  spit(p, foreign);
  REQUIRE_THROWS_WITH(CheckpointReader(p), Catch::Contains("bad magic"));

  std::string future = good;
  future[8] = 9;
  spit(p, future);
  REQUIRE_THROWS_WITH(CheckpointReader(p), Catch::Contains("unsupported checkpoint version 9"));

  spit(p, "RECD");
  REQUIRE_THROWS_WITH(CheckpointReader(p), Catch::Contains("(byte 4)"));
}

TEST_CASE("a failed write leaves the previous file intact", "[io]") {
  recdiff::test::TempDir dir;
  const auto p = dir / "m.bin";
  write_sample(p);
  const std::string before = slurp(p);
  CheckpointWriter w;
  w.add_text("x", "y");
  std::filesystem::create_directories(dir / "blocker");
  // Renaming a file over a non-empty directory fails: the write must throw and leave no temporary.
  std::ofstream(dir / "blocker" / "f") << "x";
  REQUIRE_THROWS_AS(w.write(dir / "blocker"), IoError);
  REQUIRE(slurp(p) == before);
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    REQUIRE(e.path().string().find(".tmp") == std::string::npos);
  CheckpointWriter dup;
  dup.add_text("x", "1");
  REQUIRE_THROWS_WITH(dup.add_text("x", "2"), Catch::Contains("duplicate entry 'x'"));
}
