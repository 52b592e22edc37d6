#pragma once
/// @file
/// Folder header: the neural-network building blocks — parameters and passes, the layers (Linear,
/// InputLinear, Activation, PRelu, Dropout, RowL2Norm, LayerNorm, LogSoftmax, GaussianLatent,
/// StepEmbedding, Embedding), the convolutional pieces of the U-Nets (Conv1d, Conv2d, GroupNorm,
/// UpsampleNearest, channel concatenation, TimeMlp, ResBlock), the compositions (Sequence, Stack,
/// Optional, Residual, Concat), kernels and initialisation.

#include <recdiff/concepts/module.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/nn/activation.hpp>
#include <recdiff/nn/channel_concat.hpp>
#include <recdiff/nn/concat.hpp>
#include <recdiff/nn/conv.hpp>
#include <recdiff/nn/dropout.hpp>
#include <recdiff/nn/embedding.hpp>
#include <recdiff/nn/feature_map.hpp>
#include <recdiff/nn/gaussian_latent.hpp>
#include <recdiff/nn/group_norm.hpp>
#include <recdiff/nn/init.hpp>
#include <recdiff/nn/input_linear.hpp>
#include <recdiff/nn/kernels.hpp>
#include <recdiff/nn/layer_norm.hpp>
#include <recdiff/nn/linear.hpp>
#include <recdiff/nn/log_softmax.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>
#include <recdiff/nn/prelu.hpp>
#include <recdiff/nn/res_block.hpp>
#include <recdiff/nn/residual.hpp>
#include <recdiff/nn/row_l2_norm.hpp>
#include <recdiff/nn/scale_rows.hpp>
#include <recdiff/nn/sequence.hpp>
#include <recdiff/nn/step_embedding.hpp>
#include <recdiff/nn/time_mlp.hpp>
#include <recdiff/nn/torch_init.hpp>
#include <recdiff/nn/upsample.hpp>
