//! Standard output that nobody reads any more (`edgeward … | head`): every verb stops quietly
//! with the status of a command ended by `SIGPIPE`, never with a panic.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};

use crate::check::shared_dir;

const AUD: &str = "78f42a26e725d802b7ae5bdb3e8707e144ddc1121a0742da244c75e05a0bccac";

/// Runs `edgeward ARGS` in the kit's folder with standard output (`closed == Out`) or standard
/// error a pipe whose reading end is already closed, so the first write there fails with `EPIPE`;
/// gives the exit status and what reached the other stream.
fn with_closed(closed: Stream, args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut command = Command::new(env!("CARGO_BIN_EXE_edgeward"));
    command
        .args(args)
        .current_dir(shared_dir().join("conformance"))
        .stdin(Stdio::null());
    match closed {
        Stream::Out => command.stdout(writer).stderr(Stdio::piped()),
        Stream::Err => command.stdout(Stdio::piped()).stderr(writer),
    };
    let out = command.output().unwrap();
    let other = match closed {
        Stream::Out => out.stderr,
        Stream::Err => out.stdout,
    };
    (
        out.status.code(),
        String::from_utf8_lossy(&other).into_owned(),
    )
}

#[derive(Clone, Copy)]
enum Stream {
    Out,
    Err,
}

fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    with_closed(Stream::Out, args)
}

fn with_closed_stderr(args: &[&str]) -> (Option<i32>, String) {
    with_closed(Stream::Err, args)
}

#[test]
fn every_verb_stops_quietly_when_its_output_is_closed() {
    let request = r#"{"method":"GET","url":"https://payments.acme.dev/","claims":{},"time":"2026-11-24T10:00:00Z"}"#;
    let runs: &[&[&str]] = &[
        &[
            "check",
            "policy.ward",
            "--catalog",
            "catalog",
            "--format",
            "json",
        ],
        &["catalog", "catalog"],
        &["test", "policy.ward", "--catalog", "catalog"],
        &[
            "eval",
            "policy.ward",
            "--catalog",
            "catalog",
            "--request",
            request,
        ],
        &[
            "build",
            "policy.ward",
            "--catalog",
            "catalog",
            "--emit",
            "wat",
        ],
        &[
            "simulate",
            "policy.ward",
            "--catalog",
            "catalog",
            "--traffic",
            "traffic.jsonl",
            "--jwks",
            "jwks.json",
            "--aud",
            AUD,
        ],
        &[
            "simulate",
            "policy.ward",
            "--catalog",
            "catalog",
            "--traffic",
            "traffic.jsonl",
            "--jwks",
            "jwks.json",
            "--aud",
            AUD,
            "--format",
            "json",
        ],
        &[
            "whatif",
            "--base",
            "policy.ward",
            "--head",
            "policy-v2.ward",
            "--catalog",
            "catalog",
            "--traffic",
            "traffic.jsonl",
            "--jwks",
            "jwks.json",
            "--aud",
            AUD,
            "--format",
            "markdown",
        ],
    ];
    for args in runs
        .iter()
        .chain([&["--help"][..], &["simulate", "--help"], &["--version"]].iter())
    {
        let (code, stderr) = with_closed_stdout(args);
        assert_eq!(code, Some(141), "edgeward {}: {stderr}", args.join(" "));
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "edgeward {}: {stderr}",
            args.join(" ")
        );
    }
}

#[test]
fn a_build_writes_its_files_even_when_its_printed_form_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    let out = out.to_str().unwrap();
    let (code, stderr) = with_closed_stdout(&[
        "build",
        "policy.ward",
        "--catalog",
        "catalog",
        "--emit",
        "ir",
        "--out",
        out,
    ]);
    assert_eq!(code, Some(141), "{stderr}");
    for name in ["policy.wasm", "manifest.json", "worker.js", "wrangler.toml"] {
        assert!(
            dir.path().join("dist").join(name).is_file(),
            "{name} missing; {stderr}"
        );
    }
}

/// Messages to a closed standard error are lost, not the outcome: the command goes on and exits
/// as it would have (a warning-only check 0, a failed one 1, a build with warnings writes its
/// files), and never panics.
#[test]
fn a_closed_standard_error_loses_the_messages_not_the_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.ward");
    std::fs::write(
        &broken,
        "policy p version 1\nroute GET \"/\" { allow x when nope }\n",
    )
    .unwrap();
    // a policy with a warning (an unreachable rule after an unconditional allow)
    let warned = dir.path().join("warned.ward");
    std::fs::write(
        &warned,
        "policy p version 1\nroute GET \"/\" {\n  allow anyone\n  allow again\n}\n",
    )
    .unwrap();
    let out = dir.path().join("dist");
    let broken = broken.to_str().unwrap();
    let warned = warned.to_str().unwrap();
    let runs: &[(&[&str], i32)] = &[
        (&["check", "policy.ward"], 0),
        (&["check", broken, "--catalog", "catalog"], 1),
        (&["test", broken, "--catalog", "catalog"], 1),
        // the kit's catalog warns (a dangling owner) before the files are written
        (
            &[
                "build",
                "policy.ward",
                "--catalog",
                "catalog",
                "--out",
                out.to_str().unwrap(),
            ],
            0,
        ),
        (&["build", warned, "--emit", "ir"], 0),
    ];
    for (args, code) in runs {
        let (got, _) = with_closed_stderr(args);
        assert_eq!(got, Some(*code), "edgeward {}", args.join(" "));
    }
    assert!(out.join("policy.wasm").is_file());
}

/// A catalog that cannot be opened is an input that cannot be used (§5: exit 2) for every verb
/// that takes one; a catalog that opens but holds errors fails a check (exit 1).
#[test]
fn a_catalog_that_cannot_be_opened_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: backstage.io/v1alpha1\nkind: Group\n").unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_edgeward"))
            .args(args)
            .current_dir(shared_dir().join("conformance"))
            .output()
            .unwrap()
    };
    let request = r#"{"method":"GET","url":"https://payments.acme.dev/","claims":{}}"#;
    for verb in [
        &["check", "policy.ward"][..],
        &["build", "policy.ward", "--emit", "ir"],
        &["test", "policy.ward"],
        &["eval", "policy.ward", "--request", request],
        &["catalog"],
    ] {
        for (catalog, code) in [("no-such-catalog", 2), (bad.to_str().unwrap(), 1)] {
            let mut args = verb.to_vec();
            if verb == ["catalog"] {
                args.push(catalog);
            } else {
                args.extend(["--catalog", catalog]);
            }
            let out = run(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
            assert!(stderr.contains("error"), "{args:?}: {stderr}");
        }
    }
}
