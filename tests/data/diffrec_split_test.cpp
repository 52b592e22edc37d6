#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <recdiff/cluster/item_embeddings.hpp>
#include <recdiff/data/diffrec_split.hpp>

#include "support/shared_data.hpp"

using Catch::Contains;
using recdiff::IoError;

namespace {

// Writes a version-1.0 .npy file of the given dtype and 2-D shape; the host is little-endian on
// every machine this project targets (checked below), so values are copied as they are.
template <class T>
void write_npy(const std::filesystem::path& path, const std::string& descr, std::size_t rows,
               std::size_t cols, const std::vector<T>& values) {
  static_assert(std::endian::native == std::endian::little);
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" +
                       std::to_string(rows) + ", " + std::to_string(cols) + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out << "\x93NUMPY\x01" << '\0';
  out.put(static_cast<char>(header.size() & 0xff));
  out.put(static_cast<char>(header.size() >> 8));
  out << header;
  out.write(reinterpret_cast<const char*>(values.data()),
            static_cast<std::streamsize>(values.size() * sizeof(T)));
}

void write_pairs(const std::filesystem::path& path, const std::vector<std::int64_t>& flat) {
  write_npy(path, "<i8", flat.size() / 2, 2, flat);
}

std::vector<int> row(const recdiff::InteractionMatrix& m, int u) {
  const auto r = m.items_of(u);
  return {r.begin(), r.end()};
}

}  // namespace

TEST_CASE("diffrec split: shape from the train file, file order kept in each row", "[data][diffrec]") {
  recdiff::test::TempDir dir;
  // Rows not grouped by user, to check the stable grouping; user 2 and item 3 only in train.
  write_pairs(dir / "train_list.npy", {0, 1, 0, 0, 2, 3, 1, 2, 0, 3, 1, 0});
  write_pairs(dir / "valid_list.npy", {1, 1, 0, 2});
  write_pairs(dir / "test_list.npy", {2, 0});
  const recdiff::TrainValidTest s = recdiff::load_diffrec_split(dir.path());
  REQUIRE(s.train.num_users() == 3);
  REQUIRE(s.train.num_items() == 4);
  REQUIRE(s.valid.num_users() == 3);
  REQUIRE(s.valid.num_items() == 4);
  REQUIRE(s.test.num_users() == 3);
  REQUIRE(s.test.num_items() == 4);
  REQUIRE(s.train.nnz() == 6);
  REQUIRE(row(s.train, 0) == std::vector<int>{1, 0, 3});
  REQUIRE(row(s.train, 1) == std::vector<int>{2, 0});
  REQUIRE(row(s.train, 2) == std::vector<int>{3});
  REQUIRE(row(s.valid, 0) == std::vector<int>{2});
  REQUIRE(row(s.valid, 1) == std::vector<int>{1});
  REQUIRE(row(s.valid, 2).empty());
  REQUIRE(row(s.test, 2) == std::vector<int>{0});
  REQUIRE_FALSE(s.train.has_ratings());
  REQUIRE_FALSE(s.train.has_timestamps());
}

TEST_CASE("diffrec split: more rows than one 64K chunk", "[data][diffrec]") {
  recdiff::test::TempDir dir;
  std::vector<std::int64_t> train;
  const std::int64_t n = 70000;
  for (std::int64_t k = 0; k < n; ++k) {
    train.push_back(k % 97);
    train.push_back((k * 31) % 503);
  }
  write_pairs(dir / "train_list.npy", train);
  write_pairs(dir / "valid_list.npy", {96, 502});
  write_pairs(dir / "test_list.npy", {0, 0});
  const auto s = recdiff::load_diffrec_split(dir.path());
  REQUIRE(s.train.nnz() == n);
  REQUIRE(s.train.num_users() == 97);
  REQUIRE(s.train.num_items() == 503);
  // User 5's rows are k = 5, 102, 199, ...: items (31 k) mod 503 in that order.
  const auto r = s.train.items_of(5);
  REQUIRE(r[0] == 155);
  REQUIRE(r[1] == (102 * 31) % 503);
  REQUIRE(r[2] == (199 * 31) % 503);
}

