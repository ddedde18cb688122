//! respawn against a real systemd. systemd boots as PID 1 of a new PID + mount
//! namespace (see shared/README.md, section 2), with private tmpfs mounts on /tmp,
//! /var/tmp, /run, /etc/systemd/system, /var/lib/systemd and /var/log, so nothing
//! touches the host: systemd's boot-time cleanup only sees the empty /tmp, and our units and
//! systemd's state vanish with the namespace. Every command runs inside it with
//! `nsenter`.
//!
//! Without root or `unshare`, or if systemd does not boot, each test prints SKIP and
//! passes, unless RESPAWN_REQUIRE_SYSTEMD=1 (then it fails).
#![cfg(target_os = "linux")]

use crate::common::*;
use serde_json::Value;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const RESPAWN: &str = env!("CARGO_BIN_EXE_respawn");

/// systemd running as PID 1 of its own namespaces; killed (with everything in it)
/// when dropped.
struct Namespace {
    unshare: Child,
    /// systemd's pid as the host sees it.
    pid: u32,
}

/// The boot command. The tmpfs mounts come first and are chained with `&&`, so
/// systemd never starts with the host's /tmp (its tmpfiles cleanup would empty it).
/// /etc/systemd/system gets our units; /var/lib/systemd gets systemd's own state
/// (lingering users, timers' stamps); /var/log the journal (journald would otherwise
/// keep the namespace's logs in the host's /var/log/journal).
const BOOT: &str = "mount -t tmpfs tmpfs /tmp && mount -t tmpfs tmpfs /var/tmp && \
    mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /etc/systemd/system && \
    mount -t tmpfs tmpfs /var/lib/systemd && mount -t tmpfs tmpfs /var/log && \
    exec env container=unshare /lib/systemd/systemd --system --log-target=null";

impl Namespace {
    /// Boot systemd, or say why it can't be done here.
    fn boot() -> Result<Namespace, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("not root".into());
        }
        for tool in ["unshare", "nsenter", "systemctl"] {
            which::which(tool).map_err(|_| format!("`{tool}` is not installed"))?;
        }
        if !Path::new("/lib/systemd/systemd").exists() {
            return Err("/lib/systemd/systemd is not installed".into());
        }
        let unshare = Command::new("unshare")
            .args(["--pid", "--fork", "--mount", "--mount-proc"])
            .args(["--propagation", "private", "sh", "-c", BOOT])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run unshare: {e}"))?;
        let mut ns = Namespace { unshare, pid: 0 };
        let children = format!("/proc/{0}/task/{0}/children", ns.unshare.id());
        let found = wait_until(Duration::from_secs(5), || {
            ns.pid = std::fs::read_to_string(&children)
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse().ok())
                .unwrap_or(0);
            ns.pid != 0
        });
        if !found {
            return Err("unshare did not start a child (no permission to unshare?)".into());
        }
        let mut last = String::new();
        let booted = wait_until(DEADLINE, || {
            last = ns.stdout(&["systemctl", "is-system-running"]);
            matches!(last.trim(), "running" | "degraded")
        });
        if !booted {
            return Err(format!(
                "systemd did not boot: is-system-running says {last:?}"
            ));
        }
        Ok(ns)
    }

    fn command(&self, argv: &[&str]) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &self.pid.to_string(), "-p", "-m", "--"])
            .args(argv)
            // As root, not through sudo: a system unit runs as root unless a test
            // says otherwise (issue 15).
            .env_remove("SUDO_USER");
        cmd
    }

    fn run(&self, argv: &[&str]) -> Output {
        self.command(argv).output().expect("nsenter runs")
    }

    fn stdout(&self, argv: &[&str]) -> String {
        String::from_utf8_lossy(&self.run(argv).stdout).into_owned()
    }

    /// One property of a unit, from `systemctl show`.
    fn show(&self, unit: &str, prop: &str) -> String {
        self.stdout(&["systemctl", "show", unit, "-p", prop, "--value"])
            .trim()
            .to_string()
    }

    fn exists(&self, path: &str) -> bool {
        self.run(&["test", "-e", path]).status.success()
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // PID 1 of a PID namespace takes every process in it along when it dies.
        if self.pid != 0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}

/// Boot a namespace, or print SKIP (and return None) where that is not possible.
fn boot_or_skip(test: &str) -> Option<Namespace> {
    match Namespace::boot() {
        Ok(ns) => Some(ns),
        Err(why) if std::env::var("RESPAWN_REQUIRE_SYSTEMD").as_deref() == Ok("1") => {
            panic!("{test}: cannot boot systemd ({why}) and RESPAWN_REQUIRE_SYSTEMD=1")
        }
        Err(why) => {
            // Straight to stderr: libtest captures println!, and a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "SKIP {test}: cannot boot systemd in a namespace: {why}"
            );
            None
        }
    }
}

/// Where test files live: the target dir, unless the namespace hides it behind a
/// tmpfs (a checkout under /tmp, as CI may make), then a cache dir outside those.
fn workspace_base() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let hidden = ["/tmp", "/var/tmp", "/run", "/root"];
    if !hidden.iter().any(|h| target.starts_with(h)) {
        return target.to_path_buf();
    }
    let base = PathBuf::from("/var/cache/respawn/systemd-real");
    std::fs::create_dir_all(&base).unwrap();
    base
}

/// A test's files (specs, state, and a copy of the respawn binary), where they are
/// the same inside the namespace as outside: the harness's folder, with commands run
/// inside the namespace.
struct Workspace {
    h: Harness,
}

