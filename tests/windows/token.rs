//! The user-token spawn (issue 15) for real under Wine: a child started through
//! CreateProcessAsUserW with a primary token, in a kill-on-close job, hidden, with the
//! token's environment block plus the spec's variables, its identity read back from
//! its token. Under Wine the token is the host's own (Wine has one user; see
//! docs/wine.md, "Tokens, sessions and file security"), so the test proves the path,
//! and the pure `run_as` decisions choose the token on Windows.
#![cfg(windows)]

use respawn::os::{self, ChildTree, UserCommand, UserToken, INTERACTIVE_DESKTOP};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// `probe_child`'s name for libtest: the child runs this test exe with it and `--exact`.
const PROBE: &str = "windows::token::probe_child";
/// `stop_helper_probe`'s name for libtest.
const STOP_PROBE: &str = "windows::token::stop_helper_probe";

/// The child: this test exe again, running only `probe_child`, which (with
/// RESPAWN_PROBE set, as the spawn's environment does) prints who it runs as, whether it
/// has a console window, its working dir and two variables, then waits for the end of
/// its stdin.
#[test]
fn probe_child() {
    use std::io::{Read, Write};
    let Ok(probe) = std::env::var("RESPAWN_PROBE") else {
        return;
    };
    let id = os::current_identity().unwrap();
    let console = if os::has_console_window() {
        "yes"
    } else {
        "no"
    };
    let cwd = std::env::current_dir().unwrap();
    let profile = std::env::var("USERPROFILE").unwrap_or_default();
    let mut out = std::io::stdout();
    write!(
        out,
        "\nuser={}\nsid={}\nsession={}\nconsole={console}\ncwd={}\nUSERPROFILE={profile}\nRESPAWN_PROBE={probe}\nready\n",
        id.account.name,
        id.account.sid,
        id.session,
        cwd.display()
    )
    .unwrap();
    out.flush().unwrap();
    if std::env::var_os("RESPAWN_PROBE_STAY").is_some() {
        // Only the job can end it now.
        loop {
            std::thread::park();
        }
    }
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// The `[stop] command` of the engine tests: records who it runs as, whether it is in
/// a job and whether it has a console, into the file RESPAWN_STOP_REPORT names.
#[test]
fn stop_helper_probe() {
    let Ok(report) = std::env::var("RESPAWN_STOP_REPORT") else {
        return;
    };
    let id = os::current_identity().unwrap();
    let text = format!(
        "sid={}\nin_job={}\nconsole={}\nhost_env={}\n",
        id.account.sid,
        os::in_a_job(),
        os::has_console_window(),
        std::env::var_os("CARGO_MANIFEST_DIR").is_some()
    );
    std::fs::write(report, text).unwrap();
}

/// `stay`: the probe ignores the end of its stdin and runs until killed.
fn spawn(token: &UserToken, load_profile: bool, stay: bool) -> (ChildTree, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut env = BTreeMap::new();
    env.insert("RESPAWN_PROBE".to_string(), "from the spec".to_string());
    if stay {
        env.insert("RESPAWN_PROBE_STAY".to_string(), "1".to_string());
    }
    let program = std::env::current_exe().unwrap();
    let args = [PROBE, "--exact", "--nocapture", "--test-threads=1"].map(std::ffi::OsString::from);
    let child = ChildTree::spawn_as_user(
        token,
        &UserCommand {
            program: &program,
            args: &args,
            env: &env,
            working_dir: Some(dir.path()),
            desktop: Some(INTERACTIVE_DESKTOP),
            load_profile,
        },
    )
    .unwrap();
    (child, dir)
}

/// Read the probe's report up to its "ready" line, then keep draining its output (a
/// closed pipe would fail the probe's last write).
async fn report(child: &mut ChildTree) -> BTreeMap<String, String> {
    let mut lines = BufReader::new(child.stdout().unwrap()).lines();
    let mut out = BTreeMap::new();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line == "ready" {
                return;
            }
            if let Some((k, v)) = line.split_once('=') {
                out.insert(k.to_string(), v.to_string());
            }
        }
        panic!("the probe's output ended before `ready`");
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the probe reported within 60 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    out
}

