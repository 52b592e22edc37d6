#pragma once
// Valid policies for the failcompile cases; each case replaces exactly one of them.
#include <recdiff/recdiff.hpp>

namespace fc {
using B = recdiff::CpuBackend;
using Net = recdiff::Mlp<B, float, recdiff::Tanh>;
}  // namespace fc
