#pragma once
/// @file
/// Atomic replacement of a file: the content goes to a temporary file in the same folder, which is
/// then renamed over the target, so that a reader (or a crash) sees either the old file or the
/// complete new one, never a half-written one. Used by CheckpointWriter::write and save_npy.

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <ostream>
#include <string>
#include <system_error>

#include <recdiff/error.hpp>

namespace recdiff {

namespace detail {
/// Distinguishes the temporary files of concurrent writes from one process.
inline std::atomic<unsigned> atomic_file_serial{0};

/// Removes `file` if it exists, ignoring every error (clean-up on a failure path).
inline void remove_quietly(const std::filesystem::path& file) noexcept {
  std::error_code ec;
  std::filesystem::remove(file, ec);
}
}  // namespace detail

/// The temporary file write_file_atomically() writes before renaming it over `path`:
/// `path` + ".tmp" + process id + "." + a per-process serial number (unique among concurrent
/// writers of one process and across processes). It lies in the folder of `path`, so the rename
/// stays on one file system.
inline std::filesystem::path atomic_temp_path(const std::filesystem::path& path) {
  return std::filesystem::path(path.string() + ".tmp" + std::to_string(::getpid()) + "." +
                               std::to_string(detail::atomic_file_serial++));
}

/// Replaces `path` atomically with what `write` puts into the binary stream it is given: the bytes
/// go to atomic_temp_path(path), which is closed, checked and renamed over `path`. On every failure
/// the temporary file is removed and `path` is left as it was (absent, or the old content).
/// @param path the file to create or replace
/// @param write called once with the open stream; it may throw, and the exception is passed on
/// @throws IoError naming the temporary file when it cannot be opened ("cannot open for writing")
///         or the stream failed ("write failed (disk full?)"), IoError naming `path` when the
///         rename fails ("cannot rename the temporary file into place: " + the system's reason),
///         and whatever `write` throws
inline void write_file_atomically(const std::filesystem::path& path,
                                  const std::function<void(std::ostream&)>& write) {
  const auto tmp = atomic_temp_path(path);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw IoError(tmp, "cannot open for writing");
    try {
      write(out);
    } catch (...) {
      out.close();
      detail::remove_quietly(tmp);
      throw;
    }
    out.close();
    if (!out) {
      detail::remove_quietly(tmp);
      throw IoError(tmp, "write failed (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    detail::remove_quietly(tmp);
    throw IoError(path, "cannot rename the temporary file into place: " + ec.message());
  }
}

}  // namespace recdiff
