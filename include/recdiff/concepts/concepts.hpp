#pragma once
/// @file
/// Folder header: every policy concept of recdiff.

#include <recdiff/concepts/backend.hpp>
#include <recdiff/concepts/denoiser.hpp>
#include <recdiff/concepts/module.hpp>
#include <recdiff/concepts/noise_kernel.hpp>
#include <recdiff/concepts/noise_schedule.hpp>
#include <recdiff/concepts/objective.hpp>
#include <recdiff/concepts/optimizer.hpp>
#include <recdiff/concepts/step_sampler.hpp>
