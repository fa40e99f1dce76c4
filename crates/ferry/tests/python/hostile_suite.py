#!/usr/bin/env python3
"""Hostile-input suite for `ferry serve`, in plain FTP and in FTPS-required mode (issue 6).

Usage:
  hostile_suite.py --host H --port P --mode plain|tls --group GROUP --root DIR --outside DIR
                   [--user U --password PW] [--ro-user U --ro-password PW]
                   [--limit N] [--login-timeout SECS]

GROUP is one of: bounce, paths, lines, transfers, readonly, dirperms, floods, slowloris,
bruteforce, tlspolicy (tls mode only). Each group is a list of cases (see GROUPS at the end);
the caller starts a server with the options the group needs (crates/ferry/tests/
hostile_suite.rs). In tls mode every client does AUTH TLS, PBSZ 0 and PROT P (certificate
verification off), raw checks wrap the socket after the 234 reply; cleartext is sent only
where a case says so (what an attacker would do before AUTH).

Every case sends its hostile input, checks the exact reply codes, then (after the case, by
the runner) that the server still serves a fresh session (login, NOOP, a download checked by
sha256), that nothing outside the root changed (a snapshot of the directory holding the
root, sentinel file and directory included) and that the files the group keeps are intact
(sha256). A failing case does not stop the others: the script prints `ok: GROUP/CASE` or
`FAIL: GROUP/CASE: why` per case and ends with `hostile suite: MODE GROUP: ...`; exit 1 when
any case failed.

Only the standard library (Python 3.11). Every socket has a timeout; every loop is bounded.
Listeners opened here bind 127.0.0.1; 127.0.0.2 is only ever a client's source address.

HOSTILE_SKIP=name,name turns named checks into warnings (for a reference server only; the
Rust tests clear it).
"""

import argparse
import hashlib
import io
import os
import re
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
from ftplib import FTP, FTP_TLS, all_errors

from checks import Failure, data_bytes, make_check, tree_snapshot

check = make_check("HOSTILE_SKIP")

# Socket timeout for every control and data socket.
TIMEOUT = 10
# Another client address on loopback (Linux answers for all of 127/8).
OTHER_IP = "127.0.0.2"
# Bytes the file `probe.bin` holds (the alive check downloads it).
PROBE_SIZE = 100_003
# Names of things outside the root (in --outside, the directory holding the root).
SENTINEL_FILE = "OUTSIDE-sentinel.txt"
SENTINEL_DIR = "OUTSIDE-sentinel-dir"
SECRET_MARK = b"OUTSIDE-SECRET-MARKER"


def sha(data):
    return hashlib.sha256(data).hexdigest()


def sha_file(path):
    with open(path, "rb") as f:
        return sha(f.read())


class Closed(Exception):
    """The server closed (or reset) the connection."""


def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def reset(sock):
    """Close `sock` with a TCP RST (SO_LINGER 0) instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def quiet_close(sock):
    if sock is None:
        return
    try:
        sock.close()
    except OSError:
        pass


class Conn:
    """A raw control connection (replies read through a small buffer that must be empty
    when TLS starts, so cleartext sent by the server after 234 is caught)."""

    def __init__(self, suite, source=None, auth=None, timeout=TIMEOUT, greet=True):
        self.suite = suite
        self.transcript = []
        self.buf = b""
        self.tls = False
        self.prot_p = False
        self.ctx = tls_context()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            if source:
                sock.bind((source, 0))
            sock.connect((suite.host, suite.port))
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self.greeting = None
        if greet:
            self.greeting = self.reply()
            if auth if auth is not None else suite.tls:
                check(self.greeting[0] == 220, f"greeting {self.greeting}\n" + self.dump())
                self.auth()

    # ------------------------------------------------------------------ I/O

    def send_raw(self, data):
        self.transcript.append(f"C: {data[:200]!r}{'...' if len(data) > 200 else ''}")
        self.sock.sendall(data)

    def send(self, line):
        self.send_raw(line.encode("utf-8", "surrogateescape") + b"\r\n")

    def _fill(self):
        try:
            chunk = self.sock.recv(4096)
        except ssl.SSLError as e:
            raise Closed(repr(e))
        except (ConnectionError, OSError) as e:
            if isinstance(e, socket.timeout):
                raise
            raise Closed(repr(e))
        if not chunk:
            raise Closed("EOF")
        self.buf += chunk

    def line(self):
        for _ in range(10_000):
            i = self.buf.find(b"\n")
            if i >= 0:
                raw, self.buf = self.buf[: i + 1], self.buf[i + 1:]
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                self.transcript.append(f"S: {text}")
                return text
            if len(self.buf) > 65536:
                raise Failure("reply line longer than 64 KiB\n" + self.dump())
            self._fill()
        raise Failure("no reply line\n" + self.dump())

    def reply(self):
        first = self.line()
        m = re.match(r"^(\d{3})([ -])", first + " ")
        if not m:
            raise Failure(f"not an FTP reply: {first!r}\n" + self.dump())
        code = int(m.group(1))
        lines = [first]
        if m.group(2) == "-":
            for _ in range(10_000):
                line = self.line()
                lines.append(line)
                if line.startswith(f"{code} "):
                    break
        return code, "\n".join(lines)

    def cmd(self, line):
        self.send(line)
        return self.reply()

    def expect(self, line, codes, name=None):
        code, text = self.cmd(line)
        check(code in codes, f"{line!r} -> {text!r}, expected one of {codes}\n" + self.dump(),
              name)
        return code, text

    def expect_reply(self, what, codes):
        code, text = self.reply()
        check(code in codes, f"{what} -> {text!r}, expected one of {codes}\n" + self.dump())
        return code, text

    def closed_within(self, seconds):
        """Reads (collecting replies) until the server closes or `seconds` pass. Returns
        (closed, [reply codes])."""
        deadline = time.monotonic() + seconds
        codes = []
        for _ in range(10_000):
            left = deadline - time.monotonic()
            if left <= 0:
                return False, codes
            self.sock.settimeout(min(left, 1.0))
            try:
                code, _ = self.reply()
                codes.append(code)
            except Closed:
                return True, codes
            except socket.timeout:
                continue
            except Failure:
                return False, codes
            finally:
                try:
                    self.sock.settimeout(TIMEOUT)
                except OSError:
                    pass
        return False, codes

    def dump(self):
        return "transcript:\n  " + "\n  ".join(self.transcript[-40:])

    def close(self):
        quiet_close(self.sock)

    # ------------------------------------------------------------------ FTP steps

    def start_tls(self):
        check(self.buf == b"", f"the server sent cleartext after 234: {self.buf!r}\n"
              + self.dump())
        self.sock = self.ctx.wrap_socket(self.sock, server_hostname=self.suite.host)
        self.tls = True
        self.transcript.append(f"-- TLS {self.sock.version()}")

    def auth(self):
        self.expect("AUTH TLS", [234])
        self.start_tls()

    def login(self, user=None, password=None):
        user = user or self.suite.user
        password = password or self.suite.password
        self.expect(f"USER {user}", [331])
        self.expect(f"PASS {password}", [230])
        if self.tls:
            self.expect("PBSZ 0", [200])
            self.expect("PROT P", [200])
            self.prot_p = True
        self.expect("TYPE I", [200])
        return self

    def pasv(self):
        code, text = self.cmd("PASV")
        m = re.search(r"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)", text)
        check(code == 227 and m is not None, f"PASV -> {text!r}\n" + self.dump())
        n = [int(x) for x in m.groups()]
        return ".".join(map(str, n[:4])), n[4] * 256 + n[5]

    def epsv(self):
        code, text = self.cmd("EPSV")
        m = re.search(r"\(\|\|\|(\d+)\|\)", text)
        check(code == 229 and m is not None, f"EPSV -> {text!r}\n" + self.dump())
        return self.suite.host, int(m.group(1))

    def passive(self, how="PASV"):
        return self.pasv() if how == "PASV" else self.epsv()

    def wrap(self, data_sock):
        """The data socket as the transfer uses it (TLS client when PROT P)."""
        if not self.prot_p:
            return data_sock
        return self.ctx.wrap_socket(data_sock, server_hostname=self.suite.host)

    def retr(self, name, how="PASV", rest=None, limit=64 << 20):
        """RETR over a passive connection: (first code, bytes or None, final code)."""
        addr = self.passive(how)
        d = socket.create_connection(addr, timeout=TIMEOUT)
        if rest is not None:
            # Right before RETR: REST applies to the next command only (as in ftplib).
            self.expect(f"REST {rest}", [350])
        code, text = self.cmd(f"RETR {name}")
        if code not in (125, 150):
            got = read_some(d, 1.0)
            d.close()
            check(got == b"", f"RETR {name} refused with {code} but {len(got)} bytes came "
                  "on the data connection")
            return code, None, None
        d = self.wrap(d)
        data = read_all(d, limit)
        end_data(d)
        final, _ = self.reply()
        return code, data, final

    def stor(self, name, data, verb="STOR", how="PASV", rest=None):
        """STOR (or APPE) over a passive connection: (first code, final code or None)."""
        addr = self.passive(how)
        d = socket.create_connection(addr, timeout=TIMEOUT)
        if rest is not None:
            self.expect(f"REST {rest}", [350])
        code, text = self.cmd(f"{verb} {name}")
        if code not in (125, 150):
            d.close()
            return code, None
        d = self.wrap(d)
        d.sendall(data)
        end_data(d)
        final, _ = self.reply()
        return code, final

    def list(self, arg=""):
        addr = self.pasv()
        d = socket.create_connection(addr, timeout=TIMEOUT)
        code, _ = self.cmd(f"LIST {arg}".rstrip())
        if code not in (125, 150):
            d.close()
            return code, None
        d = self.wrap(d)
        data = read_all(d, 4 << 20)
        end_data(d)
        self.expect_reply("end of LIST", [226, 250])
        return code, data.decode("utf-8", "replace")

    def pwd(self):
        code, text = self.expect("PWD", [257])
        m = re.search(r'"(.*)"', text)
        return m.group(1) if m else text


def read_all(sock, limit):
    chunks = []
    total = 0
    for _ in range(1_000_000):
        try:
            chunk = sock.recv(65536)
        except (ssl.SSLEOFError, ConnectionResetError):
            break
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise Failure(f"more than {limit} bytes on a data connection")
    return b"".join(chunks)


def read_some(sock, seconds):
    """Whatever arrives on `sock` within `seconds` (until EOF, reset or timeout)."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    got = b""
    while time.monotonic() < deadline and len(got) < (1 << 20):
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except (OSError, ssl.SSLError):
            break
        if not chunk:
            break
        got += chunk
    return got


