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
}

impl ParseError {
    /// The reply code a server should answer with: 500, 502, 501 or 504.
    pub fn reply_code(&self) -> u16 {
        match self {
            ParseError::Empty | ParseError::Unknown { .. } => 500,
            ParseError::NotImplemented { .. } => 502,
            ParseError::BadArgument { .. } => 501,
            ParseError::UnsupportedParameter { .. } => 504,
        }
    }
}

impl Command {
    /// Parses one decoded control line (without line ending). Arguments must be UTF-8
    /// (RFC 2640); invalid UTF-8 is a [`ParseError::BadArgument`]. A path argument is taken
    /// verbatim after the single space that follows the verb (so names may contain spaces,
    /// including leading ones), but a NUL byte makes it a `BadArgument`.
    pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
        let _ = line;
        todo!()
    }

    /// The canonical verb, upper-case (e.g. `"PWD"` for both PWD and XPWD).
    pub fn verb(&self) -> &'static str {
        todo!()
    }

    /// Encodes the command as a control line without the trailing CRLF.
    pub fn encode(&self) -> String {
        todo!()
    }

    /// True for commands allowed before login (USER, PASS, ACCT, QUIT, REIN, NOOP, SYST,
    /// FEAT, OPTS, HELP, STAT without argument, AUTH, PBSZ, PROT, CCC).
    pub fn allowed_before_login(&self) -> bool {
        todo!()
    }
}
