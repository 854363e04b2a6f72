//! `whatif`: known flips between two versions of a small policy, `--fail-on`, `git:REV:PATH` bases, reports.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use super::{POLICY_V1, POLICY_V2, expired_token, line, token, whatif, workdir};

/// Traffic with known flips from v1 to v2; returns the folder.
fn flips() -> tempfile::TempDir {
    let dir = workdir();
    let jane = token(Some("jane@acme.dev"));
    let intern = token(Some("intern@acme.dev"));
    let intern_ext = token(Some("intern@example.com"));
    let bob = token(Some("bob@example.com"));
    let lines = [
        line("GET", "https://x.dev/docs/a", Some(&jane)), // 1 same: allow by staff
        line("GET", "https://x.dev/docs/a", Some(&intern)), // 2 allow -> deny by interns
        line("post", "https://x.dev/deploy/prod", Some(&jane)), // 3 allow -> default (a POST)
        line("GET", "https://x.dev/public/x", Some(&bob)), // 4 no_route -> allow by anyone
        line("GET", "https://x.dev/nowhere", Some(&jane)), // 5 same: no_route
        line("GET", "https://x.dev/healthz", Some(&expired_token())), // 6 same: expired
        "not json at all".to_string(),                    // 7 unreadable
        line("GET", "https://x.dev/docs/a", Some(&intern_ext)), // 8 moved: default -> deny by interns
        line("GET", "https://x.dev/healthz", None),             // 9 same: missing_token
    ];
    std::fs::write(dir.path().join("traffic.jsonl"), lines.join("\n") + "\n").unwrap();
    dir
}

fn verdict(decision: &str, outcome: &str, rule: Option<&str>) -> Value {
    json!({"decision": decision, "outcome": outcome, "rule": rule})
}

