//! The checker: broken policies in tests/ui/check/ (snapshots and meaning), did-you-means, the conformance policies, no panics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use edgeward::catalog::{Catalog, Loaded};
use edgeward::check::diag::CODES;
use edgeward::check::{self, Diagnostic};
use proptest::prelude::*;

// ---------------------------------------------------------------- helpers

/// The folder holding `shared/conformance`, found by walking up from the crate.
pub fn shared_dir() -> PathBuf {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    loop {
        if dir.join("shared/conformance").is_dir() {
            return dir.join("shared");
        }
        assert!(dir.pop(), "no `shared/conformance` above the crate");
    }
}

/// The conformance kit's catalog, loaded once.
pub fn kit_catalog() -> &'static Loaded {
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    LOADED.get_or_init(|| Catalog::load(&shared_dir().join("conformance/catalog")).unwrap())
}

/// The small catalog the broken policies are checked against.
fn ui_catalog() -> &'static Catalog {
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    &LOADED
        .get_or_init(|| Catalog::load(Path::new("tests/ui/check/catalog")).unwrap())
        .catalog
}

/// The checker's diagnostics of a file of tests/ui/check/ (`no_catalog*` files get no catalog).
fn diagnostics(name: &str, source: &str) -> Vec<Diagnostic> {
    let catalog = (!name.starts_with("no_catalog")).then(ui_catalog);
    let rejected = edgeward::check_source(name, source, catalog);
    assert!(
        rejected.syntax.is_empty(),
        "{name} must parse: {:?}",
        rejected.syntax
    );
    rejected.diagnostics
}

/// Renders diagnostics as `edgeward check` does, without colour, 100 columns.
fn render(name: &str, source: &str, diags: &[Diagnostic]) -> String {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100);
    let mut out = String::new();
    for d in diags {
        let report = miette::Report::new(d.clone())
            .with_source_code(miette::NamedSource::new(name, source.to_string()));
        handler.render_report(&mut out, report.as_ref()).unwrap();
        out.push('\n');
    }
    out
}

/// The text a diagnostic underlines, whitespace runs collapsed to one space.
fn underlined(source: &str, d: &Diagnostic) -> String {
    let text = source.get(d.span.start..d.span.end).unwrap_or_else(|| {
        panic!("{}: span {:?} is not in the source", d.code, d.span);
    });
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The `// expect: CODE `TEXT`` lines of a file; a TEXT ending in `…` matches by prefix.
fn expectations(source: &str) -> Vec<(String, String)> {
    source
        .lines()
        .filter_map(|l| l.trim().strip_prefix("// expect: "))
        .map(|rest| {
            let (code, text) = rest.split_once(' ').expect("`// expect: CODE `TEXT``");
            let text = text
                .strip_prefix('`')
                .and_then(|t| t.strip_suffix('`'))
                .expect("the underlined text in backticks");
            (code.to_string(), text.to_string())
        })
        .collect()
}

fn ui_files() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir("tests/ui/check")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ward"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn codes_of(diags: &[Diagnostic]) -> Vec<&'static str> {
    diags.iter().map(|d| d.code).collect()
}

/// The diagnostics of an inline policy, checked against the ui catalog.
fn check_inline(source: &str) -> Vec<Diagnostic> {
    diagnostics("inline.ward", source)
}

// ---------------------------------------------------------------- the corpus

#[test]
fn check_diagnostics_snapshot() {
    insta::glob!("../ui/check", "*.ward", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let diags = diagnostics(&name, &source);
        assert!(!diags.is_empty(), "{name} should have diagnostics");
        insta::assert_snapshot!(render(&name, &source, &diags));
    });
}

