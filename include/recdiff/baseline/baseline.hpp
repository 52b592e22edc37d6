#pragma once
/// @file
/// Folder header: the non-neural baselines.

#include <recdiff/baseline/ease.hpp>
#include <recdiff/baseline/popularity.hpp>
#include <recdiff/baseline/random.hpp>
