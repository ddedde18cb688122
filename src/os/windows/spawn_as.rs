//! Spawning with a user's token (issue 15): the one spawn that Rust's `Command` cannot
//! do. The child gets the user's environment block and profile, the desktop its
//! context calls for, and the same kind of Job Object as every other child (suspended
//! → job → resume). Which token and where is decided in `crate::run_as::session`; the
//! token itself comes from [`super::token`].

use super::token::{
    from_wide_ptr, primary_copy, process_identity, wide, wide_path, TokenIdentity, UserToken,
};
use super::{check, ChildTree, Handle, Job};
use crate::policy::ExitKind;
use crate::run_as::spawn::{job_placement, JobPlacement};
use crate::run_as::{self};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::FromRawHandle;
use std::path::{Path, PathBuf};
use windows_sys::Win32::Foundation::{HANDLE, HANDLE_FLAG_INHERIT, WAIT_OBJECT_0};
use windows_sys::Win32::Security::SECURITY_ATTRIBUTES;
use windows_sys::Win32::System::Environment::{CreateEnvironmentBlock, DestroyEnvironmentBlock};
use windows_sys::Win32::System::JobObjects::IsProcessInJob;
use windows_sys::Win32::System::Pipes::CreatePipe;
use windows_sys::Win32::System::Threading::{
    CreateProcessAsUserW, DeleteProcThreadAttributeList, GetExitCodeProcess,
    InitializeProcThreadAttributeList, ResumeThread, UpdateProcThreadAttribute,
    WaitForSingleObject, CREATE_NEW_PROCESS_GROUP, CREATE_NO_WINDOW, CREATE_SUSPENDED,
    CREATE_UNICODE_ENVIRONMENT, EXTENDED_STARTUPINFO_PRESENT, INFINITE,
    LPPROC_THREAD_ATTRIBUTE_LIST, PROCESS_INFORMATION, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
    PROC_THREAD_ATTRIBUTE_JOB_LIST, STARTF_USESTDHANDLES, STARTUPINFOEXW, STARTUPINFOW,
};
use windows_sys::Win32::UI::Shell::{LoadUserProfileW, UnloadUserProfile, PROFILEINFOW};

/// The desktop of the user's interactive session: where GUI helpers can reach the screen.

/// A command as the engine built it with tokio (program, args, the variables set on
/// it, working dir), owned: what a token spawn needs from it.
pub struct OwnedCommand {
    program: PathBuf,
    /// As given, never through `str`: a Windows name may hold an unpaired surrogate.
    args: Vec<OsString>,
    env: BTreeMap<String, String>,
    working_dir: Option<PathBuf>,
}

impl OwnedCommand {
    pub fn of(cmd: &tokio::process::Command) -> OwnedCommand {
        let cmd = cmd.as_std();
        OwnedCommand {
            program: PathBuf::from(cmd.get_program()),
            args: cmd.get_args().map(OsString::from).collect(),
            // Only variables set on the command: the rest comes from the user's own
            // block, not from the host's (LocalSystem's) environment, so a variable
            // the command removes (one of the host's) is not there to remove.
            env: cmd
                .get_envs()
                .filter_map(|(k, v)| {
                    Some((
                        k.to_string_lossy().into_owned(),
                        v?.to_string_lossy().into_owned(),
                    ))
                })
                .collect(),
            working_dir: cmd.get_current_dir().map(PathBuf::from),
        }
    }

    pub fn command<'a>(&'a self, desktop: Option<&'a str>, load_profile: bool) -> UserCommand<'a> {
        UserCommand {
            program: &self.program,
            args: &self.args,
            env: &self.env,
            working_dir: self.working_dir.as_deref(),
            desktop,
            load_profile,
        }
    }
}

/// Who a user-token child's helpers run as.
#[derive(Clone)]
pub(super) struct HelperUser {
    token: std::sync::Arc<UserToken>,
    desktop: Option<String>,
}

