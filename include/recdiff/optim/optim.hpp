#pragma once
/// @file
/// Folder header: the optimisers (Adam, AdamW, Adamax, SGD) and their fused update functors.

#include <recdiff/concepts/optimizer.hpp>
#include <recdiff/optim/adam.hpp>
#include <recdiff/optim/adam_update.hpp>
#include <recdiff/optim/adamax.hpp>
#include <recdiff/optim/adamax_update.hpp>
#include <recdiff/optim/optimizer_base.hpp>
#include <recdiff/optim/sgd.hpp>
#include <recdiff/optim/sgd_update.hpp>
#include <recdiff/optim/state_io.hpp>
