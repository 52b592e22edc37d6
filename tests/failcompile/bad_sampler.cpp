// Training with something that cannot draw steps: rejected through StepSampler.
#include "common.hpp"
struct NotASampler {};
int main() {
  recdiff::DiffRecConfig c;
  c.dims = {4};
  c.steps = 2;
  auto model = recdiff::make_diffrec<fc::B>(c, 5);
  NotASampler sampler;
  fc::B::Matrix<float> x0(1, 5);
  model.diffusion().loss_and_gradients(fc::B::Context(1), x0, sampler, 0);
}
