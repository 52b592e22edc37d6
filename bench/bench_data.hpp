#pragma once
// Location of the shared datasets for benchmarks: $RECDIFF_DATA_DIR, else the folder configured by
// CMake. A benchmark whose data is absent reports that through SkipWithError.

#include <cstdlib>
#include <filesystem>
#include <string>

namespace recdiff::bench {

inline std::filesystem::path data_path(const std::string& relative) {
  const char* env = std::getenv("RECDIFF_DATA_DIR");
  return std::filesystem::path(env ? env : RECDIFF_BENCH_DATA_DIR) / relative;
}

}  // namespace recdiff::bench
