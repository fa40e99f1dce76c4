//! Tests of the users file and of logins. Argon2 with its default parameters is slow in
//! debug builds, so each test verifies or hashes only a few passwords.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ferry_proto::Password;
use ferry_storage::users::{
    hash_password, validate_name, verify_password, AnonymousMode, UserDb, UserEntry, UsersError,
    UsersFile,
};
use ferry_storage::{Access, AuthError, Authenticator};

/// The argon2id hash (default parameters) of [`KNOWN_PASSWORD`].
const KNOWN_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$JBBvbHvFDQXt1xakE3JWbw$\
                          ylQzpolvX6MLPlftcAIATMtg8QGVcZGH0CjQjLgUwJk";
const KNOWN_PASSWORD: &str = "correct horse battery";

fn entry(name: &str, home: Option<&str>, access: Access) -> UserEntry {
    UserEntry {
        name: name.to_string(),
        password: KNOWN_HASH.to_string(),
        home: home.map(PathBuf::from),
        access,
        disabled: false,
        policy: Default::default(),
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write users file");
}

#[test]
fn anonymous_mode_parse_and_display() {
    for (text, mode) in [
        ("off", AnonymousMode::Off),
        ("ro", AnonymousMode::ReadOnly),
        ("rw", AnonymousMode::ReadWrite),
    ] {
        assert_eq!(text.parse::<AnonymousMode>().expect("parse"), mode);
        assert_eq!(mode.to_string(), text);
    }
    assert_eq!(
        "RW".parse::<AnonymousMode>().expect("parse"),
        AnonymousMode::ReadWrite
    );
    assert!("yes".parse::<AnonymousMode>().is_err());
    assert!("".parse::<AnonymousMode>().is_err());
    assert_eq!(AnonymousMode::default(), AnonymousMode::Off);
}

#[test]
fn user_names() {
    for ok in [
        "alice",
        "a",
        "bob.smith",
        "x_y-z",
        "me@example.org",
        "A1",
        &"n".repeat(64),
    ] {
        assert!(validate_name(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "-rf",
        ".hidden",
        "with space",
        "slash/name",
        "colon:name",
        "nul\0",
        "ünïcode",
        &"n".repeat(65),
    ] {
        assert!(
            matches!(validate_name(bad), Err(UsersError::InvalidName(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn file_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("users.toml");
    let file = UsersFile {
        users: vec![
            entry("alice", Some("/srv/alice"), Access::ReadWrite),
            entry("bob", None, Access::ReadOnly),
        ],
    };
    file.save(&path).expect("save");
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let loaded = UsersFile::load(&path).expect("load");
    assert_eq!(loaded, file);
    // Saving again replaces the file; no temporary file is left behind.
    loaded.save(&path).expect("save again");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["users.toml"]);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains("[[user]]"), "{text}");
    assert!(text.contains("access = \"ro\""), "{text}");
}

#[test]
fn load_defaults_and_relative_home() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("users.toml");
    write(
        &path,
        &format!(
            "[[user]]\nname = \"carol\"\npassword = \"{KNOWN_HASH}\"\nhome = \"homes/carol\"\n\n\
             [[user]]\nname = \"dave\"\npassword = \"{KNOWN_HASH}\"\n"
        ),
    );
    let file = UsersFile::load(&path).expect("load");
    let carol = file.get("carol").expect("carol");
    assert_eq!(
        carol.home.as_deref(),
        Some(dir.path().join("homes/carol").as_path())
    );
    assert_eq!(carol.access, Access::ReadWrite);
    let dave = file.get("dave").expect("dave");
    assert_eq!(dave.home, None);
    assert_eq!(dave.access, Access::ReadWrite);
}

#[test]
fn load_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("users.toml");

    assert!(matches!(UsersFile::load(&path), Err(UsersError::Io { .. })));
    assert_eq!(
        UsersFile::load_or_default(&path).expect("default"),
        UsersFile::default()
    );

    write(&path, "");
    assert!(UsersFile::load(&path).expect("empty").users.is_empty());

    write(
        &path,
        "[[user]]\nname = \"eve\"\npassword = \"x\"\nshell = \"/bin/sh\"\n",
    );
    match UsersFile::load(&path) {
        Err(UsersError::Parse { line, message, .. }) => {
            assert!(line >= 1, "{line}");
            assert!(message.contains("shell"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    write(&path, "[[user]]\nname = \"eve\"\npassword = \n");
    match UsersFile::load(&path) {
        Err(e @ UsersError::Parse { line: 3, .. }) => {
            assert!(e.to_string().contains("users.toml:3:"), "{e}");
        }
        other => panic!("{other:?}"),
    }

    write(
        &path,
        &format!("[[user]]\nname = \"eve\"\npassword = \"{KNOWN_HASH}\"\naccess = \"admin\"\n"),
    );
    assert!(matches!(
        UsersFile::load(&path),
        Err(UsersError::Parse { .. })
    ));

    write(&path, "[[user]]\nname = \"eve\"\npassword = \"hunter2\"\n");
    match UsersFile::load(&path) {
        Err(e @ UsersError::InvalidHash(_)) => assert!(!e.to_string().contains("hunter2")),
        other => panic!("{other:?}"),
    }

    write(
        &path,
        &format!("[[user]]\nname = \"-x\"\npassword = \"{KNOWN_HASH}\"\n"),
    );
    assert!(matches!(
        UsersFile::load(&path),
        Err(UsersError::InvalidName(_))
    ));

    write(
        &path,
        &format!(
            "[[user]]\nname = \"eve\"\npassword = \"{KNOWN_HASH}\"\n\
             [[user]]\nname = \"eve\"\npassword = \"{KNOWN_HASH}\"\n"
        ),
    );
    assert!(matches!(
        UsersFile::load(&path),
        Err(UsersError::DuplicateUser(name)) if name == "eve"
    ));
}

#[test]
fn edit_users() {
    let mut file = UsersFile::default();
    file.add("alice", &Password::new("first"), None, Access::ReadWrite)
        .expect("add");
    assert!(matches!(
        file.add("alice", &Password::new("x"), None, Access::ReadWrite),
        Err(UsersError::DuplicateUser(_))
    ));
    assert!(matches!(
        file.add("bad name", &Password::new("x"), None, Access::ReadWrite),
        Err(UsersError::InvalidName(_))
    ));
    let first_hash = file.get("alice").expect("alice").password.clone();
    assert!(first_hash.starts_with("$argon2id$"));
    assert!(!first_hash.contains("first"));

    file.set_password("alice", &Password::new("second"))
        .expect("passwd");
    let second_hash = file.get("alice").expect("alice").password.clone();
    assert_ne!(first_hash, second_hash);
    assert!(verify_password(&Password::new("second"), &second_hash));
    assert!(!verify_password(&Password::new("first"), &second_hash));

    file.set_access("alice", Access::ReadOnly).expect("access");
    file.set_home("alice", Some(PathBuf::from("/srv/a")))
        .expect("home");
    let alice = file.get("alice").expect("alice");
    assert_eq!(alice.access, Access::ReadOnly);
    assert_eq!(alice.home.as_deref(), Some(Path::new("/srv/a")));

    assert!(matches!(
        file.set_access("nobody", Access::ReadOnly),
        Err(UsersError::UnknownUser(_))
    ));
    assert!(matches!(
        file.remove("nobody"),
        Err(UsersError::UnknownUser(_))
    ));
    file.users.push(entry("bob", None, Access::ReadWrite));
    file.remove("alice").expect("remove");
    let names: Vec<_> = file.users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["bob"]);
}

#[test]
fn hashes_are_salted_and_malformed_hashes_never_verify() {
    let a = hash_password(&Password::new("same")).expect("hash");
    let b = hash_password(&Password::new("same")).expect("hash");
    assert_ne!(a, b);
    assert!(!verify_password(&Password::new("same"), "not a hash"));
    assert!(!verify_password(&Password::new("same"), ""));
    assert!(!verify_password(
        &Password::new("same"),
        "$argon2id$v=19$m=1"
    ));
}

fn db_with_known_users(anonymous: AnonymousMode) -> UserDb {
    let mut db = UserDb::new(PathBuf::from("/srv/ftp"), anonymous);
    db.add_users_file(UsersFile {
        users: vec![
            entry("alice", Some("/home/alice"), Access::ReadWrite),
            entry("bob", None, Access::ReadOnly),
        ],
    })
    .expect("add file");
    db
}

#[tokio::test]
async fn login_right_password() {
    let db = db_with_known_users(AnonymousMode::Off);
    assert!(db.has_users());
    let account = db
        .authenticate("alice", &Password::new(KNOWN_PASSWORD))
        .await
        .expect("login");
    assert_eq!(account.name, "alice");
    assert_eq!(account.home, PathBuf::from("/home/alice"));
    assert_eq!(account.access, Access::ReadWrite);
    assert!(!account.anonymous);
}

#[tokio::test]
async fn login_default_home_and_access() {
    let db = db_with_known_users(AnonymousMode::Off);
    let account = db
        .authenticate("bob", &Password::new(KNOWN_PASSWORD))
        .await
        .expect("login");
    assert_eq!(account.home, PathBuf::from("/srv/ftp"));
    assert_eq!(account.access, Access::ReadOnly);
}

#[tokio::test]
async fn login_wrong_password_fails() {
    let db = db_with_known_users(AnonymousMode::Off);
    assert!(matches!(
        db.authenticate("alice", &Password::new("wrong")).await,
        Err(AuthError::Invalid)
    ));
}

#[tokio::test]
async fn login_unknown_user_fails() {
    let db = db_with_known_users(AnonymousMode::Off);
    // Even with the password of another account, and with a name differing only in case.
    assert!(matches!(
        db.authenticate("mallory", &Password::new(KNOWN_PASSWORD))
            .await,
        Err(AuthError::Invalid)
    ));
    assert!(matches!(
        db.authenticate("ALICE", &Password::new(KNOWN_PASSWORD))
            .await,
        Err(AuthError::Invalid)
    ));
}

#[tokio::test]
async fn command_line_user() {
    let mut db = UserDb::new(PathBuf::from("/srv/ftp"), AnonymousMode::Off);
    assert!(!db.has_users());
    db.add_user("carol", &Password::new("s3cret"), None, Access::ReadWrite)
        .expect("add");
    assert!(matches!(
        db.add_user("carol", &Password::new("x"), None, Access::ReadWrite),
        Err(UsersError::DuplicateUser(_))
    ));
    assert!(matches!(
        db.add_users_file(UsersFile {
            users: vec![entry("carol", None, Access::ReadOnly)],
        }),
        Err(UsersError::DuplicateUser(_))
    ));
    assert!(matches!(
        db.add_user(".x", &Password::new("x"), None, Access::ReadWrite),
        Err(UsersError::InvalidName(_))
    ));
    let debug = format!("{db:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(!debug.contains("$argon2"), "{debug}");
    let account = db
        .authenticate("carol", &Password::new("s3cret"))
        .await
        .expect("login");
    assert_eq!(account.home, PathBuf::from("/srv/ftp"));
}

#[tokio::test]
async fn anonymous_modes() {
    let off = db_with_known_users(AnonymousMode::Off);
    assert!(!off.is_anonymous("anonymous"));
    assert!(!off.is_anonymous("ftp"));
    assert_eq!(off.anonymous(), AnonymousMode::Off);

    for (mode, access) in [
        (AnonymousMode::ReadOnly, Access::ReadOnly),
        (AnonymousMode::ReadWrite, Access::ReadWrite),
    ] {
        let db = UserDb::new(PathBuf::from("/srv/pub"), mode);
        assert_eq!(db.anonymous(), mode);
        assert!(!db.has_users());
        for name in ["anonymous", "ftp", "Anonymous", "FTP"] {
            assert!(db.is_anonymous(name), "{name}");
            let account = db
                .authenticate(name, &Password::new("guest@example.org"))
                .await
                .expect("anonymous login");
            assert_eq!(account.name, "anonymous");
            assert_eq!(account.home, PathBuf::from("/srv/pub"));
            assert_eq!(account.access, access);
            assert!(account.anonymous);
        }
        assert!(!db.is_anonymous("alice"));
        assert!(!db.is_anonymous("anon"));
    }
}

#[tokio::test]
async fn anonymous_off_refuses_anonymous() {
    let db = UserDb::new(PathBuf::from("/srv/pub"), AnonymousMode::Off);
    assert!(matches!(
        db.authenticate("anonymous", &Password::new("guest@")).await,
        Err(AuthError::Invalid)
    ));
}

#[test]
fn secrets_never_in_debug_or_errors() {
    let password = Password::new("p4ssw0rd-secret");
    assert!(!format!("{password:?}").contains("p4ssw0rd"));

    let user = entry("alice", None, Access::ReadWrite);
    let file = UsersFile {
        users: vec![user.clone()],
    };
    let db = {
        let mut db = UserDb::new(PathBuf::from("/srv"), AnonymousMode::ReadOnly);
        db.add_users_file(file.clone()).expect("add");
        db
    };
    for debug in [
        format!("{user:?}"),
        format!("{file:?}"),
        format!("{file:#?}"),
        format!("{db:?}"),
    ] {
        assert!(!debug.contains(KNOWN_HASH), "{debug}");
        assert!(!debug.contains("argon2"), "{debug}");
        assert!(debug.contains("alice"), "{debug}");
    }
    let errors = [
        UsersError::InvalidHash("alice".into()),
        UsersError::UnknownUser("alice".into()),
        UsersError::DuplicateUser("alice".into()),
        UsersError::InvalidName("al ice".into()),
    ];
    for e in errors {
        assert!(!format!("{e:?} {e}").contains("$argon2"));
    }
}

#[tokio::test]
async fn policies_load_round_trip_and_apply_at_login() {
    use ferry_proto::perm::{Perm, PermSet};
    use ferry_proto::VirtualPath;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("users.toml");
    write(
        &path,
        &format!(
            r#"
[[user]]
name = "alice"
password = "{KNOWN_HASH}"
permissions = ["list", "read"]
allow_from = ["192.0.2.0/24", "2001:db8::1"]
quota_bytes = "1MiB"
quota_files = 10
upload_rate = "2MiB"
download_rate = 4096
max_sessions = 2

[[user.dir]]
path = "/pub/"
permissions = ["all"]

[[user.dir]]
path = "/pub/locked"
permissions = ["none"]

[[user]]
name = "bob"
password = "{KNOWN_HASH}"
disabled = true
"#
        ),
    );
    let file = UsersFile::load(&path).expect("load");
    let alice = file.get("alice").expect("alice");
    let p = &alice.policy;
    assert_eq!(p.quota.max_bytes, Some(1 << 20));
    assert_eq!(p.quota.max_files, Some(10));
    assert_eq!(p.upload_rate, Some(2 << 20));
    assert_eq!(p.download_rate, Some(4096));
    assert_eq!(p.max_sessions, Some(2));
    assert_eq!(p.allow_from.len(), 2);
    let perms = p.permissions.as_ref().expect("permissions");
    let vp = |s: &str| VirtualPath::root().join(s).expect("path");
    assert_eq!(perms.in_dir(&vp("/")), PermSet::read_only());
    assert_eq!(perms.in_dir(&vp("/pub/x")), PermSet::all());
    assert_eq!(perms.in_dir(&vp("/pub/locked/y")), PermSet::NONE);
    assert!(file.get("bob").expect("bob").disabled);

    // Saving keeps everything (values normalised).
    file.save(&path).expect("save");
    assert_eq!(UsersFile::load(&path).expect("reload"), file);

    let mut db = UserDb::new(PathBuf::from("/srv"), AnonymousMode::Off);
    db.add_users_file(file).expect("db");
    let ok = db
        .authenticate("alice", &Password::new(KNOWN_PASSWORD))
        .await
        .expect("alice logs in");
    assert!(ok.allowed_from("192.0.2.77".parse().expect("ip")));
    assert!(!ok.allowed_from("198.51.100.1".parse().expect("ip")));
    assert!(ok.permissions().in_dir(&vp("/pub")).has(Perm::Delete));
    // A disabled account with the right password: Disabled; with a wrong one: Invalid.
    assert!(matches!(
        db.authenticate("bob", &Password::new(KNOWN_PASSWORD)).await,
        Err(AuthError::Disabled)
    ));
    assert!(matches!(
        db.authenticate("bob", &Password::new("wrong")).await,
        Err(AuthError::Invalid)
    ));
    assert!(matches!(db.lookup("bob").await, Err(AuthError::Disabled)));
}

#[test]
fn invalid_policies_are_located_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("users.toml");
    for (field, needle) in [
        ("permissions = [\"fly\"]", "unknown permission"),
        ("allow_from = [\"nowhere\"]", "allow_from"),
        ("quota_bytes = \"lots\"", "quota_bytes"),
        ("upload_rate = 10", "too slow"),
        (
            "[[user.dir]]\npath = \"/a\"\npermissions = [\"swim\"]",
            "dir \"/a\"",
        ),
    ] {
        write(
            &path,
            &format!("[[user]]\nname = \"alice\"\npassword = \"{KNOWN_HASH}\"\n{field}\n"),
        );
        let err = UsersFile::load(&path).expect_err(field).to_string();
        assert!(
            err.contains("alice") && err.contains(needle),
            "{field}: {err}"
        );
    }
}

#[tokio::test]
async fn anonymous_upload_only_writes_only_into_incoming() {
    use ferry_proto::perm::Perm;
    use ferry_proto::VirtualPath;
    let vp = |s: &str| VirtualPath::root().join(s).expect("path");
    let mut db = UserDb::new(PathBuf::from("/srv"), AnonymousMode::UploadOnly);
    db.set_anonymous_incoming(vp("/drop"));
    let a = db
        .authenticate("anonymous", &Password::new("me@example.com"))
        .await
        .expect("anonymous");
    assert!(a.anonymous);
    let p = a.permissions();
    assert!(p.in_dir(&vp("/")).has(Perm::Read));
    assert!(!p.in_dir(&vp("/")).has(Perm::Write));
    let drop = p.in_dir(&vp("/drop"));
    assert!(drop.has(Perm::Write));
    for no in [
        Perm::List,
        Perm::Read,
        Perm::Overwrite,
        Perm::Delete,
        Perm::Rename,
    ] {
        assert!(!drop.has(no), "{no:?}");
    }
    assert_eq!(
        "upload-only".parse::<AnonymousMode>(),
        Ok(AnonymousMode::UploadOnly)
    );
}

// The login cache (ferry_storage::users::login_cache).

fn stats(db: &UserDb) -> (u64, u64, usize) {
    let s = db.cache_stats();
    (s.hits, s.misses, s.entries)
}

#[tokio::test]
async fn login_cache_second_login_is_a_hit() {
    let db = db_with_known_users(AnonymousMode::ReadOnly);
    assert_eq!(stats(&db), (0, 0, 0));
    let right = Password::new(KNOWN_PASSWORD);
    let first = db.authenticate("alice", &right).await.expect("login");
    assert_eq!(stats(&db), (0, 1, 1));
    for n in 1..=3 {
        let again = db
            .authenticate("alice", &right)
            .await
            .expect("cached login");
        assert_eq!(again, first, "a hit gives the same account");
        assert_eq!(stats(&db), (n, 1, 1));
    }
    // Another user with the same password is a different key.
    db.authenticate("bob", &right).await.expect("bob");
    assert_eq!(stats(&db), (3, 2, 2));
    // Anonymous logins are neither hashed nor cached.
    db.authenticate("anonymous", &Password::new("x"))
        .await
        .expect("anonymous");
    assert_eq!(stats(&db), (3, 2, 2));
}

#[tokio::test]
async fn login_cache_never_holds_or_serves_wrong_passwords() {
    let db = db_with_known_users(AnonymousMode::Off);
    let wrong = Password::new("wrong");
    for misses in 1..=2 {
        assert!(matches!(
            db.authenticate("alice", &wrong).await,
            Err(AuthError::Invalid)
        ));
        assert_eq!(stats(&db), (0, misses, 0), "failures are not cached");
    }
    db.authenticate("alice", &Password::new(KNOWN_PASSWORD))
        .await
        .expect("login");
    assert_eq!(stats(&db), (0, 3, 1));
    // With the right password cached, wrong ones and near misses still pay the hash and fail.
    for bad in [
        "wrong",
        "",
        "correct horse batter",
        "correct horse battery ",
    ] {
        assert!(matches!(
            db.authenticate("alice", &Password::new(bad)).await,
            Err(AuthError::Invalid)
        ));
    }
    assert_eq!(stats(&db), (0, 7, 1));
    // Unknown users are never cached, even with a known password.
    for _ in 0..2 {
        assert!(db
            .authenticate("mallory", &Password::new(KNOWN_PASSWORD))
            .await
            .is_err());
    }
    assert_eq!(stats(&db), (0, 9, 1));
}

#[tokio::test]
async fn login_cache_skips_disabled_accounts() {
    let mut db = UserDb::new(PathBuf::from("/srv"), AnonymousMode::Off);
    let mut off = entry("dave", None, Access::ReadWrite);
    off.disabled = true;
    db.add_users_file(UsersFile { users: vec![off] })
        .expect("add");
    for misses in 1..=2 {
        assert!(matches!(
            db.authenticate("dave", &Password::new(KNOWN_PASSWORD))
                .await,
            Err(AuthError::Disabled)
        ));
        assert_eq!(stats(&db), (0, misses, 0));
    }
}

#[tokio::test]
async fn login_cache_forgets_a_changed_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("users.toml");
    let mut file = UsersFile {
        users: vec![entry("alice", None, Access::ReadWrite)],
    };
    file.save(&path).expect("save");
    let load = |path: &Path| {
        let mut db = UserDb::new(PathBuf::from("/srv"), AnonymousMode::Off);
        db.add_users_file(UsersFile::load(path).expect("load"))
            .expect("add");
        db
    };
    let old = Password::new(KNOWN_PASSWORD);
    let db = load(&path);
    db.authenticate("alice", &old).await.expect("login");
    db.authenticate("alice", &old).await.expect("cached login");
    assert_eq!(stats(&db), (1, 1, 1));

    // `ferry user passwd` and a reload: a new UserDb from the changed file.
    let new = Password::new("a new password");
    file.set_password("alice", &new).expect("passwd");
    file.save(&path).expect("save");
    let db = load(&path);
    assert!(matches!(
        db.authenticate("alice", &old).await,
        Err(AuthError::Invalid)
    ));
    db.authenticate("alice", &new).await.expect("new password");
    db.authenticate("alice", &new).await.expect("cached");
    assert_eq!(stats(&db), (1, 2, 1));
    assert!(db.authenticate("alice", &old).await.is_err());
}

#[tokio::test]
async fn login_cache_is_bounded() {
    let mut db = UserDb::new(PathBuf::from("/srv"), AnonymousMode::Off);
    db.set_login_cache(3, std::time::Duration::from_secs(300));
    let names = ["u0", "u1", "u2", "u3", "u4"];
    db.add_users_file(UsersFile {
        users: names
            .iter()
            .map(|n| entry(n, None, Access::ReadWrite))
            .collect(),
    })
    .expect("add");
    let right = Password::new(KNOWN_PASSWORD);
    for (i, name) in names.iter().enumerate() {
        db.authenticate(name, &right).await.expect("login");
        assert_eq!(db.cache_stats().entries, (i + 1).min(3));
    }
    assert_eq!(stats(&db), (0, 5, 3));
    // The newest are kept, the oldest dropped.
    db.authenticate("u4", &right).await.expect("login");
    assert_eq!(stats(&db), (1, 5, 3));
    db.authenticate("u0", &right).await.expect("login");
    assert_eq!(stats(&db), (1, 6, 3));
}

#[tokio::test]
async fn login_cache_entries_expire_and_can_be_turned_off() {
    let mut db = db_with_known_users(AnonymousMode::Off);
    let ttl = std::time::Duration::from_millis(20);
    db.set_login_cache(16, ttl);
    let right = Password::new(KNOWN_PASSWORD);
    db.authenticate("alice", &right).await.expect("login");
    assert_eq!(stats(&db), (0, 1, 1));
    std::thread::sleep(ttl * 3);
    db.authenticate("alice", &right).await.expect("login");
    assert_eq!(stats(&db), (0, 2, 1), "an expired entry is a miss");

    db.set_login_cache(0, std::time::Duration::from_secs(300));
    for misses in 1..=2 {
        db.authenticate("alice", &right).await.expect("login");
        assert_eq!(stats(&db), (0, misses, 0), "capacity 0: no cache");
    }
}

#[test]
fn verify_password_follows_the_parameters_of_each_hash() {
    use argon2::password_hash::{PasswordHasher, SaltString};
    // Hashes made elsewhere with other parameters, versions and variants verify too.
    let salt = SaltString::encode_b64(b"sixteen byte slt").expect("salt");
    for (algorithm, version, m, t, p) in [
        (argon2::Algorithm::Argon2id, argon2::Version::V0x13, 8, 1, 1),
        (
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            64,
            3,
            2,
        ),
        (argon2::Algorithm::Argon2i, argon2::Version::V0x13, 32, 2, 1),
        (argon2::Algorithm::Argon2d, argon2::Version::V0x10, 16, 1, 1),
    ] {
        let params = argon2::Params::new(m, t, p, None).expect("params");
        let phc = argon2::Argon2::new(algorithm, version, params)
            .hash_password(b"right", &salt)
            .expect("hash")
            .to_string();
        assert!(verify_password(&Password::new("right"), &phc), "{phc}");
        assert!(!verify_password(&Password::new("wrong"), &phc), "{phc}");
        // The memory kept from a larger hash serves a smaller one, and back.
        let default = hash_password(&Password::new("right")).expect("hash");
        assert!(verify_password(&Password::new("right"), &default));
        assert!(!verify_password(&Password::new("Right"), &default));
    }
    // Another algorithm's PHC string is not an argon2 hash.
    assert!(!verify_password(
        &Password::new("x"),
        "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E"
    ));
}
