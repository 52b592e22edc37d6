#pragma once
/// @file
/// A restricted reader of Python pickles that hold only built-in dicts, lists, ints and strs (the
/// layout of DiffuRec's `dataset.pkl`, Li, Sun, Li, TOIS 2024), and the small value tree it returns.
///
/// Python's own unpickler can import modules and call functions named by the file (GLOBAL, REDUCE,
/// BUILD, ...), so it must never be used on untrusted input. This reader is a separate, minimal
/// implementation of the pickle virtual machine for a fixed whitelist of opcodes; every other opcode
/// is refused before anything is done with it. Nothing in a file can make it run code, and every
/// malformed input (truncation, bad lengths, stack underflow, unmatched MARKs, invalid UTF-8, memo
/// misuse, trailing bytes, excessive nesting) ends in a recdiff::IoError naming the file and the
/// byte offset of the offending opcode.
///
/// Accepted opcodes (protocol 4 as Python writes a dict of lists of small ints; exactly the set the
/// three DiffuRec files use, checked with `pickletools`):
///
/// | byte | name | effect |
/// | --- | --- | --- |
/// | 0x80 | PROTO | protocol version (must be the first opcode; 4 or 5) |
/// | 0x95 | FRAME | 8-byte length of the next frame (a framing hint; checked, not needed) |
/// | 0x7d | EMPTY_DICT | push {} |
/// | 0x5d | EMPTY_LIST | push [] |
/// | 0x8c | SHORT_BINUNICODE | push a str of at most 255 UTF-8 bytes |
/// | 0x4b | BININT1 | push an int 0..255 |
/// | 0x4d | BININT2 | push an int 0..65535 |
/// | 0x28 | MARK | remember the stack height |
/// | 0x61 | APPEND | pop x, append it to the list below |
/// | 0x65 | APPENDS | append everything above the last MARK to the list below it |
/// | 0x75 | SETITEMS | insert the key/value pairs above the last MARK into the dict below it |
/// | 0x94 | MEMOIZE | store the top of the stack in the memo |
/// | 0x2e | STOP | end: the one value on the stack is the result |
///
/// Not accepted, although harmless, because the files do not need them: BININT (4-byte ints; a
/// DiffuRec file with ids >= 65,536, e.g. Steam's 281,428 users, would need it), BINUNICODE, SETITEM
/// (Python writes it only for a dict of exactly one entry), BINPUT / BINGET. Since no memo read
/// (GET) is accepted, MEMOIZE only checks that there is a value above the last MARK and counts: a
/// memoised value can never be referenced, so values form a tree, never a graph.
///
/// Further rules, stricter than Python's: a dict key must be an int or a str and may not repeat
/// (Python would silently keep the last value); nesting is limited to `pickle_max_depth` levels; an
/// opcode may not cross the end of its frame; nothing may follow STOP; files larger than
/// `pickle_max_file_bytes` are refused before they are read.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <recdiff/error.hpp>

namespace recdiff {

/// Deepest nesting read_pickle() accepts: a scalar has depth 0, a container one more than its
/// deepest element. DiffuRec's files have depth 3 (dict of dicts of lists of ints).
inline constexpr int pickle_max_depth = 64;

/// Largest pickle file read_pickle() reads into memory (the DiffuRec files are 1 to 3 MB).
inline constexpr std::uint64_t pickle_max_file_bytes = std::uint64_t{1} << 30;

namespace detail {
class PickleParser;
}  // namespace detail

/// One value of a restricted pickle: an int, a str, a list or a dict.
///
/// A dict keeps its entries in file order (Python's insertion order); its keys are ints or strs,
/// all distinct. Every value remembers the byte offset of the opcode that created it, so a loader
/// that finds a value of the wrong shape can report where it is. Values are built only by
/// parse_pickle() / read_pickle(); the accessors throw std::invalid_argument when the value is of
/// another kind.
class PickleValue {
 public:
  /// The Python type of the value.
  enum class Kind { integer, string, list, dict };

