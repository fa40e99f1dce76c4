//! The FEAT reply (RFC 2389) and the verb list of a HELP reply.
//!
//! A FEAT reply is `211-` heading, one feature per line (`NAME` or `NAME params`, each
//! indented by a space), and a `211 ` trailer. A name may appear several times (vsftpd
//! lists `AUTH SSL` and `AUTH TLS` on separate lines), so every line is kept.
//!
//! Many servers do not list everything they support: EPSV/EPRT are RFC 2428 commands that
//! some servers never put in FEAT, and the X-hash commands (XSHA1, XMD5, ...) usually
//! appear only in HELP. [`help_verbs`] reads the verb table of a `214` HELP reply.

use std::collections::BTreeSet;

use crate::client::hash::HashAlgorithm;
use crate::Reply;

/// One FEAT line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Feature {
    /// The feature name, upper-cased (`MLST`, `REST`, `AUTH`, `UTF8`).
    pub name: String,
    /// The rest of the line, trimmed (`size*;modify*;type*;`, `STREAM`, `TLS`), possibly
    /// empty.
    pub params: String,
}

/// One fact of the MLST feature line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MlstFact {
    /// The fact name, lower-cased (`size`, `modify`, `unix.mode`).
    pub name: String,
    /// True when marked with `*` (returned by default).
    pub enabled: bool,
}

/// One algorithm of the HASH feature line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HashOffer {
    /// The algorithm.
    pub algorithm: HashAlgorithm,
    /// True when marked with `*` (the one HASH currently uses).
    pub current: bool,
}

/// Most feature lines kept.
pub const MAX_FEATURES: usize = 256;

/// The features a server announced in its FEAT reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    list: Vec<Feature>,
    /// True when FEAT was answered with 211.
    answered: bool,
}

impl Features {
    /// Parses a FEAT reply. A reply other than 211 (500/502: FEAT not supported) gives an
    /// empty set with [`Features::answered`] false. The first and last lines (heading and
    /// trailer) are not features; every other non-empty line is one.
    pub fn parse(reply: &Reply) -> Features {
        if reply.code.get() != 211 {
            return Features::default();
        }
        let n = reply.lines.len();
        let middle = reply
            .lines
            .iter()
            .take(n.saturating_sub(1))
            .skip(1)
            .map(String::as_str);
        let mut f = Features::from_lines(middle);
        f.answered = true;
        f
    }

    /// Builds the set from feature lines (`MLST size*;modify*;`, ` UTF8`), ignoring blank
    /// lines; at most [`MAX_FEATURES`] are kept.
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Features {
        let list = lines
            .into_iter()
            .filter_map(|line| {
                let line = line.trim();
                if line.is_empty() {
                    return None;
                }
                let (name, params) = line.split_once([' ', '\t']).unwrap_or((line, ""));
                Some(Feature {
                    name: name.to_ascii_uppercase(),
                    params: params.trim().to_string(),
                })
            })
            .take(MAX_FEATURES)
            .collect();
        Features {
            list,
            answered: false,
        }
    }

    /// True when the server answered FEAT with 211 (even with no features).
    pub fn answered(&self) -> bool {
        self.answered
    }

