#include <catch2/catch.hpp>

#include <cstdint>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/data/pickle.hpp>

#include "support/pickle_writer.hpp"
#include "support/shared_data.hpp"

using Catch::Contains;
using recdiff::IoError;
using recdiff::parse_pickle;
using recdiff::PickleValue;
using namespace recdiff::test;  // Py, I, S, L, D, pickle, python_bytes: support/pickle_writer.hpp

namespace {

// The value python_bytes (support/pickle_writer.hpp) holds.
Py small_dataset() {
  return D({S("train"), D({I(0), L({I(1), I(2), I(3)}), I(1), L({I(2), I(4)})}),
            S("val"), D({I(0), L({I(4)}), I(1), L({I(1)})}),
            S("test"), D({I(0), L({I(5)}), I(1), L({I(3)})}),
            S("umap"), D({I(10), I(0), I(20), I(1)}),
            S("smap"), D({I(100), I(1), I(200), I(2), I(300), I(3), I(400), I(4), I(500), I(5)})});
}

// The IoError parse_pickle throws for `bytes` (fails the test when it throws nothing).
IoError error_of(const std::string& bytes) {
  try {
    parse_pickle(bytes, "x.pkl");
  } catch (const IoError& e) {
    return e;
  }
  FAIL("parse_pickle accepted the input");
  throw std::logic_error("unreachable");
}

std::vector<std::int64_t> ints_of(const PickleValue& list) {
  std::vector<std::int64_t> out;
  for (const auto& v : list.items()) out.push_back(v.as_integer());
  return out;
}

}  // namespace

TEST_CASE("pickle: CPython's bytes of a small dataset dict give the expected tree") {
  const PickleValue root = parse_pickle(python_bytes, "x.pkl");
  REQUIRE(root.is_dict());
  REQUIRE(root.size() == 5);
  CHECK(root.offset() == 11);
  const char* names[] = {"train", "val", "test", "umap", "smap"};
  for (std::size_t k = 0; k < 5; ++k) CHECK(root.key(k).as_string() == names[k]);
  CHECK(root.key(0).offset() == 14);

  const PickleValue& train = *root.find("train");
  REQUIRE(train.size() == 2);
  CHECK(train.key(0).as_integer() == 0);
  CHECK(ints_of(train.value(0)) == std::vector<std::int64_t>{1, 2, 3});
  CHECK(train.value(0).offset() == 27);
  CHECK(train.key(1).as_integer() == 1);
  CHECK(ints_of(train.value(1)) == std::vector<std::int64_t>{2, 4});
  CHECK(ints_of(root.find("val")->value(0)) == std::vector<std::int64_t>{4});
  CHECK(ints_of(root.find("test")->value(1)) == std::vector<std::int64_t>{3});
  const PickleValue& smap = *root.find("smap");
  REQUIRE(smap.size() == 5);
  CHECK(smap.key(2).as_integer() == 300);  // BININT2
  CHECK(smap.key(2).offset() == 134);
  CHECK(smap.value(4).as_integer() == 5);
  CHECK(root.find("missing") == nullptr);
}

TEST_CASE("pickle: the test's writer reproduces CPython's bytes") {
  CHECK(pickle(small_dataset()) == python_bytes);
}

TEST_CASE("pickle: strings, the int range, nesting and accessors") {
  // pickle.dumps({'é': '日本😀'}, protocol=4) uses SETITEM, so this one is made with two entries.
  const std::string utf8 = "\xe6\x97\xa5\xe6\x9c\xac\xf0\x9f\x98\x80";
  const PickleValue v =
      parse_pickle(pickle(D({S("\xc3\xa9"), S(utf8), S(""), L({I(255), I(256), I(65535)})})), "x");
  REQUIRE(v.size() == 2);
  CHECK(v.key(0).as_string() == "\xc3\xa9");
  CHECK(v.value(0).as_string() == utf8);
  CHECK(v.key(1).as_string().empty());
  CHECK(ints_of(v.value(1)) == std::vector<std::int64_t>{255, 256, 65535});
  CHECK(v.find("\xc3\xa9") == &v.value(0));

  // Batches of 1000, and a dict of 2000 entries (ends with an empty SETITEMS batch).
  std::vector<Py> many, pairs;
  for (int k = 0; k < 2500; ++k) many.push_back(I(k));
  for (int k = 0; k < 2000; ++k) {
    pairs.push_back(I(k));
    pairs.push_back(I(2 * k));
  }
  const PickleValue big = parse_pickle(pickle(D({S("l"), L(many), S("d"), D(pairs)})), "x");
  CHECK(big.find("l")->size() == 2500);
  CHECK(big.find("l")->items()[2499].as_integer() == 2499);
  CHECK(big.find("d")->size() == 2000);
  CHECK(big.find("d")->value(1999).as_integer() == 3998);

  // Accessors refuse the wrong kind.
  CHECK_THROWS_AS(v.as_integer(), std::invalid_argument);
  CHECK_THROWS_WITH(v.items(), Contains("is a dict, not a list"));
  CHECK_THROWS_AS(v.key(2), std::out_of_range);
  CHECK_THROWS_AS(v.value(0).find("x"), std::invalid_argument);
  CHECK(std::string(PickleValue::kind_name(PickleValue::Kind::string)) == "str");

  // Nesting: 64 levels are read, 65 are refused.
  const auto nested = [](int depth) {
    Py p = I(7);
    for (int k = 0; k < depth; ++k) p = L({p, I(k)});
    return pickle(p);
  };
  PickleValue deep = parse_pickle(nested(recdiff::pickle_max_depth), "x");
  for (int k = 0; k < recdiff::pickle_max_depth; ++k) deep = PickleValue(deep.items()[0]);
  CHECK(deep.as_integer() == 7);
  CHECK_THAT(error_of(nested(recdiff::pickle_max_depth + 1)).reason(),
             Contains("nesting deeper than 64 levels"));
}

