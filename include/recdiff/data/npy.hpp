#pragma once
/// @file
/// Reading 2-D NumPy .npy arrays: a validating header parser, a streaming row reader and a loader that
/// returns an xtensor container.
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
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <recdiff/detail/xtensor_include.hpp>
#include <recdiff/error.hpp>

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

/// Streams the rows of a 2-D, C-order, little-endian .npy array of element type T
/// (std::int32_t, std::int64_t, float or double).
///
/// The constructor opens the file and validates the header and the payload size, so a reader that
/// exists is known to hold exactly rows() x cols() elements. Rows are then read in chunks of any size;
/// only the caller's chunk buffer is held in memory.
template <class T>
class NpyMatrixReader {
 public:
  /// What the header of a .npy file declares.
  struct Header {
    int major_version = 0;           ///< 1, 2 or 3
    std::string descr;               ///< dtype string, e.g. "<i8"
    bool fortran_order = false;      ///< column-major payload
    std::vector<std::uint64_t> shape;
    std::uint64_t data_offset = 0;   ///< byte offset of the payload
  };

  /// Opens `file` and validates it. `expected_cols` > 0 requires that many columns (e.g. 2 for
  /// [user, item] pairs); 0 accepts any. Throws IoError naming the file and the byte offset for a
  /// missing file, bad magic, unsupported version, corrupt header, wrong dtype, big-endian data,
  /// Fortran order, a shape that is not 2-D (or has the wrong column count), and a payload whose size
  /// differs from what the shape implies (truncated file or trailing bytes).
  explicit NpyMatrixReader(std::filesystem::path file, std::uint64_t expected_cols = 0)
      : m_file(std::move(file)) {
    if (!std::filesystem::exists(m_file)) throw IoError(m_file, "no such file");
    if (!std::filesystem::is_regular_file(m_file)) throw IoError(m_file, "not a regular file");
    m_in.open(m_file, std::ios::binary);
    if (!m_in) throw IoError(m_file, "cannot open for reading");
    m_header = parse_header();
    validate(expected_cols);
    m_in.seekg(static_cast<std::streamoff>(m_header.data_offset));
  }

  const std::filesystem::path& file() const noexcept { return m_file; }
  const Header& header() const noexcept { return m_header; }
  std::uint64_t rows() const noexcept { return m_header.shape[0]; }
  std::uint64_t cols() const noexcept { return m_header.shape[1]; }
  /// Rows not read yet.
  std::uint64_t remaining_rows() const noexcept { return rows() - m_next_row; }
  /// Index of the next row read_rows() returns.
  std::uint64_t next_row() const noexcept { return m_next_row; }

  /// Byte offset of element (row, col) in the file, for error messages about values.
  std::uint64_t offset_of(std::uint64_t row, std::uint64_t col) const noexcept {
    return m_header.data_offset + (row * cols() + col) * sizeof(T);
  }

