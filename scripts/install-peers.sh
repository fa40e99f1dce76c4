#!/usr/bin/env bash
# Installs the four peer FTP servers the Ferry client tests run against on 127.0.0.1
# (crates/ferry/tests/support/peers.rs starts them, one private instance per test):
#
#   vsftpd     Debian package, installed with apt-get (/usr/sbin/vsftpd)
#   pure-ftpd  Debian package, unpacked with dpkg -x into $PEERS_DIR/pure-ftpd
#   proftpd    Debian packages proftpd-core + proftpd-mod-crypto (mod_tls), unpacked into
#              $PEERS_DIR/proftpd
#   pyftpdlib  PyPI (with pyOpenSSL for FTPS), in a virtualenv at $PEERS_DIR/pyftpdlib
#
# The three Debian FTP servers conflict with each other (each provides ftp-server), so only
# vsftpd is installed; the others run from their unpacked trees with configs of the tests.
#
# Also creates the system account `ferrytest` (vsftpd only logs in system accounts; the
# other peers use virtual users mapped to its uid/gid so every peer writes files as the
# same user) and the PAM service `ferry-vsftpd` (pam_unix only) it logs in through.
#
# Idempotent; needs root (or sudo), no stdin. PEERS_DIR defaults to /opt/ferry-peers
# (the tests read FERRY_PEERS_DIR, same default).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
PEERS_DIR="${FERRY_PEERS_DIR:-/opt/ferry-peers}"

# Pinned PyPI versions (checked together on Debian 12's Python 3.11).
PYFTPDLIB_VERSION="2.2.0"
PYOPENSSL_VERSION="26.4.0"
CRYPTOGRAPHY_VERSION="50.0.2"

# The test account (its password is a fixed test value, not a secret: the account has no
# shell and only the ferry-vsftpd PAM service is meant to use it).
FTP_USER="ferrytest"
FTP_PASSWORD="ferrytest-pass"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

say() {
    echo "install-peers: $*"
}

# Shared libraries the unpacked proftpd and pure-ftpd binaries link against (their
# Debian Depends, minus the packages that would pull in the conflicting servers).
LIBS=(libacl1 libcap2 libcrypt1 libhiredis0.14 libidn2-0 libmemcached11 libmemcachedutil2
      libncursesw6 libpam0g libpcre2-8-0 libpcre2-posix3 libssl3 libtinfo6 zlib1g libsodium23)

say "apt-get install vsftpd, openssl, python3-venv and the peers' libraries"
if [ "${FERRY_PEERS_SKIP_APT_UPDATE:-}" != "1" ]; then
    $SUDO apt-get update -q </dev/null
fi
# policy-rc.d or not: vsftpd must not run as a system service on port 21 (the tests start
# their own instances); it is stopped below if it was started.
$SUDO apt-get install -y -q -o Dpkg::Use-Pty=0 --no-install-recommends \
    vsftpd openssl python3 python3-venv ca-certificates "${LIBS[@]}" </dev/null
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now vsftpd.service >/dev/null 2>&1 || true
fi

