//! How much CPU and memory a child's tree uses, read from the OS's own accounting
//! (Linux: /proc; Windows: each process's times and working set, the tree found by
//! parent pid in a process snapshot), never by asking the child. macOS: not yet
//! (`None`; `proc_pidinfo` would be its reader).

/// One reading of a process tree: the child and everything below it (by parent, and
/// by the child's process group, so a daemon that re-parented itself still counts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeUsage {
    /// CPU time used so far by the processes alive now (user + system), in ms.
    pub cpu_ms: u64,
    /// Resident memory of those processes, in bytes (shared pages count in each).
    pub memory_bytes: u64,
    pub processes: u32,
}

/// The tree under `root` now; `None` when it is gone or this OS has no reader yet.
#[cfg(target_os = "linux")]
pub fn tree_usage(root: u32) -> Option<TreeUsage> {
    // /proc counts CPU time in USER_HZ, 100 per second on every Linux ABI.
    const TICK_MS: u64 = 10;
    let all: Vec<Stat> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(stat)
        .collect();
    all.iter().find(|s| s.pid == root)?;
    let mut members = vec![root];
    let mut i = 0;
    while i < members.len() {
        let parent = members[i];
        for s in &all {
            if (s.ppid == parent || s.pgid == root) && !members.contains(&s.pid) {
                members.push(s.pid);
            }
        }
        i += 1;
    }
    let mut usage = TreeUsage::default();
    for s in all.iter().filter(|s| members.contains(&s.pid)) {
        usage.cpu_ms += (s.utime + s.stime) * TICK_MS;
        usage.memory_bytes += rss_bytes(s.pid).unwrap_or(0);
        usage.processes += 1;
    }
    Some(usage)
}

#[cfg(not(any(target_os = "linux", windows)))]
pub fn tree_usage(_root: u32) -> Option<TreeUsage> {
    None
}

/// Windows: the processes whose parent chain leads to `root` (a child created after
/// its parent, so a recycled parent pid adopts nobody), each one's user + kernel time
/// and working set.
#[cfg(windows)]
pub fn tree_usage(root: u32) -> Option<TreeUsage> {
    let all = windows::snapshot()?;
    let root_times = windows::times(root)?;
    let mut members = vec![(root, root_times)];
    let mut i = 0;
    while i < members.len() {
        let (parent, parent_times) = members[i];
        for &(pid, ppid) in &all {
            if ppid != parent || pid == parent || members.iter().any(|(m, _)| *m == pid) {
                continue;
            }
            if let Some(t) = windows::times(pid).filter(|t| t.created >= parent_times.created) {
                members.push((pid, t));
            }
        }
        i += 1;
    }
    let mut usage = TreeUsage::default();
    for (pid, t) in members {
        usage.cpu_ms += t.cpu_100ns / 10_000;
        usage.memory_bytes += windows::working_set(pid).unwrap_or(0);
        usage.processes += 1;
    }
    Some(usage)
}

#[cfg(windows)]
mod windows {
    use windows_sys::Win32::Foundation::{CloseHandle, FILETIME, HANDLE, INVALID_HANDLE_VALUE};
    use windows_sys::Win32::System::Diagnostics::ToolHelp::{
        CreateToolhelp32Snapshot, Process32FirstW, Process32NextW, PROCESSENTRY32W,
        TH32CS_SNAPPROCESS,
    };
    use windows_sys::Win32::System::ProcessStatus::{
        K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS,
    };
    use windows_sys::Win32::System::Threading::{
        GetProcessTimes, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
    };

    /// A handle closed on drop.
    struct Owned(HANDLE);

    impl Owned {
        fn new(h: HANDLE) -> Option<Owned> {
            (!h.is_null() && h != INVALID_HANDLE_VALUE).then_some(Owned(h))
        }
    }

    impl Drop for Owned {
        fn drop(&mut self) {
            // SAFETY: we own the handle and close it once.
            unsafe { CloseHandle(self.0) };
        }
    }

