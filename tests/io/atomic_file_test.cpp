#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <ostream>
#include <stdexcept>
#include <string>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/io/atomic_file.hpp>
#include <recdiff/io/checkpoint.hpp>
#include <recdiff/optim/state_io.hpp>

#include "support/shared_data.hpp"

using recdiff::IoError;
using recdiff::write_file_atomically;

namespace {
std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_text(const std::filesystem::path& p, const std::string& s) {
  write_file_atomically(p, [&](std::ostream& out) { out << s; });
}
// No file of the folder has ".tmp" in its name (the temporary files are gone).
bool no_temporaries(const std::filesystem::path& dir) {
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp") != std::string::npos) return false;
  return true;
}
}  // namespace

TEST_CASE("write_file_atomically creates and replaces a file", "[io]") {
  recdiff::test::TempDir dir;
  const auto p = dir / "f.bin";
  write_text(p, std::string("one\0two", 7));
  CHECK(slurp(p) == std::string("one\0two", 7));
  write_text(p, "second");
  CHECK(slurp(p) == "second");
  write_text(p, "");
  CHECK(std::filesystem::exists(p));
  CHECK(slurp(p).empty());
  CHECK(no_temporaries(dir.path()));
}

TEST_CASE("atomic_temp_path lies next to the target and never repeats", "[io]") {
  const std::filesystem::path p = "/some/folder/model.bin";
  const auto a = recdiff::atomic_temp_path(p), b = recdiff::atomic_temp_path(p);
  CHECK(a.parent_path() == p.parent_path());
  CHECK(a.filename().string().rfind("model.bin.tmp", 0) == 0);
  CHECK(a != b);
}

TEST_CASE("a failed atomic write leaves no temporary file and the old file intact", "[io]") {
  recdiff::test::TempDir dir;
  const auto p = dir / "f.bin";
  write_text(p, "old content");

  SECTION("the callback throws: its exception passes through") {
    REQUIRE_THROWS_WITH(write_file_atomically(p,
                                              [](std::ostream& out) {
                                                out << "partial";
                                                throw std::runtime_error("boom");
                                              }),
                        "boom");
  }
  SECTION("the stream fails") {
    try {
      write_file_atomically(p, [](std::ostream& out) {
        out << "partial";
        out.setstate(std::ios::badbit);
      });
      FAIL("no exception");
    } catch (const IoError& e) {
      CHECK(e.reason() == "write failed (disk full?)");
      CHECK(e.file().filename().string().rfind("f.bin.tmp", 0) == 0);
    }
  }
  SECTION("the folder does not exist") {
    const auto q = dir / "absent" / "f.bin";
    REQUIRE_THROWS_WITH(write_text(q, "x"), Catch::Contains("cannot open for writing"));
    CHECK_FALSE(std::filesystem::exists(dir / "absent"));
  }
  SECTION("the rename fails (the target is a non-empty folder)") {
    std::filesystem::create_directories(dir / "blocker");
    std::ofstream(dir / "blocker" / "g") << "x";
    try {
      write_text(dir / "blocker", "x");
      FAIL("no exception");
    } catch (const IoError& e) {
      CHECK(e.file() == dir / "blocker");
      CHECK_THAT(e.what(), Catch::Contains("cannot rename the temporary file into place: "));
    }
    CHECK(slurp(dir / "blocker" / "g") == "x");
  }
  CHECK(slurp(p) == "old content");
  CHECK(no_temporaries(dir.path()));
}

TEST_CASE("optimiser state errors name the checkpoint file", "[io]") {
  using recdiff::CpuBackend;
  recdiff::test::TempDir dir;
  const auto p = dir / "state.bin";
  recdiff::CheckpointWriter w;
  const double negative[2] = {0.5, -1.0}, fraction = 2.5;
  w.add_tensor("v", 1, 2, negative);
  w.add_tensor("step", 1, 1, &fraction);
  w.write(p);
  const recdiff::CheckpointReader r(p);
  CHECK(r.path() == p);
  CpuBackend::Context ctx(1);
  try {
    (void)recdiff::optim_detail::stage_matrix<CpuBackend, double>(ctx, r, "v", 1, 2, true);
    FAIL("no exception");
  } catch (const IoError& e) {
    CHECK(e.file() == p);
    CHECK_THAT(e.reason(), Catch::Contains("'v' holds -1"));
  }
  try {
    (void)recdiff::optim_detail::stage_counter(r, "step");
    FAIL("no exception");
  } catch (const IoError& e) {
    CHECK(e.file() == p);
    CHECK_THAT(e.reason(), Catch::Contains("counter 'step' holds 2.5"));
  }
}