impl Workspace {
    fn new() -> Self {
        let h = Harness::new_in(&workspace_base(), "systemd-real-");
        // A hard link where it can be: a copy is written through a file descriptor
        // that a fork of another test thread can hold across its exec window, and
        // executing the copy then fails with ETXTBSY ("Text file busy", seen in CI).
        std::fs::hard_link(RESPAWN, h.path("respawn"))
            .or_else(|_| std::fs::copy(RESPAWN, h.path("respawn")).map(drop))
            .unwrap();
        Workspace { h }
    }

    /// The respawn binary the namespace runs.
    fn exe(&self) -> String {
        self.path("respawn").to_str().unwrap().to_string()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.h.path(name)
    }

    fn spec(&self, name: &str, toml: &str) -> String {
        self.h.spec(name, toml).to_str().unwrap().to_string()
    }

    fn state_root(&self) -> String {
        self.h.state_root().to_str().unwrap().to_string()
    }

    /// `respawn --state-dir … ARGS` inside the namespace.
    fn respawn(&self, ns: &Namespace, args: &[&str]) -> Output {
        let (exe, root) = (self.exe(), self.state_root());
        let mut argv = vec![exe.as_str(), "--state-dir", &root];
        argv.extend(args);
        ns.run(&argv)
    }

    fn status(&self, ns: &Namespace, name: &str) -> (i32, Value) {
        let out = self.respawn(ns, &["status", name, "--json"]);
        let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), json)
    }

    /// Wait until `status --json` satisfies `pred`; returns that status.
    fn wait_status(
        &self,
        ns: &Namespace,
        name: &str,
        what: &str,
        pred: impl Fn(i32, &Value) -> bool,
    ) -> Value {
        let mut last = (0, Value::Null);
        let ok = wait_until(DEADLINE, || {
            last = self.status(ns, name);
            pred(last.0, &last.1)
        });
        assert!(
            ok,
            "timed out waiting for {what}; last status (exit {}): {:#}",
            last.0, last.1
        );
        last.1
    }
}

fn pid(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key} in {v:#}"))
}

/// A sleep duration no other process on the host uses, so its processes can be counted.
fn unique_sleep() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}",
        1_000_000 + std::process::id() as u64 * 1000 + u64::from(nanos % 1000)
    )
}

