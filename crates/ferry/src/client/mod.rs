//! The client commands: `ferry ls`, `get`, `put`, `mirror` and `shell`, on top of the
//! `ferry-client` library.
//!
//! Layout:
//! - [`args`]: clap syntax of the client commands (connection flags shared by all);
//! - [`url`]: `ftp://` / `ftps://` URLs (percent-decoding, IPv6, redacted display);
//! - [`netrc`]: `.netrc` parsing;
//! - [`session`]: credentials (URL, `-u`, netrc, prompt, anonymous), TLS settings,
//!   connecting with retries;
//! - [`exit`]: the curl-like exit codes (one table for `--help` and the code);
//! - [`progress`]: progress bars on a terminal, silence in scripts;
//! - [`transfer`]: downloads and uploads (resume, retries, segments, hashes, parallel
//!   pool);
//! - [`commands`]: `ls`, `get`, `put`; [`mirror`]: planning and running mirrors;
//! - [`shell`]: the interactive shell;
//! - [`glob`]: globs matched against listings; [`throttle`]: `--limit-rate`.

pub mod args;
pub mod commands;
pub mod exit;
pub mod glob;
pub mod mirror;
pub mod netrc;
pub mod progress;
pub mod session;
pub mod shell;
pub mod throttle;
pub mod transfer;
pub mod url;

use anyhow::Context;

/// A client subcommand, ready to run.
#[derive(Debug)]
pub enum ClientCommand<'a> {
    /// `ferry ls`.
    Ls(&'a args::LsArgs),
    /// `ferry get`.
    Get(&'a args::GetArgs),
    /// `ferry put`.
    Put(&'a args::PutArgs),
    /// `ferry mirror`.
    Mirror(&'a args::MirrorArgs),
    /// `ferry shell`.
    Shell(&'a args::ShellArgs),
}

/// Runs a client command on its own runtime. Warnings (e.g. trust on first use) go to
/// standard error through `tracing` (`RUST_LOG` overrides the default `warn`).
pub fn run(command: ClientCommand<'_>) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(async {
        match command {
            ClientCommand::Ls(a) => commands::ls(a).await,
            ClientCommand::Get(a) => commands::get(a).await,
            ClientCommand::Put(a) => commands::put(a).await,
            ClientCommand::Mirror(a) => mirror::run(a).await,
            ClientCommand::Shell(a) => shell::run(a).await,
        }
    });
    // Do not wait for the stdin reader thread of the shell (blocked in a read).
    runtime.shutdown_background();
    result
}
