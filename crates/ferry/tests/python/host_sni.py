#!/usr/bin/env python3
"""HOST (RFC 7151) with FTPS: the TLS server name (SNI) chooses the virtual host and its
certificate, and a later HOST must agree with it.

Usage: host_sni.py HOST PORT USER PASSWORD CERT_A CERT_B CERT_DEFAULT

CERT_A and CERT_B are the PEM certificates of the virtual hosts a.example and b.example,
CERT_DEFAULT the server's own. Each root holds a file naming it (only-in-a, only-in-b,
only-in-default). Prints `done` when every check passed; exits 1 on the first failure.
"""

import socket
import ssl
import sys

TIMEOUT = 15


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def der(path):
    with open(path, encoding="ascii") as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


class Control:
    """A minimal FTP control connection that can be upgraded with AUTH TLS."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.file = self.sock.makefile("rb")
        code, text = self.reply()
        if code != 220:
            fail(f"greeting: {text}")

    def reply(self):
        lines = []
        for _ in range(1000):
            raw = self.file.readline(65536)
            if not raw:
                fail("connection closed; got so far: " + " | ".join(lines))
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(line)
            if len(line) >= 4 and line[:3].isdigit() and line[3] == " ":
                if len(lines) == 1 or line[:3] == lines[0][:3]:
                    return int(line[:3]), "\n".join(lines)
        fail("reply too long")

    def cmd(self, line, expect):
        self.sock.sendall(line.encode() + b"\r\n")
        code, text = self.reply()
        if code not in expect:
            fail(f"{line}: expected {expect}, got {text}")
        return text

    def auth_tls(self, server_name):
        self.cmd("AUTH TLS", [234])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_name)
        self.file = self.sock.makefile("rb")
        return self.sock.getpeercert(binary_form=True)

    def login(self, user, password):
        self.cmd(f"USER {user}", [331])
        self.cmd(f"PASS {password}", [230])

    def quit(self):
        try:
            self.cmd("QUIT", [221])
        finally:
            self.sock.close()


def main():
    if len(sys.argv) != 8:
        fail(__doc__)
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    cert_a, cert_b, cert_default = der(sys.argv[5]), der(sys.argv[6]), der(sys.argv[7])

    # SNI a.example: host A's certificate; HOST must then name host A.
    c = Control(host, port)
    if c.auth_tls("a.example") != cert_a:
        fail("SNI a.example: not host A's certificate")
    text = c.cmd("HOST b.example", [504])
    if "TLS" not in text:
        fail(f"HOST b.example after SNI a.example: {text}")
    c.cmd("HOST A.EXAMPLE", [220])
    c.login(user, password)
    listing = c.cmd("STAT /", [213])
    if "only-in-a" not in listing or "only-in-default" in listing:
        fail(f"SNI a.example: wrong root: {listing}")
    c.cmd("HOST a.example", [503])
    c.quit()
    print("ok: SNI a.example chose host A and its certificate; HOST must agree", flush=True)

    # SNI b.example without HOST: host B, its certificate and its root.
    c = Control(host, port)
    if c.auth_tls("b.example") != cert_b:
        fail("SNI b.example: not host B's certificate")
    c.login(user, password)
    listing = c.cmd("STAT /", [213])
    if "only-in-b" not in listing:
        fail(f"SNI b.example: wrong root: {listing}")
    # REIN stays on the host the TLS server name chose.
    c.cmd("REIN", [220])
    c.login(user, password)
    if "only-in-b" not in c.cmd("STAT /", [213]):
        fail("after REIN: not host B any more")
    c.quit()
    print("ok: SNI b.example alone chose host B (also after REIN)", flush=True)

    # HOST before AUTH, no SNI: the handshake presents the chosen host's certificate.
    c = Control(host, port)
    c.cmd("HOST a.example", [220])
    if c.auth_tls(None) != cert_a:
        fail("HOST a.example then AUTH TLS: not host A's certificate")
    c.login(user, password)
    if "only-in-a" not in c.cmd("STAT /", [213]):
        fail("HOST a.example then AUTH TLS: wrong root")
    c.quit()
    print("ok: HOST before AUTH TLS chose the certificate", flush=True)

    # HOST a.example, then a handshake naming host B: the connection ends.
    c = Control(host, port)
    c.cmd("HOST a.example", [220])
    c.cmd("AUTH TLS", [234])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c.sock = ctx.wrap_socket(c.sock, server_hostname="b.example")
    c.file = c.sock.makefile("rb")
    code, text = c.reply()
    if code != 421:
        fail(f"SNI b.example after HOST a.example: expected 421, got {text}")
    c.sock.close()
    print("ok: an SNI naming another host than HOST ends the connection", flush=True)

    # Neither SNI nor HOST: the default host and the server's certificate.
    c = Control(host, port)
    if c.auth_tls(None) != cert_default:
        fail("no SNI: not the server's own certificate")
    c.login(user, password)
    if "only-in-default" not in c.cmd("STAT /", [213]):
        fail("no SNI: wrong root")
    c.quit()
    print("ok: no SNI, no HOST: the default host", flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
