//! `ferry serve`: validated settings -> [`ServerConfig`] -> bound [`Server`] -> run until a
//! signal.
//!
//! Signals: the first SIGINT or SIGTERM stops accepting connections and lets running
//! transfers finish for up to the shutdown grace; the process then exits with code 0. A
//! second signal exits at once (code 130 for SIGINT, 143 for SIGTERM). SIGHUP reloads what
//! can change while running (see [`Reloader`]: accounts, limits, the TLS certificate, the
//! log files) and never stops the server; a failed reload is logged and the old state stays
//! in force.
//!
//! With TLS on and `SSLKEYLOGFILE` set, TLS secrets are written to that file (for
//! Wireshark); a warning line on standard error says so at start.

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use ferry_server::audit::{AuditLog, XferLog};
use ferry_server::metrics::Metrics;
use ferry_server::tls::TlsContext;
use ferry_server::{Server, ServerConfig, SessionReuse, TlsPolicy};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tracing::{info, warn};

use crate::cli::ServeArgs;
use crate::config::{self, ServeSettings, TlsMode, TlsSettings};
use crate::logging;
use crate::process;
use ferry_server::tls::ClientAuth;
use ferry_storage::local::LocalFsFactory;
use ferry_storage::users::{AnonymousMode, UserDb};

mod caches;
use caches::Caches;

/// Environment variable naming the TLS key log file (the NSS key log format).
const KEYLOG_ENV: &str = "SSLKEYLOGFILE";

/// What the start-up banner tells besides the addresses.
struct Banner {
    root: PathBuf,
    anonymous: AnonymousMode,
    user_names: Vec<String>,
    tls: TlsBanner,
}

/// The FTPS part of the banner.
struct TlsBanner {
    mode: TlsMode,
    mode_is_default: bool,
    policy: TlsPolicy,
    session_reuse: SessionReuse,
    client_auth: ClientAuth,
    /// Fingerprint and where the certificate comes from, when TLS is on.
    cert: Option<CertBanner>,
}

struct CertBanner {
    fingerprint: String,
    /// "self-signed, generated in DIR", "self-signed, from DIR" or "from FILE".
    source: String,
    self_signed: bool,
}

impl TlsBanner {
    fn new(settings: &TlsSettings, context: Option<&TlsContext>) -> TlsBanner {
        let cert = settings
            .material
            .as_ref()
            .zip(context)
            .map(|(material, ctx)| {
                let source = match (ctx.generated_at(), material.self_signed_dir()) {
                    (Some(at), _) => {
                        // The server names the certificate file; say the directory.
                        let dir = match at.parent() {
                            Some(parent) if at.is_file() => parent.to_path_buf(),
                            _ => at,
                        };
                        format!("self-signed, generated in {}", dir.display())
                    }
                    (None, Some(dir)) => format!("self-signed, from {}", dir.display()),
                    (None, None) => match material.cert_file() {
                        Some(file) => format!("from {}", file.display()),
                        None => "loaded".to_string(),
                    },
                };
                CertBanner {
                    fingerprint: ctx.fingerprint(),
                    source,
                    self_signed: material.self_signed_dir().is_some(),
                }
            });
        TlsBanner {
            mode: settings.mode,
            mode_is_default: settings.mode_is_default,
            policy: settings.policy,
            session_reuse: settings.session_reuse,
            client_auth: settings
                .material
                .as_ref()
                .map_or(ClientAuth::Off, |m| m.options.client_auth),
            cert,
        }
    }
}

