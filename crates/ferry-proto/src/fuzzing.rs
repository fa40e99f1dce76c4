//! Bodies of the cargo-fuzz targets in `fuzz/` (one public function per target), shared
//! with the corpus replay test (`tests/fuzz_corpus.rs`) so that CI runs exactly what the
//! fuzzer runs. Each takes arbitrary bytes and panics only when an invariant is broken.
//!
//! Not part of the API: hidden from the docs and free to change.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use crate::addr;
use crate::command::{FormatControl, Mode, Structure, TransferType};
use crate::line::{LineDecoder, LineEvent, MAX_LINE};
use crate::listing::{EntryInfo, EntryKind};
use crate::listing_parse;
use crate::perm::{PermSet, Permissions};
use crate::proxy;
use crate::reply::{Reply, ReplyError, ReplyParser, MAX_REPLY_LINES};
use crate::repr::{FileEncoder, ReprError, Representation, WireDecoder};
use crate::server::{
    Action, HashOutcome, HostGrant, LoginGrant, OpError, Session, SessionConfig, TlsPolicy,
    TransferOutcome,
};
use crate::Command;

/// A small deterministic generator (xorshift64), so chunkings follow from the input.
struct Rng(u64);

impl Rng {
    fn new(seed: u8) -> Self {
        Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(seed).wrapping_mul(0x0100_0000_01b3))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A chunk length in `1..=max`.
    fn len(&mut self, max: usize) -> usize {
        (self.next() % max.max(1) as u64) as usize + 1
    }
}

/// Splits `data` into chunks of generated lengths.
fn chunks<'a>(data: &'a [u8], rng: &mut Rng, max: usize) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = rng.len(max).min(rest.len());
        let (head, tail) = rest.split_at(n);
        out.push(head);
        rest = tail;
    }
    out
}

/// Target `control_lines`: any bytes as a control connection, in both directions. The line
/// decoder, the command parser and the reply parser never panic; memory stays bounded.
pub fn control_lines(data: &[u8]) {
    let mut decoder = LineDecoder::new();
    let mut replies = ReplyParser::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (n, event) = decoder.decode(rest);
        rest = rest.get(n..).unwrap_or_default();
        if let Some(LineEvent::Line(line)) = event {
            assert!(line.len() <= MAX_LINE);
            let _ = Command::parse(&line);
            let _ = replies.push_line(&line);
        }
        if n == 0 {
            break;
        }
    }
    assert!(decoder.pending() <= MAX_LINE);
}

/// Target `command`: [`Command::parse`] never panics, errors map to a valid reply code, the
/// encoding is one line, and for lines without CR or LF (which the encoder replaces)
/// `parse(encode(parse(line))) == parse(line)`.
pub fn command(data: &[u8]) {
    let cmd = match Command::parse(data) {
        Ok(cmd) => cmd,
        Err(e) => {
            assert!([500, 501, 502, 504, 522].contains(&e.reply_code()), "{e:?}");
            let _ = e.to_string();
            return;
        }
    };
    let _ = cmd.allowed_before_login();
    let wire = cmd.encode();
    assert!(!wire.contains(['\r', '\n']), "{wire:?}");
    assert!(wire.starts_with(cmd.verb()), "{wire:?} for {cmd:?}");
    if data.contains(&b'\r') || data.contains(&b'\n') {
        return;
    }
    assert_eq!(
        Command::parse(wire.as_bytes()),
        Ok(cmd),
        "round trip through {wire:?}"
    );
}

/// Every reply (or error) the line decoder and reply parser produce from `chunks`.
fn parse_replies<'a>(
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<Result<Option<Reply>, ReplyError>> {
    let mut decoder = LineDecoder::new();
    let mut parser = ReplyParser::new();
    let mut out = Vec::new();
    for chunk in chunks {
        let mut rest = chunk;
        while !rest.is_empty() {
            let (n, event) = decoder.decode(rest);
            rest = rest.get(n..).unwrap_or_default();
            match event {
                Some(LineEvent::Line(line)) => out.push(parser.push_line(&line)),
                Some(LineEvent::TooLong { len }) => {
                    out.push(Err(ReplyError::Malformed(format!("too long: {len}"))))
                }
                None => break,
            }
        }
    }
    out
}

