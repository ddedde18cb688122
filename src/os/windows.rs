//! Windows: Job Objects, hidden children, process identity and named events.
//!
//! Every child runs in its own Job Object with KILL_ON_JOB_CLOSE. The supervisor holds
//! the only handle, so however the supervisor dies (even `taskkill /F`), the kernel
//! closes the handle and kills the whole tree: no orphan gateway. Children are created
//! with CREATE_NO_WINDOW, so no console window can ever appear.

use crate::policy::ExitKind;
use crate::spec::StopSignal;
use std::io;
use windows_sys::Win32::Foundation::{
    CloseHandle, FILETIME, HANDLE, INVALID_HANDLE_VALUE, STILL_ACTIVE, WAIT_OBJECT_0,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Thread32First, Thread32Next, TH32CS_SNAPTHREAD, THREADENTRY32,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation,
    SetInformationJobObject, TerminateJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};
use windows_sys::Win32::System::Threading::{
    CreateEventW, GetExitCodeProcess, GetProcessTimes, OpenEventW, OpenProcess, OpenThread,
    ResumeThread, SetEvent, TerminateProcess, WaitForMultipleObjects, CREATE_NEW_PROCESS_GROUP,
    CREATE_NO_WINDOW, CREATE_SUSPENDED, EVENT_MODIFY_STATE, INFINITE,
    PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_TERMINATE, THREAD_SUSPEND_RESUME,
};

// Starting the child with a user's token (issue 15).
mod token;
pub use token::*;
// Admin-only files for a LocalSystem host (issue 15).
mod acl;
pub use acl::*;

/// Exit code given to a tree that respawn kills (what `taskkill /F` uses too).
const KILLED_EXIT_CODE: u32 = 1;

/// An owned kernel handle, closed on drop.
struct Handle(HANDLE);

