#pragma once
/// @file
/// Folder header: every training objective and their shared row terms.

#include <recdiff/objective/bernoulli_bce.hpp>
#include <recdiff/objective/predict_epsilon.hpp>
#include <recdiff/objective/predict_x0.hpp>
#include <recdiff/objective/row_terms.hpp>
