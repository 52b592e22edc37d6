#pragma once
/// @file
/// NumPy .npy arrays: a validating header parser, a reader of arrays of any rank, a streaming row
/// reader for 2-D arrays, loaders that return xtensor containers, and an atomic writer.
///
/// xtensor's own xt::load_npy trusts the file; this reader checks everything first (magic, version,
/// header dictionary, dtype, byte order, memory order, shape, payload size) and reports each problem as
/// an IoError with the file name and the byte offset.

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <recdiff/detail/xtensor_include.hpp>
#include <recdiff/error.hpp>
#include <recdiff/io/atomic_file.hpp>

namespace recdiff {

/// The .npy type string ("descr") of element type T, little-endian: '<i4', '<i8', '<f4', '<f8'.
template <class T>
constexpr std::string_view npy_descr() {
  if constexpr (std::is_same_v<T, std::int32_t>) return "<i4";
  else if constexpr (std::is_same_v<T, std::int64_t>) return "<i8";
  else if constexpr (std::is_same_v<T, float>) return "<f4";
  else if constexpr (std::is_same_v<T, double>) return "<f8";
  else static_assert(!sizeof(T), "recdiff::npy_descr: supported element types are int32, int64, float and double");
}

/// What the header of a .npy file declares.
struct NpyHeader {
  int major_version = 0;           ///< 1, 2 or 3
  std::string descr;               ///< dtype string, e.g. "<i8"
  bool fortran_order = false;      ///< column-major payload
  std::vector<std::uint64_t> shape;  ///< the array's shape; empty for a 0-d (scalar) array
  std::uint64_t data_offset = 0;   ///< byte offset of the payload
};

namespace detail {

/// `shape` as Python writes a tuple: "()", "(4,)", "(2, 3)".
inline std::string npy_shape_text(const std::vector<std::uint64_t>& shape) {
  std::string s = "(";
  for (std::size_t k = 0; k < shape.size(); ++k) {
    if (k) s += ", ";
    s += std::to_string(shape[k]);
  }
  return s + (shape.size() == 1 ? ",)" : ")");
}

/// `value` with its bytes reversed (big-endian hosts only).
template <class T>
T npy_byteswap(T value) {
  auto bytes = std::bit_cast<std::array<unsigned char, sizeof(T)>>(value);
  std::reverse(bytes.begin(), bytes.end());
  return std::bit_cast<T>(bytes);
}

/// Parses the Python dict literal of a .npy header, e.g.
/// {'descr': '<i8', 'fortran_order': False, 'shape': (403277, 2), }
/// Every error is an IoError at the byte offset of the offending character.
struct NpyDictParser {
  std::string_view text;
  std::uint64_t base;  // file offset of text[0]
  const std::filesystem::path& file;
  std::size_t pos = 0;

  [[noreturn]] void error(const std::string& what) const {
    throw IoError::at_offset(file, base + pos, "corrupt header: " + what);
  }
  void skip_space() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\n' || text[pos] == '\t' ||
                                 text[pos] == '\r'))
      ++pos;
  }
  bool accept(char c) {
    skip_space();
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!accept(c)) error(std::string("expected '") + c + "'");
  }
  std::string string_literal() {
    skip_space();
    if (pos >= text.size() || (text[pos] != '\'' && text[pos] != '"'))
      error("expected a quoted string");
    const std::size_t start = pos;
    const char quote = text[pos++];
    const auto end = text.find(quote, pos);
    if (end == std::string_view::npos) {
      pos = start;
      error("unterminated string");
    }
    std::string out(text.substr(pos, end - pos));
    pos = end + 1;
    return out;
  }
  bool boolean() {
    skip_space();
    for (const auto& [word, value] : {std::pair{std::string_view("True"), true},
                                      std::pair{std::string_view("False"), false}})
      if (text.substr(pos, word.size()) == word) {
        pos += word.size();
        return value;
      }
    error("expected True or False");
  }
  std::uint64_t integer() {
    skip_space();
    const auto start = pos;
    std::uint64_t v = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      const auto digit = static_cast<std::uint64_t>(text[pos] - '0');
      if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) error("shape value overflows");
      v = v * 10 + digit;
      ++pos;
    }
    if (pos == start) error("expected a non-negative integer in the shape");
    return v;
  }
  std::vector<std::uint64_t> tuple() {
    expect('(');
    std::vector<std::uint64_t> out;
    while (!accept(')')) {
      out.push_back(integer());
      if (!accept(',')) {
        expect(')');
        break;
      }
    }
    return out;
  }
  void parse(NpyHeader& h) {
    bool seen_descr = false, seen_order = false, seen_shape = false;
    expect('{');
    while (!accept('}')) {
      skip_space();
      const auto key_pos = pos;
      const std::string key = string_literal();
      expect(':');
      auto once = [&](bool& seen) {
        if (seen) {
          pos = key_pos;
          error("key '" + key + "' appears twice");
        }
        seen = true;
      };
      if (key == "descr") {
        once(seen_descr);
        skip_space();
        if (pos < text.size() && text[pos] == '[') error("structured dtypes are not supported");
        h.descr = string_literal();
      } else if (key == "fortran_order") {
        once(seen_order);
        h.fortran_order = boolean();
      } else if (key == "shape") {
        once(seen_shape);
        h.shape = tuple();
      } else {
        pos = key_pos;
        error("unexpected key '" + key + "'");
      }
      if (!accept(',')) {
        expect('}');
        break;
      }
    }
    skip_space();
    if (pos != text.size()) error("unexpected text after the dictionary");
    pos = 0;  // a missing key is a property of the whole dictionary
    if (!seen_descr) error("missing key 'descr'");
    if (!seen_order) error("missing key 'fortran_order'");
    if (!seen_shape) error("missing key 'shape'");
  }
};

