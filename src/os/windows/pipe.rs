//! The control channel of a `respawn run` supervisor on Windows: a named pipe,
//! `\\.\pipe\respawn-<supervisor pid>`, with a tiny line protocol (`stop`, `restart`,
//! `ping`; the reply is `ok` or `error <why>`).
//!
//! Why a pipe and not `Local\` named events: named events are per session, so a
//! `respawn stop` from ssh, a second RDP session or a scheduled task could not find
//! them, and events created by an elevated supervisor were not openable by the same
//! user unelevated. A pipe is global, and its DACL says who may talk to it: the user
//! who runs the supervisor, Administrators and LocalSystem (SDDL below).
//!
//! The name carries the pid the caller read from the state file, and the client checks
//! that the pipe's server *is* that process (GetNamedPipeServerProcessId), so a
//! process that squats the name is never obeyed nor believed.

use super::{check, Handle};
use std::io::{self, Read, Write};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};
use windows_sys::Win32::Foundation::{LocalFree, ERROR_PIPE_BUSY, HANDLE};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, GetSecurityInfo,
    SDDL_REVISION_1, SE_KERNEL_OBJECT,
};
use windows_sys::Win32::Security::{
    GetTokenInformation, TokenUser, DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR,
    SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER,
};
use windows_sys::Win32::System::Pipes::{GetNamedPipeServerProcessId, WaitNamedPipeW};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

/// How long a connected client may take to send its line: a silent client must not
/// hold the channel.
const CLIENT_LINE_LIMIT: Duration = Duration::from_secs(5);

/// The pipe of supervisor `pid`: `respawn-<pid>-<suffix>`, the suffix random per
/// process and recorded in the holder file (issue 25: another user cannot pre-create
/// a name nobody can guess, and so cannot keep the supervisor from serving). A holder
/// record without one (an older supervisor) names `respawn-<pid>`.
fn pipe_name(supervisor_pid: u32, suffix: Option<&str>) -> String {
    match suffix {
        Some(s) => format!(r"\\.\pipe\respawn-{supervisor_pid}-{s}"),
        None => format!(r"\\.\pipe\respawn-{supervisor_pid}"),
    }
}

/// This process's control pipe suffix: 16 hex digits from the OS's randomness (the
/// seed of std's `RandomState`), made once.
pub fn control_pipe_suffix() -> &'static str {
    use std::hash::{BuildHasher, Hasher};
    static SUFFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SUFFIX.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        format!("{:016x}", h.finish())
    })
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// The pipe's DACL: protected (no inherited entries); the user who runs the
/// supervisor may read and write (`0x12019b`: FILE_GENERIC_READ | FILE_GENERIC_WRITE
/// without FILE_CREATE_PIPE_INSTANCE, so no process of theirs can add a server
/// instance of its own: issue 25); Administrators and LocalSystem full access (FA
/// rather than GA: Windows maps generic rights when it creates the object, so GA
/// would read back as FA); nobody else.
pub fn control_pipe_sddl(user_sid: &str) -> String {
    format!("D:P(A;;0x12019b;;;{user_sid})(A;;FA;;;BA)(A;;FA;;;SY)")
}

/// What a client opens the pipe with: read, and write data (not FILE_APPEND_DATA,
/// which on a pipe means "create an instance", and which the user is not granted).
const CLIENT_ACCESS: u32 = 0x0012_0089 | 0x0002;

/// The integrity label the pipe is created with: Medium, no write up. A supervisor
/// started elevated (High) would otherwise risk a label a standard (Medium) shell of
/// the same user cannot write through; Low processes stay out.
const MEDIUM_LABEL: &str = "S:(ML;;NW;;;ME)";

/// The SDDL this process would give its control pipe (for tests and doctor).
pub fn own_control_pipe_sddl() -> io::Result<String> {
    Ok(control_pipe_sddl(&current_user_sid()?))
}

