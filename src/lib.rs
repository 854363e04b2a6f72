//! edgeward: a policy-as-code compiler and simulator for Backstage-keyed Cloudflare Workers.

pub mod catalog;
pub mod check;
pub mod input;
pub mod interp;
pub mod ir;
pub mod jwt;
pub mod sim;
pub mod syntax;
pub mod wasm;
pub mod worker;
