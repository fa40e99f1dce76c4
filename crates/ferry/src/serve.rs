//! `ferry serve`: validated settings -> [`ServerConfig`] -> bound [`Server`] -> run until a
//! signal.
//!
//! Signals: the first SIGINT or SIGTERM stops accepting connections and lets running
//! transfers finish for up to the shutdown grace; the process then exits with code 0. A
//! second signal exits at once (code 130 for SIGINT, 143 for SIGTERM).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use ferry_server::{Server, ServerConfig};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tracing::{info, warn};

use crate::cli::ServeArgs;
use crate::config::{self, ServeSettings};
use crate::logging;
use ferry_storage::local::LocalFsFactory;
use ferry_storage::users::{AnonymousMode, UserDb};

/// What the start-up banner tells besides the addresses.
struct Banner {
    root: PathBuf,
    anonymous: AnonymousMode,
    user_names: Vec<String>,
}

/// Runs `ferry serve` to the end.
pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let settings = config::load(args, std::env::var("RUST_LOG").ok())?;
    logging::init(&settings.log)?;
    let banner = Banner {
        root: settings.root.clone(),
        anonymous: settings.anonymous,
        user_names: settings.user_names().map(str::to_string).collect(),
    };
    // Builds the account database here, before the runtime: hashing the command-line
    // passwords is slow on purpose.
    let server_config = server_config(settings)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(server_config, banner))
}

/// The server configuration for validated settings.
fn server_config(settings: ServeSettings) -> anyhow::Result<ServerConfig> {
    let ServeSettings {
        listen,
        root,
        users,
        users_file,
        anonymous,
        passive_ports,
        public_host,
        log: _,
        idle_timeout,
        data_timeout,
        shutdown_grace,
        greeting,
    } = settings;
    let mut db = UserDb::new(root, anonymous);
    for user in &users {
        db.add_user(&user.name, &user.password, None, user.access)
            .with_context(|| format!("cannot add user `{}`", user.name))?;
    }
    if let Some((path, file)) = users_file {
        db.add_users_file(file)
            .with_context(|| format!("cannot use the users of {}", path.display()))?;
    }
    let mut config = ServerConfig::new(Arc::new(db), Arc::new(LocalFsFactory::new()));
    config.listen = listen;
    config.passive_ports = passive_ports;
    config.public_host = public_host;
    if let Some(greeting) = greeting {
        config.greeting = greeting;
    }
    if let Some(t) = idle_timeout {
        config.idle_timeout = t;
    }
    if let Some(t) = data_timeout {
        config.data_timeout = t;
    }
    if let Some(t) = shutdown_grace {
        config.shutdown_grace = t;
    }
    Ok(config)
}

async fn serve(config: ServerConfig, banner: Banner) -> anyhow::Result<()> {
    // Install the handlers before announcing the addresses, so that a signal sent as soon
    // as the banner is read is already ours.
    let mut signals = Signals::install().context("cannot install signal handlers")?;
    let grace = config.shutdown_grace;
    let server = Server::bind(config).await?;
    let addrs = server.local_addrs();
    print_banner(&addrs, &banner);
    info!(addresses = ?addrs, root = %banner.root.display(), anonymous = %banner.anonymous, "server started");

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let watcher = tokio::spawn(async move {
        let first = signals.next().await;
        info!(
            signal = first.name(),
            grace_secs = grace.as_secs(),
            "shutting down: no new connections, running transfers may finish; \
             send the signal again to stop at once"
        );
        let _ = stop_tx.send(());
        let second = signals.next().await;
        warn!(signal = second.name(), "second signal: exiting at once");
        std::process::exit(second.exit_code());
    });
    let shutdown = async move {
        if stop_rx.await.is_err() {
            // The watcher is gone without a signal: never stop on our own.
            std::future::pending::<()>().await;
        }
    };
    let result = server.run(shutdown).await;
    watcher.abort();
    result?;
    info!("server stopped");
    Ok(())
}

/// Prints, flushed, one `listening on` line per address (tests and scripts parse it: keep
/// it stable), how to connect, and the root and anonymous mode in force.
fn print_banner(addrs: &[SocketAddr], banner: &Banner) {
    let mut text = String::new();
    for addr in addrs {
        text.push_str(&format!("Ferry FTP server listening on {addr}\n"));
        if banner.anonymous != AnonymousMode::Off {
            text.push_str(&format!("  connect with: curl ftp://{addr}/\n"));
        }
        if let Some(user) = banner.user_names.first() {
            text.push_str(&format!("  connect with: curl -u {user} ftp://{addr}/\n"));
        }
    }
    text.push_str(&format!("Root directory: {}\n", banner.root.display()));
    let anonymous = match banner.anonymous {
        AnonymousMode::Off => "off",
        AnonymousMode::ReadOnly => "ro (read-only)",
        AnonymousMode::ReadWrite => "rw (read-write)",
    };
    text.push_str(&format!("Anonymous access: {anonymous}\n"));
    text.push_str(&format!("Accounts: {}\n", banner.user_names.len()));
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        warn!(error = %e, "cannot write the start-up banner to standard output");
    }
}

/// The signals that stop the server.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

/// Which signal arrived.
#[derive(Debug, Clone, Copy)]
enum StopSignal {
    Interrupt,
    Terminate,
}

impl StopSignal {
    fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        }
    }

    /// 128 + the signal number, as shells report a process killed by it.
    fn exit_code(self) -> i32 {
        match self {
            StopSignal::Interrupt => 130,
            StopSignal::Terminate => 143,
        }
    }
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// The next signal. (`recv` only returns `None` once the runtime is shutting down.)
    async fn next(&mut self) -> StopSignal {
        tokio::select! {
            _ = self.interrupt.recv() => StopSignal::Interrupt,
            _ = self.terminate.recv() => StopSignal::Terminate,
        }
    }
}
