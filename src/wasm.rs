//! Code generation from the IR to a WebAssembly module, the module ABI, the manifest and the wasmtime host.

pub mod abi;
