//! What a reply means for the command it answers (RFC 959 §5.4 command–reply sequences,
//! with RFC 2228 AUTH/ADAT and the transfer commands of RFC 3659).
//!
//! | Reply | Meaning |
//! |-------|---------|
//! | 1yz   | [`Outcome::Preliminary`] for transfer commands (RETR, STOR, STOU, APPE, LIST, NLST, MLSD) and REIN (120); the final reply follows. [`Outcome::Unexpected`] for others. |
//! | 2yz   | [`Outcome::Done`], except after RNFR and REST, which must answer 350 ([`Outcome::Unexpected`]). |
//! | 3yz   | [`Outcome::Intermediate`] where the sequence continues: 331/332 after USER, 332 after PASS, 350 after RNFR/REST, 334/335 after AUTH, 335 after ADAT. [`Outcome::Unexpected`] otherwise. |
//! | 4yz   | [`Outcome::TransientFailure`]: the same command may succeed later. |
//! | 5yz   | [`Outcome::PermanentFailure`]. |

use crate::reply::{ReplyClass, ReplyCode};
use crate::Command;

/// The meaning of one reply to one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// 2yz: the command completed.
    Done,
    /// 3yz: accepted, the next command of the sequence is expected (PASS after 331, ACCT
    /// after 332, RNTO after RNFR's 350, the transfer after REST's 350).
    Intermediate,
    /// 1yz: the action is starting (a data transfer); wait for the final reply.
    Preliminary,
    /// 4yz: failed for now; retrying may work.
    TransientFailure,
    /// 5yz: failed; retrying the same command will not help.
    PermanentFailure,
    /// A positive reply the command does not allow (e.g. 150 after CWD, 200 after RNFR):
    /// the client and the server disagree on where the conversation is.
    Unexpected,
}

impl Outcome {
    /// True for [`Outcome::TransientFailure`] and [`Outcome::PermanentFailure`].
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::TransientFailure | Outcome::PermanentFailure)
    }

    /// True when this reply ends the command (everything but [`Outcome::Preliminary`]).
    pub fn is_final(self) -> bool {
        self != Outcome::Preliminary
    }
}

/// Verbs whose first reply is normally 1yz before a data transfer.
const TRANSFER_VERBS: &[&str] = &["RETR", "STOR", "STOU", "APPE", "LIST", "NLST", "MLSD"];

/// Classifies `code` as a reply to `cmd`.
pub fn classify(cmd: &Command, code: ReplyCode) -> Outcome {
    classify_verb(cmd.verb(), code)
}

/// Classifies `code` as a reply to a command with this verb (case-insensitive). Use it for
/// commands that [`Command`] does not model (`HASH`, `XSHA256`, raw `quote` lines). Unknown
/// verbs follow the general rule: 2yz done, 1yz and 3yz unexpected.
pub fn classify_verb(verb: &str, code: ReplyCode) -> Outcome {
    let verb = verb.to_ascii_uppercase();
    let v = verb.as_str();
    let n = code.get();
    match code.class() {
        ReplyClass::TransientNegative => Outcome::TransientFailure,
        ReplyClass::PermanentNegative => Outcome::PermanentFailure,
        ReplyClass::PositivePreliminary => {
            if TRANSFER_VERBS.contains(&v) || (v == "REIN" && n == 120) {
                Outcome::Preliminary
            } else {
                Outcome::Unexpected
            }
        }
        ReplyClass::PositiveCompletion => match v {
            "RNFR" | "REST" => Outcome::Unexpected,
            _ => Outcome::Done,
        },
        ReplyClass::PositiveIntermediate => {
            let continues = match v {
                "USER" => matches!(n, 331 | 332),
                "PASS" => n == 332,
                "RNFR" | "REST" => n == 350,
                "AUTH" => matches!(n, 334 | 335),
                "ADAT" => n == 335,
                _ => false,
            };
            if continues {
                Outcome::Intermediate
            } else {
                Outcome::Unexpected
            }
        }
    }
}

/// Classifies the greeting a server sends when the control connection opens: 220 done,
/// 120 preliminary (the 220 follows later), 421 transient failure, other 4yz/5yz failures,
/// anything else unexpected.
pub fn classify_greeting(code: ReplyCode) -> Outcome {
    match code.get() {
        220 => Outcome::Done,
        120 => Outcome::Preliminary,
        _ => match code.class() {
            ReplyClass::TransientNegative => Outcome::TransientFailure,
            ReplyClass::PermanentNegative => Outcome::PermanentFailure,
            _ => Outcome::Unexpected,
        },
    }
}