#[test]
fn known_flips_are_counted_and_listed() {
    let dir = flips();
    let ran = whatif(dir.path(), "v1.ward", "v2.ward", &["--format", "json"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let r = ran.json();
    let counts: Vec<_> = [
        "total",
        "unchanged",
        "changed",
        "allow_to_deny",
        "deny_to_allow",
        "rule_changes",
        "unreadable_lines",
    ]
    .iter()
    .map(|k| r[*k].as_u64().unwrap())
    .collect();
    assert_eq!(counts, [9, 5, 3, 2, 1, 1, 1]);
    assert_eq!(r["unreadable"][0]["line"], 7);
    let changes = r["changes"].as_array().unwrap();
    let lines: Vec<_> = changes
        .iter()
        .map(|c| c["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 3, 4]);
    assert_eq!(changes[0]["method"], "GET");
    assert_eq!(changes[0]["url"], "https://x.dev/docs/a");
    assert_eq!(changes[0]["principal"], "intern@acme.dev");
    assert_eq!(changes[0]["base"], verdict("allow", "allow", Some("staff")));
    assert_eq!(changes[0]["head"], verdict("deny", "deny", Some("interns")));
    assert_eq!(changes[1]["head"], verdict("deny", "default", None));
    // The policies saw POST; the report shows the method as recorded (§5).
    assert_eq!(changes[1]["method"], "post");
    assert_eq!(changes[2]["base"], verdict("deny", "no_route", None));
    assert_eq!(
        changes[2]["head"],
        verdict("allow", "allow", Some("anyone"))
    );
    assert_eq!(changes[2]["route"], "GET */public/*");
    let moved = r["moved"].as_array().unwrap();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0]["line"], 8);
    assert_eq!(moved[0]["base"], verdict("deny", "default", None));
    assert_eq!(moved[0]["head"], verdict("deny", "deny", Some("interns")));
}

#[test]
fn fail_on_fires_on_decision_changes_only() {
    let dir = flips();
    for (fail_on, code) in [("any", 1), ("deny-to-allow", 1), ("allow-to-deny", 1)] {
        let ran = whatif(dir.path(), "v1.ward", "v2.ward", &["--fail-on", fail_on]);
        assert_eq!(ran.code, code, "--fail-on {fail_on}: {}", ran.stderr);
        assert!(
            ran.stderr.contains("3 requests change decision"),
            "{}",
            ran.stderr
        );
    }
    // Reversed, deny -> allow becomes allow -> deny.
    let ran = whatif(
        dir.path(),
        "v2.ward",
        "v1.ward",
        &["--fail-on", "allow-to-deny", "--format", "json"],
    );
    assert_eq!(ran.code, 1);
    assert_eq!(ran.json()["allow_to_deny"], 1);
    // A policy against itself: nothing changes.
    let ran = whatif(
        dir.path(),
        "v2.ward",
        "v2.ward",
        &["--fail-on", "any", "--format", "json"],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.json()["unchanged"], 8);

    // Only allow -> deny changes: deny-to-allow does not fire.
    let only = flips();
    let jane = token(Some("jane@acme.dev"));
    let intern_ext = token(Some("intern@example.com"));
    let traffic = [
        line("POST", "https://x.dev/deploy/prod", Some(&jane)),
        line("GET", "https://x.dev/docs/a", Some(&intern_ext)),
    ];
    std::fs::write(only.path().join("traffic.jsonl"), traffic.join("\n")).unwrap();
    assert_eq!(
        whatif(
            only.path(),
            "v1.ward",
            "v2.ward",
            &["--fail-on", "deny-to-allow"]
        )
        .code,
        0
    );
    assert_eq!(
        whatif(
            only.path(),
            "v1.ward",
            "v2.ward",
            &["--fail-on", "allow-to-deny"]
        )
        .code,
        1
    );

    // A move alone never fails.
    std::fs::write(only.path().join("traffic.jsonl"), &traffic[1]).unwrap();
    let ran = whatif(
        only.path(),
        "v1.ward",
        "v2.ward",
        &["--fail-on", "any", "--format", "json"],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.json()["rule_changes"], 1);
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn git_base_reads_the_policy_at_a_revision() {
    let dir = flips();
    let p = dir.path();
    std::fs::write(p.join("policy.ward"), POLICY_V1).unwrap();
    git(p, &["init", "-q"]);
    git(p, &["add", "policy.ward"]);
    git(p, &["commit", "-qm", "v1"]);
    std::fs::write(p.join("policy.ward"), POLICY_V2).unwrap();

    let from_git = whatif(
        p,
        "git:HEAD:policy.ward",
        "policy.ward",
        &["--format", "json"],
    );
    assert_eq!(from_git.code, 0, "{}", from_git.stderr);
    let from_files = whatif(p, "v1.ward", "v2.ward", &["--format", "json"]);
    assert_eq!(from_git.json(), from_files.json());

    let ran = whatif(p, "git:no-such-rev:policy.ward", "policy.ward", &[]);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("no-such-rev"),
        "git's message: {}",
        ran.stderr
    );
    let ran = whatif(p, "git:HEAD:missing.ward", "policy.ward", &[]);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    let ran = whatif(p, "git:HEAD", "policy.ward", &[]);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    // A revision that git would read as an option is refused before git runs: this one would
    // have written git's output to a file named `out:x`.
    let ran = whatif(p, "git:--output=out:x", "policy.ward", &[]);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("is not `git:REV:PATH`"),
        "{}",
        ran.stderr
    );
    assert!(!p.join("out:x").exists());
    // A folder, or no path at all, is no policy (git would list the tree).
    std::fs::create_dir(p.join("sub")).unwrap();
    std::fs::write(p.join("sub/policy.ward"), POLICY_V1).unwrap();
    git(p, &["add", "sub"]);
    git(p, &["commit", "-qm", "sub"]);
    for spec in ["git:HEAD:sub", "git:HEAD:", "git::policy.ward"] {
        let ran = whatif(p, spec, "policy.ward", &[]);
        assert_eq!(ran.code, 2, "{spec}: {}", ran.stderr);
        assert!(ran.stderr.starts_with("error: "), "{spec}: {}", ran.stderr);
    }
    // a byte order mark opening the file at that revision is not part of it
    std::fs::write(p.join("bom.ward"), format!("\u{feff}{POLICY_V1}")).unwrap();
    git(p, &["add", "bom.ward"]);
    git(p, &["commit", "-qm", "bom"]);
    let bom = whatif(p, "git:HEAD:bom.ward", "policy.ward", &["--format", "json"]);
    assert_eq!(bom.code, 0, "{}", bom.stderr);
    assert_eq!(bom.json(), from_files.json());
    let ran = whatif(p, "git:HEAD:sub", "policy.ward", &[]);
    assert!(
        ran.stderr.contains("is a tree, not a file"),
        "{}",
        ran.stderr
    );
}

#[test]
fn text_and_markdown_reports() {
    let dir = flips();
    let text = whatif(dir.path(), "v1.ward", "v2.ward", &[]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout
            .starts_with("9 lines: 3 changed (2 allow -> deny, 1 deny -> allow), 1 rule changes"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("line 2      GET https://x.dev/docs/a  [intern@acme.dev]  allow by staff -> deny by interns"), "{}", text.stdout);

    let md = whatif(dir.path(), "v1.ward", "v2.ward", &["--format", "markdown"]);
    assert_eq!(md.code, 0, "{}", md.stderr);
    let md = md.stdout;
    assert!(
        md.contains("**3 requests change decision**: 2 allow → deny, 1 deny → allow."),
        "{md}"
    );
    assert!(
        md.contains(
            "| `GET */public/*` | `no_route` | `allow by anyone` | `bob@example.com` | 1 |"
        ),
        "{md}"
    );
    assert!(
        md.contains("<details><summary>All 3 decision changes</summary>"),
        "{md}"
    );
    assert!(
        md.contains("<details><summary>1 unreadable lines</summary>"),
        "{md}"
    );
    assert!(md.contains("| 7 |"), "{md}");
}

/// What a token says of its principal is shown as code in a pull-request comment, never as markup,
/// however many backticks it holds, and characters that would reorder the text around them are
/// written out.
#[test]
fn markdown_shows_principals_as_text_not_markup() {
    let dir = workdir();
    let odd = token(Some(
        "x``<img src=https://e.vil/p.png> **b** [c](https://e.vil)``|DOMAIN\\y\u{202e}@acme.dev",
    ));
    let traffic = line("GET", "https://x.dev/public/x", Some(&odd)) + "\n";
    std::fs::write(dir.path().join("traffic.jsonl"), traffic).unwrap();
    let md = whatif(dir.path(), "v1.ward", "v2.ward", &["--format", "markdown"]);
    assert_eq!(md.code, 0, "{}", md.stderr);
    let text = "x``<img src=https://e.vil/p.png> **b** [c](https://e.vil)``";
    let rest = "DOMAIN\\y\\u{202e}@acme.dev";
    // in the sample list, as code fenced by three backticks, the text as it is
    let listed = format!("``` {text}|{rest} ```");
    assert_eq!(md.stdout.matches(&listed).count(), 1, "{}", md.stdout);
    // in the groups and the table of all changes, with the pipe escaped for the table
    let in_table = format!("| ``` {text}\\|{rest} ``` |");
    assert_eq!(md.stdout.matches(&in_table).count(), 2, "{}", md.stdout);
    assert!(!md.stdout.contains('\u{202e}'), "{}", md.stdout);
}