/// Reads and parses the prelude and the header of the .npy file open in `in` (positioned at byte 0).
inline NpyHeader read_npy_header(std::ifstream& in, const std::filesystem::path& file) {
  constexpr std::uint64_t max_header_length = 1u << 20;
  auto fail = [&](std::uint64_t offset, const std::string& what) {
    throw IoError::at_offset(file, offset, what);
  };
  const auto file_size = std::filesystem::file_size(file);
  unsigned char prelude[12] = {};
  in.read(reinterpret_cast<char*>(prelude), 8);
  const auto got = static_cast<std::uint64_t>(in.gcount());
  static constexpr unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  for (std::uint64_t k = 0; k < 6; ++k)
    if (k >= got || prelude[k] != magic[k])
      fail(k, file_size == 0 ? "empty file, expected the .npy magic \"\\x93NUMPY\""
                             : "bad magic, expected \"\\x93NUMPY\" (not a .npy file)");
  if (got < 8) fail(got, "corrupt header: the file ends inside the version bytes");
  NpyHeader h;
  h.major_version = prelude[6];
  if (h.major_version < 1 || h.major_version > 3 || prelude[7] != 0)
    fail(6, "unsupported .npy version " + std::to_string(prelude[6]) + "." +
                std::to_string(prelude[7]) + ", expected 1.0, 2.0 or 3.0");
  const std::uint64_t len_bytes = h.major_version == 1 ? 2 : 4;
  in.read(reinterpret_cast<char*>(prelude + 8), static_cast<std::streamsize>(len_bytes));
  if (static_cast<std::uint64_t>(in.gcount()) != len_bytes)
    fail(8, "corrupt header: the file ends inside the header length");
  std::uint64_t header_len = 0;
  for (std::uint64_t k = 0; k < len_bytes; ++k) header_len |= std::uint64_t{prelude[8 + k]} << (8 * k);
  const std::uint64_t text_start = 8 + len_bytes;
  if (header_len > max_header_length || text_start + header_len > file_size)
    fail(8, "corrupt header: header length " + std::to_string(header_len) +
                " runs past the end of the file (" + std::to_string(file_size) + " bytes)");
  std::string text(static_cast<std::size_t>(header_len), '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_len));
  if (static_cast<std::uint64_t>(in.gcount()) != header_len)
    fail(text_start, "corrupt header: cannot read " + std::to_string(header_len) + " header bytes");
  h.data_offset = text_start + header_len;
  NpyDictParser parser{text, text_start, file};
  parser.parse(h);
  return h;
}

/// A shape rule that accepts every shape (see NpyReader).
struct AnyNpyShape {
  std::string operator()(const std::vector<std::uint64_t>&) const { return {}; }
};

}  // namespace detail

/// Reads a C-order, little-endian .npy array of any rank (0-d included) with element type T
/// (std::int32_t, std::int64_t, float or double), as a stream of elements in C order.
///
/// The constructor opens the file and validates the header and the payload size, so a reader that
/// exists is known to hold exactly num_elements() elements; read() then streams them in chunks of any
/// size.
template <class T>
class NpyReader {
 public:
  using Header = NpyHeader;  ///< what the header declares