  /// Reads up to `max_rows` rows into `out` (which must hold max_rows * cols() elements), row-major.
  /// Returns the number of rows read, 0 at the end. Throws IoError if the file shrank underneath.
  std::size_t read_rows(T* out, std::size_t max_rows) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(max_rows, remaining_rows()));
    if (n == 0) return 0;
    const auto count = n * static_cast<std::size_t>(cols());
    m_in.read(reinterpret_cast<char*>(out), static_cast<std::streamsize>(count * sizeof(T)));
    if (static_cast<std::size_t>(m_in.gcount()) != count * sizeof(T))
      throw IoError::at_offset(m_file, offset_of(m_next_row, 0) + static_cast<std::uint64_t>(m_in.gcount()),
                               "truncated payload: the file ended while reading row " +
                                   std::to_string(m_next_row));
    if constexpr (std::endian::native == std::endian::big) {
      for (std::size_t k = 0; k < count; ++k) out[k] = byteswap(out[k]);
    }
    m_next_row += n;
    return n;
  }

 private:
  static constexpr std::uint64_t max_header_length = 1u << 20;

  static T byteswap(T value) {
    auto bytes = std::bit_cast<std::array<unsigned char, sizeof(T)>>(value);
    std::reverse(bytes.begin(), bytes.end());
    return std::bit_cast<T>(bytes);
  }

  [[noreturn]] void fail(std::uint64_t offset, const std::string& what) const {
    throw IoError::at_offset(m_file, offset, what);
  }

  Header parse_header() {
    const auto file_size = std::filesystem::file_size(m_file);
    unsigned char prelude[12] = {};
    m_in.read(reinterpret_cast<char*>(prelude), 8);
    const auto got = static_cast<std::uint64_t>(m_in.gcount());
    static constexpr unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    for (std::uint64_t k = 0; k < 6; ++k)
      if (k >= got || prelude[k] != magic[k])
        fail(k, file_size == 0 ? "empty file, expected the .npy magic \"\\x93NUMPY\""
                               : "bad magic, expected \"\\x93NUMPY\" (not a .npy file)");
    if (got < 8) fail(got, "corrupt header: the file ends inside the version bytes");
    Header h;
    h.major_version = prelude[6];
    if (h.major_version < 1 || h.major_version > 3 || prelude[7] != 0)
      fail(6, "unsupported .npy version " + std::to_string(prelude[6]) + "." +
                  std::to_string(prelude[7]) + ", expected 1.0, 2.0 or 3.0");
    const std::uint64_t len_bytes = h.major_version == 1 ? 2 : 4;
    m_in.read(reinterpret_cast<char*>(prelude + 8), static_cast<std::streamsize>(len_bytes));
    if (static_cast<std::uint64_t>(m_in.gcount()) != len_bytes)
      fail(8, "corrupt header: the file ends inside the header length");
    std::uint64_t header_len = 0;
    for (std::uint64_t k = 0; k < len_bytes; ++k) header_len |= std::uint64_t{prelude[8 + k]} << (8 * k);
    const std::uint64_t text_start = 8 + len_bytes;
    if (header_len > max_header_length || text_start + header_len > file_size)
      fail(8, "corrupt header: header length " + std::to_string(header_len) +
                  " runs past the end of the file (" + std::to_string(file_size) + " bytes)");
    std::string text(static_cast<std::size_t>(header_len), '\0');
    m_in.read(text.data(), static_cast<std::streamsize>(header_len));
    if (static_cast<std::uint64_t>(m_in.gcount()) != header_len)
      fail(text_start, "corrupt header: cannot read " + std::to_string(header_len) + " header bytes");
    h.data_offset = text_start + header_len;
    DictParser parser{text, text_start, *this};
    parser.parse(h);
    return h;
  }

  // Parses the Python dict literal of the header, e.g.
  // {'descr': '<i8', 'fortran_order': False, 'shape': (403277, 2), }
  struct DictParser {
    std::string_view text;
    std::uint64_t base;  // file offset of text[0]
    const NpyMatrixReader& owner;
    std::size_t pos = 0;

    [[noreturn]] void error(const std::string& what) const {
      owner.fail(base + pos, "corrupt header: " + what);
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
    void parse(Header& h) {
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

  static std::string shape_text(const std::vector<std::uint64_t>& shape) {
    std::string s = "(";
    for (std::size_t k = 0; k < shape.size(); ++k) {
      if (k) s += ", ";
      s += std::to_string(shape[k]);
    }
    return s + (shape.size() == 1 ? ",)" : ")");
  }

  void validate(std::uint64_t expected_cols) {
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
    const std::string want_shape =
        expected_cols > 0 ? "(N, " + std::to_string(expected_cols) + ")" : "2-D (N, M)";
    if (h.shape.size() != 2 || (expected_cols > 0 && h.shape[1] != expected_cols))
      fail(dict_offset, "wrong shape: expected " + want_shape + ", got " + shape_text(h.shape));
    const std::uint64_t max_elements = std::numeric_limits<std::uint64_t>::max() / sizeof(T);
    if (h.shape[1] != 0 && h.shape[0] > max_elements / h.shape[1])
      fail(dict_offset, "corrupt header: shape " + shape_text(h.shape) + " is too large");
    const std::uint64_t payload = h.shape[0] * h.shape[1] * sizeof(T);
    const std::uint64_t file_size = std::filesystem::file_size(m_file);
    const std::uint64_t available = file_size - h.data_offset;
    if (available < payload)
      fail(file_size, "truncated payload: shape " + shape_text(h.shape) + " of '" + h.descr +
                          "' needs " + std::to_string(payload) + " bytes from byte " +
                          std::to_string(h.data_offset) + ", but only " + std::to_string(available) +
                          " are there");
    if (available > payload)
      fail(h.data_offset + payload, std::to_string(available - payload) +
                                        " unexpected bytes after the payload of shape " +
                                        shape_text(h.shape));
  }

  std::filesystem::path m_file;
  std::ifstream m_in;
  Header m_header;
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

}  // namespace recdiff