#[test]
fn diagnostics_by_meaning() {
    let files = ui_files();
    assert!(files.len() >= 30, "only {} broken policies", files.len());
    let mut failures = Vec::new();
    for (name, source) in files {
        let mut want = expectations(&source);
        assert!(!want.is_empty(), "{name} has no `// expect:` line");
        let diags = diagnostics(&name, &source);
        let mut got: Vec<(String, String)> = diags
            .iter()
            .map(|d| (d.code.to_string(), underlined(&source, d)))
            .collect();
        // Match each expectation with one diagnostic (a trailing `…` matches by prefix).
        let mut unmatched = Vec::new();
        for (code, text) in want.drain(..) {
            let hit = got.iter().position(|(c, t)| {
                *c == code
                    && match text.strip_suffix('…') {
                        Some(prefix) => t.starts_with(prefix),
                        None => *t == text,
                    }
            });
            match hit {
                Some(i) => {
                    got.remove(i);
                }
                None => unmatched.push((code, text)),
            }
        }
        if !(unmatched.is_empty() && got.is_empty()) {
            failures.push(format!(
                "{name}:\n  expected but not reported: {unmatched:?}\n  reported but not expected: {got:?}"
            ));
        }
        // Only the no-catalog warning has no text to underline.
        for d in &diags {
            assert!(
                !d.span.is_empty() || d.code == "edgeward::no_catalog",
                "{name}: {} underlines nothing",
                d.code
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_code_is_in_some_snapshot() {
    let mut seen = BTreeSet::new();
    for (name, source) in ui_files() {
        for d in diagnostics(&name, &source) {
            let listed = CODES.iter().find(|(c, _, _)| *c == d.code);
            let (_, level, _) =
                listed.unwrap_or_else(|| panic!("{name}: `{}` is not in CODES", d.code));
            assert_eq!(*level, d.level, "{name}: `{}` has the wrong level", d.code);
            seen.insert(d.code);
        }
    }
    // the snapshots hold what the files report
    let snaps: String = std::fs::read_dir("tests/integration/snapshots")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("integration__check__check_diagnostics_snapshot@")
        })
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let missing: Vec<&str> = CODES
        .iter()
        .map(|(c, _, _)| *c)
        .filter(|c| !seen.contains(c) || !snaps.contains(c))
        .collect();
    assert!(missing.is_empty(), "codes in no snapshot: {missing:?}");
}

#[test]
fn every_error_and_warning_renders_with_its_glyph() {
    for (name, source) in ui_files() {
        for d in diagnostics(&name, &source) {
            let text = render(&name, &source, std::slice::from_ref(&d));
            let glyph = if d.is_error() { "×" } else { "⚠" };
            assert!(text.contains(glyph), "{name}: {text}");
            assert!(text.contains(d.code), "{name}: {text}");
        }
    }
}

// ---------------------------------------------------------------- did you mean

/// `(policy, code, underlined, help)`: every unknown name suggests the nearest known one.
const SUGGESTIONS: &[(&str, &str, &str, &str)] = &[
    (
        "use std::cloudflare_access\nroute GET \"/a\" { allow a when claims.emial == \"x\" }",
        "edgeward::unknown_claim",
        "emial",
        "did you mean `email`?",
    ),
    (
        "use std::cloudflare_access\nuse std::okta\nroute GET \"/a\" { allow a when claims has gruops }",
        "edgeward::unknown_claim",
        "gruops",
        "did you mean `groups`?",
    ),
    (
        "use std::cloudflare_access\nprincipal = user where spec.profile.email == claims.email\nrole admin = principal in group:platform-admins\nroute GET \"/a\" { allow a when amdin }",
        "edgeward::unknown_name",
        "amdin",
        "did you mean `admin`?",
    ),
    (
        "use std::cloudflare_access\nprincipal = user where spec.profile.email == claims.email\nroute GET \"/a\" { allow a when principal in group:platform-admin }",
        "edgeward::unknown_ref",
        "group:platform-admin",
        "did you mean `group:default/platform-admins`?",
    ),
    (
        "route GET \"/a\" -> component:default/payments-ap { allow a }",
        "edgeward::unknown_ref",
        "component:default/payments-ap",
        "did you mean `component:default/payments-api`?",
    ),
    (
        "use std::cloudfare_access\nroute GET \"/a\" { allow a }",
        "edgeward::unknown_module",
        "cloudfare_access",
        "did you mean `std::cloudflare_access`?",
    ),
    (
        "route GET \"/deploy/{name}\" { allow a when params.nmae == \"x\" }",
        "edgeward::unknown_param",
        "nmae",
        "did you mean `params.name`?",
    ),
    (
        "route GTE \"/a\" { allow a }",
        "edgeward::unknown_method",
        "GTE",
        "did you mean `GET`?",
    ),
    (
        "route DELTE \"/a\" { allow a }",
        "edgeward::unknown_method",
        "DELTE",
        "did you mean `DELETE`?",
    ),
    (
        "route GET \"/a\" { allow a when request.metod == \"GET\" }",
        "edgeward::unknown_field",
        "metod",
        "did you mean `request.method`?",
    ),
    (
        "route GET \"/a\" -> component:payments-api { allow a when target.onwer == group:platform }",
        "edgeward::unknown_field",
        "onwer",
        "did you mean `.owner`?",
    ),
    (
        "route POST \"/deploy/{name}\" -> component:{nmae} { allow a }",
        "edgeward::template_param",
        "component:{nmae}",
        "did you mean `{name}`?",
    ),
    (
        "route GET \"/a\" -> componnt:payments-api { allow a }",
        "edgeward::bad_ref",
        "componnt:payments-api",
        "did you mean `component:`?",
    ),
    (
        "use std::cloudflare_access\nprincipal = usr where spec.profile.email == claims.email\nroute GET \"/a\" { allow a }",
        "edgeward::bad_binding",
        "usr",
        "did you mean `user`?",
    ),
    (
        "claims { level: boolean }\nroute GET \"/a\" { allow a }",
        "edgeward::bad_claim_type",
        "boolean",
        "did you mean `bool`?",
    ),
    (
        "route GET \"/a\" { allow reader }\ntest \"t\" {\n  request GET \"https://a.dev/a\"\n  expect allow by readr\n}",
        "edgeward::bad_test",
        "readr",
        "did you mean `reader`?",
    ),
    (
        "route GET \"/a\" { allow reader }\ntest \"t\" {\n  request GET \"https://a.dev/a\"\n  expect no_rout\n}",
        "edgeward::bad_test",
        "no_rout",
        "did you mean `no_route`?",
    ),
];

#[test]
fn unknown_names_suggest_the_nearest() {
    for (source, code, text, help) in SUGGESTIONS {
        let diags = check_inline(source);
        let d = diags
            .iter()
            .find(|d| d.code == *code)
            .unwrap_or_else(|| panic!("no {code} for:\n{source}\n{diags:#?}"));
        assert_eq!(underlined(source, d), *text, "{source}");
        let got = d.help.as_deref().unwrap_or_default();
        assert!(got.starts_with(help), "{source}\n{got}");
    }
}

#[test]
fn far_names_get_a_hint_not_a_guess() {
    let source =
        "use std::cloudflare_access\nroute GET \"/a\" { allow a when claims.xyzzy == \"x\" }";
    let diags = check_inline(source);
    assert_eq!(codes_of(&diags), ["edgeward::unknown_claim"], "{diags:#?}");
    let d = &diags[0];
    assert!(
        !d.help.as_deref().unwrap().contains("did you mean"),
        "{d:?}"
    );
}

// ---------------------------------------------------------------- several errors at once

#[test]
fn several_errors_are_all_reported() {
    let source = include_str!("../ui/check/several_errors.ward");
    let diags = diagnostics("several_errors.ward", source);
    let errors: Vec<&Diagnostic> = diags.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errors.len(), 8, "{diags:#?}");
    let codes: BTreeSet<&str> = errors.iter().map(|d| d.code).collect();
    assert_eq!(codes.len(), 8, "eight independent kinds of error");
    // and the pipeline returns them all, no program
    let rejected = edgeward::compile("several_errors.ward", source, Some(ui_catalog()));
    assert_eq!(
        rejected
            .err()
            .unwrap()
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .count(),
        8
    );
}

#[test]
fn an_error_is_not_followed_by_noise() {
    // the placeholder of an erring condition must not read as `can never hold`
    let diags = check_inline(
        "use std::cloudflare_access\nroute GET \"/a\" { allow a when claims.emial == \"x\"\n allow b }",
    );
    assert_eq!(codes_of(&diags), ["edgeward::unknown_claim"], "{diags:#?}");
}

// ---------------------------------------------------------------- the conformance policies

fn kit_policy(name: &str) -> String {
    std::fs::read_to_string(shared_dir().join("conformance").join(name)).unwrap()
}

#[test]
fn conformance_policies_check_clean_with_the_warnings_of_7_6_and_7_8() {
    let loaded = kit_catalog();
    // the catalog itself says that `dana@acme.dev` belongs to two users (§7.6)
    assert!(loaded.warnings.iter().any(|w| {
        w.code_str() == "edgeward::catalog::shared_email" && w.to_string().contains("dana@acme.dev")
    }));
    for name in ["policy.ward", "policy-v2.ward"] {
        let source = kit_policy(name);
        let rejected = edgeward::check_source(name, &source, Some(&loaded.catalog));
        assert!(rejected.syntax.is_empty());
        let errors: Vec<&Diagnostic> = rejected
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        assert!(edgeward::compile(name, &source, Some(&loaded.catalog)).is_ok());
        // §7.6: the shared email binds no one, and the checker says so at the binding
        let shared: Vec<&Diagnostic> = rejected
            .diagnostics
            .iter()
            .filter(|d| d.code == "edgeward::ambiguous_binding")
            .collect();
        assert_eq!(shared.len(), 2, "{name}: {shared:#?}");
        let email = shared
            .iter()
            .find(|d| d.message.contains("`dana@acme.dev`"))
            .unwrap();
        assert!(
            email.message.contains("`user:default/dana`"),
            "{}",
            email.message
        );
        assert!(
            email.message.contains("`user:default/dana-admin`"),
            "{}",
            email.message
        );
        assert_eq!(
            underlined(&source, email),
            "principal = user where spec.profile.email == claims.email"
        );
        // the service binding: one client id on two components
        let client = shared.iter().find(|d| !d.message.contains("dana")).unwrap();
        assert!(
            client
                .message
                .contains("`component:default/legacy-exporter`"),
            "{}",
            client.message
        );
        assert!(
            client
                .message
                .contains("`component:default/legacy-exporter-v2`"),
            "{}",
            client.message
        );
    }
    // §7.8: v2 reads a label some `{name}` candidates lack
    let source = kit_policy("policy-v2.ward");
    let diags =
        edgeward::check_source("policy-v2.ward", &source, Some(&loaded.catalog)).diagnostics;
    let missing = diags
        .iter()
        .find(|d| d.code == "edgeward::missing_field")
        .expect("a missing_field warning");
    assert_eq!(
        underlined(&source, missing),
        "target.metadata.labels[\"acme.dev/deploys\"]"
    );
    assert!(missing.help.as_deref().unwrap().contains("`ledger`"));
    let v1 = edgeward::check_source(
        "policy.ward",
        &kit_policy("policy.ward"),
        Some(&loaded.catalog),
    );
    assert!(!codes_of(&v1.diagnostics).contains(&"edgeward::missing_field"));
}

#[test]
fn catalog_warnings_render_as_warnings() {
    let loaded = kit_catalog();
    assert!(!loaded.warnings.is_empty());
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100);
    for w in &loaded.warnings {
        assert_eq!(
            miette::Diagnostic::severity(w),
            Some(miette::Severity::Warning)
        );
        let mut out = String::new();
        handler.render_report(&mut out, w).unwrap();
        assert!(out.contains('⚠') && !out.contains('×'), "{out}");
    }
}