def end_data(d):
    """Ends a data connection cleanly (close_notify first on TLS)."""
    if isinstance(d, ssl.SSLSocket):
        try:
            d.unwrap()
        except (ssl.SSLError, OSError):
            pass
    quiet_close(d)


class Suite:
    def __init__(self, args):
        self.host = args.host
        self.port = args.port
        self.tls = args.mode == "tls"
        self.mode = args.mode
        self.group = args.group
        self.root = args.root
        self.outside = args.outside
        self.user = args.user
        self.password = args.password
        self.ro_user = args.ro_user
        self.ro_password = args.ro_password
        self.limit = args.limit
        self.login_timeout = args.login_timeout
        self.keep = {}
        self.outside_before = None
        # The address the runner's alive check connects from (bruteforce bans 127.0.0.1).
        self.alive_source = None

    # ------------------------------------------------------------------ clients

    def conn(self, **kw):
        return Conn(self, **kw)

    def session(self, user=None, password=None, source=None):
        """A logged-in raw control connection (TLS and PROT P in tls mode)."""
        return Conn(self, source=source).login(user, password)

    def ftp(self, user=None, password=None, source=None):
        """An ftplib session, FTP_TLS with PROT P in tls mode."""
        if self.tls:
            f = FTP_TLS(context=tls_context(), timeout=TIMEOUT)
        else:
            f = FTP(timeout=TIMEOUT)
        src = (source, 0) if source else None
        welcome = f.connect(self.host, self.port, timeout=TIMEOUT, source_address=src)
        check(welcome.startswith("220"), f"greeting {welcome!r}")
        f.login(user or self.user, password or self.password)
        if self.tls:
            f.prot_p()
        f.voidcmd("TYPE I")
        return f

    # ------------------------------------------------------------------ files

    def put(self, rel, data, keep=True):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        if keep:
            self.keep[rel] = sha(data)
        return data

    def disk(self, rel):
        path = os.path.join(self.root, rel)
        if not os.path.lexists(path):
            return None
        with open(path, "rb") as f:
            return f.read()

    def setup(self):
        """Fixtures every group has: the probe file, sentinels next to the root."""
        self.probe = self.put("probe.bin", data_bytes("probe", PROBE_SIZE))
        secret = SECRET_MARK + b"#" * 12_000
        with open(os.path.join(self.outside, SENTINEL_FILE), "wb") as f:
            f.write(secret)
        os.makedirs(os.path.join(self.outside, SENTINEL_DIR), exist_ok=True)
        with open(os.path.join(self.outside, SENTINEL_DIR, "inner.txt"), "wb") as f:
            f.write(SECRET_MARK + b" inner\n")
        self.outside_before = self.snapshot_outside()

    def snapshot_outside(self):
        return tree_snapshot(self.outside, skip={os.path.realpath(self.root)})

    # ------------------------------------------------------------------ after each case

    def alive(self):
        """A fresh session logs in, answers NOOP and downloads probe.bin intact."""
        f = self.ftp(source=self.alive_source)
        try:
            check(f.voidcmd("NOOP").startswith("200"), "NOOP")
            chunks = []
            f.retrbinary("RETR probe.bin", chunks.append)
            got = b"".join(chunks)
            check(got == self.probe, f"probe.bin downloaded as {len(got)} bytes, sha256 "
                  "differs" if len(got) == len(self.probe) else
                  f"probe.bin downloaded as {len(got)} bytes, not {len(self.probe)}")
            f.quit()
        finally:
            f.close()

    def intact(self):
        after = self.snapshot_outside()
        if after != self.outside_before:
            changed = sorted(set(after.items()) ^ set(self.outside_before.items()))
            raise Failure(f"something outside the root changed: {changed[:10]}")
        for rel, want in self.keep.items():
            path = os.path.join(self.root, rel)
            check(os.path.isfile(path) and not os.path.islink(path),
                  f"{rel} is gone or no longer a plain file")
            check(sha_file(path) == want, f"{rel} changed (sha256 differs)")
        temps = [n for _, _, files in os.walk(self.root) for n in files
                 if n.startswith(".ferry-upload-")]
        check(not temps, f"temporary upload files left behind: {temps[:5]}")


# ====================================================================== helpers for cases


