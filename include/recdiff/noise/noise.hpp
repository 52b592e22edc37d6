#pragma once
/// @file
/// Folder header: every noise policy.

#include <recdiff/noise/gaussian.hpp>
