#pragma once
/// @file
/// Folder header: every beta schedule and the derived diffusion tables.

#include <recdiff/schedule/beta_schedule.hpp>
#include <recdiff/schedule/constant.hpp>
#include <recdiff/schedule/cosine.hpp>
#include <recdiff/schedule/diffrec_linear_var.hpp>
#include <recdiff/noise/gaussian_tables.hpp>
#include <recdiff/schedule/linear.hpp>
#include <recdiff/schedule/quadratic.hpp>
