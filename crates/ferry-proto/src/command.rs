//! FTP commands: [`Command`] with typed arguments, parsed from a decoded control line and
//! encoded back to one.
//!
//! Verbs are case-insensitive; the X-aliases of RFC 775 (`XPWD`, `XCWD`, `XCUP`, `XMKD`,
//! `XRMD`) parse to the same variants as their RFC 959 names. [`Command::encode`] always
//! writes the canonical verb, so `parse(encode(c)) == c` for every command.
//!
//! Errors are values: [`ParseError`] says whether the verb was unknown (`500`), known but not
//! implemented (`502`), or its argument was wrong (`501`), or the parameter is valid syntax
//! but unsupported (`504`, e.g. `TYPE L 7`); see [`ParseError::reply_code`].

use std::fmt;
use std::net::{SocketAddr, SocketAddrV4};

use crate::addr::AddrError;
use crate::client::hash::HashAlgorithm;

mod ext;
pub use ext::MffFacts;

/// A password, whose `Debug` and `Display` never show the secret.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Self {
        Password(s.into())
    }

    /// The secret itself; call only where it is really needed (verification, sending).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Format control of TYPE A and TYPE E (RFC 959 §3.1.1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FormatControl {
    /// `N`: non-print (the default).
    NonPrint,
    /// `T`: Telnet format effectors.
    Telnet,
    /// `C`: ASA carriage control.
    Asa,
}

/// Representation type (`TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferType {
    /// `A [N|T|C]`.
    Ascii(FormatControl),
    /// `E [N|T|C]`.
    Ebcdic(FormatControl),
    /// `I`: image (binary).
    Image,
    /// `L n`: local byte size `n` (1..=255).
    Local(u8),
}

/// File structure (`STRU`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Structure {
    /// `F`: file (no record structure).
    File,
    /// `R`: record.
    Record,
    /// `P`: page.
    Page,
}

/// Transfer mode (`MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `S`: stream.
    Stream,
    /// `B`: block.
    Block,
    /// `C`: compressed.
    Compressed,
    /// `Z`: deflate (draft-preston-ftpext-deflate).
    Deflate,
}

/// Argument of `EPSV` (RFC 2428 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EpsvArg {
    /// No argument.
    Any,
    /// `EPSV ALL`: from now on only EPSV may set up data connections.
    All,
    /// `EPSV <net-prt>`: 1 for IPv4, 2 for IPv6 (other numbers are kept for the reply 522).
    Protocol(u16),
}

/// Arguments of LIST and NLST: leading `-flags` (as sent by many clients, e.g. `-la`) and an
/// optional path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ListArgs {
    /// The flag letters given (without the dash), in order, e.g. `"la"`. Accepted and
    /// otherwise ignored by the server.
    pub flags: String,
    /// The path argument, if any.
    pub path: Option<String>,
}

/// `OPTS` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Opts {
    /// `OPTS UTF8 ON|OFF` (RFC 2640 / draft-ietf-ftpext-utf-8-option).
    Utf8(bool),
    /// `OPTS MLST fact;fact;` (RFC 3659 §7.9): the facts asked for, lower-cased, possibly none.
    Mlst(Vec<String>),
    /// `OPTS MODE Z [LEVEL n]` (MODE Z as ProFTPD's mod_deflate and lftp use it): the
    /// compression level 0-9, or `None` (no option given) to go back to the default.
    ModeZ {
        /// `LEVEL n`.
        level: Option<u8>,
    },
    /// `OPTS HASH [algorithm]` (draft-bryan-ftpext-hash): `None` asks for the selected one.
    Hash(Option<HashAlgorithm>),
    /// Any other option: its name (upper-cased) and the rest of the line.
    Other {
        /// Command name the option is for, upper-cased.
        name: String,
        /// The rest, as sent.
        args: String,
    },
}

/// `SITE` sub-commands.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Site {
    /// `SITE HELP [topic]`.
    Help(Option<String>),
    /// `SITE CHMOD mode path`, mode in octal (at most 0o7777).
    Chmod {
        /// Permission bits.
        mode: u32,
        /// Target path.
        path: String,
    },
    /// `SITE UMASK [octal]`: show or set the session's umask (at most `0o777`).
    Umask(Option<u32>),
    /// `SITE IDLE [seconds]`: show or set the session's idle timeout.
    Idle(Option<u64>),
    /// `SITE UTIME`, in any of its forms: set the modification time of `path`.
    Utime {
        /// New modification time, Unix seconds (UTC).
        mtime: i64,
        /// Target path.
        path: String,
    },
    /// Any other SITE command: name (upper-cased) and the rest of the line.
    Other {
        /// Sub-command name, upper-cased.
        name: String,
        /// The rest, as sent.
        args: String,
    },
}

