//! What the Windows tests share: a service name of this run alone, the SCM's view of a
//! service, a guard that deletes a test's service, the example programs cargo built
//! next to the test exe, the real programs of scripts/windows-fixtures.sh, and the
//! per-user login entry as `reg` reads it.

use std::path::{Path, PathBuf};
use std::process::Command;
use windows_service::service::{ServiceAccess, ServiceStatus};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

/// Not a test: with RESPAWN_SLEEPER set, this test exe run with [`SLEEPER_ARGS`] is a
/// program that stays up until it is killed (the Windows tests' stand-in service).
#[test]
fn sleeper() {
    if std::env::var_os("RESPAWN_SLEEPER").is_some() {
        loop {
            std::thread::park();
        }
    }
}

/// The arguments that make this test exe run only [`sleeper`].
pub const SLEEPER_ARGS: [&str; 2] = ["common::windows::sleeper", "--exact"];

/// A service name of this run alone, `Respawn<tag><pid>x<nanos>`: Wine's pids start
/// small again with each wineserver and the prefix outlives a run, so the pid alone
/// could name a service a failed run left behind.
pub fn unique_service(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("Respawn{tag}{}x{nanos}", std::process::id())
}

/// Deletes the test's service from the SCM when the test ends, also when it fails
/// half way; a no-op when the test already uninstalled it.
pub struct DeleteOnDrop(pub String);

impl Drop for DeleteOnDrop {
    fn drop(&mut self) {
        let Ok(mgr) = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        else {
            return;
        };
        if let Ok(svc) = mgr.open_service(&self.0, ServiceAccess::STOP | ServiceAccess::DELETE) {
            let _ = svc.stop();
            let _ = svc.delete();
        }
    }
}

/// The local service manager, with the right to create services.
pub fn scm() -> ServiceManager {
    ServiceManager::local_computer(
        None::<&str>,
        ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
    )
    .unwrap()
}

/// The SCM's status of an installed service.
pub fn scm_status(name: &str) -> ServiceStatus {
    scm()
        .open_service(name, ServiceAccess::QUERY_STATUS)
        .unwrap()
        .query_status()
        .unwrap()
}

/// `examples/<name>.rs` as cargo built it: target\<triple>\debug\deps\this-test.exe →
/// target\<triple>\debug\examples\<name>.exe.
pub fn example_exe(name: &str) -> PathBuf {
    std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(format!("{name}.exe"))
}

/// The top-level TOML of a service `name` whose program is examples/console_probe.exe,
/// which writes to `probe_out` whether it has a console window ("no-console" in a
/// service) and then stays up. Callers add tables (`[restart]`...) after it.
pub fn console_probe_spec(name: &str, probe_out: &Path) -> String {
    format!(
        "name = \"{name}\"\ncommand = {:?}\nargs = [{:?}]\n",
        example_exe("console_probe").display().to_string(),
        probe_out.display().to_string()
    )
}

/// A file from scripts/windows-fixtures.sh (real Windows programs nobody here wrote),
/// or None after saying SKIP; a failure instead with RESPAWN_REQUIRE_WINDOWS_FIXTURES=1.
pub fn fixture(name: &str) -> Option<PathBuf> {
    let dirs = [
        std::env::var_os("RESPAWN_WIN_FIXTURES").map(PathBuf::from),
        std::env::var_os("RESPAWN_WIN_CACHE").map(|c| PathBuf::from(c).join("win-fixtures")),
        Some(PathBuf::from("/var/cache/respawn/win-fixtures")),
    ];
    let found = dirs
        .into_iter()
        .flatten()
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        let msg =
            format!("no {name}: run scripts/windows-fixtures.sh (or set RESPAWN_WIN_FIXTURES)");
        assert!(
            std::env::var("RESPAWN_REQUIRE_WINDOWS_FIXTURES").as_deref() != Ok("1"),
            "{msg} (RESPAWN_REQUIRE_WINDOWS_FIXTURES=1)"
        );
        eprintln!("SKIP: {msg}");
    }
    found
}

