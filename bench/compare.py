#!/usr/bin/env python3
"""respawn vs supervisord, side by side, on one tiny child (`sleep 100000`).

Called by bench/compare.sh, which builds respawn and provides supervisord; this
script only uses the Python standard library and Linux /proc.

It measures, for each supervisor:
  1. restart overhead after SIGKILL of the child, beyond the configured delay;
  2. idle RSS of the supervisor process;
  3. idle wakeups (context switches of all its threads) over an idle window.

Every process it starts is stopped by pid (and process group), every temp dir
removed, also on Ctrl+C or SIGTERM.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

RESPAWN_DELAY_MS = 100  # backoff = ["100ms"] in the respawn spec
POLL_S = 0.0002  # sleep between /proc polls while waiting for the new child
GOAL_P95_MS = 20.0
GOAL_RSS_KB = 4 * 1024
GOAL_RSS_RATIO = 5.0
GOAL_WAKEUPS = 0


class BenchError(Exception):
    pass


# ---------------------------------------------------------------- /proc helpers

def proc_stat_fields(pid):
    """Fields of /proc/<pid>/stat after the command name (index 0 = state)."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return s[s.rfind(")") + 2:].split()


def start_time(pid):
    try:
        return int(proc_stat_fields(pid)[19])
    except (OSError, IndexError, ValueError):
        return None


def is_live(pid):
    """Alive and not a zombie."""
    try:
        return proc_stat_fields(pid)[0] != "Z"
    except OSError:
        return False


