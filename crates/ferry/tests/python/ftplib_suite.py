#!/usr/bin/env python3
"""Python ftplib interop suite for `ferry serve`.

Usage: ftplib_suite.py HOST PORT USER PASSWORD

Exercises every verb of the Ferry server (issue 2) through the standard library's
ftplib, against a server whose root starts empty and is writable by USER. Prints one
`ok: <step>` line per step and exits non-zero with a clear message on the first failure.
Works over IPv4 (PASV/PORT and EPSV/EPRT) and IPv6 (EPSV/EPRT only).

FTPLIB_SUITE_SKIP=name,name (comma-separated check names) turns named checks into
warnings; it exists only to run this script against a reference server that lacks a
feature, never in the Rust tests.
"""

import hashlib
import io
import os
import re
import socket
import sys
import time
import traceback
from ftplib import FTP, error_perm, error_proto, error_reply, error_temp

from checks import Failure, make_check

check = make_check("FTPLIB_SUITE_SKIP")

TIMEOUT = 20




def reply_of(fn, *args, **kwargs):
    """Call an ftplib method; return the reply text whether it succeeded or raised."""
    try:
        return str(fn(*args, **kwargs))
    except (error_reply, error_temp, error_perm, error_proto) as e:
        return str(e)


def code(resp):
    m = re.match(r"^(\d{3})", resp)
    if not m:
        raise Failure(f"not an FTP reply: {resp!r}")
    return int(m.group(1))


def expect(ftp, cmd, codes, name=None):
    resp = reply_of(ftp.sendcmd, cmd)
    check(code(resp) in codes, f"{cmd!r} -> {resp!r}, expected one of {codes}", name)
    return resp