/// `taskkill /F /PID pid`, which must succeed.
pub fn taskkill(pid: u32) {
    let out = Command::new("taskkill")
        .args(["/F", "/PID", &pid.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "taskkill {pid}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `reg query` of the per-user login entry of service `name`: the `respawn-<name>`
/// value under HKCU\...\Run. It fails where there is no such value.
pub fn query_run_value(name: &str) -> std::process::Output {
    Command::new("reg")
        .args([
            "query",
            r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run",
            "/v",
            &format!("respawn-{name}"),
        ])
        .output()
        .unwrap()
}

/// The per-user login entry of service `name`, as `reg query` reads it; None when
/// there is none.
pub fn run_value(name: &str) -> Option<String> {
    let out = query_run_value(name);
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text.lines().find(|l| l.contains("REG_SZ"))?;
    Some(line.split("REG_SZ").nth(1)?.trim().to_string())
}

/// The Wine session is shared by every test of the run: `wineboot --end-session` sends
/// the end of the session to every top-level window of the prefix, so the per-user
/// supervisors and session agents of other tests would stop too. Each [`crate::common::Harness`]
/// holds a share; a test that ends the session takes [`SessionEnder`], which waits
/// until no share is held and holds new ones back meanwhile.
#[derive(Default)]
struct SessionUse {
    shares: usize,
    ender_waiting: bool,
    ending: bool,
}

static SESSION_USE: std::sync::Mutex<SessionUse> = std::sync::Mutex::new(SessionUse {
    shares: 0,
    ender_waiting: false,
    ending: false,
});
static SESSION_CHANGED: std::sync::Condvar = std::sync::Condvar::new();

thread_local! {
    /// Shares and enders this thread holds: a second harness of one test never waits.
    static HELD_HERE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn session_use() -> std::sync::MutexGuard<'static, SessionUse> {
    SESSION_USE.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct SessionShare {
    counted: bool,
}

impl SessionShare {
    pub fn take() -> SessionShare {
        let counted = HELD_HERE.with(|h| h.get()) == 0;
        if counted {
            let mut u = session_use();
            while u.ending || u.ender_waiting {
                u = SESSION_CHANGED.wait(u).unwrap_or_else(|e| e.into_inner());
            }
            u.shares += 1;
        }
        HELD_HERE.with(|h| h.set(h.get() + 1));
        SessionShare { counted }
    }
}

impl Drop for SessionShare {
    fn drop(&mut self) {
        HELD_HERE.with(|h| h.set(h.get() - 1));
        if self.counted {
            session_use().shares -= 1;
            SESSION_CHANGED.notify_all();
        }
    }
}

/// Held by a test that ends the Wine session (see [`SessionShare`]). Take it before
/// the test's harness.
pub struct SessionEnder(());

impl SessionEnder {
    pub fn take() -> SessionEnder {
        let mut u = session_use();
        while u.ending || u.ender_waiting {
            u = SESSION_CHANGED.wait(u).unwrap_or_else(|e| e.into_inner());
        }
        u.ender_waiting = true;
        while u.shares > 0 {
            u = SESSION_CHANGED.wait(u).unwrap_or_else(|e| e.into_inner());
        }
        u.ender_waiting = false;
        u.ending = true;
        HELD_HERE.with(|h| h.set(h.get() + 1));
        SessionEnder(())
    }
}

impl Drop for SessionEnder {
    fn drop(&mut self) {
        HELD_HERE.with(|h| h.set(h.get() - 1));
        session_use().ending = false;
        SESSION_CHANGED.notify_all();
    }
}

/// Build a console-script launcher the way distlib's ScriptMaker._write_script does:
/// the launcher exe, then `#!<program>\n` (quoted when it has spaces), then a zip
/// holding `__main__.py`. The launcher runs `<program> <its own path> <args>`. `None`
/// without the fixtures (the test then says SKIP).
pub fn pip_launcher(at: &Path, program: &Path) -> Option<()> {
    let mut bytes = std::fs::read(fixture("t64.exe")?).unwrap();
    let program = program.display().to_string();
    let program = if program.contains(' ') {
        format!("\"{program}\"")
    } else {
        program
    };
    bytes.extend_from_slice(format!("#!{program}\n").as_bytes());
    bytes.extend_from_slice(&std::fs::read(fixture("main.zip")?).unwrap());
    std::fs::write(at, bytes).unwrap();
    Some(())
}

/// The stand-in Hermes gateway as a Windows install has it: `hermes.exe` (pip's
/// launcher) in a venv whose `python.exe` redirects to a base interpreter that is the
/// gateway (examples/pidfile_gateway.rs). Returns (hermes.exe, its home), or `None`
/// without the fixtures.
pub fn stand_in_gateway(root: &Path) -> Option<(PathBuf, PathBuf)> {
    let venv = root.join("my venv");
    let base = root.join("base python");
    let home = root.join("hermes home");
    for dir in [venv.join("Scripts"), base.clone(), home.clone()] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let gateway = example_exe("pidfile_gateway");
    let python = venv.join("Scripts").join("python.exe");
    std::fs::copy(&gateway, &python).unwrap();
    std::fs::copy(&gateway, base.join("python.exe")).unwrap();
    std::fs::write(
        venv.join("pyvenv.cfg"),
        format!(
            "home = {}\ninclude-system-site-packages = false\n",
            base.display()
        ),
    )
    .unwrap();
    let hermes = venv.join("Scripts").join("hermes.exe");
    pip_launcher(&hermes, &python)?;
    Some((hermes, home))
}

/// The spec of the stand-in gateway (see [`stand_in_gateway`]) with Hermes' graceful
/// stop (the marker file naming the gateway's pid, from its pid file), plus `extra`.
pub fn stand_in_gateway_spec(name: &str, hermes: &Path, home: &Path, extra: &str) -> String {
    format!(
        r#"name = "{name}"
command = {hermes:?}
args = [{home:?}]
pid_file = {pid_file:?}
{extra}
[stop]
method = "file"
file = {marker:?}
contents = '{{"target_pid": {{pid}}, "target_start_time": null, "stopper_pid": {{supervisor_pid}}, "written_at": "{{now}}"}}'
timeout = "90s"
"#,
        hermes = hermes.display().to_string(),
        home = home.display().to_string(),
        pid_file = home.join("gateway.pid").display().to_string(),
        marker = home
            .join(".gateway-planned-stop.json")
            .display()
            .to_string(),
    )
}