  /// The int 0 at offset 0.
  PickleValue() = default;
  /// Deep copy.
  PickleValue(const PickleValue& other);
  PickleValue& operator=(const PickleValue& other);
  PickleValue(PickleValue&&) noexcept;
  PickleValue& operator=(PickleValue&&) noexcept;
  ~PickleValue();

  Kind kind() const noexcept { return m_kind; }
  /// Byte offset, in the file, of the opcode that pushed this value.
  std::uint64_t offset() const noexcept { return m_offset; }

  bool is_integer() const noexcept { return m_kind == Kind::integer; }
  bool is_string() const noexcept { return m_kind == Kind::string; }
  bool is_list() const noexcept { return m_kind == Kind::list; }
  bool is_dict() const noexcept { return m_kind == Kind::dict; }

  /// The Python name of a kind: "int", "str", "list" or "dict".
  static const char* kind_name(Kind kind) noexcept {
    switch (kind) {
      case Kind::integer: return "int";
      case Kind::string: return "str";
      case Kind::list: return "list";
      case Kind::dict: return "dict";
    }
    return "?";
  }
  /// kind_name(kind()).
  const char* kind_name() const noexcept { return kind_name(m_kind); }
  /// The kind's name with its article, for messages: "an int", "a str", "a list" or "a dict".
  static const char* kind_phrase(Kind kind) noexcept {
    return kind == Kind::integer ? "an int"
           : kind == Kind::string ? "a str"
           : kind == Kind::list   ? "a list"
                                  : "a dict";
  }
  /// kind_phrase(kind()).
  const char* kind_phrase() const noexcept { return kind_phrase(m_kind); }

  /// The value of an int.
  std::int64_t as_integer() const {
    require(Kind::integer, "as_integer");
    return m_integer;
  }
  /// The (UTF-8) text of a str.
  const std::string& as_string() const {
    require(Kind::string, "as_string");
    return text();
  }
  /// The elements of a list, in order.
  std::span<const PickleValue> items() const {
    require(Kind::list, "items");
    return children();
  }
  /// Number of elements of a list or entries of a dict.
  std::size_t size() const {
    if (m_kind == Kind::list) return children().size();
    require(Kind::dict, "size");
    return children().size() / 2;
  }
  /// Key of the k-th entry of a dict (file order); throws std::out_of_range for k >= size().
  const PickleValue& key(std::size_t k) const { return entry(k, 0, "key"); }
  /// Value of the k-th entry of a dict (file order); throws std::out_of_range for k >= size().
  const PickleValue& value(std::size_t k) const { return entry(k, 1, "value"); }
  /// The value stored under the str key `key` of a dict, or nullptr. Linear in size().
  const PickleValue* find(std::string_view key) const {
    require(Kind::dict, "find");
    const auto& c = children();
    for (std::size_t k = 0; k < c.size(); k += 2)
      if (c[k].is_string() && c[k].text() == key) return &c[k + 1];
    return nullptr;
  }

 private:
  friend class detail::PickleParser;
  // A list's elements, or a dict's entries as key0, value0, key1, value1, ...
  using Children = std::vector<PickleValue>;
  // What a str or a container holds, on the heap so that an int (most values of a dataset) stays
  // small (32 bytes) and never allocates.
  struct Heavy;

  const std::string& text() const noexcept;
  const Children& children() const noexcept;

  void require(Kind kind, const char* function) const {
    if (m_kind != kind)
      throw std::invalid_argument(std::string("recdiff::PickleValue::") + function +
                                  ": the value is " + kind_phrase() + ", not " +
                                  kind_phrase(kind));
  }
  const PickleValue& entry(std::size_t k, std::size_t which, const char* function) const {
    require(Kind::dict, function);
    const auto& c = children();
    if (k >= c.size() / 2)
      throw std::out_of_range(std::string("recdiff::PickleValue::") + function + ": entry " +
                              std::to_string(k) + " of a dict of " + std::to_string(c.size() / 2));
    return c[2 * k + which];
  }

