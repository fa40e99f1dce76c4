#!/usr/bin/env bash
# Fault scripts of issue 8 (item 3): a full disk during uploads, the storage turning
# read-only, clients killed with SIGKILL mid-transfer. A thin wrapper around the
# `crates/ferry/tests/faults.rs` tests, which do the work and assert every rule.
#
#   sudo bench/faults/run.sh            (root: the disk faults mount a small tmpfs)
#
# Needs cargo-nextest, curl and mount/umount (util-linux). Bounded: each test waits at most
# tens of seconds; the whole run is cut after TIMEOUT seconds (default 600).
# See README.md next to this script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

TIMEOUT="${TIMEOUT:-600}"

if [ "$(id -u)" != 0 ]; then
    echo "error: bench/faults/run.sh must run as root (it mounts tmpfs file systems)" >&2
    exit 1
fi
for tool in cargo curl mount umount; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "error: $tool is missing" >&2
        exit 1
    fi
done
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "error: cargo-nextest is missing (cargo install cargo-nextest)" >&2
    exit 1
fi

log="$(mktemp -t ferry-faults.XXXXXX)"
trap 'rm -f "$log"' EXIT
status=0
timeout "$TIMEOUT" cargo nextest run -p ferry --test faults --no-fail-fast 2>&1 | tee "$log" ||
    status=$?

echo
echo "=== Ferry fault scripts: summary ==="
grep -E '^ +(PASS|FAIL|SIGKILL|TIMEOUT) \[' "$log" | sed -E 's/^ +//' || true
grep -E '^ +Summary ' "$log" | sed -E 's/^ +//' || true
if [ "$status" -eq 0 ]; then
    echo "result: all fault scripts passed"
else
    echo "result: FAILED (exit status $status)"
fi
exit "$status"
