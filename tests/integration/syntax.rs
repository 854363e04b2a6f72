//! The syntax layer: the spec examples parse, broken files report plain-language errors,
//! `fmt` is idempotent and keeps the AST, and no input makes the parser panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use edgeward::syntax::{self as front, SyntaxError, SyntaxErrorKind, ast};
use proptest::prelude::*;

/// Renders diagnostics the way the CLI's human format does, without colour, 100 columns.
fn render(name: &str, source: &str, errors: &[SyntaxError]) -> String {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100);
    let mut out = String::new();
    for e in errors {
        let report = miette::Report::new(e.clone())
            .with_source_code(miette::NamedSource::new(name, source.to_string()));
        handler.render_report(&mut out, report.as_ref()).unwrap();
        out.push('\n');
    }
    out
}

/// 1-based line and column of a byte offset.
fn line_col(source: &str, pos: usize) -> (usize, usize) {
    let before = &source[..pos];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

fn parse_ok(source: &str) -> ast::File {
    let (file, errors) = front::parse(source);
    assert!(errors.is_empty(), "{}", render("input", source, &errors));
    file
}

fn stripped(mut file: ast::File) -> ast::File {
    front::strip_spans(&mut file);
    file
}

/// (code, underlined text) of each error.
fn errors_of(source: &str) -> Vec<(&'static str, String)> {
    let (_, errors) = front::parse(source);
    errors
        .iter()
        .map(|e| (e.kind.code(), source[e.span.start..e.span.end].to_string()))
        .collect()
}

const POLICY: &str = include_str!("../corpus/policy.ward");
const POLICY_V2: &str = include_str!("../corpus/policy-v2.ward");

#[test]
fn conformance_policies_parse() {
    let file = parse_ok(POLICY);
    assert_eq!(file.items.len(), 13);
    let embargo = file
        .items
        .iter()
        .find_map(|i| match i {
            ast::Item::Deny(r) => Some(r),
            _ => None,
        })
        .unwrap();
    assert_eq!(embargo.name.as_ref().unwrap().name, "embargo");
    assert_eq!(line_col(POLICY, embargo.span.start), (22, 1));
    let host = file
        .items
        .iter()
        .find_map(|i| match i {
            ast::Item::Host(h) => Some(h),
            _ => None,
        })
        .unwrap();
    assert_eq!(host.host.value, "payments.acme.dev");
    let read = &host.routes[0];
    let methods: Vec<&str> = read.methods.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(methods, ["GET", "HEAD"]);
    assert_eq!(
        read.target.as_ref().unwrap().to_string(),
        "component:default/payments-api"
    );
    let reader = &read.rules[0];
    assert_eq!(reader.effect, ast::Effect::Allow);
    assert_eq!(line_col(POLICY, reader.span.start), (26, 5));
    assert!(&POLICY[reader.span.start..reader.span.end].ends_with("or admin"));
    let deploy = &host.routes[1];
    assert_eq!(deploy.target.as_ref().unwrap().name, "{name}");
    let require = &deploy.rules[0];
    assert_eq!(require.effect, ast::Effect::Require);
    assert!(require.name.is_none());
    assert!(matches!(
        &require.cond.as_ref().unwrap().kind,
        ast::ExprKind::Path(root, segs) if root.name == "fresh_mfa" && segs.is_empty()
    ));
    let freeze = &deploy.rules[2];
    assert!(matches!(
        freeze.cond.as_ref().unwrap().kind,
        ast::ExprKind::And(..)
    ));
    assert_eq!(line_col(POLICY, freeze.span.end), (34, 64));

    let v2 = parse_ok(POLICY_V2);
    assert_eq!(v2.items.len(), 32);
    let ast::Item::Host(host) = &v2.items[11] else {
        panic!("item 11 is the host")
    };
    let deploy = &host.routes[2].rules;
    assert_eq!(deploy[1].name.as_ref().unwrap().name, "no_contractors");
    assert!(matches!(
        &deploy[1].cond.as_ref().unwrap().kind,
        ast::ExprKind::Not(inner) if matches!(inner.kind, ast::ExprKind::Paren(_))
    ));
    let tests: Vec<&ast::TestBlock> = v2
        .items
        .iter()
        .filter_map(|i| match i {
            ast::Item::Test(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(tests.len(), 19);
    assert!(tests[5].lines.iter().any(|l| matches!(
        l,
        ast::TestLine::Expect { outcome, by: Some(by), .. }
            if outcome.name == "deny" && by.name == "require#3"
    )));
}

#[test]
fn parse_errors_snapshot() {
    insta::glob!("../ui/parse", "*.ward", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let name = format!("{}", path.file_name().unwrap().to_string_lossy());
        let (_, errors) = front::parse(&source);
        assert!(!errors.is_empty(), "{name} should not parse");
        insta::assert_snapshot!(render(&name, &source, &errors));
    });
}

#[test]
fn errors_by_meaning() {
    let three = include_str!("../ui/parse/three_errors.ward");
    assert_eq!(
        errors_of(three),
        [
            ("edgeward::syntax::use_double_equals", "=".to_string()),
            ("edgeward::syntax::unknown_keyword", "roll".to_string()),
            (
                "edgeward::syntax::unclosed_string",
                "\"unclosed".to_string()
            ),
        ]
    );
    assert_eq!(
        errors_of(include_str!("../ui/parse/missing_brace_eof.ward")),
        [("edgeward::syntax::unclosed_brace", "{".to_string())]
    );
    let (_, errors) = front::parse("rol admin = x\n");
    assert_eq!(errors[0].kind, SyntaxErrorKind::UnknownKeyword);
    assert_eq!(errors[0].help.as_deref(), Some("did you mean `role`?"));
    // the items around a broken one still parse
    let (file, errors) = front::parse("role a = x\nrole b = = y\nrole c = z\n");
    assert_eq!(errors.len(), 1);
    assert_eq!(file.items.len(), 2);
}

#[test]
fn keywords_do_not_match_prefixes() {
    let file = parse_ok("role r = order and notify or inside in android\n");
    let ast::Item::Role(role) = &file.items[0] else {
        panic!()
    };
    let ast::ExprKind::Or(l, r) = &role.body.kind else {
        panic!("{:?}", role.body)
    };
    assert!(matches!(l.kind, ast::ExprKind::And(..)));
    assert!(matches!(r.kind, ast::ExprKind::Binary(ast::BinOp::In, ..)));
}

#[test]
fn durations_and_literals() {
    let file = parse_ok("role r = [15m, 8h, 30d, 10s, 42, true, \"a\\u{e9}\\n\"]\n");
    let ast::Item::Role(role) = &file.items[0] else {
        panic!()
    };
    let ast::ExprKind::List(items) = &role.body.kind else {
        panic!()
    };
    let kinds: Vec<&ast::ExprKind> = items.iter().map(|e| &e.kind).collect();
    assert_eq!(
        kinds,
        [
            &ast::ExprKind::Duration(900, "15m".into()),
            &ast::ExprKind::Duration(28_800, "8h".into()),
            &ast::ExprKind::Duration(2_592_000, "30d".into()),
            &ast::ExprKind::Duration(10, "10s".into()),
            &ast::ExprKind::Int(42),
            &ast::ExprKind::Bool(true),
            &ast::ExprKind::Str("a\u{e9}\n".into()),
        ]
    );
}

#[test]
fn nesting_is_capped_not_overflowing() {
    let depth = front::MAX_NESTING;
    let ok = format!("role r = {}x{}\n", "(".repeat(depth), ")".repeat(depth));
    // runs on a test thread's small stack: the cap must leave room
    parse_ok(&ok);
    for src in [
        format!("role r = {}x\n", "(".repeat(100_000)),
        format!("role r = {}x\n", "[".repeat(100_000)),
        format!("role r = x{}\n", " and x".repeat(10_000)),
        format!("role r = {}x\n", "not ".repeat(10_000)),
        format!("role r = x{}\n", " + x".repeat(10_000)),
    ] {
        let (_, errors) = front::parse(&src);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].kind, SyntaxErrorKind::TooDeep);
    }
}

fn corpus() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("tests/corpus").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "ward") {
            out.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn fmt_is_idempotent_and_keeps_the_ast() {
    for (name, source) in corpus() {
        let file = parse_ok(&source);
        let once = front::format(&file, &source);
        let reparsed = parse_ok(&once);
        assert_eq!(stripped(file), stripped(reparsed.clone()), "{name}");
        let twice = front::format(&reparsed, &once);
        assert_eq!(once, twice, "{name}");
        // every comment survives
        for line in source.lines() {
            if let Some(i) = line.find("// ") {
                let comment = &line[i..];
                if !comment.contains('"') {
                    assert!(once.contains(comment.trim_end()), "{name}: lost {comment}");
                }
            }
        }
    }
}

#[test]
fn fmt_layout_snapshot() {
    let source = include_str!("../corpus/layout.ward");
    let file = parse_ok(source);
    insta::assert_snapshot!(front::format(&file, source));
}

// ---------------------------------------------------------------- generated ASTs

mod generate;

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn fmt_round_trips_generated_asts(file in generate::file()) {
        let text = front::format(&file, "");
        let (parsed, errors) = front::parse(&text);
        prop_assert!(errors.is_empty(), "{}\n{}", text, render("gen", &text, &errors));
        prop_assert_eq!(&stripped(parsed.clone()), &file, "{}", text);
        prop_assert_eq!(front::format(&parsed, &text), text);
    }
}

