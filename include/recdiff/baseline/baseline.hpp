#pragma once
/// @file
/// Folder header: the closed-form baselines.

#include <recdiff/baseline/ease.hpp>
#include <recdiff/baseline/popularity.hpp>
