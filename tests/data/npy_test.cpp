#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
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