    /// Every process now: (pid, parent pid).
    pub fn snapshot() -> Option<Vec<(u32, u32)>> {
        // SAFETY: the snapshot handle is owned; PROCESSENTRY32W is plain data with its
        // size field set as the API requires.
        unsafe {
            let snap = Owned::new(CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0))?;
            let mut entry: PROCESSENTRY32W = std::mem::zeroed();
            entry.dwSize = std::mem::size_of::<PROCESSENTRY32W>() as u32;
            let mut out = Vec::new();
            let mut more = Process32FirstW(snap.0, &mut entry) != 0;
            while more {
                out.push((entry.th32ProcessID, entry.th32ParentProcessID));
                more = Process32NextW(snap.0, &mut entry) != 0;
            }
            Some(out)
        }
    }

    #[derive(Clone, Copy)]
    pub struct Times {
        pub created: u64,
        /// User + kernel time, in 100 ns units.
        pub cpu_100ns: u64,
    }

    fn open(pid: u32) -> Option<Owned> {
        // SAFETY: plain call; the handle is owned by `Owned`.
        Owned::new(unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) })
    }

    pub fn times(pid: u32) -> Option<Times> {
        let process = open(pid)?;
        let zero = FILETIME {
            dwLowDateTime: 0,
            dwHighDateTime: 0,
        };
        let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
        // SAFETY: a valid handle and pointers to locals.
        let ok = unsafe {
            GetProcessTimes(process.0, &mut created, &mut exited, &mut kernel, &mut user)
        };
        let n = |t: FILETIME| ((t.dwHighDateTime as u64) << 32) | t.dwLowDateTime as u64;
        (ok != 0).then(|| Times {
            created: n(created),
            cpu_100ns: n(kernel) + n(user),
        })
    }

    pub fn working_set(pid: u32) -> Option<u64> {
        let process = open(pid)?;
        // SAFETY: a valid handle; the counters are plain data with their size passed.
        unsafe {
            let mut c: PROCESS_MEMORY_COUNTERS = std::mem::zeroed();
            c.cb = std::mem::size_of::<PROCESS_MEMORY_COUNTERS>() as u32;
            (K32GetProcessMemoryInfo(process.0, &mut c, c.cb) != 0)
                .then_some(c.WorkingSetSize as u64)
        }
    }
}

#[cfg(target_os = "linux")]
struct Stat {
    pid: u32,
    ppid: u32,
    pgid: u32,
    utime: u64,
    stime: u64,
}

/// `VmRSS` of /proc/PID/status, in bytes (none for a zombie or a kernel thread).
#[cfg(target_os = "linux")]
fn rss_bytes(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = text
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

/// /proc/PID/stat, the fields after the command name (which may hold spaces).
#[cfg(target_os = "linux")]
fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &text)
}

#[cfg(target_os = "linux")]
fn parse_stat(pid: u32, text: &str) -> Option<Stat> {
    let rest = text.get(text.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i)?.parse::<u64>().ok();
    Some(Stat {
        pid,
        ppid: num(1)? as u32,
        pgid: num(2)? as u32,
        utime: num(11)?,
        stime: num(12)?,
    })
}

#[cfg(test)]
mod tests {
    #[allow(unused_imports)]
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn stat_fields_are_read_after_a_name_with_spaces() {
        let line = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 12345 1000000 250 18446744073709551615";
        let s = parse_stat(42, line).unwrap();
        assert_eq!((s.ppid, s.pgid, s.utime, s.stime), (1, 42, 7, 3));
    }

    #[cfg(any(target_os = "linux", windows))]
    #[test]
    fn our_own_tree_uses_some_memory_and_counts_a_child() {
        let me = tree_usage(std::process::id()).unwrap();
        assert!(me.processes >= 1 && me.memory_bytes > 0, "{me:?}");
        assert_eq!(tree_usage(u32::MAX - 1), None);
        // A child that waits on its stdin is part of our tree while it runs.
        let mut child = if cfg!(windows) {
            std::process::Command::new("cmd")
                .args(["/c", "pause"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .spawn()
        } else {
            std::process::Command::new("cat")
                .stdin(std::process::Stdio::piped())
                .spawn()
        }
        .unwrap();
        let child_usage = tree_usage(child.id());
        let with_child = tree_usage(std::process::id()).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let child_usage = child_usage.unwrap();
        assert!(
            child_usage.processes >= 1 && child_usage.memory_bytes > 0,
            "{child_usage:?}"
        );
        assert!(
            with_child.processes > me.processes.saturating_sub(1),
            "{me:?} {with_child:?}"
        );
    }
}
