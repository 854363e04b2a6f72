//! `edgeward demo` runs the bundled example end to end (through the test build's binary).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::process::Command;

#[test]
fn the_demo_checks_tests_builds_simulates_and_diffs_the_example() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    // From another directory: the example is embedded in the binary.
    let o = Command::new(env!("CARGO_BIN_EXE_edgeward"))
        .current_dir(dir.path())
        .args(["demo", "--out", out.to_str().unwrap(), "--requests", "3000"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for key in [
        "1. catalog   61 entities",
        "check   policy.ward     0 errors, 0 warnings; tests: 27 passed, 0 failed",
        "check   policy-v2.ward  0 errors, 0 warnings; tests: 30 passed, 0 failed",
        "3. build     build/policy.wasm:",
        "4. traffic   traffic.jsonl: 3000 recorded requests",
        "5. simulate  build/policy.wasm: 3000 requests",
        "6. what-if   policy.ward -> policy-v2.ward:",
        "edgeward whatif --base examples/acme/policy.ward",
    ] {
        assert!(stdout.contains(key), "missing `{key}` in:\n{stdout}");
    }
    for file in [
        "build/policy.wasm",
        "build/worker.js",
        "traffic.jsonl",
        "policy-v2.ward",
        "catalog/users.yaml",
    ] {
        assert!(out.join(file).is_file(), "the demo did not write {file}");
    }
}
