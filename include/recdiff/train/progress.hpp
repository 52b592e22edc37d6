#pragma once
/// @file
/// Progress reporting of long work (training epochs, evaluation passes). The library itself never
/// prints: everything goes through a Progress object chosen by the caller.

#include <unistd.h>

#include <cstdio>
#include <functional>
#include <string>
#include <utility>

namespace recdiff {

/// Receives one line per finished unit of work (an epoch) and in-place updates inside long units.
class Progress {
 public:
  /// `line(text)`: a finished line. `update(label, done, total)`: an in-place indicator that the
  /// sink may redraw or ignore.
  Progress(std::function<void(const std::string&)> line,
           std::function<void(const std::string&, long, long)> update = {})
      : m_line(std::move(line)), m_update(std::move(update)) {}

  /// Prints lines to stderr; draws the in-place indicator only when stderr is a terminal.
  static Progress stderr_sink() {
    const bool tty = ::isatty(STDERR_FILENO) != 0;
    return Progress(
        [tty](const std::string& text) {
          std::fprintf(stderr, tty ? "\r\033[K%s\n" : "%s\n", text.c_str());
        },
        [tty](const std::string& label, long done, long total) {
          if (!tty) return;
          const int width = 30;
          const int filled = total > 0 ? static_cast<int>(width * done / total) : 0;
          std::fprintf(stderr, "\r\033[K%s [%.*s%*s] %ld/%ld", label.c_str(), filled,
                       "==============================", width - filled, "", done, total);
          std::fflush(stderr);
        });
  }

  /// Discards everything.
  static Progress silent() {
    return Progress([](const std::string&) {});
  }

  /// Reports a finished line (no trailing newline in `text`).
  void line(const std::string& text) const {
    if (m_line) m_line(text);
  }
  /// Reports that `done` of `total` units of the work `label` are finished.
  void update(const std::string& label, long done, long total) const {
    if (m_update) m_update(label, done, total);
  }

 private:
  std::function<void(const std::string&)> m_line;
  std::function<void(const std::string&, long, long)> m_update;
};

}  // namespace recdiff
