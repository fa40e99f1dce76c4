//! `.netrc` files: `machine NAME login USER password PASS account ACCT`, `default ...`,
//! and `macdef NAME` blocks (skipped up to the next empty line).
//!
//! Tokens are separated by any whitespace; a token may be double-quoted (with `\"` and `\\`
//! escapes) to hold spaces. Unknown keywords are skipped with their value. The first
//! `machine` entry naming the host wins, else the `default` entry.

use std::fmt;
use std::path::Path;

use anyhow::Context;

/// One `machine` (or `default`) entry. `Debug` hides the password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NetrcEntry {
    /// The host name; `None` for the `default` entry.
    pub machine: Option<String>,
    /// `login`.
    pub login: Option<String>,
    /// `password`.
    pub password: Option<String>,
    /// `account`.
    pub account: Option<String>,
}

impl fmt::Debug for NetrcEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetrcEntry")
            .field("machine", &self.machine)
            .field("login", &self.login)
            .field("password", &self.password.as_ref().map(|_| "****"))
            .field("account", &self.account.as_ref().map(|_| "****"))
            .finish()
    }
}

/// A parsed `.netrc`.
#[derive(Debug, Clone, Default)]
pub struct Netrc {
    /// The entries in file order.
    pub entries: Vec<NetrcEntry>,
}

/// Splits one line into tokens (quoted tokens may hold spaces).
fn tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut tok = String::new();
        if c == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => {
                        if let Some(n) = chars.next() {
                            tok.push(n);
                        }
                    }
                    _ => tok.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                tok.push(c);
                chars.next();
            }
        }
        out.push(tok);
    }
    out
}

impl Netrc {
    /// Parses the text of a `.netrc` file. Never fails: what it does not understand is
    /// skipped.
    pub fn parse(text: &str) -> Netrc {
        let mut entries: Vec<NetrcEntry> = Vec::new();
        let mut in_macdef = false;
        // The keyword waiting for its value, if any (values may be on the next line).
        let mut pending: Option<String> = None;
        for line in text.lines() {
            if in_macdef {
                if line.trim().is_empty() {
                    in_macdef = false;
                }
                continue;
            }
            if line.trim_start().starts_with('#') {
                continue;
            }
            let mut toks = tokens(line).into_iter();
            while let Some(tok) = toks.next() {
                if let Some(key) = pending.take() {
                    match key.as_str() {
                        "machine" => entries.push(NetrcEntry {
                            machine: Some(tok),
                            ..NetrcEntry::default()
                        }),
                        "login" | "password" | "account" => {
                            if let Some(e) = entries.last_mut() {
                                let slot = match key.as_str() {
                                    "login" => &mut e.login,
                                    "password" => &mut e.password,
                                    _ => &mut e.account,
                                };
                                *slot = Some(tok);
                            }
                        }
                        _ => {} // "macdef" is handled below; unknown keyword values dropped
                    }
                    continue;
                }
                match tok.as_str() {
                    "default" => entries.push(NetrcEntry::default()),
                    "macdef" => {
                        // The macro name, then the body up to an empty line.
                        let _name = toks.next();
                        in_macdef = true;
                        break;
                    }
                    "machine" | "login" | "password" | "account" | "port" => {
                        pending = Some(tok);
                    }
                    _ => {}
                }
            }
        }
        Netrc { entries }
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> anyhow::Result<Netrc> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the netrc file {}", path.display()))?;
        Ok(Netrc::parse(&text))
    }

    /// The entry for `host` (case-insensitive), else the `default` entry.
    pub fn lookup(&self, host: &str) -> Option<&NetrcEntry> {
        self.entries
            .iter()
            .find(|e| {
                e.machine
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(host))
            })
            .or_else(|| self.entries.iter().find(|e| e.machine.is_none()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_default_and_macdef() {
        let text = "\
# comment
machine ftp.example.com login alice password s3cret
machine other.example.com
    login bob
    password \"with space\" account acct1

macdef init
cd /pub
machine evil login eve

default login anonymous password guest@
";
        let n = Netrc::parse(text);
        let a = n.lookup("FTP.example.com").unwrap();
        assert_eq!(a.login.as_deref(), Some("alice"));
        assert_eq!(a.password.as_deref(), Some("s3cret"));
        let b = n.lookup("other.example.com").unwrap();
        assert_eq!(b.login.as_deref(), Some("bob"));
        assert_eq!(b.password.as_deref(), Some("with space"));
        assert_eq!(b.account.as_deref(), Some("acct1"));
        // The macdef body is skipped: "machine evil" inside it is not an entry.
        assert_eq!(
            n.lookup("evil").unwrap().login.as_deref(),
            Some("anonymous")
        );
        let d = n.lookup("unknown").unwrap();
        assert!(d.machine.is_none());
        assert_eq!(d.password.as_deref(), Some("guest@"));
    }

    #[test]
    fn single_line_and_no_default() {
        let n = Netrc::parse("machine h login u password p machine g login v");
        assert_eq!(n.lookup("h").unwrap().password.as_deref(), Some("p"));
        assert_eq!(n.lookup("g").unwrap().login.as_deref(), Some("v"));
        assert!(n.lookup("x").is_none());
    }

    #[test]
    fn garbage_does_not_panic() {
        let n = Netrc::parse("login x password\n\"unterminated\nmachine");
        assert!(n.lookup("x").is_none());
        assert!(Netrc::parse("").entries.is_empty());
    }

    #[test]
    fn debug_hides_password() {
        let n = Netrc::parse("machine h login u password hunter2");
        assert!(!format!("{n:?}").contains("hunter2"));
    }
}