TEST_CASE("pickle: object opcodes are refused with their name and byte offset") {
  // GLOBAL 'os system' right after PROTO and an EMPTY_LIST.
  IoError e = error_of(std::string("\x80\x04]\x94" "cos\nsystem\n", 15));
  CHECK(e.offset() == 4);
  CHECK(e.file() == "x.pkl");
  CHECK_THAT(e.what(), Contains("x.pkl (byte 4)"));
  CHECK_THAT(e.reason(), Contains("opcode 0x63 'GLOBAL' is not allowed"));
  CHECK_THAT(e.reason(), Contains("only pickles of built-in dict, list, int and str"));

  // REDUCE after PROTO, EMPTY_LIST, MARK, BININT1 1.
  e = error_of(std::string("\x80\x04](K\x01R.", 8));
  CHECK(e.offset() == 6);
  CHECK_THAT(e.reason(), Contains("opcode 0x52 'REDUCE'"));

  // BUILD after two EMPTY_DICTs, inside a frame.
  e = error_of("\x80\x04\x95" + le(4, 8) + "}}b.");
  CHECK(e.offset() == 13);
  CHECK_THAT(e.reason(), Contains("opcode 0x62 'BUILD'"));

  // STACK_GLOBAL with two strs on the stack.
  e = error_of(std::string("\x80\x04\x8c\x02os\x8c\x06system\x93.", 16));
  CHECK(e.offset() == 14);
  CHECK_THAT(e.reason(), Contains("opcode 0x93 'STACK_GLOBAL'"));

  // Opcodes outside the whitelist even though harmless, and a byte that is no opcode.
  e = error_of(pickle(L({I(1), I(70000)})));
  CHECK(e.offset() == 16);
  CHECK_THAT(e.reason(), Contains("opcode 0x4a 'BININT'"));
  CHECK_THAT(error_of(pickle(D({I(1), I(2)}))).reason(), Contains("opcode 0x73 'SETITEM'"));
  CHECK_THAT(error_of(std::string("\x80\x04N.", 4)).reason(), Contains("opcode 0x4e 'NONE'"));
  e = error_of(std::string("\x80\x04]\xff.", 5));
  CHECK(e.offset() == 3);
  CHECK_THAT(e.reason(), Contains("byte 0xff (no pickle opcode)"));
}

TEST_CASE("pickle: every truncation of a valid pickle is an IoError") {
  for (const std::string& full : {python_bytes, pickle(D({S("ab"), L({I(300), I(1)}), S("c"),
                                                          D({I(1), S("x"), I(2), S("y")})}))}) {
    REQUIRE_NOTHROW(parse_pickle(full, "x"));
    for (std::size_t n = 0; n < full.size(); ++n) {
      INFO("prefix of " << n << " bytes");
      try {
        parse_pickle(full.substr(0, n), "x");
        FAIL("the prefix was accepted");
      } catch (const IoError& e) {
        // The frame declares more bytes than a prefix has, so most prefixes fail at the FRAME.
        CHECK(e.offset().value_or(0) <= n);
      }
    }
  }
  CHECK_THAT(error_of("").reason(), Contains("empty file"));
  CHECK_THAT(error_of(std::string("\x80\x04]", 3)).reason(), Contains("ends without STOP"));
  const IoError e = error_of(std::string("\x80\x04\x8c\x05" "abc", 7));
  CHECK(e.offset() == 2);
  CHECK_THAT(e.reason(), Contains("'SHORT_BINUNICODE' needs 5 more bytes, the file has 3"));
}

