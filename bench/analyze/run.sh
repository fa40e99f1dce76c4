#!/usr/bin/env bash
# Benchmark: `ferry analyze --json` against tshark on a capture of one large FTP download.
#
#   sudo bench/analyze/run.sh [SIZE_MIB]        (default 500; root: capturing on lo)
#
# Steps: build ferry (release), serve a SIZE_MIB random file from `ferry serve` on
# 127.0.0.1, download it with curl while capturing loopback (`ferry capture`, or tshark's
# dumpcap with CAPTURE=tshark) to a pcapng, then time on that one file, side by side:
#   ferry analyze F --json                    (sessions, commands, transfers with sha256)
#   ferry analyze F --json --extract DIR      (plus writing the file out)
#   tshark -r F -Y ftp -T fields ...          (control lines only)
#   tshark -r F -q --export-objects ftp-data,DIR   (file extraction)
# and print MB/s (capture bytes / wall time) and peak RSS (/usr/bin/time -v), plus whether
# each tool recovered the file (sha256). See README.md next to this script.
#
# Environment: FERRY_BIN (use this binary, skip the build), CAPTURE=ferry|tshark,
# RATE (curl --limit-rate, default 150M: keeps the capture lossless on a small machine), KEEP=1 (keep the work
# directory), WORK (work directory, default a fresh one under /tmp).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

SIZE_MIB="${1:-${SIZE_MIB:-500}}"
CAPTURE="${CAPTURE:-ferry}"
RATE="${RATE:-150M}"

need() {
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "error: $1 is missing (Debian package: $2)" >&2
        exit 1
    fi
}
need curl curl
need tshark tshark
need python3 python3
need sha256sum coreutils
if [ ! -x /usr/bin/time ]; then
    echo "error: /usr/bin/time is missing (Debian package: time)" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "error: capturing on lo needs root (or CAP_NET_RAW): run with sudo" >&2
    exit 1
fi

if [ -z "${FERRY_BIN:-}" ]; then
    echo "== building ferry (release)"
    cargo build --release -p ferry --quiet
    FERRY_BIN="$PWD/target/release/ferry"
fi
FERRY_BIN="$(realpath "$FERRY_BIN")"

WORK="${WORK:-$(mktemp -d /tmp/ferry-bench-analyze.XXXXXX)}"
mkdir -p "$WORK/root" "$WORK/out/ferry" "$WORK/out/tshark"
SERVER_PID=""
CAPTURE_PID=""
cleanup() {
    if [ -n "$CAPTURE_PID" ]; then kill "$CAPTURE_PID" 2>/dev/null || true; fi
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    if [ "${KEEP:-0}" != 1 ]; then
        rm -rf "$WORK"
    else
        echo "work directory kept: $WORK"
    fi
}
trap cleanup EXIT

echo "== ${SIZE_MIB} MiB test file"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$WORK/root/big.bin"
EXPECTED="$(sha256sum "$WORK/root/big.bin" | cut -d' ' -f1)"

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$FERRY_BIN" serve --listen "127.0.0.1:$PORT" --root "$WORK/root" --anonymous ro --tls off \
    >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    grep -q "listening on" "$WORK/server.log" 2>/dev/null && break
    sleep 0.1
done

PCAP="$WORK/big.pcapng"
echo "== capturing the download on lo with $CAPTURE (curl --limit-rate $RATE)"
case "$CAPTURE" in
    ferry)
        "$FERRY_BIN" capture -i lo --port "$PORT" -w "$PCAP" >"$WORK/capture.out" 2>"$WORK/capture.err" &
        CAPTURE_PID=$!
        for _ in $(seq 1 100); do
            grep -q "listening on" "$WORK/capture.err" 2>/dev/null && break
            sleep 0.1
        done
        ;;
    tshark)
        # Data connections use ephemeral ports: capture all TCP on loopback to the server.
        tshark -i lo -f "tcp and host 127.0.0.1" -w "$PCAP" -B 64 >"$WORK/capture.out" 2>"$WORK/capture.err" &
        CAPTURE_PID=$!
        sleep 2
        ;;
    *)
        echo "error: CAPTURE must be ferry or tshark" >&2
        exit 2
        ;;
esac
curl -q -s -S --limit-rate "$RATE" -o "$WORK/downloaded.bin" "ftp://127.0.0.1:$PORT/big.bin"
sleep 1
kill -INT "$CAPTURE_PID"
wait "$CAPTURE_PID" || true
CAPTURE_PID=""
kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
grep -h -E "dropped|packets captured|packet\(s\) kept" "$WORK/capture.err" || true
DROPPED="$(grep -o -E '[0-9]+ (packets )?dropped by (the )?kernel' "$WORK/capture.err" | grep -o -E '^[0-9]+' | head -1 || true)"
if [ -n "$DROPPED" ] && [ "$DROPPED" != 0 ]; then
    echo "error: the kernel dropped $DROPPED packets during the capture: lower RATE (now $RATE)" >&2
    exit 1
