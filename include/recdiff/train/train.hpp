#pragma once
/// @file
/// Folder header: the Trainer, its stopping rules, the epoch order and the Progress sinks.

#include <recdiff/train/epoch_order.hpp>
#include <recdiff/train/progress.hpp>
#include <recdiff/train/stopping_rule.hpp>
#include <recdiff/train/trainer.hpp>