/// A NUL-terminated UTF-16 string the OS allocated with LocalAlloc, as a String; frees it.
///
/// # Safety
/// `p` must be null or a NUL-terminated wide string from LocalAlloc, not used afterwards.
unsafe fn take_local_wide(p: *mut u16) -> String {
    if p.is_null() {
        return String::new();
    }
    let len = (0..).take_while(|&i| *p.add(i) != 0).count();
    let s = String::from_utf16_lossy(std::slice::from_raw_parts(p, len));
    LocalFree(p.cast());
    s
}

fn current_user_sid() -> io::Result<String> {
    // SAFETY: the token handle is owned by `Handle`; the buffer is u64-aligned (TOKEN_USER
    // needs pointer alignment) and as large as GetTokenInformation asked for; the SID
    // string is freed by `take_local_wide`.
    unsafe {
        let mut token = std::ptr::null_mut();
        check(OpenProcessToken(
            GetCurrentProcess(),
            TOKEN_QUERY,
            &mut token,
        ))?;
        let token = Handle::new(token)?;
        let mut len = 0u32;
        GetTokenInformation(token.0, TokenUser, std::ptr::null_mut(), 0, &mut len);
        let mut buf = vec![0u64; (len as usize).div_ceil(8).max(1)];
        check(GetTokenInformation(
            token.0,
            TokenUser,
            buf.as_mut_ptr().cast(),
            (buf.len() * 8) as u32,
            &mut len,
        ))?;
        let user = &*(buf.as_ptr() as *const TOKEN_USER);
        let mut sid = std::ptr::null_mut();
        check(ConvertSidToStringSidW(user.User.Sid, &mut sid))?;
        Ok(take_local_wide(sid))
    }
}

/// A security descriptor made from SDDL, freed on drop.
struct SecurityDescriptor(PSECURITY_DESCRIPTOR);

// SAFETY: an immutable block of memory once built; only read by CreateNamedPipe.
unsafe impl Send for SecurityDescriptor {}
unsafe impl Sync for SecurityDescriptor {}

impl SecurityDescriptor {
    fn from_sddl(sddl: &str) -> io::Result<SecurityDescriptor> {
        let sddl = wide(sddl);
        let mut sd = std::ptr::null_mut();
        // SAFETY: NUL-terminated input; the output is freed in Drop.
        check(unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                sddl.as_ptr(),
                SDDL_REVISION_1,
                &mut sd,
                std::ptr::null_mut(),
            )
        })?;
        Ok(SecurityDescriptor(sd))
    }
}

impl Drop for SecurityDescriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW.
        unsafe { LocalFree(self.0) };
    }
}

fn create_server(name: &str, sd: &SecurityDescriptor, first: bool) -> io::Result<NamedPipeServer> {
    let mut sa = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: sd.0,
        bInheritHandle: 0,
    };
    // SAFETY: `sa` and the descriptor it points to outlive the call.
    unsafe {
        ServerOptions::new()
            // The first instance fails if another process already owns the name.
            .first_pipe_instance(first)
            .reject_remote_clients(true)
            .create_with_security_attributes_raw(name, (&mut sa as *mut SECURITY_ATTRIBUTES).cast())
    }
}

/// Serve this process's control pipe on the current tokio runtime, calling
/// `on_event(restart)` for each `stop` (false) or `restart` (true); serving ends when
/// it returns false. Event-driven: the task sleeps until a client connects.
pub fn listen_for_control_events(
    on_event: impl Fn(bool) -> bool + Send + 'static,
) -> io::Result<()> {
    let name = pipe_name(std::process::id(), Some(control_pipe_suffix()));
    let sd = SecurityDescriptor::from_sddl(&format!("{}{MEDIUM_LABEL}", own_control_pipe_sddl()?))?;
    let first = create_server(&name, &sd, true)?;
    tokio::spawn(async move {
        let mut server = first;
        loop {
            if server.connect().await.is_err() {
                // A client that came and went; serve a fresh instance.
                match create_server(&name, &sd, false) {
                    Ok(s) => server = s,
                    Err(_) => return,
                }
                continue;
            }
            // The next instance exists before this one is handled, so a second
            // client never finds the name missing.
            let Ok(next) = create_server(&name, &sd, false) else {
                return;
            };
            let mut connected = std::mem::replace(&mut server, next);
            let line = tokio::time::timeout(CLIENT_LINE_LIMIT, read_line(&mut connected))
                .await
                .unwrap_or_default();
            let (reply, keep_serving) = answer(&line, &on_event);
            let _ = tokio::time::timeout(CLIENT_LINE_LIMIT, async {
                let _ = connected.write_all(reply.as_bytes()).await;
                let _ = connected.flush().await;
            })
            .await;
            if !keep_serving {
                return;
            }
        }
    });
    Ok(())
}