    /// Every feature line, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Feature> {
        self.list.iter()
    }

    /// True when a feature of this name (case-insensitive) was announced.
    pub fn has(&self, name: &str) -> bool {
        self.list.iter().any(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The parameters of the first feature of this name.
    pub fn params(&self, name: &str) -> Option<&str> {
        self.list
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.params.as_str())
    }

    /// The parameters of every feature line of this name.
    pub fn all_params<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.list
            .iter()
            .filter(move |f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.params.as_str())
    }

    /// The facts of the MLST feature (`MLST type*;size*;modify*;perm;`), or `None` without
    /// MLST.
    pub fn mlst_facts(&self) -> Option<Vec<MlstFact>> {
        let params = self.params("MLST")?;
        Some(
            params
                .split(';')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(|f| {
                    let (name, enabled) = match f.strip_suffix('*') {
                        Some(n) => (n, true),
                        None => (f, false),
                    };
                    MlstFact {
                        name: name.to_ascii_lowercase(),
                        enabled,
                    }
                })
                .collect(),
        )
    }

    /// MLST/MLSD offered.
    pub fn mlst(&self) -> bool {
        self.has("MLST") || self.has("MLSD")
    }

    /// `UTF8` offered (RFC 2640): names are UTF-8, `OPTS UTF8 ON` is understood.
    pub fn supports_utf8(&self) -> bool {
        self.has("UTF8")
    }

    /// `REST STREAM` offered (RFC 3659 §5): restarted transfers in stream mode.
    pub fn rest_stream(&self) -> bool {
        self.all_params("REST").any(|p| {
            p.split([' ', ';', ','])
                .any(|w| w.eq_ignore_ascii_case("STREAM"))
        })
    }

    /// Every mechanism of the AUTH feature lines, upper-cased (`TLS`, `SSL`, `TLS-C`).
    pub fn auth_mechanisms(&self) -> Vec<String> {
        self.all_params("AUTH")
            .flat_map(|p| p.split([' ', ';', ',']))
            .filter(|w| !w.is_empty())
            .map(str::to_ascii_uppercase)
            .collect()
    }

    /// `AUTH TLS` (or `TLS-C`) offered (RFC 4217).
    pub fn auth_tls(&self) -> bool {
        self.auth_mechanisms()
            .iter()
            .any(|m| m == "TLS" || m == "TLS-C")
    }

    /// `PBSZ` offered (RFC 2228; servers with AUTH TLS list it).
    pub fn pbsz(&self) -> bool {
        self.has("PBSZ")
    }

    /// `PROT` offered (RFC 2228).
    pub fn prot(&self) -> bool {
        self.has("PROT")
    }

    /// The algorithms of the HASH feature (`HASH SHA-256*;SHA-1;MD5;CRC32`), in the order
    /// listed, unknown names left out; empty without HASH.
    pub fn hash_algorithms(&self) -> Vec<HashOffer> {
        self.params("HASH")
            .into_iter()
            .flat_map(|p| p.split(';'))
            .map(str::trim)
            .filter_map(|name| {
                let (name, current) = match name.strip_suffix('*') {
                    Some(n) => (n, true),
                    None => (name, false),
                };
                HashAlgorithm::from_hash_name(name)
                    .map(|algorithm| HashOffer { algorithm, current })
            })
            .collect()
    }

    /// The algorithm HASH currently uses (the one marked `*`).
    pub fn current_hash(&self) -> Option<HashAlgorithm> {
        self.hash_algorithms()
            .into_iter()
            .find(|o| o.current)
            .map(|o| o.algorithm)
    }

    /// The X-hash commands listed as features (`XSHA256`, `XSHA1`, `XSHA`, `XSHA512`, `XMD5`,
    /// `XCRC`), as algorithms. Servers often list these only in HELP: see [`help_verbs`].
    pub fn x_hashes(&self) -> Vec<HashAlgorithm> {
        let mut out: Vec<HashAlgorithm> = self
            .list
            .iter()
            .filter_map(|f| HashAlgorithm::from_x_verb(&f.name))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// `MFMT` offered (draft-somers-ftp-mfxx: set the modification time).
    pub fn mfmt(&self) -> bool {
        self.has("MFMT")
    }

    /// `MDTM` offered (RFC 3659).
    pub fn mdtm(&self) -> bool {
        self.has("MDTM")
    }

    /// `SIZE` offered (RFC 3659).
    pub fn size(&self) -> bool {
        self.has("SIZE")
    }

    /// `EPSV` listed. Not listing it does not mean it is missing: try it anyway and fall
    /// back to PASV on 500/502.
    pub fn epsv(&self) -> bool {
        self.has("EPSV")
    }

    /// `EPRT` listed (same caveat as [`Features::epsv`]).
    pub fn eprt(&self) -> bool {
        self.has("EPRT")
    }

    /// `TVFS` offered (RFC 3659 §6: `/`-separated paths).
    pub fn tvfs(&self) -> bool {
        self.has("TVFS")
    }
}

/// Most verbs kept from a HELP reply.
pub const MAX_HELP_VERBS: usize = 512;

/// The verbs listed in a HELP reply (`214-The following commands are recognized.`, rows of
/// verbs, `214 Help OK.`), upper-cased. Verbs marked unimplemented with a trailing `*`
/// (proftpd) are left out. Words of 3 to 8 ASCII upper-case letters and digits (starting
/// with a letter) count as verbs; in a multi-line reply the heading and trailer lines are
/// not read. A reply other than 211/214 gives an empty set.
pub fn help_verbs(reply: &Reply) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if !matches!(reply.code.get(), 211 | 214) {
        return out;
    }
    let n = reply.lines.len();
    let lines: Vec<&str> = if n >= 3 {
        reply
            .lines
            .iter()
            .take(n - 1)
            .skip(1)
            .map(String::as_str)
            .collect()
    } else {
        reply.lines.iter().map(String::as_str).collect()
    };
    for word in lines.iter().flat_map(|l| l.split_ascii_whitespace()) {
        if out.len() >= MAX_HELP_VERBS {
            break;
        }
        if word.ends_with('*') {
            continue;
        }
        let b = word.as_bytes();
        let is_verb = (3..=8).contains(&b.len())
            && b.first().is_some_and(u8::is_ascii_uppercase)
            && b.iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if is_verb {
            out.insert(word.to_string());
        }
    }
    out
}