  /// Opens `file` and validates it for any shape. Throws IoError naming the file and the byte
  /// offset for a missing file, bad magic, unsupported version, corrupt header, wrong dtype,
  /// big-endian data, Fortran order, a shape too large to address, and a payload whose size differs
  /// from what the shape implies (truncated file or trailing bytes).
  explicit NpyReader(std::filesystem::path file) : NpyReader(std::move(file), detail::AnyNpyShape{}) {}

  /// As above, with a shape rule: `rule(shape)` returns an empty string for an acceptable shape, else
  /// a description of what was expected (the error then reads "wrong shape: expected <that>, got
  /// <shape>"). The rule is checked after the dtype and the memory order, before the payload size.
  template <class ShapeRule>
  NpyReader(std::filesystem::path file, ShapeRule rule) : m_file(std::move(file)) {
    if (!std::filesystem::exists(m_file)) throw IoError(m_file, "no such file");
    if (!std::filesystem::is_regular_file(m_file)) throw IoError(m_file, "not a regular file");
    m_in.open(m_file, std::ios::binary);
    if (!m_in) throw IoError(m_file, "cannot open for reading");
    m_header = detail::read_npy_header(m_in, m_file);
    validate(rule);
    m_in.seekg(static_cast<std::streamoff>(m_header.data_offset));
  }

  /// The file.
  const std::filesystem::path& file() const noexcept { return m_file; }
  /// The parsed header.
  const Header& header() const noexcept { return m_header; }
  /// The shape (empty for a 0-d array).
  const std::vector<std::uint64_t>& shape() const noexcept { return m_header.shape; }
  /// Number of dimensions.
  std::size_t rank() const noexcept { return m_header.shape.size(); }
  /// Number of elements (the product of the shape; 1 for a 0-d array).
  std::uint64_t num_elements() const noexcept { return m_elements; }
  /// Elements not read yet.
  std::uint64_t remaining() const noexcept { return m_elements - m_next; }
  /// C-order index of the next element read() returns.
  std::uint64_t next_element() const noexcept { return m_next; }

  /// Byte offset of the element with C-order index `k`, for error messages about values.
  std::uint64_t offset_of_element(std::uint64_t k) const noexcept {
    return m_header.data_offset + k * sizeof(T);
  }

  /// Reads up to `max_count` elements into `out`, in C order. Returns the number read, 0 at the end.
  /// Throws IoError if the file shrank underneath; the message says it ended while reading `what`
  /// (e.g. "row 3"; by default "element <index>").
  std::size_t read(T* out, std::uint64_t max_count, const std::string& what = {}) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(max_count, remaining()));
    if (n == 0) return 0;
    m_in.read(reinterpret_cast<char*>(out), static_cast<std::streamsize>(n * sizeof(T)));
    const auto got = static_cast<std::uint64_t>(m_in.gcount());
    if (got != n * sizeof(T))
      throw IoError::at_offset(m_file, offset_of_element(m_next) + got,
                               "truncated payload: the file ended while reading " +
                                   (what.empty() ? "element " + std::to_string(m_next + got / sizeof(T))
                                                 : what));
    if constexpr (std::endian::native == std::endian::big) {
      for (std::size_t k = 0; k < n; ++k) out[k] = detail::npy_byteswap(out[k]);
    }
    m_next += n;
    return n;
  }

 private:
  [[noreturn]] void fail(std::uint64_t offset, const std::string& what) const {
    throw IoError::at_offset(m_file, offset, what);
  }

  template <class ShapeRule>
  void validate(ShapeRule& rule) {
    const std::string_view want = npy_descr<T>();
    const Header& h = m_header;
    // The header dictionary starts right after the length field.
    const std::uint64_t dict_offset = h.major_version == 1 ? 10 : 12;
    if (h.descr.size() == want.size() && h.descr[0] == '>' && want.substr(1) == std::string_view(h.descr).substr(1))
      fail(dict_offset, "big-endian data ('" + h.descr + "') is not supported, expected '" +
                            std::string(want) + "'");
    if (h.descr != want)
      fail(dict_offset, "wrong dtype: expected '" + std::string(want) + "', got '" + h.descr + "'");
    if (h.fortran_order)
      fail(dict_offset, "Fortran-order (column-major) arrays are not supported, expected C order");
    if (const std::string expected = rule(h.shape); !expected.empty())
      fail(dict_offset, "wrong shape: expected " + expected + ", got " + detail::npy_shape_text(h.shape));
    const std::uint64_t max_elements = std::numeric_limits<std::uint64_t>::max() / sizeof(T);
    std::uint64_t elements = 1;
    bool zero = false;
    for (const auto d : h.shape) zero = zero || d == 0;
    if (!zero)
      for (const auto d : h.shape) {
        if (elements > max_elements / d)
          fail(dict_offset, "corrupt header: shape " + detail::npy_shape_text(h.shape) + " is too large");
        elements *= d;
      }
    m_elements = zero ? 0 : elements;
    const std::uint64_t payload = m_elements * sizeof(T);
    const std::uint64_t file_size = std::filesystem::file_size(m_file);
    const std::uint64_t available = file_size - h.data_offset;
    if (available < payload)
      fail(file_size, "truncated payload: shape " + detail::npy_shape_text(h.shape) + " of '" +
                          h.descr + "' needs " + std::to_string(payload) + " bytes from byte " +
                          std::to_string(h.data_offset) + ", but only " + std::to_string(available) +
                          " are there");
    if (available > payload)
      fail(h.data_offset + payload, std::to_string(available - payload) +
                                        " unexpected bytes after the payload of shape " +
                                        detail::npy_shape_text(h.shape));
  }

  std::filesystem::path m_file;
  std::ifstream m_in;
  Header m_header;
  std::uint64_t m_elements = 0;
  std::uint64_t m_next = 0;
};

