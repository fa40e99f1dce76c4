//! The FTP layer: a [`StreamSink`] that turns reassembled TCP streams into FTP sessions,
//! data transfers, extracted files and findings (the [`crate::model`]).
//!
//! # Control sessions
//! A flow is an FTP control connection when its server port is one of
//! [`AnalyzeOptions::ftp_ports`] (21 by default), or when the first bytes its server sends
//! are a `220`/`120` greeting line (`220 ` or `220-`). Other flows that match no data
//! connection are followed only until their server's first bytes (or 4 KiB of client bytes)
//! show they are not FTP, then ignored.
//!
//! Both directions go through `ferry_proto`'s [`LineDecoder`] (Telnet handling, CRLF or
//! bare LF, length cap). Client lines are recorded verbatim (verb upper-cased, the rest of
//! the line after one space as the argument) and parsed with [`Command::parse`] for their
//! meaning; a line that does not parse (unknown verb, bad argument) is still recorded, with
//! [`CommandRecord::parse_error`]. Server lines go through [`ReplyParser`] (multi-line
//! replies). Replies are paired with commands in order: a FIFO of commands waiting for a
//! reply; a 1yz reply is attached as preliminary and keeps its command waiting. Pipelined
//! commands (several in one segment) and commands split across segments come out as
//! separate, whole commands because pairing works on lines, not segments.
//!
//! The greeting: a `220`/`120` reply that arrives while no greeting has been seen and the
//! oldest waiting command is not `REIN` is the greeting, even when the client already sent
//! commands (some clients do not wait for it).
//!
//! Gaps in the control stream are counted ([`Session::gaps`]); the decoder then skips to
//! the next line ending and goes on.
//!
//! `AUTH TLS`/`AUTH SSL` answered with 234 (or client bytes that start a TLS handshake
//! while the AUTH is unanswered) end the parsing of the control connection: the session is
//! `TlsState::Negotiated`. A 4yz/5yz answer makes it `Declined`.
//!
//! State tracked per session: user, password, login outcome (230/232 success, 530 failure;
//! the last outcome wins), cwd (`/` at the start, like Zeek, also for a capture that starts
//! mid-session; `CWD`/`CDUP` with a 2yz reply resolve it, `PWD`'s 257 sets it
//! authoritatively), `TYPE` (A by default) and `REST` (used by the next transfer command;
//! both take effect when sent, so that pipelined transfers see them, and are undone by a
//! 4yz/5yz reply), `PROT P`, and the last `SIZE` answer.
//!
//! # Data connections
//! `PASV` (227 reply address), `EPSV` (229 port + the control server's address), `PORT` and
//! `EPRT` (the address the client announced; given up when the reply is not 2yz) set up a
//! data connection. A later TCP flow is matched to a setup when one of its endpoints is the
//! announced address (whatever side sent the SYN); for PASV/EPSV also when the endpoint has
//! the announced port and the control server's address (a NATed PASV reply). One setup
//! serves one data connection, the oldest unused setup first.
//!
//! The setup is then linked to the transfer command that used it: the next `LIST`, `NLST`,
//! `MLSD`, `RETR`, `STOR`, `STOU` or `APPE` sent after the setup command (commands in
//! between, like curl's `TYPE I`, `SIZE` and `REST`, are skipped). The data connection may
//! open before that command is seen (pipelining, capture order): its bytes are hashed and
//! written to a temporary file as they arrive, and the link is made when the command comes.
//! The [`Transfer`] is built when the data connection has closed and the transfer command
//! has its final reply (or the session has ended).
//!
//! A data connection that matched a setup but no transfer command is listed as a transfer
//! with command `"?"`. A PASV/EPSV data connection whose initiator is not the control
//! client's address is a `pasv-theft` finding. The payload direction is the direction that
//! sent bytes first; bytes the other way are counted in [`Transfer::reverse_bytes`].
//!
//! # Findings
//! See [`FindingKind`]. Brute force: at least [`AnalyzeOptions::brute_force_threshold`]
//! (default 5) failed logins — `USER`, `PASS` or `ACCT` answered with 530 — from one client
//! address, over
//! any number of sessions of the capture (Zeek's policy script uses 20 within 15 minutes;
//! Ferry looks at a capture, usually a short one, so it counts over the whole capture and
//! uses a lower default). Overlong commands: a line over
//! [`AnalyzeOptions::max_command_line`] bytes, or a verb over 32 bytes (no FTP verb is
//! longer than 4 letters; Zeek flags verbs over 100).

mod extract;
pub mod meaning;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use ferry_proto::addr::{parse_epsv_reply, parse_pasv_reply};
use ferry_proto::client::replies::{parse_path_reply, parse_size_reply};
use ferry_proto::command::TransferType;
use ferry_proto::line::{LineDecoder, LineEvent};
use ferry_proto::reply::{Reply, ReplyError, ReplyParser};
use ferry_proto::{Command, VirtualPath};
use sha2::{Digest, Sha256};

use crate::capture::Timestamp;
use crate::model::{
    Analysis, AnalyzeError, AnalyzeOptions, CaptureInfo, CommandRecord, DataSetup, Finding,
    FindingKind, LiveEvent, LoginState, PacketKind, PacketRecord, PreliminaryReply, Session,
    Severity, TlsState, Transfer, TransferDirection,
};
use crate::packet::TcpSegment;
use crate::reassembly::{
    CloseReason, Direction, FlowId, FlowInfo, Interest, SegmentMeta, StreamSink,
};
use extract::PartFile;
use meaning::{command_meaning, is_listing, is_transfer, is_upload};

/// Client bytes a not-yet-recognised flow may send before it is given up.
const PROBE_CLIENT_MAX: usize = 4096;
/// Packets kept for a not-yet-recognised flow.
const PROBE_PACKETS_MAX: usize = 32;
/// A verb longer than this is an overlong command.
const MAX_VERB_LEN: usize = 32;
/// Unsolicited replies kept per session.
const MAX_UNSOLICITED: usize = 1000;
/// Findings of one kind listed per session (the rest are counted in a summary finding
/// when the session ends).
const MAX_FINDINGS_PER_KIND: u32 = 20;
/// Users listed in a brute-force finding.
const MAX_BRUTE_USERS: usize = 20;

/// How a setup's reply went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetupState {
    Pending,
    Accepted,
    Refused,
}

/// A data-connection setup (PASV/EPSV/PORT/EPRT) of a session.
#[derive(Debug)]
struct Setup {
    kind: DataSetup,
    /// The announced address (PORT/EPRT: from the command; PASV/EPSV: from the reply).
    addr: Option<SocketAddr>,
    state: SetupState,
    setup_frame: u64,
    /// The transfer command that used it.
    transfer_cmd: Option<usize>,
    /// REST and TYPE in force for that command.
    rest: Option<u64>,
    type_: char,
    prot_p: bool,
    /// The matched data connection.
    data: Option<usize>,
}

/// Per-command analysis state beside the record.
#[derive(Debug, Default)]
struct CmdState {
    parsed: Option<Command>,
    /// The setup this transfer command uses.
    setup: Option<usize>,
    /// Finding to emit when the final reply comes: kind, severity, detail prefix.
    pending_finding: Option<(FindingKind, Severity, String)>,
    /// TYPE before this TYPE command (restored if it is refused).
    undo_type: Option<char>,
}

/// A control session being analysed.
struct Ctl {
    s: Session,
    flow: FlowId,
    cdec: LineDecoder,
    sdec: LineDecoder,
    rp: ReplyParser,
    c_resync: bool,
    s_resync: bool,
    pending: VecDeque<usize>,
    cmds: Vec<CmdState>,
    cwd: String,
    type_: char,
    rest: Option<u64>,
    encrypted: bool,
    auth_pending: bool,
    auth_refused: Option<u64>,
    auth_sent: bool,
    prot_p: bool,
    setups: Vec<Setup>,
    last_size: Option<(String, u64)>,
    cleartext_reported: bool,
    tls_declined_reported: bool,
    malformed: u32,
    transferred: bool,
    closed: bool,
    /// An RFC 2228 protected multi-line reply (631/632/633) is open.
    protected_open: Option<u16>,
    /// Findings per kind, for the per-session cap.
    finding_counts: HashMap<FindingKind, u32>,
}

