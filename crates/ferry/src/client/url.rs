//! `ftp://` and `ftps://` URLs: parsing, percent-decoding and redacted display.
//!
//! Paths follow RFC 1738 in a simplified form: the path after the host is relative to the
//! login directory (`ftp://h/dir/file` is `dir/file` after login), and a first segment
//! starting with an encoded slash makes it absolute (`ftp://h/%2Fetc/motd` is `/etc/motd`).
//! Each segment is percent-decoded as UTF-8; an encoded `/` inside a segment stays a `/`.
//! A URL whose path ends with `/` names a directory.

use std::fmt;

use anyhow::{anyhow, bail, Context};
use ferry_client::Password;
use percent_encoding::percent_decode_str;

/// The default port of `ftp://`.
pub const FTP_PORT: u16 = 21;
/// The default port of `ftps://` (implicit FTPS).
pub const FTPS_PORT: u16 = 990;

/// `ftp` or `ftps` (implicit TLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain FTP (or explicit FTPS with `--tls`).
    Ftp,
    /// Implicit FTPS: TLS before the greeting.
    Ftps,
}

/// A parsed FTP URL. Its `Debug` and `Display` never show the password.
#[derive(Clone)]
pub struct FtpUrl {
    /// The scheme.
    pub scheme: Scheme,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// Port (default 21 for ftp, 990 for ftps).
    pub port: u16,
    /// Decoded user name, when the URL has one.
    pub user: Option<String>,
    /// Decoded password, when the URL has one.
    pub password: Option<Password>,
    /// Decoded path: empty for the login directory, relative to it unless it starts with
    /// `/`. Never ends with `/` (except the root `/` itself).
    pub path: String,
    /// Whether the URL path ended with `/` (a directory).
    pub dir: bool,
}

impl fmt::Debug for FtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FtpUrl({self})")
    }
}

impl fmt::Display for FtpUrl {
    /// `ftp://user:****@host:port/path`, the password masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Ftp => "ftp",
            Scheme::Ftps => "ftps",
        };
        write!(f, "{scheme}://")?;
        if let Some(user) = &self.user {
            f.write_str(user)?;
            if self.password.is_some() {
                f.write_str(":****")?;
            }
            f.write_str("@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        write!(f, ":{}/", self.port)?;
        let shown = match self.path.strip_prefix('/') {
            Some(abs) => format!("%2F{abs}"),
            None => self.path.clone(),
        };
        f.write_str(&shown)?;
        if self.dir && !shown.is_empty() && !shown.ends_with('/') {
            f.write_str("/")?;
        }
        Ok(())
    }
}

/// Whether `s` looks like an FTP URL (as opposed to a local path).
pub fn is_url(s: &str) -> bool {
    let lower = s.get(..7).map(str::to_ascii_lowercase).unwrap_or_default();
    lower.starts_with("ftp://") || lower.starts_with("ftps://")
}

/// Decodes one percent-encoded URL component as UTF-8, refusing control characters (a
/// decoded CR or LF would inject FTP commands).
fn decode(component: &str, what: &str) -> anyhow::Result<String> {
    let text = percent_decode_str(component)
        .decode_utf8()
        .with_context(|| format!("the {what} in the URL is not UTF-8 once decoded"))?;
    if text.chars().any(|c| c.is_control()) {
        bail!("the {what} in the URL contains a control character");
    }
    Ok(text.into_owned())
}

impl FtpUrl {
    /// Parses `ftp://[user[:pass]@]host[:port][/path]` or `ftps://...`.
    pub fn parse(text: &str) -> anyhow::Result<FtpUrl> {
        if !is_url(text) {
            bail!("not an ftp:// or ftps:// URL: {}", redact_raw(text));
        }
        let parsed =
            url::Url::parse(text).map_err(|e| anyhow!("invalid URL {}: {e}", redact_raw(text)))?;
        let scheme = match parsed.scheme() {
            "ftp" => Scheme::Ftp,
            "ftps" => Scheme::Ftps,
            other => bail!("unsupported URL scheme {other:?} (use ftp:// or ftps://)"),
        };
        let host = match parsed.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Domain(d)) if !d.is_empty() => decode(d, "host")?,
            _ => bail!("the URL {} has no host", redact_raw(text)),
        };
        let port = parsed.port().unwrap_or(match scheme {
            Scheme::Ftp => FTP_PORT,
            Scheme::Ftps => FTPS_PORT,
        });
        let user = match parsed.username() {
            "" => None,
            u => Some(decode(u, "user name")?),
        };
        let password = match parsed.password() {
            None => None,
            Some(p) => Some(Password::new(decode(p, "password")?)),
        };
        if parsed.query().is_some() || parsed.fragment().is_some() {
            bail!("FTP URLs take no query (?) or fragment (#) part");
        }
        let raw_path = parsed.path();
        let rest = raw_path.strip_prefix('/').unwrap_or(raw_path);
        let dir = rest.is_empty() || rest.ends_with('/');
        let mut segments = Vec::new();
        for seg in rest.split('/') {
            segments.push(decode(seg, "path")?);
        }
        let mut path = segments.join("/");
        while path.len() > 1 && path.ends_with('/') {
            path.pop();
        }
        Ok(FtpUrl {
            scheme,
            host,
            port,
            user,
            password,
            path,
            dir,
        })
    }

    /// `host:port` (IPv6 bracketed), for messages.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The last path component (the file name), empty for the login directory.
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or("")
    }

    /// The path without its last component (empty: the login directory).
    pub fn parent(&self) -> String {
        parent_of(&self.path)
    }
}

