#pragma once
/// @file
/// The paper models as type aliases with their presets.

#include <recdiff/models/diffrec.hpp>