/// Streams the rows of a 2-D, C-order, little-endian .npy array of element type T
/// (std::int32_t, std::int64_t, float or double).
///
/// The constructor opens the file and validates the header and the payload size, so a reader that
/// exists is known to hold exactly rows() x cols() elements. Rows are then read in chunks of any size;
/// only the caller's chunk buffer is held in memory.
template <class T>
class NpyMatrixReader {
 public:
  using Header = NpyHeader;  ///< what the header declares

  /// Opens `file` and validates it. `expected_cols` > 0 requires that many columns (e.g. 2 for
  /// [user, item] pairs); 0 accepts any. Throws IoError naming the file and the byte offset for a
  /// missing file, bad magic, unsupported version, corrupt header, wrong dtype, big-endian data,
  /// Fortran order, a shape that is not 2-D (or has the wrong column count), and a payload whose size
  /// differs from what the shape implies (truncated file or trailing bytes).
  explicit NpyMatrixReader(std::filesystem::path file, std::uint64_t expected_cols = 0)
      : m_reader(std::move(file), [expected_cols](const std::vector<std::uint64_t>& shape) {
          if (shape.size() == 2 && (expected_cols == 0 || shape[1] == expected_cols)) return std::string();
          return expected_cols > 0 ? "(N, " + std::to_string(expected_cols) + ")" : std::string("2-D (N, M)");
        }) {}

  /// The file.
  const std::filesystem::path& file() const noexcept { return m_reader.file(); }
  /// The parsed header.
  const Header& header() const noexcept { return m_reader.header(); }
  /// Number of rows.
  std::uint64_t rows() const noexcept { return m_reader.shape()[0]; }
  /// Number of columns.
  std::uint64_t cols() const noexcept { return m_reader.shape()[1]; }
  /// Rows not read yet.
  std::uint64_t remaining_rows() const noexcept { return rows() - m_next_row; }
  /// Index of the next row read_rows() returns.
  std::uint64_t next_row() const noexcept { return m_next_row; }

  /// Byte offset of element (row, col) in the file, for error messages about values.
  std::uint64_t offset_of(std::uint64_t row, std::uint64_t col) const noexcept {
    return m_reader.offset_of_element(row * cols() + col);
  }

  /// Reads up to `max_rows` rows into `out` (which must hold max_rows * cols() elements), row-major.
  /// Returns the number of rows read, 0 at the end. Throws IoError if the file shrank underneath.
  std::size_t read_rows(T* out, std::size_t max_rows) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(max_rows, remaining_rows()));
    if (n == 0) return 0;
    m_reader.read(out, n * cols(), "row " + std::to_string(m_next_row));
    m_next_row += n;
    return n;
  }

 private:
  NpyReader<T> m_reader;
  std::uint64_t m_next_row = 0;
};

