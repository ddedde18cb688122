//! A user's token and identity (issue 15): who a process runs as, which sessions a
//! user is logged on in, the token of their session or of a service-for-user logon.
//! The host runs as LocalSystem; the program it keeps up runs as the user who
//! installed it, started with this token by [`super::spawn_as`].
//!
//! Which token to use is decided by `crate::run_as::session::plan`; this file only acts.
//! Under Wine (docs/wine.md, "Tokens, sessions and file security") the spawn path runs
//! for real with the host's own token; WTSQueryUserToken ignores the session and
//! LsaLogonUser is a stub that returns success without a token, which `s4u` reports.

use super::{check, Handle};
use crate::run_as::{self, Account};
use std::io;
use std::path::Path;
use windows_sys::Win32::Foundation::{LocalFree, HANDLE, LUID};
use windows_sys::Win32::Security::Authentication::Identity::{
    KerbS4ULogon, LsaConnectUntrusted, LsaDeregisterLogonProcess, LsaFreeReturnBuffer,
    LsaLogonUser, LsaLookupAuthenticationPackage, LsaNtStatusToWinError, LsaRegisterLogonProcess,
    MsV1_0S4ULogon, KERB_S4U_LOGON, LSA_STRING, LSA_UNICODE_STRING, MICROSOFT_KERBEROS_NAME_A,
    MSV1_0_PACKAGE_NAME, MSV1_0_S4U_LOGON, SECURITY_LOGON_TYPE,
};
use windows_sys::Win32::Security::Authorization::ConvertSidToStringSidW;
use windows_sys::Win32::Security::{
    AllocateLocallyUniqueId, DuplicateTokenEx, GetTokenInformation, ImpersonateLoggedOnUser,
    LookupAccountNameW, LookupAccountSidW, RevertToSelf, SecurityImpersonation, TokenGroups,
    TokenPrimary, TokenSessionId, TokenUser, PSID, QUOTA_LIMITS, SID_AND_ATTRIBUTES, SID_NAME_USE,
    TOKEN_ACCESS_MASK, TOKEN_ALL_ACCESS, TOKEN_GROUPS, TOKEN_INFORMATION_CLASS, TOKEN_QUERY,
    TOKEN_SOURCE, TOKEN_USER,
};
use windows_sys::Win32::System::RemoteDesktop::{
    WTSDomainName, WTSEnumerateSessionsW, WTSFreeMemory, WTSGetActiveConsoleSessionId,
    WTSQuerySessionInformationW, WTSQueryUserToken, WTSUserName, WTS_CURRENT_SERVER_HANDLE,
    WTS_INFO_CLASS, WTS_SESSION_INFOW,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
};

/// The desktop of the user's interactive session: where GUI helpers can reach the screen.
pub use crate::run_as::session_end::INTERACTIVE_DESKTOP;

pub(super) fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

pub(super) fn wide_path(p: &Path) -> Vec<u16> {
    use std::os::windows::ffi::OsStrExt;
    p.as_os_str()
        .encode_wide()
        .chain(std::iter::once(0))
        .collect()
}

/// A NUL-terminated UTF-16 string at `p` (owned by someone else).
///
/// # Safety
/// `p` must point to a NUL-terminated UTF-16 string.
pub(super) unsafe fn from_wide_ptr(p: *const u16) -> String {
    if p.is_null() {
        return String::new();
    }
    let len = (0..).take_while(|&i| *p.add(i) != 0).count();
    String::from_utf16_lossy(std::slice::from_raw_parts(p, len))
}

/// Who a token belongs to: what `status --json` shows as `user`, `session`, `logon`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenIdentity {
    pub account: Account,
    pub session: u32,
    pub logon: run_as::identity::Logon,
}

impl TokenIdentity {
    pub fn child_identity(&self) -> run_as::identity::ChildIdentity {
        run_as::identity::ChildIdentity {
            user: self.account.name.clone(),
            user_sid: self.account.sid.clone(),
            session: self.session,
            logon: self.logon,
        }
    }
}

/// Who the process `pid` runs as, for the state file and `status`.
pub fn child_identity(pid: u32) -> Option<run_as::identity::ChildIdentity> {
    process_identity(pid).ok().map(|id| id.child_identity())
}

/// A primary token, owned.
pub struct UserToken(pub(super) Handle);

