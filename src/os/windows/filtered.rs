//! `respawn update`'s command run with the caller's filtered token (issue 25): an
//! elevated administrator updating their own service runs `pip` with the rights their
//! unelevated processes have (medium integrity, Administrators deny-only), never with
//! the elevated token, since the agent the service runs can change the files pip runs.
//! Which token is decided in `crate::run_as::update`; the calls are here.
//!
//! The filtered token comes from `GetTokenInformation(TokenLinkedToken)`. On Windows a
//! caller without SeTcbPrivilege (an elevated administrator has none) gets it as an
//! *identification* token, which cannot start a program; then the token of the
//! caller's own desktop shell (`GetShellWindow`, explorer.exe: the same user,
//! unelevated) is taken instead, as Microsoft's samples do. Either one is checked
//! before use: the caller's own account, and medium integrity or lower. The program is
//! started with `CreateProcessWithTokenW` (needs SeImpersonatePrivilege, which
//! administrators hold; `CreateProcessAsUserW` would need SeAssignPrimaryToken, which
//! they do not). What Wine does with each call is in docs/wine.md.

use super::token::{
    primary_copy, process_token, sid_string, token_identity, token_info, wide, UserToken,
};
use super::{check, Handle};
use crate::policy::ExitKind;
use crate::run_as::update::Elevation;
use std::io;
use std::path::Path;
use windows_sys::Win32::Foundation::{HANDLE, WAIT_OBJECT_0};
use windows_sys::Win32::Security::{
    TokenElevationType, TokenIntegrityLevel, TokenLinkedToken, TOKEN_DUPLICATE, TOKEN_LINKED_TOKEN,
    TOKEN_MANDATORY_LABEL, TOKEN_QUERY,
};
use windows_sys::Win32::System::Console::{
    GetStdHandle, STD_ERROR_HANDLE, STD_INPUT_HANDLE, STD_OUTPUT_HANDLE,
};
use windows_sys::Win32::System::Threading::{
    CreateProcessWithTokenW, GetCurrentProcess, GetExitCodeProcess, OpenProcessToken,
    WaitForSingleObject, CREATE_UNICODE_ENVIRONMENT, INFINITE, PROCESS_INFORMATION,
    STARTF_USESTDHANDLES, STARTUPINFOW,
};
use windows_sys::Win32::UI::WindowsAndMessaging::{GetShellWindow, GetWindowThreadProcessId};

/// The integrity level of medium (`S-1-16-8192`): what an unelevated process has.
const MEDIUM_RID: u32 = 0x2000;

fn own_token() -> io::Result<Handle> {
    let mut raw = std::ptr::null_mut();
    // SAFETY: pseudo-handle of our process; `raw` receives an owned handle.
    check(unsafe {
        OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY | TOKEN_DUPLICATE, &mut raw)
    })?;
    Handle::new(raw)
}

pub(super) fn elevation_of(token: HANDLE) -> io::Result<Elevation> {
    let buf = token_info(token, TokenElevationType)?;
    let raw = buf[0] as u32 as i32;
    Elevation::from_raw(raw)
        .ok_or_else(|| io::Error::other(format!("unknown token elevation type {raw}")))
}

/// How this process's token stands: elevated, filtered, or not split at all.
pub fn own_elevation() -> io::Result<Elevation> {
    elevation_of(own_token()?.0)
}

/// A token's integrity level, as a SID (`S-1-16-8192` medium, `S-1-16-12288` high).
pub(super) fn integrity_of(token: HANDLE) -> io::Result<String> {
    let buf = token_info(token, TokenIntegrityLevel)?;
    // SAFETY: the buffer starts with a TOKEN_MANDATORY_LABEL whose SID points into it.
    let sid = unsafe { (*(buf.as_ptr() as *const TOKEN_MANDATORY_LABEL)).Label.Sid };
    sid_string(sid)
}

/// This process's integrity level, as a SID string.
pub fn own_integrity() -> io::Result<String> {
    integrity_of(own_token()?.0)
}

/// The last part of an integrity SID (`S-1-16-8192` → 8192).
pub(super) fn integrity_rid(sid: &str) -> Option<u32> {
    sid.strip_prefix("S-1-16-")?.parse().ok()
}

/// The linked token of this (elevated) process's, as a primary token.
fn linked_token(own: &Handle) -> io::Result<UserToken> {
    let buf = token_info(own.0, TokenLinkedToken)?;
    // SAFETY: the buffer holds a TOKEN_LINKED_TOKEN; its handle is ours to close.
    let linked =
        Handle::new(unsafe { (*(buf.as_ptr() as *const TOKEN_LINKED_TOKEN)).LinkedToken })?;
    primary_copy(&linked)
}

/// The token of the desktop shell (explorer.exe) of this session, as a primary token.
fn shell_token() -> io::Result<UserToken> {
    // SAFETY: plain calls; handles are owned by `Handle`.
    unsafe {
        let window = GetShellWindow();
        if window.is_null() {
            return Err(io::Error::other("no desktop shell runs in this session"));
        }
        let mut pid = 0u32;
        GetWindowThreadProcessId(window, &mut pid);
        primary_copy(&process_token(pid, TOKEN_QUERY | TOKEN_DUPLICATE)?)
    }
}