impl HelperUser {
    /// Start `cmd` as this user in `job`, hidden, its output discarded.
    pub(super) fn spawn(&self, cmd: &tokio::process::Command, job: &Job) -> io::Result<UserHelper> {
        let nul = || -> io::Result<Handle> {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("NUL")?;
            let h = Handle(std::os::windows::io::IntoRawHandle::into_raw_handle(f) as HANDLE);
            // SAFETY: a handle we own; made inheritable for the helper only (the
            // handle list names exactly these).
            check(unsafe {
                windows_sys::Win32::Foundation::SetHandleInformation(
                    h.0,
                    HANDLE_FLAG_INHERIT,
                    HANDLE_FLAG_INHERIT,
                )
            })?;
            Ok(h)
        };
        let (i, o, e) = (nul()?, nul()?, nul()?);
        let owned = OwnedCommand::of(cmd);
        let (process, pid, _) = create_in_job(
            &self.token,
            &owned.command(self.desktop.as_deref(), false),
            [&i, &o, &e],
            job,
        )?;
        Ok(UserHelper {
            pid,
            process: std::sync::Arc::new(process),
            kill_on_drop: false,
        })
    }
}

/// A helper started with a user's token: waitable, killed on drop when asked.
pub struct UserHelper {
    pid: u32,
    process: std::sync::Arc<Handle>,
    kill_on_drop: bool,
}

impl UserHelper {
    pub fn id(&self) -> u32 {
        self.pid
    }

    pub fn kill_on_drop(mut self) -> UserHelper {
        self.kill_on_drop = true;
        self
    }

    /// Wait for it to exit (on the blocking pool). Cancel-safe.
    pub async fn wait(&mut self) -> io::Result<ExitKind> {
        let process = self.process.clone();
        let code = tokio::task::spawn_blocking(move || {
            let mut code = u32::MAX;
            // SAFETY: the handle stays open while this `Arc` lives.
            unsafe {
                if WaitForSingleObject(process.0, INFINITE) != WAIT_OBJECT_0 {
                    return Err(io::Error::last_os_error());
                }
                check(GetExitCodeProcess(process.0, &mut code))?;
            }
            Ok(code)
        })
        .await
        .map_err(io::Error::other)??;
        Ok(ExitKind::Code(code as i32))
    }
}

impl Drop for UserHelper {
    fn drop(&mut self) {
        if self.kill_on_drop {
            // SAFETY: our handle of the helper; ending one that already exited fails
            // harmlessly.
            unsafe { windows_sys::Win32::System::Threading::TerminateProcess(self.process.0, 1) };
        }
    }
}

/// What to start, and how.
pub struct UserCommand<'a> {
    /// A path, or a bare name looked up on the PATH the spawn runs with.
    pub program: &'a Path,
    /// As given: they reach CreateProcessAsUserW in their wide form, unchanged.
    pub args: &'a [OsString],
    /// Goes over the user's own environment block.
    pub env: &'a BTreeMap<String, String>,
    /// `None`: the user's profile folder (never the host's System32).
    pub working_dir: Option<&'a Path>,
    /// `Some(INTERACTIVE_DESKTOP)` for a child in the user's session; `None` inherits
    /// the host's (session 0).
    pub desktop: Option<&'a str>,
    /// Load the user's profile (HKCU) for the child's lifetime.
    pub load_profile: bool,
}

/// The user's profile, loaded for as long as the child runs.
pub(super) struct LoadedProfile {
    token: Handle,
    profile: HANDLE,
}

impl Drop for LoadedProfile {
    fn drop(&mut self) {
        // SAFETY: the pair came from LoadUserProfileW. Its result is ignored: Wine's
        // UnloadUserProfile always fails (docs/wine.md), and there is nothing to do.
        unsafe { UnloadUserProfile(self.token.0, self.profile) };
    }
}

// SAFETY: kernel and registry handles may be used from any thread.
unsafe impl Send for LoadedProfile {}
unsafe impl Sync for LoadedProfile {}