# unpack PACKAGE... into DIR, unless DIR/.ferry-peer-version already names these versions.
unpack() {
    local dir="$1"
    shift
    local want=""
    local pkg
    for pkg in "$@"; do
        local version
        version="$(apt-cache policy "$pkg" | sed -n 's/^ *Candidate: *//p')"
        if [ -z "$version" ] || [ "$version" = "(none)" ]; then
            echo "install-peers: error: Debian package $pkg has no installation candidate" >&2
            exit 1
        fi
        want="$want$pkg=$version "
    done
    if [ -f "$dir/.ferry-peer-version" ] && [ "$(cat "$dir/.ferry-peer-version")" = "$want" ]; then
        say "$dir already holds $want"
        return
    fi
    local tmp
    tmp="$(mktemp -d)"
    chmod 755 "$tmp"
    # apt-get download writes as _apt where it can (else it warns and downloads as root).
    if getent passwd _apt >/dev/null; then
        $SUDO chown _apt "$tmp"
    fi
    (cd "$tmp" && $SUDO apt-get download -q "$@" </dev/null) || {
        $SUDO rm -rf "$tmp"
        echo "install-peers: error: apt-get download $* failed" >&2
        exit 1
    }
    $SUDO rm -rf "$dir.new"
    $SUDO mkdir -p "$dir.new"
    local deb
    for deb in "$tmp"/*.deb; do
        $SUDO dpkg -x "$deb" "$dir.new"
    done
    $SUDO rm -rf "$tmp"
    echo "$want" | $SUDO tee "$dir.new/.ferry-peer-version" >/dev/null
    $SUDO rm -rf "$dir"
    $SUDO mv "$dir.new" "$dir"
    say "unpacked $want into $dir"
}

$SUDO mkdir -p "$PEERS_DIR"
$SUDO chmod 755 "$PEERS_DIR"
unpack "$PEERS_DIR/pure-ftpd" pure-ftpd
unpack "$PEERS_DIR/proftpd" proftpd-core proftpd-mod-crypto

# Every unpacked binary must find its libraries.
for bin in "$PEERS_DIR/pure-ftpd/usr/sbin/pure-ftpd" "$PEERS_DIR/pure-ftpd/usr/bin/pure-pw" \
    "$PEERS_DIR/proftpd/usr/sbin/proftpd" "$PEERS_DIR/proftpd/usr/lib/proftpd/mod_tls.so"; do
    if [ ! -e "$bin" ]; then
        echo "install-peers: error: $bin is missing from the unpacked package" >&2
        exit 1
    fi
    if ldd "$bin" | grep -q 'not found'; then
        echo "install-peers: error: $bin lacks shared libraries:" >&2
        ldd "$bin" | grep 'not found' >&2
        exit 1
    fi
done

say "pyftpdlib $PYFTPDLIB_VERSION and pyOpenSSL $PYOPENSSL_VERSION in $PEERS_DIR/pyftpdlib"
# Debian's interpreter on purpose: the virtualenv must be usable by the ferrytest account
# (an interpreter under /root, say from pyenv, is not).
VENV="$PEERS_DIR/pyftpdlib"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    $SUDO rm -rf "$VENV"
    $SUDO /usr/bin/python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" - "$PYFTPDLIB_VERSION" "$PYOPENSSL_VERSION" "$CRYPTOGRAPHY_VERSION" \
    >/dev/null 2>&1 <<'EOF'
import sys
import cryptography, pyftpdlib, OpenSSL
from pyftpdlib.handlers import TLS_FTPHandler
assert pyftpdlib.__ver__ == sys.argv[1], pyftpdlib.__ver__
assert OpenSSL.__version__ == sys.argv[2], OpenSSL.__version__
assert cryptography.__version__ == sys.argv[3], cryptography.__version__
EOF
then
    $SUDO "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input \
        "pyftpdlib==$PYFTPDLIB_VERSION" "pyOpenSSL==$PYOPENSSL_VERSION" \
        "cryptography==$CRYPTOGRAPHY_VERSION" </dev/null
fi
$SUDO chmod -R a+rX "$VENV"

say "system account $FTP_USER and PAM service ferry-vsftpd"
# vsftpd changes into the account's home directory before its chroot (local_root): the
# home must exist. An empty root-owned directory.
FTP_HOME="$PEERS_DIR/home"
$SUDO mkdir -p "$FTP_HOME"
$SUDO chmod 755 "$FTP_HOME"
if ! getent passwd "$FTP_USER" >/dev/null; then
    $SUDO useradd --system --user-group --no-create-home --home-dir "$FTP_HOME" \
        --shell /usr/sbin/nologin "$FTP_USER"
elif [ "$(getent passwd "$FTP_USER" | cut -d: -f6)" != "$FTP_HOME" ]; then
    $SUDO usermod --home "$FTP_HOME" "$FTP_USER"
fi
echo "$FTP_USER:$FTP_PASSWORD" | $SUDO chpasswd
# pam_unix only: no /etc/ftpusers or /etc/shells checks (the account has no login shell).
printf '%s\n' \
    '# Ferry client tests: vsftpd instances started by crates/ferry/tests/support/peers.rs' \
    'auth    required pam_unix.so' \
    'account required pam_unix.so' \
    'session required pam_permit.so' | $SUDO tee /etc/pam.d/ferry-vsftpd >/dev/null

say "versions"
vsftpd_version="$(dpkg-query -W -f '${Version}' vsftpd)"
# (vsftpd -v writes its version to file descriptor 0.)
echo "vsftpd $vsftpd_version ($(/usr/sbin/vsftpd -v 0>&1 2>&1 | head -n 1))"
echo "$(cat "$PEERS_DIR/pure-ftpd/.ferry-peer-version")($("$PEERS_DIR/pure-ftpd/usr/sbin/pure-ftpd" --help 2>&1 | head -n 1))"
echo "$(cat "$PEERS_DIR/proftpd/.ferry-peer-version")($("$PEERS_DIR/proftpd/usr/sbin/proftpd" -v 2>&1 | head -n 1))"
"$VENV/bin/python" -c 'import sys, cryptography, pyftpdlib, OpenSSL; print("pyftpdlib", pyftpdlib.__ver__, "pyOpenSSL", OpenSSL.__version__, "cryptography", cryptography.__version__, "on Python", sys.version.split()[0])'
openssl version
