//! Synthetic captures built in the test: reordered data segments, data connections that
//! open before their command, PASV theft, gaps, unlinked data, greetings on other ports,
//! the live analyzer, and never-panic properties over truncated, corrupt and random input.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use ferry_analyze::{
    analyze_reader, AnalyzeOptions, FindingKind, LinkType, LiveAnalyzer, LiveEvent, Timestamp,
};
use proptest::prelude::*;

// ---------------------------------------------------------------- a tiny pcap writer

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

struct Pcap {
    out: Vec<u8>,
    t: u32,
}

impl Pcap {
    fn new() -> Self {
        let mut out = Vec::new();
        out.extend(0xa1b2_c3d4u32.to_le_bytes());
        out.extend(2u16.to_le_bytes());
        out.extend(4u16.to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend(65535u32.to_le_bytes());
        out.extend(1u32.to_le_bytes()); // Ethernet
        Pcap { out, t: 0 }
    }

    fn frame(
        data: &[u8],
        src: SocketAddrV4,
        dst: SocketAddrV4,
        seq: u32,
        ack: u32,
        flags: u8,
    ) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend([0x08, 0x00]);
        let total = (20 + 20 + data.len()) as u16;
        f.extend([0x45, 0]);
        f.extend(total.to_be_bytes());
        f.extend([0, 0, 0x40, 0, 64, 6, 0, 0]);
        f.extend(src.ip().octets());
        f.extend(dst.ip().octets());
        f.extend(src.port().to_be_bytes());
        f.extend(dst.port().to_be_bytes());
        f.extend(seq.to_be_bytes());
        f.extend(ack.to_be_bytes());
        f.extend([0x50, flags]);
        f.extend(65535u16.to_be_bytes());
        f.extend([0, 0, 0, 0]);
        f.extend(data);
        f
    }

    fn push(&mut self, frame: &[u8]) {
        self.t += 1;
        self.out.extend(1_700_000_000u32.to_le_bytes());
        self.out.extend((self.t * 1000).to_le_bytes());
        self.out.extend((frame.len() as u32).to_le_bytes());
        self.out.extend((frame.len() as u32).to_le_bytes());
        self.out.extend(frame);
    }
}

/// One TCP connection's sequence state.
struct Conn {
    c: SocketAddrV4,
    s: SocketAddrV4,
    cseq: u32,
    sseq: u32,
}

impl Conn {
    fn open(p: &mut Pcap, c: SocketAddrV4, s: SocketAddrV4) -> Conn {
        let (ci, si) = (1000u32, 5000u32);
        p.push(&Pcap::frame(&[], c, s, ci, 0, SYN));
        p.push(&Pcap::frame(&[], s, c, si, ci + 1, SYN | ACK));
        p.push(&Pcap::frame(&[], c, s, ci + 1, si + 1, ACK));
        Conn {
            c,
            s,
            cseq: ci + 1,
            sseq: si + 1,
        }
    }

    /// Client → server bytes (one segment).
    fn client(&mut self, p: &mut Pcap, data: &[u8]) {
        p.push(&Pcap::frame(
            data,
            self.c,
            self.s,
            self.cseq,
            self.sseq,
            PSH | ACK,
        ));
        self.cseq += data.len() as u32;
    }

    /// Server → client bytes (one segment).
    fn server(&mut self, p: &mut Pcap, data: &[u8]) {
        p.push(&Pcap::frame(
            data,
            self.s,
            self.c,
            self.sseq,
            self.cseq,
            PSH | ACK,
        ));
        self.sseq += data.len() as u32;
    }

    /// Server → client segments built but not pushed (to reorder them).
    fn server_segments(&mut self, data: &[u8], size: usize) -> Vec<Vec<u8>> {
        data.chunks(size)
            .map(|chunk| {
                let f = Pcap::frame(chunk, self.s, self.c, self.sseq, self.cseq, PSH | ACK);
                self.sseq += chunk.len() as u32;
                f
            })
            .collect()
    }

