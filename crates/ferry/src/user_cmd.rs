//! `ferry user add|passwd|del|list`: edit a users file.
//!
//! Passwords are read from the terminal without echo (asked twice), or as one line from
//! standard input when it is not a terminal or `--password-stdin` is given. They are hashed
//! by `ferry_storage::users` (argon2id, PHC string); the file never holds them in clear and
//! `list` never shows the hashes.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use ferry_proto::Password;
use ferry_storage::Access;

use crate::cli::{PasswordSource, UserCommand};
use crate::config::check_user_name;
use crate::UsageError;
use ferry_storage::users::UsersFile;

/// Longest password accepted, in bytes.
const MAX_PASSWORD_BYTES: usize = 1024;

/// Runs one `ferry user` subcommand.
pub fn run(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add(args) => {
            check_user_name(&args.name).map_err(UsageError)?;
            let path = &args.file.file;
            let mut file =
                UsersFile::load_or_default(path).context("cannot read the users file")?;
            if find(&file, &args.name) {
                bail!("user `{}` already exists in {}", args.name, path.display());
            }
            let password = read_password(&args.password)?;
            let access = if args.ro {
                Access::ReadOnly
            } else {
                Access::ReadWrite
            };
            let home = match args.home {
                Some(home) => Some(absolute_home(&home)?),
                None => None,
            };
            file.add(&args.name, &password, home, access)
                .with_context(|| format!("cannot add user `{}`", args.name))?;
            save(&file, path)?;
            println!(
                "Added user `{}` ({}) to {}",
                args.name,
                access_name(access),
                path.display()
            );
        }
        UserCommand::Passwd(args) => {
            let path = &args.file.file;
            let mut file = load_existing(path)?;
            if !find(&file, &args.name) {
                bail!("no user `{}` in {}", args.name, path.display());
            }
            let password = read_password(&args.password)?;
            file.set_password(&args.name, &password)
                .with_context(|| format!("cannot set the password of `{}`", args.name))?;
            save(&file, path)?;
            println!("Changed the password of `{}`", args.name);
        }
        UserCommand::Del(args) => {
            let path = &args.file.file;
            let mut file = load_existing(path)?;
            if !find(&file, &args.name) {
                bail!("no user `{}` in {}", args.name, path.display());
            }
            file.remove(&args.name)
                .with_context(|| format!("cannot delete user `{}`", args.name))?;
            save(&file, path)?;
            println!("Deleted user `{}` from {}", args.name, path.display());
        }
        UserCommand::List(args) => {
            let file = load_existing(&args.file)?;
            print_list(&file)?;
        }
    }
    Ok(())
}

/// A `--home` made absolute (command-line paths are relative to the current directory,
/// while the users file resolves relative homes against its own directory). A home that
/// does not exist yet is allowed, with a note.
fn absolute_home(home: &Path) -> anyhow::Result<PathBuf> {
    let absolute = std::path::absolute(home)
        .with_context(|| format!("cannot resolve home {}", home.display()))?;
    if !absolute.is_dir() {
        eprintln!(
            "ferry: note: home {} is not a directory (yet)",
            absolute.display()
        );
    }
    Ok(absolute)
}

fn find(file: &UsersFile, name: &str) -> bool {
    file.users.iter().any(|u| u.name == name)
}

fn load_existing(path: &Path) -> anyhow::Result<UsersFile> {
    UsersFile::load(path).context("cannot read the users file")
}

fn save(file: &UsersFile, path: &Path) -> anyhow::Result<()> {
    file.save(path).context("cannot write the users file")
}

fn access_name(access: Access) -> &'static str {
    match access {
        Access::ReadOnly => "ro",
        Access::ReadWrite => "rw",
    }
}

/// `NAME ACCESS HOME` in aligned columns; a missing home is the server's root.
fn print_list(file: &UsersFile) -> anyhow::Result<()> {
    let rows: Vec<[String; 3]> = file
        .users
        .iter()
        .map(|u| {
            [
                u.name.clone(),
                access_name(u.access).to_string(),
                u.home
                    .as_ref()
                    .map_or_else(|| "(server root)".to_string(), |h| h.display().to_string()),
            ]
        })
        .collect();
    let width = rows
        .iter()
        .map(|[name, ..]| name.chars().count())
        .max()
        .unwrap_or(0)
        .max("NAME".len());
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<width$}  ACCESS  HOME", "NAME")?;
    for [name, access, home] in rows {
        writeln!(out, "{name:<width$}  {access:<6}  {home}")?;
    }
    out.flush()?;
    Ok(())
}

/// Reads a new password: one line from standard input when asked to or when it is not a
/// terminal, else twice from the terminal without echo.
fn read_password(source: &PasswordSource) -> anyhow::Result<Password> {
    let stdin = std::io::stdin();
    let password = if source.password_stdin || !stdin.is_terminal() {
        read_password_line(&mut stdin.lock())?
    } else {
        let first = rpassword::prompt_password("New password: ")
            .context("cannot read the password from the terminal")?;
        let second = rpassword::prompt_password("Retype new password: ")
            .context("cannot read the password from the terminal")?;
        if first != second {
            bail!("the passwords do not match");
        }
        first
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    if password.len() > MAX_PASSWORD_BYTES {
        bail!("the password is longer than {MAX_PASSWORD_BYTES} bytes");
    }
    Ok(Password::new(password))
}

/// One line (without its line end) of at most `MAX_PASSWORD_BYTES` bytes.
fn read_password_line(input: &mut impl BufRead) -> anyhow::Result<String> {
    let mut line = Vec::new();
    input
        .take(MAX_PASSWORD_BYTES as u64 + 2)
        .read_until(b'\n', &mut line)
        .context("cannot read the password from standard input")?;
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    } else if line.len() > MAX_PASSWORD_BYTES {
        bail!("the password is longer than {MAX_PASSWORD_BYTES} bytes");
    }
    String::from_utf8(line).map_err(|_| anyhow::anyhow!("the password is not UTF-8"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn password_line() {
        let read = |s: &[u8]| read_password_line(&mut std::io::Cursor::new(s.to_vec()));
        assert_eq!(read(b"secret\n").unwrap(), "secret");
        assert_eq!(read(b"secret\r\nmore\n").unwrap(), "secret");
        assert_eq!(read(b"a:b c").unwrap(), "a:b c");
        assert_eq!(read(b"").unwrap(), "");
        assert!(read(&[b'x'; 5000]).is_err());
        assert!(read(b"\xff\n").is_err());
    }
}