  Kind m_kind = Kind::integer;
  std::uint64_t m_offset = 0;
  std::int64_t m_integer = 0;
  std::unique_ptr<Heavy> m_heavy;  // set exactly for a str, a list and a dict
};

struct PickleValue::Heavy {
  std::string text;
  Children children;
};

inline PickleValue::PickleValue(const PickleValue& other)
    : m_kind(other.m_kind),
      m_offset(other.m_offset),
      m_integer(other.m_integer),
      m_heavy(other.m_heavy ? std::make_unique<Heavy>(*other.m_heavy) : nullptr) {}
inline PickleValue& PickleValue::operator=(const PickleValue& other) {
  if (this != &other) *this = PickleValue(other);
  return *this;
}
inline PickleValue::PickleValue(PickleValue&&) noexcept = default;
inline PickleValue& PickleValue::operator=(PickleValue&&) noexcept = default;
inline PickleValue::~PickleValue() = default;
inline const std::string& PickleValue::text() const noexcept { return m_heavy->text; }
inline const PickleValue::Children& PickleValue::children() const noexcept {
  return m_heavy->children;
}

namespace detail {

/// The pickle name of opcode byte `op` (all protocols, 0 to 5), or nullptr for a byte that is no
/// opcode.
inline const char* pickle_opcode_name(unsigned char op) noexcept {
  switch (op) {
    case 0x28: return "MARK";
    case 0x29: return "EMPTY_TUPLE";
    case 0x2e: return "STOP";
    case 0x30: return "POP";
    case 0x31: return "POP_MARK";
    case 0x32: return "DUP";
    case 0x42: return "BINBYTES";
    case 0x43: return "SHORT_BINBYTES";
    case 0x46: return "FLOAT";
    case 0x47: return "BINFLOAT";
    case 0x49: return "INT";
    case 0x4a: return "BININT";
    case 0x4b: return "BININT1";
    case 0x4c: return "LONG";
    case 0x4d: return "BININT2";
    case 0x4e: return "NONE";
    case 0x50: return "PERSID";
    case 0x51: return "BINPERSID";
    case 0x52: return "REDUCE";
    case 0x53: return "STRING";
    case 0x54: return "BINSTRING";
    case 0x55: return "SHORT_BINSTRING";
    case 0x56: return "UNICODE";
    case 0x58: return "BINUNICODE";
    case 0x5d: return "EMPTY_LIST";
    case 0x61: return "APPEND";
    case 0x62: return "BUILD";
    case 0x63: return "GLOBAL";
    case 0x64: return "DICT";
    case 0x65: return "APPENDS";
    case 0x67: return "GET";
    case 0x68: return "BINGET";
    case 0x69: return "INST";
    case 0x6a: return "LONG_BINGET";
    case 0x6c: return "LIST";
    case 0x6f: return "OBJ";
    case 0x70: return "PUT";
    case 0x71: return "BINPUT";
    case 0x72: return "LONG_BINPUT";
    case 0x73: return "SETITEM";
    case 0x74: return "TUPLE";
    case 0x75: return "SETITEMS";
    case 0x7d: return "EMPTY_DICT";
    case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return nullptr;
  }
}

/// "opcode 0x63 'GLOBAL'", or "byte 0xff (no pickle opcode)".
inline std::string pickle_opcode_text(unsigned char op) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string code = "0x";
  code += hex[op >> 4];
  code += hex[op & 15];
  if (const char* name = pickle_opcode_name(op)) return "opcode " + code + " '" + name + "'";
  return "byte " + code + " (no pickle opcode)";
}

/// Length of the well-formed UTF-8 text at the start of `s` (RFC 3629: no overlong forms, no
/// surrogates, nothing above U+10FFFF); s.size() when all of it is valid.
inline std::size_t utf8_valid_prefix(std::string_view s) noexcept {
  std::size_t k = 0;
  while (k < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[k]);
    if (b0 < 0x80) {
      ++k;
      continue;
    }
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (b0 >= 0xc2 && b0 <= 0xdf) n = 1;
    else if (b0 >= 0xe0 && b0 <= 0xef) {
      n = 2;
      if (b0 == 0xe0) lo = 0xa0;       // overlong
      else if (b0 == 0xed) hi = 0x9f;  // surrogates
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      n = 3;
      if (b0 == 0xf0) lo = 0x90;       // overlong
      else if (b0 == 0xf4) hi = 0x8f;  // above U+10FFFF
    } else {
      return k;
    }
    if (k + n >= s.size()) return k;  // truncated sequence
    for (std::size_t j = 1; j <= n; ++j) {
      const auto b = static_cast<unsigned char>(s[k + j]);
      if (j == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) return k;
    }
    k += n + 1;
  }
  return k;
}