/// Runs `ferry serve` to the end.
pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    if args.check_config {
        return process::check_config(args);
    }
    let settings = config::load(args, std::env::var("RUST_LOG").ok())?;
    logging::init(&settings.log)?;
    // `run_as`: the user exists and we are root (refused before anything is bound).
    let privileges = process::Privileges::prepare(&settings)?;
    let keylog = keylog_file();
    let tls = match &settings.tls.material {
        Some(material) => Some(Arc::new(material.build(keylog.is_some())?)),
        None => None,
    };
    if let (Some(p), Some(at)) = (&privileges, tls.as_ref().and_then(|t| t.generated_at())) {
        p.adopt_generated_certificate(&at);
    }
    if let (Some(_), Some(file)) = (&tls, &keylog) {
        eprintln!(
            "ferry: warning: {KEYLOG_ENV} is set: TLS secrets are written to {}; anyone \
             with that file can decrypt the captured traffic",
            file.to_string_lossy()
        );
    }
    let banner = Banner {
        root: settings.root.clone(),
        anonymous: settings.anonymous,
        user_names: settings.user_names().map(str::to_string).collect(),
        tls: TlsBanner::new(&settings.tls, tls.as_deref()),
    };
    // Metrics and log files: opened now, before any privilege drop.
    let observability = Observability::open(&settings.ops)?;
    let caches = Arc::new(Caches::new(local_storage(settings.ops.listing_cache_bytes)));
    let reloader = Reloader {
        tls: tls.clone(),
        observability: observability.clone(),
        args: args.clone(),
        control: None,
        caches: caches.clone(),
    };
    // Builds the account database here, before the runtime: hashing the command-line
    // passwords is slow on purpose.
    let mut server_config = server_config(settings, tls, &caches)?;
    server_config.observers.extend(observability.observers());
    // Each session holds a descriptor: the usual soft limit (1024) would cap the sessions.
    let max_sessions = server_config.limits.max_sessions;
    match process::raise_open_files_limit() {
        Some(open_files) if open_files < process::open_files_needed(max_sessions) => {
            warn!(
                open_files,
                max_sessions,
                "the open files limit is below what max_sessions needs; raise the hard \
                 limit (e.g. LimitNOFILE= in a systemd unit)"
            );
        }
        Some(open_files) => info!(open_files, "open files limit"),
        None => {}
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(server_config, banner, reloader, privileges))
}

/// The key log file named by `SSLKEYLOGFILE`, when set and not empty.
fn keylog_file() -> Option<OsString> {
    std::env::var_os(KEYLOG_ENV).filter(|v| !v.is_empty())
}

/// The server configuration for validated settings and the TLS context built from them,
/// on the storage of `caches` (which is told the account databases).
fn server_config(
    settings: ServeSettings,
    tls: Option<Arc<TlsContext>>,
    caches: &Caches,
) -> anyhow::Result<ServerConfig> {
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
        tls: tls_settings,
        ops,
        vhosts,
    } = settings;
    if anonymous == AnonymousMode::UploadOnly {
        // The incoming folder must exist for anonymous uploads to land in it.
        let incoming = root.join(ops.anonymous_incoming.trim_start_matches('/'));
        std::fs::create_dir_all(&incoming)
            .with_context(|| format!("cannot create {}", incoming.display()))?;
    }
    if let Some(ctx) = &tls {
        ctx.set_host_certificates(host_certificates(&vhosts))
            .context("cannot load a virtual host's certificate")?;
    }
    let mut dbs = Vec::new();
    let virtual_hosts = virtual_hosts(
        vhosts,
        &users,
        users_file.as_ref(),
        &ops.anonymous_incoming,
        caches.storage(),
        &mut dbs,
    )?;
    let db = Arc::new(user_db(
        root,
        &users,
        users_file,
        anonymous,
        &ops.anonymous_incoming,
    )?);
    dbs.push(db.clone());
    caches.set_accounts(dbs);
    let mut config = ServerConfig::new(db, Arc::new(caches.storage().clone()));
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
    config.tls = tls;
    config.tls_policy = tls_settings.policy;
    config.implicit_listen = tls_settings.implicit_listen;
    config.session_reuse = tls_settings.session_reuse;
    config.limits = ops.limits;
    config.proxy_from = ops.proxy_from;
    config.vhosts = virtual_hosts;
    Ok(config)
}

/// The certificates of the virtual hosts that have their own.
fn host_certificates(vhosts: &[config::VhostSettings]) -> Vec<ferry_server::tls::HostCertificate> {
    vhosts
        .iter()
        .filter_map(|v| {
            v.cert
                .as_ref()
                .map(|(cert, key)| ferry_server::tls::HostCertificate {
                    names: v.names.clone(),
                    cert: cert.clone(),
                    key: key.clone(),
                })
        })
        .collect()
}

/// The local storage, keeping up to `listing_cache_bytes` of listings; without that cache
/// (and a warning) when the process cannot have an inotify instance.
fn local_storage(listing_cache_bytes: usize) -> LocalFsFactory {
    match LocalFsFactory::new().with_listing_cache(listing_cache_bytes) {
        Ok(storage) => storage,
        Err(e) => {
            warn!("listings will not be kept in memory: cannot watch directories: {e}");
            LocalFsFactory::new()
        }
    }
}

