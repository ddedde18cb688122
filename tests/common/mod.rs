//! The one test harness: a temp folder with a spec, a state root, and helpers to run
//! the real `respawn` binary and read what it writes, plus what more than one test
//! file needs: waiting, stopping a supervisor, doctor's checks; `unix.rs` (signals,
//! process state) and `windows.rs` (service names, the SCM, example and fixture
//! programs) for one OS's tests. A helper a second file would copy belongs here.
//! Every test file takes it as `use crate::common::*;` (tests/tests.rs says why the
//! tests are one crate).
// Each OS's tests use part of it.
#![allow(dead_code)]

#[cfg(unix)]
pub mod hermes;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;

/// Generous deadline for "eventually" checks: they wait for an event, they do not time it.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub struct Harness {
    pub dir: tempfile::TempDir,
    /// Supervisors this harness started: killed on drop, so a failing test leaks nothing.
    started: std::cell::RefCell<Vec<u32>>,
    /// Windows: while this harness lives, no test ends the Wine session under it
    /// (`wineboot --end-session` reaches every window of the prefix).
    #[cfg(windows)]
    _session: SessionShare,
}

impl Drop for Harness {
    fn drop(&mut self) {
        for pid in self.started.borrow().iter() {
            #[cfg(unix)]
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            #[cfg(windows)]
            let _ = Command::new("taskkill")
                .args(["/F", "/PID", &pid.to_string()])
                .output();
        }
    }
}

impl Harness {
    pub fn new() -> Self {
        Harness {
            dir: tempfile::tempdir().expect("temp dir"),
            started: Default::default(),
            #[cfg(windows)]
            _session: SessionShare::take(),
        }
    }

    /// A harness whose folder is a new `<prefix>…` folder under `base` rather than
    /// under the system temp dir (which a test may need to see from elsewhere).
    pub fn new_in(base: &Path, prefix: &str) -> Self {
        Harness {
            dir: tempfile::Builder::new()
                .prefix(prefix)
                .tempdir_in(base)
                .expect("temp dir"),
            started: Default::default(),
            #[cfg(windows)]
            _session: SessionShare::take(),
        }
    }

    /// `name` in the harness folder; `a/b` is `b` in its folder `a`, with the OS's
    /// separator.
    pub fn path(&self, name: &str) -> PathBuf {
        name.split('/')
            .fold(self.dir.path().to_path_buf(), |p, part| p.join(part))
    }

    pub fn state_root(&self) -> PathBuf {
        self.path("state")
    }

    pub fn service_dir(&self, id: &str) -> PathBuf {
        self.state_root().join(id)
    }

