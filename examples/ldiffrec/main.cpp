// L-DiffRec / LT-DiffRec (Wang et al., SIGIR 2023, section 3.4): cluster the items, train the
// latent diffusion model, select the epoch on validation, report test metrics.
//
//   ldiffrec                                      built-in synthetic data, a small model, < 1 minute
//   ldiffrec --data ../shared/data/ml-1m_clean --preset ml-1m_clean --json run.json
//   ldiffrec --data DIR --preset ml-1m_clean --clusters 3 --embeddings emb.npy
//   ldiffrec --data DIR --preset ml-1m_clean --w-min 0.1 --w-max 1      (LT-DiffRec)

#include "../common/cli.hpp"
#include "../common/ldiffrec_program.hpp"

int main(int argc, char** argv) {
  using namespace recdiff::examples;
  return guarded_main("ldiffrec", [&]() -> int {
    ArgParser args("ldiffrec",
                   "L-DiffRec / LT-DiffRec (Wang et al., SIGIR 2023) under DiffRec's protocol.");
    declare_data_options(args);
    declare_ldiffrec_options(args);
    if (!args.parse(argc, argv)) return 0;
    return run_ldiffrec_program(args, configure_ldiffrec(args, !args.has("data")));
  });
}
