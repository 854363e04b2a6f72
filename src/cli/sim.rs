//! `simulate` and `whatif`: replaying recorded traffic against a policy, or against two to compare them.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use edgeward::catalog::Catalog;
use edgeward::jwt::{Jwks, Profile, Verifier};
use edgeward::sim::engine::{Engine, Interpreter, Module, Policy};
use edgeward::sim::replay::{ReplayError, Side};
use edgeward::sim::report;
use edgeward::sim::simulate::{LineResult, simulate};
use edgeward::sim::whatif::{FailOn, whatif};

use super::front::TextOrJson;
use super::{Fail, Res, load_catalog, read};

#[derive(Args)]
pub struct SimulateArgs {
    /// The policy file (`.ward`), or a compiled module (`.wasm`)
    pub policy: String,
    /// Recorded requests, JSON Lines (`-`: standard input): {"time", "method", "url", "jwt" | "headers", "ip"?, "country"?}; a line over 1 MiB is counted unreadable
    #[arg(long)]
    pub traffic: String,
    /// The JWKS that signs the recorded tokens (Cloudflare's `/cdn-cgi/access/certs` as is)
    #[arg(long)]
    pub jwks: String,
    /// The Backstage catalog (needed when the policy names entities)
    #[arg(long)]
    pub catalog: Option<String>,
    /// The audience every token must carry
    #[arg(long)]
    pub aud: Option<String>,
    /// The issuer every token must name
    #[arg(long)]
    pub iss: Option<String>,
    /// Also decide every request on the interpreter; exit 1 at the first disagreement
    #[arg(long)]
    pub cross_check: bool,
    /// A readable table, or the report as JSON (DESIGN §5)
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextOrJson,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FailOnArg {
    Any,
    DenyToAllow,
    AllowToDeny,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum WhatifFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Args)]
pub struct WhatifArgs {
    /// The policy before the change: a file, a module (`.wasm`), or `git:REV:PATH`
    #[arg(long)]
    pub base: String,
    /// The policy after the change: a file or a module (`.wasm`)
    #[arg(long)]
    pub head: String,
    /// Recorded requests, JSON Lines (`-`: standard input)
    #[arg(long)]
    pub traffic: String,
    /// The JWKS that signs the recorded tokens
    #[arg(long)]
    pub jwks: String,
    /// The Backstage catalog (needed when a policy names entities)
    #[arg(long)]
    pub catalog: Option<String>,
    /// The audience every token must carry
    #[arg(long)]
    pub aud: Option<String>,
    /// The issuer every token must name
    #[arg(long)]
    pub iss: Option<String>,
    /// Exit 1 when a request changes decision this way (a rule move alone never fails)
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOnArg>,
    /// A readable table, the report as JSON (DESIGN §5), or Markdown for a pull-request comment
    #[arg(long, value_enum, default_value = "text")]
    pub format: WhatifFormat,
}

/// A policy ready to replay: its view, its engine, and its program when it came from source.
struct Loaded {
    policy: Policy,
    engine: Box<dyn Engine>,
    program: Option<edgeward::ir::Program>,
}