impl UserToken {
    /// A primary copy of this process's own token. Under Wine this stands in for the
    /// user's token; on Windows it is LocalSystem's (used for `run_as = "system"`).
    pub fn own() -> io::Result<UserToken> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: pseudo-handle of our process; `raw` receives an owned handle.
        check(unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_ALL_ACCESS, &mut raw) })?;
        primary_copy(&Handle::new(raw)?)
    }

    /// The token of the user logged on in `session` (WTSQueryUserToken: needs the host
    /// to be LocalSystem; fails with 1008 when nobody is logged on there).
    pub fn of_session(session: u32) -> io::Result<UserToken> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: `raw` receives an owned handle.
        check(unsafe { WTSQueryUserToken(session, &mut raw) }).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot get the token of session {session}'s user: {e}"),
            )
        })?;
        primary_copy(&Handle::new(raw)?)
    }

    /// A service-for-user logon: the user's token without their password. On Windows
    /// this needs SE_TCB (LocalSystem has it) to give a token that can start processes.
    /// The account is found by its SID (names change), logged on through the package
    /// its kind needs (`run_as::s4u`: MSV1_0 local, Kerberos domain, none for Entra ID),
    /// and an elevated token (a Network logon is not UAC-split) gets a filtered
    /// token's rights.
    pub fn s4u(account: &Account) -> io::Result<UserToken> {
        let request = super::account::s4u_request_for(&account.sid)?;
        let token = s4u_logon(&request)?;
        primary_copy(&token)?.unelevated()
    }

    /// `doctor`: try the S4U logon of `sid` as this process may (an elevated admin
    /// without SE_TCB gets an identification token, enough to read its rights and try
    /// the filter on).
    pub fn s4u_trial(sid: &str) -> io::Result<run_as::s4u::S4uTrial> {
        let request = super::account::s4u_request_for(sid)?;
        let token = UserToken(s4u_logon(&request)?);
        let rights = token.rights()?;
        let filter = run_as::s4u::token_filter(&rights);
        let filtered = token
            .filtered(&filter)
            .and_then(|t| t.rights())
            .map_err(|e| e.to_string());
        Ok(run_as::s4u::S4uTrial {
            request,
            rights,
            filtered,
        })
    }

    pub fn identity(&self) -> io::Result<TokenIdentity> {
        token_identity(self.0 .0)
    }

    pub(super) fn raw(&self) -> HANDLE {
        self.0 .0
    }
}

pub(super) fn primary_copy(token: &Handle) -> io::Result<UserToken> {
    let mut dup = std::ptr::null_mut();
    // SAFETY: valid token handle; `dup` receives an owned handle.
    check(unsafe {
        DuplicateTokenEx(
            token.0,
            TOKEN_ALL_ACCESS as TOKEN_ACCESS_MASK,
            std::ptr::null(),
            SecurityImpersonation,
            TokenPrimary,
            &mut dup,
        )
    })?;
    Ok(UserToken(Handle::new(dup)?))
}

/// GetTokenInformation into a pointer-aligned buffer.
pub(super) fn token_info(token: HANDLE, class: TOKEN_INFORMATION_CLASS) -> io::Result<Vec<u64>> {
    let mut len = 0u32;
    // SAFETY: size query with a null buffer.
    unsafe { GetTokenInformation(token, class, std::ptr::null_mut(), 0, &mut len) };
    if len == 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u64; (len as usize).div_ceil(8)];
    // SAFETY: `buf` holds at least `len` bytes, 8-byte aligned.
    check(unsafe { GetTokenInformation(token, class, buf.as_mut_ptr().cast(), len, &mut len) })?;
    Ok(buf)
}

pub(super) fn sid_string(sid: PSID) -> io::Result<String> {
    let mut out = std::ptr::null_mut();
    // SAFETY: valid SID; `out` is LocalAlloc'ed by the call and freed below.
    unsafe {
        check(ConvertSidToStringSidW(sid, &mut out))?;
        let s = from_wide_ptr(out);
        LocalFree(out.cast());
        Ok(s)
    }
}

/// `DOMAIN\name` of a SID; the SID string itself when it has no name.
fn sid_name(sid: PSID) -> String {
    let (mut name, mut domain) = (vec![0u16; 256], vec![0u16; 256]);
    let (mut nl, mut dl) = (256u32, 256u32);
    let mut use_: SID_NAME_USE = 0;
    // SAFETY: buffers sized as passed.
    let ok = unsafe {
        LookupAccountSidW(
            std::ptr::null(),
            sid,
            name.as_mut_ptr(),
            &mut nl,
            domain.as_mut_ptr(),
            &mut dl,
            &mut use_,
        )
    };
    if ok == 0 {
        return sid_string(sid).unwrap_or_default();
    }
    let (name, domain) = (
        String::from_utf16_lossy(&name[..nl as usize]),
        String::from_utf16_lossy(&domain[..dl as usize]),
    );
    if domain.is_empty() {
        name
    } else {
        format!("{domain}\\{name}")
    }
}

