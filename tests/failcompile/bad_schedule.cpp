// A schedule without num_steps()/betas(): Diffusion must reject it through NoiseSchedule.
#include "common.hpp"
struct NotASchedule {};
int main() {
  recdiff::Diffusion<fc::B, recdiff::Gaussian, NotASchedule, fc::Net, recdiff::PredictX0>* p = nullptr;
  return p != nullptr;
}