/// One request line (at most 64 bytes, without the newline).
async fn read_line(pipe: &mut NamedPipeServer) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 64 {
        match pipe.read(&mut byte).await {
            Ok(1) if byte[0] != b'\n' => line.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&line).trim().to_string()
}

/// Act on a request: the reply, and whether to keep serving.
/// Requests of every protocol from [`crate::control::OLDEST`] up are taken; one from a
/// newer protocol gets an answer saying who started this supervisor (issue 26 item 3).
fn answer(line: &str, on_event: &impl Fn(bool) -> bool) -> (String, bool) {
    use crate::control::{ok_reply, parse_request, Control, Request};
    match parse_request(line) {
        Ok(request) => {
            let keep = match request {
                Request::Control(Control::Stop) => on_event(false),
                Request::Control(Control::Restart) => on_event(true),
                _ => true,
            };
            (format!("{}\n", ok_reply(request, std::process::id())), keep)
        }
        Err(refusal) => (format!("{}\n", refusal.reply()), true),
    }
}

/// Serve the pipe `name` (created first: it fails if another process owns the name)
/// with the DACL `sddl` on the current tokio runtime: each client sends one line, and
/// `on_line(client pid, line)` gives the reply. Event-driven, like the control pipe.
pub fn serve_lines(
    name: String,
    sddl: &str,
    on_line: impl Fn(u32, &str) -> String + Send + 'static,
) -> io::Result<()> {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::System::Pipes::GetNamedPipeClientProcessId;
    let sd = SecurityDescriptor::from_sddl(sddl)?;
    let first = create_server(&name, &sd, true)?;
    tokio::spawn(async move {
        let mut server = first;
        loop {
            if server.connect().await.is_err() {
                match create_server(&name, &sd, false) {
                    Ok(s) => server = s,
                    Err(_) => return,
                }
                continue;
            }
            let Ok(next) = create_server(&name, &sd, false) else {
                return;
            };
            let mut connected = std::mem::replace(&mut server, next);
            let mut client = 0u32;
            // SAFETY: a connected pipe handle owned by `connected`, pointer to a local.
            let known = unsafe {
                GetNamedPipeClientProcessId(connected.as_raw_handle() as HANDLE, &mut client)
            } != 0;
            let line = tokio::time::timeout(CLIENT_LINE_LIMIT, read_line(&mut connected))
                .await
                .unwrap_or_default();
            let reply = if known {
                on_line(client, &line)
            } else {
                "error cannot tell who sent the request".to_string()
            };
            let _ = tokio::time::timeout(CLIENT_LINE_LIMIT, async {
                let _ = connected.write_all(format!("{reply}\n").as_bytes()).await;
                let _ = connected.flush().await;
            })
            .await;
        }
    });
    Ok(())
}

/// Send one line to the pipe `name`, checking that its server is `server_pid`; the
/// reply line.
pub fn request_line(name: &str, server_pid: u32, line: &str) -> io::Result<String> {
    let mut pipe = connect_named(name, server_pid, None)?;
    pipe.write_all(format!("{line}\n").as_bytes())?;
    let mut reply = String::new();
    pipe.read_to_string(&mut reply)?;
    Ok(reply.trim().to_string())
}

/// Open the supervisor's pipe and check that its server is that supervisor.
fn connect(pid: u32, suffix: Option<&str>, access: Option<u32>) -> io::Result<std::fs::File> {
    connect_named(&pipe_name(pid, suffix), pid, access)
}