/// `git:REV:PATH` → the file's text at that revision, with PATH.
fn git_show(spec: &str) -> Result<Option<(String, String)>, Fail> {
    let Some(rest) = spec.strip_prefix("git:") else {
        return Ok(None);
    };
    let not_a_spec = || {
        Fail::Usage(format!(
            "error: `{spec}` is not `git:REV:PATH` (e.g. `git:main:policy.ward`)"
        ))
    };
    let (rev, path) = rest.split_once(':').ok_or_else(not_a_spec)?;
    // A revision never starts with `-`: git would take it for one of its options.
    if rev.is_empty() || rev.starts_with('-') || path.is_empty() {
        return Err(not_a_spec());
    }
    let object = format!("{rev}:{path}");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .output()
            .map_err(|e| Fail::Usage(format!("error: cannot run git: {e}")))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(Fail::Usage(format!(
                "error: `git {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    };
    // Only a file will do: `git show` of a folder lists it, which is no policy.
    let kind = git(&["cat-file", "-t", &object])?;
    if kind.trim_ascii() != b"blob" {
        return Err(Fail::Usage(format!(
            "error: `{path}` at `{rev}` is a {}, not a file",
            String::from_utf8_lossy(kind.trim_ascii())
        )));
    }
    let out = git(&["show", &object])?;
    let text =
        String::from_utf8(out).map_err(|_| Fail::Usage(format!("error: `{spec}` is not UTF-8")))?;
    Ok(Some((path.to_string(), edgeward::input::without_bom(text))))
}

/// Loads a policy source (a file or `git:REV:PATH`), compiled to a module on the fly, or a module.
fn load(spec: &str, catalog: Option<&Catalog>) -> Result<Loaded, Fail> {
    if edgeward::wasm::is_module_path(spec) {
        let bytes = std::fs::read(spec)
            .map_err(|e| Fail::Usage(format!("error: cannot read `{spec}`: {e}")))?;
        let module = Module::from_bytes(&bytes)
            .map_err(|e| Fail::Usage(format!("error: `{spec}` cannot be used: {e}")))?;
        let policy = module
            .policy()
            .map_err(|e| Fail::Usage(format!("error: `{spec}` cannot be used: {e}")))?;
        return Ok(Loaded {
            policy,
            engine: Box::new(module),
            program: None,
        });
    }
    let program = match git_show(spec)? {
        Some((path, source)) => super::compile_text(&path, &source, catalog, false)?,
        None => super::compile(spec, catalog, false)?,
    };
    let internal = |e: String| Fail::Usage(format!("internal error: `{spec}` checked but {e}"));
    let bytes = edgeward::wasm::compile(&program)
        .map_err(|e| internal(format!("its module was not generated: {e}")))?;
    let module = Module::from_generated(&bytes)
        .map_err(|e| internal(format!("its module does not load: {e}")))?;
    Ok(Loaded {
        policy: Policy::of_program(&program),
        engine: Box::new(module),
        program: Some(program),
    })
}

/// Reads the byte count into a progress bar drawn on stderr only when it is a terminal.
struct Progress<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// The traffic input: the file at `path`, or standard input for `-`.
type TrafficInput = BufReader<Progress<Box<dyn Read + Send>>>;

fn open_traffic(path: &str) -> Result<(TrafficInput, ProgressBar), Fail> {
    let (input, len): (Box<dyn Read + Send>, Option<u64>) = if path == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let file = File::open(path)
            .map_err(|e| Fail::Usage(format!("error: cannot open `{path}`: {e}")))?;
        let len = file.metadata().ok().map(|m| m.len());
        (Box::new(file), len)
    };
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
        let template = match len {
            Some(_) => {
                "{spinner} replaying {bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})"
            }
            None => "{spinner} replaying {bytes} ({bytes_per_sec})",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    Ok((
        BufReader::with_capacity(
            1 << 16,
            Progress {
                inner: input,
                bar: bar.clone(),
            },
        ),
        bar,
    ))
}

fn load_jwks(path: &str) -> Result<Jwks, Fail> {
    let text = read(path)?;
    Jwks::parse(&text).map_err(|e| {
        Fail::Usage(format!(
            "{}error: the JWKS `{path}` cannot be used",
            super::render(&e)
        ))
    })
}

fn replay_failed(e: ReplayError) -> Fail {
    Fail::Usage(format!("error: {e}"))
}

/// Per-line entries of `simulate --format json`, kept in a temporary file so memory stays bounded.
struct Spill {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    count: u64,
    error: Option<std::io::Error>,
}

impl Spill {
    fn new() -> Result<Spill, Fail> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "edgeward-lines-{}-{nanos}.jsonl",
            std::process::id()
        ));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Fail::Usage(format!("error: cannot write `{}`: {e}", path.display())))?;
        Ok(Spill {
            path,
            out: Some(BufWriter::new(file)),
            count: 0,
            error: None,
        })
    }

    fn push(&mut self, entry: &impl serde::Serialize) {
        let (Some(out), None) = (self.out.as_mut(), self.error.as_ref()) else {
            return;
        };
        let sep = if self.count == 0 { "\n" } else { ",\n" };
        let written = out
            .write_all(sep.as_bytes())
            .and_then(|()| serde_json::to_writer(&mut *out, entry).map_err(std::io::Error::other));
        if let Err(e) = written {
            self.error = Some(e);
        }
        self.count += 1;
    }

    /// Copies the entries to `to`.
    fn copy_to(&mut self, to: &mut dyn Write) -> std::io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if let Some(mut out) = self.out.take() {
            out.flush()?;
        }
        let mut file = BufReader::new(File::open(&self.path)?);
        std::io::copy(&mut file, to)?;
        Ok(())
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        self.out = None;
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `edgeward simulate`: replays traffic against one policy or module and reports the decisions.
pub fn simulate_cmd(a: SimulateArgs) -> Res {
    if a.cross_check && edgeward::wasm::is_module_path(&a.policy) {
        return Err(Fail::Usage(
            "error: `--cross-check` compares the module with the interpreter, so it needs a policy source, not a `.wasm` module".into(),
        ));
    }
    let jwks = load_jwks(&a.jwks)?;
    let catalog = load_catalog(a.catalog.as_deref(), false)?;
    let loaded = load(&a.policy, catalog.as_ref().map(|l| &l.catalog))?;
    let cross: Option<Box<dyn Engine>> = match (&loaded.program, a.cross_check) {
        (Some(p), true) => Some(Box::new(Interpreter { program: p.clone() })),
        _ => None,
    };
    let verifier = Verifier::new(
        jwks,
        Profile {
            aud: a.aud.clone(),
            iss: a.iss.clone(),
        },
        loaded.policy.claims.clone(),
    );
    let side = Side {
        verifier: &verifier,
        engine: loaded.engine.as_ref(),
    };
    let (input, bar) = open_traffic(&a.traffic)?;
    let mut spill = match a.format {
        TextOrJson::Json => Some(Spill::new()?),
        TextOrJson::Text => None,
    };
    let rules = &loaded.policy.rules;
    let simulated = simulate(input, &side, &loaded.policy, cross.as_deref(), |line| {
        let Some(spill) = spill.as_mut() else { return };
        match line {
            LineResult::Decided(line, d) => {
                let v = d.verdict(rules);
                spill.push(&DecidedLine {
                    line,
                    decision: v.decision,
                    outcome: &v.outcome,
                    rule: v.rule.as_deref(),
                });
            }
            LineResult::Unreadable(u) => spill.push(&UnreadableLine {
                line: u.line,
                unreadable: &u.error,
            }),
        }
    });
    bar.finish_and_clear();
    let simulated = simulated.map_err(replay_failed)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let written = match spill.as_mut() {
        Some(spill) => write_json_with_lines(&mut out, &simulated.report, spill),
        None => out.write_all(report::simulate_text(&simulated.report).as_bytes()),
    };
    written
        .and_then(|()| out.flush())
        .map_err(super::output_failed)?;
    if let Some(d) = simulated.disagreement {
        return Err(Fail::Check(format!(
            "error: --cross-check: line {} is `{}` on the module but `{}` on the interpreter",
            d.line,
            report::verdict_short(&d.main),
            report::verdict_short(&d.other)
        )));
    }
    Ok(ExitCode::SUCCESS)
}

