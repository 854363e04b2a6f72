//! The checker: names, types, catalog binding and lints, from the AST to the typed IR.