fi
if [ "$(sha256sum "$WORK/downloaded.bin" | cut -d' ' -f1)" != "$EXPECTED" ]; then
    echo "error: curl's download differs from the served file" >&2
    exit 1
fi
rm -f "$WORK/downloaded.bin"
CAP_BYTES="$(stat -c %s "$PCAP")"
echo "capture: $PCAP, $((CAP_BYTES / 1024 / 1024)) MiB"

# measure NAME OUTPUT-FILE COMMAND...: runs the command under /usr/bin/time -v, stdout to
# OUTPUT-FILE, and appends "NAME<TAB>seconds<TAB>max-rss-KiB<TAB>exit" to results.tsv.
measure() {
    local name="$1" out="$2"
    shift 2
    echo "== $name"
    sync
    local rc=0
    /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$out" 2>"$WORK/stderr.txt" || rc=$?
    python3 - "$name" "$WORK/time.txt" "$rc" >>"$WORK/results.tsv" <<'PY'
import re, sys
name, path, rc = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1)
secs = 0.0
for part in wall.split(":"):
    secs = secs * 60 + float(part)
rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)
print(f"{name}\t{secs:.3f}\t{rss}\t{rc}")
PY
}

: >"$WORK/results.tsv"
# The server is not on port 21: both tools are told which port is FTP (ferry would find it
# from the greeting anyway; tshark needs "decode as").
measure "ferry analyze --json" "$WORK/ferry.json" \
    "$FERRY_BIN" analyze "$PCAP" --json --ftp-port "$PORT"
measure "ferry analyze --json --extract" "$WORK/ferry-extract.json" \
    "$FERRY_BIN" analyze "$PCAP" --json --ftp-port "$PORT" --extract "$WORK/out/ferry"
measure "tshark -Y ftp -T fields" "$WORK/tshark.tsv" \
    tshark -r "$PCAP" -d "tcp.port==$PORT,ftp" -Y ftp -T fields -e frame.number \
    -e frame.time_relative -e ip.src -e tcp.srcport -e ip.dst -e tcp.dstport \
    -e ftp.request.command -e ftp.request.arg -e ftp.response.code -e ftp.response.arg
measure "tshark --export-objects ftp-data" "$WORK/tshark-export.txt" \
    tshark -r "$PCAP" -d "tcp.port==$PORT,ftp" -q --export-objects "ftp-data,$WORK/out/tshark"

# Did each recover the file?
FERRY_SHA="$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    v = json.loads(line)
    if v["type"] == "transfer" and v["command"] == "RETR":
        print(v["sha256"] or "-"); break
else:
    print("-")' "$WORK/ferry.json")"
EXTRACT_OK="no"
for f in "$WORK/out/ferry"/*; do
    if [ -f "$f" ] && [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$EXPECTED" ]; then
        EXTRACT_OK="yes"
    fi
done
TSHARK_OK="no"
for f in "$WORK/out/tshark"/*; do
    if [ -f "$f" ] && [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$EXPECTED" ]; then
        TSHARK_OK="yes"
    fi
done
TSHARK_LINES="$(wc -l <"$WORK/tshark.tsv")"

echo
echo "Capture: $((CAP_BYTES / 1024 / 1024)) MiB pcapng of a ${SIZE_MIB} MiB RETR (captured with $CAPTURE);"
echo "$(nproc) CPU(s), $(uname -sr); ferry $("$FERRY_BIN" --version | cut -d' ' -f2), $(tshark --version 2>/dev/null | head -1)"
echo
python3 - "$WORK/results.tsv" "$CAP_BYTES" "$EXPECTED" "$FERRY_SHA" "$EXTRACT_OK" "$TSHARK_OK" "$TSHARK_LINES" <<'PY'
import sys
path, cap_bytes, expected, ferry_sha, extract_ok, tshark_ok, tshark_lines = sys.argv[1:]
cap = int(cap_bytes)
result = {
    "ferry analyze --json": "sha256 in JSON " + ("matches" if ferry_sha == expected else f"DIFFERS ({ferry_sha[:12]})"),
    "ferry analyze --json --extract": "extracted file " + ("matches" if extract_ok == "yes" else "MISSING/DIFFERS"),
    "tshark -Y ftp -T fields": f"{tshark_lines} control lines (no transfer linking)",
    "tshark --export-objects ftp-data": "exported file " + ("matches" if tshark_ok == "yes" else "missing or differs"),
}
rows = []
for line in open(path):
    name, secs, rss_kib, rc = line.rstrip("\n").split("\t")
    secs = float(secs)
    mbps = cap / 1e6 / secs if secs > 0 else float("inf")
    rows.append((name, f"{secs:.2f}", f"{mbps:.0f}", f"{int(rss_kib) / 1024:.0f}", rc, result.get(name, "")))
head = ("tool", "wall s", "MB/s", "peak RSS MiB", "exit", "result")
widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
fmt = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
print(fmt(head))
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for r in rows:
    print(fmt(r))
PY