/// An FTP command with its typed arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `USER name`.
    User(String),
    /// `PASS password` (the password may be empty).
    Pass(Password),
    /// `ACCT account`.
    Acct(String),
    /// `QUIT`.
    Quit,
    /// `REIN`.
    Rein,
    /// `NOOP`.
    Noop,
    /// `SYST`.
    Syst,
    /// `FEAT`.
    Feat,
    /// `OPTS ...`.
    Opts(Opts),
    /// `HELP [topic]`.
    Help(Option<String>),
    /// `STAT [path]`.
    Stat(Option<String>),
    /// `PWD` / `XPWD`.
    Pwd,
    /// `CWD path` / `XCWD path`.
    Cwd(String),
    /// `CDUP` / `XCUP`.
    Cdup,
    /// `MKD path` / `XMKD path`.
    Mkd(String),
    /// `RMD path` / `XRMD path`.
    Rmd(String),
    /// `DELE path`.
    Dele(String),
    /// `RNFR path`.
    Rnfr(String),
    /// `RNTO path`.
    Rnto(String),
    /// `SIZE path` (RFC 3659).
    Size(String),
    /// `MDTM path` (RFC 3659).
    Mdtm(String),
    /// `MFMT YYYYMMDDHHMMSS path` (draft-somers-ftp-mfxx): seconds since the epoch, UTC.
    Mfmt {
        /// New modification time, seconds since the Unix epoch.
        mtime: i64,
        /// Target path.
        path: String,
    },
    /// `TYPE ...`.
    Type(TransferType),
    /// `STRU F|R|P`.
    Stru(Structure),
    /// `MODE S|B|C|Z`.
    Mode(Mode),
    /// `PASV`.
    Pasv,
    /// `EPSV [ALL|n]`.
    Epsv(EpsvArg),
    /// `PORT h1,h2,h3,h4,p1,p2`.
    Port(SocketAddrV4),
    /// `EPRT |af|addr|port|`.
    Eprt(SocketAddr),
    /// `LIST [-flags] [path]`.
    List(ListArgs),
    /// `NLST [-flags] [path]`.
    Nlst(ListArgs),
    /// `MLSD [path]`.
    Mlsd(Option<String>),
    /// `MLST [path]`.
    Mlst(Option<String>),
    /// `RETR path`.
    Retr(String),
    /// `STOR path`.
    Stor(String),
    /// `STOU [name]`.
    Stou(Option<String>),
    /// `APPE path`.
    Appe(String),
    /// `REST offset` (stream-mode restart marker, a byte offset).
    Rest(u64),
    /// `ALLO size [R record-size]`.
    Allo {
        /// Bytes to reserve.
        size: u64,
        /// Maximum record or page size, if given.
        record: Option<u64>,
    },
    /// `ABOR`.
    Abor,
    /// `SITE ...`.
    Site(Site),
    /// `AUTH mechanism` (RFC 2228), mechanism upper-cased.
    Auth(String),
    /// `PBSZ n` (RFC 2228).
    Pbsz(u64),
    /// `PROT C|S|E|P` (RFC 2228), the level letter upper-cased.
    Prot(char),
    /// `CCC` (RFC 2228).
    Ccc,
    /// `HASH path` (draft-bryan-ftpext-hash-02).
    Hash(String),
    /// `RANG start end` (draft-bryan-ftp-range): the byte range (end inclusive) of the next
    /// HASH; `RANG 1 0` resets it.
    Rang {
        /// First byte.
        start: u64,
        /// Last byte (inclusive).
        end: u64,
    },
    /// `XCRC`, `XMD5`, `XSHA1`, `XSHA256`, `XSHA512` `path [start [end]]` (ProFTPD
    /// mod_digest): `end` is exclusive.
    XHash {
        /// The algorithm the verb names.
        algorithm: HashAlgorithm,
        /// The file.
        path: String,
        /// First byte, if given.
        start: Option<u64>,
        /// End position (exclusive), if given.
        end: Option<u64>,
    },
    /// `MFF facts path` (draft-somers-ftp-mfxx).
    Mff {
        /// The facts to set.
        facts: MffFacts,
        /// Target path.
        path: String,
    },
    /// `MFCT YYYYMMDDHHMMSS path` (draft-somers-ftp-mfxx): set the creation time.
    Mfct {
        /// New creation time, Unix seconds.
        ctime: i64,
        /// Target path.
        path: String,
    },
    /// `AVBL [path]` (draft-peterson-streamlined-ftp-command-extensions): free space.
    Avbl(Option<String>),
    /// `CLNT name`: the client names itself.
    Clnt(String),
    /// `LANG [tag]` (RFC 2640).
    Lang(Option<String>),
    /// `SMNT [path]` (RFC 959 structure mount; answered 502).
    Smnt(Option<String>),
    /// `HOST name` (RFC 7151): the virtual host to use, chosen before login. A domain
    /// name (lower-cased, without a trailing dot) or an IP literal in brackets
    /// (`[192.0.2.1]`, `[2001:db8::1]`).
    Host(String),
}