/// The virtual hosts of validated settings: each with its accounts (its own users file, or
/// the server's accounts homed in its root) and the local storage (sharing `storage`'s
/// listing cache); their account databases are added to `dbs`. Hashes command-line
/// passwords again for each host sharing them: call it off the async threads.
fn virtual_hosts(
    vhosts: Vec<config::VhostSettings>,
    users: &[config::CliUser],
    users_file: Option<&(PathBuf, ferry_storage::users::UsersFile)>,
    anonymous_incoming: &str,
    storage: &LocalFsFactory,
    dbs: &mut Vec<Arc<UserDb>>,
) -> anyhow::Result<ferry_server::VirtualHosts> {
    let mut out = ferry_server::VirtualHosts::new();
    for v in vhosts {
        if v.anonymous == AnonymousMode::UploadOnly {
            let incoming = v.root.join(anonymous_incoming.trim_start_matches('/'));
            std::fs::create_dir_all(&incoming)
                .with_context(|| format!("cannot create {}", incoming.display()))?;
        }
        let db = Arc::new(match v.users_file {
            Some(own) => user_db(v.root, &[], Some(own), v.anonymous, anonymous_incoming)?,
            None => {
                // The server's accounts, each homed in this host's root.
                let shared = users_file.map(|(path, file)| {
                    let mut file = file.clone();
                    for user in &mut file.users {
                        user.home = None;
                    }
                    (path.clone(), file)
                });
                user_db(v.root, users, shared, v.anonymous, anonymous_incoming)?
            }
        });
        dbs.push(db.clone());
        let name = v.names.first().cloned().unwrap_or_default();
        out.add(ferry_server::VirtualHost {
            names: v.names,
            authenticator: db,
            storage: Arc::new(storage.clone()),
            greeting: v.greeting,
        })
        .with_context(|| format!("virtual host {name}"))?;
    }
    Ok(out)
}

/// The account database of validated settings (passwords given in clear are hashed here:
/// slow on purpose, so call it off the async threads).
fn user_db(
    root: PathBuf,
    users: &[config::CliUser],
    users_file: Option<(PathBuf, ferry_storage::users::UsersFile)>,
    anonymous: AnonymousMode,
    anonymous_incoming: &str,
) -> anyhow::Result<UserDb> {
    let mut db = UserDb::new(root, anonymous);
    if let Ok(incoming) = ferry_proto::VirtualPath::root().join(anonymous_incoming) {
        db.set_anonymous_incoming(incoming);
    }
    for user in users {
        db.add_user(&user.name, &user.password, None, user.access)
            .with_context(|| format!("cannot add user `{}`", user.name))?;
    }
    if let Some((path, file)) = users_file {
        db.add_users_file(file)
            .with_context(|| format!("cannot use the users of {}", path.display()))?;
    }
    Ok(db)
}

/// What SIGHUP reloads: the config file and users file (accounts, permissions, quotas,
/// rates, limits, bans policy, address lists), the TLS certificate, and the log files
/// (reopened for log rotation). Each part keeps its old state when its reload fails.
/// Listen addresses, the root, ports, timeouts, TLS mode, PROXY sources, metrics address,
/// log paths and the listing cache (its size, and what it holds) keep their start values
/// (a restart changes them).
#[derive(Clone)]
struct Reloader {
    tls: Option<Arc<TlsContext>>,
    /// The xferlog and audit log are reopened (log rotation).
    observability: Observability,
    /// The command line, to read the config and users files again.
    args: ServeArgs,
    /// The running server's limits and accounts (set once it is bound).
    control: Option<ferry_server::ServerControl>,
    /// The storage, kept across reloads, and the account databases the metrics read.
    caches: Arc<Caches>,
}