pub(super) fn token_identity(token: HANDLE) -> io::Result<TokenIdentity> {
    let user = token_info(token, TokenUser)?;
    // SAFETY: the buffer starts with a TOKEN_USER whose SID points into the buffer.
    let sid = unsafe { (*(user.as_ptr() as *const TOKEN_USER)).User.Sid };
    let account = Account {
        sid: sid_string(sid)?,
        name: sid_name(sid),
    };
    let session_buf = token_info(token, TokenSessionId)?;
    let session = session_buf[0] as u32;
    let groups = token_info(token, TokenGroups)?;
    // SAFETY: a TOKEN_GROUPS with GroupCount entries laid out from Groups[0].
    let group_sids: Vec<String> = unsafe {
        let g = groups.as_ptr() as *const TOKEN_GROUPS;
        let first = std::ptr::addr_of!((*g).Groups) as *const SID_AND_ATTRIBUTES;
        (0..(*g).GroupCount as usize)
            .filter_map(|i| sid_string((*first.add(i)).Sid).ok())
            .collect()
    };
    let logon = run_as::identity::logon_kind(&account.sid, &group_sids);
    Ok(TokenIdentity {
        account,
        session,
        logon,
    })
}

/// The token of the running process `pid`, opened for `access` (TOKEN_QUERY, …).
pub(super) fn process_token(pid: u32, access: u32) -> io::Result<Handle> {
    // SAFETY: plain calls; handles are owned by `Handle`.
    unsafe {
        let process = Handle::new(OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid))?;
        let mut raw = std::ptr::null_mut();
        check(OpenProcessToken(process.0, access, &mut raw))?;
        Handle::new(raw)
    }
}

/// The identity of a running process, read from its token (for `status` and `doctor`).
pub fn process_identity(pid: u32) -> io::Result<TokenIdentity> {
    token_identity(process_token(pid, TOKEN_QUERY)?.0)
}

/// This process's identity: at install, the caller whose account gets recorded.
pub fn current_identity() -> io::Result<TokenIdentity> {
    process_identity(std::process::id())
}

/// The session attached to the physical console, if any.
pub fn console_session() -> Option<u32> {
    // SAFETY: no arguments.
    let s = unsafe { WTSGetActiveConsoleSessionId() };
    (s != u32::MAX).then_some(s)
}

fn session_string(session: u32, class: WTS_INFO_CLASS) -> Option<String> {
    let mut buf = std::ptr::null_mut();
    let mut len = 0u32;
    // SAFETY: the buffer is allocated by the call and freed with WTSFreeMemory.
    unsafe {
        if WTSQuerySessionInformationW(
            WTS_CURRENT_SERVER_HANDLE,
            session,
            class,
            &mut buf,
            &mut len,
        ) == 0
        {
            return None;
        }
        let s = from_wide_ptr(buf);
        WTSFreeMemory(buf.cast());
        Some(s)
    }
}

/// The account logged on at the console (no token needed, so it works from an
/// elevated prompt that is not LocalSystem).
pub fn console_user() -> Option<Account> {
    session_user(console_session()?)
}

/// The session this process runs in (`ProcessIdToSessionId`).
pub fn own_session() -> Option<u32> {
    use windows_sys::Win32::System::RemoteDesktop::ProcessIdToSessionId;
    let mut session = 0u32;
    // SAFETY: our own pid and an out-parameter.
    let ok = unsafe { ProcessIdToSessionId(std::process::id(), &mut session) };
    (ok != 0).then_some(session)
}

/// The user logged on in `session` (WTSQuerySessionInformation), when there is one.
pub fn session_user(session: u32) -> Option<Account> {
    let user = session_string(session, WTSUserName).filter(|u| !u.is_empty())?;
    let name = match session_string(session, WTSDomainName).filter(|d| !d.is_empty()) {
        Some(domain) => format!("{domain}\\{user}"),
        None => user,
    };
    lookup_account(&name).ok()
}

