// Evaluating a type without score(): rejected through Scorer.
#include "common.hpp"
struct NotAScorer {
  void predict() {}
};
int main() {
  recdiff::TrainValidTest data;
  NotAScorer s;
  recdiff::evaluate_diffrec_protocol(s, data);
}
