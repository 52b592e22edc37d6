#pragma once
// A writer of Python pickles, so that tests can make pickles without Python: a Python value of the
// kinds recdiff::parse_pickle accepts (int, str, list, dict), written byte for byte the way
// CPython's pickler writes it with protocol 4 (pickle_test checks this against CPython's output),
// and one sample of CPython's own bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace recdiff::test {

/// A Python int, str, list or dict. A dict's items alternate key, value.
struct Py {
  enum Kind { Int, Str, List, Dict } kind = Int;
  std::int64_t i = 0;
  std::string s;
  std::vector<Py> items;
};

/// The Python int v.
inline Py I(std::int64_t v) { return Py{Py::Int, v, {}, {}}; }
/// The Python str v (UTF-8 bytes, at most 255 of them, written as they are).
inline Py S(std::string v) { return Py{Py::Str, 0, std::move(v), {}}; }
/// The Python list of v.
inline Py L(std::vector<Py> v) { return Py{Py::List, 0, {}, std::move(v)}; }
/// The Python dict whose keys and values alternate in key_value.
inline Py D(std::vector<Py> key_value) { return Py{Py::Dict, 0, {}, std::move(key_value)}; }

/// The low `bytes` bytes of v, little-endian.
inline std::string le(std::uint64_t v, int bytes) {
  std::string out;
  for (int k = 0; k < bytes; ++k) out += static_cast<char>((v >> (8 * k)) & 0xff);
  return out;
}

/// Appends to `out` the opcodes CPython's protocol-4 pickler writes for p: BININT1 / BININT2 for
/// ints in [0, 65536), else BININT (which the reader refuses); SHORT_BINUNICODE + MEMOIZE; lists as
/// EMPTY_LIST + MEMOIZE then APPEND for one item or MARK ... APPENDS batches of 1000; dicts as
/// EMPTY_DICT + MEMOIZE then SETITEM for one entry (which the reader refuses) or MARK ... SETITEMS
/// batches of 1000.
inline void write_pickle_value(std::string& out, const Py& p) {
  switch (p.kind) {
    case Py::Int:
      if (p.i >= 0 && p.i < 256) out += "K" + le(static_cast<std::uint64_t>(p.i), 1);
      else if (p.i >= 0 && p.i < 65536) out += "M" + le(static_cast<std::uint64_t>(p.i), 2);
      else out += "J" + le(static_cast<std::uint64_t>(p.i), 4);  // BININT: refused by the reader
      return;
    case Py::Str:
      out += "\x8c" + le(p.s.size(), 1) + p.s + "\x94";
      return;
    case Py::List: {
      out += "]\x94";
      const std::size_t n = p.items.size();
      if (n == 1) {
        write_pickle_value(out, p.items[0]);
        out += "a";
      } else {
        for (std::size_t k = 0; k < n; k += 1000) {  // batches of 1000, as CPython
          out += "(";
          for (std::size_t j = k; j < std::min(n, k + 1000); ++j)
            write_pickle_value(out, p.items[j]);
          out += "e";
        }
      }
      return;
    }
    case Py::Dict: {
      out += "}\x94";
      const std::size_t n = p.items.size() / 2;
      if (n == 1) {
        write_pickle_value(out, p.items[0]);
        write_pickle_value(out, p.items[1]);
        out += "s";  // SETITEM: refused by the reader
        return;
      }
      std::size_t k = 0, batch = 0;
      do {  // CPython ends a dict whose size is a multiple of 1000 with an empty batch
        out += "(";
        for (batch = 0; batch < 1000 && k < n; ++batch, ++k) {
          write_pickle_value(out, p.items[2 * k]);
          write_pickle_value(out, p.items[2 * k + 1]);
        }
        out += "u";
      } while (batch == 1000);
      return;
    }
  }
}

/// The whole pickle of p: PROTO 4, one FRAME around the body (CPython frames bodies of 4 bytes and
/// more), the body, STOP.
inline std::string pickle(const Py& p) {
  std::string body;
  write_pickle_value(body, p);
  body += ".";
  std::string out = "\x80\x04";
  if (body.size() >= 4) out += "\x95" + le(body.size(), 8);
  return out + body;
}

/// What CPython 3 writes for pickle.dumps({'train': {0: [1, 2, 3], 1: [2, 4]}, 'val': {0: [4],
/// 1: [1]}, 'test': {0: [5], 1: [3]}, 'umap': {10: 0, 20: 1}, 'smap': {100: 1, 200: 2, 300: 3,
/// 400: 4, 500: 5}}, protocol=4): two users, items 1..5.
inline const std::string python_bytes(
    "\x80\x04\x95\x8d\x00\x00\x00\x00\x00\x00\x00\x7d\x94\x28\x8c\x05\x74\x72\x61\x69\x6e\x94\x7d"
    "\x94\x28\x4b\x00\x5d\x94\x28\x4b\x01\x4b\x02\x4b\x03\x65\x4b\x01\x5d\x94\x28\x4b\x02\x4b\x04"
    "\x65\x75\x8c\x03\x76\x61\x6c\x94\x7d\x94\x28\x4b\x00\x5d\x94\x4b\x04\x61\x4b\x01\x5d\x94\x4b"
    "\x01\x61\x75\x8c\x04\x74\x65\x73\x74\x94\x7d\x94\x28\x4b\x00\x5d\x94\x4b\x05\x61\x4b\x01\x5d"
    "\x94\x4b\x03\x61\x75\x8c\x04\x75\x6d\x61\x70\x94\x7d\x94\x28\x4b\x0a\x4b\x00\x4b\x14\x4b\x01"
    "\x75\x8c\x04\x73\x6d\x61\x70\x94\x7d\x94\x28\x4b\x64\x4b\x01\x4b\xc8\x4b\x02\x4d\x2c\x01\x4b"
    "\x03\x4d\x90\x01\x4b\x04\x4d\xf4\x01\x4b\x05\x75\x75\x2e",
    152);

}  // namespace recdiff::test