/// A matched data connection.
struct DataConn {
    info: FlowInfo,
    sess: usize,
    setup: usize,
    payload_dir: Option<Direction>,
    bytes: u64,
    missing: u64,
    reverse_bytes: u64,
    hasher: Sha256,
    part: Option<PartFile>,
    last_frame: u64,
    last_ts: Timestamp,
    close: Option<CloseReason>,
    /// (session index, transfer index) once the transfer was built.
    transfer: Option<(usize, usize)>,
}

/// A flow whose role is not known yet (no FTP port, no setup matched).
struct Probe {
    info: FlowInfo,
    client: Vec<(Vec<u8>, SegmentMeta)>,
    client_len: usize,
    server: Vec<(Vec<u8>, SegmentMeta)>,
    packets: Vec<PacketRecord>,
}

enum Role {
    Control(usize),
    Data(usize),
    Probe(Box<Probe>),
}

/// Failed logins from one address.
#[derive(Default)]
struct Brute {
    count: u32,
    users: BTreeSet<String>,
    sessions: BTreeSet<u32>,
    first_frame: u64,
    finding: Option<usize>,
    success_after: Option<(u32, String)>,
}

/// The FTP analyzer (a [`StreamSink`]).
pub(crate) struct Analyzer {
    opts: AnalyzeOptions,
    live: bool,
    events: Vec<LiveEvent>,
    flows: HashMap<FlowId, Role>,
    sessions: Vec<Ctl>,
    data: Vec<DataConn>,
    findings: Vec<Finding>,
    packets: Vec<(PacketRecord, Option<usize>)>,
    expect: HashMap<SocketAddr, Vec<(usize, usize)>>,
    brute: HashMap<IpAddr, Brute>,
    extract_error: Option<AnalyzeError>,
    part_counter: u64,
    taken: HashSet<PathBuf>,
}

impl Analyzer {
    /// A new analyzer; `live` records [`LiveEvent`]s.
    pub(crate) fn new(opts: AnalyzeOptions, live: bool) -> Self {
        Analyzer {
            opts,
            live,
            events: Vec::new(),
            flows: HashMap::new(),
            sessions: Vec::new(),
            data: Vec::new(),
            findings: Vec::new(),
            packets: Vec::new(),
            expect: HashMap::new(),
            brute: HashMap::new(),
            extract_error: None,
            part_counter: 0,
            taken: HashSet::new(),
        }
    }

    /// The options.
    pub(crate) fn options(&self) -> &AnalyzeOptions {
        &self.opts
    }

    /// Events since the last call.
    pub(crate) fn take_events(&mut self) -> Vec<LiveEvent> {
        std::mem::take(&mut self.events)
    }

    /// The first extraction error, if any.
    pub(crate) fn take_extract_error(&mut self) -> Option<AnalyzeError> {
        self.extract_error.take()
    }

    fn emit(&mut self, ev: LiveEvent) {
        if self.live {
            self.events.push(ev);
        }
    }

    fn add_finding(
        &mut self,
        session: Option<u32>,
        kind: FindingKind,
        severity: Severity,
        frame: Option<u64>,
        detail: String,
    ) -> usize {
        if let Some(ctl) = session
            .and_then(|id| usize::try_from(id).ok())
            .and_then(|id| self.sessions.get_mut(id.wrapping_sub(1)))
        {
            let n = ctl.finding_counts.entry(kind).or_insert(0);
            *n += 1;
            if *n > MAX_FINDINGS_PER_KIND {
                return self.findings.len();
            }
        }
        let f = Finding {
            session,
            kind,
            severity,
            frame,
            detail,
        };
        self.emit(LiveEvent::Finding(f.clone()));
        self.findings.push(f);
        self.findings.len() - 1
    }

    /// Ends the analysis (call after the reassembler's `finish`); also returns the first
    /// extraction error.
    pub(crate) fn finish(mut self, capture: CaptureInfo) -> (Analysis, Option<AnalyzeError>) {
        for i in 0..self.sessions.len() {
            if !self.sessions.get(i).is_some_and(|c| c.closed) {
                self.close_session(i);
            }
        }
        for d in 0..self.data.len() {
            self.try_finalize(d, true);
        }
        self.update_brute_details();
        // Transfers in order of their data connection's first frame; remap packet kinds.
        let mut remap: HashMap<(usize, usize), usize> = HashMap::new();
        for (si, ctl) in self.sessions.iter_mut().enumerate() {
            let mut order: Vec<usize> = (0..ctl.s.transfers.len()).collect();
            order.sort_by_key(|&i| ctl.s.transfers.get(i).map(|t| t.first_frame));
            let old = std::mem::take(&mut ctl.s.transfers);
            let mut slots: Vec<Option<Transfer>> = old.into_iter().map(Some).collect();
            for (new_i, old_i) in order.into_iter().enumerate() {
                if let Some(t) = slots.get_mut(old_i).and_then(Option::take) {
                    ctl.s.transfers.push(t);
                    remap.insert((si, old_i), new_i);
                }
            }
        }
        let mut packets = Vec::with_capacity(self.packets.len());
        for (mut p, data) in std::mem::take(&mut self.packets) {
            if let Some(d) = data {
                match self.data.get(d).and_then(|dc| dc.transfer) {
                    Some((si, ti)) => {
                        let ti = remap.get(&(si, ti)).copied().unwrap_or(ti);
                        p.kind = PacketKind::Data(ti);
                    }
                    None => continue,
                }
            }
            packets.push(p);
        }
        packets.sort_by_key(|p| p.frame);
        let analysis = Analysis {
            capture,
            sessions: self.sessions.into_iter().map(|c| c.s).collect(),
            findings: self.findings,
            packets,
        };
        (analysis, self.extract_error)
    }

    // ----- flows -----

    fn is_ftp_port(&self, port: u16) -> bool {
        self.opts.ftp_ports.contains(&port)
    }

    fn new_session(&mut self, flow: FlowId, info: &FlowInfo) -> usize {
        let id = u32::try_from(self.sessions.len() + 1).unwrap_or(u32::MAX);
        let s = Session {
            id,
            client: info.client,
            server: info.server,
            first_frame: info.first_frame,
            first_ts: info.first_ts,
            last_ts: info.first_ts,
            mid_stream: info.mid_stream,
            user: None,
            password: None,
            login: LoginState::None,
            tls: TlsState::None,
            greeting: None,
            greeting_frame: None,
            greeting_ts: None,
            greeting_code: None,
            commands: Vec::new(),
            transfers: Vec::new(),
            gaps: 0,
            failed_logins: 0,
            unsolicited_replies: Vec::new(),
        };
        let max = self.opts.max_command_line.max(1);
        self.sessions.push(Ctl {
            s,
            flow,
            cdec: LineDecoder::with_max(max),
            sdec: LineDecoder::new(),
            rp: ReplyParser::new(),
            c_resync: info.mid_stream,
            s_resync: info.mid_stream,
            pending: VecDeque::new(),
            cmds: Vec::new(),
            cwd: "/".to_string(),
            type_: 'A',
            rest: None,
            encrypted: false,
            auth_pending: false,
            auth_refused: None,
            auth_sent: false,
            prot_p: false,
            setups: Vec::new(),
            last_size: None,
            cleartext_reported: false,
            tls_declined_reported: false,
            malformed: 0,
            transferred: false,
            closed: false,
            protected_open: None,
            finding_counts: HashMap::new(),
        });
        self.emit(LiveEvent::SessionStarted {
            session: id,
            client: info.client,
            server: info.server,
        });
        self.sessions.len() - 1
    }

