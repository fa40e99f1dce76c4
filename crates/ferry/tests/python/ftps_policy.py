#!/usr/bin/env python3
"""FTPS policy checks against `ferry serve`, over raw sockets and Python's ssl module.

Usage: ftps_policy.py HOST PORT USER PASSWORD CAFILE CHECK [IMPLICIT_PORT]

CHECK is one of:
  order           PROT/PBSZ before AUTH -> 503; after AUTH: PROT before PBSZ -> 503,
                  PBSZ 0 -> 200, PROT S/E -> 536, PROT P/C -> 200; AUTH SSL accepted.
  second-auth     a second AUTH TLS on a TLS control connection -> 503.
  injection       `AUTH TLS\\r\\nUSER ..\\r\\nPASS ..\\r\\nMKD injected\\r\\n` in one send: the
                  pipelined cleartext must not be executed (the caller checks the disk);
                  the first reply over TLS answers a command sent over TLS.
  old-tls         TLS 1.0 and 1.1 ClientHellos (explicit, and implicit when
                  IMPLICIT_PORT is given) fail the handshake; a parallel session works.
  garbage         garbage instead of a ClientHello after 234: that connection is closed,
                  a parallel session (and a new one) keeps working.
  required-login  under --tls required: USER before AUTH -> 530/534; after AUTH TLS the
                  login works and a PROT P transfer works.
  no-close-notify an upload whose TLS data stream ends with a TCP FIN but no close_notify
                  gets a 4xx reply, not 226; then a clean upload gets 226 (the caller
                  checks the stored file: its sha256 is printed as `uploaded: HASH NAME`).
  data-required   under --tls-data required: PROT C (200, or 534 refused by policy), then
                  RETR/LIST/STOR with clear data -> 521; PROT P then RETR works (sha256).
  implicit        TLS before the greeting on IMPLICIT_PORT: greeting, login, PBSZ/PROT P,
                  STOR + RETR (sha256), and AUTH TLS there -> 503.

Prints `ok: ...` lines and `ftps policy: CHECK passed`; exits 1 with a message (and the
transcript) on failure. Every socket has a timeout; every loop is bounded.

FTPS_SKIP=name,name turns named checks into warnings, only for running against a
reference server that lacks a feature, never in the Rust tests.
"""

import hashlib
import os
import re
import socket
import ssl
import sys
import threading
import time
import traceback
import warnings

from checks import Failure, make_check, data_bytes

check = make_check("FTPS_SKIP")

# TLS 1.0/1.1 are deprecated in Python's ssl: offering them is the point of one check.
warnings.filterwarnings("ignore", category=DeprecationWarning)

TIMEOUT = 15





class Closed(Exception):
    pass