/// The child's exit, which must come within a minute; `what` says why it should.
async fn exit_within_a_minute(child: &mut ChildTree, what: &str) -> respawn::policy::ExitKind {
    tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .unwrap_or_else(|_| panic!("{what}: no exit within 60 s"))
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_child_started_with_a_token_runs_as_that_token_hidden_in_its_job() {
    let token = UserToken::own().unwrap();
    let me = token.identity().unwrap();
    assert!(me.account.sid.starts_with("S-1-5-"), "{me:?}");
    assert!(me.account.name.contains('\\'), "{me:?}");
    runtime().block_on(async {
        let (mut child, dir) = spawn(&token, true, false);
        let got = report(&mut child).await;
        // Its identity, from its own token and read back by us.
        assert_eq!(got["sid"], me.account.sid);
        assert_eq!(got["user"], me.account.name);
        assert_eq!(got["session"], me.session.to_string());
        let back = child.identity().unwrap();
        assert_eq!(back.account, me.account);
        assert_eq!(back.session, me.session);
        // The environment block is the token's, with the spec's variables on top.
        assert_eq!(got["RESPAWN_PROBE"], "from the spec");
        assert!(!got["USERPROFILE"].is_empty(), "{got:?}");
        assert_eq!(got["console"], "no");
        let cwd = std::fs::canonicalize(&got["cwd"]).unwrap();
        assert_eq!(cwd, std::fs::canonicalize(dir.path()).unwrap());
        // Closing stdin is a graceful stop for it: exit 0.
        child.close_stdin();
        let exit = exit_within_a_minute(&mut child, "exits after stdin closes").await;
        assert_eq!(exit, respawn::policy::ExitKind::Code(0));
        // wait() again gives the same answer.
        assert_eq!(child.wait().await.unwrap(), exit);
    });
}

#[test]
fn killing_the_tree_ends_the_child_and_the_job_holds_it() {
    let token = UserToken::own().unwrap();
    runtime().block_on(async {
        let (mut child, _dir) = spawn(&token, false, true);
        let _ = report(&mut child).await;
        let pid = child.pid();
        assert!(os::is_alive(pid));
        child.kill_tree();
        let exit = exit_within_a_minute(&mut child, "the killed child is reaped").await;
        assert_eq!(exit, respawn::policy::ExitKind::Code(1));
        assert!(!os::is_alive(pid));
    });
}

#[test]
fn dropping_the_child_kills_it() {
    let token = UserToken::own().unwrap();
    let pid = runtime().block_on(async {
        let (mut child, _dir) = spawn(&token, false, true);
        let _ = report(&mut child).await;
        child.pid()
    });
    // The runtime and the child (and so the job's only handle) are gone.
    let gone = (0..600).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        !os::is_alive(pid)
    });
    assert!(gone, "pid {pid} outlived its job");
}

#[test]
fn a_missing_program_is_an_error_that_names_it() {
    let token = UserToken::own().unwrap();
    let program = PathBuf::from(r"C:\no\such\program.exe");
    let err = ChildTree::spawn_as_user(
        &token,
        &UserCommand {
            program: &program,
            args: &[],
            env: &BTreeMap::new(),
            working_dir: None,
            desktop: None,
            load_profile: false,
        },
    )
    .err()
    .expect("spawning a missing program fails");
    assert!(err.to_string().contains("program.exe"), "{err}");
}