    /// Finds the setup a new flow belongs to.
    fn match_setup(&mut self, info: &FlowInfo) -> Option<(usize, usize)> {
        for key in [info.server, info.client] {
            let Some(list) = self.expect.get_mut(&key) else {
                continue;
            };
            let sessions = &self.sessions;
            let pos = list.iter().position(|&(s, k)| {
                sessions
                    .get(s)
                    .and_then(|c| c.setups.get(k))
                    .is_some_and(|st| st.data.is_none() && st.state != SetupState::Refused)
            });
            if let Some(pos) = pos {
                let hit = list.remove(pos);
                if list.is_empty() {
                    self.expect.remove(&key);
                }
                return Some(hit);
            }
        }
        None
    }

    fn register_expect(&mut self, sess: usize, setup: usize) {
        let Some(ctl) = self.sessions.get(sess) else {
            return;
        };
        let Some(st) = ctl.setups.get(setup) else {
            return;
        };
        let Some(addr) = st.addr else { return };
        self.expect.entry(addr).or_default().push((sess, setup));
        if matches!(st.kind, DataSetup::Pasv | DataSetup::Epsv) {
            let nat = SocketAddr::new(ctl.s.server.ip(), addr.port());
            if nat != addr {
                self.expect.entry(nat).or_default().push((sess, setup));
            }
        }
    }

    fn open_data(&mut self, info: &FlowInfo, sess: usize, setup: usize) -> usize {
        let d = self.data.len();
        self.data.push(DataConn {
            info: info.clone(),
            sess,
            setup,
            payload_dir: None,
            bytes: 0,
            missing: 0,
            reverse_bytes: 0,
            hasher: Sha256::new(),
            part: None,
            last_frame: info.first_frame,
            last_ts: info.first_ts,
            close: None,
            transfer: None,
        });
        let mut theft = None;
        if let Some(ctl) = self.sessions.get_mut(sess) {
            if let Some(st) = ctl.setups.get_mut(setup) {
                st.data = Some(d);
                if st.state == SetupState::Pending {
                    st.state = SetupState::Accepted;
                }
                if matches!(st.kind, DataSetup::Pasv | DataSetup::Epsv)
                    && !same_ip(info.client.ip(), ctl.s.client.ip())
                {
                    theft = Some((ctl.s.id, st.kind, ctl.s.client));
                }
            }
        }
        if let Some((id, kind, client)) = theft {
            self.add_finding(
                Some(id),
                FindingKind::PasvTheft,
                Severity::High,
                Some(info.first_frame),
                format!(
                    "{} data connection to {} opened by {}, not by the control client {}",
                    kind.as_str(),
                    info.server,
                    info.client,
                    client.ip()
                ),
            );
        }
        d
    }

    // ----- control: client side -----

    fn client_data(&mut self, si: usize, data: &[u8], at: SegmentMeta) {
        let Some(ctl) = self.sessions.get_mut(si) else {
            return;
        };
        if ctl.encrypted {
            return;
        }
        if ctl.auth_pending
            && ctl.cdec.pending() == 0
            && data.first() == Some(&0x16)
            && data.get(1) == Some(&0x03)
        {
            ctl.encrypted = true;
            ctl.s.tls = TlsState::Negotiated;
            return;
        }
        let events = decode_all(&mut ctl.cdec, &mut ctl.c_resync, data);
        for ev in events {
            if self.sessions.get(si).is_none_or(|c| c.encrypted) {
                break;
            }
            match ev {
                LineEvent::Line(line) => self.on_command_line(si, &line, at),
                LineEvent::TooLong { len } => self.on_overlong(si, len, at),
            }
        }
    }

    fn push_command(&mut self, si: usize, rec: CommandRecord, st: CmdState) -> usize {
        let Some(ctl) = self.sessions.get_mut(si) else {
            return 0;
        };
        ctl.s.commands.push(rec);
        ctl.cmds.push(st);
        let i = ctl.s.commands.len() - 1;
        ctl.pending.push_back(i);
        i
    }

    fn on_overlong(&mut self, si: usize, len: usize, at: SegmentMeta) {
        let Some(ctl) = self.sessions.get(si) else {
            return;
        };
        let rec = CommandRecord {
            frame: at.frame,
            ts: at.ts,
            command: "<overlong>".to_string(),
            arg: None,
            cwd: ctl.cwd.clone(),
            meaning: command_meaning("<overlong>"),
            parse_error: Some(format!("line of {len} bytes over the limit")),
            ..CommandRecord::default()
        };
        let id = ctl.s.id;
        let limit = self.opts.max_command_line;
        self.push_command(si, rec, CmdState::default());
        self.add_finding(
            Some(id),
            FindingKind::OverlongCommand,
            Severity::Medium,
            Some(at.frame),
            format!("command line of {len} bytes exceeds the {limit}-byte limit (discarded)"),
        );
    }

    fn on_command_line(&mut self, si: usize, line: &[u8], at: SegmentMeta) {
        let start = line.iter().take_while(|&&b| b == b' ').count();
        let body = line.get(start..).unwrap_or(&[]);
        let verb_len = body.iter().take_while(|&&b| b != b' ').count();
        let verb_raw = body.get(..verb_len).unwrap_or(&[]);
        let verb = String::from_utf8_lossy(verb_raw).to_ascii_uppercase();
        let arg = body
            .get(verb_len + 1..)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned());
        if verb.is_empty() && arg.is_none() {
            return; // empty line
        }
        let parsed = Command::parse(line);
        let parse_error = parsed.as_ref().err().map(|e| e.to_string());
        let parsed = parsed.ok();
        let Some(ctl) = self.sessions.get(si) else {
            return;
        };
        let id = ctl.s.id;
        let client = ctl.s.client;
        let cwd = ctl.cwd.clone();
        let meaning = command_meaning(&verb);
        let mut st = CmdState {
            parsed: parsed.clone(),
            ..CmdState::default()
        };
        let frame = at.frame;

        if verb.len() > MAX_VERB_LEN {
            self.add_finding(
                Some(id),
                FindingKind::OverlongCommand,
                Severity::Medium,
                Some(frame),
                format!(
                    "command verb of {} bytes (\"{}…\"): no FTP verb is longer than 4 letters",
                    verb.len(),
                    verb.chars().take(16).collect::<String>()
                ),
            );
        }
        // Dangerous SITE commands (reported with their reply).
        if verb == "SITE" {
            let sub = arg
                .as_deref()
                .unwrap_or("")
                .split(' ')
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            if matches!(sub.as_str(), "EXEC" | "CPFR" | "CPTO") {
                st.pending_finding = Some((
                    FindingKind::DangerousCommand,
                    Severity::High,
                    format!("SITE {sub} {}", arg_rest(arg.as_deref())),
                ));
            }
        }

