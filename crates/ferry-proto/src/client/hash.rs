//! Remote checksums: the HASH command (draft-bryan-ftpext-hash-02) and the older
//! XSHA256/XSHA1/XSHA512/XMD5/XCRC commands (proftpd mod_digest, Serv-U, FileZilla Server,
//! IIS extensions and others).
//!
//! Neither is modelled by [`crate::Command`]: the driver sends the lines built here
//! ([`hash_command`], [`opts_hash_command`], [`x_hash_command`]) and parses the 2yz reply with
//! [`parse_hash_reply`] or [`parse_x_hash_reply`]. Which one a server offers is told by
//! [`crate::client::Features::hash_algorithms`], [`crate::client::Features::x_hashes`] and
//! [`crate::client::help_verbs`]; [`choose_hash`] picks the best one.

use std::collections::BTreeSet;

use crate::client::features::Features;
use crate::reply::{ReplyClass, ReplyCode};
use crate::Reply;

/// A checksum algorithm a server may compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
    /// SHA-1.
    Sha1,
    /// MD5.
    Md5,
    /// CRC-32 (the ISO-HDLC / zlib polynomial).
    Crc32,
}

impl HashAlgorithm {
    /// Every algorithm, strongest first (the order [`choose_hash`] prefers).
    pub const ALL: [HashAlgorithm; 5] = [
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha512,
        HashAlgorithm::Sha1,
        HashAlgorithm::Md5,
        HashAlgorithm::Crc32,
    ];

    /// The name used by HASH and its FEAT line: `SHA-256`, `SHA-512`, `SHA-1`, `MD5`,
    /// `CRC32`.
    pub fn hash_name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "SHA-256",
            HashAlgorithm::Sha512 => "SHA-512",
            HashAlgorithm::Sha1 => "SHA-1",
            HashAlgorithm::Md5 => "MD5",
            HashAlgorithm::Crc32 => "CRC32",
        }
    }

    /// Looks up a HASH algorithm name, case-insensitively and with or without the dash
    /// (`SHA-256`, `sha256`, `CRC-32`).
    pub fn from_hash_name(name: &str) -> Option<HashAlgorithm> {
        let squashed: String = name
            .chars()
            .filter(|&c| c != '-' && c != '_')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        Some(match squashed.as_str() {
            "SHA256" => HashAlgorithm::Sha256,
            "SHA512" => HashAlgorithm::Sha512,
            "SHA1" => HashAlgorithm::Sha1,
            "MD5" => HashAlgorithm::Md5,
            "CRC32" | "CRC" => HashAlgorithm::Crc32,
            _ => return None,
        })
    }

    /// The X-command computing this algorithm: `XSHA256`, `XSHA512`, `XSHA1`, `XMD5`,
    /// `XCRC`.
    pub fn x_verb(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "XSHA256",
            HashAlgorithm::Sha512 => "XSHA512",
            HashAlgorithm::Sha1 => "XSHA1",
            HashAlgorithm::Md5 => "XMD5",
            HashAlgorithm::Crc32 => "XCRC",
        }
    }

    /// The algorithm of an X-command verb (case-insensitive; `XSHA` is SHA-1).
    pub fn from_x_verb(verb: &str) -> Option<HashAlgorithm> {
        Some(match verb.to_ascii_uppercase().as_str() {
            "XSHA256" => HashAlgorithm::Sha256,
            "XSHA512" => HashAlgorithm::Sha512,
            "XSHA1" | "XSHA" => HashAlgorithm::Sha1,
            "XMD5" => HashAlgorithm::Md5,
            "XCRC" => HashAlgorithm::Crc32,
            _ => return None,
        })
    }

    /// Length of the digest in hex digits (64, 128, 40, 32, 8).
    pub fn hex_len(self) -> usize {
        match self {
            HashAlgorithm::Sha256 => 64,
            HashAlgorithm::Sha512 => 128,
            HashAlgorithm::Sha1 => 40,
            HashAlgorithm::Md5 => 32,
            HashAlgorithm::Crc32 => 8,
        }
    }
}

