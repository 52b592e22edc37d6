#pragma once
/// @file
/// The paper models as type aliases with their presets, and the autoencoder baselines.

#include <recdiff/models/autoencoder.hpp>
#include <recdiff/models/codigem.hpp>
#include <recdiff/models/diffrec.hpp>
#include <recdiff/models/ldiffrec.hpp>
#include <recdiff/models/mult_dae.hpp>
#include <recdiff/models/mult_vae.hpp>
#include <recdiff/models/recfusion.hpp>