        let ctl = match self.sessions.get_mut(si) {
            Some(c) => c,
            None => return,
        };
        let mut cleartext = None;
        let mut tls_declined = None;
        match &parsed {
            Some(Command::User(name)) => ctl.s.user = Some(name.clone()),
            Some(Command::Pass(pw)) => {
                ctl.s.password = Some(pw.expose().to_string());
                if !ctl.cleartext_reported {
                    ctl.cleartext_reported = true;
                    cleartext = Some((ctl.s.user.clone(), pw.expose().to_string()));
                }
                if let Some(refused) = ctl.auth_refused {
                    if !ctl.tls_declined_reported {
                        ctl.tls_declined_reported = true;
                        tls_declined = Some(refused);
                    }
                }
            }
            Some(Command::Auth(_)) => {
                ctl.auth_pending = true;
                ctl.auth_sent = true;
            }
            // TYPE and REST take effect when sent, so that a pipelined transfer command
            // (sent before their replies) uses them; a refusal undoes them.
            Some(Command::Type(t)) => {
                st.undo_type = Some(ctl.type_);
                ctl.type_ = type_char(*t);
            }
            Some(Command::Rest(n)) => ctl.rest = Some(*n),
            Some(Command::Port(a)) => {
                let addr = SocketAddr::V4(*a);
                st.setup = Some(ctl.setups.len());
                ctl.setups.push(new_setup(DataSetup::Port, Some(addr)));
                st.pending_finding = bounce_check(client, addr, "PORT");
            }
            Some(Command::Eprt(addr)) => {
                st.setup = Some(ctl.setups.len());
                ctl.setups.push(new_setup(DataSetup::Eprt, Some(*addr)));
                st.pending_finding = bounce_check(client, *addr, "EPRT");
            }
            Some(Command::Pasv) => {
                st.setup = Some(ctl.setups.len());
                ctl.setups.push(new_setup(DataSetup::Pasv, None));
            }
            Some(Command::Epsv(_)) => {
                st.setup = Some(ctl.setups.len());
                ctl.setups.push(new_setup(DataSetup::Epsv, None));
            }
            _ => {}
        }
        // A transfer command uses the latest setup not used yet.
        if is_transfer(&verb) {
            ctl.transferred = true;
            let this = ctl.s.commands.len();
            let rest = ctl.rest.take();
            let (type_, prot_p) = (ctl.type_, ctl.prot_p);
            if let Some(k) = ctl
                .setups
                .iter()
                .rposition(|s| s.transfer_cmd.is_none() && s.state != SetupState::Refused)
            {
                if let Some(s) = ctl.setups.get_mut(k) {
                    s.transfer_cmd = Some(this);
                    s.rest = rest;
                    s.type_ = type_;
                    s.prot_p = prot_p;
                    st.setup = Some(k);
                }
            }
        }
        let setup_registered = match &parsed {
            Some(Command::Port(_) | Command::Eprt(_)) => st.setup,
            _ => None,
        };
        let rec = CommandRecord {
            frame,
            ts: at.ts,
            command: verb,
            arg,
            cwd,
            meaning,
            parse_error,
            ..CommandRecord::default()
        };
        self.push_command(si, rec, st);
        if let Some(k) = setup_registered {
            self.register_expect(si, k);
        }
        if let Some((user, pw)) = cleartext {
            let user = user.unwrap_or_else(|| "?".to_string());
            let detail = if pw.is_empty() {
                format!("user \"{user}\" logged in over a control connection without TLS (empty password)")
            } else {
                format!(
                    "user \"{user}\" sent password \"{pw}\" over a control connection without TLS"
                )
            };
            self.add_finding(
                Some(id),
                FindingKind::CleartextCredentials,
                Severity::High,
                Some(frame),
                detail,
            );
        }
        if let Some(refused) = tls_declined {
            self.add_finding(
                Some(id),
                FindingKind::TlsDeclined,
                Severity::High,
                Some(frame),
                format!("AUTH was refused (frame {refused}) and the client then sent its password in cleartext"),
            );
        }
    }

    // ----- control: server side -----

    fn server_data(&mut self, si: usize, data: &[u8], at: SegmentMeta) {
        let Some(ctl) = self.sessions.get_mut(si) else {
            return;
        };
        if ctl.encrypted {
            return;
        }
        let events = decode_all(&mut ctl.sdec, &mut ctl.s_resync, data);
        for ev in events {
            let Some(ctl) = self.sessions.get_mut(si) else {
                return;
            };
            if ctl.encrypted {
                break;
            }
            match ev {
                LineEvent::Line(line)
                    if ctl.protected_open.is_some()
                        || !ctl.rp.in_progress() && protected_code(&line).is_some() =>
                {
                    let (code, sep) = protected_code(&line).unwrap_or((0, b'-'));
                    match ctl.protected_open {
                        Some(open) if open == code && sep == b' ' => {
                            ctl.protected_open = None;
                            self.on_protected(si, code, &line, at);
                        }
                        Some(_) => {}
                        None if sep == b'-' => ctl.protected_open = Some(code),
                        None => self.on_protected(si, code, &line, at),
                    }
                }
                LineEvent::Line(line) => match ctl.rp.push_line(&line) {
                    Ok(Some(reply)) => self.on_reply(si, reply, at),
                    Ok(None) => {}
                    Err(ReplyError::Malformed(text)) => {
                        self.on_malformed(si, format!("malformed reply line: {text:?}"), at)
                    }
                    Err(e) => self.on_malformed(si, e.to_string(), at),
                },
                LineEvent::TooLong { len } => {
                    ctl.rp = ReplyParser::new();
                    self.on_malformed(
                        si,
                        format!(
                            "reply line of {len} bytes over the {}-byte limit",
                            ferry_proto::line::MAX_LINE
                        ),
                        at,
                    )
                }
            }
        }
    }

    /// An RFC 2228 protected reply (631/632/633): the real reply is encrypted inside; it is
    /// paired with the oldest waiting command like any final reply.
    fn on_protected(&mut self, si: usize, code: u16, line: &[u8], at: SegmentMeta) {
        let Some(ctl) = self.sessions.get_mut(si) else {
            return;
        };
        let text: String = String::from_utf8_lossy(line.get(4..).unwrap_or(&[]))
            .chars()
            .take(256)
            .collect();
        let Some(ci) = ctl.pending.pop_front() else {
            if ctl.s.unsolicited_replies.len() < MAX_UNSOLICITED {
                ctl.s.unsolicited_replies.push((at.frame, code, text));
            }
            return;
        };
        if let Some(rec) = ctl.s.commands.get_mut(ci) {
            rec.reply_code = Some(code);
            rec.reply_msg = Some(text);
            rec.reply_frame = Some(at.frame);
            rec.reply_ts = Some(at.ts);
            rec.reply_meaning = ferry_proto::reply::meaning_of(code);
        }
    }

    fn on_malformed(&mut self, si: usize, detail: String, at: SegmentMeta) {
        let Some(ctl) = self.sessions.get_mut(si) else {
            return;
        };
        ctl.malformed += 1;
        let id = ctl.s.id;
        self.add_finding(
            Some(id),
            FindingKind::MalformedReply,
            Severity::Low,
            Some(at.frame),
            detail,
        );
    }

    fn on_reply(&mut self, si: usize, reply: Reply, at: SegmentMeta) {
        let Some(ctl) = self.sessions.get_mut(si) else {
            return;
        };
        let code = reply.code.get();
        let text = reply.text();
        let front = ctl.pending.front().copied();
        let front_is_rein = front
            .and_then(|i| ctl.s.commands.get(i))
            .is_some_and(|c| c.command == "REIN");
        if ctl.s.greeting.is_none()
            && (code == 220 || code == 120)
            && !front_is_rein
            && ctl.s.commands.iter().all(|c| c.reply_code.is_none())
        {
            ctl.s.greeting = Some(text);
            ctl.s.greeting_frame = Some(at.frame);
            ctl.s.greeting_ts = Some(at.ts);
            ctl.s.greeting_code = Some(code);
            return;
        }
        if code == 220 && ctl.s.greeting.as_deref().is_some() && ctl.s.commands.is_empty() {
            // 120 then 220.
            ctl.s.greeting = Some(text);
            ctl.s.greeting_frame = Some(at.frame);
            ctl.s.greeting_ts = Some(at.ts);
            ctl.s.greeting_code = Some(code);
            return;
        }
        let Some(ci) = front else {
            // A passive-mode reply whose command is not in the capture (a capture that starts
            // mid-session): the data connection it announces can still be matched.
            let implied = match code {
                227 => parse_pasv_reply(&text)
                    .ok()
                    .map(|a| (DataSetup::Pasv, SocketAddr::V4(a))),
                229 => parse_epsv_reply(&text)
                    .ok()
                    .map(|p| (DataSetup::Epsv, SocketAddr::new(ctl.s.server.ip(), p))),
                _ => None,
            };
            if ctl.s.unsolicited_replies.len() < MAX_UNSOLICITED {
                ctl.s.unsolicited_replies.push((at.frame, code, text));
            }
            if let Some((kind, addr)) = implied {
                let mut st = new_setup(kind, Some(addr));
                st.state = SetupState::Accepted;
                st.setup_frame = at.frame;
                ctl.setups.push(st);
                let k = ctl.setups.len() - 1;
                self.register_expect(si, k);
            }
            return;
        };
        if reply.is_preliminary() {
            if let Some(rec) = ctl.s.commands.get_mut(ci) {
                rec.preliminary.push(PreliminaryReply {
                    code,
                    text,
                    frame: at.frame,
                    ts: at.ts,
                });
            }
            return;
        }
        ctl.pending.pop_front();
        if let Some(rec) = ctl.s.commands.get_mut(ci) {
            rec.reply_code = Some(code);
            rec.reply_msg = Some(text.clone());
            rec.reply_frame = Some(at.frame);
            rec.reply_ts = Some(at.ts);
            rec.reply_meaning = Some(reply.code.meaning());
        }
        self.on_final(si, ci, &reply, at);
    }

    /// A command got its final reply: update the session state.
    fn on_final(&mut self, si: usize, ci: usize, reply: &Reply, at: SegmentMeta) {
        let code = reply.code.get();
        let ok = (200..300).contains(&code);
        let Some(ctl) = self.sessions.get_mut(si) else {
            return;
        };
        let id = ctl.s.id;
        let client_ip = ctl.s.client.ip();
        let server_ip = ctl.s.server.ip();
        let parsed = ctl.cmds.get(ci).and_then(|c| c.parsed.clone());
        let cmd_setup = ctl.cmds.get(ci).and_then(|c| c.setup);
        let pending_finding = ctl.cmds.get_mut(ci).and_then(|c| c.pending_finding.take());
        let undo_type = ctl.cmds.get(ci).and_then(|c| c.undo_type);
        let mut login_result: Option<bool> = None;
        let mut register = None;
        match &parsed {
            Some(Command::User(_)) if code == 230 || code == 232 => login_result = Some(true),
            Some(Command::User(_)) if code == 530 => login_result = Some(false),
            Some(Command::Pass(_)) | Some(Command::Acct(_)) => {
                if code == 230 || code == 232 || code == 202 {
                    login_result = Some(true);
                } else if code == 530 {
                    login_result = Some(false);
                }
            }
            Some(Command::Cwd(arg)) if ok => ctl.cwd = resolve(&ctl.cwd, arg),
            Some(Command::Cdup) if ok => ctl.cwd = resolve(&ctl.cwd, ".."),
            Some(Command::Pwd) if code == 257 => {
                if let Ok(p) = parse_path_reply(reply) {
                    ctl.cwd = p;
                }
            }
            Some(Command::Type(_)) if !ok => {
                if let Some(prev) = undo_type {
                    ctl.type_ = prev;
                }
            }
            Some(Command::Rest(_)) if code >= 400 => ctl.rest = None,
            Some(Command::Prot(c)) if ok => ctl.prot_p = *c == 'P',
            Some(Command::Rein) if ok => {
                ctl.s.login = LoginState::None;
            }
            Some(Command::Auth(_)) => {
                ctl.auth_pending = false;
                if code == 234 || (ok && code != 200) {
                    ctl.encrypted = true;
                    ctl.s.tls = TlsState::Negotiated;
                } else if code >= 400 {
                    if ctl.s.tls != TlsState::Negotiated {
                        ctl.s.tls = TlsState::Declined;
                    }
                    ctl.auth_refused = Some(at.frame);
                }
            }
            Some(Command::Size(p)) if code == 213 => {
                if let Ok(n) = parse_size_reply(reply) {
                    ctl.last_size = Some((resolve(&ctl.cwd, p), n));
                }
            }
            Some(Command::Pasv) | Some(Command::Epsv(_)) => {
                if let Some(st) = cmd_setup.and_then(|k| ctl.setups.get_mut(k)) {
                    let text = reply.text();
                    let addr = match st.kind {
                        DataSetup::Pasv if code == 227 => {
                            parse_pasv_reply(&text).ok().map(SocketAddr::V4)
                        }
                        DataSetup::Epsv if code == 229 => parse_epsv_reply(&text)
                            .ok()
                            .map(|port| SocketAddr::new(server_ip, port)),
                        _ => None,
                    };
                    st.setup_frame = at.frame;
                    match addr {
                        Some(a) => {
                            st.addr = Some(a);
                            st.state = SetupState::Accepted;
                            register = cmd_setup;
                        }
                        None => st.state = SetupState::Refused,
                    }
                }
            }
            Some(Command::Port(_)) | Some(Command::Eprt(_)) => {
                if let Some(st) = cmd_setup.and_then(|k| ctl.setups.get_mut(k)) {
                    st.setup_frame = at.frame;
                    if ok {
                        st.state = SetupState::Accepted;
                    } else if st.data.is_none() {
                        st.state = SetupState::Refused;
                    }
                }
            }
            _ => {}
        }
        let user = ctl.s.user.clone().unwrap_or_default();
        if let Some(success) = login_result {
            if success {
                let was = ctl.s.login;
                ctl.s.login = LoginState::Success;
                let anon = matches!(user.to_ascii_lowercase().as_str(), "anonymous" | "ftp");
                if anon && was != LoginState::Success {
                    let pw = ctl.s.password.clone().unwrap_or_default();
                    self.add_finding(
                        Some(id),
                        FindingKind::AnonymousLogin,
                        Severity::Low,
                        Some(at.frame),
                        format!("anonymous login accepted (user \"{user}\", password \"{pw}\")"),
                    );
                }
                if let Some(b) = self.brute.get_mut(&client_ip) {
                    if b.count > 0 && b.success_after.is_none() {
                        b.success_after = Some((id, user.clone()));
                    }
                }
            } else {
                ctl.s.login = LoginState::Failed;
                ctl.s.failed_logins += 1;
                self.failed_login(client_ip, id, &user, at.frame);
            }
        }
        if let Some((kind, sev, what)) = pending_finding {
            let outcome = reply_outcome(code, &reply.text());
            let detail = match kind {
                FindingKind::DangerousCommand => format!("{what} attempted: {outcome}"),
                _ => format!("{what}: {outcome}"),
            };
            self.add_finding(Some(id), kind, sev, Some(at.frame), detail);
        }
        if let Some(k) = register {
            self.register_expect(si, k);
        }
        if let Some(rec) = self
            .sessions
            .get(si)
            .and_then(|c| c.s.commands.get(ci))
            .cloned()
        {
            self.emit(LiveEvent::Command {
                session: id,
                record: rec,
            });
        }
        // A transfer command's reply may complete a transfer.
        if let Some(d) = cmd_setup
            .and_then(|k| self.sessions.get(si).and_then(|c| c.setups.get(k)))
            .filter(|st| st.transfer_cmd == Some(ci))
            .and_then(|st| st.data)
        {
            self.try_finalize(d, false);
        }
    }

    fn failed_login(&mut self, ip: IpAddr, session: u32, user: &str, frame: u64) {
        let threshold = self.opts.brute_force_threshold.max(1);
        let b = self.brute.entry(ip).or_default();
        if b.count == 0 {
            b.first_frame = frame;
        }
        b.count += 1;
        if b.users.len() < MAX_BRUTE_USERS {
            b.users
                .insert(if user.is_empty() { "?" } else { user }.to_string());
        }
        b.sessions.insert(session);
        b.success_after = None;
        if b.count == threshold && b.finding.is_none() {
            let detail = format!("{threshold} failed logins from {ip}");
            let i = self.add_finding(
                None,
                FindingKind::BruteForce,
                Severity::High,
                Some(frame),
                detail,
            );
            if let Some(b) = self.brute.get_mut(&ip) {
                b.finding = Some(i);
            }
        }
    }

    fn update_brute_details(&mut self) {
        for (ip, b) in &self.brute {
            let Some(f) = b.finding.and_then(|i| self.findings.get_mut(i)) else {
                continue;
            };
            let users: Vec<&str> = b.users.iter().map(String::as_str).collect();
            let mut detail = format!(
                "{} failed logins (530) from {ip} over {} session(s), first in frame {}; users: {}",
                b.count,
                b.sessions.len(),
                b.first_frame,
                users.join(", ")
            );
            if let Some((s, user)) = &b.success_after {
                detail.push_str(&format!(
                    "; followed by a successful login as \"{user}\" in session {s}"
                ));
            }
            f.detail = detail;
        }
    }

    fn close_session(&mut self, si: usize) {
        let Some(ctl) = self.sessions.get_mut(si) else {
            return;
        };
        if ctl.closed {
            return;
        }
        ctl.closed = true;
        let id = ctl.s.id;
        let mut late: Vec<(FindingKind, Severity, String, u64)> = Vec::new();
        for &ci in &ctl.pending {
            if let (Some(st), Some(rec)) = (ctl.cmds.get_mut(ci), ctl.s.commands.get(ci)) {
                if let Some((k, sev, what)) = st.pending_finding.take() {
                    late.push((k, sev, format!("{what}: no reply seen"), rec.frame));
                }
            }
        }
        let no_tls = ctl.s.tls == TlsState::None
            && !ctl.auth_sent
            && (ctl.s.login == LoginState::Success || ctl.transferred);
        let first = ctl.s.first_frame;
        let what = if ctl.s.login == LoginState::Success {
            "logged in"
        } else {
            "transferred data"
        };
        let pending: Vec<usize> = ctl.pending.drain(..).collect();
        let records: Vec<CommandRecord> = pending
            .iter()
            .filter_map(|&i| ctl.s.commands.get(i).cloned())
            .collect();
        let datas: Vec<usize> = ctl.setups.iter().filter_map(|s| s.data).collect();
        for (k, sev, detail, frame) in late {
            self.add_finding(Some(id), k, sev, Some(frame), detail);
        }
        let over: Vec<(FindingKind, u32)> = self
            .sessions
            .get(si)
            .map(|c| {
                let mut v: Vec<(FindingKind, u32)> = c
                    .finding_counts
                    .iter()
                    .filter(|(_, &n)| n > MAX_FINDINGS_PER_KIND)
                    .map(|(&k, &n)| (k, n - MAX_FINDINGS_PER_KIND))
                    .collect();
                v.sort_by_key(|(k, _)| k.as_str());
                v
            })
            .unwrap_or_default();
        for (kind, extra) in over {
            let f = Finding {
                session: Some(id),
                kind,
                severity: Severity::Info,
                frame: None,
                detail: format!("{extra} more {kind} findings in this session are not listed"),
            };
            self.emit(LiveEvent::Finding(f.clone()));
            self.findings.push(f);
        }
        if no_tls {
            self.add_finding(
                Some(id),
                FindingKind::NoTls,
                Severity::Medium,
                Some(first),
                format!("session {what} without ever trying TLS (no AUTH command)"),
            );
        }
        for rec in records {
            self.emit(LiveEvent::Command {
                session: id,
                record: rec,
            });
        }
        for d in datas {
            self.try_finalize(d, false);
        }
        self.emit(LiveEvent::SessionEnded { session: id });
    }

    // ----- data -----

    fn data_bytes(&mut self, d: usize, dir: Direction, bytes: &[u8]) {
        let extract_dir = self.opts.extract_dir.clone();
        let Some(dc) = self.data.get_mut(d) else {
            return;
        };
        let pdir = *dc.payload_dir.get_or_insert(dir);
        if pdir != dir {
            dc.reverse_bytes += bytes.len() as u64;
            return;
        }
        dc.bytes += bytes.len() as u64;
        dc.hasher.update(bytes);
        if dc.transfer.is_some() {
            return;
        }
        let tls = self
            .sessions
            .get(dc.sess)
            .and_then(|c| c.setups.get(dc.setup))
            .is_some_and(|s| s.prot_p);
        if tls || self.extract_error.is_some() {
            return;
        }
        let Some(dir_path) = extract_dir else { return };
        if dc.part.is_none() {
            self.part_counter += 1;
            match PartFile::create(&dir_path, self.part_counter) {
                Ok(p) => dc.part = Some(p),
                Err(e) => {
                    self.extract_error = Some(AnalyzeError::Extract {
                        path: dir_path,
                        source: e,
                    });
                    return;
                }
            }
        }
        if let Some(part) = dc.part.as_mut() {
            if let Err(e) = part.write(bytes) {
                let path = part.path().to_path_buf();
                if let Some(p) = dc.part.take() {
                    p.discard();
                }
                self.extract_error = Some(AnalyzeError::Extract { path, source: e });
            }
        }
    }

    fn data_gap(&mut self, d: usize, dir: Direction, len: u64) {
        let fill = self.opts.fill_gaps;
        let Some(dc) = self.data.get_mut(d) else {
            return;
        };
        let pdir = *dc.payload_dir.get_or_insert(dir);
        if pdir != dir {
            return;
        }
        dc.missing = dc.missing.saturating_add(len);
        if fill {
            if let Some(part) = dc.part.as_mut() {
                if let Err(e) = part.skip(len) {
                    let path = part.path().to_path_buf();
                    if let Some(p) = dc.part.take() {
                        p.discard();
                    }
                    self.extract_error = Some(AnalyzeError::Extract { path, source: e });
                }
            }
        }
    }

    /// Builds the transfer of data connection `d` once it is closed and its command is
    /// answered (or the session ended, or `force`).
    fn try_finalize(&mut self, d: usize, force: bool) {
        let Some(dc) = self.data.get(d) else { return };
        if dc.transfer.is_some() || (dc.close.is_none() && !force) {
            return;
        }
        let Some(ctl) = self.sessions.get(dc.sess) else {
            return;
        };
        let Some(st) = ctl.setups.get(dc.setup) else {
            return;
        };
        let rec = st.transfer_cmd.and_then(|i| ctl.s.commands.get(i));
        let answered = rec.is_some_and(|r| r.reply_code.is_some());
        if !answered && !ctl.closed && !force {
            return;
        }
        let parsed = st
            .transfer_cmd
            .and_then(|i| ctl.cmds.get(i))
            .and_then(|c| c.parsed.as_ref());
        let command = rec.map_or("?".to_string(), |r| r.command.clone());
        let path = rec.and_then(|r| transfer_path(r, parsed));
        let reply_code = rec.and_then(|r| r.reply_code);
        let announced = rec.and_then(|r| {
            r.preliminary
                .iter()
                .find_map(|p| bytes_in_text(&p.text))
                .or_else(|| {
                    let p = path.as_deref()?;
                    match &ctl.last_size {
                        Some((sp, n)) if sp == p && !is_upload(&r.command) => Some(*n),
                        _ => None,
                    }
                })
        });
        let tls = st.prot_p;
        let clean = dc.missing == 0 && dc.close == Some(CloseReason::Fin);
        let size_ok = match announced {
            Some(n) if st.type_ != 'A' => n.saturating_sub(st.rest.unwrap_or(0)) == dc.bytes,
            _ => true,
        };
        let complete = rec.is_some() && clean && matches!(reply_code, Some(226 | 250)) && size_ok;
        let direction = if command == "?" {
            TransferDirection::Unknown
        } else if is_upload(&command) {
            TransferDirection::Upload
        } else {
            TransferDirection::Download
        };
        let sha256 = (dc.bytes > 0).then(|| hex(&dc.hasher.clone().finalize()));
        let mut t = Transfer {
            session: ctl.s.id,
            command: command.clone(),
            command_frame: rec.map_or(0, |r| r.frame),
            path: path.clone(),
            setup: st.kind,
            setup_frame: st.setup_frame,
            data_client: dc.info.client,
            data_server: dc.info.server,
            direction,
            first_frame: dc.info.first_frame,
            last_frame: dc.last_frame,
            first_ts: dc.info.first_ts,
            last_ts: dc.last_ts,
            bytes: dc.bytes,
            missing_bytes: dc.missing,
            reverse_bytes: dc.reverse_bytes,
            sha256,
            complete,
            announced_size: announced,
            rest: st.rest,
            type_: st.type_,
            tls,
            extracted_to: None,
            reply_code,
        };
        let sess = dc.sess;
        let frame = dc.info.first_frame;
        // Extraction.
        if let Some(dc) = self.data.get_mut(d) {
            if let (Some(part), Some(dir)) = (dc.part.take(), self.opts.extract_dir.as_ref()) {
                let rel = extract::relative_name(&command, path.as_deref(), frame, complete);
                let target = extract::unique_target(dir, &rel, &self.taken);
                match part.finish(&target) {
                    Ok(()) => {
                        self.taken.insert(target.clone());
                        t.extracted_to = Some(target);
                    }
                    Err(e) => {
                        if self.extract_error.is_none() {
                            self.extract_error = Some(AnalyzeError::Extract {
                                path: target,
                                source: e,
                            });
                        }
                    }
                }
            }
        }
        let Some(ctl) = self.sessions.get_mut(sess) else {
            return;
        };
        ctl.s.transfers.push(t.clone());
        let ti = ctl.s.transfers.len() - 1;
        if let Some(dc) = self.data.get_mut(d) {
            dc.transfer = Some((sess, ti));
        }
        self.emit(LiveEvent::Transfer(t));
    }

    // ----- probes -----

    fn promote(&mut self, flow: FlowId, probe: Probe) -> Interest {
        let si = self.new_session(flow, &probe.info);
        self.flows.insert(flow, Role::Control(si));
        let id = self.sessions.get(si).map(|c| c.s.id);
        for mut p in probe.packets {
            p.session = id;
            self.packets.push((p, None));
        }
        let mut chunks: Vec<(Direction, Vec<u8>, SegmentMeta)> = probe
            .client
            .into_iter()
            .map(|(b, m)| (Direction::ClientToServer, b, m))
            .chain(
                probe
                    .server
                    .into_iter()
                    .map(|(b, m)| (Direction::ServerToClient, b, m)),
            )
            .collect();
        chunks.sort_by_key(|(_, _, m)| m.frame);
        for (dir, bytes, meta) in chunks {
            match dir {
                Direction::ClientToServer => self.client_data(si, &bytes, meta),
                Direction::ServerToClient => self.server_data(si, &bytes, meta),
            }
        }
        self.control_interest(si)
    }

    fn control_interest(&self, si: usize) -> Interest {
        match self.sessions.get(si) {
            Some(c) if c.encrypted && !self.opts.keep_packets => Interest::Ignore,
            _ => Interest::Follow,
        }
    }

    fn probe_data(
        &mut self,
        flow: FlowId,
        dir: Direction,
        data: &[u8],
        at: SegmentMeta,
    ) -> Interest {
        let Some(Role::Probe(probe)) = self.flows.get_mut(&flow) else {
            return Interest::Ignore;
        };
        match dir {
            Direction::ClientToServer => {
                probe.client_len += data.len();
                if probe.client_len > PROBE_CLIENT_MAX {
                    self.flows.remove(&flow);
                    return Interest::Ignore;
                }
                probe.client.push((data.to_vec(), at));
                Interest::Follow
            }
            Direction::ServerToClient => {
                let mut head: Vec<u8> = probe
                    .server
                    .iter()
                    .flat_map(|(b, _)| b.iter().copied())
                    .take(4)
                    .collect();
                head.extend(data.iter().take(4usize.saturating_sub(head.len())));
                probe.server.push((data.to_vec(), at));
                match greeting_verdict(&head) {
                    Some(true) => {
                        if let Some(Role::Probe(p)) = self.flows.remove(&flow) {
                            return self.promote(flow, *p);
                        }
                        Interest::Ignore
                    }
                    Some(false) => {
                        self.flows.remove(&flow);
                        Interest::Ignore
                    }
                    None => Interest::Follow,
                }
            }
        }
    }
}