impl Reloader {
    /// Reads the configuration again and applies accounts and limits.
    async fn reload_settings(&self) {
        let Some(control) = self.control.clone() else {
            return;
        };
        let args = self.args.clone();
        let caches = self.caches.clone();
        let result = tokio::task::spawn_blocking(move || {
            let settings = config::load_with(
                &args,
                std::env::var("RUST_LOG").ok(),
                config::OnDisk::CheckOnly,
            )
            .map_err(anyhow::Error::from)?;
            let accounts = settings.user_names().count();
            let mut dbs = Vec::new();
            let vhosts = virtual_hosts(
                settings.vhosts,
                &settings.users,
                settings.users_file.as_ref(),
                &settings.ops.anonymous_incoming,
                caches.storage(),
                &mut dbs,
            )?;
            let db = Arc::new(user_db(
                settings.root.clone(),
                &settings.users,
                settings.users_file,
                settings.anonymous,
                &settings.ops.anonymous_incoming,
            )?);
            dbs.push(db.clone());
            anyhow::Ok((db, dbs, settings.ops.limits, accounts, vhosts))
        })
        .await;
        match result {
            Ok(Ok((db, dbs, limits, accounts, vhosts))) => {
                self.caches.set_accounts(dbs);
                control.set_authenticator(db);
                control.set_vhosts(vhosts);
                control.set_limits(limits);
                info!(
                    accounts,
                    "configuration reloaded: accounts, permissions and limits in force for new logins and commands"
                );
            }
            Ok(Err(e)) => warn!(
                error = %format!("{e:#}"),
                "configuration not reloaded: the previous accounts and limits stay in force"
            ),
            Err(e) => warn!(error = %e, "configuration reload failed: nothing changed"),
        }
    }

    /// Reloads every part, logging what happened to each.
    async fn reload(&self) {
        info!("SIGHUP: reloading");
        self.observability.reopen();
        self.reload_settings().await;
        match self.tls.clone() {
            Some(tls) => {
                let result =
                    tokio::task::spawn_blocking(move || tls.reload().map(|()| tls.fingerprint()))
                        .await;
                match result {
                    Ok(Ok(fingerprint)) => {
                        info!(fingerprint = %fingerprint, "TLS certificate reloaded")
                    }
                    Ok(Err(e)) => warn!(
                        error = %e,
                        "TLS certificate not reloaded: the previous certificate stays in use"
                    ),
                    Err(e) => warn!(
                        error = %e,
                        "TLS certificate reload failed: the previous certificate stays in use"
                    ),
                }
            }
            None => info!("TLS is off: no certificate to reload"),
        }
    }
}

/// The metrics endpoint and the log files (`metrics_listen`, `xferlog`, `audit_log`).
#[derive(Clone, Default)]
struct Observability {
    metrics: Option<(SocketAddr, Arc<Metrics>)>,
    xferlog: Option<Arc<XferLog>>,
    audit_log: Option<Arc<AuditLog>>,
}

impl Observability {
    /// Opens the log files (an unwritable path stops the start) and makes the counters.
    fn open(ops: &config::OpsSettings) -> anyhow::Result<Observability> {
        let xferlog = match &ops.xferlog {
            Some(path) => Some(Arc::new(XferLog::open(path).context("xferlog")?)),
            None => None,
        };
        let audit_log = match &ops.audit_log {
            Some(path) => Some(Arc::new(AuditLog::open(path).context("audit log")?)),
            None => None,
        };
        Ok(Observability {
            metrics: ops.metrics_listen.map(|a| (a, Arc::new(Metrics::new()))),
            xferlog,
            audit_log,
        })
    }

    /// The observers to give the server.
    fn observers(&self) -> Vec<Arc<dyn ferry_server::Observer>> {
        let mut out: Vec<Arc<dyn ferry_server::Observer>> = Vec::new();
        if let Some((_, m)) = &self.metrics {
            out.push(m.clone());
        }
        if let Some(x) = &self.xferlog {
            out.push(x.clone());
        }
        if let Some(a) = &self.audit_log {
            out.push(a.clone());
        }
        out
    }

    /// Binds the metrics listener, when there is one.
    async fn bind_metrics(
        &self,
    ) -> anyhow::Result<Option<(tokio::net::TcpListener, Arc<Metrics>)>> {
        let Some((addr, metrics)) = &self.metrics else {
            return Ok(None);
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for metrics"))?;
        Ok(Some((listener, metrics.clone())))
    }

    /// Reopens the log files (SIGHUP, after log rotation).
    fn reopen(&self) {
        if let Some(x) = &self.xferlog {
            x.reopen();
        }
        if let Some(a) = &self.audit_log {
            a.reopen();
        }
    }

    /// Writes what is queued (waiting a little) when the server stops.
    fn close(&self) {
        let wait = std::time::Duration::from_secs(2);
        if let Some(x) = &self.xferlog {
            x.close(wait);
        }
        if let Some(a) = &self.audit_log {
            a.close(wait);
        }
    }
}

/// Prints the `Metrics: http://ADDR/metrics` banner line (with the bound port) and serves
/// the endpoint until the process ends.
fn announce_metrics(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    stats: Arc<ferry_server::ServerStats>,
) {
    match listener.local_addr() {
        Ok(addr) => {
            let mut out = std::io::stdout().lock();
            let line = format!("Metrics: http://{addr}/metrics\n");
            if let Err(e) = out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
                warn!(error = %e, "cannot write the metrics address to standard output");
            }
            info!(address = %addr, "metrics endpoint started");
        }
        Err(e) => warn!(error = %e, "metrics listener has no address"),
    }
    tokio::spawn(ferry_server::metrics::serve_metrics(
        listener,
        metrics,
        stats,
        std::future::pending(),
    ));
}

