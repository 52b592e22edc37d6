#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <recdiff/data/line_reader.hpp>

#include "support/shared_data.hpp"

using Catch::Contains;
using recdiff::LineReader;

namespace {

std::vector<std::string> read_all(const std::filesystem::path& path, std::size_t buffer,
                                  bool* last_had_newline = nullptr) {
  LineReader reader(path, buffer);
  std::vector<std::string> lines;
  std::string_view line;
  while (reader.next(line)) {
    lines.emplace_back(line);
    REQUIRE(reader.line_number() == lines.size());
    if (last_had_newline) *last_had_newline = reader.ends_with_newline();
  }
  return lines;
}

}  // namespace

TEST_CASE("LineReader returns every line, LF or CRLF, across buffer refills", "[data][text]") {
  recdiff::test::TempDir dir;
  const std::string long_line(100, 'x');  // longer than the 16-byte buffer below
  std::ofstream(dir / "a.txt", std::ios::binary) << "ab\r\n\n" << long_line << "\ncd\r\nlast";
  for (const std::size_t buffer : {std::size_t{16}, std::size_t{1} << 20}) {
    bool newline = true;
    const auto lines = read_all(dir / "a.txt", buffer, &newline);
    REQUIRE(lines == std::vector<std::string>{"ab", "", long_line, "cd", "last"});
    REQUIRE_FALSE(newline);
  }
  std::ofstream(dir / "b.txt", std::ios::binary) << "one\ntwo\n";
  bool newline = false;
  REQUIRE(read_all(dir / "b.txt", 16, &newline) == std::vector<std::string>{"one", "two"});
  REQUIRE(newline);
  std::ofstream(dir / "c.txt", std::ios::binary) << "";
  REQUIRE(read_all(dir / "c.txt", 16).empty());
}

TEST_CASE("LineReader: a missing file is an IoError", "[data][text]") {
  recdiff::test::TempDir dir;
  REQUIRE_THROWS_AS(LineReader(dir / "missing.txt"), recdiff::IoError);
  REQUIRE_THROWS_WITH(LineReader(dir / "missing.txt"), Contains("missing.txt: no such file"));
}

TEST_CASE("split_fields splits on multi-character delimiters and counts extra fields", "[data][text]") {
  std::vector<std::string_view> f(3);
  REQUIRE(recdiff::split_fields("1::1193::5::978300760", "::", f) == 4);
  REQUIRE(f[0] == "1");
  REQUIRE(f[1] == "1193");
  REQUIRE(f[2] == "5");
  REQUIRE(recdiff::split_fields("a,,b", ",", f) == 3);
  REQUIRE(f[1].empty());
  REQUIRE(f[2] == "b");
  REQUIRE(recdiff::split_fields("", "\t", f) == 1);
  REQUIRE(f[0].empty());
  REQUIRE(recdiff::split_fields("x:", ":", f) == 2);
  REQUIRE_THROWS_AS(recdiff::split_fields("x", "", f), std::invalid_argument);
}