    fn close(&mut self, p: &mut Pcap) {
        p.push(&Pcap::frame(
            &[],
            self.s,
            self.c,
            self.sseq,
            self.cseq,
            FIN | ACK,
        ));
        p.push(&Pcap::frame(
            &[],
            self.c,
            self.s,
            self.cseq,
            self.sseq + 1,
            FIN | ACK,
        ));
        p.push(&Pcap::frame(
            &[],
            self.s,
            self.c,
            self.sseq + 1,
            self.cseq + 1,
            ACK,
        ));
        self.sseq += 1;
        self.cseq += 1;
    }
}

fn v4(a: [u8; 4], port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(a), port)
}

const CLIENT: [u8; 4] = [10, 0, 0, 1];
const SERVER: [u8; 4] = [10, 0, 0, 2];

fn file_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn login(p: &mut Pcap, ctl: &mut Conn) {
    ctl.server(p, b"220 synthetic ready\r\n");
    ctl.client(p, b"USER alice\r\n");
    ctl.server(p, b"331 Password please\r\n");
    ctl.client(p, b"PASS secret\r\n");
    ctl.server(p, b"230 Logged in\r\n");
}

fn run(p: &Pcap, opts: &AnalyzeOptions) -> ferry_analyze::Analysis {
    let (a, err) = analyze_reader(&p.out[..], "synthetic", opts);
    assert!(err.is_none(), "{err:?}");
    a
}

// ---------------------------------------------------------------- tests