/// The caller's filtered token, and what to say about it.
pub struct Filtered {
    pub token: UserToken,
    /// Its integrity level, as a SID (`S-1-16-8192`: medium).
    pub integrity: String,
    /// Under Wine only: why the token would have been refused on Windows (Wine's linked
    /// token keeps the high integrity level: docs/wine.md), said loudly instead, unless
    /// `RESPAWN_WINE_ENFORCE_TRUST=1`.
    pub warning: Option<String>,
}

/// The caller's filtered token (see the module's text): the linked token, else the
/// shell's; checked to be the caller's own account at medium integrity or lower.
pub fn filtered_token() -> io::Result<Filtered> {
    let own = own_token()?;
    let me = token_identity(own.0)?.account;
    let token = match linked_token(&own) {
        Ok(token) => token,
        Err(linked) => shell_token().map_err(|shell| {
            io::Error::other(format!(
                "cannot get your unelevated token: the one linked to this elevated prompt's cannot \
                 start a program ({linked}), and no desktop shell of yours gives one ({shell})"
            ))
        })?,
    };
    let who = token.identity()?.account;
    if who.sid != me.sid {
        return Err(io::Error::other(format!(
            "the unelevated token found belongs to {} ({}), not to you ({}); not using it",
            who.name, who.sid, me.name
        )));
    }
    let level = integrity_of(token.raw())?;
    let mut warning = None;
    if integrity_rid(&level).is_none_or(|rid| rid > MEDIUM_RID) {
        let why = format!(
            "the unelevated token found has integrity level {level} (elevation {}), not medium \
             (S-1-16-8192) or lower",
            elevation_of(token.raw()).map_or_else(|e| e.to_string(), |e| format!("{e:?}"))
        );
        if super::trust_is_enforced() {
            return Err(io::Error::other(format!(
                "{why}; not running the update command with it"
            )));
        }
        warning = Some(format!(
            "{why}; used anyway, since this system is Wine (one user), where that is how the \
             linked token reads; Windows would refuse it"
        ));
    }
    Ok(Filtered {
        token,
        integrity: level,
        warning,
    })
}

/// This process's environment as a UTF-16 block (the caller's: the user's PATH and
/// any activated venv).
fn own_env_block() -> Vec<u16> {
    let mut out = Vec::new();
    for (k, v) in std::env::vars_os() {
        let mut entry = k;
        entry.push("=");
        entry.push(v);
        use std::os::windows::ffi::OsStrExt;
        out.extend(entry.encode_wide());
        out.push(0);
    }
    out.push(0);
    out
}

/// Run `program args` with `token` (from [`filtered_token`]) in this process's working
/// dir and environment, its output on ours (on our stderr when `stdout_to_stderr`),
/// and wait for it. `program` is found on our PATH first (the caller's).
pub fn run_with_token(
    token: &UserToken,
    program: &str,
    args: &[String],
    stdout_to_stderr: bool,
) -> io::Result<ExitKind> {
    let found = which::which(program).unwrap_or_else(|_| Path::new(program).to_path_buf());
    let line = crate::quote::windows::command_line(&found.to_string_lossy(), args);
    let mut wline = wide(&line);
    let wprogram = super::token::wide_path(&found);
    let env = own_env_block();
    let cwd = std::env::current_dir()?;
    let wcwd = super::token::wide_path(&cwd);
    // SAFETY: plain calls; every pointer is to a live, NUL-terminated local and the
    // command line buffer is writable, as the API requires.
    unsafe {
        let out = GetStdHandle(if stdout_to_stderr {
            STD_ERROR_HANDLE
        } else {
            STD_OUTPUT_HANDLE
        });
        let si = STARTUPINFOW {
            cb: std::mem::size_of::<STARTUPINFOW>() as u32,
            dwFlags: STARTF_USESTDHANDLES,
            hStdInput: GetStdHandle(STD_INPUT_HANDLE),
            hStdOutput: out,
            hStdError: GetStdHandle(STD_ERROR_HANDLE),
            ..Default::default()
        };
        let mut pi = PROCESS_INFORMATION::default();
        check(CreateProcessWithTokenW(
            token.raw(),
            0,
            wprogram.as_ptr(),
            wline.as_mut_ptr(),
            CREATE_UNICODE_ENVIRONMENT,
            env.as_ptr().cast(),
            wcwd.as_ptr(),
            &si,
            &mut pi,
        ))
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot start {} unelevated: {e}", found.display()),
            )
        })?;
        let process = Handle(pi.hProcess);
        drop(Handle(pi.hThread));
        if WaitForSingleObject(process.0, INFINITE) != WAIT_OBJECT_0 {
            return Err(io::Error::last_os_error());
        }
        let mut code = 0u32;
        check(GetExitCodeProcess(process.0, &mut code))?;
        Ok(ExitKind::Code(code as i32))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn integrity_levels() {
        assert_eq!(super::integrity_rid("S-1-16-8192"), Some(0x2000));
        assert_eq!(super::integrity_rid("S-1-16-12288"), Some(0x3000));
        assert_eq!(super::integrity_rid("S-1-5-18"), None);
    }
}