/// Is `head` (the first bytes a server sent) a 220/120 greeting? `None`: need more bytes.
fn greeting_verdict(head: &[u8]) -> Option<bool> {
    let want: [&[u8]; 2] = [b"220", b"120"];
    for (i, &b) in head.iter().enumerate().take(4) {
        let ok = if i < 3 {
            want.iter().any(|w| w.get(..=i) == head.get(..=i)) && b.is_ascii_digit()
        } else {
            b == b' ' || b == b'-' || b == b'\r' || b == b'\n'
        };
        if !ok {
            return Some(false);
        }
    }
    if head.len() >= 4 {
        Some(true)
    } else {
        None
    }
}

/// `631`/`632`/`633` followed by a space or `-`: an RFC 2228 protected reply line.
fn protected_code(line: &[u8]) -> Option<(u16, u8)> {
    let code = match line.get(..3)? {
        b"631" => 631,
        b"632" => 632,
        b"633" => 633,
        _ => return None,
    };
    match line.get(3) {
        Some(&sep @ (b' ' | b'-')) => Some((code, sep)),
        None => Some((code, b' ')),
        Some(_) => None,
    }
}

fn new_setup(kind: DataSetup, addr: Option<SocketAddr>) -> Setup {
    Setup {
        kind,
        addr,
        state: SetupState::Pending,
        setup_frame: 0,
        transfer_cmd: None,
        rest: None,
        type_: 'A',
        prot_p: false,
        data: None,
    }
}