TEST_CASE("pickle: lengths, frames and the protocol are checked") {
  // A FRAME declaring 2^63 bytes.
  IoError e = error_of("\x80\x04\x95" + le(std::uint64_t{1} << 63, 8) + "}.");
  CHECK(e.offset() == 2);
  CHECK_THAT(e.reason(), Contains("FRAME declares 9223372036854775808 bytes, the file has 2 left"));
  // BINUNICODE8 / BINBYTES8 with an absurd length are refused as opcodes, before any length is read.
  CHECK_THAT(error_of("\x80\x04\x8d" + le(~std::uint64_t{0}, 8)).reason(),
             Contains("'BINUNICODE8' is not allowed"));
  // An opcode that crosses the end of its frame, and a FRAME inside a frame.
  e = error_of("\x80\x04\x95" + le(2, 8) + "]\x8c\x01x" + "\x94.");
  CHECK(e.offset() == 12);
  CHECK_THAT(e.reason(), Contains("crosses the end of its frame (byte 13)"));
  e = error_of("\x80\x04\x95" + le(10, 8) + "]\x95" + le(0, 8) + ".");
  CHECK(e.offset() == 12);
  CHECK_THAT(e.reason(), Contains("FRAME before the end of the current frame"));
  // Two frames in a row are fine (that is how CPython writes anything over 64 KiB).
  CHECK(parse_pickle("\x80\x04\x95" + le(1, 8) + "]" + "\x95" + le(1, 8) + ".", "x").is_list());
  // Protocol.
  CHECK_THAT(error_of(std::string("\x80\x03].", 4)).reason(),
             Contains("pickle protocol 3, expected 4 or 5"));
  CHECK(parse_pickle(std::string("\x80\x05].", 4), "x").is_list());
  CHECK_THAT(error_of(std::string("]\x80\x04.", 4)).reason(), Contains("does not start with PROTO"));
  e = error_of(std::string("\x80\x04]\x80\x04.", 6));
  CHECK(e.offset() == 3);
  CHECK_THAT(e.reason(), Contains("PROTO after the start"));
  // Nothing may follow STOP.
  e = error_of(std::string("\x80\x04].].", 6));
  CHECK(e.offset() == 3);
  CHECK_THAT(e.reason(), Contains("2 bytes after STOP"));
}

TEST_CASE("pickle: stack and MARK misuse is an IoError at the opcode") {
  struct Case {
    std::string bytes;
    std::uint64_t offset;
    const char* reason;
  };
  const Case cases[] = {
      {std::string("\x80\x04" "a.", 4), 2, "APPEND: stack underflow"},
      {std::string("\x80\x04]a.", 5), 3, "APPEND: stack underflow"},
      {std::string("\x80\x04](K\x01" "a.", 8), 6, "APPEND: stack underflow"},  // the list is below the MARK
      {std::string("\x80\x04}K\x01" "a.", 7), 5, "'APPEND' into a dict (byte 2), expected a list"},
      {std::string("\x80\x04]K\x01" "e.", 7), 5, "APPENDS without a MARK"},
      {std::string("\x80\x04(K\x01" "e.", 7), 5, "APPENDS: stack underflow"},
      {std::string("\x80\x04]((e.", 7), 5, "APPENDS: stack underflow"},
      {std::string("\x80\x04](K\x01u.", 8), 6, "'SETITEMS' into a list (byte 2)"},
      {std::string("\x80\x04}(K\x01u.", 8), 6, "SETITEMS with an odd number of values (1)"},
      {std::string("\x80\x04}(]K\x01u.", 9), 7, "a dict key is a list (byte 4)"},
      {std::string("\x80\x04}(K\x01K\x02K\x01K\x03u.", 14), 12,
       "dict key 1 (byte 8) appears twice"},
      {std::string("\x80\x04\x94.", 4), 2, "MEMOIZE: stack underflow"},
      {std::string("\x80\x04](\x94.", 6), 4, "MEMOIZE: stack underflow"},  // the list is below the MARK
      {std::string("\x80\x04.", 3), 2, "STOP with 0 values on the stack"},
      {std::string("\x80\x04]].", 5), 4, "STOP with 2 values on the stack"},
      {std::string("\x80\x04](.", 5), 4, "STOP with 1 unclosed MARK(s)"},
      {std::string("\x80\x04\x8c\x01\xc0.", 6), 2, "not valid UTF-8 (byte 4)"},
  };
  for (const Case& c : cases) {
    INFO(c.reason);
    const IoError e = error_of(c.bytes);
    CHECK(e.offset() == c.offset);
    CHECK_THAT(e.reason(), Contains(c.reason));
  }
  // A dict key that repeats across two SETITEMS batches, and str keys.
  CHECK_THAT(error_of(std::string("\x80\x04}(\x8c\x01xK\x01u(\x8c\x01xK\x02u.", 18)).reason(),
             Contains("dict key 'x' (byte 11) appears twice"));
  // An int 1 and a str "1" are different keys.
  CHECK(parse_pickle(std::string("\x80\x04}(K\x01K\x01\x8c\x01" "1K\x02u.", 15), "x").size() == 2);
}