/// The pickle virtual machine restricted to the opcodes of pickle.hpp's table.
class PickleParser {
 public:
  PickleParser(std::string_view bytes, const std::filesystem::path& file)
      : m_bytes(bytes), m_file(file) {}

  PickleValue run() {
    if (m_bytes.empty()) throw IoError(m_file, "empty file, expected a pickle");
    while (true) {
      m_op = m_pos;
      if (m_frame && m_pos == m_frame_end) m_frame = false;
      const unsigned char op = take(1)[0];
      m_op_byte = op;
      if (m_op == 0 && op != 0x80)
        fail("the file does not start with PROTO (expected a pickle of protocol 4 or 5, got " +
             pickle_opcode_text(op) + ")");
      switch (op) {
        case 0x80: proto(); break;
        case 0x95: frame(); break;
        case 0x7d: push_container(PickleValue::Kind::dict); break;
        case 0x5d: push_container(PickleValue::Kind::list); break;
        case 0x8c: short_binunicode(); break;
        case 0x4b: push_integer(static_cast<unsigned char>(take(1)[0])); break;
        case 0x4d: {
          const auto b = take(2);
          push_integer(static_cast<unsigned char>(b[0]) |
                       (static_cast<std::int64_t>(static_cast<unsigned char>(b[1])) << 8));
          break;
        }
        case 0x28: m_marks.push_back(m_stack.size()); break;
        case 0x61: append(); break;
        case 0x65: appends(); break;
        case 0x75: setitems(); break;
        case 0x94:
          if (m_stack.size() <= base())
            fail("MEMOIZE: stack underflow (no value above the last MARK)");
          ++m_memo;
          break;
        case 0x2e: return stop();
        default:
          fail(pickle_opcode_text(op) +
               " is not allowed: only pickles of built-in dict, list, int and str values are "
               "accepted (opcodes PROTO, FRAME, EMPTY_DICT, EMPTY_LIST, SHORT_BINUNICODE, BININT1, "
               "BININT2, MARK, APPEND, APPENDS, SETITEMS, MEMOIZE, STOP)");
      }
    }
  }

 private:
  // A value on the stack, with its nesting depth and, for a dict, the keys it holds so far.
  struct KeySet {
    std::unordered_set<std::int64_t> integers;
    std::unordered_set<std::string> strings;
  };
  struct Slot {
    PickleValue value;
    int depth = 0;
    std::unique_ptr<KeySet> keys;
  };

  [[noreturn]] void fail(const std::string& what) const {
    throw IoError::at_offset(m_file, m_op, what);
  }

  std::string op_text() const { return pickle_opcode_text(m_op_byte); }

  // The next n bytes of the current opcode; never reads past the end of the file or of the frame.
  std::string_view take(std::uint64_t n) {
    const std::uint64_t left = m_bytes.size() - m_pos;
    if (n > left) {
      if (m_op == m_pos) fail("truncated: the file ends without STOP");
      fail("truncated: " + op_text() + " needs " + std::to_string(n) + " more bytes, the file has " +
           std::to_string(left));
    }
    if (m_frame && n > m_frame_end - m_pos)
      fail((m_op == m_pos ? std::string("an opcode") : op_text()) +
           " crosses the end of its frame (byte " + std::to_string(m_frame_end) + ")");
    const auto out = m_bytes.substr(static_cast<std::size_t>(m_pos), static_cast<std::size_t>(n));
    m_pos += n;
    return out;
  }