class Trap:
    """A listener on 127.0.0.1 that records whether anything connected to it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]

    def hit(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                c, _ = self.sock.accept()
                c.close()
                return True
            except socket.timeout:
                continue
        return False

    def close(self):
        quiet_close(self.sock)


class Thief(threading.Thread):
    """Connects to a passive data port from 127.0.0.2 before the real client, optionally
    does TLS and sends junk, and counts what it receives."""

    def __init__(self, addr, tls, junk=None):
        super().__init__(daemon=True)
        self.received = 0
        self.closed = False
        self.connected = False
        self.error = None
        self.sock = socket.socket()
        self.sock.settimeout(5)
        self.sock.bind((OTHER_IP, 0))
        try:
            self.sock.connect(addr)
            self.connected = True
        except OSError as e:
            self.error = repr(e)
            self.closed = True
        self.tls = tls
        self.junk = junk

    def run(self):
        if not self.connected:
            return
        s = self.sock
        deadline = time.monotonic() + 12
        try:
            if self.tls:
                s = tls_context().wrap_socket(s, server_hostname="127.0.0.1")
            if self.junk:
                s.sendall(self.junk)
            s.settimeout(0.5)
            while time.monotonic() < deadline:
                try:
                    d = s.recv(65536)
                except socket.timeout:
                    continue
                if not d:
                    self.closed = True
                    break
                self.received += len(d)
        except (OSError, ssl.SSLError) as e:
            self.error = repr(e)
            self.closed = True
        finally:
            quiet_close(s)


def sync_file(suite):
    """A file whose SIZE reply marks a point in the reply stream."""
    suite.put("sync.bin", b"s" * 7777)
    return "SIZE sync.bin", "213 7777"


def replies_until(c, marker, limit=50):
    """Reads replies until one whose text starts with `marker`; returns the codes before."""
    codes = []
    for _ in range(limit):
        code, text = c.reply()
        if text.startswith(marker):
            return codes
        codes.append(code)
    raise Failure(f"no reply starting {marker!r} within {limit} replies\n" + c.dump())


# ====================================================================== group: bounce


def case_port_foreign_address(s):
    """PORT/EPRT naming an address other than the control peer: refused (500), and the
    server connects nowhere. The peer is 127.0.0.2, the trap listens on 127.0.0.1."""
    s.put("f.txt", b"f\n")
    trap = Trap()
    try:
        c = s.session(source=OTHER_IP)
        p = trap.port
        for cmd in [f"PORT 127,0,0,1,{p >> 8},{p & 255}", f"EPRT |1|127.0.0.1|{p}|",
                    f"EPRT !1!127.0.0.1!{p}!"]:
            c.expect(cmd, [500])
            c.expect("RETR f.txt", [425, 503])
            check(not trap.hit(0.5), f"the server connected to 127.0.0.1 after {cmd!r}")
        # Classic bounce targets, reply codes only (never followed by a transfer).
        for cmd in ["PORT 10,0,0,1,4,1", "PORT 192,168,1,1,0,80", "EPRT |1|10.0.0.1|1025|",
                    "PORT 127,0,0,2,0,21"]:
            c.expect(cmd, [500])
        c.expect("NOOP", [200])
        c.close()
    finally:
        trap.close()


def case_port_privileged_and_zero(s):
    """PORT/EPRT to the right host but a privileged port, port 0 or a port > 65535."""
    c = s.session()
    for cmd in ["PORT 127,0,0,1,0,21", "PORT 127,0,0,1,0,25", "PORT 127,0,0,1,3,255",
                "PORT 127,0,0,1,0,0", "EPRT |1|127.0.0.1|22|", "EPRT |1|127.0.0.1|1023|"]:
        c.expect(cmd, [500])
    for cmd in ["EPRT |1|127.0.0.1|0|", "PORT 127,0,0,1,256,0", "PORT 127,0,0,1,255,256",
                "EPRT |1|127.0.0.1|65536|", "EPRT |1|127.0.0.1|99999|",
                "EPRT |1|127.0.0.1|4294967297|"]:
        c.expect(cmd, [501])
    c.expect("RETR probe.bin", [425, 503])
    c.expect("NOOP", [200])
    c.close()


def case_port_malformed(s):
    """Malformed PORT/EPRT forms: 501 (522 for an unknown network protocol)."""
    c = s.session()
    for cmd in ["PORT 127,0,0,1,4,1,7", "PORT 127,0,0,1,4", "PORT 256,0,0,1,4,1",
                "PORT a,b,c,d,e,f", "PORT 127,0,0,1,-1,5", "PORT", "PORT 127.0.0.1.4.1",
                "PORT 127,0,0,1,4,", "PORT ,,,,,", "PORT 1" + "0" * 40 + ",0,0,1,4,1",
                "EPRT |1!127.0.0.1!5000|", "EPRT |1|127.0.0.1|5000", "EPRT ||||",
                "EPRT |1|127.0.0.1|abc|", "EPRT |2|127.0.0.1|5000|", "EPRT |1|::1|5000|",
                "EPRT", "EPRT 1|127.0.0.1|5000|", "EPRT |1|127.0.0.1|5000|extra"]:
        c.expect(cmd, [501])
    for cmd in ["EPRT |3|127.0.0.1|5000|", "EPRT |0|127.0.0.1|5000|"]:
        c.expect(cmd, [522])
    c.expect("NOOP", [200])
    c.close()


def case_port_legit_after_refusals(s):
    """After refused PORTs, a legitimate PORT to the control peer still transfers the right
    bytes (active data connection, TLS in tls mode)."""
    data = s.put("active.bin", data_bytes("active", 300_001))
    c = s.session()
    c.expect("PORT 10,0,0,1,4,1", [500])
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    lst.settimeout(TIMEOUT)
    try:
        p = lst.getsockname()[1]
        c.expect(f"PORT 127,0,0,1,{p >> 8},{p & 255}", [200])
        c.send("RETR active.bin")
        conn, peer = lst.accept()
        check(peer[0] == "127.0.0.1", f"data connection from {peer}")
        conn.settimeout(TIMEOUT)
        c.expect_reply("RETR active.bin", [150, 125])
        d = c.wrap(conn)
        got = read_all(d, 1 << 22)
        end_data(d)
        c.expect_reply("end of active RETR", [226])
        check(got == data, f"active RETR got {len(got)} bytes, sha256 differs or short")
    finally:
        lst.close()
    c.expect("QUIT", [221])


def pasv_theft(s, how, upload):
    name = f"theft-{how}-{'up' if upload else 'down'}.bin"
    data = data_bytes(name, 400_000)
    if not upload:
        s.put(name, data)
    c = s.session()
    addr = c.passive(how)
    junk = b"STOLEN-UPLOAD-DATA" * 2000 if upload else None
    thief = Thief(addr, s.tls, junk)
    check(thief.connected, f"{how}: the thief could not connect from {OTHER_IP}: {thief.error}")
    thief.start()
    time.sleep(0.2)
    mine = socket.create_connection(addr, timeout=TIMEOUT)
    verb = "STOR" if upload else "RETR"
    code, text = c.cmd(f"{verb} {name}")
    check(code in (125, 150), f"{how} {verb} with a thief connected first -> {text!r}: the "
          "real transfer must still run\n" + c.dump())
    d = c.wrap(mine)
    if upload:
        d.sendall(data)
        end_data(d)
    else:
        got = read_all(d, 1 << 22)
        end_data(d)
    final, text = c.reply()
    check(final == 226, f"end of {how} {verb} -> {text!r}\n" + c.dump())
    thief.join(15)
    check(not thief.is_alive(), f"{how} {verb}: the thief's connection was still open 12 s "
          "later (it must be refused or closed)")
    check(thief.received == 0, f"{how} {verb}: the thief from {OTHER_IP} received "
          f"{thief.received} bytes")
    check(thief.closed, f"{how} {verb}: the thief's connection was never closed")
    if upload:
        check(s.disk(name) == data, f"{how} STOR: the stored file is not exactly what the "
              "real client sent (thief data mixed in?)")
        s.keep[name] = sha(data)
    else:
        check(got == data, f"{how} RETR: got {len(got)} bytes, not the file")
    c.expect("NOOP", [200])
    c.close()


def case_pasv_theft_download(s):
    for how in ("PASV", "EPSV"):
        pasv_theft(s, how, upload=False)


def case_pasv_theft_upload(s):
    for how in ("PASV", "EPSV"):
        pasv_theft(s, how, upload=True)


# ====================================================================== group: paths

OUT_PATHS = [
    "..", "../", "/..", "../..", "../../..", "/../..", "..\\", "..\\..",
    "%2e%2e", "%2e%2e%2f", "%2E%2E/", "..%2f", "....//", "./../", "sub/../../",
    "escape-dir", "escape-dir/", "/escape-dir",
]

SECRET_PATHS = [
    f"../{SENTINEL_FILE}", f"../../../../../../{SENTINEL_FILE}", f"/../{SENTINEL_FILE}",
    f"..\\{SENTINEL_FILE}", f"%2e%2e/{SENTINEL_FILE}", f"%2e%2e%2f{SENTINEL_FILE}",
    f"sub/../../{SENTINEL_FILE}", f"escape-dir/{SENTINEL_FILE}", "escape-file",
    "escape-rel", f"/escape-dir/{SENTINEL_DIR}/inner.txt", f"../{SENTINEL_DIR}/inner.txt",
]


def paths_setup(s):
    s.put("etc/passwd", b"inside-root-passwd\n")
    s.put("sub/inner.txt", b"inner\n")
    for name, target in [("escape-dir", s.outside),
                         ("escape-file", os.path.join(s.outside, SENTINEL_FILE)),
                         ("escape-rel", f"../{SENTINEL_FILE}")]:
        path = os.path.join(s.root, name)
        if not os.path.lexists(path):
            os.symlink(target, path)


def no_outside_names(text):
    return SENTINEL_FILE not in text and SENTINEL_DIR not in text and "OUTSIDE" not in text


def case_traversal_retr(s):
    paths_setup(s)
    c = s.session()
    for path in SECRET_PATHS:
        code, data, final = c.retr(path)
        check(data is None, f"RETR {path!r} sent {len(data or b'')} bytes (final {final})")
        check(code == 550, f"RETR {path!r} -> {code}, expected 550")
    # Absolute and climbing paths to a name that exists inside the root resolve inside.
    for path in ["/etc/passwd", "../../etc/passwd", "/../../../etc/passwd", "sub/../etc/passwd"]:
        code, data, final = c.retr(path)
        check(code == 150 and final == 226 and data == b"inside-root-passwd\n",
              f"RETR {path!r} -> {code}/{final}, {data!r}: must be the root's etc/passwd")
    c.expect("QUIT", [221])


def case_traversal_cwd(s):
    paths_setup(s)
    c = s.session()
    for path in OUT_PATHS:
        code, text = c.cmd(f"CWD {path}")
        check(code in (250, 550), f"CWD {path!r} -> {text!r}")
        where = c.pwd()
        check(where == "/" or (code == 250 and not path.startswith("escape")),
              f"CWD {path!r} -> {code}; PWD is {where!r}")
        if code == 250:
            _, listing = c.list()
            check(listing is not None and no_outside_names(listing),
                  f"LIST after CWD {path!r} shows the outside:\n{listing}")
        if path.startswith("escape"):
            check(code == 550, f"CWD through the symlink {path!r} -> {text!r}, expected 550")
        c.expect("CWD /", [250])
    c.expect("QUIT", [221])


def case_traversal_list(s):
    paths_setup(s)
    c = s.session()
    for path in OUT_PATHS + [f"../{SENTINEL_DIR}", f"escape-dir/{SENTINEL_DIR}"]:
        code, listing = c.list(path)
        check(code in (150, 125, 450, 550), f"LIST {path!r} -> {code}")
        if listing is not None:
            check(no_outside_names(listing), f"LIST {path!r} shows the outside:\n{listing}")
        c.expect("NOOP", [200])
    for verb in ("NLST", "MLSD", "STAT", "MLST"):
        for path in ["..", f"../{SENTINEL_DIR}", "escape-dir", f"../{SENTINEL_FILE}"]:
            if verb in ("STAT", "MLST"):
                code, text = c.cmd(f"{verb} {path}")
                check(no_outside_names(text), f"{verb} {path!r} -> {text!r}")
                continue
            addr = c.pasv()
            d = socket.create_connection(addr, timeout=TIMEOUT)
            code, _ = c.cmd(f"{verb} {path}")
            if code in (125, 150):
                d = c.wrap(d)
                text = read_all(d, 1 << 20).decode("utf-8", "replace")
                end_data(d)
                c.expect_reply(f"end of {verb}", [226])
                check(no_outside_names(text), f"{verb} {path!r} shows the outside:\n{text}")
            else:
                d.close()
    c.expect("QUIT", [221])


def case_traversal_stor(s):
    paths_setup(s)
    c = s.session()
    data = b"written-by-traversal-test\n"
    for path in ["../evil.txt", "../../evil.txt", "/../evil.txt", "..\\evil.txt",
                 "%2e%2e/evil.txt", "escape-dir/evil.txt", f"escape-dir/{SENTINEL_FILE}",
                 f"../{SENTINEL_FILE}", f"../{SENTINEL_DIR}/evil.txt", "sub/../../evil.txt"]:
        code, final = c.stor(path, data)
        check(code in (150, 125, 550, 553), f"STOR {path!r} -> {code}")
        if path.startswith("escape-dir"):
            check(code in (550, 553), f"STOR through the symlink {path!r} -> {code}")
        check(final in (None, 226), f"STOR {path!r} ended with {final}")
        for appe in ("APPE",):
            code, final = c.stor(path, data, verb=appe)
            check(code in (150, 125, 550, 553), f"{appe} {path!r} -> {code}")
    # A STOR over the symlink to the outside file replaces the link (Ferry's documented
    # rule) or is refused; the outside file is never written.
    code, final = c.stor("escape-file", data)
    check(code in (150, 125, 550, 553), f"STOR escape-file -> {code}")
    for mkd in ["../evil-dir", "escape-dir/evil-dir", "/../evil-dir"]:
        code, _ = c.cmd(f"MKD {mkd}")
        check(code in (257, 550, 553), f"MKD {mkd!r} -> {code}")
    check(not os.path.lexists(os.path.join(s.outside, "evil.txt")), "STOR escaped the root")
    check(not os.path.lexists(os.path.join(s.outside, "evil-dir")), "MKD escaped the root")
    c.expect("QUIT", [221])
    # What landed inside the root (climbing paths stop at the root) goes away, so later
    # cases see only their own files.
    for dirpath, dirnames, filenames in os.walk(s.root, topdown=False):
        for n in filenames:
            if "evil" in n or n == SENTINEL_FILE:
                os.remove(os.path.join(dirpath, n))
        for n in dirnames:
            if "evil" in n:
                os.rmdir(os.path.join(dirpath, n))
    # Put the symlink back for later cases.
    path = os.path.join(s.root, "escape-file")
    if os.path.lexists(path) and not os.path.islink(path):
        os.remove(path)


def case_traversal_dele(s):
    paths_setup(s)
    c = s.session()
    for path in SECRET_PATHS:
        if path in ("escape-file", "escape-rel"):
            continue  # deleting the link itself (inside the root) would be fine
        c.expect(f"DELE {path}", [550])
    for path in [f"../{SENTINEL_DIR}", f"escape-dir/{SENTINEL_DIR}", "escape-dir/",
                 f"/../{SENTINEL_DIR}"]:
        c.expect(f"RMD {path}", [550])
    c.expect("QUIT", [221])


def case_traversal_rnfr_rnto(s):
    paths_setup(s)
    s.put("victim.txt", b"victim\n", keep=False)
    c = s.session()
    for path in SECRET_PATHS:
        if path in ("escape-file", "escape-rel"):
            continue
        c.expect(f"RNFR {path}", [550])
    for target in ["../moved.txt", "../../moved.txt", "/../moved.txt", "escape-dir/moved.txt",
                   f"../{SENTINEL_DIR}/moved.txt", f"escape-dir/{SENTINEL_FILE}",
                   "%2e%2e/moved.txt", "..\\moved.txt"]:
        c.expect("RNFR victim.txt", [350])
        code, text = c.cmd(f"RNTO {target}")
        check(code in (250, 550, 553), f"RNTO {target!r} -> {text!r}")
        if target.startswith("escape-dir"):
            check(code in (550, 553), f"RNTO through the symlink {target!r} -> {text!r}")
        if code == 250:
            # It landed inside the root: move it back.
            found = [os.path.join(dp, n) for dp, _, fs in os.walk(s.root) for n in fs
                     if n == "moved.txt" or n.endswith("moved.txt")]
            check(len(found) == 1, f"RNTO {target!r} -> 250 but moved.txt is at {found}")
            os.rename(found[0], os.path.join(s.root, "victim.txt"))
    check(s.disk("victim.txt") == b"victim\n", "victim.txt lost")
    for name in ("moved.txt",):
        check(not os.path.lexists(os.path.join(s.outside, name)), "RNTO escaped the root")
    c.expect("QUIT", [221])


def case_nul_bytes(s):
    s.put("nul.txt", b"nul\n")
    c = s.session()
    sync_cmd, marker = sync_file(s)
    for raw, codes in [(b"RETR nul.txt\0", (501, 550)), (b"RETR nul\0.txt", (501, 550)),
                       (b"CWD sub\0/..", (501, 550)), (b"LIST \0", (501, 550)),
                       (b"STOR x\0y", (501, 550, 553)), (b"DELE nul.txt\0", (501, 550)),
                       (b"RNFR nul.txt\0", (501, 550)), (b"MKD \0", (501, 550, 553)),
                       (b"SIZE ../\0", (501, 550)), (b"\0\0\0", (500, 501))]:
        if raw.startswith((b"RETR", b"LIST", b"STOR")):
            c.pasv()
        c.send_raw(raw + b"\r\n")
        code, text = c.reply()
        check(code in codes, f"{raw!r} -> {text!r}, expected one of {codes}\n" + c.dump())
        c.send(sync_cmd)
        check(replies_until(c, marker) == [], f"extra replies after {raw!r}\n" + c.dump())
    c.expect("RNFR nul.txt", [350])
    c.send_raw(b"RNTO a\0b\r\n")
    c.expect_reply("RNTO a\\0b", [501, 550, 553])
    check(s.disk("nul.txt") == b"nul\n", "nul.txt changed")
    check(not any("\0" in n or n.startswith("x") for n in os.listdir(s.root)),
          f"a name with NUL made it to disk: {os.listdir(s.root)}")
    c.expect("QUIT", [221])


# ====================================================================== group: lines


def case_crlf_injection(s):
    """A CR inside an argument does not end the line; CRLF and bare LF end it (each line
    is one command, answered in order)."""
    s.put("victim-cr.txt", b"victim\n")
    s.put("victim-lf.txt", b"victim-lf\n", keep=False)
    sync_cmd, marker = sync_file(s)
    c = s.session()
    # Bare CR inside the argument: one command naming `victim-cr.txt\rDELE victim-cr.txt`.
    c.send_raw(b"SIZE nothing\rDELE victim-cr.txt\r\n")
    c.expect_reply("SIZE with a bare CR inside", [550])
    c.send(sync_cmd)
    check(replies_until(c, marker) == [], "a bare CR split the line\n" + c.dump())
    check(s.disk("victim-cr.txt") == b"victim\n", "a bare CR in an argument ran DELE")
    # CRLF inside what a naive client thinks is one argument: two commands, two replies
    # in order (this is what FTP means), the session stays in step.
    c.send_raw(b"SIZE nothing\r\nSIZE probe.bin\r\n")
    c.expect_reply("SIZE nothing", [550])
    code, text = c.expect_reply("SIZE probe.bin (second line)", [213])
    check(text == f"213 {PROBE_SIZE}", f"SIZE probe.bin -> {text!r}")
    # Bare LF ends a line too.
    c.send_raw(b"SIZE nothing\nDELE victim-lf.txt\r\n")
    c.expect_reply("SIZE nothing (bare LF)", [550])
    c.expect_reply("DELE after a bare LF", [250])
    # RETR with an injected command (the example of the issue).
    c.pasv()
    c.send_raw(b"RETR nothing.txt\r\nDELE victim-none.txt\r\n")
    c.expect_reply("RETR nothing.txt", [550])
    c.expect_reply("DELE victim-none.txt", [550])
    # A reply never carries a raw CR or LF from a name (no forged reply lines).
    code, text = c.cmd("MKD a\r227 forged (127,0,0,1,4,1)")
    check(code in (257, 501, 550, 553), f"MKD with a CR -> {text!r}")
    check("\n" not in text and "\r" not in text, f"reply with a raw CR/LF: {text!r}")
    c.send(sync_cmd)
    check(replies_until(c, marker) == [], "extra replies after MKD with a CR\n" + c.dump())
    c.expect("QUIT", [221])


def case_iac_injection(s):
    data = s.put("iac.bin", data_bytes("iac", 1234))
    sync_cmd, marker = sync_file(s)
    c = s.session()
    # IAC IP IAC DM before a command; IAC NOP inside an argument; IAC WILL/DO options.
    for raw in [b"\xff\xf4\xff\xf2SIZE iac.bin", b"SIZE i\xff\xf1ac.bin",
                b"\xff\xfb\x01\xff\xfd\x03SIZE iac.bin", b"SIZE iac\xff\xfa\x18\x01\xff\xf0.bin",
                b"SI\xff\xf4ZE iac.bin"]:
        c.send_raw(raw + b"\r\n")
        c.expect_reply(f"{raw!r}", [213])
        c.send(sync_cmd)
        check(replies_until(c, marker) == [], f"extra replies after {raw!r}\n" + c.dump())
    # IAC IAC is one 0xFF byte: a non-UTF-8 name is refused (501) or created with one 0xFF,
    # never with two.
    c.send_raw(b"MKD iac\xff\xffdir\r\n")
    c.expect_reply("MKD with IAC IAC", [257, 501, 550, 553])
    # IAC IAC inside an injected command.
    c.send_raw(b"SIZE x\xff\xff\r\nDELE iac.bin\xff\xff\r\n")
    c.expect_reply("SIZE x IAC IAC", [501, 550])
    c.expect_reply("DELE iac.bin IAC IAC", [501, 550])
    # An IAC just before the line end, and a truncated IAC SB never closed on that line.
    c.send_raw(b"NOOP\xff\r\n")
    c.send(sync_cmd)
    codes = replies_until(c, marker)
    check(all(x in (200, 500) for x in codes), f"NOOP IAC CR LF -> {codes}\n" + c.dump())
    c.send_raw(b"NOOP\xff\xfa\r\n")
    c.send_raw(b"\xff\xf0\r\n")
    c.send(sync_cmd)
    replies_until(c, marker, limit=5)
    names = os.listdir(s.root)
    check(not any(b"\xff\xff" in os.fsencode(n) for n in names),
          f"IAC IAC was not collapsed in a name: {names}")
    check(s.disk("iac.bin") == data, "iac.bin changed")
    c.expect("QUIT", [221])


MAX_LINE = 8192


def case_overlong_lines(s):
    sync_cmd, marker = sync_file(s)
    # Before login (cleartext in plain mode, over TLS in tls mode).
    c = s.conn()
    c.send_raw(b"USER " + b"a" * 9000 + b"\r\n")
    c.expect_reply("9005-byte USER", [500])
    c.expect("NOOP", [200])
    c.login()
    # Just under / at the limit: processed as a command (550, no such file).
    for total in (MAX_LINE - 1, MAX_LINE):
        line = b"SIZE " + b"n" * (total - 5)
        c.send_raw(line + b"\r\n")
        code, text = c.reply()
        check(code in (550, 553), f"{total}-byte SIZE line -> {text[:80]!r}, expected a "
              "normal answer (550), not a line-length refusal")
    # Just over the limit, and far over it in pieces, and 1 MiB with no line end at all
    # until the end: 500 and the session goes on.
    for total in (MAX_LINE + 1, MAX_LINE + 2, 64 * 1024):
        c.send_raw(b"SIZE " + b"o" * (total - 5) + b"\r\n")
        c.expect_reply(f"{total}-byte SIZE line", [500])
    c.send_raw(b"DELE ")
    chunk = b"z" * 65536
    for _ in range(16):
        c.send_raw(chunk)
    c.send_raw(b"\r\n")
    c.expect_reply("1 MiB DELE line", [500])
    c.send(sync_cmd)
    check(replies_until(c, marker) == [], "extra replies after overlong lines\n" + c.dump())
    # A long line whose tail looks like a command is not executed.
    s.put("long-victim.txt", b"victim\n")
    c.send_raw(b"NOOP " + b"p" * (MAX_LINE + 10) + b"\rDELE long-victim.txt\r\n")
    c.expect_reply("overlong line with an embedded DELE", [500])
    c.expect("NOOP", [200])
    check(s.disk("long-victim.txt") == b"victim\n", "the tail of an overlong line ran")
    c.expect("QUIT", [221])


def case_http_request(s):
    """An HTTP request on the control port: 500-class replies, then closed or alive."""
    for req in [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                b"Content-Length: 29\r\n\r\nfield1=value1&field2=value2\r\n",
                b"CONNECT 127.0.0.1:22 HTTP/1.1\r\n\r\n"]:
        c = s.conn(auth=False)
        check(c.greeting[0] == 220, f"greeting {c.greeting}")
        c.send_raw(req)
        try:
            first = [c.reply()[0]]
        except Closed:
            first = []
        closed, codes = c.closed_within(1.5)
        codes = first + codes
        check(codes, f"no reply to {req[:20]!r}\n" + c.dump())
        bad = [x for x in codes if not (500 <= x <= 599 or x == 421)]
        check(not bad, f"{req[:20]!r} -> {codes}, expected 5xx replies (or 421)\n" + c.dump())
        if not closed:
            c.expect("NOOP", [200])
        c.close()


def case_starttls_injection(s):
    """`AUTH TLS` with cleartext commands pipelined in the same segment (tls mode)."""
    c = s.conn(auth=False)
    c.send_raw(f"AUTH TLS\r\nUSER {s.user}\r\nPASS {s.password}\r\nMKD injected\r\n"
               .encode())
    c.expect_reply("AUTH TLS", [234])
    try:
        c.start_tls()
    except (ssl.SSLError, OSError, Closed):
        # Closing the connection is an acceptable answer to injected cleartext.
        check(not os.path.exists(os.path.join(s.root, "injected")), "MKD injected ran")
        return
    code, text = c.cmd("NOOP")
    check(code == 200, f"first reply over TLS -> {text!r}: not the answer to NOOP\n"
          + c.dump())
    c.expect("PWD", [530])
    check(not os.path.exists(os.path.join(s.root, "injected")), "MKD injected ran")
    c.close()
    # Cleartext USER before AUTH under --tls required, pipelined with AUTH after it.
    c = s.conn(auth=False)
    c.send_raw(f"USER {s.user}\r\nAUTH TLS\r\n".encode())
    c.expect_reply("cleartext USER under --tls required", [530, 534])
    c.expect_reply("AUTH TLS", [234])
    c.start_tls()
    c.expect("PWD", [530])
    c.login()
    c.expect("QUIT", [221])


def case_ccc_refused(s):
    """CCC without --allow-ccc: refused (534 on TLS, 533 without TLS), session goes on
    (still over TLS in tls mode)."""
    c = s.conn()
    c.expect("CCC", [533, 534])
    c.login()
    c.expect("CCC", [534] if s.tls else [533])
    c.expect("NOOP", [200])
    code, data, final = c.retr("probe.bin")
    check(code == 150 and final == 226 and data == s.probe, "RETR after refused CCC")
    c.expect("QUIT", [221])


# ====================================================================== group: transfers


def case_rest_retr_past_end(s):
    data = s.put("rest.bin", data_bytes("rest", 1000))
    c = s.session()
    for rest in (1001, 5000, 2 ** 40, 2 ** 63, 2 ** 64 - 1):
        code, got, final = c.retr("rest.bin", rest=rest)
        check(code == 554, f"REST {rest} + RETR of a 1000-byte file -> {code}, expected 554")
    code, got, final = c.retr("rest.bin", rest=1000)
    check(code == 150 and got == b"" and final == 226, f"REST 1000 (= size) + RETR -> "
          f"{code}/{final}, {len(got or b'')} bytes; expected an empty transfer")
    code, got, final = c.retr("rest.bin", rest=999)
    check(code == 150 and got == data[999:] and final == 226, "REST 999 + RETR")
    for bad in ("-1", "abc", "18446744073709551616", ""):
        c.expect(f"REST {bad}".rstrip(), [501])
    c.expect("NOOP", [200])
    c.expect("QUIT", [221])


def case_rest_stor_past_end(s):
    """REST beyond the size then STOR: Ferry overwrites in place from the offset and the
    gap reads as zeros (local.rs `WriteMode::At`). Offsets no file can have (past what
    lseek accepts) are refused with 554 and the file unchanged; REST + STOR of a missing
    file is 550."""
    orig = data_bytes("reststor", 1000)
    s.put("reststor.bin", orig, keep=False)
    new = data_bytes("reststor-new", 100)
    c = s.session()
    code, final = c.stor("reststor.bin", new, rest=5000)
    check(code == 150 and final == 226, f"REST 5000 + STOR -> {code}/{final}")
    want = orig + b"\0" * 4000 + new
    check(s.disk("reststor.bin") == want, "REST 5000 + STOR: the file is not old + 4000 "
          f"zeros + new ({len(s.disk('reststor.bin') or b'')} bytes)")
    s.keep["reststor.bin"] = sha(want)
    for rest in (2 ** 63, 2 ** 64 - 1):
        code, final = c.stor("reststor.bin", new, rest=rest)
        check(code == 554, f"REST {rest} + STOR -> {code}/{final}: expected 554")
        check(s.disk("reststor.bin") == want, f"REST {rest} + STOR changed the file")
    # REST + STOR on a file that does not exist.
    code, final = c.stor("reststor-none.bin", new, rest=10)
    check(code == 550, f"REST + STOR of a new file -> {code}/{final}, expected 550")
    c.expect("NOOP", [200])
    c.expect("QUIT", [221])


def case_concurrent_stor(s):
    """10 clients STOR different contents to one name at once: the result is exactly one
    of the uploads that got 226 (first round: the name is new; second: it exists)."""
    for rnd in range(2):
        name = "same.bin"
        uploads = [data_bytes(f"same-{rnd}-{i}", 200_000 + i * 37_001) for i in range(10)]
        results = [None] * 10
        conns = [s.session() for _ in range(10)]
        addrs = [c.pasv() for c in conns]
        barrier = threading.Barrier(10, timeout=30)

        def worker(i):
            c = conns[i]
            try:
                d = socket.create_connection(addrs[i], timeout=TIMEOUT)
                barrier.wait()
                code, text = c.cmd(f"STOR {name}")
                if code not in (125, 150):
                    d.close()
                    results[i] = (code, None)
                    return
                d = c.wrap(d)
                # In 8 pieces with pauses, so the ten uploads overlap.
                piece = len(uploads[i]) // 8 + 1
                for k in range(0, len(uploads[i]), piece):
                    d.sendall(uploads[i][k:k + piece])
                    time.sleep(0.02)
                end_data(d)
                final, _ = c.reply()
                results[i] = (code, final)
            except Exception as e:  # reported below
                results[i] = ("error", repr(e))

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for c in conns:
            c.close()
        check(all(not t.is_alive() for t in threads), "a concurrent STOR hung")
        ok = [i for i, r in enumerate(results) if r == (150, 226) or r == (125, 226)]
        check(ok, f"round {rnd}: no concurrent STOR succeeded: {results}")
        bad = [r for r in results if r not in ((150, 226), (125, 226))
               and not (isinstance(r[0], int) and r[0] in (450, 550))
               and r[1] not in (426, 450, 451)]
        check(not bad, f"round {rnd}: unexpected results {results}")
        got = s.disk(name)
        check(got is not None, f"round {rnd}: {name} missing")
        match = [i for i in ok if uploads[i] == got]
        check(match, f"round {rnd}: {name} ({len(got)} bytes) is none of the successful "
              f"uploads: a mix? results {results}")
        time.sleep(0.3)
    s.keep["same.bin"] = sha(s.disk("same.bin"))


def start_big_download(c, name):
    addr = c.pasv()
    d = socket.create_connection(addr, timeout=TIMEOUT)
    c.expect(f"RETR {name}", [150, 125])
    d = c.wrap(d)
    got = 0
    for _ in range(1000):
        got += len(d.recv(65536))
        if got >= 64 * 1024:
            break
    return d


def case_reset_mid_download(s):
    s.put("big.bin", data_bytes("big", 8 << 20))
    # Data connection reset, control stays: 426 (or 451), then the session goes on.
    c = s.session()
    d = start_big_download(c, "big.bin")
    reset(d)
    c.expect_reply("RETR after the data connection was reset", [426, 451])
    c.expect("NOOP", [200])
    code, data, final = c.retr("probe.bin")
    check(code == 150 and final == 226 and data == s.probe, "RETR after a reset download")
    c.close()
    # Both connections reset.
    c = s.session()
    d = start_big_download(c, "big.bin")
    reset(d)
    reset(c.sock)
    time.sleep(0.5)


def case_reset_mid_upload(s):
    original = s.put("replace.bin", data_bytes("replace", 1 << 20))
    # Replacing an existing file, data connection reset: 426/451, the file is intact.
    for both in (False, True):
        c = s.session()
        addr = c.pasv()
        d = socket.create_connection(addr, timeout=TIMEOUT)
        c.expect("STOR replace.bin", [150, 125])
        d = c.wrap(d)
        d.sendall(data_bytes("partial", 256 * 1024))
        time.sleep(0.2)
        reset(d)
        if both:
            reset(c.sock)
        else:
            c.expect_reply("STOR after the data connection was reset", [426, 451])
            c.expect("NOOP", [200])
            c.close()
        time.sleep(0.5)
        check(s.disk("replace.bin") == original,
              f"a reset STOR (control {'reset' if both else 'kept'}) changed replace.bin")
    # A new file: kept as a prefix of what was sent (Ferry's rule, for REST/APPE resume)
    # or removed; never anything else.
    fresh = data_bytes("fresh", 300 * 1024)
    c = s.session()
    addr = c.pasv()
    d = socket.create_connection(addr, timeout=TIMEOUT)
    c.expect("STOR fresh.bin", [150, 125])
    d = c.wrap(d)
    d.sendall(fresh)
    time.sleep(0.2)
    reset(d)
    c.expect_reply("STOR of a new file after a reset", [426, 451])
    time.sleep(0.3)
    got = s.disk("fresh.bin")
    check(got is None or fresh.startswith(got),
          f"interrupted new upload left {len(got or b'')} bytes that are not a prefix")
    c.expect("NOOP", [200])
    c.close()
    # Deadline: give the server time to clean up temporaries before the runner's checks.
    for _ in range(50):
        if not any(n.startswith(".ferry-upload-") for n in os.listdir(s.root)):
            break
        time.sleep(0.1)


# ====================================================================== group: readonly


def case_stor_read_only_account(s):
    orig = s.put("ro-target.txt", b"read-only target\n")
    c = s.session(s.ro_user, s.ro_password)
    code, data, final = c.retr("ro-target.txt")
    check(code == 150 and data == orig, "a read-only account can download")
    for verb, name in [("STOR", "ro-new.txt"), ("STOR", "ro-target.txt"),
                       ("APPE", "ro-target.txt"), ("APPE", "ro-new.txt"),
                       ("STOU", "")]:
        code, final = c.stor(name, b"should not land\n", verb=verb)
        check(code == 550, f"read-only {verb} {name} -> {code}, expected 550")
    for cmd in ["DELE ro-target.txt", "RNFR ro-target.txt", "MKD ro-dir", "RMD sub",
                "SITE CHMOD 777 ro-target.txt", "MFMT 20200101000000 ro-target.txt"]:
        code, text = c.cmd(cmd)
        check(code in (550, 502, 504), f"read-only {cmd} -> {text!r}")
    check(not os.path.exists(os.path.join(s.root, "ro-new.txt")), "ro-new.txt created")
    check(not os.path.exists(os.path.join(s.root, "ro-dir")), "ro-dir created")
    c.expect("QUIT", [221])
    # The same through ftplib.
    f = s.ftp(s.ro_user, s.ro_password)
    try:
        try:
            f.storbinary("STOR ro-ftplib.txt", io.BytesIO(b"x"))
            raise Failure("ftplib STOR as a read-only user succeeded")
        except all_errors as e:
            check(str(e).startswith("550"), f"ftplib STOR as read-only -> {e}")
        f.quit()
    finally:
        f.close()


# ====================================================================== group: dirperms


def dirperms_setup(s):
    s.put("ro/existing.bin", b"in the read-only dir\n")
    s.put("ro/sub/deep.bin", b"deep in the read-only dir\n")
    s.put("rw/mine.txt", b"in the writable dir\n", keep=False)
    link = os.path.join(s.root, "rw", "to-ro")
    if not os.path.lexists(link):
        os.symlink("../ro", link)


def case_dir_rule_stor(s):
    dirperms_setup(s)
    c = s.session()
    code, data, final = c.retr("/ro/existing.bin")
    check(code == 150 and data == b"in the read-only dir\n", "RETR in the read-only dir")
    code, listing = c.list("/ro")
    check(listing is not None and "existing.bin" in listing, "LIST of the read-only dir")
    for verb, path in [("STOR", "/ro/new.bin"), ("STOR", "/ro/existing.bin"),
                       ("APPE", "/ro/existing.bin"), ("STOR", "/ro/sub/new.bin"),
                       ("STOR", "ro/new.bin"), ("STOR", "/rw/../ro/new.bin"),
                       ("STOR", "//ro/new.bin"), ("STOR", "/ro/./new.bin")]:
        code, final = c.stor(path, b"should not land\n", verb=verb)
        check(code == 550, f"{verb} {path} under a list+read rule -> {code}, expected 550")
    c.expect("CWD /ro", [250])
    code, final = c.stor("cwd-new.bin", b"x")
    check(code == 550, f"STOR after CWD /ro -> {code}")
    code, final = c.stor("", b"x", verb="STOU")
    check(code == 550, f"STOU in /ro -> {code}")
    for cmd in ["DELE existing.bin", "MKD newdir", "RMD sub", "DELE /ro/sub/deep.bin"]:
        c.expect(cmd, [550])
    c.expect("CWD /rw", [250])
    code, final = c.stor("ok.bin", b"writable\n")
    check(code == 150 and final == 226, f"STOR in the writable dir -> {code}/{final}")
    check(not os.path.exists(os.path.join(s.root, "ro", "new.bin")), "ro/new.bin created")
    c.expect("QUIT", [221])


def case_dir_rule_rename_protected_dir(s):
    """The read-only directory itself cannot be renamed away (its files would then be
    writable under the new name, outside the rule)."""
    dirperms_setup(s)
    c = s.session()
    try:
        code, text = c.cmd("RNFR /ro")
        if code == 350:
            c.expect("RNTO /rw/stolen-ro", [550])
        else:
            check(code == 550, f"RNFR /ro -> {text!r}")
        c.expect("RMD /ro", [550])
    finally:
        stolen = os.path.join(s.root, "rw", "stolen-ro")
        if os.path.isdir(stolen) and not os.path.exists(os.path.join(s.root, "ro")):
            os.rename(stolen, os.path.join(s.root, "ro"))
    check(s.disk("ro/existing.bin") == b"in the read-only dir\n", "ro/existing.bin moved")
    c.expect("QUIT", [221])


def case_dir_rule_rename(s):
    dirperms_setup(s)
    s.put("rw/move-me.txt", b"move me\n", keep=False)
    c = s.session()
    # Into the read-only dir.
    c.expect("RNFR /rw/move-me.txt", [350])
    c.expect("RNTO /ro/move-me.txt", [550])
    check(s.disk("rw/move-me.txt") == b"move me\n", "the refused RNTO moved the file")
    check(s.disk("ro/move-me.txt") is None, "the refused RNTO created ro/move-me.txt")
    # Out of the read-only dir.
    code, text = c.cmd("RNFR /ro/existing.bin")
    if code == 350:
        c.expect("RNTO /rw/existing.bin", [550])
    else:
        check(code == 550, f"RNFR in the read-only dir -> {text!r}")
    # Within the read-only dir, and over a file in it.
    code, text = c.cmd("RNFR /ro/existing.bin")
    if code == 350:
        c.expect("RNTO /ro/renamed.bin", [550])
    c.expect("RNFR /rw/move-me.txt", [350])
    c.expect("RNTO /ro/existing.bin", [550])
    check(s.disk("ro/existing.bin") == b"in the read-only dir\n", "ro/existing.bin changed")
    check(s.disk("rw/existing.bin") is None, "ro/existing.bin was moved out")
    check(s.disk("rw/move-me.txt") == b"move me\n", "rw/move-me.txt changed")
    # A rename within the writable dir works.
    c.expect("RNFR /rw/move-me.txt", [350])
    c.expect("RNTO /rw/moved.txt", [250])
    c.expect("QUIT", [221])


# ====================================================================== group: floods


def expect_disconnect_after(c, send_one, n, what):
    """Sends `n` bad commands one at a time: each of the first n-1 gets its own reply, the
    n-th gets its reply and 421, then the connection closes (within 5 s)."""
    for i in range(1, n + 1):
        send_one(i)
        code, text = c.reply()
        if i < n:
            check(code in (500, 501, 502, 503, 530),
                  f"{what} #{i} -> {text!r}, expected a 5xx refusal\n" + c.dump())
            continue
        codes = [code]
        closed, more = c.closed_within(5)
        codes += more
        check(421 in codes, f"{what} #{n} (one past --max-bad-commands) -> {codes}, "
              "expected 421\n" + c.dump())
        check(closed, f"{what}: still open 5 s after 421\n" + c.dump())


def poll_connect(s, seconds):
    """A new connection that gets 220, polling while the server frees slots."""
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            c = s.conn(auth=False)
            if c.greeting[0] == 220:
                return c
            last = c.greeting
            c.close()
        except (OSError, Closed, Failure) as e:
            last = repr(e)
        time.sleep(0.2)
    raise Failure(f"no 220 within {seconds} s: last {last}")


def case_unknown_commands(s):
    """21 unknown commands before login (--max-bad-commands 20): 421 and close."""
    c = s.conn()
    expect_disconnect_after(c, lambda i: c.send(f"XYZZY{i}"), 21, "unknown command")
    c.close()
    if s.tls:
        # The same in cleartext, before AUTH TLS.
        c = s.conn(auth=False)
        expect_disconnect_after(c, lambda i: c.send(f"XYZZY{i}"), 21,
                                "unknown command in cleartext")
        c.close()
    poll_connect(s, 5).close()


def case_prelogin_flood(s):
    """Commands that need a login, PASS before USER, pipelined: 530/503 until the cap,
    then 421 and close; nothing after the 421 is answered."""
    c = s.conn()
    burst = b"".join(f"RETR x{i}\r\nPASS p{i}\r\nLIST\r\n".encode() for i in range(30))
    c.send_raw(burst)
    closed, codes = c.closed_within(10)
    check(closed, f"still open after 90 pipelined bad commands: {codes}\n" + c.dump())
    check(codes.count(421) == 1 and codes[-1] == 421,
          f"replies {codes}: expected refusals then one 421, the last reply")
    refusals = codes[:-1]
    check(all(x in (503, 530) for x in refusals), f"refusals {refusals}")
    check(len(refusals) == 21, f"{len(refusals)} refusals before 421, expected 21 "
          "(--max-bad-commands 20, one more closes)")
    c.close()
    # A flood of valid pre-login commands (NOOP) is answered or closed in bounded time.
    c = s.conn()
    c.send_raw(b"NOOP\r\n" * 2000)
    closed, codes = False, []
    deadline = time.monotonic() + 15
    while len(codes) < 2000 and time.monotonic() < deadline:
        try:
            codes.append(c.reply()[0])
        except Closed:
            closed = True
            break
    check(all(x in (200, 421) for x in codes), f"NOOP flood replies {set(codes)}")
    check(closed or len(codes) == 2000, f"NOOP flood: {len(codes)} of 2000 answered, open")
    if not closed:
        c.login()
        c.expect("QUIT", [221])
    c.close()
    poll_connect(s, 5).close()


def case_idle_flood(s):
    """--max-sessions-per-ip N idle connections; the next gets 421 with a reason; after
    closing them, connecting works again."""
    n = s.limit
    conns = []
    try:
        for i in range(n):
            c = s.conn(auth=False)
            check(c.greeting[0] == 220, f"idle connection #{i + 1} of {n} -> {c.greeting}")
            conns.append(c)
        if s.tls:
            # Some of them on TLS (no login).
            for c in conns[: n // 2]:
                c.auth()
        extra = s.conn(auth=False, greet=False)
        try:
            code, text = extra.reply()
        except Closed:
            raise Failure(f"connection #{n + 1} from one address closed without a 421")
        check(code == 421, f"connection #{n + 1} (over --max-sessions-per-ip {n}) -> "
              f"{text!r}, expected 421")
        check(len(text[4:].strip()) >= 5, f"421 without a reason: {text!r}")
        closed, _ = extra.closed_within(5)
        check(closed, "still open 5 s after the 421")
        extra.close()
        # Still refused while they are open.
        again = s.conn(auth=False, greet=False)
        try:
            code, text = again.reply()
        except Closed:
            code, text = None, "closed"
        check(code == 421, f"connection #{n + 2} -> {text!r}")
        again.close()
        # The held sessions still work (conns[0] is on TLS in tls mode).
        conns[0].login()
        conns[0].expect("NOOP", [200])
    finally:
        for c in conns:
            c.close()
    c = poll_connect(s, 10)
    c.close()


def case_connection_flood(s):
    """200 connections at once: each gets 220 or 421 within a bounded time, no hang."""
    count = 200
    results = [None] * count
    socks = [None] * count
    barrier = threading.Barrier(count, timeout=30)

    def one(i):
        sock = socket.socket()
        sock.settimeout(20)
        socks[i] = sock
        try:
            barrier.wait()
            sock.connect((s.host, s.port))
            buf = b""
            for _ in range(100):
                chunk = sock.recv(1024)
                if not chunk:
                    break
                buf += chunk
                if b"\n" in buf:
                    break
            results[i] = buf[:3].decode("ascii", "replace") or "closed"
        except socket.timeout:
            results[i] = "timeout"
        except OSError as e:
            results[i] = f"error {e.errno}"

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    took = time.monotonic() - started
    for sock in socks:
        quiet_close(sock)
    check(all(not t.is_alive() for t in threads), "connections still waiting after 40 s")
    tally = {}
    for r in results:
        tally[r] = tally.get(r, 0) + 1
    check(set(tally) <= {"220", "421"}, f"200 connections at once: {tally}; every one must "
          f"get 220 or 421 (took {took:.1f} s)")
    check(took < 30, f"200 connections took {took:.1f} s")
    print(f"   connection flood: {tally} in {took:.1f} s", flush=True)
    poll_connect(s, 10).close()


# ====================================================================== group: slowloris


def dripped_hello(s):
    """A connection after AUTH TLS's 234, with the bytes of a ClientHello to drip."""
    h = s.conn(auth=False)
    h.expect("AUTH TLS", [234])
    bio_in, bio_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = tls_context().wrap_bio(bio_in, bio_out, server_hostname=s.host)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return h, bio_out.read()


