//! TLS client certificates end to end: a certificate issued by the configured CA and mapped
//! with `--client-cert-user` logs in without a password (RFC 2228 reply 232); without a
//! certificate the password is needed (`request`) or the handshake fails (`require`); a
//! certificate from another CA is refused. Certificates are made with the openssl command.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::process::{program, run_ok};
use support::Server;

/// A CA and a client certificate for `subject`, signed by it, in `dir`.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let mut cmd = program("openssl");
    cmd.current_dir(dir).args(args);
    run_ok(cmd, Duration::from_secs(30));
}

fn make_pki(dir: &Path, name: &str, subject: &str) -> Pki {
    std::fs::create_dir_all(dir).expect("pki dir");
    let ca = format!("{name}-ca.pem");
    let ca_key = format!("{name}-ca.key");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            &format!("/CN={name} test CA"),
            "-days",
            "2",
            "-keyout",
            &ca_key,
            "-out",
            &ca,
        ],
    );
    let key = format!("{name}-client.key");
    let csr = format!("{name}-client.csr");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    );
    // A v3 end-entity certificate for client authentication (webpki refuses v1).
    let ext = format!("{name}-ext.cnf");
    std::fs::write(
        dir.join(&ext),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .expect("ext file");
    let cert = format!("{name}-client.pem");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ],
    );
    Pki {
        ca: dir.join(ca),
        cert: dir.join(cert),
        key: dir.join(key),
    }
}

/// Logs in over explicit FTPS as alice, with the client certificate when given, and prints
/// the reply to USER, then lists the root over a protected data connection.
const CLIENT: &str = r#"
import ftplib, ssl, sys
host, port, cafile, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=cafile)
if cert:
    ctx.load_cert_chain(cert, key)
f = ftplib.FTP_TLS(context=ctx, timeout=15)
f.connect(host, port)
try:
    f.auth()
except (ssl.SSLError, OSError) as e:
    print("handshake refused:", type(e).__name__)
    sys.exit(0)
try:
    resp = f.sendcmd("USER alice")
except (ssl.SSLError, OSError, EOFError, ftplib.Error) as e:
    # With TLS 1.3 a refused client certificate shows up at the first read.
    print("handshake refused:", type(e).__name__, e)
    sys.exit(0)
print("USER ->", resp)
if resp.startswith("331"):
    print("PASS ->", f.sendcmd("PASS secret"))
f.prot_p()
names = f.nlst()
print("listed", sorted(names))
f.quit()
"#;

fn client(server: &Server, pki_ca_for_server_cert: &Path, cert: Option<&Pki>) -> String {
    let mut cmd = program("python3");
    let (c, k) = match cert {
        Some(p) => (p.cert.display().to_string(), p.key.display().to_string()),
        None => (String::new(), String::new()),
    };
    cmd.arg("-c")
        .arg(CLIENT)
        .arg(server.host())
        .arg(server.port().to_string())
        .arg(pki_ca_for_server_cert)
        .arg(c)
        .arg(k);
    let out = run_ok(cmd, Duration::from_secs(60));
    out.stdout_text()
}

fn start(pki: &Pki, mode: &str) -> Server {
    let ca = pki.ca.display().to_string();
    let server = Server::builder()
        .ftps(&[
            "--client-ca",
            &ca,
            "--client-cert",
            mode,
            "--client-cert-user",
            "alice:CN=alice,O=Example",
        ])
        .start();
    std::fs::write(server.root().join("hello.txt"), b"hello\n").expect("seed");
    server
}

#[test]
fn mapped_client_certificate_logs_in_with_232() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = make_pki(dir.path(), "good", "/CN=alice/O=Example");
    let server = start(&pki, "request");
    let out = client(&server, &server.cafile(), Some(&pki));
    assert!(out.contains("USER -> 232"), "{out}\n{}", server.logs());
    assert!(!out.contains("PASS ->"), "no password may be asked: {out}");
    assert!(out.contains("'hello.txt'"), "{out}");

    // Without a certificate (`request`): the password is needed and works.
    let out = client(&server, &server.cafile(), None);
    assert!(out.contains("USER -> 331"), "{out}");
    assert!(out.contains("PASS -> 230"), "{out}");
}

#[test]
fn unmapped_or_foreign_certificates_do_not_log_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = make_pki(dir.path(), "good", "/CN=bob/O=Example");
    let server = start(&pki, "request");
    // A valid certificate for a subject that maps to nobody: password login as usual.
    let out = client(&server, &server.cafile(), Some(&pki));
    assert!(out.contains("USER -> 331"), "{out}\n{}", server.logs());

    // A certificate from another CA, even with the mapped subject, fails the handshake.
    let other = make_pki(&dir.path().join("other"), "evil", "/CN=alice/O=Example");
    let out = client(&server, &server.cafile(), Some(&other));
    assert!(
        out.contains("handshake refused"),
        "{out}\n{}",
        server.logs()
    );
    assert!(!out.contains("USER -> 232"), "{out}");
}

#[test]
fn require_refuses_clients_without_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = make_pki(dir.path(), "good", "/CN=alice/O=Example");
    let server = start(&pki, "require");
    let out = client(&server, &server.cafile(), None);
    assert!(
        out.contains("handshake refused"),
        "{out}\n{}",
        server.logs()
    );
    let out = client(&server, &server.cafile(), Some(&pki));
    assert!(out.contains("USER -> 232"), "{out}\n{}", server.logs());
}
