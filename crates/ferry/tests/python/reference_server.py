#!/usr/bin/env python3
"""Reference FTP server (pyftpdlib) that speaks the `ferry serve` command line.

It exists only to check that the interop tests themselves are right: run the
suite with

    FERRY_TEST_SERVER_CMD="python3 crates/ferry/tests/python/reference_server.py" \
        cargo nextest run -p ferry

and every test starts this script instead of the `ferry` binary. It accepts
the subset of `ferry serve` options the tests use and prints the same
`Ferry FTP server listening on ADDR` line per bound address.

Needs `pip install pyftpdlib`; the real test suite does not.

FTPS mode (for the ftps_* tests): with `--state-dir` (and `--tls` other than
`off`) it generates a self-signed certificate (`ferry-cert.pem`, SANs localhost,
127.0.0.1 and ::1) there, prints its fingerprint, and uses pyftpdlib's
TLS_FTPHandler with Ferry's policy options approximated: `--tls required`
(USER/PASS need AUTH first, 530; `--tls-anonymous exempt`), `--tls-data
required` (521), `--tls-session-reuse require` (522 on a data connection that
does not resume a session), TLS 1.2+ only, `PROT S|E` -> 536, and implicit FTPS
on `--implicit-listen`. Needs `pip install pyftpdlib pyopenssl` (and the
`cryptography` package pyopenssl pulls in).
"""

import argparse
import datetime
import hashlib
import ipaddress
import logging
import os
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import DTPHandler, FTPHandler
from pyftpdlib.servers import FTPServer

RW = "elradfmwMT"
RO = "elr"


def parse_listen(text):
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    return host, int(port)


def main():
    argv = sys.argv[1:]
    if argv and argv[0] == "serve":
        argv = argv[1:]
    p = argparse.ArgumentParser()
    p.add_argument("--listen", action="append", default=[])
    p.add_argument("--root", required=True)
    p.add_argument("--user", action="append", default=[])
    p.add_argument("--anonymous", default="off")
    p.add_argument("--passive-ports")
    p.add_argument("--public-host")
    p.add_argument("--data-timeout", type=int)
    p.add_argument("--idle-timeout", type=int)
    p.add_argument("--log-format")
    p.add_argument("--state-dir")
    p.add_argument("--implicit-listen", action="append", default=[])
    p.add_argument("--tls", default="optional")
    p.add_argument("--tls-anonymous", default="exempt")
    p.add_argument("--tls-data", default="optional")
    p.add_argument("--tls-session-reuse", default="accept")
    p.add_argument("--cert")
    p.add_argument("--key")
    args = p.parse_args(argv)

    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    auth = DummyAuthorizer()
    for spec in args.user:
        parts = spec.split(":")
        name, password = parts[0], parts[1]
        mode = parts[2] if len(parts) > 2 else "rw"
        auth.add_user(name, password, args.root, perm=RW if mode == "rw" else RO)
    if args.anonymous in ("ro", "rw"):
        auth.add_anonymous(args.root, perm=RW if args.anonymous == "rw" else RO)

    class Dtp(DTPHandler):
        timeout = args.data_timeout or 300

    class Handler(FTPHandler):
        authorizer = auth
        dtp_handler = Dtp
        timeout = args.idle_timeout or 300
        use_sendfile = False
        encoding = "utf8"

    if args.passive_ports:
        lo, hi = args.passive_ports.split("-")
        Handler.passive_ports = range(int(lo), int(hi) + 1)
    if args.public_host:
        Handler.masquerade_address = args.public_host

    tls = args.tls != "off" and (args.state_dir or args.cert)
    implicit_handler = None
    if tls:
        Handler, implicit_handler = tls_handlers(Handler, Dtp, args)

    servers = []
    for text in args.implicit_listen:
        server = FTPServer(parse_listen(text), implicit_handler)
        servers.append(server)
        host, port = server.socket.getsockname()[:2]
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        print(f"Ferry FTPS (implicit) listening on {shown}", flush=True)
    for text in args.listen or ["127.0.0.1:2121"]:
        server = FTPServer(parse_listen(text), Handler)
        servers.append(server)
        host, port = server.socket.getsockname()[:2]
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        print(f"Ferry FTP server listening on {shown}", flush=True)
    if len(servers) == 1:
        servers[0].serve_forever()
    else:
        # All servers share pyftpdlib's default IOLoop: serving one serves them all.
        servers[-1].serve_forever()