/// Why a line is not a command we can run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The line is empty (or only white space).
    #[error("empty command line")]
    Empty,
    /// The verb is not an FTP verb at all (or not ASCII letters).
    #[error("unknown command {verb:?}")]
    Unknown {
        /// The verb as sent (lossily decoded, truncated to 16 characters).
        verb: String,
    },
    /// The verb is a real FTP verb (RFC 959 or an extension) that Ferry does not implement.
    #[error("command {verb} not implemented")]
    NotImplemented {
        /// Upper-cased verb.
        verb: String,
    },
    /// The argument is missing, superfluous or malformed.
    #[error("syntax error in arguments of {verb}: {reason}")]
    BadArgument {
        /// Upper-cased verb.
        verb: String,
        /// What is wrong, for the reply text.
        reason: String,
    },
    /// The argument is well formed but names a parameter that is not supported.
    #[error("{verb}: parameter not implemented: {reason}")]
    UnsupportedParameter {
        /// Upper-cased verb.
        verb: String,
        /// What is unsupported, for the reply text.
        reason: String,
    },
    /// `EPRT` named a network protocol (address family) other than 1 (IPv4) or 2 (IPv6);
    /// the server answers 522 (RFC 2428 §2).
    #[error("{verb}: network protocol {family} not supported")]
    UnsupportedFamily {
        /// Upper-cased verb.
        verb: String,
        /// The address family number sent.
        family: u16,
    },
}

impl ParseError {
    /// The reply code a server should answer with: 500, 502, 501, 504 or 522.
    pub fn reply_code(&self) -> u16 {
        match self {
            ParseError::Empty | ParseError::Unknown { .. } => 500,
            ParseError::NotImplemented { .. } => 502,
            ParseError::BadArgument { .. } => 501,
            ParseError::UnsupportedParameter { .. } => 504,
            ParseError::UnsupportedFamily { .. } => 522,
        }
    }
}

/// Longest verb we look up; longer ones are reported as unknown.
const MAX_VERB: usize = 16;

/// Real FTP verbs (RFC 959, 1639, 2228, 2389, 2428, 2640, 3659, 7151 and common extensions)
/// that have no [`Command`] variant: they parse to [`ParseError::NotImplemented`] (502).
const NOT_IMPLEMENTED: &[&str] = &[
    // RFC 959: structure mount.
    "SMNT", // RFC 959 / RFC 765 mail commands and RFC 737/743 experimental ones.
    "MAIL", "MLFL", "MSND", "MSOM", "MSAM", "MRSQ", "MRCP", "XSEN", "XSEM", "XMAS", "XRSQ", "XRCP",
    // RFC 1639: long addresses.
    "LPRT", "LPSV", // RFC 2228: security extensions beyond AUTH TLS.
    "ADAT", "MIC", "CONF", "ENC",
    // Checksums (draft-twine-ftpmd5, draft-bryan-ftpext-hash, common extensions).
    "MD5", "MMD5", "XSHA",
    // draft-peterson-streamlined-ftp-command-extensions and other common extensions.
    "DSIZ", "RMDA", "THMB", "CSID", "SPSV", "MACB", "COMB", "XRMDA",
];

/// Verbs that take no argument but for which a sloppy argument is ignored.
const TOLERANT_NO_ARG: &[&str] = &[
    "PWD", "XPWD", "NOOP", "QUIT", "SYST", "FEAT", "CDUP", "XCUP", "PASV", "ABOR",
];

/// The parts of a control line.
struct Parts<'a> {
    /// Upper-cased verb.
    verb: String,
    /// The verb exactly as sent.
    sent: String,
    /// Bytes after the single space that follows the verb, if there is such a space.
    arg: Option<&'a [u8]>,
}

fn bad(verb: &str, reason: impl Into<String>) -> ParseError {
    ParseError::BadArgument {
        verb: verb.to_string(),
        reason: reason.into(),
    }
}

fn unsupported(verb: &str, reason: impl Into<String>) -> ParseError {
    ParseError::UnsupportedParameter {
        verb: verb.to_string(),
        reason: reason.into(),
    }
}

fn split_line(line: &[u8]) -> Result<Parts<'_>, ParseError> {
    let start = line.iter().take_while(|&&b| b == b' ').count();
    let line = line.get(start..).unwrap_or(&[]);
    if line.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ParseError::Empty);
    }
    let verb_len = line.iter().take_while(|&&b| b != b' ').count();
    let verb_bytes = line.get(..verb_len).unwrap_or(&[]);
    if verb_len > MAX_VERB || !verb_bytes.iter().all(u8::is_ascii_alphanumeric) {
        let shown: String = String::from_utf8_lossy(verb_bytes)
            .chars()
            .take(16)
            .collect();
        return Err(ParseError::Unknown { verb: shown });
    }
    let sent = String::from_utf8_lossy(verb_bytes).into_owned();
    let verb = sent.to_ascii_uppercase();
    let arg = line.get(verb_len + 1..).filter(|_| verb_len < line.len());
    Ok(Parts { verb, sent, arg })
}

/// The argument as UTF-8 without NUL, or `None` when absent or empty.
fn text_arg<'a>(verb: &str, arg: Option<&'a [u8]>) -> Result<Option<&'a str>, ParseError> {
    let Some(bytes) = arg else { return Ok(None) };
    if bytes.is_empty() {
        return Ok(None);
    }
    if bytes.contains(&0) {
        return Err(bad(verb, "argument contains a NUL byte"));
    }
    std::str::from_utf8(bytes)
        .map(Some)
        .map_err(|_| bad(verb, "argument is not valid UTF-8"))
}

fn required<'a>(verb: &str, arg: Option<&'a [u8]>) -> Result<&'a str, ParseError> {
    text_arg(verb, arg)?.ok_or_else(|| bad(verb, "argument required"))
}