// ---------------------------------------------------------------- no panics

/// Parses and checks (even a file that did not wholly parse); nothing may panic, every span is in the source.
fn survive(source: &str, render_too: bool) {
    let (file, _) = edgeward::syntax::parse(source);
    let checked = check::check(
        &file,
        &check::Input {
            path: "fuzz.ward",
            source,
            catalog: Some(&kit_catalog().catalog),
        },
    );
    for d in &checked.diagnostics {
        assert!(
            d.span.start <= d.span.end && d.span.end <= source.len(),
            "{d:?}"
        );
        assert!(source.is_char_boundary(d.span.start) && source.is_char_boundary(d.span.end));
        for (s, _) in &d.related {
            assert!(
                s.end <= source.len()
                    && source.is_char_boundary(s.start)
                    && source.is_char_boundary(s.end)
            );
        }
    }
    if render_too {
        let _ = render("fuzz.ward", source, &checked.diagnostics);
    }
    // a program exactly when there is no error
    assert_eq!(checked.has_errors(), checked.program.is_none());
}

/// The conformance kit's `policy-v2.ward`, the policy the fuzzer mutates.
fn policy_v2() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| kit_policy("policy-v2.ward"))
}

/// Mostly characters and words that matter to the grammar or the checker.
fn edit() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "{", "}", "(", ")", "[", "]", "\"", "=", "\n", "/", " ", "a", ".", ":", "#", "-", ">",
            "|", "?", "1", "m", "*", "{x}", "target", "principal", "claims", "params", "not ",
            " and ", " or ", " in ", " owns ", " has ", "group:", "component:", "request.", "==",
            "allow x", "deny y", "require", "GET", "ANY", "role r = r", "%",
        ]).prop_map(str::to_string),
        1 => any::<char>().prop_map(|c| c.to_string()),
    ]
}

