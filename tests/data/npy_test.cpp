#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <type_traits>
#include <vector>

#include <recdiff/data/npy.hpp>

#include "support/shared_data.hpp"

using Catch::Contains;
using recdiff::IoError;
using recdiff::NpyMatrixReader;

namespace {

// Little-endian bytes of any arithmetic value, independent of the host byte order.
template <class T>
std::string le_bytes(T value) {
  unsigned char raw[sizeof(T)];
  std::memcpy(raw, &value, sizeof(T));
  std::string out(sizeof(T), '\0');
  const std::uint16_t probe = 1;
  const bool little = *reinterpret_cast<const unsigned char*>(&probe) == 1;
  for (std::size_t k = 0; k < sizeof(T); ++k)
    out[k] = static_cast<char>(raw[little ? k : sizeof(T) - 1 - k]);
  return out;
}

// A complete .npy file: magic, version, length field, the dict padded with spaces so the payload
// starts on a 64-byte boundary (as numpy writes it), '\n', payload.
std::string npy_file(const std::string& dict, const std::string& payload, int major = 1) {
  const std::size_t prelude = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((prelude + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  if (major == 1) out += le_bytes(static_cast<std::uint16_t>(header.size()));
  else out += le_bytes(static_cast<std::uint32_t>(header.size()));
  return out + header + payload;
}

std::string pairs_dict(std::size_t rows, const std::string& descr = "<i8",
                       const std::string& order = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + order + ", 'shape': (" +
         std::to_string(rows) + ", 2), }";
}

std::string int64_payload(const std::vector<std::int64_t>& values) {
  std::string out;
  for (const auto v : values) out += le_bytes(v);
  return out;
}

std::filesystem::path write(const recdiff::test::TempDir& dir, const std::string& name,
                            const std::string& bytes) {
  const auto path = dir / name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

}  // namespace

TEST_CASE("npy: a valid (N, 2) int64 file streams in chunks", "[data][npy]") {
  recdiff::test::TempDir dir;
  const std::vector<std::int64_t> values{0, 5, 1, 7, 2, 9, 3, -4, 4, 1};
  const auto path = write(dir, "p.npy", npy_file(pairs_dict(5), int64_payload(values)));
  NpyMatrixReader<std::int64_t> reader(path, 2);
  REQUIRE(reader.rows() == 5);
  REQUIRE(reader.cols() == 2);
  REQUIRE(reader.header().major_version == 1);
  REQUIRE(reader.header().descr == "<i8");
  REQUIRE(reader.header().data_offset == 128);  // the 60-character dict spills past 64 bytes
  REQUIRE(reader.offset_of(1, 1) == 128 + 3 * 8);
  std::vector<std::int64_t> got;
  std::int64_t chunk[4];
  while (const std::size_t n = reader.read_rows(chunk, 2)) got.insert(got.end(), chunk, chunk + 2 * n);
  REQUIRE(got == values);
  REQUIRE(reader.remaining_rows() == 0);
}

TEST_CASE("npy: versions 2.0 and 3.0 use a 4-byte header length", "[data][npy]") {
  recdiff::test::TempDir dir;
  for (const int major : {2, 3}) {
    const auto path = write(dir, "v.npy", npy_file(pairs_dict(1), int64_payload({6, 8}), major));
    NpyMatrixReader<std::int64_t> reader(path, 2);
    REQUIRE(reader.header().major_version == major);
    REQUIRE(reader.header().data_offset == 128);
    std::int64_t row[2];
    REQUIRE(reader.read_rows(row, 8) == 1);
    REQUIRE(row[0] == 6);
    REQUIRE(row[1] == 8);
  }
}

TEST_CASE("npy: load_npy_matrix returns an xtensor with the file's values", "[data][npy]") {
  recdiff::test::TempDir dir;
  std::string payload;
  for (const float v : {0.5f, -1.25f, 3.0f, 1e-3f, 7.0f, -0.0f}) payload += le_bytes(v);
  // Double quotes and no trailing comma are valid Python literals too.
  const auto path = write(dir, "f.npy",
                          npy_file("{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 3)}",
                                   payload));
  const xt::xtensor<float, 2> m = recdiff::load_npy_matrix<float>(path);
  REQUIRE(m.shape()[0] == 2);
  REQUIRE(m.shape()[1] == 3);
  REQUIRE(m(0, 1) == -1.25f);
  REQUIRE(m(1, 0) == 1e-3f);
  REQUIRE(m(1, 1) == 7.0f);
  const auto empty = write(dir, "e.npy", npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", ""));
  REQUIRE(recdiff::load_npy_matrix<float>(empty).size() == 0);
}

TEST_CASE("npy: every malformed file is an IoError naming the file and the byte offset",
          "[data][npy]") {
  recdiff::test::TempDir dir;
  const std::string good_payload = int64_payload({1, 2, 3, 4});
  auto check = [&](const std::string& bytes, const std::string& what, std::uint64_t offset) {
    const auto path = write(dir, "bad.npy", bytes);
    REQUIRE_THROWS_AS(NpyMatrixReader<std::int64_t>(path, 2), IoError);
    REQUIRE_THROWS_WITH(NpyMatrixReader<std::int64_t>(path, 2), Contains(what) && Contains(path.string()));
    try {
      NpyMatrixReader<std::int64_t> reader(path, 2);
    } catch (const IoError& e) {
      REQUIRE(e.offset() == offset);
    }
  };
  SECTION("bad magic") { check("\x93NUMPZ" + npy_file(pairs_dict(2), good_payload).substr(6), "bad magic", 5); }
  SECTION("not numpy at all") { check("user,item\n1,2\n", "bad magic", 0); }
  SECTION("empty file") { check("", "empty file", 0); }
  SECTION("unsupported version") {
    std::string bytes = npy_file(pairs_dict(2), good_payload);
    bytes[6] = 4;
    check(bytes, "unsupported .npy version 4.0, expected 1.0, 2.0 or 3.0", 6);
  }
  SECTION("header length past the end") {
    std::string bytes = npy_file(pairs_dict(2), good_payload);
    bytes[8] = '\xff';
    bytes[9] = '\x7f';
    check(bytes, "corrupt header: header length 32767 runs past the end of the file", 8);
  }
  SECTION("file ends inside the prelude") { check(std::string("\x93NUMPY\x01", 7), "version bytes", 7); }
  SECTION("missing key") {
    check(npy_file("{'descr': '<i8', 'fortran_order': False, }", good_payload),
          "corrupt header: missing key 'shape'", 10);
  }
  SECTION("unexpected key") {
    check(npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), 'x': 1}", good_payload),
          "corrupt header: unexpected key 'x'", 10 + 58);
  }
  SECTION("repeated key") {
    check(npy_file("{'descr': '<i8', 'descr': '<i8', 'fortran_order': False, 'shape': (2, 2)}", good_payload),
          "key 'descr' appears twice", 10 + 17);
  }
  SECTION("not a dict") { check(npy_file("['descr', '<i8']", good_payload), "corrupt header: expected '{'", 10); }
  SECTION("unterminated string") { check(npy_file("{'descr: <i8}", good_payload), "unterminated string", 11); }
  SECTION("bad boolean") {
    check(npy_file(pairs_dict(2, "<i8", "false"), good_payload), "expected True or False", 10 + 34);
  }
  SECTION("structured dtype") {
    check(npy_file("{'descr': [('a', '<i8')], 'fortran_order': False, 'shape': (2,)}", good_payload),
          "structured dtypes are not supported", 10 + 10);
  }
  SECTION("wrong dtype") {
    check(npy_file(pairs_dict(2, "<f8"), good_payload), "wrong dtype: expected '<i8', got '<f8'", 10);
  }
  SECTION("big endian") {
    check(npy_file(pairs_dict(2, ">i8"), good_payload), "big-endian data ('>i8') is not supported", 10);
  }
  SECTION("fortran order") {
    check(npy_file(pairs_dict(2, "<i8", "True"), good_payload), "Fortran-order", 10);
  }
  SECTION("1-D shape") {
    check(npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }", good_payload),
          "wrong shape: expected (N, 2), got (4,)", 10);
  }
  SECTION("three columns") {
    check(npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (1, 3), }", good_payload),
          "wrong shape: expected (N, 2), got (1, 3)", 10);
  }
  SECTION("truncated payload") {
    // 3 rows need 48 bytes from byte 128; only 32 are there, so the file ends at byte 160.
    check(npy_file(pairs_dict(3), good_payload),
          "truncated payload: shape (3, 2) of '<i8' needs 48 bytes from byte 128, but only 32 are there", 160);
  }
  SECTION("trailing bytes") {
    check(npy_file(pairs_dict(2), good_payload + "xyz"), "3 unexpected bytes after the payload", 160);
  }
}

