#pragma once
/// @file
/// Folder header: every step sampler.

#include <recdiff/sampler/importance.hpp>
#include <recdiff/sampler/uniform.hpp>