// 8,500 random inputs and 1,500 mutated policies: 10,000 cases in all.
proptest! {
    #![proptest_config(ProptestConfig { cases: 8_500, ..ProptestConfig::default() })]

    #[test]
    fn check_survives_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        survive(&String::from_utf8_lossy(&bytes), false);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_500, ..ProptestConfig::default() })]

    #[test]
    fn check_survives_mutated_policies(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, edit()), 1..6),
        render_too in prop::bool::weighted(0.05),
    ) {
        let mut text = policy_v2().to_string();
        for (at, op, s) in edits {
            let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
            let i = boundaries[at.index(boundaries.len())];
            let next = boundaries.iter().copied().find(|b| *b > i);
            match (op, next) {
                (0, _) | (_, None) => text.insert_str(i, &s),
                (1, Some(n)) => text.replace_range(i..n, ""),
                (_, Some(n)) => text.replace_range(i..n, &s),
            }
        }
        survive(&text, render_too);
    }
}

/// A diagnostic further along its line than a graphical report can draw (miette pads with a
/// format width, at most 65,535) is told in words, never a panic.
#[test]
fn a_diagnostic_far_along_a_line_is_reported_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let policy = format!("{}!\n", " ".repeat(70_000));
    std::fs::write(dir.path().join("wide.ward"), policy).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edgeward"))
        .args(["check", "wide.ward"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("line 1, column 70001"), "{stderr}");
    assert!(stderr.contains("edgeward::syntax::unexpected"), "{stderr}");
}

