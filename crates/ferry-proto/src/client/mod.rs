//! Client-side protocol helpers: everything a client needs to know about FTP that does not
//! involve a socket or a clock.
//!
//! - [`outcome`]: what a reply to a given command means ([`classify`] → [`Outcome`]), the
//!   RFC 959 §5.4 command–reply sequences in one place.
//! - [`login`]: the login state machine ([`Login`]: greeting, USER, PASS, ACCT).
//! - [`features`]: the FEAT reply ([`Features`]) and the verbs of a HELP reply
//!   ([`help_verbs`]).
//! - [`data_addr`]: where to connect for a PASV/EPSV data connection ([`pasv_target`],
//!   [`epsv_target`]), with the usual policy for servers behind NAT.
//! - [`hash`]: remote checksums: HASH (draft-bryan-ftpext-hash) and the XSHA256/XSHA1/XMD5/
//!   XCRC family ([`RemoteHash`]).
//! - [`replies`]: small parsers for the payload of single replies (SIZE, MDTM, PWD/MKD,
//!   STOU).
//!
//! The directory listing parsers live in [`crate::listing_parse`].
//!
//! A typical driver loop: read lines with [`crate::line::LineDecoder`], assemble replies with
//! [`crate::reply::ReplyParser`], drive [`Login`] until it reports
//! [`LoginStep::LoggedIn`], send FEAT and keep the [`Features`], then for each operation send
//! its [`crate::Command`] and act on [`classify`] of each reply.

pub mod data_addr;
pub mod features;
pub mod hash;
pub mod login;
pub mod outcome;
pub mod replies;

pub use data_addr::{epsv_target, pasv_target, DataAddrError, PasvPolicy};
pub use features::{help_verbs, Feature, Features, HashOffer, MlstFact};
pub use hash::{choose_hash, HashAlgorithm, HashMethod, HashReply, HashReplyError, RemoteHash};
pub use login::{Login, LoginError, LoginStage, LoginStep};
pub use outcome::{classify, classify_greeting, classify_verb, Outcome};
pub use replies::{parse_mdtm_reply, parse_path_reply, parse_size_reply, ReplyValueError};
