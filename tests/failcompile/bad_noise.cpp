// A noise kernel without q_sample/posterior functions: rejected through NoiseKernel.
#include "common.hpp"
struct NotANoise {};
int main() {
  recdiff::Diffusion<fc::B, NotANoise, recdiff::DiffRecLinearVar, fc::Net, recdiff::PredictX0>* p =
      nullptr;
  return p != nullptr;
}
