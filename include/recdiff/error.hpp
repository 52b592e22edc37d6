#pragma once
/// @file
/// The library's exception types. Arguments that violate a documented precondition throw
/// std::invalid_argument; everything that goes wrong with files, data or numerics throws one of the
/// types below, all derived from recdiff::Error (itself a std::runtime_error).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

namespace recdiff {

/// Base of every recdiff-specific exception.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A file could not be read or written, or its content is malformed. The message always names the
/// file and, where known, the 1-based line or the byte offset of the problem.
class IoError : public Error {
 public:
  /// Problem with the file as a whole (missing, empty, cannot be opened).
  IoError(const std::filesystem::path& file, const std::string& what)
      : Error(file.string() + ": " + what), m_file(file), m_what(what) {}

  /// Problem on a given 1-based line of a text file.
  static IoError at_line(const std::filesystem::path& file, std::uint64_t line,
                         const std::string& what) {
    IoError e(file.string() + ":" + std::to_string(line) + ": " + what, file, what);
    e.m_line = line;
    return e;
  }

  /// Problem at a byte offset of a binary file.
  static IoError at_offset(const std::filesystem::path& file, std::uint64_t offset,
                           const std::string& what) {
    IoError e(file.string() + " (byte " + std::to_string(offset) + "): " + what, file, what);
    e.m_offset = offset;
    return e;
  }

  const std::filesystem::path& file() const noexcept { return m_file; }
  /// 1-based line number, when the problem is on a line of a text file.
  std::optional<std::uint64_t> line() const noexcept { return m_line; }
  /// Byte offset, when the problem is at a position of a binary file.
  std::optional<std::uint64_t> offset() const noexcept { return m_offset; }
  /// The description of the problem without the location prefix.
  const std::string& reason() const noexcept { return m_what; }

 private:
  IoError(const std::string& message, const std::filesystem::path& file, const std::string& what)
      : Error(message), m_file(file), m_what(what) {}

  std::filesystem::path m_file;
  std::string m_what;
  std::optional<std::uint64_t> m_line;
  std::optional<std::uint64_t> m_offset;
};

/// Data that is well-formed but inconsistent (e.g. a test id outside the training id range).
class DataError : public Error {
 public:
  using Error::Error;
};

/// A computation produced a non-finite value or cannot proceed (e.g. a matrix too large to factor).
class NumericalError : public Error {
 public:
  using Error::Error;
};

/// A CUDA runtime or cuBLAS call failed; the message names the call, the file:line and the reason.
class CudaError : public Error {
 public:
  using Error::Error;
};

}  // namespace recdiff
