#!/usr/bin/env bash
# health-idle.sh — how often an idle supervisor wakes up with a probe configured.
#
# Runs `respawn run` on a child that listens on a TCP port, once without [health]
# and once with a TCP probe every INTERVAL, for SECONDS each, and prints the
# supervisor's voluntary context switches (all its threads, from /proc) next to the
# number of probes the interval allows. The goal: no wakeups beyond the probes
# (each probe costs a few: the timer, the connect, the state file write).
#
# Usage: bench/health-idle.sh [SECONDS] [INTERVAL]   (defaults: 10 2s)
# Environment: RESPAWN_BIN (default: target/debug/respawn, built if missing).
# Linux only (it reads /proc). Stops what it starts, by pid.
set -euo pipefail

seconds=${1:-10}
interval=${2:-2s}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
[[ "$(uname -s)" == Linux ]] || { echo "health-idle.sh: needs Linux (/proc)" >&2; exit 1; }
if [[ -z "${RESPAWN_BIN:-}" ]]; then
    (cd "$repo" && cargo build --quiet --bin respawn)
    RESPAWN_BIN="${CARGO_TARGET_DIR:-$repo/target}/debug/respawn"
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
server="import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $port)); s.listen(16)
while True:
    c,_=s.accept(); c.close()"

switches() { # all threads of pid $1
    cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ {n += $2} END {print n+0}'
}

measure() { # name, extra spec text
    local name=$1 extra=$2
    cat > "$tmp/$name.toml" <<SPEC
name = "$name"
command = "python3"
args = ["-c", '''$server''']
$extra
SPEC
    "$RESPAWN_BIN" run --spec "$tmp/$name.toml" --state-dir "$tmp/state" 2>/dev/null &
    local pid=$!
    pids+=("$pid")
    sleep 2 # settle: started, first probes done
    local before after
    before=$(switches "$pid")
    sleep "$seconds"
    after=$(switches "$pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo $((after - before))
}

plain=$(measure idle-plain "")
probed=$(measure idle-probe "[health]
tcp = \"127.0.0.1:$port\"
interval = \"$interval\"")
secs=$(python3 -c "import re,sys; m=re.match(r'([\d.]+)(ms|s|m)$', '$interval'); v=float(m[1])*{'ms':0.001,'s':1,'m':60}[m[2]]; print(v)")
probes=$(python3 -c "print(int($seconds / $secs))")
echo "idle ${seconds}s: no [health]: $plain voluntary context switches"
echo "idle ${seconds}s: tcp probe every $interval ($probes probes): $probed voluntary context switches"
