# Sourced by bench/run.sh and bench/soak/run.sh: raises the open-file limit to the hard
# one and sets PIN (the command prefix pinning ferry-bench, and so its clients, to CPU 1)
# and EXTRA (`--no-pin` on a one-CPU machine, where nothing is pinned).
ulimit -Hn 1048576 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"
PIN=(taskset -c 1)
EXTRA=()
if [ "$(nproc)" -lt 2 ]; then
    PIN=()
    EXTRA=(--no-pin)
fi
