// DiffRec / T-DiffRec: train on a dataset, select the epoch on validation, report test metrics.
//
//   diffrec                                     built-in synthetic data, a small model, < 1 minute
//   diffrec --data ../shared/data/ml-1m_clean --preset ml-1m_clean --json run.json
//   diffrec --data DIR --preset ml-1m_clean --save model.bin     then   --load model.bin
//   diffrec --data DIR --preset ml-1m_clean --mean-type eps      the paper's Table 5 ablation
//   diffrec --data DIR --preset ml-1m_clean --sampler uniform    its Fig. 5 ablation
//   diffrec_cuda --backend cuda ...             the same on a GPU (this file compiled by nvcc)

#include "../common/diffrec_program.hpp"

int main(int argc, char** argv) {
  return recdiff::examples::diffrec_program(
      argc, argv, "diffrec", "DiffRec / T-DiffRec (Wang et al., SIGIR 2023) under DiffRec's protocol.",
      recdiff::examples::DiffRecVariant::diffrec);
}