def drip(s, drips):
    """Drips each (name, connection, bytes) one byte per 0.3 s until the server closes
    it: every one must be closed within --login-timeout plus slack, while another client
    logs in and downloads probe.bin intact."""
    limit = s.login_timeout
    started = time.monotonic()
    closed_at = {}
    served = False
    deadline = started + limit + 12
    step = 0
    while time.monotonic() < deadline and len(closed_at) < len(drips):
        for name, conn, data in drips:
            if name in closed_at:
                continue
            byte = data[step % len(data): step % len(data) + 1]
            try:
                conn.sock.sendall(byte)
                conn.sock.settimeout(0.01)
                try:
                    got = conn.sock.recv(4096)
                    if not got:
                        closed_at[name] = time.monotonic() - started
                except (socket.timeout, ssl.SSLWantReadError):
                    pass
                finally:
                    conn.sock.settimeout(TIMEOUT)
            except (OSError, ssl.SSLError):
                closed_at[name] = time.monotonic() - started
        step += 1
        if not served and time.monotonic() - started > 1:
            # Meanwhile others are served: login, transfer, hash.
            f = s.ftp()
            chunks = []
            f.retrbinary("RETR probe.bin", chunks.append)
            check(b"".join(chunks) == s.probe, "download during slowloris")
            f.quit()
            f.close()
            served = True
        time.sleep(0.3)
    for _, conn, _ in drips:
        conn.close()
    open_ones = [name for name, _, _ in drips if name not in closed_at]
    check(not open_ones, f"dripping connections still open {limit + 12} s after connect "
          f"(--login-timeout {limit}): {open_ones}; closed: {closed_at}")
    late = {k: round(v, 1) for k, v in closed_at.items() if v > limit + 8}
    check(not late, f"closed too late (--login-timeout {limit}): {late}")
    check(served, "no client was served meanwhile")
    print(f"   slowloris closed after: { {k: round(v, 1) for k, v in closed_at.items()} }",
          flush=True)