impl Handle {
    fn new(h: HANDLE) -> io::Result<Handle> {
        if h.is_null() || h == INVALID_HANDLE_VALUE {
            Err(io::Error::last_os_error())
        } else {
            Ok(Handle(h))
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: we own the handle and close it once.
        unsafe { CloseHandle(self.0) };
    }
}

// SAFETY: kernel handles may be used from any thread.
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

fn check(ok: i32) -> io::Result<()> {
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A Job Object that kills every process in it when its last handle closes.
struct Job(Handle);

impl Job {
    fn kill_on_close() -> io::Result<Job> {
        // SAFETY: plain Win32 calls with valid pointers to locals.
        unsafe {
            let job = Handle::new(CreateJobObjectW(std::ptr::null(), std::ptr::null()))?;
            let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
            info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
            check(SetInformationJobObject(
                job.0,
                JobObjectExtendedLimitInformation,
                (&info as *const JOBOBJECT_EXTENDED_LIMIT_INFORMATION).cast(),
                std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            ))?;
            Ok(Job(job))
        }
    }

    fn assign(&self, process: HANDLE) -> io::Result<()> {
        // SAFETY: both handles are valid for the duration of the call.
        check(unsafe { AssignProcessToJobObject(self.0 .0, process) })
    }

    fn terminate(&self) {
        // SAFETY: valid job handle.
        unsafe { TerminateJobObject(self.0 .0, KILLED_EXIT_CODE) };
    }
}

/// A hidden child and everything it starts, held in one Job Object.
pub struct ChildTree {
    child: tokio::process::Child,
    pid: u32,
    job: Job,
}

impl ChildTree {
    /// Spawn suspended, put the process in its job, then let it run: so not even its
    /// first instruction runs outside the job, and nothing it starts can escape.
    pub fn spawn(cmd: &mut tokio::process::Command) -> io::Result<ChildTree> {
        cmd.creation_flags(CREATE_NO_WINDOW | CREATE_NEW_PROCESS_GROUP | CREATE_SUSPENDED);
        let job = Job::kill_on_close()?;
        let mut child = cmd.spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| io::Error::other("child exited before it had a pid"))?;
        let placed = child
            .raw_handle()
            .ok_or_else(|| io::Error::other("no process handle"))
            .and_then(|h| job.assign(h as HANDLE))
            .and_then(|()| resume_threads(pid));
        if let Err(e) = placed {
            let _ = child.start_kill();
            return Err(e);
        }
        Ok(ChildTree { child, pid, job })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn stdout(&mut self) -> Option<tokio::process::ChildStdout> {
        self.child.stdout.take()
    }

    pub fn stderr(&mut self) -> Option<tokio::process::ChildStderr> {
        self.child.stderr.take()
    }

    pub async fn wait(&mut self) -> io::Result<ExitKind> {
        Ok(exit_kind(self.child.wait().await?))
    }

    /// Services have no console, so there is no signal to send: the caller goes
    /// straight to killing the tree. Use `stop.method = "file"` or `"command"` for a
    /// graceful stop on Windows.
    pub fn send_stop_signal(&self, _sig: StopSignal) -> io::Result<bool> {
        Ok(false)
    }

    /// Kill the child and everything in its job. Idempotent.
    pub fn kill_tree(&self) {
        self.job.terminate();
    }
}

/// Resume every thread of a process created with CREATE_SUSPENDED.
fn resume_threads(pid: u32) -> io::Result<()> {
    // SAFETY: the snapshot and thread handles are owned and closed by `Handle`;
    // THREADENTRY32 is plain data with its size field set as the API requires.
    unsafe {
        let snap = Handle::new(CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0))?;
        let mut entry: THREADENTRY32 = std::mem::zeroed();
        entry.dwSize = std::mem::size_of::<THREADENTRY32>() as u32;
        let mut more = Thread32First(snap.0, &mut entry) != 0;
        let mut resumed = 0;
        while more {
            if entry.th32OwnerProcessID == pid {
                let thread = Handle::new(OpenThread(THREAD_SUSPEND_RESUME, 0, entry.th32ThreadID))?;
                if ResumeThread(thread.0) == u32::MAX {
                    return Err(io::Error::last_os_error());
                }
                resumed += 1;
            }
            more = Thread32Next(snap.0, &mut entry) != 0;
        }
        if resumed == 0 {
            return Err(io::Error::other(format!(
                "found no thread of process {pid} to resume"
            )));
        }
    }
    Ok(())
}

pub fn exit_kind(status: std::process::ExitStatus) -> ExitKind {
    ExitKind::Code(status.code().unwrap_or(-1))
}

fn open_process(pid: u32, access: u32) -> Option<Handle> {
    // SAFETY: plain call; the handle is owned by `Handle`.
    Handle::new(unsafe { OpenProcess(access, 0, pid) }).ok()
}

/// The process's creation time (100 ns units since 1601), an identity a recycled pid does not share.
pub fn start_token(pid: u32) -> Option<u64> {
    let process = open_process(pid, PROCESS_QUERY_LIMITED_INFORMATION)?;
    let zero = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: valid handle and pointers to locals.
    check(unsafe { GetProcessTimes(process.0, &mut created, &mut exited, &mut kernel, &mut user) })
        .ok()?;
    Some(((created.dwHighDateTime as u64) << 32) | created.dwLowDateTime as u64)
}

pub fn is_alive(pid: u32) -> bool {
    let Some(process) = open_process(pid, PROCESS_QUERY_LIMITED_INFORMATION) else {
        return false;
    };
    let mut code = 0u32;
    // SAFETY: valid handle, pointer to a local.
    unsafe { GetExitCodeProcess(process.0, &mut code) != 0 && code == STILL_ACTIVE as u32 }
}

/// After a supervisor crash. The Job Object already killed the old tree when the old
/// supervisor died; this only covers a child that is verifiably ours and still alive.
pub fn kill_leftover_tree(pid: u32, token: Option<u64>) -> bool {
    if token.is_none() || start_token(pid) != token {
        return false;
    }
    match open_process(pid, PROCESS_TERMINATE) {
        // SAFETY: valid handle.
        Some(process) => unsafe { TerminateProcess(process.0, KILLED_EXIT_CODE) != 0 },
        None => false,
    }
}

/// Make a launched process independent of our console: its own process group and no
/// console window.
pub fn detach(cmd: &mut std::process::Command) {
    use std::os::windows::process::CommandExt;
    cmd.creation_flags(CREATE_NO_WINDOW | CREATE_NEW_PROCESS_GROUP);
}

/// The named events a supervisor listens on: one to stop, one to restart the child.
/// Named after the supervisor's pid, so they reach exactly that process.
fn control_event_name(supervisor_pid: u32, restart: bool) -> Vec<u16> {
    let what = if restart { "restart" } else { "stop" };
    format!("Local\\respawn-{supervisor_pid}-{what}\0")
        .encode_utf16()
        .collect()
}

/// Ask a running supervisor to stop, or to restart its child, through its named event.
pub fn signal_supervisor(pid: u32, restart: bool) -> io::Result<()> {
    let name = control_event_name(pid, restart);
    // SAFETY: NUL-terminated name; the handle is owned by `Handle`.
    unsafe {
        let event = Handle::new(OpenEventW(EVENT_MODIFY_STATE, 0, name.as_ptr()))?;
        check(SetEvent(event.0))
    }
}

/// Create this process's stop and restart events and call `on_event(restart)` from a
/// thread that sleeps in the kernel until one is set (no polling).
pub fn listen_for_control_events(
    on_event: impl Fn(bool) -> bool + Send + 'static,
) -> io::Result<()> {
    let me = std::process::id();
    let make = |restart| {
        let name = control_event_name(me, restart);
        // SAFETY: auto-reset, unsignalled event with a NUL-terminated name.
        Handle::new(unsafe { CreateEventW(std::ptr::null(), 0, 0, name.as_ptr()) })
    };
    let events = [make(false)?, make(true)?];
    std::thread::spawn(move || loop {
        let raw: [HANDLE; 2] = [events[0].0, events[1].0];
        // SAFETY: two valid event handles that live as long as this thread.
        let which = unsafe { WaitForMultipleObjects(2, raw.as_ptr(), 0, INFINITE) };
        let restart = match which {
            w if w == WAIT_OBJECT_0 => false,
            w if w == WAIT_OBJECT_0 + 1 => true,
            _ => return,
        };
        if !on_event(restart) {
            return;
        }
    });
    Ok(())
}

/// Whether this process has a console window (a visible or hidden console). Children
/// that respawn starts must answer "no" from their side; see examples/console_probe.rs.
pub fn has_console_window() -> bool {
    // SAFETY: no arguments; returns a window handle or null.
    !unsafe { windows_sys::Win32::System::Console::GetConsoleWindow() }.is_null()
}

/// Split a command line with the real `CommandLineToArgvW` (tests compare our splitter
/// and quoting against it).
pub fn split_command_line_native(line: &str) -> Vec<String> {
    use windows_sys::Win32::Foundation::LocalFree;
    use windows_sys::Win32::UI::Shell::CommandLineToArgvW;
    let wide: Vec<u16> = line.encode_utf16().chain(std::iter::once(0)).collect();
    let mut argc = 0i32;
    // SAFETY: `wide` is NUL-terminated; the returned array holds `argc` NUL-terminated
    // strings in one LocalAlloc block, freed once below.
    unsafe {
        let argv = CommandLineToArgvW(wide.as_ptr(), &mut argc);
        if argv.is_null() {
            return Vec::new();
        }
        let args = (0..argc as usize)
            .map(|i| {
                let p = *argv.add(i);
                let len = (0..).take_while(|&j| *p.add(j) != 0).count();
                String::from_utf16_lossy(std::slice::from_raw_parts(p, len))
            })
            .collect();
        LocalFree(argv.cast());
        args
    }
}

/// Stop our own stdin/stdout/stderr from being inherited by processes we start. Windows
/// children inherit every inheritable handle, so a detached supervisor would otherwise
/// hold the pipe of whoever ran `respawn start` open (and `$(respawn start)` would hang).
pub fn keep_std_handles_to_ourselves() {
    use windows_sys::Win32::Foundation::{SetHandleInformation, HANDLE_FLAG_INHERIT};
    use windows_sys::Win32::System::Console::{
        GetStdHandle, STD_ERROR_HANDLE, STD_INPUT_HANDLE, STD_OUTPUT_HANDLE,
    };
    for which in [STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE] {
        // SAFETY: GetStdHandle returns our own handle (or null/invalid, which
        // SetHandleInformation rejects harmlessly).
        unsafe {
            let h = GetStdHandle(which);
            if !h.is_null() && h != INVALID_HANDLE_VALUE {
                SetHandleInformation(h, HANDLE_FLAG_INHERIT, 0);
            }
        }
    }
}

/// Whether we run under Wine rather than Windows (ntdll exports `wine_get_version`).
/// Wine's service manager accepts but ignores recovery actions; doctor and the tests say so.
pub fn running_under_wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    let ntdll: Vec<u16> = "ntdll.dll\0".encode_utf16().collect();
    // SAFETY: NUL-terminated names; ntdll is always loaded; nothing is called.
    unsafe {
        let module = GetModuleHandleW(ntdll.as_ptr());
        !module.is_null() && GetProcAddress(module, c"wine_get_version".as_ptr().cast()).is_some()
    }
}
