//! Code generation from the IR to a WebAssembly module, the module ABI, the manifest and the wasmtime host.

pub mod abi;
pub mod codegen;
pub mod host;
pub mod manifest;

pub use codegen::{CodegenError, INPUT_CAPACITY, WatError, compile, route_order, to_wat};
pub use host::{ClaimsEncoding, Compiled, Decider, HostError};
pub use manifest::Manifest;