/// Decodes every line event in `data`, honouring a pending resynchronisation (skip to the
/// next LF first).
fn decode_all(dec: &mut LineDecoder, resync: &mut bool, mut data: &[u8]) -> Vec<LineEvent> {
    let mut out = Vec::new();
    while !data.is_empty() {
        if *resync && dec.pending() == 0 && plausible_line_start(data) {
            *resync = false;
        }
        if *resync {
            match data.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    data = data.get(i + 1..).unwrap_or(&[]);
                    *resync = false;
                }
                None => return out,
            }
            continue;
        }
        let (n, ev) = dec.decode(data);
        data = data.get(n..).unwrap_or(&[]);
        match ev {
            Some(ev) => out.push(ev),
            None => break,
        }
    }
    out
}

/// Does `data` look like the start of a control line (after a gap or at the start of a
/// capture that begins mid-session)? A reply (`ddd ` / `ddd-`) or a command (3-4 ASCII
/// letters followed by a space or the line end).
fn plausible_line_start(data: &[u8]) -> bool {
    let head = &data[..data.len().min(5)];
    let reply = head.len() >= 4
        && head.iter().take(3).all(u8::is_ascii_digit)
        && matches!(head.get(3), Some(b' ' | b'-'));
    let letters = head.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let command = (3..=4).contains(&letters)
        && matches!(head.get(letters), Some(b' ' | b'\r' | b'\n'))
        && head.iter().take(letters).all(u8::is_ascii_uppercase);
    reply || command
}

