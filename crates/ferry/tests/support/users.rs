//! Users files for tests: accounts with a known password and any policy keys.

use std::path::{Path, PathBuf};

use ferry_proto::Password;

use super::Server;

/// The password of every account made by [`users_file`].
pub const USERS_PW: &str = "pw-for-tests";

/// A users file in a fresh temporary directory (kept alive by the returned guard). Each
/// entry is a name and the TOML body of its `[[user]]` table (its `[[user.dir]]` tables
/// included); the password hash of [`USERS_PW`] is added.
pub fn users_file(entries: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let hash = ferry_storage::users::hash_password(&Password::new(USERS_PW)).expect("hash");
    let mut text = String::new();
    for (name, body) in entries {
        // `[[user.dir]]` tables must follow their `[[user]]` keys: the body comes last.
        text.push_str(&format!(
            "[[user]]\nname = \"{name}\"\npassword = \"{hash}\"\n{body}\n\n"
        ));
    }
    let path = dir.path().join("users.toml");
    std::fs::write(&path, text).expect("write users file");
    (dir, path)
}

/// A server with `--users-file file` and the `extra` arguments.
pub fn start_with_users(file: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["--users-file", file.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    Server::builder().args(&args).start()
}