class Control:
    """A control connection that reads byte by byte (nothing is buffered past a reply, so
    the socket can be wrapped in TLS right after the 234)."""

    def __init__(self, host, port, cafile, implicit=False, context=None):
        self.host = host
        self.cafile = cafile
        self.transcript = []
        self.ctx = None
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.sock.settimeout(TIMEOUT)
        self.tls = False
        if implicit:
            self.start_tls(context)
        greeting = self.reply()
        check(greeting[0] == 220, f"greeting {greeting}")

    def context(self):
        ctx = ssl.create_default_context(cafile=self.cafile)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    def start_tls(self, context=None):
        ctx = context or self.context()
        self.ctx = ctx
        self.sock = ctx.wrap_socket(self.sock, server_hostname=self.host)
        self.tls = True
        self.transcript.append(f"-- TLS {self.sock.version()}")

    def send_raw(self, data):
        self.transcript.append(f"C: {data!r}")
        self.sock.sendall(data)

    def send(self, line):
        self.send_raw(line.encode() + b"\r\n")

    def line(self):
        buf = bytearray()
        for _ in range(65536):
            try:
                b = self.sock.recv(1)
            except (ssl.SSLError, ConnectionError) as e:
                raise Closed(repr(e))
            if not b:
                raise Closed("EOF")
            buf += b
            if buf.endswith(b"\n"):
                text = buf.decode("utf-8", "replace").rstrip("\r\n")
                self.transcript.append(f"S: {text}")
                return text
        raise Failure("reply line too long")

    def reply(self):
        first = self.line()
        m = re.match(r"^(\d{3})([ -])", first + " ")
        if not m:
            raise Failure(f"not a reply: {first!r}")
        code = int(m.group(1))
        lines = [first]
        if m.group(2) == "-":
            for _ in range(10000):
                line = self.line()
                lines.append(line)
                if line.startswith(f"{code} "):
                    break
        return code, "\n".join(lines)

    def cmd(self, line):
        self.send(line)
        return self.reply()

    def expect(self, line, codes):
        code, text = self.cmd(line)
        if code not in codes:
            raise Failure(f"{line!r} -> {text!r}, expected one of {codes}\n" + self.dump())
        return text

    def auth(self):
        self.expect("AUTH TLS", [234])
        self.start_tls()

    def login(self, user, password):
        self.expect(f"USER {user}", [331, 230])
        self.expect(f"PASS {password}", [230])

    def pasv(self):
        _, text = self.cmd("PASV")
        m = re.search(r"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)", text)
        if not m:
            raise Failure(f"PASV -> {text!r}\n" + self.dump())
        n = [int(x) for x in m.groups()]
        return ".".join(map(str, n[:4])), n[4] * 256 + n[5]

    def data_connect(self, prot_p):
        host, port = self.pasv()
        s = socket.create_connection((host, port), timeout=TIMEOUT)
        s.settimeout(TIMEOUT)
        return s

    def wrap_data(self, s):
        return self.ctx.wrap_socket(s, server_hostname=self.host, session=self.sock.session)

    def dump(self):
        return "transcript:\n  " + "\n  ".join(self.transcript[-60:])

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Checks:
    def __init__(self, host, port, user, password, cafile, implicit_port):
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.cafile = cafile
        self.implicit_port = implicit_port

    def control(self, **kw):
        return Control(self.host, self.port, self.cafile, **kw)

    def tls_session(self):
        c = self.control()
        c.auth()
        c.login(self.user, self.password)
        c.expect("PBSZ 0", [200])
        c.expect("PROT P", [200])
        c.expect("TYPE I", [200])
        return c

    def retr(self, c, name):
        s = c.data_connect(True)
        code, text = c.cmd(f"RETR {name}")
        if code not in (125, 150):
            s.close()
            return code, text, None
        d = c.wrap_data(s)
        chunks = []
        for _ in range(1_000_000):
            chunk = d.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        try:
            d.unwrap()
        except (ssl.SSLError, OSError):
            pass
        d.close()
        code, text = c.reply()
        return code, text, b"".join(chunks)

    def stor(self, c, name, data, clean=True, strict_close=False):
        """STOR over a TLS data connection. clean: end it with our close_notify (else a
        bare TCP FIN). strict_close: the server must answer our close_notify with its own
        (checked strictly by ftps_ftplib.py for every transfer; here only where asked, so
        the policy checks fail for their own reasons)."""
        s = c.data_connect(True)
        code, text = c.cmd(f"STOR {name}")
        if code not in (125, 150):
            s.close()
            return code, text
        raw = socket.socket(fileno=os.dup(s.fileno()))
        d = c.wrap_data(s)
        d.sendall(data)
        if clean:
            try:
                d.unwrap()
            except ssl.SSLEOFError as e:
                if strict_close:
                    raise Failure(f"STOR {name}: the server closed the data connection "
                                  f"without answering our close_notify with its own ({e})")
            d.close()
            raw.close()
        else:
            # End the TCP stream without a close_notify: FIN from the raw descriptor
            # underneath the TLS object, which never runs SSL_shutdown.
            raw.shutdown(socket.SHUT_WR)
            time.sleep(0.2)
            raw.close()
            d.close()
        return c.reply()

    def working_session(self, what):
        c = self.tls_session()
        c.expect("PWD", [257])
        data = data_bytes(what, 50_000)
        code, text = self.stor(c, f"{what}.bin", data)
        check(code == 226, f"{what}: STOR -> {text}\n" + c.dump())
        code, text, got = self.retr(c, f"{what}.bin")
        check(code == 226 and got == data, f"{what}: RETR -> {text}, "
              f"{len(got or b'')} bytes\n" + c.dump())
        c.expect("QUIT", [221])
        c.close()
        print(f"ok: {what}: a TLS session logs in and transfers", flush=True)

    # ------------------------------------------------------------------ checks

    def check_order(self):
        c = self.control()
        c.expect("PROT P", [503])
        c.expect("PBSZ 0", [503])
        c.expect("AUTH SSL", [234])
        c.start_tls()
        c.expect("PROT P", [503])
        c.expect("PBSZ 0", [200])
        c.expect("PROT S", [536])
        c.expect("PROT E", [536, 504])
        c.expect("PROT P", [200])
        c.expect("PROT C", [200])
        c.login(self.user, self.password)
        c.expect("QUIT", [221])
        c.close()
        print("ok: PROT/PBSZ ordering and PROT levels", flush=True)

    def check_second_auth(self):
        c = self.control()
        c.auth()
        c.expect("AUTH TLS", [503])
        c.expect("AUTH SSL", [503])
        c.login(self.user, self.password)
        c.expect("PWD", [257])
        c.expect("QUIT", [221])
        print("ok: second AUTH on TLS refused, session goes on", flush=True)

    def check_injection(self):
        c = self.control()
        c.send_raw(
            f"AUTH TLS\r\nUSER {self.user}\r\nPASS {self.password}\r\nMKD injected\r\n"
            .encode()
        )
        code, text = c.reply()
        check(code == 234, f"AUTH TLS -> {text}\n" + c.dump())
        try:
            c.start_tls()
        except (ssl.SSLError, OSError) as e:
            raise Failure(f"TLS handshake after pipelined AUTH TLS failed ({e!r}): the "
                          "server must discard the cleartext, not feed it to TLS\n"
                          + c.dump())
        # The first reply over TLS must answer this NOOP, not a pipelined command.
        code, text = c.cmd("NOOP")
        check(code == 200, f"first reply over TLS is {text!r}, not the answer to NOOP "
              "(pipelined cleartext was executed?)\n" + c.dump())
        # Not logged in: the pipelined USER/PASS were not executed.
        code, text = c.cmd("PWD")
        check(code == 530, f"PWD after the handshake -> {text!r}: the pipelined "
              "USER/PASS logged the session in\n" + c.dump())
        c.login(self.user, self.password)
        code, text = c.cmd("CWD injected")
        check(code != 250, f"`injected` exists: {text!r}\n" + c.dump())
        c.expect("QUIT", [221])
        print("ok: cleartext pipelined after AUTH TLS was discarded", flush=True)

    def old_hello(self, version, implicit):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cafile=self.cafile)
        ctx.minimum_version = version
        ctx.maximum_version = version
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        name = {ssl.TLSVersion.TLSv1: "TLS 1.0", ssl.TLSVersion.TLSv1_1: "TLS 1.1"}[version]
        where = "implicit" if implicit else "explicit"
        try:
            if implicit:
                c = Control(self.host, self.implicit_port, self.cafile, implicit=True,
                            context=ctx)
            else:
                c = self.control()
                c.expect("AUTH TLS", [234])
                c.start_tls(ctx)
        except (ssl.SSLError, ConnectionError, Closed) as e:
            # A local refusal (this OpenSSL would not even offer the old version) proves
            # nothing about the server.
            local = ("NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE", "NO_SUITABLE")
            if any(k in str(e) for k in local):
                raise Failure(f"the client could not offer {name} ({e!r}); this check "
                              "needs an OpenSSL that still speaks it at @SECLEVEL=0")
            print(f"ok: {name} ClientHello refused ({where}): {e!r}", flush=True)
            return
        except socket.timeout:
            raise Failure(f"{name} handshake ({where}) hung instead of failing")
        raise Failure(f"the server accepted a {name} handshake ({where}): "
                      f"{c.sock.version()}\n" + c.dump())

    def check_old_tls(self):
        keep = self.tls_session()
        for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            self.old_hello(v, implicit=False)
            if self.implicit_port:
                self.old_hello(v, implicit=True)
        keep.expect("PWD", [257])
        keep.expect("QUIT", [221])
        print("ok: a session open meanwhile still works", flush=True)
        self.working_session("after-old-tls")

    def check_garbage(self):
        keep = self.tls_session()
        c = self.control()
        c.expect("AUTH TLS", [234])
        junk = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)) * 4
        c.send_raw(junk)
        closed = False
        deadline = time.monotonic() + 10
        for _ in range(10000):
            try:
                c.sock.settimeout(max(0.1, deadline - time.monotonic()))
                b = c.sock.recv(4096)
            except (ConnectionError, OSError) as e:
                if isinstance(e, socket.timeout):
                    break
                closed = True
                break
            if not b:
                closed = True
                break
            if time.monotonic() >= deadline:
                break
        check(closed, "the server kept the connection open after garbage instead of a "
              "ClientHello (waited 10 s)")
        print("ok: garbage instead of a ClientHello closed that connection", flush=True)
        keep.expect("PWD", [257])
        keep.expect("NOOP", [200])
        keep.expect("QUIT", [221])
        print("ok: a session open meanwhile still works", flush=True)
        self.working_session("after-garbage")

    def check_required_login(self):
        c = self.control()
        code, text = c.cmd(f"USER {self.user}")
        check(code in (530, 534), f"USER before AUTH under --tls required -> {text!r}")
        code, text = c.cmd(f"PASS {self.password}")
        check(code in (503, 530, 534), f"PASS before AUTH -> {text!r}")
        code, text = c.cmd("PWD")
        check(code == 530, f"PWD -> {text!r}: logged in without TLS")
        print("ok: USER/PASS before AUTH refused", flush=True)
        c.auth()
        c.login(self.user, self.password)
        c.expect("QUIT", [221])
        print("ok: login after AUTH TLS", flush=True)
        self.working_session("required")

    def check_no_close_notify(self):
        c = self.tls_session()
        data = data_bytes("truncated", 300_000)
        code, text = self.stor(c, "truncated.bin", data, clean=False)
        check(400 <= code < 500, f"upload ended without close_notify -> {text!r}, "
              "expected 4xx (incomplete)\n" + c.dump(), "incomplete_upload")
        print(f"ok: upload without close_notify -> {text}", flush=True)
        good = data_bytes("complete", 300_000)
        code, text = self.stor(c, "complete.bin", good, clean=True, strict_close=True)
        check(code == 226, f"clean upload -> {text!r}\n" + c.dump())
        print(f"uploaded: {hashlib.sha256(good).hexdigest()} complete.bin", flush=True)
        c.expect("QUIT", [221])
        print("ok: clean upload after it -> 226", flush=True)

    def check_data_required(self):
        c = self.control()
        c.auth()
        c.login(self.user, self.password)
        c.expect("PBSZ 0", [200])
        # The server may refuse PROT C itself (534, a policy refusal, RFC 4217 section 9);
        # either way the protection level stays Clear and transfers must get 521.
        code, text = c.cmd("PROT C")
        check(code in (200, 534), f"PROT C under --tls-data required -> {text!r}")
        print(f"ok: PROT C -> {text}", flush=True)
        c.expect("TYPE I", [200])
        for verb in ("RETR seed.bin", "LIST", "STOR clear.bin"):
            code, text = c.cmd("PASV")
            if code == 521:
                print(f"ok: PASV for {verb} with PROT C -> {text}", flush=True)
                continue
            check(code == 227, f"PASV -> {text}\n" + c.dump())
            m = re.search(r"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)", text)
            n = [int(x) for x in m.groups()]
            s = socket.create_connection((".".join(map(str, n[:4])), n[4] * 256 + n[5]),
                                         timeout=TIMEOUT)
            code, text = c.cmd(verb)
            s.close()
            check(code == 521, f"{verb} with PROT C under --tls-data required -> "
                  f"{text!r}, expected 521\n" + c.dump())
            print(f"ok: {verb} with PROT C -> {text}", flush=True)
        c.expect("PROT P", [200])
        code, text, got = self.retr(c, "seed.bin")
        check(code == 226, f"RETR with PROT P -> {text}\n" + c.dump())
        print(f"retrieved: {hashlib.sha256(got).hexdigest()} seed.bin", flush=True)
        c.expect("QUIT", [221])
        print("ok: PROT P transfer works", flush=True)

    def check_implicit(self):
        check(self.implicit_port, "implicit needs IMPLICIT_PORT")
        c = Control(self.host, self.implicit_port, self.cafile, implicit=True)
        c.expect("AUTH TLS", [503])
        c.login(self.user, self.password)
        c.expect("PBSZ 0", [200])
        c.expect("PROT P", [200])
        c.expect("TYPE I", [200])
        data = data_bytes("implicit", 200_000)
        code, text = self.stor(c, "implicit.bin", data, strict_close=True)
        check(code == 226, f"STOR -> {text}\n" + c.dump())
        code, text, got = self.retr(c, "implicit.bin")
        check(code == 226 and got == data, f"RETR -> {text}\n" + c.dump())
        print(f"uploaded: {hashlib.sha256(data).hexdigest()} implicit.bin", flush=True)
        c.expect("QUIT", [221])
        print("ok: implicit FTPS session", flush=True)


def main():
    if len(sys.argv) not in (7, 8):
        print(__doc__, file=sys.stderr)
        return 2
    host, port, user, password, cafile, name = sys.argv[1:7]
    implicit = int(sys.argv[7]) if len(sys.argv) == 8 else None
    checks = Checks(host, int(port), user, password, cafile, implicit)
    fn = getattr(checks, "check_" + name.replace("-", "_"), None)
    if fn is None:
        print(f"unknown check {name!r}", file=sys.stderr)
        return 2
    try:
        fn()
    except Failure as e:
        print(f"FAILED: {e}", flush=True)
        return 1
    except Exception:
        print("FAILED with an exception:", flush=True)
        traceback.print_exc(file=sys.stdout)
        return 1
    print(f"ftps policy: {name} passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