/// Compares addresses, treating IPv4-mapped IPv6 as IPv4.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

/// A PORT/EPRT bounce check: a finding to emit with the reply, if the address is a third
/// party's or the port privileged.
fn bounce_check(
    client: SocketAddr,
    addr: SocketAddr,
    verb: &str,
) -> Option<(FindingKind, Severity, String)> {
    let third = !same_ip(addr.ip(), client.ip());
    let privileged = addr.port() < 1024;
    if !third && !privileged {
        return None;
    }
    let why = match (third, privileged) {
        (true, true) => format!(
            "third-party address {} (control client is {}) and privileged port {}",
            addr.ip(),
            client.ip(),
            addr.port()
        ),
        (true, false) => format!(
            "third-party address {} (control client is {})",
            addr.ip(),
            client.ip()
        ),
        _ => format!("privileged port {}", addr.port()),
    };
    Some((
        FindingKind::BounceAttempt,
        Severity::High,
        format!("{verb} {addr}: {why}"),
    ))
}

fn reply_outcome(code: u16, text: &str) -> String {
    let verdict = match code {
        200..=299 => "accepted",
        300..=399 => "pending",
        _ => "refused",
    };
    let text: String = text.chars().take(120).collect();
    format!("{verdict} ({code} {text})")
}

fn arg_rest(arg: Option<&str>) -> String {
    arg.unwrap_or("")
        .split_once(' ')
        .map(|(_, r)| r.to_string())
        .unwrap_or_default()
}

