#pragma once
/// @file
/// Folder header: every noise policy.

#include <recdiff/noise/bernoulli.hpp>
#include <recdiff/noise/bernoulli_tables.hpp>
#include <recdiff/noise/gaussian.hpp>
