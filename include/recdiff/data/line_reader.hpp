#pragma once
/// @file
/// LineReader: streaming line-by-line reading of a text file through a reusable buffer, and
/// split_fields(), the field splitter shared by every text loader.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include <recdiff/error.hpp>

namespace recdiff {

/// Reads a text file one line at a time through a fixed buffer (grown only for a line longer than
/// it), so memory does not depend on the file size. Accepts LF and CRLF line ends. A last line without
/// a final newline is returned too; ends_with_newline() tells the caller, which can then decide
/// whether the line is complete.
class LineReader {
 public:
  /// Opens `file`; throws IoError when it does not exist or cannot be opened.
  explicit LineReader(std::filesystem::path file, std::size_t buffer_size = std::size_t{1} << 20)
      : m_file(std::move(file)), m_buffer(std::max<std::size_t>(buffer_size, 16)) {
    if (!std::filesystem::exists(m_file)) throw IoError(m_file, "no such file");
    if (!std::filesystem::is_regular_file(m_file)) throw IoError(m_file, "not a regular file");
    m_in.open(m_file, std::ios::binary);
    if (!m_in) throw IoError(m_file, "cannot open for reading");
  }

  /// Stores the next line, without its "\n" or "\r\n", in `line` and returns true; returns false at
  /// the end of the file. The view is valid until the next call.
  bool next(std::string_view& line) {
    for (;;) {
      const char* begin = m_buffer.data() + m_begin;
      const auto* newline = static_cast<const char*>(std::memchr(begin, '\n', m_end - m_begin));
      if (newline != nullptr) {
        const auto length = static_cast<std::size_t>(newline - begin);
        m_begin += length + 1;
        return emit(line, begin, length, true);
      }
      if (m_eof) {
        if (m_begin == m_end) return false;
        const std::size_t length = m_end - m_begin;
        m_begin = m_end;
        return emit(line, begin, length, false);
      }
      refill();
    }
  }

  /// 1-based number of the line last returned by next() (0 before the first).
  std::uint64_t line_number() const noexcept { return m_line; }
  /// Whether the line last returned was terminated by a newline (false only for a last line
  /// without one).
  bool ends_with_newline() const noexcept { return m_had_newline; }
  const std::filesystem::path& file() const noexcept { return m_file; }

 private:
  bool emit(std::string_view& line, const char* begin, std::size_t length, bool had_newline) {
    if (length > 0 && begin[length - 1] == '\r') --length;
    line = std::string_view(begin, length);
    m_had_newline = had_newline;
    ++m_line;
    return true;
  }

  // Moves the unread tail to the front, grows the buffer if a single line fills it, and reads more.
  void refill() {
    const std::size_t tail = m_end - m_begin;
    if (m_begin > 0) std::memmove(m_buffer.data(), m_buffer.data() + m_begin, tail);
    m_begin = 0;
    m_end = tail;
    if (m_end == m_buffer.size()) m_buffer.resize(2 * m_buffer.size());
    m_in.read(m_buffer.data() + m_end, static_cast<std::streamsize>(m_buffer.size() - m_end));
    const auto got = static_cast<std::size_t>(m_in.gcount());
    if (got == 0 && m_in.bad()) throw IoError(m_file, "read error");
    m_end += got;
    if (!m_in) m_eof = true;
  }

  std::filesystem::path m_file;
  std::ifstream m_in;
  std::vector<char> m_buffer;
  std::size_t m_begin = 0;
  std::size_t m_end = 0;
  bool m_eof = false;
  bool m_had_newline = true;
  std::uint64_t m_line = 0;
};

/// Splits `line` at every occurrence of `delimiter` (one or more characters, e.g. "\t" or "::"),
/// storing the first out.size() fields in `out`. Returns the number of fields in the line, which may
/// exceed out.size(); an empty line has one (empty) field. Throws std::invalid_argument for an empty
/// delimiter.
inline std::size_t split_fields(std::string_view line, std::string_view delimiter,
                                std::span<std::string_view> out) {
  if (delimiter.empty())
    throw std::invalid_argument("recdiff::split_fields: the delimiter must not be empty");
  std::size_t count = 0;
  std::size_t start = 0;
  for (;;) {
    const std::size_t stop = line.find(delimiter, start);
    const std::string_view field =
        line.substr(start, stop == std::string_view::npos ? std::string_view::npos : stop - start);
    if (count < out.size()) out[count] = field;
    ++count;
    if (stop == std::string_view::npos) return count;
    start = stop + delimiter.size();
  }
}

}  // namespace recdiff
