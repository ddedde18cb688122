#!/usr/bin/env bash
# respawn beside the supervisors people would pick instead (runit, daemontools, pm2,
# supervisord, circus), in one interleaved run of bench/harness/bench.py: SIGKILLs of
# the child (`sleep` and a Python child), kernel fork/exec timestamps (netlink proc
# connector, needs root), launch -> child running, RSS/PSS, idle wakeups. Prints the
# markdown tables (the README's Benchmark section shows one run's).
#
# Usage: sudo bench/supervisors.sh [bench.py options...]   e.g. --kills 30 --child sleep
#
# Environment:
#   RESPAWN_BIN      the respawn to measure (default: a release build of this checkout)
#   RESPAWN_BEFORE   another respawn binary, measured beside it in the same run
#                    (the "before" of a change), labelled respawn bin=PATH
#   BENCH_PREFIX     where setup.sh installs the anchors (default /tmp/benchprobe):
#                    supervisor + circus (PyPI, a venv), pm2 (npm, local), runit and
#                    daemontools (apt, as root)
#
# Timing goals live here, not in the test suite. Linux only.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
prefix="${BENCH_PREFIX:-/tmp/benchprobe}"
[[ "$(uname -s)" == Linux ]] || { echo "supervisors.sh: Linux only" >&2; exit 1; }

if [[ -n "${RESPAWN_BIN:-}" ]]; then
    respawn="$RESPAWN_BIN"
else
    (cd "$repo" && cargo build --release --quiet --bin respawn)
    respawn="${CARGO_TARGET_DIR:-$repo/target}/release/respawn"
    [[ "$respawn" == /* ]] || respawn="$repo/$respawn"
fi
[[ -x "$respawn" ]] || { echo "supervisors.sh: no respawn at $respawn" >&2; exit 1; }

if ! [[ -x "$prefix/venv/bin/supervisord" && -x "$prefix/venv/bin/circusd" &&
        -x "$prefix/node/node_modules/.bin/pm2" ]] ||
   ! command -v runsv >/dev/null || ! command -v supervise >/dev/null; then
    bash "$here/harness/setup.sh" "$prefix" >&2
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r); load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
sel=(supervisord circus circus:check_delay=0.1 pm2 runit daemontools "respawn:bin=$respawn")
[[ -n "${RESPAWN_BEFORE:-}" ]] && sel+=("respawn:bin=$RESPAWN_BEFORE")
python3 "$here/harness/bench.py" --path "$prefix/venv/bin" --path "$prefix/node/node_modules/.bin" \
    "$@" "${sel[@]}"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
