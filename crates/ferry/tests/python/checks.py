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
