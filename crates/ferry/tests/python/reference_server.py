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
"""

import argparse
import logging
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

    servers = []
    for text in args.listen or ["127.0.0.1:2121"]:
        server = FTPServer(parse_listen(text), Handler)
        servers.append(server)
        host, port = server.socket.getsockname()[:2]
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        print(f"Ferry FTP server listening on {shown}", flush=True)
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