#[test]
fn accounts_resolve_and_wine_stubs_are_reported() {
    let me = os::current_identity().unwrap();
    let by_name = os::lookup_account(&me.account.name).unwrap();
    assert_eq!(by_name, me.account);
    let admins = os::lookup_account("Administrators").unwrap();
    assert_eq!(admins.sid, "S-1-5-32-544");
    assert!(os::lookup_account("no-such-user-respawn").is_err());
    if os::running_under_wine() {
        // WTSQueryUserToken ignores the session and hands back our own token.
        let t = UserToken::of_session(os::console_session().unwrap()).unwrap();
        assert_eq!(t.identity().unwrap().account, me.account);
        // S4U is a stub: it must fail with a message, never give a null token.
        let err = UserToken::s4u(&me.account)
            .err()
            .expect("S4U cannot work under Wine");
        assert!(
            err.to_string().contains("MSV1_0") || err.to_string().contains("no token"),
            "{err}"
        );
        // WTSEnumerateSessionsW lists nothing; the console session is found anyway.
        assert_eq!(
            os::sessions_of(&me.account.sid),
            vec![os::console_session().unwrap()]
        );
        assert_eq!(os::sessions_of("S-1-5-21-1-2-3-4242"), Vec::<u32>::new());
        // The console user is the one user there is.
        assert_eq!(os::console_user(), Some(me.account.clone()));
    }
}

#[test]
fn files_are_written_while_impersonating_and_the_thread_reverts() {
    let token = UserToken::own().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("stop.json");
    let me = os::current_identity().unwrap();
    let written = token
        .impersonate(|| std::fs::write(&marker, b"{}"))
        .unwrap();
    written.unwrap();
    assert_eq!(std::fs::read(&marker).unwrap(), b"{}");
    // Nothing of it sticks to the process, and nested use works.
    assert_eq!(os::current_identity().unwrap(), me);
    let inner = token
        .impersonate(|| token.impersonate(|| 7).unwrap())
        .unwrap();
    assert_eq!(inner, 7);
}

#[test]
fn the_host_plans_the_users_session_and_starts_the_spec_there() {
    use respawn::run_as::session::Context;
    use respawn::spec::service::ServiceSettings;
    use respawn::supervisor::user_launch;
    let me = os::current_identity().unwrap().account;
    let console = os::console_session().unwrap();
    let plan = user_launch::plan_now(ServiceSettings::default(), &me, None);
    assert_eq!(plan.target, Some(Context::Interactive(console)));
    assert!(!plan.planned_restart);
    // Someone who is logged on nowhere: S4U (default) or wait.
    let ghost = respawn::run_as::Account {
        sid: "S-1-5-21-1-2-3-4242".into(),
        name: "VM\\ghost".into(),
    };
    let plan = user_launch::plan_now(ServiceSettings::default(), &ghost, None);
    assert_eq!(plan.target, Some(Context::S4u));
    // A token that is not the recorded user's is refused, and S4U cannot work under Wine.
    let err = user_launch::token_for(Context::Interactive(console), &ghost)
        .err()
        .expect("another user's token is refused");
    assert!(err.to_string().contains("not starting"), "{err}");
    assert!(user_launch::token_for(Context::S4u, &me).is_err());

    // The command as the engine builds it: only the variables set on it go over the
    // user's own environment block.
    let exe = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(&exe);
    cmd.args([PROBE, "--exact", "--nocapture"])
        .env("RESPAWN_PROBE", "from the spec")
        .current_dir(dir.path());
    runtime().block_on(async {
        let mut child = user_launch::spawn(Context::Interactive(console), &me, &cmd).unwrap();
        let got = report(&mut child).await;
        assert_eq!(got["sid"], me.sid);
        assert_eq!(got["RESPAWN_PROBE"], "from the spec");
        assert_eq!(child.identity().unwrap().logon, "interactive");
        child.close_stdin();
        let exit = exit_within_a_minute(&mut child, "exits after stdin closes").await;
        assert_eq!(exit, respawn::policy::ExitKind::Code(0));
    });
}

/// The engine with a [`user_launch::UserLauncher`]: what the service host runs. The
/// SCM never delivers SERVICE_CONTROL_SESSIONCHANGE under Wine (docs/wine.md), so the
/// test calls the control handler's logic (`user_launch::session_changed`) with the
/// events Windows would send, and wakes the engine as the handler does.
mod engine {
    use super::*;
    use respawn::run_as::session::{WTS_SESSION_LOGOFF, WTS_SESSION_LOGON};
    use respawn::spec::service::{ServiceSettings, WhenLoggedOff};
    use respawn::state::{ManagedBy, RunState, ServicePaths, ServiceState};
    use respawn::supervisor::user_launch::{self, UserLauncher};
    use respawn::supervisor::{Control, Outcome, Supervisor};

