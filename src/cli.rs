//! What every verb shares: reading inputs, loading the catalog, compiling, rendering diagnostics.

/// `print!` that returns a [`Fail`] instead of panicking when standard output cannot be written
/// (a closed pipe, a full disk); use it with `?`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::emit(format_args!($($arg)*))
    };
}

/// `println!` that returns a [`Fail`] instead of panicking when standard output cannot be written.
macro_rules! outln {
    () => {
        $crate::cli::emit(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::emit(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` that does not panic when standard error cannot be written (see [`emit_err`]).
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::cli::emit_err(format_args!($($arg)*))
    };
}

/// `eprintln!` that does not panic when standard error cannot be written (see [`emit_err`]).
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::emit_err(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub mod build;
pub mod demo;
pub mod front;
pub mod run;
pub mod sim;

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use miette::{GraphicalReportHandler, GraphicalTheme, NamedSource};

use edgeward::catalog::{Catalog, Loaded};
use edgeward::check::Diagnostic;
use edgeward::syntax::SyntaxError;

/// Why a command stopped.
pub enum Fail {
    /// A check failed (exit 1): the message was printed already or is given here.
    Check(String),
    /// Bad usage or an input that cannot be used at all (exit 2).
    Usage(String),
    /// Whoever read standard output stopped reading (`edgeward simulate … | head`): the command
    /// stops without a word, with the status a shell gives a command ended by `SIGPIPE` (141).
    Closed,
}

impl Fail {
    pub fn render(&self) -> String {
        match self {
            Fail::Check(m) | Fail::Usage(m) => m.clone(),
            Fail::Closed => String::new(),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Fail::Check(_) => ExitCode::from(1),
            Fail::Usage(_) => ExitCode::from(2),
            Fail::Closed => ExitCode::from(141),
        }
    }
}

/// Why standard output could not take the command's output.
pub fn output_failed(e: std::io::Error) -> Fail {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Fail::Closed
    } else {
        Fail::Usage(format!("error: cannot write the output: {e}"))
    }
}

/// Writes to standard error (see [`err!`] and [`errln!`]). Messages are best-effort: when
/// standard error is closed they are lost, but the command goes on and ends as it would have
/// (a build still writes its files; a failed check still exits 1).
pub fn emit_err(text: std::fmt::Arguments) -> Result<(), Fail> {
    let _ = std::io::Write::write_fmt(&mut std::io::stderr().lock(), text);
    Ok(())
}

/// Writes to standard output (see [`out!`] and [`outln!`]).
pub fn emit(text: std::fmt::Arguments) -> Result<(), Fail> {
    std::io::Write::write_fmt(&mut std::io::stdout().lock(), text).map_err(output_failed)
}

pub type Res = Result<ExitCode, Fail>;

/// Reads a text file, or says which one could not be read.
pub fn read(path: &str) -> Result<String, Fail> {
    std::fs::read_to_string(path)
        .map(edgeward::input::without_bom)
        .map_err(|e| Fail::Usage(format!("error: cannot read `{path}`: {e}")))
}

/// Renders any miette diagnostic as plain or coloured text.
pub fn render(diag: &dyn miette::Diagnostic) -> String {
    let theme = if std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none()
    {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let mut out = String::new();
    let drawn = if beyond_drawing(diag) {
        // The graphical handler pads an underline with a format width, which stops at 65,535:
        // a label that far along its line is told in words instead.
        miette::NarratableReportHandler::new().render_report(&mut out, diag)
    } else {
        GraphicalReportHandler::new_themed(theme)
            .with_width(100)
            .render_report(&mut out, diag)
    };
    if drawn.is_err() {
        out = diag.to_string();
    }
    out
}

/// Whether a label of `diag` ends further along its line than a graphical report can draw.
fn beyond_drawing(diag: &dyn miette::Diagnostic) -> bool {
    const MAX_COLUMN: usize = 60_000;
    let (Some(source), Some(mut labels)) = (diag.source_code(), diag.labels()) else {
        return false;
    };
    labels.any(|label| match source.read_span(label.inner(), 0, 0) {
        // Where the contents start in their line, and the label within them (in bytes, which
        // bounds the column from above).
        Ok(lines) => {
            let within = label.offset().saturating_sub(lines.span().offset());
            lines.column() + within + label.len() > MAX_COLUMN
        }
        Err(_) => true,
    })
}

/// A diagnostic with its source attached, for rendering.
#[derive(Debug, thiserror::Error)]
#[error("{inner}")]
pub struct WithSource<D: miette::Diagnostic + std::fmt::Debug + std::fmt::Display + 'static> {
    pub inner: D,
    pub src: NamedSource<String>,
}

impl<D: miette::Diagnostic + std::fmt::Debug + std::fmt::Display + 'static> miette::Diagnostic
    for WithSource<D>
{
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.inner.code()
    }
    fn severity(&self) -> Option<miette::Severity> {
        self.inner.severity()
    }
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.inner.help()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.inner.labels()
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.src)
    }
}

/// Renders the front end's findings about one policy file.
pub fn render_policy_diags(
    path: &str,
    source: &str,
    syntax: &[SyntaxError],
    diags: &[Diagnostic],
) -> String {
    let mut out = String::new();
    for e in syntax {
        let d = WithSource {
            inner: e.clone(),
            src: NamedSource::new(path, source.to_string()),
        };
        out.push_str(&render(&d));
    }
    for e in diags {
        let d = WithSource {
            inner: e.clone(),
            src: NamedSource::new(path, source.to_string()),
        };
        out.push_str(&render(&d));
    }
    out
}

/// Loads a catalog, printing its warnings to stderr when asked.
pub fn load_catalog(path: Option<&str>, show_warnings: bool) -> Result<Option<Loaded>, Fail> {
    let Some(path) = path else { return Ok(None) };
    catalog_opens(path)?;
    match Catalog::load(Path::new(path)) {
        Ok(loaded) => {
            if show_warnings {
                for w in &loaded.warnings {
                    err!("{}", render(w))?;
                }
            }
            Ok(Some(loaded))
        }
        Err(e) => Err(Fail::Check(format!(
            "{}error: the catalog `{path}` cannot be used",
            render(&e)
        ))),
    }
}

/// A catalog that cannot be opened at all is an input that cannot be used (exit 2); what is
/// wrong inside one that opens is a failed check (exit 1).
pub fn catalog_opens(path: &str) -> Result<(), Fail> {
    std::fs::metadata(path)
        .and_then(|m| {
            if m.is_dir() {
                std::fs::read_dir(path).map(drop)
            } else {
                std::fs::File::open(path).map(drop)
            }
        })
        .map_err(|e| Fail::Usage(format!("error: cannot read the catalog `{path}`: {e}")))
}

/// Compiles a policy file or stops with its diagnostics (exit 1); warnings go to stderr when asked.
pub fn compile(
    path: &str,
    catalog: Option<&Catalog>,
    show_warnings: bool,
) -> Result<edgeward::ir::Program, Fail> {
    compile_text(path, &read(path)?, catalog, show_warnings)
}

/// Compiles policy text read from anywhere (`path` names it in diagnostics and rule sources).
pub fn compile_text(
    path: &str,
    source: &str,
    catalog: Option<&Catalog>,
    show_warnings: bool,
) -> Result<edgeward::ir::Program, Fail> {
    if catalog.is_none() && policy_names_entities(source) {
        return Err(Fail::Usage(format!(
            "error: `{path}` names catalog entities: pass `--catalog PATH` (a folder of Backstage YAML, a YAML file, or the catalog API's JSON)"
        )));
    }
    let empty;
    let catalog = match catalog {
        Some(c) => c,
        None => {
            empty = Catalog::from_yaml_str("(no catalog)", "")
                .map_err(|e| {
                    Fail::Usage(format!(
                        "internal error: an empty catalog does not load: {e}"
                    ))
                })?
                .catalog;
            &empty
        }
    };
    match edgeward::compile(path, source, Some(catalog)) {
        Ok(c) => {
            if show_warnings && !c.warnings.is_empty() {
                err!("{}", render_policy_diags(path, source, &[], &c.warnings))?;
            }
            Ok(c.program)
        }
        Err(r) => {
            let mut msg = render_policy_diags(path, source, &r.syntax, &r.diagnostics);
            let n = r.syntax.len() + r.diagnostics.iter().filter(|d| d.is_error()).count();
            let _ = write!(
                msg,
                "error: `{path}` has {n} error{}",
                if n == 1 { "" } else { "s" }
            );
            Err(Fail::Check(msg))
        }
    }
}

/// Whether a policy names catalog entities (and so needs `--catalog`): a binding, a route target or an entity ref.
fn policy_names_entities(source: &str) -> bool {
    use edgeward::syntax::ast::{Expr, ExprKind, Item};
    fn expr(e: &Expr) -> bool {
        match &e.kind {
            ExprKind::EntityRef(_) => true,
            ExprKind::List(items) => items.iter().any(expr),
            ExprKind::Call(_, args) => args.iter().any(expr),
            ExprKind::Binary(_, a, b) | ExprKind::And(a, b) | ExprKind::Or(a, b) => {
                expr(a) || expr(b)
            }
            ExprKind::Has(a, _) | ExprKind::Not(a) | ExprKind::Paren(a) => expr(a),
            _ => false,
        }
    }
    let rule = |r: &edgeward::syntax::ast::Rule| r.cond.as_ref().is_some_and(expr);
    let route = |r: &edgeward::syntax::ast::Route| r.target.is_some() || r.rules.iter().any(rule);
    let (file, _) = edgeward::syntax::parse(source);
    file.items.iter().any(|i| match i {
        Item::Principal(_) | Item::Service(_) => true,
        Item::Role(r) => expr(&r.body),
        Item::Deny(r) => rule(r),
        Item::Route(r) => route(r),
        Item::Host(h) => h.routes.iter().any(route),
        _ => false,
    })
}
