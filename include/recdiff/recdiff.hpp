#pragma once
/// @file
/// Umbrella header: every CPU-side part of recdiff.

#include <recdiff/backend/cpu.hpp>
#include <recdiff/baseline/baseline.hpp>
#include <recdiff/cluster/cluster.hpp>
#include <recdiff/concepts/concepts.hpp>
#include <recdiff/config.hpp>
#include <recdiff/core/diffusion.hpp>
#include <recdiff/core/diffusion_recommender.hpp>
#include <recdiff/core/input_weighting.hpp>
#include <recdiff/data/data.hpp>
#include <recdiff/denoiser/denoiser.hpp>
#include <recdiff/error.hpp>
#include <recdiff/eval/eval.hpp>
#include <recdiff/io/checkpoint.hpp>
#include <recdiff/io/json_writer.hpp>
#include <recdiff/io/model_state.hpp>
#include <recdiff/math/philox.hpp>
#include <recdiff/models.hpp>
#include <recdiff/nn/nn.hpp>
#include <recdiff/noise/noise.hpp>
#include <recdiff/objective/objective.hpp>
#include <recdiff/optim/optim.hpp>
#include <recdiff/sampler/sampler.hpp>
#include <recdiff/schedule/schedule.hpp>
#include <recdiff/train/train.hpp>
#include <recdiff/version.hpp>

// The CUDA backend only for nvcc translation units of targets linking recdiff::cuda.
#if defined(__CUDACC__) && defined(RECDIFF_ENABLE_CUDA)
#include <recdiff/backend/cuda.hpp>
#endif
