#pragma once
/// @file
/// Folder header: the neural-network building blocks — parameters and passes, the layers (Linear,
/// InputLinear, Activation, PRelu, Dropout, RowL2Norm, LayerNorm, LogSoftmax, GaussianLatent,
/// StepEmbedding, Embedding), the compositions (Sequence, Stack, Optional, Residual, Concat),
/// kernels and initialisation.

#include <recdiff/concepts/module.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/nn/activation.hpp>
#include <recdiff/nn/concat.hpp>
#include <recdiff/nn/dropout.hpp>
#include <recdiff/nn/embedding.hpp>
#include <recdiff/nn/gaussian_latent.hpp>
#include <recdiff/nn/init.hpp>
#include <recdiff/nn/input_linear.hpp>
#include <recdiff/nn/kernels.hpp>
#include <recdiff/nn/layer_norm.hpp>
#include <recdiff/nn/linear.hpp>
#include <recdiff/nn/log_softmax.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>
#include <recdiff/nn/prelu.hpp>
#include <recdiff/nn/residual.hpp>
#include <recdiff/nn/row_l2_norm.hpp>
#include <recdiff/nn/scale_rows.hpp>
#include <recdiff/nn/sequence.hpp>
#include <recdiff/nn/step_embedding.hpp>
