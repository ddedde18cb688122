//! Windows: Job Objects, hidden children, process identity and the control pipe.
//!
//! Every child runs in its own Job Object with KILL_ON_JOB_CLOSE. The supervisor holds
//! the only handle, so however the supervisor dies (even `taskkill /F`), the kernel
//! closes the handle and kills the whole tree: no orphan gateway. Children are created
//! with CREATE_NO_WINDOW, so no console window can ever appear.

use crate::policy::ExitKind;
use crate::spec::StopSignal;
use std::io;
use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_ACCESS_DENIED, FILETIME, HANDLE, INVALID_HANDLE_VALUE, WAIT_TIMEOUT,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, IsProcessInJob, JobObjectExtendedLimitInformation,
    QueryInformationJobObject, SetInformationJobObject, TerminateJobObject,
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JOB_OBJECT_LIMIT_BREAKAWAY_OK,
    JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, GetProcessTimes, OpenProcess, TerminateProcess, WaitForSingleObject,
    CREATE_BREAKAWAY_FROM_JOB, CREATE_NEW_PROCESS_GROUP, CREATE_NO_WINDOW, CREATE_SUSPENDED,
    PROCESS_QUERY_INFORMATION, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SYNCHRONIZE,
    PROCESS_TERMINATE,
};

pub mod errors;
pub mod eventlog;

// Resuming std's suspended spawn without a system-wide thread snapshot (issue 22).
mod resume;
pub use resume::Resumed;
// Starting the child with a user's token (issue 15).
mod spawn_as;
mod token;
// The S4U logon by account kind and the LUA filter (issue 22).
mod account;
pub use account::{
    account_by_sid, account_facts, machine_domain, process_rights, s4u_request_for, upn_of,
};
pub use spawn_as::{OwnedCommand, UserCommand, UserHelper};
pub use token::{
    child_identity, console_session, console_user, current_identity, lookup_account, own_session,
    process_identity, session_user, sessions_of, TokenIdentity, UserToken, INTERACTIVE_DESKTOP,
};
// `respawn update`'s command with the caller's filtered token (issue 25).
mod filtered;
pub use filtered::{filtered_token, own_elevation, own_integrity, run_with_token, Filtered};
// The end of the user's session: a hidden window that hears it (issue 22).
mod session_end;
pub use session_end::{session_end_watchers, watch_session_end, ProcessWaiter, SessionEnd};
// Admin-only files for a LocalSystem host (issue 15).
mod acl;
pub use acl::*;
// What the SYSTEM host may trust (issue 25).
mod trust;
pub use trust::*;

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

/// The limits of a child's job: every process in it dies when the last handle closes,
/// and a process that crashes dies at once instead of waiting on a Windows Error
/// Reporting dialog nobody will see (so it is restarted).
pub const CHILD_JOB_LIMITS: u32 =
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION;

/// A Job Object that kills every process in it when its last handle closes.
struct Job(Handle);