def exe_of(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def have_children_file(pid):
    return os.path.exists(f"/proc/{pid}/task/{pid}/children")


def children_via_task_files(pid):
    """Children of every thread of pid (needs CONFIG_PROC_CHILDREN). Includes zombies."""
    out = set()
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        raise BenchError(f"supervisor pid {pid} is gone")
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                data = f.read()
        except FileNotFoundError:
            continue
        out.update(int(x) for x in data.split())
    return out


def children_via_scan(pid):
    """Fallback: scan all of /proc for processes whose parent is pid."""
    if not os.path.exists(f"/proc/{pid}"):
        raise BenchError(f"supervisor pid {pid} is gone")
    out = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if int(proc_stat_fields(name)[1]) == pid:
                    out.add(int(name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def ctxt_by_thread(pid):
    """{tid: voluntary + nonvoluntary context switches} for every thread of pid."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                text = f.read()
        except FileNotFoundError:
            continue
        v = int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", text, re.M).group(1))
        n = int(re.search(r"^nonvoluntary_ctxt_switches:\s+(\d+)", text, re.M).group(1))
        out[tid] = v + n
    return out


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil(n*p/100)
    return sorted_values[int(rank) - 1]


def wait_until(what, cond, timeout, step=0.002):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(step)


# ---------------------------------------------------------------- supervisors

class Supervised:
    """One supervisor process we started, and the children we saw it start."""

    label = "?"
    configured_delay_ms = 0.0

    def __init__(self, workdir, sleep_exe):
        self.dir = workdir
        self.sleep_exe = sleep_exe
        self.proc = None
        self.pid = None
        self.seen_children = {}  # pid -> start time, for cleanup
        self.children = None  # set by choose_detection()
        self.out = None

    def choose_detection(self):
        if have_children_file(self.pid):
            self.children = lambda: children_via_task_files(self.pid)
            return "/proc/<supervisor>/task/*/children"
        self.children = lambda: children_via_scan(self.pid)
        return "scan of /proc/*/stat for ppid == <supervisor> (no CONFIG_PROC_CHILDREN)"

    def remember(self, pid):
        st = start_time(pid)
        if st is not None:
            self.seen_children[pid] = st

    def check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError(
                f"{self.label} exited early with code {self.proc.returncode}; "
                f"its output:\n{self.tail_output()}"
            )

    def tail_output(self, n=30):
        path = os.path.join(self.dir, "supervisor.out")
        try:
            with open(path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(none)"

    def exec_done(self, pid):
        return exe_of(pid) == self.sleep_exe

    def running_child(self):
        """The pid of the child once the supervisor considers it running, else None."""
        raise NotImplementedError

    def before_kill(self):
        """Called just before each timed kill (outside the timed span)."""

    def launch(self, argv, env=None):
        self.out = open(os.path.join(self.dir, "supervisor.out"), "wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=self.dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: pgid == pid
        )
        self.pid = self.proc.pid

    def wait_ready(self, timeout=15.0):
        def ready():
            self.check_alive()
            pid = self.running_child()
            return pid if pid and self.exec_done(pid) else None

        pid = wait_until(f"{self.label} to run its child", ready, timeout)
        self.remember(pid)
        return pid

    def stop(self):
        """Stop gracefully by pid, then force by process group; then leftovers by pid."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        for pid, st in self.seen_children.items():
            if start_time(pid) == st and is_live(pid):  # still ours (same start time)
                try:
                    os.killpg(pid, signal.SIGKILL)  # both supervisors make it a group leader
                except (ProcessLookupError, PermissionError):
                    pass
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.out:
            self.out.close()
            self.out = None


class Respawn(Supervised):
    label = "respawn"
    configured_delay_ms = float(RESPAWN_DELAY_MS)
    semantics = (
        f'restart.backoff = ["{RESPAWN_DELAY_MS}ms"], reset_after = "1000h": '
        f"every restart waits exactly {RESPAWN_DELAY_MS} ms, which is subtracted"
    )

    def __init__(self, workdir, sleep_exe, binary):
        super().__init__(workdir, sleep_exe)
        self.binary = binary
        self.state_root = os.path.join(workdir, "state")
        self.state_file = os.path.join(self.state_root, "bench-sleeper", "state.json")

    def start(self):
        spec = os.path.join(self.dir, "bench.toml")
        with open(spec, "w") as f:
            f.write(
                'name = "bench-sleeper"\n'
                f'command = "{self.sleep_exe}"\n'
                'args = ["100000"]\n'
                "[restart]\n"
                'mode = "always"\n'
                f'backoff = ["{RESPAWN_DELAY_MS}ms"]\n'
                'reset_after = "1000h"\n'
                "[stop]\n"
                'signal = "SIGTERM"\n'
                'timeout = "3s"\n'
            )
        env = dict(os.environ, RESPAWN_STATE_DIR=self.state_root)
        self.launch([self.binary, "run", "--spec", spec], env=env)

    def version(self):
        r = subprocess.run([self.binary, "--version"], capture_output=True, text=True)
        v = r.stdout.strip() or "respawn"
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        try:
            g = subprocess.run(["git", "-C", repo, "describe", "--always", "--dirty"],
                               capture_output=True, text=True, timeout=10)
            if g.returncode == 0 and g.stdout.strip():
                v += f" (source tree {g.stdout.strip()})"
        except (OSError, subprocess.SubprocessError):
            pass
        return v

    def state(self):
        try:
            with open(self.state_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def running_child(self):
        s = self.state()
        if s and s.get("state") == "running" and s.get("supervisor_pid") == self.pid:
            return s.get("child_pid")
        return None


class Supervisord(Supervised):
    label = "supervisord"
    configured_delay_ms = 0.0
    semantics = (
        "autorestart=true, startsecs=0: no configured delay (restarts 'at once'), "
        "so nothing is subtracted; the restart happens in supervisord's main loop "
        "(poll with a 1 s timeout), and each kill waits for 'entered RUNNING state' "
        "first so no kill lands in STARTING (which would mean BACKOFF/FATAL)"
    )

    def __init__(self, workdir, sleep_exe, supervisord):
        super().__init__(workdir, sleep_exe)
        self.supervisord = supervisord
        self.log = os.path.join(workdir, "supervisord.log")
        self.pidfile = os.path.join(workdir, "supervisord.pid")
        self.running_seen = 0

    def start(self):
        conf = os.path.join(self.dir, "supervisord.conf")
        with open(conf, "w") as f:
            f.write(
                "[supervisord]\n"
                "nodaemon=true\n"
                f"logfile={self.log}\n"
                f"pidfile={self.pidfile}\n"
                f"childlogdir={self.dir}\n"
                "loglevel=info\n"
                "\n"
                "[program:sleeper]\n"
                f"command={self.sleep_exe} 100000\n"
                "autostart=true\n"
                "autorestart=true\n"
                "startsecs=0\n"
                "startretries=3\n"
                "stopsignal=TERM\n"
                "stopwaitsecs=3\n"
                f"stdout_logfile={os.path.join(self.dir, 'sleeper.log')}\n"
                "redirect_stderr=true\n"
            )
        self.launch([self.supervisord, "-n", "-c", conf])

    def version(self):
        r = subprocess.run([self.supervisord, "--version"], capture_output=True, text=True)
        return "supervisord " + (r.stdout.strip() or "?")

    def running_count(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read().count("entered RUNNING state")
        except OSError:
            return 0

    def running_child(self):
        # The log says RUNNING once more than it did before the last kill; the
        # live child of supervisord is then the running one.
        if self.running_count() <= self.running_seen:
            return None
        live = [p for p in self.children() if is_live(p)]
        return live[0] if len(live) == 1 else None

    def before_kill(self):
        self.running_seen = self.running_count()

    def wait_ready(self, timeout=15.0):
        pid = super().wait_ready(timeout)
        try:
            with open(self.pidfile) as f:
                filed = int(f.read().strip())
        except (OSError, ValueError):
            filed = None
        if filed is not None and filed != self.pid:
            raise BenchError(f"supervisord pidfile says {filed}, we started {self.pid}")
        return pid


# ---------------------------------------------------------------- measurements

def measure_restarts(sup, kills, log):
    """Kill the running child `kills` times; time kill() -> new child pid seen."""
    fork_ms, exec_ms, polls, poll_time = [], [], 0, 0.0
    current = sup.wait_ready()
    for i in range(kills):
        sup.check_alive()
        before = sup.children()
        sup.before_kill()
        t0 = time.perf_counter_ns()
        os.kill(current, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while True:
            p0 = time.perf_counter()
            new = sup.children() - before
            polls += 1
            if new:
                t1 = time.perf_counter_ns()
                break
            if time.monotonic() > deadline:
                sup.check_alive()
                raise BenchError(
                    f"{sup.label}: no new child within 10 s of kill #{i + 1}; "
                    f"output:\n{sup.tail_output()}"
                )
            time.sleep(POLL_S)
            poll_time += time.perf_counter() - p0
        new_pid = min(new)
        sup.remember(new_pid)
        # The same child, once it has exec'd the program (for information).
        wait_until(f"{sup.label} child {new_pid} to exec", lambda: sup.exec_done(new_pid)
                   or not is_live(new_pid), 10, step=POLL_S)
        t2 = time.perf_counter_ns()
        fork_ms.append((t1 - t0) / 1e6 - sup.configured_delay_ms)
        exec_ms.append((t2 - t0) / 1e6 - sup.configured_delay_ms)
        # Let the supervisor finish bookkeeping and go back to sleep before the next kill.
        current = sup.wait_ready()
        if current != new_pid:
            raise BenchError(f"{sup.label}: expected child {new_pid}, running is {current}")
        time.sleep(0.05)
        if (i + 1) % 10 == 0:
            log(f"  {sup.label}: {i + 1}/{kills} kills")
    poll_period_ms = 1000 * poll_time / max(1, polls - kills)
    return sorted(fork_ms), sorted(exec_ms), poll_period_ms


def summarize(values):
    return {
        "min": values[0],
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": values[-1],
        "n": len(values),
    }


# ---------------------------------------------------------------- report

def fmt_ms(x):
    return f"{x:.1f}"


def mib(kb):
    return kb / 1024.0


def verdict(ok):
    return "PASS" if ok else "MISS"


def report(r, args):
    rs, sd = r["respawn"], r["supervisord"]
    lines = []
    w = lines.append
    w("")
    w("=" * 78)
    w(f"respawn vs supervisord  ({r['host']})")
    w(f"  respawn:     {r['respawn_version']}  ({r['respawn_bin']})")
    w(f"  supervisord: {r['supervisord_version']}  (python {r['sd_python']})")
    w(f"  child:       {r['sleep_exe']} 100000, same for both")
    w("=" * 78)
    w("")
    w(f"1. Restart overhead after SIGKILL of the child, beyond the configured delay ({args.kills} kills each)")
    w(f"   detection: t0 just before kill(); t1 when a new pid shows in {r['detection']},")
    w(f"              polled every {POLL_S * 1000:.1f} ms (measured loop period "
      f"respawn {rs['poll_ms']:.2f} ms, supervisord {sd['poll_ms']:.2f} ms)")
    w(f"   respawn:     {Respawn.semantics}")
    w(f"   supervisord: {Supervisord.semantics}")
    w("")
    hdr = f"   {'':12} {'min':>8} {'p50':>8} {'p95':>8} {'max':>8}   (ms)"
    w(hdr)
    for name, d in (("respawn", rs), ("supervisord", sd)):
        f = d["fork"]
        w(f"   {name:12} {fmt_ms(f['min']):>8} {fmt_ms(f['p50']):>8} {fmt_ms(f['p95']):>8} {fmt_ms(f['max']):>8}   new pid seen (fork)")
        e = d["exec"]
        w(f"   {'':12} {fmt_ms(e['min']):>8} {fmt_ms(e['p50']):>8} {fmt_ms(e['p95']):>8} {fmt_ms(e['max']):>8}   new child has exec'd sleep")
    ok1 = rs["fork"]["p95"] <= GOAL_P95_MS
    w(f"   goal: respawn p95 <= {GOAL_P95_MS:.0f} ms  ->  {fmt_ms(rs['fork']['p95'])} ms  {verdict(ok1)}")
    w("")
    w(f"2. Idle RSS of the supervisor process (VmRSS), after {args.settle:g} s settle and {args.idle:g} s idle")
    ratio = sd["rss_kb"] / rs["rss_kb"]
    w(f"   respawn:     {mib(rs['rss_kb']):6.1f} MiB ({rs['rss_kb']} kB; after the {args.kills} restarts: {mib(rs['rss_after_kb']):.1f} MiB)")
    w(f"   supervisord: {mib(sd['rss_kb']):6.1f} MiB ({sd['rss_kb']} kB; after the {args.kills} restarts: {mib(sd['rss_after_kb']):.1f} MiB)")
    ok2a = rs["rss_kb"] <= GOAL_RSS_KB
    ok2b = ratio >= GOAL_RSS_RATIO
    w(f"   goal: respawn <= 4 MiB  ->  {mib(rs['rss_kb']):.1f} MiB  {verdict(ok2a)}")
    w(f"   goal: >= {GOAL_RSS_RATIO:.0f}x below supervisord  ->  {ratio:.1f}x  {verdict(ok2b)}")
    w("")
    w(f"3. Idle wakeups: context switches (voluntary + nonvoluntary, all threads) in {args.idle:g} s idle")
    w(f"   respawn:     {rs['wakeups']}  ({rs['threads']} thread(s))")
    w(f"   supervisord: {sd['wakeups']}  ({sd['threads']} thread(s))")
    ok3 = rs["wakeups"] <= GOAL_WAKEUPS
    w(f"   goal: respawn == 0  ->  {rs['wakeups']}  {verdict(ok3)}")
    w("")
    w("Markdown (for README):")
    w("")
    w(f"| {args.kills} SIGKILLs, idle {args.idle:g} s, child `sleep` | respawn | {r['supervisord_version']} | goal | |")
    w("|---|---|---|---|---|")
    w(f"| restart overhead beyond configured delay, p50 / p95 / max (ms) | "
      f"{fmt_ms(rs['fork']['p50'])} / {fmt_ms(rs['fork']['p95'])} / {fmt_ms(rs['fork']['max'])} | "
      f"{fmt_ms(sd['fork']['p50'])} / {fmt_ms(sd['fork']['p95'])} / {fmt_ms(sd['fork']['max'])} | "
      f"p95 ≤ {GOAL_P95_MS:.0f} ms | {verdict(ok1)} |")
    w(f"| idle RSS of the supervisor (MiB) | {mib(rs['rss_kb']):.1f} | {mib(sd['rss_kb']):.1f} | "
      f"≤ 4 MiB and ≥ {GOAL_RSS_RATIO:.0f}× below ({ratio:.1f}×) | {verdict(ok2a and ok2b)} |")
    w(f"| idle wakeups in {args.idle:g} s (context switches) | {rs['wakeups']} | {sd['wakeups']} | 0 | {verdict(ok3)} |")
    w("")
    w(f"_respawn: backoff {RESPAWN_DELAY_MS} ms, subtracted; supervisord: autorestart=true, startsecs=0 "
      f"(no delay to subtract). New child detected in /proc by its parent's children list, "
      f"polled every {POLL_S * 1000:.1f} ms. {r['host']}._")
    w("")
    print("\n".join(lines), flush=True)
    return ok1 and ok2a and ok2b and ok3


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--respawn", required=True, help="respawn binary (release build)")
    ap.add_argument("--supervisord", required=True, help="supervisord executable")
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--idle", type=float, default=10.0, help="idle window, seconds")
    ap.add_argument("--settle", type=float, default=2.0, help="settle time before idle, seconds")
    ap.add_argument("--strict", action="store_true", help="exit 3 when a goal is missed")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (for debugging)")
    args = ap.parse_args()
    if args.kills < 1:
        ap.error("--kills must be at least 1")

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    # Turn SIGTERM/SIGHUP into an exception so the cleanup below always runs.
    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    if not sys.platform.startswith("linux") or not os.path.isdir("/proc/self/task"):
        raise BenchError("this benchmark needs Linux /proc")
    sleep_exe = shutil.which("sleep")
    if not sleep_exe:
        raise BenchError("no `sleep` on PATH")
    sleep_exe = os.path.realpath(sleep_exe)

    tmp = tempfile.mkdtemp(prefix="respawn-bench-")
    sups = []
    try:
        rs = Respawn(os.path.join(tmp, "respawn"), sleep_exe, os.path.abspath(args.respawn))
        sd = Supervisord(os.path.join(tmp, "supervisord"), sleep_exe, args.supervisord)
        for s in (rs, sd):
            os.makedirs(s.dir)
        r = {
            "respawn_bin": rs.binary,
            "respawn_version": rs.version(),
            "supervisord_version": sd.version(),
            "sleep_exe": sleep_exe,
            "host": f"Linux {os.uname().release}, {os.cpu_count()} CPUs",
        }
        with open(args.supervisord) as f:
            shebang = f.readline().strip()
        py = shebang[2:].strip() if shebang.startswith("#!") else sys.executable
        r["sd_python"] = subprocess.run([py, "-c", "import platform;print(platform.python_version())"],
                                        capture_output=True, text=True).stdout.strip() or "?"

        log(f"starting both supervisors (temp dir {tmp})")
        for s in (rs, sd):
            sups.append(s)
            s.start()
        for s in (rs, sd):
            r["detection"] = s.choose_detection()
            s.wait_ready()

        log(f"settling {args.settle:g} s, then {args.idle:g} s idle (both side by side)")
        time.sleep(args.settle)
        for s in (rs, sd):
            s.check_alive()
        c0 = {s.label: ctxt_by_thread(s.pid) for s in (rs, sd)}
        time.sleep(args.idle)
        for s in (rs, sd):
            s.check_alive()
            c1 = ctxt_by_thread(s.pid)
            before = c0[s.label]
            wake = sum(v - before.get(t, 0) for t, v in c1.items())
            r[s.label] = {"wakeups": wake, "threads": len(c1), "rss_kb": rss_kb(s.pid)}

        for s in (rs, sd):
            log(f"restart overhead: {args.kills} SIGKILLs of {s.label}'s child")
            fork, exe, poll_ms = measure_restarts(s, args.kills, log)
            r[s.label].update(fork=summarize(fork), exec=summarize(exe), poll_ms=poll_ms,
                              rss_after_kb=rss_kb(s.pid))
        rs_state = rs.state() or {}
        if rs_state.get("restarts") != args.kills:
            log(f"note: respawn state says {rs_state.get('restarts')} restarts, expected {args.kills}")
    finally:
        for s in reversed(sups):
            try:
                s.stop()
            except Exception as e:  # keep cleaning up the others
                log(f"cleanup of {s.label} (pid {s.pid}): {e}")
        if args.keep_tmp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    all_ok = report(r, args)
    return 3 if (args.strict and not all_ok) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"compare: error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("compare: interrupted; cleaned up", file=sys.stderr)
        sys.exit(130)
