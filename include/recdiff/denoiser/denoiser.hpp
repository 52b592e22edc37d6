#pragma once
/// @file
/// Folder header: the denoiser policies.

#include <recdiff/concepts/denoiser.hpp>
#include <recdiff/denoiser/mlp.hpp>
#include <recdiff/denoiser/unet.hpp>
