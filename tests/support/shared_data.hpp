#pragma once
// Access to the real datasets of ../shared/data for tests that need them. Where a dataset is absent
// the test case prints why and exits with 77, which CTest reports as "skipped" (never as passed).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <unistd.h>

namespace recdiff::test {

/// Folder holding the shared datasets: $RECDIFF_DATA_DIR if set, else the path configured by CMake.
inline std::filesystem::path shared_data_dir() {
  if (const char* env = std::getenv("RECDIFF_DATA_DIR")) return env;
  return RECDIFF_TEST_DATA_DIR;
}

/// Returns shared_data_dir()/relative, or skips the current test case when it does not exist.
inline std::filesystem::path require_shared_data(const std::string& relative) {
  const auto path = shared_data_dir() / relative;
  if (!std::filesystem::exists(path)) {
    std::printf("SKIPPED: %s not found (set RECDIFF_DATA_DIR to the shared data folder)\n",
                path.string().c_str());
    std::fflush(stdout);
    std::exit(77);
  }
  return path;
}

/// A fresh, empty temporary folder for files a test writes; removed with the object.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    m_path = std::filesystem::temp_directory_path() /
             ("recdiff_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(m_path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return m_path; }
  std::filesystem::path operator/(const std::string& name) const { return m_path / name; }

 private:
  std::filesystem::path m_path;
};

}  // namespace recdiff::test
