//! The reference evaluator over the IR, with explanations.
