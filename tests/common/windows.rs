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