def case_slowloris(s):
    """Command lines dripped a byte at a time, before login (cleartext; in tls mode also
    over TLS, one record per byte)."""
    payload = f"USER {s.user}\r\n".encode() * 100
    drips = [("cleartext USER", s.conn(auth=False), payload)]
    if s.tls:
        drips.append(("USER over TLS", s.conn(), payload))
    drip(s, drips)


def case_slowloris_tls_handshake(s):
    """A ClientHello dripped after AUTH TLS (tls mode): the login timeout covers the
    handshake too."""
    h, hello = dripped_hello(s)
    drip(s, [("ClientHello", h, hello)])


def case_login_timeout_idle(s):
    """A connection that says nothing after the greeting is closed after --login-timeout."""
    started = time.monotonic()
    c = s.conn()
    closed, codes = c.closed_within(s.login_timeout + 10)
    took = time.monotonic() - started
    check(closed, f"silent connection still open {took:.1f} s after connect "
          f"(--login-timeout {s.login_timeout})")
    check(all(x == 421 for x in codes), f"replies before close: {codes}")
    c.close()


# ====================================================================== group: bruteforce


def case_brute_force(s):
    """--ban-after 5 --login-fail-delay 0: after 5 failed logins from 127.0.0.1 the address
    is banned (a new connection is refused or closed, even with the right password), while
    127.0.0.2 is still served."""
    s.alive_source = OTHER_IP
    fails = 0
    attempts = [(s.user, "wrong1"), (s.user, "wrong2"), ("nosuchuser", "x"),
                (s.user, "wrong3")]
    c = s.conn()
    for user, pw in attempts[:2]:
        c.expect(f"USER {user}", [331])
        c.expect(f"PASS {pw}", [530])
        fails += 1
    c.close()
    c = s.conn()
    for user, pw in attempts[2:]:
        c.expect(f"USER {user}", [331])
        c.expect(f"PASS {pw}", [530])
        fails += 1
    c.close()
    # 4 failures: not banned yet.
    c = s.conn()
    check(c.greeting[0] == 220, f"after 4 failures: {c.greeting}")
    c.expect(f"USER {s.user}", [331])
    code, text = c.cmd("PASS wrong5")
    check(code == 530 or code == 421, f"5th failed PASS -> {text!r}")
    c.close()
    # Banned now: a new connection gets no usable session.
    for attempt in range(2):
        try:
            b = s.conn(auth=False, greet=False)
        except OSError:
            continue  # refused: fine
        try:
            code, text = b.reply()
        except (Closed, socket.timeout):
            b.close()
            continue
        check(code != 220, f"banned address greeted with {text!r} (attempt {attempt + 1})")
        check(code == 421, f"banned address -> {text!r}, expected 421 or a close")
        closed, _ = b.closed_within(5)
        check(closed, "banned connection still open 5 s after 421")
        b.close()
    # The right password does not help.
    try:
        f = s.ftp()
        f.close()
        raise Failure("a banned address logged in with the right password")
    except all_errors:
        pass
    # Another address is served (the runner's alive check also comes from 127.0.0.2).
    c = s.session(source=OTHER_IP)
    c.expect("NOOP", [200])
    c.close()


