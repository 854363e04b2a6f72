//! `edgeward build`: the files it writes, their sizes, byte-identical output, `--max-size`, `--emit`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn kit() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        if dir.join("shared/conformance").is_dir() {
            return dir.join("shared/conformance");
        }
        assert!(dir.pop(), "no shared/conformance above the repository");
    }
}

fn edgeward(cwd: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_edgeward"))
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn build_writes_the_module_manifest_and_worker_byte_identically() {
    let out = tempfile::tempdir().unwrap();
    let (a, b) = (out.path().join("a"), out.path().join("b"));
    for dir in [&a, &b] {
        let o = edgeward(
            &kit(),
            &[
                "build",
                "policy.ward",
                "--catalog",
                "catalog",
                "--out",
                dir.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    for file in ["policy.wasm", "manifest.json", "worker.js", "wrangler.toml"] {
        assert_eq!(
            std::fs::read(a.join(file)).unwrap(),
            std::fs::read(b.join(file)).unwrap(),
            "{file} differs between two builds"
        );
    }
    let bytes = std::fs::read(a.join("policy.wasm")).unwrap();
    // DESIGN §2 example: at most 8 KB, counting the whole file.
    assert!(
        bytes.len() <= 8 * 1024,
        "the example is {} bytes",
        bytes.len()
    );
    let from_module = edgeward::wasm::Manifest::from_module(&bytes).unwrap();
    let from_file = edgeward::wasm::Manifest::from_json(
        &std::fs::read_to_string(a.join("manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(from_module, from_file);
    let parsed = wasmparser::Validator::new().validate_all(&bytes);
    assert!(parsed.is_ok());
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        assert!(
            !matches!(payload.unwrap(), wasmparser::Payload::ImportSection(_)),
            "the module imports"
        );
    }
}

#[path = "../../benches/front_end/generate.rs"]
#[allow(dead_code)]
mod generate;

/// A generated 1,000-rule source policy over Backstage's example catalog, built by the CLI: at
/// most 100 KB (100,000 bytes) without the manifest section (DESIGN §3).
#[test]
fn a_thousand_rule_policy_over_the_backstage_catalog_is_under_100_kb() {
    let dir = tempfile::tempdir().unwrap();
    let source = generate::policy_over(1_000, &generate::BACKSTAGE);
    assert_eq!(
        source.matches("  allow ").count()
            + source.matches("  deny ").count()
            + source.matches("  require ").count(),
        1_000
    );
    std::fs::write(dir.path().join("big.ward"), &source).unwrap();
    let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/backstage/catalog");
    let o = edgeward(
        dir.path(),
        &[
            "build",
            "big.ward",
            "--catalog",
            catalog.to_str().unwrap(),
            "--out",
            "out",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(dir.path().join("out/policy.wasm")).unwrap();
    let bare = edgeward::wasm::manifest::size_without_manifest(&bytes).unwrap();
    eprintln!(
        "1,000 rules over the Backstage catalog: {} bytes whole, {bare} without the manifest",
        bytes.len()
    );
    assert!(bare <= 100_000, "{bare} bytes without the manifest");
}

#[test]
fn an_empty_policy_is_at_most_one_kilobyte() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.ward"), "policy empty\n").unwrap();
    let o = edgeward(dir.path(), &["build", "empty.ward", "--out", "out"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let len = std::fs::metadata(dir.path().join("out/policy.wasm"))
        .unwrap()
        .len();
    assert!(len <= 1024, "the empty policy is {len} bytes");
}

#[test]
fn max_size_turns_an_oversized_module_into_an_error() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("small");
    let o = edgeward(
        &kit(),
        &[
            "build",
            "policy.ward",
            "--catalog",
            "catalog",
            "--out",
            dir.to_str().unwrap(),
            "--max-size",
            "1000",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("over `--max-size 1000`"));
    assert!(
        !dir.join("policy.wasm").exists(),
        "an oversized module must not be written"
    );
    let o = edgeward(
        &kit(),
        &[
            "build",
            "policy.ward",
            "--catalog",
            "catalog",
            "--out",
            dir.to_str().unwrap(),
            "--max-size",
            "8192",
        ],
    );
    assert!(o.status.success());
}

#[test]
fn build_needs_out_or_emit_and_a_catalog_when_the_policy_names_entities() {
    let o = edgeward(&kit(), &["build", "policy.ward", "--catalog", "catalog"]);
    assert_eq!(o.status.code(), Some(2));
    let o = edgeward(&kit(), &["build", "policy.ward", "--emit", "ir"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--catalog"));
}

#[test]
fn emit_ir_and_wat_print_stable_text() {
    let ir = edgeward(
        &kit(),
        &[
            "build",
            "policy.ward",
            "--catalog",
            "catalog",
            "--emit",
            "ir",
        ],
    );
    assert!(ir.status.success());
    insta::assert_snapshot!(
        "conformance_policy_ir",
        String::from_utf8(ir.stdout).unwrap()
    );
    let wat = edgeward(
        &kit(),
        &[
            "build",
            "policy.ward",
            "--catalog",
            "catalog",
            "--emit",
            "wat",
        ],
    );
    assert!(wat.status.success());
    let wat = String::from_utf8(wat.stdout).unwrap();
    assert!(wat.starts_with("(module"));
    assert!(wat.contains("(export \"edgeward_decide\""));
}
