// The real binary kernel (a valid NoiseKernel without Gaussian tables) paired with the epsilon
// objective, which reads Gaussian tables, inside a Diffusion: rejected in one error through
// CompatibleObjective, naming both the objective and Bernoulli<TwoWayFlip>.
#include "common.hpp"
static_assert(recdiff::NoiseKernel<recdiff::Bernoulli<recdiff::TwoWayFlip>, fc::B>,
              "the kernel itself is valid");
int main() {
  recdiff::Diffusion<fc::B, recdiff::Bernoulli<recdiff::TwoWayFlip>, recdiff::Quadratic, fc::Net,
                     recdiff::PredictEpsilon>* p = nullptr;
  return p != nullptr;
}