// ---------------------------------------------------------------- no panics

/// Mostly characters that matter to the grammar, sometimes any character.
fn edit_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(vec![
            '{', '}', '(', ')', '[', ']', '"', '=', '\n', '/', ' ', 'a', '.', ':', '#', '\\', '-',
            '>', '<', '|', '?', '1', 'm',
        ]),
        1 => any::<char>(),
    ]
}

/// Parses and formats; neither may panic, and every span lies inside the source.
fn survive(source: &str) {
    let (file, errors) = front::parse(source);
    for e in &errors {
        assert!(e.span.start <= e.span.end && e.span.end <= source.len());
        assert!(source.is_char_boundary(e.span.start) && source.is_char_boundary(e.span.end));
        let _ = render("fuzz", source, std::slice::from_ref(e));
    }
    let _ = front::format(&file, source);
}

// 8,500 random inputs and 1,500 mutated policies: 10,000 cases in all.
proptest! {
    #![proptest_config(ProptestConfig { cases: 8_500, ..ProptestConfig::default() })]

    #[test]
    fn no_panic_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        survive(&String::from_utf8_lossy(&bytes));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_500, ..ProptestConfig::default() })]

    #[test]
    fn no_panic_on_mutated_policies(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, edit_char()), 1..6),
    ) {
        let mut text: Vec<char> = POLICY_V2.chars().collect();
        for (at, op, c) in edits {
            let i = at.index(text.len() + 1);
            match op {
                0 => text.insert(i, c),
                1 if i < text.len() => { text.remove(i); }
                _ if i < text.len() => text[i] = c,
                _ => text.push(c),
            }
        }
        survive(&text.into_iter().collect::<String>());
    }
}
