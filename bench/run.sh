#!/usr/bin/env bash
# The whole benchmark of issue 8 in one run: Ferry against vsftpd, pure-ftpd, proftpd and
# pyftpdlib, then `ferry analyze` against tshark; writes bench/BENCHMARKS.md.
#
#   sudo bench/run.sh                 # everything (about 10 minutes on 2 CPUs, after the build)
#   sudo bench/run.sh --servers ferry,pyftpdlib --reps 3 --idle 1000   # a subset
#
# Every argument goes to `ferry-bench run` (see `target/release/ferry-bench run --help`).
# Environment: SKIP_INSTALL=1 (the peers and tools are installed already), SKIP_ANALYZE=1
# (no analyzer run), OUT (default bench/BENCHMARKS.md), ANALYZE_MIB (default 500).
#
# Steps: install the peers (scripts/install-peers.sh) and the tools (tshark, time); build
# ferry and ferry-bench in release mode; raise the open-file limit; run ferry-bench pinned
# to CPU 1 (it starts every server pinned to CPU 0, each with equal settings on
# 127.0.0.1); run bench/analyze/run.sh; assemble the report with the machine, the versions
# and the exact commands.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "error: run as root (the peer servers start as root and switch users; the analyzer" >&2
    echo "       benchmark captures on lo)" >&2
    exit 1
fi
OUT="${OUT:-bench/BENCHMARKS.md}"
ANALYZE_MIB="${ANALYZE_MIB:-500}"
RESULTS="bench/results"
mkdir -p "$RESULTS"

if [ "${SKIP_INSTALL:-0}" != 1 ]; then
    echo "== installing peers and tools"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends tshark time curl python3 util-linux </dev/null
    bash scripts/install-peers.sh </dev/null
fi

echo "== building (release)"
cargo build --release -q -p ferry -p ferry-bench
FERRY="$PWD/target/release/ferry"
BENCH="$PWD/target/release/ferry-bench"

source bench/pin.sh

CMD=("${PIN[@]}" "$BENCH" run --ferry "$FERRY" --json "$RESULTS/servers.json"
    --markdown "$RESULTS/servers.md" "${EXTRA[@]}" "$@")
echo "== ${CMD[*]}"
"${CMD[@]}"

if [ "${SKIP_ANALYZE:-0}" != 1 ]; then
    echo "== bench/analyze/run.sh $ANALYZE_MIB"
    FERRY_BIN="$FERRY" bash bench/analyze/run.sh "$ANALYZE_MIB" | tee "$RESULTS/analyze.txt"
fi

echo "== writing $OUT"
peer_version() {
    local f="/opt/ferry-peers/$1/.ferry-peer-version"
    if [ -f "$f" ]; then tr -s ' ' <"$f" | sed 's/ *$//'; else echo "?"; fi
}
{
    cat bench/BENCHMARKS.head.md
    echo
    echo "## This run"
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- Machine: $(nproc) CPU(s) ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)), $(free -g | awk '/^Mem:/ {print $2}') GiB memory, $(uname -sr), $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "- Filesystem of the roots and the big file (\`/tmp\`): $(df -T /tmp | awk 'NR==2 {print $2}')"
    echo "- Ferry: $("$FERRY" --version) (commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ', with local changes'))"
    echo "- vsftpd $(dpkg-query -W -f '${Version}' vsftpd 2>/dev/null || echo '?'); pure-ftpd: $(peer_version pure-ftpd); proftpd: $(peer_version proftpd); pyftpdlib $(/opt/ferry-peers/pyftpdlib/bin/python -c 'import pyftpdlib; print(pyftpdlib.__ver__)' 2>/dev/null || echo '?') on $(/opt/ferry-peers/pyftpdlib/bin/python --version 2>&1)"
    echo "- Command: \`sudo bench/run.sh $*\`, which ran \`${CMD[*]}\`$( [ "${SKIP_ANALYZE:-0}" = 1 ] || echo " and \`bench/analyze/run.sh $ANALYZE_MIB\`")"
    echo
    echo "### Servers"
    echo
    cat "$RESULTS/servers.md"
    if [ -f "$RESULTS/analyze.txt" ] && [ "${SKIP_ANALYZE:-0}" != 1 ]; then
        echo
        echo "### Analyzer: \`ferry analyze --json\` against tshark"
        echo
        sed -n '/^Capture:/,$p' "$RESULTS/analyze.txt"
        echo
        echo "Target: ≥ 500 MB/s with ≤ 64 MiB peak RSS for \`ferry analyze --json\`."
    fi
    if [ -f bench/BENCHMARKS.tail.md ]; then
        echo
        cat bench/BENCHMARKS.tail.md
    fi
} >"$OUT"
echo "== $OUT written"
