//! # ferry-proto: the sans-IO FTP core
//!
//! Everything Ferry knows about the FTP protocol lives here, free of I/O: no tokio, no
//! sockets, no clock and no filesystem. The server, the client and the analyzer are drivers
//! around these pieces, so one parser serves all three.
//!
//! Layout:
//! - [`line`](mod@line): the control-line decoder (CRLF or bare LF, Telnet IAC handling, length cap).
//! - [`command`]: [`Command`], every verb with typed arguments, parsed from and encoded to a line.
//! - [`reply`]: [`Reply`] with the code as data (single and multi-line), parser and encoder,
//!   and the meaning of each reply code.
//! - [`addr`]: PORT/PASV (`h1,h2,h3,h4,p1,p2`) and EPRT/EPSV (`|af|addr|port|`) codecs.
//! - [`path`]: [`VirtualPath`], normalised absolute FTP paths that can never leave the root.
//! - [`perm`]: account permissions (list, read, write, overwrite, delete, rename, mkdir,
//!   rmdir, chmod), account-wide and per directory; the server session checks them.
//! - [`listing`]: LIST (`ls -l`), NLST and MLSD/MLST writers, and MDTM time stamps.
//! - [`transfer`]: TYPE A line-ending conversion (streaming).
//! - [`repr`]: every RFC 959 representation as streaming codecs: TYPE A/E (N, T, C) with
//!   CP037 tables, I, L 8; STRU F/R/P; MODE S/B/C with restart markers.
//! - [`proxy`]: the PROXY protocol (v1 text, v2 binary) header parser for connections from
//!   trusted proxies.
//! - [`server`]: the server session state machine: commands in, replies and I/O requests out.
//! - [`listing_parse`]: LIST (Unix `ls -l`, Windows/IIS) and MLSD/MLST parsers for the client.
//! - [`client`]: client-side helpers: reply outcomes, the login state machine, FEAT/HELP,
//!   PASV/EPSV targets and remote checksums.
//!
//! Time is always passed in by the caller as seconds since the Unix epoch (UTC).

pub mod addr;
pub mod client;
pub mod command;
#[doc(hidden)]
pub mod fuzzing;
pub mod line;
pub mod listing;
pub mod listing_parse;
pub mod path;
pub mod perm;
pub mod proxy;
pub mod reply;
pub mod repr;
pub mod server;
pub mod transfer;

pub use command::{Command, Password};
pub use path::VirtualPath;
pub use reply::{Reply, ReplyCode};