#[test]
fn reordered_segments_extract_the_original_file() {
    let content = file_bytes(200_000);
    let mut p = Pcap::new();
    let mut ctl = Conn::open(&mut p, v4(CLIENT, 40000), v4(SERVER, 21));
    login(&mut p, &mut ctl);
    ctl.client(&mut p, b"CWD /data\r\n");
    ctl.server(&mut p, b"250 ok\r\n");
    ctl.client(&mut p, b"TYPE I\r\n");
    ctl.server(&mut p, b"200 ok\r\n");
    ctl.client(&mut p, b"PASV\r\n");
    ctl.server(&mut p, b"227 Entering Passive Mode (10,0,0,2,117,48).\r\n");
    ctl.client(&mut p, b"SIZE big.bin\r\n");
    ctl.server(&mut p, b"213 200000\r\n");
    let mut data = Conn::open(&mut p, v4(CLIENT, 40001), v4(SERVER, 30000));
    ctl.client(&mut p, b"RETR big.bin\r\n");
    ctl.server(&mut p, b"150 Opening BINARY mode data connection\r\n");
    let mut segs = data.server_segments(&content, 1400);
    // Reorder: reverse pairs, move the first segment to the end, duplicate a few.
    for pair in segs.chunks_mut(2) {
        pair.reverse();
    }
    segs.rotate_left(1);
    let dups: Vec<Vec<u8>> = segs.iter().step_by(17).cloned().collect();
    for s in segs.iter().chain(dups.iter()) {
        p.push(s);
    }
    data.close(&mut p);
    ctl.server(&mut p, b"226 Transfer complete\r\n");
    ctl.client(&mut p, b"QUIT\r\n");
    ctl.server(&mut p, b"221 Bye\r\n");
    ctl.close(&mut p);

    let dir = tempfile::tempdir().unwrap();
    let opts = AnalyzeOptions {
        extract_dir: Some(dir.path().to_path_buf()),
        ..AnalyzeOptions::default()
    };
    let a = run(&p, &opts);
    let s = &a.sessions[0];
    assert_eq!(s.transfers.len(), 1);
    let t = &s.transfers[0];
    assert_eq!(t.command, "RETR");
    assert_eq!(t.path.as_deref(), Some("/data/big.bin"));
    assert_eq!(t.bytes, content.len() as u64);
    assert_eq!(t.missing_bytes, 0);
    assert_eq!(t.announced_size, Some(200_000));
    assert!(t.complete);
    let want = common::sha256_hex(&content);
    assert_eq!(t.sha256.as_deref(), Some(want.as_str()));
    let path = t.extracted_to.as_ref().unwrap();
    assert_eq!(path, &dir.path().join("data/big.bin"));
    assert_eq!(common::sha256_hex(&std::fs::read(path).unwrap()), want);
    assert!(a.capture.stats.out_of_order_segments > 0);
    // Nothing else left in the directory (no temporary files).
    let names: Vec<_> = walk(dir.path());
    assert_eq!(names, vec![dir.path().join("data/big.bin")]);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn data_connection_before_the_transfer_command_is_linked_later() {
    // Active mode, pipelined: PORT, then the server connects and sends before the capture
    // shows RETR (the client's segment was captured late).
    let content = file_bytes(5000);
    let mut p = Pcap::new();
    let mut ctl = Conn::open(&mut p, v4(CLIENT, 40000), v4(SERVER, 21));
    login(&mut p, &mut ctl);
    ctl.client(&mut p, b"PORT 10,0,0,1,156,65\r\n");
    ctl.server(&mut p, b"200 PORT ok\r\n");
    // PORT 156,65 = 40001: the data server is the client's announced address.
    let mut data = Conn::open(&mut p, v4(SERVER, 20), v4(CLIENT, 40001));
    for s in data.server_segments(&content, 1000) {
        p.push(&s);
    }
    data.close(&mut p);
    ctl.client(&mut p, b"TYPE I\r\nREST 0\r\nRETR /x/file.dat\r\n");
    ctl.server(
        &mut p,
        b"200 ok\r\n350 restarting\r\n150 here it comes\r\n226 done\r\n",
    );
    ctl.close(&mut p);
    let a = run(&p, &AnalyzeOptions::default());
    let s = &a.sessions[0];
    assert_eq!(s.transfers.len(), 1, "{:?}", s.transfers);
    let t = &s.transfers[0];
    assert_eq!(t.command, "RETR");
    assert_eq!(t.path.as_deref(), Some("/x/file.dat"));
    assert_eq!(t.rest, Some(0));
    assert_eq!(t.type_, 'I');
    assert_eq!(t.bytes, 5000);
    assert!(t.complete);
}

#[test]
fn pasv_theft_unlinked_data_and_gaps() {
    let mut p = Pcap::new();
    let mut ctl = Conn::open(&mut p, v4(CLIENT, 40000), v4(SERVER, 21));
    login(&mut p, &mut ctl);
    // 1: PASV, a third party connects and takes the file.
    ctl.client(&mut p, b"PASV\r\n");
    ctl.server(&mut p, b"227 Entering Passive Mode (10,0,0,2,117,49)\r\n");
    let mut thief = Conn::open(&mut p, v4([10, 9, 9, 9], 50000), v4(SERVER, 30001));
    ctl.client(&mut p, b"RETR secret.txt\r\n");
    ctl.server(&mut p, b"150 ok\r\n");
    thief.server(&mut p, b"the secret\n");
    thief.close(&mut p);
    ctl.server(&mut p, b"226 ok\r\n");
    // 2: EPSV whose data connection no command uses.
    ctl.client(&mut p, b"EPSV\r\n");
    ctl.server(
        &mut p,
        b"229 Entering Extended Passive Mode (|||30002|)\r\n",
    );
    let mut idle = Conn::open(&mut p, v4(CLIENT, 40010), v4(SERVER, 30002));
    idle.server(&mut p, b"stray bytes");
    idle.close(&mut p);
    // 3: a download with a hole.
    ctl.client(&mut p, b"PASV\r\n");
    ctl.server(&mut p, b"227 Entering Passive Mode (10,0,0,2,117,51)\r\n");
    let mut holed = Conn::open(&mut p, v4(CLIENT, 40011), v4(SERVER, 30003));
    ctl.client(&mut p, b"RETR holed.bin\r\n");
    ctl.server(&mut p, b"150 ok\r\n");
    let segs = holed.server_segments(&file_bytes(3000), 1000);
    p.push(&segs[0]);
    p.push(&segs[2]); // segs[1] never captured
    holed.close(&mut p);
    ctl.server(&mut p, b"226 ok\r\n");
    ctl.client(&mut p, b"QUIT\r\n");
    ctl.server(&mut p, b"221 bye\r\n");
    ctl.close(&mut p);

    let dir = tempfile::tempdir().unwrap();
    let opts = AnalyzeOptions {
        extract_dir: Some(dir.path().to_path_buf()),
        ..AnalyzeOptions::default()
    };
    let a = run(&p, &opts);
    let s = &a.sessions[0];
    let theft: Vec<_> = a
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::PasvTheft)
        .collect();
    assert_eq!(theft.len(), 1);
    assert!(theft[0].detail.contains("10.9.9.9"), "{}", theft[0].detail);
    assert_eq!(s.transfers.len(), 3, "{:?}", s.transfers);
    let stolen = &s.transfers[0];
    assert_eq!((stolen.command.as_str(), stolen.bytes), ("RETR", 11));
    let unlinked = &s.transfers[1];
    assert_eq!(unlinked.command, "?");
    assert!(!unlinked.complete);
    assert!(unlinked
        .extracted_to
        .as_ref()
        .unwrap()
        .starts_with(dir.path().join("unlinked")));
    let holed = &s.transfers[2];
    assert_eq!((holed.bytes, holed.missing_bytes), (2000, 1000));
    assert!(!holed.complete);
    let path = holed.extracted_to.as_ref().unwrap();
    assert_eq!(path, &dir.path().join("holed.bin.incomplete"));
    assert_eq!(std::fs::metadata(path).unwrap().len(), 2000);

    // With fill_gaps the hole reads as zeros and offsets stay right.
    let dir2 = tempfile::tempdir().unwrap();
    let opts = AnalyzeOptions {
        extract_dir: Some(dir2.path().to_path_buf()),
        fill_gaps: true,
        ..AnalyzeOptions::default()
    };
    let a = run(&p, &opts);
    let holed = &a.sessions[0].transfers[2];
    let got = std::fs::read(holed.extracted_to.as_ref().unwrap()).unwrap();
    let mut want = file_bytes(3000);
    want[1000..2000].fill(0);
    assert_eq!(got, want);
}