  // Pushes a new value made by the current opcode; built in place (no moves of a PickleValue).
  PickleValue& push(PickleValue::Kind kind, int depth) {
    Slot& slot = m_stack.emplace_back();
    slot.depth = depth;
    slot.value.m_kind = kind;
    slot.value.m_offset = m_op;
    if (kind == PickleValue::Kind::dict) slot.keys = std::make_unique<KeySet>();
    return slot.value;
  }
  void push_integer(std::int64_t v) {
    push(PickleValue::Kind::integer, 0).m_integer = v;
  }
  void push_container(PickleValue::Kind kind) {
    push(kind, 1).m_heavy = std::make_unique<PickleValue::Heavy>();
  }

  // Stack height below which the current opcode may not pop (the last MARK, or 0).
  std::size_t base() const noexcept { return m_marks.empty() ? 0 : m_marks.back(); }

  void proto() {
    const auto version = static_cast<unsigned char>(take(1)[0]);
    if (m_op != 0) fail("PROTO after the start of the pickle");
    if (version != 4 && version != 5)
      fail("pickle protocol " + std::to_string(version) + ", expected 4 or 5");
  }

  void frame() {
    if (m_frame) fail("FRAME before the end of the current frame (byte " +
                      std::to_string(m_frame_end) + ")");
    const auto b = take(8);
    std::uint64_t length = 0;
    for (int k = 7; k >= 0; --k)
      length = (length << 8) | static_cast<unsigned char>(b[static_cast<std::size_t>(k)]);
    const std::uint64_t left = m_bytes.size() - m_pos;
    if (length > left)
      fail("FRAME declares " + std::to_string(length) + " bytes, the file has " +
           std::to_string(left) + " left");
    m_frame = true;
    m_frame_end = m_pos + length;
  }

  void short_binunicode() {
    const auto length = static_cast<unsigned char>(take(1)[0]);
    const auto text = take(length);
    const auto valid = utf8_valid_prefix(text);
    if (valid != text.size())
      fail("SHORT_BINUNICODE: the string is not valid UTF-8 (byte " +
           std::to_string(m_op + 2 + valid) + ")");
    push(PickleValue::Kind::string, 0).m_heavy =
        std::make_unique<PickleValue::Heavy>(PickleValue::Heavy{std::string(text), {}});
  }

  // Adds the child's depth to its parent's, refusing too deep a tree.
  void nest(Slot& parent, const Slot& child) {
    const int depth = child.depth + 1;
    if (depth > pickle_max_depth)
      fail(op_text() + ": nesting deeper than " + std::to_string(pickle_max_depth) + " levels");
    if (depth > parent.depth) parent.depth = depth;
  }

  Slot& target(std::size_t index, PickleValue::Kind kind) {
    Slot& slot = m_stack[index];
    if (slot.value.kind() != kind)
      fail(op_text() + " into " + slot.value.kind_phrase() + " (byte " +
           std::to_string(slot.value.offset()) + "), expected " + PickleValue::kind_phrase(kind));
    return slot;
  }

  // Makes room for n more children, growing geometrically: reserving exactly each batch of 1000
  // would move all earlier children at every batch.
  static void grow(PickleValue::Children& children, std::size_t n) {
    const std::size_t needed = children.size() + n;
    if (needed > children.capacity()) children.reserve(std::max(needed, 2 * children.capacity()));
  }

  void append() {
    if (m_stack.size() < base() + 2)
      fail("APPEND: stack underflow (needs a list and a value above the last MARK)");
    Slot& list = target(m_stack.size() - 2, PickleValue::Kind::list);
    Slot& item = m_stack.back();
    nest(list, item);
    list.value.m_heavy->children.push_back(std::move(item.value));
    m_stack.pop_back();
  }

  // Pops the last MARK and returns the stack index of the first value above it, after checking that
  // a container sits below it (above the previous MARK).
  std::size_t pop_mark(const char* name) {
    if (m_marks.empty()) fail(std::string(name) + " without a MARK");
    const std::size_t mark = m_marks.back();
    m_marks.pop_back();
    if (mark < base() + 1)
      fail(std::string(name) + ": stack underflow (no container below the MARK)");
    return mark;
  }

