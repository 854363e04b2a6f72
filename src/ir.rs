//! The typed IR and its optimiser.
