#pragma once
// What the end-to-end benchmark programs (CPU and CUDA) share: command-line parsing through the
// examples' ArgParser, and the small statistics and JSON helpers of their reports.

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <recdiff/io/json_writer.hpp>

#include "../examples/common/cli.hpp"

namespace recdiff::bench {

using Clock = std::chrono::steady_clock;

/// The integer option --name (or `fallback`), which must be at least `min`.
inline int int_option(const examples::ArgParser& args, const std::string& name, int fallback,
                      int min) {
  const int v = args.number<int>(name, fallback);
  if (v < min)
    throw examples::UsageError("--" + name + " must be an integer >= " + std::to_string(min) +
                               ", got " + std::to_string(v));
  return v;
}

/// Median of the values (0 when there are none).
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// Peak resident memory of the process so far, in MB.
inline double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux reports kilobytes
}

/// The values as a JSON array.
inline JsonValue array_of(const std::vector<double>& v) {
  auto a = JsonValue::array();
  for (const double x : v) a.push_back(x);
  return a;
}

}  // namespace recdiff::bench
