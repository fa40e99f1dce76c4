//! Accounts and permissions over real connections: per-user and per-directory permissions
//! (list, read, write, overwrite, delete, rename, mkdir, rmdir, chmod), disabled accounts,
//! allowed source networks, per-account session limits, and anonymous `upload-only`.

mod support;

use support::raw::{data_connect, read_all, Control};
use support::users::{start_with_users, users_file};
use support::Server;

const PW: &str = support::users::USERS_PW;

fn login(server: &Server, user: &str) -> Control {
    let mut c = Control::login(server.addr(), user, PW);
    c.expect("TYPE I", &[200]);
    c
}

/// STOR `name` with `body`: the final reply code (or the refusal code).
fn stor(c: &mut Control, name: &str, body: &[u8]) -> u16 {
    use std::io::Write;
    let addr = c.pasv();
    let mut data = data_connect(addr);
    let r = c.cmd(&format!("STOR {name}"));
    if r.code != 150 && r.code != 125 {
        return r.code;
    }
    data.write_all(body).expect("upload");
    drop(data);
    c.expect_reply("end of STOR", &[226, 250, 451, 552, 553, 550])
        .code
}

/// RETR `name`: the bytes, or the refusal code.
fn retr(c: &mut Control, name: &str) -> Result<Vec<u8>, u16> {
    let addr = c.pasv();
    let data = data_connect(addr);
    let r = c.cmd(&format!("RETR {name}"));
    if r.code != 150 && r.code != 125 {
        return Err(r.code);
    }
    let bytes = read_all(data, 1 << 20);
    c.expect_reply("end of RETR", &[226, 250]);
    Ok(bytes)
}