class Suite:
    def __init__(self, host, port, user, password):
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.v6 = ":" in host
        self.af = socket.AF_INET6 if self.v6 else socket.AF_INET

    # ---------------------------------------------------------------- helpers

    def connect(self, login=True):
        ftp = FTP(timeout=TIMEOUT)
        ftp.encoding = "utf-8"
        welcome = ftp.connect(self.host, self.port, timeout=TIMEOUT)
        check(welcome.startswith("220"), f"greeting {welcome!r}")
        if login:
            resp = ftp.login(self.user, self.password)
            check(resp.startswith("230"), f"login -> {resp!r}")
            ftp.voidcmd("TYPE I")
        return ftp

    def get(self, ftp, name):
        buf = io.BytesIO()
        resp = ftp.retrbinary(f"RETR {name}", buf.write)
        check(resp.startswith("226") or resp.startswith("250"), f"RETR {name} end -> {resp!r}")
        return buf.getvalue()

    def put(self, ftp, name, data, verb="STOR"):
        resp = ftp.storbinary(f"{verb} {name}", io.BytesIO(data))
        check(resp.startswith("226") or resp.startswith("250"), f"{verb} {name} end -> {resp!r}")
        return resp

    def size(self, ftp, name):
        ftp.voidcmd("TYPE I")  # retrlines/mlsd leave the session in TYPE A
        resp = expect(ftp, f"SIZE {name}", [213])
        return int(resp[3:].strip())

    def raw_data(self, ftp, cmd, rest=None):
        """Run a transfer command and return the raw bytes of the data connection."""
        conn = ftp.transfercmd(cmd, rest=rest)
        chunks = []
        with conn:
            conn.settimeout(TIMEOUT)
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        resp = ftp.voidresp()
        check(resp.startswith("226") or resp.startswith("250"), f"{cmd} end -> {resp!r}")
        return b"".join(chunks)

    def listen_socket(self):
        """A listening socket on our side of the control connection (for PORT/EPRT)."""
        sock = socket.socket(self.af, socket.SOCK_STREAM)
        sock.bind(("::1" if self.v6 else "127.0.0.1", 0))
        sock.listen(1)
        sock.settimeout(TIMEOUT)
        return sock

    # ---------------------------------------------------------------- steps

    def step_before_login(self):
        ftp = self.connect(login=False)
        for cmd in ["PWD", "CWD /", "MKD nope", "RETR x", "SIZE x", "LIST", "STAT /"]:
            expect(ftp, cmd, [530])
        expect(ftp, "XYZZY", [500, 502, 530])
        expect(ftp, "USER " + self.user, [331])
        expect(ftp, "PWD", [530, 503])
        expect(ftp, "PASS wrong-" + self.password, [530])
        expect(ftp, "PWD", [530])
        # RNTO / PASS out of sequence.
        expect(ftp, "PASS " + self.password, [503, 530])
        resp = ftp.login(self.user, self.password)
        check(resp.startswith("230"), f"login after failures -> {resp!r}")
        expect(ftp, "PWD", [257])
        ftp.quit()

    def step_basics(self, ftp):
        expect(ftp, "SYST", [215])
        feat = expect(ftp, "FEAT", [211])
        for f in ["UTF8", "MLST", "EPSV", "SIZE", "MDTM", "REST STREAM"]:
            check(f in feat.upper(), f"FEAT lacks {f}: {feat!r}")
        expect(ftp, "OPTS UTF8 ON", [200, 202])
        expect(ftp, "NOOP", [200])
        expect(ftp, "HELP", [214])
        expect(ftp, "HELP RETR", [214])
        expect(ftp, "SITE HELP", [214, 200])
        expect(ftp, "ALLO 1000", [200, 202])
        expect(ftp, "ACCT projects", [202, 230, 200], name="acct")
        expect(ftp, "PASS again", [503, 202, 230])
        expect(ftp, "XYZZY", [500, 502])
        expect(ftp, "SITE XYZZY", [500, 501, 502, 504])
        for t in ["TYPE A", "TYPE I"]:
            expect(ftp, t, [200])
        for t in ["TYPE A N", "TYPE L 8"]:
            expect(ftp, t, [200], name="type_variants")
        expect(ftp, "TYPE I", [200])
        expect(ftp, "TYPE X", [501, 504])
        expect(ftp, "STRU F", [200])
        expect(ftp, "STRU X", [501, 504])
        expect(ftp, "MODE S", [200])
        expect(ftp, "MODE X", [501, 504])
        expect(ftp, "SIZE", [501, 550])
        expect(ftp, "REST abc", [501])
        expect(ftp, "RNTO nowhere", [503])
        stat = expect(ftp, "STAT", [211])
        check("\n" in stat, f"STAT is not a multi-line reply: {stat!r}")

    def step_directories(self, ftp):
        check(ftp.pwd() == "/", f"PWD at start {ftp.pwd()!r}")
        expect(ftp, "XPWD", [257])
        made = ftp.mkd("dir one")
        check(made.endswith("dir one"), f"MKD returned {made!r}")
        resp = expect(ftp, "XMKD d2", [257])
        check('"' in resp, f"XMKD reply without quoted path {resp!r}")
        expect(ftp, "MKD dir one", [550, 521])
        ftp.cwd("dir one")
        check(ftp.pwd() == "/dir one", f"PWD after CWD {ftp.pwd()!r}")
        expect(ftp, "CDUP", [200, 250])
        check(ftp.pwd() == "/", "PWD after CDUP")
        expect(ftp, "XCWD d2", [250])
        check(ftp.pwd() == "/d2", "PWD after XCWD")
        expect(ftp, "XCUP", [200, 250])
        check(ftp.pwd() == "/", "PWD after XCUP")
        expect(ftp, "CWD /dir one/../d2", [250])
        check(ftp.pwd() == "/d2", f"PWD after CWD with .. {ftp.pwd()!r}")
        expect(ftp, "CWD /", [250])
        expect(ftp, "CDUP", [200, 250])
        check(ftp.pwd() == "/", "CDUP at the root must stay at /")
        expect(ftp, "CWD does-not-exist", [550])
        self.put(ftp, "d2/f.txt", b"x")
        expect(ftp, "CWD d2/f.txt", [550])
        expect(ftp, "RMD d2", [550])
        expect(ftp, "DELE d2/f.txt", [250])
        expect(ftp, "XRMD d2", [250])
        expect(ftp, "MKD d3", [257])
        ftp.rmd("d3")
        expect(ftp, "RMD d3", [550])

    def step_transfers(self, ftp):
        data = os.urandom(300 * 1024 + 7)
        self.put(ftp, "up.bin", data)
        check(self.size(ftp, "up.bin") == len(data), "SIZE after STOR")
        check(self.get(ftp, "up.bin") == data, "RETR content after STOR")
        resp = reply_of(ftp.transfercmd, "RETR missing.bin")
        check(code(resp) in (550, 450), f"RETR missing.bin -> {resp!r}")
        # Overwrite.
        data2 = os.urandom(1000)
        self.put(ftp, "up.bin", data2)
        check(self.get(ftp, "up.bin") == data2, "RETR after overwrite")
        # MDTM / MFMT.
        resp = expect(ftp, "MDTM up.bin", [213])
        check(re.match(r"^213 \d{14}(\.\d+)?$", resp.strip()), f"MDTM format {resp!r}")
        expect(ftp, "MFMT 20200102030405 up.bin", [213])
        resp = expect(ftp, "MDTM up.bin", [213])
        check(resp.strip().startswith("213 20200102030405"), f"MDTM after MFMT {resp!r}")
        expect(ftp, "MFMT notatime up.bin", [501, 550])
        expect(ftp, "MDTM missing.bin", [550])
        expect(ftp, "SIZE missing.bin", [550])
        # RNFR / RNTO.
        expect(ftp, "RNFR up.bin", [350])
        expect(ftp, "RNTO moved.bin", [250])
        expect(ftp, "SIZE up.bin", [550])
        check(self.size(ftp, "moved.bin") == len(data2), "SIZE after rename")
        expect(ftp, "RNFR missing.bin", [550])
        ftp.rename("moved.bin", "dir one/moved.bin")
        ftp.rename("dir one/moved.bin", "moved.bin")
        # APPE to an existing and a new file.
        more = os.urandom(5000)
        self.put(ftp, "moved.bin", more, verb="APPE")
        check(self.get(ftp, "moved.bin") == data2 + more, "APPE content")
        self.put(ftp, "appended-new.bin", more, verb="APPE")
        check(self.get(ftp, "appended-new.bin") == more, "APPE to a new file")
        # DELE.
        ftp.delete("appended-new.bin")
        expect(ftp, "DELE appended-new.bin", [550])
        # UTF-8 and spaces in names.
        name = "ünïcödé файл.bin"
        self.put(ftp, name, data)
        check(self.get(ftp, name) == data, "UTF-8 name round trip")
        check(name in ftp.nlst(), f"NLST lacks {name!r}: {ftp.nlst()!r}")

    def step_stou(self, ftp):
        names = []
        for i in range(2):
            payload = f"unique {i}\n".encode()
            host, port = ftp.makepasv()
            conn = socket.create_connection((host, port), TIMEOUT)
            resp150 = expect(ftp, "STOU", [125, 150])
            with conn:
                conn.sendall(payload)
            resp = ftp.voidresp()
            text = resp150 + " " + resp
            m = re.search(r"FILE:\s*(\S+)", text) or re.search(r'"([^"]+)"', text)
            check(m is not None, f"STOU replies name no file: {text!r}")
            stored = m.group(1).lstrip("/")
            check(self.get(ftp, stored) == payload, f"STOU file {stored!r} content")
            names.append(stored)
        check(names[0] != names[1], f"STOU reused a name: {names}")
        for n in names:
            ftp.delete(n)

    def step_resume(self, ftp):
        data = os.urandom(1024 * 1024 + 3)
        self.put(ftp, "resume.bin", data)
        # REST + RETR.
        for rest in [0, 1, 4096, 777_777, len(data)]:
            got = self.raw_data(ftp, "RETR resume.bin", rest=rest)
            check(got == data[rest:], f"REST {rest} + RETR gave {len(got)} bytes")
        got = io.BytesIO()
        ftp.retrbinary("RETR resume.bin", got.write, rest=500_000)
        check(got.getvalue() == data[500_000:], "retrbinary(rest=)")
        # An interrupted new upload, resumed with REST + STOR...
        half = 400_000
        conn = ftp.transfercmd("STOR part.bin")
        with conn:
            conn.sendall(data[:half])
        ftp.voidresp()
        check(self.size(ftp, "part.bin") == half, "SIZE of the interrupted upload")
        conn = ftp.transfercmd("STOR part.bin", rest=half)
        with conn:
            conn.sendall(data[half:])
        ftp.voidresp()
        check(self.get(ftp, "part.bin") == data, "REST + STOR resumed upload content")
        # ... and with APPE.
        conn = ftp.transfercmd("STOR part2.bin")
        with conn:
            conn.sendall(data[:half])
        ftp.voidresp()
        self.put(ftp, "part2.bin", data[half:], verb="APPE")
        check(self.get(ftp, "part2.bin") == data, "APPE resumed upload content")
        ftp.delete("part.bin")
        ftp.delete("part2.bin")

    def step_ascii(self, ftp):
        # Upload in TYPE A: the client sends CRLF; the server stores native LF.
        ftp.voidcmd("TYPE A")
        ftp.storlines("STOR text.txt", io.BytesIO(b"line1\nline2\n\nline4\n"))
        ftp.voidcmd("TYPE I")
        stored = self.get(ftp, "text.txt")
        check(stored == b"line1\nline2\n\nline4\n", f"TYPE A upload stored {stored!r}")
        # Download in TYPE A: LF goes out as CRLF.
        self.put(ftp, "lf.txt", b"a\nb\nc\n")
        ftp.voidcmd("TYPE A")
        raw = self.raw_data(ftp, "RETR lf.txt")
        check(raw == b"a\r\nb\r\nc\r\n", f"TYPE A download raw bytes {raw!r}")
        lines = []
        ftp.retrlines("RETR lf.txt", lines.append)
        check(lines == ["a", "b", "c"], f"retrlines {lines!r}")
        ftp.voidcmd("TYPE I")
        raw = self.raw_data(ftp, "RETR lf.txt")
        check(raw == b"a\nb\nc\n", f"TYPE I download raw bytes {raw!r}")

    def step_listings(self, ftp):
        self.put(ftp, "dir one/inner.txt", b"inner")
        self.put(ftp, ".hidden", b"h")
        lines = []
        ftp.retrlines("LIST", lines.append)
        text = "\n".join(lines)
        for n in ["dir one", "moved.bin", "text.txt"]:
            check(any(l.endswith(" " + n) for l in lines), f"LIST lacks {n!r}:\n{text}")
        dir_line = [l for l in lines if l.endswith(" dir one")]
        check(dir_line and dir_line[0].startswith("d"), f"LIST dir line {dir_line!r}")
        for flags in ["-a", "-la", "-l"]:
            lines = []
            ftp.retrlines(f"LIST {flags}", lines.append)
            check(any(l.endswith(" moved.bin") for l in lines), f"LIST {flags}: {lines!r}")
            if "a" in flags:
                check(any(l.endswith(" .hidden") for l in lines), f"LIST {flags} lacks .hidden")
        lines = []
        resp = reply_of(ftp.retrlines, "LIST -la dir one", lines.append)
        check(
            code(resp) == 226 and any(l.endswith(" inner.txt") for l in lines),
            f"LIST -la dir one: {resp!r} {lines!r}",
            name="list_flags_path",
        )
        lines = []
        ftp.retrlines("LIST moved.bin", lines.append)
        check(len(lines) == 1 and lines[0].endswith("moved.bin"), f"LIST file: {lines!r}")
        names = ftp.nlst()
        check("moved.bin" in names and "dir one" in names, f"NLST {names!r}")
        names = ftp.nlst("dir one")
        check(any(n.endswith("inner.txt") for n in names), f"NLST dir one {names!r}")
        names = []
        resp = reply_of(ftp.retrlines, "NLST -a", names.append)
        check(code(resp) == 226 and ".hidden" in names, f"NLST -a {resp!r} {names!r}",
              name="nlst_flags")
        # MLSD with facts.
        entries = dict(ftp.mlsd(facts=["type", "size", "modify", "perm"]))
        check("moved.bin" in entries, f"MLSD lacks moved.bin: {sorted(entries)}")
        mb = {k.lower(): v for k, v in entries["moved.bin"].items()}
        check(mb.get("type", "").lower() == "file", f"MLSD type of a file {mb}")
        check(mb.get("size") == str(self.size(ftp, "moved.bin")), f"MLSD size {mb}")
        check(re.match(r"^\d{14}", mb.get("modify", "")), f"MLSD modify {mb}")
        d1 = {k.lower(): v for k, v in entries["dir one"].items()}
        check(d1.get("type", "").lower() == "dir", f"MLSD type of a dir {d1}")
        check("ünïcödé файл.bin" in entries, "MLSD lacks the UTF-8 name")
        sub = dict(ftp.mlsd("dir one"))
        check("inner.txt" in sub, f"MLSD dir one {sorted(sub)}")
        # MLST.
        resp = expect(ftp, "MLST moved.bin", [250])
        low = resp.lower()
        check("type=file;" in low, f"MLST type: {resp!r}")
        check(f"size={self.size(ftp, 'moved.bin')};" in low, f"MLST size: {resp!r}")
        check("moved.bin" in resp, f"MLST pathname: {resp!r}")
        resp = expect(ftp, "MLST", [250])
        check("type=cdir" in resp.lower() or "type=dir" in resp.lower(), f"MLST of cwd {resp!r}")
        expect(ftp, "MLST missing.bin", [550])
        resp = reply_of(ftp.transfercmd, "MLSD moved.bin")
        check(code(resp) in (501, 550), f"MLSD of a file -> {resp!r}")
        # STAT path: a listing over the control connection.
        resp = expect(ftp, "STAT dir one", [211, 212, 213])
        check("inner.txt" in resp, f"STAT dir one: {resp!r}")
        resp = expect(ftp, "STAT moved.bin", [211, 212, 213])
        check("moved.bin" in resp, f"STAT file: {resp!r}")
        expect(ftp, "STAT missing.bin", [450, 550])

    def step_site_chmod(self, ftp):
        expect(ftp, "SITE CHMOD 600 moved.bin", [200])
        lines = []
        ftp.retrlines("LIST moved.bin", lines.append)
        check(lines and lines[0].startswith("-rw-------"), f"LIST after CHMOD 600 {lines!r}")
        expect(ftp, "SITE CHMOD 644 moved.bin", [200])
        lines = []
        ftp.retrlines("LIST moved.bin", lines.append)
        check(lines and lines[0].startswith("-rw-r--r--"), f"LIST after CHMOD 644 {lines!r}")
        expect(ftp, "SITE CHMOD 644 missing.bin", [550])
        expect(ftp, "SITE CHMOD xyz moved.bin", [501, 504, 550])

    def step_data_modes(self, ftp):
        ref = sorted(ftp.nlst())
        if not self.v6:
            # PASV via ftplib, then an explicit PASV.
            ftp.set_pasv(True)
            check(sorted(ftp.nlst()) == ref, "NLST over PASV")
            resp = expect(ftp, "PASV", [227])
            m = re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", resp)
            check(m, f"PASV reply {resp!r}")
            nums = [int(x) for x in m.groups()]
            check(nums[:4] == [127, 0, 0, 1], f"PASV host {nums[:4]}")
            conn = socket.create_connection(("127.0.0.1", nums[4] * 256 + nums[5]), TIMEOUT)
            self.finish_listing(ftp, conn, ref, "explicit PASV")
            # PORT via ftplib (active).
            ftp.set_pasv(False)
            check(sorted(ftp.nlst()) == ref, "NLST over PORT")
            data = self.get(ftp, "moved.bin")
            check(len(data) == self.size(ftp, "moved.bin"), "RETR over PORT")
            self.put(ftp, "active-up.bin", data)
            check(self.get(ftp, "active-up.bin") == data, "STOR over PORT")
            ftp.delete("active-up.bin")
            ftp.set_pasv(True)
            # PORT below 1024 and to a foreign address are refused.
            expect(ftp, "PORT 127,0,0,1,0,21", [500, 501, 504])
            expect(ftp, "PORT 1,2,3", [500, 501])
        # EPSV explicit.
        resp = expect(ftp, "EPSV", [229])
        m = re.search(r"\(\|\|\|(\d+)\|\)", resp)
        check(m, f"EPSV reply {resp!r}")
        conn = socket.create_connection((self.host, int(m.group(1))), TIMEOUT)
        self.finish_listing(ftp, conn, ref, "explicit EPSV")
        proto = "2" if self.v6 else "1"
        resp = expect(ftp, f"EPSV {proto}", [229])
        m = re.search(r"\(\|\|\|(\d+)\|\)", resp)
        conn = socket.create_connection((self.host, int(m.group(1))), TIMEOUT)
        self.finish_listing(ftp, conn, ref, f"EPSV {proto}")
        # EPRT explicit.
        sock = self.listen_socket()
        with sock:
            lhost, lport = sock.getsockname()[:2]
            expect(ftp, f"EPRT |{proto}|{lhost}|{lport}|", [200])
            resp = expect(ftp, "NLST", [150, 125])
            conn, _ = sock.accept()
            self.finish_listing(ftp, conn, ref, "explicit EPRT", sent=True)
        expect(ftp, f"EPRT |{proto}|{lhost}|21|", [500, 501, 504, 522])
        expect(ftp, "EPRT garbage", [500, 501, 522])
        # ftplib's own active mode (EPRT on IPv6, PORT on IPv4) once more.
        ftp.set_pasv(False)
        check(sorted(ftp.nlst()) == ref, "NLST in ftplib active mode")
        ftp.set_pasv(True)

    def finish_listing(self, ftp, conn, ref, what, sent=False):
        with conn:
            conn.settimeout(TIMEOUT)
            if not sent:
                expect(ftp, "NLST", [150, 125])
            chunks = []
            while True:
                c = conn.recv(65536)
                if not c:
                    break
                chunks.append(c)
        resp = ftp.voidresp()
        check(resp.startswith("226") or resp.startswith("250"), f"{what}: end {resp!r}")
        names = sorted(n for n in b"".join(chunks).decode("utf-8").split("\r\n") if n)
        check(names == ref, f"{what}: NLST {names} != {ref}")

    def step_abort(self, ftp):
        expect(ftp, "ABOR", [225, 226])
        # A 64 MiB file.
        chunk = bytes(range(256)) * 4096
        size = 64 * 1024 * 1024

        class Gen:
            def __init__(self):
                self.left = size

            def read(self, n):
                if self.left <= 0:
                    return b""
                out = chunk[: min(n, self.left, len(chunk))]
                self.left -= len(out)
                return out

        resp = ftp.storbinary("STOR big.bin", Gen(), blocksize=len(chunk))
        check(resp.startswith("226"), f"STOR big.bin -> {resp!r}")
        check(self.size(ftp, "big.bin") == size, "SIZE big.bin")
        conn = ftp.transfercmd("RETR big.bin")
        conn.settimeout(TIMEOUT)
        got = 0
        while got < 64 * 1024:
            c = conn.recv(65536)
            check(c, "data connection ended early")
            got += len(c)
        # ftplib.abort() sends ABOR as urgent (MSG_OOB) data: the server must still read the
        # whole line (e.g. with SO_OOBINLINE) or this times out.
        try:
            resp = ftp.abort()
        except socket.timeout:
            raise Failure("no reply to ABOR sent by ftplib.abort() (ABOR sent with MSG_OOB; "
                          "does the server read urgent data inline, SO_OOBINLINE?)")
        check(code(resp) in (426, 225, 226), f"ABOR first reply {resp!r}")
        if code(resp) == 426:
            resp2 = reply_of(ftp.getresp)
            check(code(resp2) in (225, 226), f"ABOR second reply {resp2!r} after {resp!r}")
        # The server closes the data connection.
        conn.settimeout(10)
        drained = 0
        try:
            while drained < size:
                c = conn.recv(1 << 20)
                if not c:
                    break
                drained += len(c)
        except socket.timeout:
            raise Failure("the data connection stayed open after ABOR")
        except OSError:
            pass
        conn.close()
        check(got + drained < size, "ABOR did not stop the transfer")
        expect(ftp, "NOOP", [200])
        check("big.bin" in ftp.nlst(), "listing after ABOR")
        ftp.delete("big.bin")

    def step_epsv_all(self):
        ftp = self.connect()
        ref = sorted(ftp.nlst())
        expect(ftp, "EPSV ALL", [200, 220])
        refused = [500, 501, 502, 503, 504, 520, 522]
        expect(ftp, "PASV", refused)
        expect(ftp, "PORT 127,0,0,1,200,10", refused)
        lhost = "::1" if self.v6 else "127.0.0.1"
        proto = "2" if self.v6 else "1"
        expect(ftp, f"EPRT |{proto}|{lhost}|40000|", refused)
        resp = expect(ftp, "EPSV", [229])
        m = re.search(r"\(\|\|\|(\d+)\|\)", resp)
        check(m, f"EPSV reply {resp!r}")
        conn = socket.create_connection((self.host, int(m.group(1))), TIMEOUT)
        self.finish_listing(ftp, conn, ref, "EPSV after EPSV ALL")
        ftp.quit()

    def step_rein(self, ftp):
        expect(ftp, "REIN", [220], name="rein_code")
        expect(ftp, "PWD", [530])
        resp = ftp.login(self.user, self.password)
        check(resp.startswith("230"), f"login after REIN {resp!r}")
        expect(ftp, "PWD", [257])
        expect(ftp, "NOOP", [200])

    def run(self):
        self.step_before_login()
        print("ok: before_login", flush=True)
        ftp = self.connect()
        steps = [
            ("basics", self.step_basics),
            ("directories", self.step_directories),
            ("transfers", self.step_transfers),
            ("stou", self.step_stou),
            ("resume", self.step_resume),
            ("ascii", self.step_ascii),
            ("listings", self.step_listings),
            ("site_chmod", self.step_site_chmod),
            ("data_modes", self.step_data_modes),
            ("abort", self.step_abort),
        ]
        for name, fn in steps:
            t = time.monotonic()
            fn(ftp)
            print(f"ok: {name} ({time.monotonic() - t:.2f}s)", flush=True)
        self.step_epsv_all()
        print("ok: epsv_all", flush=True)
        self.step_rein(ftp)
        print("ok: rein", flush=True)
        resp = ftp.quit()
        check(resp.startswith("221"), f"QUIT -> {resp!r}")
        print("ftplib suite: all steps passed", flush=True)


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    try:
        Suite(host, port, user, password).run()
    except Failure as e:
        traceback.print_exc()
        print(f"FAILED: {e}", file=sys.stderr, flush=True)
        return 1
    except Exception as e:  # noqa: BLE001 - any other error is a failure too
        traceback.print_exc()
        print(f"FAILED with {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