# ====================================================================== group: tlspolicy


def case_prot_c_after_prot_p(s):
    """--tls-data required: PROT P works; PROT C is refused (534) and the level stays P;
    a client that connects in clear anyway gets no plaintext and the session goes on."""
    data = s.put("prot.bin", data_bytes("prot", 200_000))
    c = s.session()
    code, got, final = c.retr("prot.bin")
    check(code == 150 and final == 226 and got == data, "PROT P RETR")
    c.expect("PROT C", [534])
    # The level is still P: a TLS transfer works.
    code, got, final = c.retr("prot.bin")
    check(code == 150 and final == 226 and got == data, "RETR after refused PROT C")
    # A client ignoring the 534 and talking clear on the data connection: no file bytes
    # in clear; the transfer fails; the session goes on.
    addr = c.pasv()
    d = socket.create_connection(addr, timeout=TIMEOUT)
    code, text = c.cmd("RETR prot.bin")
    if code in (125, 150):
        raw = read_some(d, 2)
        check(data[:64] not in raw, "file bytes in clear on the data connection")
        d.close()
        c.expect_reply("RETR with a clear data connection", [425, 426, 451, 522])
    else:
        d.close()
        check(code in (521, 522, 534), f"RETR -> {text!r}")
    addr = c.pasv()
    d = socket.create_connection(addr, timeout=TIMEOUT)
    code, text = c.cmd("STOR prot-clear.bin")
    if code in (125, 150):
        try:
            d.sendall(b"clear upload data\n" * 100)
        except OSError:
            pass
        d.close()
        c.expect_reply("STOR with a clear data connection", [425, 426, 451, 522])
    else:
        d.close()
    got = s.disk("prot-clear.bin")
    check(not got, f"a clear upload was stored ({len(got or b'')} bytes)")
    c.expect("NOOP", [200])
    c.close()
    # A session that never sent PROT: 521 for every transfer.
    c = s.conn()
    c.expect(f"USER {s.user}", [331])
    c.expect(f"PASS {s.password}", [230])
    c.pasv()
    c.expect("RETR prot.bin", [521])
    c.pasv()
    c.expect("LIST", [521])
    c.expect("QUIT", [221])


