#pragma once
/// @file
/// Umbrella header: every CPU-side part of recdiff.

#include <recdiff/backend/cpu.hpp>
#include <recdiff/baseline/baseline.hpp>
#include <recdiff/config.hpp>
#include <recdiff/data/data.hpp>
#include <recdiff/error.hpp>
#include <recdiff/eval/eval.hpp>
#include <recdiff/io/checkpoint.hpp>
#include <recdiff/io/json_writer.hpp>
#include <recdiff/math/philox.hpp>
#include <recdiff/train/progress.hpp>
#include <recdiff/train/trainer.hpp>
#include <recdiff/version.hpp>