/// An anonymous pipe: (our end, the child's inheritable end).
fn pipe(child_reads: bool) -> io::Result<(std::fs::File, Handle)> {
    let sa = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: std::ptr::null_mut(),
        bInheritHandle: 1,
    };
    let (mut r, mut w) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: both ends become owned right below.
    unsafe {
        check(CreatePipe(&mut r, &mut w, &sa, 0))?;
        let (ours, theirs) = if child_reads { (w, r) } else { (r, w) };
        let (ours, theirs) = (std::fs::File::from_raw_handle(ours), Handle(theirs));
        // Our end must not be inherited (the child would hold its own pipe open).
        check(windows_sys::Win32::Foundation::SetHandleInformation(
            std::os::windows::io::AsRawHandle::as_raw_handle(&ours) as HANDLE,
            HANDLE_FLAG_INHERIT,
            0,
        ))?;
        Ok((ours, theirs))
    }
}

/// The user's environment block merged with the spec's.
fn environment(
    token: &UserToken,
    extra: &BTreeMap<String, String>,
) -> io::Result<Vec<(String, String)>> {
    let mut block = std::ptr::null_mut();
    // SAFETY: the block is allocated by the call, read, then destroyed.
    let entries = unsafe {
        check(CreateEnvironmentBlock(&mut block, token.raw(), 0))?;
        let mut p = block as *const u16;
        let mut entries = Vec::new();
        while *p != 0 {
            let s = from_wide_ptr(p);
            p = p.add(s.encode_utf16().count() + 1);
            entries.push(s);
        }
        DestroyEnvironmentBlock(block);
        entries
    };
    Ok(run_as::identity::merge_env(
        &run_as::identity::parse_env_entries(entries.iter().map(String::as_str)),
        extra,
    ))
}

/// An environment as a UTF-16 block.
fn env_block(env: &[(String, String)]) -> Vec<u16> {
    let mut out = Vec::new();
    for (k, v) in env {
        out.extend(format!("{k}={v}").encode_utf16());
        out.push(0);
    }
    out.push(0);
    out
}

/// The program a token spawn starts (issue 22, item 5): a bare name (`curl`, `hermes`)
/// is looked up as a shell would, on the PATH of the environment it will run with (the
/// user's block and the spec's variables, not the host's), from its working dir, with
/// PATHEXT's extensions; a path is used as it is. CreateProcessAsUserW itself neither
/// searches nor adds `.exe`.
fn resolve_for_user(
    program: &Path,
    env: &[(String, String)],
    dir: Option<&Path>,
) -> io::Result<PathBuf> {
    use crate::run_as::spawn::{env_value, needs_search};
    if !needs_search(program) {
        return Ok(program.to_path_buf());
    }
    let path = env_value(env, "PATH").unwrap_or_default();
    let cwd = dir.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    which::which_in(program, Some(path), cwd).map_err(|e| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "cannot find `{}` on the user's PATH ({e}); give its full path",
                program.display()
            ),
        )
    })
}

fn load_profile(token: &UserToken) -> io::Result<LoadedProfile> {
    let identity = token.identity()?;
    let user = identity
        .account
        .name
        .rsplit('\\')
        .next()
        .unwrap_or_default()
        .to_string();
    let mut wuser = wide(&user);
    let mut info = PROFILEINFOW::default();
    info.dwSize = std::mem::size_of::<PROFILEINFOW>() as u32;
    info.dwFlags = 1; // PI_NOUI: never show a message box from a service
    info.lpUserName = wuser.as_mut_ptr();
    // SAFETY: `info` is filled as the API requires; `wuser` outlives the call.
    check(unsafe { LoadUserProfileW(token.raw(), &mut info) }).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot load {}'s profile: {e}", identity.account.name),
        )
    })?;
    let dup = primary_copy(&token.0)?;
    Ok(LoadedProfile {
        token: dup.0,
        profile: info.hProfile,
    })
}