impl Job {
    fn kill_on_close(extra_limits: u32) -> io::Result<Job> {
        // SAFETY: plain Win32 calls with valid pointers to locals.
        unsafe {
            let job = Handle::new(CreateJobObjectW(std::ptr::null(), std::ptr::null()))?;
            let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
            info.BasicLimitInformation.LimitFlags = CHILD_JOB_LIMITS | extra_limits;
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
    pub(super) process: super::Process,
    /// Shared only weakly (with [`HelperSpawner`]s): this is the one owner.
    job: std::sync::Arc<Job>,
    /// The user whose token started the child (issue 15): its helpers run as them too.
    user: Option<spawn_as::HelperUser>,
    /// How a token spawn put the child in its job (`None`: std's spawn, suspended,
    /// assigned, resumed).
    placement: Option<crate::run_as::spawn::JobPlacement>,
    /// How std's suspended spawn was let run (`None`: a token spawn).
    resumed: Option<Resumed>,
    // Fields drop in order: the process's pipes, then the job (killing the tree), then
    // the user's profile, unloaded once nothing of the user's runs.
    _profile: Option<spawn_as::LoadedProfile>,
}

impl ChildTree {
    /// Spawn suspended, put the process in its job, then let it run: so not even its
    /// first instruction runs outside the job, and nothing it starts can escape.
    pub fn spawn(cmd: &mut tokio::process::Command) -> io::Result<ChildTree> {
        Self::spawn_in_job(cmd, false)
    }

    /// [`ChildTree::spawn`], with a job that lets its processes break away when
    /// `allow_breakaway` (tests use it to play an updater's or a CI runner's job).
    pub fn spawn_in_job(
        cmd: &mut tokio::process::Command,
        allow_breakaway: bool,
    ) -> io::Result<ChildTree> {
        cmd.creation_flags(CREATE_NO_WINDOW | CREATE_NEW_PROCESS_GROUP | CREATE_SUSPENDED);
        let extra = if allow_breakaway {
            JOB_OBJECT_LIMIT_BREAKAWAY_OK
        } else {
            0
        };
        let job = std::sync::Arc::new(Job::kill_on_close(extra)?);
        let (child, resumed) = spawn_into(&job, cmd)?;
        let process = super::Process::new(child)?;
        Ok(ChildTree {
            process,
            job,
            user: None,
            placement: None,
            resumed: Some(resumed),
            _profile: None,
        })
    }

    /// Start a helper for this child (the `[stop] command`) the way the child itself
    /// was started: no console window, and inside the child's job, so it never
    /// flashes a window and never outlives the tree.
    /// Started with a user's token, it runs as that user.
    pub fn spawn_helper(&self, cmd: &mut tokio::process::Command) -> io::Result<super::Helper> {
        self.helper_spawner().spawn(cmd)
    }

    /// [`ChildTree::spawn_helper`] for a task that outlives this borrow (health
    /// probes). It does not keep the job alive: once the tree is gone, it refuses.
    pub fn helper_spawner(&self) -> HelperSpawner {
        HelperSpawner {
            job: std::sync::Arc::downgrade(&self.job),
            user: self.user.clone(),
        }
    }

    /// How a child started with a user's token got into its job (issue 22 item 10):
    /// created in it where Windows can, else suspended, assigned and resumed.
    pub fn job_placement(&self) -> Option<crate::run_as::spawn::JobPlacement> {
        self.placement
    }

    /// How std's spawn, suspended and assigned, let the child run (issue 22 item 10):
    /// `NtResumeProcess`, else a thread snapshot. `None` for a token spawn.
    pub fn resumed(&self) -> Option<Resumed> {
        self.resumed
    }

    /// The limit flags of the child's job, read back from the kernel.
    pub fn job_limits(&self) -> io::Result<u32> {
        job_limits(self.job.0 .0)
    }

    /// Whether `pid` is in the child's tree: a member of its Job Object. Needs
    /// PROCESS_QUERY_INFORMATION: with only the limited right Wine answers FALSE.
    pub fn contains(&self, pid: u32) -> bool {
        let Some(process) = open_process(pid, PROCESS_QUERY_INFORMATION) else {
            return false;
        };
        let mut inside = 0;
        // SAFETY: valid process and job handles, pointer to a local.
        let ok = unsafe { IsProcessInJob(process.0, self.job.0 .0, &mut inside) };
        ok != 0 && inside != 0
    }

    /// Services have no console, so there is no signal to send. The graceful step is
    /// closing the child's stdin (a pipe the supervisor held open since the start):
    /// programs that stop on end-of-file (esbuild's serve mode, many CLIs) exit
    /// cleanly; the caller then waits the stop timeout and kills the job.
    pub fn send_stop_signal(&mut self, _sig: StopSignal) -> io::Result<bool> {
        Ok(self.close_stdin())
    }

    /// Kill the child and everything in its job. Idempotent.
    pub fn kill_tree(&self) {
        self.job.terminate();
    }
}

/// Starts helpers in a child's job, hidden, as the child's user when it was started
/// with a user's token (see [`ChildTree::helper_spawner`]).
#[derive(Clone)]
pub struct HelperSpawner {
    job: std::sync::Weak<Job>,
    user: Option<spawn_as::HelperUser>,
}

impl HelperSpawner {
    pub fn spawn(&self, cmd: &mut tokio::process::Command) -> io::Result<super::Helper> {
        let job = self
            .job
            .upgrade()
            .ok_or_else(|| io::Error::other("the child's process tree is gone"))?;
        if let Some(user) = &self.user {
            return user.spawn(cmd, &job).map(super::Helper::User);
        }
        cmd.creation_flags(CREATE_NO_WINDOW | CREATE_SUSPENDED);
        spawn_into(&job, cmd).map(|(child, _)| super::Helper::Tokio(child))
    }
}

/// Spawn `cmd` (whose flags include CREATE_SUSPENDED), put it in `job`, then let it
/// run: so not even its first instruction runs outside the job.
fn spawn_into(
    job: &Job,
    cmd: &mut tokio::process::Command,
) -> io::Result<(tokio::process::Child, Resumed)> {
    let mut child = cmd.spawn()?;
    let placed = child
        .raw_handle()
        .ok_or_else(|| io::Error::other("no process handle"))
        .and_then(|h| {
            job.assign(h as HANDLE)?;
            let pid = child
                .id()
                .ok_or_else(|| io::Error::other("child exited before it had a pid"))?;
            resume::resume_process(h as HANDLE, pid)
        });
    match placed {
        Ok(resumed) => Ok((child, resumed)),
        Err(e) => {
            let _ = child.start_kill();
            Err(e)
        }
    }
}

/// Nothing to do on Windows: when the supervisor exits, the kernel closes its Job
/// Object handle, and KILL_ON_JOB_CLOSE takes the child's whole tree.
pub fn kill_child_group(_pid: u32) {}

/// Which file an open handle is, to tell a rotated log from the new one under the
/// same name: the file index, which is unique within a volume (the files compared all
/// live in one folder). Creation times can't do it: Windows "tunnels" a renamed
/// file's creation time to a new file created under its old name. The volume serial
/// is left out: under Wine a handle's serial reads 0 once its file was renamed.
pub fn file_identity(file: &std::fs::File) -> Option<(u64, u64)> {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Storage::FileSystem::{
        GetFileInformationByHandle, BY_HANDLE_FILE_INFORMATION,
    };
    // SAFETY: a valid handle borrowed from `file`; the struct is plain data.
    unsafe {
        let mut info: BY_HANDLE_FILE_INFORMATION = std::mem::zeroed();
        check(GetFileInformationByHandle(
            file.as_raw_handle() as HANDLE,
            &mut info,
        ))
        .ok()?;
        Some((
            0,
            ((info.nFileIndexHigh as u64) << 32) | info.nFileIndexLow as u64,
        ))
    }
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

/// Whether `pid` names a running process. Asked of the process object itself (a wait
/// that times out), not of its exit code: a process that exited with 259 would read
/// as STILL_ACTIVE.
pub fn is_alive(pid: u32) -> bool {
    let Some(process) = open_process(pid, PROCESS_SYNCHRONIZE) else {
        return false;
    };
    // SAFETY: a valid handle with SYNCHRONIZE; a zero timeout only polls.
    unsafe { WaitForSingleObject(process.0, 0) == WAIT_TIMEOUT }
}

/// Whether `pid` is alive and still the process whose creation time was recorded.
/// Creation times are absolute, so no boot identity is needed on Windows.
pub fn same_process(pid: u32, token: Option<u64>) -> bool {
    token.is_some() && is_alive(pid) && start_token(pid) == token
}

/// Windows creation times are absolute (not ticks since boot): no boot identity needed.
pub fn boot_id() -> Option<String> {
    None
}

/// After a supervisor crash. The Job Object already killed the old tree when the old
/// supervisor died; this only covers a child that is verifiably ours and still alive.
/// Creation times are absolute, so `_same_boot` does not matter here.
pub fn kill_leftover_tree(pid: u32, token: Option<u64>, _same_boot: bool) -> bool {
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

/// Start a detached supervisor (`respawn start`) outside the caller's Job Object, so
/// it survives an updater, an Electron app, a CI runner or a scheduled task whose job
/// closes. A job that forbids breakaway makes CreateProcess fail with access denied:
/// then start it inside the job anyway, and return a note saying what that means.
pub fn spawn_detached(
    cmd: &mut std::process::Command,
) -> io::Result<(std::process::Child, Option<String>)> {
    use std::os::windows::process::CommandExt;
    cmd.creation_flags(CREATE_NO_WINDOW | CREATE_NEW_PROCESS_GROUP | CREATE_BREAKAWAY_FROM_JOB);
    match cmd.spawn() {
        Err(e) if e.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32) => {
            detach(cmd);
            let child = cmd.spawn()?;
            Ok((child, Some(BREAKAWAY_REFUSED.to_string())))
        }
        other => other.map(|c| (c, None)),
    }
}

/// What `respawn start` says when the caller's job forbids breakaway.
pub const BREAKAWAY_REFUSED: &str = "the Job Object respawn was started in forbids breakaway, so the supervisor stays in it and ends when that job closes; start it from a plain console, or install it as a service";

/// No "program has stopped working" or "insert a disk" dialogs for the supervisor and
/// (inherited) its children: a service has nobody to click them, and a child waiting
/// on one is neither running nor restarted.
pub fn quiet_crash_dialogs() {
    use windows_sys::Win32::System::Diagnostics::Debug::{
        SetErrorMode, SEM_FAILCRITICALERRORS, SEM_NOGPFAULTERRORBOX,
    };
    // SAFETY: plain call with flags.
    unsafe { SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX) };
}

/// Whether this process runs in any Job Object. For test probes.
pub fn in_a_job() -> bool {
    let mut inside = 0;
    // SAFETY: pseudo-handle of this process, null job = any job, pointer to a local.
    let ok = unsafe { IsProcessInJob(GetCurrentProcess(), std::ptr::null_mut(), &mut inside) };
    ok != 0 && inside != 0
}

/// Whether process `pid` runs in any Job Object (`None`: it cannot be opened or asked).
/// Needs PROCESS_QUERY_INFORMATION: with only the limited right Wine answers FALSE.
pub fn process_in_a_job(pid: u32) -> Option<bool> {
    let process = open_process(pid, PROCESS_QUERY_INFORMATION)?;
    let mut inside = 0;
    // SAFETY: a valid process handle, null job = any job, pointer to a local.
    let ok = unsafe { IsProcessInJob(process.0, std::ptr::null_mut(), &mut inside) };
    (ok != 0).then_some(inside != 0)
}

/// The limit flags of the job this process runs in (a null job handle means "mine").
/// For test probes; Wine 8 fails this call (see docs/wine.md).
pub fn own_job_limits() -> io::Result<u32> {
    job_limits(std::ptr::null_mut())
}

fn job_limits(job: HANDLE) -> io::Result<u32> {
    // SAFETY: zeroed plain-data struct of the size we pass; `job` is valid or null.
    unsafe {
        let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
        check(QueryInformationJobObject(
            job,
            JobObjectExtendedLimitInformation,
            (&mut info as *mut JOBOBJECT_EXTENDED_LIMIT_INFORMATION).cast(),
            std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            std::ptr::null_mut(),
        ))?;
        Ok(info.BasicLimitInformation.LimitFlags)
    }
}

// The control channel (`respawn stop|restart` → a running `respawn run`): a named
// pipe with a DACL, in its own file.
mod pipe;
pub use pipe::{
    control_pipe_dacl, control_pipe_suffix, control_request, listen_for_control_events,
    own_control_pipe_sddl, request_line, send_control, serve_lines, signal_supervisor,
};

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
            // A console handle (no pipe, no file) cannot be made non-inheritable and
            // needs not be: the failure is harmless there, so it is not reported.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A process that exited with 259 (STILL_ACTIVE's value) is not alive (issue 22).
    #[test]
    fn a_process_that_exited_with_259_is_not_alive() {
        let mut child = std::process::Command::new("cmd")
            .args(["/C", "exit 259"])
            .spawn()
            .unwrap();
        let pid = child.id();
        // Our handle keeps the exited process object (and its pid) until it drops.
        assert_eq!(child.wait().unwrap().code(), Some(259));
        assert!(!is_alive(pid), "exit code 259 taken for a live process");
        assert!(is_alive(std::process::id()));
    }

    #[test]
    fn same_process_needs_the_recorded_creation_time() {
        let me = std::process::id();
        let token = start_token(me);
        assert!(token.is_some());
        assert!(same_process(me, token));
        assert!(!same_process(me, token.map(|t| t + 1)));
        assert!(!same_process(me, None));
        // A stranger with another creation time is never taken for our leftover.
        let mut stranger = std::process::Command::new("cmd")
            .args(["/C", "ping -n 30 127.0.0.1 > NUL"])
            .spawn()
            .unwrap();
        let pid = stranger.id();
        let theirs = start_token(pid);
        assert!(!kill_leftover_tree(pid, theirs.map(|t| t + 1), true));
        assert!(
            stranger.try_wait().unwrap().is_none(),
            "stranger was killed"
        );
        assert!(kill_leftover_tree(pid, theirs, true));
        stranger.wait().unwrap();
    }
}