TEST_CASE("npy: a missing file is an IoError", "[data][npy]") {
  recdiff::test::TempDir dir;
  REQUIRE_THROWS_AS(NpyMatrixReader<float>(dir / "nope.npy"), IoError);
  REQUIRE_THROWS_WITH(NpyMatrixReader<float>(dir / "nope.npy"), Contains("nope.npy: no such file"));
  REQUIRE_THROWS_WITH(NpyMatrixReader<float>(dir.path()), Contains("not a regular file"));
}

// --- Arrays of any rank: load_npy, save_npy, NpyReader --------------------------------------------

namespace {

template <class A>
std::vector<std::size_t> shape_of(const A& a) {
  return std::vector<std::size_t>(a.shape().begin(), a.shape().end());
}

std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

template <class T>
xt::xarray<T> counting_array(const std::vector<std::size_t>& shape, double scale) {
  xt::xarray<T> a = xt::xarray<T>::from_shape(shape);
  for (std::size_t k = 0; k < a.size(); ++k)
    a.data()[k] = static_cast<T>(scale * (static_cast<double>(k) - 0.5 * static_cast<double>(a.size())));
  return a;
}

template <class T>
void check_round_trip(const recdiff::test::TempDir& dir, const std::vector<std::size_t>& shape) {
  const xt::xarray<T> a = counting_array<T>(shape, std::is_integral_v<T> ? 3.0 : 0.37);
  const auto path = dir / "round_trip.npy";
  recdiff::save_npy(path, a);
  const xt::xarray<T> b = recdiff::load_npy<T>(path);
  REQUIRE(b.dimension() == shape.size());
  for (std::size_t d = 0; d < shape.size(); ++d) REQUIRE(b.shape()[d] == shape[d]);
  REQUIRE(b.size() == a.size());
  REQUIRE(b == a);  // bit-exact
  // The header is what NumPy writes: v1.0, the payload on a 64-byte boundary.
  recdiff::NpyReader<T> reader(path);
  REQUIRE(reader.header().major_version == 1);
  REQUIRE(reader.header().descr == recdiff::npy_descr<T>());
  REQUIRE(!reader.header().fortran_order);
  REQUIRE(reader.header().data_offset % 64 == 0);
  REQUIRE(reader.rank() == shape.size());
  REQUIRE(reader.num_elements() == a.size());
}

}  // namespace