async fn serve(
    config: ServerConfig,
    banner: Banner,
    mut reloader: Reloader,
    privileges: Option<process::Privileges>,
) -> anyhow::Result<()> {
    // Install the handlers before announcing the addresses, so that a signal sent as soon
    // as the banner is read is already ours.
    let mut signals = Signals::install().context("cannot install signal handlers")?;
    let grace = config.shutdown_grace;
    let server = Server::bind(config).await?;
    reloader.control = Some(server.control());
    let addrs = server.local_addrs();
    let implicit = server.implicit_addrs();
    let observability = reloader.observability.clone();
    let metrics = observability.bind_metrics().await?;
    print_banner(&addrs, &implicit, &banner);
    if let Some((listener, metrics)) = metrics {
        let caches = reloader.caches.clone();
        metrics.watch_caches(move || caches.readings());
        announce_metrics(listener, metrics, server.stats());
    }
    info!(
        addresses = ?addrs,
        implicit_ftps = ?implicit,
        root = %banner.root.display(),
        anonymous = %banner.anonymous,
        tls = %banner.tls.mode,
        "server started"
    );

    let notifier = process::Notifier::from_env();
    let status = process::serving_status(&addrs, &implicit, privileges.as_ref().map(|p| p.user()));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let watch_notifier = notifier.clone();
    let watcher = tokio::spawn(async move {
        let mut stop_tx = Some(stop_tx);
        loop {
            match signals.next().await {
                SignalEvent::Reload => {
                    watch_notifier.reloading();
                    reloader.reload().await;
                    watch_notifier.reloaded();
                }
                SignalEvent::Stop(first) if stop_tx.is_some() => {
                    watch_notifier.stopping();
                    info!(
                        signal = first.name(),
                        grace_secs = grace.as_secs(),
                        "shutting down: no new connections, running transfers may finish; \
                         send the signal again to stop at once"
                    );
                    if let Some(tx) = stop_tx.take() {
                        let _ = tx.send(());
                    }
                }
                SignalEvent::Stop(second) => {
                    warn!(signal = second.name(), "second signal: exiting at once");
                    std::process::exit(second.exit_code());
                }
            }
        }
    });
    let shutdown = async move {
        // First polled once `run` has started its accept loops.
        notifier.ready(&status);
        if stop_rx.await.is_err() {
            // The watcher is gone without a signal: never stop on our own.
            std::future::pending::<()>().await;
        }
    };
    // Every listener (control, implicit FTPS, metrics) is bound above: drop root now,
    // before the first connection is accepted.
    if let Some(privileges) = &privileges {
        privileges.drop_now()?;
    }
    let result = server.run(shutdown).await;
    watcher.abort();
    observability.close();
    result?;
    info!("server stopped");
    Ok(())
}

/// Prints, flushed, the start-up banner.
fn print_banner(addrs: &[SocketAddr], implicit: &[SocketAddr], banner: &Banner) {
    let text = banner_text(addrs, implicit, banner);
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        warn!(error = %e, "cannot write the start-up banner to standard output");
    }
}

