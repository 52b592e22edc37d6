#pragma once
/// @file
/// The one place that names xtensor's header paths. recdiff targets xtensor 0.24 as shipped by
/// Debian 12, whose headers sit flat under <xtensor/...>; newer xtensor moved them into sub-folders
/// (<xtensor/containers/xtensor.hpp>), so a port only has to change this file.

#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>