impl ChildTree {
    /// Start `cmd` with `token`: created suspended, put in its job, then resumed, so
    /// nothing it runs escapes the job. Hidden (CREATE_NO_WINDOW), stdio on pipes.
    /// Everything else about the child is as for [`ChildTree::spawn`].
    pub fn spawn_as_user(token: &UserToken, cmd: &UserCommand) -> io::Result<ChildTree> {
        let profile = if cmd.load_profile {
            Some(load_profile(token)?)
        } else {
            None
        };
        let (stdin, child_in) = pipe(true)?;
        let (stdout, child_out) = pipe(false)?;
        let (stderr, child_err) = pipe(false)?;
        let job = Job::kill_on_close(0)?;
        let (process, pid, placement) =
            create_in_job(token, cmd, [&child_in, &child_out, &child_err], &job)?;
        // Its helpers (stop and probe commands) run as the same user, on the same desktop.
        let user = HelperUser {
            token: std::sync::Arc::new(primary_copy(&token.0)?),
            desktop: cmd.desktop.map(str::to_owned),
        };
        // The child's ends are closed here, so its exit ends our reads.
        drop((child_in, child_out, child_err));
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            // The whole `Handle` moves here (not just its raw pointer): closed at the end.
            let process = process;
            let mut code = u32::MAX;
            // SAFETY: `process` is owned by this thread until it returns.
            unsafe {
                if WaitForSingleObject(process.0, INFINITE) == WAIT_OBJECT_0 {
                    GetExitCodeProcess(process.0, &mut code);
                }
            }
            let _ = tx.send(code);
        });
        Ok(ChildTree {
            process: crate::os::Process::from_parts(pid, rx, stdin, stdout, stderr),
            job: std::sync::Arc::new(job),
            user: Some(user),
            placement: Some(placement),
            resumed: None,
            _profile: profile,
        })
    }

    /// Who the child runs as, read back from its token.
    pub fn identity(&self) -> io::Result<TokenIdentity> {
        process_identity(self.pid())
    }
}

/// A process-thread attribute list that names the only handles a child inherits
/// (PROC_THREAD_ATTRIBUTE_HANDLE_LIST) and, where Windows has it, the job it is
/// created in (PROC_THREAD_ATTRIBUTE_JOB_LIST, Windows 10 1607+); deleted on drop.
struct Attributes {
    buf: Vec<u64>,
    // Boxed, so the addresses given to the list stay put when `Attributes` moves.
    handles: Box<[HANDLE; 3]>,
    job: Box<HANDLE>,
    /// What UpdateProcThreadAttribute answered for the job list (`Err(code)`; 0 when
    /// not asked).
    job_list: Result<(), i32>,
}

impl Attributes {
    fn new(handles: [HANDLE; 3], job: Option<HANDLE>) -> io::Result<Attributes> {
        let count = if job.is_some() { 2 } else { 1 };
        let mut len = 0usize;
        // SAFETY: a size query (which fails by design), then a list in a buffer of
        // that size.
        let buf = unsafe {
            InitializeProcThreadAttributeList(std::ptr::null_mut(), count, 0, &mut len);
            let mut buf = vec![0u64; len.div_ceil(8)];
            check(InitializeProcThreadAttributeList(
                buf.as_mut_ptr().cast(),
                count,
                0,
                &mut len,
            ))?;
            buf
        };
        let mut out = Attributes {
            buf,
            handles: Box::new(handles),
            job: Box::new(job.unwrap_or(std::ptr::null_mut())),
            job_list: Err(0),
        };
        let list = out.list();
        // SAFETY: the handle array lives in a box owned by `out`, so it outlives every
        // use of the list.
        check(unsafe {
            UpdateProcThreadAttribute(
                list,
                0,
                PROC_THREAD_ATTRIBUTE_HANDLE_LIST as usize,
                out.handles.as_ptr().cast(),
                std::mem::size_of::<[HANDLE; 3]>(),
                std::ptr::null_mut(),
                std::ptr::null(),
            )
        })?;
        if job.is_some() {
            // SAFETY: as above, the job handle lives in a box owned by `out`.
            out.job_list = check(unsafe {
                UpdateProcThreadAttribute(
                    list,
                    0,
                    PROC_THREAD_ATTRIBUTE_JOB_LIST as usize,
                    (&*out.job as *const HANDLE).cast(),
                    std::mem::size_of::<HANDLE>(),
                    std::ptr::null_mut(),
                    std::ptr::null(),
                )
            })
            .map_err(|e| e.raw_os_error().unwrap_or(-1));
        }
        Ok(out)
    }