/// The banner: one `listening on` line per address (tests and scripts parse them: keep
/// them stable, `Ferry FTP server listening on ADDR` and `Ferry FTPS (implicit) listening
/// on ADDR`), how to connect, the root and anonymous mode, and the FTPS settings in force
/// (certificate fingerprint, policy).
fn banner_text(addrs: &[SocketAddr], implicit: &[SocketAddr], banner: &Banner) -> String {
    let tls = &banner.tls;
    let tls_on = tls.mode != TlsMode::Off;
    let required = tls.mode == TlsMode::Required;
    let anonymous_on = banner.anonymous != AnonymousMode::Off;
    let user = banner.user_names.first();
    let insecure = if tls.cert.as_ref().is_some_and(|c| c.self_signed) {
        "--insecure "
    } else {
        ""
    };
    let user_flag = user.map(|u| format!("-u {u} ")).unwrap_or_default();

    let mut text = String::new();
    for addr in addrs {
        text.push_str(&format!("Ferry FTP server listening on {addr}\n"));
        if anonymous_on && (!required || tls.policy.anonymous_exempt) {
            text.push_str(&format!("  connect with: curl ftp://{addr}/\n"));
        }
        if let Some(user) = user.filter(|_| !required) {
            text.push_str(&format!("  connect with: curl -u {user} ftp://{addr}/\n"));
        }
        if tls_on && (user.is_some() || anonymous_on) {
            text.push_str(&format!(
                "  FTPS: curl --ssl-reqd {insecure}{user_flag}ftp://{addr}/\n"
            ));
        }
    }
    for addr in implicit {
        text.push_str(&format!("Ferry FTPS (implicit) listening on {addr}\n"));
        if anonymous_on {
            text.push_str(&format!("  connect with: curl {insecure}ftps://{addr}/\n"));
        }
        if let Some(user) = user {
            text.push_str(&format!(
                "  connect with: curl {insecure}-u {user} ftps://{addr}/\n"
            ));
        }
    }
    text.push_str(&format!("Root directory: {}\n", banner.root.display()));
    let anonymous = match banner.anonymous {
        AnonymousMode::Off => "off",
        AnonymousMode::ReadOnly => "ro (read-only)",
        AnonymousMode::UploadOnly => "upload-only (read-only, uploads into the incoming folder)",
        AnonymousMode::ReadWrite => "rw (read-write)",
    };
    text.push_str(&format!("Anonymous access: {anonymous}\n"));
    text.push_str(&format!("Accounts: {}\n", banner.user_names.len()));
    if let Some(cert) = &tls.cert {
        text.push_str(&format!(
            "TLS certificate SHA-256 fingerprint: {}\n  ({})\n",
            cert.fingerprint, cert.source
        ));
    }
    text.push_str(&policy_line(tls));
    text.push('\n');
    if tls.mode == TlsMode::Required && tls.mode_is_default {
        text.push_str(
            "  (required by default: an address is not loopback; `--tls optional` allows \
             cleartext logins)\n",
        );
    }
    text
}

/// `TLS: required; data protection: optional; session reuse: accept` and the rest of the
/// policy when it differs from the defaults.
fn policy_line(tls: &TlsBanner) -> String {
    if tls.mode == TlsMode::Off {
        return "TLS: off (no FTPS)".to_string();
    }
    let level = |required: bool| if required { "required" } else { "optional" };
    let reuse = match tls.session_reuse {
        SessionReuse::Off => "off",
        SessionReuse::Accept => "accept",
        SessionReuse::Require => "require",
    };
    let mut line = format!(
        "TLS: {}; data protection: {}; session reuse: {reuse}",
        tls.mode,
        level(tls.policy.require_data_protection)
    );
    if tls.mode == TlsMode::Required {
        line.push_str(if tls.policy.anonymous_exempt {
            "; anonymous logins: exempt"
        } else {
            "; anonymous logins: TLS required"
        });
    }
    if tls.policy.allow_ccc {
        line.push_str("; CCC: allowed");
    }
    match tls.client_auth {
        ClientAuth::Off => {}
        ClientAuth::Request => line.push_str("; client certificates: requested"),
        ClientAuth::Require => line.push_str("; client certificates: required"),
    }
    line
}

/// The signals the server handles.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

