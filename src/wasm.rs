//! Code generation from the IR to a WebAssembly module, the module ABI, the manifest and the wasmtime host.

pub mod abi;
pub mod codegen;
pub mod host;
pub mod manifest;

pub use codegen::{CodegenError, INPUT_CAPACITY, WatError, compile, route_order, to_wat};
pub use host::{ClaimsEncoding, Compiled, Decider, HostError};
pub use manifest::Manifest;

/// Whether a path names a compiled module (`.wasm`, in any letter case) rather than a policy.
pub fn is_module_path(path: &str) -> bool {
    std::path::Path::new(path)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("wasm"))
}