TEST_CASE("pickle: UTF-8 is validated strictly") {
  const auto str = [](const std::string& s) { return pickle(L({S(s), S("x")})); };
  for (const char* good : {"a", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf",
                           "\xee\x80\x80", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf"})
    CHECK(parse_pickle(str(good), "x").items()[0].as_string() == good);
  for (const char* bad : {"\x80", "\xc0\x80", "\xc1\xbf", "\xe0\x9f\xbf", "\xed\xa0\x80",
                          "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff",
                          "\xe6\x97", "a\xc3", "\xc3\x28"}) {
    INFO("bytes " << bad);
    const IoError e = error_of(str(bad));
    CHECK(e.offset() == 14);  // PROTO 2, FRAME 9, EMPTY_LIST and MEMOIZE 2, MARK 1: the str at 14
    CHECK_THAT(e.reason(), Contains("not valid UTF-8"));
  }
}

TEST_CASE("pickle: flipped bytes of a valid pickle either load or throw IoError") {
  const std::string base = pickle(D({S("train"), D({I(0), L({I(1), I(300), I(3)}), I(1), L({I(2)})}),
                                     S("smap"), D({I(100), I(1), I(60000), I(2)}), S("s\xc3\xa9"),
                                     L({})}));
  REQUIRE_NOTHROW(parse_pickle(base, "x"));
  std::mt19937_64 rng(20240611);
  int loaded = 0, refused = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    std::string bytes = base;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) {
      const auto pos = static_cast<std::size_t>(rng() % bytes.size());
      if (rng() % 2) bytes[pos] = static_cast<char>(rng() & 0xff);           // a random byte
      else bytes[pos] = static_cast<char>(bytes[pos] ^ (1 << (rng() % 8)));  // one bit
    }
    try {
      parse_pickle(bytes, "x");
      ++loaded;
    } catch (const IoError&) {
      ++refused;
    }  // anything else escapes and fails the test
  }
  INFO("loaded " << loaded << ", refused " << refused);
  CHECK(loaded > 100);  // e.g. a changed int or str byte
  CHECK(refused > 1000);
}

TEST_CASE("pickle: random programs over the accepted opcodes either load or throw IoError") {
  // Exercises the stack machine itself: MARKs, APPEND(S), SETITEMS and MEMOIZE in random order.
  const char alphabet[] = {'}', ']', '(', 'a', 'e', 'u', '\x94', 'K', 'M', '\x8c', '.'};
  std::mt19937_64 rng(7);
  int loaded = 0, refused = 0;
  for (int trial = 0; trial < 10000; ++trial) {
    std::string bytes("\x80\x04", 2);
    const auto length = 1 + rng() % (trial % 2 ? 40 : 10);
    for (std::uint64_t k = 0; k < length; ++k) {
      const char op = alphabet[rng() % sizeof(alphabet)];
      bytes += op;
      if (op == 'K') bytes += static_cast<char>(rng() % 4);
      if (op == 'M') bytes += std::string("\x01\x01", 2);
      if (op == '\x8c') bytes += std::string("\x01", 1) + static_cast<char>('a' + rng() % 3);
    }
    if (rng() % 2) bytes += '.';
    try {
      parse_pickle(bytes, "x");
      ++loaded;
    } catch (const IoError&) {
      ++refused;
    }
  }
  INFO("loaded " << loaded << ", refused " << refused);
  CHECK(loaded > 100);
  CHECK(refused > 5000);
}

TEST_CASE("pickle: read_pickle reads a file and reports a missing one") {
  recdiff::test::TempDir dir;
  const auto path = dir / "d.pkl";
  {
    std::ofstream out(path, std::ios::binary);
    out << python_bytes;
  }
  CHECK(recdiff::read_pickle(path).size() == 5);
  try {
    recdiff::read_pickle(dir / "absent.pkl");
    FAIL("no error");
  } catch (const IoError& e) {
    CHECK(e.file() == dir / "absent.pkl");
    CHECK_THAT(e.reason(), Contains("cannot read the file"));
  }
  {
    std::ofstream out(path, std::ios::binary);
    out << python_bytes.substr(0, 100);
  }
  try {
    recdiff::read_pickle(path);
    FAIL("no error");
  } catch (const IoError& e) {
    CHECK(e.file() == path);
    CHECK(e.offset() == 2);  // the frame is longer than the file
  }
}