/// The sessions where `sid` is logged on, found by asking each session for its user's
/// token (needs LocalSystem). Wine's WTSEnumerateSessionsW lists no session at all
/// (docs/wine.md), so the console session is always considered too.
pub fn sessions_of(sid: &str) -> Vec<u32> {
    let mut ids: Vec<u32> = console_session().into_iter().collect();
    let mut info: *mut WTS_SESSION_INFOW = std::ptr::null_mut();
    let mut count = 0u32;
    // SAFETY: the array is allocated by the call and freed with WTSFreeMemory.
    unsafe {
        if WTSEnumerateSessionsW(WTS_CURRENT_SERVER_HANDLE, 0, 1, &mut info, &mut count) != 0 {
            for i in 0..count as usize {
                ids.push((*info.add(i)).SessionId);
            }
            if !info.is_null() {
                WTSFreeMemory(info.cast());
            }
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter(|&s| {
            UserToken::of_session(s)
                .and_then(|t| t.identity())
                .is_ok_and(|id| id.account.sid == sid)
        })
        .collect()
}

impl UserToken {
    /// Run `f` on this thread while impersonating the token's user: for the files of
    /// the user's the host must touch (a log dir in the profile, a stop marker in the
    /// program's home), so they are written with the user's rights, never SYSTEM's.
    pub fn impersonate<T>(&self, f: impl FnOnce() -> T) -> io::Result<T> {
        // SAFETY: a valid token; the impersonation is undone before returning.
        check(unsafe { ImpersonateLoggedOnUser(self.raw()) })?;
        struct Revert;
        impl Drop for Revert {
            fn drop(&mut self) {
                // SAFETY: undoes the impersonation above (also if `f` panics). If it
                // failed the thread would keep the user's rights, so abort instead.
                if unsafe { RevertToSelf() } == 0 {
                    std::process::abort();
                }
            }
        }
        let _revert = Revert;
        Ok(f())
    }
}

/// Resolve `name` (`ann`, `PC\ann`, `DOMAIN\ann`) to an account, for `--run-as NAME`.
pub fn lookup_account(name: &str) -> io::Result<Account> {
    let wname = wide(name);
    let mut sid = vec![0u64; 16]; // SECURITY_MAX_SID_SIZE is 68 bytes
    let mut sid_len = (sid.len() * 8) as u32;
    let mut domain = vec![0u16; 256];
    let mut dl = 256u32;
    let mut use_: SID_NAME_USE = 0;
    // SAFETY: buffers sized as passed.
    check(unsafe {
        LookupAccountNameW(
            std::ptr::null(),
            wname.as_ptr(),
            sid.as_mut_ptr().cast(),
            &mut sid_len,
            domain.as_mut_ptr(),
            &mut dl,
            &mut use_,
        )
    })
    .map_err(|e| io::Error::new(e.kind(), format!("no account named `{name}`: {e}")))?;
    let psid: PSID = sid.as_mut_ptr().cast();
    Ok(Account {
        sid: sid_string(psid)?,
        name: sid_name(psid),
    })
}

fn s4u_logon(request: &run_as::s4u::S4uRequest) -> io::Result<Handle> {
    use run_as::s4u::{logon_failure, S4uPackage};
    // Long on purpose: one LSA call sequence whose handles and buffers must be freed
    // on every path; split, the cleanup would be spread over functions.
    let win_text = |status: i32| {
        // SAFETY: plain conversion.
        let code = unsafe { LsaNtStatusToWinError(status) };
        io::Error::from_raw_os_error(code as i32)
    };
    let nt = |status: i32, what: &str| -> io::Result<()> {
        if status == 0 {
            return Ok(());
        }
        let e = win_text(status);
        Err(io::Error::new(
            e.kind(),
            format!("{what}: NTSTATUS {status:#010x} ({e})"),
        ))
    };
    let (pkg_name, pkg_label) = match request.package {
        S4uPackage::Msv1_0 => (MSV1_0_PACKAGE_NAME, "MSV1_0"),
        S4uPackage::Kerberos => (MICROSOFT_KERBEROS_NAME_A, "Kerberos"),
    };
    let mut name = *b"respawn\0";
    let origin = LSA_STRING {
        Length: 7,
        MaximumLength: 8,
        Buffer: name.as_mut_ptr(),
    };
    let mut lsa = std::ptr::null_mut();
    let mut mode = 0u32;
    // SAFETY: LSA calls with valid pointers to locals; buffers freed below.
    unsafe {
        // A registered logon process (needs SE_TCB) gets a token that can start
        // processes; an untrusted connection only an identification token.
        if LsaRegisterLogonProcess(&origin, &mut lsa, &mut mode) != 0 {
            nt(LsaConnectUntrusted(&mut lsa), "cannot connect to the LSA")?;
        }
        let result = (|| {
            let pkg_c = std::ffi::CStr::from_ptr(pkg_name.cast());
            let pkg = LSA_STRING {
                Length: pkg_c.to_bytes().len() as u16,
                MaximumLength: pkg_c.to_bytes().len() as u16 + 1,
                Buffer: pkg_name as *mut u8,
            };
            let mut pkg_id = 0u32;
            nt(
                LsaLookupAuthenticationPackage(lsa, &pkg, &mut pkg_id),
                &format!(
                    "cannot find the {pkg_label} authentication package to log {} on",
                    request.display
                ),
            )?;
            // MSV1_0_S4U_LOGON and KERB_S4U_LOGON have one layout: message type (12 in
            // both), flags, user (UPN), domain (realm). The strings live right after
            // the struct, in one buffer, as the LSA wants.
            let (u, d): (Vec<u16>, Vec<u16>) = (
                request.user.encode_utf16().collect(),
                request.domain.encode_utf16().collect(),
            );
            let head = std::mem::size_of::<MSV1_0_S4U_LOGON>();
            debug_assert_eq!(head, std::mem::size_of::<KERB_S4U_LOGON>());
            let total = head + 2 * (u.len() + d.len());
            let mut buf = vec![0u64; total.div_ceil(8)];
            let base = buf.as_mut_ptr() as *mut u8;
            let upn = base.add(head) as *mut u16;
            let dom = upn.add(u.len());
            std::ptr::copy_nonoverlapping(u.as_ptr(), upn, u.len());
            std::ptr::copy_nonoverlapping(d.as_ptr(), dom, d.len());
            let string = |p: *mut u16, len: usize| LSA_UNICODE_STRING {
                Length: (len * 2) as u16,
                MaximumLength: (len * 2) as u16,
                Buffer: if len == 0 { std::ptr::null_mut() } else { p },
            };
            match request.package {
                S4uPackage::Msv1_0 => {
                    let logon = base as *mut MSV1_0_S4U_LOGON;
                    (*logon).MessageType = MsV1_0S4ULogon;
                    (*logon).Flags = 0;
                    (*logon).UserPrincipalName = string(upn, u.len());
                    (*logon).DomainName = string(dom, d.len());
                }
                S4uPackage::Kerberos => {
                    let logon = base as *mut KERB_S4U_LOGON;
                    (*logon).MessageType = KerbS4ULogon;
                    (*logon).Flags = 0;
                    (*logon).ClientUpn = string(upn, u.len());
                    (*logon).ClientRealm = string(dom, d.len());
                }
            }
            let mut source: TOKEN_SOURCE = std::mem::zeroed();
            for (dst, src) in source.SourceName.iter_mut().zip(b"respawn\0") {
                *dst = *src as _;
            }
            AllocateLocallyUniqueId(&mut source.SourceIdentifier);
            let mut profile = std::ptr::null_mut();
            let mut profile_len = 0u32;
            let mut logon_id: LUID = std::mem::zeroed();
            let mut token: HANDLE = std::ptr::null_mut();
            let mut quotas: QUOTA_LIMITS = std::mem::zeroed();
            let mut sub = 0i32;
            let status = LsaLogonUser(
                lsa,
                &origin,
                SECURITY_LOGON_TYPE::Network,
                pkg_id,
                buf.as_ptr().cast(),
                total as u32,
                std::ptr::null(),
                &source,
                &mut profile,
                &mut profile_len,
                &mut logon_id,
                &mut token,
                &mut quotas,
                &mut sub,
            );
            if !profile.is_null() {
                LsaFreeReturnBuffer(profile);
            }
            if status != 0 {
                // The status and its substatus, in words and with what to do (issue 22).
                let e = win_text(status);
                let failure =
                    logon_failure(status as u32, sub as u32, &request.display, &e.to_string());
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "the service-for-user logon of {} ({pkg_label}) failed: {}",
                        request.display,
                        failure.line()
                    ),
                ));
            }
            // Wine's LsaLogonUser is a stub that says success and returns no token.
            Handle::new(token).map_err(|_| {
                io::Error::other("the service-for-user logon reported success but returned no token (Wine stubs LsaLogonUser)")
            })
        })();
        LsaDeregisterLogonProcess(lsa);
        result
    }
}
