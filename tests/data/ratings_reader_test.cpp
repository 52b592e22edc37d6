#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include <recdiff/data/ratings_reader.hpp>
#include <recdiff/data/transforms.hpp>

#include "support/shared_data.hpp"

using Catch::Contains;
using recdiff::Format;
using recdiff::IoError;
using recdiff::RatingsData;
using recdiff::RatingsOptions;

namespace {

std::filesystem::path write(const recdiff::test::TempDir& dir, const std::string& name,
                            const std::string& text) {
  const auto path = dir / name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

template <class T>
std::vector<T> vec(std::span<const T> s) {
  return {s.begin(), s.end()};
}

}  // namespace

TEST_CASE("ratings: MovieLens 100K u.data", "[data][ratings]") {
  recdiff::test::TempDir dir;
  const auto path = write(dir, "u.data",
                          "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t377\t1\t878887116\n");
  const RatingsData d = recdiff::load_ratings(path, Format::ml100k);
  REQUIRE(d.matrix.num_users() == 2);
  REQUIRE(d.matrix.num_items() == 3);
  REQUIRE(d.users.ids() == std::vector<std::string>{"196", "186"});
  REQUIRE(d.items.ids() == std::vector<std::string>{"242", "302", "377"});
  REQUIRE(vec(d.matrix.items_of(0)) == std::vector<int>{0, 2});
  REQUIRE(vec(d.matrix.ratings_of(0)) == std::vector<float>{3.f, 1.f});
  REQUIRE(vec(d.matrix.timestamps_of(0)) == std::vector<std::int64_t>{881250949, 878887116});
  REQUIRE(vec(d.matrix.items_of(1)) == std::vector<int>{1});
}

TEST_CASE("ratings: MovieLens 1M ratings.dat, last line without newline", "[data][ratings]") {
  recdiff::test::TempDir dir;
  const auto path = write(dir, "ratings.dat", "1::1193::5::978300760\n2::1193::4::978298413\n1::007::3::978302109");
  const RatingsData d = recdiff::load_ratings(path, Format::ml1m);
  REQUIRE(d.matrix.nnz() == 3);
  REQUIRE(d.items.ids() == std::vector<std::string>{"1193", "7"});  // "007" is item 7
  REQUIRE(vec(d.matrix.items_of(0)) == std::vector<int>{0, 1});
  REQUIRE(vec(d.matrix.ratings_of(1)) == std::vector<float>{4.f});
  REQUIRE(d.matrix.timestamps_of(0)[1] == 978302109);
}

TEST_CASE("ratings: MovieLens 20M/25M ratings.csv with float ratings and CRLF", "[data][ratings]") {
  recdiff::test::TempDir dir;
  const auto path = write(dir, "ratings.csv",
                          "userId,movieId,rating,timestamp\r\n1,296,5.0,1147880044\r\n1,306,3.5,1147868817\r\n"
                          "2,296,0.5,1141415820\r\n");
  const RatingsData d = recdiff::load_ratings(path, Format::csv);
  REQUIRE(d.matrix.num_users() == 2);
  REQUIRE(d.matrix.num_items() == 2);
  REQUIRE(vec(d.matrix.ratings_of(0)) == std::vector<float>{5.0f, 3.5f});
  REQUIRE(vec(d.matrix.ratings_of(1)) == std::vector<float>{0.5f});
  REQUIRE(vec(d.matrix.items_of(1)) == std::vector<int>{0});
}

TEST_CASE("ratings: RecBole .inter finds columns by name and ignores the rest", "[data][ratings]") {
  recdiff::test::TempDir dir;
  const auto path = write(dir, "x.inter",
                          "item_id:token\tlabel:float\tuser_id:token\ttimestamp:float\trating:float\n"
                          "B01\t1\tA9\t978300760\t5\nB02\t0\tA9\t978300761.0\t2.5\nB01\t1\tC3\t5e2\t4\n");
  const RatingsData d = recdiff::load_ratings(path, Format::inter);
  REQUIRE(d.users.ids() == std::vector<std::string>{"A9", "C3"});
  REQUIRE(d.items.ids() == std::vector<std::string>{"B01", "B02"});
  REQUIRE(vec(d.matrix.items_of(0)) == std::vector<int>{0, 1});
  REQUIRE(vec(d.matrix.ratings_of(0)) == std::vector<float>{5.f, 2.5f});
  REQUIRE(vec(d.matrix.timestamps_of(0)) == std::vector<std::int64_t>{978300760, 978300761});
  REQUIRE(d.matrix.timestamps_of(1)[0] == 500);

  // Without a rating column the matrix has timestamps only; column names are configurable.
  const auto path2 = write(dir, "y.inter", "uid:token\tiid:token\ttimestamp:float\nu\ti\t3\nu\tj\t4\n");
  RatingsOptions options;
  options.user_column = "uid";
  options.item_column = "iid";
  const RatingsData d2 = recdiff::load_ratings(path2, Format::inter, options);
  REQUIRE(d2.matrix.nnz() == 2);
  REQUIRE_FALSE(d2.matrix.has_ratings());
  REQUIRE(vec(d2.matrix.timestamps_of(0)) == std::vector<std::int64_t>{3, 4});
}

TEST_CASE("ratings: generic delimited files with 2, 3 or 4 columns", "[data][ratings]") {
  recdiff::test::TempDir dir;
  RatingsOptions options;
  SECTION("pairs, no header") {
    const RatingsData d = recdiff::load_ratings(write(dir, "a.csv", "5,1\n3,2\n5,2\n"), Format::delimited);
    REQUIRE(d.matrix.nnz() == 3);
    REQUIRE_FALSE(d.matrix.has_ratings());
    REQUIRE_FALSE(d.matrix.has_timestamps());
    REQUIRE(vec(d.matrix.items_of(0)) == std::vector<int>{0, 1});
  }
  SECTION("ratings without timestamps, semicolons, header, string ids") {
    options.delimiter = ";";
    options.has_header = true;
    options.numeric_ids = false;
    const RatingsData d = recdiff::load_ratings(write(dir, "b.txt", "u;i;r\nann;x;4.5\nbob;y;2\nann;y;1\n"),
                                                Format::delimited, options);
    REQUIRE(d.users.ids() == std::vector<std::string>{"ann", "bob"});
    REQUIRE(d.matrix.has_ratings());
    REQUIRE_FALSE(d.matrix.has_timestamps());
    REQUIRE(vec(d.matrix.ratings_of(0)) == std::vector<float>{4.5f, 1.f});
  }
  SECTION("four columns, repeated pairs dropped on request") {
    options.delimiter = "\t";
    options.duplicates = recdiff::InteractionBuilder::Duplicates::keep_first;
    const RatingsData d = recdiff::load_ratings(write(dir, "c.tsv", "1\t2\t3\t10\n1\t2\t5\t11\n1\t3\t4\t12\n"),
                                                Format::delimited, options);
    REQUIRE(d.matrix.nnz() == 2);
    REQUIRE(vec(d.matrix.ratings_of(0)) == std::vector<float>{3.f, 4.f});
    REQUIRE(vec(d.matrix.timestamps_of(0)) == std::vector<std::int64_t>{10, 12});
  }
  SECTION("empty delimiter") {
    options.delimiter = "";
    REQUIRE_THROWS_AS(recdiff::load_ratings(write(dir, "d.csv", "1,2\n"), Format::delimited, options),
                      std::invalid_argument);
  }
}

TEST_CASE("ratings: malformed files are IoErrors naming the file and the line", "[data][ratings]") {
  recdiff::test::TempDir dir;
  auto check = [&](Format format, const std::string& text, const std::string& what,
                   RatingsOptions options = {}) {
    const auto path = write(dir, "bad.txt", text);
    REQUIRE_THROWS_AS(recdiff::load_ratings(path, format, options), IoError);
    REQUIRE_THROWS_WITH(recdiff::load_ratings(path, format, options), Contains(path.string() + ":" + what));
  };
  const std::string ok = "1\t2\t3\t4\n";
  SECTION("wrong column count") { check(Format::ml100k, ok + "1\t2\t3\n", "2: wrong column count: expected 4 fields, got 3"); }
  SECTION("too many columns") { check(Format::ml1m, "1::2::3::4::5\n", "1: wrong column count: expected 4 fields, got 5"); }
  SECTION("truncated last line") {
    check(Format::ml100k, ok + ok + "7\t8", "3: wrong column count: expected 4 fields, got 2 (last line has no final newline");
  }
  SECTION("non-numeric id") { check(Format::ml100k, ok + "1\tx\t3\t4\n", "2: non-numeric item id 'x'"); }
  SECTION("non-numeric id with trailing text") { check(Format::ml100k, "12a\t2\t3\t4\n", "1: non-numeric user id '12a'"); }
  SECTION("empty id") { check(Format::ml100k, "\t2\t3\t4\n", "1: empty user id"); }
  SECTION("negative id") { check(Format::ml1m, "-1::2::3::4\n", "1: negative user id -1"); }
  SECTION("overflowing id") {
    check(Format::ml100k, "1\t99999999999999999999\t3\t4\n", "1: item id '99999999999999999999' overflows a 64-bit integer");
  }
  SECTION("negative timestamp") { check(Format::ml100k, ok + "1\t2\t3\t-4\n", "2: negative timestamp -4"); }
  SECTION("overflowing timestamp") {
    check(Format::ml100k, "1\t2\t3\t9223372036854775808\n", "1: timestamp '9223372036854775808' overflows");
  }
  SECTION("non-numeric rating") { check(Format::ml100k, "1\t2\tgood\t4\n", "1: non-numeric rating 'good'"); }
  SECTION("non-finite rating") {
    check(Format::ml100k, "1\t2\tnan\t4\n", "1: non-finite rating 'nan'");
    check(Format::ml100k, "1\t2\tinf\t4\n", "1: non-finite rating 'inf'");
  }
  SECTION("overflowing rating") { check(Format::ml100k, "1\t2\t1e99\t4\n", "1: rating '1e99' overflows a float"); }
  SECTION("empty line") { check(Format::ml100k, ok + "\n" + ok, "2: empty line"); }
  SECTION("duplicate header") {
    check(Format::csv, "userId,movieId,rating,timestamp\n1,2,3,4\nuserId,movieId,rating,timestamp\n",
          "3: duplicate header line (the header is line 1)");
  }
  SECTION("missing csv header") {
    check(Format::csv, "1,2,3,4\n", "1: expected the header 'userId,movieId,rating,timestamp', got '1,2,3,4'");
  }
  SECTION("a header in a file without one") { check(Format::ml100k, "user\titem\trating\ttime\n", "1: non-numeric user id 'user'"); }
  SECTION("inter: untyped header field") {
    check(Format::inter, "user_id\titem_id:token\n", "1: malformed header field 'user_id', expected name:type");
  }
  SECTION("inter: no item column") { check(Format::inter, "user_id:token\trating:float\nu\t1\n", "1: no item column 'item_id'"); }
  SECTION("inter: id column with a float type") {
    check(Format::inter, "user_id:float\titem_id:token\n1\t2\n", "1: column 'user_id' has type 'float', expected 'token'");
  }
  SECTION("inter: fractional timestamp") {
    check(Format::inter, "user_id:token\titem_id:token\ttimestamp:float\nu\ti\t1.5\n", "2: timestamp '1.5' is not whole");
  }
  SECTION("delimited: inconsistent columns") {
    check(Format::delimited, "1,2\n1,2,3\n", "2: wrong column count: expected 2 fields, got 3");
    check(Format::delimited, "1\n", "1: wrong column count: expected 2 to 4 fields");
  }
}

TEST_CASE("ratings: empty and missing files", "[data][ratings]") {
  recdiff::test::TempDir dir;
  const auto empty = write(dir, "empty.dat", "");
  REQUIRE_THROWS_AS(recdiff::load_ratings(empty, Format::ml1m), IoError);
  REQUIRE_THROWS_WITH(recdiff::load_ratings(empty, Format::ml1m), Contains("empty.dat: empty file"));
  const auto header_only = write(dir, "h.csv", "userId,movieId,rating,timestamp\n");
  REQUIRE_THROWS_WITH(recdiff::load_ratings(header_only, Format::csv),
                      Contains("h.csv: no interactions after the header"));
  REQUIRE_THROWS_AS(recdiff::load_ratings(dir / "none.data", Format::ml100k), IoError);
  REQUIRE_THROWS_WITH(recdiff::load_ratings(dir / "none.data", Format::ml100k), Contains("none.data: no such file"));
}

TEST_CASE("ratings: real MovieLens 100K and RecFusion's preprocessing", "[data][ratings][shared]") {
  const auto path = recdiff::test::require_shared_data("ml-100k/u.data");
  const RatingsData d = recdiff::load_ratings(path, Format::ml100k);
  REQUIRE(d.matrix.nnz() == 100000);
  REQUIRE(d.matrix.num_users() == 943);
  REQUIRE(d.matrix.num_items() == 1682);
  REQUIRE(d.users.external(0) == "196");
  REQUIRE(d.items.external(0) == "242");
  REQUIRE(d.matrix.timestamps_of(0)[0] == 881250949);
  std::int64_t fives = 0;
  for (const float r : d.matrix.ratings()) fives += r == 5.f;
  REQUIRE(fives == 21201);

  const RatingsData positive = recdiff::binarize(d, 4.0f);
  REQUIRE(positive.matrix.nnz() == 55375);
  const auto present = recdiff::kcore(positive.matrix, 1, 1);
  REQUIRE(present.matrix.num_users() == 942);
  REQUIRE(present.matrix.num_items() == 1447);

  const RatingsData one_pass = recdiff::kcore(positive, 5, 5, /*iterative=*/false);
  REQUIRE(one_pass.matrix.nnz() == 54413);
  REQUIRE(one_pass.matrix.num_users() == 938);
  REQUIRE(one_pass.matrix.num_items() == 1008);
  REQUIRE(one_pass.users.size() == 938);
  REQUIRE(one_pass.items.size() == 1008);
  // On ML-100K one pass already yields a 5-core (spec 1.1).
  REQUIRE(recdiff::kcore(positive.matrix, 5, 5).matrix == one_pass.matrix);
}