impl std::fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.hash_name())
    }
}

/// A checksum computed by the server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RemoteHash {
    /// The algorithm.
    pub algorithm: HashAlgorithm,
    /// The digest in lower-case hex, exactly [`HashAlgorithm::hex_len`] digits.
    pub hex: String,
}

/// A parsed HASH reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashReply {
    /// The checksum.
    pub hash: RemoteHash,
    /// The byte range as sent (`start-end`), when the reply has one.
    pub range: Option<(u64, u64)>,
    /// The file name echoed by the server, when present.
    pub path: Option<String>,
}

/// How a remote checksum should be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashMethod {
    /// `OPTS HASH <name>` (when not already selected) then `HASH <path>`.
    Hash(HashAlgorithm),
    /// `<XVERB> <path>` (XSHA256, XSHA1, XMD5, ...).
    X(HashAlgorithm),
}

impl HashMethod {
    /// The algorithm either way.
    pub fn algorithm(self) -> HashAlgorithm {
        match self {
            HashMethod::Hash(a) | HashMethod::X(a) => a,
        }
    }
}

/// Why a checksum reply could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashReplyError {
    /// The server did not answer with a positive completion (e.g. 550 or 502).
    #[error("checksum refused: {code} {text}")]
    Refused {
        /// The reply code.
        code: ReplyCode,
        /// The reply text.
        text: String,
    },
    /// The reply has no digest of the expected form.
    #[error("malformed checksum reply ({reason}): {text}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
        /// The reply text (at most 200 characters).
        text: String,
    },
    /// The HASH reply names an algorithm Ferry does not know.
    #[error("unknown hash algorithm {0:?}")]
    UnknownAlgorithm(String),
}

/// `HASH <path>`, without CRLF.
pub fn hash_command(path: &str) -> String {
    format!("HASH {}", no_newlines(path))
}

/// `OPTS HASH <name>` (selects the algorithm HASH uses; 200 on success), without CRLF.
pub fn opts_hash_command(algorithm: HashAlgorithm) -> String {
    format!("OPTS HASH {}", algorithm.hash_name())
}

/// `<XVERB> <path>`, e.g. `XSHA256 file.bin`, without CRLF.
pub fn x_hash_command(algorithm: HashAlgorithm, path: &str) -> String {
    format!("{} {}", algorithm.x_verb(), no_newlines(path))
}

fn no_newlines(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

fn short(text: &str) -> String {
    text.chars().take(200).collect()
}

fn refused_unless_positive(reply: &Reply) -> Result<(), HashReplyError> {
    if reply.code.class() == ReplyClass::PositiveCompletion {
        Ok(())
    } else {
        Err(HashReplyError::Refused {
            code: reply.code,
            text: reply.text(),
        })
    }
}

/// Normalises a digest word: strips quotes and a `0x` prefix, lower-cases; checks it is hex
/// of the algorithm's length (CRC-32 digests shorter than 8 digits are zero-padded, as some
/// servers drop leading zeros).
fn digest_word(word: &str, algorithm: HashAlgorithm) -> Option<String> {
    let w = strip_decoration(word);
    if w.is_empty() || !w.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let want = algorithm.hex_len();
    let lower = w.to_ascii_lowercase();
    if lower.len() == want {
        Some(lower)
    } else if algorithm == HashAlgorithm::Crc32 && lower.len() < want {
        Some(format!("{lower:0>8}"))
    } else {
        None
    }
}

/// Parses a HASH reply: `213 SHA-256 0-49 <hex> <filename>` (draft-bryan-ftpext-hash §3).
/// The file name may contain spaces; the range is optional in practice.
pub fn parse_hash_reply(reply: &Reply) -> Result<HashReply, HashReplyError> {
    refused_unless_positive(reply)?;
    let text = reply.lines.last().map_or("", String::as_str).trim_start();
    let malformed = |reason| HashReplyError::Malformed {
        reason,
        text: short(text),
    };
    let (alg_name, rest) = text.split_once(' ').unwrap_or((text, ""));
    let algorithm = HashAlgorithm::from_hash_name(alg_name)
        .ok_or_else(|| HashReplyError::UnknownAlgorithm(short(alg_name)))?;
    let rest = rest.trim_start();
    let (first, after_first) = rest.split_once(' ').unwrap_or((rest, ""));
    let (range, digest_word_str, path) = match parse_range(first) {
        Some(r) => {
            let after = after_first.trim_start();
            let (d, p) = after.split_once(' ').unwrap_or((after, ""));
            (Some(r), d, p)
        }
        None => (None, first, after_first),
    };
    let hex = digest_word(digest_word_str, algorithm)
        .ok_or_else(|| malformed("no hex digest of the algorithm's length"))?;
    let path = Some(path.trim_start())
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    Ok(HashReply {
        hash: RemoteHash { algorithm, hex },
        range,
        path,
    })
}

fn parse_range(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once('-')?;
    let num = |x: &str| {
        if x.is_empty() || x.len() > 20 || !x.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            x.parse::<u64>().ok()
        }
    };
    Some((num(a)?, num(b)?))
}