def ccc_session(s):
    """A logged-in TLS session (PROT P) that just got 200 for CCC."""
    c = s.conn()
    c.expect("CCC", [503])  # before login
    c.login()
    c.expect("CCC", [200])
    check(c.buf == b"", "data after the CCC reply before the TLS shutdown")
    return c


def ccc_unwrap(c):
    try:
        c.sock = c.sock.unwrap()
    except (ssl.SSLError, OSError) as e:
        raise Failure(f"TLS shutdown after CCC failed: {e!r}\n" + c.dump())
    c.tls = False
    c.sock.settimeout(TIMEOUT)


def case_ccc_allowed(s):
    """--allow-ccc: after login, CCC -> 200, close_notify both ways, the control
    connection goes on in clear, data stays protected (PROT P)."""
    data = s.put("ccc.bin", data_bytes("ccc", 150_000))
    c = ccc_session(s)
    ccc_unwrap(c)
    time.sleep(0.3)  # see case_ccc_cleartext_with_close_notify for sending at once
    c.expect("NOOP", [200])
    c.expect("PWD", [257])
    code, got, final = c.retr("ccc.bin")
    check(code == 150 and final == 226 and got == data, "PROT P RETR after CCC")
    c.expect("AUTH TLS", [503, 534])
    c.expect("QUIT", [221])


