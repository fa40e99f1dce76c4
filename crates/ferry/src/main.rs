//! # `ferry`: the command-line program
//!
//! A thin binary that wires flags to the libraries; errors are printed once, here.
//!
//! Layout:
//! - [`cli`]: clap syntax of every subcommand (values of `serve` stay raw text);
//! - [`config`]: `ferry serve` configuration in two steps, raw (flags and `ferry.toml`,
//!   each value with its origin) then validated, reporting every problem at once;
//! - [`serve`]: builds the `ferry_server::ServerConfig`, binds, prints the
//!   `listening on` lines and the TLS fingerprint, runs until SIGINT/SIGTERM, reloads the
//!   TLS certificate on SIGHUP;
//! - [`user_cmd`]: `ferry user add|passwd|del|list` over a users file;
//! - [`logging`]: the `tracing` subscriber (human or JSON, on standard error);
//! - [`process`]: the privilege drop (`--run-as`), systemd notifications and
//!   `ferry serve --check-config`;
//! - [`client`]: the client commands `ls`, `get`, `put`, `mirror`, `shell` (curl-like exit
//!   codes, listed in their `--help`).
//! - [`analyze`]: `ferry analyze` (capture analysis: table, JSON lines, hex, HTML, TUI; exit
//!   code 3 for a truncated or corrupt capture) and `ferry capture` (live, libpcap).
//!
//! Exit codes: 0 success, 1 runtime error, 2 usage or configuration error; after a second
//! stop signal, 130 (SIGINT) or 143 (SIGTERM).

mod analyze;
mod cli;
mod client;
mod config;
mod logging;
mod process;
mod serve;
mod user_cmd;

use std::fmt;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::config::ConfigErrors;

/// Exit code of a runtime error.
const EXIT_RUNTIME: u8 = 1;
/// Exit code of a usage or configuration error (clap uses it too).
const EXIT_USAGE: u8 = 2;

/// A usage error found after parsing (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(&args),
        Command::User(command) => user_cmd::run(command),
        Command::Ls(args) => client::run(client::ClientCommand::Ls(&args)),
        Command::Get(args) => client::run(client::ClientCommand::Get(&args)),
        Command::Put(args) => client::run(client::ClientCommand::Put(&args)),
        Command::Mirror(args) => client::run(client::ClientCommand::Mirror(&args)),
        Command::Shell(args) => client::run(client::ClientCommand::Shell(&args)),
        Command::Analyze(args) => analyze::run(&args),
        Command::Capture(args) => analyze::live::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ferry: error: {err:#}");
            ExitCode::from(exit_code(&err))
        }
    }
}

/// The client commands' codes (see `client::exit`), else 2 for usage and configuration
/// errors and 1 for everything else.
fn exit_code(err: &anyhow::Error) -> u8 {
    if let Some(code) = analyze::exit_code_of(err) {
        code
    } else if let Some(code) = client::exit::code_of(err) {
        code
    } else if err.downcast_ref::<ConfigErrors>().is_some()
        || err.downcast_ref::<UsageError>().is_some()
    {
        EXIT_USAGE
    } else {
        EXIT_RUNTIME
    }
}