/// Parses the reply to an X-command (`213 <hex>`, `250 <hex>`, `213 <hex> <filename>`,
/// `250 0x<hex>`, `251 <filename> <hex>`, proftpd's `250-Computing SHA256 digest` /
/// `250 <HEX>`...). The last line is searched first (it carries the result in multi-line
/// replies): the first word that is a digest of the algorithm's exact length wins, then a
/// shorter CRC-32 (zero-padded); earlier lines are searched for exact-length digests only.
pub fn parse_x_hash_reply(
    algorithm: HashAlgorithm,
    reply: &Reply,
) -> Result<RemoteHash, HashReplyError> {
    refused_unless_positive(reply)?;
    let exact =
        |w: &str| digest_word(w, algorithm).filter(|d| strip_decoration(w).len() == d.len());
    let last: Vec<&str> = reply
        .lines
        .last()
        .map(|l| l.split_ascii_whitespace().take(100).collect())
        .unwrap_or_default();
    let earlier = || {
        reply
            .lines
            .iter()
            .rev()
            .skip(1)
            .take(100)
            .flat_map(|l| l.split_ascii_whitespace().take(100))
    };
    let hex = last
        .iter()
        .find_map(|w| exact(w))
        .or_else(|| last.iter().find_map(|w| digest_word(w, algorithm)))
        .or_else(|| earlier().find_map(exact))
        .ok_or_else(|| HashReplyError::Malformed {
            reason: "no hex digest of the algorithm's length",
            text: short(&reply.text()),
        })?;
    Ok(RemoteHash { algorithm, hex })
}

/// A digest word without quotes, trailing punctuation or `0x`.
fn strip_decoration(word: &str) -> &str {
    let w = word.trim_matches(|c| c == '"' || c == '\'' || c == ',' || c == '.');
    w.strip_prefix("0x")
        .or_else(|| w.strip_prefix("0X"))
        .unwrap_or(w)
}

/// Picks how to ask for a checksum, given the server's FEAT, the verbs of its HELP reply
/// (if asked) and the algorithms the client can compute locally: the strongest algorithm
/// in [`HashAlgorithm::ALL`] order that both sides support, preferring HASH over the
/// X-command for the same algorithm.
pub fn choose_hash(
    features: &Features,
    help_verbs: Option<&BTreeSet<String>>,
    local: &[HashAlgorithm],
) -> Option<HashMethod> {
    let offered_hash: Vec<HashAlgorithm> = features
        .hash_algorithms()
        .into_iter()
        .map(|o| o.algorithm)
        .collect();
    let mut x = features.x_hashes();
    if let Some(verbs) = help_verbs {
        x.extend(verbs.iter().filter_map(|v| HashAlgorithm::from_x_verb(v)));
    }
    HashAlgorithm::ALL
        .into_iter()
        .filter(|a| local.contains(a))
        .find_map(|a| {
            if offered_hash.contains(&a) {
                Some(HashMethod::Hash(a))
            } else if x.contains(&a) {
                Some(HashMethod::X(a))
            } else {
                None
            }
        })
}
