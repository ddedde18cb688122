#!/bin/sh
# bench/fault-run.sh — figures for the fault matrix of issue 13 (Linux, portable mode).
# The tests (tests/supervisor/faults.rs) assert outcomes; this prints numbers:
#   1. a zero-backoff crash loop: starts per second and the supervisor's CPU share;
#   2. kill the child 100 times: time from the kill to the new child, median and max;
#   3. a daemonizing child that exits: time from its exit to the state saying so.
# Every process it starts is stopped by pid; its temp dir is removed.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/respawn"
exec python3 - "$BIN" <<'EOF'
import json, os, shutil, signal, subprocess, sys, tempfile, time

BIN = os.path.abspath(sys.argv[1])
TMP = tempfile.mkdtemp(prefix="respawn-fault-")
TICK = os.sysconf("SC_CLK_TCK")

def state(name):
    try:
        with open(f"{TMP}/state/{name}/state.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}

def wait(name, pred, limit=20.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        s = state(name)
        if s and pred(s):
            return s
        time.sleep(0.0005)
    raise SystemExit(f"timed out waiting on {name}: {state(name)}")

def run(name, body):
    spec = f"{TMP}/{name}.toml"
    with open(spec, "w") as f:
        f.write(f'name = "{name}"\n{body}')
    env = dict(os.environ, RESPAWN_STATE_DIR=f"{TMP}/state")
    return subprocess.Popen([BIN, "run", "--spec", spec], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK

def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=20)

try:
    # 1. crash loop with backoff = ["0s"]
    p = run("loop", 'command = "sh"\nargs = ["-c", "exit 1"]\n[restart]\nbackoff = ["0s"]\n')
    wait("loop", lambda s: s.get("restarts", 0) >= 1)
    r0, c0, t0 = state("loop")["restarts"], cpu_s(p.pid), time.monotonic()
    time.sleep(5)
    r1, c1, t1 = state("loop")["restarts"], cpu_s(p.pid), time.monotonic()
    stop(p)
    print(f"zero-backoff crash loop: {(r1 - r0) / (t1 - t0):.1f} starts/s, "
          f"supervisor CPU {100 * (c1 - c0) / (t1 - t0):.2f} %")

    # 2. kill the child 100 times
    p = run("k100", 'command = "sleep"\nargs = ["100000"]\n[restart]\nbackoff = ["0s"]\n')
    child = wait("k100", lambda s: s.get("state") == "running" and s.get("child_pid"))["child_pid"]
    gaps = []
    for _ in range(100):
        t = time.monotonic()
        os.kill(child, signal.SIGKILL)
        s = wait("k100", lambda s, c=child: s.get("state") == "running"
                 and s.get("child_pid") not in (None, c))
        gaps.append((time.monotonic() - t) * 1000)
        child = s["child_pid"]
    stop(p)
    gaps.sort()
    print(f"kill child x100: back after median {gaps[50]:.1f} ms, max {gaps[-1]:.1f} ms "
          f"(100 ms of it is the anti-spin floor)")

    # 3. a daemonizing child that exits: how soon the state says so
    marker = f"{TMP}/go"
    p = run("dm", 'command = "sh"\nargs = ["-c", "(setsid sleep 100000 &); '
            f'while [ ! -f {marker} ]; do sleep 0.01; done; exit 1"]\n'
            '[restart]\nbackoff = ["1h"]\n')
    wait("dm", lambda s: s.get("state") == "running")
    time.sleep(0.2)
    t = time.monotonic()
    open(marker, "w").close()
    s = wait("dm", lambda s: s.get("state") == "backoff")
    print(f"daemonizing child exits: state says so after {(time.monotonic() - t) * 1000:.1f} ms "
          f"(incl. up to 10 ms of the child's own polling); escaped: {s.get('escaped', [])}")
    stop(p)
finally:
    shutil.rmtree(TMP, ignore_errors=True)
EOF
