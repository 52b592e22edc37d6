#pragma once
/// @file
/// Folder header: the neural-network building blocks (layers, kernels, initialisation).

#include <recdiff/math/activations.hpp>
#include <recdiff/nn/dropout.hpp>
#include <recdiff/nn/init.hpp>
#include <recdiff/nn/kernels.hpp>
#include <recdiff/nn/linear.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/row_l2_norm.hpp>
#include <recdiff/nn/scale_rows.hpp>
#include <recdiff/nn/step_embedding.hpp>