fn type_char(t: TransferType) -> char {
    match t {
        TransferType::Ascii(_) => 'A',
        TransferType::Ebcdic(_) => 'E',
        TransferType::Image => 'I',
        TransferType::Local(_) => 'L',
    }
}

/// Resolves `arg` against `cwd`.
pub(crate) fn resolve(cwd: &str, arg: &str) -> String {
    if cwd.starts_with('/') || arg.starts_with('/') {
        let base = VirtualPath::root()
            .join(if cwd.starts_with('/') { cwd } else { "/" })
            .unwrap_or_else(|_| VirtualPath::root());
        if let Ok(p) = base.join(arg) {
            return p.as_str().to_string();
        }
    }
    if arg == ".." {
        return cwd.to_string();
    }
    let sep = if cwd.ends_with('/') || cwd.ends_with('\\') {
        ""
    } else {
        "/"
    };
    format!("{cwd}{sep}{arg}")
}

/// The path a transfer command names, absolute.
fn transfer_path(rec: &CommandRecord, parsed: Option<&Command>) -> Option<String> {
    let cwd = rec.cwd.as_str();
    let from_reply = || {
        rec.preliminary
            .iter()
            .map(|p| p.text.as_str())
            .chain(rec.reply_msg.as_deref())
            .find_map(|t| {
                let i = t.find("FILE: ")?;
                let name = t.get(i + 6..)?.split_whitespace().next()?;
                Some(name.to_string())
            })
    };
    let arg = match parsed {
        Some(Command::Retr(p) | Command::Stor(p) | Command::Appe(p)) => Some(p.clone()),
        Some(Command::List(a) | Command::Nlst(a)) => a.path.clone(),
        Some(Command::Mlsd(p)) => p.clone(),
        Some(Command::Stou(p)) => from_reply().or_else(|| p.clone()),
        _ => {
            if is_listing(&rec.command) {
                rec.arg.clone().filter(|a| !a.starts_with('-'))
            } else {
                rec.arg.clone()
            }
        }
    };
    match arg {
        Some(a) => Some(resolve(cwd, &a)),
        None if is_listing(&rec.command) => Some(cwd.to_string()),
        None => None,
    }
}

/// `(12345 bytes)` in a 150 reply.
fn bytes_in_text(text: &str) -> Option<u64> {
    let i = text.find(" bytes)")?;
    let head = text.get(..i)?;
    let start = head.rfind('(')?;
    head.get(start + 1..)?.trim().parse().ok()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn packet_record(
    seg: &TcpSegment<'_>,
    frame: u64,
    ts: Timestamp,
    session: Option<u32>,
    cap: usize,
) -> PacketRecord {
    let flags = seg.flags.to_string();
    let flags = flags
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    PacketRecord {
        frame,
        ts,
        session,
        kind: PacketKind::Control,
        src: seg.src,
        dst: seg.dst,
        flags,
        seq: seg.seq,
        ack: seg.ack,
        payload: seg
            .payload
            .get(..cap.min(seg.payload.len()))
            .unwrap_or(&[])
            .to_vec(),
        payload_len: seg.payload.len(),
    }
}

impl StreamSink for Analyzer {
    fn server_hint(&mut self, a: SocketAddr, b: SocketAddr) -> Option<SocketAddr> {
        if self.expect.contains_key(&a) {
            Some(a)
        } else if self.expect.contains_key(&b) {
            Some(b)
        } else {
            None
        }
    }

    fn on_open(&mut self, flow: FlowId, info: &FlowInfo) -> Interest {
        if self.is_ftp_port(info.server.port()) {
            let si = self.new_session(flow, info);
            self.flows.insert(flow, Role::Control(si));
            return Interest::Follow;
        }
        if let Some((sess, setup)) = self.match_setup(info) {
            let d = self.open_data(info, sess, setup);
            self.flows.insert(flow, Role::Data(d));
            return Interest::Follow;
        }
        self.flows.insert(
            flow,
            Role::Probe(Box::new(Probe {
                info: info.clone(),
                client: Vec::new(),
                client_len: 0,
                server: Vec::new(),
                packets: Vec::new(),
            })),
        );
        Interest::Follow
    }

    fn on_segment(
        &mut self,
        flow: FlowId,
        _dir: Direction,
        segment: &TcpSegment<'_>,
        frame: u64,
        ts: Timestamp,
    ) {
        let keep = self.opts.keep_packets;
        let cap = self.opts.packet_payload_cap;
        match self.flows.get_mut(&flow) {
            Some(Role::Control(si)) => {
                let si = *si;
                if let Some(ctl) = self.sessions.get_mut(si) {
                    if ts > ctl.s.last_ts {
                        ctl.s.last_ts = ts;
                    }
                    if keep {
                        let p = packet_record(segment, frame, ts, Some(ctl.s.id), cap);
                        self.packets.push((p, None));
                    }
                }
            }
            Some(Role::Data(d)) => {
                let d = *d;
                if let Some(dc) = self.data.get_mut(d) {
                    dc.last_frame = frame;
                    if ts > dc.last_ts {
                        dc.last_ts = ts;
                    }
                    if keep {
                        let id = self.sessions.get(dc.sess).map(|c| c.s.id);
                        let p = packet_record(segment, frame, ts, id, cap);
                        self.packets.push((p, Some(d)));
                    }
                }
            }
            Some(Role::Probe(p)) if keep && p.packets.len() < PROBE_PACKETS_MAX => {
                p.packets.push(packet_record(segment, frame, ts, None, cap));
            }
            Some(Role::Probe(_)) => {}
            None => {}
        }
    }

    fn on_data(&mut self, flow: FlowId, dir: Direction, data: &[u8], at: SegmentMeta) -> Interest {
        match self.flows.get(&flow) {
            Some(Role::Control(si)) => {
                let si = *si;
                match dir {
                    Direction::ClientToServer => self.client_data(si, data, at),
                    Direction::ServerToClient => self.server_data(si, data, at),
                }
                self.control_interest(si)
            }
            Some(Role::Data(d)) => {
                let d = *d;
                self.data_bytes(d, dir, data);
                Interest::Follow
            }
            Some(Role::Probe(_)) => self.probe_data(flow, dir, data, at),
            None => Interest::Ignore,
        }
    }

    fn on_gap(&mut self, flow: FlowId, dir: Direction, len: u64, _at: SegmentMeta) {
        match self.flows.get(&flow) {
            Some(Role::Control(si)) => {
                if let Some(ctl) = self.sessions.get_mut(*si) {
                    ctl.s.gaps = ctl.s.gaps.saturating_add(len);
                    match dir {
                        Direction::ClientToServer => {
                            ctl.c_resync = true;
                            ctl.cdec = LineDecoder::with_max(self.opts.max_command_line.max(1));
                        }
                        Direction::ServerToClient => {
                            ctl.s_resync = true;
                            ctl.sdec = LineDecoder::new();
                            ctl.rp = ReplyParser::new();
                        }
                    }
                }
            }
            Some(Role::Data(d)) => {
                let d = *d;
                self.data_gap(d, dir, len);
            }
            Some(Role::Probe(_)) => {
                self.flows.remove(&flow);
            }
            None => {}
        }
    }

    fn on_close(&mut self, flow: FlowId, reason: CloseReason, _ts: Timestamp) {
        match self.flows.remove(&flow) {
            Some(Role::Control(si)) => {
                if let Some(ctl) = self.sessions.get(si) {
                    debug_assert_eq!(ctl.flow, flow);
                }
                self.close_session(si);
            }
            Some(Role::Data(d)) => {
                if let Some(dc) = self.data.get_mut(d) {
                    dc.close = Some(reason);
                }
                self.try_finalize(d, false);
            }
            Some(Role::Probe(_)) | None => {}
        }
    }
}
