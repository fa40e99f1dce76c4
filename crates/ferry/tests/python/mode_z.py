"""MODE Z with Python's ftplib and zlib against `ferry serve` (crates/ferry/tests/ext_mode_z.rs).

Usage: mode_z.py HOST PORT USER PASS [tls CAFILE]

The data of every transfer after `MODE Z` is one zlib stream (RFC 1950): RETR and LIST
data are inflated here (and must end with the stream's end), STOR data is deflated here.
Checks OPTS MODE Z LEVEL (levels change the size sent), REST with MODE Z (the offset counts
uncompressed bytes), TYPE A with MODE Z (converted, then compressed), MODE S back, and the
refused options. With `tls CAFILE`: the same over FTPS with PROT P (compression inside TLS).
Prints "mode z: all steps passed" at the end.
"""

import ftplib
import hashlib
import io
import ssl
import sys
import zlib

from checks import Failure, data_bytes, make_check

check = make_check("MODE_Z_SKIP")


def expect(ftp, line, codes):
    try:
        reply = ftp.sendcmd(line)
    except ftplib.Error as e:
        reply = str(e)
    check(int(reply[:3]) in codes, f"{line!r}: {reply!r}, expected {codes}")
    return reply


class Inflater:
    """Callback for retrbinary: inflates, bounded, and remembers whether the stream ended."""

    def __init__(self, limit):
        self.d = zlib.decompressobj()
        self.out = bytearray()
        self.wire = 0
        self.limit = limit

    def __call__(self, chunk):
        self.wire += len(chunk)
        check(not self.d.eof, "data after the end of the zlib stream")
        self.out += self.d.decompress(chunk, self.limit - len(self.out) + 1)
        check(len(self.out) <= self.limit, "more data than expected")

    def done(self):
        self.out += self.d.flush()
        check(self.d.eof, "the zlib stream did not end")
        return bytes(self.out)


def retr_z(ftp, cmd, limit, rest=None):
    inf = Inflater(limit)
    ftp.retrbinary(cmd, inf, rest=rest)
    return inf.done(), inf.wire


def stor_z(ftp, name, data, level=6):
    body = zlib.compress(data, level)
    ftp.storbinary(f"STOR {name}", io.BytesIO(body))
    return len(body)


def main():
    host, port, user, password = sys.argv[1:5]
    tls = len(sys.argv) > 6 and sys.argv[5] == "tls"
    if tls:
        ctx = ssl.create_default_context(cafile=sys.argv[6])
        ftp = ftplib.FTP_TLS(context=ctx, timeout=30)
    else:
        ftp = ftplib.FTP(timeout=30)
    ftp.connect(host, int(port))
    ftp.login(user, password)
    if tls:
        ftp.prot_p()

    feat = expect(ftp, "FEAT", [211])
    check(any(l.strip() == "MODE Z" for l in feat.splitlines()), f"FEAT lacks MODE Z: {feat!r}")
    expect(ftp, "TYPE I", [200])
    expect(ftp, "MODE Z", [200])
    for bad in ["OPTS MODE Z LEVEL 10", "OPTS MODE Z LEVEL x", "OPTS MODE Z ENGINE zlib",
                "OPTS MODE Z LEVEL"]:
        expect(ftp, bad, [501])

    # Upload: deflated here, stored inflated.
    text = b"".join(b"line %d of a very compressible file\n" % i for i in range(20000))
    rnd = data_bytes("mode-z", 300_000)
    wire = stor_z(ftp, "text.txt", text)
    check(wire < len(text) // 5, f"upload not compressed: {wire} of {len(text)}")
    stor_z(ftp, "random.bin", rnd, 9)

    # Download at two levels: level 0 sends stored blocks (bigger), 9 compresses.
    expect(ftp, "OPTS MODE Z LEVEL 0", [200])
    got, wire0 = retr_z(ftp, "RETR text.txt", len(text))
    check(got == text, "RETR at level 0 differs")
    check(wire0 >= len(text), f"level 0 should not compress: {wire0}")
    expect(ftp, "OPTS MODE Z LEVEL 9", [200])
    got, wire9 = retr_z(ftp, "RETR text.txt", len(text))
    check(got == text, "RETR at level 9 differs")
    check(wire9 < len(text) // 5, f"level 9 did not compress: {wire9}")
    got, _ = retr_z(ftp, "RETR random.bin", len(rnd))
    check(hashlib.sha256(got).digest() == hashlib.sha256(rnd).digest(), "random.bin differs")

    # REST: the offset counts uncompressed bytes; the stream starts fresh there.
    got, _ = retr_z(ftp, "RETR random.bin", len(rnd), rest=123_457)
    check(got == rnd[123_457:], "REST 123457 + RETR in MODE Z differs")

    # TYPE A: converted to CRLF, then compressed (retrbinary would send TYPE I itself).
    expect(ftp, "TYPE A", [200])
    inf = Inflater(2 * len(text))
    with ftp.transfercmd("RETR text.txt") as conn:
        while chunk := conn.recv(65536):
            inf(chunk)
        if tls:
            conn.unwrap()
    ftp.voidresp()
    got = inf.done()
    check(got == text.replace(b"\n", b"\r\n"), "TYPE A + MODE Z differs")
    expect(ftp, "TYPE I", [200])

    # Listings are compressed too.
    listing, _ = retr_z(ftp, "LIST", 1 << 20)
    check(b"random.bin" in listing and b"text.txt" in listing, f"LIST: {listing!r}")
    names, _ = retr_z(ftp, "NLST", 1 << 20)
    check(set(names.split(b"\r\n")) >= {b"random.bin", b"text.txt"}, f"NLST: {names!r}")

    # A truncated upload (no end of stream) is not a complete file.
    body = zlib.compress(text)[:1000]
    try:
        ftp.storbinary("STOR cut.txt", io.BytesIO(body))
        check(False, "a truncated zlib stream was accepted")
    except ftplib.error_temp as e:
        check(str(e).startswith("426"), f"truncated upload: {e}")

    # STAT shows the mode; MODE S goes back to plain data.
    stat = expect(ftp, "STAT", [211])
    check("MODE: Deflate" in stat, f"STAT: {stat!r}")
    expect(ftp, "MODE S", [200])
    buf = bytearray()
    ftp.retrbinary("RETR random.bin", buf.extend)
    check(bytes(buf) == rnd, "RETR after MODE S differs")
    ftp.quit()
    print("mode z: all steps passed", flush=True)


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print(f"FAIL: {e}", flush=True)
        sys.exit(1)