fn optional(verb: &str, arg: Option<&[u8]>) -> Result<Option<String>, ParseError> {
    Ok(text_arg(verb, arg)?.map(str::to_string))
}

fn no_arg(verb: &str, arg: Option<&[u8]>, cmd: Command) -> Result<Command, ParseError> {
    if TOLERANT_NO_ARG.contains(&verb) || arg.is_none_or(<[u8]>::is_empty) {
        Ok(cmd)
    } else {
        Err(bad(verb, "no argument allowed"))
    }
}

/// The argument of `HOST` (RFC 7151 §3.1): a domain name (letters, digits and hyphens in
/// dot-separated labels of at most 63 characters, at most 253 in all; a trailing dot is
/// dropped) or an IPv4 or IPv6 literal in brackets. Returned lower-cased.
pub fn parse_host(verb: &str, s: &str) -> Result<String, ParseError> {
    let s = s.trim_matches(' ');
    if let Some(inner) = s.strip_prefix('[') {
        let Some(ip) = inner.strip_suffix(']') else {
            return Err(bad(verb, "an IP literal must end with ']'"));
        };
        return match ip.parse::<std::net::IpAddr>() {
            Ok(_) => Ok(s.to_ascii_lowercase()),
            Err(_) => Err(bad(verb, "not an IP address between the brackets")),
        };
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.is_empty() || name.len() > 253 {
        return Err(bad(verb, "a host name has 1 to 253 characters"));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !name.split('.').all(label_ok) {
        return Err(bad(
            verb,
            "expected a domain name or an IP address in brackets, e.g. [192.0.2.1]",
        ));
    }
    Ok(name.to_ascii_lowercase())
}

fn parse_u64(verb: &str, s: &str) -> Result<u64, ParseError> {
    let s = s.trim_matches(' ');
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(verb, "expected a decimal number"));
    }
    s.parse::<u64>().map_err(|_| bad(verb, "number too large"))
}

/// Splits at the first space: (head, rest after that one space).
fn split_first_space(s: &str) -> (&str, &str) {
    match s.split_once(' ') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    }
}

fn parse_format_control(verb: &str, rest: &str) -> Result<FormatControl, ParseError> {
    let rest = rest.trim_matches(' ');
    let mut chars = rest.chars();
    match (chars.next(), chars.next()) {
        (None, _) => Ok(FormatControl::NonPrint),
        (Some(c), None) => match c.to_ascii_uppercase() {
            'N' => Ok(FormatControl::NonPrint),
            'T' => Ok(FormatControl::Telnet),
            'C' => Ok(FormatControl::Asa),
            c if c.is_ascii_alphabetic() => Err(unsupported(verb, format!("format {c}"))),
            _ => Err(bad(verb, "bad format control")),
        },
        _ => Err(bad(verb, "bad format control")),
    }
}

fn parse_type(verb: &str, arg: &str) -> Result<TransferType, ParseError> {
    let arg = arg.trim_matches(' ');
    let mut chars = arg.chars();
    let first = chars.next().ok_or_else(|| bad(verb, "argument required"))?;
    let rest = chars.as_str();
    match first.to_ascii_uppercase() {
        'A' => Ok(TransferType::Ascii(parse_format_control(verb, rest)?)),
        'E' => Ok(TransferType::Ebcdic(parse_format_control(verb, rest)?)),
        'I' if rest.trim_matches(' ').is_empty() => Ok(TransferType::Image),
        'L' => {
            let n = rest.trim_matches(' ');
            if n.is_empty() || n.len() > 3 || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(verb, "TYPE L needs a byte size 1..=255"));
            }
            match n.parse::<u8>() {
                Ok(size) if size > 0 => Ok(TransferType::Local(size)),
                _ => Err(bad(verb, "TYPE L needs a byte size 1..=255")),
            }
        }
        c if c.is_ascii_alphabetic() && rest.trim_matches(' ').is_empty() => {
            Err(unsupported(verb, format!("type {c}")))
        }
        _ => Err(bad(verb, "unknown type")),
    }
}

/// A single letter argument, upper-cased.
fn single_letter(verb: &str, arg: &str) -> Result<char, ParseError> {
    let arg = arg.trim_matches(' ');
    let mut chars = arg.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_alphabetic() => Ok(c.to_ascii_uppercase()),
        _ => Err(bad(verb, "expected one letter")),
    }
}

fn parse_list_args(verb: &str, arg: Option<&[u8]>) -> Result<ListArgs, ParseError> {
    let mut rest = text_arg(verb, arg)?.unwrap_or("");
    let mut flags = String::new();
    loop {
        let (token, after) = split_first_space(rest);
        let is_flag = token
            .strip_prefix('-')
            .is_some_and(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_alphabetic()));
        if !is_flag {
            break;
        }
        flags.push_str(token.get(1..).unwrap_or(""));
        rest = after;
    }
    let path = if rest.is_empty() {
        None
    } else {
        Some(rest.to_string())
    };
    Ok(ListArgs { flags, path })
}

