mod wasm;
