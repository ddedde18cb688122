//! The end of the user's session as a program in it sees it (issue 22): Windows asks
//! every top-level window with `WM_QUERYENDSESSION` before it ends a session (logoff,
//! restart, shutdown), waits for the answers, then sends `WM_ENDSESSION`. Processes
//! without a window get only CTRL_LOGOFF_EVENT and are then ended, so the hidden
//! window here is what lets respawn stop its child gracefully first.
//!
//! One watcher per process: a thread owns one hidden top-level window (never shown,
//! never on the taskbar) and its message loop. While the handler runs for the query,
//! `ShutdownBlockReasonCreate` tells the user why the session waits.
//!
//! Under Wine `wineboot --end-session` sends the same two messages to every top-level
//! window (docs/wine.md, "The session's end"); a window needs a graphics driver there
//! (the lane's prefix sets Wine's null driver).

use std::io;
use std::sync::OnceLock;
use windows_sys::Win32::Foundation::{HWND, LPARAM, LRESULT, WPARAM};
use windows_sys::Win32::System::LibraryLoader::GetModuleHandleW;
use windows_sys::Win32::System::Shutdown::{ShutdownBlockReasonCreate, ShutdownBlockReasonDestroy};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    CreateWindowExW, DefWindowProcW, DispatchMessageW, GetMessageW, RegisterClassW,
    TranslateMessage, ENDSESSION_LOGOFF, MSG, WM_ENDSESSION, WM_QUERYENDSESSION, WNDCLASSW,
    WS_OVERLAPPED,
};

/// What the session's end looks like to the watcher, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// WM_QUERYENDSESSION: the session is about to end (`logoff`: only this user's
    /// session, not the machine). The handler returns when the window may answer.
    Query { logoff: bool },
    /// WM_ENDSESSION(TRUE): it ends now.
    Ended,
    /// WM_ENDSESSION(FALSE): another program refused, the session goes on.
    Cancelled,
}

type Handler = Box<dyn Fn(SessionEnd) + Send + Sync>;

/// The handler and the reason text (UTF-16, NUL-terminated): the window procedure has
/// no context of ours.
static WATCHER: OnceLock<(Handler, Vec<u16>)> = OnceLock::new();

