#!/usr/bin/env python3
"""Python ftplib.FTP_TLS against `ferry serve` with FTPS (explicit TLS, PROT P).

Usage: ftps_ftplib.py HOST PORT USER PASSWORD CAFILE MODE

MODE:
  plain          FTP_TLS + prot_p() as shipped (a fresh TLS session on every data
                 connection): LIST, NLST, STOR, RETR (sha256), REST, in passive mode.
  active         the same in active mode (set_pasv(False): PORT, the server connects).
  reuse-tls12    a FTP_TLS subclass that wraps every data socket with the control
                 connection's session (session=self.sock.session), TLS 1.2 at most;
                 several transfers in a row must all resume the session.
  reuse-tls13    the same with TLS 1.3.
  reuse-active   the same (TLS 1.3) in active mode.
  fresh-refused  plain FTP_TLS against a server that requires session reuse: every data
                 connection must be refused with 522 and a reply that names session reuse.

Prints `ok: <step>` per step and `ftps ftplib: all steps passed` at the end; exits 1
with a message on the first failure. Every transfer is checked by sha256; every TLS data
connection and the control connection must end with the server's close_notify.

FTPS_SKIP=name,name turns the named checks into warnings; it exists only to run this
script against a reference server that lacks a feature, never in the Rust tests.
"""

import hashlib
import io
import os
import re
import socket
import ssl
import sys
import traceback
from ftplib import FTP, FTP_TLS, error_perm, error_proto, error_reply, error_temp

from checks import Failure, make_check, data_bytes

check = make_check("FTPS_SKIP")

TIMEOUT = 20
FTP_ERRORS = (error_reply, error_temp, error_perm, error_proto)





def sha(b):
    return hashlib.sha256(b).hexdigest()


class ReusingFTP_TLS(FTP_TLS):
    """FTP_TLS that resumes the control connection's TLS session on data connections."""

    data_sessions_reused = []

    def ntransfercmd(self, cmd, rest=None):
        conn, size = FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(
                conn, server_hostname=self.host, session=self.sock.session
            )
            self.data_sessions_reused.append(conn.session_reused)
        return conn, size