def case_ccc_cleartext_with_close_notify(s):
    """After CCC, our close_notify and the first cleartext command leave in one TCP
    segment (corked), as they may from any client that sends right after the TLS
    shutdown: the server must not lose the cleartext bytes that came with the
    close_notify."""
    c = ccc_session(s)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    ccc_unwrap(c)
    c.send("NOOP")
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
    try:
        c.expect_reply("NOOP sent in cleartext with our close_notify after CCC", [200])
    except socket.timeout:
        raise Failure("no reply to a cleartext NOOP sent in the same TCP segment as our "
                      "close_notify after CCC: the server lost it\n" + c.dump())
    c.expect("QUIT", [221])


# ====================================================================== runner

GROUPS = {
    "bounce": [case_port_foreign_address, case_port_privileged_and_zero, case_port_malformed,
               case_port_legit_after_refusals, case_pasv_theft_download,
               case_pasv_theft_upload],
    "paths": [case_traversal_retr, case_traversal_cwd, case_traversal_list,
              case_traversal_stor, case_traversal_dele, case_traversal_rnfr_rnto,
              case_nul_bytes],
    "lines": [case_crlf_injection, case_iac_injection, case_overlong_lines,
              case_http_request, case_starttls_injection, case_ccc_refused],
    "transfers": [case_rest_retr_past_end, case_rest_stor_past_end, case_concurrent_stor,
                  case_reset_mid_download, case_reset_mid_upload],
    "readonly": [case_stor_read_only_account],
    # Per-directory rules apply to paths as clients name them: a symlink an admin places
    # into a protected directory is governed by the rules where the link is (README).
    "dirperms": [case_dir_rule_stor, case_dir_rule_rename, case_dir_rule_rename_protected_dir],
    "floods": [case_unknown_commands, case_prelogin_flood, case_idle_flood,
               case_connection_flood],
    "slowloris": [case_slowloris, case_slowloris_tls_handshake, case_login_timeout_idle],
    "bruteforce": [case_brute_force],
    "tlspolicy": [case_prot_c_after_prot_p, case_ccc_allowed,
                  case_ccc_cleartext_with_close_notify],
}

TLS_ONLY = {case_starttls_injection, case_slowloris_tls_handshake, case_prot_c_after_prot_p,
            case_ccc_allowed, case_ccc_cleartext_with_close_notify}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=["plain", "tls"], required=True)
    p.add_argument("--group", choices=sorted(GROUPS), required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--outside", required=True)
    p.add_argument("--user", default="alice")
    p.add_argument("--password", default="secret")
    p.add_argument("--ro-user", default="ro")
    p.add_argument("--ro-password", default="pw")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--login-timeout", type=int, default=3)
    p.add_argument("--only", default="", help="comma-separated case names (debugging)")
    args = p.parse_args()
    suite = Suite(args)
    suite.setup()
    only = {x for x in args.only.split(",") if x}
    failed = []
    ran = 0
    for case in GROUPS[args.group]:
        name = case.__name__.removeprefix("case_")
        if case in TLS_ONLY and not suite.tls:
            continue
        if only and name not in only:
            continue
        ran += 1
        label = f"{args.mode}/{args.group}/{name}"
        started = time.monotonic()
        try:
            case(suite)
        except Exception as e:  # every failure is reported, the next case runs
            failed.append(name)
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            print(f"FAIL: {label}: {detail}", flush=True)
            if not isinstance(e, Failure):
                traceback.print_exc()
        else:
            try:
                suite.alive()
                suite.intact()
            except Exception as e:
                failed.append(name)
                detail = "".join(traceback.format_exception_only(type(e), e)).strip()
                print(f"FAIL: {label}: after the case: {detail}", flush=True)
            else:
                print(f"ok: {label} ({time.monotonic() - started:.1f} s)", flush=True)
                continue
        # After a failure, still check what the failure may have broken.
        for what, fn in (("server alive", suite.alive), ("files intact", suite.intact)):
            try:
                fn()
            except Exception as e:
                print(f"FAIL: {label}: {what}: {e}", flush=True)
    if failed:
        print(f"hostile suite: {args.mode} {args.group}: {len(failed)} of {ran} cases failed: "
              f"{', '.join(failed)}", flush=True)
        sys.exit(1)
    print(f"hostile suite: {args.mode} {args.group}: all {ran} cases passed", flush=True)


if __name__ == "__main__":
    main()