fn parse_site(verb: &str, arg: &str) -> Result<Site, ParseError> {
    let (name, rest) = split_first_space(arg);
    let name = name.to_ascii_uppercase();
    if let Some(site) = ext::parse_site_ext(verb, &name, rest) {
        return site;
    }
    match name.as_str() {
        "" => Err(bad(verb, "SITE needs a sub-command")),
        "HELP" => Ok(Site::Help(if rest.is_empty() {
            None
        } else {
            Some(rest.to_string())
        })),
        "CHMOD" => {
            let (mode, path) = split_first_space(rest);
            if mode.is_empty()
                || mode.len() > 5
                || !mode.bytes().all(|b| (b'0'..=b'7').contains(&b))
            {
                return Err(bad(verb, "SITE CHMOD needs an octal mode"));
            }
            let mode = u32::from_str_radix(mode, 8)
                .ok()
                .filter(|&m| m <= 0o7777)
                .ok_or_else(|| bad(verb, "SITE CHMOD mode must be at most 7777"))?;
            if path.is_empty() {
                return Err(bad(verb, "SITE CHMOD needs a path"));
            }
            Ok(Site::Chmod {
                mode,
                path: path.to_string(),
            })
        }
        _ => Ok(Site::Other {
            name,
            args: rest.to_string(),
        }),
    }
}

fn parse_opts(verb: &str, arg: &str) -> Result<Opts, ParseError> {
    let (name, rest) = split_first_space(arg);
    let name = name.to_ascii_uppercase();
    match name.as_str() {
        "" => Err(bad(verb, "OPTS needs a command name")),
        "UTF8" | "UTF-8" => match rest.trim_matches(' ').to_ascii_uppercase().as_str() {
            "ON" => Ok(Opts::Utf8(true)),
            "OFF" => Ok(Opts::Utf8(false)),
            _ => Err(bad(verb, "OPTS UTF8 takes ON or OFF")),
        },
        "MODE" if is_mode_z(rest) => parse_opts_mode_z(verb, rest),
        "HASH" => ext::parse_opts_hash(verb, rest),
        "MLST" => Ok(Opts::Mlst(
            rest.split(';')
                .map(|f| f.trim_matches(' '))
                .filter(|f| !f.is_empty())
                .map(str::to_ascii_lowercase)
                .collect(),
        )),
        _ => Ok(Opts::Other {
            name,
            args: rest.to_string(),
        }),
    }
}

/// True when the rest of `OPTS MODE ...` is about MODE Z.
fn is_mode_z(rest: &str) -> bool {
    let (mode, _) = split_first_space(rest.trim_start_matches(' '));
    mode.eq_ignore_ascii_case("Z")
}

/// `OPTS MODE Z` followed by option-value pairs: `LEVEL n` (0-9); ProFTPD's other names
/// (`ENGINE`, `BLOCKSIZE`) and unknown ones are refused, like a missing value.
fn parse_opts_mode_z(verb: &str, rest: &str) -> Result<Opts, ParseError> {
    let mut words = rest.split(' ').filter(|w| !w.is_empty()).skip(1);
    let mut level = None;
    for _ in 0..8 {
        let Some(name) = words.next() else {
            return Ok(Opts::ModeZ { level });
        };
        let Some(value) = words.next() else {
            return Err(bad(verb, format!("MODE Z option {name} needs a value")));
        };
        if !name.eq_ignore_ascii_case("LEVEL") {
            return Err(bad(verb, format!("unsupported MODE Z option: {name}")));
        }
        level = match value.parse::<u8>() {
            Ok(n) if n <= 9 && value.len() <= 2 => Some(n),
            _ => return Err(bad(verb, "MODE Z LEVEL must be 0 to 9")),
        };
    }
    Err(bad(verb, "too many MODE Z options"))
}

fn parse_allo(verb: &str, arg: &str) -> Result<Command, ParseError> {
    let mut words = arg.split(' ').filter(|w| !w.is_empty());
    let size = parse_u64(verb, words.next().unwrap_or(""))?;
    let record = match (words.next(), words.next(), words.next()) {
        (None, _, _) => None,
        (Some(r), Some(n), None) if r.eq_ignore_ascii_case("R") => Some(parse_u64(verb, n)?),
        _ => return Err(bad(verb, "expected ALLO size [R record-size]")),
    };
    Ok(Command::Allo { size, record })
}

fn parse_mfmt(verb: &str, arg: &str) -> Result<Command, ParseError> {
    let (stamp, path) = split_first_space(arg);
    let mtime =
        crate::listing::parse_mdtm(stamp).ok_or_else(|| bad(verb, "expected YYYYMMDDHHMMSS"))?;
    if path.is_empty() {
        return Err(bad(verb, "path required"));
    }
    Ok(Command::Mfmt {
        mtime,
        path: path.to_string(),
    })
}

fn parse_epsv(verb: &str, arg: Option<&[u8]>) -> Result<EpsvArg, ParseError> {
    let arg = text_arg(verb, arg)?.unwrap_or("").trim_matches(' ');
    if arg.is_empty() {
        Ok(EpsvArg::Any)
    } else if arg.eq_ignore_ascii_case("ALL") {
        Ok(EpsvArg::All)
    } else if !arg.is_empty() && arg.len() <= 5 && arg.bytes().all(|b| b.is_ascii_digit()) {
        arg.parse::<u16>()
            .map(EpsvArg::Protocol)
            .map_err(|_| bad(verb, "network protocol number too large"))
    } else {
        Err(bad(verb, "expected ALL or a network protocol number"))
    }
}