class Suite:
    def __init__(self, host, port, user, password, cafile, mode):
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.cafile = cafile
        self.mode = mode

    def context(self, max_version=None):
        ctx = ssl.create_default_context(cafile=self.cafile)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if max_version is not None:
            ctx.maximum_version = max_version
        return ctx

    def connect(self, cls=FTP_TLS, max_version=None, passive=True):
        ctx = self.context(max_version)
        ftp = cls(context=ctx, timeout=TIMEOUT)
        ftp.encoding = "utf-8"
        welcome = ftp.connect(self.host, self.port, timeout=TIMEOUT)
        check(welcome.startswith("220"), f"greeting {welcome!r}")
        resp = ftp.auth()
        check(resp.startswith("234"), f"AUTH TLS -> {resp!r}")
        check(isinstance(ftp.sock, ssl.SSLSocket), "control socket not TLS after AUTH")
        resp = ftp.login(self.user, self.password)
        check(resp.startswith("230"), f"login -> {resp!r}")
        resp = ftp.prot_p()
        check(resp.startswith("200"), f"PROT P -> {resp!r}")
        ftp.voidcmd("TYPE I")
        ftp.set_pasv(passive)
        if max_version is not None:
            got = ftp.sock.version()
            want = {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[
                max_version
            ]
            check(got == want, f"control TLS version {got}, expected {want}")
        return ftp

    def retr_checked(self, ftp, name):
        """RETR with our own loop: the data stream must end with close_notify."""
        conn = ftp.transfercmd(f"RETR {name}")
        check(isinstance(conn, ssl.SSLSocket), "data connection is not TLS after PROT P")
        chunks = []
        clean = True
        conn.settimeout(TIMEOUT)
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except ssl.SSLEOFError:
            clean = False
        # recv() returning b"" on an SSLSocket (suppress_ragged_eofs=True) also covers a
        # plain TCP FIN: find out whether close_notify arrived by asking for a shutdown.
        if clean:
            try:
                conn.unwrap()
            except (ssl.SSLError, OSError) as e:
                # unwrap() after the peer's close_notify completes our side; an error here
                # means no close_notify was received.
                clean = isinstance(e, ssl.SSLZeroReturnError)
        conn.close()
        resp = ftp.voidresp()
        check(resp.startswith("226") or resp.startswith("250"), f"RETR {name} end -> {resp!r}")
        check(clean, f"RETR {name}: the TLS data stream ended without close_notify",
              "data_close_notify")
        return b"".join(chunks)

    def store(self, ftp, name, data):
        try:
            resp = ftp.storbinary(f"STOR {name}", io.BytesIO(data))
        except ssl.SSLEOFError as e:
            # storbinary() ends the upload with conn.unwrap(): our close_notify, then the
            # server's is awaited. An EOF there means the server closed the data connection
            # without close_notify (or, during sendall, refused the data connection).
            try:
                resp = ftp.getresp()
            except (FTP_ERRORS + (OSError,)) as e2:
                resp = repr(e2)
            check(False, f"STOR {name}: TLS data connection ended without the server's "
                  f"close_notify ({e}); the control reply was {resp!r}", "data_close_notify")
        check(resp.startswith("226") or resp.startswith("250"), f"STOR {name} end -> {resp!r}")

    def fetch(self, ftp, name):
        buf = io.BytesIO()
        resp = ftp.retrbinary(f"RETR {name}", buf.write)
        check(resp.startswith("226") or resp.startswith("250"), f"RETR {name} end -> {resp!r}")
        return buf.getvalue()

    def quit_checked(self, ftp):
        """QUIT; the server's 221 must be followed by its close_notify on the control."""
        sock = ftp.sock
        resp = ftp.sendcmd("QUIT")
        check(resp.startswith("221"), f"QUIT -> {resp!r}")
        sock.settimeout(TIMEOUT)
        clean = True
        try:
            rest = ftp.file.read() if ftp.file else b""
            check(not rest, f"bytes after 221: {rest!r}")
            sock.unwrap()
        except ssl.SSLZeroReturnError:
            pass
        except (ssl.SSLError, OSError) as e:
            clean = False
            why = repr(e)
        else:
            why = ""
        check(clean, f"control connection closed without close_notify after QUIT: {why}",
              "control_close_notify")
        ftp.close()

    # ------------------------------------------------------------- modes

    def transfers(self, ftp, tag):
        big = data_bytes(f"{tag}-big", 2 * 1024 * 1024 + 7)
        small = data_bytes(f"{tag}-small", 1000)
        utf8 = f"ünïcödé {tag}.bin"
        self.store(ftp, f"{tag}-big.bin", big)
        print(f"ok: STOR {tag}-big.bin", flush=True)
        self.store(ftp, utf8, small)
        print(f"ok: STOR {utf8}", flush=True)
        got = self.retr_checked(ftp, f"{tag}-big.bin")
        check(sha(got) == sha(big), f"RETR {tag}-big.bin sha256 differs ({len(got)} bytes)")
        print(f"ok: RETR {tag}-big.bin sha256", flush=True)
        got = self.fetch(ftp, utf8)
        check(sha(got) == sha(small), f"RETR {utf8} sha256 differs")
        print(f"ok: RETR {utf8} sha256", flush=True)
        names = ftp.nlst()
        check(any(n.endswith(utf8) for n in names), f"NLST lacks {utf8!r}: {names}")
        lines = []
        ftp.retrlines("LIST", lines.append)
        check(any(l.endswith(f"{tag}-big.bin") for l in lines), f"LIST lacks file: {lines}")
        print("ok: NLST and LIST", flush=True)
        ftp.voidcmd("TYPE I")
        # REST: the tail of the big file.
        buf = io.BytesIO()
        resp = ftp.retrbinary(f"RETR {tag}-big.bin", buf.write, rest=1_000_000)
        check(resp.startswith("226"), f"RETR with REST end -> {resp!r}")
        check(sha(buf.getvalue()) == sha(big[1_000_000:]), "REST 1000000 + RETR sha256 differs")
        print("ok: REST + RETR sha256", flush=True)
        return {f"{tag}-big.bin": sha(big), utf8: sha(small)}

    def run_plain(self, passive=True):
        ftp = self.connect(passive=passive)
        tag = "plain" if passive else "active"
        hashes = self.transfers(ftp, tag)
        self.quit_checked(ftp)
        print("ok: QUIT with close_notify", flush=True)
        for name, h in hashes.items():
            print(f"uploaded: {h} {name}", flush=True)

    def run_reuse(self, version, passive=True):
        ReusingFTP_TLS.data_sessions_reused = []
        ftp = self.connect(ReusingFTP_TLS, max_version=version, passive=passive)
        tag = {ssl.TLSVersion.TLSv1_2: "reuse12", ssl.TLSVersion.TLSv1_3: "reuse13"}[version]
        if not passive:
            tag += "-active"
        hashes = self.transfers(ftp, tag)
        # Several more small transfers in a row, each resuming the control session.
        for i in range(5):
            data = data_bytes(f"{tag}-{i}", 10_000 + i)
            self.store(ftp, f"{tag}-{i}.bin", data)
            check(sha(self.fetch(ftp, f"{tag}-{i}.bin")) == sha(data), f"round trip {i}")
            hashes[f"{tag}-{i}.bin"] = sha(data)
        reused = ReusingFTP_TLS.data_sessions_reused
        check(len(reused) >= 15, f"only {len(reused)} TLS data connections")
        check(all(reused), f"data connections that did not resume the session: "
              f"{[i for i, r in enumerate(reused) if not r]} of {len(reused)}")
        print(f"ok: {len(reused)} data connections all resumed the control session",
              flush=True)
        self.quit_checked(ftp)
        print("ok: QUIT with close_notify", flush=True)
        for name, h in hashes.items():
            print(f"uploaded: {h} {name}", flush=True)

    def refused(self, ftp, what, fn):
        """Run a transfer that must be refused with 522 naming session reuse."""
        try:
            fn()
        except FTP_ERRORS as e:
            text = str(e)
        except (ssl.SSLError, OSError) as e:
            # The data connection failed on our side; the reply must still come.
            try:
                text = ftp.getresp()
            except FTP_ERRORS as e2:
                text = str(e2)
            except (ssl.SSLError, OSError) as e2:
                raise Failure(f"{what}: data connection failed ({e!r}) and no reply "
                              f"followed ({e2!r})")
        else:
            raise Failure(f"{what} succeeded with a fresh TLS session on the data "
                          "connection under --tls-session-reuse require")
        check(text.startswith("522"), f"{what} refused with {text!r}, expected 522")
        check(re.search(r"reus|resum", text, re.I) is not None,
              f"{what}: the 522 reply does not say session reuse is required: {text!r}")
        print(f"ok: {what} refused: {text}", flush=True)

    def run_fresh_refused(self):
        ftp = self.connect()
        self.refused(ftp, "RETR", lambda: ftp.retrbinary("RETR seed.bin", lambda b: None))
        ftp.voidcmd("NOOP")
        self.refused(ftp, "STOR", lambda: ftp.storbinary(
            "STOR fresh.bin", io.BytesIO(data_bytes("fresh", 100_000))))
        ftp.voidcmd("NOOP")
        self.refused(ftp, "LIST", lambda: ftp.retrlines("LIST", lambda l: None))
        # The session is still usable.
        resp = ftp.sendcmd("PWD")
        check(resp.startswith("257"), f"PWD after refusals -> {resp!r}")
        self.quit_checked(ftp)
        print("ok: session usable after refusals", flush=True)

    def run(self):
        if self.mode == "plain":
            self.run_plain(passive=True)
        elif self.mode == "active":
            self.run_plain(passive=False)
        elif self.mode == "reuse-tls12":
            self.run_reuse(ssl.TLSVersion.TLSv1_2)
        elif self.mode == "reuse-tls13":
            self.run_reuse(ssl.TLSVersion.TLSv1_3)
        elif self.mode == "reuse-active":
            self.run_reuse(ssl.TLSVersion.TLSv1_3, passive=False)
        elif self.mode == "fresh-refused":
            self.run_fresh_refused()
        else:
            raise Failure(f"unknown mode {self.mode!r}")


def main():
    if len(sys.argv) != 7:
        print(__doc__, file=sys.stderr)
        return 2
    host, port, user, password, cafile, mode = sys.argv[1:]
    try:
        Suite(host, int(port), user, password, cafile, mode).run()
    except Failure as e:
        print(f"FAILED: {e}", flush=True)
        return 1
    except Exception:
        print("FAILED with an exception:", flush=True)
        traceback.print_exc(file=sys.stdout)
        return 1
    print("ftps ftplib: all steps passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
