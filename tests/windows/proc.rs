//! The Windows child process under Wine, with real programs nobody here wrote:
//! pip's console launcher (`t64.exe`, what `pip install` turns into hermes.exe) in
//! front of a program with Hermes' stop contract, esbuild's serve mode (stops on
//! stdin end-of-file), the `[stop] command`'s job and console, and `respawn start`
//! from inside a Job Object.
//!
//! The launcher and esbuild come from scripts/windows-fixtures.sh (PyPI and npm,
//! cached); without them those tests say SKIP, unless
//! RESPAWN_REQUIRE_WINDOWS_FIXTURES=1 makes that a failure.
#![cfg(windows)]

use crate::common::*;
use std::path::Path;
use std::time::Duration;

#[test]
fn graceful_stop_through_pips_launcher_reaches_the_real_program() {
    let h = Harness::new();
    // As on a Windows install: hermes.exe (pip's launcher) starts the venv's
    // python.exe, a redirector that starts the base interpreter, which is the
    // gateway. Folders with spaces: the shebang must quote the path.
    let Some((hermes, home)) = stand_in_gateway(h.dir.path()) else {
        return;
    };
    let spec = h.spec("s.toml", &stand_in_gateway_spec("gw", &hermes, &home, ""));
    let mut sup = h.run(&spec);
    let s = h.wait_state("gw", "the main pid from gateway.pid", |s| {
        s["main_pid"].is_u64()
    });
    let (child, main) = (
        s["child_pid"].as_u64().unwrap(),
        s["main_pid"].as_u64().unwrap(),
    );
    assert_ne!(
        child, main,
        "the launcher is the child; the gateway is two hops below"
    );
    assert!(wait_for("the gateway's first line", || h
        .log("gw")
        .contains(&format!("gateway {main}: running"))));
    let log = h.log("gw");
    let running: Vec<&str> = log.lines().filter(|l| l.contains(": running")).collect();
    assert_eq!(
        running,
        [format!("gateway {main}: running")],
        "only the base interpreter runs the gateway:\n{log}"
    );

    // The marker names the program, which exits 0; the launcher passes the 0 on.
    // Without pid_file it would name the launcher, and the stop would wait 90 s.
    assert_eq!(stop_supervisor(&mut sup).code(), Some(0));
    let s = h.state("gw").unwrap();
    assert_eq!(s["last_exit"]["code"], 0, "{s:#}");
    let log = h.log("gw");
    assert!(
        log.contains(&format!("gateway {main}: stop marker for me")),
        "{log}"
    );
    assert!(!log.contains("did not stop within"), "{log}");
}

#[test]
fn a_pid_file_naming_a_process_outside_the_job_is_refused() {
    let h = Harness::new();
    let out = h.path("probe.json");
    let pid_file = h.path("other.pid");
    // A live process that is not in the child's job: this test.
    std::fs::write(&pid_file, std::process::id().to_string()).unwrap();
    let spec = h.spec(
        "s.toml",
        &format!(
            "name = \"pj\"\ncommand = {:?}\nargs = [{:?}, \"stay\"]\npid_file = {:?}\n[stop]\nmethod = \"kill\"\n",
            example_exe("job_probe").display().to_string(),
            out.display().to_string(),
            pid_file.display().to_string()
        ),
    );
    let mut sup = h.run(&spec);
    h.wait_running("pj");
    assert!(
        wait_for("the refusal", || h
            .log("pj")
            .contains("not in the child's Job Object")),
        "{}",
        h.log("pj")
    );
    assert!(h.state("pj").unwrap().get("main_pid").is_none());
    assert_eq!(stop_supervisor(&mut sup).code(), Some(0));
}