/// Watch for the end of this process's session: a thread with a hidden top-level
/// window calls `handler` for each [`SessionEnd`]; `reason` is what Windows shows the
/// user while the handler of a query runs. Once per process.
pub fn watch_session_end(
    reason: &str,
    handler: impl Fn(SessionEnd) + Send + Sync + 'static,
) -> io::Result<()> {
    let reason = reason.encode_utf16().chain(std::iter::once(0)).collect();
    if WATCHER.set((Box::new(handler), reason)).is_err() {
        return Err(io::Error::other("the session's end is already watched"));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("session-end".into())
        .spawn(move || match hidden_window() {
            Ok(_) => {
                let _ = tx.send(Ok(()));
                message_loop();
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        })?;
    rx.recv()
        .map_err(|_| io::Error::other("the session-end thread ended"))?
}

/// The window class of the hidden window.
const CLASS: &str = "respawn-session-end\0";

/// The processes of this desktop that watch for the session's end (own a hidden window
/// of respawn's): for `doctor` and the tests, to know the watch is in place.
pub fn session_end_watchers() -> Vec<u32> {
    use windows_sys::Win32::UI::WindowsAndMessaging::{
        EnumWindows, GetClassNameW, GetWindowThreadProcessId,
    };
    unsafe extern "system" fn each(hwnd: HWND, found: LPARAM) -> i32 {
        let mut name = [0u16; 64];
        // SAFETY: `found` is the Vec passed below, alive for the whole EnumWindows
        // call; the buffer is as long as said.
        unsafe {
            let len = GetClassNameW(hwnd, name.as_mut_ptr(), name.len() as i32);
            let want: Vec<u16> = CLASS.trim_end_matches('\0').encode_utf16().collect();
            if len > 0 && name[..len as usize] == want[..] {
                let mut pid = 0u32;
                GetWindowThreadProcessId(hwnd, &mut pid);
                (*(found as *mut Vec<u32>)).push(pid);
            }
        }
        1
    }
    let mut pids: Vec<u32> = Vec::new();
    // SAFETY: the callback only pushes into `pids`, which outlives the call.
    unsafe { EnumWindows(Some(each), &mut pids as *mut Vec<u32> as LPARAM) };
    pids
}

fn hidden_window() -> io::Result<HWND> {
    let class: Vec<u16> = CLASS.encode_utf16().collect();
    // SAFETY: the class name outlives both calls (classes copy it); the window is never
    // shown (no WS_VISIBLE) and lives as long as the thread.
    unsafe {
        let instance = GetModuleHandleW(std::ptr::null());
        let wc = WNDCLASSW {
            lpfnWndProc: Some(window_proc),
            hInstance: instance,
            lpszClassName: class.as_ptr(),
            ..std::mem::zeroed()
        };
        if RegisterClassW(&wc) == 0 {
            return Err(io::Error::last_os_error());
        }
        let hwnd = CreateWindowExW(
            0,
            class.as_ptr(),
            class.as_ptr(),
            WS_OVERLAPPED,
            0,
            0,
            0,
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            instance,
            std::ptr::null(),
        );
        if hwnd.is_null() {
            return Err(io::Error::other(format!(
                "cannot create the hidden window that hears the session's end: {}",
                io::Error::last_os_error()
            )));
        }
        Ok(hwnd)
    }
}

fn message_loop() {
    // SAFETY: a plain message loop on the thread that owns the window.
    unsafe {
        let mut msg: MSG = std::mem::zeroed();
        while GetMessageW(&mut msg, std::ptr::null_mut(), 0, 0) > 0 {
            TranslateMessage(&msg);
            DispatchMessageW(&msg);
        }
    }
}

unsafe extern "system" fn window_proc(
    hwnd: HWND,
    msg: u32,
    wparam: WPARAM,
    lparam: LPARAM,
) -> LRESULT {
    let Some((handler, reason)) = WATCHER.get() else {
        // SAFETY: default handling of a message for our own window.
        return unsafe { DefWindowProcW(hwnd, msg, wparam, lparam) };
    };
    match msg {
        WM_QUERYENDSESSION => {
            // SAFETY: called on the window's own thread, as the API requires; the
            // reason is NUL-terminated and static. Its result does not matter: the
            // text is only shown to the user.
            unsafe { ShutdownBlockReasonCreate(hwnd, reason.as_ptr()) };
            handler(SessionEnd::Query {
                logoff: lparam as u32 & ENDSESSION_LOGOFF != 0,
            });
            // SAFETY: as above.
            unsafe { ShutdownBlockReasonDestroy(hwnd) };
            1 // the session may end
        }
        WM_ENDSESSION => {
            handler(if wparam != 0 {
                SessionEnd::Ended
            } else {
                SessionEnd::Cancelled
            });
            0
        }
        // SAFETY: default handling of every other message.
        _ => unsafe { DefWindowProcW(hwnd, msg, wparam, lparam) },
    }
}

/// A process to wait for, opened once (so a recycled pid can never stand in for it).
pub struct ProcessWaiter(super::Handle);

impl ProcessWaiter {
    /// Open `pid` for waiting (SYNCHRONIZE: what its owner always has).
    pub fn open(pid: u32) -> io::Result<ProcessWaiter> {
        use windows_sys::Win32::System::Threading::{OpenProcess, PROCESS_SYNCHRONIZE};
        // SAFETY: plain call; the handle is owned by `Handle`.
        super::Handle::new(unsafe { OpenProcess(PROCESS_SYNCHRONIZE, 0, pid) }).map(ProcessWaiter)
    }

    /// Wait until it exited or `limit` passed; whether it exited.
    pub fn wait(&self, limit: std::time::Duration) -> bool {
        use windows_sys::Win32::Foundation::WAIT_OBJECT_0;
        use windows_sys::Win32::System::Threading::WaitForSingleObject;
        let ms = u32::try_from(limit.as_millis()).unwrap_or(u32::MAX - 1);
        // SAFETY: a valid process handle we own.
        unsafe { WaitForSingleObject(self.0 .0, ms) == WAIT_OBJECT_0 }
    }
}
