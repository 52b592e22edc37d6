#pragma once
/// @file
/// Umbrella header: every CPU-side part of recdiff.

#include <recdiff/backend/cpu.hpp>
#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/data/train_valid_test.hpp>
#include <recdiff/error.hpp>
#include <recdiff/math/philox.hpp>
#include <recdiff/version.hpp>
