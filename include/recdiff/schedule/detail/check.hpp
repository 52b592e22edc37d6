#pragma once
/// @file
/// Argument checks shared by the schedules. The messages are built out of line, in [[noreturn]]
/// helpers, so the constructors stay short.

#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace recdiff::schedule_detail {

/// Throws std::invalid_argument("<where>: <what>, got <got>, expected <expected>").
[[noreturn]] inline void fail(const char* where, const std::string& what, double got,
                              const char* expected) {
  std::ostringstream os;
  os.precision(10);
  os << where << ": " << what << ", got " << got << ", expected " << expected;
  throw std::invalid_argument(os.str());
}

/// `x` as text with 10 significant digits, for messages.
inline std::string to_text(double x) {
  std::ostringstream os;
  os.precision(10);
  os << x;
  return os.str();
}

/// Throws unless `steps` > 0.
inline void check_steps(const char* where, int steps) {
  if (steps <= 0) fail(where, "the number of steps must be positive", steps, "steps >= 1");
}

/// Throws unless every beta is in (0, 1]; the message names the first offending step. `hint` is
/// appended to the expectation to point at the usual cause.
inline void check_betas(const char* where, const std::vector<double>& betas,
                        const char* hint = "beta in (0, 1]") {
  for (std::size_t k = 0; k < betas.size(); ++k)
    if (!(betas[k] > 0.0 && betas[k] <= 1.0))  // negated so that NaN fails too
      fail(where, "beta_" + std::to_string(k) + " is outside (0, 1]", betas[k], hint);
}

}  // namespace recdiff::schedule_detail
