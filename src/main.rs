//! The `edgeward` command line: argument parsing and dispatch; each verb lives in `cli/`.

mod cli;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Policy-as-code for the edge: check, compile, test, simulate and diff policies keyed to Backstage.
#[derive(Parser)]
#[command(
    name = "edgeward",
    version,
    about,
    long_about = None,
    propagate_version = true,
    help_expected = true
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Type-check a policy against the claims schema and the catalog
    Check(cli::front::CheckArgs),
    /// Format policy files (or check that they are formatted)
    Fmt(cli::front::FmtArgs),
    /// Show what edgeward understood of a Backstage catalog
    Catalog(cli::front::CatalogArgs),
    /// Run the bundled acme example end to end: check, test, build, simulate, what-if
    Demo(cli::demo::DemoArgs),
    /// Compile a policy to a WebAssembly module, its manifest and a Cloudflare Worker
    Build(cli::build::BuildArgs),
    /// Decide one request on the interpreter (a policy) or on a module (`.wasm`)
    Eval(cli::run::EvalArgs),
    /// Run a policy's `test` blocks on the interpreter and on the compiled module
    Test(cli::run::TestArgs),
    /// Replay recorded requests (with their JWTs) against a policy or module and count the decisions
    Simulate(cli::sim::SimulateArgs),
    /// Replay recorded requests against two policies and list the requests whose decision changes
    Whatif(cli::sim::WhatifArgs),
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        // Help, the version, or bad usage (2); the reader of help that went away, as every verb.
        Err(e) => {
            return match e.print() {
                Err(p) if p.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(141),
                _ => ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2)),
            };
        }
    };
    let result = match args.command {
        Command::Check(a) => cli::front::check(a),
        Command::Fmt(a) => cli::front::fmt(a),
        Command::Catalog(a) => cli::front::catalog(a),
        Command::Build(a) => cli::build::build(a),
        Command::Demo(a) => cli::demo::demo(a),
        Command::Eval(a) => cli::run::eval(a),
        Command::Test(a) => cli::run::test(a),
        Command::Simulate(a) => cli::sim::simulate_cmd(a),
        Command::Whatif(a) => cli::sim::whatif_cmd(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let message = e.render();
            if !message.is_empty() {
                // Nothing more can be said when standard error is closed too.
                let _ = writeln!(std::io::stderr().lock(), "{message}");
            }
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every verb and every argument says what it is for (`help_expected`), and clap's own
    /// consistency checks hold.
    #[test]
    fn every_argument_has_help() {
        super::Args::command().debug_assert();
    }
}