/// Open the pipe `name` and check that its server is the process `pid`.
fn connect_named(name: &str, pid: u32, access: Option<u32>) -> io::Result<std::fs::File> {
    use std::os::windows::fs::OpenOptionsExt;
    use std::os::windows::io::AsRawHandle;
    let mut busy = 0;
    let file = loop {
        let mut opts = std::fs::OpenOptions::new();
        opts.access_mode(access.unwrap_or(CLIENT_ACCESS));
        // The server may identify us but never act as us (issue 25).
        opts.security_qos_flags(windows_sys::Win32::Storage::FileSystem::SECURITY_IDENTIFICATION);
        match opts.open(name) {
            Ok(f) => break f,
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32) && busy < 10 => {
                busy += 1;
                // SAFETY: NUL-terminated name; waits for a free instance (bounded).
                unsafe { WaitNamedPipeW(wide(name).as_ptr(), 2000) };
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("the supervisor (pid {pid}) has no control pipe {name}: it is not running, or is not a respawn supervisor"),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("not allowed to open {name}: the supervisor runs as another user; run this as that user or as an administrator"),
                ));
            }
            Err(e) => return Err(e),
        }
    };
    let mut server = 0u32;
    // SAFETY: a valid pipe handle owned by `file`, pointer to a local.
    check(unsafe { GetNamedPipeServerProcessId(file.as_raw_handle() as HANDLE, &mut server) })?;
    if server != pid {
        return Err(io::Error::other(format!(
            "{name} is served by process {server}, not by the supervisor (pid {pid}); not using it"
        )));
    }
    Ok(file)
}

/// Send one request line and return the reply line.
pub fn control_request(pid: u32, suffix: Option<&str>, request: &str) -> io::Result<String> {
    let mut pipe = connect(pid, suffix, None)?;
    pipe.write_all(format!("{request}\n").as_bytes())?;
    let mut reply = String::new();
    pipe.read_to_string(&mut reply)?;
    Ok(reply.trim().to_string())
}

/// Ask a running supervisor to stop, or to restart its child, through its control
/// pipe, in the words every protocol knows (protocol 1).
pub fn signal_supervisor(
    pid: u32,
    suffix: Option<&str>,
    control: crate::control::Control,
) -> io::Result<()> {
    let request = match control {
        crate::control::Control::Restart => "restart",
        crate::control::Control::Stop => "stop",
        crate::control::Control::SessionChanged => {
            return Err(crate::control::Control::not_from_a_client())
        }
    };
    send_control(pid, suffix, control, request)
}

/// Send a control as `line`, the request in the negotiated protocol's words
/// ([`crate::control::Request::line`]); the answer read with
/// [`crate::control::read_reply`], so a newer supervisor's words are never a parse error.
pub fn send_control(
    pid: u32,
    suffix: Option<&str>,
    control: crate::control::Control,
    line: &str,
) -> io::Result<()> {
    if control == crate::control::Control::SessionChanged {
        return Err(crate::control::Control::not_from_a_client());
    }
    let reply = control_request(pid, suffix, line)?;
    crate::control::read_reply(&reply)
        .map(drop)
        .map_err(io::Error::other)
}

/// The DACL of a supervisor's control pipe, as SDDL, read back with GetSecurityInfo.
pub fn control_pipe_dacl(pid: u32, suffix: Option<&str>) -> io::Result<String> {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Storage::FileSystem::READ_CONTROL;
    let pipe = connect(pid, suffix, Some(READ_CONTROL))?;
    // SAFETY: valid handle; the descriptor GetSecurityInfo allocates is freed here and
    // the string by `take_local_wide`.
    unsafe {
        let mut sd = std::ptr::null_mut();
        let rc = GetSecurityInfo(
            pipe.as_raw_handle() as HANDLE,
            SE_KERNEL_OBJECT,
            DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut sd,
        );
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc as i32));
        }
        let sddl = super::acl::sddl_of(sd, DACL_SECURITY_INFORMATION);
        LocalFree(sd);
        sddl
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_dacl_names_the_user_administrators_and_system_only() {
        assert_eq!(
            super::control_pipe_sddl("S-1-5-21-1-2-3-1001"),
            "D:P(A;;0x12019b;;;S-1-5-21-1-2-3-1001)(A;;FA;;;BA)(A;;FA;;;SY)"
        );
    }
}