/// The parent of a remote path: `a/b` → `a`, `/a` → `/`, `a` → `` (the login directory).
pub fn parent_of(path: &str) -> String {
    match path.rfind('/') {
        Some(0) => "/".to_owned(),
        Some(i) => path.get(..i).unwrap_or("").to_owned(),
        None => String::new(),
    }
}

/// Joins a remote directory (empty: the login directory) and a name.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// A URL-ish text with anything between `://` and `@` after the first `:` masked, for
/// messages about text that failed to parse.
pub fn redact_raw(text: &str) -> String {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return text.to_owned();
    };
    let rest = text.get(start..).unwrap_or("");
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = rest.get(..authority_end).unwrap_or("");
    let Some(at) = authority.rfind('@') else {
        return text.to_owned();
    };
    let userinfo = authority.get(..at).unwrap_or("");
    let Some(colon) = userinfo.find(':') else {
        return text.to_owned();
    };
    format!(
        "{}{}:****{}",
        text.get(..start).unwrap_or(""),
        userinfo.get(..colon).unwrap_or(""),
        rest.get(at..).unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> FtpUrl {
        FtpUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e:#}"))
    }

    #[test]
    fn full_url() {
        let u = p("ftp://alice:s%3Acret%40x@example.com:2121/dir/f%20ile.txt");
        assert_eq!(u.scheme, Scheme::Ftp);
        assert_eq!(u.host, "example.com");
        assert_eq!(u.port, 2121);
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_ref().map(|p| p.expose()), Some("s:cret@x"));
        assert_eq!(u.path, "dir/f ile.txt");
        assert!(!u.dir);
        assert_eq!(u.file_name(), "f ile.txt");
        assert_eq!(u.parent(), "dir");
    }

    #[test]
    fn defaults_and_login_dir() {
        let u = p("ftp://example.com");
        assert_eq!(u.port, 21);
        assert_eq!(u.path, "");
        assert!(u.dir);
        assert!(u.user.is_none() && u.password.is_none());
        let s = p("ftps://example.com/");
        assert_eq!(s.scheme, Scheme::Ftps);
        assert_eq!(s.port, 990);
        assert_eq!(s.path, "");
    }

    #[test]
    fn ipv6_literal() {
        let u = p("ftp://[::1]:2121/x");
        assert_eq!(u.host, "::1");
        assert_eq!(u.port, 2121);
        assert_eq!(u.authority(), "[::1]:2121");
        assert_eq!(u.to_string(), "ftp://[::1]:2121/x");
    }

    #[test]
    fn absolute_path_and_dirs() {
        let u = p("ftp://h/%2Fetc/motd");
        assert_eq!(u.path, "/etc/motd");
        assert_eq!(u.parent(), "/etc");
        let d = p("ftp://h/pub/sub/");
        assert_eq!(d.path, "pub/sub");
        assert!(d.dir);
        assert_eq!(p("ftp://h/%2F").path, "/");
        assert_eq!(parent_of("/etc"), "/");
        assert_eq!(parent_of("etc"), "");
    }

    #[test]
    fn utf8_path() {
        let u = p("ftp://h/caf%C3%A9/%E2%9C%93.txt");
        assert_eq!(u.path, "café/✓.txt");
        assert!(FtpUrl::parse("ftp://h/%FF").is_err());
    }

    #[test]
    fn control_characters_refused() {
        let err = FtpUrl::parse("ftp://h/a%0D%0ADELE%20x").err();
        assert!(err.is_some());
        assert!(FtpUrl::parse("ftp://u:p%0A@h/").is_err());
    }

    #[test]
    fn password_never_displayed() {
        let u = p("ftp://bob:hunter2@h:21/f");
        assert_eq!(u.to_string(), "ftp://bob:****@h:21/f");
        assert!(!format!("{u:?}").contains("hunter2"));
        assert_eq!(
            redact_raw("ftp://bob:hunter2@h/x"),
            "ftp://bob:****@h/x".to_owned()
        );
        assert_eq!(redact_raw("ftp://h/x"), "ftp://h/x");
        let err = FtpUrl::parse("ftp://bob:hunter2@/x")
            .err()
            .map(|e| format!("{e:#}"));
        assert!(!err.unwrap_or_default().contains("hunter2"));
    }

    #[test]
    fn not_urls() {
        assert!(FtpUrl::parse("http://h/").is_err());
        assert!(FtpUrl::parse("/local/path").is_err());
        assert!(FtpUrl::parse("ftp://h/x?y").is_err());
        assert!(is_url("FTP://h/"));
        assert!(!is_url("./ftp"));
    }

    #[test]
    fn join_paths() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("d", "a"), "d/a");
    }
}
