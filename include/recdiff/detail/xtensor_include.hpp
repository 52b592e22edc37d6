#pragma once
/// @file
/// The one place that names xtensor's header paths. recdiff targets xtensor 0.24 as shipped by
/// Debian 12, whose headers sit flat under <xtensor/...>; newer xtensor moved them into sub-folders
/// (<xtensor/containers/xtensor.hpp>), so a port only has to change this file.
///
/// Provided: the containers (xarray, xtensor), adaptors over existing buffers (xt::adapt), views
/// (xt::view, xt::range, xt::all, xt::keep, xt::newaxis) and the element-wise functions and reducers
/// (xt::sqrt, xt::sum, xt::mean, ...), which the host reference paths of the tests use.

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>
