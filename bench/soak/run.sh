#!/usr/bin/env bash
# Endurance: 1,000 clients for 10 minutes against `ferry serve`, mixing logins, LIST,
# MLSD, CWD/PWD, NOOP, downloads (0 B to 1 MiB, sizes checked) and uploads (up to 256 KiB,
# checked with SIZE, then deleted), while the server's RSS, PSS and open fds are sampled
# every 10 s. Passes (exit 0) with 0 protocol or data errors, RSS at the end within 20 %
# (or 16 MiB) of the RSS after the first quarter of the run, and the fds back to their
# start once the clients have left.
#
#   sudo bench/soak/run.sh                       # 1000 clients, 10 minutes
#   sudo bench/soak/run.sh --clients 200 --minutes 2
#
# Arguments go to `ferry-bench soak`. Results: bench/results/soak.md and soak.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if [ "$(id -u)" -ne 0 ]; then
    echo "error: run as root (the server switches to the ferrytest account that" >&2
    echo "       scripts/install-peers.sh creates)" >&2
    exit 1
fi
id ferrytest >/dev/null 2>&1 || bash scripts/install-peers.sh </dev/null
cargo build --release -q -p ferry -p ferry-bench
mkdir -p bench/results
source bench/pin.sh
exec "${PIN[@]}" target/release/ferry-bench soak --ferry target/release/ferry \
    --json bench/results/soak.json --markdown bench/results/soak.md "${EXTRA[@]}" "$@"
