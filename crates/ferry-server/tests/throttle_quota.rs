//! Bandwidth limits and quotas over real connections on loopback, with accounts built in
//! Rust (a small [`Authenticator`] whose accounts carry an [`AccountPolicy`]).
//!
//! Throttle timings follow the issue: a transfer limited to 1 MiB/s takes the expected time
//! ± 20 %. The expected time of `n` bytes at `r` bytes/s is `n / r` (the initial burst of
//! 1/8 s is well inside the margin).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use async_trait::async_trait;
use common::Client;
use ferry_proto::Password;
use ferry_server::{Limits, Server, ServerConfig, ServerControl};
use ferry_storage::local::LocalFsFactory;
use ferry_storage::{Access, Account, AccountPolicy, AuthError, Authenticator, Quota};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::timeout;

const STEP: Duration = Duration::from_secs(20);
const MIB: u64 = 1024 * 1024;

/// Accounts `name` / password `pw`, each with its own home under the root and a policy.
struct Accounts {
    root: PathBuf,
    users: Vec<(String, AccountPolicy)>,
}

#[async_trait]
impl Authenticator for Accounts {
    fn is_anonymous(&self, _user: &str) -> bool {
        false
    }

    async fn authenticate(&self, user: &str, password: &Password) -> Result<Account, AuthError> {
        if password.expose() != "pw" {
            return Err(AuthError::Invalid);
        }
        self.lookup(user).await
    }

    async fn lookup(&self, user: &str) -> Result<Account, AuthError> {
        let (name, policy) = self
            .users
            .iter()
            .find(|(n, _)| n == user)
            .ok_or(AuthError::Invalid)?;
        Ok(Account {
            name: name.clone(),
            home: self.root.join(name),
            access: Access::ReadWrite,
            anonymous: false,
            policy: policy.clone(),
        })
    }
}

struct Running {
    addr: SocketAddr,
    control: ServerControl,
    _stop: oneshot::Sender<()>,
}

fn accounts(root: &Path, users: &[(&str, AccountPolicy)]) -> Accounts {
    Accounts {
        root: root.to_path_buf(),
        users: users
            .iter()
            .map(|(n, p)| (n.to_string(), p.clone()))
            .collect(),
    }
}

async fn start(root: &Path, users: &[(&str, AccountPolicy)], limits: Limits) -> Running {
    for (name, _) in users {
        std::fs::create_dir_all(root.join(name)).expect("home");
    }
    let accounts = accounts(root, users);
    let mut config = ServerConfig::new(Arc::new(accounts), Arc::new(LocalFsFactory::new()));
    config.listen = vec!["127.0.0.1:0".parse().expect("addr")];
    config.data_timeout = Duration::from_secs(10);
    config.limits = Limits {
        ban: ferry_server::BanPolicy {
            delay: Duration::ZERO,
            ..Default::default()
        },
        ..limits
    };
    let server = Server::bind(config).await.expect("bind");
    let addr = server.local_addrs()[0];
    let control = server.control();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = server
            .run(async {
                let _ = rx.await;
            })
            .await;
    });
    Running {
        addr,
        control,
        _stop: tx,
    }
}

fn policy(up: Option<u64>, down: Option<u64>, quota: Quota) -> AccountPolicy {
    AccountPolicy {
        upload_rate: up,
        download_rate: down,
        quota,
        ..AccountPolicy::default()
    }
}

fn quota(bytes: Option<u64>, files: Option<u64>) -> Quota {
    Quota {
        max_bytes: bytes,
        max_files: files,
    }
}

impl Client {
    /// Logs in as `user` (password `pw`) in binary mode.
    async fn login(addr: SocketAddr, user: &str) -> Client {
        let mut c = Client::login_as(addr, user, "pw").await;
        assert_eq!(c.cmd("TYPE I").await.0, 200);
        c
    }

    /// EPSV and connect the data connection.
    async fn data(&mut self) -> TcpStream {
        let port = self.epsv_port().await;
        timeout(STEP, TcpStream::connect(("127.0.0.1", port)))
            .await
            .expect("in time")
            .expect("data connect")
    }

    /// Downloads with `cmd` (RETR, LIST...); returns the bytes and the time until the 226.
    async fn download(&mut self, cmd: &str) -> (Vec<u8>, Duration) {
        let mut data = self.data().await;
        let start = Instant::now();
        let (code, text) = self.cmd(cmd).await;
        assert_eq!(code, 150, "{cmd}: {text}");
        let mut got = Vec::new();
        timeout(STEP, data.read_to_end(&mut got))
            .await
            .expect("download in time")
            .expect("read");
        let (code, text) = self.reply().await;
        assert_eq!(code, 226, "{cmd}: {text}");
        (got, start.elapsed())
    }