/// LIST / NLST `arg`: the text, or the refusal code.
fn listing(c: &mut Control, verb: &str, arg: &str) -> Result<String, u16> {
    let addr = c.pasv();
    let data = data_connect(addr);
    let r = c.cmd(format!("{verb} {arg}").trim_end());
    if r.code != 150 && r.code != 125 {
        return Err(r.code);
    }
    let bytes = read_all(data, 1 << 20);
    c.expect_reply("end of listing", &[226, 250]);
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[test]
fn each_permission_is_enforced_per_user_and_per_directory() {
    let (_dir, file) = users_file(&[
        (
            "pat",
            r#"permissions = ["list", "read"]

[[user.dir]]
path = "/pub"
permissions = ["all"]

[[user.dir]]
path = "/pub/nodelete"
permissions = ["list", "read", "write", "overwrite", "rename", "mkdir"]

[[user.dir]]
path = "/drop"
permissions = ["write"]"#,
        ),
        ("reader", r#"access = "ro""#),
    ]);
    let server = start_with_users(&file, &[]);
    let root = server.root();
    for d in ["pub/nodelete", "drop", "ro"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    std::fs::write(root.join("top.txt"), b"top").expect("seed");
    std::fs::write(root.join("pub/nodelete/keep.txt"), b"keep").expect("seed");
    std::fs::write(root.join("ro/file.txt"), b"ro").expect("seed");

    let mut c = login(&server, "pat");
    // Root: list and read only.
    assert!(listing(&mut c, "LIST", "/")
        .expect("list /")
        .contains("top.txt"));
    assert_eq!(retr(&mut c, "/top.txt").expect("read /"), b"top");
    assert_eq!(stor(&mut c, "/new.txt", b"x"), 550, "write in /");
    c.expect("DELE /top.txt", &[550]);
    c.expect("MKD /newdir", &[550]);
    c.expect("RMD /ro", &[550]);
    c.expect("RNFR /top.txt", &[550]);
    c.expect("SITE CHMOD 600 /top.txt", &[550]);
    c.expect("MFMT 20200101000000 /top.txt", &[550]);

    // /pub: everything.
    assert_eq!(stor(&mut c, "/pub/a.txt", b"one"), 226);
    assert_eq!(stor(&mut c, "/pub/a.txt", b"two"), 226, "overwrite");
    c.expect("MKD /pub/sub", &[257]);
    c.expect("RMD /pub/sub", &[250]);
    c.expect("SITE CHMOD 600 /pub/a.txt", &[200]);
    c.expect("RNFR /pub/a.txt", &[350]);
    c.expect("RNTO /pub/b.txt", &[250]);
    // Renaming out of /pub into the read-only root is refused, the file stays.
    c.expect("RNFR /pub/b.txt", &[350]);
    c.expect("RNTO /b.txt", &[550]);
    assert_eq!(
        std::fs::read(root.join("pub/b.txt")).expect("still there"),
        b"two"
    );
    // And into /pub from the root too (RNFR needs rename where the file is).
    c.expect("RNFR /top.txt", &[550]);
    c.expect("DELE /pub/b.txt", &[250]);

    // /pub/nodelete: the longer rule wins.
    c.expect("DELE /pub/nodelete/keep.txt", &[550]);
    c.expect("MKD /pub/nodelete/d", &[257]);
    c.expect("RMD /pub/nodelete/d", &[550]);
    assert!(root.join("pub/nodelete/keep.txt").exists());

    // /drop: write only; no overwrite, no listing, no download, no SIZE.
    assert_eq!(stor(&mut c, "/drop/in.bin", b"secret drop"), 226);
    assert_eq!(
        stor(&mut c, "/drop/in.bin", b"replaced?"),
        553,
        "no overwrite"
    );
    assert_eq!(
        std::fs::read(root.join("drop/in.bin")).expect("dropped"),
        b"secret drop"
    );
    assert_eq!(listing(&mut c, "LIST", "/drop"), Err(550));
    assert_eq!(listing(&mut c, "NLST", "/drop"), Err(550));
    assert_eq!(listing(&mut c, "MLSD", "/drop"), Err(550));
    assert_eq!(retr(&mut c, "/drop/in.bin"), Err(550));
    c.expect("SIZE /drop/in.bin", &[550]);
    c.expect("MLST /drop/in.bin", &[550]);
    c.expect("STAT /drop", &[550]);
    c.expect("CWD /drop", &[250]);
    c.expect("QUIT", &[221]);

    // A read-only account (access = "ro").
    let mut r = login(&server, "reader");
    assert_eq!(retr(&mut r, "/ro/file.txt").expect("read"), b"ro");
    assert_eq!(stor(&mut r, "/ro/x", b"x"), 550);
    r.expect("DELE /ro/file.txt", &[550]);
    r.expect("RNFR /ro/file.txt", &[550]);
    r.expect("MKD /ro/d", &[550]);
    assert!(root.join("ro/file.txt").exists());
}

#[test]
fn mlsd_perm_facts_follow_the_directory_rules() {
    let (_dir, file) = users_file(&[(
        "pat",
        r#"permissions = ["list", "read"]

[[user.dir]]
path = "/pub"
permissions = ["all"]"#,
    )]);
    let server = start_with_users(&file, &[]);
    std::fs::create_dir_all(server.root().join("pub")).expect("mkdir");
    std::fs::write(server.root().join("pub/f"), b"f").expect("seed");
    std::fs::write(server.root().join("g"), b"g").expect("seed");
    let mut c = login(&server, "pat");
    let top = listing(&mut c, "MLSD", "/").expect("MLSD /");
    let g = top.lines().find(|l| l.ends_with(" g")).expect("g listed");
    assert!(g.contains("perm=r;"), "{g}");
    let pubd = listing(&mut c, "MLSD", "/pub").expect("MLSD /pub");
    let f = pubd.lines().find(|l| l.ends_with(" f")).expect("f listed");
    assert!(f.contains("perm=adfrw;"), "{f}");
}

#[test]
fn disabled_accounts_and_source_networks() {
    let (_dir, file) = users_file(&[
        ("off", "disabled = true"),
        ("far", r#"allow_from = ["10.0.0.0/8"]"#),
        ("near", r#"allow_from = ["127.0.0.1/32", "::1"]"#),
    ]);
    let server = start_with_users(&file, &[]);
    for user in ["off", "far"] {
        let mut c = Control::connect(server.addr());
        c.expect(&format!("USER {user}"), &[331]);
        let r = c.expect(&format!("PASS {PW}"), &[530]);
        // The reply does not say why (no account enumeration).
        assert!(r.text.contains("Login incorrect"), "{user}: {r}");
    }
    let mut c = login(&server, "near");
    c.expect("NOOP", &[200]);
    let logs = server.logs();
    assert!(logs.contains("disabled"), "{logs}");
    assert!(logs.contains("address_not_allowed"), "{logs}");
    assert!(!logs.contains(PW), "a password reached the logs");
}

#[test]
fn per_account_session_limit() {
    let (_dir, file) = users_file(&[("solo", "max_sessions = 1"), ("duo", "")]);
    let server = start_with_users(&file, &["--max-sessions-per-user", "2"]);
    let first = login(&server, "solo");
    let mut second = Control::connect(server.addr());
    second.expect("USER solo", &[331]);
    let r = second.expect(&format!("PASS {PW}"), &[530]);
    assert!(r.text.contains("too many sessions"), "{r}");
    drop(first);
    // The slot comes back when the first session ends (bounded wait).
    let mut ok = false;
    for _ in 0..50 {
        let mut c = Control::connect(server.addr());
        c.expect("USER solo", &[331]);
        if c.cmd(&format!("PASS {PW}")).code == 230 {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(ok, "the slot was never given back");
    // The server-wide per-user default applies to accounts without their own.
    let _d1 = login(&server, "duo");
    let _d2 = login(&server, "duo");
    let mut d3 = Control::connect(server.addr());
    d3.expect("USER duo", &[331]);
    d3.expect(&format!("PASS {PW}"), &[530]);
}

#[test]
fn anonymous_upload_only_lands_in_incoming_unseen() {
    let server = Server::builder()
        .anonymous("upload-only")
        .args(&["--anonymous-incoming", "/upload"])
        .start();
    let root = server.root();
    assert!(root.join("upload").is_dir(), "incoming folder created");
    std::fs::write(root.join("readme.txt"), b"hello").expect("seed");
    let mut c = Control::login(server.addr(), "anonymous", "guest@example.com");
    c.expect("TYPE I", &[200]);
    // The rest of the tree is read-only.
    assert_eq!(retr(&mut c, "/readme.txt").expect("read"), b"hello");
    assert_eq!(stor(&mut c, "/evil.txt", b"x"), 550);
    c.expect("MKD /upload/dir", &[550]);
    // Uploads land in the incoming folder...
    c.expect("CWD /upload", &[250]);
    assert_eq!(stor(&mut c, "warez.bin", b"payload"), 226);
    assert_eq!(
        std::fs::read(root.join("upload/warez.bin")).expect("landed"),
        b"payload"
    );
    // ...and cannot be listed, downloaded, overwritten, renamed or deleted.
    assert_eq!(listing(&mut c, "LIST", ""), Err(550));
    assert_eq!(listing(&mut c, "NLST", "/upload"), Err(550));
    assert_eq!(retr(&mut c, "warez.bin"), Err(550));
    assert_eq!(stor(&mut c, "warez.bin", b"other"), 553);
    c.expect("APPE warez.bin", &[550]);
    c.expect("RNFR warez.bin", &[550]);
    c.expect("DELE warez.bin", &[550]);
    c.expect("SIZE warez.bin", &[550]);
    assert_eq!(
        std::fs::read(root.join("upload/warez.bin")).expect("unchanged"),
        b"payload"
    );
    // The account with a password still sees everything.
    let mut admin = Control::login(server.addr(), support::USER, support::PASS);
    admin.expect("TYPE I", &[200]);
    assert_eq!(
        retr(&mut admin, "/upload/warez.bin").expect("admin reads"),
        b"payload"
    );
}
