#!/usr/bin/env python3
"""windows_restart.py: under Wine, `taskkill /F` of a supervised Windows program ->
the new one running, minus the backoff, split into the supervisor's share and
process creation's. Run by bench/windows-restart.sh (which builds and sets up Wine).

Kernel timestamps (netlink proc connector, root): every Wine process is a Linux
process, and Wine's CreateProcess forks in the creating process. So per kill:

  exit    the old child's Linux process exits (taskkill /F has done its work)
  fork    the supervisor's process forks the new child (CreateProcess begins)
  running the new child answers on its TCP port (esbuild serving)

  host's share     = fork - exit - backoff   (noticing the exit, the bookkeeping,
                                              building the command, the timer)
  creation's share = running - fork          (Wine's CreateProcess, the Job Object,
                                              the resume, esbuild's own start)

For scale, `creation (wine)` is the same program started straight from Linux with
`wine64 esbuild.exe` (fork of the wine loader -> answering), no supervisor at all.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "harness"))
import bench as harness  # noqa: E402  (the shared harness: ProcEvents, now_ns)

MS = 1_000_000


class AllEvents(harness.ProcEvents):
    """ProcEvents that records every process of the machine: Wine's processes are
    children of services.exe and the wineserver, not of this script."""

    def _handle(self, data: bytes, p: int) -> None:
        import struct

        what, _cpu, ts = struct.unpack_from("=IIQ", data, p)
        p += 16
        if what == self.NONE:
            self._acked.set()
            return
        with self.cond:
            if what == self.FORK:
                _ppid, ptgid, cpid, ctgid = struct.unpack_from("=IIII", data, p)
                if cpid != ctgid:
                    if ptgid == self.mypid:
                        self.barrier_ts = ts
                    return
                self.forks[cpid] = (ts, ptgid)
            elif what == self.EXEC:
                _pid, tgid = struct.unpack_from("=II", data, p)
                self.execs.setdefault(tgid, []).append(ts)
            elif what == self.EXIT:
                pid, tgid = struct.unpack_from("=II", data, p)
                if pid != tgid:
                    return
                self.exits[pid] = ts
            else:
                return
            self.seq += 1
            self.cond.notify_all()


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def find(pred) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and pred(cmdline(int(d))):
            out.append(int(d))
    return out


def answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.05)
        try:
            s.connect(("127.0.0.1", port))
            return True
        except OSError:
            return False


def wait_until(what: str, cond, timeout: float = 60.0, every: float = 0.001):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(every)
    raise SystemExit(f"windows_restart: timed out waiting for {what}")


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs):7.1f} / {pct(xs, 0.95):7.1f} / {max(xs):7.1f}"


class Lane:
    """A Wine prefix and how to run programs in it."""

    def __init__(self, wine: str, env: dict[str, str]):
        self.wine, self.env = wine, env

    def run(self, *argv: str, check: bool = True, timeout: float = 120) -> str:
        # Output to a file, not a pipe: a Wine process may hand the pipe on to one that
        # outlives it (docs/wine.md row g), and reading it would wait for that one.
        import tempfile
        with tempfile.TemporaryFile() as out:
            p = subprocess.run([self.wine, *argv], env=self.env, stdout=out, stderr=out,
                               timeout=timeout, stdin=subprocess.DEVNULL)
            out.seek(0)
            said = out.read().decode(errors="replace")
        if check and p.returncode != 0:
            raise SystemExit(f"windows_restart: {' '.join(argv)} failed ({p.returncode}): {said}")
        return said

    def taskkill(self, winpid: int) -> None:
        # Null stdio: docs/wine.md row g (taskkill with captured output can hang).
        subprocess.run([self.wine, "taskkill", "/F", "/PID", str(winpid)], env=self.env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)


def win(path: Path) -> str:
    return "Z:" + str(path).replace("/", "\\")


def measure(ev: AllEvents, lane: Lane, label: str, host_pred, state_file: Path,
            exe_path: str, port: int, kills: int, backoff_ms: float) -> dict:
    host = wait_until(f"{label}: the supervisor's process", lambda: find(host_pred))[0]
    is_child = lambda c: c.startswith(exe_path) and f":{port}" in c  # noqa: E731
    rows = []
    for i in range(kills):
        old = wait_until(f"{label}: the child", lambda: find(is_child))
        wait_until(f"{label}: the child answering", lambda: answers(port))
        state = json.loads(state_file.read_text(encoding="utf-8-sig"))
        winpid = state["child_pid"]
        time.sleep(0.3)  # let the start's bookkeeping settle, as between real crashes
        lane.taskkill(winpid)
        exit_ts = wait_until(f"{label}: the old child's exit", lambda: ev.exit_of(old[0]) and ev.exits[old[0]])
        new = wait_until(f"{label}: the new child",
                         lambda: [p for p in find(is_child) if p not in old], timeout=60)[0]
        wait_until(f"{label}: the new child answering", lambda: answers(port), timeout=60)
        run_ts = harness.now_ns()
        ev.sync()
        # Wine forks the new process from the creating one, possibly through a short-
        # lived middle process: walk up to the supervisor's fork.
        fork_ts, p = None, new
        for _ in range(4):
            f = ev.fork_of(p)
            if f is None:
                break
            fork_ts, parent = f
            if parent == host:
                break
            p = parent
        if fork_ts is None or p != new and ev.fork_of(p)[1] != host:
            print(f"  {label} kill {i + 1}: no fork from the supervisor seen; skipped", file=sys.stderr)
            continue
        host_ms = (fork_ts - exit_ts) / MS - backoff_ms
        create_ms = (run_ts - fork_ts) / MS
        rows.append((host_ms, create_ms))
        print(f"  {label} kill {i + 1}: host {host_ms:7.1f} ms, creation {create_ms:7.1f} ms", file=sys.stderr)
    return {"host": [r[0] for r in rows], "create": [r[1] for r in rows]}


def baseline(ev: AllEvents, lane: Lane, exe: Path, site: Path, port: int, n: int) -> list[float]:
    out = []
    for _ in range(n):
        ev.sync()
        p = subprocess.Popen([lane.wine, str(exe), f"--servedir={win(site)}", f"--serve=127.0.0.1:{port}",
                              "--watch=forever"], env=lane.env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until("esbuild under plain wine answering", lambda: answers(port))
        run_ts = harness.now_ns()
        ev.sync()
        fork_ts = ev.fork_of(p.pid)[0]
        out.append((run_ts - fork_ts) / MS)
        # wine64 execs Wine's loader in place: the process started is esbuild's.
        p.kill()
        p.wait()
        wait_until("the port free", lambda: not answers(port))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--respawn", required=True, help="respawn.exe (Linux path)")
    ap.add_argument("--esbuild", required=True, help="esbuild.exe (Linux path)")
    ap.add_argument("--wine", default="/usr/lib/wine/wine64")
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--backoff", default="1s", help="the spec's backoff (ms or s)")
    ap.add_argument("--work", default="/tmp/respawn-winbench")
    ap.add_argument("--port", type=int, default=18731)
    ap.add_argument("--lanes", default="service,run", help="service,run (comma list)")
    a = ap.parse_args()

    backoff_ms = float(a.backoff[:-2]) if a.backoff.endswith("ms") else float(a.backoff[:-1]) * 1000
    work = Path(a.work)
    subprocess.run(["rm", "-rf", str(work)], check=True)
    (work / "site").mkdir(parents=True)
    (work / "site" / "h.txt").write_text("ok")
    exe = work / "esbuild.exe"
    exe.write_bytes(Path(a.esbuild).read_bytes())
    env = dict(os.environ)
    env["RESPAWN_WINE_PROGRAMFILES"] = win(work / "Program Files")
    env["RESPAWN_WINE_PROGRAMDATA"] = win(work / "ProgramData")
    lane = Lane(a.wine, env)
    ev = AllEvents().start()
    results = {}
    try:
        for kind in [k for k in a.lanes.split(",") if k]:
            name = f"wrb{kind[:3]}{os.getpid() % 10000}"
            port = a.port + (0 if kind == "service" else 1)
            state = work / "state"
            spec = work / f"{name}.toml"
            spec.write_text(
                f"name = \"{name}\"\ncommand = '{win(exe)}'\n"
                f"args = ['--servedir={win(work / 'site')}', \"--serve=127.0.0.1:{port}\", \"--watch=forever\"]\n"
                f"[restart]\nbackoff = [\"{a.backoff}\"]\n[stop]\nmethod = \"kill\"\n")
            base = ["--state-dir", win(state)]
            if kind == "service":
                lane.run(a.respawn, *base, "install", "--spec", win(spec), timeout=300)
                lane.run(a.respawn, *base, "start", name, timeout=300)
                pred = lambda c: "service-host" in c and name in c  # noqa: E731
                sup = None
            else:
                sup = subprocess.Popen([a.wine, a.respawn, *base, "run", "--spec", win(spec)], env=env,
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
                pred = lambda c: "respawn.exe" in c and " run " in c and name in c  # noqa: E731
            try:
                results[kind] = measure(ev, lane, kind, pred, state / name / "state.json", win(exe), port,
                                        a.kills, backoff_ms)
            finally:
                if kind == "service":
                    lane.run(a.respawn, *base, "uninstall", name, check=False, timeout=300)
                else:
                    for q in find(pred):
                        os.kill(q, 9)
                    sup.wait()
                    wait_until("the port free", lambda: not answers(port), timeout=30)
        results["wine"] = {"create": baseline(ev, lane, exe, work / "site", a.port + 2, min(a.kills, 5))}
    finally:
        ev.stop()

    print(f"\ntaskkill /F of esbuild.exe -> the new one answering, backoff {a.backoff} taken off; "
          f"{a.kills} kills; ms p50 / p95 / max")
    print("| supervisor | host's share | process creation's | total minus backoff |")
    print("|---|---|---|---|")
    for kind in ("service", "run"):
        r = results.get(kind)
        if not r or not r["host"]:
            continue
        total = [h + c for h, c in zip(r["host"], r["create"])]
        who = "service host (SCM)" if kind == "service" else "`respawn run`"
        print(f"| {who} | {fmt(r['host'])} | {fmt(r['create'])} | {fmt(total)} |")
    print(f"| no supervisor (`wine64 esbuild.exe`) | - | {fmt(results['wine']['create'])} | - |")


if __name__ == "__main__":
    main()