    /// Write a spec file `name` (a path in the harness folder, see [`Harness::path`]).
    pub fn spec(&self, name: &str, toml: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, toml).unwrap();
        p
    }

    pub fn respawn(&self) -> Command {
        let mut cmd = self.respawn_without_root();
        cmd.env("RESPAWN_STATE_DIR", self.state_root());
        // A Windows service ignores RESPAWN_STATE_DIR (any process of the user can set
        // it, issue 25): the flag, as an administrator would type it.
        #[cfg(windows)]
        cmd.arg("--state-dir").arg(self.state_root());
        cmd
    }

    /// `respawn` as the user's own shell runs it: no state root given, so the default
    /// roots (the user's, then the machine's) are searched.
    pub fn respawn_without_root(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_respawn"));
        cmd.env_remove("RESPAWN_STATE_DIR");
        // A Windows service install copies respawn's exes into %ProgramFiles%\respawn
        // and keeps its state in %ProgramData%\respawn: the test's own folders, never
        // the prefix's. respawn names them from the Known Folders API, never from the
        // environment; under Wine only, these variables stand in (docs/wine.md).
        #[cfg(windows)]
        cmd.env("RESPAWN_WINE_PROGRAMFILES", self.program_files())
            .env("RESPAWN_WINE_PROGRAMDATA", self.program_data());
        cmd
    }

    /// `%ProgramFiles%` for the commands this harness runs (a name with a space, as
    /// Windows' own).
    pub fn program_files(&self) -> PathBuf {
        self.path("Program Files")
    }

    /// `%ProgramData%` for the commands this harness runs.
    pub fn program_data(&self) -> PathBuf {
        self.path("ProgramData")
    }

    /// `respawn run --spec FILE` in the background.
    pub fn run(&self, spec: &Path) -> Child {
        self.run_with(spec, |_| {})
    }

    /// `respawn run --spec FILE` in the background, after `setup` adjusted the command
    /// (environment, for instance).
    pub fn run_with(&self, spec: &Path, setup: impl FnOnce(&mut Command)) -> Child {
        let mut cmd = self.respawn();
        cmd.arg("run")
            .arg("--spec")
            .arg(spec)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        setup(&mut cmd);
        let child = cmd.spawn().expect("spawn respawn run");
        self.started.borrow_mut().push(child.id());
        child
    }

    /// `respawn install --backend portable --spec SPEC`, which must succeed; its output.
    pub fn install_portable(&self, spec: &str) -> String {
        ok(&self.cmd(&["install", "--backend", "portable", "--spec", spec]))
    }

    /// `respawn check --spec SPEC`; its output, whatever it says.
    pub fn check(&self, spec: &Path) -> Output {
        self.respawn()
            .args(["check", "--spec"])
            .arg(spec)
            .output()
            .expect("run respawn")
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        self.respawn().args(args).output().expect("run respawn")
    }

    /// `respawn ARGS` of a `--json` command: what it printed, as JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.cmd(args);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("respawn {args:?}: {e}: {}", text(&out)))
    }

    pub fn state(&self, id: &str) -> Option<Value> {
        let text = std::fs::read_to_string(self.service_dir(id).join("state.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Wait until the state file satisfies `pred`; returns that state.
    pub fn wait_state(&self, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut last = None;
        let found = wait_for(what, || {
            last = self.state(id);
            last.as_ref().is_some_and(&pred)
        });
        assert!(
            found,
            "timed out waiting for: {what}; last state: {last:#?}"
        );
        last.unwrap()
    }

    pub fn wait_running(&self, id: &str) -> u32 {
        let s = self.wait_state(id, "child running", |s| {
            s["state"] == "running" && s["child_pid"].is_u64()
        });
        s["child_pid"].as_u64().unwrap() as u32
    }

    /// Wait until a child other than `old` runs (after a kill or a restart); returns
    /// that state, whose `child_pid` is the new child.
    pub fn wait_new_child(&self, id: &str, old: u32) -> Value {
        self.wait_state(id, &format!("a child other than {old}"), |s| {
            s["state"] == "running" && s["child_pid"].is_u64() && s["child_pid"] != old
        })
    }

    pub fn log(&self, id: &str) -> String {
        std::fs::read_to_string(self.service_dir(id).join("output.log")).unwrap_or_default()
    }
}

/// The checkout the tests run from. Read at run time (cargo sets it for test
/// processes): the Windows lane shares one target dir between checkouts, and a
/// test binary cargo finds fresh may have been built from another one.
pub fn repo_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The older respawn of the mixed-version tests (issue 26): RESPAWN_OLD_BIN, built by
/// `scripts/old-binary.sh build` (b351e14, `respawn 0.1.0`). Without it the test SKIPs
/// (prints so and gets None), unless RESPAWN_REQUIRE_OLD_BIN=1 (scripts/test sets it):
/// then it fails, as it does when the file named is not a respawn that runs.
pub fn old_binary(test: &str) -> Option<PathBuf> {
    let required = std::env::var("RESPAWN_REQUIRE_OLD_BIN").as_deref() == Ok("1");
    let Some(old) = std::env::var_os("RESPAWN_OLD_BIN").filter(|p| !p.is_empty()) else {
        assert!(
            !required,
            "{test}: RESPAWN_REQUIRE_OLD_BIN=1 but RESPAWN_OLD_BIN is not set; build the old \
             respawn with `scripts/old-binary.sh build` and export its path as RESPAWN_OLD_BIN"
        );
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIP {test}: no RESPAWN_OLD_BIN (see scripts/old-binary.sh)"
        );
        return None;
    };
    let old = PathBuf::from(old);
    let version = Command::new(&old).arg("--version").output();
    let said = version
        .as_ref()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(
        said.starts_with("respawn "),
        "{test}: RESPAWN_OLD_BIN={} is not a respawn that runs ({:?}); build it with \
         `scripts/old-binary.sh build`",
        old.display(),
        version.map(|o| o.status).map_err(|e| e.to_string())
    );
    Some(old)
}

/// Poll `cond` until it holds or the deadline passes.
pub fn wait_for(_what: &str, cond: impl FnMut() -> bool) -> bool {
    wait_until(DEADLINE, cond)
}

/// Poll `cond` until it holds or `deadline` has passed.
pub fn wait_until(deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// Wait for a child process to exit, with the deadline; kills it on timeout.
pub fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("process {} did not exit in time", child.id());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Stop a `respawn run` the way its service manager would (SIGTERM; on Windows a
/// request on its control pipe) and wait for it to exit.
pub fn stop_supervisor(sup: &mut Child) -> std::process::ExitStatus {
    #[cfg(unix)]
    signal(sup.id(), nix::sys::signal::Signal::SIGTERM);
    #[cfg(windows)]
    {
        let suffix = pipe_suffix_of(sup.id());
        respawn::os::signal_supervisor(
            sup.id(),
            suffix.as_deref(),
            respawn::control::Control::Stop,
        )
        .unwrap();
    }
    wait_exit(sup)
}

/// The control pipe suffix supervisor `pid` recorded in its holder file (issue 25),
/// found among the harnesses' state roots in the temp folder (Wine's pipe namespace
/// cannot be listed: docs/wine.md).
#[cfg(windows)]
pub fn pipe_suffix_of(pid: u32) -> Option<String> {
    let want = format!("{pid} ");
    for harness in std::fs::read_dir(std::env::temp_dir()).ok()?.flatten() {
        let Ok(services) = std::fs::read_dir(harness.path().join("state")) else {
            continue;
        };
        for service in services.flatten() {
            let text =
                std::fs::read_to_string(service.path().join("supervisor.pid")).unwrap_or_default();
            if text.starts_with(&want) {
                return respawn::supervisor::lock::Holder::pipe_suffix(&text);
            }
        }
    }
    None
}

/// Wait until `path` holds a pid (a program's pid file); that pid.
pub fn read_pid(path: &Path) -> u32 {
    assert!(
        wait_for("pid file", || std::fs::read_to_string(path)
            .is_ok_and(|t| t.trim().parse::<u32>().is_ok())),
        "no pid in {}",
        path.display()
    );
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// A time the state file holds (RFC 3339).
pub fn rfc3339(v: &Value) -> std::time::SystemTime {
    humantime::parse_rfc3339(v.as_str().unwrap()).unwrap()
}

/// Assert that a command succeeded; its stdout and stderr, for further checks (and
/// the failure message).
pub fn ok(out: &Output) -> String {
    let text = text(out);
    assert!(
        out.status.success(),
        "command failed ({}): {text}",
        out.status
    );
    text
}

/// The check `id` of a `doctor --json` report; fails the test when there is none.
pub fn doctor_check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

/// A command's stdout then its stderr, as text.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A command's stderr, as text.
pub fn err_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A file of this repository, as text.
pub fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A TCP port on 127.0.0.1 that was free a moment ago, for a program to listen on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn stderr_of(child: Child) -> String {
    String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr).into_owned()
}

/// A small, seeded pseudo-random sequence (xorshift64): the fault tests' "random"
/// moments are the same in every run, so a failing round can be run again.
pub fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}