    /// `tables`: more of the spec's tables; `env`: lines for its `[env]`.
    fn spec(dir: &std::path::Path, name: &str, tables: &str, env: &str) -> respawn::spec::Spec {
        let exe = std::env::current_exe().unwrap();
        let text = format!(
            "name = {name:?}\ncommand = {:?}\nargs = [{PROBE:?}, \"--exact\", \"--nocapture\"]\n\
             [restart]\nbackoff = [\"1s\"]\n{tables}[env]\nRESPAWN_PROBE = \"engine\"\n{env}",
            exe.display().to_string(),
        );
        respawn::spec::Spec::parse(&text, None, dir).unwrap()
    }

    /// Wait (up to a minute, without asserting on time) until the state file says `want`.
    async fn state_where(
        paths: &ServicePaths,
        want: impl Fn(&ServiceState) -> bool,
    ) -> ServiceState {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(s) = ServiceState::read(&paths.state_file()) {
                if want(&s) {
                    return s;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "never reached: last state {s:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The engine as the service host runs it: a supervisor with a launcher for `me`.
    struct Engine {
        paths: ServicePaths,
        sessions: user_launch::Sessions,
        tx: tokio::sync::mpsc::UnboundedSender<Control>,
        run: tokio::task::JoinHandle<Outcome>,
    }

    impl Engine {
        /// Start it (inside a runtime) and wait until its child runs.
        async fn start(
            dir: &std::path::Path,
            spec: respawn::spec::Spec,
            settings: ServiceSettings,
            me: &respawn::run_as::Account,
        ) -> (Engine, ServiceState) {
            let paths = ServicePaths::new(dir, &spec.id());
            let launcher = UserLauncher::new(settings, me.clone());
            let sessions = launcher.sessions();
            let mut sup = Supervisor::prepare(spec, paths.clone(), ManagedBy::Scm).unwrap();
            sup.run_as_user(launcher);
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let run = tokio::spawn(sup.run(rx));
            let running = state_where(&paths, |s| s.state == RunState::Running).await;
            let engine = Engine {
                paths,
                sessions,
                tx,
                run,
            };
            (engine, running)
        }

        /// What the SCM control handler does on a session change.
        fn session_change(&self, me: &respawn::run_as::Account, reason: u32, session: u32) -> bool {
            let moved = user_launch::session_changed(&self.sessions, me, reason, session);
            if moved {
                self.tx.send(Control::SessionChanged).unwrap();
            }
            moved
        }

        async fn stop(self) {
            self.tx.send(Control::Stop).unwrap();
            assert_eq!(self.run.await.unwrap(), Outcome::Stopped);
        }
    }

    #[test]
    fn the_child_runs_as_the_user_and_follows_their_logoff_and_logon() {
        let me = os::current_identity().unwrap().account;
        let console = os::console_session().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let tables = "[service]\nwhen_logged_off = \"wait\"\n";
        let spec = spec(
            dir.path(),
            &crate::common::unique_service("follow"),
            tables,
            "",
        );
        let settings = ServiceSettings {
            run_as: None,
            when_logged_off: WhenLoggedOff::Wait,
        };
        runtime().block_on(async {
            let (engine, first) = Engine::start(dir.path(), spec, settings, &me).await;
            // Started with the token of the user's session, identity read back.
            let id = first
                .identity
                .clone()
                .expect("the state names who the child runs as");
            assert_eq!(id.user, me.name);
            assert_eq!(id.user_sid, me.sid);
            assert_eq!(id.session, console);
            assert_eq!(id.logon, "interactive");
            let first_pid = first.child_pid.unwrap();
            assert_eq!(os::process_identity(first_pid).unwrap().account, me);

            // Someone else's logoff of another session changes nothing.
            assert!(!engine.session_change(&me, WTS_SESSION_LOGOFF, console + 7));
            // The user logs off: the child is stopped gracefully (planned), the
            // supervisor waits for the next logon.
            assert!(engine.session_change(&me, WTS_SESSION_LOGOFF, console));
            let waiting = state_where(&engine.paths, |s| s.state == RunState::Waiting).await;
            assert!(
                waiting.reason.as_deref().unwrap().contains(&me.name),
                "{waiting:?}"
            );
            assert_eq!(waiting.child_pid, None);
            assert_eq!(waiting.identity, None);
            assert_eq!(waiting.planned_restarts, 1);
            // Closing stdin was the graceful stop: the probe exited 0 by itself.
            assert_eq!(waiting.last_exit.as_ref().unwrap().code, Some(0));
            assert!(!os::is_alive(first_pid));

            // The user logs on again: the child starts in their session.
            assert!(engine.session_change(&me, WTS_SESSION_LOGON, console));
            let back = state_where(&engine.paths, |s| {
                s.state == RunState::Running && s.child_pid.is_some_and(|p| p != first_pid)
            })
            .await;
            assert_eq!(back.identity.as_ref().unwrap().session, console);
            assert_eq!(back.restarts, 1, "{back:?}");
            engine.stop().await;
        });
    }

    #[test]
    fn logged_off_with_run_the_child_moves_to_a_service_for_user_logon() {
        let me = os::current_identity().unwrap().account;
        let console = os::console_session().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let spec = spec(dir.path(), &crate::common::unique_service("s4u"), "", "");
        runtime().block_on(async {
            let (engine, first) =
                Engine::start(dir.path(), spec, ServiceSettings::default(), &me).await;
            assert!(engine.session_change(&me, WTS_SESSION_LOGOFF, console));
            if os::running_under_wine() {
                // Wine's LsaLogonUser gives no token: the start fails and says why,
                // and the supervisor keeps trying (backoff), never as anyone else.
                let failed = state_where(&engine.paths, |s| {
                    s.state == RunState::Backoff
                        && s.last_exit.as_ref().and_then(|e| e.code) == Some(127)
                })
                .await;
                assert_eq!(failed.child_pid, None);
                assert_eq!(failed.planned_restarts, 1, "{failed:?}");
                let log = std::fs::read_to_string(&failed.log_file).unwrap();
                assert!(log.contains("service-for-user"), "{log}");
            } else {
                let moved = state_where(&engine.paths, |s| {
                    s.state == RunState::Running && s.child_pid != first.child_pid
                })
                .await;
                assert_eq!(moved.identity.as_ref().unwrap().session, 0);
            }
            engine.stop().await;
        });
    }

    #[test]
    fn the_stop_command_and_stop_file_run_as_the_user_in_the_childs_job() {
        let me = os::current_identity().unwrap().account;
        let dir = tempfile::tempdir().unwrap();
        let exe = std::env::current_exe().unwrap().display().to_string();
        let report = dir.path().join("stop-report.txt");
        let marker = dir.path().join("stop-marker.json");
        let env = format!("RESPAWN_STOP_REPORT = {:?}\n", report.display().to_string());
        let by_command = format!(
            "[stop]\nmethod = \"command\"\ncommand = [{exe:?}, {STOP_PROBE:?}, \"--exact\", \"--nocapture\"]\ntimeout = \"2s\"\n"
        );
        let by_file = format!(
            "[stop]\nmethod = \"file\"\nfile = {:?}\ncontents = '{{\"pid\": {{pid}}}}'\ntimeout = \"2s\"\n",
            marker.display().to_string()
        );
        runtime().block_on(async {
            let by_cmd = spec(
                dir.path(),
                &crate::common::unique_service("cmd"),
                &by_command,
                &env,
            );
            let (engine, _) =
                Engine::start(dir.path(), by_cmd, ServiceSettings::default(), &me).await;
            engine.stop().await;
            let text = std::fs::read_to_string(&report).unwrap();
            assert!(text.contains(&format!("sid={}", me.sid)), "{text}");
            assert!(text.contains("in_job=true"), "{text}");
            assert!(text.contains("console=false"), "{text}");
            // Started with the user's environment block, not the host's environment
            // (which cargo gave CARGO_MANIFEST_DIR): the token path.
            if std::env::var_os("CARGO_MANIFEST_DIR").is_some() {
                assert!(text.contains("host_env=false"), "{text}");
            }

            let stopped_by_file = spec(
                dir.path(),
                &crate::common::unique_service("file"),
                &by_file,
                &env,
            );
            let (engine, running) =
                Engine::start(dir.path(), stopped_by_file, ServiceSettings::default(), &me).await;
            engine.stop().await;
            let text = std::fs::read_to_string(&marker).unwrap();
            assert_eq!(text, format!("{{\"pid\": {}}}", running.child_pid.unwrap()));
        });
    }

    /// Issue 22, item 5: a `[stop] command` with a bare name runs through the token
    /// path like the program: looked up on the PATH of the environment it runs with
    /// (the user's block and the spec's `env`), with PATHEXT's `.exe`.
    /// CreateProcessAsUserW alone neither searches nor adds `.exe`.
    #[test]
    fn a_stop_command_with_a_bare_name_is_found_on_the_users_path() {
        let me = os::current_identity().unwrap().account;
        let dir = tempfile::tempdir().unwrap();
        let tools = dir.path().join("my tools");
        std::fs::create_dir_all(&tools).unwrap();
        std::fs::copy(
            std::env::current_exe().unwrap(),
            tools.join("stophelper.exe"),
        )
        .unwrap();
        let report = dir.path().join("stop-report.txt");
        let path = format!(
            "{};{}",
            tools.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let env = format!(
            "RESPAWN_STOP_REPORT = {:?}\nPATH = {path:?}\n",
            report.display().to_string()
        );
        let by_command = format!(
            "[stop]\nmethod = \"command\"\ncommand = [\"stophelper\", {STOP_PROBE:?}, \"--exact\", \"--nocapture\"]\ntimeout = \"2s\"\n"
        );
        runtime().block_on(async {
            let spec = spec(
                dir.path(),
                &crate::common::unique_service("bare"),
                &by_command,
                &env,
            );
            let (engine, _) =
                Engine::start(dir.path(), spec, ServiceSettings::default(), &me).await;
            engine.stop().await;
        });
        let text = std::fs::read_to_string(&report)
            .expect("the bare-named stop command ran (it writes the report)");
        assert!(text.contains(&format!("sid={}", me.sid)), "{text}");
        assert!(text.contains("in_job=true"), "{text}");
    }

    /// A `[logs] dir` of the user's is opened and rotated as the user (impersonation;
    /// under Wine the rights are the same, so this shows the path runs end to end).
    #[test]
    fn a_log_folder_of_the_users_is_written_through_their_token() {
        let me = os::current_identity().unwrap().account;
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("user-logs");
        let tables = format!("[logs]\ndir = {:?}\n", logs.display().to_string());
        let spec = spec(
            dir.path(),
            &crate::common::unique_service("logs"),
            &tables,
            "",
        );
        runtime().block_on(async {
            let (engine, running) =
                Engine::start(dir.path(), spec, ServiceSettings::default(), &me).await;
            assert_eq!(running.log_file, logs.join("output.log"));
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            let text = loop {
                let text = std::fs::read_to_string(logs.join("output.log")).unwrap_or_default();
                if text.contains("RESPAWN_PROBE=engine") || std::time::Instant::now() > deadline {
                    break text;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            assert!(text.contains("RESPAWN_PROBE=engine"), "{text}");
            assert!(
                text.contains("started `"),
                "the engine's own lines too: {text}"
            );
            engine.stop().await;
        });
    }

    /// Health probe commands run as the child's user too, in its job (issue 15 + 17).
    #[test]
    fn a_probe_command_runs_as_the_user_in_the_childs_job() {
        let me = os::current_identity().unwrap().account;
        let dir = tempfile::tempdir().unwrap();
        let exe = std::env::current_exe().unwrap().display().to_string();
        let report = dir.path().join("probe-report.txt");
        let env = format!("RESPAWN_STOP_REPORT = {:?}\n", report.display().to_string());
        let probe = format!(
            "[health]\ncommand = [{exe:?}, {STOP_PROBE:?}, \"--exact\", \"--nocapture\"]\ninterval = \"1s\"\n"
        );
        let spec = spec(
            dir.path(),
            &crate::common::unique_service("probe"),
            &probe,
            &env,
        );
        runtime().block_on(async {
            let (engine, _) =
                Engine::start(dir.path(), spec, ServiceSettings::default(), &me).await;
            let healthy = state_where(&engine.paths, |s| s.health.healthy == Some(true)).await;
            assert!(
                healthy.health.last_probe.as_ref().unwrap().ok,
                "{healthy:?}"
            );
            let text = std::fs::read_to_string(&report).unwrap();
            assert!(text.contains(&format!("sid={}", me.sid)), "{text}");
            assert!(text.contains("in_job=true"), "{text}");
            assert!(text.contains("console=false"), "{text}");
            if std::env::var_os("CARGO_MANIFEST_DIR").is_some() {
                assert!(text.contains("host_env=false"), "the token path: {text}");
            }
            engine.stop().await;
        });
    }
}

/// Issue 22 item 10: the program and its arguments reach CreateProcessAsUserW as
/// Windows names them, never through `str`: an unpaired surrogate (legal in a Windows
/// file name or argument, not in UTF-8) in the program's name and in an argument comes
/// through unchanged. And the child is created in its job: at creation where Windows
/// has PROC_THREAD_ATTRIBUTE_JOB_LIST, else suspended, assigned and resumed.
#[test]
fn unpaired_surrogates_reach_the_child_and_it_starts_in_its_job() {
    use std::ffi::OsString;
    use std::os::windows::ffi::OsStringExt;
    let token = UserToken::own().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // `probe<U+D800>.exe` and an argument `a b<U+DC00>` (quoted: it has a space).
    let mut name: Vec<u16> = "probe".encode_utf16().collect();
    name.push(0xD800);
    name.extend(".exe".encode_utf16());
    let mut program = dir.path().join(OsString::from_wide(&name));
    let probe = crate::common::example_exe("job_probe");
    if let Err(e) = std::fs::copy(&probe, &program) {
        // Wine keeps names as UTF-8 on the Unix side: it refuses a file name with an
        // unpaired surrogate (ERROR_FILE_NOT_FOUND, docs/wine.md). Windows takes it.
        assert!(os::running_under_wine(), "{e}");
        assert_eq!(e.raw_os_error(), Some(2), "{e}");
        program = dir.path().join("probe.exe");
        std::fs::copy(&probe, &program).unwrap();
    }
    let out = dir.path().join("answer.json");
    let mut odd: Vec<u16> = "a b".encode_utf16().collect();
    odd.push(0xDC00);
    let args = [out.clone().into_os_string(), OsString::from_wide(&odd)];
    runtime().block_on(async {
        let mut child = ChildTree::spawn_as_user(
            &token,
            &UserCommand {
                program: &program,
                args: &args,
                env: &BTreeMap::new(),
                working_dir: Some(dir.path()),
                desktop: None,
                load_profile: false,
            },
        )
        .unwrap();
        let exit = exit_within_a_minute(&mut child, "the probe answers and exits").await;
        assert_eq!(exit, respawn::policy::ExitKind::Code(0));
        let answer: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let argv: Vec<Vec<u16>> = serde_json::from_value(answer["argv_wide"].clone()).unwrap();
        use std::os::windows::ffi::OsStrExt;
        let program_units: Vec<u16> = program.as_os_str().encode_wide().collect();
        assert_eq!(argv[0], program_units, "argv[0]");
        assert_eq!(argv[2], odd, "the argument with a lone low surrogate");
        assert_eq!(argv.len(), 3, "{argv:?}");
        assert_eq!(answer["in_job"], true, "{answer}");
        let placement = child.job_placement().unwrap();
        eprintln!("job placement under this Windows: {placement:?}");
        if os::running_under_wine() {
            // Wine 8 takes the job list and creates the child in the job (docs/wine.md).
            assert_eq!(placement, respawn::run_as::spawn::JobPlacement::AtCreation);
        }
    });
}