    fn list(&mut self) -> LPPROC_THREAD_ATTRIBUTE_LIST {
        self.buf.as_mut_ptr().cast()
    }
}

impl Drop for Attributes {
    fn drop(&mut self) {
        // SAFETY: initialized in `new`, deleted once.
        unsafe { DeleteProcThreadAttributeList(self.list()) };
    }
}

/// The STARTUPINFOEXW of a token spawn, with the desktop name it points to.
struct StartupInfo {
    si: STARTUPINFOEXW,
    /// What `si.StartupInfo.lpDesktop` points to (a heap buffer: it stays put when
    /// this moves).
    _desktop: Option<Vec<u16>>,
}

impl StartupInfo {
    /// Standard handles `stdio`, the attribute list `list`, and `desktop` as
    /// `lpDesktop`: NULL for `None` (inherit the host's), else the name — `""` too,
    /// which is not NULL (see `session_end::rules::desktop_for`).
    fn new(
        desktop: Option<&str>,
        stdio: [HANDLE; 3],
        list: LPPROC_THREAD_ATTRIBUTE_LIST,
    ) -> StartupInfo {
        let mut wdesktop = desktop.map(wide);
        let mut si = STARTUPINFOEXW::default();
        si.StartupInfo.cb = std::mem::size_of::<STARTUPINFOEXW>() as u32;
        si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
        si.StartupInfo.hStdInput = stdio[0];
        si.StartupInfo.hStdOutput = stdio[1];
        si.StartupInfo.hStdError = stdio[2];
        si.StartupInfo.lpDesktop = wdesktop
            .as_mut()
            .map_or(std::ptr::null_mut(), |d| d.as_mut_ptr());
        si.lpAttributeList = list;
        StartupInfo {
            si,
            _desktop: wdesktop,
        }
    }

    /// `lpDesktop` read back: `None` for NULL.
    #[cfg(test)]
    fn desktop(&self) -> Option<String> {
        let p = self.si.StartupInfo.lpDesktop;
        // SAFETY: null, or the NUL-terminated buffer this struct owns.
        (!p.is_null()).then(|| unsafe { from_wide_ptr(p) })
    }
}