def generate_cert(state_dir):
    """A self-signed certificate like Ferry's, kept in state_dir; returns (cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    os.makedirs(state_dir, exist_ok=True)
    cert_path = os.path.join(state_dir, "ferry-cert.pem")
    key_path = os.path.join(state_dir, "ferry-key.pem")
    if not (os.path.exists(cert_path) and os.path.exists(key_path)):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ferry reference")])
        now = datetime.datetime.now(datetime.timezone.utc)
        san = x509.SubjectAlternativeName([
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(san, critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        with open(key_path, "wb") as f:
            f.write(key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ))
        with open(cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def fingerprint(cert_path):
    import ssl

    with open(cert_path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def tls_handlers(base, dtp_base, args):
    """TLS handler classes (explicit, implicit) with Ferry's policy options."""
    from OpenSSL import SSL
    from OpenSSL._util import lib as ossl
    from pyftpdlib.handlers import TLS_DTPHandler, TLS_FTPHandler

    if args.cert:
        cert, key = args.cert, args.key or args.cert
    else:
        cert, key = generate_cert(args.state_dir)
        print(f"TLS certificate SHA-256 fingerprint: {fingerprint(cert)}", flush=True)

    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.use_certificate_chain_file(cert)
    ctx.use_privatekey_file(key)
    ctx.set_options(SSL.OP_NO_SSLv2 | SSL.OP_NO_SSLv3 | SSL.OP_NO_TLSv1
                    | SSL.OP_NO_TLSv1_1 | SSL.OP_NO_COMPRESSION)
    ctx.set_session_id(b"ferry-reference")
    # OpenSSL sends TLS 1.3 session tickets on every connection, data connections
    # included; lftp closes an upload's data connection without reading them, so the
    # kernel answers with a reset and the end of the upload is lost (Ferry sends no
    # tickets on data connections). REFERENCE_TLS_MAX=1.2 avoids that when checking the
    # lftp tests against this server.
    if os.environ.get("REFERENCE_TLS_MAX") == "1.2":
        ctx.set_max_proto_version(SSL.TLS1_2_VERSION)
    required = args.tls == "required"
    anon_exempt = args.tls_anonymous == "exempt"
    data_required = args.tls_data == "required"
    reuse_required = args.tls_session_reuse == "require"

    class TlsDtp(TLS_DTPHandler):
        timeout = dtp_base.timeout

        def handle_ssl_established(self):
            if reuse_required and not ossl.SSL_session_reused(self.socket._ssl):
                self.cmd_channel.respond(
                    "522 Data connection refused: TLS session reuse is required "
                    "(resume the control connection's TLS session)")
                self.cmd_channel.log_cmd("PROT", "P", 522, "no session reuse")
                self._error = True
                self.transfer_finished = False
                self._resp = ("", None)
                self.cmd_channel.data_channel = None
                SSLConn_close(self)

    def SSLConn_close(dtp):
        # Close the data socket without the "426/226" the DTP would send.
        from pyftpdlib.ioloop import AsyncChat

        AsyncChat.close(dtp)

    class TlsHandler(TLS_FTPHandler):
        authorizer = base.authorizer
        dtp_handler = TlsDtp
        timeout = base.timeout
        use_sendfile = False
        encoding = "utf8"
        ssl_context = ctx
        passive_ports = getattr(base, "passive_ports", None)
        masquerade_address = getattr(base, "masquerade_address", None)

        def process_command(self, cmd, *args_, **kwargs):
            if cmd in ("USER", "PASS") and required and not self._ssl_established:
                user = args_[0] if cmd == "USER" else (self.username or "")
                if not (anon_exempt and user.lower() in ("anonymous", "ftp")):
                    self.respond("530 TLS required: send AUTH TLS first.")
                    return
            if (cmd in ("RETR", "STOR", "APPE", "STOU", "LIST", "NLST", "MLSD")
                    and data_required and not self._prot):
                self.respond("521 Data connections must be protected: send PROT P.")
                return
            return TLS_FTPHandler.process_command(self, cmd, *args_, **kwargs)

        def ftp_PROT(self, line):
            if (isinstance(self.socket, SSL.Connection) and self._pbsz
                    and line.upper() in ("S", "E")):
                self.respond(f"536 PROT {line.upper()} not supported (use C or P).")
                return
            return TLS_FTPHandler.ftp_PROT(self, line)

    class ImplicitHandler(TlsHandler):
        def handle(self):
            self.secure_connection(self.ssl_context)
            self._pbsz = False
            TlsHandler.handle(self)

    return TlsHandler, ImplicitHandler


if __name__ == "__main__":
    main()