    /// Uploads `bytes` with `cmd`; returns the final reply and the time until it. Write
    /// errors (the server cut the upload) are not failures: the reply says what happened.
    async fn upload(&mut self, cmd: &str, bytes: &[u8]) -> ((u16, String), Duration) {
        self.upload_at(None, cmd, bytes).await
    }

    /// [`Client::upload`] with a `REST offset` sent right before the command.
    async fn upload_at(
        &mut self,
        rest: Option<u64>,
        cmd: &str,
        bytes: &[u8],
    ) -> ((u16, String), Duration) {
        let mut data = self.data().await;
        if let Some(offset) = rest {
            assert_eq!(self.cmd(&format!("REST {offset}")).await.0, 350);
        }
        let start = Instant::now();
        let (code, text) = self.cmd(cmd).await;
        if code != 150 {
            return ((code, text), start.elapsed());
        }
        for chunk in bytes.chunks(64 * 1024) {
            match timeout(STEP, data.write_all(chunk)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break,
                Err(_) => panic!("upload stalled"),
            }
        }
        let _ = data.shutdown().await;
        drop(data);
        let r = self.reply().await;
        (r, start.elapsed())
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// `took` is `expected` ± 20 %.
fn within_20_percent(what: &str, took: Duration, expected: Duration) {
    let lo = expected.mul_f64(0.8);
    let hi = expected.mul_f64(1.2);
    assert!(
        took >= lo && took <= hi,
        "{what}: took {took:?}, expected {expected:?} ± 20 %"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_limit_of_1_mib_per_second_download_and_upload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = [("alice", policy(Some(MIB), Some(MIB), Quota::default()))];
    let server = start(dir.path(), &users, Limits::default()).await;
    let body = pattern(3 * MIB as usize);
    std::fs::write(dir.path().join("alice/three.bin"), &body).expect("write");
    let mut c = Client::login(server.addr, "alice").await;

    // Plain binary download: the sendfile path.
    let (got, took) = c.download("RETR three.bin").await;
    assert!(got == body, "download content");
    within_20_percent("3 MiB download at 1 MiB/s", took, Duration::from_secs(3));

    let (reply, took) = c.upload("STOR up.bin", &body).await;
    assert_eq!(reply.0, 226, "{reply:?}");
    within_20_percent("3 MiB upload at 1 MiB/s", took, Duration::from_secs(3));
    let stored = std::fs::read(dir.path().join("alice/up.bin")).expect("stored");
    assert!(stored == body, "upload content");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_limit_of_1_mib_per_second_download_and_upload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = [("bob", AccountPolicy::default())];
    let limits = Limits {
        upload_rate: Some(MIB),
        download_rate: Some(MIB),
        ..Limits::default()
    };
    let server = start(dir.path(), &users, limits).await;
    let body = pattern(3 * MIB as usize);
    std::fs::write(dir.path().join("bob/three.bin"), &body).expect("write");
    let mut c = Client::login(server.addr, "bob").await;

    let (got, took) = c.download("RETR three.bin").await;
    assert!(got == body, "download content");
    within_20_percent("3 MiB download at 1 MiB/s", took, Duration::from_secs(3));

    let (reply, took) = c.upload("STOR up.bin", &body).await;
    assert_eq!(reply.0, 226, "{reply:?}");
    within_20_percent("3 MiB upload at 1 MiB/s", took, Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ascii_download_is_throttled_on_the_wire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = [("carol", policy(None, Some(MIB), Quota::default()))];
    let server = start(dir.path(), &users, Limits::default()).await;
    // 2 MiB of 63-byte lines: the wire form (CRLF) is 2 MiB + 1/64 more.
    let line = [b'x'; 63];
    let mut text = Vec::new();
    while text.len() < 2 * MIB as usize {
        text.extend_from_slice(&line);
        text.push(b'\n');
    }
    std::fs::write(dir.path().join("carol/t.txt"), &text).expect("write");
    let mut c = Client::login(server.addr, "carol").await;
    assert_eq!(c.cmd("TYPE A").await.0, 200);
    let (got, took) = c.download("RETR t.txt").await;
    assert_eq!(got.len(), text.len() + text.len() / 64);
    let expected = Duration::from_secs_f64(got.len() as f64 / MIB as f64);
    within_20_percent("ASCII download at 1 MiB/s", took, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_of_one_user_share_its_limit_and_other_users_do_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limited = policy(None, Some(MIB), Quota::default());
    let users = [("dave", limited.clone()), ("erin", limited)];
    let server = start(dir.path(), &users, Limits::default()).await;
    let body = pattern(2 * MIB as usize);
    for user in ["dave", "erin"] {
        std::fs::write(dir.path().join(user).join("two.bin"), &body).expect("write");
    }
    let mut tasks = Vec::new();
    for user in ["dave", "dave", "erin"] {
        let addr = server.addr;
        tasks.push(tokio::spawn(async move {
            let mut c = Client::login(addr, user).await;
            let (got, took) = c.download("RETR two.bin").await;
            (user, got.len(), took)
        }));
    }
    let mut dave = Vec::new();
    for t in tasks {
        let (user, len, took) = t.await.expect("task");
        assert_eq!(len, 2 * MIB as usize);
        if user == "dave" {
            dave.push(took);
        } else {
            // Erin's 2 MiB at her own 1 MiB/s.
            within_20_percent("erin alone", took, Duration::from_secs(2));
        }
    }
    // Dave's two sessions move 4 MiB through one 1 MiB/s bucket, taking turns: both end
    // near 4 s.
    let last = dave.iter().max().copied().expect("two");
    within_20_percent("dave's two sessions together", last, Duration::from_secs(4));
    let first = dave.iter().min().copied().expect("two");
    assert!(
        first >= Duration::from_secs_f64(3.0),
        "dave's sessions share fairly: first ended after {first:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_count_as_downloads() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 64 KiB/s: the smallest burst (64 KiB) goes at once, the rest at the rate.
    let users = [("fay", policy(None, Some(64 * 1024), Quota::default()))];
    let server = start(dir.path(), &users, Limits::default()).await;
    for i in 0..5000 {
        std::fs::write(
            dir.path()
                .join(format!("fay/file-with-a-long-name-{i:05}.dat")),
            b"",
        )
        .expect("write");
    }
    let mut c = Client::login(server.addr, "fay").await;
    let (got, took) = c.download("NLST").await;
    let extra = got.len().saturating_sub(64 * 1024) as f64 / (64.0 * 1024.0);
    assert!(extra > 0.5, "listing big enough: {} bytes", got.len());
    assert!(
        took >= Duration::from_secs_f64(extra * 0.8),
        "listing of {} bytes took {took:?}",
        got.len()
    );
}

fn no_temp_files(dir: &Path) {
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let name = e.expect("entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            !name.starts_with(".ferry-upload-"),
            "temporary file left: {name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_over_the_byte_quota_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = [("gus", policy(None, None, quota(Some(MIB), None)))];
    let server = start(dir.path(), &users, Limits::default()).await;
    let home = dir.path().join("gus");
    let old = pattern(300 * 1024);
    std::fs::write(home.join("keep.bin"), &old).expect("write");
    let mut c = Client::login(server.addr, "gus").await;

    // New file: 300 KiB used, 800 KiB more does not fit.
    let ((code, text), _) = c.upload("STOR new.bin", &pattern(800 * 1024)).await;
    assert_eq!(code, 552, "{text}");
    assert!(text.contains("Quota exceeded"), "{text}");
    assert!(!home.join("new.bin").exists(), "no partial new file");

    // Replace: the old 300 KiB are freed, so 1 MiB fits exactly; 1 MiB + 1 does not.
    let ((code, text), _) = c.upload("STOR keep.bin", &pattern(MIB as usize + 1)).await;
    assert_eq!(code, 552, "{text}");
    assert!(
        std::fs::read(home.join("keep.bin")).expect("read") == old,
        "old content kept"
    );
    no_temp_files(&home);

    // Append: 300 KiB + 800 KiB > 1 MiB: truncated back.
    let ((code, text), _) = c.upload("APPE keep.bin", &pattern(800 * 1024)).await;
    assert_eq!(code, 552, "{text}");
    assert!(
        std::fs::read(home.join("keep.bin")).expect("read") == old,
        "append undone"
    );

    // REST + STOR past the end: truncated back to the original length.
    let ((code, text), _) = c
        .upload_at(Some(200_000), "STOR keep.bin", &pattern(900 * 1024))
        .await;
    assert_eq!(code, 552, "{text}");
    let now = std::fs::read(home.join("keep.bin")).expect("read");
    assert_eq!(now.len(), old.len(), "REST+STOR truncated back");
    assert!(
        now[..200_000] == old[..200_000],
        "bytes before the offset untouched"
    );

    // What fits still works, and the usage follows: the replace above freed nothing.
    let fits = pattern(MIB as usize - old.len());
    let ((code, text), _) = c.upload("STOR fits.bin", &fits).await;
    assert_eq!(code, 226, "{text}");
    let ((code, text), _) = c.upload("STOR one-more.bin", b"x").await;
    assert_eq!(code, 552, "{text}");
    assert!(!home.join("one-more.bin").exists());

    // Replacing keep.bin by exactly its size fits; by a smaller file frees space.
    let ((code, text), _) = c.upload("STOR keep.bin", &pattern(old.len())).await;
    assert_eq!(code, 226, "{text}");
    let ((code, text), _) = c.upload("STOR keep.bin", &pattern(1000)).await;
    assert_eq!(code, 226, "{text}");
    let ((code, text), _) = c.upload("STOR again.bin", &pattern(old.len() - 1000)).await;
    assert_eq!(code, 226, "{text}");
    no_temp_files(&home);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_count_quota_and_delete_frees_quota() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = [("hal", policy(None, None, quota(Some(100_000), Some(3))))];
    let server = start(dir.path(), &users, Limits::default()).await;
    let home = dir.path().join("hal");
    std::fs::create_dir_all(home.join("sub")).expect("mkdir");
    std::fs::write(home.join("a.bin"), pattern(40_000)).expect("write");
    std::fs::write(home.join("sub/b.bin"), pattern(40_000)).expect("write");
    let mut c = Client::login(server.addr, "hal").await;

    // The third file fits; a fourth is refused before any data connection is used.
    let ((code, text), _) = c.upload("STOR c.bin", &pattern(10_000)).await;
    assert_eq!(code, 226, "{text}");
    let ((code, text), _) = c.upload("STOR d.bin", b"tiny").await;
    assert_eq!(code, 552, "{text}");
    assert!(!home.join("d.bin").exists());
    // Replacing an existing file is not a new file.
    let ((code, text), _) = c.upload("STOR c.bin", &pattern(5_000)).await;
    assert_eq!(code, 226, "{text}");

    // Bytes: 85 000 used; 20 000 more do not fit.
    let ((code, text), _) = c.upload("APPE a.bin", &pattern(20_000)).await;
    assert_eq!(code, 552, "{text}");
    assert_eq!(
        std::fs::metadata(home.join("a.bin")).expect("md").len(),
        40_000
    );

    // DELE frees one file and its bytes.
    assert_eq!(c.cmd("DELE sub/b.bin").await.0, 250);
    let ((code, text), _) = c.upload("STOR d.bin", &pattern(50_000)).await;
    assert_eq!(code, 226, "{text}");
    assert_eq!(
        std::fs::metadata(home.join("d.bin")).expect("md").len(),
        50_000
    );

    // A second session of the same user sees the same usage.
    let mut other = Client::login(server.addr, "hal").await;
    let ((code, text), _) = other.upload("STOR e.bin", b"x").await;
    assert_eq!(code, 552, "{text}");
    assert_eq!(other.cmd("DELE c.bin").await.0, 250);
    let ((code, text), _) = c.upload("STOR e.bin", &pattern(5_000)).await;
    assert_eq!(code, 226, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloaded_limits_apply_to_the_next_transfers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = [("ivy", AccountPolicy::default())];
    let limits = Limits {
        download_rate: Some(MIB),
        ..Limits::default()
    };
    let server = start(dir.path(), &users, limits.clone()).await;
    let body = pattern(2 * MIB as usize);
    std::fs::write(dir.path().join("ivy/two.bin"), &body).expect("write");
    let mut c = Client::login(server.addr, "ivy").await;
    let (_, took) = c.download("RETR two.bin").await;
    within_20_percent("2 MiB at 1 MiB/s", took, Duration::from_secs(2));
    // A reload doubles the rate: the same session's next download takes half the time.
    server.control.set_limits(Limits {
        download_rate: Some(2 * MIB),
        ..limits.clone()
    });
    let (_, took) = c.download("RETR two.bin").await;
    within_20_percent("2 MiB at 2 MiB/s", took, Duration::from_secs(1));
    // And a reload that removes the limit frees the next transfer.
    server.control.set_limits(Limits {
        download_rate: None,
        ..limits
    });
    let (got, took) = c.download("RETR two.bin").await;
    assert!(got == body);
    assert!(took < Duration::from_millis(600), "unlimited took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_the_accounts_recounts_files_changed_behind_the_servers_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = [("jo", policy(None, None, quota(None, Some(2))))];
    let server = start(dir.path(), &users, Limits::default()).await;
    let home = dir.path().join("jo");
    std::fs::write(home.join("one.bin"), b"1").expect("write");
    let mut c = Client::login(server.addr, "jo").await;
    let ((code, text), _) = c.upload("STOR two.bin", b"2").await;
    assert_eq!(code, 226, "{text}");
    // Removed outside the server: the usage kept in memory does not know yet.
    std::fs::remove_file(home.join("one.bin")).expect("remove");
    let ((code, text), _) = c.upload("STOR three.bin", b"3").await;
    assert_eq!(code, 552, "{text}");
    // A reload of the accounts (SIGHUP) makes the next upload count the home again.
    server
        .control
        .set_authenticator(Arc::new(accounts(dir.path(), &users)));
    let ((code, text), _) = c.upload("STOR three.bin", b"3").await;
    assert_eq!(code, 226, "{text}");
}