/// CreateProcessAsUserW: hidden, with the token's environment block plus `cmd.env`,
/// only `stdio` inherited, created in `job` where Windows can (JOB_LIST), else
/// suspended, put in `job` and resumed: either way not even its first instruction
/// runs outside the job. Returns the process handle, pid and how it got in the job.
fn create_in_job(
    token: &UserToken,
    cmd: &UserCommand,
    stdio: [&Handle; 3],
    job: &Job,
) -> io::Result<(Handle, u32, JobPlacement)> {
    let merged = environment(token, cmd.env)?;
    let env = env_block(&merged);
    let dir = crate::run_as::spawn::working_dir(cmd.working_dir, &merged);
    let program = resolve_for_user(cmd.program, &merged, dir.as_deref())?;
    // The program and arguments in their wide form, never through `str`.
    let wargs: Vec<Vec<u16>> = cmd.args.iter().map(|a| a.encode_wide().collect()).collect();
    let wprogram_units: Vec<u16> = program.as_os_str().encode_wide().collect();
    let mut wline = crate::quote::windows::command_line_wide(&wprogram_units, &wargs);
    wline.push(0);
    let wprogram = wide_path(&program);
    let wdir = dir.as_deref().map(wide_path);
    let stdio = [stdio[0].0, stdio[1].0, stdio[2].0];
    let create = |in_job: Option<HANDLE>,
                  wline: &mut Vec<u16>|
     -> io::Result<(Handle, Handle, u32, JobPlacement)> {
        // Only these three handles are inherited, whatever else is inheritable in the host.
        let mut attributes = Attributes::new(stdio, in_job)?;
        let placement = job_placement(attributes.job_list, None);
        let suspended = match placement {
            JobPlacement::AtCreation => 0,
            JobPlacement::SuspendAssignResume => CREATE_SUSPENDED,
        };
        let start = StartupInfo::new(cmd.desktop, stdio, attributes.list());
        let si = &start.si;
        let mut pi = PROCESS_INFORMATION::default();
        // SAFETY: every pointer is to a live, NUL-terminated local; the command
        // line buffer is writable as the API requires.
        check(unsafe {
            CreateProcessAsUserW(
                token.raw(),
                wprogram.as_ptr(),
                wline.as_mut_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                1,
                suspended
                    | CREATE_NO_WINDOW
                    | CREATE_NEW_PROCESS_GROUP
                    | CREATE_UNICODE_ENVIRONMENT
                    | EXTENDED_STARTUPINFO_PRESENT,
                env.as_ptr().cast(),
                wdir.as_ref().map_or(std::ptr::null(), |d| d.as_ptr()),
                si as *const STARTUPINFOEXW as *const STARTUPINFOW,
                &mut pi,
            )
        })
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot start {} as the user: {e}", cmd.program.display()),
            )
        })?;
        drop(attributes);
        Ok((
            Handle(pi.hProcess),
            Handle(pi.hThread),
            pi.dwProcessId,
            placement,
        ))
    };
    let (mut process, mut thread, mut pid, mut placement) = create(Some(job.0 .0), &mut wline)?;
    if placement == JobPlacement::AtCreation {
        let mut inside = 0;
        // SAFETY: valid process and job handles, pointer to a local.
        let ok = unsafe { IsProcessInJob(process.0, job.0 .0, &mut inside) };
        let seen = ok != 0 && inside != 0;
        if job_placement(Ok(()), Some(seen)) == JobPlacement::SuspendAssignResume {
            // Created outside the job although the list was taken: end it (it may
            // have run a little, alone: nothing of it is in our job) and start again
            // the old way.
            // SAFETY: the handle of the process we created.
            unsafe { windows_sys::Win32::System::Threading::TerminateProcess(process.0, 1) };
            (process, thread, pid, placement) = create(None, &mut wline)?;
        }
    }
    if placement == JobPlacement::SuspendAssignResume {
        let placed = job.assign(process.0).and_then(|()| {
            // SAFETY: the primary thread of the suspended child.
            if unsafe { ResumeThread(thread.0) } == u32::MAX {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        });
        if let Err(e) = placed {
            // It never ran: end just it (for a helper, the job holds the running child).
            // SAFETY: the handle of the process we created.
            unsafe { windows_sys::Win32::System::Threading::TerminateProcess(process.0, 1) };
            return Err(e);
        }
    }
    drop(thread);
    Ok((process, pid, placement))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_as::session::Context;
    use crate::run_as::session_end::desktop_for;

    /// Issue 22, item 2: the STARTUPINFO a token spawn builds for each context. A
    /// logged-off (S4U) child gets `""`, not NULL: its own window station.
    #[test]
    fn the_startupinfo_names_the_desktop_of_the_context() {
        let null = std::ptr::null_mut();
        let built = |context| StartupInfo::new(desktop_for(context), [null; 3], null);
        let s4u = built(Context::S4u);
        assert!(
            !s4u.si.StartupInfo.lpDesktop.is_null(),
            "S4U: \"\", not NULL"
        );
        assert_eq!(s4u.desktop().as_deref(), Some(""));
        assert_eq!(
            built(Context::Interactive(1)).desktop().as_deref(),
            Some("winsta0\\default")
        );
        assert_eq!(built(Context::System).desktop(), None);
        let si = &s4u.si.StartupInfo;
        assert_eq!(si.cb as usize, std::mem::size_of::<STARTUPINFOEXW>());
        assert_eq!(si.dwFlags, STARTF_USESTDHANDLES);
    }
}
