#pragma once
/// @file
/// Folder header: scoring, top-K, metrics, the evaluator and the evaluation protocols.

#include <recdiff/eval/diffrec_protocol.hpp>
#include <recdiff/eval/evaluator.hpp>
#include <recdiff/eval/metric_set.hpp>
#include <recdiff/eval/metrics.hpp>
#include <recdiff/eval/protocol.hpp>
#include <recdiff/eval/score_matrix.hpp>
#include <recdiff/eval/scorer.hpp>
#include <recdiff/eval/strong_generalization.hpp>
#include <recdiff/eval/strong_generalization_protocol.hpp>
#include <recdiff/eval/temporal_split.hpp>
#include <recdiff/eval/top_k.hpp>