TEMPLATE_TEST_CASE("npy: arrays of rank 0, 1, 2, 3 and 4 round-trip through save_npy/load_npy",
                   "[data][npy]", std::int32_t, std::int64_t, float, double) {
  recdiff::test::TempDir dir;
  check_round_trip<TestType>(dir, {});
  check_round_trip<TestType>(dir, {7});
  check_round_trip<TestType>(dir, {3, 5});
  check_round_trip<TestType>(dir, {2, 3, 4});
  check_round_trip<TestType>(dir, {2, 1, 3, 5});
  check_round_trip<TestType>(dir, {3, 0, 2});  // an empty array keeps its shape
  check_round_trip<TestType>(dir, {0});
}

TEST_CASE("npy: save_npy writes NumPy's exact bytes", "[data][npy]") {
  recdiff::test::TempDir dir;
  xt::xtensor<double, 2> a = {{1.0, -2.5, 3.0}, {0.25, 0.0, -7.0}};
  recdiff::save_npy(dir / "a.npy", a);
  std::string payload;
  for (const double v : {1.0, -2.5, 3.0, 0.25, 0.0, -7.0}) payload += le_bytes(v);
  CHECK(file_bytes(dir / "a.npy") ==
        npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", payload));
  const xt::xarray<std::int32_t> v = {4, -1};
  recdiff::save_npy(dir / "v.npy", v);
  CHECK(file_bytes(dir / "v.npy") ==
        npy_file("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }",
                 le_bytes(std::int32_t{4}) + le_bytes(std::int32_t{-1})));
  const xt::xarray<float> s = 2.5f;  // 0-d
  recdiff::save_npy(dir / "s.npy", s);
  CHECK(file_bytes(dir / "s.npy") ==
        npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", le_bytes(2.5f)));
}

TEST_CASE("npy: save_npy writes expressions and column-major arrays in C order", "[data][npy]") {
  recdiff::test::TempDir dir;
  const xt::xarray<double> a = counting_array<double>({2, 3, 4}, 1.0);
  recdiff::save_npy(dir / "t.npy", xt::transpose(a));  // an expression, shape (4, 3, 2)
  const xt::xarray<double> t = recdiff::load_npy<double>(dir / "t.npy");
  REQUIRE(shape_of(t) == std::vector<std::size_t>{4, 3, 2});
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j)
      for (std::size_t k = 0; k < 4; ++k) REQUIRE(t(k, j, i) == a(i, j, k));
  xt::xarray<float, xt::layout_type::column_major> c = {{1.0f, 2.0f}, {3.0f, 4.0f}, {5.0f, 6.0f}};
  recdiff::save_npy(dir / "c.npy", c);
  const xt::xtensor<float, 2> m = recdiff::load_npy_matrix<float>(dir / "c.npy");
  REQUIRE(m.shape()[0] == 3);
  REQUIRE(m(1, 0) == 3.0f);
  REQUIRE(m(2, 1) == 6.0f);
  recdiff::save_npy(dir / "v.npy", xt::view(a, 1, xt::all(), xt::range(1, 3)));
  const xt::xarray<double> v = recdiff::load_npy<double>(dir / "v.npy");
  REQUIRE(v == xt::view(a, 1, xt::all(), xt::range(1, 3)));
}

TEST_CASE("npy: save_npy replaces a file atomically and leaves no temporary file", "[data][npy]") {
  recdiff::test::TempDir dir;
  const auto path = dir / "x.npy";
  recdiff::save_npy(path, xt::xarray<double>{1.0, 2.0, 3.0});
  const xt::xtensor<double, 2> column = {{4.0}, {5.0}};
  recdiff::save_npy(path, column);
  const xt::xarray<double> x = recdiff::load_npy<double>(path);
  REQUIRE(shape_of(x) == std::vector<std::size_t>{2, 1});
  REQUIRE(x(1, 0) == 5.0);
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  CHECK(entries == 1);
  const auto missing = dir / "no_such_folder" / "x.npy";
  REQUIRE_THROWS_AS(recdiff::save_npy(missing, x), IoError);
  REQUIRE_THROWS_WITH(recdiff::save_npy(missing, x), Contains("cannot open for writing"));
}

TEST_CASE("npy: load_npy reads files written by other writers (version 2.0, double quotes)",
          "[data][npy]") {
  recdiff::test::TempDir dir;
  std::string payload;
  for (std::int64_t k = 0; k < 24; ++k) payload += le_bytes(k * k);
  const auto path = write(dir, "r3.npy",
                          npy_file("{\"descr\": \"<i8\", \"fortran_order\": False, \"shape\": (2, 3, 4)}",
                                   payload, 2));
  const xt::xarray<std::int64_t> a = recdiff::load_npy<std::int64_t>(path);
  REQUIRE(shape_of(a) == std::vector<std::size_t>{2, 3, 4});
  CHECK(a(1, 2, 3) == 23 * 23);
  CHECK(a(0, 1, 0) == 16);
  // The streaming reader returns the same elements in chunks.
  recdiff::NpyReader<std::int64_t> reader(path);
  std::vector<std::int64_t> got(24);
  std::size_t n = 0;
  while (const std::size_t k = reader.read(got.data() + n, 5)) n += k;
  REQUIRE(n == 24);
  for (std::size_t k = 0; k < 24; ++k) REQUIRE(got[k] == static_cast<std::int64_t>(k * k));
  REQUIRE(reader.remaining() == 0);
  REQUIRE(reader.offset_of_element(3) == 128 + 24);
}

TEST_CASE("npy: malformed files of any rank are IoErrors naming the file and the byte offset",
          "[data][npy]") {
  recdiff::test::TempDir dir;
  std::string payload;
  for (int k = 0; k < 24; ++k) payload += le_bytes(static_cast<float>(k));
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }";
  auto check = [&](const std::string& bytes, const std::string& what, std::uint64_t offset) {
    const auto path = write(dir, "bad3.npy", bytes);
    REQUIRE_THROWS_AS(recdiff::load_npy<float>(path), IoError);
    REQUIRE_THROWS_WITH(recdiff::load_npy<float>(path), Contains(what) && Contains(path.string()) &&
                                                            Contains("(byte " + std::to_string(offset) + ")"));
    try {
      (void)recdiff::load_npy<float>(path);
    } catch (const IoError& e) {
      REQUIRE(e.offset() == offset);
    }
  };
  SECTION("bad magic") { check("\x93NUMPI" + npy_file(dict, payload).substr(6), "bad magic", 5); }
  SECTION("truncated data") {
    // 24 floats need 96 bytes from byte 128; 95 are there.
    check(npy_file(dict, payload.substr(0, 95)),
          "truncated payload: shape (2, 3, 4) of '<f4' needs 96 bytes from byte 128, but only 95 are there",
          128 + 95);
  }
  SECTION("wrong dtype") {
    check(npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 2), }", payload),
          "wrong dtype: expected '<f4', got '<f8'", 10);
  }
  SECTION("unsupported dtype") {
    check(npy_file("{'descr': '|u1', 'fortran_order': False, 'shape': (96,), }", payload),
          "wrong dtype: expected '<f4', got '|u1'", 10);
  }
  SECTION("trailing bytes") { check(npy_file(dict, payload + "ab"), "2 unexpected bytes", 128 + 96); }
  SECTION("fortran order") {
    check(npy_file("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3, 4), }", payload),
          "Fortran-order", 10);
  }
  SECTION("shape too large") {
    check(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 2), }",
                   payload),
          "corrupt header: shape (4294967296, 4294967296, 2) is too large", 10);
  }
  SECTION("a 3-D file is not a matrix") {
    const auto path = write(dir, "m3.npy", npy_file(dict, payload));
    REQUIRE_THROWS_WITH(recdiff::load_npy_matrix<float>(path),
                        Contains("wrong shape: expected 2-D (N, M), got (2, 3, 4)"));
  }
}
