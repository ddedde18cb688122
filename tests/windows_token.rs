//! The user-token spawn (issue 15) for real under Wine: a child started through
//! CreateProcessAsUserW with a primary token, in a kill-on-close job, hidden, with the
//! token's environment block plus the spec's variables, its identity read back from
//! its token. Under Wine the token is the host's own (Wine has one user; see
//! docs/wine.md, "Tokens, sessions and file security"), so the test proves the path,
//! and the pure `run_as` decisions choose the token on Windows.
#![cfg(windows)]

use respawn::os::{self, UserChild, UserCommand, UserToken, INTERACTIVE_DESKTOP};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// `probe_child`'s name for libtest: the child runs this test exe with it and `--exact`.
const PROBE: &str = "windows_token::probe_child";

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

/// `stay`: the probe ignores the end of its stdin and runs until killed.
fn spawn(token: &UserToken, load_profile: bool, stay: bool) -> (UserChild, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut env = BTreeMap::new();
    env.insert("RESPAWN_PROBE".to_string(), "from the spec".to_string());
    if stay {
        env.insert("RESPAWN_PROBE_STAY".to_string(), "1".to_string());
    }
    let program = std::env::current_exe().unwrap();
    let args = [PROBE, "--exact", "--nocapture", "--test-threads=1"].map(String::from);
    let child = UserChild::spawn(
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
async fn report(child: &mut UserChild) -> BTreeMap<String, String> {
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
async fn exit_within_a_minute(child: &mut UserChild, what: &str) -> respawn::policy::ExitKind {
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
    let err = UserChild::spawn(
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
    use respawn::run_as::{Context, ServiceSettings};
    use respawn::service_user;
    let me = os::current_identity().unwrap().account;
    let console = os::console_session().unwrap();
    let plan = service_user::plan_now(ServiceSettings::default(), &me, None);
    assert_eq!(plan.target, Some(Context::Interactive(console)));
    assert!(!plan.planned_restart);
    // Someone who is logged on nowhere: S4U (default) or wait.
    let ghost = respawn::run_as::Account {
        sid: "S-1-5-21-1-2-3-4242".into(),
        name: "VM\\ghost".into(),
    };
    let plan = service_user::plan_now(ServiceSettings::default(), &ghost, None);
    assert_eq!(plan.target, Some(Context::S4u));
    // A token that is not the recorded user's is refused, and S4U cannot work under Wine.
    let err = service_user::token_for(Context::Interactive(console), &ghost)
        .err()
        .expect("another user's token is refused");
    assert!(err.to_string().contains("not starting"), "{err}");
    assert!(service_user::token_for(Context::S4u, &me).is_err());

    let exe = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "name = \"gw\"\ncommand = {:?}\nargs = [{PROBE:?}, \"--exact\", \"--nocapture\"]\nworking_dir = {:?}\n[env]\nRESPAWN_PROBE = \"from the spec\"\n",
        exe.display().to_string(),
        dir.path().display().to_string()
    );
    let spec = respawn::spec::Spec::parse(&text, None, dir.path()).unwrap();
    runtime().block_on(async {
        let mut child =
            service_user::spawn(Context::Interactive(console), &me, &spec, &exe).unwrap();
        let got = report(&mut child).await;
        assert_eq!(got["sid"], me.sid);
        assert_eq!(got["RESPAWN_PROBE"], "from the spec");
        assert_eq!(child.identity().unwrap().logon, "interactive");
        child.close_stdin();
        let exit = exit_within_a_minute(&mut child, "exits after stdin closes").await;
        assert_eq!(exit, respawn::policy::ExitKind::Code(0));
    });
}