/// What a signal asks for.
#[derive(Debug, Clone, Copy)]
enum SignalEvent {
    /// SIGINT or SIGTERM.
    Stop(StopSignal),
    /// SIGHUP.
    Reload,
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
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal. (`recv` only returns `None` once the runtime is shutting down.)
    async fn next(&mut self) -> SignalEvent {
        tokio::select! {
            _ = self.interrupt.recv() => SignalEvent::Stop(StopSignal::Interrupt),
            _ = self.terminate.recv() => SignalEvent::Stop(StopSignal::Terminate),
            _ = self.hangup.recv() => SignalEvent::Reload,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn banner(mode: TlsMode, anonymous: AnonymousMode, users: &[&str]) -> Banner {
        Banner {
            root: PathBuf::from("/srv/ftp"),
            anonymous,
            user_names: users.iter().map(|u| u.to_string()).collect(),
            tls: TlsBanner {
                mode,
                mode_is_default: false,
                policy: TlsPolicy {
                    available: mode != TlsMode::Off,
                    required_for_login: mode == TlsMode::Required,
                    anonymous_exempt: true,
                    ..TlsPolicy::default()
                },
                session_reuse: SessionReuse::Accept,
                client_auth: ClientAuth::Off,
                cert: (mode != TlsMode::Off).then(|| CertBanner {
                    fingerprint: "AB:CD".to_string(),
                    source: "self-signed, generated in /state".to_string(),
                    self_signed: true,
                }),
            },
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn banner_with_optional_tls_and_implicit_ftps() {
        let b = banner(TlsMode::Optional, AnonymousMode::Off, &["alice"]);
        let text = banner_text(&[addr("127.0.0.1:2121")], &[addr("127.0.0.1:990")], &b);
        let expected = "\
Ferry FTP server listening on 127.0.0.1:2121
  connect with: curl -u alice ftp://127.0.0.1:2121/
  FTPS: curl --ssl-reqd --insecure -u alice ftp://127.0.0.1:2121/
Ferry FTPS (implicit) listening on 127.0.0.1:990
  connect with: curl --insecure -u alice ftps://127.0.0.1:990/
Root directory: /srv/ftp
Anonymous access: off
Accounts: 1
TLS certificate SHA-256 fingerprint: AB:CD
  (self-signed, generated in /state)
TLS: optional; data protection: optional; session reuse: accept
";
        assert_eq!(text, expected);
    }

    #[test]
    fn banner_under_required_tls_shows_no_cleartext_login() {
        let mut b = banner(TlsMode::Required, AnonymousMode::ReadOnly, &["alice"]);
        b.tls.mode_is_default = true;
        b.tls.policy.allow_ccc = true;
        let text = banner_text(&[addr("0.0.0.0:21")], &[], &b);
        assert!(
            text.contains("  connect with: curl ftp://0.0.0.0:21/\n"),
            "{text}"
        );
        assert!(!text.contains("curl -u alice ftp://"), "{text}");
        assert!(text.contains("  FTPS: curl --ssl-reqd --insecure -u alice ftp://0.0.0.0:21/\n"));
        assert!(text.contains(
            "TLS: required; data protection: optional; session reuse: accept; \
             anonymous logins: exempt; CCC: allowed\n"
        ));
        assert!(text.contains("required by default"), "{text}");

        // Anonymous not exempt: no cleartext hint at all.
        b.tls.policy.anonymous_exempt = false;
        let text = banner_text(&[addr("0.0.0.0:21")], &[], &b);
        assert!(!text.contains("curl ftp://"), "{text}");
    }

    #[test]
    fn banner_without_tls_is_the_plain_one() {
        let b = banner(TlsMode::Off, AnonymousMode::ReadOnly, &["alice"]);
        let text = banner_text(&[addr("127.0.0.1:2121")], &[], &b);
        let expected = "\
Ferry FTP server listening on 127.0.0.1:2121
  connect with: curl ftp://127.0.0.1:2121/
  connect with: curl -u alice ftp://127.0.0.1:2121/
Root directory: /srv/ftp
Anonymous access: ro (read-only)
Accounts: 1
TLS: off (no FTPS)
";
        assert_eq!(text, expected);
    }

    #[test]
    fn real_certificates_need_no_insecure() {
        let mut b = banner(TlsMode::Optional, AnonymousMode::ReadOnly, &[]);
        b.tls.cert = Some(CertBanner {
            fingerprint: "AB".into(),
            source: "from /etc/cert.pem".into(),
            self_signed: false,
        });
        let text = banner_text(&[addr("127.0.0.1:21")], &[addr("127.0.0.1:990")], &b);
        assert!(
            text.contains("  FTPS: curl --ssl-reqd ftp://127.0.0.1:21/\n"),
            "{text}"
        );
        assert!(
            text.contains("  connect with: curl ftps://127.0.0.1:990/\n"),
            "{text}"
        );
        assert!(text.contains("  (from /etc/cert.pem)\n"), "{text}");
    }
}
