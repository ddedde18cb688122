//! The program's real main pid, when it is not the direct child.
//!
//! On Windows `hermes.exe` is pip's launcher: it starts `python.exe`, which in a venv
//! starts the base interpreter. The pid respawn spawned is never the pid Hermes checks
//! in its stop marker. The program says which pid is the real one in a pid file
//! (`spec.pid_file`); respawn trusts it only for a process inside the child's own tree
//! (its Job Object on Windows, its process group on Unix), and remembers that
//! process's start token so a recycled pid is never taken for it.

use crate::os::{self, ChildTree};
use std::path::Path;

/// The main pid, checked to be in the child's tree when it was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MainPid {
    pub pid: u32,
    /// The process's start token, read right after the membership check.
    pub token: Option<u64>,
}

/// What a look at the pid file found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A pid in the child's tree.
    Found(MainPid),
    /// No file (yet): the program has not written it.
    Missing,
    /// A file respawn will not use, and why (logged once per distinct reason).
    Refused(String),
}

/// A pid file's pid: a plain number, or JSON with a numeric `pid` field (what Hermes
/// writes to `$HERMES_HOME/gateway.pid`).
pub fn parse(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let pid = match text.parse::<u32>() {
        Ok(pid) => pid,
        Err(_) => serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("pid")?.as_u64())
            .and_then(|p| u32::try_from(p).ok())
            .ok_or("it holds neither a pid nor JSON with a numeric `pid` field")?,
    };
    if pid == 0 {
        return Err("it names pid 0".into());
    }
    Ok(pid)
}

/// Read `path` and check the pid it names against the child's tree.
pub fn lookup(path: &Path, child: &ChildTree) -> Lookup {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lookup::Missing,
        Err(e) => return Lookup::Refused(format!("cannot read pid_file {}: {e}", path.display())),
    };
    let pid = match parse(&text) {
        Ok(pid) => pid,
        // A file caught half-written looks like this too; the next look decides.
        Err(why) => return Lookup::Refused(format!("pid_file {}: {why}", path.display())),
    };
    if pid != child.pid() && !child.contains(pid) {
        return Lookup::Refused(format!(
            "pid_file {} names pid {pid}, which is not in the child's {}; ignored (a stale file, or another instance's)",
            path.display(),
            if cfg!(windows) { "Job Object" } else { "process group" }
        ));
    }
    Lookup::Found(MainPid {
        pid,
        token: os::start_token(pid),
    })
}

/// Delays between looks at a pid file that readiness waits for: quick at first, then
/// twice a second until `ready_timeout` (which fails the child without it), then as
/// [`watch_delays`].
pub fn ready_watch_delays(
    ready_timeout: std::time::Duration,
) -> impl Iterator<Item = std::time::Duration> {
    let ms = std::time::Duration::from_millis;
    let steady = (ready_timeout.as_millis() / 500) as usize + 1;
    [50u64, 100, 200, 400]
        .into_iter()
        .map(ms)
        .chain(std::iter::repeat_n(ms(500), steady))
        .chain(watch_delays())
}

/// Delays between looks at a pid file the program has not written yet: quick at
/// first (programs write it while starting), then slower, for a bounded time.
pub fn watch_delays() -> impl Iterator<Item = std::time::Duration> {
    let ms = [50u64, 100, 200, 400, 800, 1600, 3200];
    ms.into_iter()
        .chain(std::iter::repeat_n(5000, 60))
        .map(std::time::Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_files_in_both_shapes() {
        assert_eq!(parse("1234\n"), Ok(1234));
        assert_eq!(parse(" 77 "), Ok(77));
        assert_eq!(
            parse(r#"{"pid": 4321, "kind": "hermes-gateway", "argv": ["x"]}"#),
            Ok(4321)
        );
        for bad in [
            "",
            "abc",
            "0",
            "-5",
            r#"{"pid": "12"}"#,
            r#"{"nopid": 3}"#,
            "{",
            "99999999999",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn the_watch_is_bounded() {
        let total: std::time::Duration = watch_delays().sum();
        assert!(total > std::time::Duration::from_secs(60));
        assert!(total < std::time::Duration::from_secs(600));
    }
}
