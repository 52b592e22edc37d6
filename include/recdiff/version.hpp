#pragma once
/// @file
/// Library version, kept equal to the CMake project version.

#define RECDIFF_VERSION_MAJOR 0
#define RECDIFF_VERSION_MINOR 1
#define RECDIFF_VERSION_PATCH 0

namespace recdiff {
/// "major.minor.patch"
inline constexpr const char* version_string = "0.1.0";
}  // namespace recdiff
