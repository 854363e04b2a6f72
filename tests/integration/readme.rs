//! The README's examples run: every `$ edgeward ...` line of its console blocks, its policy
//! excerpt, and the diagnostic it shows.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The fenced blocks of a markdown file with the given info string.
fn blocks(markdown: &str, info: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim_start() == format!("```{info}") => current = Some(String::new()),
            Some(text) if line.trim_start() == "```" => {
                out.push(std::mem::take(text));
                current = None;
            }
            Some(text) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    out
}

fn edgeward(cwd: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_edgeward"))
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn every_readme_command_runs_and_shows_what_the_readme_says() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(root().join("examples"), dir.path().join("examples")).unwrap();
    let mut ran = 0;
    for block in blocks(&readme, "console") {
        let mut lines = block.lines().peekable();
        while let Some(line) = lines.next() {
            let Some(cmd) = line.strip_prefix("$ edgeward ") else {
                continue;
            };
            let args: Vec<&str> = cmd.split_whitespace().collect();
            let o = edgeward(dir.path(), &args);
            let stdout = String::from_utf8_lossy(&o.stdout);
            assert!(
                o.status.success(),
                "`edgeward {cmd}` failed:\n{stdout}\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
            // The lines shown under a command are what it prints.
            while let Some(shown) = lines.peek().filter(|l| !l.starts_with("$ ")) {
                assert!(
                    stdout.contains(shown.trim_end()),
                    "`edgeward {cmd}` does not print `{shown}`:\n{stdout}"
                );
                lines.next();
            }
            ran += 1;
        }
    }
    assert!(ran >= 6, "only {ran} README commands found");
}

#[test]
fn the_readme_policy_excerpt_checks_against_the_example_catalog() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let excerpts = blocks(&readme, "ward");
    assert!(!excerpts.is_empty());
    let catalog = edgeward::catalog::Catalog::load(&root().join("examples/acme/catalog"))
        .unwrap()
        .catalog;
    for policy in excerpts {
        let compiled = edgeward::compile("policy.ward", &policy, Some(&catalog));
        assert!(
            compiled.is_ok(),
            "the README's policy does not compile: {:?}",
            compiled.err()
        );
    }
}

#[test]
fn the_readme_diagnostic_is_what_check_prints_for_that_typo() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let shown = blocks(&readme, "text")
        .into_iter()
        .find(|b| b.contains("edgeward::unknown_ref"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy = std::fs::read_to_string(root().join("examples/acme/policy.ward")).unwrap();
    std::fs::write(
        dir.path().join("policy.ward"),
        policy.replace(
            "group:default/platform-admins",
            "group:default/platform-admin",
        ),
    )
    .unwrap();
    let catalog = root().join("examples/acme/catalog");
    let o = edgeward(
        dir.path(),
        &[
            "check",
            "policy.ward",
            "--catalog",
            catalog.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    for line in shown.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            stderr.lines().any(|s| s.trim_end() == line.trim_end()),
            "check does not print `{line}`:\n{stderr}"
        );
    }
}