/// `text` as the wire carries it: CR and LF become spaces.
fn wire_text(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// Checks that a reply encodes to lines that parse back to the same reply.
fn check_reply_round_trip(reply: &Reply) {
    let code = reply.code.get();
    assert!((100..=599).contains(&code), "{reply:?}");
    assert!(!reply.lines.is_empty(), "{reply:?}");
    let wire = reply.encode();
    let back = parse_replies([wire.as_slice()]);
    let expected = Reply {
        code: reply.code,
        lines: reply.lines.iter().map(|l| wire_text(l)).collect(),
    };
    let Some((last, before)) = back.split_last() else {
        panic!("no line in the wire form {wire:?}");
    };
    assert!(before.iter().all(|r| matches!(r, Ok(None))), "{back:?}");
    assert_eq!(last, &Ok(Some(expected)), "wire {wire:?}");
}

/// Target `reply`: the first byte seeds chunk sizes; the rest is a reply stream. Feeding it
/// through the line decoder and reply parser in random chunks gives exactly what one call
/// gives; every reply is bounded and encodes back to itself.
pub fn reply(data: &[u8]) {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let whole = parse_replies([stream]);
    let mut rng = Rng::new(seed);
    let pieces = chunks(stream, &mut rng, 64);
    assert_eq!(
        parse_replies(pieces),
        whole,
        "chunked differs from one-shot"
    );
    for r in whole.iter().flatten().flatten() {
        assert!(r.lines.len() <= MAX_REPLY_LINES);
        check_reply_round_trip(r);
    }
}

/// Target `addr`: the PORT, PASV, EPRT and EPSV parsers never panic on the input as text,
/// what they accept formats and parses back to the same address, and the first bytes of the
/// input taken as an address round-trip through every format.
pub fn addr(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(a) = addr::parse_port(&text) {
        assert_eq!(addr::parse_port(&addr::format_port(a)), Ok(a));
    }
    if let Ok(a) = addr::parse_pasv_reply(&text) {
        assert_eq!(addr::parse_pasv_reply(&addr::pasv_reply_text(a)), Ok(a));
    }
    if let Ok(a) = addr::parse_eprt(&text) {
        assert_ne!(a.port(), 0);
        assert_eq!(addr::parse_eprt(&addr::format_eprt(a)), Ok(a));
    }
    if let Ok(p) = addr::parse_epsv_reply(&text) {
        assert_ne!(p, 0);
        assert_eq!(addr::parse_epsv_reply(&addr::epsv_reply_text(p)), Ok(p));
    }
    let mut raw = [0u8; 18];
    for (slot, b) in raw.iter_mut().zip(data) {
        *slot = *b;
    }
    let [a, b, c, d, p1, p2, rest @ ..] = raw;
    let port = u16::from_be_bytes([p1, p2]);
    let v4 = SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), port);
    assert_eq!(addr::parse_port(&addr::format_port(v4)), Ok(v4));
    assert_eq!(addr::parse_pasv_reply(&addr::pasv_reply_text(v4)), Ok(v4));
    let mut v6 = [0u8; 16];
    v6[..12].copy_from_slice(&rest[..12]);
    v6[12..].copy_from_slice(&[a, b, c, d]);
    for ip in [IpAddr::V4(*v4.ip()), IpAddr::V6(Ipv6Addr::from(v6))] {
        let sa = SocketAddr::new(ip, port);
        let parsed = addr::parse_eprt(&addr::format_eprt(sa));
        if port == 0 {
            assert!(parsed.is_err());
        } else {
            assert_eq!(parsed, Ok(sa));
        }
    }
    let epsv = addr::parse_epsv_reply(&addr::epsv_reply_text(port));
    assert_eq!(epsv.ok(), (port != 0).then_some(port));
}

