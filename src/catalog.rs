//! The Backstage catalog: entity model, loaders, entity refs and relation closure.
