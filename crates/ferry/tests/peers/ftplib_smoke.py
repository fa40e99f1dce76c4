#!/usr/bin/env python3
"""Python ftplib against one peer server (crates/ferry/tests/peers_smoke.rs runs it).

    ftplib_smoke.py HOST PORT USER ROOT [--tls CAFILE] [--active] [--reuse]
                    --mlsd yes|no --hash yes|no

The password comes from the FERRY_PEER_PASSWORD environment variable. ROOT is the
directory the server serves, read directly to check what the server wrote.

Checks, in the chosen mode (passive or active; plain or explicit FTPS with PROT P):
- FEAT: MLSD/MLST offered or not as --mlsd says; with --tls, AUTH TLS offered;
- STOR of 1 MiB, RETR back, both compared by sha256 with the file in ROOT;
- REST+STOR: the second half of a file stored at offset 512 KiB;
- REST+RETR: the tail of a file from an offset;
- HASH and XSHA256 offered or not as --hash says, and right where offered;
- LIST (and MLSD where offered) show the uploaded names; NLST;
- MKD, CWD, RNFR/RNTO, DELE, RMD;
- with --reuse, data connections resume the control connection's TLS session (the
  data sockets are wrapped with session=control session), as a server that requires
  reuse demands.
Prints "ftplib smoke ok" at the end; any failure raises.
"""

import argparse
import ftplib
import hashlib
import io
import os
import ssl
import sys

MIB = 1024 * 1024


class ReusingFTP_TLS(ftplib.FTP_TLS):
    """FTP_TLS whose data connections resume the control connection's TLS session."""

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(
                conn, server_hostname=self.host, session=self.sock.session
            )
        return conn, size


def sha(data):
    return hashlib.sha256(data).hexdigest()


def content(n, seed):
    out = bytearray()
    x = seed
    while len(out) < n:
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out += x.to_bytes(8, "little")
    return bytes(out[:n])


def retr(ftp, name, rest=None):
    buf = io.BytesIO()
    ftp.retrbinary("RETR " + name, buf.write, rest=rest)
    return buf.getvalue()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("user")
    p.add_argument("root")
    p.add_argument("--tls")
    p.add_argument("--active", action="store_true")
    p.add_argument("--reuse", action="store_true")
    p.add_argument("--mlsd", choices=["yes", "no"], required=True)
    p.add_argument("--hash", choices=["yes", "no"], required=True)
    a = p.parse_args()
    password = os.environ["FERRY_PEER_PASSWORD"]

    if a.tls:
        ctx = ssl.create_default_context(cafile=a.tls)
        cls = ReusingFTP_TLS if a.reuse else ftplib.FTP_TLS
        ftp = cls(context=ctx, timeout=30)
    else:
        ftp = ftplib.FTP(timeout=30)
    ftp.connect(a.host, a.port)
    print("greeting:", ftp.getwelcome().splitlines()[-1])
    if a.tls:
        ftp.auth()
    ftp.login(a.user, password)
    if a.tls:
        ftp.prot_p()
    ftp.set_pasv(not a.active)

    feat = ftp.sendcmd("FEAT").upper()
    has_mlsd = "MLSD" in feat or "MLST" in feat
    print("features:", " ".join(l.strip() for l in feat.splitlines()[1:-1]))
    if has_mlsd != (a.mlsd == "yes"):
        sys.exit(f"MLSD/MLST offered: {has_mlsd}, expected {a.mlsd}")
    has_hash = any(
        l.strip().split(" ")[0] in ("HASH", "XSHA256") for l in feat.splitlines()[1:-1]
    )
    if has_hash != (a.hash == "yes"):
        sys.exit(f"HASH/XSHA256 offered: {has_hash}, expected {a.hash}")
    if a.tls and "AUTH TLS" not in feat:
        sys.exit("FEAT lacks AUTH TLS on an FTPS peer")

    # STOR and RETR.
    data = content(MIB, 1)
    ftp.storbinary("STOR whole.bin", io.BytesIO(data))
    with open(os.path.join(a.root, "whole.bin"), "rb") as f:
        if sha(f.read()) != sha(data):
            sys.exit("STOR: the file on the server differs")
    if sha(retr(ftp, "whole.bin")) != sha(data):
        sys.exit("RETR: the download differs")

    # REST+STOR: first half, then the rest from the offset.
    half = len(data) // 2
    ftp.storbinary("STOR resumed.bin", io.BytesIO(data[:half]))
    ftp.storbinary("STOR resumed.bin", io.BytesIO(data[half:]), rest=half)
    with open(os.path.join(a.root, "resumed.bin"), "rb") as f:
        if sha(f.read()) != sha(data):
            sys.exit("REST+STOR: the resumed file on the server differs")
    print("rest-stor: ok")

    # Server-side hashes where offered: XSHA256 and HASH (after OPTS HASH SHA-256).
    if has_hash:
        reply = ftp.sendcmd("XSHA256 resumed.bin")
        if sha(data) not in reply.lower():
            sys.exit(f"XSHA256 reply {reply!r} lacks the file's sha256")
        ftp.sendcmd("OPTS HASH SHA-256")
        reply = ftp.sendcmd("HASH resumed.bin")
        if not reply.startswith("213") or sha(data) not in reply.lower():
            sys.exit(f"HASH reply {reply!r} lacks the file's sha256")
        print("hash: ok")

    # REST+RETR.
    if retr(ftp, "whole.bin", rest=half + 3) != data[half + 3 :]:
        sys.exit("REST+RETR: the tail differs")

    # Directories and names.
    ftp.mkd("dir")
    ftp.cwd("dir")
    ftp.storbinary("STOR inner.txt", io.BytesIO(b"inner\n"))
    ftp.cwd("/")
    ftp.rename("whole.bin", "renamed.bin")
    lines = []
    ftp.retrlines("LIST", lines.append)
    listing = "\n".join(lines)
    for name in ("renamed.bin", "resumed.bin", "dir"):
        if name not in listing:
            sys.exit(f"LIST lacks {name}:\n{listing}")
    names = ftp.nlst()
    if not any(n.endswith("renamed.bin") for n in names):
        sys.exit(f"NLST lacks renamed.bin: {names}")
    if has_mlsd:
        facts = dict(ftp.mlsd("/"))
        if facts.get("renamed.bin", {}).get("size") != str(len(data)):
            sys.exit(f"MLSD size of renamed.bin wrong: {facts.get('renamed.bin')}")
        if facts.get("dir", {}).get("type") != "dir":
            sys.exit(f"MLSD type of dir wrong: {facts.get('dir')}")
    ftp.delete("dir/inner.txt")
    ftp.rmd("dir")
    ftp.delete("renamed.bin")
    if os.path.exists(os.path.join(a.root, "renamed.bin")):
        sys.exit("DELE: the file is still there")
    ftp.quit()
    print("ftplib smoke ok")


if __name__ == "__main__":
    main()