#[test]
fn esbuild_serve_runs_on_a_held_stdin_and_stops_on_its_end() {
    let Some(esbuild) = fixture("esbuild.exe") else {
        return;
    };
    let h = Harness::new();
    // A copy on the harness's drive: a spec's `/var/...` path would mean C:\var\...
    let esbuild = {
        let copy = h.path("esbuild.exe");
        std::fs::copy(esbuild, &copy).unwrap();
        copy
    };
    let site = h.path("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "hello from respawn").unwrap();
    let port = free_port();
    let spec = h.spec(
        "s.toml",
        &format!(
            "name = \"esb\"\ncommand = {:?}\nargs = [{:?}, \"--serve=127.0.0.1:{port}\"]\n[stop]\ntimeout = \"60s\"\n",
            esbuild.display().to_string(),
            format!("--servedir={}", site.display())
        ),
    );
    let mut sup = h.run(&spec);
    if !wait_for("esbuild running", || {
        h.state("esb").is_some_and(|s| s["state"] == "running")
    }) {
        let _ = sup.kill();
        panic!(
            "{}\n{}",
            std::fs::read_to_string(&spec).unwrap(),
            stderr_of(sup)
        );
    }
    let child = h.wait_running("esb");
    // Serving: with stdin at end-of-file from the start (NUL) esbuild would exit at once.
    assert!(
        wait_for("esbuild to serve", || {
            std::net::TcpStream::connect_timeout(
                &([127, 0, 0, 1], port).into(),
                Duration::from_secs(1),
            )
            .is_ok()
        }),
        "{}",
        h.log("esb")
    );
    let s = h.state("esb").unwrap();
    assert_eq!(
        (s["child_pid"].as_u64(), s["restarts"].as_u64()),
        (Some(u64::from(child)), Some(0))
    );

    // Stop method `signal` on Windows: close stdin; esbuild exits 0 on its own.
    assert_eq!(stop_supervisor(&mut sup).code(), Some(0));
    let s = h.state("esb").unwrap();
    assert_eq!(s["last_exit"]["code"], 0, "{s:#}\n{}", h.log("esb"));
    assert!(!h.log("esb").contains("did not stop within"));
}

#[test]
fn stop_command_runs_in_the_childs_job_without_a_console() {
    let h = Harness::new();
    let probe = example_exe("job_probe").display().to_string();
    let (child_out, stop_out) = (h.path("child.json"), h.path("stop.json"));
    let spec = h.spec(
        "s.toml",
        &format!(
            "name = \"jp\"\ncommand = {probe:?}\nargs = [{:?}, \"stay\"]\n[stop]\ncommand = [{probe:?}, {:?}]\ntimeout = \"2s\"\n",
            child_out.display().to_string(),
            stop_out.display().to_string()
        ),
    );
    let mut sup = h.run(&spec);
    h.wait_running("jp");
    let read = |p: &Path| -> Option<serde_json::Value> {
        serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
    };
    assert!(wait_for("the child's probe", || read(&child_out).is_some()));
    let got = read(&child_out).unwrap();
    assert_eq!(
        (&got["in_job"], &got["console"]),
        (&true.into(), &false.into()),
        "{got}"
    );

    assert_eq!(stop_supervisor(&mut sup).code(), Some(0));
    let got = read(&stop_out).expect("the stop command ran");
    // Outside the job before: the supervisor itself is in none.
    assert_eq!(got["in_job"], true, "{got}");
    // Wine gives consoles only under a pty (docs/wine.md row f): there the supervisor
    // shares ours, and a stop command without CREATE_NO_WINDOW would share it too.
    if !respawn::os::has_console_window() {
        eprintln!("NOTE: not under a pty: the console check is vacuous; run the lane under `script` to make it count");
    }
    assert_eq!(got["console"], false, "{got}");
}

/// The child's job kills its tree on close and kills a crashing process instead of
/// leaving it on a Windows Error Reporting dialog; read back with
/// QueryInformationJobObject. (From inside the job, with a null handle, Wine cannot
/// answer: see docs/wine.md.)
#[test]
fn the_childs_job_limits_read_back() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let h = Harness::new();
        let mut cmd = tokio::process::Command::new(example_exe("job_probe"));
        cmd.arg(h.path("p.json")).arg("stay");
        let tree = respawn::os::ChildTree::spawn(&mut cmd).unwrap();
        let limits = tree.job_limits().unwrap();
        let want = respawn::os::CHILD_JOB_LIMITS;
        if respawn::os::running_under_wine() && limits == 0 {
            // Wine 8 answers success with zeroed limits: only Windows can show this.
            eprintln!("NOTE: Wine returns zeroed job limits; checked on Windows only");
        } else {
            assert_eq!(limits & want, want, "limits {limits:#x}");
        }
        tree.kill_tree();
    });
}