#[test]
fn greeting_makes_a_session_on_any_port_and_other_flows_are_ignored() {
    let mut p = Pcap::new();
    // An HTTP flow on 8080: ignored.
    let mut http = Conn::open(&mut p, v4(CLIENT, 41000), v4(SERVER, 8080));
    http.client(&mut p, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    http.server(&mut p, b"HTTP/1.1 200 OK\r\n\r\n");
    http.close(&mut p);
    // FTP on 2121, recognised by its greeting.
    let mut ctl = Conn::open(&mut p, v4(CLIENT, 41001), v4(SERVER, 2121));
    login(&mut p, &mut ctl);
    ctl.client(&mut p, b"QUIT\r\n");
    ctl.server(&mut p, b"221 bye\r\n");
    ctl.close(&mut p);
    let opts = AnalyzeOptions {
        keep_packets: true,
        ..AnalyzeOptions::default()
    };
    let a = run(&p, &opts);
    assert_eq!(a.sessions.len(), 1);
    let s = &a.sessions[0];
    assert_eq!(s.server.port(), 2121);
    assert_eq!(s.greeting.as_deref(), Some("synthetic ready"));
    assert_eq!(s.commands.len(), 3);
    assert_eq!(a.capture.stats.flows_ignored, 1);
    // Packets: all of the FTP flow (handshake included), none of HTTP.
    assert!(a
        .packets
        .iter()
        .all(|p| p.src.port() != 8080 && p.dst.port() != 8080));
    // (the last ACK after both FINs belongs to a closed flow and is not reported)
    assert_eq!(a.packets.len(), 3 + 5 + 2 + 2);
    assert!(a.packets.windows(2).all(|w| w[0].frame < w[1].frame));
    assert_eq!(a.packets[0].flags, "SYN");
}

#[test]
fn live_analyzer_reports_events_and_matches_the_file_analysis() {
    let mut p = Pcap::new();
    let mut ctl = Conn::open(&mut p, v4(CLIENT, 40000), v4(SERVER, 21));
    login(&mut p, &mut ctl);
    ctl.client(&mut p, b"PASV\r\n");
    ctl.server(&mut p, b"227 Entering Passive Mode (10,0,0,2,117,48).\r\n");
    let mut data = Conn::open(&mut p, v4(CLIENT, 40001), v4(SERVER, 30000));
    ctl.client(&mut p, b"STOR up.txt\r\n");
    ctl.server(&mut p, b"150 go\r\n");
    data.client(&mut p, b"uploaded content\n");
    data.close(&mut p);
    ctl.server(&mut p, b"226 stored\r\n");
    ctl.close(&mut p);

    // Feed the frames one by one.
    let mut live = LiveAnalyzer::new(AnalyzeOptions::default());
    let mut off = 24;
    let mut events = Vec::new();
    while off + 16 <= p.out.len() {
        let len = u32::from_le_bytes(p.out[off + 8..off + 12].try_into().unwrap()) as usize;
        let frame = &p.out[off + 16..off + 16 + len];
        live.push_frame(LinkType::ETHERNET, Timestamp::new(1_700_000_000, 0), frame);
        events.extend(live.drain_events());
        off += 16 + len;
    }
    let analysis = live.finish();
    assert!(matches!(
        events[0],
        LiveEvent::SessionStarted { session: 1, .. }
    ));
    let commands: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            LiveEvent::Command { record, .. } => Some(record.command.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(commands, ["USER", "PASS", "PASV", "STOR"]);
    let transfer = events
        .iter()
        .find_map(|e| match e {
            LiveEvent::Transfer(t) => Some(t.clone()),
            _ => None,
        })
        .expect("transfer event");
    assert_eq!(transfer.path.as_deref(), Some("/up.txt"));
    assert_eq!(transfer.direction, ferry_analyze::TransferDirection::Upload);
    assert!(events.iter().any(
        |e| matches!(e, LiveEvent::Finding(f) if f.kind == FindingKind::CleartextCredentials)
    ));
    let file = run(&p, &AnalyzeOptions::default());
    assert_eq!(analysis.sessions.len(), file.sessions.len());
    assert_eq!(
        analysis.sessions[0].transfers[0].sha256,
        file.sessions[0].transfers[0].sha256
    );
    assert_eq!(analysis.findings, file.findings);
    // Session and packet Debug output never shows the password.
    let dbg = format!("{:?}", analysis.sessions[0]);
    assert!(!dbg.contains("secret"), "{dbg}");
    let _ = SocketAddr::V4(v4(CLIENT, 1));
}

#[test]
fn extraction_names_are_unique_and_listings_separate() {
    let mut p = Pcap::new();
    let mut ctl = Conn::open(&mut p, v4(CLIENT, 40000), v4(SERVER, 21));
    login(&mut p, &mut ctl);
    for (i, cmd) in ["LIST", "RETR ../../../etc/passwd", "RETR /etc/passwd"]
        .iter()
        .enumerate()
    {
        let port = 30010 + i as u16;
        ctl.client(&mut p, b"PASV\r\n");
        let reply = format!(
            "227 Entering Passive Mode (10,0,0,2,{},{})\r\n",
            port >> 8,
            port & 0xff
        );
        ctl.server(&mut p, reply.as_bytes());
        let mut d = Conn::open(&mut p, v4(CLIENT, 40100 + i as u16), v4(SERVER, port));
        ctl.client(&mut p, format!("{cmd}\r\n").as_bytes());
        ctl.server(&mut p, b"150 ok\r\n");
        d.server(&mut p, format!("content {i}\n").as_bytes());
        d.close(&mut p);
        ctl.server(&mut p, b"226 ok\r\n");
    }
    ctl.close(&mut p);
    let dir = tempfile::tempdir().unwrap();
    let opts = AnalyzeOptions {
        extract_dir: Some(dir.path().to_path_buf()),
        ..AnalyzeOptions::default()
    };
    let a = run(&p, &opts);
    let paths: Vec<_> = a.sessions[0]
        .transfers
        .iter()
        .map(|t| t.extracted_to.clone().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            dir.path().join("root.listing.txt"),
            dir.path().join("etc/passwd"),
            dir.path().join("etc/passwd-2"),
        ]
    );
    assert_eq!(walk(dir.path()).len(), 3);
}

// ---------------------------------------------------------------- never panic

fn sample_capture() -> Vec<u8> {
    std::fs::read(common::data_dir().join("generated/scenario-pipelined.pcap")).unwrap()
}

#[test]
fn truncated_captures_give_partial_results_and_an_error() {
    let bytes =
        std::fs::read(common::data_dir().join("generated/scenario-anonymous.pcap")).unwrap();
    let full = analyze_reader(&bytes[..], "x", &AnalyzeOptions::default()).0;
    for cut in (0..bytes.len()).step_by(97) {
        let (a, err) = analyze_reader(&bytes[..cut], "cut", &AnalyzeOptions::default());
        if cut < bytes.len() {
            assert!(err.is_some() || cut == 24, "cut at {cut}");
        }
        assert!(a.sessions.len() <= full.sessions.len());
        if let Some(s) = a.sessions.first() {
            assert!(s.commands.len() <= full.sessions[0].commands.len());
        }
    }
    // Not a capture at all: a clear error.
    let (_, err) = analyze_reader(
        &b"hello world, no pcap here"[..],
        "x",
        &AnalyzeOptions::default(),
    );
    let msg = err.unwrap().to_string();
    assert!(msg.contains("not a pcap"), "{msg}");
    assert!(ferry_analyze::analyze_file(
        std::path::Path::new("/nonexistent/x.pcap"),
        &AnalyzeOptions::default()
    )
    .is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = analyze_reader(&bytes[..], "random", &AnalyzeOptions::default());
        // Behind a valid pcap header too.
        let mut p = sample_capture()[..24].to_vec();
        p.extend(&bytes);
        let _ = analyze_reader(&p[..], "random", &AnalyzeOptions::default());
    }

    #[test]
    fn corrupted_captures_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..64)) {
        let mut bytes = sample_capture();
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] ^= b;
        }
        let (a, _) = analyze_reader(&bytes[..], "corrupt", &AnalyzeOptions { keep_packets: true, ..AnalyzeOptions::default() });
        prop_assert!(a.sessions.len() <= 16);
    }

    #[test]
    fn random_control_streams_never_panic(
        client in proptest::collection::vec(any::<u8>(), 0..2048),
        server in proptest::collection::vec(any::<u8>(), 0..2048),
        split in 1usize..64,
    ) {
        let mut p = Pcap::new();
        let mut ctl = Conn::open(&mut p, v4(CLIENT, 40000), v4(SERVER, 21));
        ctl.server(&mut p, b"220 hi\r\n");
        for (c, s) in client.chunks(split).zip(server.chunks(split)) {
            ctl.client(&mut p, c);
            ctl.server(&mut p, s);
        }
        ctl.close(&mut p);
        let dir = tempfile::tempdir().unwrap();
        let opts = AnalyzeOptions { extract_dir: Some(dir.path().to_path_buf()), keep_packets: true, ..AnalyzeOptions::default() };
        let (a, err) = analyze_reader(&p.out[..], "fuzz", &opts);
        prop_assert!(err.is_none());
        prop_assert_eq!(a.sessions.len(), 1);
    }
}