/// Loads a whole 2-D .npy array of element type T into an xtensor container, after the checks of
/// NpyMatrixReader (`expected_cols` > 0 also fixes the column count). Example:
/// `auto emb = recdiff::load_npy_matrix<float>("item_emb.npy");` reads a '<f4' (N, D) array.
template <class T>
xt::xtensor<T, 2> load_npy_matrix(const std::filesystem::path& file, std::uint64_t expected_cols = 0) {
  NpyMatrixReader<T> reader(file, expected_cols);
  const auto rows = static_cast<std::size_t>(reader.rows());
  const auto cols = static_cast<std::size_t>(reader.cols());
  xt::xtensor<T, 2> out = xt::xtensor<T, 2>::from_shape({rows, cols});
  if (rows * cols > 0) reader.read_rows(out.data(), rows);
  return out;
}

/// Loads a whole .npy array of ANY rank (0-d included) of element type T into an xt::xarray, after
/// the checks of NpyReader (every defect an IoError naming the file and the byte offset). Example:
/// `auto seqs = recdiff::load_npy<std::int64_t>("sequences.npy");` reads a '<i8' (B, L) array.
template <class T>
xt::xarray<T> load_npy(const std::filesystem::path& file) {
  NpyReader<T> reader(file);
  std::vector<std::size_t> shape;
  for (const auto d : reader.shape()) shape.push_back(static_cast<std::size_t>(d));
  xt::xarray<T> out = xt::xarray<T>::from_shape(shape);
  if (reader.num_elements() > 0) reader.read(out.data(), reader.num_elements());
  return out;
}

namespace detail {

/// The complete header of a .npy file (prelude + dictionary + padding + '\n') for `shape` of
/// `descr`: version 1.0 with the payload aligned to 64 bytes, as NumPy writes it (2.0 when the
/// header does not fit a 16-bit length).
inline std::string npy_header_bytes(std::string_view descr, const std::vector<std::uint64_t>& shape) {
  std::string dict = "{'descr': '" + std::string(descr) +
                     "', 'fortran_order': False, 'shape': " + npy_shape_text(shape) + ", }";
  const bool v1 = dict.size() + 1 + 10 + 63 <= 65535;
  const std::size_t prelude = v1 ? 10 : 12;
  while ((prelude + dict.size() + 1) % 64 != 0) dict += ' ';
  dict += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(v1 ? 1 : 2);
  out += '\0';
  const auto len = static_cast<std::uint64_t>(dict.size());
  for (std::size_t k = 0; k < (v1 ? 2u : 4u); ++k) out += static_cast<char>((len >> (8 * k)) & 0xff);
  return out + dict;
}

}  // namespace detail

/// Writes `array` (any rank, element type int32, int64, float or double) to `file` as a .npy v1.0
/// file: C order, little-endian, the header padded so the payload starts on a 64-byte boundary.
/// load_npy() and numpy.load() read it back. The file is written atomically
/// (write_file_atomically()): first to a temporary file in the same folder, then renamed over
/// `file`, so a reader sees either the old file or the complete new one.
/// @throws IoError when the temporary file cannot be written or renamed (it is removed)
template <class E>
void save_npy(const std::filesystem::path& file, const xt::xexpression<E>& array) {
  using T = std::decay_t<typename E::value_type>;
  const std::string_view descr = npy_descr<T>();
  const E& a = array.derived_cast();
  std::vector<std::uint64_t> shape;
  for (const auto d : a.shape()) shape.push_back(static_cast<std::uint64_t>(d));
  // A row-major container is written from its own buffer; anything else is evaluated in C order.
  auto write_payload = [&](std::ostream& out, const T* data, std::size_t count) {
    if constexpr (std::endian::native == std::endian::little) {
      out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(count * sizeof(T)));
    } else {
      for (std::size_t k = 0; k < count; ++k) {
        const T v = detail::npy_byteswap(data[k]);
        out.write(reinterpret_cast<const char*>(&v), sizeof(T));
      }
    }
  };
  write_file_atomically(file, [&](std::ostream& out) {
    const std::string header = detail::npy_header_bytes(descr, shape);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    constexpr bool row_major_container = [] {
      if constexpr (std::is_base_of_v<xt::xcontainer<E>, E>)
        return E::static_layout == xt::layout_type::row_major;
      else
        return false;
    }();
    if constexpr (row_major_container) {
      write_payload(out, a.data(), a.size());
    } else {
      const xt::xarray<T, xt::layout_type::row_major> c = a;
      write_payload(out, c.data(), c.size());
    }
  });
}

}  // namespace recdiff
