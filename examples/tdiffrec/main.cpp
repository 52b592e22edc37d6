// T-DiffRec / LT-DiffRec (Wang et al., SIGIR 2023, section 3.5): DiffRec or L-DiffRec on
// time-weighted user rows (a user's m-th of M interactions weighs w_min + m (w_max - w_min) /
// (M - 1), in the file's row order).
//
//   tdiffrec                                       built-in synthetic data, < 1 minute
//   tdiffrec --data ../shared/data/ml-1m_clean --preset ml-1m_clean --w-min 0.3 --json run.json
//   tdiffrec --data DIR --preset ml-1m_clean --latent --w-min 0.1     (LT-DiffRec)

#include "../common/diffrec_program.hpp"

int main(int argc, char** argv) {
  return recdiff::examples::diffrec_program(
      argc, argv, "tdiffrec",
      "T-DiffRec / LT-DiffRec (Wang et al., SIGIR 2023) under DiffRec's protocol.",
      recdiff::examples::DiffRecVariant::tdiffrec);
}
