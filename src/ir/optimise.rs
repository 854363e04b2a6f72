//! IR optimiser passes: constant folding, boolean simplification and pruning.
