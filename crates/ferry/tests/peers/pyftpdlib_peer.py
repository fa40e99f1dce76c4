"""pyftpdlib as a peer server for the Ferry client tests.

Started by crates/ferry/tests/support/peers.rs (which passes this file's text with
`python -c`, so the unprivileged FTP account needs no access to the source tree):

    python -c SCRIPT --port PORT --root DIR --user NAME --passive-ports A-B
                     --banner TEXT [--certfile PEM --keyfile PEM] [--quiet]

The password comes from the FERRY_PEER_PASSWORD environment variable (never from the
command line, which the harness prints in its logs). The server listens on 127.0.0.1
only, logs every command to stderr, and exits on SIGTERM/SIGKILL from the harness.
"""

import argparse
import logging
import os
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

# Every permission: e l r a d f m w M T (list, read, append, delete, rename, mkdir,
# write, chmod, mtime).
PERMS = "elradfmwMT"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--passive-ports", required=True)
    p.add_argument("--banner", required=True)
    p.add_argument("--certfile")
    p.add_argument("--keyfile")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args()

    password = os.environ.get("FERRY_PEER_PASSWORD")
    if password is None:
        sys.exit("FERRY_PEER_PASSWORD is not set")
    os.umask(0o022)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING if a.quiet else logging.DEBUG,
        format="%(asctime)s %(message)s",
    )

    authorizer = DummyAuthorizer()
    authorizer.add_user(a.user, password, a.root, perm=PERMS)

    if a.certfile:
        from pyftpdlib.handlers import TLS_FTPHandler

        class Handler(TLS_FTPHandler):
            pass

        Handler.certfile = a.certfile
        Handler.keyfile = a.keyfile
        # Explicit FTPS offered, never required (like the other peers).
        Handler.tls_control_required = False
        Handler.tls_data_required = False
    else:

        class Handler(FTPHandler):
            pass

    low, _, high = a.passive_ports.partition("-")
    Handler.authorizer = authorizer
    Handler.banner = a.banner
    Handler.passive_ports = list(range(int(low), int(high) + 1))
    Handler.permit_foreign_addresses = False
    Handler.permit_privileged_ports = False
    Handler.encoding = "utf8"

    server = FTPServer(("127.0.0.1", a.port), Handler, backlog=1024)
    server.max_cons = 0
    server.max_cons_per_ip = 0
    server.serve_forever(handle_exit=True)


if __name__ == "__main__":
    main()
