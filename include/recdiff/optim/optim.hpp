#pragma once
/// @file
/// Folder header: the optimisers.

#include <recdiff/concepts/optimizer.hpp>
#include <recdiff/optim/adam.hpp>
#include <recdiff/optim/adam_update.hpp>
