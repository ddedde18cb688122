#!/bin/sh
# bench/soak.sh — a week of restarts in a few minutes (issue 26 item 8; Linux, portable).
#
#   1. kill the child N times (backoff 0: each restart still waits the 100 ms
#      anti-spin floor, so 10,000 kills take about 20 minutes);
#   2. reload the spec N times (edit it, SIGHUP: a planned restart that applies it);
#   3. stop and start the installed service N times (`respawn stop` / `respawn start`).
#
# Prints the supervisor's RSS, open fds and threads at the start, after each phase
# (they should stay flat), and the longest restart of each phase. The CI version is
# supervisor::faults::soak_short_keeps_fds_memory_and_threads_flat (500 cycles, asserts).
#
# Usage: bench/soak.sh [KILLS [RELOADS [STOPS]]]   (default 10000 1000 1000)
# Environment: RESPAWN_BIN to use a built binary instead of `cargo build --release`.
# Every process it starts is stopped by pid; its temp dir is removed.
set -eu
cd "$(dirname "$0")/.."
if [ -z "${RESPAWN_BIN:-}" ]; then
    cargo build --release --quiet --bin respawn
    RESPAWN_BIN="${CARGO_TARGET_DIR:-target}/release/respawn"
fi
exec python3 - "$RESPAWN_BIN" "${1:-10000}" "${2:-1000}" "${3:-1000}" <<'EOF'
import json, os, shutil, signal, subprocess, sys, tempfile, time

BIN = os.path.abspath(sys.argv[1])
KILLS, RELOADS, STOPS = (int(a) for a in sys.argv[2:5])
TMP = tempfile.mkdtemp(prefix="respawn-soak-")
ENV = dict(os.environ, RESPAWN_STATE_DIR=f"{TMP}/state")
NAME = "soak"
SPEC = f"{TMP}/soak.toml"

def write_spec(n):
    with open(SPEC, "w") as f:
        f.write(f'name = "{NAME}"\ncommand = "sleep"\nargs = ["100000"]\n'
                f'env = {{ SOAK_ROUND = "{n}" }}\n[restart]\nbackoff = ["0s"]\n')

def state():
    try:
        with open(f"{TMP}/state/{NAME}/state.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}

def wait(pred, limit=30.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        s = state()
        if pred(s):
            return s
        time.sleep(0.002)
    sys.exit(f"soak: timed out; last state {state()}")

def running_other_than(old):
    return lambda s: s.get("state") == "running" and s.get("child_pid") not in (None, old)

def figures(pid):
    status = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status") if ":" in l)
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return (f"RSS {status['VmRSS'].strip():>9}, fds {fds:3}, "
            f"threads {status['Threads'].strip()}")

def cli(*args):
    subprocess.run([BIN, *args], env=ENV, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def timed_rounds(label, n, one):
    worst = 0.0
    for i in range(n):
        t = time.monotonic()
        one(i)
        worst = max(worst, time.monotonic() - t)
    s = state()
    print(f"{label:<28} {figures(s['supervisor_pid'])}; longest restart {worst * 1000:.1f} ms")

try:
    write_spec(0)
    cli("install", "--backend", "portable", "--spec", SPEC)
    cli("start", NAME)
    s = wait(running_other_than(None))
    print(f"soak: {KILLS} kills, {RELOADS} reloads, {STOPS} stop/starts")
    print(f"{'start':<28} {figures(s['supervisor_pid'])}")

    def kill(_):
        child = state()["child_pid"]
        os.kill(child, signal.SIGKILL)
        wait(running_other_than(child))
    timed_rounds(f"after {KILLS} child kills", KILLS, kill)

    def reload(i):
        s = state()
        write_spec(i + 1)
        os.kill(s["supervisor_pid"], signal.SIGHUP)
        wait(running_other_than(s["child_pid"]))
    timed_rounds(f"after {RELOADS} spec reloads", RELOADS, reload)

    def stop_start(_):
        old = state()["child_pid"]
        cli("stop", NAME)
        cli("start", NAME)
        wait(running_other_than(old))
    timed_rounds(f"after {STOPS} stop/starts", STOPS, stop_start)
    files = sorted(os.listdir(f"{TMP}/state/{NAME}"))
    print(f"files in the service's folder: {' '.join(files)}")
finally:
    subprocess.run([BIN, "uninstall", NAME], env=ENV,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(TMP, ignore_errors=True)
EOF
