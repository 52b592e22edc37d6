#pragma once
/// @file
/// Folder header of recdiff/data: interaction matrices, id maps, loaders (including the restricted
/// pickle reader and DiffuRec's leave-one-out sequences), transforms and the synthetic generator.

#include <recdiff/data/diffrec_split.hpp>
#include <recdiff/data/id_map.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/data/line_reader.hpp>
#include <recdiff/data/noisy_training.hpp>
#include <recdiff/data/npy.hpp>
#include <recdiff/data/pickle.hpp>
#include <recdiff/data/ratings_data.hpp>
#include <recdiff/data/ratings_reader.hpp>
#include <recdiff/data/sequence_data.hpp>
#include <recdiff/data/synthetic.hpp>
#include <recdiff/data/train_valid_test.hpp>
#include <recdiff/data/transforms.hpp>