/// Target `listing`: the first 8 bytes are `now`; the rest is a LIST, MLSD and NLST body
/// (and an MLST reply). The parsers never panic, whole-body parsing agrees with
/// line-by-line parsing, and what they return is bounded.
pub fn listing(data: &[u8]) {
    let mut now_bytes = [0u8; 8];
    for (slot, b) in now_bytes.iter_mut().zip(data) {
        *slot = *b;
    }
    let now = i64::from_le_bytes(now_bytes);
    let body = data.get(8..).unwrap_or_default();
    let lines = body.split(|&b| b == b'\n').count();

    let list = listing_parse::parse_listing(body, now);
    assert!(list.entries.len() + list.warnings.len() <= lines);
    for e in &list.entries {
        assert!(!e.is_dot());
        assert!(e.mode.is_none_or(|m| m <= 0o7777), "{e:?}");
    }
    let mut last = 0;
    for w in &list.warnings {
        assert!(w.line_number > last && w.line_number <= lines, "{w}");
        last = w.line_number;
        check_shown(&w.error);
    }
    let mut single = Vec::new();
    for raw in body.split(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(raw);
        if let Ok(Some(e)) = listing_parse::parse_list_line(&line, now) {
            if !e.is_dot() {
                single.push(e);
            }
        }
    }
    assert_eq!(single, list.entries, "line-by-line differs");

    let mlsd = listing_parse::parse_mlsd(body);
    assert!(mlsd.entries.len() + mlsd.warnings.len() <= lines);
    for e in &mlsd.entries {
        assert!(!e.is_dot());
        assert!(e.mode.is_none_or(|m| m <= 0o7777), "{e:?}");
    }
    for w in &mlsd.warnings {
        check_shown(&w.error);
    }
    for raw in body.split(|&b| b == b'\n').take(64) {
        if let Ok(m) = listing_parse::parse_mlsx_line(&String::from_utf8_lossy(raw)) {
            assert!(m.facts.len() <= listing_parse::MAX_FACTS);
            assert!(!m.entry.name.is_empty());
        }
    }

    let names = listing_parse::parse_nlst(body);
    assert!(names.len() <= lines);
    assert!(names.iter().all(|n| !n.is_empty() && n != "." && n != ".."));

    let text_lines: Vec<String> = body
        .split(|&b| b == b'\n')
        .take(MAX_REPLY_LINES)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    let reply = Reply::multi(250, text_lines);
    if let Ok(m) = listing_parse::parse_mlst_reply(&reply) {
        assert!(!m.facts.is_empty());
    }
}

fn check_shown(e: &listing_parse::ListParseError) {
    let line = match e {
        listing_parse::ListParseError::Unrecognized { line }
        | listing_parse::ListParseError::Malformed { line, .. } => line,
        #[allow(unreachable_patterns)]
        _ => return,
    };
    assert!(line.chars().count() <= listing_parse::MAX_SHOWN_CHARS);
}

