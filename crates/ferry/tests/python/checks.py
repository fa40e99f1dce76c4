"""Helpers shared by the Python test scripts beside this file.

`check` raises `Failure` unless its condition holds; a check whose name is listed in the
script's skip variable only warns, which is for validating a suite against a reference
server (the Rust tests clear that variable when they run against Ferry).
"""

import hashlib
import os


class Failure(Exception):
    pass


def make_check(skip_env):
    """A `check(cond, msg, name=None)` honouring the comma-separated names in `skip_env`."""
    skip = {s for s in os.environ.get(skip_env, "").split(",") if s}

    def check(cond, msg, name=None):
        if cond:
            return
        if name is not None and name in skip:
            print(f"warning (skipped check {name}): {msg}", flush=True)
            return
        raise Failure(msg)

    return check


def data_bytes(seed, n):
    """`n` deterministic pseudo-random bytes derived from `seed`."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}-{counter}".encode()).digest()
        counter += 1
    return bytes(out[:n])


def tree_snapshot(top, skip=()):
    """What is under `top` (itself included): {relative path: (kind, size, mtime_ns,
    sha256 of a file or target of a symlink)}, not following symlinks. Directories whose
    real path is in `skip` are left out (with everything under them). Comparing two
    snapshots shows whether anything was created, removed or changed."""
    import stat

    skip = {os.path.realpath(p) for p in skip}
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        st = os.lstat(dirpath)
        out[os.path.relpath(dirpath, top)] = ("dir", 0, st.st_mtime_ns, "")
        kept = []
        for d in dirnames:
            full = os.path.join(dirpath, d)
            if os.path.realpath(full) in skip and not os.path.islink(full):
                continue
            if os.path.islink(full):
                filenames.append(d)
                continue
            kept.append(d)
        dirnames[:] = kept
        for name in filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, top)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0, st.st_mtime_ns, os.readlink(full))
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                out[rel] = ("file", st.st_size, st.st_mtime_ns, digest)
            else:
                out[rel] = ("other", st.st_size, st.st_mtime_ns, "")
    return out