TEST_CASE("diffrec split: bad ids are IoErrors naming file, row and id", "[data][diffrec]") {
  recdiff::test::TempDir dir;
  write_pairs(dir / "valid_list.npy", {0, 0});
  write_pairs(dir / "test_list.npy", {0, 0});
  SECTION("negative id in train") {
    write_pairs(dir / "train_list.npy", {0, 0, 1, 1, 2, -3});
    REQUIRE_THROWS_AS(recdiff::load_diffrec_split(dir.path()), IoError);
    // The header ends at byte 128; row 2, column 1 is element 5: byte 128 + 5 * 8.
    REQUIRE_THROWS_WITH(recdiff::load_diffrec_split(dir.path()),
                        Contains("train_list.npy (byte 168): row 2: negative item id -3"));
  }
  SECTION("valid user outside the training range") {
    write_pairs(dir / "train_list.npy", {0, 0, 2, 1});
    write_pairs(dir / "valid_list.npy", {0, 1, 3, 0});
    REQUIRE_THROWS_AS(recdiff::load_diffrec_split(dir.path()), IoError);
    REQUIRE_THROWS_WITH(recdiff::load_diffrec_split(dir.path()),
                        Contains("valid_list.npy (byte 144): row 1: user 3 outside the training range [0, 3)"));
  }
  SECTION("test item outside the training range") {
    write_pairs(dir / "train_list.npy", {0, 0, 2, 1});
    write_pairs(dir / "test_list.npy", {1, 2});
    REQUIRE_THROWS_WITH(recdiff::load_diffrec_split(dir.path()),
                        Contains("test_list.npy (byte 136): row 0: item 2 outside the training range [0, 2)"));
  }
  SECTION("id too large for a 32-bit index") {
    write_pairs(dir / "train_list.npy", {std::int64_t{1} << 40, 0});
    REQUIRE_THROWS_WITH(recdiff::load_diffrec_split(dir.path()),
                        Contains("row 0: user id 1099511627776 does not fit a 32-bit index"));
  }
  SECTION("empty train file") {
    write_pairs(dir / "train_list.npy", {});
    REQUIRE_THROWS_WITH(recdiff::load_diffrec_split(dir.path()), Contains("no training interactions"));
  }
  SECTION("missing file") {
    write_pairs(dir / "train_list.npy", {0, 0});
    std::filesystem::remove(dir / "test_list.npy");
    REQUIRE_THROWS_AS(recdiff::load_diffrec_split(dir.path()), IoError);
    REQUIRE_THROWS_WITH(recdiff::load_diffrec_split(dir.path()), Contains("test_list.npy: no such file"));
  }
  SECTION("wrong dtype") {
    write_npy<double>(dir / "train_list.npy", "<f8", 1, 2, {0.0, 1.0});
    REQUIRE_THROWS_WITH(recdiff::load_diffrec_split(dir.path()),
                        Contains("train_list.npy (byte 10): wrong dtype: expected '<i8', got '<f8'"));
  }
}

TEST_CASE("diffrec split: real ml-1m_clean counts", "[data][diffrec][shared]") {
  const auto dir = recdiff::test::require_shared_data("ml-1m_clean/train_list.npy").parent_path();
  const auto s = recdiff::load_diffrec_split(dir);
  REQUIRE(s.train.num_users() == 5949);
  REQUIRE(s.train.num_items() == 2810);
  REQUIRE(s.train.nnz() == 403277);
  REQUIRE(s.valid.nnz() == 110722);
  REQUIRE(s.test.nnz() == 57532);
  REQUIRE(s.valid.num_users() == 5949);
  REQUIRE(s.test.num_items() == 2810);
  // Items are numbered in order of first appearance over users in order (data README, note 3).
  REQUIRE(s.train.items_of(0)[0] == 0);
  const auto emb = recdiff::load_item_embeddings(dir / "item_emb.npy", s.train.num_items());
  REQUIRE(emb.cols() == 64);
  const float largest = emb.cwiseAbs().maxCoeff();
  REQUIRE(largest > 0.3f);  // data README: values in [-0.343, 0.310]
  REQUIRE(largest < 0.35f);
}