fn addr_error(verb: &str, e: AddrError) -> ParseError {
    match e {
        AddrError::UnsupportedFamily(family) => ParseError::UnsupportedFamily {
            verb: verb.to_string(),
            family,
        },
        other => bad(verb, other.to_string()),
    }
}

/// Replaces CR and LF (which cannot be sent inside a control line) by spaces.
fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\r', '\n']) {
        std::borrow::Cow::Owned(s.replace(['\r', '\n'], " "))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

fn format_control_suffix(fc: FormatControl) -> &'static str {
    match fc {
        FormatControl::NonPrint => "",
        FormatControl::Telnet => " T",
        FormatControl::Asa => " C",
    }
}

impl Command {
    /// Parses one decoded control line (without line ending). Arguments must be UTF-8
    /// (RFC 2640); invalid UTF-8 is a [`ParseError::BadArgument`]. A path argument is taken
    /// verbatim after the single space that follows the verb (so names may contain spaces,
    /// including leading ones), but a NUL byte makes it a `BadArgument`.
    ///
    /// Leading spaces before the verb are skipped. The verb is the first space-separated
    /// word; it must be ASCII letters and digits. Verbs without arguments (PWD, NOOP, QUIT,
    /// SYST, FEAT, CDUP, PASV, ABOR) ignore one given anyway, as sloppy clients send them;
    /// REIN and CCC refuse one.
    pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
        let Parts { verb, sent, arg } = split_line(line)?;
        let v = verb.as_str();
        let cmd = match v {
            "USER" => Command::User(required(v, arg)?.to_string()),
            "PASS" => Command::Pass(Password::new(text_arg(v, arg)?.unwrap_or(""))),
            "ACCT" => Command::Acct(required(v, arg)?.to_string()),
            "QUIT" => no_arg(v, arg, Command::Quit)?,
            "REIN" => no_arg(v, arg, Command::Rein)?,
            "NOOP" => no_arg(v, arg, Command::Noop)?,
            "SYST" => no_arg(v, arg, Command::Syst)?,
            "FEAT" => no_arg(v, arg, Command::Feat)?,
            "OPTS" => Command::Opts(parse_opts(v, required(v, arg)?)?),
            "HELP" => Command::Help(optional(v, arg)?),
            "STAT" => Command::Stat(optional(v, arg)?),
            "PWD" | "XPWD" => no_arg(v, arg, Command::Pwd)?,
            "CWD" | "XCWD" => Command::Cwd(required(v, arg)?.to_string()),
            "CDUP" | "XCUP" => no_arg(v, arg, Command::Cdup)?,
            "MKD" | "XMKD" => Command::Mkd(required(v, arg)?.to_string()),
            "RMD" | "XRMD" => Command::Rmd(required(v, arg)?.to_string()),
            "DELE" => Command::Dele(required(v, arg)?.to_string()),
            "RNFR" => Command::Rnfr(required(v, arg)?.to_string()),
            "RNTO" => Command::Rnto(required(v, arg)?.to_string()),
            "SIZE" => Command::Size(required(v, arg)?.to_string()),
            "MDTM" => Command::Mdtm(required(v, arg)?.to_string()),
            "MFMT" => parse_mfmt(v, required(v, arg)?)?,
            "TYPE" => Command::Type(parse_type(v, required(v, arg)?)?),
            "STRU" => Command::Stru(match single_letter(v, required(v, arg)?)? {
                'F' => Structure::File,
                'R' => Structure::Record,
                'P' => Structure::Page,
                c => return Err(unsupported(v, format!("structure {c}"))),
            }),
            "MODE" => Command::Mode(match single_letter(v, required(v, arg)?)? {
                'S' => Mode::Stream,
                'B' => Mode::Block,
                'C' => Mode::Compressed,
                'Z' => Mode::Deflate,
                c => return Err(unsupported(v, format!("mode {c}"))),
            }),
            "PASV" => no_arg(v, arg, Command::Pasv)?,
            "EPSV" => Command::Epsv(parse_epsv(v, arg)?),
            "PORT" => Command::Port(
                crate::addr::parse_port(required(v, arg)?).map_err(|e| addr_error(v, e))?,
            ),
            "EPRT" => Command::Eprt(
                crate::addr::parse_eprt(required(v, arg)?).map_err(|e| addr_error(v, e))?,
            ),
            "LIST" => Command::List(parse_list_args(v, arg)?),
            "NLST" => Command::Nlst(parse_list_args(v, arg)?),
            "MLSD" => Command::Mlsd(optional(v, arg)?),
            "MLST" => Command::Mlst(optional(v, arg)?),
            "RETR" => Command::Retr(required(v, arg)?.to_string()),
            "STOR" => Command::Stor(required(v, arg)?.to_string()),
            "STOU" => Command::Stou(optional(v, arg)?),
            "APPE" => Command::Appe(required(v, arg)?.to_string()),
            "REST" => Command::Rest(parse_u64(v, required(v, arg)?)?),
            "ALLO" => parse_allo(v, required(v, arg)?)?,
            "ABOR" => no_arg(v, arg, Command::Abor)?,
            "SITE" => Command::Site(parse_site(v, required(v, arg)?)?),
            "AUTH" => {
                let mech = required(v, arg)?.trim_matches(' ');
                if mech.is_empty() {
                    return Err(bad(v, "argument required"));
                }
                Command::Auth(mech.to_ascii_uppercase())
            }
            "PBSZ" => Command::Pbsz(parse_u64(v, required(v, arg)?)?),
            "PROT" => match single_letter(v, required(v, arg)?)? {
                c @ ('C' | 'S' | 'E' | 'P') => Command::Prot(c),
                _ => return Err(bad(v, "protection level must be C, S, E or P")),
            },
            "CCC" => no_arg(v, arg, Command::Ccc)?,
            "HOST" => Command::Host(parse_host(v, required(v, arg)?)?),
            "HASH" => ext::parse_hash(v, required(v, arg)?)?,
            "RANG" => ext::parse_rang(v, required(v, arg)?)?,
            "XCRC" | "XMD5" | "XSHA1" | "XSHA256" | "XSHA512" => {
                match HashAlgorithm::from_x_verb(v) {
                    Some(a) => ext::parse_x_hash(v, a, required(v, arg)?)?,
                    None => return Err(ParseError::NotImplemented { verb }),
                }
            }
            "MFF" => ext::parse_mff(v, required(v, arg)?)?,
            "MFCT" => ext::parse_mfct(v, required(v, arg)?)?,
            "AVBL" => Command::Avbl(ext::optional_word(text_arg(v, arg)?)),
            "CLNT" => Command::Clnt(required(v, arg)?.to_string()),
            "LANG" => Command::Lang(ext::optional_word(text_arg(v, arg)?)),
            "SMNT" => Command::Smnt(ext::optional_word(text_arg(v, arg)?)),
            _ if NOT_IMPLEMENTED.contains(&v) => return Err(ParseError::NotImplemented { verb }),
            _ => return Err(ParseError::Unknown { verb: sent }),
        };
        Ok(cmd)
    }

    /// The canonical verb, upper-case (e.g. `"PWD"` for both PWD and XPWD).
    pub fn verb(&self) -> &'static str {
        match self {
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Acct(_) => "ACCT",
            Command::Quit => "QUIT",
            Command::Rein => "REIN",
            Command::Noop => "NOOP",
            Command::Syst => "SYST",
            Command::Feat => "FEAT",
            Command::Opts(_) => "OPTS",
            Command::Help(_) => "HELP",
            Command::Stat(_) => "STAT",
            Command::Pwd => "PWD",
            Command::Cwd(_) => "CWD",
            Command::Cdup => "CDUP",
            Command::Mkd(_) => "MKD",
            Command::Rmd(_) => "RMD",
            Command::Dele(_) => "DELE",
            Command::Rnfr(_) => "RNFR",
            Command::Rnto(_) => "RNTO",
            Command::Size(_) => "SIZE",
            Command::Mdtm(_) => "MDTM",
            Command::Mfmt { .. } => "MFMT",
            Command::Type(_) => "TYPE",
            Command::Stru(_) => "STRU",
            Command::Mode(_) => "MODE",
            Command::Pasv => "PASV",
            Command::Epsv(_) => "EPSV",
            Command::Port(_) => "PORT",
            Command::Eprt(_) => "EPRT",
            Command::List(_) => "LIST",
            Command::Nlst(_) => "NLST",
            Command::Mlsd(_) => "MLSD",
            Command::Mlst(_) => "MLST",
            Command::Retr(_) => "RETR",
            Command::Stor(_) => "STOR",
            Command::Stou(_) => "STOU",
            Command::Appe(_) => "APPE",
            Command::Rest(_) => "REST",
            Command::Allo { .. } => "ALLO",
            Command::Abor => "ABOR",
            Command::Site(_) => "SITE",
            Command::Auth(_) => "AUTH",
            Command::Pbsz(_) => "PBSZ",
            Command::Prot(_) => "PROT",
            Command::Ccc => "CCC",
            Command::Hash(_) => "HASH",
            Command::Rang { .. } => "RANG",
            Command::XHash { algorithm, .. } => algorithm.x_verb(),
            Command::Mff { .. } => "MFF",
            Command::Mfct { .. } => "MFCT",
            Command::Avbl(_) => "AVBL",
            Command::Clnt(_) => "CLNT",
            Command::Lang(_) => "LANG",
            Command::Smnt(_) => "SMNT",
            Command::Host(_) => "HOST",
        }
    }

    /// Encodes the command as a control line without the trailing CRLF.
    ///
    /// CR and LF cannot travel inside a control line; should an argument contain them, they
    /// are replaced by spaces.
    pub fn encode(&self) -> String {
        let verb = self.verb();
        let arg: Option<String> = match self {
            Command::Hash(_)
            | Command::Rang { .. }
            | Command::XHash { .. }
            | Command::Mff { .. }
            | Command::Mfct { .. }
            | Command::Avbl(_)
            | Command::Clnt(_)
            | Command::Lang(_)
            | Command::Smnt(_)
            | Command::Opts(Opts::Hash(_))
            | Command::Site(Site::Umask(_) | Site::Idle(_) | Site::Utime { .. }) => {
                ext::encode_arg(self)
            }
            Command::Quit
            | Command::Rein
            | Command::Noop
            | Command::Syst
            | Command::Feat
            | Command::Pwd
            | Command::Cdup
            | Command::Pasv
            | Command::Abor
            | Command::Ccc => None,
            Command::User(s)
            | Command::Acct(s)
            | Command::Cwd(s)
            | Command::Mkd(s)
            | Command::Rmd(s)
            | Command::Dele(s)
            | Command::Rnfr(s)
            | Command::Rnto(s)
            | Command::Size(s)
            | Command::Mdtm(s)
            | Command::Retr(s)
            | Command::Stor(s)
            | Command::Appe(s)
            | Command::Auth(s)
            | Command::Host(s) => Some(s.clone()),
            Command::Pass(p) => Some(p.expose().to_string()),
            Command::Help(s)
            | Command::Stat(s)
            | Command::Mlsd(s)
            | Command::Mlst(s)
            | Command::Stou(s) => s.clone(),
            Command::Opts(Opts::Utf8(on)) => {
                Some(format!("UTF8 {}", if *on { "ON" } else { "OFF" }))
            }
            Command::Opts(Opts::Mlst(facts)) => Some(if facts.is_empty() {
                "MLST".to_string()
            } else {
                let mut s = String::from("MLST ");
                for f in facts {
                    s.push_str(f);
                    s.push(';');
                }
                s
            }),
            Command::Opts(Opts::ModeZ { level }) => Some(match level {
                Some(n) => format!("MODE Z LEVEL {n}"),
                None => "MODE Z".to_string(),
            }),
            Command::Opts(Opts::Other { name, args })
            | Command::Site(Site::Other { name, args }) => Some(if args.is_empty() {
                name.clone()
            } else {
                format!("{name} {args}")
            }),
            Command::Site(Site::Help(None)) => Some("HELP".to_string()),
            Command::Site(Site::Help(Some(topic))) => Some(format!("HELP {topic}")),
            Command::Site(Site::Chmod { mode, path }) => Some(format!("CHMOD {mode:o} {path}")),
            Command::Mfmt { mtime, path } => {
                Some(format!("{} {path}", crate::listing::format_mdtm(*mtime)))
            }
            Command::Type(t) => Some(match t {
                TransferType::Ascii(fc) => format!("A{}", format_control_suffix(*fc)),
                TransferType::Ebcdic(fc) => format!("E{}", format_control_suffix(*fc)),
                TransferType::Image => "I".to_string(),
                TransferType::Local(n) => format!("L {n}"),
            }),
            Command::Stru(s) => Some(
                match s {
                    Structure::File => "F",
                    Structure::Record => "R",
                    Structure::Page => "P",
                }
                .to_string(),
            ),
            Command::Mode(m) => Some(
                match m {
                    Mode::Stream => "S",
                    Mode::Block => "B",
                    Mode::Compressed => "C",
                    Mode::Deflate => "Z",
                }
                .to_string(),
            ),
            Command::Epsv(EpsvArg::Any) => None,
            Command::Epsv(EpsvArg::All) => Some("ALL".to_string()),
            Command::Epsv(EpsvArg::Protocol(n)) => Some(n.to_string()),
            Command::Port(a) => Some(crate::addr::format_port(*a)),
            Command::Eprt(a) => Some(crate::addr::format_eprt(*a)),
            Command::List(args) | Command::Nlst(args) => {
                let mut s = String::new();
                if !args.flags.is_empty() {
                    s.push('-');
                    s.push_str(&args.flags);
                }
                if let Some(p) = &args.path {
                    if !s.is_empty() {
                        s.push(' ');
                    }
                    s.push_str(p);
                }
                if s.is_empty() {
                    None
                } else {
                    Some(s)
                }
            }
            Command::Rest(n) | Command::Pbsz(n) => Some(n.to_string()),
            Command::Allo { size, record } => Some(match record {
                Some(r) => format!("{size} R {r}"),
                None => size.to_string(),
            }),
            Command::Prot(c) => Some(c.to_string()),
        };
        match arg {
            None => verb.to_string(),
            Some(a) => format!("{verb} {}", clean(&a)),
        }
    }

    /// True for commands allowed before login (USER, PASS, ACCT, QUIT, REIN, NOOP, SYST,
    /// FEAT, OPTS, HELP, STAT without argument, AUTH, PBSZ, PROT, CCC, HOST, CLNT, LANG).
    pub fn allowed_before_login(&self) -> bool {
        matches!(
            self,
            Command::User(_)
                | Command::Pass(_)
                | Command::Acct(_)
                | Command::Quit
                | Command::Rein
                | Command::Noop
                | Command::Syst
                | Command::Feat
                | Command::Opts(_)
                | Command::Help(_)
                | Command::Stat(None)
                | Command::Auth(_)
                | Command::Pbsz(_)
                | Command::Prot(_)
                | Command::Ccc
                | Command::Host(_)
                | Command::Clnt(_)
                | Command::Lang(_)
        )
    }
}
