//! `check`, `fmt` and `catalog`: the front end's verbs.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::json;

use super::{Fail, Res, load_catalog, read, render, render_policy_diags};

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum CheckFormat {
    Human,
    Json,
}

#[derive(Args)]
pub struct CheckArgs {
    /// The policy file (`.ward`)
    pub policy: String,
    /// The Backstage catalog: a folder of YAML files, one YAML file, or the catalog API's JSON
    #[arg(long)]
    pub catalog: Option<String>,
    /// How to print the diagnostics: for people, or as JSON
    #[arg(long, value_enum, default_value = "human")]
    pub format: CheckFormat,
}

/// `edgeward check`: every problem of a policy, errors and warnings; exit 1 on any error.
pub fn check(a: CheckArgs) -> Res {
    let source = read(&a.policy)?;
    let loaded = match (a.format, a.catalog.as_deref()) {
        // JSON readers get the catalog's errors as JSON too, not as a report on stderr.
        (CheckFormat::Json, Some(path)) => {
            super::catalog_opens(path)?;
            match edgeward::catalog::Catalog::load(std::path::Path::new(path)) {
                Ok(l) => Some(l),
                Err(e) => {
                    let items: Vec<serde_json::Value> = e
                        .all()
                        .into_iter()
                        .map(|e| {
                            let (file, line, entity) = e.site().unwrap_or((path, 0, None));
                            catalog_json(
                                &e.code_str(),
                                "error",
                                &e.to_string(),
                                (file, line, entity),
                            )
                        })
                        .collect();
                    let out = json!({"policy": a.policy, "ok": false, "errors": items.len(),
                                     "warnings": 0, "diagnostics": items});
                    outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default())?;
                    return Ok(ExitCode::from(1));
                }
            }
        }
        _ => load_catalog(a.catalog.as_deref(), a.format == CheckFormat::Human)?,
    };
    let catalog = loaded.as_ref().map(|l| &l.catalog);
    let r = edgeward::check_source(&a.policy, &source, catalog);
    let errors = r.syntax.len() + r.diagnostics.iter().filter(|d| d.is_error()).count();
    // The catalog's warnings count too, in both formats.
    let catalog_warnings = loaded.as_ref().map_or(&[][..], |l| &l.warnings[..]);
    let warnings = r.diagnostics.len() + r.syntax.len() - errors + catalog_warnings.len();
    match a.format {
        CheckFormat::Human => {
            err!(
                "{}",
                render_policy_diags(&a.policy, &source, &r.syntax, &r.diagnostics)
            )?;
            if errors == 0 {
                outln!(
                    "{}: ok{}",
                    a.policy,
                    if warnings > 0 {
                        format!(
                            " ({warnings} warning{})",
                            if warnings == 1 { "" } else { "s" }
                        )
                    } else {
                        String::new()
                    }
                )?;
            } else {
                errln!(
                    "error: `{}` has {errors} error{}",
                    a.policy,
                    if errors == 1 { "" } else { "s" }
                )?;
            }
        }
        CheckFormat::Json => {
            let mut items = Vec::new();
            for e in &r.syntax {
                items.push(diag_json(
                    &source,
                    &a.policy,
                    e.kind.code(),
                    "error",
                    &e.message,
                    e.span,
                    &e.label,
                    e.help.as_deref(),
                ));
            }
            for d in &r.diagnostics {
                let sev = if d.is_error() { "error" } else { "warning" };
                items.push(diag_json(
                    &source,
                    &a.policy,
                    d.code,
                    sev,
                    &d.message,
                    d.span,
                    &d.label,
                    d.help.as_deref(),
                ));
            }
            for w in catalog_warnings {
                items.push(catalog_json(
                    &w.code_str(),
                    "warning",
                    &w.to_string(),
                    w.site(),
                ));
            }
            let out = json!({"policy": a.policy, "ok": errors == 0, "errors": errors, "warnings": warnings, "diagnostics": items});
            outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default())?;
        }
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A catalog diagnostic in `check --format json`: where it is, by file, line and entity.
fn catalog_json(
    code: &str,
    severity: &str,
    message: &str,
    (file, line, entity): (&str, usize, Option<&str>),
) -> serde_json::Value {
    json!({
        "code": code, "severity": severity, "message": message, "file": file,
        "line": (line > 0).then_some(line), "entity": entity,
    })
}

#[allow(clippy::too_many_arguments)]
fn diag_json(
    source: &str,
    file: &str,
    code: &str,
    severity: &str,
    message: &str,
    span: edgeward::syntax::ast::Span,
    label: &str,
    help: Option<&str>,
) -> serde_json::Value {
    let (line, column) = edgeward::check::line_col(source, span.start);
    let (end_line, end_column) = edgeward::check::line_col(source, span.end);
    json!({
        "code": code, "severity": severity, "message": message, "file": file,
        "line": line, "column": column, "end_line": end_line, "end_column": end_column,
        "text": source.get(span.start..span.end).unwrap_or_default(),
        "label": label, "help": help,
    })
}

#[derive(Args)]
pub struct FmtArgs {
    /// Only check that the files are formatted; exit 1 naming those that are not
    #[arg(long)]
    pub check: bool,
    /// The policy files
    #[arg(required = true)]
    pub files: Vec<String>,
}

/// `edgeward fmt`: rewrites files in the canonical layout.
pub fn fmt(a: FmtArgs) -> Res {
    let mut unformatted = Vec::new();
    for path in &a.files {
        let source = read(path)?;
        let (file, errors) = edgeward::syntax::parse(&source);
        if !errors.is_empty() {
            return Err(Fail::Check(format!(
                "{}error: `{path}` does not parse, so it was not formatted",
                render_policy_diags(path, &source, &errors, &[])
            )));
        }
        let formatted = edgeward::syntax::format(&file, &source);
        if formatted != source {
            if a.check {
                unformatted.push(path.clone());
            } else {
                std::fs::write(path, formatted)
                    .map_err(|e| Fail::Usage(format!("error: cannot write `{path}`: {e}")))?;
                outln!("formatted {path}")?;
            }
        }
    }
    if unformatted.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &unformatted {
            outln!("{p}: not formatted (run `edgeward fmt {p}`)")?;
        }
        Ok(ExitCode::from(1))
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum TextOrJson {
    Text,
    Json,
}

#[derive(Args)]
pub struct CatalogArgs {
    /// A folder of Backstage YAML files, one YAML file, or the catalog API's JSON
    pub path: String,
    /// A readable summary, or the same summary as JSON
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextOrJson,
}

/// `edgeward catalog`: what edgeward understood of a catalog.
pub fn catalog(a: CatalogArgs) -> Res {
    super::catalog_opens(&a.path)?;
    let loaded = match edgeward::catalog::Catalog::load(std::path::Path::new(&a.path)) {
        Ok(l) => l,
        Err(e) => {
            return Err(Fail::Check(format!(
                "{}error: the catalog `{}` cannot be used",
                render(&e),
                a.path
            )));
        }
    };
    let summary = edgeward::catalog::summary(&loaded);
    match a.format {
        TextOrJson::Text => {
            for w in &loaded.warnings {
                err!("{}", render(w))?;
            }
            out!("{}", edgeward::catalog::render_text(&summary))?;
        }
        TextOrJson::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&summary).unwrap_or_default()
        )?,
    }
    Ok(ExitCode::SUCCESS)
}
