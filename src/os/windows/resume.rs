//! Letting a child that std's spawn created suspended run (issue 22 item 10).
//!
//! tokio's `Child` keeps no handle to the main thread, and stable std cannot pass
//! PROC_THREAD_ATTRIBUTE_JOB_LIST, so the std path spawns suspended, assigns the job,
//! then resumes. `NtResumeProcess` resumes the process's threads through its own
//! handle, without walking a snapshot of every thread on the system. It is not in the
//! documented Win32 API, but ntdll has exported it since Windows XP (Sysinternals'
//! and Process Hacker's suspend/resume use it) and Wine 8 implements it
//! (docs/wine.md row ad). Should it ever fail, the thread snapshot does the job.

use super::Handle;
use std::io;
use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Thread32First, Thread32Next, TH32CS_SNAPTHREAD, THREADENTRY32,
};
use windows_sys::Win32::System::Threading::{OpenThread, ResumeThread, THREAD_SUSPEND_RESUME};

// Linked the way windows-sys links everything (raw-dylib): no import library needed.
#[link(name = "ntdll.dll", kind = "raw-dylib", modifiers = "+verbatim")]
extern "system" {
    /// Resumes every thread of the process; needs PROCESS_SUSPEND_RESUME (a handle
    /// from CreateProcess has every right). Returns an NTSTATUS.
    fn NtResumeProcess(process: HANDLE) -> i32;
}

/// How a child created suspended was let run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resumed {
    /// `NtResumeProcess` on the process's own handle.
    WholeProcess,
    /// The fallback: each of its threads found in a snapshot of the system's threads.
    ThreadSnapshot,
}

/// Let the suspended process `process` (id `pid`) run.
pub(super) fn resume_process(process: HANDLE, pid: u32) -> io::Result<Resumed> {
    // SAFETY: `process` is a valid process handle for the duration of the call.
    let status = unsafe { NtResumeProcess(process) };
    // NT_SUCCESS: every non-negative NTSTATUS is a success.
    if status >= 0 {
        return Ok(Resumed::WholeProcess);
    }
    resume_threads(pid).map(|()| Resumed::ThreadSnapshot)
}

/// Resume every thread of a process created with CREATE_SUSPENDED, found in a
/// snapshot of all the system's threads.
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