/// A decided line of `simulate --format json`'s `lines`, members in §5's order.
#[derive(serde::Serialize)]
struct DecidedLine<'a> {
    line: u64,
    decision: &'a str,
    outcome: &'a str,
    rule: Option<&'a str>,
}

/// An unreadable line of `lines`.
#[derive(serde::Serialize)]
struct UnreadableLine<'a> {
    line: u64,
    unreadable: &'a str,
}

/// The §5 object with a `lines` member holding one entry per input line.
fn write_json_with_lines(
    out: &mut dyn Write,
    r: &edgeward::sim::simulate::SimulateReport,
    spill: &mut Spill,
) -> std::io::Result<()> {
    let head = serde_json::to_string(r).map_err(std::io::Error::other)?;
    let head = head.strip_suffix('}').unwrap_or(&head);
    write!(out, "{head},\"lines\":[")?;
    spill.copy_to(out)?;
    writeln!(out, "\n]}}")
}

/// `edgeward whatif`: replays traffic against two policies and reports what changes.
pub fn whatif_cmd(a: WhatifArgs) -> Res {
    let jwks = load_jwks(&a.jwks)?;
    let catalog = load_catalog(a.catalog.as_deref(), false)?;
    let catalog = catalog.as_ref().map(|l| &l.catalog);
    let base = load(&a.base, catalog)?;
    let head = load(&a.head, catalog)?;
    let profile = Profile {
        aud: a.aud.clone(),
        iss: a.iss.clone(),
    };
    let base_verifier = Verifier::new(jwks.clone(), profile.clone(), base.policy.claims.clone());
    // With one claims schema, one verifier: each token's signature is then checked once, not per side.
    let head_own = (head.policy.claims != base.policy.claims)
        .then(|| Verifier::new(jwks, profile, head.policy.claims.clone()));
    let head_verifier = head_own.as_ref().unwrap_or(&base_verifier);
    let base_side = Side {
        verifier: &base_verifier,
        engine: base.engine.as_ref(),
    };
    let head_side = Side {
        verifier: head_verifier,
        engine: head.engine.as_ref(),
    };
    let (input, bar) = open_traffic(&a.traffic)?;
    let r = whatif(
        input,
        (&base_side, &base.policy),
        (&head_side, &head.policy),
    );
    bar.finish_and_clear();
    let r = r.map_err(replay_failed)?;
    let text = match a.format {
        WhatifFormat::Json => {
            let mut s = serde_json::to_string_pretty(&r)
                .map_err(|e| Fail::Usage(format!("internal error: {e}")))?;
            s.push('\n');
            s
        }
        WhatifFormat::Text => report::whatif_text(&r),
        WhatifFormat::Markdown => report::whatif_markdown(&r, &a.base, &a.head),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(super::output_failed)?;
    let fail_on = a.fail_on.map(|f| match f {
        FailOnArg::Any => FailOn::Any,
        FailOnArg::DenyToAllow => FailOn::DenyToAllow,
        FailOnArg::AllowToDeny => FailOn::AllowToDeny,
    });
    if let Some(f) = fail_on
        && r.fails(f)
    {
        return Err(Fail::Check(format!(
            "error: {} request{} change decision ({} allow -> deny, {} deny -> allow)",
            r.changed,
            if r.changed == 1 { "" } else { "s" },
            r.allow_to_deny,
            r.deny_to_allow
        )));
    }
    Ok(ExitCode::SUCCESS)
}