  void appends() {
    const std::size_t mark = pop_mark("APPENDS");
    Slot& list = target(mark - 1, PickleValue::Kind::list);
    auto& children = list.value.m_heavy->children;
    grow(children, m_stack.size() - mark);
    for (std::size_t k = mark; k < m_stack.size(); ++k) {
      nest(list, m_stack[k]);
      children.push_back(std::move(m_stack[k].value));
    }
    m_stack.resize(mark);
  }

  void setitems() {
    const std::size_t mark = pop_mark("SETITEMS");
    Slot& dict = target(mark - 1, PickleValue::Kind::dict);
    if ((m_stack.size() - mark) % 2 != 0)
      fail("SETITEMS with an odd number of values (" + std::to_string(m_stack.size() - mark) +
           ") above the MARK");
    auto& children = dict.value.m_heavy->children;
    grow(children, m_stack.size() - mark);
    for (std::size_t k = mark; k < m_stack.size(); k += 2) {
      const PickleValue& key = m_stack[k].value;
      bool fresh = false;
      if (key.is_integer()) fresh = dict.keys->integers.insert(key.as_integer()).second;
      else if (key.is_string()) fresh = dict.keys->strings.insert(key.as_string()).second;
      else
        fail("SETITEMS: a dict key is " + std::string(key.kind_phrase()) + " (byte " +
             std::to_string(key.offset()) + "), expected an int or a str");
      if (!fresh)
        fail("SETITEMS: dict key " +
             (key.is_integer() ? std::to_string(key.as_integer()) : "'" + key.as_string() + "'") +
             " (byte " + std::to_string(key.offset()) + ") appears twice");
      nest(dict, m_stack[k]);
      nest(dict, m_stack[k + 1]);
      children.push_back(std::move(m_stack[k].value));
      children.push_back(std::move(m_stack[k + 1].value));
    }
    m_stack.resize(mark);
  }

  PickleValue stop() {
    if (!m_marks.empty())
      fail("STOP with " + std::to_string(m_marks.size()) + " unclosed MARK(s)");
    if (m_stack.size() != 1)
      fail("STOP with " + std::to_string(m_stack.size()) + " values on the stack, expected 1");
    if (m_pos != m_bytes.size())
      fail(std::to_string(m_bytes.size() - m_pos) + " bytes after STOP");
    return std::move(m_stack.back().value);
  }

  std::string_view m_bytes;
  const std::filesystem::path& m_file;
  std::uint64_t m_pos = 0;
  std::uint64_t m_op = 0;          // offset of the opcode being executed
  unsigned char m_op_byte = 0;
  bool m_frame = false;
  std::uint64_t m_frame_end = 0;
  std::vector<Slot> m_stack;
  std::vector<std::size_t> m_marks;  // stack heights at each open MARK
  std::uint64_t m_memo = 0;          // number of MEMOIZE'd values (never read back)
};

}  // namespace detail

/// Parses the pickle held in `bytes`. `file` only names the source in error messages. Throws
/// IoError (with the byte offset) for anything outside the restricted format described in
/// pickle.hpp's file comment.
inline PickleValue parse_pickle(std::string_view bytes, const std::filesystem::path& file) {
  return detail::PickleParser(bytes, file).run();
}

/// Reads and parses the pickle file `path` (see parse_pickle()). Throws IoError when the file cannot
/// be read, is larger than pickle_max_file_bytes, or is not a restricted pickle.
inline PickleValue read_pickle(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw IoError(path, "cannot read the file: " + ec.message());
  if (size > pickle_max_file_bytes)
    throw IoError(path, "file of " + std::to_string(size) + " bytes, larger than the " +
                            std::to_string(pickle_max_file_bytes) + " a pickle may have");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path, "cannot open the file");
  std::string bytes(static_cast<std::size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (static_cast<std::uint64_t>(in.gcount()) != size)
    throw IoError(path, "could only read " + std::to_string(in.gcount()) + " of " +
                            std::to_string(size) + " bytes");
  return parse_pickle(bytes, path);
}

}  // namespace recdiff