/// Target `proxy`: [`proxy::parse`] never panics; a header found has a length within the
/// input and the bounds; every shorter prefix of a header is `Incomplete`, and the header
/// alone parses to the same result.
pub fn proxy(data: &[u8]) {
    let data = data.get(..proxy::MAX_HEADER_LEN + 64).unwrap_or(data);
    let whole = proxy::parse(data);
    let mut rng = Rng::new(data.len() as u8);
    match whole {
        Ok(proxy::Parsed::Done {
            header, consumed, ..
        }) => {
            assert!(consumed > 0 && consumed <= data.len() && consumed <= proxy::MAX_HEADER_LEN);
            let own = SocketAddr::from(([127, 0, 0, 1], 21));
            let _ = header.client_or(own);
            let head = data.get(..consumed).unwrap_or_default();
            assert_eq!(proxy::parse(head), whole);
            for _ in 0..16 {
                let cut = (rng.next() % consumed as u64) as usize;
                let prefix = data.get(..cut).unwrap_or_default();
                assert_eq!(
                    proxy::parse(prefix),
                    Ok(proxy::Parsed::Incomplete),
                    "prefix of {cut} bytes"
                );
            }
        }
        Ok(proxy::Parsed::Incomplete) => {
            assert!(data.len() < proxy::MAX_HEADER_LEN);
            for _ in 0..16 {
                let cut = (rng.next() % (data.len() as u64 + 1)) as usize;
                let prefix = data.get(..cut).unwrap_or_default();
                assert_eq!(proxy::parse(prefix), Ok(proxy::Parsed::Incomplete));
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Every TYPE × STRU × MODE combination Ferry implements.
fn all_reprs() -> Vec<Representation> {
    let mut v = Vec::new();
    let fcs = [
        FormatControl::NonPrint,
        FormatControl::Telnet,
        FormatControl::Asa,
    ];
    let mut types: Vec<TransferType> = Vec::new();
    for fc in fcs {
        types.push(TransferType::Ascii(fc));
        types.push(TransferType::Ebcdic(fc));
    }
    types.push(TransferType::Image);
    types.push(TransferType::Local(8));
    for ty in types {
        for stru in [Structure::File, Structure::Record, Structure::Page] {
            for mode in [Mode::Stream, Mode::Block, Mode::Compressed, Mode::Deflate] {
                if let Ok(r) = Representation::new(ty, stru, mode) {
                    v.push(r);
                }
            }
        }
    }
    v
}

fn decode_chunks<'a>(
    r: Representation,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<u8>, ReprError> {
    let mut d = WireDecoder::new(r);
    let mut out = Vec::new();
    for c in chunks {
        d.decode(c, &mut out)?;
    }
    d.finish(&mut out)?;
    Ok(out)
}

/// TYPE A N/T in STRU F cannot keep a CR right before an LF (CRLF is the line end).
fn drop_cr_before_lf(data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len());
    for &b in data {
        if b == b'\n' {
            while v.last() == Some(&b'\r') {
                v.pop();
            }
        }
        v.push(b);
    }
    v
}

/// Target `repr`: the first byte picks the representation, the second seeds chunk sizes.
/// The rest, as wire bytes, decodes without panicking and the same in chunks as at once;
/// as a file, it encodes and decodes back to itself (with a restart marker in the middle
/// for binary block and compressed modes, reported at its file offset).
pub fn repr(data: &[u8]) {
    let reprs = all_reprs();
    let (Some(&pick), Some(&seed)) = (data.first(), data.get(1)) else {
        return;
    };
    let Some(&r) = reprs.get(usize::from(pick) % reprs.len()) else {
        return;
    };
    let body = data.get(2..).unwrap_or_default();
    let mut rng = Rng::new(seed);

    let whole = decode_chunks(r, [body]);
    let pieces = chunks(body, &mut rng, 97);
    assert_eq!(decode_chunks(r, pieces), whole, "chunked decode, {r:?}");

    let file = match r.transfer_type() {
        TransferType::Ascii(FormatControl::NonPrint | FormatControl::Telnet)
            if r.structure() == Structure::File =>
        {
            drop_cr_before_lf(body)
        }
        _ => body.to_vec(),
    };
    let split = (rng.next() % (file.len() as u64 + 1)) as usize;
    let (first, second) = file.split_at(split);
    let mut enc = FileEncoder::new(r);
    let mut wire = Vec::new();
    enc.encode(first, &mut wire);
    let binary = matches!(
        r.transfer_type(),
        TransferType::Image | TransferType::Local(_)
    ) && r.structure() != Structure::Page;
    let marked = binary
        && matches!(r.mode(), Mode::Block | Mode::Compressed)
        && enc.marker(split.to_string().as_bytes(), &mut wire).is_ok();
    enc.encode(second, &mut wire);
    enc.finish(&mut wire);
    let mut dec = WireDecoder::new(r);
    let mut out = Vec::new();
    for piece in chunks(&wire, &mut rng, 131) {
        assert_eq!(dec.decode(piece, &mut out), Ok(()), "{r:?}");
    }
    assert_eq!(dec.finish(&mut out), Ok(()), "{r:?}");
    assert_eq!(out, file, "round trip, {r:?}");
    assert_eq!(dec.written(), file.len() as u64);
    let markers = dec.take_markers();
    if marked {
        assert_eq!(markers.len(), 1, "{r:?}");
        assert_eq!(markers.first().map(|m| m.offset), Some(split as u64));
    } else {
        assert!(markers.is_empty());
    }
}

/// Reads fuzz-chosen decisions from a tape of bytes (cycling; all zero when empty).
struct Tape<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Tape<'_> {
    fn byte(&mut self) -> u8 {
        if self.bytes.is_empty() {
            return 0;
        }
        let b = self.bytes.get(self.at % self.bytes.len()).copied();
        self.at = self.at.wrapping_add(1);
        b.unwrap_or(0)
    }

    /// A choice in `0..n`.
    fn pick(&mut self, n: u8) -> u8 {
        self.byte() % n.max(1)
    }
}

/// Reply codes a driver maps storage errors to.
const ERROR_CODES: [u16; 6] = [450, 451, 550, 552, 553, 421];

fn op_error(tape: &mut Tape<'_>) -> OpError {
    let code = ERROR_CODES
        .get(usize::from(tape.pick(ERROR_CODES.len() as u8)))
        .copied()
        .unwrap_or(550);
    OpError::new(code, "fuzz\r\nerror")
}

fn entry(tape: &mut Tape<'_>) -> EntryInfo {
    let kind = match tape.pick(4) {
        0 => EntryKind::File,
        1 => EntryKind::Dir,
        2 => EntryKind::Symlink,
        _ => EntryKind::Other,
    };
    EntryInfo {
        name: "entry".into(),
        kind,
        size: u64::from(tape.byte()) << (tape.pick(8) * 8),
        mtime: i64::from(tape.byte() as i8) * 86_400 * 365,
        mode: 0o644,
        nlink: 1,
        owner: "ftp".into(),
        group: "ftp".into(),
        unique: None,
    }
}

/// Which callback a request action waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaits {
    Auth,
    Fs,
    Passive,
    Transfer,
    Stat,
    Tls,
    Hash,
    Avbl,
    Host,
}

fn awaits(action: &Action) -> Option<Awaits> {
    Some(match action {
        Action::Authenticate { .. } | Action::AuthenticateByCertificate { .. } => Awaits::Auth,
        Action::Fs(_) => Awaits::Fs,
        Action::OpenPassive => Awaits::Passive,
        Action::Transfer(_) => Awaits::Transfer,
        Action::StatList(_) => Awaits::Stat,
        Action::StartTls => Awaits::Tls,
        Action::Hash(_) => Awaits::Hash,
        Action::Avbl(_) => Awaits::Avbl,
        Action::SelectHost(Some(_)) => Awaits::Host,
        _ => return None,
    })
}

/// Checks one batch of actions; returns the request it holds (at most one), and whether
/// it closes the session.
fn check_actions(session: &Session, actions: &[Action], from_line: bool) -> (Option<Awaits>, bool) {
    let mut request = None;
    let mut close = false;
    let mut replies = 0;
    let mut last_reply: Option<&Reply> = None;
    for a in actions {
        assert!(!close, "an action after Close: {actions:?}");
        match a {
            Action::Reply(r) => {
                check_reply_round_trip(r);
                replies += 1;
                last_reply = Some(r);
            }
            Action::Close => close = true,
            _ => {}
        }
        if let Some(w) = awaits(a) {
            assert!(request.is_none(), "two requests at once: {actions:?}");
            request = Some(w);
        }
    }
    assert_eq!(
        session.is_busy(),
        request.is_some(),
        "busy does not match the requests: {actions:?}"
    );
    if from_line && request.is_none() {
        assert!(replies > 0, "a command without an answer: {actions:?}");
        assert!(
            last_reply.is_some_and(|r| !r.is_preliminary()),
            "a command left at a 1xx reply: {actions:?}"
        );
    }
    (request, close)
}

/// Answers the request the session waits for, with a fuzz-chosen result.
fn answer(
    session: &mut Session,
    waits: Awaits,
    tape: &mut Tape<'_>,
    last: &[Action],
) -> Vec<Action> {
    match waits {
        Awaits::Auth => {
            if tape.pick(3) == 0 {
                return session.on_auth(None);
            }
            let permissions = Permissions::uniform(match tape.pick(3) {
                0 => PermSet::all(),
                1 => PermSet::read_only(),
                _ => PermSet::of(&[]),
            });
            let mut out = session.on_auth(Some(LoginGrant {
                user: "fuzz".into(),
                permissions,
                anonymous: tape.pick(2) == 0,
            }));
            if tape.pick(8) == 0 && out.iter().any(|a| matches!(a, Action::LoggedIn(_))) {
                out.extend(session.on_login_failed("storage\nunavailable"));
            }
            out
        }
        Awaits::Fs => session.on_fs(match tape.pick(3) {
            0 => Err(op_error(tape)),
            1 => Ok(None),
            _ => Ok(Some(entry(tape))),
        }),
        Awaits::Passive => session.on_passive(if tape.pick(4) == 0 {
            Err("no port\r\nfree".into())
        } else {
            Ok(u16::from(tape.byte()) << 8 | u16::from(tape.byte()))
        }),
        Awaits::Transfer => {
            let size = Some(u64::from(tape.byte()));
            for a in last {
                if let Action::Transfer(req) = a {
                    let r = session.opening_reply(req, Some("unique.1"), size);
                    check_reply_round_trip(&r);
                }
            }
            let outcome = match tape.pick(7) {
                0 => TransferOutcome::OpenFailed(op_error(tape)),
                1 => TransferOutcome::NoDataConnection("refused".into()),
                2 => TransferOutcome::ConnectionLost("reset".into()),
                3 => TransferOutcome::StorageFailed(op_error(tape)),
                4 => TransferOutcome::Aborted,
                5 => TransferOutcome::DataTlsRefused("handshake".into()),
                _ => TransferOutcome::Complete {
                    bytes: u64::from(tape.byte()),
                },
            };
            let name = (tape.pick(2) == 0).then_some("unique.1");
            session.on_transfer(outcome, name)
        }
        Awaits::Stat => {
            session.on_stat_done();
            Vec::new()
        }
        Awaits::Tls => {
            let ok = tape.pick(4) != 0;
            if ok && tape.pick(4) == 0 {
                session.set_certificate_user(Some("fuzz".into()));
            }
            session.on_tls(ok)
        }
        Awaits::Hash => session.on_hash(match tape.pick(3) {
            0 => HashOutcome::Failed(op_error(tape)),
            1 => HashOutcome::Aborted,
            _ => HashOutcome::Done {
                hex: "00ff".into(),
                bytes: u64::from(tape.byte()),
            },
        }),
        Awaits::Avbl => session.on_avbl(if tape.pick(3) == 0 {
            Err(op_error(tape))
        } else {
            Ok(u64::from(tape.byte()) << 20)
        }),
        Awaits::Host => session.on_host(if tape.pick(3) == 0 {
            Err("unknown host".into())
        } else {
            Ok(HostGrant {
                name: "fuzz.example".into(),
                greeting: "Fuzz host.".into(),
                anonymous_enabled: tape.pick(2) == 0,
            })
        }),
    }
}

/// Calls a callback the session does not wait for: it must change nothing and say nothing.
fn stray_callback(session: &mut Session, waits: Option<Awaits>, tape: &mut Tape<'_>) {
    let busy = session.is_busy();
    let which = tape.pick(8);
    let out = match which {
        0 if waits != Some(Awaits::Auth) => session.on_auth(None),
        1 if waits != Some(Awaits::Fs) => session.on_fs(Ok(None)),
        2 if waits != Some(Awaits::Passive) => session.on_passive(Ok(2121)),
        3 if waits != Some(Awaits::Transfer) => {
            session.on_transfer(TransferOutcome::Complete { bytes: 0 }, None)
        }
        4 if waits != Some(Awaits::Tls) => session.on_tls(true),
        5 if waits != Some(Awaits::Hash) => session.on_hash(HashOutcome::Aborted),
        6 if waits != Some(Awaits::Avbl) => session.on_avbl(Ok(0)),
        7 if waits != Some(Awaits::Host) => session.on_host(Err("stray".into())),
        _ => return,
    };
    assert!(out.is_empty(), "a stray callback {which} answered: {out:?}");
    assert_eq!(session.is_busy(), busy);
}

/// Most control lines one session input drives.
const MAX_SESSION_LINES: usize = 256;

/// Target `session`: byte 0 sets the session configuration, byte 1 is the length `n` of a
/// tape of `n` decision bytes that follows; the rest is the control-connection stream. Every
/// line goes through [`Session::handle_line`]; every request is answered with a
/// tape-chosen result (and now and then a callback the session is not waiting for is
/// made). Invariants: no panic; every reply has a code in 100..=599 and encodes back to
/// itself; at most one request is outstanding, exactly while the session is busy; every
/// command gets a final (non-1xx) answer or a request; nothing follows `Close`.
pub fn session(data: &[u8]) {
    let (Some(&flags), Some(&n)) = (data.first(), data.get(1)) else {
        return;
    };
    let tape_end = (2 + usize::from(n)).min(data.len());
    let mut tape = Tape {
        bytes: data.get(2..tape_end).unwrap_or_default(),
        at: 0,
    };
    let stream = data.get(tape_end..).unwrap_or_default();
    let config = SessionConfig {
        anonymous_enabled: flags & 1 != 0,
        max_bad_commands_before_login: u32::from(flags >> 5) * 4,
        pasv_address: (flags & 2 != 0).then_some(Ipv4Addr::new(192, 0, 2, 7)),
        tls: TlsPolicy {
            available: flags & 4 != 0,
            required_for_login: flags & 8 != 0,
            anonymous_exempt: flags & 16 != 0,
            require_data_protection: flags & 8 != 0 && flags & 1 != 0,
            allow_ccc: flags & 16 != 0,
        },
        ..SessionConfig::default()
    };
    let peer = if flags & 128 != 0 {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    };
    let mut session = Session::new(config, peer, peer);
    check_reply_round_trip(&session.greeting());
    let mut decoder = LineDecoder::new();
    let mut rest = stream;
    let mut lines = 0;
    while !rest.is_empty() && lines < MAX_SESSION_LINES {
        let (used, event) = decoder.decode(rest);
        rest = rest.get(used..).unwrap_or_default();
        let Some(event) = event else { break };
        lines += 1;
        let actions = session.handle_line(event);
        let (mut waits, mut close) = check_actions(&session, &actions, true);
        let mut last = actions;
        let mut rounds = 0;
        while let Some(w) = waits {
            rounds += 1;
            assert!(rounds <= 8, "requests without end");
            if tape.pick(16) == 0 {
                stray_callback(&mut session, Some(w), &mut tape);
            }
            let actions = answer(&mut session, w, &mut tape, &last);
            let (next, closed) = check_actions(&session, &actions, false);
            waits = next;
            close |= closed;
            last = actions;
        }
        if tape.pick(16) == 0 {
            stray_callback(&mut session, None, &mut tape);
            check_reply_round_trip(&session.status_reply(Some("RETR x")));
        }
        if close {
            break;
        }
    }
}