/// A byte order mark opening a policy, a JWKS or an `eval` request file is not part of it (some
/// Windows editors write one): each reads as without it.
#[test]
fn a_byte_order_mark_opening_a_file_is_not_part_of_it() {
    let kit = shared_dir().join("conformance");
    let dir = tempfile::tempdir().unwrap();
    let with_bom = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("\u{feff}{text}")).unwrap();
        path.to_str().unwrap().to_string()
    };
    let policy = with_bom(
        "policy.ward",
        &std::fs::read_to_string(kit.join("policy.ward")).unwrap(),
    );
    let jwks = with_bom(
        "jwks.json",
        &std::fs::read_to_string(kit.join("jwks.json")).unwrap(),
    );
    let request = with_bom(
        "request.json",
        r#"{"method":"GET","url":"https://payments.acme.dev/","claims":{}}"#,
    );
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_edgeward"))
            .args(args)
            .current_dir(&kit)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["check", &policy, "--catalog", "catalog"]);
    // formatted without the mark, then given one: still formatted
    let plain = dir.path().join("plain.ward");
    std::fs::copy(kit.join("policy.ward"), &plain).unwrap();
    run(&["fmt", plain.to_str().unwrap()]);
    let formatted = with_bom("formatted.ward", &std::fs::read_to_string(&plain).unwrap());
    run(&["fmt", "--check", &formatted]);
    let at = format!("@{request}");
    assert_eq!(
        run(&["eval", &policy, "--catalog", "catalog", "--request", &at]),
        run(&[
            "eval",
            "policy.ward",
            "--catalog",
            "catalog",
            "--request",
            &at
        ])
    );
    assert_eq!(
        run(&[
            "simulate",
            &policy,
            "--catalog",
            "catalog",
            "--traffic",
            "traffic.jsonl",
            "--jwks",
            &jwks
        ]),
        run(&[
            "simulate",
            "policy.ward",
            "--catalog",
            "catalog",
            "--traffic",
            "traffic.jsonl",
            "--jwks",
            "jwks.json"
        ])
    );
}