/// How many processes (anywhere on the host, namespaces included) run `sleep <arg>`.
fn count_sleepers(arg: &str) -> usize {
    let want = format!("sleep\0{arg}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|cmdline| cmdline.ends_with(want.as_bytes()))
        .filter(|cmdline| {
            cmdline.starts_with(b"sleep\0") || cmdline.starts_with(b"/usr/bin/sleep\0")
        })
        .count()
}

#[test]
fn supervised_service_lifecycle_under_real_systemd() {
    let Some(ns) = boot_or_skip("supervised_service_lifecycle_under_real_systemd") else {
        return;
    };
    let ws = Workspace::new();
    let sleep = unique_sleep();
    let spec = ws.spec(
        "sup.toml",
        &format!(
            "name = \"sup\"\ndescription = \"respawn test: 100% real\"\ncommand = \"sleep\"\nargs = [\"{sleep}\"]\n[restart]\nbackoff = [\"100ms\"]\n[stop]\ntimeout = \"5s\"\n"
        ),
    );

    let out = ws.respawn(&ns, &["install", "--backend", "systemd", "--spec", &spec]);
    assert!(ok(&out).contains("installed sup with the systemd backend"));
    assert!(ns.exists("/etc/systemd/system/sup.service"));
    assert!(
        !Path::new("/etc/systemd/system/sup.service").exists(),
        "the unit must stay inside the namespace"
    );
    assert_eq!(ns.show("sup.service", "UnitFileState"), "enabled");
    // install waits for the supervisor: status is right at once.
    let (code, s) = ws.status(&ns, "sup");
    assert_eq!((code, s["state"].as_str()), (0, Some("running")), "{s:#}");
    assert_eq!(s["backend"], "systemd");
    let supervisor = pid(&s, "supervisor_pid");
    assert_eq!(ns.show("sup.service", "MainPID"), supervisor.to_string());
    let child = pid(&s, "child_pid");

    // SIGKILL the child: the supervisor starts a new one.
    ok(&ns.run(&["kill", "-9", &child.to_string()]));
    let s = ws.wait_status(&ns, "sup", "a new child", |code, s| {
        code == 0 && s["child_pid"].as_u64().is_some_and(|p| p != child)
    });
    assert_eq!(pid(&s, "supervisor_pid"), supervisor);
    assert_eq!(
        ns.show("sup.service", "NRestarts"),
        "0",
        "systemd saw nothing"
    );

    // SIGKILL the supervisor: systemd starts a new one, which starts one child.
    ok(&ns.run(&["kill", "-9", &supervisor.to_string()]));
    let s = ws.wait_status(&ns, "sup", "a new supervisor", |code, s| {
        code == 0
            && s["supervisor_pid"]
                .as_u64()
                .is_some_and(|p| p != supervisor)
    });
    let supervisor = pid(&s, "supervisor_pid");
    assert_eq!(ns.show("sup.service", "NRestarts"), "1");
    assert_eq!(ns.show("sup.service", "MainPID"), supervisor.to_string());
    assert!(
        wait_until(Duration::from_secs(5), || count_sleepers(&sleep) == 1),
        "exactly one child, found {}",
        count_sleepers(&sleep)
    );

    // restart: a planned restart of the child by the same supervisor.
    let child = pid(&s, "child_pid");
    ok(&ws.respawn(&ns, &["restart", "sup"]));
    let s = ws.wait_status(&ns, "sup", "the restarted child", |code, s| {
        code == 0 && s["child_pid"].as_u64().is_some_and(|p| p != child)
    });
    assert_eq!(pid(&s, "supervisor_pid"), supervisor);
    assert_eq!(ns.show("sup.service", "NRestarts"), "1");

    // stop: status 3, nothing left running.
    ok(&ws.respawn(&ns, &["stop", "sup"]));
    let (code, s) = ws.status(&ns, "sup");
    assert_eq!((code, s["state"].as_str()), (3, Some("stopped")), "{s:#}");
    assert_eq!(ns.show("sup.service", "ActiveState"), "inactive");
    assert_eq!(count_sleepers(&sleep), 0);

    // start again, then re-install in place (a new supervisor runs the new unit).
    assert!(ok(&ws.respawn(&ns, &["start", "sup"])).contains("started sup"));
    assert_eq!(ws.status(&ns, "sup").0, 0);
    let out = ws.respawn(&ns, &["install", "--backend", "systemd", "--spec", &spec]);
    assert!(ok(&out).contains("updated"), "{}", ok(&out));
    let (code, s) = ws.status(&ns, "sup");
    assert_eq!(code, 0, "{s:#}");
    assert_eq!(count_sleepers(&sleep), 1);

    // uninstall: status 4, the unit is gone, nothing runs; a second uninstall says so.
    ok(&ws.respawn(&ns, &["uninstall", "sup"]));
    assert_eq!(ws.status(&ns, "sup").0, 4);
    assert!(!ns.exists("/etc/systemd/system/sup.service"));
    assert_eq!(ns.show("sup.service", "LoadState"), "not-found");
    assert_eq!(count_sleepers(&sleep), 0);
    let again = ws.respawn(&ns, &["uninstall", "sup"]);
    assert_eq!(again.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not installed"));
}

#[test]
fn native_unit_runs_the_program_with_exactly_its_arguments() {
    let Some(ns) = boot_or_skip("native_unit_runs_the_program_with_exactly_its_arguments") else {
        return;
    };
    let ws = Workspace::new();
    let sleep = unique_sleep();
    let argv_file = ws.path("argv");
    let env_file = ws.path("env");
    // The program writes its arguments and its ODD variable NUL-separated, then sleeps.
    let script = format!(
        "for a in \"$@\"; do printf '%s\\0' \"$a\"; done > {argv}; printf '%s' \"$ODD\" > {env}; exec sleep {sleep}",
        argv = argv_file.display(),
        env = env_file.display()
    );
    let odd = [
        "100%",
        "%n",
        "$HOME",
        "${X}",
        "$$",
        "a\"b",
        "it's",
        "back\\slash",
        "",
        " ",
        "new\nline",
        "tab\there",
        ";",
        "ü€😀",
        "\u{1}\u{7f}",
        "-x",
    ];
    let odd_value = "v %n $HOME \" ' \\ \n\t ü";
    let q = |s: &str| toml::Value::String(s.into()).to_string();
    let args: Vec<String> = ["-c", &script, "sh"]
        .iter()
        .copied()
        .chain(odd)
        .map(q)
        .collect();
    let spec = ws.spec(
        "nat.toml",
        &format!(
            "name = \"nat\"\ncommand = \"sh\"\nargs = [{}]\nenv = {{ ODD = {} }}\n[restart]\nbackoff = [\"100ms\"]\n",
            args.join(", "),
            q(odd_value)
        ),
    );

    let out = ws.respawn(
        &ns,
        &[
            "install",
            "--backend",
            "systemd",
            "--native",
            "--spec",
            &spec,
        ],
    );
    ok(&out);
    assert!(wait_until(DEADLINE, || count_sleepers(&sleep) == 1));
    let written = std::fs::read(&argv_file).unwrap();
    let got: Vec<&[u8]> = written.split(|b| *b == 0).collect();
    let mut want: Vec<&[u8]> = odd.iter().map(|s| s.as_bytes()).collect();
    want.push(b""); // after the last NUL
    assert_eq!(got, want);
    assert_eq!(std::fs::read_to_string(&env_file).unwrap(), odd_value);

    let (code, s) = ws.status(&ns, "nat");
    assert_eq!((code, s["state"].as_str()), (0, Some("running")), "{s:#}");
    assert!(
        s["supervisor_pid"].is_null(),
        "no supervisor in native mode"
    );
    let main = pid(&s, "child_pid");
    assert_eq!(ns.show("nat.service", "MainPID"), main.to_string());

    // systemd itself restarts the killed program.
    ok(&ns.run(&["kill", "-9", &main.to_string()]));
    let s = ws.wait_status(&ns, "nat", "systemd's restart", |code, s| {
        code == 0 && s["child_pid"].as_u64().is_some_and(|p| p != main)
    });
    assert_eq!(s["restarts"], 1);

    ok(&ws.respawn(&ns, &["stop", "nat"]));
    assert_eq!(ws.status(&ns, "nat").0, 3);
    assert_eq!(count_sleepers(&sleep), 0);
    ok(&ws.respawn(&ns, &["uninstall", "nat"]));
    assert_eq!(ws.status(&ns, "nat").0, 4);
    assert!(!ns.exists("/etc/systemd/system/nat.service"));
}

#[test]
fn failed_installs_leave_nothing_behind() {
    let Some(ns) = boot_or_skip("failed_installs_leave_nothing_behind") else {
        return;
    };
    let ws = Workspace::new();
    let sleep = unique_sleep();
    let spec_text = format!("command = \"sleep\"\nargs = [\"{sleep}\"]\n");

    // A unit of the same name that respawn did not write is never overwritten.
    let foreign = "[Service]\nExecStart=/bin/sleep 1\n";
    ok(&ns.run(&[
        "sh",
        "-c",
        &format!(
            "printf '{}' > /etc/systemd/system/other.service",
            foreign.replace('\n', "\\n")
        ),
    ]));
    let spec = ws.spec("other.toml", &format!("name = \"other\"\n{spec_text}"));
    let out = ws.respawn(&ns, &["install", "--backend", "systemd", "--spec", &spec]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not written by respawn"));
    assert_eq!(
        ns.stdout(&["cat", "/etc/systemd/system/other.service"]),
        foreign
    );

    // The supervisor systemd starts cannot run (a foreground `respawn run` holds the
    // service's lock): install fails and undoes everything.
    let spec = ws.spec("busy.toml", &format!("name = \"busy\"\n{spec_text}"));
    let (exe, root) = (ws.exe(), ws.state_root());
    let mut foreground = ns
        .command(&[&exe, "--state-dir", &root, "run", "--spec", &spec])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(DEADLINE, || count_sleepers(&sleep) == 1));
    let out = ws.respawn(&ns, &["install", "--backend", "systemd", "--spec", &spec]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("undone"), "{stderr}");
    assert!(!ns.exists("/etc/systemd/system/busy.service"));
    assert_eq!(ns.show("busy.service", "LoadState"), "not-found");
    assert!(!ws.path("state/busy/install.json").exists());
    // The foreground supervisor was not disturbed.
    assert_eq!(count_sleepers(&sleep), 1);
    let _ = foreground.kill();
    let _ = foreground.wait();
}

#[test]
fn user_unit_with_linger_runs_under_the_users_manager() {
    let Some(ns) = boot_or_skip("user_unit_with_linger_runs_under_the_users_manager") else {
        return;
    };
    // root's home is the user's here: hide the host's behind a tmpfs, so the user unit
    // and everything the user manager writes stay inside the namespace.
    ok(&ns.run(&["mount", "-t", "tmpfs", "tmpfs", "/root"]));
    let ws = Workspace::new();
    let sleep = unique_sleep();
    let spec = ws.spec(
        "usr.toml",
        &format!("name = \"usr\"\ncommand = \"sleep\"\nargs = [\"{sleep}\"]\n"),
    );
    let (exe, root) = (ws.exe(), ws.state_root());
    // As after `su`: HOME set, but no XDG_RUNTIME_DIR (respawn finds /run/user/0).
    let respawn = |args: &[&str]| {
        let mut argv = vec![exe.as_str(), "--state-dir", &root];
        argv.extend(args);
        ns.command(&argv)
            .env("HOME", "/root")
            .env("USER", "root")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_RUNTIME_DIR")
            .output()
            .unwrap()
    };
    let user_show = |prop: &str| {
        ns.stdout(&[
            "env",
            "XDG_RUNTIME_DIR=/run/user/0",
            "systemctl",
            "--user",
            "show",
            "usr.service",
            "-p",
            prop,
            "--value",
        ])
        .trim()
        .to_string()
    };
    let unit_file = "/root/.config/systemd/user/usr.service";

    // Lingering off and no login session: no user manager runs. The install says
    // so, says how to fix it, and leaves nothing behind.
    let out = respawn(&["install", "--backend", "systemd", "--user", "--spec", &spec]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("lingering is off for root"), "{stderr}");
    assert!(stderr.contains("loginctl enable-linger root"), "{stderr}");
    assert!(stderr.contains("--linger"), "{stderr}");
    assert!(!ns.exists(unit_file));

    let out = respawn(&[
        "install",
        "--backend",
        "systemd",
        "--user",
        "--linger",
        "--spec",
        &spec,
    ]);
    assert!(ok(&out).contains("enabled lingering for root"));
    assert!(ns.exists(unit_file));
    assert_eq!(
        ns.stdout(&["loginctl", "show-user", "0", "-p", "Linger", "--value"])
            .trim(),
        "yes"
    );
    let out = respawn(&["status", "usr", "--json"]);
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (out.status.code(), s["state"].as_str()),
        (Some(0), Some("running")),
        "{s:#}"
    );
    let supervisor = pid(&s, "supervisor_pid");
    assert_eq!(user_show("MainPID"), supervisor.to_string());

    // The user's manager brings a killed supervisor back.
    ok(&ns.run(&["kill", "-9", &supervisor.to_string()]));
    assert!(wait_until(DEADLINE, || user_show("NRestarts") == "1"
        && user_show("ActiveState") == "active"));
    assert!(wait_until(Duration::from_secs(5), || count_sleepers(
        &sleep
    ) == 1));

    ok(&respawn(&["uninstall", "usr"]));
    assert_eq!(respawn(&["status", "usr"]).status.code(), Some(4));
    assert!(!ns.exists(unit_file));
    assert_eq!(count_sleepers(&sleep), 0);
}

/// Issue 13: five parallel installs and uninstalls under systemd once left a unit
/// enabled and active with no install record. With the operation lock, every round
/// ends in one of two whole states.
#[test]
fn parallel_install_and_uninstall_leave_whole_states_under_systemd() {
    let Some(ns) = boot_or_skip("parallel_install_and_uninstall_leave_whole_states_under_systemd")
    else {
        return;
    };
    let ws = Workspace::new();
    let sleep = unique_sleep();
    let spec = ws.spec(
        "par.toml",
        &format!(
            "name = \"par\"\ncommand = \"sleep\"\nargs = [\"{sleep}\"]\n[stop]\ntimeout = \"5s\"\n"
        ),
    );
    let (exe, root) = (ws.exe(), ws.state_root());
    for round in 0..6 {
        let cmds: Vec<Child> = (0..5)
            .map(|k| {
                let mut argv = vec![exe.as_str(), "--state-dir", &root];
                if (k + round) % 2 == 0 {
                    argv.extend(["install", "--backend", "systemd", "--spec", &spec]);
                } else {
                    argv.extend(["uninstall", "par"]);
                }
                ns.command(&argv)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in cmds {
            c.wait().unwrap();
        }
        let record = Path::new(&root).join("par/install.json").exists();
        let unit = ns.exists("/etc/systemd/system/par.service");
        let active = ns.show("par.service", "ActiveState") == "active";
        assert!(
            (record && unit && active) || (!record && !unit && !active),
            "round {round}: record {record}, unit file {unit}, active {active}"
        );
    }
    let _ = ws.respawn(&ns, &["uninstall", "par"]);
}

/// The real Hermes gateway (issue 17), its sd_notify watchdog on, its spec from the
/// preset. With `native` false the unit runs respawn's supervisor, which serves the
/// gateway's NOTIFY_SOCKET itself; with `native` true systemd runs the gateway with
/// Type=notify and WatchdogSec=. Either way: ready is reported, a frozen gateway
/// (SIGSTOP) is restarted, and the reason says watchdog.
fn hermes_watchdog_under_systemd(test: &str, native: bool) {
    let Some(venv) = crate::common::hermes::venv() else {
        return;
    };
    let Some(ns) = boot_or_skip(test) else {
        return;
    };
    let ws = Workspace::new();
    let hermes = crate::common::hermes::Hermes::with_profile(venv, ws.path("home"), "work");
    hermes.enable_watchdog();
    let mut respawn = Command::new(RESPAWN);
    respawn.env("RESPAWN_STATE_DIR", ws.state_root());
    // A system service has no login session: the spec carries the user's variables.
    let mut spec_text =
        crate::common::hermes::with_env(&hermes.watchdog_spec(respawn), &hermes.user_vars());
    if native {
        // A wide gap before systemd's restart, to read its verdict in status.
        spec_text = spec_text.replacen("\n[restart]\n", "\n[restart]\nbackoff = [\"5s\"]\n", 1);
        // systemd stops with a signal only (Hermes exits 1 on SIGTERM): the preset's
        // stop marker is for the supervisor.
        spec_text = spec_text
            .lines()
            .filter(|l| !l.starts_with("file = ") && !l.starts_with("contents = "))
            .map(|l| {
                if l == "method = \"file\"" {
                    "method = \"signal\""
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    let spec = ws.spec("hermes-work.toml", &spec_text);
    let (id, unit) = ("hermes-work", "respawn-hermes-gateway-work.service");

    let mut install = vec!["install", "--backend", "systemd", "--spec", &spec];
    if native {
        install.push("--native");
    }
    let out = ok(&ws.respawn(&ns, &install));
    let (code, s) = ws.status(&ns, id);
    assert_eq!(
        (code, s["state"].as_str()),
        (0, Some("running")),
        "{out}\n{s:#}"
    );
    assert_eq!(s["ready"], true, "{out}\n{s:#}");
    let gateway = pid(&s, "child_pid");
    assert_eq!(ns.show(unit, "LoadState"), "loaded");
    if native {
        // systemd's own watchdog and readiness: it is `active` only after READY=1.
        assert_eq!(ns.show(unit, "Type"), "notify");
        assert_eq!(ns.show(unit, "WatchdogUSec"), "2s");
        assert_eq!(ns.show(unit, "StatusText"), "Hermes Gateway running");
        assert_eq!(ns.show(unit, "MainPID"), gateway.to_string());
    } else {
        assert!(out.contains(&format!("{id} is ready in ")), "{out}");
        assert_eq!(s["notify_status"], "Hermes Gateway running", "{s:#}");
        // The gateway talks to respawn's socket, not to systemd (the unit is no
        // Type=notify service and has no watchdog of its own).
        let environ = ns.stdout(&["cat", &format!("/proc/{gateway}/environ")]);
        let sock = ws.path("state/hermes-work/notify.sock");
        assert!(
            environ
                .split('\0')
                .any(|v| v == format!("NOTIFY_SOCKET={}", sock.display())),
            "{environ:?}"
        );
        // Named as the watchdog's process, as systemd would name its main process.
        assert!(
            environ
                .split('\0')
                .any(|v| v == format!("WATCHDOG_PID={gateway}")),
            "{environ:?}"
        );
        let systemd_watchdog = ns.show(unit, "WatchdogUSec");
        assert!(
            matches!(systemd_watchdog.as_str(), "infinity" | "0"),
            "{systemd_watchdog}"
        );
    }

    // Frozen: no more WATCHDOG=1.
    ok(&ns.run(&["kill", "-STOP", &gateway.to_string()]));
    if native {
        // systemd kills it (SIGABRT, then SIGCONT) and waits out RestartSec.
        let s = ws.wait_status(&ns, id, "systemd's backoff", |code, s| {
            code == 3 && s["state"] == "backoff"
        });
        let reason = s["reason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with("watchdog timeout: systemd's WatchdogSec= ran out"),
            "{s:#}"
        );
        assert_eq!(s["ready"], false, "{s:#}");
    }
    let s = ws.wait_status(&ns, id, "a new, ready gateway", |code, s| {
        code == 0 && s["ready"] == true && s["child_pid"].as_u64().is_some_and(|p| p != gateway)
    });
    let second = pid(&s, "child_pid");
    if native {
        assert_eq!(s["restarts"], 1, "{s:#}");
        assert_eq!(ns.show(unit, "MainPID"), second.to_string());
    } else {
        assert_eq!(
            s["last_failure"], "watchdog timeout: no WATCHDOG=1 within 2.0 s",
            "{s:#}"
        );
        assert_eq!(s["last_exit"]["signal"], 9, "{s:#}");
        assert_eq!(
            ns.show(unit, "NRestarts"),
            "0",
            "respawn's restart, not systemd's"
        );
    }
    assert!(
        !ns.run(&["kill", "-0", &gateway.to_string()])
            .status
            .success(),
        "the frozen gateway {gateway} is gone"
    );

    ok(&ws.respawn(&ns, &["stop", id]));
    let (code, s) = ws.status(&ns, id);
    if native {
        // Hermes exits 1 on SIGTERM: its clean stop is the preset's stop marker, which
        // only the supervisor writes. systemd calls that a failure.
        assert_eq!((code, s["state"].as_str()), (3, Some("failed")), "{s:#}");
        assert_eq!(s["last_exit"]["code"], 1, "{s:#}");
    } else {
        assert_eq!((code, s["state"].as_str()), (3, Some("stopped")), "{s:#}");
        assert_eq!(s["last_exit"]["code"], 0, "the stop marker worked: {s:#}");
    }
    assert!(
        !ns.run(&["kill", "-0", &second.to_string()])
            .status
            .success(),
        "the gateway is gone"
    );
    ok(&ws.respawn(&ns, &["uninstall", id]));
}

#[test]
fn hermes_watchdog_under_systemd_with_respawns_supervisor() {
    hermes_watchdog_under_systemd(
        "hermes_watchdog_under_systemd_with_respawns_supervisor",
        false,
    );
}

#[test]
fn hermes_watchdog_under_systemd_native() {
    hermes_watchdog_under_systemd("hermes_watchdog_under_systemd_native", true);
}

/// Issue 15 on Linux: a system unit installed through sudo runs the program as the
/// user who ran sudo (`User=`/`Group=`), with the service's state folder given to
/// that user; a state dir the user cannot reach is refused first. The user exists
/// only in the namespace: /etc/passwd and /etc/group are private copies bind-mounted
/// over the host's.
#[test]
fn a_system_unit_installed_through_sudo_runs_the_program_as_that_user() {
    let Some(ns) =
        boot_or_skip("a_system_unit_installed_through_sudo_runs_the_program_as_that_user")
    else {
        return;
    };
    let ws = Workspace::new();
    let (uid, name) = (4242, "rsptest");
    for (file, line) in [
        (
            "passwd",
            format!("{name}:x:{uid}:{uid}::/nonexistent:/usr/sbin/nologin\n"),
        ),
        ("group", format!("{name}:x:{uid}:\n")),
    ] {
        let copy = ws.path(file);
        let mut text = std::fs::read_to_string(format!("/etc/{file}")).unwrap();
        text.push_str(&line);
        std::fs::write(&copy, text).unwrap();
        ok(&ns.run(&[
            "mount",
            "--bind",
            copy.to_str().unwrap(),
            &format!("/etc/{file}"),
        ]));
    }
    let sleep = unique_sleep();
    let spec = ws.spec(
        "as-user.toml",
        &format!("name = \"asuser\"\ncommand = \"sleep\"\nargs = [\"{sleep}\"]\n"),
    );
    let respawn = |args: &[&str]| {
        let (exe, root) = (ws.exe(), ws.state_root());
        let mut argv = vec![exe.as_str(), "--state-dir", &root];
        argv.extend(args);
        ns.command(&argv).env("SUDO_USER", name).output().unwrap()
    };
    let install = [
        "install",
        "--backend",
        "systemd",
        "--system",
        "--spec",
        &spec,
    ];

    // A workspace closed to others (as root's home is): the user cannot reach the state dir.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(ws.h.dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = respawn(&install);
    let stderr = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("runs as {name}")) && stderr.contains("closed to them"),
        "{stderr}"
    );
    assert!(!ns.exists("/etc/systemd/system/asuser.service"));

    std::fs::set_permissions(ws.h.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let said = ok(&respawn(&install));
    assert!(said.contains(&format!("runs as {name}")), "{said}");
    let unit = ns.stdout(&["cat", "/etc/systemd/system/asuser.service"]);
    assert!(
        unit.contains(&format!("User={name}\nGroup={name}\n")),
        "{unit}"
    );
    let (code, s) = ws.status(&ns, "asuser");
    assert_eq!((code, s["state"].as_str()), (0, Some("running")), "{s:#}");
    // Both the supervisor and the program run as the user, read from the namespace's
    // /proc (status gives the pids as the namespace sees them).
    let uid_of = |pid: u64| -> String {
        let status = ns.stdout(&["cat", &format!("/proc/{pid}/status")]);
        let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        line.split_whitespace().nth(1).unwrap().to_string()
    };
    assert_eq!(uid_of(pid(&s, "child_pid")), uid.to_string());
    assert_eq!(uid_of(pid(&s, "supervisor_pid")), uid.to_string());
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(ws.path("state/asuser/install.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["unix_account"]["user"], name);

    ok(&respawn(&["uninstall", "asuser"]));
    assert_eq!(count_sleepers(&sleep), 0);

    // Without --state-dir: sudo keeps root's HOME (closed to the user), and the service
    // goes to the machine's state root (/var/lib/respawn; here a folder of the test's,
    // named by RESPAWN_MACHINE_STATE_DIR), which every later command finds by itself.
    let root_home = ws.path("root-home");
    std::fs::create_dir_all(&root_home).unwrap();
    std::fs::set_permissions(&root_home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let machine = ws.path("machine");
    let plain = |args: &[&str]| {
        let mut argv = vec![ws.exe()];
        argv.extend(args.iter().map(|a| a.to_string()));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        ns.command(&argv)
            .env_remove("RESPAWN_STATE_DIR")
            .env_remove("XDG_STATE_HOME")
            .env("HOME", &root_home)
            .env("RESPAWN_MACHINE_STATE_DIR", &machine)
            .env("SUDO_USER", name)
            .output()
            .unwrap()
    };
    let said = ok(&plain(&install));
    assert!(said.contains(&format!("runs as {name}")), "{said}");
    let unit = ns.stdout(&["cat", "/etc/systemd/system/asuser.service"]);
    assert!(
        unit.contains(&format!("\"--state-dir\" \"{}\"", machine.display())),
        "{unit}"
    );
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&machine).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o755);
    assert_eq!(
        std::fs::metadata(machine.join("asuser")).unwrap().uid(),
        uid,
        "the service's folder is the user's"
    );
    let out = plain(&["status", "asuser", "--json"]);
    let s: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(0), "{s:#}");
    assert_eq!(s["state"], "running", "{s:#}");
    ok(&plain(&["uninstall", "asuser"]));
    assert_eq!(count_sleepers(&sleep), 0);
}

/// Issue 26 item 7 under a real systemd: a system unit installed and started by an
/// older respawn (RESPAWN_OLD_BIN: b351e14, `scripts/old-binary.sh build`) is driven by
/// this CLI (status, list, logs, restart, stop, start, uninstall), and one installed by
/// this respawn by the old CLI. `restart` must not wait for a `ready` the old
/// supervisor never writes. Needs RESPAWN_OLD_BIN (scripts/test builds it and sets
/// RESPAWN_REQUIRE_OLD_BIN=1); without it the test SKIPs.
#[test]
fn an_old_supervisor_under_systemd_is_driven_by_the_new_cli_and_back() {
    let test = "an_old_supervisor_under_systemd_is_driven_by_the_new_cli_and_back";
    let Some(old) = old_binary(test) else {
        return;
    };
    let Some(ns) = boot_or_skip(test) else {
        return;
    };
    let ws = Workspace::new();
    // Where the namespace sees it, as the unit the old binary writes names it.
    std::fs::hard_link(&old, ws.path("respawn-old"))
        .or_else(|_| std::fs::copy(&old, ws.path("respawn-old")).map(drop))
        .unwrap();
    let old_exe = ws.path("respawn-old").to_str().unwrap().to_string();
    let root = ws.state_root();
    let old_cli = |args: &[&str]| {
        let mut argv = vec![old_exe.as_str(), "--state-dir", &root];
        argv.extend(args);
        ns.run(&argv)
    };
    let new_cli = |args: &[&str]| ws.respawn(&ns, args);
    let sleep = unique_sleep();
    let spec = ws.spec(
        "mixd.toml",
        &format!(
            "name = \"mixd\"\ncommand = \"sleep\"\nargs = [\"{sleep}\"]\n[stop]\ntimeout = \"5s\"\n"
        ),
    );
    type Cli<'a> = &'a dyn Fn(&[&str]) -> Output;
    let rounds: [(&str, Cli, Cli); 2] = [
        ("old installs, new drives", &old_cli, &new_cli),
        ("new installs, old drives", &new_cli, &old_cli),
    ];
    for (round, starter, driver) in rounds {
        ok(&starter(&[
            "install",
            "--backend",
            "systemd",
            "--spec",
            &spec,
        ]));
        assert_eq!(ns.show("mixd.service", "ActiveState"), "active", "{round}");
        let s = ws.wait_status(&ns, "mixd", "running", |code, s| {
            code == 0 && s["child_pid"].as_u64().is_some()
        });
        let (supervisor, child) = (pid(&s, "supervisor_pid"), pid(&s, "child_pid"));
        assert_eq!(
            ns.show("mixd.service", "MainPID"),
            supervisor.to_string(),
            "{round}"
        );
        for args in [
            &["status", "mixd"][..],
            &["list"],
            &["logs", "mixd", "-n", "3"],
        ] {
            let out = driver(args);
            assert!(out.status.success(), "{round}: {args:?}: {}", text(&out));
        }
        // A planned restart of the child by the same supervisor, reported done
        // without waiting for a field the other side does not write.
        let out = driver(&["restart", "mixd"]);
        assert!(out.status.success(), "{round}: restart: {}", text(&out));
        assert!(!text(&out).contains("not ready"), "{round}: {}", text(&out));
        let s = ws.wait_status(&ns, "mixd", "the restarted child", |code, s| {
            code == 0 && s["child_pid"].as_u64().is_some_and(|p| p != child)
        });
        assert_eq!(pid(&s, "supervisor_pid"), supervisor, "{round}");
        assert_eq!(count_sleepers(&sleep), 1, "{round}");

        ok(&driver(&["stop", "mixd"]));
        assert_eq!(
            ns.show("mixd.service", "ActiveState"),
            "inactive",
            "{round}"
        );
        assert_eq!(ws.status(&ns, "mixd").0, 3, "{round}");
        assert_eq!(count_sleepers(&sleep), 0, "{round}");
        ok(&driver(&["start", "mixd"]));
        ws.wait_status(&ns, "mixd", "running again", |code, s| {
            code == 0 && s["child_pid"].as_u64().is_some()
        });
        assert_eq!(count_sleepers(&sleep), 1, "{round}");

        ok(&driver(&["uninstall", "mixd"]));
        assert_eq!(ws.status(&ns, "mixd").0, 4, "{round}");
        assert!(!ns.exists("/etc/systemd/system/mixd.service"), "{round}");
        assert_eq!(ns.show("mixd.service", "LoadState"), "not-found", "{round}");
        assert_eq!(count_sleepers(&sleep), 0, "{round}");
    }
}

/// Issue 26 item 6 under a real systemd: `install`, `start`, `stop`, `update` and
/// `uninstall` of a system unit SIGKILLed at pseudo-random points (200 runs): afterwards
/// `status` agrees with the processes, the next command (of any kind) completes, never
/// two children, a unit file is never left without the install record that lets
/// `list`, `doctor` and `uninstall` see it, and a last `uninstall` leaves no unit,
/// nothing in `list`, nothing running.
#[test]
fn interrupted_commands_leave_nothing_half_done_under_systemd() {
    let test = "interrupted_commands_leave_nothing_half_done_under_systemd";
    let Some(ns) = boot_or_skip(test) else {
        return;
    };
    let ws = Workspace::new();
    let sleep = unique_sleep();
    // Ready at its first probe, not after `started`'s second of watching: the rounds
    // cost what the commands cost.
    let spec = ws.spec(
        "ics.toml",
        &format!(
            "name = \"ics\"\ncommand = \"sleep\"\nargs = [\"{sleep}\"]\n[stop]\ntimeout = \"5s\"\n\
             [health]\ncommand = [\"true\"]\n"
        ),
    );
    let (exe, root) = (ws.exe(), ws.state_root());
    let unit = "/etc/systemd/system/ics.service";
    let record = Path::new(&root).join("ics/install.json");
    let ops: [&[&str]; 5] = [
        &["install", "--backend", "systemd", "--spec", &spec],
        &["start", "ics"],
        &["stop", "ics"],
        &["update", "ics", "--", "true"],
        &["uninstall", "ics"],
    ];
    let argv = |op: &[&str]| -> Vec<String> {
        [exe.as_str(), "--state-dir", &root]
            .iter()
            .chain(op)
            .map(|s| s.to_string())
            .collect()
    };
    // `status` tells the truth: running with one child, or not running with none.
    let status_is_true = |why: &str| {
        let mut last = (0, Value::Null, 0);
        let ok = wait_until(DEADLINE, || {
            let (code, s) = ws.status(&ns, "ics");
            let kids = count_sleepers(&sleep);
            last = (code, s.clone(), kids);
            match (code, s["state"].as_str()) {
                (0, Some("running")) => kids == 1 && s["child_pid"].as_u64().is_some(),
                (3 | 4, _) => kids == 0,
                _ => false,
            }
        });
        assert!(
            ok,
            "{why}: status lies: exit {}, {}, {} children",
            last.0, last.1, last.2
        );
    };
    let mut next = xorshift(0xD1B5_4A32_D192_ED03_u64);
    for round in 0..200 {
        let op = ops[round % ops.len()];
        let delay = Duration::from_micros(next() % 250_000);
        let args = argv(op);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut nsenter = ns
            .command(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        // nsenter forks the command into the namespace: stop nsenter (so it forks no
        // more), SIGKILL the command, then nsenter.
        let host = nix::unistd::Pid::from_raw(nsenter.id() as i32);
        let _ = nix::sys::signal::kill(host, nix::sys::signal::Signal::SIGSTOP);
        let kids = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", nsenter.id()))
            .unwrap_or_default();
        for kid in kids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(kid),
                nix::sys::signal::Signal::SIGKILL,
            );
            assert!(wait_until(DEADLINE, || !alive(kid as u32)));
        }
        let _ = nsenter.kill();
        let _ = nsenter.wait();
        let what = format!("round {round}: `{}` killed after {delay:?}", op.join(" "));
        status_is_true(&what);
        let then = ops[(next() % ops.len() as u64) as usize];
        let out = ws.respawn(&ns, then);
        let said = text(&out);
        assert!(
            matches!(out.status.code(), Some(0 | 3 | 4))
                || (out.status.code() == Some(1) && said.contains("is not installed")),
            "{what}, then `{}`: {said}",
            then.join(" ")
        );
        let what = format!("{what}, then `{}`", then.join(" "));
        status_is_true(&what);
        assert!(count_sleepers(&sleep) <= 1, "{what}: two children");
        assert!(
            !ns.exists(unit) || record.exists(),
            "{what}: a unit file without an install record: uninstall cannot see it"
        );
    }
    let out = ws.respawn(&ns, &["uninstall", "ics"]);
    assert!(matches!(out.status.code(), Some(0 | 4)), "{}", text(&out));
    assert!(!ns.exists(unit));
    assert_eq!(ns.show("ics.service", "LoadState"), "not-found");
    assert!(wait_until(DEADLINE, || count_sleepers(&sleep) == 0));
    let list = ws.respawn(&ns, &["list", "--json"]);
    assert!(!text(&list).contains("\"ics\""), "{}", text(&list));
}