/// `respawn start` run inside a KILL_ON_JOB_CLOSE job (an updater's, a CI runner's):
/// the supervisor breaks away when the job allows it and survives the job's end; when
/// the job forbids breakaway, start still works and says what that means.
#[test]
fn respawn_start_breaks_away_from_the_callers_job() {
    for allow in [true, false] {
        let h = Harness::new();
        let name = format!("brk{}", u8::from(allow));
        let spec = h.spec(
            "s.toml",
            &format!(
                "name = \"{name}\"\ncommand = {:?}\nargs = [{:?}, \"stay\"]\n",
                example_exe("job_probe").display().to_string(),
                h.path("probe.json").display().to_string()
            ),
        );
        h.install_portable(spec.to_str().unwrap());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let out = rt.block_on(async {
            let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_respawn"));
            cmd.env("RESPAWN_STATE_DIR", h.state_root())
                .args(["start", &name])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut caller = respawn::os::ChildTree::spawn_in_job(&mut cmd, allow).unwrap();
            let mut text = String::new();
            for stream in [
                caller
                    .stdout()
                    .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin>),
                caller.stderr().map(|s| Box::new(s) as _),
            ]
            .into_iter()
            .flatten()
            {
                let mut s = stream;
                tokio::io::AsyncReadExt::read_to_string(&mut s, &mut text)
                    .await
                    .unwrap();
            }
            let exit = caller.wait().await.unwrap();
            (exit, text)
            // `caller` drops here: its job's last handle closes and kills what is in it.
        });
        assert_eq!(out.0, respawn::policy::ExitKind::Code(0), "{}", out.1);
        let sup = h.state(&name).unwrap()["supervisor_pid"].as_u64().unwrap() as u32;
        if allow {
            assert!(!out.1.contains("forbids breakaway"), "{}", out.1);
            std::thread::sleep(Duration::from_millis(500));
            assert!(
                respawn::os::is_alive(sup),
                "the supervisor outlived the job"
            );
            ok(&h.cmd(&["stop", &name]));
        } else {
            assert!(out.1.contains("forbids breakaway"), "{}", out.1);
            assert!(wait_for("the supervisor to end with the job", || {
                !respawn::os::is_alive(sup)
            }));
        }
        ok(&h.cmd(&["uninstall", &name]));
    }
}

/// std's spawn (`respawn run`, the per-user mode, `[stop] command` helpers) creates the
/// child suspended, assigns its job, then resumes it with `NtResumeProcess` on its own
/// handle, not through a snapshot of every thread on the system (issue 22 item 10).
/// Many times in a row, the child and a helper in its job really run, from inside the
/// job, and the resume took the process-handle path: a resume that failed quietly
/// would leave a child that never writes its probe, and a fallback taken every time
/// would show in `resumed()`.
#[test]
fn std_spawn_resumes_the_child_through_its_handle_many_times() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let h = Harness::new();
        let read = |p: &Path| -> serde_json::Value {
            serde_json::from_str(&std::fs::read_to_string(p).expect("the probe wrote")).unwrap()
        };
        // Generous: a child still suspended never exits, this only turns a hang into a failure.
        let limit = Duration::from_secs(120);
        for i in 0..20 {
            let out = h.path(&format!("child{i}.json"));
            let mut cmd = tokio::process::Command::new(example_exe("job_probe"));
            cmd.arg(&out);
            let mut tree = respawn::os::ChildTree::spawn(&mut cmd).unwrap();
            assert_eq!(
                tree.resumed(),
                Some(respawn::os::Resumed::WholeProcess),
                "spawn {i}"
            );
            let helper_out = h.path(&format!("helper{i}.json"));
            let mut helper_cmd = tokio::process::Command::new(example_exe("job_probe"));
            helper_cmd.arg(&helper_out);
            let mut helper = tree.spawn_helper(&mut helper_cmd).unwrap();
            let exit = tokio::time::timeout(limit, helper.wait())
                .await
                .unwrap_or_else(|_| panic!("helper {i} never ran (still suspended?)"))
                .unwrap();
            assert_eq!(exit, respawn::policy::ExitKind::Code(0), "helper {i}");
            let got = read(&helper_out);
            assert_eq!(got["in_job"], true, "helper {i}: {got}");

            let pid = tree.pid();
            let exit = tokio::time::timeout(limit, tree.wait())
                .await
                .unwrap_or_else(|_| panic!("child {i} never ran (still suspended?)"))
                .unwrap();
            assert_eq!(exit, respawn::policy::ExitKind::Code(0), "child {i}");
            let got = read(&out);
            assert_eq!(got["pid"], pid, "child {i}: {got}");
            assert_eq!(got["in_job"], true, "child {i}: {got}");
        }
    });
}
