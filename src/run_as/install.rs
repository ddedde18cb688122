//! Install time: whose account a service's program runs as (Windows: the installing
//! user, or `--run-as`, or LocalSystem said loudly; Unix system services: `User=`),
//! and whether that account can reach what the service needs.

use super::Account;
use crate::spec::service::RunAs;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

// ---- install time: whose account ----

/// What install knows about the people involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallCaller<'a> {
    /// The token user of the installing (elevated) process.
    pub caller: &'a Account,
    /// The user logged on in the caller's own session (an RDP session, or the
    /// console), when there is one (issue 25: not the console's, which may be
    /// another user's or the logon screen).
    pub console_user: Option<&'a Account>,
    /// `--run-as NAME`, already resolved to an account.
    pub flag: Option<&'a Account>,
}

/// Whose account the service's program will use, decided at install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstallChoice {
    /// Record this account; the host starts the program with its token.
    User(Account),
    /// LocalSystem: say so loudly at install and in `doctor`.
    System,
    /// Don't guess: the message says what to do.
    Refuse(String),
}

/// The account a `run_as` setting means for this install. An elevated caller who is
/// not the console user (over-the-shoulder elevation with another admin's credentials)
/// is not who the gateway should run as, and the console user may not be either: ask.
pub fn choose_install_account(run_as: RunAs, who: &InstallCaller) -> InstallChoice {
    if run_as == RunAs::System {
        return InstallChoice::System;
    }
    if let Some(flag) = who.flag {
        return InstallChoice::User(flag.clone());
    }
    match who.console_user {
        Some(console) if console.sid != who.caller.sid => InstallChoice::Refuse(format!(
            "this prompt is elevated as {} but {} is logged on in this session; say whose \
             account the service's program should use: `--run-as {}` (or `--run-as {}`)",
            who.caller.name, console.name, console.name, who.caller.name
        )),
        _ => InstallChoice::User(who.caller.clone()),
    }
}

// ---- system services on Linux and macOS ----

/// The account a system unit (systemd `User=`/`Group=`) or LaunchDaemon
/// (`UserName`/`GroupName`) runs the program as; `None` in a context means root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnixAccount {
    pub user: String,
    /// The user's primary group.
    pub group: String,
}

/// A user or group name that every service manager takes as it is: letters, digits,
/// `_`, `.`, `-`, not starting with `-` or `.`, at most 32 bytes (a trailing `$`, as
/// Samba machine accounts have, allowed). Anything else is refused, not quoted.
pub fn is_unix_account_name(name: &str) -> bool {
    let body = name.strip_suffix('$').unwrap_or(name);
    !body.is_empty()
        && name.len() <= 32
        && !body.starts_with(['-', '.'])
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Whose account a system service runs as on Linux and macOS, by name (`None`: root).
/// `sudo_user` is `SUDO_USER` (who ran sudo), `caller` the installing user's name
/// when that is not root. The same `run_as` as on Windows: `"system"` is root, else
/// `--run-as NAME`, else the user who asked for the install.
pub fn unix_system_user(
    run_as: Option<RunAs>,
    flag: Option<&str>,
    sudo_user: Option<&str>,
    caller: Option<&str>,
) -> Option<String> {
    if run_as == Some(RunAs::System) {
        return None;
    }
    let not_root = |n: &&str| !n.is_empty() && *n != "root";
    flag.or(sudo_user.filter(not_root))
        .or(caller.filter(not_root))
        .map(str::to_string)
}

/// A folder on the way to a state dir, as `stat` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirMode {
    pub path: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// The first folder that user `uid` (primary group `gid`) may not pass through (no
/// search permission for them), if any. Root passes everywhere. Supplementary groups
/// are not counted, so the answer errs towards "closed".
pub fn first_unreachable(uid: u32, gid: u32, dirs: &[DirMode]) -> Option<&Path> {
    if uid == 0 {
        return None;
    }
    dirs.iter()
        .find(|d| {
            let bits = if d.uid == uid {
                d.mode >> 6
            } else if d.gid == gid {
                d.mode >> 3
            } else {
                d.mode
            };
            bits & 1 == 0
        })
        .map(|d| d.path.as_path())
}

/// The host's start: the account the program runs as, from the spec's setting and
/// the install record. `Ok(None)`: LocalSystem, as the spec asks. A `"user"` service
/// whose record names nobody (installed by an older respawn) is refused rather than run
/// as LocalSystem.
pub fn host_account(run_as: RunAs, recorded: Option<Account>) -> Result<Option<Account>, String> {
    match (run_as, recorded) {
        (RunAs::System, _) => Ok(None),
        (RunAs::User, Some(account)) => Ok(Some(account)),
        (RunAs::User, None) => Err(
            "the install record names no user to run the program as, and it must not run as \
             LocalSystem; reinstall from your own elevated prompt (`respawn install ...`), or set \
             run_as = \"system\" in [service] if it really needs LocalSystem"
                .to_string(),
        ),
    }
}
