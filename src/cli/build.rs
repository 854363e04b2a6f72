//! `build`: the module, its manifest, the Worker and its `wrangler.toml`; or the IR / WAT on stdout.

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use edgeward::wasm::Manifest;
use edgeward::wasm::manifest::size_without_manifest;
use edgeward::worker;

use super::{Fail, Res, compile, load_catalog};

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Emit {
    /// The optimised IR as text
    Ir,
    /// The module's text form
    Wat,
}

#[derive(Args)]
pub struct BuildArgs {
    /// The policy file (`.ward`)
    pub policy: String,
    /// The Backstage catalog (needed when the policy names entities)
    #[arg(long)]
    pub catalog: Option<String>,
    /// Where to write policy.wasm, manifest.json, worker.js and wrangler.toml
    #[arg(long)]
    pub out: Option<String>,
    /// Fail (exit 1) when the module file is larger than this many bytes
    #[arg(long, value_name = "BYTES")]
    pub max_size: Option<usize>,
    /// Print the optimised IR or the module's text form to stdout
    #[arg(long, value_enum)]
    pub emit: Option<Emit>,
}

/// Compiles a program to module bytes; a failure here is a bug, and says so.
pub fn module_bytes(program: &edgeward::ir::Program) -> Result<Vec<u8>, Fail> {
    edgeward::wasm::compile(program).map_err(|e| {
        Fail::Check(format!(
            "internal error: {e} (please report this: a checked policy must compile)"
        ))
    })
}

/// `edgeward build`.
pub fn build(a: BuildArgs) -> Res {
    if a.out.is_none() && a.emit.is_none() {
        return Err(Fail::Usage(
            "error: `build` needs `--out DIR` (or `--emit ir|wat` to print instead)".into(),
        ));
    }
    let loaded = load_catalog(a.catalog.as_deref(), a.emit.is_none())?;
    let program = compile(
        &a.policy,
        loaded.as_ref().map(|l| &l.catalog),
        a.emit.is_none(),
    )?;
    let bytes = module_bytes(&program)?;
    let whole = bytes.len();
    let bare = size_without_manifest(&bytes).unwrap_or(whole);
    if let Some(max) = a.max_size
        && whole > max
    {
        return Err(Fail::Check(format!(
            "error: the module is {whole} bytes, over `--max-size {max}` ({bare} bytes without the manifest section)"
        )));
    }
    // The files are written before anything is printed, so that a reader of the printed form
    // that stops early (`| head`) does not stop the build.
    let emitted = match a.emit {
        Some(Emit::Ir) => Some(edgeward::ir::text::render(&program)),
        Some(Emit::Wat) => Some(
            edgeward::wasm::to_wat(&bytes)
                .map_err(|e| Fail::Check(format!("internal error: {e}")))?,
        ),
        None => None,
    };
    if let Some(out) = &a.out {
        let dir = Path::new(out);
        std::fs::create_dir_all(dir)
            .map_err(|e| Fail::Usage(format!("error: cannot create `{out}`: {e}")))?;
        let manifest = Manifest::from_program(&program);
        let vars = worker::WorkerVars::default();
        let files: [(&str, Vec<u8>); 4] = [
            (worker::MODULE_FILE, bytes),
            (
                worker::MANIFEST_FILE,
                (manifest.to_json() + "\n").into_bytes(),
            ),
            (worker::WORKER_FILE, worker::worker_js().as_bytes().to_vec()),
            (
                worker::WRANGLER_FILE,
                worker::wrangler_toml(&program.name, &vars).into_bytes(),
            ),
        ];
        for (name, content) in &files {
            let path = dir.join(name);
            std::fs::write(&path, content).map_err(|e| {
                Fail::Usage(format!("error: cannot write `{}`: {e}", path.display()))
            })?;
        }
        let msg = format!(
            "built {out}/{}: {whole} bytes ({bare} without the manifest section), {} routes, {} rules; wrote manifest.json, worker.js, wrangler.toml",
            worker::MODULE_FILE,
            program.routes.len(),
            program.rules.len()
        );
        if a.emit.is_some() {
            errln!("{msg}")?
        } else {
            outln!("{msg}")?
        }
    }
    if let Some(text) = emitted {
        out!("{text}")?;
    }
    Ok(ExitCode::SUCCESS)
}