/// `check --format json` tells of the catalog in JSON too: its warnings where they are (file,
/// line, entity) and counted among the warnings, and its errors as the whole answer (exit 1),
/// with nothing but JSON on stdout.
#[test]
fn check_json_places_catalog_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let group = |name: &str, parent: &str| {
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: {name}\nspec:\n  type: team\n  parent: {parent}\n  children: []\n"
        )
    };
    std::fs::write(
        dir.path().join("cycle.yaml"),
        [group("a", "b"), group("b", "a")].join("---\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("twice.yaml"),
        [group("a", "b"), group("a", "b")].join("---\n"),
    )
    .unwrap();
    let policy = dir.path().join("p.ward");
    std::fs::write(
        &policy,
        "policy p version 1\nroute GET \"/\" {\n  allow anyone\n}\n",
    )
    .unwrap();
    let check = |catalog: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_edgeward"))
            .args([
                "check",
                policy.to_str().unwrap(),
                "--catalog",
                catalog,
                "--format",
                "json",
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        (out.status.code(), json)
    };
    let (code, json) = check("cycle.yaml");
    assert_eq!(code, Some(0), "{json:#}");
    assert_eq!(json["warnings"], 1, "{json:#}");
    let d = &json["diagnostics"][0];
    assert_eq!(d["code"], "edgeward::catalog::group_cycle", "{json:#}");
    assert_eq!(
        (d["file"].as_str(), d["line"].as_u64()),
        (Some("cycle.yaml"), Some(7)),
        "{json:#}"
    );
    assert_eq!(d["entity"], "group:default/a", "{json:#}");

    // the human summary counts the same warnings
    let human = std::process::Command::new(env!("CARGO_BIN_EXE_edgeward"))
        .args(["check", policy.to_str().unwrap(), "--catalog", "cycle.yaml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&human.stdout).ends_with(": ok (1 warning)\n"),
        "{}",
        String::from_utf8_lossy(&human.stdout)
    );

    let (code, json) = check("twice.yaml");
    assert_eq!(code, Some(1), "{json:#}");
    assert_eq!(
        (json["ok"].as_bool(), json["errors"].as_u64()),
        (Some(false), Some(1)),
        "{json:#}"
    );
    let d = &json["diagnostics"][0];
    assert_eq!(d["code"], "edgeward::catalog::duplicate_entity", "{json:#}");
    assert_eq!(
        (d["file"].as_str(), d["severity"].as_str()),
        (Some("twice.yaml"), Some("error"))
    );
}
